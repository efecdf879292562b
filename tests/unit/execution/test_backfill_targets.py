"""Which items of a backfill another run stored while it went on (``find_reused``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flowstone.execution.backfill_targets import find_reused
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage import (
    BackfillRecord,
    BackfillStatus,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
)
from flowstone.storage.sql import SqlMetadataStore

CREATED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
RAW = AssetKey(("raw",))
Item = tuple[AssetKey, PartitionKey]


def _record(
    item: Item, run_id: str, status: MaterializationStatus, at: datetime
) -> MaterializationRecord:
    return MaterializationRecord(
        materialization_id=f"{run_id}-{item[1]}-{at.timestamp()}",
        asset_key=item[0],
        partition_key=item[1],
        run_id=run_id,
        status=status,
        started_at=at,
        finished_at=at,
    )


def _backfill(store: SqlMetadataStore, items: list[Item]) -> BackfillRecord:
    record = BackfillRecord(
        backfill_id="bf-1", status=BackfillStatus.RUNNING, policy="stale",
        created_at=CREATED, updated_at=CREATED, item_count=len(items),
    )  # fmt: skip
    store.add_backfill(record, items)
    store.add_run(RunRecord(run_id="own", status=RunStatus.RUNNING, started_at=CREATED))
    store.add_backfill_run("bf-1", "own")
    store.add_run(RunRecord(run_id="other", status=RunStatus.RUNNING, started_at=CREATED))
    found = store.get_backfill("bf-1")
    assert found is not None
    return found


def test_a_success_by_another_run_since_the_backfill_began_is_reused(
    store: SqlMetadataStore,
) -> None:
    later, earlier = CREATED + timedelta(seconds=5), CREATED - timedelta(days=1)
    items: list[Item] = [(RAW, day) for day in ("d1", "d2", "d3", "d4", "d5")]
    record = _backfill(store, items)
    ok, failed = MaterializationStatus.SUCCESS, MaterializationStatus.FAILED
    store.add_materializations(
        [
            _record(items[0], "other", ok, later),  # stored meanwhile by another run: reused
            _record(items[1], "other", ok, earlier),  # stored before: why it was targeted
            _record(items[2], "own", failed, later),  # the backfill failed it, then another
            _record(items[2], "other", ok, later + timedelta(seconds=1)),  # run stored it
            _record(items[3], "other", ok, later),  # stored, then failed again since
            _record(items[3], "other", failed, later + timedelta(seconds=1)),
            _record(items[4], "own", ok, later),  # done by the backfill itself
        ]
    )
    outcomes = store.get_backfill_outcomes("bf-1")
    assert find_reused(store, record, items, outcomes) == {items[0]: "other", items[2]: "other"}
