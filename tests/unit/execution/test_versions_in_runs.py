"""Versions recorded by runs: data versions, Output, unhashable values, config, helpers."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel

from flowstone import (
    UNPARTITIONED,
    AllPartitions,
    AssetContext,
    AssetKey,
    ConfigError,
    DailyPartitions,
    DynamicPartitions,
    Freshness,
    MaterializationStatus,
    Output,
    Registry,
    RunResult,
    TimeWindowMapping,
    asset,
    status,
)
from flowstone.storage import MaterializationRecord, RunRecord, RunStatus
from flowstone.storage.sql import SqlMetadataStore
from flowstone.versioning import hash_value
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
_NOW = datetime(2024, 1, 1, tzinfo=UTC)


class Scale(BaseModel):
    factor: int = 1


def _labels(result: RunResult) -> list[str]:
    return [item.label for item in result.items if item.status.is_attempt]


def test_output_supplies_the_data_version_and_metadata(run: Run, store: SqlMetadataStore) -> None:
    @asset
    def source() -> Output[list[int]]:
        return Output([1, 2], data_version="rev-7", metadata={"rows": 2})

    assert run(io_managers={"fs": InMemoryIOManager()}).success
    record = store.get_history(AssetKey.parse("source"))[0]
    assert record.data_version == "rev-7" and record.metadata == {"rows": 2}
    assert record.provenance_version is not None


def test_the_data_version_is_the_content_hash(run: Run, store: SqlMetadataStore) -> None:
    @asset
    def words() -> set[str]:
        return {"b", "a", "c"}

    assert run(io_managers={"fs": InMemoryIOManager()}).success
    assert store.get_history(AssetKey.parse("words"))[0].data_version == hash_value({"a", "b", "c"})


def test_an_unhashable_value_falls_back_and_status_says_so(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    @asset
    def lock() -> object:
        return threading.Lock

    memory = InMemoryIOManager()
    assert run(io_managers={"fs": memory}).success
    record = store.get_history(AssetKey.parse("lock"))[0]
    assert record.data_version is not None and record.data_version.startswith("p:")
    report = status(definitions=registry, store=store)
    assert [item.unhashable for item in report.items] == [True]


def test_config_is_validated_passed_and_part_of_the_provenance(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    @asset
    def scaled(config: Scale) -> int:
        return 10 * config.factor

    memory = InMemoryIOManager()
    assert _labels(run(io_managers={"fs": memory}, config={"scaled": {"factor": 2}})) == ["scaled"]
    assert _labels(run(io_managers={"fs": memory}, config={"scaled": {"factor": 2}})) == []
    report = status(definitions=registry, store=store, config={"scaled": {"factor": 3}})
    [item] = report.items
    assert item.verdict.status is Freshness.STALE and "config changed" in item.verdict.explain()
    assert _labels(run(io_managers={"fs": memory}, config={"scaled": {"factor": 3}})) == ["scaled"]
    with pytest.raises(ConfigError, match=r"'scaled'.*factor"):
        run(io_managers={"fs": memory}, config={"scaled": {"factor": "many"}})
    with pytest.raises(ConfigError, match="not an asset"):
        run(io_managers={"fs": memory}, config={"scaledd": {}})
    assert len(store.list_runs()) == 3


def test_identical_output_stops_the_wave(run: Run, store: SqlMetadataStore) -> None:
    version = {"source": "1"}
    calls: list[str] = []

    def define() -> None:
        @asset(key="source", code_version=version["source"])
        def source() -> int:
            return 42

        @asset(depends_on=["source"])
        def derived(source: int) -> int:
            calls.append("derived")
            return source + 1

    registry = Registry()
    with registry:
        define()
    memory = InMemoryIOManager()
    run(definitions=registry, io_managers={"fs": memory})
    version["source"] = "2"
    registry = Registry()
    with registry:
        define()
    calls.clear()
    result = run(definitions=registry, io_managers={"fs": memory})
    statuses = {item.label: item.status for item in result.items}
    assert statuses == {
        "source": MaterializationStatus.SUCCESS,
        "derived": MaterializationStatus.UNCHANGED,
    }
    assert calls == []


PIPELINE = '''
from flowstone import asset


def clean(rows):
    """Keep positive rows."""  # DOC
    return [row for row in rows if row > 0]  # HELPER


@asset
def raw():
    return [3, -1, 2]


@asset(depends_on=[raw])
def cleaned(raw):
    return clean(raw)


@asset(depends_on=[cleaned])
def total(cleaned):
    return sum(cleaned)
'''


def _load(folder: Path, source: str) -> Registry:
    path = folder / "helper_pipeline.py"
    path.write_text(source)
    sys.modules.pop("helper_pipeline", None)
    spec = importlib.util.spec_from_file_location("helper_pipeline", path)
    assert spec is not None and spec.loader is not None
    registry = Registry()
    with registry:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return registry


def test_editing_a_helper_makes_its_asset_stale_and_a_comment_does_not(
    run: Run, store: SqlMetadataStore, tmp_path: Path
) -> None:
    memory = InMemoryIOManager()
    assert run(definitions=_load(tmp_path, PIPELINE), io_managers={"fs": memory}).success

    reworded = PIPELINE.replace("# HELPER", "# keeps order").replace("positive rows", "rows > 0")
    quiet = run(definitions=_load(tmp_path, reworded), io_managers={"fs": memory})
    assert quiet.items == () and len(quiet.fresh) == 3

    same_result = PIPELINE.replace("if row > 0]", "if row >= 1]")
    registry = _load(tmp_path, same_result)
    verdicts = {i.label: i.verdict for i in status(definitions=registry, store=store).items}
    assert verdicts["raw"].status is Freshness.FRESH
    expected = "stale — code changed: helper clean() in helper_pipeline.py"
    assert verdicts["cleaned"].explain() == expected
    assert verdicts["total"].status is Freshness.UPSTREAM_STALE
    result = run(definitions=registry, io_managers={"fs": memory})
    assert {i.label: i.status.value for i in result.items} == {
        "cleaned": "success",
        "total": "unchanged",
    }


def test_a_new_required_upstream_partition_blocks_a_fan_in_selected_alone(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    regions = DynamicPartitions("regions")
    store.add_dynamic_partitions("regions", ["eu", "us"])

    @asset(partitioned_by=regions)
    def raw(context: AssetContext) -> str:
        return context.partition_key

    @asset(depends_on={"by_region": AllPartitions(raw)})
    def total(by_region: dict[str, str]) -> int:
        return len(by_region)

    memory = InMemoryIOManager()
    assert run(partitions="all", io_managers={"fs": memory}).success
    store.add_dynamic_partitions("regions", ["apac"])
    [item] = status("total", definitions=registry, store=store).items
    assert item.verdict.status is Freshness.BLOCKED and "raw[apac]" in item.verdict.explain()
    alone = run("total", io_managers={"fs": memory})
    assert [(i.label, i.status) for i in alone.items] == [("total", MaterializationStatus.BLOCKED)]
    everything = run(partitions="all", io_managers={"fs": memory})
    assert {i.label for i in everything.items if i.status.is_attempt} == {"raw[apac]", "total"}


def test_a_success_recorded_without_versions_is_stale_not_missing(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    @asset
    def old() -> int:
        return 1

    store.add_run(RunRecord(run_id="r0", status=RunStatus.SUCCESS, started_at=_NOW))
    store.add_materializations(
        [
            MaterializationRecord(
                materialization_id="m0",
                asset_key=AssetKey.parse("old"),
                partition_key=UNPARTITIONED,
                run_id="r0",
                status=MaterializationStatus.SUCCESS,
            )
        ]
    )
    [item] = status(definitions=registry, store=store).items
    assert item.verdict.explain() == "stale — recorded without versions (by an older flowstone)"


def test_a_lag_whose_first_day_reads_nothing_is_fresh_on_the_second_run(run: Run) -> None:
    days = DailyPartitions("2024-01-01", "2024-01-05")

    @asset(partitioned_by=days)
    def raw(context: AssetContext) -> str:
        return context.partition_key

    lag = TimeWindowMapping(raw, start_offset=-1, end_offset=-1, allow_missing=True)

    @asset(depends_on={"yesterday": lag}, partitioned_by=days)
    def previous(yesterday: str | None) -> str | None:  # nothing before the first day
        return yesterday

    memory = InMemoryIOManager()
    assert run(partitions="all", io_managers={"fs": memory}).success
    again = run("previous", partitions="all", io_managers={"fs": memory})  # raw read as stored
    assert again.items == () and len(again.fresh) == 4
