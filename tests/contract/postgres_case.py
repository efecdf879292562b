"""PostgreSQL for the I/O manager tests: the server URL and a manager in a throw-away schema.

The server comes from ``tests.support.postgres`` (skipped on a laptop without one, failed in CI).
Each manager gets a new schema that is dropped afterwards, so tests never see each other's
tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from io_managers.postgres import PostgresIOManager
from tests.support.postgres import create_admin_engine, postgres_base_url


@contextmanager
def open_postgres_manager(**options: Any) -> Iterator[PostgresIOManager]:
    """A ``PostgresIOManager`` in a new schema, dropped with everything in it afterwards."""
    url = postgres_base_url()
    schema = f"flowstone_test_{uuid.uuid4().hex[:16]}"
    manager = PostgresIOManager(url, schema=schema, **options)
    try:
        yield manager
    finally:
        manager.close()
        admin = create_admin_engine(url)
        try:
            with admin.begin() as conn:
                conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))
        finally:
            admin.dispose()
