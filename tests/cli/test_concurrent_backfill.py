"""Two `flowstone backfill` processes over one range at once, on one store.

The second starts while the first runs slow items: it waits for them, reuses what the first
stored, and both exit 0 with every item computed exactly once; resuming either computes nothing.
On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from tests.cli.test_concurrent_materialize import _claims

PIPELINE = """
    import os
    import time
    from pathlib import Path

    from flowstone import AssetContext, DailyPartitions, asset

    days = DailyPartitions("2024-01-01", "2024-01-07")
    CALLS = Path(__file__).with_name("calls.log")


    @asset(partitioned_by=days)
    def raw(context: AssetContext) -> int:
        time.sleep(float(os.environ.get("PIPELINE_PAUSE", "0")))
        with CALLS.open("a") as log:  # one short append: atomic between processes
            log.write(f"{context.asset_key}[{context.partition_key}] {os.getpid()}\\n")
        return 1
"""


def _backfill(project: Path, url: str, *args: str, pause: str = "0") -> subprocess.Popen[str]:
    command = [
        *(sys.executable, "-m", "flowstone.cli", "backfill", *args),
        *("-f", "pipeline.py", "--store", url, "--concurrency", "1"),
    ]
    return subprocess.Popen(
        command, cwd=project, env={**os.environ, "PIPELINE_PAUSE": pause}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, f"{stdout}\n{stderr}"
    return stdout + stderr


def test_overlapping_backfills_share_the_items_and_both_succeed(
    tmp_path: Path, store_url: str
) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    first = _backfill(tmp_path, store_url, "raw", pause="0.4")
    deadline = time.monotonic() + 30
    while _claims(store_url) < 1:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first backfill never claimed its items"
        time.sleep(0.05)
    second = _backfill(tmp_path, store_url, "raw")
    outputs = [_finish(first), _finish(second)]

    log = tmp_path / "calls.log"
    calls = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert calls == Counter(f"raw[2024-01-0{day}]" for day in range(1, 7))
    ids = [re.search(r"backfill ([0-9a-f]{12})", output) for output in outputs]
    assert all(ids), outputs
    before = log.read_text()
    for found in ids:
        assert found is not None
        _finish(_backfill(tmp_path, store_url, "resume", found.group(1)))
    assert log.read_text() == before
