"""``get_version_states`` on SQLite and PostgreSQL: what staleness reads of many items at once."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text

from flowstone.errors import StorageError
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.storage import (
    InputVersion,
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    MetadataStore,
    RunRecord,
    SqlMetadataStore,
    VersionState,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
RAW = AssetKey(("raw", "orders"))
ORDERS = AssetKey(("sales", "orders"))
REVENUE = AssetKey(("sales", "revenue"))
SUCCESS = MaterializationStatus.SUCCESS
FAILED = MaterializationStatus.FAILED


def make_edge(asset_key: AssetKey, partition_key: str, data_version: str | None) -> LineageEdge:
    return LineageEdge(
        upstream_materialization_id=uuid.uuid4().hex,
        upstream_asset_key=asset_key,
        upstream_partition_key=partition_key,
        upstream_data_version=data_version,
    )


def make_record(
    asset_key: AssetKey = ORDERS,
    partition_key: str = "2024-01-01",
    status: MaterializationStatus = SUCCESS,
    *,
    version: str = "1",
    inputs: tuple[LineageEdge, ...] = (),
) -> MaterializationRecord:
    succeeded = status is SUCCESS
    return MaterializationRecord(
        materialization_id=uuid.uuid4().hex,
        asset_key=asset_key,
        partition_key=partition_key,
        run_id="run-1",
        status=status,
        code_version=f"code-{version}",
        data_version=f"data-{version}" if succeeded else None,
        provenance_version=f"provenance-{version}" if succeeded else None,
        started_at=T0,
        finished_at=T0,
        inputs=inputs,
    )


def expected_state(
    success: MaterializationRecord, latest: MaterializationRecord | None = None
) -> VersionState:
    """The state ``success`` (and a newer ``latest`` attempt) should read back as."""
    newest = latest or success
    assert newest.sequence is not None
    return VersionState(
        latest_status=newest.status,
        latest_sequence=newest.sequence,
        success_id=success.materialization_id,
        success_sequence=success.sequence,
        code_version=success.code_version,
        data_version=success.data_version,
        provenance_version=success.provenance_version,
        inputs=tuple(
            InputVersion(
                str(edge.upstream_asset_key),
                edge.upstream_partition_key,
                edge.upstream_data_version,
            )
            for edge in success.inputs
        ),
    )


def test_protocol_declares_it(store: SqlMetadataStore) -> None:
    assert isinstance(store, MetadataStore)
    assert "get_version_states" in dir(MetadataStore)


def test_states_after_successes(store: SqlMetadataStore, run: RunRecord) -> None:
    raw_day1, raw_day2 = store.add_materializations(
        [make_record(RAW, "2024-01-01"), make_record(RAW, "2024-01-02")]
    )
    edge = make_edge(RAW, "2024-01-01", raw_day1.data_version)
    [orders] = store.add_materializations([make_record(inputs=(edge,))])

    states = store.get_version_states([RAW, ORDERS])

    assert states == {
        (RAW, "2024-01-01"): expected_state(raw_day1),
        (RAW, "2024-01-02"): expected_state(raw_day2),
        (ORDERS, "2024-01-01"): expected_state(orders),
    }
    assert states[ORDERS, "2024-01-01"].inputs == (
        InputVersion("raw/orders", "2024-01-01", "data-1"),
    )


def test_newer_success_replaces_the_older(store: SqlMetadataStore, run: RunRecord) -> None:
    store.add_materializations([make_record(version="1")])
    [newer] = store.add_materializations([make_record(version="2")])

    assert store.get_version_states([ORDERS]) == {(ORDERS, "2024-01-01"): expected_state(newer)}


def test_failure_on_top_of_a_success_keeps_its_versions(
    store: SqlMetadataStore, run: RunRecord
) -> None:
    edge = make_edge(RAW, "2024-01-01", "raw-1")
    [success] = store.add_materializations([make_record(inputs=(edge,))])
    [failure] = store.add_materializations([make_record(status=FAILED, version="2")])

    state = store.get_version_states([ORDERS])[ORDERS, "2024-01-01"]

    assert state == expected_state(success, latest=failure)
    assert state.latest_status is FAILED
    assert state.success_sequence is not None
    assert state.latest_sequence > state.success_sequence
    assert state.code_version == "code-1"


def test_only_a_failure_has_no_success_fields(store: SqlMetadataStore, run: RunRecord) -> None:
    [failure] = store.add_materializations([make_record(status=FAILED)])

    assert store.get_version_states([ORDERS]) == {
        (ORDERS, "2024-01-01"): VersionState(
            latest_status=FAILED,
            latest_sequence=failure.sequence or 0,
            success_id=None,
            success_sequence=None,
            code_version=None,
            data_version=None,
            provenance_version=None,
            inputs=(),
        )
    }


@pytest.mark.parametrize(
    "status",
    [
        MaterializationStatus.SKIPPED,
        MaterializationStatus.BLOCKED,
        MaterializationStatus.CANCELLED,
    ],
)
def test_records_that_did_not_run_change_nothing(
    store: SqlMetadataStore, run: RunRecord, status: MaterializationStatus
) -> None:
    [success] = store.add_materializations([make_record()])
    store.add_materializations([make_record(status=status), make_record(REVENUE, status=status)])

    assert store.get_version_states([ORDERS, REVENUE]) == {
        (ORDERS, "2024-01-01"): expected_state(success)
    }


def test_inputs_keep_their_recorded_order(store: SqlMetadataStore, run: RunRecord) -> None:
    # Upstream ids sort the other way round, so an order by id or by key would show.
    inputs = tuple(
        make_edge(AssetKey(("raw", name)), partition, version)
        for name, partition, version in [
            ("zeta", "2024-01-03", "z-1"),
            ("alpha", "2024-01-01", None),
            ("mid", "2024-01-02", "m-1"),
            ("alpha", "2024-01-02", "a-2"),
        ]
    )
    [success] = store.add_materializations([make_record(inputs=inputs)])
    # A failed attempt with other inputs does not replace the success's.
    store.add_materializations([make_record(status=FAILED, inputs=inputs[:1])])

    state = store.get_version_states([ORDERS])[ORDERS, "2024-01-01"]

    assert state.inputs == (
        InputVersion("raw/zeta", "2024-01-03", "z-1"),
        InputVersion("raw/alpha", "2024-01-01", None),
        InputVersion("raw/mid", "2024-01-02", "m-1"),
        InputVersion("raw/alpha", "2024-01-02", "a-2"),
    )
    assert state.success_id == success.materialization_id


def test_partition_filter(store: SqlMetadataStore, run: RunRecord) -> None:
    days = [f"2024-01-{day:02d}" for day in range(1, 6)]
    written = store.add_materializations(
        [make_record(asset, day) for asset in (ORDERS, REVENUE) for day in days]
    )
    by_item = {(record.asset_key, record.partition_key): record for record in written}

    states = store.get_version_states([ORDERS, REVENUE], ["2024-01-02", "2024-01-04", "2099-01-01"])

    wanted = [(asset, day) for asset in (ORDERS, REVENUE) for day in ("2024-01-02", "2024-01-04")]
    assert states == {item: expected_state(by_item[item]) for item in wanted}
    assert store.get_version_states([ORDERS], []) == {}
    assert store.get_version_states([ORDERS], iter(["2024-01-05"])) == {
        (ORDERS, "2024-01-05"): expected_state(by_item[ORDERS, "2024-01-05"])
    }


def test_assets_without_rows_and_unknown_assets_are_left_out(
    store: SqlMetadataStore, run: RunRecord
) -> None:
    [success] = store.add_materializations([make_record(REVENUE, UNPARTITIONED)])
    store.add_materializations([make_record(ORDERS, status=MaterializationStatus.SKIPPED)])

    assert store.get_version_states([]) == {}
    assert store.get_version_states([AssetKey(("no", "such"))]) == {}
    assert store.get_version_states([ORDERS, AssetKey(("sales",)), REVENUE]) == {
        (REVENUE, UNPARTITIONED): expected_state(success)
    }


def test_keys_are_the_given_asset_keys(store: SqlMetadataStore, run: RunRecord) -> None:
    store.add_materializations([make_record(partition_key=f"p{i}") for i in range(3)])
    given = AssetKey(("sales", "orders"))

    states = store.get_version_states(iter([given, given]))

    assert len(states) == 3
    assert all(asset_key is given for asset_key, _ in states)


def test_many_assets_and_partitions_are_read_in_chunks(
    store: SqlMetadataStore, run: RunRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = [AssetKey(("chunk", f"asset_{i}")) for i in range(5)]
    days = [f"2024-01-{day:02d}" for day in range(1, 6)]
    written = store.add_materializations(
        [
            make_record(asset, day, inputs=(make_edge(RAW, day, "r"), make_edge(RAW, "x", None)))
            for asset in assets
            for day in days
        ]
    )
    by_item = {(record.asset_key, record.partition_key): record for record in written}
    monkeypatch.setattr("flowstone.storage.version_queries.CHUNK", 2)

    everything = store.get_version_states(assets)
    some = store.get_version_states(assets, days[1:4])

    assert everything == {item: expected_state(record) for item, record in by_item.items()}
    assert some == {item: everything[item] for item in by_item if item[1] in days[1:4]}


def test_one_query_however_many_items(store: SqlMetadataStore, run: RunRecord) -> None:
    assets = [AssetKey(("many", f"asset_{i}")) for i in range(3)]
    store.add_materializations(
        [
            make_record(asset, f"p{i}", inputs=(make_edge(RAW, f"p{i}", "r"),))
            for asset in assets
            for i in range(300)
        ]
    )
    sent: list[str] = []
    # The engine is private; listening on it is the only way to count the statements sent.
    event.listen(store._engine, "before_cursor_execute", lambda *args: sent.append(args[2]))

    states = store.get_version_states(assets)

    assert len(states) == 900
    assert [s for s in sent if s.lstrip().upper().startswith("SELECT")] == sent[-1:]


def test_unknown_status_is_a_storage_error(store: SqlMetadataStore, run: RunRecord) -> None:
    store.add_materializations([make_record()])
    # A row only a newer flowstone (or a hand edit) could write.
    with store._engine.begin() as conn:
        conn.execute(text("UPDATE latest SET latest_status = 'exploded'"))

    with pytest.raises(StorageError, match=r"'sales/orders'.*'2024-01-01'.*'exploded'.*upgrade"):
        store.get_version_states([ORDERS])
    assert gc.isenabled()


def test_garbage_collector_is_left_as_it_was(store: SqlMetadataStore, run: RunRecord) -> None:
    store.add_materializations([make_record()])

    store.get_version_states([ORDERS])
    assert gc.isenabled()
    gc.disable()
    try:
        store.get_version_states([ORDERS])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_lost_first_input_leaves_the_others(store: SqlMetadataStore, run: RunRecord) -> None:
    inputs = tuple(make_edge(RAW, f"2024-01-0{day}", f"raw-{day}") for day in (1, 2, 3))
    [success] = store.add_materializations([make_record(inputs=inputs)])
    # Only a hand edit of the database loses one edge of a record.
    with store._engine.begin() as conn:
        conn.execute(text("DELETE FROM lineage WHERE position = 0"))

    state = store.get_version_states([ORDERS])[ORDERS, "2024-01-01"]

    assert state.success_id == success.materialization_id
    assert state.inputs == (
        InputVersion("raw/orders", "2024-01-02", "raw-2"),
        InputVersion("raw/orders", "2024-01-03", "raw-3"),
    )


def test_missing_tables_say_how_to_create_them(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'empty.db'}", create=False)

    with pytest.raises(StorageError, match=r"Could not read the version states.*create=True"):
        store.get_version_states([ORDERS])
    store.close()
