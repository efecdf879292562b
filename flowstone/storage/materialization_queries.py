"""Reading materializations in bulk: records with their lineage, and ``latest`` states.

This module runs the reads that turn ``materializations``, ``lineage`` and ``latest`` rows into
records, a chunk of items per query, on a connection it is given. It must not open connections,
begin transactions or catch database errors (``flowstone.storage.sql`` does that), nor write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, Select

from flowstone.storage.records import LatestState, LineageEdge, MaterializationRecord
from flowstone.storage.schema import (
    CHUNK,
    edge_from_row,
    record_from_row,
    select_inputs,
    select_latest,
)


def load_latest_chunk(
    conn: Connection, keys: list[tuple[str, str]]
) -> Iterator[tuple[tuple[str, str], LatestState]]:
    """The ``latest`` state of up to ``CHUNK`` (asset key text, partition) pairs: 2 queries."""
    rows = select_rows(conn, select_latest(keys, conn.dialect.name))
    records = {record.materialization_id: record for record in load_records(conn, rows)}
    for row in rows:
        if row["materialization_id"] != row["latest_materialization_id"]:
            continue  # the row of an older last success, used through ``records``
        success_id = row["last_success_id"]
        yield (
            (row["asset_key"], row["partition_key"]),
            LatestState(
                asset_key=records[row["materialization_id"]].asset_key,
                partition_key=row["partition_key"],
                latest=records[row["materialization_id"]],
                last_success=None if success_id is None else records[success_id],
            ),
        )


def select_rows(conn: Connection, statement: Select[Any]) -> Sequence[RowMapping]:
    """Every row ``statement`` selects, as mappings."""
    return conn.execute(statement).mappings().all()


def load_records(conn: Connection, rows: Sequence[RowMapping]) -> list[MaterializationRecord]:
    """Records for ``materializations`` rows, with their inputs loaded in bulk."""
    ids = [row["materialization_id"] for row in rows]
    inputs: dict[str, list[LineageEdge]] = {}
    for start in range(0, len(ids), CHUNK):
        statement = select_inputs(ids[start : start + CHUNK], conn.dialect.name)
        for edge_row in select_rows(conn, statement):
            inputs.setdefault(edge_row["materialization_id"], []).append(edge_from_row(edge_row))
    return [record_from_row(row, inputs.get(row["materialization_id"], ())) for row in rows]
