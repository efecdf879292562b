"""The Python API for the keys of dynamic partitions, kept in the metadata store.

Assets add keys through ``context.add_partitions`` (applied once their materialization is stored);
these functions do the same from outside a run, e.g. from a sensor script or a notebook.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flowstone.execution.api import open_store, resolve_settings
from flowstone.keys import PartitionKey
from flowstone.partitions import DynamicPartitions
from flowstone.partitions.dynamic import check_new_keys
from flowstone.storage import MetadataStore


def add_dynamic_partitions(
    partitions: DynamicPartitions | str,
    keys: Iterable[PartitionKey],
    *,
    store: str | MetadataStore | None = None,
    project_dir: Path | None = None,
) -> list[PartitionKey]:
    """Add keys (those not present yet, in order); return the ones added.

    Example:
        >>> add_dynamic_partitions(DynamicPartitions("customers"), ["acme", "globex"])
        ['acme', 'globex']

    Raises:
        PartitionError: the name or a key is invalid; nothing is written.
    """
    name = _name_of(partitions)
    checked = list(check_new_keys(name, keys))
    with open_store(store, resolve_settings(project_dir)) as opened:
        return opened.add_dynamic_partitions(name, checked)


def remove_dynamic_partitions(
    partitions: DynamicPartitions | str,
    keys: Iterable[PartitionKey],
    *,
    store: str | MetadataStore | None = None,
    project_dir: Path | None = None,
) -> list[PartitionKey]:
    """Remove keys; return the ones that were present. Stored values are kept.

    Raises:
        PartitionError: the name or a key is invalid; nothing is written.
    """
    name = _name_of(partitions)
    checked = list(check_new_keys(name, keys))
    with open_store(store, resolve_settings(project_dir)) as opened:
        return opened.remove_dynamic_partitions(name, checked)


def get_dynamic_partitions(
    partitions: DynamicPartitions | str,
    *,
    store: str | MetadataStore | None = None,
    project_dir: Path | None = None,
) -> tuple[PartitionKey, ...]:
    """The keys of dynamic partitions, in the order they were added."""
    name = _name_of(partitions)
    with open_store(store, resolve_settings(project_dir)) as opened:
        return opened.get_dynamic_partitions([name])[name]


def _name_of(partitions: DynamicPartitions | str) -> str:
    return DynamicPartitions(partitions).name if isinstance(partitions, str) else partitions.name
