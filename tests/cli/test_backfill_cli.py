"""flowstone backfill: starting, listing, showing and resuming backfills, and their exit codes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from flowstone.cli.backfill_report import resume_command
from flowstone.cli.progress import describe_counts
from flowstone.storage import BackfillStatus, MaterializationStatus
from flowstone.storage.sql import SqlMetadataStore
from tests.cli.conftest import DAILY

Invoke = Callable[..., Result]


NAMED = """
from flowstone import asset

@asset(key="show")
def show_asset() -> int:
    return 1
"""

SLOW = """
import time
from pathlib import Path
from flowstone import AssetContext, StaticPartitions, asset

@asset(partitioned_by=StaticPartitions(["a", "b", "c"]))
def slow(context: AssetContext) -> int:
    if not Path("fast").exists():
        Path("slow.started").write_text("yes")
        time.sleep(5)
    return 1
"""


@pytest.fixture
def daily(project: Path) -> Path:
    (project / "daily.py").write_text(DAILY)
    (project / "named.py").write_text(NAMED)
    return project


def _json(result: Result, code: int = 0) -> Any:
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _text(result: Result) -> str:
    """The output as single-spaced words, without table borders."""
    return " ".join(re.sub("[│┃]", " ", result.output).split())


def _store(project: Path, db: str = "flowstone.db") -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{project / '.flowstone' / db}")


def _latest_backfill_id(project: Path) -> str:
    store = _store(project)
    try:
        return store.list_backfills(1)[0].backfill_id
    finally:
        store.close()


def _recorded(project: Path) -> tuple[int, int]:
    """How many runs and backfills the store holds (none when it was never created)."""
    if not (project / ".flowstone" / "flowstone.db").exists():
        return 0, 0
    store = _store(project)
    try:
        return len(store.list_runs()), len(store.list_backfills())
    finally:
        store.close()


def test_backfill_covers_every_partition_by_default(invoke: Invoke, daily: Path) -> None:
    payload = _json(invoke("backfill", "-f", "daily.py", "--json"))
    record = payload["backfill"]
    assert (record["status"], record["item_count"], record["partitions"]) == (
        "success",
        10,
        {"all": True},
    )
    assert (payload["complete"], payload["succeeded"], payload["remaining"]) == (True, 10, 0)
    assert len(payload["run"]["items"]) == 10
    assert record["run_ids"] == [payload["run"]["run_id"]]

    text = invoke("backfill", "-f", "daily.py", "--policy", "all")
    assert text.exit_code == 0, text.output
    assert "success: 10 of 10 items succeeded" in _text(text)
    assert "To resume" not in text.output


PARTITION_CASES = [
    (["--partition", "2024-01-02", "--partition", "2024-01-04"],
     {"keys": ["2024-01-02", "2024-01-04"]}, "2024-01-02, 2024-01-04", 4),
    (["--from", "2024-01-02", "--to", "2024-01-04"],
     {"from": "2024-01-02", "to": "2024-01-04"}, "2024-01-02..2024-01-04", 6),
    (["--all-partitions"], {"all": True}, "all", 10),
]  # fmt: skip


@pytest.mark.usefixtures("daily")
@pytest.mark.parametrize(("options", "partitions", "shown", "items"), PARTITION_CASES)
def test_partition_options_choose_the_items(
    invoke: Invoke,
    options: list[str],
    partitions: dict[str, Any],
    shown: str,
    items: int,
) -> None:
    record = _json(invoke("backfill", "-f", "daily.py", *options, "--json"))["backfill"]
    assert (record["partitions"], record["item_count"]) == (partitions, items)
    text = _text(invoke("backfill", "show", record["backfill_id"]))
    assert f"partitions {shown} " in text
    assert f"items {items}: {items} success" in text


def test_policies_target_missing_failed_or_all_items(invoke: Invoke, daily: Path) -> None:
    (daily / "broken-2024-01-05").write_text("")
    run = ("materialize", "-f", "daily.py", "raw", "--from", "2024-01-04", "--to", "2024-01-05")
    assert invoke(*run).exit_code == 1  # raw[01-04] stored, raw[01-05] failed
    start = ("backfill", "-f", "daily.py", "raw", "--json")
    assert _json(invoke(*start, "--policy", "failed"), 1)["backfill"]["item_count"] == 1
    (daily / "broken-2024-01-05").unlink()
    missing = _json(invoke(*start))["backfill"]
    assert missing["item_count"] == 4  # 01-04 is stored; 01-05 failed, so still missing
    assert missing["policy"] == "missing"
    assert _json(invoke(*start, "--policy", "failed"))["backfill"]["item_count"] == 0
    assert _json(invoke(*start, "--policy", "all"))["backfill"]["item_count"] == 5


def test_failures_exit_1_then_show_and_resume_finish_the_backfill(
    invoke: Invoke, daily: Path
) -> None:
    (daily / "broken-2024-01-03").write_text("")
    first = invoke("backfill", "-f", "daily.py", "--concurrency", "2")
    assert first.exit_code == 1
    store = _store(daily)
    [record] = store.list_backfills()
    store.close()
    text = _text(first)
    assert f"backfill {record.backfill_id} failed: 8 of 10 items succeeded" in text
    assert "1 failed, 2 remaining" in text and "1 skipped" in text
    assert "raw[2024-01-03] failed ValueError: no data for 2024-01-03" in text
    assert f"To resume: flowstone backfill resume {record.backfill_id} -f daily.py" in text

    shown = _text(invoke("backfill", "show", record.backfill_id))
    for part in (
        "status failed",
        "policy missing",
        "partitions all",
        "selection raw, clean",
        "items 10: 8 success, 1 failed, 1 skipped",
        record.run_ids[0],
        "ValueError: no data for 2024-01-03",
        f"To resume: flowstone backfill resume {record.backfill_id}",
    ):
        assert part in shown
    details = _json(invoke("backfill", "show", record.backfill_id, "--json"))
    assert details["counts"] == {"success": 8, "failed": 1, "skipped": 1}
    [problem] = details["problems"]
    assert (problem["asset"], problem["partition"], problem["status"]) == (
        "raw",
        "2024-01-03",
        "failed",
    )
    assert problem["error"].endswith("ValueError: no data for 2024-01-03")

    (daily / "broken-2024-01-03").unlink()
    resume = ("backfill", "resume", record.backfill_id, "-f", "daily.py", "--concurrency", "3")
    resumed = _json(invoke(*resume, "--json"))
    assert [item["partition"] for item in resumed["run"]["items"]] == ["2024-01-03"] * 2
    assert resumed["complete"] and resumed["backfill"]["status"] == "success"
    assert len(resumed["backfill"]["run_ids"]) == 2
    again = invoke("backfill", "resume", record.backfill_id, "-f", "daily.py")
    assert again.exit_code == 0
    assert "Nothing to run" in again.output
    assert "To resume" not in _text(invoke("backfill", "show", record.backfill_id))


def test_blocked_items_are_shown_with_their_reason(invoke: Invoke, daily: Path) -> None:
    result = invoke("backfill", "-f", "daily.py", "clean", "--partition", "2024-01-01")
    assert result.exit_code == 1
    assert "clean[2024-01-01] blocked input raw[2024-01-01] never materialized" in (_text(result))
    backfill_id = _latest_backfill_id(daily)
    details = _json(invoke("backfill", "show", backfill_id, "--json"))
    assert details["counts"] == {"blocked": 1}
    assert details["problems"][0]["status"] == "blocked"
    assert "never materialized" in details["problems"][0]["error"]


def test_list_shows_backfills_newest_first(invoke: Invoke, daily: Path) -> None:
    assert "No backfills recorded yet" in invoke("backfill", "list").output
    assert _json(invoke("backfill", "list", "--json")) == []
    invoke("backfill", "-f", "daily.py", "--partition", "2024-01-01")
    invoke("backfill", "-f", "daily.py", "raw", "--from", "2024-01-02", "--to", "2024-01-03")
    records = _json(invoke("backfill", "list", "--json"))
    assert [r["partitions"] for r in records] == [
        {"from": "2024-01-02", "to": "2024-01-03"},
        {"keys": ["2024-01-01"]},
    ]
    text = _text(invoke("backfill", "list"))
    assert "2 backfills (newest first)" in text
    assert text.index(records[0]["backfill_id"]) < text.index(records[1]["backfill_id"])
    assert "2024-01-02..2024-01-03" in text and "raw, clean" in text
    assert len(_json(invoke("backfill", "list", "--limit", "1", "--json"))) == 1


def test_an_asset_named_like_a_subcommand_is_selected_with_run(invoke: Invoke, daily: Path) -> None:
    payload = _json(invoke("backfill", "run", "show", "-m", "named", "--json"))
    assert [item["asset"] for item in payload["run"]["items"]] == ["show"]
    assert invoke("backfill", "show").exit_code == 2  # the subcommand, missing its ID
    help_text = invoke("backfill", "--help").output
    assert "flowstone backfill run NAME" in help_text
    assert "resume" in help_text and "list" in help_text


def test_store_option_chooses_the_store(invoke: Invoke, daily: Path) -> None:
    other = ("--store", f"sqlite:///{daily / 'other.db'}")
    started = _json(invoke("backfill", "-f", "daily.py", "raw", *other, "--json"))
    backfill_id = started["backfill"]["backfill_id"]
    assert [r["backfill_id"] for r in _json(invoke("backfill", "list", *other, "--json"))] == [
        backfill_id
    ]
    assert _json(invoke("backfill", "show", backfill_id, *other, "--json"))["counts"] == {
        "success": 5
    }
    assert invoke("backfill", "show", backfill_id).exit_code == 2
    resumed = invoke("backfill", "resume", backfill_id, "-f", "daily.py", *other)
    assert resumed.exit_code == 0, resumed.output
    assert _recorded(daily) == (0, 0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-f", "daily.py", "--from", "2024-01-02"], "was given without --to"),
        (["-f", "daily.py", "--to", "2024-01-02"], "was given without --from"),
        (["-f", "daily.py", "--partition", "2024-01-02", "--all-partitions"], "together"),
        (
            [
                "-f",
                "daily.py",
                "--partition",
                "2024-01-01",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "together",
        ),
        (["-f", "daily.py", "--policy", "sometimes"], "sometimes"),
        (["-f", "daily.py", "--concurrency", "0"], "--concurrency"),
        (["-f", "daily.py", "--partition", "2024-02-01"], "2024-02-01"),
        (["-f", "daily.py", "--from", "2024-01-04", "--to", "2024-01-02"], "backwards"),
        (["-f", "daily.py", "rwa"], "raw"),
        (["-f", "pipeline.py", "--partition", "2024-01-01"], "no selected asset is partitioned"),
        (["-f", "nowhere.py"], "does not exist"),
        ([], "No asset definitions given"),
        (["resume", "0123abcd", "-f", "daily.py"], "no backfill '0123abcd'"),
        (["resume", "-f", "daily.py"], "Missing argument"),
        (["show", "0123abcd"], "no backfill '0123abcd'"),
        (["show", "0123abcd", "--json"], "flowstone backfill list"),
        (["list", "--limit", "0"], "--limit"),
        (["nope", "--bogus"], "--bogus"),
    ],
)
def test_bad_usage_exits_2_and_records_nothing(
    invoke: Invoke, daily: Path, arguments: list[str], message: str
) -> None:
    result = invoke("backfill", *arguments)
    assert result.exit_code == 2, result.output
    assert message in _text(result)
    assert "Traceback" not in result.output
    assert _recorded(daily) == (0, 0)


def test_progress_counts_describe_done_failed_and_remaining() -> None:
    counts = Counter({MaterializationStatus.SUCCESS: 3, MaterializationStatus.BLOCKED: 2})
    assert describe_counts(counts, 9) == "done 3 · failed 0 · blocked 2 · remaining 4"
    assert describe_counts(Counter(), 0) == "done 0 · failed 0 · remaining 0"


def test_ctrl_c_cancels_the_backfill_and_resume_finishes_it(project: Path) -> None:
    (project / "slow.py").write_text(SLOW)
    command = [sys.executable, "-m", "flowstone.cli", "backfill", "-f", "slow.py"]
    process = subprocess.Popen(
        [*command, "--concurrency", "1"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (project / "slow.started").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the backfill never started"
        time.sleep(0.01)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    store = _store(project)
    [record] = store.list_backfills()
    assert b"Interrupted" in stderr
    assert f"flowstone backfill resume {record.backfill_id}".encode() in stderr
    outcomes = store.get_backfill_outcomes(record.backfill_id)
    store.close()
    assert record.status is BackfillStatus.CANCELLED
    assert MaterializationStatus.CANCELLED in outcomes.values()

    (project / "fast").write_text("")
    resumed = subprocess.run(
        [*command[:-3], "backfill", "resume", record.backfill_id, "-f", "slow.py", "--json"],
        cwd=project,
        capture_output=True,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    payload = json.loads(resumed.stdout)
    assert payload["complete"] and payload["backfill"]["status"] == "success"


@pytest.mark.parametrize(
    "arguments",
    [["-f", "daily.py"], ["list"], ["show", "0123abcd"], ["resume", "0123abcd", "-f", "daily.py"]],
)
def test_a_store_that_fails_exits_1(invoke: Invoke, daily: Path, arguments: list[str]) -> None:
    result = invoke("backfill", *arguments, "--store", "bogus://nowhere")
    assert result.exit_code == 1, result.output
    assert "StorageError: Unsupported metadata store database 'bogus'" in _text(result)


def test_the_resume_hint_never_shows_the_store_password() -> None:
    hint = resume_command(
        "3f2a9c0d1e7b",
        module=None,
        file=Path("pipeline.py"),
        store_url="postgresql+psycopg://etl:s3cret@db.example/meta",
    )
    assert "s3cret" not in hint
    assert hint.startswith("flowstone backfill resume 3f2a9c0d1e7b -f pipeline.py --store")


def test_the_resume_hint_repeats_the_config_file() -> None:
    hint = resume_command(
        "3f2a9c0d1e7b", module="shop", file=None, store_url=None, config_file=Path("prod.json")
    )
    assert hint == "flowstone backfill resume 3f2a9c0d1e7b -m shop --config prod.json"
