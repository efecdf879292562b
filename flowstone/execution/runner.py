"""The runner: executes a plan with anyio, starting each item as soon as its inputs are ready.

Sync asset functions run in worker threads (load, compute and save in one hop), async ones on the
event loop. A failure skips its dependents and lets independent branches finish. Cancellation
(Ctrl-C) records running items as cancelled and never records a success for an unstored value.
This module never prints; it reports progress through an optional callback.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from flowstone.definitions import AssetContext, AssetDef
from flowstone.errors import FlowstoneError, IOManagerError
from flowstone.execution.plan import ItemKey, Plan, PlanItem
from flowstone.execution.recorder import MaterializationRecorder
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.result import ItemResult, RunResult
from flowstone.io import IOContext
from flowstone.storage import (
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    MetadataStore,
    RunRecord,
    RunStatus,
)
from flowstone.versioning import compute_code_version

Status = MaterializationStatus


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A progress event: an item started, or finished with ``result``; ``total`` items planned."""

    kind: Literal["started", "finished"]
    item: PlanItem
    total: int
    result: ItemResult | None = None


class _Cancelled(Exception):
    """Raised in a worker thread to stop before saving once the run is cancelled."""


class Runner:
    """Runs one plan once. Create a new runner for every run.

    Example:
        >>> result = await Runner(plan, store, managers, concurrency=4).run()
    """

    def __init__(
        self,
        plan: Plan,
        store: MetadataStore,
        managers: IOManagerSet,
        *,
        concurrency: int = 8,
        on_event: Callable[[RunEvent], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self._plan = plan
        self._store = store
        self._managers = managers
        self._on_event = on_event
        self.run_id = run_id or uuid.uuid4().hex
        self._concurrency = concurrency
        self._active = 0
        self._ready: deque[PlanItem] = deque()
        self._recorder = MaterializationRecorder(store)
        self._cancel = threading.Event()
        self._items = {item.key: item for item in plan.items}
        self._results: dict[ItemKey, ItemResult] = {}
        self._records: dict[ItemKey, MaterializationRecord] = dict(plan.external)
        self._running: dict[ItemKey, datetime] = {}
        self._dependents: defaultdict[ItemKey, list[ItemKey]] = defaultdict(list)
        self._waiting: dict[ItemKey, int] = {}
        self._code_versions = {
            key: compute_code_version(plan.asset(key).fn, plan.asset(key).code_version)
            for key in plan.selection
        }
        for item in plan.items:
            upstream = {up for spec in item.inputs for up in spec.upstream if up in self._items}
            self._waiting[item.key] = len(upstream)
            for up in upstream:
                self._dependents[up].append(item.key)

    async def run(self) -> RunResult:
        """Execute the plan; return every item's outcome. Cancellation is re-raised."""
        run = RunRecord(
            run_id=self.run_id,
            status=RunStatus.RUNNING,
            selection=[str(key) for key in self._plan.selection],
            started_at=_now(),
        )
        await anyio.to_thread.run_sync(self._store.add_run, run)
        status = RunStatus.CANCELLED
        try:
            async with anyio.create_task_group() as task_group:
                self._queue([key for key, count in self._waiting.items() if count == 0])
                self._start_workers(task_group)
            status = RunStatus.SUCCESS if self._all_succeeded() else RunStatus.FAILED
        finally:
            with anyio.CancelScope(shield=True):
                await self._close(status)
        return RunResult(
            self.run_id, status, tuple(self._results[item.key] for item in self._plan.items)
        )

    def _all_succeeded(self) -> bool:
        return all(result.status is Status.SUCCESS for result in self._results.values())

    async def _close(self, status: RunStatus) -> None:
        self._cancel.set()
        for key, started_at in list(self._running.items()):
            self._finish(self._items[key], Status.CANCELLED, started_at, error="run cancelled")
        await self._recorder.flush()
        await anyio.to_thread.run_sync(self._store.finish_run, self.run_id, status, _now())

    def _queue(self, ready: list[ItemKey]) -> None:
        """Queue the items that can run; skip (iteratively) those whose inputs cannot exist."""
        while ready:
            key = ready.pop()
            item = self._items[key]
            reason = item.blocked or self._upstream_problem(item)
            if reason is None:
                self._ready.append(item)
                continue
            self._finish(item, Status.SKIPPED, None, error=reason)
            ready.extend(self._unblock(key))

    def _start_workers(self, task_group: TaskGroup) -> None:
        while self._ready and self._active < self._concurrency:
            self._active += 1
            task_group.start_soon(self._work, task_group, self._ready.popleft())

    async def _work(self, task_group: TaskGroup, first: PlanItem) -> None:
        """Run ``first``, then keep taking ready items: a chain needs no new task per item."""
        item: PlanItem | None = first
        while item is not None:
            await self._execute(item)
            self._queue(self._unblock(item.key))
            item = self._ready.popleft() if self._ready else None
            self._start_workers(task_group)
            await self._recorder.flush_if_due()
        self._active -= 1

    def _unblock(self, key: ItemKey) -> list[ItemKey]:
        newly_ready = []
        for dependent in self._dependents.get(key, ()):
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0:
                newly_ready.append(dependent)
        return newly_ready

    def _upstream_problem(self, item: PlanItem) -> str | None:
        for spec in item.inputs:
            for up in spec.upstream:
                result = self._results.get(up)
                if result is not None and result.status is not Status.SUCCESS:
                    return f"upstream {result.label} {result.status.value}"
        return None

    async def _execute(self, item: PlanItem) -> None:
        definition = self._plan.asset(item.asset_key)
        started_at = _now()
        self._running[item.key] = started_at
        self._emit(RunEvent("started", item, len(self._items)))
        status, error, attempts, outcome = await self._attempts(item, definition)
        del self._running[item.key]
        stored, metadata = outcome
        self._finish(
            item, status, started_at, error=error, attempts=attempts, stored=stored,
            metadata=metadata,
        )

    async def _attempts(
        self, item: PlanItem, definition: AssetDef[Any, Any]
    ) -> tuple[Status, str | None, int, tuple[dict[str, Any], dict[str, Any]]]:
        policy = definition.retry_policy
        error = None
        for attempt in range(policy.max_retries + 1):
            if attempt:
                await anyio.sleep(policy.delay_before(attempt))
            try:
                outcome = await self._attempt(item, definition, attempt)
            except Exception as exc:  # an asset's own error: recorded, never raised
                error = _describe(exc)
                continue
            return Status.SUCCESS, None, attempt + 1, outcome
        return Status.FAILED, error, policy.max_retries + 1, ({}, {})

    async def _attempt(
        self, item: PlanItem, definition: AssetDef[Any, Any], attempt: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        context = AssetContext(
            asset_key=item.asset_key,
            partition_key=item.partition_key,
            run_id=self.run_id,
            attempt=attempt,
            log=logging.getLogger(f"flowstone.asset.{item.asset_key}"),
        )
        if not definition.is_async:
            return await anyio.to_thread.run_sync(
                self._compute_in_thread, item, definition, context, abandon_on_cancel=True
            )
        kwargs = await anyio.to_thread.run_sync(self._load_inputs, item, definition, context)
        value = await definition.fn(**kwargs)
        stored = await anyio.to_thread.run_sync(self._save, item, definition, value)
        return stored, _json_safe(context.metadata)

    def _compute_in_thread(
        self, item: PlanItem, definition: AssetDef[Any, Any], context: AssetContext
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        value = definition.fn(**self._load_inputs(item, definition, context))
        return self._save(item, definition, value), _json_safe(context.metadata)

    def _load_inputs(
        self, item: PlanItem, definition: AssetDef[Any, Any], context: AssetContext
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if definition.context_parameter is not None:
            kwargs[definition.context_parameter] = context
        for spec in item.inputs:
            values = {up[1]: self._load(up) for up in spec.upstream}
            kwargs[spec.parameter] = values if spec.fan_in else next(iter(values.values()))
        return kwargs

    def _load(self, key: ItemKey) -> Any:
        definition = self._plan.asset(key[0])
        record = self._records[key]
        ctx = _io_context(definition, key, record.stored)
        return _call_manager("load", self._managers.for_asset(definition).load, ctx)

    def _save(self, item: PlanItem, definition: AssetDef[Any, Any], value: Any) -> dict[str, Any]:
        if self._cancel.is_set():
            raise _Cancelled("run cancelled before the value was stored")
        ctx = _io_context(definition, item.key, {})
        saved = _call_manager("save", lambda: self._managers.for_asset(definition).save(ctx, value))
        return _json_safe(dict(saved or {}))

    def _finish(
        self,
        item: PlanItem,
        status: Status,
        started_at: datetime | None,
        *,
        error: str | None = None,
        attempts: int = 0,
        stored: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        finished_at = _now()
        record = MaterializationRecord(
            materialization_id=uuid.uuid4().hex,
            asset_key=item.asset_key,
            partition_key=item.partition_key,
            run_id=self.run_id,
            status=status,
            code_version=self._code_versions[item.asset_key],
            uri=(stored or {}).get("uri"),
            started_at=started_at,
            finished_at=finished_at if started_at is not None else None,
            metadata={**(metadata or {}), **({"attempts": attempts} if attempts > 1 else {})},
            stored=stored or {},
            error=error,
            inputs=self._lineage(item) if started_at is not None else (),
        )
        if status is Status.SUCCESS:
            self._records[item.key] = record
        self._recorder.add(record)
        result = ItemResult(
            item.asset_key,
            item.partition_key,
            status,
            record.materialization_id,
            record.started_at,
            record.finished_at,
            error,
            attempts,
        )
        self._results[item.key] = result
        self._emit(RunEvent("finished", item, len(self._items), result))

    def _lineage(self, item: PlanItem) -> tuple[LineageEdge, ...]:
        edges = []
        for spec in item.inputs:
            for up in spec.upstream:
                record = self._records.get(up)
                if record is None:
                    continue
                edges.append(
                    LineageEdge(
                        upstream_materialization_id=record.materialization_id,
                        upstream_asset_key=up[0],
                        upstream_partition_key=up[1],
                        upstream_data_version=record.data_version,
                    )
                )
        return tuple(edges)

    def _emit(self, event: RunEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


def _io_context(definition: AssetDef[Any, Any], key: ItemKey, stored: dict[str, Any]) -> IOContext:
    return IOContext(
        asset_key=key[0],
        partition_key=key[1],
        metadata=definition.metadata,
        options=definition.io_manager_options,
        stored=stored,
    )


def _call_manager(action: str, call: Callable[..., Any], *args: Any) -> Any:
    """Call an I/O manager, turning a plugin's foreign error into an ``IOManagerError``."""
    try:
        return call(*args)
    except FlowstoneError:
        raise
    except Exception as exc:
        ctx = args[0] if args else None
        where = f" for {ctx.asset_key}[{ctx.partition_key}]" if isinstance(ctx, IOContext) else ""
        raise IOManagerError(f"The I/O manager failed to {action} a value{where}: {exc}") from exc


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """Metadata as the store will keep it: JSON values, anything else by its ``repr``."""
    if not values:
        return {}
    result: dict[str, Any] = json.loads(json.dumps(values, default=repr))
    return result


def _now() -> datetime:
    return datetime.now(UTC)
