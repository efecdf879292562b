"""Dynamic partitions in the SQL metadata store: the ``dynamic_partitions`` table and its queries.

A dynamic partitions definition has no keys of its own: they are added at run time (a new
customer, a new file) and kept here, in the order they were added. This module owns the table
and runs its statements on a connection it is given. It must not open connections, begin
transactions or catch database errors: ``flowstone.storage.sql`` does that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Insert,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from flowstone.keys import PartitionKey
from flowstone.storage.schema import CHUNK, UtcDateTime, counters, is_in, metadata_obj

DYNAMIC_PARTITION_POSITION: Final = "dynamic_partition_position"
"""The ``counters`` row that hands out the positions that order dynamic partition keys."""

dynamic_partitions = Table(
    "dynamic_partitions",
    metadata_obj,
    Column("name", String, nullable=False),
    Column("partition_key", String, nullable=False),
    # The order keys were added: a definition lists its keys in this order.
    Column("position", BigInteger, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("name", "partition_key"),
    Index(None, "name", "position"),
)


def save_dynamic_partitions(
    conn: Connection, name: str, keys: Sequence[PartitionKey]
) -> list[PartitionKey]:
    """Add the keys of ``name`` not stored yet, in order; return those this call added.

    Run inside a write transaction. Taking positions from the counter first locks its row (on
    SQLite the transaction holds the write lock already), so concurrent adders take turns; the
    insert skips keys present already, so a key another process added is neither an error nor
    stored twice.
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return []
    last = conn.execute(_reserve_positions(conn.dialect.name, len(wanted))).scalar_one()
    first = int(last) - len(wanted) + 1
    added_at = datetime.now(UTC)
    rows = [
        {"name": name, "partition_key": key, "position": first + offset, "added_at": added_at}
        for offset, key in enumerate(wanted)
    ]
    insert = _dialect_insert(conn.dialect.name, dynamic_partitions).on_conflict_do_nothing()
    added = set(conn.execute(insert.returning(dynamic_partitions.c.partition_key), rows).scalars())
    return [key for key in wanted if key in added]


def delete_dynamic_partitions(
    conn: Connection, name: str, keys: Sequence[PartitionKey]
) -> list[PartitionKey]:
    """Remove keys of ``name``; return those that were stored, in the given order."""
    wanted = list(dict.fromkeys(keys))
    removed: set[PartitionKey] = set()
    for start in range(0, len(wanted), CHUNK):
        statement = (
            delete(dynamic_partitions)
            .where(dynamic_partitions.c.name == name)
            .where(
                is_in(
                    dynamic_partitions.c.partition_key,
                    wanted[start : start + CHUNK],
                    conn.dialect.name,
                )
            )
            .returning(dynamic_partitions.c.partition_key)
        )
        removed.update(conn.execute(statement).scalars())
    return [key for key in wanted if key in removed]


def load_dynamic_partitions(
    conn: Connection, names: Iterable[str]
) -> dict[str, tuple[PartitionKey, ...]]:
    """The keys of each name in the order added (empty for a name with none), in one query."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    statement = (
        select(dynamic_partitions.c.name, dynamic_partitions.c.partition_key)
        .where(is_in(dynamic_partitions.c.name, wanted, conn.dialect.name))
        .order_by(dynamic_partitions.c.name, dynamic_partitions.c.position)
    )
    found: dict[str, list[PartitionKey]] = {name: [] for name in wanted}
    for name, key in conn.execute(statement):
        found[name].append(key)
    return {name: tuple(keys) for name, keys in found.items()}


def _reserve_positions(dialect: str, count: int) -> Insert:
    """Move the position counter on by ``count`` (creating it if absent); return its new value."""
    insert = _dialect_insert(dialect, counters).values(name=DYNAMIC_PARTITION_POSITION, value=count)
    return insert.on_conflict_do_update(
        index_elements=[counters.c.name],
        set_={"value": counters.c.value + insert.excluded.value},
    ).returning(counters.c.value)


def _dialect_insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ``ON CONFLICT``: both backends spell it alike."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
