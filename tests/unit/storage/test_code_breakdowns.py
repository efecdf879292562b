"""Code breakdowns on SQLite and PostgreSQL: kept once per (asset, code version), read in bulk."""

from __future__ import annotations

from sqlalchemy import event

from flowstone.keys import AssetKey
from flowstone.storage import SqlMetadataStore

ORDERS = AssetKey(("sales", "orders"))
RAW = AssetKey.parse("raw")
V1 = (("sales.etl:clean", "body", "d1"), ("sales.etl:normalise", "function", "h1"))
V2 = (("sales.etl:clean", "body", "d1"), ("sales.etl:normalise", "function", "h2"))


def test_breakdowns_are_read_back_for_the_pairs_asked(store: SqlMetadataStore) -> None:
    store.add_code_breakdowns({(ORDERS, "c1"): V1, (ORDERS, "c2"): V2, (RAW, "c1"): ()})
    found = store.get_code_breakdowns([(ORDERS, "c2"), (RAW, "c1"), (RAW, "nope")])
    assert found == {(ORDERS, "c2"): V2, (RAW, "c1"): ()}


def test_a_stored_breakdown_is_kept_and_adding_it_again_is_no_error(
    store: SqlMetadataStore,
) -> None:
    store.add_code_breakdowns({(ORDERS, "c1"): V1})
    store.add_code_breakdowns({(ORDERS, "c1"): V2, (RAW, "c1"): V1})
    assert store.get_code_breakdowns([(ORDERS, "c1"), (RAW, "c1")]) == {
        (ORDERS, "c1"): V1,
        (RAW, "c1"): V1,
    }


def test_many_pairs_are_read_in_one_query_per_chunk(store: SqlMetadataStore) -> None:
    pairs = {(AssetKey.parse(f"a{i}"), f"v{j}"): V1 for i in range(50) for j in range(4)}
    store.add_code_breakdowns(pairs)
    statements: list[str] = []
    engine = store._engine  # counting round trips
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert store.get_code_breakdowns(pairs) == pairs
    assert sum("code_breakdowns" in s for s in statements) == 1


def test_nothing_asked_reads_nothing(store: SqlMetadataStore) -> None:
    assert store.get_code_breakdowns([]) == {}
    store.add_code_breakdowns({})
