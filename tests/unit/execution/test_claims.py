"""Claims taken as items get ready: runs over one range share it, and held items are parked."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from flowstone import (
    AssetContext,
    AssetKey,
    Registry,
    RunResult,
    StaticPartitions,
    asset,
    materialize,
)
from flowstone.execution.claims import AHEAD_SECONDS, ClaimPace
from flowstone.storage.sql import SqlMetadataStore

KEYS = [f"p{index}" for index in range(6)]


def _claim_count(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM claims").fetchone()
    return int(count)


def _options(registry: Registry, url: str, folder: Path) -> dict[str, Any]:
    """One worker over every partition: claims show one item at a time."""
    return {
        "definitions": registry,
        "store": url,
        "project_dir": folder,
        "partitions": "all",
        "concurrency": 1,
    }


def test_the_first_item_runs_with_only_itself_claimed(registry: Registry, tmp_path: Path) -> None:
    database = tmp_path / "meta.db"
    seen: dict[str, int] = {}

    @asset(partitioned_by=StaticPartitions(KEYS))
    def slow(context: AssetContext) -> int:
        seen[context.partition_key] = _claim_count(database)
        return 1

    result = materialize(**_options(registry, f"sqlite:///{database}", tmp_path))
    assert result.success and len(result.items) == len(KEYS)
    # Claimed as it got ready, not with the whole range: the others were still free to take.
    assert sorted(seen.values())[0] == 1
    assert _claim_count(database) == 0


@pytest.mark.parametrize("force", [False, True])
def test_two_runs_over_one_range_share_its_items(
    registry: Registry, tmp_path: Path, force: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    computed_by: list[tuple[str, str]] = []
    both_computing = threading.Event()

    # A fixed code version: both runs must judge the other's records by the same one.
    @asset(partitioned_by=StaticPartitions(KEYS), code_version="1")
    def shared(context: AssetContext) -> int:
        computed_by.append((context.partition_key, context.run_id))
        if len({run_id for _, run_id in computed_by}) > 1:
            both_computing.set()
        # The first item waits for the other run to compute one: with the whole range claimed
        # up front by one run, the other would have nothing to compute and this would time out.
        both_computing.wait(timeout=20)
        return 1

    results: list[RunResult] = []
    options = {**_options(registry, url, tmp_path), "force": force}
    threads = [
        threading.Thread(target=lambda: results.append(materialize(**options))) for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [result.success for result in results] == [True, True]
    assert Counter(key for key, _ in computed_by) == Counter(KEYS)  # each exactly once
    assert both_computing.is_set()
    assert len({run_id for _, run_id in computed_by}) == 2
    for result in results:  # each run either computed an item or reused the other's
        done = [item.partition_key for item in result.items] + [key for _, key in result.fresh]
        assert sorted(done) == KEYS


def test_an_item_another_run_holds_is_parked_while_the_run_goes_on(
    registry: Registry, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    other = SqlMetadataStore(url)
    other.claim_items("other-run", "elsewhere:1", [(AssetKey(("held",)), "p0")], lease_seconds=60)
    order: list[str] = []

    @asset(partitioned_by=StaticPartitions(KEYS))
    def held(context: AssetContext) -> int:
        order.append(context.partition_key)
        if len(order) == len(KEYS) - 1:  # every other item is done: the holder lets go
            other.release_claims("other-run")
        return 1

    try:
        result = materialize(**_options(registry, url, tmp_path))
    finally:
        other.close()
    assert result.success
    assert sorted(order) == KEYS and order[-1] == "p0"


def test_the_pace_claims_one_per_worker_at_first_and_never_past_what_is_in_hand() -> None:
    pace = ClaimPace(concurrency=4)
    assert pace.batch_size(in_hand=0) == 4
    assert pace.batch_size(in_hand=4) == 0
    assert pace.batch_size(in_hand=1) == 3
    for _ in range(1_000):  # quick items: claimed well ahead, many per store call
        pace.finished()
    assert pace.batch_size(in_hand=0) > 4
    assert AHEAD_SECONDS > 0


def test_a_forced_run_reuses_what_another_run_stores_before_it_gets_there(
    registry: Registry, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    calls: list[tuple[str, str]] = []

    @asset(partitioned_by=StaticPartitions(KEYS[:3]), code_version="1")
    def forced(context: AssetContext) -> int:
        calls.append((context.partition_key, context.run_id))
        if len(calls) == 1:  # the forced run's first item: another run stores a later one now
            later = next(key for key in KEYS[:3] if key != context.partition_key)
            other = materialize(
                definitions=registry, store=url, project_dir=tmp_path, partitions=[later]
            )
            assert other.success
        return 1

    result = materialize(**{**_options(registry, url, tmp_path), "force": True})
    assert result.success
    # Forced, it planned every item without reading what was stored; yet the item the other
    # run stored after it started is reused, not computed a second time.
    assert Counter(key for key, _ in calls) == Counter(KEYS[:3])
    assert len(result.fresh) == 1 and len(result.items) == 2
