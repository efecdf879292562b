"""The partition mapping protocol and the mappings that treat a key as one value.

Owns ``MappedKeys``, ``PartitionMapping``, the mappings that need no table or dimensions
(identity, time windows, all, last) and the helpers ``mapping.py`` shares. Import them
from ``flowstone.partitions.mapping``. Pure: no clock, no store; the time and the dynamic keys
arrive in a ``PartitionState``. Whether a value was ever stored is the planner's question.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, TypeAlias, runtime_checkable

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, PartitionKey
from flowstone.partitions.definition import PartitionsDefinition, PartitionState, StaticPartitions
from flowstone.partitions.dynamic import DynamicPartitions
from flowstone.partitions.multi import MultiPartitions
from flowstone.partitions.time_window import Grain, TimeWindowPartitions

NO_LAST_PARTITION = "<no partition yet>"
"""The placeholder ``LastPartition`` reports as missing while the upstream has no partition."""


class MappedKeys(NamedTuple):
    """The upstream keys one downstream partition reads, and those it asks for in vain."""

    keys: tuple[PartitionKey, ...]
    missing: tuple[PartitionKey, ...]


@runtime_checkable
class PartitionMapping(Protocol):
    """How one downstream partition chooses the upstream partitions it reads."""

    @property
    def target(self) -> object:
        """The upstream asset (``AssetDef``, key string or ``AssetKey``); ``None`` if implied."""
        ...

    @property
    def allow_missing(self) -> bool:
        """True: the asset receives what exists instead of being blocked by missing keys."""
        ...

    def upstream_keys(
        self,
        downstream: PartitionsDefinition | None,
        key: PartitionKey,
        upstream: PartitionsDefinition | None,
        state: PartitionState,
    ) -> MappedKeys:
        """The upstream keys downstream partition ``key`` reads, in upstream order."""
        ...

    def is_many(
        self, downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
    ) -> bool:
        """True: the parameter receives ``dict[upstream_key, value]``; False: the value."""
        ...

    def check(
        self, downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
    ) -> None:
        """Raise ``PartitionError`` when this mapping cannot fit the two definitions."""
        ...


Definition: TypeAlias = PartitionsDefinition | None
"""A partitions definition, or ``None`` for an unpartitioned asset."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Each partition reads the upstream partition with the same key (or the unpartitioned one).

    Example:
        >>> Identity().upstream_keys(None, UNPARTITIONED, None, PartitionState()).keys
        ('__unpartitioned__',)
    """

    target: object = None
    _: KW_ONLY
    allow_missing: bool = False

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        # An unpartitioned upstream has one value that every downstream partition reads.
        if upstream is None:
            return MappedKeys((UNPARTITIONED,), ())
        found = find_key(upstream, key, state)
        return MappedKeys((found,), ()) if found is not None else MappedKeys((), (key,))

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        return False

    def check(self, downstream: Definition, upstream: Definition) -> None:
        if upstream is None or downstream == upstream:
            return
        if downstream is None or _shape(downstream) != _shape(upstream):
            raise mismatch_error("Identity()", downstream, upstream)
        if isinstance(downstream, MultiPartitions) and isinstance(upstream, MultiPartitions):
            check_dimensions("Identity()", downstream, upstream, ())
            for name in upstream.dimension_names:
                self.check(downstream.dimensions[name], upstream.dimensions[name])
        elif isinstance(downstream, StaticPartitions) and isinstance(upstream, StaticPartitions):
            known = set(upstream.keys)
            absent = [k for k in downstream.keys if k not in known]
            if absent and not self.allow_missing:
                raise PartitionError(
                    f"Identity() maps downstream keys {absent!r} to upstream keys that do not "
                    f"exist ({upstream.describe()}). Use StaticMapping(mapping={{...}}) to say "
                    f"which upstream key each reads, or pass allow_missing=True."
                )


@dataclass(frozen=True, slots=True)
class TimeWindowMapping:
    """Each time window reads the upstream windows overlapping its (shifted) span.

    The span runs from the start of the window ``start_offset`` windows away to the end of the
    window ``end_offset`` windows away, so it also changes grain (a month reads its days).

    Example:
        >>> TimeWindowMapping(start_offset=-6)  # a day reads itself and the six days before
        TimeWindowMapping(target=None, start_offset=-6, end_offset=0, allow_missing=False)
    """

    target: object = None
    _: KW_ONLY
    start_offset: int = 0
    end_offset: int = 0
    allow_missing: bool = False

    def __post_init__(self) -> None:
        if self.start_offset > self.end_offset:
            raise PartitionError(
                f"TimeWindowMapping(start_offset={self.start_offset}, "
                f"end_offset={self.end_offset}) spans backwards. Give a start_offset at most "
                f"end_offset, e.g. start_offset=-6, end_offset=0 for the last seven windows."
            )

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        down, up = self._windows(downstream, upstream)
        start, end = self._span(down, key)
        # Split the span at the upstream range's bounds (window boundaries both) rather than
        # testing each key: three overlap queries cost less than a parse per key.
        first, last = _bounds(up, up.end if up.end is not None else state.current_time())
        inside = _overlapping(up, max(start, first), min(end, last))
        before = _overlapping(up, start, min(end, first))
        after = _overlapping(up, max(start, last, first), end)
        return MappedKeys(tuple(inside), tuple(before + after))

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        down, up = self._windows(downstream, upstream)
        return self.start_offset != self.end_offset or not _nests(down, up)

    def check(self, downstream: Definition, upstream: Definition) -> None:
        self._windows(downstream, upstream)

    def _span(
        self, downstream: TimeWindowPartitions, key: PartitionKey
    ) -> tuple[datetime, datetime]:
        """From the start of the window ``start_offset`` away to the end of ``end_offset``'s.

        In UTC: aware datetimes sharing a zone compare by wall time, which a repeated hour breaks.
        """
        window = downstream.time_window(downstream.shift(key, self.start_offset))
        if self.end_offset != self.start_offset:
            window = window._replace(
                end=downstream.time_window(downstream.shift(key, self.end_offset)).end
            )
        return window.start.astimezone(UTC), window.end.astimezone(UTC)

    def _windows(
        self, downstream: Definition, upstream: Definition
    ) -> tuple[TimeWindowPartitions, TimeWindowPartitions]:
        if isinstance(downstream, TimeWindowPartitions) and isinstance(
            upstream, TimeWindowPartitions
        ):
            return downstream, upstream
        raise mismatch_error("TimeWindowMapping()", downstream, upstream)


@dataclass(frozen=True, slots=True)
class AllPartitions:
    """Every partition reads every upstream partition (fan-in), as a dict.

    Example:
        >>> up = StaticPartitions(["us", "eu"])
        >>> AllPartitions().upstream_keys(None, UNPARTITIONED, up, PartitionState()).keys
        ('us', 'eu')
    """

    target: object = None
    _: KW_ONLY
    allow_missing: bool = False

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        if upstream is None:
            return MappedKeys((UNPARTITIONED,), ())
        return MappedKeys(tuple(upstream.get_partition_keys(state)), ())

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        return True

    def check(self, downstream: Definition, upstream: Definition) -> None:
        if upstream is None:
            raise mismatch_error("AllPartitions()", downstream, upstream)


@dataclass(frozen=True, slots=True)
class LastPartition:
    """Every partition reads the newest upstream partition, e.g. the latest snapshot.

    Example:
        >>> up = StaticPartitions(["v1", "v2"])
        >>> LastPartition().upstream_keys(None, UNPARTITIONED, up, PartitionState()).keys
        ('v2',)
    """

    target: object = None
    _: KW_ONLY
    allow_missing: bool = False

    def upstream_keys(
        self, downstream: Definition, key: PartitionKey, upstream: Definition, state: PartitionState
    ) -> MappedKeys:
        if upstream is None:
            return MappedKeys((UNPARTITIONED,), ())
        keys = upstream.get_partition_keys(state)
        return MappedKeys((keys[-1],), ()) if keys else MappedKeys((), (NO_LAST_PARTITION,))

    def is_many(self, downstream: Definition, upstream: Definition) -> bool:
        return False

    def check(self, downstream: Definition, upstream: Definition) -> None:
        if upstream is None:
            raise mismatch_error("LastPartition()", downstream, upstream)


def describe(definition: Definition) -> str:
    """A definition's phrase for messages; ``"unpartitioned"`` for ``None``."""
    return "unpartitioned" if definition is None else definition.describe()


def find_key(
    definition: Definition, key: PartitionKey, state: PartitionState
) -> PartitionKey | None:
    """``key`` in the canonical form of ``definition``, or ``None`` when it has no such partition.

    Time-window, dynamic and multi keys are looked up without ``validate_key``: its failure
    builds a message with the nearest keys, which costs a scan of every key.
    """
    if definition is None:
        return key if key == UNPARTITIONED else None
    try:
        if isinstance(definition, TimeWindowPartitions):
            found = definition.contains(key, state)
        elif isinstance(definition, DynamicPartitions):
            found = key in state.dynamic_positions(definition.name)
        elif isinstance(definition, MultiPartitions):
            return _find_multi_key(definition, key, state)
        else:
            return definition.validate_key(key, state)
    except PartitionError:
        return None
    return key if found else None


def _find_multi_key(
    definition: MultiPartitions, key: PartitionKey, state: PartitionState
) -> PartitionKey | None:
    parts: dict[str, PartitionKey] = {}
    for name, part in definition.keys_by_dimension(key).items():
        found = find_key(definition.dimensions[name], part, state)
        if found is None:
            return None
        parts[name] = found
    return definition.key_of(parts)


def fixed_keys(definition: Definition) -> Sequence[PartitionKey] | None:
    """The keys of a definition that never change, or ``None`` when time or state decides them."""
    if definition is None:
        return (UNPARTITIONED,)
    return definition.keys if isinstance(definition, StaticPartitions) else None


def mismatch_error(mapping: str, downstream: Definition, upstream: Definition) -> PartitionError:
    """The error for a mapping that cannot relate these two kinds of definition."""
    return PartitionError(
        f"{mapping} cannot map downstream {describe(downstream)} to upstream "
        f"{describe(upstream)}. {_suggest(downstream, upstream)}"
    )


def _suggest(downstream: Definition, upstream: Definition) -> str:
    if upstream is None:
        return "Leave the mapping out: every partition reads the one unpartitioned value."
    if downstream is None:
        return "Use AllPartitions() to read every upstream partition, LastPartition() the newest."
    if isinstance(downstream, TimeWindowPartitions) and isinstance(upstream, TimeWindowPartitions):
        return "Use TimeWindowMapping(), with start_offset/end_offset for a rolling window."
    if isinstance(downstream, MultiPartitions) and isinstance(upstream, MultiPartitions):
        return "Use MultiMapping(dimensions={name: mapping}) for the dimensions that differ."
    if isinstance(downstream, MultiPartitions) or isinstance(upstream, MultiPartitions):
        return (
            "Leave the mapping out when the other side equals one dimension; otherwise use "
            "StaticMapping(mapping={upstream_key: downstream_key}) or AllPartitions()."
        )
    return "Use StaticMapping(mapping={upstream_key: downstream_key}) or AllPartitions()."


def _shape(definition: PartitionsDefinition) -> tuple[object, ...]:
    """What two definitions must share for one key to name the same partition on both."""
    if isinstance(definition, TimeWindowPartitions):
        return (definition.grain, definition.timezone, definition.fmt, definition.week_start)
    return ("multi",) if isinstance(definition, MultiPartitions) else ("keys",)


def check_dimensions(
    mapping: str, downstream: MultiPartitions, upstream: MultiPartitions, named: Iterable[str]
) -> None:
    """Raise unless both sides have the same dimensions and ``named`` are among them."""
    names = upstream.dimension_names
    for name in named:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PartitionError(
                f"{mapping} names dimension {name!r}, which {upstream.describe()} does not "
                f"have.{hint} Name one of: {', '.join(names)}."
            )
    if downstream.dimension_names != names:
        raise PartitionError(
            f"{mapping} needs the same dimensions on both sides, but downstream has "
            f"{', '.join(downstream.dimension_names)} and upstream {', '.join(names)}. Rename "
            f"the dimensions to match, or use StaticMapping(mapping={{...}}) on the full keys."
        )


@functools.lru_cache(maxsize=256)
def _bounds(definition: TimeWindowPartitions, closing: datetime) -> tuple[datetime, datetime]:
    """The span of a definition's partitions when its range closes at ``closing`` (end or now).

    The window containing ``closing`` is the first one left out: it ends after the range.
    """
    start = definition.start.astimezone(UTC)
    opening = definition.time_window(definition.key_for_time(start))
    first = opening.start if opening.start == start else opening.end
    last = definition.time_window(definition.key_for_time(closing)).start
    return first.astimezone(UTC), last.astimezone(UTC)


def _overlapping(
    definition: TimeWindowPartitions, start: datetime, end: datetime
) -> list[PartitionKey]:
    return definition.keys_overlapping(start, end) if start < end else []


def _nests(inner: TimeWindowPartitions, outer: TimeWindowPartitions) -> bool:
    """Whether every window of ``inner`` lies inside a single window of ``outer``."""
    if inner.timezone != outer.timezone:
        return False  # e.g. a UTC day straddles two local days
    if inner.grain == outer.grain:
        return inner.grain != Grain.WEEK or inner.week_start == outer.week_start
    # Days, weeks and months all start at local midnight, but a week can straddle two months.
    straddles = inner.grain == Grain.WEEK and outer.grain == Grain.MONTH
    return inner.grain.rank < outer.grain.rank and not straddles
