"""How the tests find a PostgreSQL server: ``FLOWSTONE_TEST_POSTGRES_URL``.

Without it the PostgreSQL cases are skipped on a laptop, with the reason, but fail in CI
(``CI=true``): CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "FLOWSTONE_TEST_POSTGRES_URL"


def postgres_base_url() -> str:
    """The server URL from the environment; skips (or fails in CI) when it is not set."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if url:
        return url
    reason = (
        f"PostgreSQL tests need {POSTGRES_URL_ENV}, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}. CI must run them: give the job a PostgreSQL service and set it.")
    pytest.skip(reason)


def create_admin_engine(url: str) -> Engine:
    """An engine on the test server (``postgresql://`` means psycopg), for setup and checks."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed)


@contextmanager
def isolated_schema_url(base: str) -> Iterator[tuple[str, str]]:
    """A new, empty schema and a URL whose connections see only it; dropped afterwards."""
    schema = f"flowstone_test_{uuid.uuid4().hex[:16]}"
    admin = create_admin_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        isolated = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield isolated.render_as_string(hide_password=False), schema
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
