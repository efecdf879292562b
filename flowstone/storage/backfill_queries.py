"""Backfills in the SQL metadata store: their tables, the mapping to records, and their queries.

A backfill is one request (a selection and a partition set) expanded into an ordered list of
(asset, partition) items and carried out by one or more runs. This module owns the
``backfills``, ``backfill_items`` and ``backfill_runs`` tables and runs its statements on a
connection it is given. It must not open connections, begin transactions or catch database
errors: ``flowstone.storage.sql`` does that.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.records import BackfillRecord, BackfillStatus, MaterializationStatus
from flowstone.storage.schema import (
    UtcDateTime,
    is_in,
    materializations,
    metadata_obj,
    parse_asset_key,
)

backfills = Table(
    "backfills",
    metadata_obj,
    Column("backfill_id", String, primary_key=True),
    Column("status", String, nullable=False),
    Column("selection", JSON, nullable=False),
    Column("partitions", JSON, nullable=False),
    Column("policy", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("item_count", Integer, nullable=False),
    Index(None, "created_at"),
)

backfill_items = Table(
    "backfill_items",
    metadata_obj,
    Column("backfill_id", String, ForeignKey("backfills.backfill_id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("asset_key", String, nullable=False),
    Column("partition_key", String, nullable=False),
    PrimaryKeyConstraint("backfill_id", "position"),
    # Finds whether a materialization is one of a backfill's items (``select_outcomes``).
    Index(None, "backfill_id", "asset_key", "partition_key"),
)

backfill_runs = Table(
    "backfill_runs",
    metadata_obj,
    Column("backfill_id", String, ForeignKey("backfills.backfill_id"), nullable=False),
    # Not a foreign key: a backfill may claim a run id before the runner records the run, so
    # that a crash between the two still leaves the link.
    Column("run_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("backfill_id", "run_id"),
    Index(None, "run_id"),
)


def save_backfill(
    conn: Connection, backfill: BackfillRecord, items: Sequence[tuple[AssetKey, PartitionKey]]
) -> None:
    """Insert a backfill, its items and any runs it names; each table in one bulk statement."""
    row = backfill.model_dump(exclude={"run_ids"})
    # Enum members are written as their values: psycopg would write their names.
    conn.execute(backfills.insert(), [{**row, "status": backfill.status.value}])
    if items:
        item_rows = [
            {
                "backfill_id": backfill.backfill_id,
                "position": position,
                "asset_key": str(asset_key),
                "partition_key": partition_key,
            }
            for position, (asset_key, partition_key) in enumerate(items)
        ]
        conn.execute(backfill_items.insert(), item_rows)
    if backfill.run_ids:
        run_rows = [
            {"backfill_id": backfill.backfill_id, "run_id": run_id, "position": position}
            for position, run_id in enumerate(backfill.run_ids)
        ]
        conn.execute(backfill_runs.insert(), run_rows)


def save_backfill_run(conn: Connection, backfill_id: str, run_id: str) -> bool:
    """Append a run to a backfill unless it is there already; ``False`` if there is no backfill.

    Run inside a write transaction. Locking the backfill row first (PostgreSQL; SQLite holds the
    write lock already) makes concurrent appends take turns, so positions never repeat.
    """
    found = conn.execute(
        select(backfills.c.backfill_id)
        .where(backfills.c.backfill_id == backfill_id)
        .with_for_update()
    ).first()
    if found is None:
        return False
    next_position = select(
        literal(backfill_id),
        literal(run_id),
        func.coalesce(func.max(backfill_runs.c.position) + 1, 0),
    ).where(backfill_runs.c.backfill_id == backfill_id)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(backfill_runs)
        .from_select(["backfill_id", "run_id", "position"], next_position)
        .on_conflict_do_nothing()
    )
    return True


def save_backfill_status(
    conn: Connection, backfill_id: str, status: BackfillStatus, updated_at: datetime
) -> bool:
    """Set where a backfill stands; ``False`` if there is no such backfill."""
    statement = (
        update(backfills)
        .where(backfills.c.backfill_id == backfill_id)
        .values(status=str(status), updated_at=updated_at)
    )
    return conn.execute(statement).rowcount > 0


def load_backfills(conn: Connection, limit: int) -> list[BackfillRecord]:
    """The newest backfills first (by creation time), each with its run ids: two queries."""
    statement = (
        select(backfills)
        .order_by(backfills.c.created_at.desc(), backfills.c.backfill_id.desc())
        .limit(limit)
    )
    return _load_records(conn, statement)


def load_backfill(conn: Connection, backfill_id: str) -> BackfillRecord | None:
    """One backfill with its run ids, or ``None`` if there is no such backfill."""
    statement = select(backfills).where(backfills.c.backfill_id == backfill_id)
    found = _load_records(conn, statement)
    return found[0] if found else None


def load_backfill_items(conn: Connection, backfill_id: str) -> list[tuple[AssetKey, PartitionKey]]:
    """The items of a backfill in the order it was given them."""
    statement = (
        select(backfill_items.c.asset_key, backfill_items.c.partition_key)
        .where(backfill_items.c.backfill_id == backfill_id)
        .order_by(backfill_items.c.position)
    )
    return [(parse_asset_key(key), partition) for key, partition in conn.execute(statement)]


def load_backfill_outcomes(
    conn: Connection, backfill_id: str
) -> dict[tuple[AssetKey, PartitionKey], MaterializationStatus]:
    """The status of each item's newest materialization in the backfill's runs: one query.

    Items no run of the backfill has recorded are left out, and so are materializations of
    anything that is not one of its items.
    """
    is_item = exists().where(
        backfill_items.c.backfill_id == backfill_id,
        backfill_items.c.asset_key == materializations.c.asset_key,
        backfill_items.c.partition_key == materializations.c.partition_key,
    )
    statement = (
        select(
            materializations.c.asset_key,
            materializations.c.partition_key,
            materializations.c.status,
        )
        .join_from(
            materializations,
            backfill_runs,
            backfill_runs.c.run_id == materializations.c.run_id,
        )
        .where(backfill_runs.c.backfill_id == backfill_id, is_item)
        # Oldest first, so each item's newest materialization is the one that stays.
        .order_by(materializations.c.sequence)
    )
    return {
        (parse_asset_key(key), partition): MaterializationStatus(status)
        for key, partition, status in conn.execute(statement)
    }


def _load_records(conn: Connection, statement: Select[Any]) -> list[BackfillRecord]:
    """Records for the ``backfills`` rows ``statement`` selects, with their runs in one query."""
    rows = conn.execute(statement).mappings().all()
    if not rows:
        return []
    backfill_ids = [row["backfill_id"] for row in rows]
    runs_query = (
        select(backfill_runs.c.backfill_id, backfill_runs.c.run_id)
        .where(is_in(backfill_runs.c.backfill_id, backfill_ids, conn.dialect.name))
        .order_by(backfill_runs.c.backfill_id, backfill_runs.c.position)
    )
    run_ids: dict[str, list[str]] = {backfill_id: [] for backfill_id in backfill_ids}
    for backfill_id, run_id in conn.execute(runs_query):
        run_ids[backfill_id].append(run_id)
    return [
        BackfillRecord.model_validate({**row, "run_ids": run_ids[row["backfill_id"]]})
        for row in rows
    ]
