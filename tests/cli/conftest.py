"""CLI fixtures: a throw-away project folder with a pipeline file, a click runner, and a store
URL on each backend for the tests that run several processes on one store."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flowstone.cli import cli
from tests.support.postgres import isolated_schema_url, postgres_base_url

PIPELINE = """
from flowstone import AssetContext, asset

@asset(group="raw")
def numbers(context: AssetContext) -> list[int]:
    context.add_metadata(row_count=3)
    return [1, 2, 3]

@asset(depends_on=[numbers], group="clean", tags={"tier": "gold"})
def doubled(numbers: list[int]) -> list[int]:
    return [n * 2 for n in numbers]

@asset(depends_on=[doubled])
def total(doubled: list[int]) -> int:
    return sum(doubled)
"""


DAILY = """
from pathlib import Path
from flowstone import AssetContext, DailyPartitions, asset

DAILY = DailyPartitions("2024-01-01", "2024-01-06")

@asset(partitioned_by=DAILY)
def raw(context: AssetContext) -> int:
    if Path(f"broken-{context.partition_key}").exists():
        raise ValueError(f"no data for {context.partition_key}")
    return 1

@asset(depends_on=[raw], partitioned_by=DAILY)
def clean(raw: int) -> int:
    return raw * 2
"""
"""A daily pipeline whose ``raw`` partition fails while a file ``broken-<day>`` exists."""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the current directory) holding ``pipeline.py``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    return tmp_path


@pytest.fixture
def invoke(project: Path) -> Callable[..., Result]:
    """``invoke("materialize", "-f", "pipeline.py")``: run the CLI in the project folder."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty metadata store on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'flowstone.db'}"
        return
    with isolated_schema_url(postgres_base_url()) as (url, _schema):
        yield url
