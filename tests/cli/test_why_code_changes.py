"""``status --why`` names the helper or constant whose edit made items stale, in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ETL = """
from flowstone import AssetContext, DailyPartitions, asset

DAYS = DailyPartitions("2024-01-01", "2024-01-04")


def normalise(text: str) -> str:
    return text.strip().lower()


@asset(partitioned_by=DAYS)
def clean_orders(context: AssetContext) -> str:
    return normalise(context.partition_key)
"""
HN = """
from flowstone import asset

STOPWORDS = ("a", "the")


@asset
def words() -> list[str]:
    return [word for word in ("a", "cat") if word not in STOPWORDS]
"""
ASSETS = "from shop.etl import clean_orders\nfrom shop.hn import words\n"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A project folder with the package ``shop``: assets in ``etl.py`` and ``hn.py``."""
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "etl.py").write_text(textwrap.dedent(ETL))
    (package / "hn.py").write_text(textwrap.dedent(HN))
    (package / "assets.py").write_text(ASSETS)
    return tmp_path


def _flowstone(project: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flowstone.cli", *args, "-m", "shop.assets"],
        cwd=project, capture_output=True, text=True, check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def _stale(project: Path) -> dict[str, list[dict[str, object]]]:
    report = json.loads(_flowstone(project, "status", "--why", "--json"))
    return {
        f"{item['asset']}[{item['partition']}]": item["causes"]
        for item in report["items"]
        if item["status"] != "fresh"
    }


def test_an_edited_helper_is_named_once_for_the_range_of_its_asset(shop: Path) -> None:
    _flowstone(shop, "materialize", "--all-partitions")
    _edit(shop / "shop" / "etl.py", ".lower()", ".upper()")
    why = _flowstone(shop, "status", "--why")
    assert "code changed: helper normalise() in etl.py" in why
    lines = [line for line in why.splitlines() if "code changed" in line]
    assert len(lines) == 1 and "clean_orders[2024-01-01 .. " in lines[0]
    plan = _flowstone(shop, "materialize", "--all-partitions", "--dry-run")
    assert "stale — code changed: helper normalise() in etl.py" in plan
    stale = _stale(shop)
    assert stale and all(key.startswith("clean_orders[") for key in stale)
    [cause] = next(iter(stale.values()))
    assert cause["changes"] == [
        {"name": "shop.etl:normalise", "kind": "function", "change": "changed"}
    ]


def test_an_edited_constant_is_named(shop: Path) -> None:
    _flowstone(shop, "materialize", "--all-partitions")
    _edit(shop / "shop" / "hn.py", '("a", "the")', '("a", "an", "the")')
    why = _flowstone(shop, "status", "--why")
    assert "words: stale — code changed: constant STOPWORDS in hn.py" in why
    assert [key.partition("[")[0] for key in _stale(shop)] == ["words"]
