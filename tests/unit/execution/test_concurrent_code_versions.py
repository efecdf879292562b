"""Runs in two threads of one process see one code version for an asset that keeps state.

The asset appends to a list it closes over and bumps a counter: the second run plans while the
first is inside the asset, after it changed both, which is the interleaving that used to give the
two runs different code versions (each then judged the other's records stale).
"""

from __future__ import annotations

import threading
from pathlib import Path

from flowstone import (
    AssetContext,
    AssetKey,
    Registry,
    RunResult,
    StaticPartitions,
    asset,
    materialize,
)
from flowstone.storage.sql import SqlMetadataStore


def test_a_run_started_while_another_is_inside_the_asset_shares_its_code_version(
    registry: Registry, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    calls: list[str] = []
    count = 0
    other: list[RunResult] = []

    def run_other() -> None:
        other.append(
            materialize(definitions=registry, store=url, project_dir=tmp_path, partitions=["b"])
        )

    @asset(partitioned_by=StaticPartitions(["a", "b"]))
    def counted(context: AssetContext) -> int:
        nonlocal count
        count += 1
        calls.append(context.partition_key)
        if context.partition_key == "a":  # the second run plans and runs now, in its own thread
            thread = threading.Thread(target=run_other)
            thread.start()
            thread.join()
        return count

    first = materialize(definitions=registry, store=url, project_dir=tmp_path, partitions=["a"])
    assert first.success and other[0].success
    assert calls == ["a", "b"]

    store = SqlMetadataStore(url)
    try:
        versions = {record.code_version for record in store.get_history(AssetKey.parse("counted"))}
    finally:
        store.close()
    assert len(versions) == 1

    again = materialize(definitions=registry, store=url, project_dir=tmp_path, partitions="all")
    assert again.success and len(again.fresh) == 2 and not again.items
    assert calls == ["a", "b"]


def test_running_again_without_resetting_the_assets_state_reuses_its_result(
    registry: Registry, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    seen: dict[str, int] = {}

    @asset
    def remembered() -> int:
        seen[f"call{len(seen)}"] = len(seen)
        return len(seen)

    assert materialize(definitions=registry, store=url, project_dir=tmp_path).success
    again = materialize(definitions=registry, store=url, project_dir=tmp_path)
    assert again.success and len(again.fresh) == 1 and seen == {"call0": 0}
