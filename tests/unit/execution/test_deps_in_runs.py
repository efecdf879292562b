"""Runs with ``deps=``: upstream first, never loaded, recorded in lineage, stale and cut off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flowstone import (
    ALL_PARTITIONS,
    AssetKey,
    DailyPartitions,
    Freshness,
    IOManagerError,
    MaterializationStatus,
    Registry,
    RunResult,
    TimeWindowMapping,
    asset,
    status,
)
from flowstone.io import IOContext
from flowstone.storage.sql import SqlMetadataStore
from flowstone.versioning import hash_value
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
OK = MaterializationStatus.SUCCESS


class CountingIOManager(InMemoryIOManager):
    """Records every load, so a test can tell which inputs were read."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def load(self, ctx: IOContext) -> Any:
        self.loads.append(f"{ctx.asset_key}[{ctx.partition_key}]")
        return super().load(ctx)


class UnloadableIOManager(InMemoryIOManager):
    """Stores values but refuses to load them."""

    def load(self, ctx: IOContext) -> Any:
        raise RuntimeError(f"{ctx.asset_key} must not be loaded")


def _statuses(result: RunResult) -> dict[str, MaterializationStatus]:
    return {item.label: item.status for item in result.items}


def test_a_deps_upstream_runs_first_and_is_never_loaded(run: Run) -> None:
    order: list[str] = []
    unloadable = UnloadableIOManager()

    @asset(io_manager=unloadable)
    def stamp() -> str:
        order.append("stamp")
        return "2024-01-01"

    @asset(deps=[stamp])
    def audit() -> int:
        order.append("audit")
        return 1

    @asset(depends_on=[stamp])
    def reader(stamp: str) -> str:
        return stamp

    result = run(concurrency=4, io_managers={"fs": CountingIOManager()})
    assert order == ["stamp", "audit"]
    statuses = _statuses(result)
    assert statuses["stamp"] is OK and statuses["audit"] is OK
    # the same upstream, loaded through depends_on=, does fail: the manager really refuses
    assert statuses["reader"] is MaterializationStatus.FAILED
    reader_item = next(item for item in result.items if item.label == "reader")
    assert "stamp must not be loaded" in (reader_item.error or "")


def test_an_async_asset_with_deps_loads_nothing_either(run: Run) -> None:
    @asset(io_manager=UnloadableIOManager())
    def stamp() -> str:
        return "2024-01-01"

    @asset(deps=[stamp])
    async def audit() -> int:
        return 1

    result = run(io_managers={"fs": InMemoryIOManager()})
    assert _statuses(result) == {"stamp": OK, "audit": OK}


def test_only_depends_on_inputs_are_loaded(run: Run) -> None:
    counting = CountingIOManager()

    @asset
    def raw() -> list[int]:
        return [1, 2, 3]

    @asset(depends_on=[raw])
    def loaded(raw: list[int]) -> int:
        return len(raw)

    @asset(deps=[raw])
    def ordered() -> str:
        return "after raw"

    assert run(io_managers={"fs": counting}).success
    assert counting.loads == ["raw[__unpartitioned__]"]


def test_lineage_records_the_deps_upstream_and_its_data_version(
    run: Run, store: SqlMetadataStore
) -> None:
    @asset
    def raw() -> list[int]:
        return [1, 2, 3]

    @asset(deps=[raw])
    def ordered() -> str:
        return "after raw"

    result = run(io_managers={"fs": InMemoryIOManager()})
    raw_item = next(item for item in result.items if item.label == "raw")
    [edge] = store.get_history(AssetKey.parse("ordered"))[0].inputs
    assert edge.upstream_asset_key == AssetKey.parse("raw")
    assert edge.upstream_materialization_id == raw_item.materialization_id
    assert edge.upstream_data_version == hash_value([1, 2, 3])


def _define(values: dict[str, Any], calls: list[str]) -> Registry:
    """``raw`` (its code version and output from ``values``) and ``ordered``, which deps it."""
    registry = Registry()
    with registry:

        @asset(key="raw", code_version=values["version"])
        def raw() -> list[int]:
            return list(values["rows"])

        @asset(deps=["raw"])
        def ordered() -> str:
            calls.append("ordered")
            return "after raw"

    return registry


def test_a_new_upstream_data_version_makes_the_asset_stale(
    run: Run, store: SqlMetadataStore
) -> None:
    values: dict[str, Any] = {"version": "1", "rows": [1, 2]}
    calls: list[str] = []
    memory = InMemoryIOManager()
    assert run(definitions=_define(values, calls), io_managers={"fs": memory}).success
    values["version"], values["rows"] = "2", [1, 2, 3]
    registry = _define(values, calls)
    assert run("raw", definitions=registry, io_managers={"fs": memory}).success

    report = status(definitions=registry, store=store)
    verdicts = {item.label: item.verdict for item in report.items}
    assert verdicts["raw"].status is Freshness.FRESH
    assert verdicts["ordered"].status is Freshness.STALE
    assert "upstream raw changed (data version" in verdicts["ordered"].explain()

    calls.clear()
    result = run(definitions=registry, io_managers={"fs": memory})
    assert _statuses(result) == {"ordered": OK}
    assert calls == ["ordered"]


def test_an_identical_upstream_output_cuts_off(run: Run) -> None:
    values: dict[str, Any] = {"version": "1", "rows": [1, 2]}
    calls: list[str] = []
    memory = InMemoryIOManager()
    assert run(definitions=_define(values, calls), io_managers={"fs": memory}).success
    values["version"] = "2"
    calls.clear()
    result = run(definitions=_define(values, calls), io_managers={"fs": memory})
    assert _statuses(result) == {"raw": OK, "ordered": MaterializationStatus.UNCHANGED}
    assert calls == []


def test_a_deps_upstream_never_materialized_blocks_with_a_hint(run: Run) -> None:
    @asset
    def never_built() -> int:
        return 1

    @asset(deps=[never_built])
    def waits() -> int:
        return 2

    [item] = run("waits").items
    assert item.status is MaterializationStatus.BLOCKED
    assert "input never_built never materialized and not in this run" in (item.error or "")
    assert "'+waits'" in (item.error or "")


def test_a_deps_upstream_needs_no_io_manager_in_a_run_that_does_not_write_it(run: Run) -> None:
    @asset(io_manager="vault")
    def secret() -> int:
        return 7

    @asset(deps=[secret])
    def ordered() -> int:
        return 1

    @asset(depends_on=[secret])
    def reader(secret: int) -> int:
        return secret

    vault = InMemoryIOManager()
    assert run(io_managers={"fs": InMemoryIOManager(), "vault": vault}).success
    # "vault" is not a registered manager: only a run that loads secret needs it
    result = run("ordered", force=True, io_managers={"fs": InMemoryIOManager()})
    assert _statuses(result) == {"ordered": OK}
    with pytest.raises(IOManagerError, match="vault"):
        run("reader", force=True, io_managers={"fs": InMemoryIOManager()})


def test_a_partitioned_deps_entry_takes_a_mapping_and_records_each_partition(
    run: Run, store: SqlMetadataStore
) -> None:
    days = DailyPartitions("2024-01-01", "2024-01-04")
    counting = CountingIOManager()

    @asset(partitioned_by=days)
    def events() -> int:
        return 1

    @asset(
        partitioned_by=days,
        deps=[TimeWindowMapping(events, start_offset=-1, allow_missing=True)],
    )
    def rolling() -> int:
        return 2

    result = run(io_managers={"fs": counting}, partitions=ALL_PARTITIONS)
    assert result.success
    assert counting.loads == []
    read = {
        day: sorted(e.upstream_partition_key for e in history[0].inputs)
        for day in ("2024-01-01", "2024-01-03")
        for history in [store.get_history(AssetKey.parse("rolling"), partition_key=day)]
    }
    assert read == {"2024-01-01": ["2024-01-01"], "2024-01-03": ["2024-01-02", "2024-01-03"]}
