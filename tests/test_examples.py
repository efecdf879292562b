"""The examples run on the embedded defaults and produce what their docstrings promise."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from flowstone.cli import cli
from tests.support.postgres import create_admin_engine, isolated_schema_url, postgres_base_url

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


def test_partitioned_example_backfills_two_months_by_day_region_week_and_month(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    pipeline = str(EXAMPLES / "partitioned.py")
    args = ["backfill", "-f", pipeline, "--from", "2024-01-01", "--to", "2024-02-29", "--json"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    days, regions, months = 60, 3, 2
    assert (
        report["succeeded"]
        == days * regions + days + days + months
        == report["backfill"]["item_count"]
    )

    def history(asset: str, partition: str) -> dict[str, object]:
        args = ["history", asset, "--partition", partition, "--json"]
        output = runner.invoke(cli, args, catch_exceptions=False).output
        [record] = json.loads(output)
        return dict(record)

    february = history("monthly_sales", "2024-02")
    assert february["metadata"] == {"days": 29}
    week = history("rolling_week", "2024-01-10")
    assert sorted(edge["upstream_partition_key"] for edge in week["inputs"]) == [
        f"2024-01-{day:02d}" for day in range(4, 11)
    ]
    first_day = history("rolling_week", "2024-01-01")
    assert [edge["upstream_partition_key"] for edge in first_day["inputs"]] == ["2024-01-01"]


def test_warehouse_example_puts_its_marts_and_records_in_postgresql(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "warehouse_run", EXAMPLES / "warehouse" / "run.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    base = postgres_base_url()
    admin = create_admin_engine(base)
    with isolated_schema_url(base) as (url, schema):
        marts = f"{schema}_marts"
        try:
            assert example.main(url, schema=marts, project_dir=tmp_path) == 60 * 3 + 2
            assert example.main(url, schema=marts, project_dir=tmp_path) == 0  # all fresh
            with admin.begin() as conn:
                days = conn.execute(
                    sa.text(f'SELECT count(DISTINCT _partition) FROM "{marts}".daily_revenue')
                ).scalar()
                recorded = conn.execute(
                    sa.text(f'SELECT count(*) FROM "{schema}".materializations')
                )
                assert (days, recorded.scalar()) == (60, 182)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{marts}" CASCADE'))
            admin.dispose()
