"""PostgresIOManager specifics: rows in tables, partition replacement, names, keys and crashes.

The behaviour every manager shares is in ``tests/contract``; this module tests what is particular
to PostgreSQL: tabular values as rows, one transaction per partition (even under SIGKILL), safe
table names and keys, and URLs whose password must never be shown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flowstone import Registry, asset
from flowstone.config import Settings
from flowstone.errors import IOManagerError, MissingOutputError
from flowstone.execution.resources import IOManagerSet
from flowstone.io import IOContext
from flowstone.keys import UNPARTITIONED, AssetKey
from io_managers.postgres import PostgresIOManager
from io_managers.postgres_layout import TABLES, compute_table_name, extract_rows, hash_rows
from tests.contract.postgres_case import open_postgres_manager
from tests.support.postgres import create_admin_engine, postgres_base_url

HOSTILE_TEXT = [
    "Robert'); DROP TABLE x;--",
    'say "hi"; --',
    "MixedCase",
    "mixedcase",
    "a" * 200,
    "a" * 199 + "b",
    "_flowstone_values",
    "%s %(name)s :name $1",
]
"""Keys that would break or inject into SQL built by string formatting, or collide once cut."""

KILL_SCRIPT = """
import sys, time
import io_managers.postgres as postgres
from flowstone.io import IOContext
from flowstone.keys import AssetKey

class StallingRows(list):
    copying = False
    def __iter__(self):
        for index, row in enumerate(list.__iter__(self)):
            if StallingRows.copying and index == 100_000:
                print("halfway", flush=True)
                time.sleep(60)
            yield row

real_copy = postgres.copy_rows
def copy_rows(*args):
    StallingRows.copying = True
    real_copy(*args)
postgres.copy_rows = copy_rows
manager = postgres.PostgresIOManager(sys.argv[1], schema=sys.argv[2])
rows = StallingRows({"id": i, "label": "new"} for i in range(200_000))
manager.save(IOContext(AssetKey.parse("big"), "p"), rows)
"""


def context(asset: str | AssetKey = "orders", partition: str = UNPARTITIONED) -> IOContext:
    return IOContext(AssetKey.parse(asset), partition)


@pytest.fixture
def manager() -> Iterator[PostgresIOManager]:
    with open_postgres_manager() as opened:
        yield opened


def list_tables(manager: PostgresIOManager) -> set[str]:
    engine = create_admin_engine(postgres_base_url())
    try:
        return set(sa.inspect(engine).get_table_names(schema=manager._schema))
    finally:
        engine.dispose()


def test_table_names_are_short_and_distinct() -> None:
    long_keys = [AssetKey(("a" * 200,)), AssetKey(("a" * 199 + "b",))]
    names = [compute_table_name(key) for key in long_keys]
    assert names[0] != names[1]
    assert all(len(name.encode()) <= 63 and "~" in name for name in names)
    assert compute_table_name(AssetKey.parse("warehouse/Orders")) == "warehouse/Orders"
    assert compute_table_name(AssetKey(("_flowstone_tables",))).startswith("flowstone_tables~")


def test_data_versions_are_the_same_in_another_process() -> None:
    rows = [{"id": 1, "at": datetime(2024, 1, 1, tzinfo=UTC), "tags": {"b": 1, "a": [2.5]}}]
    script = (
        "import datetime\n"
        "from io_managers.postgres_layout import hash_rows\n"
        f"print(hash_rows(('id', 'at', 'tags'), {rows!r}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == hash_rows(("id", "at", "tags"), rows)


def test_values_that_are_not_tabular_stay_values() -> None:
    assert extract_rows([]) is None
    assert extract_rows([{"a": 1}, {"b": 1}]) is None
    assert extract_rows([{"_partition": 1}]) is None
    assert extract_rows([{"a": object()}]) is None
    rows = extract_rows([{"a": 1, "b": None}, {"a": 2, "b": None}])
    assert rows is not None and rows.types == ("bigint", None)


def test_malformed_or_unreachable_urls_never_show_the_password() -> None:
    with pytest.raises(IOManagerError) as raised:
        PostgresIOManager("mysql://user:s3cret@host/db")
    assert "s3cret" not in str(raised.value)
    unreachable = PostgresIOManager("postgresql://user:s3cret@127.0.0.1:1/db")
    with pytest.raises(IOManagerError, match="orders") as failed:
        unreachable.save(context(), [{"a": 1}])
    assert "s3cret" not in str(failed.value) and "s3cret" not in repr(unreachable)
    unreachable.close()


@pytest.mark.postgres
def test_rows_round_trip_with_their_types(manager: PostgresIOManager) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    rows = [
        {"id": 1, "name": "a", "price": 1.5, "paid": True, "at": when, "extra": {"x": [1]}},
        {"id": 2, "name": None, "price": 2.0, "paid": False, "at": when, "extra": None},
    ]
    stored = manager.save(context("shop/orders", "2024-01-01"), rows)
    assert stored["rows"] == 2 and stored["format"] == "table"
    assert stored["uri"].startswith("postgresql://127.0.0.1")
    assert stored["uri"].endswith("shop%2Forders?asset=shop%2Forders&partition=2024-01-01")
    loaded = manager.load(context("shop/orders", "2024-01-01"))
    assert loaded == rows and [list(row) for row in loaded] == [list(row) for row in rows]
    reordered = [dict(reversed(row.items())) for row in rows]
    again = manager.save(context("shop/orders", "2024-01-02"), reordered)
    assert again["data_version"] != stored["data_version"]  # the columns come in another order
    same = manager.save(context("shop/orders", "2024-01-03"), rows)
    assert same["data_version"] == stored["data_version"]
    assert "shop/orders" in list_tables(manager)


@pytest.mark.postgres
def test_json_and_pickled_values_round_trip(manager: PostgresIOManager) -> None:
    value = {"rows": [1, 2.5, None, "x"], "nested": {"empty": []}}
    assert manager.save(context("report"), value)["format"] == "json"
    assert manager.load(context("report")) == value
    with open_postgres_manager(binary=True) as binary:
        assert binary.save(context("report"), {1, 2})["format"] == "pickle"
        assert binary.load(context("report")) == {1, 2}


@pytest.mark.postgres
def test_replacing_a_partition_keeps_the_others(manager: PostgresIOManager) -> None:
    day1, day2 = context("orders", "2024-01-01"), context("orders", "2024-01-02")
    manager.save(day1, [{"id": 1}, {"id": 2}, {"id": 3}])
    manager.save(day2, [{"id": 20}, {"id": 21}])
    manager.save(day1, [{"id": 10, "note": "new column"}])
    assert manager.load(day1) == [{"id": 10, "note": "new column"}]
    assert manager.load(day2) == [{"id": 20}, {"id": 21}]
    manager.save(day1, "not rows any more")
    assert manager.load(day1) == "not rows any more"
    assert manager.load(day2) == [{"id": 20}, {"id": 21}]
    with pytest.raises(IOManagerError, match="'id'"):
        manager.save(day2, [{"id": "text now"}])
    with pytest.raises(IOManagerError, match="NUL"):  # refused by the server mid-COPY
        manager.save(day2, [{"id": 5, "note": "a\x00b"}])
    assert manager.load(day2) == [{"id": 20}, {"id": 21}]
    with pytest.raises(MissingOutputError, match="2024-01-03"):
        manager.load(context("orders", "2024-01-03"))


@pytest.mark.postgres
def test_hostile_keys_round_trip_and_leave_every_table(manager: PostgresIOManager) -> None:
    manager.save(context("x"), [{"sentinel": True}])
    contexts = [
        context(AssetKey((asset, "Robert'); DROP TABLE x;--")), partition)
        for asset in HOSTILE_TEXT
        for partition in HOSTILE_TEXT[:3]
    ]
    for index, ctx in enumerate(contexts):
        manager.save(ctx, [{"index": index, "partition": ctx.partition_key}])
    for index, ctx in enumerate(contexts):
        assert manager.load(ctx) == [{"index": index, "partition": ctx.partition_key}]
    expected = {compute_table_name(ctx.asset_key) for ctx in contexts}
    assert len(expected) == len(HOSTILE_TEXT)
    assert list_tables(manager) >= {*expected, "x", "_flowstone_values", TABLES}
    assert manager.load(context("x")) == [{"sentinel": True}]


@pytest.mark.postgres
def test_a_table_name_owned_by_another_asset_is_refused(manager: PostgresIOManager) -> None:
    manager.save(context("orders"), [{"id": 1}])
    engine = create_admin_engine(postgres_base_url())
    catalog = sa.Table(TABLES, sa.MetaData(schema=manager._schema), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.update(catalog).values(asset_key="someone/else"))
    engine.dispose()
    with pytest.raises(IOManagerError, match="someone/else") as raised:
        manager.save(context("orders"), [{"id": 2}])
    assert raised.value.asset_key == AssetKey.parse("orders")


@pytest.mark.postgres
def test_sigkill_mid_write_leaves_the_previous_rows(manager: PostgresIOManager) -> None:
    ctx = context("big", "p")
    old: list[dict[str, Any]] = [{"id": i, "label": "old"} for i in range(200_000)]
    stored = manager.save(ctx, old)
    writer = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, postgres_base_url(), manager._schema],
        cwd=Path(__file__).parents[3],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "halfway\n"
        assert manager.load(ctx) == old  # a reader never sees a half-written partition
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    assert manager.load(ctx) == old
    assert manager.save(context("big", "q"), [{"id": 1, "label": "after"}])["rows"] == 1
    assert manager.load(replace(ctx, stored=stored)) == old


@pytest.mark.postgres
def test_settings_build_the_manager_by_name(registry: Registry, manager: PostgresIOManager) -> None:
    @asset(io_manager="postgres")
    def orders() -> list[dict[str, int]]:
        return [{"id": 1}]

    options = {"url": postgres_base_url(), "schema": manager._schema}
    built = IOManagerSet(Settings(io_managers={"postgres": options})).for_asset(orders)
    assert isinstance(built, PostgresIOManager)
    built.save(context("orders"), [{"id": 1}])
    built.close()
    assert manager.load(context("orders")) == [{"id": 1}]


@pytest.mark.postgres
def test_a_dropped_table_is_a_missing_value(manager: PostgresIOManager) -> None:
    day1, report = context("orders", "2024-01-01"), context("report")
    manager.save(day1, [{"id": 1}])
    manager.save(report, {"kept": True})
    assert manager.exists(day1)
    engine = create_admin_engine(postgres_base_url())
    try:
        with engine.begin() as conn:
            table = compute_table_name(AssetKey.parse("orders"))
            conn.execute(sa.text(f'DROP TABLE "{manager._schema}"."{table}"'))
    finally:
        engine.dispose()
    assert not manager.exists(day1)
    with pytest.raises(MissingOutputError, match=r"'orders'.*was dropped.*Materialize"):
        manager.load(day1)
    assert manager.exists(report) and manager.load(report) == {"kept": True}
    manager.save(day1, [{"id": 2}])
    assert manager.exists(day1) and manager.load(day1) == [{"id": 2}]
