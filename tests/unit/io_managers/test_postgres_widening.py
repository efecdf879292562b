"""Column types that drift across partitions: widened in the save's transaction, or refused.

The rules are checked without a server; the saves and loads run on the live server, each in a
throw-away schema, including a property over generated drifting lists of dicts.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from flowstone.errors import IOManagerError
from flowstone.io import IOContext
from flowstone.keys import AssetKey
from io_managers.postgres import PostgresIOManager
from io_managers.postgres_layout import TABLES, extract_rows
from io_managers.postgres_widening import (
    EXACT_LIMIT,
    Widening,
    WideningRefusal,
    plan_columns,
)
from tests.contract.postgres_case import open_postgres_manager
from tests.support.postgres import create_admin_engine, postgres_base_url


def context(partition: str, asset: str = "prices") -> IOContext:
    return IOContext(AssetKey.parse(asset), partition)


def typed(rows: Any) -> Any:
    """Rows with each value's type beside it, since ``1 == 1.0`` would hide a changed type."""
    return [{column: (type(value), value) for column, value in row.items()} for row in rows]


def catalog_types(manager: PostgresIOManager, asset: str = "prices") -> dict[str, str]:
    engine = create_admin_engine(postgres_base_url())
    try:
        with engine.connect() as conn:
            query = sa.text(
                f'SELECT columns FROM "{manager._schema}"."{TABLES}" WHERE asset_key = :k'
            )
            found: dict[str, str] = conn.execute(query, {"k": asset}).scalar_one()
            return found
    finally:
        engine.dispose()


def plan(existing: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    found = extract_rows(rows)
    assert found is not None
    return plan_columns(existing, found)


def test_the_rules_widen_ints_to_floats_and_unknown_to_the_first_type() -> None:
    assert plan({"price": "bigint"}, [{"price": 5.5}]) == (
        {"price": "double"},
        [Widening("price", "double", check_exact=True)],
    )
    assert plan({"note": "unknown"}, [{"note": "x"}]) == (
        {"note": "text"},
        [Widening("note", "text", check_exact=False)],
    )
    assert plan({}, [{"note": None}]) == ({"note": "unknown"}, [])
    assert plan({"price": "double"}, [{"price": 3}]) == ({"price": "double"}, [])
    assert plan({"price": "double"}, [{"price": None}]) == ({"price": "double"}, [])


def test_the_rules_refuse_what_would_lose_values() -> None:
    with pytest.raises(WideningRefusal, match=r"'code' now holds bigint .* stores text"):
        plan({"code": "text"}, [{"code": 7}])
    with pytest.raises(WideningRefusal, match=r"'paid' now holds bigint .* stores boolean"):
        plan({"paid": "boolean"}, [{"paid": 1}])
    with pytest.raises(WideningRefusal, match=r"'price' now holds integers beyond 2\*\*53"):
        plan({"price": "double"}, [{"price": EXACT_LIMIT + 1}])


@pytest.mark.postgres
def test_drifting_partitions_widen_and_load_as_saved() -> None:
    first = [{"sku": "a", "price": 3, "note": None}, {"sku": "b", "price": 4, "note": None}]
    second = [{"sku": "c", "price": 5.5, "note": "sale"}]
    third = [{"sku": "d", "price": 2**53, "note": None}]
    with open_postgres_manager() as manager:
        manager.save(context("2024-01"), first)
        assert catalog_types(manager) == {"sku": "text", "price": "bigint", "note": "unknown"}
        manager.save(context("2024-02"), second)
        manager.save(context("2024-03"), third)
        assert catalog_types(manager) == {"sku": "text", "price": "double", "note": "text"}
        for partition, rows in (("2024-01", first), ("2024-02", second), ("2024-03", third)):
            assert typed(manager.load(context(partition))) == typed(rows)


@pytest.mark.postgres
def test_a_widening_that_would_round_is_refused_before_writing() -> None:
    big = [{"id": 1, "amount": 2**53 + 1}]
    with open_postgres_manager() as manager:
        manager.save(context("2024-01"), big)
        with pytest.raises(
            IOManagerError,
            match=r"partition '2024-02'.*'amount' now holds floats but partition '2024-01' "
            r"stores integers beyond 2\*\*53.*Nothing was written",
        ):
            manager.save(context("2024-02"), [{"id": 2, "amount": 0.5}])
        with pytest.raises(IOManagerError, match=r"'id' now holds text.*Nothing was written"):
            manager.save(context("2024-01"), [{"id": "x", "amount": 1}])
        assert catalog_types(manager) == {"id": "bigint", "amount": "bigint"}
        assert typed(manager.load(context("2024-01"))) == typed(big)
        assert not manager.exists(context("2024-02"))
        manager.save(context("2024-01"), [{"id": 1, "amount": 0.25}])  # the big value is gone
        assert manager.load(context("2024-01")) == [{"id": 1, "amount": 0.25}]


@pytest.mark.postgres
def test_frames_widen_and_keep_their_dtypes() -> None:
    ints = pd.DataFrame({"price": pd.array([1, 2], dtype="int64")})
    floats = pd.DataFrame({"price": [0.5, float("nan")]})
    with open_postgres_manager() as manager:
        manager.save(context("a", "frame"), ints)
        manager.save(context("b", "frame"), floats)
        assert catalog_types(manager, "frame")["price"] == "double"
        assert_frame_equal(manager.load(context("a", "frame")), ints, check_dtype=True)
        assert_frame_equal(manager.load(context("b", "frame")), floats, check_dtype=True)


KINDS = {
    "int": st.integers(-1000, 1000),
    "huge": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "text": st.text(st.characters(exclude_characters="\x00"), max_size=3),
    "none": st.none(),
}
SAFE = {"int", "float", "none"}
"""Kinds that always share a column: they widen and never lose a value."""


@st.composite
def partitions(draw: st.DrawFn) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """A partition's rows: each column holds one kind (and maybe ``None``)."""
    columns = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True))
    kinds = {column: draw(st.sampled_from(sorted(KINDS))) for column in columns}
    size = draw(st.integers(1, 4))
    rows = [
        {column: draw(st.one_of(KINDS[kinds[column]], st.none())) for column in columns}
        for _ in range(size)
    ]
    return kinds, rows


@pytest.mark.postgres
def test_generated_drifting_partitions_load_as_saved_or_are_refused() -> None:
    counter = itertools.count()
    with open_postgres_manager() as manager:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(partitions(), min_size=1, max_size=5))
        def check(drafts: list[tuple[dict[str, str], list[dict[str, Any]]]]) -> None:
            asset, saved, seen = f"drift{next(counter)}", {}, set()
            for number, (kinds, rows) in enumerate(drafts):
                partition = f"p{number % 3}"
                try:
                    manager.save(context(partition, asset), rows)
                except IOManagerError as exc:
                    assert any(repr(column) in str(exc) for column in rows[0]), exc
                    assert f"partition {partition!r}" in str(exc)
                    assert not seen | set(kinds.values()) <= SAFE, exc  # only unsafe drift
                else:
                    saved[partition] = rows
                    seen |= set(kinds.values())
            for partition, rows in saved.items():
                assert typed(manager.load(context(partition, asset))) == typed(rows)

        check()


@pytest.mark.postgres
def test_a_table_widened_by_another_manager_is_read_again() -> None:
    with open_postgres_manager() as manager:
        other = PostgresIOManager(postgres_base_url(), schema=manager._schema)
        try:
            manager.save(context("a"), [{"price": 1, "note": None}])
            other.save(context("b"), [{"price": 0.5, "note": "x", "extra": True}])
            manager.save(context("c"), [{"price": 2, "note": None}])  # its table is stale
            manager.save(context("d"), [{"price": 3, "note": "y", "extra": False}])
        finally:
            other.close()
        assert catalog_types(manager) == {"price": "double", "note": "text", "extra": "boolean"}
        assert typed(manager.load(context("c"))) == typed([{"price": 2, "note": None}])
        assert manager.load(context("b")) == [{"price": 0.5, "note": "x", "extra": True}]


@pytest.mark.postgres
def test_partitions_saved_from_many_threads_while_a_column_widens() -> None:
    def rows(number: int) -> list[dict[str, Any]]:
        price = number + 0.5 if number % 7 == 3 else number
        return [{"id": number, "price": price, "row": row} for row in range(20)]

    with open_postgres_manager() as manager, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: manager.save(context(f"p{n}"), rows(n)), range(40)))
        list(pool.map(lambda n: manager.save(context(f"p{n}"), rows(n)), range(0, 40, 3)))
        for number in range(40):
            assert typed(manager.load(context(f"p{number}"))) == typed(rows(number))
