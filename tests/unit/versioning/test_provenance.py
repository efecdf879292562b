"""Provenance versions, config hashes and fallback data versions: golden values and properties."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.errors import ConfigError
from flowstone.keys import AssetKey
from flowstone.versioning.provenance import (
    ProvenanceInput,
    compute_config_hash,
    compute_provenance_version,
    fallback_data_version,
)

ORDERS = AssetKey(("warehouse", "orders"))
REVENUE = AssetKey(("warehouse", "daily_revenue"))
INPUTS: list[ProvenanceInput] = [
    (ORDERS, "2024-03-02", "a1b2c3d4e5f60718293a4b5c6d7e8f90"),
    ("fx_rates", "__unpartitioned__", None),
]


GOLDEN: dict[str, tuple[tuple[Any, ...], str]] = {
    "no inputs": (
        (REVENUE, "__unpartitioned__", "v1", None, []),
        "cd4b83db9bc459a35beb5b759fc7b97f",
    ),
    "two inputs": (
        (REVENUE, "2024-03-02", "0123456789abcdef", "c0ffee", INPUTS),
        "bcc96cf0734408e71400d7fe0de6752f",
    ),
    "one input": (
        ("daily_revenue", "2024-03-02", "v2", None, INPUTS[:1]),
        "8efc2efc45c1e33bc4c0365b5707964c",
    ),
    "non-ascii": (
        ('naïve "quoted"', "région=€", "v1", None, [("x", "ü", None)]),
        "a31ea85ac58a428ab9e382c2ef48f243",
    ),
}


@pytest.mark.parametrize(("arguments", "expected"), list(GOLDEN.values()), ids=list(GOLDEN))
def test_golden_provenance_versions(arguments: tuple[Any, ...], expected: str) -> None:
    assert compute_provenance_version(*arguments) == expected


def _reference(
    asset_key: str,
    partition_key: str,
    code_version: str,
    config_hash: str | None,
    inputs: list[Any],
) -> str:
    """The documented structure, hashed the slow, obvious way."""
    triples = sorted(
        ([str(asset), partition, version] for asset, partition, version in inputs),
        key=lambda triple: (triple[0], triple[1], triple[2] or "", triple[2] is None),
    )
    structure = ["Provenance", 1, asset_key, partition_key, code_version, config_hash, triples]
    text = json.dumps(structure, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


names = st.text(min_size=1, max_size=8)
versions = st.none() | st.text(max_size=8)
input_lists = st.lists(st.tuples(names, names, versions), max_size=5)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(names, names, names, versions, input_lists)
def test_the_version_is_the_hash_of_the_documented_json_structure(
    asset_key: str,
    partition_key: str,
    code_version: str,
    config_hash: str | None,
    inputs: list[ProvenanceInput],
) -> None:
    expected = _reference(asset_key, partition_key, code_version, config_hash, inputs)
    version = compute_provenance_version(
        asset_key, partition_key, code_version, config_hash, inputs
    )
    assert version == expected


@settings(max_examples=200, derandomize=True, deadline=None)
@given(input_lists, st.randoms(use_true_random=False))
def test_input_order_does_not_change_the_version(inputs: list[ProvenanceInput], rng: Any) -> None:
    shuffled = list(inputs)
    rng.shuffle(shuffled)
    assert compute_provenance_version(REVENUE, "p", "v", None, inputs) == (
        compute_provenance_version(REVENUE, "p", "v", None, iter(shuffled))
    )


BASE: dict[str, Any] = {
    "asset_key": REVENUE,
    "partition_key": "2024-03-02",
    "code_version": "v1",
    "config_hash": "c0ffee",
    "inputs": INPUTS,
}
CHANGES: dict[str, Any] = {
    "asset key": {"asset_key": ORDERS},
    "partition key": {"partition_key": "2024-03-03"},
    "code version": {"code_version": "v2"},
    "config hash": {"config_hash": "decaf"},
    "no config": {"config_hash": None},
    "upstream data version": {"inputs": [(ORDERS, "2024-03-02", "ffff"), INPUTS[1]]},
    "upstream partition": {"inputs": [(ORDERS, "2024-03-01", INPUTS[0][2]), INPUTS[1]]},
    "upstream asset": {"inputs": [("warehouse/refunds", *INPUTS[0][1:]), INPUTS[1]]},
    "missing version becomes empty": {"inputs": [INPUTS[0], ("fx_rates", "__unpartitioned__", "")]},
    "input dropped": {"inputs": INPUTS[:1]},
    "input added": {"inputs": [*INPUTS, ("calendar", "2024", "00")]},
    "input repeated": {"inputs": [*INPUTS, INPUTS[0]]},
    "fields shifted": {"partition_key": "2024-03-02v1", "code_version": ""},
}


@pytest.mark.parametrize("change", list(CHANGES.values()), ids=list(CHANGES))
def test_any_component_change_gives_a_new_version(change: dict[str, Any]) -> None:
    assert compute_provenance_version(**{**BASE, **change}) != compute_provenance_version(**BASE)


def test_asset_keys_and_their_text_give_the_same_version() -> None:
    with_keys = compute_provenance_version(REVENUE, "p", "v", None, [(ORDERS, "p", "d")])
    with_text = compute_provenance_version(str(REVENUE), "p", "v", None, [(str(ORDERS), "p", "d")])
    assert with_keys == with_text


def test_two_reads_of_one_partition_sort_even_when_one_version_is_missing() -> None:
    reads: list[ProvenanceInput] = [("a", "p", None), ("a", "p", "d"), ("a", "p", "")]
    assert compute_provenance_version("x", "p", "v", None, reads) == (
        compute_provenance_version("x", "p", "v", None, reads[::-1])
    )


def test_config_hash_is_pinned_and_ignores_key_order() -> None:
    config = {"threshold": 0.5, "regions": ["eu", "us"], "name": "é"}
    assert compute_config_hash(config) == "1f071e862162b3c50745a854d1819517"
    assert compute_config_hash(dict(reversed(config.items()))) == compute_config_hash(config)
    assert compute_config_hash({}) == "e8f38f3c5f4963fe0b92cecec8b9c8e1"
    assert compute_config_hash(None) is None
    assert compute_config_hash({"threshold": 0.6}) != compute_config_hash({"threshold": 0.5})


def test_a_config_without_a_json_form_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"cannot be hashed.*model_dump\(mode='json'\)"):
        compute_config_hash({"when": object()})


def test_fallback_data_versions_follow_the_provenance_and_never_look_like_content() -> None:
    provenance = compute_provenance_version(**BASE)
    fallback = fallback_data_version(provenance)
    assert fallback == "p:" + provenance[:30]
    assert len(fallback) == 32
    assert fallback != provenance
    other = compute_provenance_version(**{**BASE, "code_version": "v2"})
    assert fallback_data_version(other) != fallback
