"""``deps=`` end to end on the command line: list, materialize, status --why and early cutoff."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Invoke = Callable[..., Result]

AUDITED = """
from pathlib import Path

from flowstone import asset


@asset
def raw() -> str:
    return Path("rows.txt").read_text()


@asset(deps=[raw])
def audit() -> str:
    runs = Path("audit-runs.txt")
    runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
    return "audited"
"""
"""``audit`` runs after ``raw`` without reading it; it counts its runs in ``audit-runs.txt``."""


def _write_project(project: Path, rows: str) -> None:
    (project / "audited.py").write_text(AUDITED)
    (project / "rows.txt").write_text(rows)


def _audit_runs(project: Path) -> int:
    runs = project / "audit-runs.txt"
    return len(runs.read_text()) if runs.exists() else 0


def test_deps_order_version_and_cut_off_through_the_cli(invoke: Invoke, project: Path) -> None:
    _write_project(project, "a,b")
    rows = json.loads(invoke("list", "-f", "audited.py", "--json").output)
    assert [(row["asset"], row["depends_on"], row["deps"]) for row in rows] == [
        ("raw", [], []),
        ("audit", [], ["raw"]),
    ]
    assert "raw (deps)" in invoke("list", "-f", "audited.py").output

    first = invoke("materialize", "-f", "audited.py", "--json")
    assert first.exit_code == 0, first.output
    assert [item["asset"] for item in json.loads(first.output)["items"]] == ["raw", "audit"]
    assert _audit_runs(project) == 1

    # raw's stored value is gone: audit never loads it, so it runs without recovering raw
    shutil.rmtree(project / ".flowstone" / "storage" / "raw")
    forced = invoke("materialize", "-f", "audited.py", "audit", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert [item["asset"] for item in json.loads(forced.output)["items"]] == ["audit"]
    assert _audit_runs(project) == 2

    # new rows: raw is recomputed (forced, as its code did not change) with a new data version
    (project / "rows.txt").write_text("a,b,c")
    assert invoke("materialize", "-f", "audited.py", "raw", "--force").exit_code == 0
    why = " ".join(invoke("status", "-f", "audited.py", "--why").output.split())
    assert "audit: stale — upstream raw changed (data version" in why, why
    assert invoke("materialize", "-f", "audited.py").exit_code == 0
    assert _audit_runs(project) == 3

    # raw's code changes but its output does not: raw runs, audit is cut off
    source = (project / "audited.py").read_text()
    edited = source.replace("@asset\ndef raw", '@asset(code_version="2")\ndef raw')
    (project / "audited.py").write_text(edited)
    cutoff = invoke("materialize", "-f", "audited.py", "--json")
    assert cutoff.exit_code == 0, cutoff.output
    statuses = {item["asset"]: item["status"] for item in json.loads(cutoff.output)["items"]}
    assert statuses == {"raw": "success", "audit": "unchanged"}
    assert _audit_runs(project) == 3


def test_an_unknown_deps_key_exits_2_with_did_you_mean(invoke: Invoke, project: Path) -> None:
    _write_project(project, "a")
    source = (project / "audited.py").read_text()
    (project / "audited.py").write_text(source.replace("deps=[raw]", 'deps=["rw"]'))
    result = invoke("materialize", "-f", "audited.py")
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "depends on unknown asset 'rw'. Did you mean 'raw'? Fix deps=" in message, message
    assert "audited.py:" in message and "Traceback" not in message
