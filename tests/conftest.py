"""Shared fixtures: a fresh registry per test so nothing depends on import order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowstone.definitions import Registry


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A fresh, active registry: every @asset in the test registers here."""
    with Registry() as fresh:
        yield fresh


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the backend ``materialize`` uses."""
    return "asyncio"
