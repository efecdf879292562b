"""Time-window partitions: one key per local wall-clock hour, day, week or month.

This module owns the windows' keys, range and validation. A day is local midnight to local
midnight (23 or 25 hours across a daylight-saving change); a skipped hour has no key and a
repeated hour is one two-hour window, so keys are unique and windows contiguous. Pure: the time
now comes only from a ``PartitionState``. The calendar arithmetic lives in ``local_time``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flowstone.errors import PartitionError
from flowstone.keys import PartitionKey
from flowstone.partitions.definition import PartitionState, raise_backwards
from flowstone.partitions.local_time import (
    Grain,
    TimeLike,
    check_grain,
    index_of,
    instant_of,
    is_skipped,
    load_zone,
    local_wall,
    parse_time,
    to_instant,
    wall_of,
)

__all__ = [
    "DailyPartitions",
    "Grain",
    "HourlyPartitions",
    "MonthlyPartitions",
    "TimeLike",
    "TimeWindow",
    "TimeWindowPartitions",
    "WeeklyPartitions",
]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MICROSECOND = timedelta(microseconds=1)
_PARSED_LIMIT = 100_000
"""Parsed keys remembered per definition; the memory is dropped when it grows past this."""


class TimeWindow(NamedTuple):
    """The instants of one partition: ``start`` included, ``end`` excluded, both aware."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class TimeWindowPartitions:
    """Contiguous local-time windows of one grain from ``start`` to ``end`` (or to now).

    Build it with ``HourlyPartitions``, ``DailyPartitions``, ``WeeklyPartitions`` or
    ``MonthlyPartitions``. Fields are normalised on construction (``start`` and ``end`` become
    window boundaries), so definitions built from equivalent arguments compare equal.

    Example:
        >>> days = DailyPartitions("2024-01-01", "2024-01-04")
        >>> days.get_partition_keys()
        ('2024-01-01', '2024-01-02', '2024-01-03')
        >>> days.shift("2024-01-03", 1)
        '2024-01-04'
    """

    grain: Grain
    start: datetime
    end: datetime | None = None
    timezone: str = "UTC"
    fmt: str = ""
    week_start: int = 0
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _first: int = field(init=False, repr=False, compare=False)
    _last: int | None = field(init=False, repr=False, compare=False)
    _parsed: dict[PartitionKey, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone, grain = load_zone(self.timezone), check_grain(self.grain, self.week_start)
        for name, value in [("grain", grain), ("_zone", zone), ("_last", None), ("_parsed", {})]:
            object.__setattr__(self, name, value)
        object.__setattr__(self, "fmt", self.fmt or grain.default_format)
        start = to_instant(self.start, zone, "start")
        first = self._index_at(start)
        if self._window(first)[0] < start:  # an unaligned start begins at the next window
            first = self._step(first, 1)
        object.__setattr__(self, "_first", first)
        object.__setattr__(self, "start", local_wall(self._window(first)[0], zone))
        self._check_format(first)
        if self.end is not None:
            self._set_end(self.end)

    def _set_end(self, end: datetime) -> None:
        last = self._step(self._index_at(to_instant(end, self._zone, "end")), -1)
        if last < self._first:
            raise PartitionError(
                f"{self.grain.adjective.capitalize()} partitions from {self.start} to {end} "
                f"contain no complete {self.grain.value}. Move end= after start=."
            )
        object.__setattr__(self, "_last", last)
        object.__setattr__(self, "end", local_wall(self._window(last)[1], self._zone))

    def get_partition_keys(self, state: PartitionState | None = None) -> Sequence[PartitionKey]:
        """Every key from start to end, or to the last window complete at ``state.now``."""
        return _cached_keys(self, self._first, self._last_index(state))

    def validate_key(self, key: PartitionKey, state: PartitionState | None = None) -> PartitionKey:
        """Return ``key`` if it is a well-formed, aligned key within the range.

        Raises:
            PartitionError: the key is malformed, unaligned, skipped by the clocks, or outside
                the range; the message gives the format, an example and the nearest keys.
        """
        self._checked_index(key, state)
        return key

    def key_range(
        self, first: PartitionKey, last: PartitionKey, state: PartitionState | None = None
    ) -> Sequence[PartitionKey]:
        """Every key from ``first`` to ``last``, both included and validated.

        Raises:
            PartitionError: either key is invalid, or ``first`` comes after ``last``.
        """
        low, high = self._checked_index(first, state), self._checked_index(last, state)
        if low > high:
            raise_backwards(self, first, last)
        return tuple(self._iter_keys(low, high))

    def describe(self) -> str:
        """E.g. ``"daily partitions from 2024-01-01 to 2024-12-31 (UTC)"``."""
        weeks = f" (weeks start {_WEEKDAYS[self.week_start]})" if self.grain is Grain.WEEK else ""
        last = "onwards" if self._last is None else f"to {self._key(self._last)}"
        first = self._key(self._first)
        return f"{self.grain.adjective} partitions{weeks} from {first} {last} ({self.timezone})"

    def time_window(self, key: PartitionKey) -> TimeWindow:
        """The window of ``key`` in this definition's timezone; ``key`` may be out of range.

        Raises:
            PartitionError: ``key`` is malformed, unaligned or skipped by the clocks.
        """
        start, end = self._window(self._parse(key))
        return TimeWindow(local_wall(start, self._zone), local_wall(end, self._zone))

    def key_for_time(self, moment: datetime) -> PartitionKey:
        """The key of the window containing ``moment`` (naive means wall time), in range or not."""
        return self._key(self._index_at(to_instant(moment, self._zone, "moment")))

    def shift(self, key: PartitionKey, windows: int) -> PartitionKey:
        """The key ``windows`` windows after ``key`` (before it if negative), in range or not.

        Windows the clocks skip are not counted. Costs O(|windows|).
        """
        index = self._parse(key)
        for _ in range(abs(windows)):
            index = self._step(index, 1 if windows > 0 else -1)
        return self._key(index)

    def keys_overlapping(self, start: datetime, end: datetime) -> list[PartitionKey]:
        """Every key whose window overlaps ``[start, end)``, in order, in range or not.

        Raises:
            PartitionError: ``end`` is before ``start``.
        """
        low, high = to_instant(start, self._zone, "start"), to_instant(end, self._zone, "end")
        if high < low:
            raise PartitionError(
                f"Time span {start.isoformat()}..{end.isoformat()} is backwards for "
                f"{self.describe()}. Swap start and end."
            )
        if high == low:
            return []
        return list(self._iter_keys(self._index_at(low), self._index_at(high - _MICROSECOND)))

    def contains(self, key: PartitionKey, state: PartitionState | None = None) -> bool:
        """Whether ``key`` is a valid key within the range at ``state.now``."""
        try:
            self._checked_index(key, state)
        except PartitionError:
            return False
        return True

    def _window(self, index: int) -> tuple[datetime, datetime]:
        """Window ``index`` as naive UTC instants; start equals end when the clocks skip it."""
        start = wall_of(self.grain, index, self.week_start)
        end = wall_of(self.grain, index + 1, self.week_start)
        return instant_of(start, self._zone), instant_of(end, self._zone)

    def _is_empty(self, index: int) -> bool:
        # Only a window whose start the clocks skip can be empty; that test is cheap.
        if not is_skipped(wall_of(self.grain, index, self.week_start), self._zone):
            return False
        start, end = self._window(index)
        return start == end

    def _step(self, index: int, direction: int) -> int:
        """The next non-empty window in ``direction`` (+1 or -1)."""
        index += direction
        while self._is_empty(index):
            index += direction
        return index

    def _index_at(self, instant: datetime) -> int:
        """The index of the (non-empty) window containing the naive UTC ``instant``."""
        index = index_of(self.grain, local_wall(instant, self._zone), self.week_start)
        start, end = self._window(index)
        # The wall-clock guess is off only where clocks go back across a window boundary.
        while instant >= end:
            index += 1
            start, end = self._window(index)
        while instant < start:
            index -= 1
            start, end = self._window(index)
        return index

    def _key(self, index: int) -> PartitionKey:
        return wall_of(self.grain, index, self.week_start).strftime(self.fmt)

    def _iter_keys(self, first: int, last: int) -> Iterator[PartitionKey]:
        """The keys of windows ``first`` to ``last``; they are remembered as parsed."""
        if len(self._parsed) > _PARSED_LIMIT:
            self._parsed.clear()
        for index in range(first, last + 1):
            wall = wall_of(self.grain, index, self.week_start)
            if is_skipped(wall, self._zone) and self._is_empty(index):
                continue
            key = wall.strftime(self.fmt)
            self._parsed[key] = index
            yield key

    def _last_index(self, state: PartitionState | None) -> int:
        """The last index in range: fixed by ``end``, or the last window complete at now."""
        if self._last is not None:
            return self._last
        now = (state or PartitionState()).current_time()
        return _last_complete(self, to_instant(now, self._zone, "now"))

    def _parse(self, key: PartitionKey) -> int:
        """The index named by ``key``, in range or not; raises for any other string."""
        known = self._parsed.get(key)
        if known is not None:
            return known
        try:
            wall = datetime.strptime(key, self.fmt)
        except (ValueError, TypeError):
            wall = None
        if wall is None or wall.strftime(self.fmt) != key:
            raise PartitionError(
                f"Partition key {key!r} does not match the format {self.fmt!r} of "
                f"{self.describe()}. Write it like {self._key(self._first)!r}."
            )
        index = index_of(self.grain, wall, self.week_start)
        if wall_of(self.grain, index, self.week_start) != wall:
            containing = self.key_for_time(wall)
            raise PartitionError(
                f"Partition key {key!r} is not the start of a {self.grain.value} in "
                f"{self.describe()}; it falls in {containing!r}. Use {containing!r}."
            )
        if self._is_empty(index):
            around = f"{self._key(self._step(index, -1))!r} or {self._key(self._step(index, 1))!r}"
            raise PartitionError(
                f"Partition key {key!r} is a {self.grain.value} the clocks skip in "
                f"{self.timezone} (daylight saving), so it has no partition. Use {around}."
            )
        return index

    def _checked_index(self, key: PartitionKey, state: PartitionState | None) -> int:
        index, last = self._parse(key), self._last_index(state)
        if self._first <= index <= last:
            return index
        first_key = self._key(self._first)
        if last < self._first:
            raise PartitionError(
                f"Partition key {key!r} is not available: no window of {self.describe()} is "
                f"complete yet (the first is {first_key!r}). Wait until it ends, or move start=."
            )
        last_key = self._key(last)
        if index < self._first:
            nearest, fix = first_key, "move start= earlier"
        elif self._last is not None:
            nearest, fix = last_key, "move end= later"
        else:
            nearest, fix = last_key, f"wait until {key!r} is complete"
        raise PartitionError(
            f"Partition key {key!r} is outside {self.describe()}; the nearest valid key is "
            f"{nearest!r}. Pick a key from {first_key!r} to {last_key!r}, or {fix}."
        )

    def _check_format(self, index: int) -> None:
        """Reject a ``fmt`` whose keys do not read back to their windows."""
        for wall in (wall_of(self.grain, i, self.week_start) for i in (index, index + 1)):
            key = wall.strftime(self.fmt)
            try:
                readable = datetime.strptime(key, self.fmt) == wall
            except ValueError:
                readable = False
            if not readable:
                raise PartitionError(
                    f"fmt={self.fmt!r} cannot write {self.grain.adjective} keys: the window "
                    f"starting {wall} is written {key!r}, which does not read back. Use a "
                    f"format down to the {self.grain.value}, e.g. "
                    f"{self.grain.default_format!r}."
                )


@functools.lru_cache(maxsize=64)
def _cached_keys(
    definition: TimeWindowPartitions, first: int, last: int
) -> tuple[PartitionKey, ...]:
    """Keys per (definition, range): without an end, one entry per last complete window."""
    return tuple(definition._iter_keys(first, last))


@functools.lru_cache(maxsize=256)
def _last_complete(definition: TimeWindowPartitions, now: datetime) -> int:
    """The last window complete at the naive UTC ``now``; cached, as one state asks often."""
    return definition._step(definition._index_at(now), -1)


def _build(
    grain: Grain,
    start: TimeLike,
    end: TimeLike | None,
    *,
    timezone: str,
    fmt: str,
    week_start: int = 0,
) -> TimeWindowPartitions:
    end_time = None if end is None else parse_time(end, "end")
    return TimeWindowPartitions(
        grain, parse_time(start, "start"), end_time, timezone, fmt, week_start
    )


def HourlyPartitions(
    start: TimeLike,
    end: TimeLike | None = None,
    *,
    timezone: str = "UTC",
    fmt: str = "%Y-%m-%d-%H:%M",
) -> TimeWindowPartitions:
    """One partition per local wall-clock hour; a skipped hour has none, a repeated one is one.

    Example:
        >>> HourlyPartitions("2024-01-01", "2024-01-01T02:00").get_partition_keys()
        ('2024-01-01-00:00', '2024-01-01-01:00')
    """
    return _build(Grain.HOUR, start, end, timezone=timezone, fmt=fmt)


def DailyPartitions(
    start: TimeLike, end: TimeLike | None = None, *, timezone: str = "UTC", fmt: str = "%Y-%m-%d"
) -> TimeWindowPartitions:
    """One partition per local day, midnight to midnight (23 or 25 hours across DST).

    Example:
        >>> DailyPartitions("2024-01-01", "2024-01-03").get_partition_keys()
        ('2024-01-01', '2024-01-02')
    """
    return _build(Grain.DAY, start, end, timezone=timezone, fmt=fmt)


def WeeklyPartitions(
    start: TimeLike,
    end: TimeLike | None = None,
    *,
    timezone: str = "UTC",
    fmt: str = "%Y-%m-%d",
    week_start: int = 0,
) -> TimeWindowPartitions:
    """One partition per week starting on ``week_start`` (0 = Monday), keyed by its first day.

    Example:
        >>> WeeklyPartitions("2024-01-01", "2024-01-15").get_partition_keys()
        ('2024-01-01', '2024-01-08')
    """
    return _build(Grain.WEEK, start, end, timezone=timezone, fmt=fmt, week_start=week_start)


def MonthlyPartitions(
    start: TimeLike, end: TimeLike | None = None, *, timezone: str = "UTC", fmt: str = "%Y-%m"
) -> TimeWindowPartitions:
    """One partition per calendar month.

    Example:
        >>> MonthlyPartitions("2024-01-01", "2024-03-01").get_partition_keys()
        ('2024-01', '2024-02')
    """
    return _build(Grain.MONTH, start, end, timezone=timezone, fmt=fmt)
