"""Claims in the store: one live run holds an item at a time, and its record ends the claim."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flowstone.keys import AssetKey
from flowstone.storage import RunRecord, SqlMetadataStore
from tests.unit.storage.test_sql_store import make_record

ORDERS = AssetKey(("orders",))
ITEMS = [(ORDERS, f"2024-01-{day:02d}") for day in range(1, 11)]


def test_a_claimed_item_is_held_for_every_other_run(store: SqlMetadataStore) -> None:
    first = store.claim_items("run-a", "host:1", ITEMS[:6], lease_seconds=60)
    second = store.claim_items("run-b", "host:2", ITEMS, lease_seconds=60)

    assert first.claimed == set(ITEMS[:6]) and first.held == {}
    assert second.claimed == set(ITEMS[6:])
    assert set(second.held) == set(ITEMS[:6])
    assert {claim.run_id for claim in second.held.values()} == {"run-a"}
    assert {claim.holder for claim in second.held.values()} == {"host:1"}


def test_claiming_again_renews_a_run_s_own_claims(store: SqlMetadataStore) -> None:
    store.claim_items("run-a", "host:1", ITEMS[:2], lease_seconds=60)
    again = store.claim_items("run-a", "host:1", ITEMS[:2], lease_seconds=60)
    assert again.claimed == set(ITEMS[:2]) and again.held == {}


def test_recording_an_item_ends_its_run_s_claim(store: SqlMetadataStore, run: RunRecord) -> None:
    store.claim_items(run.run_id, "host:1", ITEMS[:3], lease_seconds=60)
    store.add_materializations([make_record(ORDERS, ITEMS[0][1], run_id=run.run_id)])

    other = store.claim_items("run-b", "host:2", ITEMS[:3], lease_seconds=60)
    assert other.claimed == {ITEMS[0]} and set(other.held) == set(ITEMS[1:3])
    # Under the claim, the newest attempt is read: the other run learns the item was recorded.
    assert set(other.sequences) == {ITEMS[0]}


def test_an_expired_claim_is_taken_over(store: SqlMetadataStore) -> None:
    store.claim_items("dead-run", "host:1", ITEMS[:2], lease_seconds=0.2)
    assert store.claim_items("run-b", "host:2", ITEMS[:2], lease_seconds=60).claimed == set()
    time.sleep(0.3)
    taken = store.claim_items("run-b", "host:2", ITEMS[:2], lease_seconds=60)
    assert taken.claimed == set(ITEMS[:2]) and taken.held == {}


def test_renewing_keeps_a_claim_alive(store: SqlMetadataStore) -> None:
    store.claim_items("run-a", "host:1", ITEMS[:2], lease_seconds=0.3)
    time.sleep(0.15)
    assert store.renew_claims("run-a", lease_seconds=60) == 2
    time.sleep(0.25)
    assert store.claim_items("run-b", "host:2", ITEMS[:2], lease_seconds=60).claimed == set()


def test_releasing_frees_some_or_all_claims(store: SqlMetadataStore) -> None:
    store.claim_items("run-a", "host:1", ITEMS, lease_seconds=60)
    store.release_claims("run-a", ITEMS[:3])
    assert store.claim_items("run-b", "host:2", ITEMS, lease_seconds=60).claimed == set(ITEMS[:3])
    store.release_claims("run-a")
    assert store.claim_items("run-b", "host:2", ITEMS, lease_seconds=60).held == {}


def test_racing_runs_never_claim_the_same_item(store_url: str) -> None:
    items = [(ORDERS, f"p{index:04d}") for index in range(600)]  # more than a query's chunk

    def claim(run_id: str) -> frozenset[tuple[AssetKey, str]]:
        own = SqlMetadataStore(store_url)
        try:
            return own.claim_items(run_id, run_id, items, lease_seconds=60).claimed
        finally:
            own.close()

    SqlMetadataStore(store_url).close()  # the schema exists before the race
    with ThreadPoolExecutor(max_workers=4) as pool:
        claimed = list(pool.map(claim, [f"run-{index}" for index in range(4)]))
    assert sum(len(got) for got in claimed) == len(items)
    assert set().union(*claimed) == set(items)
