"""Killing or interrupting ``flowstone materialize``: no partial output, no false success."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowstone.keys import AssetKey
from flowstone.storage import MaterializationStatus, RunStatus
from flowstone.storage.sql import SqlMetadataStore

BIG_BYTES = 300_000_000


def _start(project: Path, pipeline: str) -> subprocess.Popen[bytes]:
    (project / "signal_pipeline.py").write_text(textwrap.dedent(pipeline))
    return subprocess.Popen(
        [sys.executable, "-m", "flowstone.cli", "materialize", "-f", "signal_pipeline.py"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"process ended early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            pytest.fail("timed out waiting for the process")
        time.sleep(0.001)


def _store(project: Path) -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{project / '.flowstone' / 'flowstone.db'}")


def test_sigkill_while_writing_a_large_output(tmp_path: Path) -> None:
    process = _start(
        tmp_path,
        f"""
        from flowstone import asset

        @asset
        def big() -> bytes:
            return b"x" * {BIG_BYTES}
        """,
    )
    folder = tmp_path / ".flowstone" / "storage" / "big"
    _wait_for(lambda: folder.is_dir() and any(".tmp-" in p.name for p in folder.iterdir()), process)
    process.send_signal(signal.SIGKILL)
    process.communicate()

    finals = [p for p in folder.iterdir() if ".tmp-" not in p.name]
    assert all(p.stat().st_size > BIG_BYTES for p in finals), "partial file at the final path"
    store = _store(tmp_path)
    assert not [
        r
        for r in store.get_history(AssetKey.parse("big"))
        if r.status is MaterializationStatus.SUCCESS
    ]
    store.close()

    rerun = subprocess.run(
        [sys.executable, "-m", "flowstone.cli", "materialize", "-f", "signal_pipeline.py"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    store = _store(tmp_path)
    latest = store.get_history(AssetKey.parse("big"))[0]
    store.close()
    assert latest.status is MaterializationStatus.SUCCESS
    [final] = [p for p in folder.iterdir() if ".tmp-" not in p.name]
    assert final.stat().st_size > BIG_BYTES
    assert latest.uri is not None and latest.uri.endswith(final.name)


def test_ctrl_c_records_running_items_as_cancelled(tmp_path: Path) -> None:
    process = _start(
        tmp_path,
        """
        import time
        from pathlib import Path
        from flowstone import asset

        @asset
        def slow() -> int:
            Path("slow.started").write_text("yes")
            time.sleep(5)
            return 1
        """,
    )
    _wait_for((tmp_path / "slow.started").exists, process)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert b"Interrupted" in stderr

    store = _store(tmp_path)
    [run] = store.list_runs()
    [record] = store.get_history(AssetKey.parse("slow"))
    store.close()
    assert run.status is RunStatus.CANCELLED
    assert record.status is MaterializationStatus.CANCELLED
    assert not (tmp_path / ".flowstone" / "storage" / "slow").exists()
