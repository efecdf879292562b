"""The ``dask`` executor: work orders performed on a Dask ``distributed`` cluster.

Placeholder until the Dask executor lands: it says that it is not available yet.
"""

from __future__ import annotations

from flowstone.errors import ExecutorError
from flowstone.execution.executors import Executor
from flowstone.execution.work_order import WorkerSetup


async def open_dask_executor(
    setup: WorkerSetup, *, concurrency: int, address: str | None
) -> Executor:
    """Connect to the scheduler at ``address`` (a local cluster when ``None``)."""
    raise ExecutorError("The 'dask' executor is not available yet.")
