"""Partition mappings: which upstream partitions one downstream partition reads.

The public home of every mapping: it re-exports the one-key mappings of ``key_mapping.py`` and
owns the static table, the per-dimension mappings and ``default_mapping``, the rule the graph
uses when a dependency names no mapping. Pure: no clock, no store; the time and the dynamic keys
arrive in a ``PartitionState``.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field

from flowstone.errors import PartitionError
from flowstone.keys import PartitionKey
from flowstone.partitions.definition import PartitionsDefinition, PartitionState
from flowstone.partitions.key_mapping import (
    NO_LAST_PARTITION,
    AllPartitions,
    Definition,
    Identity,
    LastPartition,
    MappedKeys,
    PartitionMapping,
    TimeWindowMapping,
    check_dimensions,
    describe,
    find_key,
    fixed_keys,
    mismatch_error,
)
from flowstone.partitions.multi import MultiPartitions
from flowstone.partitions.time_window import TimeWindowPartitions

__all__ = [
    "NO_LAST_PARTITION",
    "AllPartitions",
    "DimensionMapping",
    "Identity",
    "LastPartition",
    "MappedKeys",
    "MultiMapping",
    "PartitionMapping",
    "StaticMapping",
    "TimeWindowMapping",
    "default_mapping",
]

_IDENTITY = Identity()
_ALL = AllPartitions()


@dataclass(frozen=True, slots=True, init=False)
class StaticMapping:
    """A fixed table from each upstream key to the downstream key(s) that read it.

    Example:
        >>> table = StaticMapping(mapping={"us": "americas", "ca": "americas"})
        >>> table.upstream_keys(None, "americas", StaticPartitions(["us", "ca"]),
        ...                     PartitionState()).keys
        ('us', 'ca')
    """

    target: object
    mapping: tuple[tuple[PartitionKey, tuple[PartitionKey, ...]], ...]
    allow_missing: bool
    # downstream key -> the upstream keys naming it, in table order; derived from ``mapping``.
    _readers: Mapping[PartitionKey, tuple[PartitionKey, ...]] = field(compare=False, repr=False)

    def __init__(
        self,
        target: object = None,
        mapping: Mapping[PartitionKey, PartitionKey | Iterable[PartitionKey]] | None = None,
        *,
        allow_missing: bool = False,
    ) -> None:
        pairs = _static_pairs(mapping)
        readers: dict[PartitionKey, tuple[PartitionKey, ...]] = {}
        for upstream_key, downstream_keys in pairs:
            for downstream_key in downstream_keys:
                readers[downstream_key] = (*readers.get(downstream_key, ()), upstream_key)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "mapping", pairs)
        object.__setattr__(self, "allow_missing", allow_missing)
        object.__setattr__(self, "_readers", readers)

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        keys: list[PartitionKey] = []
        missing: list[PartitionKey] = []
        for candidate in self._readers.get(key, ()):
            found = find_key(upstream, candidate, state)
            if found is None:
                missing.append(candidate)
            else:
                keys.append(found)
        if len(keys) > 1 and upstream is not None:
            order = {k: i for i, k in enumerate(upstream.get_partition_keys(state))}
            keys.sort(key=order.__getitem__)
        return MappedKeys(tuple(keys), tuple(missing))

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        # Keys of a dynamic or time-window downstream that the table does not name read nothing.
        fixed = fixed_keys(downstream)
        if fixed is None:
            return True
        return any(len(self._readers.get(key, ())) != 1 for key in fixed)

    def check(self, downstream: Definition, upstream: Definition) -> None:
        named_upstream = [upstream_key for upstream_key, _ in self.mapping]
        named_downstream = list(self._readers)
        for side, definition, named in (
            ("upstream", upstream, named_upstream),
            ("downstream", downstream, named_downstream),
        ):
            fixed = fixed_keys(definition)
            if fixed is None:
                continue  # time-window and dynamic keys are only known at run time
            known = set(fixed)
            unknown = [k for k in named if k not in known]
            if unknown:
                close = difflib.get_close_matches(unknown[0], fixed, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise PartitionError(
                    f"StaticMapping names {side} keys {unknown!r} that {side} "
                    f"{describe(definition)} does not have.{hint} Name only keys of the "
                    f"{side} asset."
                )


def _static_pairs(
    mapping: Mapping[PartitionKey, PartitionKey | Iterable[PartitionKey]] | None,
) -> tuple[tuple[PartitionKey, tuple[PartitionKey, ...]], ...]:
    """The table as (upstream key, downstream keys) pairs, checked for shape."""
    if not mapping:
        raise PartitionError(
            f"StaticMapping needs mapping={{upstream_key: downstream_key}}; got {mapping!r}. "
            f"Give at least one pair, e.g. mapping={{'us': 'americas'}}."
        )
    pairs: list[tuple[PartitionKey, tuple[PartitionKey, ...]]] = []
    for upstream_key, targets in mapping.items():
        if isinstance(targets, str):
            downstream_keys: tuple[object, ...] = (targets,)
        else:
            downstream_keys = tuple(dict.fromkeys(targets)) if isinstance(targets, Iterable) else ()
        if (
            not isinstance(upstream_key, str)
            or not downstream_keys
            or not all(isinstance(k, str) for k in downstream_keys)
        ):
            raise PartitionError(
                f"StaticMapping entry {upstream_key!r}: {targets!r} is not an upstream key with "
                f"a downstream key or a non-empty list of them. Write e.g. {{'us': 'americas'}} "
                f"or {{'us': ['americas', 'world']}}."
            )
        pairs.append((upstream_key, tuple(str(k) for k in downstream_keys)))
    return tuple(pairs)


@dataclass(frozen=True, slots=True, init=False)
class MultiMapping:
    """A mapping per dimension between two multi-partitioned assets; unnamed ones are identity.

    Example:
        >>> MultiMapping(dimensions={"date": TimeWindowMapping(start_offset=-1)}).dimensions[0][0]
        'date'
    """

    target: object
    dimensions: tuple[tuple[str, PartitionMapping], ...]
    allow_missing: bool

    def __init__(
        self,
        target: object = None,
        dimensions: Mapping[str, PartitionMapping] | None = None,
        *,
        allow_missing: bool = False,
    ) -> None:
        pairs = tuple(sorted((dimensions or {}).items()))
        for name, mapping in pairs:
            if not isinstance(mapping, PartitionMapping) or isinstance(mapping, MultiMapping):
                raise PartitionError(
                    f"MultiMapping dimension {name!r} has {mapping!r}, not a mapping of one "
                    f"dimension. Give e.g. TimeWindowMapping() or StaticMapping(mapping={{...}})."
                )
            if mapping.target is not None:
                raise PartitionError(
                    f"MultiMapping dimension {name!r} names an upstream asset "
                    f"({mapping.target!r}). Name the asset on MultiMapping(target, ...) only."
                )
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "dimensions", pairs)
        object.__setattr__(self, "allow_missing", allow_missing)

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        down, up = self._multis(downstream, upstream)
        parts = down.keys_by_dimension(key)
        return _combine(
            up,
            [
                self._of(name).upstream_keys(
                    down.dimensions[name], parts[name], up.dimensions[name], state
                )
                for name in up.dimension_names
            ],
        )

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        down, up = self._multis(downstream, upstream)
        return any(
            self._of(name).is_many(down.dimensions[name], up.dimensions[name])
            for name in up.dimension_names
        )

    def check(self, downstream: Definition, upstream: Definition) -> None:
        down, up = self._multis(downstream, upstream)
        check_dimensions("MultiMapping", down, up, [name for name, _ in self.dimensions])
        for name in up.dimension_names:
            self._of(name).check(down.dimensions[name], up.dimensions[name])

    def _of(self, name: str) -> PartitionMapping:
        return next((m for n, m in self.dimensions if n == name), _IDENTITY)

    def _multis(
        self, downstream: Definition, upstream: Definition
    ) -> tuple[MultiPartitions, MultiPartitions]:
        if isinstance(downstream, MultiPartitions) and isinstance(upstream, MultiPartitions):
            return downstream, upstream
        raise mismatch_error("MultiMapping", downstream, upstream)


@dataclass(frozen=True, slots=True)
class DimensionMapping:
    """One dimension of a multi-partitioned side maps to a single-dimension other side.

    A multi asset (``date`` x ``region``) reading a daily asset maps its ``date`` key through
    ``mapping``; a single asset reading a multi one gets the ``dimension`` keys ``mapping`` gives,
    for every key of the other dimensions (a monthly total over ``date`` x ``region`` reads the
    month's days in every region). ``mapping`` defaults to what the two definitions imply.

    Example:
        >>> previous_day = TimeWindowMapping(start_offset=-1, end_offset=-1)
        >>> DimensionMapping(raw_sales, dimension="date", mapping=previous_day)
    """

    target: object = None
    _: KW_ONLY
    dimension: str
    mapping: PartitionMapping | None = None
    allow_missing: bool = False

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        if isinstance(downstream, MultiPartitions) and not isinstance(upstream, MultiPartitions):
            part = downstream.keys_by_dimension(key)[self.dimension]
            side = downstream.dimensions[self.dimension]
            return self._inner(side, upstream).upstream_keys(side, part, upstream, state)
        up = self._upstream_multi(downstream, upstream)
        side = up.dimensions[self.dimension]
        results = [
            self._inner(downstream, side).upstream_keys(downstream, key, side, state)
            if name == self.dimension
            else _ALL.upstream_keys(None, key, up.dimensions[name], state)
            for name in up.dimension_names
        ]
        return _combine(up, results)

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        if isinstance(downstream, MultiPartitions) and not isinstance(upstream, MultiPartitions):
            side = downstream.dimensions[self.dimension]
            return self._inner(side, upstream).is_many(side, upstream)
        return True

    def check(self, downstream: Definition, upstream: Definition) -> None:
        if isinstance(downstream, MultiPartitions) and not isinstance(upstream, MultiPartitions):
            _check_dimension(self.dimension, downstream, upstream)
            side = downstream.dimensions[self.dimension]
            self._inner(side, upstream).check(side, upstream)
            return
        up = self._upstream_multi(downstream, upstream)
        _check_dimension(self.dimension, up, downstream)
        self._inner(downstream, up.dimensions[self.dimension]).check(
            downstream, up.dimensions[self.dimension]
        )

    def _inner(self, downstream: Definition, upstream: Definition) -> PartitionMapping:
        inner = self.mapping or default_mapping(downstream, upstream)
        if inner is None:
            raise PartitionError(
                f"DimensionMapping(dimension={self.dimension!r}) has no mapping between "
                f"{describe(downstream)} and {describe(upstream)}. Give one, e.g. "
                f"mapping=TimeWindowMapping() or mapping=StaticMapping(mapping={{...}})."
            )
        return inner

    def _upstream_multi(self, downstream: Definition, upstream: Definition) -> MultiPartitions:
        if isinstance(upstream, MultiPartitions) and not isinstance(downstream, MultiPartitions):
            return upstream
        raise mismatch_error(
            f"DimensionMapping(dimension={self.dimension!r})", downstream, upstream
        )


def _check_dimension(name: str, multi: MultiPartitions, other: Definition) -> None:
    if name not in multi.dimensions:
        close = difflib.get_close_matches(name, multi.dimension_names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PartitionError(
            f"DimensionMapping names dimension {name!r}, but {multi.describe()} has only "
            f"{', '.join(map(repr, multi.dimension_names))}.{hint}"
        )


def default_mapping(downstream: Definition, upstream: Definition) -> PartitionMapping | None:
    """The mapping a dependency uses when it names none, or ``None`` when nothing is implied.

    An unpartitioned upstream is read whole; an unpartitioned asset reads every upstream
    partition; equal definitions map key to key; two time-window definitions map by overlap; a
    multi asset reads through its matching dimension (equal, else the time dimension against a
    time definition), and the other way round it reads that dimension's slice.

    Example:
        >>> default_mapping(None, StaticPartitions(["us"]))
        AllPartitions(target=None, allow_missing=False)
    """
    if upstream is None or downstream == upstream:
        return Identity()
    if downstream is None:
        return AllPartitions()
    if isinstance(downstream, TimeWindowPartitions) and isinstance(upstream, TimeWindowPartitions):
        return TimeWindowMapping()
    if isinstance(downstream, MultiPartitions) and not isinstance(upstream, MultiPartitions):
        name = _matching_dimension(downstream, upstream)
        return DimensionMapping(dimension=name) if name is not None else None
    if isinstance(upstream, MultiPartitions) and not isinstance(downstream, MultiPartitions):
        name = _matching_dimension(upstream, downstream)
        return DimensionMapping(dimension=name) if name is not None else None
    return None


def _matching_dimension(multi: MultiPartitions, single: PartitionsDefinition) -> str | None:
    """The one dimension equal to ``single``, else the time dimension when both are time-based."""
    equal = [name for name, dimension in multi.dimensions.items() if dimension == single]
    if len(equal) == 1:
        return equal[0]
    if not equal and isinstance(single, TimeWindowPartitions):
        return multi.time_dimension
    return None


def _combine(upstream: MultiPartitions, results: Sequence[MappedKeys]) -> MappedKeys:
    """Per-dimension results as multi keys: a key with any missing part is missing."""
    names = upstream.dimension_names

    def key_of(parts: tuple[PartitionKey, ...]) -> PartitionKey:
        return upstream.key_of(dict(zip(names, parts, strict=True)))

    keys = tuple(map(key_of, itertools.product(*(result.keys for result in results))))
    if not any(result.missing for result in results):
        return MappedKeys(keys, ())
    asked = itertools.product(*(result.keys + result.missing for result in results))
    missing = tuple(
        key_of(parts)
        for parts in asked
        if any(part in result.missing for part, result in zip(parts, results, strict=True))
    )
    return MappedKeys(keys, missing)
