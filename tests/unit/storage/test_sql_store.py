"""``SqlMetadataStore`` on SQLite and PostgreSQL: runs, materializations, lineage, ``latest``."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event

from flowstone.errors import StorageError
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.storage import (
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    MetadataStore,
    RunRecord,
    RunStatus,
    SqlMetadataStore,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
ORDERS = AssetKey(("sales", "orders"))
REVENUE = AssetKey(("sales", "revenue"))
SUCCESS = MaterializationStatus.SUCCESS
FAILED = MaterializationStatus.FAILED


def make_run(run_id: str = "run-1", started_at: datetime = T0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        status=RunStatus.RUNNING,
        selection=["sales/orders", "sales/revenue"],
        started_at=started_at,
        tags={"owner": "data-team"},
    )


def make_edge(upstream_id: str, data_version: str | None = "v1") -> LineageEdge:
    return LineageEdge(
        upstream_materialization_id=upstream_id,
        upstream_asset_key=AssetKey(("raw", upstream_id)),
        upstream_partition_key="2024-01-01",
        upstream_data_version=data_version,
    )


def make_record(
    asset_key: AssetKey = ORDERS,
    partition_key: str = "2024-01-01",
    status: MaterializationStatus = SUCCESS,
    *,
    run_id: str = "run-1",
    materialization_id: str | None = None,
    inputs: tuple[LineageEdge, ...] = (),
) -> MaterializationRecord:
    return MaterializationRecord(
        materialization_id=materialization_id or uuid.uuid4().hex,
        asset_key=asset_key,
        partition_key=partition_key,
        run_id=run_id,
        status=status,
        code_version="code-1",
        data_version="data-1" if status is SUCCESS else None,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        inputs=inputs,
    )


def test_store_satisfies_the_protocol(store: SqlMetadataStore) -> None:
    assert isinstance(store, MetadataStore)


def test_run_is_added_finished_and_listed_newest_first(store: SqlMetadataStore) -> None:
    for hour in (1, 3, 2):
        store.add_run(make_run(f"run-{hour}", T0 + timedelta(hours=hour)))
    store.finish_run("run-3", RunStatus.SUCCESS, T0 + timedelta(hours=4))

    finished = store.get_run("run-3")

    assert finished is not None
    assert finished.status is RunStatus.SUCCESS
    assert finished.finished_at == T0 + timedelta(hours=4)
    assert store.get_run("run-1") == make_run("run-1", T0 + timedelta(hours=1))
    assert [r.run_id for r in store.list_runs()] == ["run-3", "run-2", "run-1"]
    assert [r.run_id for r in store.list_runs(limit=2)] == ["run-3", "run-2"]


def test_unknown_run_is_none_and_cannot_be_finished(store: SqlMetadataStore) -> None:
    assert store.get_run("nope") is None
    with pytest.raises(StorageError, match=r"'nope'.*no such run.*add_run\(\)"):
        store.finish_run("nope", RunStatus.FAILED, T0)


def test_materialization_with_lineage_round_trips(store: SqlMetadataStore, run: RunRecord) -> None:
    edges = (make_edge("m-raw-2"), make_edge("m-raw-1", None))
    record = make_record(inputs=edges).model_copy(
        update={
            "provenance_version": "prov-1",
            "uri": "file:///data/sales/orders/2024-01-01.parquet",
            "metadata": {"rows": 42, "columns": ["id", "amount"], "nested": {"ok": True}},
            "stored": {"size": 1024, "checksum": "abc"},
        }
    )

    [written] = store.add_materializations([record])

    assert written == record.model_copy(update={"sequence": written.sequence})
    assert store.get_run_materializations(run.run_id) == [written]
    assert store.get_history(ORDERS) == [written]
    assert written.inputs == edges  # order kept, not sorted by id


def test_datetimes_are_read_back_as_aware_utc(store: SqlMetadataStore, run: RunRecord) -> None:
    started = datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))  # == T0
    record = make_record().model_copy(update={"started_at": started})

    store.add_materializations([record])

    [read] = store.get_history(ORDERS)
    assert read.started_at == T0
    assert read.started_at is not None
    assert read.started_at.tzinfo is UTC
    assert read.duration == 2.0


def test_naive_datetime_is_rejected(store: SqlMetadataStore) -> None:
    naive = RunRecord(run_id="naive", status=RunStatus.RUNNING, started_at=datetime(2024, 1, 1))

    with pytest.raises(StorageError, match=r"run 'naive'.*naive datetime.*timezone-aware"):
        store.add_run(naive)


def test_sequences_increase_within_and_across_batches(
    store: SqlMetadataStore, run: RunRecord
) -> None:
    first = store.add_materializations([make_record(partition_key=f"p{i}") for i in range(3)])
    second = store.add_materializations([make_record(partition_key=f"q{i}") for i in range(2)])

    sequences = [r.sequence for r in first + second if r.sequence is not None]
    assert len(sequences) == 5
    assert sequences == sorted(set(sequences))  # strictly increasing, in the given order
    assert [r.sequence for r in store.get_run_materializations(run.run_id)] == sequences
    assert store.add_materializations([]) == []


def test_sequences_stay_unique_across_concurrent_stores(store_url: str) -> None:
    stores = [SqlMetadataStore(store_url) for _ in range(2)]
    stores[0].add_run(make_run())
    written: list[list[int]] = []

    def write(writer: SqlMetadataStore) -> None:
        for _ in range(10):
            batch = writer.add_materializations([make_record(partition_key="p") for _ in range(5)])
            written.append([r.sequence or 0 for r in batch])

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()

    every = [s for batch in written for s in batch]
    assert len(written) == 20
    assert len(set(every)) == 100
    assert all(batch == list(range(batch[0], batch[0] + 5)) for batch in written)


def test_failed_batch_writes_nothing(store: SqlMetadataStore, run: RunRecord) -> None:
    before = store.add_materializations([make_record(partition_key="p0")])
    orphan = make_record(partition_key="p2", run_id="never-added")

    with pytest.raises(StorageError, match=r"Could not record 2 materializations.*add_run\(\)"):
        store.add_materializations([make_record(partition_key="p1"), orphan])

    after = store.add_materializations([make_record(partition_key="p3")])
    assert [r.partition_key for r in store.get_run_materializations(run.run_id)] == ["p0", "p3"]
    assert after[0].sequence == (before[0].sequence or 0) + 1  # the rolled-back numbers are reused
    assert store.get_latest([(ORDERS, "p1")]) == {}


def test_duplicate_materialization_id_is_a_storage_error(
    store: SqlMetadataStore, run: RunRecord
) -> None:
    store.add_materializations([make_record(materialization_id="m-1")])

    with pytest.raises(StorageError, match="Each id must be new"):
        store.add_materializations([make_record(materialization_id="m-1")])


def test_latest_moves_only_on_attempts(store: SqlMetadataStore, run: RunRecord) -> None:
    [success] = store.add_materializations([make_record(materialization_id="ok")])
    store.add_materializations(
        [
            make_record(status=MaterializationStatus.SKIPPED),
            make_record(status=MaterializationStatus.CANCELLED),
        ]
    )

    state = store.get_latest([(ORDERS, "2024-01-01")])[(ORDERS, "2024-01-01")]

    assert state.latest == success
    assert state.last_success == success
    assert len(store.get_history(ORDERS)) == 3  # the skipped and cancelled ones are recorded


def test_skipped_item_alone_has_no_latest(store: SqlMetadataStore, run: RunRecord) -> None:
    store.add_materializations([make_record(status=MaterializationStatus.SKIPPED)])

    assert store.get_latest([(ORDERS, "2024-01-01")]) == {}


def test_failure_after_success_keeps_last_success(store: SqlMetadataStore, run: RunRecord) -> None:
    [success] = store.add_materializations([make_record()])
    failed = make_record(status=FAILED).model_copy(update={"error": "ValueError: bad row 7"})
    [failure] = store.add_materializations([failed])

    state = store.get_latest([(ORDERS, "2024-01-01")])[(ORDERS, "2024-01-01")]

    assert state.latest == failure
    assert state.latest.error == "ValueError: bad row 7"
    assert state.last_success == success
    assert state.asset_key == ORDERS
    assert state.partition_key == "2024-01-01"


@pytest.mark.parametrize(
    ("statuses", "latest_index", "success_index"),
    [
        ((SUCCESS, FAILED), 1, 0),
        ((FAILED, SUCCESS), 1, 1),
        ((SUCCESS, SUCCESS), 1, 1),
        ((SUCCESS, FAILED, MaterializationStatus.SKIPPED), 1, 0),
        ((FAILED, FAILED), 1, None),
    ],
)
def test_same_item_twice_in_one_batch(
    store: SqlMetadataStore,
    run: RunRecord,
    statuses: tuple[MaterializationStatus, ...],
    latest_index: int,
    success_index: int | None,
) -> None:
    written = store.add_materializations([make_record(status=s) for s in statuses])

    state = store.get_latest([(ORDERS, "2024-01-01")])[(ORDERS, "2024-01-01")]

    assert state.latest == written[latest_index]
    assert state.last_success == (None if success_index is None else written[success_index])


def test_batch_of_failures_keeps_the_older_success(store: SqlMetadataStore, run: RunRecord) -> None:
    [success] = store.add_materializations([make_record()])
    failures = store.add_materializations([make_record(status=FAILED) for _ in range(2)])

    state = store.get_latest([(ORDERS, "2024-01-01")])[(ORDERS, "2024-01-01")]

    assert state.latest == failures[1]
    assert state.last_success == success


def test_get_latest_in_bulk(store: SqlMetadataStore, run: RunRecord) -> None:
    assets = [AssetKey(("bulk", f"asset_{i}")) for i in range(4)]
    items = [(asset, f"2024-{day:03d}") for asset in assets for day in range(500)]
    items += [(AssetKey(("bulk", f"unpartitioned_{i}")), UNPARTITIONED) for i in range(50)]
    first = store.add_materializations([make_record(a, p) for a, p in items])
    # Every third item fails afterwards: its latest changes, its last success does not.
    retried = items[::3]
    second = store.add_materializations([make_record(a, p, FAILED) for a, p in retried])
    first_by_item = {(r.asset_key, r.partition_key): r for r in first}
    second_by_item = {(r.asset_key, r.partition_key): r for r in second}
    unknown = [(AssetKey(("bulk", "nope")), "2024-000"), (assets[0], "2099-001")]

    found = store.get_latest([*reversed(items), *unknown])

    assert len(items) == 2_050
    assert set(found) == set(items)
    for item, state in found.items():
        assert state.latest == second_by_item.get(item, first_by_item[item])
        assert state.last_success == first_by_item[item]
    assert store.get_latest([]) == {}


def test_get_latest_returns_lineage_of_both_records(
    store: SqlMetadataStore, run: RunRecord
) -> None:
    edge, other = make_edge("up-1"), make_edge("up-2")
    store.add_materializations([make_record(inputs=(edge,))])
    store.add_materializations([make_record(status=FAILED, inputs=(edge, other))])

    state = store.get_latest([(ORDERS, "2024-01-01")])[(ORDERS, "2024-01-01")]

    assert state.last_success is not None
    assert state.last_success.inputs == (edge,)
    assert [e.upstream_materialization_id for e in state.latest.inputs] == ["up-1", "up-2"]


def test_history_is_newest_first_and_filters_by_partition(
    store: SqlMetadataStore, run: RunRecord
) -> None:
    written = store.add_materializations(
        [make_record(partition_key=p) for p in ("a", "b", "a", "b", "a")]
        + [make_record(REVENUE, "a")]
    )
    orders = written[:5]

    assert store.get_history(ORDERS) == orders[::-1]
    assert store.get_history(ORDERS, "a") == [orders[4], orders[2], orders[0]]
    assert store.get_history(ORDERS, "a", limit=2) == [orders[4], orders[2]]
    assert store.get_history(REVENUE) == [written[5]]
    assert store.get_history(AssetKey(("sales",))) == []


def test_reopening_keeps_data_and_counter(store_url: str) -> None:
    first = SqlMetadataStore(store_url)
    first.add_run(make_run())
    [early] = first.add_materializations([make_record()])
    first.close()

    reopened = SqlMetadataStore(store_url)
    [late] = reopened.add_materializations([make_record()])
    reopened.close()

    assert (late.sequence or 0) > (early.sequence or 0)


def test_unreachable_database_error_masks_the_password() -> None:
    with pytest.raises(StorageError) as caught:
        SqlMetadataStore("postgresql+psycopg://user:s3cret@127.0.0.1:1/x")

    message = str(caught.value)
    assert "s3cret" not in message
    assert "tables in the metadata store at postgresql+psycopg://user:***@127.0.0.1:1/x" in message
    assert "reachable" in message


def test_lazy_store_masks_the_password_in_repr_and_errors() -> None:
    lazy = SqlMetadataStore("postgresql://user:s3cret@127.0.0.1:1/x", create=False)

    with pytest.raises(StorageError, match=r"Could not read run 'r'") as caught:
        lazy.get_run("r")

    assert repr(lazy) == "SqlMetadataStore('postgresql+psycopg://user:***@127.0.0.1:1/x')"
    assert "s3cret" not in str(caught.value)
    lazy.close()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", "Could not parse the metadata store URL"),
        ("mysql://user:s3cret@db/x", r"Unsupported.*'mysql'.*user:\*\*\*@db"),
    ],
)
def test_unusable_urls_are_storage_errors(url: str, match: str) -> None:
    with pytest.raises(StorageError, match=match) as caught:
        SqlMetadataStore(url)

    assert "s3cret" not in str(caught.value)


def test_sqlite_creates_the_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "project" / ".flowstone" / "flowstone.db"

    SqlMetadataStore(f"sqlite:///{path}").close()

    assert path.is_file()
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_writes_begin_immediate_and_reads_begin_deferred(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'flowstone.db'}")
    sent: list[str] = []
    # The engine is private; listening on it is the only way to see which BEGIN was sent.
    event.listen(store._engine, "before_cursor_execute", lambda *args: sent.append(args[2]))

    store.add_run(make_run())
    store.get_run("run-1")
    store.close()

    begins = [statement for statement in sent if statement.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


def test_create_false_on_an_empty_database_explains_how_to_create_it(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'empty.db'}", create=False)

    with pytest.raises(StorageError, match=r"Could not read run 'r'.*no such table.*create=True"):
        store.get_run("r")
    store.close()
