"""Consecutive partitions of an asset with one explanation share a why-line."""

from __future__ import annotations

from flowstone.cli.why_groups import grouped_why_lines
from flowstone.keys import UNPARTITIONED, AssetKey

RAW = AssetKey.parse("raw_events")
DAILY = AssetKey.parse("daily")
CODE = "stale — code changed"


def test_a_run_of_partitions_with_one_cause_is_one_line_with_a_range_and_count() -> None:
    items = [((RAW, f"2024-01-{day:02d}"), CODE) for day in range(1, 31)]
    assert list(grouped_why_lines(items)) == [
        "raw_events[2024-01-01 .. 2024-01-30] (30 items): stale — code changed"
    ]


def test_counts_have_thousands_separators() -> None:
    items = [((RAW, f"p{index:05d}"), CODE) for index in range(1440)]
    assert list(grouped_why_lines(items)) == [
        "raw_events[p00000 .. p01439] (1,440 items): stale — code changed"
    ]


def test_single_items_stay_as_they_were() -> None:
    items = [((RAW, "2024-01-01"), CODE), ((DAILY, UNPARTITIONED), "missing")]
    assert list(grouped_why_lines(items)) == [
        "raw_events[2024-01-01]: stale — code changed",
        "daily: missing",
    ]


def test_another_cause_a_fresh_item_or_another_asset_ends_a_run() -> None:
    items = [
        ((RAW, "1"), CODE),
        ((RAW, "2"), CODE),
        ((RAW, "3"), None),
        ((RAW, "4"), CODE),
        ((RAW, "5"), "missing"),
        ((RAW, "6"), "missing"),
        ((DAILY, "6"), "missing"),
    ]
    assert list(grouped_why_lines(items)) == [
        "raw_events[1 .. 2] (2 items): stale — code changed",
        "raw_events[4]: stale — code changed",
        "raw_events[5 .. 6] (2 items): missing",
        "daily[6]: missing",
    ]


def test_unpartitioned_items_are_never_merged() -> None:
    items = [((DAILY, UNPARTITIONED), "missing"), ((DAILY, UNPARTITIONED), "missing")]
    assert list(grouped_why_lines(items)) == ["daily: missing", "daily: missing"]
