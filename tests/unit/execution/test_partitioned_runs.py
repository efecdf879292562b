"""Partitioned runs end to end: mappings, windows, roll-ups, dynamic keys and bad requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from flowstone import (
    AllPartitions,
    AssetContext,
    AssetKey,
    DailyPartitions,
    DynamicPartitions,
    MaterializationStatus,
    MonthlyPartitions,
    MultiPartitions,
    PartitionError,
    PartitionRange,
    Registry,
    RunResult,
    StaticPartitions,
    TimeWindowMapping,
    asset,
)
from flowstone.io import IOContext
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
OK = MaterializationStatus.SUCCESS
DAILY = DailyPartitions("2024-01-01", "2025-01-01")


def _statuses(result: RunResult) -> dict[str, MaterializationStatus]:
    return {item.label: item.status for item in result.items}


def _day(offset: int) -> str:
    return (date(2024, 1, 1) + timedelta(days=offset)).isoformat()


def _define_window_pipeline(*, allow_missing: bool) -> None:
    @asset(partitioned_by=DAILY)
    def orders(context: AssetContext) -> int:
        start, end = context.partition_time_window
        assert end - start == timedelta(days=1)
        return start.day

    window = TimeWindowMapping(orders, start_offset=-6, allow_missing=allow_missing)

    @asset(depends_on={"week": window}, partitioned_by=DAILY)
    def weekly(week: dict[str, int]) -> int:
        return sum(week.values())


def test_a_year_of_two_daily_assets_with_a_7_day_window_blocks_the_first_6_days(
    run: Run, store: SqlMetadataStore
) -> None:
    _define_window_pipeline(allow_missing=False)
    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    statuses = _statuses(result)
    assert len(statuses) == 2 * 366  # 2024 is a leap year
    blocked = [label for label, status in statuses.items() if status is not OK]
    assert blocked == [f"weekly[{_day(i)}]" for i in range(6)]
    assert {statuses[label] for label in blocked} == {MaterializationStatus.BLOCKED}
    first = next(item for item in result.items if item.label == "weekly[2024-01-01]")
    assert first.error and "cannot exist" in first.error and "allow_missing" in first.error
    record = store.get_history(AssetKey.parse("weekly"), _day(30))[0]
    read = sorted(edge.upstream_partition_key for edge in record.inputs)
    assert read == [_day(i) for i in range(24, 31)]
    orders_ids = {
        r.partition_key: r.materialization_id
        for r in store.get_run_materializations(result.run_id)
        if r.asset_key.name == "orders"
    }
    assert {e.upstream_materialization_id for e in record.inputs} == {
        orders_ids[_day(i)] for i in range(24, 31)
    }


def test_allow_missing_runs_the_first_days_with_what_exists(run: Run) -> None:
    _define_window_pipeline(allow_missing=True)
    memory = InMemoryIOManager()
    result = run(partitions="all", io_managers={"fs": memory})
    assert result.success and len(result.items) == 2 * 366
    first = memory.load(IOContext(AssetKey.parse("weekly"), "2024-01-01"))
    third = memory.load(IOContext(AssetKey.parse("weekly"), "2024-01-03"))
    assert (first, third) == (1, 1 + 2 + 3)


def test_a_monthly_roll_up_reads_the_days_of_its_month(run: Run) -> None:
    @asset(partitioned_by=DAILY)
    def sales(context: AssetContext) -> int:
        return int(context.partition_key[-2:])

    @asset(depends_on=[sales], partitioned_by=MonthlyPartitions("2024-01-01", "2025-01-01"))
    def monthly(sales: dict[str, int]) -> tuple[int, int]:
        return len(sales), sum(sales.values())

    memory = InMemoryIOManager()
    result = run(partitions=PartitionRange("2024-02-01", "2024-02-29"), io_managers={"fs": memory})
    assert result.success
    assert _statuses(result)["monthly[2024-02]"] is OK
    assert len(result.items) == 29 + 1
    assert memory.load(IOContext(AssetKey.parse("monthly"), "2024-02")) == (29, 29 * 30 // 2)


def test_a_multi_partitioned_asset_sees_each_dimension(run: Run) -> None:
    regions = StaticPartitions(["eu", "us"])
    both = MultiPartitions({"region": regions, "date": DailyPartitions("2024-01-01", "2024-01-03")})
    seen: list[dict[str, str]] = []

    @asset(partitioned_by=both)
    def sales(context: AssetContext) -> str:
        seen.append(dict(context.partition_keys))
        return context.partition_key

    @asset(depends_on={"by_key": AllPartitions(sales)})
    def everything(by_key: dict[str, str]) -> list[str]:
        return list(by_key)

    memory = InMemoryIOManager()
    assert run(partitions="all", io_managers={"fs": memory}).success
    assert sorted(s["region"] for s in seen) == ["eu", "eu", "us", "us"]
    stored = memory.load(IOContext(AssetKey.parse("everything"), "__unpartitioned__"))
    assert stored == [
        "date=2024-01-01|region=eu",
        "date=2024-01-01|region=us",
        "date=2024-01-02|region=eu",
        "date=2024-01-02|region=us",
    ]


def test_dynamic_partitions_added_by_an_asset_run_downstream_in_the_same_run(
    run: Run, store: SqlMetadataStore
) -> None:
    customers = DynamicPartitions("customers")

    @asset
    def customer_list(context: AssetContext) -> list[str]:
        names = ["acme", "globex", "initech"]
        context.add_partitions(customers, names)
        return names

    @asset(depends_on=[customer_list], partitioned_by=customers)
    def report(context: AssetContext, customer_list: list[str]) -> str:
        assert context.partition_key in customer_list
        return context.partition_key.upper()

    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    assert _statuses(result) == {
        "customer_list": OK,
        "report[acme]": OK,
        "report[globex]": OK,
        "report[initech]": OK,
    }
    assert store.get_dynamic_partitions(["customers"]) == {
        "customers": ("acme", "globex", "initech")
    }


def test_a_failed_asset_adds_no_dynamic_partitions(run: Run, store: SqlMetadataStore) -> None:
    @asset
    def broken(context: AssetContext) -> None:
        context.add_partitions("customers", ["acme"])
        raise RuntimeError("boom")

    assert not run(io_managers={"fs": InMemoryIOManager()}).success
    assert store.get_dynamic_partitions(["customers"]) == {"customers": ()}


@pytest.mark.parametrize(
    ("partitions", "message"),
    [
        (["2023-12-31"], "2023-12-31"),
        (["2024-13-01"], "2024-13-01"),
        (PartitionRange("2024-02-01", "2024-01-01"), "2024-02-01"),
        (None, "no partitions were given"),
    ],
)
def test_bad_partition_requests_raise_and_write_nothing(
    run: Run, store: SqlMetadataStore, partitions: object, message: str
) -> None:
    @asset(partitioned_by=DAILY)
    def orders() -> int:
        return 1

    with pytest.raises(PartitionError, match=message):
        run(partitions=partitions)
    assert store.list_runs() == []


def test_keys_for_unpartitioned_assets_and_missing_dimensions_are_rejected(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    @asset
    def plain() -> int:
        return 1

    @asset(partitioned_by=MultiPartitions({"region": StaticPartitions(["eu"]), "date": DAILY}))
    def sales() -> int:
        return 1

    with pytest.raises(PartitionError, match="no selected asset is partitioned"):
        run("plain", partitions=["2024-01-01"])
    with pytest.raises(PartitionError, match="region"):
        run("sales", partitions=["date=2024-01-01"])
    assert store.list_runs() == []
