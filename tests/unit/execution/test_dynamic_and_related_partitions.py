"""Dynamic partitions discovered in a run, and requests spread over related definitions."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from flowstone import (
    AllPartitions,
    AssetContext,
    AssetKey,
    DailyPartitions,
    DynamicPartitions,
    HourlyPartitions,
    MaterializationStatus,
    MonthlyPartitions,
    MultiPartitions,
    PartitionError,
    PartitionRange,
    RunResult,
    StaticPartitions,
    add_dynamic_partitions,
    asset,
    get_dynamic_partitions,
    remove_dynamic_partitions,
)
from flowstone.io import IOContext
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
OK = MaterializationStatus.SUCCESS
SKIPPED = MaterializationStatus.SKIPPED
CUSTOMERS = DynamicPartitions("customers")


def _statuses(result: RunResult) -> dict[str, MaterializationStatus]:
    return {item.label: item.status for item in result.items}


def _customer_pipeline(names: list[str], *, fail: bool = False) -> None:
    @asset
    def customer_list(context: AssetContext) -> list[str]:
        if fail:
            raise RuntimeError("the customer system is down")
        context.add_partitions(CUSTOMERS, names)
        return names

    @asset(depends_on=[customer_list], partitioned_by=CUSTOMERS)
    def per_customer(context: AssetContext, customer_list: list[str]) -> str:
        return context.partition_key.upper()

    @asset(depends_on={"by_customer": AllPartitions(per_customer)})
    def summary(by_customer: dict[str, str]) -> list[str]:
        return sorted(by_customer.values())

    @asset(depends_on=[summary])
    def final(summary: list[str]) -> list[str]:
        return summary


def test_assets_downstream_of_a_dynamic_asset_wait_for_it_in_the_same_run(
    run: Run, store: SqlMetadataStore
) -> None:
    memory = InMemoryIOManager()
    _customer_pipeline(["acme"])
    first = run(partitions="all", io_managers={"fs": memory})
    assert _statuses(first) == {
        "customer_list": OK,
        "per_customer[acme]": OK,
        "summary": OK,
        "final": OK,
    }
    assert memory.load(IOContext(AssetKey.parse("final"), "__unpartitioned__")) == ["ACME"]
    final = store.get_history(AssetKey.parse("final"))[0]
    summary = store.get_history(AssetKey.parse("summary"))[0]
    assert [edge.upstream_materialization_id for edge in final.inputs] == [
        summary.materialization_id
    ]


def test_an_explicit_dynamic_key_is_planned_when_the_asset_waits(
    run: Run, store: SqlMetadataStore
) -> None:
    store.add_dynamic_partitions("customers", ["acme", "globex"])
    _customer_pipeline(["acme", "globex"])
    result = run(partitions=["globex"], io_managers={"fs": InMemoryIOManager()})
    assert _statuses(result) == {
        "customer_list": OK,
        "per_customer[globex]": OK,
        "summary": MaterializationStatus.BLOCKED,  # per_customer[acme] was never materialized
        "final": SKIPPED,
    }


def test_a_failed_upstream_skips_the_assets_waiting_for_dynamic_keys(run: Run) -> None:
    _customer_pipeline([], fail=True)
    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    statuses = _statuses(result)
    assert statuses == {
        "customer_list": MaterializationStatus.FAILED,
        "summary": SKIPPED,
        "final": SKIPPED,
    }
    summary = next(item for item in result.items if item.label == "summary")
    assert summary.error is not None and "customer_list" in summary.error


def test_a_month_selects_the_days_and_regions_upstream_of_it(run: Run) -> None:
    days = DailyPartitions("2024-01-01", "2024-03-01")
    regions = StaticPartitions(["eu", "us"])

    @asset(partitioned_by=MultiPartitions({"date": days, "region": regions}))
    def raw(context: AssetContext) -> int:
        return 1

    @asset(depends_on=[raw], partitioned_by=days)
    def daily(raw: dict[str, int]) -> int:
        return sum(raw.values())

    @asset(depends_on=[daily], partitioned_by=MonthlyPartitions("2024-01-01", "2024-03-01"))
    def monthly(daily: dict[str, int]) -> int:
        return sum(daily.values())

    memory = InMemoryIOManager()
    result = run(
        "*monthly", partitions=PartitionRange("2024-02", "2024-02"), io_managers={"fs": memory}
    )
    assert result.success
    counts = {
        name: sum(1 for i in result.items if i.asset_key.name == name)
        for name in ("raw", "daily", "monthly")
    }
    assert counts == {"raw": 29 * 2, "daily": 29, "monthly": 1}
    assert memory.load(IOContext(AssetKey.parse("monthly"), "2024-02")) == 29 * 2


def test_a_day_relates_to_its_hours_and_back(run: Run) -> None:
    hours = HourlyPartitions("2015-01-01-00:00", "2025-01-01-00:00", timezone="Europe/Berlin")
    days = DailyPartitions("2015-01-01", "2025-01-01", timezone="Europe/Berlin")

    @asset(partitioned_by=hours)
    def readings() -> int:
        return 1

    @asset(depends_on=[readings], partitioned_by=days)
    def daily(readings: dict[str, int]) -> int:
        return len(readings)

    @asset(depends_on=[daily], partitioned_by=hours)
    def hourly_view(daily: int) -> int:
        return daily

    memory = InMemoryIOManager()
    result = run(partitions=["2024-10-27"], io_managers={"fs": memory})
    assert result.success, result.failures[:1]
    labels = _statuses(result)
    assert sum(1 for label in labels if label.startswith("readings[")) == 24  # 02:00 is 2 hours
    assert sum(1 for label in labels if label.startswith("hourly_view[")) == 24
    assert memory.load(IOContext(AssetKey.parse("daily"), "2024-10-27")) == 24


def test_a_request_no_selected_asset_relates_to_is_refused(
    run: Run, store: SqlMetadataStore
) -> None:
    @asset(partitioned_by=DailyPartitions("2024-01-01", "2024-02-01"))
    def days() -> int:
        return 1

    @asset(partitioned_by=StaticPartitions(["eu", "us"]))
    def regions() -> int:
        return 1

    with pytest.raises(PartitionError, match="do not apply to asset 'regions'"):
        run(partitions=["2024-01-05"])
    assert store.list_runs() == []


def test_dynamic_partitions_are_managed_from_python(store: SqlMetadataStore) -> None:
    assert add_dynamic_partitions(CUSTOMERS, ["acme", "globex", "acme"], store=store) == [
        "acme",
        "globex",
    ]
    assert add_dynamic_partitions("customers", ["globex", "initech"], store=store) == ["initech"]
    assert remove_dynamic_partitions(CUSTOMERS, ["globex", "nobody"], store=store) == ["globex"]
    assert get_dynamic_partitions("customers", store=store) == ("acme", "initech")
    with pytest.raises(PartitionError, match=re.escape("'a|b'")):
        add_dynamic_partitions(CUSTOMERS, ["fine", "a|b"], store=store)
    with pytest.raises(PartitionError, match="name 'no spaces'"):
        add_dynamic_partitions("no spaces", ["x"], store=store)
    assert get_dynamic_partitions(CUSTOMERS, store=store) == ("acme", "initech")


def test_an_asset_adding_an_invalid_key_fails_and_adds_nothing(
    run: Run, store: SqlMetadataStore
) -> None:
    @asset
    def bad_keys(context: AssetContext) -> None:
        context.add_partitions(CUSTOMERS, ["ok", "date=2024-01-01"])

    result = run(io_managers={"fs": InMemoryIOManager()})
    assert result.items[0].status is MaterializationStatus.FAILED
    assert "date=2024-01-01" in (result.items[0].error or "")
    assert get_dynamic_partitions(CUSTOMERS, store=store) == ()


def test_a_second_run_of_a_dynamic_pipeline_runs_nothing_and_finds_it_fresh(run: Run) -> None:
    memory = InMemoryIOManager()
    _customer_pipeline(["acme", "globex"])
    assert run(partitions="all", io_managers={"fs": memory}).success
    again = run(partitions="all", io_managers={"fs": memory})
    assert again.success and again.items == ()
    assert len(again.fresh) == 1 + 2 + 1 + 1
