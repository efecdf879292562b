"""Several ``flowstone materialize`` processes sharing one SQLite store all succeed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from flowstone.storage import MaterializationStatus, RunStatus
from flowstone.storage.sql import SqlMetadataStore

PIPELINE = """
from flowstone import asset

previous = None
for index in range(20):
    depends = {} if previous is None else {"upstream": previous}
    if previous is None:
        previous = asset(key=f"step_{index}")(lambda: 0)
    else:
        previous = asset(key=f"step_{index}", depends_on=depends)(lambda upstream: upstream + 1)
"""


def test_four_processes_share_one_store_without_errors(tmp_path: Path) -> None:
    (tmp_path / "chain.py").write_text(textwrap.dedent(PIPELINE))
    command = [sys.executable, "-m", "flowstone.cli", "materialize", "-f", "chain.py"]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs

    store = SqlMetadataStore(f"sqlite:///{tmp_path / '.flowstone' / 'flowstone.db'}")
    runs = store.list_runs()
    records = [r for run in runs for r in store.get_run_materializations(run.run_id)]
    store.close()
    assert [run.status for run in runs] == [RunStatus.SUCCESS] * 4
    # Stale-only: a process that starts after another stored an item finds it fresh.
    assert 20 <= len(records) <= 80
    assert {r.asset_key.name for r in records} == {f"step_{i}" for i in range(20)}
    assert {r.status for r in records} <= {
        MaterializationStatus.SUCCESS,
        MaterializationStatus.UNCHANGED,
    }
    sequences = sorted(r.sequence for r in records if r.sequence is not None)
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
