"""Partitions on the command line: materialize's partition options and dynamic partition keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from flowstone.storage.sql import SqlMetadataStore
from tests.cli.conftest import DAILY

Invoke = Callable[..., Result]


DYNAMIC = """
from flowstone import AssetContext, DynamicPartitions, asset

@asset(partitioned_by=DynamicPartitions("customers"))
def profile(context: AssetContext) -> str:
    return context.partition_key.upper()
"""


@pytest.fixture
def daily(project: Path) -> Path:
    (project / "daily.py").write_text(DAILY)
    (project / "dynamic.py").write_text(DYNAMIC)
    return project


def _items(result: Result) -> list[str]:
    assert result.exit_code in (0, 1), result.output
    return [f"{i['asset']}[{i['partition']}]" for i in json.loads(result.stdout)["items"]]


def _recorded(project: Path, db: str = "flowstone.db") -> tuple[int, int]:
    """How many runs and backfills the store holds (none when it was never created)."""
    path = project / ".flowstone" / db
    if not path.exists():
        return 0, 0
    store = SqlMetadataStore(f"sqlite:///{path}")
    try:
        return len(store.list_runs()), len(store.list_backfills())
    finally:
        store.close()


def _keys(invoke: Invoke, name: str, *store: str) -> list[str]:
    result = invoke("partitions", "list", name, "--json", *store)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["name"] == name
    return list(payload["keys"])


def test_materialize_partition_options(invoke: Invoke, daily: Path) -> None:
    run = ("materialize", "-f", "daily.py", "raw", "--json", "--force")  # runs even fresh items
    assert _items(invoke(*run, "--partition", "2024-01-02", "--partition", "2024-01-04")) == [
        "raw[2024-01-02]",
        "raw[2024-01-04]",
    ]
    assert _items(invoke(*run, "--from", "2024-01-03", "--to", "2024-01-04")) == [
        "raw[2024-01-03]",
        "raw[2024-01-04]",
    ]
    assert len(_items(invoke(*run, "--all-partitions"))) == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--from", "2024-01-02"], "--from 2024-01-02 was given without --to"),
        (["--to", "2024-01-02"], "--to 2024-01-02 was given without --from"),
        (["--partition", "2024-01-02", "--all-partitions"], "were given together"),
        (["--partition", "2024-01-02", "--from", "2024-01-01", "--to", "2024-01-02"], "together"),
        (["--from", "2024-01-01", "--to", "2024-01-02", "--all-partitions"], "together"),
        ([], "no partitions were given"),
        (["--partition", "2024-02-01"], "2024-02-01"),
        (["--from", "2024-01-04", "--to", "2024-01-02"], "backwards"),
        (["--partition", ""], "PartitionError"),
    ],
)
def test_materialize_partition_usage_errors_exit_2_and_write_nothing(
    invoke: Invoke, daily: Path, options: list[str], message: str
) -> None:
    result = invoke("materialize", "-f", "daily.py", *options)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert _recorded(daily) == (0, 0)


def test_partitions_given_for_unpartitioned_assets_exit_2(invoke: Invoke, daily: Path) -> None:
    result = invoke("materialize", "-f", "pipeline.py", "--partition", "2024-01-01")
    assert result.exit_code == 2
    assert "no selected asset is partitioned" in " ".join(result.output.split())
    assert _recorded(daily) == (0, 0)


def test_materialize_summary_shows_blocked_items_with_their_reason(
    invoke: Invoke, daily: Path
) -> None:
    result = invoke("materialize", "-f", "daily.py", "clean", "--partition", "2024-01-01")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "blocked" in text
    assert "never materialized and not in this run" in text
    payload = invoke(
        "materialize", "-f", "daily.py", "clean", "--partition", "2024-01-01", "--json"
    )
    [item] = json.loads(payload.stdout)["items"]
    assert item["status"] == "blocked"
    assert "raw[2024-01-01]" in item["error"]


def test_dynamic_partitions_add_list_remove_round_trip(invoke: Invoke, daily: Path) -> None:
    added = invoke("partitions", "add", "customers", "acme", "globex", "initech")
    assert added.exit_code == 0, added.output
    assert "Added 3 key(s)" in added.output
    again = invoke("partitions", "add", "customers", "globex", "umbrella")
    assert "Added 1 key(s)" in again.output and "Already present: globex" in again.output
    assert _keys(invoke, "customers") == ["acme", "globex", "initech", "umbrella"]

    removed = invoke("partitions", "remove", "customers", "globex", "hooli")
    assert removed.exit_code == 0, removed.output
    assert "Removed 1 key(s)" in removed.output and "Not present: hooli" in removed.output
    assert _keys(invoke, "customers") == ["acme", "initech", "umbrella"]

    text = invoke("partitions", "list", "customers")
    assert text.stdout.split() == ["acme", "initech", "umbrella"]
    assert "have no keys" in invoke("partitions", "list", "suppliers").output
    assert _keys(invoke, "suppliers") == []


def test_materialize_runs_the_added_dynamic_partitions(invoke: Invoke, daily: Path) -> None:
    invoke("partitions", "add", "customers", "acme", "globex")
    run = ("materialize", "-f", "dynamic.py", "--json")
    assert _items(invoke(*run, "--all-partitions")) == ["profile[acme]", "profile[globex]"]
    unknown = invoke(*run, "--partition", "hooli")
    assert unknown.exit_code == 2
    assert "hooli" in unknown.output


@pytest.mark.parametrize(
    "arguments",
    [
        ["add", "customers", "a|b"],
        ["add", "customers", "ok", "region=us"],
        ["add", "customers", ""],
        ["add", "customers", "__unpartitioned__"],
        ["add", "bad name", "ok"],
        ["add", "", "ok"],
        ["remove", "customers", "a=b"],
        ["list", "bad/name"],
        ["add", "customers"],
    ],
)
def test_bad_names_and_keys_exit_2_and_write_nothing(
    invoke: Invoke, daily: Path, arguments: list[str]
) -> None:
    result = invoke("partitions", *arguments)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not (daily / ".flowstone").exists()


def test_a_bad_key_among_good_ones_writes_none_of_them(invoke: Invoke, daily: Path) -> None:
    invoke("partitions", "add", "customers", "acme")
    result = invoke("partitions", "add", "customers", "globex", "bad|key")
    assert result.exit_code == 2
    assert "'bad|key'" in result.output and "nothing was written" in result.output
    assert _keys(invoke, "customers") == ["acme"]


def test_store_option_chooses_the_store(invoke: Invoke, daily: Path) -> None:
    other = ("--store", f"sqlite:///{daily / '.flowstone' / 'other.db'}")
    (daily / ".flowstone").mkdir()
    assert invoke("partitions", "add", "customers", "acme", *other).exit_code == 0
    assert _keys(invoke, "customers", *other) == ["acme"]
    assert _keys(invoke, "customers") == []
    assert invoke("partitions", "remove", "customers", "acme", *other).exit_code == 0
    assert _keys(invoke, "customers", *other) == []
