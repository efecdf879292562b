"""Fixtures for running assets against a throw-away store and storage root."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowstone import Registry, RunResult, materialize
from flowstone.storage.sql import SqlMetadataStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    opened = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield opened
    opened.close()


@pytest.fixture
def run(registry: Registry, store: SqlMetadataStore, tmp_path: Path) -> Callable[..., RunResult]:
    """``run(selection, **options)``: materialize in the test's registry, store and folder."""

    def run_selection(selection: Any = None, **options: Any) -> RunResult:
        options.setdefault("definitions", registry)
        return materialize(selection, store=store, project_dir=tmp_path, **options)

    return run_selection
