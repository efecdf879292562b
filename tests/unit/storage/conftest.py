"""Fixtures for the metadata store tests: a fresh, isolated ``store`` on each backend.

SQLite always runs (a file under ``tmp_path``). PostgreSQL runs when ``FLOWSTONE_TEST_POSTGRES_URL``
names a server: each test gets its own schema, dropped afterwards. Without the variable the
PostgreSQL cases are skipped, except in CI (``CI=true``), where they fail: CI must run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flowstone.storage import RunRecord, RunStatus, SqlMetadataStore
from tests.support.postgres import isolated_schema_url, postgres_base_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty metadata store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata' / 'flowstone.db'}"
    else:
        with isolated_schema_url(postgres_base_url()) as (url, _):
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlMetadataStore]:
    """A fresh ``SqlMetadataStore``, closed after the test."""
    opened = SqlMetadataStore(store_url)
    yield opened
    opened.close()


@pytest.fixture
def run(store: SqlMetadataStore) -> RunRecord:
    """A recorded run, ``run-1``, that materializations can name."""
    recorded = RunRecord(
        run_id="run-1", status=RunStatus.RUNNING, started_at=datetime(2024, 1, 1, 12, tzinfo=UTC)
    )
    store.add_run(recorded)
    return recorded
