"""The tables of the SQL metadata store: one SQLAlchemy Core schema for SQLite and PostgreSQL.

This module owns the table, column, index and constraint definitions, the UTC datetime column
type, the pure mapping between records and rows, and the shape of the non-trivial statements
(sequence allocation, ``latest`` upsert and lookup). It must not open connections or execute
anything: engines, transactions and error handling are ``flowstone.storage.sql``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Insert,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    RowMapping,
    Select,
    String,
    Table,
    Text,
    Update,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.types import TypeDecorator, TypeEngine

from flowstone.keys import AssetKey
from flowstone.storage.records import LineageEdge, MaterializationRecord, MaterializationStatus

MATERIALIZATION_SEQUENCE: Final = "materialization_sequence"
"""The ``counters`` row that hands out materialization sequence numbers."""
CHUNK: Final = 500
"""Items per query: keeps bind parameters far below every backend's limit."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend; naive values are rejected, not guessed.

    PostgreSQL stores ``timestamptz``. SQLite has no datetime type, so values are stored as
    fixed-width ISO text in UTC (``2024-01-01 00:00:00.000000+00:00``), which sorts correctly and
    parses with ``datetime.fromisoformat`` (far faster than a regex on bulk reads).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``String`` on SQLite, ``timestamptz`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Convert an aware datetime to UTC (ISO text on SQLite); reject naive ones."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"The metadata store got a naive datetime {value.isoformat()!r}: pass a "
                "timezone-aware one, e.g. datetime.now(UTC)."
            )
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.isoformat(sep=" ", timespec="microseconds")
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is UTC:
            return moment
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


metadata_obj = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""Every table of the metadata store; ``create_all`` on it is idempotent."""

runs = Table(
    "runs",
    metadata_obj,
    Column("run_id", String, primary_key=True),
    Column("status", String, nullable=False),
    Column("selection", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index(None, "started_at"),
)

materializations = Table(
    "materializations",
    metadata_obj,
    Column("materialization_id", String, primary_key=True),
    Column("sequence", BigInteger, nullable=False, unique=True),
    Column("asset_key", String, nullable=False),
    Column("partition_key", String, nullable=False),
    Column("run_id", String, ForeignKey("runs.run_id"), nullable=False),
    Column("status", String, nullable=False),
    Column("code_version", String),
    Column("data_version", String),
    Column("provenance_version", String),
    Column("uri", Text),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("duration_seconds", Float),
    Column("metadata", JSON, nullable=False),
    Column("stored", JSON, nullable=False),
    Column("error", Text),
    Index(None, "asset_key", "partition_key", "sequence"),
    Index(None, "run_id"),
)

lineage = Table(
    "lineage",
    metadata_obj,
    Column(
        "materialization_id",
        String,
        ForeignKey("materializations.materialization_id"),
        nullable=False,
    ),
    # Not a foreign key: an input may have been recorded by another store or since pruned, and
    # the edge must still say exactly which version was read.
    Column("upstream_materialization_id", String, nullable=False),
    Column("upstream_asset_key", String, nullable=False),
    Column("upstream_partition_key", String, nullable=False),
    Column("upstream_data_version", String),
    # Where the edge sits in the record's ``inputs``, so records read back equal those written.
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("materialization_id", "upstream_materialization_id"),
    Index(None, "upstream_materialization_id"),
)

latest = Table(
    "latest",
    metadata_obj,
    Column("asset_key", String, nullable=False),
    Column("partition_key", String, nullable=False),
    Column(
        "latest_materialization_id",
        String,
        ForeignKey("materializations.materialization_id"),
        nullable=False,
    ),
    Column("latest_sequence", BigInteger, nullable=False),
    Column("latest_status", String, nullable=False),
    Column(
        "last_success_id",
        String,
        ForeignKey("materializations.materialization_id"),
        nullable=True,
    ),
    PrimaryKeyConstraint("asset_key", "partition_key"),
)

counters = Table(
    "counters",
    metadata_obj,
    Column("name", String, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

claims = Table(
    "claims",
    metadata_obj,
    # Which process computes an item now, so no other one computes it at the same time. A row
    # lives from the claim until the item's record is written (in the same transaction) or until
    # ``expires_at`` passes without the holder renewing it: then it was a dead process's.
    Column("asset_key", String, nullable=False),
    Column("partition_key", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("holder", String, nullable=False),  # host and pid, for messages
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("asset_key", "partition_key"),
    Index(None, "run_id"),
)

schema_changes = Table(
    "schema_changes",
    metadata_obj,
    # One row per migration applied to this store: a revision applied twice cannot be recorded.
    Column("revision", String, primary_key=True),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("applied_by", String, nullable=False),  # host and pid
)

_RECORD_COLUMNS: Final = (
    "materialization_id",
    "partition_key",
    "run_id",
    "sequence",
    "code_version",
    "data_version",
    "provenance_version",
    "uri",
    "started_at",
    "finished_at",
    "metadata",
    "stored",
    "error",
)
"""Columns copied unchanged between a materialization row and its record."""


def materialization_row(record: MaterializationRecord) -> dict[str, Any]:
    """The ``materializations`` row of a record whose ``sequence`` is set."""
    row = {column: getattr(record, column) for column in _RECORD_COLUMNS}
    row["asset_key"] = str(record.asset_key)
    row["status"] = record.status.value
    row["duration_seconds"] = record.duration
    return row


def lineage_rows(record: MaterializationRecord) -> list[dict[str, Any]]:
    """The ``lineage`` rows of a record's inputs, in order."""
    return [
        {
            "materialization_id": record.materialization_id,
            "upstream_materialization_id": edge.upstream_materialization_id,
            "upstream_asset_key": str(edge.upstream_asset_key),
            "upstream_partition_key": edge.upstream_partition_key,
            "upstream_data_version": edge.upstream_data_version,
            "position": position,
        }
        for position, edge in enumerate(record.inputs)
    ]


def latest_rows(records: Sequence[MaterializationRecord]) -> list[dict[str, Any]]:
    """One ``latest`` row per (asset, partition) that the records' attempts move.

    ``records`` must be in sequence order: the newest attempt wins, and ``last_success_id`` is the
    newest success in the batch, or ``None`` so the upsert keeps the one already stored.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if not record.status.is_attempt:
            continue
        key = (str(record.asset_key), record.partition_key)
        previous = rows.get(key)
        last_success: str | None
        if record.status is MaterializationStatus.SUCCESS:
            last_success = record.materialization_id
        else:
            last_success = None if previous is None else previous["last_success_id"]
        rows[key] = {
            "asset_key": key[0],
            "partition_key": key[1],
            "latest_materialization_id": record.materialization_id,
            "latest_sequence": record.sequence,
            "latest_status": record.status.value,
            "last_success_id": last_success,
        }
    return list(rows.values())


@lru_cache(maxsize=16_384)
def parse_asset_key(text: str) -> AssetKey:
    """``AssetKey.parse``, cached: a bulk read sees the same few keys thousands of times."""
    return AssetKey.parse(text)


def edge_from_row(row: RowMapping) -> LineageEdge:
    """The lineage edge stored in a ``lineage`` row."""
    return LineageEdge(
        upstream_materialization_id=row["upstream_materialization_id"],
        upstream_asset_key=parse_asset_key(row["upstream_asset_key"]),
        upstream_partition_key=row["upstream_partition_key"],
        upstream_data_version=row["upstream_data_version"],
    )


def record_from_row(row: RowMapping, inputs: Sequence[LineageEdge]) -> MaterializationRecord:
    """The record stored in a ``materializations`` row, with its lineage ``inputs``."""
    # ``status`` stays text here: pydantic turns it into the enum faster than ``Enum.__call__``.
    return MaterializationRecord(
        asset_key=parse_asset_key(row["asset_key"]),
        status=row["status"],
        inputs=tuple(inputs),
        **{column: row[column] for column in _RECORD_COLUMNS},
    )


def seed_counter(dialect: str) -> Insert:
    """Create the sequence counter at 0 unless it exists (safe when two processes race)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(counters).values(name=MATERIALIZATION_SEQUENCE, value=0).on_conflict_do_nothing()


def allocate_sequences(count: int) -> Update:
    """Move the counter on by ``count`` and return its new value: the last number reserved.

    Run inside the write transaction: the UPDATE takes SQLite's write lock (already held under
    ``BEGIN IMMEDIATE``) or a PostgreSQL row lock, so numbers never repeat across processes.
    """
    return (
        update(counters)
        .where(counters.c.name == MATERIALIZATION_SEQUENCE)
        .values(value=counters.c.value + count)
        .returning(counters.c.value)
    )


def upsert_latest(dialect: str) -> Insert:
    """Insert or move ``latest`` rows; an older sequence never overwrites a newer one."""
    if dialect == "postgresql":
        pg_insert = postgresql.insert(latest)
        return pg_insert.on_conflict_do_update(
            index_elements=[latest.c.asset_key, latest.c.partition_key],
            set_=_latest_updates(pg_insert.excluded),
            where=latest.c.latest_sequence < pg_insert.excluded.latest_sequence,
        )
    lite_insert = sqlite.insert(latest)
    return lite_insert.on_conflict_do_update(
        index_elements=[latest.c.asset_key, latest.c.partition_key],
        set_=_latest_updates(lite_insert.excluded),
        where=latest.c.latest_sequence < lite_insert.excluded.latest_sequence,
    )


def _latest_updates(excluded: ReadOnlyColumnCollection[str, Any]) -> dict[str, Any]:
    return {
        "latest_materialization_id": excluded.latest_materialization_id,
        "latest_sequence": excluded.latest_sequence,
        "latest_status": excluded.latest_status,
        # A batch of only failures carries no success: keep the one already stored.
        "last_success_id": func.coalesce(excluded.last_success_id, latest.c.last_success_id),
    }


def is_in(column: ColumnElement[Any], values: Iterable[str], dialect: str) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter: short SQL that psycopg caches."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
    return column.in_(list(values))


def select_latest(keys: Sequence[tuple[str, str]], dialect: str) -> Select[Any]:
    """The newest attempt and the last success of (asset key text, partition) pairs, in one query.

    Each pair yields one row per distinct materialization, with ``latest_materialization_id`` and
    ``last_success_id`` saying which role it plays.
    """
    roles = (latest.c.latest_materialization_id, latest.c.last_success_id)
    return (
        select(materializations, *roles)
        .join_from(latest, materializations, materializations.c.materialization_id.in_(roles))
        .where(is_item_in(latest, keys, dialect))
    )


def is_item_in(table: Table, keys: Sequence[tuple[str, str]], dialect: str) -> ColumnElement[bool]:
    """``(asset_key, partition_key) IN keys`` for a table keyed by both, as primary-key ranges.

    Pairs are grouped into ``asset_key = ? AND partition_key IN (...)`` terms, or the other way
    round when that makes fewer terms (many unpartitioned assets): each term is a range of the
    key on both backends, where a row-value ``IN`` would make SQLite scan the table.
    """
    by_asset: dict[str, list[str]] = {}
    by_partition: dict[str, list[str]] = {}
    for asset_key, partition_key in keys:
        by_asset.setdefault(asset_key, []).append(partition_key)
        by_partition.setdefault(partition_key, []).append(asset_key)
    outer, inner, groups = table.c.asset_key, table.c.partition_key, by_asset
    if len(by_partition) < len(by_asset):
        outer, inner, groups = table.c.partition_key, table.c.asset_key, by_partition
    return or_(*(and_(outer == one, is_in(inner, many, dialect)) for one, many in groups.items()))


def select_inputs(ids: Sequence[str], dialect: str) -> Select[Any]:
    """The lineage edges of the given materializations, each one's in recorded order."""
    return (
        select(lineage)
        .where(is_in(lineage.c.materialization_id, ids, dialect))
        .order_by(lineage.c.materialization_id, lineage.c.position)
    )
