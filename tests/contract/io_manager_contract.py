"""The contract every I/O manager passes: written once, run over each implementation.

It owns the behaviour flowstone relies on from any ``IOManager``: round trips, missing values,
presence checks, overwrites, independent partitions and assets, hostile keys, JSON-storable
metadata and use from many threads. It must not depend on how a manager stores values: a
subclass provides the ``manager`` fixture and names the sample values its format refuses.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from flowstone.errors import IOManagerError, MissingOutputError
from flowstone.io import IOContext, IOManager
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey

SAMPLE_VALUES: dict[str, Any] = {
    "int": 42,
    "big_int": -(2**80),
    "float": 0.1,
    "bool": True,
    "str": "hello",
    "unicode_str": "naïve ☃ 🙂",
    "empty_str": "",
    "none": None,
    "nested": {"rows": [1, 2, {"deep": [None, "x", 1.5]}], "empty": {}, "list": []},
    "bytes": b"\x00\xffraw",
}
"""Values every manager stores, unless its format refuses them (``unsupported_values``)."""

HOSTILE_PARTITION_KEYS: list[PartitionKey] = [
    "../../etc/passwd",
    "/abs/path",
    "a\x00b",
    "a%00b",
    "x" * 300,
    "x" * 299 + "y",
    "x" * 150,
    "..",
    ".",
    ".hidden",
    "trailing.",
    "a\\b",
    "C:",
    "~",
    "%2F",
    "  spaced  ",
    "ünï/cödé 🙂",
    UNPARTITIONED,
]
"""Partition keys that try to escape a base location or collide once encoded."""

HOSTILE_ASSET_KEYS: list[AssetKey] = [
    AssetKey(("..", "..", "etc", "passwd")),
    AssetKey((".",)),
    AssetKey(("..",)),
    AssetKey(("a\x00b",)),
    AssetKey(("a%00b",)),
    AssetKey(("y" * 300,)),
    AssetKey(("y" * 299 + "z",)),
    AssetKey(("a\\b",)),
    AssetKey(("ünïcödé", "🙂")),
    AssetKey(("%2E%2E",)),
    AssetKey(("C:", "Windows")),
]
"""Asset keys (segments cannot hold ``/``) that try to escape or collide once encoded."""


def make_context(
    asset: str | AssetKey = "orders", partition: PartitionKey = UNPARTITIONED
) -> IOContext:
    """A context for ``asset`` (``"group/name"`` or a key) and ``partition``."""
    return IOContext(asset_key=AssetKey.parse(asset), partition_key=partition)


class IOManagerContract:
    """Subclass as ``Test<Manager>`` and override the ``manager`` fixture to run the contract.

    Example:
        >>> class TestInMemoryIOManager(IOManagerContract):
        ...     @pytest.fixture
        ...     def manager(self) -> IOManager:
        ...         return InMemoryIOManager()
    """

    unsupported_values: ClassVar[frozenset[str]] = frozenset()
    """Names from ``SAMPLE_VALUES`` the manager must refuse with ``IOManagerError``."""

    @pytest.fixture
    def manager(self) -> IOManager:
        """The manager under test, fresh and empty for each test."""
        raise NotImplementedError(f"{type(self).__name__} must override the `manager` fixture.")

    def test_is_an_io_manager(self, manager: IOManager) -> None:
        assert isinstance(manager, IOManager)

    @pytest.mark.parametrize("name", list(SAMPLE_VALUES))
    def test_sample_value_round_trips_or_is_refused(self, manager: IOManager, name: str) -> None:
        ctx = make_context("samples", name)
        value = SAMPLE_VALUES[name]
        if name in self.unsupported_values:
            with pytest.raises(IOManagerError, match="samples") as raised:
                manager.save(ctx, value)
            assert (raised.value.asset_key, raised.value.partition_key) == (ctx.asset_key, name)
            assert not manager.exists(ctx)
            return
        stored = manager.save(ctx, value)
        for loaded in (manager.load(ctx), manager.load(replace(ctx, stored=stored))):
            assert loaded == value
            assert type(loaded) is type(value)

    def test_save_returns_json_storable_metadata(self, manager: IOManager) -> None:
        stored = manager.save(make_context(), [1, 2, 3])
        assert isinstance(stored, Mapping)
        assert all(isinstance(key, str) for key in stored)
        assert json.loads(json.dumps(dict(stored))) == dict(stored)  # the store keeps it as JSON

    def test_load_of_absent_value_raises_missing_output(self, manager: IOManager) -> None:
        ctx = make_context("warehouse/orders", "2024-01-01")
        with pytest.raises(MissingOutputError, match=re.escape("warehouse/orders")) as raised:
            manager.load(ctx)
        assert raised.value.asset_key == ctx.asset_key
        assert raised.value.partition_key == "2024-01-01"

    def test_exists_is_false_until_saved(self, manager: IOManager) -> None:
        ctx = make_context()
        assert manager.exists(ctx) is False
        manager.save(ctx, 1)
        assert manager.exists(ctx) is True

    def test_save_overwrites_the_previous_value(self, manager: IOManager) -> None:
        ctx = make_context()
        manager.save(ctx, "old")
        stored = manager.save(ctx, "new")
        assert manager.load(ctx) == "new"
        assert manager.load(replace(ctx, stored=stored)) == "new"

    def test_partitions_are_independent(self, manager: IOManager) -> None:
        day1, day2 = make_context("orders", "2024-01-01"), make_context("orders", "2024-01-02")
        manager.save(day1, "one")
        assert not manager.exists(day2)
        manager.save(day2, "two")
        manager.save(day1, "one again")
        assert manager.load(day1) == "one again"
        assert manager.load(day2) == "two"
        with pytest.raises(MissingOutputError, match="orders"):
            manager.load(make_context("orders", "2024-01-03"))

    def test_assets_with_several_segments_are_independent(self, manager: IOManager) -> None:
        keys = ["warehouse", "warehouse/orders", "warehouse/orders/daily", "orders", "raw/orders"]
        for key in keys:
            manager.save(make_context(key), f"value of {key}")
        for key in keys:
            assert manager.load(make_context(key)) == f"value of {key}"
        assert not manager.exists(make_context("warehouse/orders/weekly"))

    def test_hostile_partition_keys_round_trip_distinctly(self, manager: IOManager) -> None:
        contexts = [make_context("orders", key) for key in HOSTILE_PARTITION_KEYS]
        for index, ctx in enumerate(contexts):
            manager.save(ctx, index)
        assert [manager.load(ctx) for ctx in contexts] == list(range(len(contexts)))
        assert all(manager.exists(ctx) for ctx in contexts)

    def test_hostile_asset_keys_round_trip_distinctly(self, manager: IOManager) -> None:
        contexts = [
            make_context(key, partition) for key in HOSTILE_ASSET_KEYS for partition in ("p", "..")
        ]
        for index, ctx in enumerate(contexts):
            manager.save(ctx, index)
        assert [manager.load(ctx) for ctx in contexts] == list(range(len(contexts)))
        assert not manager.exists(make_context("etc/passwd", "p"))

    def test_concurrent_use_from_eight_threads(self, manager: IOManager) -> None:
        threads, rounds = 8, 20
        start = threading.Barrier(threads)
        shared = make_context("shared")

        def work(thread: int) -> list[Any]:
            start.wait()  # maximise overlap between threads
            loaded: list[Any] = []
            for step in range(rounds):
                own = make_context("orders", f"thread-{thread}-{step}")
                manager.save(own, [thread, step])
                manager.save(shared, [thread, step])
                loaded.append(manager.load(own))
                loaded.append(manager.load(shared))
            return loaded

        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(work, range(threads)))
        written = [[thread, step] for thread in range(threads) for step in range(rounds)]
        for thread, loaded in enumerate(results):
            assert loaded[0::2] == [[thread, step] for step in range(rounds)]
            assert all(value in written for value in loaded[1::2])  # whole values only
        assert manager.load(shared) in written
