"""The ``processes`` executor: work orders performed in pool processes of this machine.

Each worker is a ``concurrent.futures.ProcessPoolExecutor`` of one process, started once per
run and reused for order after order; one pool per worker means that a worker that dies
(SIGKILL, out of memory, ``os._exit``) fails exactly the item it was running, with its signal
or exit code, and is replaced while the others go on. Processes start with ``forkserver``
(``spawn`` where there is none), never plain ``fork`` from a driver that holds threads and an
event loop; the fork server preloads flowstone so a new worker starts in milliseconds.

A shared gate per worker makes cancellation as safe as with threads: a cancelled item whose
save has not begun never saves, and one whose save is under way is waited for and recorded.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread

from flowstone.execution import worker
from flowstone.execution.work_order import WorkerSetup, WorkOrder, WorkResult

SAVE_GRACE_SECONDS = 30.0
"""How long a cancel waits for a save a worker process has begun."""

LateSave = Callable[[WorkOrder, WorkResult], None]
"""Told of a cancelled item whose save was under way and finished: it is recorded stored."""


class ProcessExecutor:
    """Runs orders in up to ``concurrency`` worker processes."""

    name = "processes"

    def __init__(self, setup: WorkerSetup, *, concurrency: int, on_late_save: LateSave) -> None:
        self._setup = setup
        self._concurrency = concurrency
        self._on_late_save = on_late_save
        self._context = multiprocessing.get_context(_start_method())
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._waiters = anyio.CapacityLimiter(concurrency)

    def start(self, count: int) -> None:
        """Start ``count`` workers now, each importing the definitions, so the first items
        do not wait for them."""
        for _ in range(min(count, self._concurrency) - len(self._idle)):
            self._idle.append(self._new_worker())

    async def run(self, order: WorkOrder) -> WorkResult:
        """Perform ``order`` in a worker process; a dead worker fails only this order."""
        started_at = datetime.now(UTC)
        while self._idle and not self._idle[-1].is_alive():  # died while idle: replace it
            self._idle.pop().retire()
        chosen = self._idle.pop() if self._idle else self._new_worker()
        self._busy.add(chosen)
        try:
            result = await self._run_on(chosen, order)
        except BrokenProcessPool:
            chosen.retire()
            return WorkResult(
                started_at, datetime.now(UTC),
                error=f"worker process died ({chosen.how_it_ended()}) while computing "
                f"{order.asset_key}[{order.partition_key}]",
            )  # fmt: skip
        except anyio.get_cancelled_exc_class():
            chosen.retire()
            raise
        except Exception as exc:  # the order or its result could not cross the process boundary
            self._idle.append(chosen)
            return WorkResult(
                started_at, datetime.now(UTC),
                error=f"{order.asset_key}[{order.partition_key}] could not be passed between "
                f"the driver and a worker process: {type(exc).__name__}: {exc}. Values, configs "
                f"and I/O managers of assets on the 'processes' executor must be picklable.",
            )  # fmt: skip
        finally:
            self._busy.discard(chosen)
        self._idle.append(chosen)
        return result

    async def _run_on(self, chosen: _Worker, order: WorkOrder) -> WorkResult:
        future = chosen.submit(order)
        try:
            result: WorkResult = await anyio.to_thread.run_sync(
                future.result, abandon_on_cancel=True, limiter=self._waiters
            )
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._settle(chosen, future, order)
            raise
        return result

    async def _settle(self, chosen: _Worker, future: Future[WorkResult], order: WorkOrder) -> None:
        """At a cancel: stop the item before its save, or wait for the save under way."""
        if not chosen.cancel_unless_saving():
            return
        try:
            result = await anyio.to_thread.run_sync(future.result, SAVE_GRACE_SECONDS)
        except Exception:  # died or timed out while saving: nothing is known to be stored
            return
        if result.outcome is not None:
            self._on_late_save(order, result)

    async def aclose(self) -> None:
        """Stop every worker: idle ones at once, busy ones (cancelled items) killed."""
        for each in (*self._idle, *self._busy):
            each.retire()
        self._idle.clear()
        self._busy.clear()

    def _new_worker(self) -> _Worker:
        return _Worker(self._context, self._setup)


class _Worker:
    """One pool process, its save gate, and how it ended."""

    def __init__(self, context: Any, setup: WorkerSetup) -> None:
        self._gate = context.Value("b", worker.COMPUTING)
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context,
            initializer=worker.start_pool_process, initargs=(self._gate,),
        )  # fmt: skip
        self._ready = self._pool.submit(worker.warm_up, setup)
        self._process = next(iter(self._pool._processes.values()))

    def submit(self, order: WorkOrder) -> Future[WorkResult]:
        self._gate.value = worker.COMPUTING
        return self._pool.submit(worker.run_order, order)

    def cancel_unless_saving(self) -> bool:
        """Cancel the item unless its save began; return whether it did."""
        with self._gate.get_lock():
            if self._gate.value == worker.SAVING:
                return True
            self._gate.value = worker.CANCELLED
            return False

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def how_it_ended(self) -> str:
        self._process.join(timeout=5)
        code = self._process.exitcode
        if code is None:
            return "it stopped answering"
        if code < 0:
            try:
                return f"signal {-code}, {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    def retire(self) -> None:
        """Stop the process (killed if it is still computing) without waiting for its items."""
        if self._process.is_alive():
            self._process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        multiprocessing.get_context("forkserver").set_forkserver_preload(
            ["flowstone.execution.worker"]
        )
        return "forkserver"
    return "spawn"
