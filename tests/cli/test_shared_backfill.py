"""Four `flowstone backfill` processes started at once over one range of slow items, one store.

Claims are taken as items get ready, so the processes share the range: each item is computed
exactly once, by whichever process claimed it, and more than one process computes items (with
the whole range claimed up front, the first would compute everything while three wait). Every
process exits 0, and its summary says which items it reused from which other process's run.
On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
DAYS = 16
PIPELINE = f"""
    import os
    import time
    from pathlib import Path

    from flowstone import AssetContext, DailyPartitions, asset

    days = DailyPartitions("2024-01-01", "2024-01-{DAYS + 1:02d}")
    CALLS = Path(__file__).with_name("calls.log")


    @asset(partitioned_by=days)
    def raw(context: AssetContext) -> int:
        time.sleep(0.3)  # sleep-bound: processes on one machine can overlap it
        with CALLS.open("a") as log:  # one short append: atomic between processes
            log.write(f"{{context.partition_key}} {{os.getpid()}}\\n")
        return 1
"""


def _start(project: Path, url: str) -> subprocess.Popen[str]:
    command = [
        *(sys.executable, "-m", "flowstone.cli", "backfill", "raw", "-f", "pipeline.py"),
        *("--store", url, "--concurrency", "1"),
    ]
    return subprocess.Popen(
        command, cwd=project, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_four_backfills_over_one_range_share_its_items(tmp_path: Path, store_url: str) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    processes = [_start(tmp_path, store_url) for _ in range(PROCESSES)]
    summaries = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, f"{stdout}\n{stderr}"
        assert "Traceback" not in stderr
        summaries.append(" ".join(stdout.split()))

    calls = [line.split() for line in (tmp_path / "calls.log").read_text().splitlines()]
    computed = Counter(partition for partition, _ in calls)
    assert computed == Counter(f"2024-01-{day:02d}" for day in range(1, DAYS + 1))
    assert len({pid for _, pid in calls}) > 1, "one process computed every item"
    _assert_each_reports_what_it_computed_and_reused(summaries)


def _assert_each_reports_what_it_computed_and_reused(summaries: list[str]) -> None:
    """Each summary: every target done, by its own run or reused from another process's run.

    The process that chose its targets first chose the whole range, before anything was
    stored, so at least that one reports items reused from others.
    """
    runs = [re.search(r"run ([0-9a-f]{32}): (?:(\d+) success)?", text) for text in summaries]
    assert all(runs), summaries
    reused_any = False
    for text, run in zip(summaries, runs, strict=True):
        assert run is not None
        targets = re.search(r"success: (\d+) of (\d+) items succeeded", text)
        assert targets is not None and targets.group(1) == targets.group(2), text
        reused = re.findall(r"(\d+) reused from run ([0-9a-f]{8})…", text)
        others = {found.group(1)[:8] for found in runs if found and found is not run}
        assert {short for _, short in reused} <= others, text
        computed = int(run.group(2) or 0)
        assert computed + sum(int(count) for count, _ in reused) == int(targets.group(2)), text
        reused_any = reused_any or bool(reused)
    assert reused_any, summaries
