"""The end of every item of a run, recorded once: its materialization record, result and event.

Whatever way an item ends (computed, failed, skipped, judged unchanged, cancelled), it ends here,
so its record, the claim it drops and the event a caller sees always agree. It keeps the
successes the run's items read as inputs. It never schedules or runs an item; its records reach
the store in the recorder's batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

from flowstone.execution.chain import ChainStep
from flowstone.execution.claims import ClaimPace, ItemClaims
from flowstone.execution.deferral import DeferredAssets
from flowstone.execution.judgement import compute_provenance
from flowstone.execution.materializer import Materializer, Outcome
from flowstone.execution.plan import ItemKey, Plan, PlanItem, lineage_edges
from flowstone.execution.recorder import MaterializationRecorder
from flowstone.execution.result import ItemResult, RunEvent
from flowstone.execution.schedule import Schedule
from flowstone.storage import MaterializationRecord, MaterializationStatus, MetadataStore
from flowstone.versioning import fallback_data_version

Status = MaterializationStatus


class RunLedger:
    """What the items of one run started and how each ended.

    Example:
        >>> ledger.announce(item)
        >>> ledger.finish(item, Status.SKIPPED, None, error="upstream raw failed")
    """

    def __init__(
        self,
        plan: Plan,
        schedule: Schedule,
        *,
        run_id: str,
        store: MetadataStore,
        materializer: Materializer,
        claims: ItemClaims,
        pace: ClaimPace,
        deferred: DeferredAssets,
        on_event: Callable[[RunEvent], None] | None,
    ) -> None:
        self._plan = plan
        self._schedule = schedule
        self.run_id = run_id
        self.recorder = MaterializationRecorder(store, breakdowns=plan.versions.code_breakdowns)
        self._materializer = materializer
        self._claims = claims
        self._pace = pace
        self._deferred = deferred
        self._on_event = on_event
        self._record_ids = itertools.count()
        self.results: dict[ItemKey, ItemResult] = {}
        self.records: dict[ItemKey, MaterializationRecord] = dict(plan.external)
        """The last success of each item the run's items read: stored or made by this run."""
        self.running: dict[ItemKey, datetime] = {}
        """Items started and not yet finished, with when they started."""
        self._announced: set[ItemKey] = set()

    def next_record_id(self) -> str:
        """A unique id without a system call per record: the run's random id and a counter."""
        return f"{self.run_id}-{next(self._record_ids):x}"

    def announce(self, item: PlanItem) -> None:
        """Emit the item's "started" event, once."""
        if item.key not in self._announced:
            self._announced.add(item.key)
            self._emit(RunEvent("started", item, len(self._schedule.items)))

    def any_input_ran(self, item: PlanItem) -> bool:
        """Whether an input of ``item`` was run or judged in this run (not only read as stored)."""
        return any(up in self.results for spec in item.inputs for up in spec.upstream)

    def upstream_problem(self, item: PlanItem) -> str | None:
        """Why ``item`` cannot run: an input of it ended in this run without a current value."""
        for spec in item.inputs:
            for up in spec.upstream:
                result = self.results.get(up)
                if result is not None and not result.status.is_current:
                    return f"upstream {result.label} {result.status.value}"
        return None

    def finish_steps(self, steps: list[ChainStep], *, attempts: int) -> list[ItemKey]:
        """Record the items of a chain, in order; return their keys."""
        for index, step in enumerate(steps):
            item = step.attempt.item
            self._materializer.forget(item.key)
            self.running.pop(item.key, None)
            self.announce(item)
            self.finish(
                item,
                Status.SUCCESS if step.outcome is not None else Status.FAILED,
                step.attempt.started_at,
                finished_at=step.finished_at,
                error=step.error,
                attempts=attempts if index == 0 else 1,
                outcome=step.outcome,
            )
        return [step.attempt.item.key for step in steps]

    def finish(
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
        """Record how ``item`` ended (``started_at`` is ``None`` when it never started)."""
        record = self._record(
            item, status, started_at, finished_at=finished_at, error=error,
            attempts=attempts, outcome=outcome,
        )  # fmt: skip
        if status is Status.SUCCESS:
            self.records[item.key] = record
            if outcome is not None and outcome.partition_changes:
                self._deferred.apply(outcome.partition_changes)
        self.recorder.add(record)
        self._claims.drop(item.key)
        self._pace.finished()
        impossible = item.blocked_by_definition if status is Status.BLOCKED else None
        result = ItemResult.from_record(record, attempts, blocked_by_definition=impossible)
        self.results[item.key] = result
        self._deferred.finished(item.key, status, blocked_by_definition=impossible is not None)
        self._emit(RunEvent("finished", item, len(self._schedule.items), result))

    def _record(
        self,
        item: PlanItem,
        status: Status,
        started_at: datetime | None,
        *,
        finished_at: datetime | None,
        error: str | None,
        attempts: int,
        outcome: Outcome | None,
    ) -> MaterializationRecord:
        stored = outcome.stored if outcome is not None else {}
        metadata = dict(outcome.metadata) if outcome is not None else {}
        if attempts > 1:
            metadata["attempts"] = attempts
        inputs = lineage_edges(item, self.records) if started_at is not None else ()
        provenance = data_version = None
        if outcome is not None:
            provenance = compute_provenance(item, inputs, self._plan.versions)
            data_version = outcome.data_version or fallback_data_version(provenance)
        return MaterializationRecord(
            materialization_id=self.next_record_id(),
            asset_key=item.asset_key,
            partition_key=item.partition_key,
            run_id=self.run_id,
            status=status,
            code_version=self._plan.versions.code[item.asset_key],
            uri=stored.get("uri"),
            started_at=started_at,
            finished_at=(finished_at or now()) if started_at is not None else None,
            metadata=metadata,
            stored=stored,
            error=error,
            inputs=inputs,
            provenance_version=provenance,
            data_version=data_version,
        )

    def _emit(self, event: RunEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


def now() -> datetime:
    """The time records are stamped with."""
    return datetime.now(UTC)
