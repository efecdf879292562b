"""The runner: executes a plan with anyio, starting each item as soon as its inputs are ready.

Sync asset functions run in worker threads (load, compute and save in one hop), async ones on the
event loop. A failure skips its dependents and lets independent branches finish. Cancellation
(Ctrl-C) records running items as cancelled, finishes and records saves already under way, and
never records a success for an unstored value. This module schedules and runs items; what each
waits for is the schedule's, how each ended the ledger's, the claims shared with other runs the
handover's, and the end of the run closing's. It never prints; it reports progress through an
optional callback.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from flowstone.execution.absent_inputs import AbsentInputs
from flowstone.execution.chain import ChainStep
from flowstone.execution.claims import POLL_SECONDS, ClaimPace, ItemClaims
from flowstone.execution.closing import close_run
from flowstone.execution.deferral import DeferredAssets
from flowstone.execution.executors import THREADS, Executor, executor_of, open_executor
from flowstone.execution.failure import describe_error, sole_flowstone_error
from flowstone.execution.handover import ClaimHandover
from flowstone.execution.judgement import is_unchanged
from flowstone.execution.ledger import RunLedger, Status, now
from flowstone.execution.materializer import Attempt, LostInputError, Materializer
from flowstone.execution.perform import LostInputs, RunCancelledError, prepare, store
from flowstone.execution.plan import ItemKey, Plan, PlanItem, mark_blocked
from flowstone.execution.recovery import Recovery, RecoveryPlan
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.result import RunEvent, RunResult
from flowstone.execution.schedule import Schedule
from flowstone.execution.worker_setup import build_worker_setup
from flowstone.keys import AssetKey
from flowstone.storage import MetadataStore, RunRecord, RunStatus

CHAIN_BUDGET_SECONDS = 0.05
"""How long a worker thread may go on down a chain before handing its results to the loop."""


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
        executor: str = THREADS,
        dask_address: str | None = None,
    ) -> None:
        """
        Raises:
            ConfigError: an asset cannot run on the executor chosen for it.
        """
        self._plan = plan
        self._store = store
        self.run_id = run_id or uuid.uuid4().hex
        self._concurrency = concurrency
        self._threads = anyio.CapacityLimiter(concurrency)
        self._active = 0
        self._ready: deque[PlanItem] = deque()
        self._schedule = Schedule(plan)
        self._deferred = DeferredAssets(plan, store)
        self._materializer = Materializer(plan, managers, run_id=self.run_id)
        self._executor = executor
        self._dask_address = dask_address
        self._executors: dict[str, Executor] = {}
        self._elsewhere = _runs_elsewhere(plan, executor)
        self._setup = (
            None
            if not self._elsewhere
            else build_worker_setup(
                plan, managers, run_id=self.run_id, remote=self._elsewhere.items()
            )
        )
        self._claims = ItemClaims(store, self.run_id, lease_seconds=lease_seconds)
        self._pace = ClaimPace(concurrency)
        self._ledger = RunLedger(
            plan, self._schedule, run_id=self.run_id, store=store,
            materializer=self._materializer, claims=self._claims, pace=self._pace,
            deferred=self._deferred, on_event=on_event,
        )  # fmt: skip
        next_id = self._ledger.next_record_id
        self._recovery = Recovery(plan, store, run_id=self.run_id, next_id=next_id)
        self._skip_reasons: dict[ItemKey, str] = {}
        self._fresh: list[ItemKey] = []
        self._handover = ClaimHandover(
            plan, self._claims, schedule=self._schedule, ledger=self._ledger,
            materializer=self._materializer, on_released=self._on_released,
        )  # fmt: skip
        self._to_claim: deque[ItemKey] = deque()
        """Ready items to claim before they run (or are judged), in the order they got ready."""
        self._claiming = False
        self._absent = AbsentInputs(store, self.run_id)

    async def run(self) -> RunResult:
        """Execute the plan; return every item's outcome.

        Raises:
            StorageError: the metadata store failed; everything recorded so far is kept.
            ExecutorError: the executor could not start; nothing was recorded.
        """
        await self.open_executors()
        try:
            return await self._run()
        finally:
            await self.close_executors()

    async def open_executors(self) -> None:
        """Start the executors other than threads that the plan's assets run on (once), so a
        scheduler that cannot be reached fails before anything is recorded.

        Raises:
            ExecutorError: an executor could not start; the others are closed again.
        """
        setup = self._setup
        if setup is None or self._executors:
            return
        counts = Counter(self._elsewhere.get(item.asset_key) for item in self._plan.items)
        for name in sorted(set(self._elsewhere.values())):
            try:
                opened = await open_executor(
                    name, setup, concurrency=self._concurrency, dask_address=self._dask_address,
                    on_late_save=self._materializer.saved_while_cancelled,
                )  # fmt: skip
            except BaseException:
                await self.close_executors()
                raise
            self._executors[name] = opened
            opened.start(counts[name])

    async def close_executors(self) -> None:
        """Stop the executors' workers; idempotent."""
        with anyio.CancelScope(shield=True):
            while self._executors:
                _, opened = self._executors.popitem()
                await opened.aclose()

    async def _run(self) -> RunResult:
        run = RunRecord(
            run_id=self.run_id,
            status=RunStatus.RUNNING,
            selection=[str(key) for key in self._plan.selection],
            started_at=now(),
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
                await close_run(
                    self._ledger, self._schedule, self._materializer,
                    claims=self._claims, store=self._store, status=status,
                )  # fmt: skip
        results = self._ledger.results
        items = tuple(results[key] for key in self._schedule.order if key in results)
        fresh = (*self._plan.fresh, *self._fresh)
        recovered = self._recovery.recovered
        if recovered:  # a recovered item was judged fresh before its value was found missing
            fresh = tuple(key for key in fresh if key not in results)
        return RunResult(self.run_id, status, items, fresh, recovered)

    async def _expand_deferred(self) -> None:
        """Plan deferred assets whose upstream assets have all finished, and queue their items."""
        schedule = self._schedule
        while (expanded := await self._deferred.expand_ready(schedule.items.keys())) is not None:
            items, skip = expanded
            new = [item for item in items if item.key not in schedule.items]
            if skip is not None:
                self._skip_reasons.update(dict.fromkeys((item.key for item in new), skip))
            schedule.order.extend(item.key for item in new)
            self._materializer.add_external(self._deferred.external)
            self._ledger.records.update(self._deferred.external)
            schedule.states.update(self._deferred.states)
            self._queue(schedule.add(new, finished=self._ledger.results))

    async def _run_items(self) -> None:
        async with anyio.create_task_group() as background:
            background.start_soon(self._ledger.recorder.flush_periodically)
            background.start_soon(self._handover.keep_claims)
            async with anyio.create_task_group() as workers:
                if self._plan.force:  # it read no states: what moves from now on is reused
                    keys = list(self._schedule.items)
                    await anyio.to_thread.run_sync(self._claims.read_baselines, keys)
                items = list(self._schedule.items.values())
                await anyio.to_thread.run_sync(self._absent.find, items)
                if self._absent.waiting:
                    workers.start_soon(self._wait_for_inputs, workers)
                self._queue([key for key, count in self._schedule.waiting.items() if count == 0])
                await self._expand_deferred()
                self._start_workers(workers)
            background.cancel_scope.cancel()

    def _all_succeeded(self) -> bool:
        return all(result.is_done for result in self._ledger.results.values())

    async def _wait_for_inputs(self, task_group: TaskGroup) -> None:
        """Judge again, as other runs' claims on their absent inputs end, the blocked items
        that wait for them: they run if the inputs exist now (cut off if current)."""
        schedule, records = self._schedule, self._ledger.records
        while self._absent.waiting:
            await anyio.sleep(POLL_SECONDS)
            ready, found = await anyio.to_thread.run_sync(self._absent.settle)
            records.update(found)
            self._materializer.add_external(found)
            planned = set(schedule.items)
            assets = {key[0] for key in planned}
            for item in ready:
                unblocked = replace(item, blocked=None)
                again = mark_blocked(self._plan.graph, unblocked, planned, records, assets)
                schedule.items[item.key] = (
                    again if again.blocked else replace(again, conditional=True)
                )
            self._queue([item.key for item in ready if schedule.waiting[item.key] == 0])
            self._start_workers(task_group)

    async def _claim_ready(self, task_group: TaskGroup) -> None:
        """Claim ready items a batch at a time while the workers want more, then queue them:
        those claimed go on (judged again first when another run stored them since), those
        another run holds are parked."""
        try:
            while self._to_claim and (size := self._pace.batch_size(self._in_hand())) > 0:
                batch = [self._to_claim.popleft() for _ in range(min(size, len(self._to_claim)))]
                chains = self._schedule.with_chains(
                    batch, mine=self._claims.mine, held=self._claims.held
                )
                await self._handover.claim(chains, task_group)
                self._queue(batch)
                await self._expand_deferred()  # items judged fresh may have finished an asset
                self._start_workers(task_group)
        finally:
            self._claiming = False
        self._start_workers(task_group)

    def _in_hand(self) -> int:
        """Claimed items running or queued to run."""
        return self._active + len(self._ready)

    async def _on_released(self, ready: list[ItemKey], task_group: TaskGroup) -> None:
        """Parked items whose claims other runs gave up: queue them."""
        self._queue(ready)
        await self._expand_deferred()
        self._start_workers(task_group)

    def _queue(self, ready: list[ItemKey]) -> None:
        """Queue the items that can run; skip (iteratively) those whose inputs cannot exist."""
        ledger, schedule, states = self._ledger, self._schedule, self._schedule.states
        while ready:
            key = ready.pop()
            if key in ledger.results or key in self._absent.waiting:  # run, or held back
                continue
            item = schedule.items[key]
            reason = item.blocked or self._skip_reasons.get(key) or ledger.upstream_problem(item)
            if reason is None and key in self._claims.held:
                self._handover.parked.add(key)
                continue
            if reason is None and key not in self._claims.mine:
                self._to_claim.append(key)
                continue
            if (
                reason is None
                and item.conditional
                and is_unchanged(item, states.get(key), ledger.records, self._plan.versions)
            ):
                if ledger.any_input_ran(item):
                    ledger.finish(item, Status.UNCHANGED, None, error="unchanged inputs")
                    ready.extend(schedule.unblock(key))
                    continue
                # Planned during the run and found current: as if judged fresh up front.
                self._fresh.append(key)
                self._handover.unclaimed.append(key)
                self._deferred.finished(key, Status.SUCCESS)
                ready.extend(schedule.unblock(key))
                del schedule.items[key]
                continue
            if reason is None:
                self._ready.append(item)
                continue
            status = Status.BLOCKED if item.blocked else Status.SKIPPED
            ledger.finish(item, status, None, error=reason)
            ready.extend(schedule.unblock(key))

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
                    self._queue(self._schedule.unblock(key))
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

    async def _execute(self, item: PlanItem) -> list[ItemKey]:
        """Run ``item`` (with its retries, and its chain); return the keys it finished, in order."""
        definition = self._plan.asset(item.asset_key)
        started_at = now()
        self._ledger.running[item.key] = started_at
        self._ledger.announce(item)
        policy = definition.retry_policy
        error: str | None = None
        for attempt in range(policy.max_retries + 1):
            if attempt:
                await anyio.sleep(policy.delay_before(attempt))
            try:
                steps = await self._attempt(Attempt(item, definition, started_at, attempt))
            except LostInputError as lost:
                return await self._recover(item, lost)
            if steps[0].error is not None:  # an asset's own error: recorded, never raised
                error = steps[0].error
                continue
            return self._ledger.finish_steps(steps, attempts=attempt + 1)
        del self._ledger.running[item.key]
        self._ledger.finish(item, Status.FAILED, started_at, error=error, attempts=attempt + 1)
        return [item.key]

    async def _attempt(self, attempt: Attempt) -> list[ChainStep]:
        definition = attempt.definition
        executor = self._executors.get(executor_of(definition, self._executor))
        if executor is not None:
            return await self._attempt_elsewhere(executor, attempt)
        if not definition.is_async:
            return await anyio.to_thread.run_sync(
                self._compute_chain, attempt, abandon_on_cancel=True, limiter=self._threads
            )
        work = self._materializer
        order = work.order(attempt)
        try:
            _, context, kwargs = await anyio.to_thread.run_sync(
                prepare, order, work, limiter=self._threads
            )
        except LostInputs as lost:
            raise LostInputError.of(order, lost.lost) from None
        except Exception as exc:
            return [ChainStep(attempt, now(), error=describe_error(exc))]
        try:
            value = await definition.fn(**kwargs)
            outcome = await anyio.to_thread.run_sync(
                store, order, work, context, value, abandon_on_cancel=True, limiter=self._threads
            )
        except RunCancelledError:
            raise
        except Exception as exc:
            return [ChainStep(attempt, now(), error=describe_error(exc))]
        return [ChainStep(attempt, now(), outcome)]

    async def _attempt_elsewhere(self, executor: Executor, attempt: Attempt) -> list[ChainStep]:
        """Send ``attempt`` to a worker in another process; record its own timing."""
        order = self._materializer.order(attempt, self._setup)
        result = await executor.run(order)
        log = self._materializer.logger(attempt.item.asset_key)
        for level, message in result.logs:
            log.log(level, message)
        if result.lost:
            raise LostInputError.of(order, result.lost)
        if attempt.number == 0:  # when the worker began it, not when it was sent
            attempt = replace(attempt, started_at=result.started_at)
        if result.outcome is None:
            return [ChainStep(attempt, result.finished_at, error=result.error)]
        self._materializer.stored_by_worker(order.key, result.outcome)
        return [ChainStep(attempt, result.finished_at, result.outcome)]

    def _compute_chain(self, first: Attempt) -> list[ChainStep]:
        """In a worker thread: run ``first``, then its successors while they succeed.

        A chain hands back to the event loop after ``CHAIN_BUDGET_SECONDS`` so that records and
        progress of quick items are never held back for long.
        """
        order, result = self._materializer.compute(first)
        if result.lost:
            raise LostInputError.of(order, result.lost)
        steps = [ChainStep(first, result.finished_at, result.outcome, result.error)]
        deadline = time.monotonic() + CHAIN_BUDGET_SECONDS
        follower = self._schedule.successors.get(first.item.key) if result.outcome else None
        mine = self._claims.mine
        while follower is not None and follower.key in mine and time.monotonic() < deadline:
            definition = self._plan.asset(follower.asset_key)
            if executor_of(definition, self._executor) != THREADS:
                break
            started_at = self._materializer.start_follower(follower.key)
            if started_at is None:
                break
            attempt = Attempt(follower, definition, started_at)
            _, result = self._materializer.compute(attempt)
            if result.lost:  # it runs again on its own, where its inputs are recovered
                self._materializer.forget(follower.key)
                break
            steps.append(ChainStep(attempt, result.finished_at, result.outcome, result.error))
            if result.outcome is None:
                break
            follower = self._schedule.successors.get(follower.key)  # pruned as others take over
        return steps

    async def _recover(self, item: PlanItem, lost: LostInputError) -> list[ItemKey]:
        """Inputs of ``item`` have no stored value: record them lost and compute them again
        before ``item`` runs once more, or fail ``item`` saying why they cannot be."""
        ledger, schedule = self._ledger, self._schedule
        started_at = ledger.running.pop(item.key)
        missing = self._materializer.still_missing(lost)
        # Stored again by this run while the load went on: not lost, read once they finish.
        replaced = [key for key in lost.lost if key not in missing and key in schedule.items]
        found = RecoveryPlan()
        if missing:
            found = await anyio.to_thread.run_sync(
                partial(
                    self._recovery.plan_for, item, missing, planned=set(schedule.items),
                    records=dict(ledger.records), finished=set(ledger.results),
                )
            )  # fmt: skip
        for record in found.lost:
            ledger.recorder.add(record)
        if found.refusal is not None:
            ledger.finish(item, Status.FAILED, started_at, error=found.refusal)
            return [item.key]
        # Another reader's recovery, planned at the same time, may have added them already.
        new = [recovered for recovered in found.items if recovered.key not in schedule.items]
        schedule.insert_before(item.key, [recovered.key for recovered in new])
        ledger.records.update(found.external)
        self._materializer.add_external(found.external)
        self._deferred.add_items(recovered.key for recovered in new)
        ready = schedule.add(new, finished=ledger.results)
        waiting = [key for key in (*found.wait_for, *replaced) if key not in ledger.results]
        schedule.wait_for(item.key, waiting)
        # They are claimed once ready, judged against the store as it is now: not the plan's.
        self._claims.take_baseline_from_store(recovered.key for recovered in new)
        self._queue(ready if waiting else [*ready, item.key])
        return []


def _runs_elsewhere(plan: Plan, default: str) -> dict[AssetKey, str]:
    """The plan's assets that run on an executor other than threads, with its name."""
    keys = {*plan.selection, *(item.asset_key for item in plan.items)}
    chosen = {key: executor_of(plan.asset(key), default) for key in keys}
    return {key: name for key, name in chosen.items() if name != THREADS}
