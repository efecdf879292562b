"""``AssetContext``: what a running asset function may know about itself and report back.

The runner builds one per attempt; the function reads it, may add metadata and may add or remove
dynamic partitions. It holds no connection and does no I/O: changes are applied by the runner
only once the materialization has been stored, so a failed attempt changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.partitions import (
    DynamicPartitions,
    MultiPartitions,
    PartitionsDefinition,
    TimeWindow,
    TimeWindowPartitions,
)
from flowstone.partitions.dynamic import check_new_keys


@dataclass(frozen=True, slots=True)
class PartitionChange:
    """Keys an asset added to (or removed from) a dynamic partitions definition."""

    name: str
    keys: tuple[PartitionKey, ...]
    remove: bool = False


@dataclass(slots=True)
class AssetContext:
    """Handed to an asset function through a parameter named ``context``.

    Example:
        >>> @asset(partitioned_by=DailyPartitions("2024-01-01"))
        ... def orders(context: AssetContext) -> list[dict]:
        ...     start, end = context.partition_time_window
        ...     rows = load(start, end)
        ...     context.add_metadata(row_count=len(rows))
        ...     return rows
    """

    asset_key: AssetKey
    partition_key: PartitionKey
    run_id: str
    attempt: int = 0
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("flowstone.asset"))
    metadata: dict[str, Any] = field(default_factory=dict)
    partitions: PartitionsDefinition | None = None
    partition_changes: list[PartitionChange] = field(default_factory=list)

    @property
    def has_partition(self) -> bool:
        """Whether the asset is partitioned (``partition_key`` is then a real key)."""
        return self.partition_key != UNPARTITIONED

    @property
    def partition_keys(self) -> Mapping[str, PartitionKey]:
        """The key of each dimension of a multi-partitioned asset; empty for other assets.

        Example:
            >>> context.partition_keys
            {'date': '2024-01-01', 'region': 'us'}
        """
        if isinstance(self.partitions, MultiPartitions):
            return self.partitions.keys_by_dimension(self.partition_key)
        return {}

    @property
    def partition_time_window(self) -> TimeWindow:
        """The partition's ``[start, end)`` for time partitions (or a multi one's time dimension).

        Raises:
            PartitionError: the asset is not partitioned by time.
        """
        partitions, key = self.partitions, self.partition_key
        if isinstance(partitions, MultiPartitions) and partitions.time_dimension is not None:
            key = partitions.keys_by_dimension(key)[partitions.time_dimension]
            partitions = partitions.dimensions[partitions.time_dimension]
        if isinstance(partitions, TimeWindowPartitions):
            return partitions.time_window(key)
        raise PartitionError(
            f"Asset {str(self.asset_key)!r} is not partitioned by time, so it has no "
            f"partition_time_window. Use context.partition_key, or partition it by time."
        )

    def add_metadata(self, **values: Any) -> None:
        """Record JSON-serialisable metadata (row counts, previews) with this materialization."""
        self.metadata.update(values)

    def add_partitions(self, partitions: DynamicPartitions | str, keys: Iterable[str]) -> None:
        """Add keys to a dynamic partitions definition once this materialization is stored.

        Downstream assets partitioned by it see the new keys in the same run.
        """
        name = _name_of(partitions)
        self.partition_changes.append(PartitionChange(name, check_new_keys(name, keys)))

    def remove_partitions(self, partitions: DynamicPartitions | str, keys: Iterable[str]) -> None:
        """Remove keys from a dynamic partitions definition once this materialization is stored."""
        name = _name_of(partitions)
        change = PartitionChange(name, check_new_keys(name, keys), remove=True)
        self.partition_changes.append(change)


def _name_of(partitions: DynamicPartitions | str) -> str:
    return partitions.name if isinstance(partitions, DynamicPartitions) else str(partitions)
