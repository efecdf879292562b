"""Local wall-clock arithmetic for time-window partitions: windows as integers, walls as instants.

This module owns the two facts time windows rest on: window ``index`` starts at a wall time
(hours, days, weeks or months counted from year 1), and a wall time becomes an instant in a
timezone, daylight-saving changes included. Instants are naive UTC datetimes so that comparing
them is exact (aware datetimes in one zone compare by wall time). Pure: no clock, no I/O.
"""

from __future__ import annotations

import difflib
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flowstone.errors import PartitionError

TimeLike: TypeAlias = str | date | datetime
"""A boundary: ``"2024-01-01"``, ``"2024-01-01T06:00"``, a date, or a datetime."""

_DAY = timedelta(days=1)
_SECONDS_PER_DAY = 86_400


class Grain(StrEnum):
    """How long a window is; members are ordered from finer to coarser."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def rank(self) -> int:
        """0 for hours up to 3 for months: compare grains by this."""
        return list(Grain).index(self)

    @property
    def adjective(self) -> str:
        """``"hourly"``, ``"daily"``, ``"weekly"`` or ``"monthly"``."""
        return "daily" if self is Grain.DAY else f"{self.value}ly"

    @property
    def default_format(self) -> str:
        """The default key format, e.g. ``"%Y-%m-%d"`` for days and weeks."""
        return {"hour": "%Y-%m-%d-%H:%M", "month": "%Y-%m"}.get(self.value, "%Y-%m-%d")


def check_grain(grain: str, week_start: int) -> Grain:
    """``grain`` as a ``Grain``, checked together with the first day of the week it may use."""
    try:
        checked = Grain(grain)
    except ValueError as exc:
        raise PartitionError(
            f"Unknown grain {grain!r}. Use one of {', '.join(g.value for g in Grain)}."
        ) from exc
    if week_start not in range(7) or (checked is not Grain.WEEK and week_start):
        raise PartitionError(
            f"week_start={week_start!r} is invalid for {checked.adjective} partitions. "
            f"It applies to weekly partitions only: 0 (Monday) to 6 (Sunday)."
        )
    return checked


def wall_of(grain: Grain, index: int, week_start: int) -> datetime:
    """The naive local wall time at which window ``index`` starts."""
    try:
        if grain is Grain.HOUR:
            return datetime.fromordinal(index // 24).replace(hour=index % 24)
        if grain is Grain.DAY:
            return datetime.fromordinal(index)
        if grain is Grain.WEEK:
            return datetime.fromordinal(index * 7 + 1 + week_start)  # ordinal 1 is a Monday
        return datetime(index // 12, index % 12 + 1, 1)
    except (ValueError, OverflowError) as exc:
        raise PartitionError(
            f"A {grain.value} window lies outside the years 1 to 9999 that keys can name. "
            f"Keep start, end and shifts within those years."
        ) from exc


def index_of(grain: Grain, wall: datetime, week_start: int) -> int:
    """The index of the window whose wall-clock period contains ``wall`` (naive or aware)."""
    if grain is Grain.HOUR:
        return wall.toordinal() * 24 + wall.hour
    if grain is Grain.DAY:
        return wall.toordinal()
    if grain is Grain.WEEK:
        return (wall.toordinal() - 1 - week_start) // 7
    return wall.year * 12 + wall.month - 1


def _offset(zone: ZoneInfo, wall: datetime) -> timedelta:
    """The offset ``zone`` gives the naive ``wall`` (its ``fold`` picks a repeated time)."""
    offset = zone.utcoffset(wall)
    assert offset is not None  # a ZoneInfo always has an offset
    return offset


def is_skipped(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether the clocks jump over the naive ``wall`` (it lies in a spring-forward gap)."""
    # Fold-0 offsets step up where a gap ends. No gap in the tz database is longer than a day,
    # and no zone changes its offset twice within two days, so equal offsets a day apart mean
    # ``wall`` is in no gap: this cheap test settles all but the days before a change.
    try:
        if zone.utcoffset(wall) == zone.utcoffset(wall + _DAY):
            return False
    except OverflowError:
        pass  # the last day of year 9999: use the exact test
    return _offset(zone, wall.replace(fold=1)) > _offset(zone, wall)


def instant_of(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (naive UTC) whose local time in ``zone`` is at or after ``wall``.

    A repeated wall time gives its first occurrence; a skipped one the moment of the jump.
    """
    if not is_skipped(wall, zone):
        return wall - _offset(zone, wall)
    # The gap ends at the first wall time with the later offset, within a day: bisect seconds.
    later = _offset(zone, wall.replace(fold=1))
    low, high = 0, _SECONDS_PER_DAY
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, wall + timedelta(seconds=middle)) == later:
            high = middle
        else:
            low = middle
    return wall + timedelta(seconds=high) - later


def to_instant(moment: datetime, zone: ZoneInfo, what: str) -> datetime:
    """``moment`` as a naive UTC instant; a naive ``moment`` is wall time in ``zone``."""
    if not isinstance(moment, datetime):
        raise PartitionError(
            f"{what}={moment!r} is not a datetime. Pass an aware datetime, or a naive one "
            f"meaning wall time in {zone.key}."
        )
    if moment.utcoffset() is None:
        return instant_of(moment, zone)
    return moment.astimezone(UTC).replace(tzinfo=None)


def local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The local time in ``zone`` of a naive UTC instant (aware, with the right ``fold``)."""
    return instant.replace(tzinfo=UTC).astimezone(zone)


def load_zone(name: str) -> ZoneInfo:
    """The timezone called ``name``; an unknown name raises with near matches."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        # Listing the timezones reads the tz database: done on this error path only.
        close = difflib.get_close_matches(str(name), sorted(available_timezones()), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PartitionError(
            f"Unknown timezone {name!r} for time-window partitions.{hint} Pass an IANA name "
            f"such as 'UTC' or 'Europe/Berlin'."
        ) from exc


def parse_time(value: TimeLike, what: str) -> datetime:
    """Read a boundary given as an ISO string, a date or a datetime (naive means wall time)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise PartitionError(
        f"{what}={value!r} is not a time. Pass an ISO string like '2024-01-01' or "
        f"'2024-01-01T06:00', a date, or a datetime."
    )
