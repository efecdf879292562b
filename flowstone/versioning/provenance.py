"""Provenance versions: what a materialization was computed from, as one hash.

Owns the provenance version (asset key, partition key, code version, config hash and the data
versions of the inputs read), the config hash that joins it, and the fallback data version of a
value that cannot be hashed. Pure and fast: a status query computes one per item, for up to
100,000 items, so this writes one short JSON text per call and sorts only the inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from flowstone.errors import ConfigError
from flowstone.keys import AssetKey, DataVersion, PartitionKey
from flowstone.versioning.hashing import hash_struct

PROVENANCE_FORMAT: Final = 1
"""Bumped whenever the hashed structure changes; golden tests pin the values of each format."""

FALLBACK_PREFIX: Final = "p:"
"""Marks a data version taken from provenance: content hashes are hex and never contain it."""

_quote: Final = json.encoder.encode_basestring_ascii
"""JSON string quoting: the structure is written as the exact text of ``json.dumps`` with
``separators=(",", ":")``, without the cost of building an encoder on every call."""

ProvenanceInput = tuple[AssetKey | str, PartitionKey, DataVersion | None]
"""One input read: upstream asset, upstream partition and the data version that was read."""


def compute_provenance_version(
    asset_key: AssetKey | str,
    partition_key: PartitionKey,
    code_version: str,
    config_hash: str | None,
    inputs: Iterable[ProvenanceInput],
) -> str:
    """The provenance version of one (asset, partition): 32 hex characters.

    Inputs are sorted, so the order they were read in does not matter; any change to any part
    gives a new version. ``FRESH`` means recomputing this gives the recorded value.

    Example:
        >>> version = compute_provenance_version("daily", "2024-01-01", "v1", None, [])
        >>> len(version)
        32
    """
    triples = [(str(asset), partition, data_version) for asset, partition, data_version in inputs]
    if len(triples) > 1:
        triples.sort(key=_input_order)
    read = ",".join(
        f"[{_quote(asset)},{_quote(partition)},{_quote_or_null(version)}]"
        for asset, partition, version in triples
    )
    head = f"{_quote(str(asset_key))},{_quote(partition_key)},{_quote(code_version)}"
    text = f'["Provenance",{PROVENANCE_FORMAT},{head},{_quote_or_null(config_hash)},[{read}]]'
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _quote_or_null(text: str | None) -> str:
    return "null" if text is None else _quote(text)


def _input_order(triple: tuple[str, str, str | None]) -> tuple[str, str, str, bool]:
    """A total order even when two reads of one partition differ only in a missing version."""
    asset, partition, data_version = triple
    return (asset, partition, data_version or "", data_version is None)


def compute_config_hash(config: Mapping[str, Any] | None) -> str | None:
    """Hash of the canonical JSON of a validated config; ``None`` for an asset without one.

    Pass the JSON form of the validated model (``model.model_dump(mode="json")``), so that
    equal configs hash equal however they were written.

    Raises:
        ConfigError: a value has no JSON form.

    Example:
        >>> compute_config_hash({"b": 1, "a": 2}) == compute_config_hash({"a": 2, "b": 1})
        True
    """
    if config is None:
        return None
    try:
        return hash_struct(["Config", 1, dict(config)])[:32]
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Asset config {config!r} cannot be hashed: {exc}. "
            f"Pass the validated model's model_dump(mode='json'), which holds only JSON values."
        ) from exc


def fallback_data_version(provenance_version: str) -> DataVersion:
    """The data version of a value that ``hash_value`` could not hash.

    Taken from the provenance version, so dependents see a new version whenever what the value
    was computed from changes (safe, but no early cutoff). The ``p:`` prefix lets ``status``
    say that a version is a fallback.

    Example:
        >>> fallback_data_version("0123456789abcdef0123456789abcdef")
        'p:0123456789abcdef0123456789abcd'
    """
    return FALLBACK_PREFIX + provenance_version[:30]
