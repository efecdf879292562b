"""The runner: executes a plan with anyio, starting each item as soon as its inputs are ready.

Sync asset functions run in worker threads (load, compute and save in one hop), async ones on the
event loop. A failure skips its dependents and lets independent branches finish. Cancellation
(Ctrl-C) records running items as cancelled, finishes and records saves already under way, and
never records a success for an unstored value. This module never prints; it reports progress
through an optional callback.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from flowstone.definitions import AssetContext
from flowstone.errors import FlowstoneError
from flowstone.execution.absent_inputs import AbsentInputs
from flowstone.execution.chain import ChainStep, find_successors
from flowstone.execution.claims import POLL_SECONDS, ClaimPace, ItemClaims, Moved
from flowstone.execution.deferral import DeferredAssets
from flowstone.execution.failure import describe_error, sole_flowstone_error
from flowstone.execution.judgement import compute_provenance, is_unchanged
from flowstone.execution.materializer import Attempt, LostInputError, Materializer, Outcome
from flowstone.execution.plan import ItemKey, Plan, PlanItem, lineage_edges, mark_blocked
from flowstone.execution.recorder import MaterializationRecorder
from flowstone.execution.recovery import Recovery, RecoveryPlan
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.result import ItemResult, RunEvent, RunResult
from flowstone.storage import (
    MaterializationRecord,
    MaterializationStatus,
    MetadataStore,
    RunRecord,
    RunStatus,
    VersionState,
)
from flowstone.versioning import fallback_data_version

Status = MaterializationStatus
CHAIN_BUDGET_SECONDS = 0.05
"""How long a worker thread may go on down a chain before handing its results to the loop."""
SAVE_GRACE_SECONDS = 60.0
"""How long a cancelled run waits for a save already under way, so it is recorded."""


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
        lease_seconds: float = 60.0,
    ) -> None:
        self._plan = plan
        self._store = store
        self._on_event = on_event
        self.run_id = run_id or uuid.uuid4().hex
        self._record_ids = itertools.count()
        self._concurrency = concurrency
        self._threads = anyio.CapacityLimiter(concurrency)
        self._active = 0
        self._ready: deque[PlanItem] = deque()
        self._recorder = MaterializationRecorder(store, breakdowns=plan.versions.code_breakdowns)
        self._recovery = Recovery(plan, store, run_id=self.run_id, next_id=self._next_record_id)
        self._items = {item.key: item for item in plan.items}
        self._order: list[ItemKey] = list(self._items)
        self._deferred = DeferredAssets(plan, store)
        self._skip_reasons: dict[ItemKey, str] = {}
        self._fresh: list[ItemKey] = []
        self._results: dict[ItemKey, ItemResult] = {}
        self._records: dict[ItemKey, MaterializationRecord] = dict(plan.external)
        self._materializer = Materializer(plan, managers)
        self._running: dict[ItemKey, datetime] = {}
        self._announced: set[ItemKey] = set()
        self._dependents: defaultdict[ItemKey, list[ItemKey]] = defaultdict(list)
        self._waiting: dict[ItemKey, int] = {}
        self._states = dict(plan.states)
        self._loggers = {key: logging.getLogger(f"flowstone.asset.{key}") for key in plan.selection}
        self._add_items(plan.items)
        self._successors = find_successors(plan, self._dependents, dict(self._waiting))
        self._claims = ItemClaims(store, self.run_id, lease_seconds=lease_seconds)
        self._pace = ClaimPace(concurrency)
        self._to_claim: deque[ItemKey] = deque()
        """Ready items to claim before they run (or are judged), in the order they got ready."""
        self._claiming = False
        self._claim_lock = anyio.Lock()
        """One claim call at a time: the ready batch and the retry of held items share state."""
        self._parked: set[ItemKey] = set()
        """Ready items that another run is computing: they wait for its claim to end."""
        self._unclaimed: list[ItemKey] = []
        """Items judged fresh without a record, whose claims can go before the run ends."""
        self._workers: TaskGroup | None = None
        self._waiting_for_others = False
        self._absent = AbsentInputs(store, self.run_id)

    async def run(self) -> RunResult:
        """Execute the plan; return every item's outcome.

        Raises:
            StorageError: the metadata store failed; everything recorded so far is kept.
        """
        run = RunRecord(
            run_id=self.run_id,
            status=RunStatus.RUNNING,
            selection=[str(key) for key in self._plan.selection],
            started_at=_now(),
        )
        await anyio.to_thread.run_sync(self._store.add_run, run)
        status = RunStatus.CANCELLED
        try:
            await self._run_items()
            status = RunStatus.SUCCESS if self._all_succeeded() else RunStatus.FAILED
        except BaseExceptionGroup as group:
            status = RunStatus.FAILED
            error = sole_flowstone_error(group)
            if error is group:
                raise
            raise error from None
        finally:
            with anyio.CancelScope(shield=True):
                await self._close(status)
        items = tuple(self._results[key] for key in self._order if key in self._results)
        fresh = (*self._plan.fresh, *self._fresh)
        recovered = self._recovery.recovered
        if recovered:  # a recovered item was judged fresh before its value was found missing
            fresh = tuple(key for key in fresh if key not in self._results)
        return RunResult(self.run_id, status, items, fresh, recovered)

    def _add_items(self, items: tuple[PlanItem, ...] | list[PlanItem]) -> list[ItemKey]:
        """Register items to run; return those whose inputs are all ready."""
        ready = []
        for item in items:
            self._items[item.key] = item
            upstream = {up for spec in item.inputs for up in spec.upstream if up in self._items}
            upstream -= self._results.keys()
            self._waiting[item.key] = len(upstream)
            for up in upstream:
                self._dependents[up].append(item.key)
            if not upstream:
                ready.append(item.key)
        return ready

    async def _expand_deferred(self) -> None:
        """Plan deferred assets whose upstream assets have all finished, and queue their items."""
        while (expanded := await self._deferred.expand_ready(self._items.keys())) is not None:
            items, skip = expanded
            new = [item for item in items if item.key not in self._items]
            if skip is not None:
                self._skip_reasons.update(dict.fromkeys((item.key for item in new), skip))
            self._order.extend(item.key for item in new)
            self._materializer.add_external(self._deferred.external)
            self._records.update(self._deferred.external)
            self._states.update(self._deferred.states)
            self._queue(self._add_items(new))

    async def _run_items(self) -> None:
        async with anyio.create_task_group() as background:
            background.start_soon(self._recorder.flush_periodically)
            background.start_soon(self._keep_claims)
            async with anyio.create_task_group() as workers:
                self._workers = workers
                if self._plan.force:  # it read no states: what moves from now on is reused
                    await anyio.to_thread.run_sync(self._claims.read_baselines, list(self._items))
                await anyio.to_thread.run_sync(self._absent.find, list(self._items.values()))
                if self._absent.waiting:
                    workers.start_soon(self._wait_for_inputs)
                self._queue([key for key, count in self._waiting.items() if count == 0])
                await self._expand_deferred()
                self._start_workers(workers)
            background.cancel_scope.cancel()

    def _all_succeeded(self) -> bool:
        return all(result.is_done for result in self._results.values())

    async def _close(self, status: RunStatus) -> None:
        """Record what is still open (saves under way, cancelled items) and finish the run."""
        open_work = self._materializer.cancel()
        for key, save in open_work.saves.items():
            await anyio.to_thread.run_sync(save.done.wait, SAVE_GRACE_SECONDS)
            self._running.pop(key, None)
            if key in self._results:
                continue
            item = self._items[key]
            self._announce(item)
            if save.outcome is None:
                self._finish(item, Status.CANCELLED, save.started_at, error="run cancelled")
                continue
            self._finish(
                item, Status.SUCCESS, save.started_at, finished_at=save.finished_at,
                attempts=save.attempts, outcome=save.outcome,
            )  # fmt: skip
        running = {**open_work.followers, **self._running}
        for key, started_at in running.items():
            if key not in self._results:
                self._announce(self._items[key])
                self._finish(self._items[key], Status.CANCELLED, started_at, error="run cancelled")
        self._running.clear()
        try:
            await self._recorder.flush()
        except FlowstoneError:
            status = RunStatus.FAILED
            raise
        finally:
            await anyio.to_thread.run_sync(self._finish_run_quietly, status)

    def _finish_run_quietly(self, status: RunStatus) -> None:
        try:
            self._claims.release()
            self._store.finish_run(self.run_id, status, _now())
        except FlowstoneError:
            logging.getLogger(__name__).exception("could not record the end of run %s", self.run_id)

    async def _claim_ready(self, task_group: TaskGroup) -> None:
        """Claim ready items a batch at a time while the workers want more, then queue them:
        those claimed go on (judged again first when another run stored them since), those
        another run holds are parked."""
        try:
            while self._to_claim and (size := self._pace.batch_size(self._in_hand())) > 0:
                batch = [self._to_claim.popleft() for _ in range(min(size, len(self._to_claim)))]
                await self._claim(self._with_chains(batch))
                self._queue(batch)
                await self._expand_deferred()  # items judged fresh may have finished an asset
                self._start_workers(task_group)
        finally:
            self._claiming = False
        self._start_workers(task_group)

    def _in_hand(self) -> int:
        """Claimed items running or queued to run."""
        return self._active + len(self._ready)

    def _with_chains(self, keys: list[ItemKey]) -> list[PlanItem]:
        """``keys``' items and the chains that may follow them in their worker thread, which
        must be claimed before it starts: one store call for a whole chain."""
        mine, held = self._claims.mine, self._claims.held
        items = []
        for key in keys:
            item: PlanItem | None = self._items.get(key)
            while item is not None and item.key not in mine and item.key not in held:
                items.append(item)
                item = self._successors.get(item.key)
        return items

    async def _claim(self, items: list[PlanItem]) -> None:
        """Claim ``items``; wait (in the background) for those another run holds."""
        planned, local = self._planned_states(), set(self._items)
        async with self._claim_lock:
            moved = await anyio.to_thread.run_sync(self._claims.claim, items, planned, local)
            self._take_over(moved)
        if self._claims.held and not self._waiting_for_others and self._workers is not None:
            self._waiting_for_others = True
            self._workers.start_soon(self._wait_for_others)

    def _planned_states(self) -> dict[ItemKey, VersionState] | None:
        """What the plan judged against; a forced plan read nothing (claims take a baseline)."""
        return None if self._plan.force else self._states

    def _take_over(self, moved: Moved) -> None:
        """Judge again, once their inputs are done, the items another run materialized since."""
        for key in moved.items:
            if key in self._items:
                self._items[key] = replace(self._items[key], conditional=True)
        self._states.update(moved.states)
        self._records.update(moved.records)
        self._materializer.add_external(moved.records)
        not_chained = set(moved.items) | self._claims.held.keys()
        if not_chained:
            self._successors = {
                key: follower
                for key, follower in self._successors.items()
                if follower.key not in not_chained
            }

    async def _wait_for_others(self) -> None:
        """Ask again for the items other runs hold until this run has claimed them all."""
        try:
            while self._claims.held:
                await anyio.sleep(POLL_SECONDS)
                planned, local = self._planned_states(), set(self._items)
                async with self._claim_lock:
                    claim = self._claims.claim_held
                    moved = await anyio.to_thread.run_sync(claim, planned, local)
                    self._take_over(moved)
                ready = [key for key in self._parked if key not in self._claims.held]
                self._parked.difference_update(ready)
                self._queue(ready)
                await self._expand_deferred()
                if self._workers is not None:
                    self._start_workers(self._workers)
        finally:
            self._waiting_for_others = False

    async def _wait_for_inputs(self) -> None:
        """Judge again, as other runs' claims on their absent inputs end, the blocked items
        that wait for them: they run if the inputs exist now (cut off if current)."""
        while self._absent.waiting:
            await anyio.sleep(POLL_SECONDS)
            ready, records = await anyio.to_thread.run_sync(self._absent.settle)
            self._records.update(records)
            self._materializer.add_external(records)
            planned = set(self._items)
            assets = {key[0] for key in planned}
            graph = self._plan.graph
            for item in ready:
                again = mark_blocked(
                    graph, replace(item, blocked=None), planned, self._records, assets
                )
                self._items[item.key] = again if again.blocked else replace(again, conditional=True)
            self._queue([item.key for item in ready if self._waiting[item.key] == 0])
            if self._workers is not None:
                self._start_workers(self._workers)

    async def _keep_claims(self) -> None:
        """Renew this run's claims while it lives; release those of items judged fresh."""
        while True:
            await anyio.sleep(POLL_SECONDS)
            released, self._unclaimed = self._unclaimed, []
            try:
                if released:
                    await anyio.to_thread.run_sync(self._claims.release, released)
                await anyio.to_thread.run_sync(self._claims.renew_if_due)
            except FlowstoneError as exc:  # a busy store: the next round tries again
                self._unclaimed.extend(released)
                logging.getLogger(__name__).warning("could not renew or release claims: %s", exc)

    def _queue(self, ready: list[ItemKey]) -> None:
        """Queue the items that can run; skip (iteratively) those whose inputs cannot exist."""
        while ready:
            key = ready.pop()
            if key in self._results or key in self._absent.waiting:  # run, or held back
                continue
            item = self._items[key]
            reason = item.blocked or self._skip_reasons.get(key) or self._upstream_problem(item)
            if reason is None and key in self._claims.held:
                self._parked.add(key)
                continue
            if reason is None and key not in self._claims.mine:
                self._to_claim.append(key)
                continue
            if (
                reason is None
                and item.conditional
                and is_unchanged(item, self._states.get(key), self._records, self._plan.versions)
            ):
                if self._any_input_ran(item):
                    self._finish(item, Status.UNCHANGED, None, error="unchanged inputs")
                    ready.extend(self._unblock(key))
                    continue
                # Planned during the run and found current: as if judged fresh up front.
                self._fresh.append(key)
                self._unclaimed.append(key)
                self._deferred.finished(key, Status.SUCCESS)
                ready.extend(self._unblock(key))
                del self._items[key]
                continue
            if reason is None:
                self._ready.append(item)
                continue
            status = Status.BLOCKED if item.blocked else Status.SKIPPED
            self._finish(item, status, None, error=reason)
            ready.extend(self._unblock(key))

    def _start_workers(self, task_group: TaskGroup) -> None:
        """Start workers for the claimed ready items, and claim more when the workers want."""
        while self._ready and self._active < self._concurrency:
            self._active += 1
            task_group.start_soon(self._work, task_group, self._ready.popleft())
        if self._to_claim and not self._claiming and self._pace.batch_size(self._in_hand()):
            self._claiming = True
            task_group.start_soon(self._claim_ready, task_group)

    async def _work(self, task_group: TaskGroup, first: PlanItem) -> None:
        """Run ``first``, then keep taking ready items: a chain needs no new task per item."""
        item = first
        try:
            while True:
                for key in await self._execute(item):
                    self._queue(self._unblock(key))
                await self._expand_deferred()
                if not self._ready:
                    break
                item = self._ready.popleft()
                self._start_workers(task_group)
        except anyio.get_cancelled_exc_class():
            self._materializer.cancel()  # at once: abandoned threads must not save or go on
            raise
        self._active -= 1
        self._start_workers(task_group)  # this worker's slot is free: claim for it

    def _unblock(self, key: ItemKey) -> list[ItemKey]:
        newly_ready = []
        for dependent in self._dependents.get(key, ()):
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0:
                newly_ready.append(dependent)
        return newly_ready

    def _any_input_ran(self, item: PlanItem) -> bool:
        """Whether an input of ``item`` was run or judged in this run (not only read as stored)."""
        return any(up in self._results for spec in item.inputs for up in spec.upstream)

    def _upstream_problem(self, item: PlanItem) -> str | None:
        for spec in item.inputs:
            for up in spec.upstream:
                result = self._results.get(up)
                if result is not None and not result.status.is_current:
                    return f"upstream {result.label} {result.status.value}"
        return None

    async def _execute(self, item: PlanItem) -> list[ItemKey]:
        """Run ``item`` (with its retries, and its chain); return the keys it finished, in order."""
        definition = self._plan.asset(item.asset_key)
        started_at = _now()
        self._running[item.key] = started_at
        self._announce(item)
        policy = definition.retry_policy
        error: str | None = None
        for attempt in range(policy.max_retries + 1):
            if attempt:
                await anyio.sleep(policy.delay_before(attempt))
            try:
                steps = await self._attempt(
                    Attempt(item, definition, self._context(item, attempt), started_at)
                )
            except LostInputError as lost:
                return await self._recover(item, lost)
            except Exception as exc:  # an asset's own error: recorded, never raised
                error = describe_error(exc)
                continue
            return self._finish_steps(steps, attempts=attempt + 1)
        del self._running[item.key]
        self._finish(item, Status.FAILED, started_at, error=error, attempts=attempt + 1)
        return [item.key]

    def _context(self, item: PlanItem, attempt: int) -> AssetContext:
        return AssetContext(
            asset_key=item.asset_key,
            partition_key=item.partition_key,
            run_id=self.run_id,
            attempt=attempt,
            log=self._loggers[item.asset_key],
            partitions=self._plan.asset(item.asset_key).partitions,
        )

    async def _attempt(self, attempt: Attempt) -> list[ChainStep]:
        work = self._materializer
        if not attempt.definition.is_async:
            return await anyio.to_thread.run_sync(
                self._compute_chain, attempt, abandon_on_cancel=True, limiter=self._threads
            )
        kwargs = await anyio.to_thread.run_sync(work.load_inputs, attempt, limiter=self._threads)
        value = await attempt.definition.fn(**kwargs)
        outcome = await anyio.to_thread.run_sync(
            work.save, attempt, value, abandon_on_cancel=True, limiter=self._threads
        )
        return [ChainStep(attempt, _now(), outcome)]

    def _compute_chain(self, first: Attempt) -> list[ChainStep]:
        """In a worker thread: run ``first``, then its successors while they succeed.

        A chain hands back to the event loop after ``CHAIN_BUDGET_SECONDS`` so that records and
        progress of quick items are never held back for long.
        """
        outcome = self._materializer.compute(first)
        steps = [ChainStep(first, _now(), outcome)]
        deadline = time.monotonic() + CHAIN_BUDGET_SECONDS
        follower = self._successors.get(first.item.key)
        mine = self._claims.mine
        while follower is not None and follower.key in mine and time.monotonic() < deadline:
            started_at = self._materializer.start_follower(follower.key)
            if started_at is None:
                break
            definition = self._plan.asset(follower.asset_key)
            attempt = Attempt(follower, definition, self._context(follower, 0), started_at)
            try:
                outcome = self._materializer.compute(attempt)
            except LostInputError:  # it runs again on its own, where its inputs are recovered
                self._materializer.forget(follower.key)
                break
            except Exception as exc:  # the follower's own error, recorded like any other
                steps.append(ChainStep(attempt, _now(), error=describe_error(exc)))
                break
            steps.append(ChainStep(attempt, _now(), outcome))
            follower = self._successors.get(follower.key)
        return steps

    async def _recover(self, item: PlanItem, lost: LostInputError) -> list[ItemKey]:
        """Inputs of ``item`` have no stored value: record them lost and compute them again
        before ``item`` runs once more, or fail ``item`` saying why they cannot be."""
        started_at = self._running.pop(item.key)
        missing = self._materializer.still_missing(lost)
        # Stored again by this run while the load went on: not lost, read once they finish.
        replaced = [key for key in lost.lost if key not in missing and key in self._items]
        found = RecoveryPlan()
        if missing:
            found = await anyio.to_thread.run_sync(
                partial(
                    self._recovery.plan_for, item, missing, planned=set(self._items),
                    records=dict(self._records), finished=set(self._results),
                )
            )  # fmt: skip
        for record in found.lost:
            self._recorder.add(record)
        if found.refusal is not None:
            self._finish(item, Status.FAILED, started_at, error=found.refusal)
            return [item.key]
        # Another reader's recovery, planned at the same time, may have added them already.
        new = [recovered for recovered in found.items if recovered.key not in self._items]
        position = self._order.index(item.key)
        self._order[position:position] = [recovered.key for recovered in new]
        self._records.update(found.external)
        self._materializer.add_external(found.external)
        self._deferred.add_items(recovered.key for recovered in new)
        for asset_key in {recovered.asset_key for recovered in new} - self._loggers.keys():
            self._loggers[asset_key] = logging.getLogger(f"flowstone.asset.{asset_key}")
        ready = self._add_items(new)
        waiting = [key for key in (*found.wait_for, *replaced) if key not in self._results]
        self._waiting[item.key] = len(waiting)
        for key in waiting:
            self._dependents[key].append(item.key)
        # They are claimed once ready, judged against the store as it is now: not the plan's.
        self._claims.take_baseline_from_store(recovered.key for recovered in new)
        self._queue(ready if waiting else [*ready, item.key])
        return []

    def _finish_steps(self, steps: list[ChainStep], *, attempts: int) -> list[ItemKey]:
        for index, step in enumerate(steps):
            item = step.attempt.item
            self._materializer.forget(item.key)
            self._running.pop(item.key, None)
            self._announce(item)
            self._finish(
                item,
                Status.SUCCESS if step.outcome is not None else Status.FAILED,
                step.attempt.started_at,
                finished_at=step.finished_at,
                error=step.error,
                attempts=attempts if index == 0 else 1,
                outcome=step.outcome,
            )
        return [step.attempt.item.key for step in steps]

    def _finish(
        self,
        item: PlanItem,
        status: Status,
        started_at: datetime | None,
        *,
        finished_at: datetime | None = None,
        error: str | None = None,
        attempts: int = 0,
        outcome: Outcome | None = None,
    ) -> None:
        stored = outcome.stored if outcome is not None else {}
        metadata = dict(outcome.metadata) if outcome is not None else {}
        if attempts > 1:
            metadata["attempts"] = attempts
        inputs = lineage_edges(item, self._records) if started_at is not None else ()
        provenance = data_version = None
        if outcome is not None:
            provenance = compute_provenance(item, inputs, self._plan.versions)
            data_version = outcome.data_version or fallback_data_version(provenance)
        record = MaterializationRecord(
            materialization_id=self._next_record_id(),
            asset_key=item.asset_key,
            partition_key=item.partition_key,
            run_id=self.run_id,
            status=status,
            code_version=self._plan.versions.code[item.asset_key],
            uri=stored.get("uri"),
            started_at=started_at,
            finished_at=(finished_at or _now()) if started_at is not None else None,
            metadata=metadata,
            stored=stored,
            error=error,
            inputs=inputs,
            provenance_version=provenance,
            data_version=data_version,
        )
        if status is Status.SUCCESS:
            self._records[item.key] = record
            if outcome is not None and outcome.partition_changes:
                self._deferred.apply(outcome.partition_changes)
        self._recorder.add(record)
        self._claims.drop(item.key)
        self._pace.finished()
        impossible = item.blocked_by_definition if status is Status.BLOCKED else None
        result = ItemResult.from_record(record, attempts, blocked_by_definition=impossible)
        self._results[item.key] = result
        self._deferred.finished(item.key, status, blocked_by_definition=impossible is not None)
        self._emit(RunEvent("finished", item, len(self._items), result))

    def _next_record_id(self) -> str:
        """A unique id without a system call per record: the run's random id and a counter."""
        return f"{self.run_id}-{next(self._record_ids):x}"

    def _announce(self, item: PlanItem) -> None:
        """Emit the item's "started" event, once."""
        if item.key not in self._announced:
            self._announced.add(item.key)
            self._emit(RunEvent("started", item, len(self._items)))

    def _emit(self, event: RunEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


def _now() -> datetime:
    return datetime.now(UTC)
