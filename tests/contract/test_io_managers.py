"""Runs the I/O manager contract over every bundled manager and storage format.

It owns the list of managers under contract and how each is built and cleaned up; the
behaviour itself lives in ``io_manager_contract.py`` and must not be repeated here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec  # type: ignore[import-untyped]
import pytest

from flowstone.io import IOManager
from io_managers.filesystem import FilesystemIOManager
from io_managers.memory import InMemoryIOManager

from .io_manager_contract import IOManagerContract
from .postgres_case import open_postgres_manager


class TestInMemoryIOManager(IOManagerContract):
    @pytest.fixture
    def manager(self) -> IOManager:
        return InMemoryIOManager()


class TestFilesystemIOManagerPickle(IOManagerContract):
    @pytest.fixture
    def manager(self, tmp_path: Path) -> IOManager:
        return FilesystemIOManager(str(tmp_path / "storage"))


class TestFilesystemIOManagerJson(IOManagerContract):
    unsupported_values = frozenset({"bytes"})

    @pytest.fixture
    def manager(self, tmp_path: Path) -> IOManager:
        return FilesystemIOManager(str(tmp_path / "storage"), format="json")


class TestFilesystemIOManagerOnFsspecMemory(IOManagerContract):
    @pytest.fixture
    def manager(self) -> Iterator[IOManager]:
        root = f"memory://contract-{uuid.uuid4().hex}"
        yield FilesystemIOManager(root)
        memory = fsspec.filesystem("memory")
        if memory.exists(root):
            memory.rm(root, recursive=True)


@pytest.mark.postgres
class TestPostgresIOManagerJson(IOManagerContract):
    unsupported_values = frozenset({"bytes"})

    @pytest.fixture
    def manager(self) -> Iterator[IOManager]:
        with open_postgres_manager() as manager:
            yield manager


@pytest.mark.postgres
class TestPostgresIOManagerBinary(IOManagerContract):
    @pytest.fixture
    def manager(self) -> Iterator[IOManager]:
        with open_postgres_manager(binary=True) as manager:
            yield manager
