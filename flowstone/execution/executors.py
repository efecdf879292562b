"""Choosing where items run: the driver's threads, a process pool, or a Dask cluster.

The runner performs items on the ``threads`` executor itself (in worker threads, async ones
on its event loop); every other executor takes work orders and gives back work results. Each
is imported only when a run needs it, so ``import flowstone`` stays light and ``distributed``
is never imported by a run on threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from flowstone.definitions import AssetDef
from flowstone.execution.work_order import WorkerSetup, WorkOrder, WorkResult

THREADS = "threads"


class Executor(Protocol):
    """Performs work orders away from the driver's threads."""

    name: str

    def start(self, count: int) -> None:
        """Get ``count`` workers ready before the first order (a hint; may do nothing)."""
        ...

    async def run(self, order: WorkOrder) -> WorkResult: ...

    async def aclose(self) -> None: ...


def executor_of(definition: AssetDef[Any, Any], default: str) -> str:
    """The executor ``definition``'s items run on: its own choice, else the run's."""
    return definition.executor or default


async def open_executor(
    name: str,
    setup: WorkerSetup,
    *,
    concurrency: int,
    dask_address: str | None,
    on_late_save: Callable[[WorkOrder, WorkResult], None],
) -> Executor:
    """Start the executor ``name`` (not ``threads``) for one run.

    Raises:
        ExecutorError: it cannot start (a missing extra, an unreachable scheduler).
    """
    if name == "processes":
        from flowstone.execution.process_pool import ProcessExecutor  # noqa: PLC0415 - lazy

        return ProcessExecutor(setup, concurrency=concurrency, on_late_save=on_late_save)
    from flowstone.execution.dask_cluster import open_dask_executor  # noqa: PLC0415 - lazy

    return await open_dask_executor(setup, concurrency=concurrency, address=dask_address)
