"""Multi-dimensional partitions: one key per combination of dimension keys.

This module owns the key syntax ``"date=2024-01-01|region=us"`` (dimensions sorted by name) and
its parsing in any order. It delegates each dimension to its own definition and never nests.
"""

from __future__ import annotations

import difflib
import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from flowstone.errors import PartitionError
from flowstone.keys import PartitionKey
from flowstone.partitions.definition import (
    PartitionsDefinition,
    PartitionState,
    StaticPartitions,
    collect_dynamic_names,
)
from flowstone.partitions.time_window import TimeWindowPartitions

SEPARATOR = "|"
ASSIGN = "="


@dataclass(frozen=True, slots=True, init=False)
class MultiPartitions:
    """Partitions over two or more dimensions, e.g. a date and a region.

    Keys are ordered as the product of the dimensions' keys, the first dimension by name
    outermost. At most one dimension is a time window.

    Example:
        >>> both = MultiPartitions({"region": StaticPartitions(["us", "eu"]),
        ...                         "date": DailyPartitions("2024-01-01", "2024-01-02")})
        >>> both.get_partition_keys()
        ('date=2024-01-01|region=us', 'date=2024-01-01|region=eu')
    """

    _items: tuple[tuple[str, PartitionsDefinition], ...]
    _by_name: dict[str, PartitionsDefinition] = field(repr=False, compare=False)

    def __init__(self, dimensions: Mapping[str, PartitionsDefinition]) -> None:
        if not isinstance(dimensions, Mapping) or len(dimensions) < 2:
            raise PartitionError(
                f"MultiPartitions needs a mapping of two or more dimensions; got "
                f"{dimensions!r}. Pass e.g. {{'date': DailyPartitions(...), 'region': "
                f"StaticPartitions([...])}}, or use the single definition directly."
            )
        items = tuple(sorted(dimensions.items(), key=lambda item: str(item[0])))
        for name, definition in items:
            _check_dimension(name, definition)
        timed = [name for name, definition in items if _is_time(definition)]
        if len(timed) > 1:
            raise PartitionError(
                f"MultiPartitions has {len(timed)} time-window dimensions ({', '.join(timed)}). "
                f"Keep one time-window dimension and make the others static or dynamic."
            )
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_by_name", dict(items))

    @property
    def dimensions(self) -> Mapping[str, PartitionsDefinition]:
        """Each dimension's definition, sorted by dimension name (read-only)."""
        return MappingProxyType(self._by_name)

    @property
    def dimension_names(self) -> tuple[str, ...]:
        """The dimension names, sorted."""
        return tuple(name for name, _ in self._items)

    @property
    def time_dimension(self) -> str | None:
        """The name of the time-window dimension, if there is one."""
        return next((n for n, d in self._items if _is_time(d)), None)

    @property
    def dynamic_names(self) -> frozenset[str]:
        """The names of the dynamic partitions among the dimensions."""
        return frozenset().union(*(collect_dynamic_names(d) for _, d in self._items))

    def key_of(self, keys_by_dimension: Mapping[str, PartitionKey]) -> PartitionKey:
        """The canonical key for one key per dimension, e.g. ``"date=2024-01-01|region=us"``.

        Keys are not validated against their dimensions (that needs a state): use
        ``validate_key`` on the result for that.

        Raises:
            PartitionError: a dimension is missing or unknown, or a key contains '|' or '='.
        """
        self._check_names(
            set(keys_by_dimension), f"Dimension keys {dict(keys_by_dimension)!r}", None
        )
        parts = []
        for name in self.dimension_names:
            key = keys_by_dimension[name]
            _check_part(name, key)
            parts.append(f"{name}{ASSIGN}{key}")
        return SEPARATOR.join(parts)

    def keys_by_dimension(self, key: PartitionKey) -> dict[str, PartitionKey]:
        """Split ``key`` into its dimension keys; the dimensions may come in any order.

        Raises:
            PartitionError: the key is malformed, or a dimension is missing, unknown or repeated.
        """
        return self._split(key, None)

    def _split(self, key: PartitionKey, state: PartitionState | None) -> dict[str, PartitionKey]:
        """``keys_by_dimension``, with ``state`` for the example in its messages."""
        found: dict[str, PartitionKey] = {}
        for part in str(key).split(SEPARATOR):
            name, assign, value = part.partition(ASSIGN)
            if not assign or ASSIGN in value or name in found:
                raise PartitionError(
                    f"Partition key {key!r} is malformed at {part!r}: a multi-partition key is "
                    f"'dimension=key' pairs joined by '|', each dimension once. Write it like "
                    f"{self._example(state)!r}."
                )
            found[name] = value
        self._check_names(set(found), f"Partition key {key!r}", state)
        return {name: found[name] for name in self.dimension_names}

    def get_partition_keys(self, state: PartitionState | None = None) -> Sequence[PartitionKey]:
        """Every combination of dimension keys, the first dimension by name outermost."""
        per_dimension = []
        for name, definition in self._items:
            keys = tuple(definition.get_partition_keys(state))
            if not isinstance(definition, StaticPartitions | TimeWindowPartitions):
                for key in keys:  # keys that arrive at run time are checked when they arrive
                    _check_part(name, key)
            per_dimension.append(keys)
        return _product_keys(self.dimension_names, tuple(per_dimension))

    def validate_key(self, key: PartitionKey, state: PartitionState | None = None) -> PartitionKey:
        """Return the canonical form of ``key`` if every dimension key is valid.

        Raises:
            PartitionError: the key is malformed or a dimension key is invalid; the message
                names the dimension and gives a valid example.
        """
        valid = {}
        for name, value in self._split(key, state).items():
            try:
                valid[name] = self._by_name[name].validate_key(value, state)
            except PartitionError as exc:
                raise PartitionError(
                    f"Partition key {key!r}, dimension {name!r}: {exc} A valid multi-partition "
                    f"key looks like {self._example(state)!r}."
                ) from exc
        return self.key_of(valid)

    def key_range(
        self, first: PartitionKey, last: PartitionKey, state: PartitionState | None = None
    ) -> Sequence[PartitionKey]:
        """The box between ``first`` and ``last``: each dimension's range, combined.

        Raises:
            PartitionError: a key is invalid, or ``first`` comes after ``last`` in a dimension.
        """
        low = self.keys_by_dimension(self.validate_key(first, state))
        high = self.keys_by_dimension(self.validate_key(last, state))
        ranges = []
        for name, definition in self._items:
            try:
                ranges.append(tuple(definition.key_range(low[name], high[name], state)))
            except PartitionError as exc:
                raise PartitionError(
                    f"Partition range {first!r}..{last!r}, dimension {name!r}: {exc}"
                ) from exc
        return _product_keys(self.dimension_names, tuple(ranges))

    def describe(self) -> str:
        """E.g. ``"multi partitions (date: daily partitions ...; region: 2 static ...)"``."""
        parts = "; ".join(f"{name}: {d.describe()}" for name, d in self._items)
        return f"multi partitions ({parts})"

    def __repr__(self) -> str:
        return f"MultiPartitions({self._by_name!r})"

    def _check_names(self, given: set[str], shown: str, state: PartitionState | None) -> None:
        missing = [name for name in self.dimension_names if name not in given]
        unknown = sorted(given - set(self.dimension_names))
        if not missing and not unknown:
            return
        problems = [f"missing {', '.join(map(repr, missing))}"] if missing else []
        for name in unknown:
            close = difflib.get_close_matches(name, self.dimension_names, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown {name!r}{guess}")
        raise PartitionError(
            f"{shown} must name each of the dimensions "
            f"{', '.join(self.dimension_names)}: {'; '.join(problems)}. Give one key per "
            f"dimension, e.g. {self._example(state)!r}."
        )

    def _example(self, state: PartitionState | None = None) -> PartitionKey:
        """A well-formed key for messages; it reads no clock and needs no dynamic keys."""
        parts = []
        for name, definition in self._items:
            if isinstance(definition, TimeWindowPartitions):
                keys: Sequence[PartitionKey] = (definition.key_for_time(definition.start),)
            elif isinstance(definition, StaticPartitions) or state is not None:
                keys = definition.get_partition_keys(state)
            else:
                keys = ()
            parts.append(f"{name}{ASSIGN}{keys[0] if keys else '<' + name + '>'}")
        return SEPARATOR.join(parts)


def _is_time(definition: PartitionsDefinition) -> bool:
    return isinstance(definition, TimeWindowPartitions)


def _check_part(dimension: str, key: PartitionKey) -> None:
    """Reject a dimension key that would make the combined key ambiguous."""
    if not isinstance(key, str) or not key or SEPARATOR in key or ASSIGN in key:
        raise PartitionError(
            f"Key {key!r} of dimension {dimension!r} cannot be part of a multi-partition key: "
            f"keys must be non-empty strings without '|' or '='. Rename the key."
        )


def _check_dimension(name: str, definition: PartitionsDefinition) -> None:
    if not isinstance(name, str) or not name or SEPARATOR in name or ASSIGN in name:
        raise PartitionError(
            f"Dimension name {name!r} of MultiPartitions is invalid: names are non-empty "
            f"strings without '|' or '='. Rename the dimension, e.g. 'region'."
        )
    if isinstance(definition, MultiPartitions) or not isinstance(definition, PartitionsDefinition):
        raise PartitionError(
            f"Dimension {name!r} of MultiPartitions is {definition!r}. Each dimension must be "
            f"a static, time-window or dynamic partitions definition (multi ones do not nest)."
        )
    if isinstance(definition, StaticPartitions):
        for key in definition.keys:
            _check_part(name, key)
    if isinstance(definition, TimeWindowPartitions) and (
        SEPARATOR in definition.fmt or ASSIGN in definition.fmt
    ):
        raise PartitionError(
            f"Dimension {name!r} of MultiPartitions has fmt={definition.fmt!r}, whose keys "
            f"would contain '|' or '='. Use a format without them, e.g. '%Y-%m-%d'."
        )


@functools.lru_cache(maxsize=32)
def _product_keys(
    names: tuple[str, ...], per_dimension: tuple[tuple[PartitionKey, ...], ...]
) -> tuple[PartitionKey, ...]:
    """Cached: the dimension key tuples are themselves cached, so a hit is an identity check."""
    labelled = [
        [f"{name}{ASSIGN}{key}" for key in keys]
        for name, keys in zip(names, per_dimension, strict=True)
    ]
    return tuple(SEPARATOR.join(combination) for combination in itertools.product(*labelled))
