"""``flowstone backfill``: --dry-run shows the plan and records nothing; items blocked by
definition are counted apart from the problems."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from flowstone.storage.sql import SqlMetadataStore
from tests.cli.conftest import DAILY
from tests.cli.test_blocked_cli import WINDOW

Invoke = Callable[..., Result]


@pytest.fixture
def pipelines(project: Path) -> Path:
    (project / "daily.py").write_text(DAILY)
    (project / "window.py").write_text(WINDOW)
    return project


def _recorded(project: Path) -> tuple[int, int, int]:
    """How many runs, backfills and materializations the store holds (none without a store)."""
    path = project / ".flowstone" / "flowstone.db"
    if not path.exists():
        return 0, 0, 0
    store = SqlMetadataStore(f"sqlite:///{path}")
    try:
        runs = store.list_runs()
        records = sum(len(store.get_run_materializations(run.run_id)) for run in runs)
        return len(runs), len(store.list_backfills()), records
    finally:
        store.close()


def _lines(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_a_dry_run_shows_the_plan_and_records_nothing(invoke: Invoke, pipelines: Path) -> None:
    lines = _lines(invoke("backfill", "-f", "daily.py", "--dry-run"))
    assert lines == [
        "raw[2024-01-01 .. 2024-01-05] (5 items): missing — never materialized",
        "clean[2024-01-01 .. 2024-01-05] (5 items): missing — never materialized",
        "Dry run: 10 items would run, 0 selected items are fresh (not run). Nothing was run.",
    ]
    assert _recorded(pipelines) == (0, 0, 0)
    assert (
        invoke("materialize", "-f", "daily.py", "raw", "--partition", "2024-01-02").exit_code == 0
    )
    before = _recorded(pipelines)
    payload = json.loads(invoke("backfill", "-f", "daily.py", "--dry-run", "--json").stdout)
    assert payload["dry_run"] is True
    planned = [(item["asset"], item["partition"], item["status"]) for item in payload["items"]]
    assert ("raw", "2024-01-02", "missing") not in planned  # the missing policy skips it
    assert len(planned) == 9 and planned[0] == ("raw", "2024-01-01", "missing")
    assert _recorded(pipelines) == before


def test_a_dry_run_follows_the_policy_and_judges_as_the_backfill_would(
    invoke: Invoke, pipelines: Path
) -> None:
    assert invoke("materialize", "-f", "daily.py", "--all-partitions").exit_code == 0
    before = _recorded(pipelines)
    nothing = _lines(invoke("backfill", "-f", "daily.py", "--dry-run"))
    assert nothing == ["Nothing to backfill: the policy targets no item. Nothing was run."]
    assert _recorded(pipelines) == before
    (pipelines / "broken-2024-01-03").touch()
    broken = invoke("materialize", "-f", "daily.py", "raw", "--partition", "2024-01-03", "--force")
    assert broken.exit_code == 1
    (pipelines / "broken-2024-01-03").unlink()
    before = _recorded(pipelines)
    failed = _lines(invoke("backfill", "-f", "daily.py", "--dry-run", "--policy", "failed"))
    assert failed == [
        "raw[2024-01-03]: failed — the newest attempt failed",
        "clean[2024-01-03]: upstream stale — upstream raw[2024-01-03] will be recomputed (runs "
        "only if its inputs change)",
        "Dry run: 2 items would run, 0 selected items are fresh (not run). Nothing was run.",
    ]
    every = _lines(invoke("backfill", "-f", "daily.py", "--dry-run", "--policy", "all"))
    assert every[:2] == [
        "raw[2024-01-01 .. 2024-01-05] (5 items): targeted (--policy all)",
        "clean[2024-01-01 .. 2024-01-05] (5 items): targeted (--policy all)",
    ]
    assert _recorded(pipelines) == before


def test_a_dry_run_shows_the_items_blocked_by_definition_apart(
    invoke: Invoke, pipelines: Path
) -> None:
    lines = _lines(invoke("backfill", "-f", "window.py", "--dry-run"))
    assert lines[1].startswith(
        "weekly[2024-01-01 .. 2024-01-06] (6 items): blocked — input raw before 2024-01-01 "
        "cannot exist"
    )
    assert lines[-1] == (
        "Dry run: 14 items would run, 6 blocked by definition (never run, not work), 0 selected "
        "items are fresh (not run). Nothing was run."
    )
    assert _recorded(pipelines) == (0, 0, 0)


def test_a_backfill_counts_the_items_blocked_by_definition_apart_from_problems(
    invoke: Invoke, pipelines: Path
) -> None:
    result = invoke("backfill", "-f", "window.py")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "14 of 14 items succeeded, 0 failed, 0 remaining" in text
    assert ": 14 success, 6 blocked by definition " in text
    assert (
        "6 blocked by definition: input raw before 2024-01-01 cannot exist "
        "(weekly[2024-01-01] .. weekly[2024-01-06])"
    ) in text
    assert "failed or blocked items" not in text
