"""``SqlMetadataStore`` on SQLite and PostgreSQL: dynamic partitions, backfills, the blocked status
and the upgrade of a store made before their tables existed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, inspect, select, update

from flowstone.errors import StorageError
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.storage import (
    BackfillRecord,
    BackfillStatus,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
    SqlMetadataStore,
)
from flowstone.storage.engine import create_store_engine, parse_url
from flowstone.storage.schema import (
    counters,
    latest,
    latest_rows,
    lineage,
    materialization_row,
    materializations,
    metadata_obj,
    runs,
    seed_counter,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
ORDERS = AssetKey(("sales", "orders"))
REVENUE = AssetKey(("sales", "revenue"))
SUCCESS = MaterializationStatus.SUCCESS
FAILED = MaterializationStatus.FAILED
BLOCKED = MaterializationStatus.BLOCKED
NEW_TABLES = {"dynamic_partitions", "backfills", "backfill_items", "backfill_runs"}
"""The tables this version adds to a store made by the previous one."""
Item = tuple[AssetKey, PartitionKey]


def make_run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, status=RunStatus.RUNNING, started_at=T0)


def make_record(
    item: Item, status: MaterializationStatus = SUCCESS, *, run_id: str = "run-1"
) -> MaterializationRecord:
    asset_key, partition_key = item
    return MaterializationRecord(
        materialization_id=uuid.uuid4().hex,
        asset_key=asset_key,
        partition_key=partition_key,
        run_id=run_id,
        status=status,
    )


def make_backfill(
    backfill_id: str = "bf-1",
    *,
    item_count: int = 0,
    created_at: datetime = T0,
    run_ids: tuple[str, ...] = (),
) -> BackfillRecord:
    return BackfillRecord(
        backfill_id=backfill_id,
        status=BackfillStatus.RUNNING,
        selection=["sales/orders", "sales/revenue"],
        partitions={"kind": "range", "start": "2024-01-01", "end": "2024-01-31"},
        policy="missing",
        created_at=created_at,
        updated_at=created_at,
        item_count=item_count,
        run_ids=list(run_ids),
    )


def daily_items(days: int, assets: tuple[AssetKey, ...] = (ORDERS, REVENUE)) -> list[Item]:
    return [(asset, f"2024-01-{day:02d}") for day in range(1, days + 1) for asset in assets]


@contextmanager
def count_queries(store: SqlMetadataStore) -> Iterator[list[str]]:
    """The statements ``store`` sends inside the block, transaction control left out."""
    sent: list[str] = []

    def record(*args: object) -> None:
        statement = str(args[2])
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            sent.append(statement)

    # The engine is private; listening on it is the only way to count round trips.
    event.listen(store._engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store._engine, "before_cursor_execute", record)


# Dynamic partitions


def test_dynamic_partitions_are_added_in_order_once(store: SqlMetadataStore) -> None:
    added = store.add_dynamic_partitions("customers", ["acme", "globex", "acme", "initech"])
    again = store.add_dynamic_partitions("customers", ["initech", "umbrella", "globex", "hooli"])

    assert added == ["acme", "globex", "initech"]
    assert again == ["umbrella", "hooli"]
    assert store.get_dynamic_partitions(["customers"]) == {
        "customers": ("acme", "globex", "initech", "umbrella", "hooli")
    }
    assert store.add_dynamic_partitions("customers", ["acme"]) == []
    assert store.add_dynamic_partitions("customers", []) == []


def test_dynamic_partitions_keep_names_apart(store: SqlMetadataStore) -> None:
    store.add_dynamic_partitions("customers", ["acme", "globex"])
    store.add_dynamic_partitions("files", ["b.csv", "a.csv"])
    store.add_dynamic_partitions("customers", ["hooli"])

    found = store.get_dynamic_partitions(iter(["files", "nobody", "customers", "files"]))

    assert found == {
        "files": ("b.csv", "a.csv"),
        "nobody": (),
        "customers": ("acme", "globex", "hooli"),
    }
    assert store.get_dynamic_partitions([]) == {}
    # The same key under another name is another partition.
    assert store.add_dynamic_partitions("files", ["acme"]) == ["acme"]


def test_dynamic_partitions_are_removed(store: SqlMetadataStore) -> None:
    store.add_dynamic_partitions("customers", ["acme", "globex", "initech", "hooli"])
    store.add_dynamic_partitions("files", ["acme"])

    removed = store.remove_dynamic_partitions("customers", ["hooli", "nope", "acme", "hooli"])

    assert removed == ["hooli", "acme"]
    assert store.remove_dynamic_partitions("customers", ["acme"]) == []
    assert store.remove_dynamic_partitions("customers", []) == []
    assert store.remove_dynamic_partitions("nobody", ["acme"]) == []
    # Re-adding a removed key puts it last: it was added again, after the others.
    assert store.add_dynamic_partitions("customers", ["acme"]) == ["acme"]
    assert store.get_dynamic_partitions(["customers", "files"]) == {
        "customers": ("globex", "initech", "acme"),
        "files": ("acme",),
    }


def test_many_dynamic_partitions_in_bulk(store: SqlMetadataStore) -> None:
    keys = [f"file-{i:05d}.csv" for i in range(3_000)]
    store.add_dynamic_partitions("files", keys[::2])

    added = store.add_dynamic_partitions("files", keys)
    with count_queries(store) as sent:
        found = store.get_dynamic_partitions(["files", "other"])
    removed = store.remove_dynamic_partitions("files", keys[:1_500])

    assert added == keys[1::2]
    assert found == {"files": (*keys[::2], *keys[1::2]), "other": ()}
    assert len(sent) == 1
    assert removed == keys[:1_500]
    assert store.get_dynamic_partitions(["files"])["files"] == (*keys[1_500::2], *keys[1_501::2])


def test_concurrent_adds_of_the_same_keys_store_each_once(store_url: str) -> None:
    stores = [SqlMetadataStore(store_url) for _ in range(2)]
    keys = [f"key-{i}" for i in range(40)]
    orders = [keys, keys[::-1]]  # both want every key, from opposite ends
    returned: list[list[PartitionKey]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def add(opened: SqlMetadataStore, wanted: list[PartitionKey]) -> None:
        start.wait()
        try:
            for first in range(0, len(wanted), 5):
                returned.append(opened.add_dynamic_partitions("shared", wanted[first : first + 5]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=pair) for pair in zip(stores, orders, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = stores[0].get_dynamic_partitions(["shared"])["shared"]
    for opened in stores:
        opened.close()

    every_added = [key for batch in returned for key in batch]
    assert errors == []
    assert sorted(every_added) == sorted(keys)  # each key reported added by exactly one store
    assert sorted(stored) == sorted(keys)


# Blocked items


def test_blocked_is_recorded_but_never_moves_latest(store: SqlMetadataStore) -> None:
    store.add_run(make_run("run-1"))
    item = (ORDERS, "2024-01-01")
    [blocked] = store.add_materializations([make_record(item, BLOCKED)])

    assert store.get_latest([item]) == {}
    [success] = store.add_materializations([make_record(item)])
    store.add_materializations([make_record(item, BLOCKED)])

    state = store.get_latest([item])[item]
    assert state.latest == success
    assert state.last_success == success
    assert [r.status for r in store.get_history(ORDERS)] == [BLOCKED, SUCCESS, BLOCKED]
    assert store.get_run_materializations("run-1")[0] == blocked
    assert not BLOCKED.is_attempt


# Backfills


def test_backfill_round_trips_with_its_items_in_order(store: SqlMetadataStore) -> None:
    items = [(REVENUE, "2024-01-02"), (ORDERS, "2024-01-01"), (ORDERS, UNPARTITIONED)]
    backfill = make_backfill(item_count=len(items))

    store.add_backfill(backfill, items)

    assert store.get_backfill("bf-1") == backfill
    assert store.get_backfill_items("bf-1") == items


def test_backfill_runs_are_appended_in_order_once(store: SqlMetadataStore) -> None:
    store.add_backfill(make_backfill(run_ids=("run-a",)), [])

    for run_id in ("run-c", "run-b", "run-c", "run-a", "run-d"):
        store.add_backfill_run("bf-1", run_id)

    found = store.get_backfill("bf-1")
    assert found is not None
    assert found.run_ids == ["run-a", "run-c", "run-b", "run-d"]


def test_backfill_status_is_updated(store: SqlMetadataStore) -> None:
    store.add_backfill(make_backfill(), [])
    later = T0 + timedelta(minutes=5)

    store.update_backfill("bf-1", BackfillStatus.CANCELLED, later)
    store.update_backfill("bf-1", BackfillStatus.SUCCESS, later + timedelta(minutes=1))

    found = store.get_backfill("bf-1")
    assert found is not None
    assert found.status is BackfillStatus.SUCCESS
    assert found.updated_at == later + timedelta(minutes=1)
    assert found.created_at == T0


def test_backfills_are_listed_newest_first(store: SqlMetadataStore) -> None:
    for hour in (1, 3, 2):
        store.add_backfill(make_backfill(f"bf-{hour}", created_at=T0 + timedelta(hours=hour)), [])
    store.add_backfill_run("bf-3", "run-x")
    store.add_backfill_run("bf-1", "run-y")

    listed = store.list_backfills()

    assert [b.backfill_id for b in listed] == ["bf-3", "bf-2", "bf-1"]
    assert [b.run_ids for b in listed] == [["run-x"], [], ["run-y"]]
    assert [b.backfill_id for b in store.list_backfills(limit=2)] == ["bf-3", "bf-2"]


def test_unknown_backfill_reads_are_empty(store: SqlMetadataStore) -> None:
    assert store.get_backfill("nope") is None
    assert store.get_backfill_items("nope") == []
    assert store.get_backfill_outcomes("nope") == {}
    assert store.list_backfills() == []


def test_unknown_backfill_cannot_be_updated_or_given_runs(store: SqlMetadataStore) -> None:
    with pytest.raises(StorageError, match=r"'nope'.*no such backfill.*add_backfill\(\)"):
        store.update_backfill("nope", BackfillStatus.FAILED, T0)
    with pytest.raises(StorageError, match=r"run 'run-1' to backfill 'nope'.*no such backfill"):
        store.add_backfill_run("nope", "run-1")


def test_duplicate_backfill_writes_nothing(store: SqlMetadataStore) -> None:
    first = [(ORDERS, "2024-01-01")]
    store.add_backfill(make_backfill(item_count=1), first)
    second = daily_items(3)

    with pytest.raises(StorageError, match=r"Could not record backfill 'bf-1'.*must be new"):
        store.add_backfill(make_backfill(item_count=len(second), run_ids=("run-z",)), second)

    assert store.get_backfill("bf-1") == make_backfill(item_count=1)
    assert store.get_backfill_items("bf-1") == first


def test_backfill_item_count_must_match_its_items(store: SqlMetadataStore) -> None:
    with pytest.raises(StorageError, match=r"item_count is 5 but 2 items.*item_count=len\(items\)"):
        store.add_backfill(make_backfill(item_count=5), daily_items(1))

    assert store.get_backfill("bf-1") is None


def test_ten_thousand_backfill_items_in_bulk(store: SqlMetadataStore) -> None:
    assets = tuple(AssetKey(("bulk", f"asset_{i}")) for i in range(10))
    items = [(asset, f"2024-{day:04d}") for day in range(1_000) for asset in assets]
    store.add_backfill(make_backfill(item_count=len(items)), items)
    assert store.get_backfill_items("bf-1") == items


def test_backfill_outcomes_are_each_items_newest_status(store: SqlMetadataStore) -> None:
    a, b, c, d, e, f = daily_items(3)
    outside = (AssetKey(("sales", "other")), "2024-01-01")
    store.add_backfill(make_backfill(item_count=6), [a, b, c, d, e, f])
    for run_id in ("run-1", "run-2", "run-3", "elsewhere"):
        store.add_run(make_run(run_id))
    for run_id in ("run-1", "run-2", "run-3"):
        store.add_backfill_run("bf-1", run_id)
    for batch in [
        [make_record(a, FAILED, run_id="run-1"), make_record(b, run_id="run-1")],
        [make_record(c, run_id="run-3"), make_record(outside, run_id="run-1")],
        [make_record(a, run_id="run-2"), make_record(d, BLOCKED, run_id="run-2")],
        # Newer by sequence, though from an older run: the newest record wins.
        [make_record(c, MaterializationStatus.SKIPPED, run_id="run-1")],
        # Runs that are not the backfill's do not count.
        [make_record(b, FAILED, run_id="elsewhere"), make_record(e, run_id="elsewhere")],
    ]:
        store.add_materializations(batch)

    with count_queries(store) as sent:
        outcomes = store.get_backfill_outcomes("bf-1")

    assert outcomes == {a: SUCCESS, b: SUCCESS, c: MaterializationStatus.SKIPPED, d: BLOCKED}
    assert len(sent) == 1
    assert f not in outcomes


def test_backfill_outcomes_come_from_the_backfill_alone(store: SqlMetadataStore) -> None:
    item = (ORDERS, "2024-01-01")
    store.add_backfill(make_backfill("bf-1", item_count=1), [item])
    store.add_backfill(make_backfill("bf-2", item_count=1), [item])
    store.add_run(make_run("run-1"))
    store.add_run(make_run("run-2"))
    store.add_backfill_run("bf-1", "run-1")
    store.add_backfill_run("bf-2", "run-2")
    store.add_materializations([make_record(item, run_id="run-1")])
    store.add_materializations([make_record(item, FAILED, run_id="run-2")])

    assert store.get_backfill_outcomes("bf-1") == {item: SUCCESS}
    assert store.get_backfill_outcomes("bf-2") == {item: FAILED}


# Upgrading a store made by the previous version


def test_store_from_the_previous_version_gains_the_new_tables(store_url: str) -> None:
    engine = create_store_engine(parse_url(store_url))
    old_tables = [runs, materializations, lineage, latest, counters]
    with engine.begin() as conn:
        metadata_obj.create_all(conn, tables=old_tables)
        conn.execute(seed_counter(engine.dialect.name))
    old = SqlMetadataStore(store_url, create=False)
    old.add_run(make_run("run-1"))
    # Rows as the previous version wrote them (today's writes also end claims, a newer table).
    written = make_record((ORDERS, "2024-01-01")).model_copy(update={"sequence": 1})
    with engine.begin() as conn:
        conn.execute(materializations.insert(), [materialization_row(written)])
        conn.execute(latest.insert(), latest_rows([written]))
        conn.execute(update(counters).values(value=1))
    assert not old._has_schema()  # the fast path sees the missing tables
    old.close()

    upgraded = SqlMetadataStore(store_url)

    with engine.connect() as conn:
        assert NEW_TABLES <= set(inspect(conn).get_table_names())
        assert conn.execute(select(counters.c.value)).scalar_one() == written.sequence
    assert upgraded._has_schema()
    assert upgraded.get_run("run-1") == make_run("run-1")
    assert upgraded.get_run_materializations("run-1") == [written]
    assert upgraded.add_dynamic_partitions("customers", ["acme"]) == ["acme"]
    upgraded.add_backfill(make_backfill(item_count=1), [(ORDERS, "2024-01-01")])
    upgraded.add_backfill_run("bf-1", "run-1")
    assert upgraded.get_backfill_outcomes("bf-1") == {(ORDERS, "2024-01-01"): SUCCESS}
    upgraded.close()
    engine.dispose()


def test_reopening_a_current_store_creates_nothing(store_url: str) -> None:
    SqlMetadataStore(store_url).close()
    sent: list[str] = []

    def record(*args: object) -> None:
        sent.append(str(args[2]))

    # The store's engine is made inside __init__: only a listener on every engine sees it open.
    event.listen(Engine, "before_cursor_execute", record)
    try:
        SqlMetadataStore(store_url).close()
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    assert sent
    assert not [s for s in sent if s.startswith(("CREATE", "INSERT", "BEGIN IMMEDIATE"))]
