"""Stored values that disappeared: recorded lost, computed again in the same run, then read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from flowstone import (
    UNPARTITIONED,
    AssetContext,
    AssetKey,
    DailyPartitions,
    MaterializationStatus,
    Registry,
    RunResult,
    asset,
    status,
)
from flowstone.storage.sql import SqlMetadataStore
from flowstone.versioning import CauseKind, Freshness
from io_managers.postgres_layout import compute_table_name
from tests.contract.postgres_case import open_postgres_manager
from tests.support.postgres import create_admin_engine, postgres_base_url

Run = Callable[..., RunResult]
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
LOST_DAY = "2024-01-02"


@pytest.fixture
def calls(registry: Registry) -> Counter[str]:
    """``raw -> clean`` by day; counts each computation as ``asset[partition]``."""
    counted: Counter[str] = Counter()
    daily = DailyPartitions(DAYS[0], "2024-01-04")  # the end is exclusive

    @asset(partitioned_by=daily)
    def raw(context: AssetContext) -> int:
        counted[f"raw[{context.partition_key}]"] += 1
        return int(context.partition_key[-2:])

    @asset(depends_on=[raw], partitioned_by=daily)
    def clean(context: AssetContext, raw: int) -> int:
        counted[f"clean[{context.partition_key}]"] += 1
        return raw * 10

    return counted


def _delete_stored_value(store: SqlMetadataStore, asset_name: str, partition: str) -> None:
    [record] = store.get_history(AssetKey.parse(asset_name), partition, limit=1)
    assert record.uri is not None and record.uri.startswith("file://")
    Path(urlparse(record.uri).path).unlink()


def _history(store: SqlMetadataStore, asset_name: str, partition: str) -> list[str]:
    return [r.status.value for r in store.get_history(AssetKey.parse(asset_name), partition)]


@pytest.mark.parametrize("selection", ["*clean", None, ["raw", "clean"]])
def test_a_deleted_upstream_file_is_recovered_in_the_same_run(
    run: Run,
    store: SqlMetadataStore,
    calls: Counter[str],
    *,
    registry: Registry,
    tmp_path: Path,
    selection: str | list[str] | None,
) -> None:
    assert run("raw", partitions="all").success
    _delete_stored_value(store, "raw", LOST_DAY)
    calls.clear()

    result = run(selection, partitions="all")

    assert result.success, result.failures
    assert calls == Counter({f"raw[{LOST_DAY}]": 1, **{f"clean[{day}]": 1 for day in DAYS}})
    [recovered] = result.recovered
    assert (recovered.asset_key, recovered.partition_key) == (AssetKey.parse("raw"), LOST_DAY)
    assert "does not exist" in recovered.reason
    labels = [item.label for item in result.items]
    assert labels.index(f"raw[{LOST_DAY}]") < labels.index(f"clean[{LOST_DAY}]")
    assert (AssetKey.parse("raw"), LOST_DAY) not in result.fresh
    assert _history(store, "raw", LOST_DAY) == ["success", "lost", "success"]
    [lost] = store.get_history(AssetKey.parse("raw"), LOST_DAY, limit=3)[1:2]
    assert lost.error is not None and lost.error.startswith("stored value missing")
    report = status(definitions=registry, store=store, project_dir=tmp_path)
    assert report.all_fresh


def test_a_lost_input_outside_the_selection_fails_its_reader_saying_what_to_select(
    run: Run, store: SqlMetadataStore, calls: Counter[str], registry: Registry, tmp_path: Path
) -> None:
    assert run("raw", partitions="all").success
    _delete_stored_value(store, "raw", LOST_DAY)
    calls.clear()

    result = run("clean", partitions="all")

    assert not result.success
    [failed] = result.failures
    assert failed.label == f"clean[{LOST_DAY}]"
    assert failed.error is not None
    assert f"raw[{LOST_DAY}]" in failed.error and "'+clean'" in failed.error
    assert calls == Counter({"clean[2024-01-01]": 1, "clean[2024-01-03]": 1})
    assert _history(store, "raw", LOST_DAY) == ["lost", "success"]
    report = status(definitions=registry, store=store, project_dir=tmp_path)
    verdicts = {item.label: item.verdict for item in report.items}
    assert verdicts[f"raw[{LOST_DAY}]"].status is Freshness.MISSING
    assert verdicts[f"raw[{LOST_DAY}]"].causes[0].kind is CauseKind.LOST

    calls.clear()
    again = run("+clean", partitions="all")
    assert again.success, again.failures
    assert calls == Counter({f"raw[{LOST_DAY}]": 1, f"clean[{LOST_DAY}]": 1})
    assert status(definitions=registry, store=store, project_dir=tmp_path).all_fresh


def test_an_input_read_in_a_chain_and_an_async_reader_are_recovered(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    counted: Counter[str] = Counter()

    @asset
    def side() -> int:
        counted["side"] += 1
        return 5

    @asset
    def first() -> int:
        counted["first"] += 1
        return 1

    @asset(depends_on=[first, side])  # chained after first; side is read from the store
    def second(first: int, side: int) -> int:
        counted["second"] += 1
        return first + side

    @asset(depends_on=[side])
    async def later(side: int) -> int:
        counted["later"] += 1
        return side * 2

    assert run("side").success
    _delete_stored_value(store, "side", UNPARTITIONED)
    counted.clear()

    result = run()

    assert result.success, result.failures
    assert counted == Counter(side=1, first=1, second=1, later=1)
    assert [item.label for item in result.recovered] == ["side"]
    assert _history(store, "side", UNPARTITIONED) == ["success", "lost", "success"]


def test_a_value_lost_again_after_this_run_stored_it_fails_clearly(
    run: Run, store: SqlMetadataStore, registry: Registry, tmp_path: Path
) -> None:
    root = tmp_path / ".flowstone" / "storage" / "vanishing"

    @asset
    def vanishing() -> int:
        return 1

    @asset(depends_on=[vanishing])
    def deleter(vanishing: int) -> int:
        for path in root.iterdir():  # something outside flowstone keeps deleting the value
            path.unlink()
        return vanishing

    @asset(depends_on=[vanishing, deleter])
    def reader(vanishing: int, deleter: int) -> int:
        return vanishing + deleter

    result = run()

    statuses = {item.label: item.status for item in result.items}
    assert statuses == {
        "vanishing": MaterializationStatus.SUCCESS,
        "deleter": MaterializationStatus.SUCCESS,
        "reader": MaterializationStatus.FAILED,
    }
    [failed] = result.failures
    assert failed.error is not None and "stored by this run" in failed.error


@pytest.mark.postgres
def test_a_dropped_postgres_table_is_recovered_in_the_same_run(
    run: Run, store: SqlMetadataStore, registry: Registry, tmp_path: Path
) -> None:
    counted: Counter[str] = Counter()
    daily = DailyPartitions(DAYS[0], "2024-01-04")

    @asset(partitioned_by=daily, io_manager="postgres")
    def orders(context: AssetContext) -> list[dict[str, int]]:
        counted[f"orders[{context.partition_key}]"] += 1
        return [{"day": int(context.partition_key[-2:]), "amount": 3}]

    @asset(depends_on=[orders], partitioned_by=daily)
    def revenue(orders: list[dict[str, int]]) -> int:
        counted["revenue"] += 1
        return sum(row["amount"] for row in orders)

    with open_postgres_manager() as manager:
        managers = {"postgres": manager}
        assert run("orders", partitions="all", io_managers=managers).success
        engine = create_admin_engine(postgres_base_url())
        try:
            with engine.begin() as conn:
                table = compute_table_name(AssetKey.parse("orders"))
                conn.execute(sa.text(f'DROP TABLE "{manager._schema}"."{table}"'))
        finally:
            engine.dispose()
        counted.clear()

        result = run("*revenue", partitions="all", io_managers=managers)

        assert result.success, result.failures
        assert counted == Counter({f"orders[{day}]": 1 for day in DAYS}, revenue=3)
        assert sorted(item.partition_key for item in result.recovered) == DAYS
        assert all("was dropped" in item.reason for item in result.recovered)
        assert _history(store, "orders", LOST_DAY) == ["success", "lost", "success"]
        report = status(definitions=registry, store=store, project_dir=tmp_path)
        assert report.all_fresh
