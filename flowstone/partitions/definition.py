"""What a partitions definition is: a finite, ordered set of partition keys.

Pure: no clock, no store. Time-window, multi-dimensional and dynamic definitions build on this
protocol; ``StaticPartitions`` is the simplest implementation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, PartitionKey


@runtime_checkable
class PartitionsDefinition(Protocol):
    """The partitions of an asset, in their natural order."""

    def get_partition_keys(self) -> Sequence[PartitionKey]:
        """Every partition key, in order."""
        ...

    def validate_key(self, key: PartitionKey) -> PartitionKey:
        """Return ``key`` if it belongs to this definition; raise ``PartitionError`` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class StaticPartitions:
    """A fixed list of partition keys, e.g. regions.

    Example:
        >>> StaticPartitions(["us", "eu"]).get_partition_keys()
        ('us', 'eu')
    """

    keys: tuple[PartitionKey, ...]

    def __init__(self, keys: Iterable[PartitionKey]) -> None:
        values = tuple(keys)
        problems = [k for k in values if not isinstance(k, str) or not k or k == UNPARTITIONED]
        if problems or len(set(values)) != len(values) or not values:
            raise PartitionError(
                f"StaticPartitions needs distinct, non-empty string keys; got {list(values)!r}. "
                f"Remove empty or repeated keys."
            )
        object.__setattr__(self, "keys", values)

    def get_partition_keys(self) -> Sequence[PartitionKey]:
        return self.keys

    def validate_key(self, key: PartitionKey) -> PartitionKey:
        if key in self.keys:
            return key
        close = difflib.get_close_matches(key, self.keys, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PartitionError(
            f"Partition key {key!r} is not one of {len(self.keys)} static keys "
            f"({', '.join(self.keys[:5])}{', ...' if len(self.keys) > 5 else ''}).{hint}"
        )
