"""Items blocked by definition on the command line: not failures, shown apart, never work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Invoke = Callable[..., Result]

WINDOW = """
from pathlib import Path
from flowstone import AssetContext, DailyPartitions, TimeWindowMapping, asset

DAYS = DailyPartitions("2024-01-01", "2024-01-11")

@asset(partitioned_by=DAYS)
def raw(context: AssetContext) -> int:
    if Path(f"broken-{context.partition_key}").exists():
        raise ValueError(f"no data for {context.partition_key}")
    return int(context.partition_key[-2:])

@asset(depends_on={"week": TimeWindowMapping(raw, start_offset=-6)}, partitioned_by=DAYS)
def weekly(week: dict[str, int]) -> int:
    return sum(week.values())
"""
"""Ten days and a 7-day window over them: the window's first six days can never be built."""

ALL = ("-f", "window.py", "--all-partitions")
FIRST_SIX = "weekly[2024-01-01] .. weekly[2024-01-06]"
SHORT_REASON = "input raw before 2024-01-01 cannot exist"


@pytest.fixture
def window(project: Path) -> Path:
    (project / "window.py").write_text(WINDOW)
    return project


def _text(result: Result) -> str:
    return " ".join(result.output.split())


def test_materialize_of_a_built_window_pipeline_exits_0_and_shows_the_blocked_apart(
    invoke: Invoke, window: Path
) -> None:
    first = invoke("materialize", *ALL)
    assert first.exit_code == 0, first.output
    assert f"6 blocked by definition: {SHORT_REASON} ({FIRST_SIX})" in _text(first)
    assert "success: 14 success, 6 blocked by definition" in _text(first)
    assert "weekly[2024-01-01] │ blocked" not in first.output  # not rows of the run table
    again = invoke("materialize", *ALL)
    assert again.exit_code == 0, again.output
    assert _text(again).startswith("Everything that can run is fresh: 14 items, nothing to do.")
    assert f"6 blocked by definition: {SHORT_REASON} ({FIRST_SIX})" in _text(again)
    payload = json.loads(invoke("materialize", *ALL, "--json").stdout)
    assert payload["status"] == "success" and len(payload["fresh"]) == 14
    assert {item["blocked_by_definition"] for item in payload["items"]} == {SHORT_REASON}
    assert [item["partition"] for item in payload["items"]] == [
        f"2024-01-0{day}" for day in range(1, 7)
    ]


def test_status_lists_the_blocked_items_apart_and_not_as_work(invoke: Invoke, window: Path) -> None:
    assert invoke("materialize", *ALL).exit_code == 0
    for extra in ((), ("--why",)):
        shown = invoke("status", "-f", "window.py", *extra)
        assert shown.exit_code == 0, shown.output
        lines = shown.output.splitlines()
        at = lines.index("blocked by definition (6 items; never run, not work):")
        assert lines[at + 1].startswith(
            f"  weekly[2024-01-01 .. 2024-01-06] (6 items): {SHORT_REASON} (daily partitions"
        )
        assert "allow_missing=True" in lines[at + 1]
        assert "not fresh" not in shown.output
        assert lines[-1] == "All 14 other items are fresh: materialize has nothing to do."
    payload = json.loads(invoke("status", "-f", "window.py", "--json").stdout)
    assert payload["nothing_to_do"] is True and payload["all_fresh"] is False
    assert [item["partition"] for item in payload["blocked"]] == [
        f"2024-01-0{day}" for day in range(1, 7)
    ]
    assert all(item["reason"].startswith(SHORT_REASON) for item in payload["blocked"])
    flagged = [item for item in payload["items"] if item["blocked_by_definition"]]
    assert [item["causes"][0]["kind"] for item in flagged] == ["inputs_cannot_exist"] * 6
    assert {item["status"] for item in flagged} == {"blocked"}


def test_real_failures_still_fail_and_are_counted_apart_from_the_blocked(
    invoke: Invoke, window: Path
) -> None:
    (window / "broken-2024-01-09").touch()
    run = invoke("materialize", *ALL)
    assert run.exit_code == 1, run.output
    assert "failed: 11 success, 1 failed, 2 skipped, 6 blocked by definition" in _text(run)
    shown = invoke("status", "-f", "window.py", "--why")
    assert shown.exit_code == 0
    assert "weekly[2024-01-09 .. 2024-01-10] (2 items): missing — never materialized" in (
        shown.output
    )
    assert "3 of 20 items are not fresh (6 more are blocked by definition)." in _text(shown)


def test_an_input_never_materialized_blocks_as_work_not_by_definition(
    invoke: Invoke, window: Path
) -> None:
    run = invoke("materialize", "-f", "window.py", "weekly", "--partition", "2024-01-08")
    assert run.exit_code == 1, run.output
    assert "failed: 1 blocked" in _text(run) and "by definition" not in run.output
    shown = invoke("status", "-f", "window.py", "weekly", "--json")
    payload = json.loads(shown.stdout)
    assert payload["nothing_to_do"] is False and len(payload["blocked"]) == 6
    [waiting] = [
        item
        for item in payload["items"]
        if item["status"] == "blocked" and not item["blocked_by_definition"]
    ][:1]
    assert waiting["causes"][0]["kind"] == "blocked"
    assert "never materialized and not in this run" in waiting["explanation"]
