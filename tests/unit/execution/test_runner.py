"""The runner: readiness-driven scheduling, concurrency, failures, retries, async and lineage."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flowstone import (
    UNPARTITIONED,
    AssetContext,
    AssetKey,
    MaterializationStatus,
    Registry,
    RetryPolicy,
    RunResult,
    RunStatus,
    StaticPartitions,
    asset,
)
from flowstone.io import IOContext
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
OK = MaterializationStatus.SUCCESS


def _by_label(result: RunResult) -> dict[str, MaterializationStatus]:
    return {item.label: item.status for item in result.items}


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> bool:
    return a_start < b_end and b_start < a_end


def test_independent_assets_overlap_in_time(run: Run, store: SqlMetadataStore) -> None:
    @asset
    def left() -> int:
        time.sleep(0.3)
        return 1

    @asset
    def right() -> int:
        time.sleep(0.3)
        return 2

    result = run(concurrency=2)
    assert result.success
    records = {r.asset_key.name: r for r in store.get_run_materializations(result.run_id)}
    a, b = records["left"], records["right"]
    assert a.started_at and a.finished_at and b.started_at and b.finished_at
    assert _overlap(
        a.started_at.timestamp(),
        a.finished_at.timestamp(),
        b.started_at.timestamp(),
        b.finished_at.timestamp(),
    )


def test_concurrency_one_never_overlaps(run: Run, store: SqlMetadataStore) -> None:
    for name in ("a", "b", "c"):
        asset(key=name)(lambda: time.sleep(0.05))

    result = run(concurrency=1)
    spans = sorted(
        (r.started_at.timestamp(), r.finished_at.timestamp())  # type: ignore[union-attr]
        for r in store.get_run_materializations(result.run_id)
    )
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_items_start_when_their_inputs_are_ready_not_level_by_level(
    run: Run, store: SqlMetadataStore
) -> None:
    @asset
    def fast() -> int:
        return 1

    @asset
    def slow() -> int:
        time.sleep(0.4)
        return 2

    @asset(depends_on=[fast])
    def after_fast(fast: int) -> int:
        return fast

    result = run(concurrency=4)
    records = {r.asset_key.name: r for r in store.get_run_materializations(result.run_id)}
    assert records["after_fast"].started_at < records["slow"].finished_at  # type: ignore[operator]


def test_failure_skips_dependents_and_independent_branches_finish(
    run: Run, store: SqlMetadataStore, tmp_path: Path
) -> None:
    @asset
    def broken() -> int:
        raise ValueError("bad row 17")

    @asset(depends_on=[broken])
    def downstream(broken: int) -> int:
        return broken

    @asset(depends_on=[downstream])
    def further(downstream: int) -> int:
        return downstream

    @asset
    def independent() -> int:
        return 3

    result = run()
    assert result.status is RunStatus.FAILED
    assert _by_label(result) == {
        "broken": MaterializationStatus.FAILED,
        "downstream": MaterializationStatus.SKIPPED,
        "further": MaterializationStatus.SKIPPED,
        "independent": OK,
    }
    failed = store.get_history(AssetKey.parse("broken"))[0]
    assert failed.status is MaterializationStatus.FAILED
    assert "ValueError: bad row 17" in (failed.error or "")
    assert "upstream broken failed" in (
        store.get_history(AssetKey.parse("downstream"))[0].error or ""
    )
    storage = tmp_path / ".flowstone" / "storage"
    assert not any("broken" in str(p) for p in storage.rglob("*")), list(storage.rglob("*"))
    assert (storage / "independent").exists()


def test_retries_with_backoff_then_success(run: Run) -> None:
    calls: list[int] = []

    @asset(retries=RetryPolicy(max_retries=2, delay=0.01))
    def flaky(context: AssetContext) -> int:
        calls.append(context.attempt)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return 1

    result = run()
    assert result.success
    assert calls == [0, 1, 2]
    assert result.items[0].attempts == 3


def test_retries_exhausted_record_the_last_error(run: Run) -> None:
    @asset(retries=RetryPolicy(max_retries=1, delay=0))
    def always_broken() -> int:
        raise RuntimeError("still broken")

    result = run()
    assert result.items[0].status is MaterializationStatus.FAILED
    assert result.items[0].attempts == 2
    assert "still broken" in (result.items[0].error or "")


def test_sync_assets_run_in_threads_and_async_assets_on_the_loop(run: Run) -> None:
    seen: dict[str, bool] = {}

    @asset
    def sync_one() -> int:
        seen["sync_in_main"] = threading.current_thread() is threading.main_thread()
        return 1

    @asset(depends_on=[sync_one])
    async def async_one(sync_one: int) -> int:
        seen["async_in_main"] = threading.current_thread() is threading.main_thread()
        return sync_one + 1

    @asset(depends_on=[async_one])
    def reads_async(async_one: int) -> int:
        seen["value"] = async_one
        return async_one

    assert run().success
    assert seen == {"sync_in_main": False, "async_in_main": True, "value": 2}


def test_lineage_points_at_the_exact_upstream_materializations(
    run: Run, store: SqlMetadataStore
) -> None:
    @asset
    def source() -> int:
        return 1

    @asset(depends_on=[source])
    def derived(source: int) -> int:
        return source + 1

    first = run()
    first_source = next(i for i in first.items if i.label == "source")
    only_derived = run("derived", force=True)
    assert [i.label for i in only_derived.items] == ["derived"]
    edge = store.get_history(AssetKey.parse("derived"))[0].inputs
    assert [e.upstream_materialization_id for e in edge] == [first_source.materialization_id]

    both = run(force=True)
    new_source = next(i for i in both.items if i.label == "source")
    edges = store.get_history(AssetKey.parse("derived"))[0].inputs
    assert [e.upstream_materialization_id for e in edges] == [new_source.materialization_id]
    assert new_source.materialization_id != first_source.materialization_id


def test_missing_upstream_outside_the_selection_blocks_with_a_hint(run: Run) -> None:
    @asset
    def never_built() -> int:
        return 1

    @asset(depends_on=[never_built])
    def wants_it(never_built: int) -> int:
        return never_built

    result = run("wants_it")
    item = result.items[0]
    assert item.status is MaterializationStatus.BLOCKED
    assert "input never_built never materialized and not in this run" in (item.error or "")
    assert "'+wants_it'" in (item.error or "")


def test_context_metadata_is_recorded(run: Run, store: SqlMetadataStore) -> None:
    @asset
    def counted(context: AssetContext) -> list[int]:
        context.add_metadata(row_count=3, preview=object())
        return [1, 2, 3]

    run()
    record = store.get_history(AssetKey.parse("counted"))[0]
    assert record.metadata["row_count"] == 3
    assert record.metadata["preview"].startswith("<object object")
    assert record.uri and record.uri.endswith(".pickle")


def test_partitioned_upstream_fans_in_to_an_unpartitioned_asset(
    run: Run, registry: Registry
) -> None:
    regions = StaticPartitions(["eu", "us"])

    @asset(partitioned_by=regions)
    def sales(context: AssetContext) -> int:
        return {"eu": 10, "us": 20}[context.partition_key]

    @asset(depends_on=[sales])
    def total(sales: dict[str, int]) -> dict[str, int]:
        return sales

    memory = InMemoryIOManager()
    result = run(io_managers={"fs": memory}, partitions="all")
    assert _by_label(result) == {"sales[eu]": OK, "sales[us]": OK, "total": OK}
    stored = memory.load(IOContext(AssetKey.parse("total"), UNPARTITIONED))
    assert stored == {"eu": 10, "us": 20}
