"""Runs keep, once per (asset, code version), what the code version was made of."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest

from flowstone import AssetContext, DailyPartitions, RunResult, asset
from flowstone.keys import AssetKey
from flowstone.storage import BreakdownEntry, CodeKey
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
DAILY = DailyPartitions("2024-01-01", "2024-01-05")


def _helper(value: int) -> int:
    return value + 1


def test_a_partitioned_run_writes_the_breakdown_once(
    run: Run, store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    @asset(partitioned_by=DAILY)
    def daily(context: AssetContext) -> int:
        return _helper(len(context.partition_key))

    written: list[Mapping[CodeKey, Sequence[BreakdownEntry]]] = []
    add = store.add_code_breakdowns
    monkeypatch.setattr(store, "add_code_breakdowns", lambda b: (written.append(b), add(b)))
    result = run(partitions="all", io_managers={"fs": InMemoryIOManager()})
    assert result.success
    version = store.get_history(AssetKey.parse("daily"))[0].code_version
    assert version is not None
    assert [list(b) for b in written] == [[(AssetKey.parse("daily"), version)]]
    stored = store.get_code_breakdowns([(AssetKey.parse("daily"), version)])
    parts = stored[AssetKey.parse("daily"), version]
    assert parts[0][1] == "body" and parts[0][0].endswith("daily")
    assert (f"{__name__}:_helper", "function") in [(name, kind) for name, kind, _ in parts]


def test_a_given_code_version_is_its_whole_breakdown(run: Run, store: SqlMetadataStore) -> None:
    @asset(code_version="7")
    def pinned() -> int:
        return 1

    assert run(io_managers={"fs": InMemoryIOManager()}).success
    stored = store.get_code_breakdowns([(AssetKey.parse("pinned"), "7")])
    assert stored == {(AssetKey.parse("pinned"), "7"): (("code_version", "given", "7"),)}
