"""Time-window partitions: keys, windows and ranges, across daylight-saving changes.

Every test passes ``now`` explicitly: nothing here depends on the real clock.
"""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.errors import PartitionError
from flowstone.partitions.definition import PartitionsDefinition, PartitionState
from flowstone.partitions.time_window import (
    DailyPartitions,
    Grain,
    HourlyPartitions,
    MonthlyPartitions,
    TimeWindowPartitions,
    WeeklyPartitions,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
MICROSECOND = timedelta(microseconds=1)
ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    "Australia/Lord_Howe",  # half-hour daylight-saving shifts
    "Pacific/Apia",  # skipped 2011-12-30 entirely
]
# Days with a daylight-saving change (or a skipped day) in one of ZONES.
CHANGE_DAYS = [
    datetime(2024, 3, 31, tzinfo=UTC),
    datetime(2024, 10, 27, tzinfo=UTC),
    datetime(2024, 3, 10, tzinfo=UTC),
    datetime(2024, 11, 3, tzinfo=UTC),
    datetime(2024, 4, 6, tzinfo=UTC),
    datetime(2024, 10, 5, tzinfo=UTC),
    datetime(2011, 12, 30, tzinfo=UTC),
]
FAST = settings(max_examples=60, derandomize=True, deadline=None)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _definition(grain: Grain, zone: str, week_start: int) -> TimeWindowPartitions:
    week_start = week_start if grain is Grain.WEEK else 0
    return TimeWindowPartitions(grain, datetime(2000, 1, 1), None, zone, week_start=week_start)


near_changes = st.builds(
    lambda day, minutes: day + timedelta(minutes=minutes),
    st.sampled_from(CHANGE_DAYS),
    st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60),
)
anywhere = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)
moments = st.one_of(near_changes, anywhere)
definitions = st.builds(
    _definition,
    st.sampled_from(list(Grain)),
    st.sampled_from(ZONES),
    st.integers(min_value=0, max_value=6),
)


@FAST
@given(definitions, moments)
def test_the_window_of_a_moments_key_contains_it_and_round_trips(
    definition: TimeWindowPartitions, moment: datetime
) -> None:
    key = definition.key_for_time(moment)
    window = definition.time_window(key)
    assert window.start <= moment < window.end
    assert window.start.tzinfo == ZoneInfo(definition.timezone)
    assert definition.key_for_time(window.start) == key
    assert definition.key_for_time(_utc(window.end) - MICROSECOND) == key


@FAST
@given(definitions, moments, st.integers(min_value=-30, max_value=30))
def test_windows_are_contiguous_and_shift_is_reversible(
    definition: TimeWindowPartitions, moment: datetime, windows: int
) -> None:
    key = definition.key_for_time(moment)
    later = definition.shift(key, 1)
    assert _utc(definition.time_window(key).end) == _utc(definition.time_window(later).start)
    assert definition.shift(definition.shift(key, windows), -windows) == key
    assert definition.keys_overlapping(*definition.time_window(key)) == [key]


@FAST
@given(definitions, moments, st.integers(min_value=0, max_value=40))
def test_keys_overlapping_a_span_cover_it_in_order_without_gaps(
    definition: TimeWindowPartitions, moment: datetime, count: int
) -> None:
    first = definition.key_for_time(moment)
    last = definition.shift(first, count)
    span_end = definition.time_window(last).end
    keys = definition.keys_overlapping(moment, span_end)
    assert keys[0] == first and keys[-1] == last and len(keys) == count + 1
    for before, after in itertools.pairwise(keys):
        assert definition.shift(before, 1) == after


def _ranged(grain: Grain, zone: str) -> TimeWindowPartitions:
    """Two years of days, weeks or months; four days of hours around a change in spring."""
    if grain is Grain.HOUR:
        return HourlyPartitions("2024-03-08", "2024-04-02", timezone=zone)
    build = {Grain.DAY: DailyPartitions, Grain.WEEK: WeeklyPartitions}.get(grain)
    return (build or MonthlyPartitions)("2023-01-01", "2025-01-01", timezone=zone)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.sampled_from(list(Grain)), st.sampled_from([BERLIN, NEW_YORK, "UTC"]), st.data())
def test_ranges_have_the_length_of_their_positions(
    grain: Grain, zone: str, data: st.DataObject
) -> None:
    definition = _ranged(grain, zone)
    keys = list(definition.get_partition_keys())
    low = data.draw(st.integers(min_value=0, max_value=len(keys) - 1))
    high = data.draw(st.integers(min_value=0, max_value=len(keys) - 1))
    first, last = keys[min(low, high)], keys[max(low, high)]
    assert list(definition.key_range(first, last)) == keys[min(low, high) : max(low, high) + 1]
    assert len(definition.key_range(first, last)) == keys.index(last) - keys.index(first) + 1
    if low != high:
        with pytest.raises(PartitionError, match="backwards"):
            definition.key_range(last, first)


@FAST
@given(st.sampled_from(["UTC", BERLIN, NEW_YORK]), st.text(max_size=20))
def test_an_invalid_key_error_names_the_key_and_a_valid_example(zone: str, key: str) -> None:
    definition = DailyPartitions("2024-01-01", "2024-12-31", timezone=zone)
    if key in definition.get_partition_keys():
        return
    with pytest.raises(PartitionError) as raised:
        definition.validate_key(key)
    assert repr(key) in str(raised.value)
    assert "'2024-01-01'" in str(raised.value) or "2024-01-01 to" in str(raised.value)
    assert not definition.contains(key)


def test_berlin_days_are_23_and_25_hours_long_across_the_changes() -> None:
    days = DailyPartitions("2024-03-30", "2024-10-29", timezone=BERLIN)
    assert _hours(days, "2024-03-30") == 24
    assert _hours(days, "2024-03-31") == 23
    assert _hours(days, "2024-10-27") == 25
    assert days.time_window("2024-03-31").start == datetime(2024, 3, 31, tzinfo=ZoneInfo(BERLIN))


def _hours(definition: TimeWindowPartitions, key: str) -> float:
    start, end = definition.time_window(key)
    return (_utc(end) - _utc(start)) / timedelta(hours=1)


def test_the_skipped_spring_hour_has_no_key_and_the_repeated_autumn_hour_is_one() -> None:
    hours = HourlyPartitions("2024-03-31", "2024-04-01", timezone=BERLIN)
    keys = hours.get_partition_keys()
    assert len(keys) == 23 and "2024-03-31-02:00" not in keys
    with pytest.raises(PartitionError, match=r"'2024-03-31-02:00'.*'2024-03-31-01:00' or"):
        hours.validate_key("2024-03-31-02:00")
    autumn = HourlyPartitions("2024-10-27", "2024-10-28", timezone=BERLIN)
    assert len(autumn.get_partition_keys()) == 24
    assert _hours(autumn, "2024-10-27-02:00") == 2
    first_pass = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 summer time
    second_pass = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 winter time
    assert autumn.key_for_time(first_pass) == autumn.key_for_time(second_pass)


def test_new_york_hours_skip_two_oclock_in_march() -> None:
    hours = HourlyPartitions("2024-03-10", "2024-03-11", timezone=NEW_YORK)
    assert "2024-03-10-02:00" not in hours.get_partition_keys()
    assert hours.shift("2024-03-10-01:00", 1) == "2024-03-10-03:00"
    assert hours.shift("2024-03-10-03:00", -1) == "2024-03-10-01:00"


def test_weekly_windows_align_to_the_week_start() -> None:
    mondays = WeeklyPartitions("2024-01-03", "2024-02-01")
    assert mondays.get_partition_keys() == ("2024-01-08", "2024-01-15", "2024-01-22")
    sundays = WeeklyPartitions("2024-01-03", "2024-02-01", week_start=6)
    assert sundays.get_partition_keys() == ("2024-01-07", "2024-01-14", "2024-01-21")
    assert sundays.describe().startswith("weekly partitions (weeks start Sunday)")
    with pytest.raises(PartitionError, match=r"'2024-01-09' is not the start.*'2024-01-08'"):
        mondays.validate_key("2024-01-09")
    assert mondays.key_for_time(datetime(2024, 1, 14, 23, tzinfo=UTC)) == "2024-01-08"
    with pytest.raises(PartitionError, match="weekly partitions only"):
        TimeWindowPartitions(Grain.DAY, datetime(2024, 1, 1), week_start=2)


def test_monthly_windows_follow_the_calendar_including_a_leap_february() -> None:
    months = MonthlyPartitions("2023-01-01", "2025-01-01")
    assert len(months.get_partition_keys()) == 24
    assert _hours(months, "2024-02") == 29 * 24
    assert _hours(months, "2023-02") == 28 * 24
    assert months.time_window("2024-02").end == datetime(2024, 3, 1, tzinfo=ZoneInfo("UTC"))
    assert months.describe() == "monthly partitions from 2023-01 to 2024-12 (UTC)"


def at(day: int, hour: int = 0, minute: int = 0) -> PartitionState:
    """A state whose time now is January ``day``, 2024, ``hour:minute`` UTC."""
    return PartitionState(now=datetime(2024, 1, day, hour, minute, tzinfo=UTC))


def test_without_an_end_the_keys_stop_at_the_last_complete_window_at_now() -> None:
    days = DailyPartitions("2024-01-01")
    assert days.get_partition_keys(at(5, 12)) == (
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
    )
    assert days.get_partition_keys(at(5)) == days.get_partition_keys(at(5, 12))
    assert days.get_partition_keys(at(1, 5)) == ()
    assert days.contains("2024-01-04", at(5)) and not days.contains("2024-01-05", at(5))
    with pytest.raises(PartitionError, match=r"'2024-01-05' is outside.*'2024-01-04'"):
        days.validate_key("2024-01-05", at(5, 12))
    berlin = DailyPartitions("2024-01-01", timezone=BERLIN)
    assert berlin.get_partition_keys(at(4, 23, 30))[-1] == "2024-01-04"
    assert days.describe() == "daily partitions from 2024-01-01 onwards (UTC)"


def test_an_unaligned_start_begins_at_the_next_window() -> None:
    assert DailyPartitions("2024-01-01T06:00") == DailyPartitions("2024-01-02")
    assert HourlyPartitions("2024-01-01T06:30", "2024-01-01T09:00").get_partition_keys() == (
        "2024-01-01-07:00",
        "2024-01-01-08:00",
    )
    assert MonthlyPartitions("2024-01-15", "2024-04-01").get_partition_keys() == (
        "2024-02",
        "2024-03",
    )
    aware = DailyPartitions(datetime(2024, 1, 1, tzinfo=UTC), timezone=BERLIN)  # 01:00 local
    assert aware.start == datetime(2024, 1, 2, tzinfo=ZoneInfo(BERLIN))
    with pytest.raises(PartitionError, match="no complete day"):
        DailyPartitions("2024-01-01T06:00", "2024-01-02T12:00")


def test_ten_thousand_daily_keys_are_generated_and_checked() -> None:
    days = DailyPartitions(date(1990, 1, 1), date(1990, 1, 1) + timedelta(days=10_000))
    keys = days.get_partition_keys()
    assert all(days.validate_key(key) == key for key in keys)
    assert all(days.contains(key) for key in keys)
    assert len(keys) == len(set(keys)) == 10_000
    assert keys[0] == "1990-01-01" and keys[-1] == "2017-05-18"
    assert len(days.key_range(keys[10], keys[-10])) == 10_000 - 19
    assert days.get_partition_keys() is keys  # cached


def test_equal_arguments_build_equal_hashable_definitions() -> None:
    built = [
        DailyPartitions("2024-01-01"),
        DailyPartitions(date(2024, 1, 1)),
        DailyPartitions(datetime(2024, 1, 1)),
        TimeWindowPartitions(Grain.DAY, datetime(2024, 1, 1, tzinfo=UTC)),
    ]
    assert len(set(built)) == 1 and all(d == built[0] for d in built)
    assert DailyPartitions("2024-01-01", timezone=BERLIN) != built[0]
    assert pickle.loads(pickle.dumps(built[0])) == built[0]
    assert isinstance(built[0], PartitionsDefinition)
    assert [grain.rank for grain in Grain] == [0, 1, 2, 3]


def test_keys_are_strict_about_their_format() -> None:
    days = DailyPartitions("2024-01-01", "2024-02-01")
    for key in ["2024-1-05", "2024-01-05 ", "05/01/2024", "2024-01-32"]:
        with pytest.raises(PartitionError, match=rf"{key!r} does not match.*'2024-01-01'"):
            days.validate_key(key)
    hours = HourlyPartitions("2024-01-01", "2024-01-02")
    with pytest.raises(PartitionError, match=r"falls in '2024-01-01-06:00'"):
        hours.validate_key("2024-01-01-06:30")
    custom = DailyPartitions("2024-01-01", "2024-01-03", fmt="%Y%m%d")
    assert custom.get_partition_keys() == ("20240101", "20240102")
    with pytest.raises(PartitionError, match="cannot write daily keys"):
        DailyPartitions("2024-01-01", fmt="%Y-%m")


def test_bad_arguments_raise_partition_errors_that_say_how_to_fix_them() -> None:
    with pytest.raises(PartitionError, match=r"Unknown timezone 'Europe/Berln'.*'Europe/Berlin'"):
        DailyPartitions("2024-01-01", timezone="Europe/Berln")
    with pytest.raises(PartitionError, match=r"start='yesterday' is not a time"):
        DailyPartitions("yesterday")
    with pytest.raises(PartitionError, match="naive datetime"):
        PartitionState(now=datetime(2024, 1, 1))
    days = DailyPartitions("2024-01-01", "2024-02-01")
    with pytest.raises(PartitionError, match="backwards"):
        days.keys_overlapping(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    assert days.keys_overlapping(datetime(2024, 1, 2), datetime(2024, 1, 2)) == []
    with pytest.raises(PartitionError, match=r"'2023-12-31' is outside.*nearest valid key"):
        days.validate_key("2023-12-31")


def test_naive_moments_are_wall_time_in_the_definitions_timezone() -> None:
    days = DailyPartitions("2024-01-01", timezone=NEW_YORK)
    assert days.key_for_time(datetime(2024, 1, 1, 23)) == "2024-01-01"
    assert days.key_for_time(datetime(2024, 1, 2, 3, tzinfo=UTC)) == "2024-01-01"
