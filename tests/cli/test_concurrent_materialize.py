"""Eight `flowstone materialize` processes at once, over overlapping selections, on one store.

Every item is computed exactly once: a process waits for the items another one holds and then
reuses what it stored. Each process exits 0 and the final status is all fresh. On SQLite and on
PostgreSQL; and the claims of a process killed with SIGKILL are taken over at once (on the same
machine) or once they expire (a holder elsewhere, which cannot be checked).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from flowstone.keys import AssetKey
from flowstone.storage.sql import SqlMetadataStore
from tests.support.postgres import create_admin_engine

PIPELINE = """
    import os
    import time
    from pathlib import Path

    from flowstone import AssetContext, DailyPartitions, asset

    days = DailyPartitions("2024-01-01", "2024-01-17")
    CALLS = Path(__file__).with_name("calls.log")
    PAUSE = float(os.environ.get("PIPELINE_PAUSE", "0.03"))


    def _log(context: AssetContext) -> None:
        time.sleep(PAUSE)
        line = f"{context.asset_key}[{context.partition_key}] {os.getpid()}\\n"
        with CALLS.open("a") as log:  # one short append: atomic between processes
            log.write(line)


    @asset(partitioned_by=days)
    def raw(context: AssetContext) -> int:
        _log(context)
        return int(context.partition_key[-2:])


    @asset(depends_on=[raw], partitioned_by=days)
    def clean(context: AssetContext, raw: int) -> int:
        _log(context)
        return raw * 10


    @asset(depends_on=[raw, clean], partitioned_by=days)
    def report(context: AssetContext, raw: int, clean: int) -> int:
        _log(context)
        return raw + clean
"""
DAYS = 16
ASSETS = ("raw", "clean", "report")
PROCESSES = 8


def _selection(index: int) -> list[str]:
    """Overlapping selections: windows of days, some of the whole chain, some of its head."""
    first = 1 + index
    selection = "*report" if index % 3 else "*clean"
    return [selection, "--from", f"2024-01-{first:02d}", "--to", f"2024-01-{first + 8:02d}"]


def _start(
    project: Path, store_url: str, *args: str, pause: str = "0.03", lease: str = "3"
) -> subprocess.Popen[str]:
    command = [
        *(sys.executable, "-m", "flowstone.cli", "materialize", *args),
        *("-f", "pipeline.py", "--store", store_url, "--concurrency", "4"),
    ]
    environment = {**os.environ, "PIPELINE_PAUSE": pause, "FLOWSTONE_LEASE_SECONDS": lease}
    return subprocess.Popen(
        command, cwd=project, env=environment, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _expected_items() -> set[str]:
    items = set()
    for index in range(PROCESSES):
        first = 1 + index
        assets = ASSETS if index % 3 else ASSETS[:2]
        items |= {f"{a}[2024-01-{day:02d}]" for a in assets for day in range(first, first + 9)}
    return items


def _run_eight_at_once(project: Path, store_url: str) -> None:
    (project / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    processes = [_start(project, store_url, *_selection(index)) for index in range(PROCESSES)]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"{stdout}\n{stderr}"
        assert "Traceback" not in stderr

    calls = Counter(line.split()[0] for line in (project / "calls.log").read_text().splitlines())
    assert set(calls) == _expected_items()
    assert [item for item, count in calls.items() if count != 1] == []
    # The overlap was real: several processes did part of the work.
    pids = {line.split()[1] for line in (project / "calls.log").read_text().splitlines()}
    assert len(pids) > 1

    status = subprocess.run(
        [
            *(sys.executable, "-m", "flowstone.cli", "status", "*report", "--json"),
            *("--from", "2024-01-01", "--to", "2024-01-16", "-f", "pipeline.py"),
            *("--store", store_url),
        ],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    statuses = {f"{item['asset']}[{item['partition']}]": item["status"] for item in report["items"]}
    assert {item: statuses[item] for item in _expected_items()} == dict.fromkeys(
        _expected_items(), "fresh"
    )


def test_eight_processes_compute_every_item_exactly_once(tmp_path: Path, store_url: str) -> None:
    _run_eight_at_once(tmp_path, store_url)
    store = SqlMetadataStore(store_url)
    try:
        runs = store.list_runs(limit=20)
        assert len(runs) == PROCESSES and all(run.status == "success" for run in runs)
    finally:
        store.close()


def test_a_killed_process_claims_are_taken_over_at_once(tmp_path: Path, store_url: str) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    window = ("raw", "--from", "2024-01-01", "--to", "2024-01-02")
    first = _start(tmp_path, store_url, *window, pause="30")
    deadline = time.monotonic() + 30
    while _claims(store_url) < 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first process never claimed its items"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()

    # The lease is an hour: only noticing that the holder is dead lets the second one go on.
    second = _start(tmp_path, store_url, *window, lease="3600")
    stdout, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, f"{stdout}\n{stderr}"
    assert f"({socket.gethostname()}:{first.pid}) has stopped" in " ".join(stderr.split())
    _assert_computed_once_by(tmp_path, second.pid)
    assert _claims(store_url) == 0


def test_a_claim_from_another_machine_is_taken_over_once_it_expires(
    tmp_path: Path, store_url: str
) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    store = SqlMetadataStore(store_url)
    items = [(AssetKey(("raw",)), "2024-01-01"), (AssetKey(("raw",)), "2024-01-02")]
    store.claim_items("gone-run", "elsewhere:1", items, lease_seconds=2)
    store.close()

    window = ("raw", "--from", "2024-01-01", "--to", "2024-01-02")
    second = _start(tmp_path, store_url, *window)
    stdout, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, f"{stdout}\n{stderr}"
    assert "waiting for 2 items" in stderr and "gone-run (elsewhere:1)" in " ".join(stderr.split())
    _assert_computed_once_by(tmp_path, second.pid)
    assert _claims(store_url) == 0


def _assert_computed_once_by(project: Path, pid: int) -> None:
    calls = (project / "calls.log").read_text().splitlines()
    assert sorted(line.split()[0] for line in calls) == ["raw[2024-01-01]", "raw[2024-01-02]"]
    assert {line.split()[1] for line in calls} == {str(pid)}


def _claims(store_url: str) -> int:
    """How many claims the store holds now (0 before its tables exist)."""
    if store_url.startswith("sqlite"):
        path = Path(store_url.removeprefix("sqlite:///"))
        if not path.exists():
            return 0
    engine = create_admin_engine(store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM claims")).scalar_one())
    except Exception:  # the tables are not there yet
        return 0
    finally:
        engine.dispose()
