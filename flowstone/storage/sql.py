"""``SqlMetadataStore``: the metadata store on SQLite or PostgreSQL, with SQLAlchemy Core.

This module owns the engine (SQLite pragmas and transaction control, PostgreSQL pooling), the
schema's creation and upgrade, the transactions, the writes of runs and materializations, and
the translation of every database error into ``StorageError``. The bulk reads and the queries
of dynamic partitions and backfills live in one module per concept, run on connections opened
here. It must not use the ORM, make one round trip per item, or let a password reach an error
message or a repr. Only the driver process writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import Connection, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from flowstone.errors import StorageError
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.backfill_queries import (
    load_backfill,
    load_backfill_items,
    load_backfill_outcomes,
    load_backfills,
    save_backfill,
    save_backfill_run,
    save_backfill_status,
)
from flowstone.storage.breakdown_queries import load_code_breakdowns, save_code_breakdowns
from flowstone.storage.claim_queries import (
    claim_items,
    lock_claims,
    read_live_claims,
    release_claims,
    renew_claims,
)
from flowstone.storage.diagnosis import describe_error, suggest_fix
from flowstone.storage.dynamic_partition_queries import (
    delete_dynamic_partitions,
    load_dynamic_partitions,
    save_dynamic_partitions,
)
from flowstone.storage.engine import WRITE_OPTION, create_store_engine, parse_url
from flowstone.storage.materialization_queries import load_latest_chunk, load_records, select_rows
from flowstone.storage.migration import HEAD_REVISION, SELECT_REVISION, upgrade_schema
from flowstone.storage.records import (
    BackfillRecord,
    BackfillStatus,
    BreakdownEntry,
    Claim,
    ClaimOutcome,
    CodeKey,
    LatestState,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
    VersionState,
)
from flowstone.storage.schema import (
    CHUNK,
    allocate_sequences,
    latest_rows,
    lineage,
    lineage_rows,
    materialization_row,
    materializations,
    runs,
    upsert_latest,
)
from flowstone.storage.version_queries import load_version_states

_SCHEMA_LOCK: Final = 7_274_657_323
"""PostgreSQL advisory lock key that serialises processes migrating the same store."""


class SqlMetadataStore:
    """The metadata store on SQLite (the embedded default) or PostgreSQL.

    Args:
        url: An SQLAlchemy URL: ``sqlite:///path/to/flowstone.db`` or
            ``postgresql+psycopg://user:password@host/db`` (``postgresql://`` means psycopg).
        create: Bring the schema to the current revision (Alembic migrations; a new store is
            built and stamped at once), exactly once across processes opening it together.

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
        with self._writing(f"Could not record run {run.run_id!r}") as conn:
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
        with self._writing(f"Could not finish run {run_id!r}") as conn:
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
        with self._writing(f"Could not record {len(records)} materializations") as conn:
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
            for run_id, items in _items_by_run(stamped).items():
                release_claims(conn, run_id, items)  # recorded: no longer being computed
        return stamped

    def claim_items(
        self,
        run_id: str,
        holder: str,
        items: Sequence[tuple[AssetKey, PartitionKey]],
        *,
        lease_seconds: float,
    ) -> ClaimOutcome:
        """Claim for ``run_id`` every item no other live run holds, for ``lease_seconds``.

        Claims are serialised (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on
        PostgreSQL) and each claimed item's newest attempt is re-read under that lock, so a
        caller learns whether another run materialized it since it planned.
        """
        now = datetime.now(UTC)
        expires_at = now + timedelta(seconds=lease_seconds)
        with self._writing(f"Could not claim {len(items)} items") as conn:
            lock_claims(conn)
            return claim_items(conn, run_id, holder, items, now=now, expires_at=expires_at)

    def renew_claims(self, run_id: str, *, lease_seconds: float) -> int:
        """Extend every claim of ``run_id`` by ``lease_seconds`` from now; return how many."""
        expires_at = datetime.now(UTC) + timedelta(seconds=lease_seconds)
        with self._writing(f"Could not renew the claims of run {run_id!r}") as conn:
            return renew_claims(conn, run_id, expires_at)

    def release_claims(
        self, run_id: str, items: Sequence[tuple[AssetKey, PartitionKey]] | None = None
    ) -> None:
        """End the claims of ``run_id`` on ``items``, or all of them."""
        with self._writing(f"Could not release the claims of run {run_id!r}") as conn:
            release_claims(conn, run_id, items)

    def get_claims(
        self, items: Iterable[tuple[AssetKey, PartitionKey]]
    ) -> dict[tuple[AssetKey, PartitionKey], Claim]:
        """The live claims on ``items``: which run computes each of them now."""
        with self._reading("Could not read the claims") as conn:
            return read_live_claims(conn, items, now=datetime.now(UTC))

    def get_latest(
        self, items: Iterable[tuple[AssetKey, PartitionKey]]
    ) -> dict[tuple[AssetKey, PartitionKey], LatestState]:
        """The ``latest`` state of each item that has one; unknown items are left out."""
        wanted = {(str(key), partition): (key, partition) for key, partition in items}
        keys = sorted(wanted)  # keeps each asset's partitions together in few chunks
        found: dict[tuple[AssetKey, PartitionKey], LatestState] = {}
        with self._reading("Could not read the latest materializations") as conn:
            # One read transaction for every chunk, so they all see the same snapshot.
            for start in range(0, len(keys), CHUNK):
                for stored_key, state in load_latest_chunk(conn, keys[start : start + CHUNK]):
                    found[wanted[stored_key]] = state
        return found

    def get_version_states(
        self, assets: Iterable[AssetKey], partitions: Iterable[PartitionKey] | None = None
    ) -> dict[tuple[AssetKey, PartitionKey], VersionState]:
        """For staleness: each item's newest attempt and last success, no records, few queries."""
        with self._reading("Could not read the version states") as conn:
            return load_version_states(conn, assets, partitions)

    def add_code_breakdowns(self, breakdowns: Mapping[CodeKey, Sequence[BreakdownEntry]]) -> None:
        """Keep each (asset, code version)'s breakdown, once, in one transaction."""
        with self._writing(f"Could not record {len(breakdowns)} code breakdowns") as conn:
            save_code_breakdowns(conn, breakdowns)

    def get_code_breakdowns(
        self, keys: Iterable[CodeKey]
    ) -> dict[CodeKey, tuple[BreakdownEntry, ...]]:
        """The stored breakdown of each (asset, code version) that has one."""
        with self._reading("Could not read the code breakdowns") as conn:
            return load_code_breakdowns(conn, keys)

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or ``None`` if there is no such run."""
        statement = select(runs).where(runs.c.run_id == run_id)
        with self._reading(f"Could not read run {run_id!r}") as conn:
            row = conn.execute(statement).mappings().one_or_none()
        return None if row is None else RunRecord.model_validate(dict(row))

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The newest runs first (by start time), at most ``limit`` of them."""
        statement = (
            select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        )
        with self._reading("Could not list runs") as conn:
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
        with self._reading(f"Could not read the history of asset {str(asset_key)!r}") as conn:
            return load_records(conn, select_rows(conn, statement))

    def get_run_materializations(self, run_id: str) -> list[MaterializationRecord]:
        """Every materialization recorded for a run, in sequence order, with lineage."""
        statement = (
            select(materializations)
            .where(materializations.c.run_id == run_id)
            .order_by(materializations.c.sequence)
        )
        with self._reading(f"Could not read the materializations of run {run_id!r}") as conn:
            return load_records(conn, select_rows(conn, statement))

    def add_dynamic_partitions(self, name: str, keys: Sequence[PartitionKey]) -> list[PartitionKey]:
        """Add the keys of dynamic partitions ``name`` that are not stored yet, in one transaction.

        Another process adding the same key at the same time is no error: it is stored once.

        Returns:
            The keys this call added, in the given order; known and repeated keys are left out.
        """
        action = f"Could not add {len(keys)} keys to dynamic partitions {name!r}"
        with self._writing(action) as conn:
            return save_dynamic_partitions(conn, name, keys)

    def remove_dynamic_partitions(
        self, name: str, keys: Sequence[PartitionKey]
    ) -> list[PartitionKey]:
        """Remove keys of dynamic partitions ``name``; return those that were stored, in order."""
        action = f"Could not remove {len(keys)} keys from dynamic partitions {name!r}"
        with self._writing(action) as conn:
            return delete_dynamic_partitions(conn, name, keys)

    def get_dynamic_partitions(self, names: Iterable[str]) -> dict[str, tuple[PartitionKey, ...]]:
        """The keys of each named dynamic partitions in the order added; ``()`` when it has none."""
        with self._reading("Could not read dynamic partitions") as conn:
            return load_dynamic_partitions(conn, names)

    def add_backfill(
        self, backfill: BackfillRecord, items: Sequence[tuple[AssetKey, PartitionKey]]
    ) -> None:
        """Record a backfill and its items, in order, in one transaction.

        Raises:
            StorageError: The id exists already, ``item_count`` is not ``len(items)``, or the
                database cannot be written; nothing is written then.
        """
        if backfill.item_count != len(items):
            raise StorageError(
                f"Could not record backfill {backfill.backfill_id!r}: its item_count is "
                f"{backfill.item_count} but {len(items)} items were given. Pass "
                "item_count=len(items)."
            )
        with self._writing(f"Could not record backfill {backfill.backfill_id!r}") as conn:
            save_backfill(conn, backfill, items)

    def add_backfill_run(self, backfill_id: str, run_id: str) -> None:
        """Append a run to a backfill's runs; adding one it has already changes nothing.

        Raises:
            StorageError: There is no such backfill or the database cannot be written.
        """
        action = f"Could not add run {run_id!r} to backfill {backfill_id!r}"
        with self._writing(action) as conn:
            found = save_backfill_run(conn, backfill_id, run_id)
        if not found:
            raise self._no_such_backfill(action, backfill_id)

    def update_backfill(
        self, backfill_id: str, status: BackfillStatus, updated_at: datetime
    ) -> None:
        """Record where a backfill stands now.

        Raises:
            StorageError: There is no such backfill or the database cannot be written.
        """
        action = f"Could not update backfill {backfill_id!r}"
        with self._writing(action) as conn:
            found = save_backfill_status(conn, backfill_id, status, updated_at)
        if not found:
            raise self._no_such_backfill(action, backfill_id)

    def get_backfill(self, backfill_id: str) -> BackfillRecord | None:
        """The backfill with its run ids (oldest first), or ``None`` if there is no such one."""
        with self._reading(f"Could not read backfill {backfill_id!r}") as conn:
            return load_backfill(conn, backfill_id)

    def list_backfills(self, limit: int = 20) -> list[BackfillRecord]:
        """The newest backfills first (by creation time), at most ``limit`` of them."""
        with self._reading("Could not list backfills") as conn:
            return load_backfills(conn, limit)

    def get_backfill_items(self, backfill_id: str) -> list[tuple[AssetKey, PartitionKey]]:
        """A backfill's items in the order they were given; empty for an unknown backfill."""
        action = f"Could not read the items of backfill {backfill_id!r}"
        with self._reading(action) as conn:
            return load_backfill_items(conn, backfill_id)

    def get_backfill_outcomes(
        self, backfill_id: str
    ) -> dict[tuple[AssetKey, PartitionKey], MaterializationStatus]:
        """The status of each item's newest materialization in the backfill's runs, in one query.

        Items that none of its runs has recorded yet are left out.
        """
        action = f"Could not read the outcomes of backfill {backfill_id!r}"
        with self._reading(action) as conn:
            return load_backfill_outcomes(conn, backfill_id)

    def close(self) -> None:
        """Release every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    def _create_schema(self) -> None:
        """Create or upgrade the tables to the head revision, once across processes."""
        if self._has_schema():
            return
        try:
            with self._writing("Could not create or upgrade the tables") as conn:
                # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock,
                # or two processes opening a fresh store would both see it empty and migrate it.
                if self._engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                upgrade_schema(conn)
        except StorageError:
            self._engine.dispose()  # the caller gets no store, so it cannot close this one
            raise

    def _has_schema(self) -> bool:
        """One cheap read that spares a store at the head revision the write lock and Alembic.

        A store that is empty, predates migrations or is at another revision reads ``False``.
        """
        try:
            with self._engine.connect() as conn:
                return conn.execute(SELECT_REVISION).scalars().all() == [HEAD_REVISION]
        except SQLAlchemyError:
            return False

    def _no_such_backfill(self, action: str, backfill_id: str) -> StorageError:
        return StorageError(
            f"{action} in the metadata store at {self._where}: there is no such backfill. "
            f"Record it with add_backfill() first, or check the id {backfill_id!r}."
        )

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
    def _writing(self, action: str) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``) whose errors say ``action``."""
        with self._guard(action), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        """A read transaction, one snapshot for all its queries, whose errors say ``action``."""
        with self._guard(action), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn any database error into a ``StorageError`` that says what, where and how."""
        try:
            yield
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise StorageError(
                f"{action} in the metadata store at {self._where}: {self._scrub(exc)}. "
                f"{suggest_fix(exc)}"
            ) from exc

    def _scrub(self, exc: BaseException) -> str:
        password = self._url.password
        return describe_error(exc, None if password is None else str(password))


def _items_by_run(
    records: Sequence[MaterializationRecord],
) -> dict[str, list[tuple[AssetKey, PartitionKey]]]:
    by_run: dict[str, list[tuple[AssetKey, PartitionKey]]] = {}
    for record in records:
        by_run.setdefault(record.run_id, []).append((record.asset_key, record.partition_key))
    return by_run
