"""The end of a run, however it ends: what is still open is recorded, then the run itself.

Kept apart from scheduling because it runs when the schedule no longer does (after a failure or
a cancel, shielded): saves already under way are waited for and recorded as they ended, items
still running are recorded cancelled, the records are written, the claims released and the run
marked finished. A success is never recorded for a value that was not stored.
"""

from __future__ import annotations

import logging

import anyio.to_thread

from flowstone.errors import FlowstoneError
from flowstone.execution.claims import ItemClaims
from flowstone.execution.ledger import RunLedger, Status, now
from flowstone.execution.materializer import Materializer, SaveInProgress
from flowstone.execution.plan import ItemKey
from flowstone.execution.schedule import Schedule
from flowstone.storage import MetadataStore, RunStatus

SAVE_GRACE_SECONDS = 60.0
"""How long a cancelled run waits for a save already under way, so it is recorded."""
_log = logging.getLogger("flowstone.execution.runner")
"""The runner's log, whichever of its modules speaks: the name a user filters on stays one."""


async def close_run(
    ledger: RunLedger,
    schedule: Schedule,
    materializer: Materializer,
    *,
    claims: ItemClaims,
    store: MetadataStore,
    status: RunStatus,
) -> None:
    """Record what is still open (saves under way, cancelled items) and finish the run.

    Raises:
        StorageError: the records could not be written; the run is recorded failed.
    """
    open_work = materializer.cancel()
    for key, save in open_work.saves.items():
        await anyio.to_thread.run_sync(save.done.wait, SAVE_GRACE_SECONDS)
        _record_save(ledger, schedule, key, save)
    running = {**open_work.followers, **ledger.running}
    for key, started_at in running.items():
        if key not in ledger.results:
            ledger.announce(schedule.items[key])
            ledger.finish(schedule.items[key], Status.CANCELLED, started_at, error="run cancelled")
    ledger.running.clear()
    try:
        await ledger.recorder.flush()
    except FlowstoneError:
        status = RunStatus.FAILED
        raise
    finally:
        await anyio.to_thread.run_sync(_finish_run_quietly, claims, store, ledger.run_id, status)


def _record_save(ledger: RunLedger, schedule: Schedule, key: ItemKey, save: SaveInProgress) -> None:
    """Record an item whose save was under way at the cancel: a success only if it stored."""
    ledger.running.pop(key, None)
    if key in ledger.results:
        return
    item = schedule.items[key]
    ledger.announce(item)
    if save.outcome is None:
        ledger.finish(item, Status.CANCELLED, save.started_at, error="run cancelled")
        return
    ledger.finish(
        item, Status.SUCCESS, save.started_at, finished_at=save.finished_at,
        attempts=save.attempts, outcome=save.outcome,
    )  # fmt: skip


def _finish_run_quietly(
    claims: ItemClaims, store: MetadataStore, run_id: str, status: RunStatus
) -> None:
    try:
        claims.release()
        store.finish_run(run_id, status, now())
    except FlowstoneError:
        _log.exception("could not record the end of run %s", run_id)
