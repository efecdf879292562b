"""``SqlMetadataStore``: the metadata store on SQLite or PostgreSQL, with SQLAlchemy Core.

This module owns the engine (SQLite pragmas and transaction control, PostgreSQL pooling), the
transactions and queries, loading records with their lineage in bulk, and the translation of
every database error into ``StorageError``. It must not use the ORM, make one round trip per
item, or let a password reach an error message or a repr. Only the driver process writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    select,
    text,
    update,
)
from sqlalchemy.exc import (
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)

from flowstone.errors import StorageError
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.engine import WRITE_OPTION, create_store_engine, parse_url
from flowstone.storage.records import (
    LatestState,
    LineageEdge,
    MaterializationRecord,
    RunRecord,
    RunStatus,
)
from flowstone.storage.schema import (
    MATERIALIZATION_SEQUENCE,
    allocate_sequences,
    counters,
    edge_from_row,
    latest_rows,
    lineage,
    lineage_rows,
    materialization_row,
    materializations,
    metadata_obj,
    record_from_row,
    runs,
    seed_counter,
    select_inputs,
    select_latest,
    upsert_latest,
)

_CHUNK: Final = 500
"""Items per query: keeps bind parameters far below every backend's limit."""
_SCHEMA_LOCK: Final = 7_274_657_323
"""PostgreSQL advisory lock key that serialises concurrent ``create_all`` calls."""


class SqlMetadataStore:
    """The metadata store on SQLite (the embedded default) or PostgreSQL.

    Args:
        url: An SQLAlchemy URL: ``sqlite:///path/to/flowstone.db`` or
            ``postgresql+psycopg://user:password@host/db`` (``postgresql://`` means psycopg).
        create: Create missing tables and the sequence counter (idempotent and race-safe).

    Every method raises ``StorageError`` when the database cannot be reached, read or written;
    its message names the URL with the password masked.

    Raises:
        StorageError: The URL is not usable or the database cannot be reached or created.

    Example:
        >>> store = SqlMetadataStore("sqlite:///.flowstone/flowstone.db")  # doctest: +SKIP
        >>> store.get_run("no-such-run") is None  # doctest: +SKIP
        True
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self._url = parse_url(url)
        self._where = self._url.render_as_string(hide_password=True)
        try:
            self._engine = create_store_engine(self._url)
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise StorageError(
                f"Could not open the metadata store at {self._where}: {self._scrub(exc)}. "
                "Check the URL and install the driver it names (pip install 'flowstone[postgres]' "
                "for PostgreSQL)."
            ) from exc
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._upsert_latest = upsert_latest(self._engine.dialect.name)
        if create:
            self._create_schema()

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self._where!r})"

    def add_run(self, run: RunRecord) -> None:
        """Record a run that has started.

        Raises:
            StorageError: The run exists already or the database cannot be written.
        """
        with self._guard(f"Could not record run {run.run_id!r}"), self._writer.begin() as conn:
            # Enum members are written as their values: psycopg would write their names.
            conn.execute(runs.insert(), [{**run.model_dump(), "status": run.status.value}])

    def finish_run(self, run_id: str, status: RunStatus, finished_at: datetime) -> None:
        """Record how a run ended.

        Raises:
            StorageError: There is no such run or the database cannot be written.
        """
        statement = (
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(status=str(status), finished_at=finished_at)
        )
        with self._guard(f"Could not finish run {run_id!r}"), self._writer.begin() as conn:
            found = conn.execute(statement).rowcount
        if found == 0:
            raise StorageError(
                f"Could not finish run {run_id!r} in the metadata store at {self._where}: there "
                "is no such run. Record it with add_run() before finishing it."
            )

    def add_materializations(
        self, records: Sequence[MaterializationRecord]
    ) -> list[MaterializationRecord]:
        """Write records, their lineage edges and ``latest`` rows in one transaction.

        Args:
            records: Materializations in the order they happened.

        Returns:
            The records with ``sequence`` set, increasing in the given order.

        Raises:
            StorageError: A record is invalid (unknown run, duplicate id) or the write failed;
                nothing is written then.
        """
        if not records:
            return []
        with (
            self._guard(f"Could not record {len(records)} materializations"),
            self._writer.begin() as conn,
        ):
            first = self._allocate_sequences(conn, len(records))
            stamped = [
                record.model_copy(update={"sequence": first + offset})
                for offset, record in enumerate(records)
            ]
            conn.execute(materializations.insert(), [materialization_row(r) for r in stamped])
            edges = [edge for record in stamped for edge in lineage_rows(record)]
            if edges:
                conn.execute(lineage.insert(), edges)
            moved = latest_rows(stamped)
            if moved:
                conn.execute(self._upsert_latest, moved)
        return stamped

    def get_latest(
        self, items: Iterable[tuple[AssetKey, PartitionKey]]
    ) -> dict[tuple[AssetKey, PartitionKey], LatestState]:
        """The ``latest`` state of each item that has one; unknown items are left out."""
        wanted = {(str(key), partition): (key, partition) for key, partition in items}
        keys = sorted(wanted)  # keeps each asset's partitions together in few chunks
        found: dict[tuple[AssetKey, PartitionKey], LatestState] = {}
        with (
            self._guard("Could not read the latest materializations"),
            self._engine.connect() as conn,
        ):
            # One read transaction for every chunk, so they all see the same snapshot.
            for start in range(0, len(keys), _CHUNK):
                for stored_key, state in _load_latest_chunk(conn, keys[start : start + _CHUNK]):
                    found[wanted[stored_key]] = state
        return found

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or ``None`` if there is no such run."""
        statement = select(runs).where(runs.c.run_id == run_id)
        with self._guard(f"Could not read run {run_id!r}"), self._engine.connect() as conn:
            row = conn.execute(statement).mappings().one_or_none()
        return None if row is None else RunRecord.model_validate(dict(row))

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The newest runs first (by start time), at most ``limit`` of them."""
        statement = (
            select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        )
        with self._guard("Could not list runs"), self._engine.connect() as conn:
            rows = conn.execute(statement).mappings().all()
        return [RunRecord.model_validate(dict(row)) for row in rows]

    def get_history(
        self, asset_key: AssetKey, partition_key: PartitionKey | None = None, limit: int = 50
    ) -> list[MaterializationRecord]:
        """Materializations of an asset (optionally one partition), newest sequence first."""
        statement = select(materializations).where(materializations.c.asset_key == str(asset_key))
        if partition_key is not None:
            statement = statement.where(materializations.c.partition_key == partition_key)
        statement = statement.order_by(materializations.c.sequence.desc()).limit(limit)
        with (
            self._guard(f"Could not read the history of asset {str(asset_key)!r}"),
            self._engine.connect() as conn,
        ):
            return _load_records(conn, _select_rows(conn, statement))

    def get_run_materializations(self, run_id: str) -> list[MaterializationRecord]:
        """Every materialization recorded for a run, in sequence order, with lineage."""
        statement = (
            select(materializations)
            .where(materializations.c.run_id == run_id)
            .order_by(materializations.c.sequence)
        )
        with (
            self._guard(f"Could not read the materializations of run {run_id!r}"),
            self._engine.connect() as conn,
        ):
            return _load_records(conn, _select_rows(conn, statement))

    def close(self) -> None:
        """Release every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    def _create_schema(self) -> None:
        if self._has_schema():
            return
        dialect = self._engine.dialect.name
        with (
            self._guard("Could not create the tables"),
            self._writer.begin() as conn,
        ):
            if dialect == "postgresql":
                # Two processes creating tables at once would race between check and create.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            metadata_obj.create_all(conn)
            conn.execute(seed_counter(dialect))

    def _has_schema(self) -> bool:
        """A cheap read that spares an existing store the write lock of ``create_all``."""
        probe = select(counters.c.value).where(counters.c.name == MATERIALIZATION_SEQUENCE)
        try:
            with self._engine.connect() as conn:
                return conn.execute(probe).first() is not None
        except SQLAlchemyError:
            return False

    def _allocate_sequences(self, conn: Connection, count: int) -> int:
        """Reserve ``count`` sequence numbers under the write lock; return the first."""
        last = conn.execute(allocate_sequences(count)).scalar_one_or_none()
        if last is None:
            raise StorageError(
                f"The metadata store at {self._where} has no sequence counter. Open it once with "
                "SqlMetadataStore(url, create=True) to create its tables."
            )
        return int(last) - count + 1

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn any database error into a ``StorageError`` that says what, where and how."""
        try:
            yield
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise StorageError(
                f"{action} in the metadata store at {self._where}: {self._scrub(exc)}. {_hint(exc)}"
            ) from exc

    def _scrub(self, exc: BaseException) -> str:
        """The error's own message, first line only, with the password masked."""
        cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
        message = (str(cause).strip().splitlines() or [type(cause).__name__])[0].rstrip(".")
        password = self._url.password
        if password:
            for secret in {str(password), quote(str(password), safe="")}:
                message = message.replace(secret, "***")
        return message


def _hint(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, StatementError) else None
    if isinstance(exc, IntegrityError):
        return (
            "Each id must be new and each materialization must name a run recorded with "
            "add_run(); fix the records and try again."
        )
    if "no such table" in str(exc) or ("relation" in str(exc) and "does not exist" in str(exc)):
        return "Open the store once with SqlMetadataStore(url, create=True) to create its tables."
    if isinstance(exc, OperationalError | InterfaceError | NoSuchModuleError):
        return "Check that the database exists and is reachable and the URL and login are right."
    if isinstance(orig, ValueError | TypeError):
        return "Fix the value named above (JSON-serialisable metadata, timezone-aware datetimes)."
    return "See the chained exception for details; the store may need to be recreated."


def _load_latest_chunk(
    conn: Connection, keys: list[tuple[str, str]]
) -> Iterator[tuple[tuple[str, str], LatestState]]:
    """The ``latest`` state of up to ``_CHUNK`` (asset key text, partition) pairs: 2 queries."""
    rows = _select_rows(conn, select_latest(keys, conn.dialect.name))
    records = {record.materialization_id: record for record in _load_records(conn, rows)}
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


def _select_rows(conn: Connection, statement: Select[Any]) -> Sequence[RowMapping]:
    return conn.execute(statement).mappings().all()


def _load_records(conn: Connection, rows: Sequence[RowMapping]) -> list[MaterializationRecord]:
    """Records for ``materializations`` rows, with their inputs loaded in bulk."""
    ids = [row["materialization_id"] for row in rows]
    inputs: dict[str, list[LineageEdge]] = {}
    for start in range(0, len(ids), _CHUNK):
        statement = select_inputs(ids[start : start + _CHUNK], conn.dialect.name)
        for edge_row in _select_rows(conn, statement):
            inputs.setdefault(edge_row["materialization_id"], []).append(edge_from_row(edge_row))
    return [record_from_row(row, inputs.get(row["materialization_id"], ())) for row in rows]
