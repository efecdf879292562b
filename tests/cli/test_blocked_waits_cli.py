"""An item blocked at planning because another process is still computing its input waits for
that process's claim to end, then is judged again: it runs when the input now exists and stays
blocked (a failure) when it does not. Two `flowstone materialize` processes on one store, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from flowstone.keys import AssetKey
from flowstone.storage import MaterializationStatus
from flowstone.storage.sql import SqlMetadataStore

PIPELINE = """
    import os
    import time
    from pathlib import Path

    from flowstone import AssetContext, DailyPartitions, asset

    days = DailyPartitions("2024-01-01", "2024-01-04")


    @asset(partitioned_by=days)
    def raw(context: AssetContext) -> int:
        Path("raw.started").write_text(str(os.getpid()))
        while Path("gate").exists():  # held open until the test lets it finish
            time.sleep(0.02)
        if Path("fail").exists():
            raise ValueError("no data")
        return 7


    @asset(depends_on=[raw], partitioned_by=days)
    def clean(raw: int) -> int:
        return raw * 2
"""
ROOT = Path(__file__).resolve().parents[2]
DAY = ("--partition", "2024-01-02")
WAITING = "wait for inputs other runs are materializing"


class _Process:
    """A `flowstone materialize` process whose stderr is read as it comes."""

    def __init__(self, project: Path, store_url: str, *args: str) -> None:
        command = [
            *(sys.executable, "-m", "flowstone.cli", "materialize", *args),
            *("-f", "pipeline.py", "--store", store_url),
        ]
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's flowstone
        self.process = subprocess.Popen(
            command, cwd=project, env=environment, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return " ".join("".join(self._stderr).split())

    def wait_for_text(self, text: str) -> None:
        deadline = time.monotonic() + 60
        while text not in self.stderr:
            assert self.process.poll() is None, f"ended early:\n{self.stderr}"
            assert time.monotonic() < deadline, f"never said {text!r}:\n{self.stderr}"
            time.sleep(0.05)

    def finish(self) -> tuple[int, str]:
        stdout, _ = self.process.communicate(timeout=60)
        self._reader.join(timeout=10)
        return self.process.returncode, " ".join(stdout.split())


def _start_both(project: Path, store_url: str) -> tuple[_Process, _Process]:
    """The first process computes raw and holds it; the second selects only clean."""
    (project / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (project / "gate").touch()
    first = _Process(project, store_url, "raw", *DAY)
    deadline = time.monotonic() + 60
    while not (project / "raw.started").exists():
        assert first.process.poll() is None, first.stderr
        assert time.monotonic() < deadline, "the first process never started raw"
        time.sleep(0.05)
    second = _Process(project, store_url, "clean", *DAY)
    second.wait_for_text(WAITING)  # planned as blocked while raw is being computed
    return first, second


def test_a_blocked_item_runs_once_the_other_process_stored_its_input(
    tmp_path: Path, store_url: str
) -> None:
    first, second = _start_both(tmp_path, store_url)
    (tmp_path / "gate").unlink()
    assert first.finish()[0] == 0
    code, output = second.finish()
    assert code == 0, f"{output}\n{second.stderr}"
    assert "clean[2024-01-02] │ success" in output
    store = SqlMetadataStore(store_url)
    try:
        [raw] = store.get_history(AssetKey.parse("raw"), "2024-01-02")
        [clean] = store.get_history(AssetKey.parse("clean"), "2024-01-02")
        assert raw.status is MaterializationStatus.SUCCESS and raw.run_id != clean.run_id
        assert clean.status is MaterializationStatus.SUCCESS
        assert [edge.upstream_materialization_id for edge in clean.inputs] == [
            raw.materialization_id
        ]
    finally:
        store.close()


def test_a_blocked_item_stays_blocked_when_the_other_process_failed(
    tmp_path: Path, store_url: str
) -> None:
    first, second = _start_both(tmp_path, store_url)
    (tmp_path / "fail").touch()
    (tmp_path / "gate").unlink()
    assert first.finish()[0] == 1
    code, output = second.finish()
    assert code == 1, f"{output}\n{second.stderr}"
    assert "clean[2024-01-02] │ blocked" in output
    assert "raw[2024-01-02] never materialized and not in this run" in output
