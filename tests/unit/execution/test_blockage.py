"""Blocked by definition: which items can never run, why, and what their dependents do."""

from __future__ import annotations

from collections.abc import Callable

from flowstone import (
    AllPartitions,
    DailyPartitions,
    DynamicPartitions,
    MaterializationStatus,
    Registry,
    RunResult,
    StaticMapping,
    StaticPartitions,
    TimeWindowMapping,
    asset,
    status,
)
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
DAYS = DailyPartitions("2024-01-01", "2024-01-11")
BLOCKED = MaterializationStatus.BLOCKED


def _define_window(*, dependent_allows_missing: bool) -> None:
    @asset(partitioned_by=DAYS)
    def raw() -> int:
        return 1

    @asset(depends_on={"week": TimeWindowMapping(raw, start_offset=-6)}, partitioned_by=DAYS)
    def weekly(week: dict[str, int]) -> int:
        return sum(week.values())

    @asset(depends_on=[weekly], partitioned_by=DAYS)
    def report(weekly: int) -> int:
        return weekly

    mapping = AllPartitions(weekly, allow_missing=dependent_allows_missing)

    @asset(depends_on={"weeks": mapping})
    def total(weeks: dict[str, int]) -> int:
        return len(weeks)


def test_dependents_of_items_blocked_by_definition_are_blocked_by_definition_too(
    run: Run, registry: Registry, store: SqlMetadataStore
) -> None:
    _define_window(dependent_allows_missing=False)
    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    assert result.success and result.failures == []
    reasons = {item.label: item.blocked_by_definition for item in result.blocked_by_definition}
    assert len(reasons) == 6 + 6 + 1
    assert reasons["weekly[2024-01-03]"] == "input raw before 2024-01-01 cannot exist"
    assert reasons["report[2024-01-03]"] == "input weekly is blocked by definition"
    assert reasons["total"] == "input weekly is blocked by definition"
    assert {item.status for item in result.blocked_by_definition} == {BLOCKED}
    verdicts = {
        item.label: item.verdict for item in status(definitions=registry, store=store).items
    }
    assert verdicts["report[2024-01-01]"].is_blocked_by_definition
    assert verdicts["report[2024-01-01]"].explain() == (
        "blocked — input weekly is blocked by definition (input raw before 2024-01-01 cannot "
        "exist); declare the dependency with allow_missing=True to run with the partitions that "
        "exist"
    )
    assert verdicts["total"].is_blocked_by_definition
    assert not verdicts["report[2024-01-07]"].is_blocked_by_definition


def test_a_dependency_that_allows_missing_partitions_runs_without_the_blocked_ones(
    run: Run, registry: Registry, store: SqlMetadataStore
) -> None:
    _define_window(dependent_allows_missing=True)
    memory = InMemoryIOManager()
    result = run(partitions="all", io_managers={"fs": memory})
    assert result.success
    assert "total" not in {item.label for item in result.blocked_by_definition}
    [total] = [item for item in result.items if item.label == "total"]
    assert total.status is MaterializationStatus.SUCCESS
    [verdict] = [i.verdict for i in status("total", definitions=registry, store=store).items]
    assert verdict.status == "fresh"


def test_a_window_past_a_fixed_end_cannot_exist_and_names_the_last_partition(run: Run) -> None:
    @asset(partitioned_by=DAYS)
    def raw() -> int:
        return 1

    @asset(depends_on={"ahead": TimeWindowMapping(raw, end_offset=1)}, partitioned_by=DAYS)
    def ahead(ahead: dict[str, int]) -> int:
        return len(ahead)

    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    assert result.success
    [(label, reason)] = [(i.label, i.blocked_by_definition) for i in result.blocked_by_definition]
    assert (label, reason) == ("ahead[2024-01-10]", "input raw after 2024-01-10 cannot exist")


def test_missing_keys_outside_a_time_range_are_named_as_such(
    run: Run, store: SqlMetadataStore
) -> None:
    store.add_dynamic_partitions("regions", ["eu", "us"])

    @asset(partitioned_by=DynamicPartitions("regions"))
    def raw() -> int:
        return 1

    @asset(
        depends_on={"raw": StaticMapping(raw, {"eu": "eu", "apac": "us"})},
        partitioned_by=StaticPartitions(["eu", "us"]),
    )
    def mapped(raw: int) -> int:
        return raw

    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    assert result.success
    [item] = result.blocked_by_definition
    assert (item.label, item.blocked_by_definition) == (
        "mapped[us]",
        "input raw[apac] cannot exist",
    )


def test_an_input_that_failed_is_a_failure_not_blocked_by_definition(run: Run) -> None:
    @asset(partitioned_by=DAYS)
    def raw() -> int:
        raise ValueError("no data")

    @asset(depends_on=[raw], partitioned_by=DAYS)
    def clean(raw: int) -> int:
        return raw

    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    assert not result.success and result.blocked_by_definition == []
    assert len(result.failures) == 20
