"""What backfills say about items another run stored meanwhile: reused, and from which run.

A backfill fails one day; a plain ``materialize`` then stores that day; resuming the backfill
finds it fresh and reuses it. The summary says ``2 reused from run <id>…``, ``--json`` lists the
reused items with the run that stored them, and ``backfill show`` counts them as done (reused),
not as failed, skipped or remaining.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from flowstone.cli.backfill_report import count_states, describe_reused
from flowstone.keys import AssetKey
from flowstone.storage import MaterializationStatus
from flowstone.storage.sql import SqlMetadataStore
from tests.cli.conftest import DAILY

Invoke = Callable[..., Result]
DAY = "2024-01-03"


@pytest.fixture
def daily(project: Path) -> Path:
    (project / "daily.py").write_text(DAILY)
    return project


def _text(result: Result) -> str:
    return " ".join(re.sub("[│┃]", " ", result.output).split())


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _failed_backfill_then_another_run(invoke: Invoke, project: Path) -> tuple[str, str]:
    """A backfill whose ``DAY`` failed, then stored by a run outside it: both ids."""
    (project / f"broken-{DAY}").write_text("")
    assert invoke("backfill", "-f", "daily.py").exit_code == 1
    (project / f"broken-{DAY}").unlink()
    stored = invoke("materialize", "raw", "clean", "--partition", DAY, "-f", "daily.py")
    assert stored.exit_code == 0, stored.output
    store = SqlMetadataStore(f"sqlite:///{project / '.flowstone' / 'flowstone.db'}")
    try:
        [record] = store.list_backfills()
        other = store.list_runs(limit=1)[0].run_id
    finally:
        store.close()
    assert other not in record.run_ids
    return record.backfill_id, other


def test_a_resume_reports_the_items_it_reused_and_the_run_that_stored_them(
    invoke: Invoke, daily: Path
) -> None:
    backfill_id, other = _failed_backfill_then_another_run(invoke, daily)
    resumed = invoke("backfill", "resume", backfill_id, "-f", "daily.py")
    assert resumed.exit_code == 0, resumed.output
    text = _text(resumed)
    assert f"backfill {backfill_id} success: 10 of 10 items succeeded" in text
    assert f"2 reused from run {other[:8]}…" in text


def test_backfill_json_carries_the_reused_items_with_their_run(invoke: Invoke, daily: Path) -> None:
    backfill_id, other = _failed_backfill_then_another_run(invoke, daily)
    resumed = _json(invoke("backfill", "resume", backfill_id, "-f", "daily.py", "--json"))
    assert resumed["complete"] and resumed["remaining"] == 0
    assert sorted((item["asset"], item["partition"]) for item in resumed["reused"]) == [
        ("clean", DAY),
        ("raw", DAY),
    ]
    assert {item["run_id"] for item in resumed["reused"]} == {other}
    assert resumed["run"]["items"] == []  # nothing computed again


def test_show_counts_reused_items_as_done_not_remaining(invoke: Invoke, daily: Path) -> None:
    backfill_id, other = _failed_backfill_then_another_run(invoke, daily)
    # Before any resume: the backfill's own records say failed and skipped, but another run
    # has stored both items since, so they are done.
    details = _json(invoke("backfill", "show", backfill_id, "--json"))
    assert details["counts"] == {"success": 8, "reused": 2}
    assert details["problems"] == []
    assert {(item["partition"], item["run_id"]) for item in details["reused"]} == {(DAY, other)}
    shown = _text(invoke("backfill", "show", backfill_id))
    assert "items 10: 8 success, 2 reused" in shown
    assert f"2 reused from run {other[:8]}…" in shown
    assert "To resume" not in shown


def test_a_success_older_than_the_backfills_own_failure_is_not_reuse(
    invoke: Invoke, daily: Path
) -> None:
    assert invoke("materialize", "raw", "--partition", DAY, "-f", "daily.py").exit_code == 0
    (daily / f"broken-{DAY}").write_text("")
    assert invoke("backfill", "-f", "daily.py", "--policy", "all").exit_code == 1
    store = SqlMetadataStore(f"sqlite:///{daily / '.flowstone' / 'flowstone.db'}")
    try:
        [record] = store.list_backfills()
    finally:
        store.close()
    details = _json(invoke("backfill", "show", record.backfill_id, "--json"))
    assert details["counts"] == {"success": 8, "failed": 1, "skipped": 1}
    assert details["reused"] == []


def test_the_summary_line_names_the_runs_that_stored_most_first() -> None:
    raw = AssetKey(("raw",))
    reused = {(raw, f"2024-01-0{day}"): ("b" * 32 if day < 4 else "a" * 32) for day in range(1, 6)}
    assert describe_reused(reused) == "3 reused from run bbbbbbbb…, 2 reused from run aaaaaaaa…"
    many = {(raw, f"k{index}"): f"{index:032x}" for index in range(5)}
    assert describe_reused(many).endswith("2 from 2 other runs")


def test_counts_put_reused_items_beside_the_recorded_states() -> None:
    raw = AssetKey(("raw",))
    items = [(raw, "a"), (raw, "b"), (raw, "c")]
    outcomes = {(raw, "a"): MaterializationStatus.SUCCESS}
    assert count_states(items, outcomes, {(raw, "b")}) == {
        "success": 1,
        "reused": 1,
        "pending": 1,
    }
