"""Recovery of inputs whose stored value disappeared (a file deleted, a table dropped).

When a run finds that an input the store records as current has no stored value, this module
decides what happens: the input is recorded as ``lost``, and when its asset is selected in the
run it is planned again (with its own inputs looked up like any plan's) so the run computes it
before the item that wanted to read it. An input whose asset is not selected is not computed
behind the user's back: the reading item fails and the message says what to select. An input
this run itself stored and then found missing is not computed a second time either.

It reads the store once per recovery (the lost items' own stored inputs) and never runs an
asset or calls an I/O manager: the runner does that.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from flowstone.execution.plan import (
    ItemKey,
    Plan,
    PlanItem,
    item_label,
    mark_blocked,
    plan_asset_items,
    read_external_inputs,
)
from flowstone.execution.result import RecoveredItem
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage import MaterializationRecord, MaterializationStatus, MetadataStore

RECOVERY_REASON = "recovery: its stored value was missing"
"""The reason a recovered item is planned with (what a dry run or a progress display shows)."""


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    """What one recovery adds to the run.

    ``items`` are computed again (``external`` are their stored inputs read just now);
    ``lost`` are the records to write; the reading item waits for ``wait_for``, or fails with
    ``refusal`` when an input cannot be recovered in this run.
    """

    items: tuple[PlanItem, ...] = ()
    external: dict[ItemKey, MaterializationRecord] = field(default_factory=dict)
    lost: tuple[MaterializationRecord, ...] = ()
    wait_for: tuple[ItemKey, ...] = ()
    refusal: str | None = None


class Recovery:
    """The recoveries of one run: what was lost, and what was computed again.

    Example:
        >>> recovery = Recovery(plan, store, run_id="r1", next_id=ids.__next__)
        >>> found = recovery.plan_for(item, {raw_key: "no file"}, planned=..., records=...,
        ...                           finished=...)
    """

    def __init__(
        self, plan: Plan, store: MetadataStore, *, run_id: str, next_id: Callable[[], str]
    ) -> None:
        self._plan = plan
        self._store = store
        self._run_id = run_id
        self._next_id = next_id
        self._recorded_lost: set[ItemKey] = set()
        self._recovered: dict[ItemKey, RecoveredItem] = {}
        self._lock = threading.Lock()
        """Readers recover in worker threads at once: what was lost or planned is decided alone."""

    @property
    def recovered(self) -> tuple[RecoveredItem, ...]:
        """Every item the run planned again because its stored value was missing."""
        return tuple(self._recovered.values())

    def plan_for(
        self,
        reader: PlanItem,
        lost: Mapping[ItemKey, str],
        *,
        planned: Collection[ItemKey],
        records: Mapping[ItemKey, MaterializationRecord],
        finished: Collection[ItemKey],
    ) -> RecoveryPlan:
        """The recovery of ``reader``'s ``lost`` inputs (called in a worker thread).

        ``planned`` are the run's items, ``finished`` those that have an outcome, ``records``
        the successes the run reads its inputs from. Readers that find the same input lost at
        once may pass ``planned`` as it was before either recovery joined the run: the input is
        still recorded lost once and planned again once; the later readers wait for it.
        """
        with self._lock:
            records_lost = tuple(
                _lost_record(
                    key, records.get(key), reason, run_id=self._run_id, new_id=self._next_id
                )
                for key, reason in lost.items()
                if key not in self._recorded_lost
            )
            self._recorded_lost.update(lost)
            refusal = _refusal(reader, lost, self._plan, planned, finished)
            if refusal is not None:
                return RecoveryPlan(lost=records_lost, refusal=refusal)
            planned = {*planned, *self._recovered}
            new = [key for key in lost if key not in planned]
            for key in new:
                self._recovered[key] = RecoveredItem(key[0], key[1], _short_reason(lost[key]))
        items, external = self._plan_items(new, planned, records)
        return RecoveryPlan(items, external, records_lost, tuple(lost))

    def _plan_items(
        self,
        keys: list[ItemKey],
        planned: Collection[ItemKey],
        records: Mapping[ItemKey, MaterializationRecord],
    ) -> tuple[tuple[PlanItem, ...], dict[ItemKey, MaterializationRecord]]:
        """Plan ``keys`` like any item: their inputs come from the run or from the store."""
        if not keys:
            return (), {}
        partitions: defaultdict[AssetKey, list[PartitionKey]] = defaultdict(list)
        for asset_key, partition_key in keys:
            partitions[asset_key].append(partition_key)
        graph, state = self._plan.graph, self._plan.state
        drafted = [
            item
            for asset_key, partition_keys in partitions.items()
            for item in plan_asset_items(graph, asset_key, partition_keys, state)
        ]
        known = {*planned, *keys}
        external = read_external_inputs(drafted, {*known, *records}, self._store)
        available = {**records, **external}
        assets = {key[0] for key in known}
        items = tuple(
            replace(mark_blocked(graph, item, known, available, assets), reason=RECOVERY_REASON)
            for item in drafted
        )
        return items, external


def _refusal(
    reader: PlanItem,
    lost: Mapping[ItemKey, str],
    plan: Plan,
    planned: Collection[ItemKey],
    finished: Collection[ItemKey],
) -> str | None:
    """Why ``lost`` cannot be recovered in this run (``None`` when it can)."""
    again = [key for key in lost if key in finished]
    if again:
        return (
            f"input {item_label(again[0])} was stored by this run and its value is missing again "
            f"({_short_reason(lost[again[0]])}). Check the I/O manager's storage (is something "
            f"deleting it?), then materialize again."
        )
    outside = [key for key in lost if key not in planned and key[0] not in plan.versions.code]
    if not outside:
        return None
    shown = ", ".join(item_label(key) for key in outside[:3]) + (" ..." if len(outside) > 3 else "")
    return (
        f"the stored value of input {shown} is missing ({_short_reason(lost[outside[0]])}); it "
        f"is recorded as lost. Its asset is not selected in this run, so it was not computed "
        f"again: select it too, e.g. flowstone materialize '+{reader.asset_key}'."
    )


def _lost_record(
    key: ItemKey,
    previous: MaterializationRecord | None,
    reason: str,
    *,
    run_id: str,
    new_id: Callable[[], str],
) -> MaterializationRecord:
    """The record that says ``key``'s last success no longer has its stored value."""
    return MaterializationRecord(
        materialization_id=new_id(),
        asset_key=key[0],
        partition_key=key[1],
        run_id=run_id,
        status=MaterializationStatus.LOST,
        code_version=previous.code_version if previous is not None else None,
        uri=previous.uri if previous is not None else None,
        finished_at=datetime.now(UTC),
        stored=dict(previous.stored) if previous is not None else {},
        error=f"stored value missing: {reason}",
        metadata={"lost_materialization_id": previous.materialization_id} if previous else {},
    )


def _short_reason(reason: str) -> str:
    """The I/O manager's first sentence, for one-line reports."""
    return reason.strip().split(". ")[0] or "no value is stored"
