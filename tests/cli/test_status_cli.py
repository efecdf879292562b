"""Staleness on the command line: ``status``, ``--why``, ``materialize --dry-run``/``--force``,
``--config`` files, and the no-op run, on a scripted three-asset project.

Executions are counted through the metadata store, never through mocks, and the expected causes
are built from the data versions the store recorded.
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from flowstone.cli.output import item_label
from flowstone.keys import AssetKey
from flowstone.storage.sql import SqlMetadataStore

Invoke = Callable[..., Result]

SHOP = """
import json
from pathlib import Path

from pydantic import BaseModel

from flowstone import AssetContext, DailyPartitions, asset

DAYS = DailyPartitions("2024-03-01", "2024-03-04")


class CleanConfig(BaseModel):
    min_amount: int = 0


@asset(partitioned_by=DAYS)
def orders(context: AssetContext) -> list[int]:
    return json.loads(Path(f"orders-{context.partition_key}.json").read_text())


@asset(depends_on=[orders], partitioned_by=DAYS)
def clean_orders(orders: list[int], config: CleanConfig) -> list[int]:
    return [amount for amount in orders if amount > config.min_amount]


@asset(depends_on=[clean_orders], partitioned_by=DAYS)
def daily_revenue(clean_orders: list[int]) -> int:
    return sum(clean_orders)
"""

DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")
ALL = ("-f", "shop.py", "--all-partitions")
LABELS = ("orders", "clean_orders", "daily_revenue")
CONDITIONAL = " (runs only if its inputs change)"


@pytest.fixture
def shop(project: Path) -> Path:
    """The shop project with the same orders every day, materialized once."""
    (project / "shop.py").write_text(SHOP)
    for day in DAYS:
        (project / f"orders-{day}.json").write_text("[10, 20, -5]")
    return project


def _store(project: Path) -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{project / '.flowstone' / 'flowstone.db'}")


def _executions(project: Path) -> list[str]:
    """Every (asset, partition) whose function ran, over all recorded runs, oldest run first."""
    store = _store(project)
    try:
        runs = list(reversed(store.list_runs(limit=1000)))
        records = [r for run in runs for r in store.get_run_materializations(run.run_id)]
    finally:
        store.close()
    return [item_label(r.asset_key, r.partition_key) for r in records if r.status.is_attempt]


def _run_count(project: Path) -> int:
    store = _store(project)
    try:
        return len(store.list_runs(limit=1000))
    finally:
        store.close()


def _data_version(project: Path, asset: str, partition: str) -> str:
    store = _store(project)
    try:
        key = (AssetKey.parse(asset), partition)
        found = store.get_latest([key])[key]
    finally:
        store.close()
    assert found.last_success is not None and found.last_success.data_version is not None
    return found.last_success.data_version


def _item_lines(result: Result) -> list[str]:
    """The output lines that explain one item (``label: ...``), in order."""
    return [line for line in result.stdout.splitlines() if line.startswith(LABELS)]


def _text(result: Result) -> str:
    """The output as single-spaced words, without table borders."""
    return " ".join(re.sub("[│┃]", " ", result.output).split())


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def _change_orders(invoke: Invoke, project: Path, day: str, orders: str) -> tuple[str, str]:
    """New orders for ``day``, recomputed at the source; the data versions before and after."""
    before = _data_version(project, "orders", day)
    (project / f"orders-{day}.json").write_text(orders)
    _ok(invoke("materialize", "-f", "shop.py", "orders", "--partition", day, "--force"))
    return before, _data_version(project, "orders", day)


def test_a_no_op_run_executes_nothing_and_says_everything_is_fresh(
    invoke: Invoke, shop: Path
) -> None:
    first = _ok(invoke("materialize", *ALL))
    assert "success: 9 success" in _text(first)
    assert len(_executions(shop)) == 9

    again = _ok(invoke("materialize", *ALL))
    assert again.stdout.strip() == "Everything is fresh: 9 items, nothing to do."
    payload = json.loads(_ok(invoke("materialize", *ALL, "--json")).stdout)
    assert (payload["status"], payload["items"], len(payload["fresh"])) == ("success", [], 9)
    assert len(_executions(shop)) == 9

    status = _ok(invoke("status", "-f", "shop.py"))
    assert "All 9 items are fresh" in status.stdout
    assert _item_lines(_ok(invoke("status", "-f", "shop.py", "--why"))) == []


DYNAMIC = """
from flowstone import AssetContext, DynamicPartitions, asset

@asset
def signup(context: AssetContext) -> int:
    context.add_partitions("customers", ["acme", "globex"])
    return 1

@asset(depends_on=[signup], partitioned_by=DynamicPartitions("customers"))
def profile(context: AssetContext, signup: int) -> str:
    return context.partition_key.upper()
"""


def test_a_no_op_run_over_dynamic_partitions_says_everything_is_fresh(
    invoke: Invoke, project: Path
) -> None:
    (project / "dynamic.py").write_text(DYNAMIC)
    plan = _ok(invoke("materialize", "-f", "dynamic.py", "--all-partitions", "--dry-run"))
    assert plan.stdout.splitlines()[:2] == [
        "signup: missing — never materialized",
        "profile: planned during the run, once its upstream assets finish (they may add "
        "partitions)",
    ]
    _ok(invoke("materialize", "-f", "dynamic.py", "--all-partitions"))
    again = _ok(invoke("materialize", "-f", "dynamic.py", "--all-partitions"))
    assert again.stdout.strip() == "Everything is fresh: 3 items, nothing to do."
    assert sorted(_executions(project)) == ["profile[acme]", "profile[globex]", "signup"]


def test_status_why_and_dry_run_give_the_exact_causes(invoke: Invoke, shop: Path) -> None:
    _ok(invoke("materialize", *ALL))
    # -7 is dropped by clean_orders: its value, hence daily_revenue's input, stays the same.
    before, after = _change_orders(invoke, shop, "2024-03-02", "[10, 20, -7]")
    assert before != after
    stale = (
        f"clean_orders[2024-03-02]: stale — upstream orders[2024-03-02] changed "
        f"(data version {before[:8]}.. -> {after[:8]}..)"
    )
    waiting = (
        "daily_revenue[2024-03-02]: upstream stale — upstream clean_orders[2024-03-02] will be "
        "recomputed"
    )

    status = _ok(invoke("status", "-f", "shop.py", "--why"))
    assert _item_lines(status) == [stale, waiting]
    assert "2 of 9 items are not fresh" in status.stdout
    assert "clean_orders 3 2 1 0 0 0 0" in _text(status)
    assert "daily_revenue 3 2 0 1 0 0 0" in _text(status)

    runs = _run_count(shop)
    plan = _ok(invoke("materialize", *ALL, "--dry-run"))
    assert _item_lines(plan) == [stale, waiting + CONDITIONAL]
    assert "Dry run: 2 items would run, 7 selected items are fresh (not run)." in plan.stdout
    assert _run_count(shop) == runs  # nothing recorded

    executed = len(_executions(shop))
    result = _ok(invoke("materialize", *ALL))
    assert "success: 1 success, 1 skipped: unchanged inputs, fresh: 7 (not run)" in _text(result)
    assert _executions(shop)[executed:] == ["clean_orders[2024-03-02]"]
    assert "All 9 items are fresh" in _ok(invoke("status", "-f", "shop.py")).stdout


def test_status_and_dry_run_json_give_structured_causes(invoke: Invoke, shop: Path) -> None:
    _ok(invoke("materialize", *ALL))
    before, after = _change_orders(invoke, shop, "2024-03-03", "[10, 25]")
    status = json.loads(_ok(invoke("status", "-f", "shop.py", "--json")).stdout)
    assert status["all_fresh"] is False
    assert status["counts"]["clean_orders"] == {
        "fresh": 2, "stale": 1, "upstream_stale": 0, "missing": 0, "failed": 0, "blocked": 0,
    }  # fmt: skip
    stale = [item for item in status["items"] if item["status"] != "fresh"]
    assert [(i["asset"], i["partition"], i["status"]) for i in stale] == [
        ("clean_orders", "2024-03-03", "stale"),
        ("daily_revenue", "2024-03-03", "upstream_stale"),
    ]
    assert stale[0]["causes"] == [
        {
            "kind": "upstream_data_changed",
            "message": f"upstream orders[2024-03-03] changed "
            f"(data version {before[:8]}.. -> {after[:8]}..)",
            "upstream": {"asset": "orders", "partition": "2024-03-03"},
            "before": before,
            "after": after,
        }
    ]
    assert stale[1]["causes"][0]["upstream"] == {"asset": "clean_orders", "partition": "2024-03-03"}

    plan = json.loads(_ok(invoke("materialize", *ALL, "--dry-run", "--json")).stdout)
    assert plan["counts"] == {"run": 2, "fresh": 7}
    assert [(i["asset"], i["status"], i["conditional"]) for i in plan["items"]] == [
        ("clean_orders", "stale", False),
        ("daily_revenue", "upstream_stale", True),
    ]
    assert plan["items"][0]["causes"] == stale[0]["causes"]
    assert plan["items"][1]["reason"].endswith(CONDITIONAL.strip(" ()") + ")")

    executed = len(_executions(shop))
    _ok(invoke("materialize", *ALL))  # 25 instead of 20: the revenue changes too
    assert _executions(shop)[executed:] == ["clean_orders[2024-03-03]", "daily_revenue[2024-03-03]"]


def test_force_recomputes_the_whole_selection(invoke: Invoke, shop: Path) -> None:
    _ok(invoke("materialize", *ALL))
    plan = _ok(invoke("materialize", *ALL, "--dry-run", "--force"))
    assert _item_lines(plan) == [
        f"{asset}[2024-03-01 .. 2024-03-03] (3 items): forced (--force)"
        for asset in ("orders", "clean_orders", "daily_revenue")
    ]
    result = _ok(invoke("materialize", *ALL, "--force"))
    assert "success: 9 success" in _text(result)
    assert len(_executions(shop)) == 18


def test_a_fresh_project_is_missing_and_a_dry_run_records_nothing(
    invoke: Invoke, shop: Path
) -> None:
    status = _ok(invoke("status", "-f", "shop.py", "*daily_revenue", "--why"))
    assert [line for line in _item_lines(status) if line.startswith("daily_revenue")] == [
        "daily_revenue[2024-03-01 .. 2024-03-03] (3 items): missing — never materialized"
    ]
    alone = _ok(invoke("status", "-f", "shop.py", "daily_revenue", "--why"))
    assert _item_lines(alone) == [
        f"daily_revenue[{day}]: blocked — input clean_orders[{day}] never materialized and not "
        f"in this run"
        for day in DAYS
    ]
    plan = _ok(invoke("materialize", *ALL, "--dry-run"))
    assert _item_lines(plan) == [
        f"{asset}[2024-03-01 .. 2024-03-03] (3 items): missing — never materialized"
        for asset in ("orders", "clean_orders", "daily_revenue")
    ]
    assert _run_count(shop) == 0
    assert _executions(shop) == []


def test_status_exits_0_when_an_item_failed(invoke: Invoke, shop: Path) -> None:
    (shop / "orders-2024-03-01.json").write_text("not json")
    assert invoke("materialize", *ALL).exit_code == 1
    status = _ok(invoke("status", "-f", "shop.py", "orders", "--why"))
    assert _item_lines(status) == ["orders[2024-03-01]: failed — the newest attempt failed"]


def test_a_config_file_changes_the_provenance(invoke: Invoke, shop: Path) -> None:
    _ok(invoke("materialize", *ALL))
    (shop / "strict.json").write_text(json.dumps({"clean_orders": {"min_amount": 15}}))
    strict = ("--config", "strict.json")
    status = _ok(invoke("status", "-f", "shop.py", "clean_orders", "--why", *strict))
    assert _item_lines(status) == [
        "clean_orders[2024-03-01 .. 2024-03-03] (3 items): stale — config changed"
    ]

    executed = len(_executions(shop))
    result = _ok(invoke("materialize", *ALL, *strict))
    assert "success: 6 success, fresh: 3 (not run)" in _text(result)
    assert sorted(_executions(shop)[executed:]) == sorted(
        f"{asset}[{day}]" for asset in ("clean_orders", "daily_revenue") for day in DAYS
    )
    assert "All 9 items are fresh" in _ok(invoke("status", "-f", "shop.py", *strict)).stdout
    assert "6 of 9 items are not fresh" in _ok(invoke("status", "-f", "shop.py")).stdout


def test_a_yaml_config_file_is_read_with_pyyaml(
    invoke: Invoke, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("yaml")
    fake.safe_load = json.loads  # type: ignore[attr-defined]  # YAML is a superset of JSON
    fake.YAMLError = ValueError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yaml", fake)
    (shop / "strict.yaml").write_text('{"clean_orders": {"min_amount": 15}}')
    status = _ok(
        invoke("status", "-f", "shop.py", "clean_orders", "--why", "--config", "strict.yaml")
    )
    assert len(_item_lines(status)) == 3


def test_invalid_config_values_exit_2_naming_the_asset_and_the_field(
    invoke: Invoke, shop: Path
) -> None:
    (shop / "bad.json").write_text(json.dumps({"clean_orders": {"min_amount": "lots"}}))
    for command in (
        ("materialize", *ALL),
        ("materialize", *ALL, "--dry-run"),
        ("status", "-f", "shop.py"),
        ("backfill", "-f", "shop.py"),
    ):
        result = invoke(*command, "--config", "bad.json")
        assert result.exit_code == 2, result.output
        text = _text(result)
        assert "Invalid config for asset 'clean_orders'" in text and "min_amount" in text
        assert "Traceback" not in result.output
    assert _run_count(shop) == 0


CONFIG_FILE_ERRORS: list[tuple[str, str | None, str]] = [
    ("absent.json", None, "The config file 'absent.json' does not exist"),
    ("broken.json", '{"clean_orders": ', "is not valid JSON: Expecting value at line 1"),
    ("list.json", "[1, 2]", "holds a list, not an object of asset keys"),
    ("flat.json", '{"clean_orders": 15}', "gives a number for 'clean_orders'"),
    ("typo.json", '{"clean_order": {}}', "Did you mean 'clean_orders'?"),
    ("plain.json", '{"orders": {}}', "asset 'orders', which takes no config"),
    ("cfg.yaml", "clean_orders: {}", "needs PyYAML (not installed)"),
]


@pytest.mark.parametrize("case", CONFIG_FILE_ERRORS, ids=[case[0] for case in CONFIG_FILE_ERRORS])
def test_config_file_errors_exit_2_and_run_nothing(
    invoke: Invoke, shop: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[str, str | None, str]
) -> None:
    name, content, message = case
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    if content is not None:
        (shop / name).write_text(content)
    result = invoke("materialize", *ALL, "--config", name)
    assert result.exit_code == 2, result.output
    assert message in _text(result)
    assert "ConfigError" in result.output and "Traceback" not in result.output
    assert not (shop / ".flowstone" / "flowstone.db").exists() or _run_count(shop) == 0


def test_backfill_policy_stale_runs_only_what_is_not_fresh(invoke: Invoke, shop: Path) -> None:
    assert "stale" in _ok(invoke("backfill", "run", "--help")).stdout
    _ok(invoke("materialize", *ALL))
    _change_orders(invoke, shop, "2024-03-01", "[1]")
    start = ("backfill", "-f", "shop.py", "--policy", "stale", "--json")
    payload: dict[str, Any] = json.loads(_ok(invoke(*start)).stdout)
    assert payload["backfill"]["item_count"] == 2
    assert [i["asset"] for i in payload["run"]["items"]] == ["clean_orders", "daily_revenue"]

    (shop / "strict.json").write_text(json.dumps({"clean_orders": {"min_amount": 15}}))
    payload = json.loads(_ok(invoke(*start, "--config", "strict.json")).stdout)
    assert payload["backfill"]["item_count"] == 6
    again = json.loads(_ok(invoke(*start, "--config", "strict.json")).stdout)
    assert (again["backfill"]["item_count"], again["run"]) == (0, None)


def test_status_and_a_dry_run_create_no_store(invoke: Invoke, shop: Path) -> None:
    _ok(invoke("status", "-f", "shop.py"))
    _ok(invoke("materialize", *ALL, "--dry-run"))
    assert not (shop / ".flowstone" / "flowstone.db").exists()


def test_a_dry_run_range_never_spans_a_fresh_partition(invoke: Invoke, shop: Path) -> None:
    _ok(invoke("materialize", "-f", "shop.py", "orders", "--partition", "2024-03-02"))
    plan = _ok(invoke("materialize", "-f", "shop.py", "orders", "--all-partitions", "--dry-run"))
    assert _item_lines(plan) == [
        "orders[2024-03-01]: missing — never materialized",
        "orders[2024-03-03]: missing — never materialized",
    ]
