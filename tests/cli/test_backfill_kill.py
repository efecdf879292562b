"""A backfill killed with SIGKILL part-way resumes with exactly the items it had not finished."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from flowstone.storage import BackfillStatus, MaterializationStatus
from flowstone.storage.sql import SqlMetadataStore

PIPELINE = """
    import time
    from pathlib import Path

    from flowstone import AssetContext, DailyPartitions, asset

    days = DailyPartitions("2024-01-01", "2024-03-01")
    CALLS = Path(__file__).with_name("calls.log")


    def _log(context: AssetContext) -> None:
        with CALLS.open("a") as log:
            log.write(f"{context.asset_key}[{context.partition_key}]\\n")


    @asset(partitioned_by=days)
    def raw(context: AssetContext) -> int:
        time.sleep(0.05)
        _log(context)
        return 1


    @asset(depends_on=[raw], partitioned_by=days)
    def doubled(context: AssetContext, raw: int) -> int:
        time.sleep(0.05)
        _log(context)
        return raw * 2
"""
ITEMS = 2 * 60


def _flowstone(project: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "flowstone.cli", "backfill", *args, "-f", "pipeline.py"]
    return subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _successes(store: SqlMetadataStore, backfill_id: str) -> int:
    outcomes = store.get_backfill_outcomes(backfill_id).values()
    return sum(1 for status in outcomes if status is MaterializationStatus.SUCCESS)


def test_sigkill_then_resume_runs_exactly_the_remaining_items(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    process = _flowstone(tmp_path, "--all-partitions", "--concurrency", "2")
    store_path = tmp_path / ".flowstone" / "flowstone.db"
    deadline = time.monotonic() + 60
    store: SqlMetadataStore | None = None
    while True:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the backfill made no progress"
        if store is None and store_path.exists():
            store = SqlMetadataStore(f"sqlite:///{store_path}")
        backfills = store.list_backfills() if store is not None else []
        if store is not None and backfills and _successes(store, backfills[0].backfill_id) >= 20:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()

    assert store is not None
    [record] = store.list_backfills()
    assert record.item_count == ITEMS and record.status is BackfillStatus.RUNNING
    remaining = ITEMS - _successes(store, record.backfill_id)
    assert 0 < remaining <= ITEMS - 20
    (tmp_path / "calls.log").unlink()

    resume = _flowstone(tmp_path, "resume", record.backfill_id)
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, (out, err)
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == len(set(calls)) == remaining
    final = store.get_backfill(record.backfill_id)
    assert final is not None and final.status is BackfillStatus.SUCCESS
    assert _successes(store, record.backfill_id) == ITEMS
    last_run = store.get_run_materializations(final.run_ids[-1])
    assert len(last_run) == remaining
    store.close()
