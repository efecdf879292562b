"""Backfills: persisted item sets, policies, and resuming exactly the unfinished items."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstone import (
    AssetContext,
    BackfillError,
    BackfillStatus,
    DailyPartitions,
    DynamicPartitions,
    FlowstoneError,
    MaterializationStatus,
    PartitionRange,
    Registry,
    TimeWindowMapping,
    asset,
    backfill,
    materialize,
    resume_backfill,
)
from flowstone.execution import BackfillPolicy
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

DAILY = DailyPartitions("2024-01-01", "2024-01-11")


@pytest.fixture
def memory() -> InMemoryIOManager:
    return InMemoryIOManager()


def _pipeline(broken_days: set[str], calls: list[str]) -> None:
    @asset(partitioned_by=DAILY)
    def raw(context: AssetContext) -> int:
        calls.append(f"raw[{context.partition_key}]")
        if context.partition_key in broken_days:
            raise RuntimeError(f"no data for {context.partition_key}")
        return 1

    @asset(depends_on={"days": TimeWindowMapping(raw, start_offset=-1, allow_missing=True)},
           partitioned_by=DAILY)  # fmt: skip
    def pairs(context: AssetContext, days: dict[str, int]) -> int:
        calls.append(f"pairs[{context.partition_key}]")
        return sum(days.values())


def test_a_backfill_is_recorded_and_resume_runs_exactly_the_unfinished_items(
    registry: Registry, store: SqlMetadataStore, memory: InMemoryIOManager, tmp_path: Path
) -> None:
    broken = {"2024-01-04"}
    calls: list[str] = []
    _pipeline(broken, calls)
    options = {"definitions": registry, "store": store, "io_managers": {"fs": memory}}
    first = backfill(partitions="all", project_dir=tmp_path, **options)
    assert first.backfill.status is BackfillStatus.FAILED
    assert (first.backfill.item_count, first.succeeded, first.failed) == (20, 17, 1)
    assert first.remaining == 3  # raw[01-04] failed; pairs[01-04] and pairs[01-05] skipped
    outcomes = store.get_backfill_outcomes(first.backfill_id)
    assert outcomes[(next(iter(registry.definitions())).key, "2024-01-04")] is (
        MaterializationStatus.FAILED
    )

    broken.clear()
    calls.clear()
    second = resume_backfill(first.backfill_id, project_dir=tmp_path, **options)
    assert sorted(calls) == ["pairs[2024-01-04]", "pairs[2024-01-05]", "raw[2024-01-04]"]
    assert second.success and second.remaining == 0
    assert second.backfill.status is BackfillStatus.SUCCESS
    assert len(second.backfill.run_ids) == 2

    calls.clear()
    third = resume_backfill(first.backfill_id, project_dir=tmp_path, **options)
    assert calls == [] and third.run is None and third.success


def test_the_missing_policy_skips_what_exists_and_all_redoes_it(
    registry: Registry, store: SqlMetadataStore, memory: InMemoryIOManager, tmp_path: Path
) -> None:
    calls: list[str] = []
    _pipeline(set(), calls)
    options = {"definitions": registry, "store": store, "io_managers": {"fs": memory}}
    backfill("raw", partitions=PartitionRange("2024-01-01", "2024-01-03"), project_dir=tmp_path,
             **options)  # fmt: skip
    calls.clear()
    result = backfill(partitions="all", policy="missing", project_dir=tmp_path, **options)
    assert result.backfill.item_count == 20 - 3 and result.success
    done_before = {f"raw[2024-01-0{day}]" for day in (1, 2, 3)}
    assert len(calls) == 17 and not done_before.intersection(calls)
    calls.clear()
    again = backfill(partitions="all", policy="all", project_dir=tmp_path, **options)
    assert again.backfill.item_count == 20 and len(calls) == 20
    assert backfill(partitions="all", policy="failed", project_dir=tmp_path,
                    **options).backfill.item_count == 0  # fmt: skip


def _pipeline_failing_while(flag: Path, calls: list[str]) -> None:
    """``raw`` fails on 2024-01-04 while ``flag`` exists; fixed code versions, since the
    closures' values (the calls so far) would otherwise count as changed code."""

    @asset(partitioned_by=DAILY, code_version="1")
    def raw(context: AssetContext) -> int:
        calls.append(f"raw[{context.partition_key}]")
        if context.partition_key == "2024-01-04" and flag.exists():
            raise RuntimeError(f"no data for {context.partition_key}")
        return 1

    @asset(depends_on={"days": TimeWindowMapping(raw, start_offset=-1, allow_missing=True)},
           partitioned_by=DAILY, code_version="1")  # fmt: skip
    def pairs(context: AssetContext, days: dict[str, int]) -> int:
        calls.append(f"pairs[{context.partition_key}]")
        return sum(days.values())


@pytest.mark.parametrize("policy", ["missing", "failed", "stale", "all"])
def test_a_resume_never_recomputes_items_another_run_stored_fresh(
    registry: Registry,
    store: SqlMetadataStore,
    memory: InMemoryIOManager,
    tmp_path: Path,
    policy: BackfillPolicy,
) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    calls: list[str] = []
    _pipeline_failing_while(flag, calls)
    options = {"definitions": registry, "store": store, "io_managers": {"fs": memory}}
    assert not materialize(partitions="all", project_dir=tmp_path, **options).success
    first = backfill(partitions="all", policy=policy, project_dir=tmp_path, **options)
    assert not first.success and first.remaining == 3  # raw[01-04] failed again, 2 skipped
    flag.unlink()
    materialize(partitions=PartitionRange("2024-01-04", "2024-01-05"), project_dir=tmp_path,
                **options)  # fmt: skip
    calls.clear()
    resumed = resume_backfill(first.backfill_id, project_dir=tmp_path, **options)
    assert calls == []
    assert resumed.success and resumed.remaining == 0
    assert resumed.succeeded == resumed.backfill.item_count
    assert resumed.backfill.status is BackfillStatus.SUCCESS


def test_unknown_backfills_and_policies_are_clear_errors(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    _pipeline(set(), [])
    with pytest.raises(BackfillError, match="no backfill 'nope'"):
        resume_backfill("nope", definitions=registry, store=store, project_dir=tmp_path)
    with pytest.raises(BackfillError, match="policy 'sometimes'"):
        backfill(policy="sometimes", definitions=registry, store=store,  # type: ignore[arg-type]
                 project_dir=tmp_path)  # fmt: skip
    assert store.list_backfills() == [] and store.list_runs() == []


def test_the_failed_policy_also_redoes_what_the_failure_skipped(
    registry: Registry, store: SqlMetadataStore, memory: InMemoryIOManager, tmp_path: Path
) -> None:
    broken = {"2024-01-04"}
    calls: list[str] = []
    _pipeline(broken, calls)
    options = {"definitions": registry, "store": store, "io_managers": {"fs": memory}}
    assert not backfill(partitions="all", project_dir=tmp_path, **options).success
    broken.clear()
    calls.clear()
    retry = backfill(partitions="all", policy="failed", project_dir=tmp_path, **options)
    assert retry.success and retry.backfill.item_count == 3
    assert sorted(calls) == ["pairs[2024-01-04]", "pairs[2024-01-05]", "raw[2024-01-04]"]


def test_items_whose_inputs_cannot_exist_are_reported_but_do_not_keep_a_backfill_open(
    registry: Registry, store: SqlMetadataStore, memory: InMemoryIOManager, tmp_path: Path
) -> None:
    @asset(partitioned_by=DAILY)
    def raw() -> int:
        return 1

    @asset(depends_on={"week": TimeWindowMapping(raw, start_offset=-6)}, partitioned_by=DAILY)
    def weekly(week: dict[str, int]) -> int:
        return sum(week.values())

    options = {"definitions": registry, "store": store, "io_managers": {"fs": memory}}
    result = backfill(partitions="all", project_dir=tmp_path, **options)
    assert result.run is not None
    blocked = [i.label for i in result.run.items if i.status is MaterializationStatus.BLOCKED]
    assert blocked == [f"weekly[2024-01-0{day}]" for day in range(1, 7)]
    assert result.success and result.backfill.item_count == 20 - 6 and result.remaining == 0


def test_a_bad_io_manager_fails_before_a_backfill_is_recorded(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    @asset(partitioned_by=DAILY, io_manager="no-such-manager")
    def raw() -> int:
        return 1

    with pytest.raises(FlowstoneError, match="no-such-manager"):
        backfill(definitions=registry, store=store, project_dir=tmp_path)
    assert store.list_backfills() == [] and store.list_runs() == []


def test_resume_refuses_partitions_that_no_longer_exist(
    registry: Registry, store: SqlMetadataStore, memory: InMemoryIOManager, tmp_path: Path
) -> None:
    customers = DynamicPartitions("customers")
    store.add_dynamic_partitions("customers", ["acme", "globex"])
    failing = {"globex"}

    @asset(partitioned_by=customers)
    def report(context: AssetContext) -> str:
        if context.partition_key in failing:
            raise RuntimeError("not yet")
        return context.partition_key

    options = {"definitions": registry, "store": store, "io_managers": {"fs": memory}}
    first = backfill(project_dir=tmp_path, **options)
    assert first.remaining == 1
    store.remove_dynamic_partitions("customers", ["globex"])
    with pytest.raises(BackfillError, match=r"report\[globex\]"):
        resume_backfill(first.backfill_id, project_dir=tmp_path, **options)
