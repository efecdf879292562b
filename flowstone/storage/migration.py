"""Schema migrations of the metadata store: the one place that runs Alembic.

The store's revision lives in the ``schema_version`` table; each revision applied is also
recorded in ``schema_changes``, with when and by which process. The revisions themselves are in
``flowstone.storage.migrations``. A store at ``HEAD_REVISION`` is recognised by one cheap read
(``SELECT_REVISION``), without importing Alembic, which is slow to import.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    column,
    inspect,
    select,
    table,
)

from flowstone.errors import StorageError
from flowstone.storage.schema import metadata_obj, schema_changes, seed_counter

REVISIONS: Final = ("0001", "0002", "0003")
"""Every revision in ``flowstone.storage.migrations``, oldest first (a test checks the chain)."""
HEAD_REVISION: Final = REVISIONS[-1]
"""The newest revision: the schema this code works with."""
VERSION_TABLE: Final = "schema_version"
"""Where Alembic keeps the store's revision: named for what it holds, not for the tool."""
SCRIPT_LOCATION: Final = "flowstone.storage:migrations"
"""The revisions ship inside the package, so an installed flowstone can upgrade a store."""
SELECT_REVISION: Final = select(column("version_num", String)).select_from(table(VERSION_TABLE))
"""The store's revision: one row, or an error when the store predates migrations or is empty."""
_VERSION_TABLE: Final = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)
"""The table Alembic keeps the revision in, declared as Alembic declares it."""


def upgrade_schema(conn: Connection, *, from_scratch: bool = True) -> list[str]:
    """Bring the store's tables to ``HEAD_REVISION``; return the revisions applied, oldest first.

    Call it inside the write transaction that holds the schema lock: the revision is read again
    here, under the lock, so of several processes opening a fresh store at once only the first
    migrates and the others find nothing to do (without importing Alembic while they hold the
    lock). Everything happens in that transaction, so a failed migration leaves the store as it
    was.

    An empty database is built from the declared tables and stamped at the head, as Alembic
    recommends for new databases (``from_scratch``): the same schema as running every revision
    (a test compares both), without importing Alembic, which is most of a new store's cost.

    Raises:
        StorageError: A newer flowstone migrated the store to a revision this one does not know.
    """
    stored = _stored_revisions(conn)
    if stored == [HEAD_REVISION]:
        return []
    if not stored and from_scratch and not _has_any_table(conn):
        return _create_at_head(conn)
    # Imported here: Alembic is slow to import and a store already at head never needs it.
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    unknown = sorted(set(stored) - known)
    if unknown:
        where = conn.engine.url.render_as_string(hide_password=True)
        raise StorageError(
            f"The metadata store at {where} is at schema revision {', '.join(unknown)}, which "
            f"this flowstone does not know (it knows up to {HEAD_REVISION}): a newer flowstone "
            "upgraded it. Upgrade flowstone (pip install -U flowstone) to use this store."
        )
    applied: list[str] = []
    # env.py migrates on this connection, inside this transaction, and fills ``applied``.
    config.attributes["connection"] = conn
    config.attributes["applied"] = applied
    command.upgrade(config, "head")
    _record_changes(conn, applied)
    return applied


def _create_at_head(conn: Connection) -> list[str]:
    """Build an empty store from the declared tables and stamp it at the head revision."""
    metadata_obj.create_all(conn, checkfirst=False)  # known empty: no look-up per table
    conn.execute(seed_counter(conn.dialect.name))
    _VERSION_TABLE.create(conn)
    conn.execute(_VERSION_TABLE.insert().values(version_num=HEAD_REVISION))
    _record_changes(conn, list(REVISIONS))
    return list(REVISIONS)


def _record_changes(conn: Connection, applied: list[str]) -> None:
    """One ``schema_changes`` row per revision applied: a second application cannot be written."""
    if not applied:
        return
    applied_at = datetime.now(UTC)
    applied_by = f"{socket.gethostname()}:{os.getpid()}"
    rows = [
        {"revision": revision, "applied_at": applied_at, "applied_by": applied_by}
        for revision in applied
    ]
    conn.execute(schema_changes.insert(), rows)


def _has_any_table(conn: Connection) -> bool:
    return bool(set(metadata_obj.tables) & set(inspect(conn).get_table_names()))


def _stored_revisions(conn: Connection) -> list[str]:
    """The store's revision (one, or none before its first migration), safe in a transaction.

    The table's presence is checked first: on PostgreSQL a failed read would abort the
    transaction the migration is to run in.
    """
    if not inspect(conn).has_table(VERSION_TABLE):
        return []
    return list(conn.execute(SELECT_REVISION).scalars())
