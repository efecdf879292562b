"""Schema migrations of ``SqlMetadataStore`` on SQLite and PostgreSQL: the revisions build exactly
the declared tables, old stores are upgraded in place, and concurrent openers migrate once."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, select, text

from flowstone.errors import StorageError
from flowstone.keys import AssetKey
from flowstone.storage import (
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
    SqlMetadataStore,
)
from flowstone.storage.engine import create_store_engine, parse_url
from flowstone.storage.migration import (
    HEAD_REVISION,
    SCRIPT_LOCATION,
    VERSION_TABLE,
    upgrade_schema,
)
from flowstone.storage.migration import REVISIONS as DECLARED_REVISIONS
from flowstone.storage.schema import (
    counters,
    materialization_row,
    materializations,
    metadata_obj,
    runs,
    schema_changes,
)

REVISIONS = ["0001", "0002", "0003"]
ROOT = Path(__file__).parents[3]
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
FIRST_TABLES = ("runs", "materializations", "lineage", "latest", "counters")
"""The tables of a store made by the first flowstone release."""
LAST_TABLES_BEFORE_MIGRATIONS = (
    *FIRST_TABLES,
    "dynamic_partitions",
    "backfills",
    "backfill_items",
    "backfill_runs",
)
"""The tables of a store made by the last release that created them without migrations."""
OPENER = """
import os, sys, time
from flowstone.storage import SqlMetadataStore
print("ready", flush=True)
start = float(sys.stdin.readline())
time.sleep(max(0.0, start - time.time()))
SqlMetadataStore(sys.argv[1]).close()
sys.stdout.flush()
os._exit(0)  # skips the interpreter's teardown: eight at once take most of a second
"""
"""A process that imports flowstone, says so, then opens the store at the start time it is sent.

An error escapes as a traceback and exit status 1 before ``os._exit`` is reached.
"""


@contextmanager
def connected(url: str) -> Iterator[Connection]:
    """A connection to the store at ``url``, on an engine of its own that is disposed after."""
    engine: Engine = create_store_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def schema_differences(conn: Connection) -> list[object]:
    """What Alembic's autogenerate would change to make the store match ``metadata_obj``."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return list(compare_metadata(context, metadata_obj))


def recorded_revisions(conn: Connection) -> list[str]:
    statement = select(schema_changes.c.revision).order_by(schema_changes.c.revision)
    return list(conn.execute(statement).scalars())


def stored_revision(conn: Connection) -> list[str]:
    return list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def open_together(url: str, count: int) -> list[tuple[int, str]]:
    """Open the store from ``count`` processes at the same moment; their exit codes and stderr."""
    with ExitStack() as stack:
        openers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", OPENER, url],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            for _ in range(count)
        ]

        def kill_leftovers() -> None:
            for opener in openers:
                if opener.poll() is None:
                    opener.kill()

        stack.callback(kill_leftovers)
        # Importing flowstone takes longer than opening a store: all do it before any opens.
        ready = [opener.stdout.readline() if opener.stdout else "" for opener in openers]
        if ready == ["ready\n"] * count:  # else none starts, and the outcomes say why
            start = f"{time.time() + 0.2}\n"
            for opener in openers:
                if opener.stdin:
                    opener.stdin.write(start)
                    opener.stdin.flush()
        outcomes = []
        for opener in openers:
            _, stderr = opener.communicate(timeout=30)
            outcomes.append((opener.returncode, stderr))
        return outcomes


def test_a_fresh_store_has_exactly_the_declared_schema(store_url: str) -> None:
    SqlMetadataStore(store_url).close()

    with connected(store_url) as conn:
        assert schema_differences(conn) == []
        assert stored_revision(conn) == [HEAD_REVISION]
        assert recorded_revisions(conn) == REVISIONS
        assert conn.execute(select(counters.c.name, counters.c.value)).all() == [
            ("materialization_sequence", 0)
        ]


def test_every_revision_run_from_empty_gives_exactly_the_declared_schema(store_url: str) -> None:
    # A new store is built from the declared tables; this checks the revisions build the same.
    engine = create_store_engine(parse_url(store_url))
    try:
        with engine.begin() as conn:
            assert upgrade_schema(conn, from_scratch=False) == REVISIONS
        with engine.connect() as conn:
            assert schema_differences(conn) == []
            assert stored_revision(conn) == [HEAD_REVISION]
            assert recorded_revisions(conn) == REVISIONS
    finally:
        engine.dispose()


def test_head_revision_is_the_newest_script() -> None:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    script = ScriptDirectory.from_config(config)

    assert script.get_current_head() == HEAD_REVISION
    assert [rev.revision for rev in reversed(list(script.walk_revisions()))] == REVISIONS
    assert list(DECLARED_REVISIONS) == REVISIONS


@pytest.mark.parametrize(
    "tables",
    [
        pytest.param(FIRST_TABLES, id="first-release"),
        pytest.param(LAST_TABLES_BEFORE_MIGRATIONS, id="last-release-before-migrations"),
    ],
)
def test_a_store_made_before_migrations_is_upgraded_and_keeps_its_rows(
    store_url: str, tables: tuple[str, ...]
) -> None:
    run = RunRecord(run_id="run-1", status=RunStatus.RUNNING, started_at=T0)
    written = MaterializationRecord(
        materialization_id=uuid.uuid4().hex,
        asset_key=AssetKey(("sales", "orders")),
        partition_key="2024-01-01",
        run_id="run-1",
        status=MaterializationStatus.SUCCESS,
        sequence=7,
    )
    engine = create_store_engine(parse_url(store_url))
    with engine.begin() as conn:
        metadata_obj.create_all(conn, tables=[metadata_obj.tables[name] for name in tables])
        conn.execute(counters.insert().values(name="materialization_sequence", value=7))
        conn.execute(runs.insert(), [{**run.model_dump(), "status": run.status.value}])
        conn.execute(materializations.insert(), [materialization_row(written)])
    engine.dispose()

    upgraded = SqlMetadataStore(store_url)

    assert upgraded.get_run("run-1") == run
    assert upgraded.get_run_materializations("run-1") == [written]
    assert upgraded.add_dynamic_partitions("customers", ["acme"]) == ["acme"]
    upgraded.close()
    with connected(store_url) as conn:
        counted = select(counters.c.name, counters.c.value).order_by(counters.c.name)
        assert conn.execute(counted).all() == [
            ("dynamic_partition_position", 1),
            ("materialization_sequence", 7),  # kept, not seeded again
        ]
        assert schema_differences(conn) == []  # the missing tables, ``claims`` among them, exist
        assert stored_revision(conn) == [HEAD_REVISION]
        assert recorded_revisions(conn) == REVISIONS


def test_a_failed_migration_leaves_the_store_as_it_was(store_url: str) -> None:
    # ``claims`` exists already, so 0002 fails after 0001 created ``schema_changes``.
    engine = create_store_engine(parse_url(store_url))
    tables = [table for name, table in metadata_obj.tables.items() if name != "schema_changes"]
    with engine.begin() as conn:
        metadata_obj.create_all(conn, tables=tables)
    engine.dispose()

    with pytest.raises(StorageError, match=r"Could not create or upgrade the tables.*claims"):
        SqlMetadataStore(store_url)

    with connected(store_url) as conn:
        names = set(inspect(conn).get_table_names())
        assert names == {table.name for table in tables}
        assert conn.execute(select(counters)).all() == []


def test_processes_opening_a_fresh_store_at_once_migrate_it_once(store_url: str) -> None:
    outcomes = open_together(store_url, 8)

    assert outcomes == [(0, "")] * 8
    with connected(store_url) as conn:
        assert recorded_revisions(conn) == REVISIONS
        assert stored_revision(conn) == [HEAD_REVISION]
        assert schema_differences(conn) == []


def test_a_store_at_an_unknown_revision_asks_to_upgrade_flowstone(store_url: str) -> None:
    SqlMetadataStore(store_url).close()
    with connected(store_url) as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
        conn.commit()

    with pytest.raises(StorageError, match=r"revision ffff.*Upgrade flowstone") as raised:
        SqlMetadataStore(store_url)

    assert parse_url(store_url).render_as_string(hide_password=True) in str(raised.value)
    with connected(store_url) as conn:
        assert stored_revision(conn) == ["ffff"]
        assert recorded_revisions(conn) == REVISIONS


def test_opening_a_current_store_does_not_import_alembic(store_url: str) -> None:
    SqlMetadataStore(store_url).close()
    check = (
        "import sys\n"
        "from flowstone.storage import SqlMetadataStore\n"
        "SqlMetadataStore(sys.argv[1]).close()\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", check, store_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert (done.returncode, done.stderr, done.stdout) == (0, "", "[]\n")
