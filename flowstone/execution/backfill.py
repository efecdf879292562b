"""Backfills: materialize many partitions of many assets as one persisted, resumable unit.

A backfill records its selection, partition request, policy and the exact items it targets
before anything runs. Each invocation (the first, and every resume) is a run linked to it, so
which items are done is read from the store: a crash or Ctrl-C loses at most the records not yet
flushed, and ``resume_backfill`` runs exactly the items without a success.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, get_args

import anyio
import anyio.to_thread

from flowstone.config import Settings
from flowstone.definitions import AssetDef, Definitions, Registry
from flowstone.errors import BackfillError
from flowstone.execution.api import build_graph, open_store, resolve_settings
from flowstone.execution.asset_versions import ConfigValues, resolve_asset_versions
from flowstone.execution.backfill_targets import (
    BackfillPolicy,
    remaining_items,
    select_targets,
)
from flowstone.execution.partition_request import PartitionRequest, describe_request
from flowstone.execution.plan import ItemKey, Plan, build_plan
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.result import RunEvent, RunResult
from flowstone.execution.runner import Runner
from flowstone.graph import AssetGraph, select
from flowstone.io import IOManager
from flowstone.storage import (
    BackfillRecord,
    BackfillStatus,
    MaterializationStatus,
    MetadataStore,
)

DefinitionsLike = Registry | Definitions | Sequence[AssetDef[Any, Any]] | None


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """A backfill after one invocation: its record, this invocation's run, and item counts.

    ``reused`` are the items the run found stored and fresh (by another run, often one
    materializing the same range at the same time), each with the id of the run that stored it.
    """

    backfill: BackfillRecord
    run: RunResult | None
    succeeded: int
    failed: int
    remaining: int
    reused: Mapping[ItemKey, str] = field(default_factory=dict)

    @property
    def backfill_id(self) -> str:
        return self.backfill.backfill_id

    @property
    def success(self) -> bool:
        """Whether every targeted item has been materialized."""
        return self.backfill.status is BackfillStatus.SUCCESS

    def raise_on_failure(self) -> BackfillResult:
        """Return ``self``, or raise ``RunError`` for the items this invocation did not finish."""
        if self.run is not None and not self.success:
            self.run.raise_on_failure()
        return self


@dataclass(frozen=True, slots=True)
class _Options:
    definitions: DefinitionsLike
    store: str | MetadataStore | None
    io_managers: Mapping[str, IOManager] | None
    concurrency: int | None
    project_dir: Path | None
    on_event: Callable[[RunEvent], None] | None
    config: ConfigValues | None = None
    executor: str | None = None
    dask_address: str | None = None

    def settings(self) -> Settings:
        return resolve_settings(
            self.project_dir, concurrency=self.concurrency, executor=self.executor,
            dask_address=self.dask_address,
        )  # fmt: skip


async def backfill_async(
    selection: str | Sequence[str] | None = None,
    *,
    partitions: PartitionRequest = "all",
    policy: BackfillPolicy = "missing",
    definitions: DefinitionsLike = None,
    store: str | MetadataStore | None = None,
    io_managers: Mapping[str, IOManager] | None = None,
    concurrency: int | None = None,
    project_dir: Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    backfill_id: str | None = None,
    config: ConfigValues | None = None,
    executor: str | None = None,
    dask_address: str | None = None,
) -> BackfillResult:
    """Create and run a backfill inside a running event loop. See ``backfill``."""
    _check_policy(policy)
    options = _Options(
        definitions, store, io_managers, concurrency, project_dir, on_event, config,
        executor, dask_address,
    )  # fmt: skip
    settings = options.settings()
    graph = build_graph(definitions)
    selected = select(graph, selection)
    with open_store(store, settings) as opened:
        targets = await anyio.to_thread.run_sync(
            partial(
                select_targets, graph, selected, opened, partitions, policy=policy,
                versions=resolve_asset_versions(graph, selected, config),
            )
        )  # fmt: skip
        # Judged unless every item is to run again: what the plan read is the baseline its
        # claims compare against, so an item another run stores meanwhile is reused.
        prepared = await _prepare(graph, targets.items, opened, options, judge=policy != "all")
        now = datetime.now(UTC)
        record = BackfillRecord(
            backfill_id=backfill_id or new_backfill_id(),
            status=BackfillStatus.RUNNING,
            selection=[str(key) for key in selected],
            partitions=describe_request(partitions),
            policy=policy,
            created_at=now,
            updated_at=now,
            item_count=len(targets.recorded),
        )
        try:
            await anyio.to_thread.run_sync(opened.add_backfill, record, targets.recorded)
        except BaseException:
            if prepared is not None:
                await prepared.runner.close_executors()
            raise
        return await _run(record, prepared, opened, options)


def plan_backfill(
    selection: str | Sequence[str] | None = None,
    *,
    partitions: PartitionRequest = "all",
    policy: BackfillPolicy = "missing",
    definitions: DefinitionsLike = None,
    store: str | MetadataStore | None = None,
    project_dir: Path | None = None,
    config: ConfigValues | None = None,
) -> Plan:
    """The plan a backfill would run now, judged as it would be; nothing is run or recorded.

    Example:
        >>> [item.key for item in plan_backfill("daily_sales", partitions="all").items][:1]
        [(AssetKey('daily_sales'), '2024-01-01')]
    """
    _check_policy(policy)
    settings = resolve_settings(project_dir)
    graph = build_graph(definitions)
    selected = select(graph, selection)
    versions = resolve_asset_versions(graph, selected, config)
    with open_store(store, settings, read_only=True) as opened:
        targets = select_targets(
            graph, selected, opened, partitions, policy=policy, versions=versions
        )
        if not targets.items:
            return Plan(graph, ())
        assets = list(dict.fromkeys(asset for asset, _ in targets.items))
        return build_plan(
            graph, assets, opened, only=targets.items, defer_dynamic=False, versions=versions,
            force=policy == "all",
        )  # fmt: skip


def _check_policy(policy: str) -> None:
    if policy not in get_args(BackfillPolicy):
        raise BackfillError(
            f"Backfill policy {policy!r} is unknown. Use one of: "
            f"{', '.join(get_args(BackfillPolicy))}."
        )


async def resume_backfill_async(
    backfill_id: str,
    *,
    definitions: DefinitionsLike = None,
    store: str | MetadataStore | None = None,
    io_managers: Mapping[str, IOManager] | None = None,
    concurrency: int | None = None,
    project_dir: Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    config: ConfigValues | None = None,
    executor: str | None = None,
    dask_address: str | None = None,
) -> BackfillResult:
    """Run the items of a backfill that have no success yet. See ``resume_backfill``."""
    options = _Options(
        definitions, store, io_managers, concurrency, project_dir, on_event, config,
        executor, dask_address,
    )  # fmt: skip
    settings = options.settings()
    graph = build_graph(definitions)
    with open_store(store, settings) as opened:
        record = await anyio.to_thread.run_sync(load_backfill, opened, backfill_id)
        remaining = await anyio.to_thread.run_sync(remaining_items, opened, record, graph)
        # Judged whatever the policy: another run may have stored an item fresh meanwhile.
        prepared = await _prepare(graph, remaining, opened, options, judge=True)
        return await _run(record, prepared, opened, options)


def backfill(
    selection: str | Sequence[str] | None = None,
    *,
    partitions: PartitionRequest = "all",
    policy: BackfillPolicy = "missing",
    definitions: DefinitionsLike = None,
    store: str | MetadataStore | None = None,
    io_managers: Mapping[str, IOManager] | None = None,
    concurrency: int | None = None,
    project_dir: Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    backfill_id: str | None = None,
    config: ConfigValues | None = None,
    executor: str | None = None,
    dask_address: str | None = None,
) -> BackfillResult:
    """Materialize many partitions as one persisted backfill that can be resumed.

    Args:
        selection: selection terms, as for ``materialize``; every asset when ``None``.
        partitions: keys, ``PartitionRange(first, last)`` or ``"all"`` (the default).
        policy: ``"missing"`` (never materialized), ``"failed"`` (last attempt failed) or
            ``"all"``.
        concurrency: items run at once (default from settings).
        executor: ``"threads"``, ``"processes"`` or ``"dask"``, as for ``materialize``.
        backfill_id: the new backfill's id (``new_backfill_id()`` by default), so a caller can
            name it before it starts, e.g. to say how to resume after an interruption.

    Example:
        >>> days = PartitionRange("2024-01-01", "2024-12-31")
        >>> result = backfill("*daily_revenue", partitions=days)
        >>> result.backfill_id, result.remaining
        ('3f2a9c0d1e7b', 0)
    """
    return anyio.run(
        partial(
            backfill_async,
            selection,
            partitions=partitions,
            policy=policy,
            definitions=definitions,
            store=store,
            io_managers=io_managers,
            concurrency=concurrency,
            project_dir=project_dir,
            on_event=on_event,
            backfill_id=backfill_id,
            config=config,
            executor=executor,
            dask_address=dask_address,
        )
    )


def new_backfill_id() -> str:
    """A fresh, short, random backfill id."""
    return uuid.uuid4().hex[:12]


def resume_backfill(
    backfill_id: str,
    *,
    definitions: DefinitionsLike = None,
    store: str | MetadataStore | None = None,
    io_managers: Mapping[str, IOManager] | None = None,
    concurrency: int | None = None,
    project_dir: Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    config: ConfigValues | None = None,
    executor: str | None = None,
    dask_address: str | None = None,
) -> BackfillResult:
    """Run exactly the items of backfill ``backfill_id`` that have no success yet.

    Raises:
        BackfillError: no such backfill, or one of its assets is no longer defined.
    """
    return anyio.run(
        partial(
            resume_backfill_async,
            backfill_id,
            definitions=definitions,
            store=store,
            io_managers=io_managers,
            concurrency=concurrency,
            project_dir=project_dir,
            on_event=on_event,
            config=config,
            executor=executor,
            dask_address=dask_address,
        )
    )


def load_backfill(store: MetadataStore, backfill_id: str) -> BackfillRecord:
    """The backfill's record.

    Raises:
        BackfillError: the store has no backfill ``backfill_id``; the message lists the latest.
    """
    record = store.get_backfill(backfill_id)
    if record is None:
        latest = ", ".join(b.backfill_id for b in store.list_backfills(5)) or "none yet"
        raise BackfillError(
            f"There is no backfill {backfill_id!r} in this store (latest: {latest}). "
            f"Run `flowstone backfill list` to see them, or pass the --store it was recorded in."
        )
    return record


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A plan for exactly the items to run, with its I/O managers ready."""

    plan: Plan
    runner: Runner
    """Built, with its executors started, before anything is recorded: an asset its executor
    refuses, or a scheduler that cannot be reached, leaves no backfill behind."""


async def _prepare(
    graph: AssetGraph,
    items: list[ItemKey],
    store: MetadataStore,
    options: _Options,
    *,
    judge: bool,
) -> _Prepared | None:
    """Plan ``items`` and load their I/O managers before anything is recorded, so bad
    definitions or settings fail without leaving a backfill behind. When ``judge`` (every
    policy but ``all``, and every resume) fresh items are left out and unchanged ones cut off;
    otherwise every item runs."""
    versions = resolve_asset_versions(graph, [key for key, _ in items], options.config)
    if not items:
        return None
    settings = options.settings()
    assets = list(dict.fromkeys(asset for asset, _ in items))
    plan: Plan = await anyio.to_thread.run_sync(
        partial(
            build_plan, graph, assets, store, only=items, defer_dynamic=False,
            versions=versions, force=not judge,
        )
    )  # fmt: skip
    managers = IOManagerSet(settings, options.io_managers)
    managers.prepare(plan.asset(key) for key in plan.assets_loaded_or_written)
    runner = Runner(
        plan, store, managers, concurrency=settings.concurrency, on_event=options.on_event,
        run_id=uuid.uuid4().hex, lease_seconds=settings.lease_seconds,
        executor=settings.executor, dask_address=settings.dask_address,
    )  # fmt: skip
    await runner.open_executors()
    return _Prepared(plan, runner)


async def _run(
    record: BackfillRecord, prepared: _Prepared | None, store: MetadataStore, options: _Options
) -> BackfillResult:
    """One invocation: run the prepared plan as a run of the backfill and record how it ended."""
    run: RunResult | None = None
    status = BackfillStatus.CANCELLED
    try:
        if prepared is not None:
            runner = prepared.runner
            await anyio.to_thread.run_sync(
                store.add_backfill_run, record.backfill_id, runner.run_id
            )
            run = await runner.run()
        reused = set(run.fresh) if run is not None else set()
        status = await anyio.to_thread.run_sync(_final_status, store, record, reused)
    except Exception:
        status = BackfillStatus.FAILED
        raise
    finally:
        with anyio.CancelScope(shield=True):
            if prepared is not None:
                await prepared.runner.close_executors()
            await anyio.to_thread.run_sync(
                store.update_backfill, record.backfill_id, status, datetime.now(UTC)
            )
    return await anyio.to_thread.run_sync(_result, store, record.backfill_id, run)


def _done_items(store: MetadataStore, backfill_id: str, reused: set[ItemKey]) -> set[ItemKey]:
    """The items a run of the backfill stored current, and those found fresh (reused) now."""
    outcomes = store.get_backfill_outcomes(backfill_id)
    return {key for key, status in outcomes.items() if status.is_current} | reused


def _final_status(
    store: MetadataStore, record: BackfillRecord, reused: set[ItemKey]
) -> BackfillStatus:
    done = len(_done_items(store, record.backfill_id, reused))
    return BackfillStatus.SUCCESS if done >= record.item_count else BackfillStatus.FAILED


def _result(store: MetadataStore, backfill_id: str, run: RunResult | None) -> BackfillResult:
    record = store.get_backfill(backfill_id)
    assert record is not None
    outcomes = store.get_backfill_outcomes(backfill_id)
    reused = set(run.fresh) if run is not None else set()
    succeeded = len(_done_items(store, backfill_id, reused))
    failed = sum(
        1
        for key, status in outcomes.items()
        if status is MaterializationStatus.FAILED and key not in reused
    )
    return BackfillResult(
        record,
        run,
        succeeded=succeeded,
        failed=failed,
        remaining=record.item_count - succeeded,
        reused=_stored_by(store, [key for key in reused if not _is_current(outcomes.get(key))]),
    )


def _stored_by(store: MetadataStore, keys: list[ItemKey]) -> dict[ItemKey, str]:
    """The run that stored each reused item's value: that of its newest success."""
    latest = store.get_latest(keys)
    return {
        key: success.run_id
        for key in keys
        if key in latest and (success := latest[key].last_success) is not None
    }


def _is_current(status: MaterializationStatus | None) -> bool:
    return status is not None and status.is_current
