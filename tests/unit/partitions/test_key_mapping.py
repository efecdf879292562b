"""Identity, TimeWindowMapping, AllPartitions and LastPartition against brute-force oracles."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TypeAlias

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, PartitionKey
from flowstone.partitions.definition import PartitionsDefinition, PartitionState, StaticPartitions
from flowstone.partitions.dynamic import DynamicPartitions
from flowstone.partitions.mapping import (
    NO_LAST_PARTITION,
    AllPartitions,
    Identity,
    LastPartition,
    MappedKeys,
    TimeWindowMapping,
)
from flowstone.partitions.time_window import (
    DailyPartitions,
    Grain,
    HourlyPartitions,
    MonthlyPartitions,
    TimeWindowPartitions,
    WeeklyPartitions,
)

EXAMPLES = settings(max_examples=120, derandomize=True, deadline=None)
NOW = PartitionState(now=datetime(2024, 6, 15, 12, 30, tzinfo=UTC))
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "America/Santiago")
# Dates next to daylight-saving changes in the zones above, so windows of 23 and 25 hours occur
# (Santiago changes its clocks at midnight, so even a day's start moves).
DST_DATES = (
    date(2024, 3, 10),
    date(2024, 3, 31),
    date(2024, 4, 7),
    date(2024, 9, 8),
    date(2024, 10, 27),
    date(2024, 11, 3),
)
# Days each definition spans, per grain: enough for a few windows, few enough to stay fast.
SPAN_DAYS = {Grain.HOUR: (1, 3), Grain.DAY: (1, 20), Grain.WEEK: (14, 50), Grain.MONTH: (62, 100)}
# Days that hold more than three windows of a grain (offsets are at most 3) plus one.
MARGIN_DAYS = {Grain.HOUR: 1, Grain.DAY: 4, Grain.WEEK: 22, Grain.MONTH: 100}


WindowCase: TypeAlias = tuple[
    TimeWindowPartitions, PartitionKey, TimeWindowPartitions, tuple[int, int], PartitionState
]
"""Downstream definition, downstream key, upstream definition, (start, end) offsets, state."""


def days(first: str, count: int) -> tuple[PartitionKey, ...]:
    """``count`` consecutive daily keys from ``first``."""
    start = date.fromisoformat(first)
    return tuple((start + timedelta(days=i)).isoformat() for i in range(count))


# -- a brute-force oracle for time windows ------------------------------------------------------


def widened(
    definition: TimeWindowPartitions, start: datetime, end: datetime
) -> TimeWindowPartitions:
    """The same windows as ``definition``, over ``[start, end)`` instead of its own range."""
    return TimeWindowPartitions(
        definition.grain,
        start,
        end,
        timezone=definition.timezone,
        fmt=definition.fmt,
        week_start=definition.week_start,
    )


def overlapping(
    definition: TimeWindowPartitions, keys: tuple[PartitionKey, ...], start: datetime, end: datetime
) -> list[PartitionKey]:
    """The keys whose windows overlap ``[start, end)``, found by testing every one (in UTC)."""
    windows = ((key, definition.time_window(key)) for key in keys)
    return [
        key
        for key, window in windows
        if window.start.astimezone(UTC) < end and start < window.end.astimezone(UTC)
    ]


def window_oracle(
    down: TimeWindowPartitions,
    key: PartitionKey,
    up: TimeWindowPartitions,
    offsets: tuple[int, int],
    state: PartitionState,
) -> MappedKeys:
    """What TimeWindowMapping must return, from key lists and windows only."""
    assert down.end is not None
    margin = timedelta(days=MARGIN_DAYS[down.grain])
    around = widened(down, down.start - margin, down.end + margin).get_partition_keys()
    index = around.index(key)
    start = down.time_window(around[index + offsets[0]]).start.astimezone(UTC)
    end = down.time_window(around[index + offsets[1]]).end.astimezone(UTC)
    margin = timedelta(days=MARGIN_DAYS[up.grain])
    every = tuple(widened(up, start - margin, end + margin).get_partition_keys())
    existing = overlapping(up, tuple(up.get_partition_keys(state)), start, end)
    missing = [k for k in overlapping(up, every, start, end) if k not in existing]
    return MappedKeys(tuple(existing), tuple(missing))


@st.composite
def window_definitions(
    draw: st.DrawFn, grain: Grain, anchor: date, timezone: str
) -> TimeWindowPartitions:
    low, high = SPAN_DAYS[grain]
    start = datetime.combine(anchor, time()) + timedelta(days=draw(st.integers(-high, high)))
    end = start + timedelta(days=draw(st.integers(low, high)))
    week_start = draw(st.integers(0, 6)) if grain is Grain.WEEK else 0
    return TimeWindowPartitions(grain, start, end, timezone=timezone, week_start=week_start)


@st.composite
def window_cases(
    draw: st.DrawFn,
) -> WindowCase:
    """Two time-window definitions near each other, a downstream key, offsets and a state."""
    anchor = draw(
        st.one_of(st.sampled_from(DST_DATES), st.dates(date(2023, 1, 1), date(2025, 12, 31)))
    )
    down_tz = draw(st.sampled_from(TIMEZONES))
    up_tz = draw(st.one_of(st.just(down_tz), st.sampled_from(TIMEZONES)))
    down = draw(window_definitions(draw(st.sampled_from(Grain)), anchor, down_tz))
    up = draw(window_definitions(draw(st.sampled_from(Grain)), anchor, up_tz))
    keys = down.get_partition_keys()
    key = keys[draw(st.integers(0, len(keys) - 1))]
    first = draw(st.integers(-3, 3))
    offsets = (first, draw(st.integers(first, 3)))
    assert up.end is not None
    if draw(st.booleans()):  # open-ended upstream: ``now`` decides its last window, if any
        closing = draw(st.sampled_from([up.start, up.end]))
        now = closing.astimezone(UTC) + timedelta(minutes=draw(st.integers(0, 90)))
        up = TimeWindowPartitions(
            up.grain, up.start, None, timezone=up.timezone, week_start=up.week_start
        )
        return down, key, up, offsets, PartitionState(now=now)
    return down, key, up, offsets, NOW


@EXAMPLES
@given(window_cases())
def test_time_window_mapping_reads_exactly_the_overlapping_windows(
    case: WindowCase,
) -> None:
    down, key, up, offsets, state = case
    mapping = TimeWindowMapping(start_offset=offsets[0], end_offset=offsets[1])
    mapping.check(down, up)
    found = mapping.upstream_keys(down, key, up, state)
    assert found == window_oracle(down, key, up, offsets, state)
    if offsets[0] != offsets[1] or up.grain.rank < down.grain.rank:
        assert mapping.is_many(down, up)
    if not mapping.is_many(down, up):
        assert len(found.keys) + len(found.missing) == 1


@EXAMPLES
@given(window_cases())
def test_identity_on_equal_windows_reads_the_same_key_or_reports_it_missing(
    case: WindowCase,
) -> None:
    down, key, _, _, state = case
    assert down.end is not None
    up = widened(
        down, down.start + timedelta(days=1), down.end + timedelta(days=MARGIN_DAYS[down.grain])
    )
    Identity().check(down, up)
    expected = (
        MappedKeys((key,), ()) if key in up.get_partition_keys(state) else MappedKeys((), (key,))
    )
    assert Identity().upstream_keys(down, key, up, state) == expected


def test_a_seven_day_window_is_a_dict_of_seven_days() -> None:
    daily = DailyPartitions("2024-01-01", "2024-03-01")
    mapping = TimeWindowMapping(start_offset=-6)
    assert mapping.is_many(daily, daily)
    found = mapping.upstream_keys(daily, "2024-01-10", daily, NOW)
    assert found == MappedKeys(days("2024-01-04", 7), ())


def test_a_window_at_the_first_day_reads_that_day_and_misses_the_six_before() -> None:
    daily = DailyPartitions("2024-01-01")
    found = TimeWindowMapping(start_offset=-6).upstream_keys(daily, "2024-01-01", daily, NOW)
    assert found == MappedKeys(("2024-01-01",), days("2023-12-26", 6))


def test_end_offset_past_the_last_day_is_missing() -> None:
    daily = DailyPartitions("2024-01-01", "2024-01-11")
    found = TimeWindowMapping(end_offset=2).upstream_keys(daily, "2024-01-09", daily, NOW)
    assert found == MappedKeys(("2024-01-09", "2024-01-10"), ("2024-01-11",))


def test_a_month_reads_every_day_of_it_and_misses_days_after_the_upstream_end() -> None:
    months = MonthlyPartitions("2024-01-01", "2025-01-01")
    daily = DailyPartitions("2023-06-01", "2024-12-20")
    mapping = TimeWindowMapping()
    assert mapping.is_many(months, daily)
    sizes = [
        len(mapping.upstream_keys(months, k, daily, NOW).keys) for k in months.get_partition_keys()
    ]
    assert sizes == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 19]
    december = mapping.upstream_keys(months, "2024-12", daily, NOW)
    assert december.missing == days("2024-12-20", 12)


@pytest.mark.parametrize(
    ("day", "hours"), [("2024-03-31", 23), ("2024-10-26", 24), ("2024-10-27", 24)]
)
def test_a_day_reads_its_local_hours_across_daylight_saving(day: str, hours: int) -> None:
    daily = DailyPartitions("2024-01-01", "2025-01-01", timezone="Europe/Berlin")
    hourly = HourlyPartitions("2024-01-01", "2025-01-01", timezone="Europe/Berlin")
    found = TimeWindowMapping().upstream_keys(daily, day, hourly, NOW)
    assert len(found.keys) == hours
    assert found.keys[0] == f"{day}-00:00" and found.keys[-1] == f"{day}-23:00"
    assert len(set(found.keys)) == hours  # the repeated 02:00 at fall-back is one key


def test_an_hour_reads_its_containing_day_as_one_value() -> None:
    hourly = HourlyPartitions("2024-10-01", "2024-11-01", timezone="Europe/Berlin")
    daily = DailyPartitions("2024-10-01", "2024-11-01", timezone="Europe/Berlin")
    mapping = TimeWindowMapping()
    assert not mapping.is_many(hourly, daily)
    assert mapping.upstream_keys(hourly, "2024-10-27-02:00", daily, NOW).keys == ("2024-10-27",)


def test_a_week_straddling_two_months_reads_both_as_a_dict() -> None:
    weeks = WeeklyPartitions("2024-01-01", "2024-06-03")
    months = MonthlyPartitions("2024-01-01", "2024-07-01")
    mapping = TimeWindowMapping()
    assert mapping.is_many(weeks, months)
    assert mapping.upstream_keys(weeks, "2024-01-29", months, NOW).keys == ("2024-01", "2024-02")


# -- Identity, AllPartitions, LastPartition -------------------------------------------------------

ALPHABET = ("a", "b", "c", "d", "e", "f")
statics = st.lists(st.sampled_from(ALPHABET), min_size=1, unique=True).map(StaticPartitions)


@EXAMPLES
@given(statics, statics, st.data())
def test_identity_reads_the_same_static_key_or_reports_it_missing(
    down: StaticPartitions, up: StaticPartitions, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(down.keys))
    expected = MappedKeys((key,), ()) if key in up.keys else MappedKeys((), (key,))
    assert Identity().upstream_keys(down, key, up, NOW) == expected
    assert not Identity().is_many(down, up)


@pytest.mark.parametrize("down", [None, StaticPartitions(["us"]), DailyPartitions("2024-01-01")])
def test_every_partition_reads_an_unpartitioned_upstream_whole(
    down: PartitionsDefinition | None,
) -> None:
    key = UNPARTITIONED if down is None else down.get_partition_keys(NOW)[0]
    assert Identity().upstream_keys(down, key, None, NOW) == MappedKeys((UNPARTITIONED,), ())
    Identity().check(down, None)


upstreams = st.one_of(
    statics,
    st.builds(DailyPartitions, st.sampled_from(["2024-06-01", "2024-06-14", "2024-06-15"])),
    st.just(DynamicPartitions("customers")),
    st.just(DynamicPartitions("nobody")),
)
DYNAMIC = PartitionState(now=NOW.now, dynamic={"customers": ["acme", "zeta", "beta"]})


@EXAMPLES
@given(upstreams, st.sampled_from([None, StaticPartitions(["x"]), DailyPartitions("2024-01-01")]))
def test_all_and_last_read_every_and_the_last_upstream_key(
    up: PartitionsDefinition, down: PartitionsDefinition | None
) -> None:
    every = tuple(up.get_partition_keys(DYNAMIC))
    key = UNPARTITIONED if down is None else down.get_partition_keys(DYNAMIC)[0]
    AllPartitions().check(down, up)
    LastPartition().check(down, up)
    assert AllPartitions().upstream_keys(down, key, up, DYNAMIC) == MappedKeys(every, ())
    last = LastPartition().upstream_keys(down, key, up, DYNAMIC)
    assert last == (MappedKeys(every[-1:], ()) if every else MappedKeys((), (NO_LAST_PARTITION,)))
    assert AllPartitions().is_many(down, up) and not LastPartition().is_many(down, up)


@pytest.mark.parametrize("kind", [Identity, TimeWindowMapping, AllPartitions, LastPartition])
def test_target_and_allow_missing_are_carried(kind: type[Identity]) -> None:
    mapping = kind("orders", allow_missing=True)
    assert (mapping.target, mapping.allow_missing) == ("orders", True)
    assert kind().allow_missing is False and kind().target is None
    assert hash(mapping) == hash(kind("orders", allow_missing=True))


# -- check() ------------------------------------------------------------------------------------

DAILY = DailyPartitions("2024-01-01", "2024-02-01")
REGIONS = StaticPartitions(["us", "eu"])


@pytest.mark.parametrize(
    ("mapping", "down", "up", "message"),
    [
        (TimeWindowMapping(), REGIONS, DAILY, r"TimeWindowMapping\(\) cannot map .*StaticMapping"),
        (TimeWindowMapping(), DAILY, None, r"unpartitioned\. Leave the mapping out"),
        (Identity(), DAILY, HourlyPartitions("2024-01-01"), r"Use TimeWindowMapping\(\)"),
        (Identity(), None, REGIONS, r"Use AllPartitions\(\).*LastPartition\(\)"),
        (Identity(), REGIONS, StaticPartitions(["us"]), r"\['eu'\].*StaticMapping"),
        (AllPartitions(), REGIONS, None, r"Leave the mapping out"),
        (LastPartition(), None, None, r"Leave the mapping out"),
    ],
)
def test_check_names_the_mismatch_and_the_mapping_to_use(
    mapping: Identity,
    down: PartitionsDefinition | None,
    up: PartitionsDefinition | None,
    message: str,
) -> None:
    with pytest.raises(PartitionError, match=message):
        mapping.check(down, up)


def test_identity_accepts_missing_static_keys_when_allowed() -> None:
    Identity(allow_missing=True).check(REGIONS, StaticPartitions(["us"]))


def test_a_backwards_window_is_rejected_when_built() -> None:
    with pytest.raises(PartitionError, match=r"spans backwards.*start_offset=-6"):
        TimeWindowMapping(start_offset=1, end_offset=0)
