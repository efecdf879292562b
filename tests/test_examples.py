"""The examples run on the embedded defaults and produce what their docstrings promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowstone.cli import cli

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_quickstart_materializes_every_asset_and_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["materialize", "-f", str(EXAMPLES / "quickstart.py"), "--json"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)["items"]
    assert len(items) >= 6
    assert {item["status"] for item in items} == {"success"}

    history = runner.invoke(cli, ["history", "daily_report", "--json"], catch_exceptions=False)
    [report] = json.loads(history.output)
    assert report["metadata"]["total_revenue_eur"] > 0
    assert {edge["upstream_asset_key"] for edge in report["inputs"]} == {
        "revenue_by_country",
        "revenue_by_product",
        "top_customers",
    }
