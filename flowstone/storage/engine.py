"""Engines for the metadata store: URL parsing and the per-dialect connection set-up.

SQLite gets WAL, a busy timeout and explicit ``BEGIN``/``BEGIN IMMEDIATE`` (SQLAlchemy's pysqlite
recipe); PostgreSQL gets psycopg and UTC sessions. Nothing here reads or writes records.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from flowstone.errors import StorageError

WRITE_OPTION: Final = "flowstone_write"
"""Execution option that makes the SQLite begin listener take the write lock up front."""
_BUSY_SECONDS: Final = 30.0
_SQLITE_PRAGMAS: Final = (
    f"busy_timeout={int(_BUSY_SECONDS * 1000)}",  # wait for another writer, do not fail at once
    "synchronous=NORMAL",  # with WAL: durable at checkpoints, no fsync per commit
    "cache_size=-65536",  # 64 MiB (default 2 MiB): bulk writes into large indexes stay in memory
    "foreign_keys=ON",
)


def parse_url(url: str) -> URL:
    """Parse a store URL (``postgresql://`` means psycopg); never echoed: it may hold a password."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # The text may hold a password, so it is not repeated here.
        raise StorageError(
            "Could not parse the metadata store URL. Use e.g. sqlite:///.flowstone/flowstone.db "
            "or postgresql+psycopg://user:password@host:5432/dbname."
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(
            f"Unsupported metadata store database {parsed.get_backend_name()!r} in "
            f"{parsed.render_as_string(hide_password=True)}. Use a sqlite:/// or "
            "postgresql+psycopg:// URL."
        )
    return parsed


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to print in a message or a hint."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<store URL>"


def create_store_engine(url: URL) -> Engine:
    """An engine for ``url`` with the dialect's connection set-up (SQLite: create the folder)."""
    if url.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _on_postgresql_connect)
        return engine
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # SQLAlchemy's pysqlite recipe: stop the driver from issuing BEGIN itself, so that
    # _on_sqlite_begin decides (and reads get a BEGIN too, which makes them repeatable).
    dbapi_connection.isolation_level = None
    _use_wal(dbapi_connection)
    for pragma in _SQLITE_PRAGMAS:
        dbapi_connection.execute(f"PRAGMA {pragma}").close()


def _use_wal(dbapi_connection: Any) -> None:
    """Put the database in WAL mode (readers never block the writer, nor it them), once.

    The mode is kept in the file, so usually this only reads it. Switching needs the database to
    itself, and SQLite answers "database is locked" at once rather than waiting on the busy
    timeout: processes opening a new store together retry until one has switched it.
    """
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                dbapi_connection.execute("PRAGMA journal_mode=WAL").close()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_postgresql_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # In a UTC session psycopg returns datetimes already in ``UTC``: nothing to convert.
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def _on_sqlite_begin(conn: Connection) -> None:
    # Writers read (the counter) then write: IMMEDIATE takes the write lock at BEGIN, so a
    # second process waits on busy_timeout instead of failing to upgrade a read lock.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
