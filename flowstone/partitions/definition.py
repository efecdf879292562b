"""What a partitions definition is: a finite, ordered set of partition keys.

This module owns the ``PartitionsDefinition`` protocol, the ``PartitionState`` a definition reads
its changing facts from (the time now, the dynamic keys), and ``StaticPartitions``. Pure: it reads
the clock only when a state without ``now`` is asked for the time, and never touches a store.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn, Protocol, runtime_checkable

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, PartitionKey

SHOWN_KEYS = 5
"""How many keys an error message or description lists before eliding the rest."""


@dataclass(frozen=True, slots=True)
class PartitionState:
    """Facts outside a definition that decide its keys: the time now and the dynamic keys.

    Definitions stay pure values; whatever changes between runs is passed in here, so the same
    state always yields the same keys.

    Example:
        >>> state = PartitionState(now=datetime(2024, 1, 3, tzinfo=UTC))
        >>> state.current_time().isoformat()
        '2024-01-03T00:00:00+00:00'
    """

    now: datetime | None = None
    dynamic: Mapping[str, Sequence[PartitionKey]] = field(default_factory=dict)
    _positions: dict[str, dict[PartitionKey, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.now is not None and self.now.utcoffset() is None:
            raise PartitionError(
                f"PartitionState(now={self.now!r}) is a naive datetime, so the current window "
                f"is ambiguous. Pass an aware time, e.g. datetime.now(UTC)."
            )
        # Copy into tuples: a caller mutating its lists later must not change these facts.
        frozen = {str(name): tuple(keys) for name, keys in self.dynamic.items()}
        object.__setattr__(self, "dynamic", frozen)

    def current_time(self) -> datetime:
        """The aware time now: ``now`` if given, else the clock (the only clock read here)."""
        return self.now if self.now is not None else datetime.now(UTC)

    def dynamic_positions(self, name: str) -> Mapping[PartitionKey, int]:
        """The position of each key of dynamic partitions ``name``, for O(1) membership.

        Raises:
            PartitionError: the same key was added twice.
        """
        positions = self._positions.get(name)
        if positions is None:
            keys = self.dynamic.get(name, ())
            positions = {key: index for index, key in enumerate(keys)}
            if len(positions) != len(keys):
                repeated = next(key for key in keys if keys.count(key) > 1)
                raise PartitionError(
                    f"Dynamic partitions {name!r} list the key {repeated!r} more than once. "
                    f"Add each dynamic key only once."
                )
            self._positions[name] = positions
        return positions


@runtime_checkable
class PartitionsDefinition(Protocol):
    """The partitions of an asset, in their natural order.

    ``state`` carries the time now and the dynamic keys; ``None`` means the clock and no dynamic
    keys. Implementations validate a key in O(1) or O(log n).
    """

    def get_partition_keys(self, state: PartitionState | None = None) -> Sequence[PartitionKey]:
        """Every partition key, in order."""
        ...

    def validate_key(self, key: PartitionKey, state: PartitionState | None = None) -> PartitionKey:
        """Return ``key`` (canonical form) if it belongs here; raise ``PartitionError`` if not."""
        ...

    def key_range(
        self, first: PartitionKey, last: PartitionKey, state: PartitionState | None = None
    ) -> Sequence[PartitionKey]:
        """Every key from ``first`` to ``last``, both included; a backwards range raises."""
        ...

    def describe(self) -> str:
        """A short phrase for messages, e.g. ``"3 static partitions (us, eu, apac)"``."""
        ...


def show_keys(keys: Sequence[PartitionKey]) -> str:
    """The first few keys, comma-separated, for messages."""
    shown = ", ".join(keys[:SHOWN_KEYS])
    return f"{shown}, ..." if len(keys) > SHOWN_KEYS else shown


def raise_backwards(
    definition: PartitionsDefinition, first: PartitionKey, last: PartitionKey
) -> NoReturn:
    """Raise the error for a range whose first key comes after its last key."""
    raise PartitionError(
        f"Partition range {first!r}..{last!r} is backwards in {definition.describe()}: "
        f"{first!r} comes after {last!r}. Swap the two keys."
    )


@dataclass(frozen=True, slots=True)
class StaticPartitions:
    """A fixed list of partition keys, e.g. regions.

    Example:
        >>> StaticPartitions(["us", "eu"]).get_partition_keys()
        ('us', 'eu')
    """

    keys: tuple[PartitionKey, ...]
    _positions: dict[PartitionKey, int] = field(init=False, repr=False, compare=False)

    def __init__(self, keys: Iterable[PartitionKey]) -> None:
        values = tuple(keys)
        problems = [k for k in values if not isinstance(k, str) or not k or k == UNPARTITIONED]
        if problems or len(set(values)) != len(values) or not values:
            raise PartitionError(
                f"StaticPartitions needs distinct, non-empty string keys; got {list(values)!r}. "
                f"Remove empty or repeated keys."
            )
        object.__setattr__(self, "keys", values)
        object.__setattr__(self, "_positions", {key: index for index, key in enumerate(values)})

    def get_partition_keys(self, state: PartitionState | None = None) -> Sequence[PartitionKey]:
        """Every key, in the order given."""
        return self.keys

    def validate_key(self, key: PartitionKey, state: PartitionState | None = None) -> PartitionKey:
        """Return ``key`` if it is one of the static keys.

        Raises:
            PartitionError: ``key`` is not one of them; the message offers near matches.
        """
        if key in self._positions:
            return key
        close = difflib.get_close_matches(key, self.keys, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PartitionError(
            f"Partition key {key!r} is not one of {len(self.keys)} static keys "
            f"({show_keys(self.keys)}).{hint} Use one of these keys, e.g. {self.keys[0]!r}, "
            f"or add {key!r} to StaticPartitions([...])."
        )

    def key_range(
        self, first: PartitionKey, last: PartitionKey, state: PartitionState | None = None
    ) -> Sequence[PartitionKey]:
        """The keys from ``first`` to ``last`` in the order given, both included.

        Raises:
            PartitionError: either key is unknown, or ``first`` comes after ``last``.
        """
        start = self._positions[self.validate_key(first)]
        stop = self._positions[self.validate_key(last)]
        if start > stop:
            raise_backwards(self, first, last)
        return self.keys[start : stop + 1]

    def describe(self) -> str:
        """E.g. ``"3 static partitions (us, eu, apac)"``."""
        noun = "partition" if len(self.keys) == 1 else "partitions"
        return f"{len(self.keys)} static {noun} ({show_keys(self.keys)})"


def collect_dynamic_names(definition: PartitionsDefinition | None) -> frozenset[str]:
    """The names of the dynamic partitions inside ``definition`` (dimensions included).

    The runner loads exactly these names' keys from the store before planning.

    Example:
        >>> collect_dynamic_names(StaticPartitions(["us"]))
        frozenset()
    """
    # Dynamic and multi definitions expose ``dynamic_names``; reading the attribute instead of
    # importing their classes keeps this module below them.
    names = getattr(definition, "dynamic_names", None)
    if isinstance(names, frozenset) and all(isinstance(name, str) for name in names):
        return names
    return frozenset()
