"""Dynamic partitions: keys that are added while flowstone runs, e.g. one per customer.

This module owns how a dynamic definition reads its keys from ``PartitionState.dynamic``. It never
queries the metadata store: the runner loads the keys of every name in use and passes them in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, PartitionKey
from flowstone.partitions.definition import PartitionState, raise_backwards, show_keys

_NAME = re.compile(r"[\w.-]+")


@dataclass(frozen=True, slots=True)
class DynamicPartitions:
    """Partitions whose keys are added at run time, in the order they were added.

    Example:
        >>> customers = DynamicPartitions("customers")
        >>> customers.get_partition_keys(PartitionState(dynamic={"customers": ["acme"]}))
        ('acme',)
    """

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise PartitionError(
                f"Dynamic partitions name {self.name!r} is invalid: it names the key list in the "
                f"metadata store. Use letters, digits, '_', '.' and '-' only, e.g. 'customers'."
            )

    @property
    def dynamic_names(self) -> frozenset[str]:
        """This definition's name: the key list the runner must load before planning."""
        return frozenset((self.name,))

    def get_partition_keys(self, state: PartitionState | None = None) -> Sequence[PartitionKey]:
        """The keys added under this name so far, in the order they were added."""
        return (state or PartitionState()).dynamic.get(self.name, ())

    def validate_key(self, key: PartitionKey, state: PartitionState | None = None) -> PartitionKey:
        """Return ``key`` if it has been added under this name.

        Raises:
            PartitionError: the key has not been added; the message offers near matches.
        """
        state = state or PartitionState()
        if key in state.dynamic_positions(self.name):
            return key
        keys = self.get_partition_keys(state)
        fix = f"Add it first with context.add_partitions({self.name!r}, [{key!r}])"
        if not keys:
            raise PartitionError(
                f"Partition key {key!r} is unknown: dynamic partitions {self.name!r} have no "
                f"keys yet. {fix}."
            )
        close = difflib.get_close_matches(str(key), list(keys), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PartitionError(
            f"Partition key {key!r} is not one of the {len(keys)} keys of dynamic partitions "
            f"{self.name!r} ({show_keys(keys)}).{hint} {fix}, or use an existing key such as "
            f"{keys[0]!r}."
        )

    def key_range(
        self, first: PartitionKey, last: PartitionKey, state: PartitionState | None = None
    ) -> Sequence[PartitionKey]:
        """The keys from ``first`` to ``last`` in the order they were added, both included.

        Raises:
            PartitionError: either key is unknown, or ``first`` was added after ``last``.
        """
        state = state or PartitionState()
        positions = state.dynamic_positions(self.name)
        start = positions[self.validate_key(first, state)]
        stop = positions[self.validate_key(last, state)]
        if start > stop:
            raise_backwards(self, first, last)
        return self.get_partition_keys(state)[start : stop + 1]

    def describe(self) -> str:
        """E.g. ``"dynamic partitions 'customers'"``."""
        return f"dynamic partitions {self.name!r}"


def check_new_keys(name: str, keys: Iterable[PartitionKey]) -> tuple[PartitionKey, ...]:
    """The keys to add to dynamic partitions ``name``, once the name and every key are valid.

    Raises:
        PartitionError: the name is invalid, or a key is empty, contains ``|`` or ``=`` (they
            separate the dimensions of multi-partition keys) or is the reserved key.
    """
    DynamicPartitions(name)
    values = (keys,) if isinstance(keys, str) else tuple(keys)
    bad = [
        key
        for key in values
        if not isinstance(key, str) or not key or key == UNPARTITIONED or "|" in key or "=" in key
    ]
    if bad:
        raise PartitionError(
            f"Dynamic partition key(s) {', '.join(map(repr, bad))} for {name!r} are invalid: "
            f"a key is a non-empty string without '|' or '=' (and not {UNPARTITIONED!r}). "
            f"Change the key(s); nothing was written."
        )
    return values
