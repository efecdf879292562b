"""The runner under failure: a failing store, cancellation mid-save, bad plugins, limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from flowstone import (
    AssetKey,
    IOContext,
    MaterializationStatus,
    Registry,
    RetryPolicy,
    RunResult,
    RunStatus,
    StorageError,
    asset,
    materialize,
    materialize_async,
)
from flowstone.execution import runner as runner_module
from flowstone.storage import MaterializationRecord
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]


class FlakyStore:
    """A store whose first ``failures`` batch writes fail, as a locked or unreachable one would."""

    def __init__(self, inner: SqlMetadataStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def add_materializations(
        self, records: list[MaterializationRecord]
    ) -> list[MaterializationRecord]:
        if self.failures:
            self.failures -= 1
            raise StorageError("the metadata store is locked")
        return self.inner.add_materializations(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _two_assets(registry: Registry) -> None:
    with registry:

        @asset
        def first() -> int:
            return 1

        @asset(depends_on=[first])
        def second(first: int) -> int:
            return first + 1


def test_a_store_that_fails_once_loses_nothing(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    _two_assets(registry)
    flaky = FlakyStore(store, failures=1)
    result = materialize(definitions=registry, store=flaky, project_dir=tmp_path)  # type: ignore[arg-type]
    assert result.success
    assert len(store.get_run_materializations(result.run_id)) == 2
    assert store.get_run(result.run_id).status is RunStatus.SUCCESS  # type: ignore[union-attr]


def test_a_store_that_keeps_failing_raises_storage_error_not_a_group(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    _two_assets(registry)
    flaky = FlakyStore(store, failures=100)
    with pytest.raises(StorageError, match="locked"):
        materialize(definitions=registry, store=flaky, project_dir=tmp_path)  # type: ignore[arg-type]
    [run] = store.list_runs()
    assert run.status is RunStatus.FAILED


class BlockingSaveManager(InMemoryIOManager):
    """Saves block until released, so a test can cancel a run in the middle of a save."""

    def __init__(self) -> None:
        super().__init__()
        self.saving = threading.Event()
        self.release = threading.Event()

    def save(self, ctx: IOContext, value: Any) -> Mapping[str, Any]:
        if ctx.asset_key.name == "saved_during_cancel":
            self.saving.set()
            self.release.wait(10)
        return super().save(ctx, value)


@pytest.mark.anyio
async def test_cancel_finishes_and_records_a_save_under_way(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    computing = threading.Event()
    manager = BlockingSaveManager()

    @asset
    def saved_during_cancel() -> int:
        return 1

    @asset
    def computing_during_cancel() -> int:
        computing.set()
        time.sleep(0.5)
        return 2

    async def run() -> None:
        await materialize_async(
            definitions=registry, store=store, project_dir=tmp_path, io_managers={"fs": manager}
        )

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await anyio.to_thread.run_sync(manager.saving.wait, 10)
        await anyio.to_thread.run_sync(computing.wait, 10)
        threading.Timer(0.2, manager.release.set).start()
        group.cancel_scope.cancel()

    [run_record] = store.list_runs()
    assert run_record.status is RunStatus.CANCELLED
    statuses = {
        r.asset_key.name: r.status for r in store.get_run_materializations(run_record.run_id)
    }
    assert statuses == {
        "saved_during_cancel": MaterializationStatus.SUCCESS,
        "computing_during_cancel": MaterializationStatus.CANCELLED,
    }
    time.sleep(0.6)  # the abandoned function returns now; its value must not be saved
    assert not manager.exists(
        IOContext(AssetKey.parse("computing_during_cancel"), "__unpartitioned__")
    )
    assert manager.exists(IOContext(AssetKey.parse("saved_during_cancel"), "__unpartitioned__"))


def _peak_concurrency(
    registry: Registry, count: int, seconds: float, limit: int
) -> Callable[[], int]:
    """``count`` sleepers; the first ``limit`` wait for each other, so the peak never depends on
    how fast a loaded machine starts threads."""
    lock = threading.Lock()
    running = [0, 0]  # current, peak
    limit_reached = threading.Event()

    def work() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            if running[0] >= limit:
                limit_reached.set()
        limit_reached.wait(timeout=10)
        time.sleep(seconds)
        with lock:
            running[0] -= 1

    with registry:
        for index in range(count):
            asset(key=f"sleeper_{index}")(work)
    return lambda: running[1]


@pytest.mark.parametrize(("count", "concurrency"), [(6, 2), (50, 50)])
def test_concurrency_is_the_exact_limit(
    run: Run, registry: Registry, count: int, concurrency: int
) -> None:
    peak = _peak_concurrency(registry, count, 0.1, concurrency)
    assert run(concurrency=concurrency, io_managers={"fs": InMemoryIOManager()}).success
    assert peak() == concurrency


def test_an_upstream_bound_to_two_parameters_is_read_once_in_lineage(
    run: Run, store: SqlMetadataStore
) -> None:
    @asset
    def base() -> int:
        return 2

    @asset(depends_on={"left": base, "right": base})
    def product(left: int, right: int) -> int:
        return left * right

    assert run().success
    [edge] = store.get_history(AssetKey.parse("product"))[0].inputs
    assert edge.upstream_asset_key == AssetKey.parse("base")


class BrokenLoadManager(InMemoryIOManager):
    def load(self, ctx: IOContext) -> Any:
        raise OSError("disk unreadable")


def test_an_upstream_that_cannot_be_loaded_fails_the_dependent_with_context(run: Run) -> None:
    @asset
    def readable() -> int:
        return 1

    @asset(depends_on=[readable])
    def reader(readable: int) -> int:
        return readable

    result = run(io_managers={"fs": BrokenLoadManager()})
    reader_result = next(item for item in result.items if item.label == "reader")
    assert reader_result.status is MaterializationStatus.FAILED
    assert "failed to load the value of readable[__unpartitioned__]" in (reader_result.error or "")
    assert "OSError: disk unreadable" in (reader_result.error or "")


class BadUriManager(InMemoryIOManager):
    def save(self, ctx: IOContext, value: Any) -> Mapping[str, Any]:
        super().save(ctx, value)
        return {"uri": 123}


def test_a_plugin_returning_a_bad_uri_fails_the_item_not_the_run(run: Run) -> None:
    @asset
    def odd() -> int:
        return 1

    result = run(io_managers={"fs": BadUriManager()})
    assert result.items[0].status is MaterializationStatus.FAILED
    assert "must return a mapping whose 'uri'" in (result.items[0].error or "")


def test_async_asset_failure_is_recorded(run: Run) -> None:
    @asset
    async def async_broken() -> int:
        raise LookupError("no such customer")

    @asset(depends_on=[async_broken])
    def after(async_broken: int) -> int:
        return async_broken

    result = run()
    assert [item.status for item in result.items] == [
        MaterializationStatus.FAILED,
        MaterializationStatus.SKIPPED,
    ]
    assert "LookupError: no such customer" in (result.items[0].error or "")


@pytest.mark.anyio
async def test_cancel_inside_a_chain_records_what_was_stored_and_saves_nothing_after(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    computing = threading.Event()
    manager = InMemoryIOManager()
    head_calls: list[int] = []
    middle_started: list[float] = []

    @asset(retries=RetryPolicy(max_retries=1, delay=0))
    def head() -> int:
        head_calls.append(1)
        if len(head_calls) == 1:
            raise ConnectionError("first try fails")
        return 1

    @asset(depends_on=[head])
    def middle(head: int) -> int:
        middle_started.append(time.time())
        computing.set()
        time.sleep(0.5)
        return head + 1

    @asset(depends_on=[middle])
    def tail(middle: int) -> int:
        return middle + 1

    async def run() -> None:
        await materialize_async(
            definitions=registry, store=store, project_dir=tmp_path, io_managers={"fs": manager}
        )

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await anyio.to_thread.run_sync(computing.wait, 10)
        group.cancel_scope.cancel()

    [run_record] = store.list_runs()
    records = {r.asset_key.name: r for r in store.get_run_materializations(run_record.run_id)}
    assert {name: r.status for name, r in records.items()} == {
        "head": MaterializationStatus.SUCCESS,
        "middle": MaterializationStatus.CANCELLED,
    }
    head_record = records["head"]
    assert head_record.metadata == {"attempts": 2}
    assert head_record.finished_at is not None
    assert head_record.finished_at.timestamp() <= middle_started[0]
    time.sleep(0.7)  # middle returns now, in its abandoned thread: nothing more may be stored
    assert manager.exists(IOContext(AssetKey.parse("head"), "__unpartitioned__"))
    assert not manager.exists(IOContext(AssetKey.parse("middle"), "__unpartitioned__"))
    assert not manager.exists(IOContext(AssetKey.parse("tail"), "__unpartitioned__"))


class SlowStore(FlakyStore):
    """Every batch write takes half a second (a busy server); ``writing`` tells when one starts."""

    def __init__(self, inner: SqlMetadataStore) -> None:
        super().__init__(inner, failures=0)
        self.writing = threading.Event()

    def add_materializations(
        self, records: list[MaterializationRecord]
    ) -> list[MaterializationRecord]:
        self.writing.set()
        time.sleep(0.5)
        return super().add_materializations(records)


@pytest.mark.anyio
async def test_nothing_starts_after_a_cancel_even_while_the_store_is_slow(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "CHAIN_BUDGET_SECONDS", 60.0)  # one long chain
    starts: list[float] = []
    previous = None
    for index in range(2000):
        depends = {} if previous is None else {"upstream": previous}

        def step(upstream: int = 0) -> int:
            starts.append(time.monotonic())
            time.sleep(0.0005)
            return upstream + 1

        previous = asset(key=f"step_{index}", depends_on=depends)(step)
    for index in range(20):  # quick independent items: their records make a flush due at ~1 s
        asset(key=f"quick_{index}")(lambda: 0)
    events: list[tuple[str, str]] = []
    slow_store = SlowStore(store)

    async def run() -> None:
        await materialize_async(
            definitions=registry, store=slow_store, project_dir=tmp_path,  # type: ignore[arg-type]
            io_managers={"fs": InMemoryIOManager()},
            on_event=lambda event: events.append((event.kind, event.item.asset_key.name)),
        )  # fmt: skip

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await anyio.to_thread.run_sync(slow_store.writing.wait, 30)
        await anyio.sleep(0.2)  # the periodic flush is still writing; the chain is running
        cancelled_at = time.monotonic()
        group.cancel_scope.cancel()

    late = [start for start in starts if start > cancelled_at + 0.05]
    assert late == [], f"{len(late)} functions started after the cancel"
    [run_record] = store.list_runs()
    records = store.get_run_materializations(run_record.run_id)
    assert run_record.status is RunStatus.CANCELLED
    assert len(records) == len({r.asset_key for r in records})
    assert any(r.status is MaterializationStatus.SUCCESS for r in records)
    started = [name for kind, name in events if kind == "started"]
    finished = [name for kind, name in events if kind == "finished"]
    assert len(started) == len(set(started))
    assert len(finished) == len(set(finished))
    assert set(finished) <= set(started)


def test_a_failed_periodic_write_mid_run_is_retried(
    registry: Registry, store: SqlMetadataStore, tmp_path: Path
) -> None:
    with registry:

        @asset
        def quick() -> int:
            return 1

        @asset
        def long_running() -> int:
            time.sleep(1.6)  # the first batch (with `quick`) is written while this runs
            return 2

    flaky = FlakyStore(store, failures=1)
    result = materialize(definitions=registry, store=flaky, project_dir=tmp_path)  # type: ignore[arg-type]
    assert result.success
    assert flaky.failures == 0
    assert len(store.get_run_materializations(result.run_id)) == 2
