"""The driver's side of items: work orders from attempts, and the worker-thread environment.

It turns an attempt into a ``WorkOrder`` (with each input's stored mapping as the run knows it
now) and, for items run in the driver's worker threads, is the environment ``perform`` runs
in: the plan's definitions, the run's I/O managers, and the save gate that makes cancellation
safe. Once a run is cancelled no new save starts, and a save already under way is finished and
reported, so the store never points at a value that was replaced behind its back. It never
schedules and never touches the metadata store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flowstone.definitions import AssetDef
from flowstone.execution.perform import RunCancelledError, perform
from flowstone.execution.plan import ItemKey, Plan, PlanItem
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.work_order import (
    InputToLoad,
    Outcome,
    WorkerSetup,
    WorkOrder,
    WorkResult,
)
from flowstone.io import IOManager
from flowstone.keys import AssetKey
from flowstone.storage import MaterializationRecord

__all__ = ["Attempt", "LostInputError", "Materializer", "Outcome", "RunCancelledError"]


@dataclass(slots=True)
class SaveInProgress:
    """A save that has started; ``outcome`` and ``finished_at`` are set once the value is stored.

    ``attempts`` is how many tries the item took, so a record made from it after a cancel says
    the same as one made normally.
    """

    started_at: datetime
    attempts: int
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenWork:
    """What a cancel finds still open: saves under way or unclaimed, and chained items running."""

    saves: dict[ItemKey, SaveInProgress]
    followers: dict[ItemKey, datetime]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at materializing an item: what to run, which try it is (from 0), since when."""

    item: PlanItem
    definition: AssetDef[Any, Any]
    started_at: datetime
    number: int = 0


class LostInputError(Exception):
    """Inputs the store records as materialized have no stored value (a file deleted, a table
    dropped); ``lost`` gives each one's I/O manager message. The asset function did not run.

    ``tried`` holds the stored mapping each lost input was looked up with, so the runner can
    tell a value still missing from one the run replaced while this load went on.
    """

    def __init__(
        self, lost: Mapping[ItemKey, str], tried: Mapping[ItemKey, Mapping[str, Any]]
    ) -> None:
        super().__init__(f"{len(lost)} stored input value(s) missing")
        self.lost: dict[ItemKey, str] = dict(lost)
        self.tried: dict[ItemKey, Mapping[str, Any]] = dict(tried)

    @classmethod
    def of(cls, order: WorkOrder, lost: Mapping[ItemKey, str]) -> LostInputError:
        """The error for inputs of ``order`` found lost, with the mappings the order carried."""
        tried = {up: stored for spec in order.inputs for up, stored in spec.upstream}
        return cls(lost, {key: tried[key] for key in lost})


class Materializer:
    """Builds orders and performs them in worker threads; safe to call from several at once."""

    def __init__(self, plan: Plan, managers: IOManagerSet, *, run_id: str) -> None:
        self._plan = plan
        self._managers = managers
        self._run_id = run_id
        self._stored = {key: record.stored for key, record in plan.external.items()}
        self._gate = threading.Lock()
        self._cancelled = False
        self._saves: dict[ItemKey, SaveInProgress] = {}
        self._followers: dict[ItemKey, datetime] = {}
        self._attempts: dict[ItemKey, Attempt] = {}
        self._loggers: dict[AssetKey, logging.Logger] = {}

    def order(self, attempt: Attempt, setup: WorkerSetup | None = None) -> WorkOrder:
        """The work order of ``attempt``: its inputs as stored now (read once: a save may
        replace them meanwhile)."""
        item = attempt.item
        self._attempts[item.key] = attempt
        stored = self._stored
        return WorkOrder(
            asset_key=item.asset_key,
            partition_key=item.partition_key,
            run_id=self._run_id,
            attempt=attempt.number,
            inputs=tuple(
                InputToLoad(
                    spec.parameter, tuple((up, stored[up]) for up in spec.upstream), spec.many
                )
                for spec in item.inputs
                if spec.loads  # deps=: ordered and recorded in lineage, never loaded
            ),
            config=self._plan.versions.config.get(item.asset_key),
            setup=setup,
        )

    def compute(self, attempt: Attempt) -> tuple[WorkOrder, WorkResult]:
        """Perform ``attempt`` in the calling worker thread."""
        order = self.order(attempt)
        return order, perform(order, self)

    # The worker-thread environment of ``perform``.

    def definition(self, key: AssetKey) -> AssetDef[Any, Any]:
        return self._plan.asset(key)

    def manager(self, definition: AssetDef[Any, Any]) -> IOManager:
        return self._managers.for_asset(definition)

    def logger(self, key: AssetKey) -> logging.Logger:
        found = self._loggers.get(key)
        if found is None:
            found = self._loggers[key] = logging.getLogger(f"flowstone.asset.{key}")
        return found

    def begin_save(self, order: WorkOrder) -> None:
        """Refuse the save once the run is cancelled; else report it at a cancel from now on."""
        attempt = self._attempts[order.key]
        with self._gate:
            if self._cancelled:
                raise RunCancelledError("the run was cancelled before the value was stored")
            self._saves[order.key] = SaveInProgress(attempt.started_at, order.attempt + 1)

    def end_save(self, order: WorkOrder, outcome: Outcome | None) -> None:
        progress = self._saves[order.key]
        if outcome is not None:
            progress.finished_at = datetime.now(UTC)
            progress.outcome = outcome
            self._stored[order.key] = outcome.stored
        progress.done.set()

    def saved_while_cancelled(self, order: WorkOrder, result: WorkResult) -> None:
        """A worker in another process finished a save under way at the cancel: it is
        reported (and recorded) like a save of a worker thread."""
        if result.outcome is None:
            return
        attempt = self._attempts[order.key]
        progress = SaveInProgress(attempt.started_at, order.attempt + 1)
        progress.outcome, progress.finished_at = result.outcome, result.finished_at
        progress.done.set()
        with self._gate:
            self._saves[order.key] = progress
        self._stored[order.key] = result.outcome.stored

    def stored_by_worker(self, key: ItemKey, outcome: Outcome) -> None:
        """A worker in another process stored ``key``: its readers load what it returned."""
        self._stored[key] = outcome.stored

    def still_missing(self, error: LostInputError) -> dict[ItemKey, str]:
        """The inputs of ``error`` whose loadable value is still the one found missing.

        Another item's recovery may have stored an input again while this load went on; that
        input is not lost, it only has to be loaded again. Every save and every record read
        brings a new mapping, so identity tells them apart even when they are equal.
        """
        return {
            key: reason
            for key, reason in error.lost.items()
            if self._stored.get(key) is error.tried.get(key)
        }

    def add_external(self, records: Mapping[ItemKey, MaterializationRecord]) -> None:
        """Make stored inputs found while the run goes on loadable."""
        self._stored.update({key: record.stored for key, record in records.items()})

    def start_follower(self, key: ItemKey) -> datetime | None:
        """Claim a chained item's start, atomically with the cancel check; ``None`` if cancelled."""
        with self._gate:
            if self._cancelled:
                return None
            started_at = self._followers[key] = datetime.now(UTC)
            return started_at

    def forget(self, key: ItemKey) -> None:
        """The runner has recorded the item; it no longer needs reporting at cancel."""
        with self._gate:
            self._saves.pop(key, None)
            self._followers.pop(key, None)
            self._attempts.pop(key, None)

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled: no new save, and no chained item, may start."""
        return self._cancelled

    def cancel(self) -> OpenWork:
        """Refuse new saves and chained items; return what is still open. Idempotent."""
        with self._gate:
            self._cancelled = True
            return OpenWork(dict(self._saves), dict(self._followers))
