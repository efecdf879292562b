"""Early cutoff with pandas values, end to end through ``materialize`` and the default stores:
a dependent runs when its input's meaning changed and is cut off when only its code did."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas
import pytest

from flowstone import Registry, asset, materialize


def _ordered(categories: list[str]) -> pandas.DataFrame:
    values = pandas.Categorical(["low", "high"], categories=categories, ordered=True)
    return pandas.DataFrame({"level": values})


CASES = {
    "category order": (_ordered(["low", "high"]), _ordered(["high", "low"])),
    "bool and float vs text": (
        pandas.DataFrame({"x": [True, 1.5]}),
        pandas.DataFrame({"x": ["True", "1.5"]}, dtype=object),
    ),
    "decimal vs text": (
        pandas.DataFrame({"x": [Decimal("1")]}, dtype=object),
        pandas.DataFrame({"x": ["1"]}, dtype=object),
    ),
    "list column": (
        pandas.DataFrame({"kids": [[1, 2], [3]]}),
        pandas.DataFrame({"kids": [[1, 2], [4]]}),
    ),
}


def _runs(tmp_path: Path, values: list[Any]) -> list[int]:
    """Materialize twice per value, each time with a new code version of the source; return how
    often the dependent had run after each materialization."""
    calls: list[str] = []
    counts = []
    for version, value in enumerate(values):
        registry = Registry()
        with registry:

            @asset(key="source", code_version=str(version))
            def source(value: pandas.DataFrame = value) -> pandas.DataFrame:
                return value.copy()

            @asset(depends_on=["source"], code_version="1")
            def dependent(source: pandas.DataFrame) -> int:
                calls.append("dependent")
                return len(source)

        assert materialize(definitions=registry, project_dir=tmp_path).success
        counts.append(len(calls))
    return counts


@pytest.mark.parametrize("name", list(CASES))
def test_the_dependent_runs_when_the_meaning_changed(tmp_path: Path, name: str) -> None:
    first, second = CASES[name]
    assert _runs(tmp_path, [first, second]) == [1, 2]


@pytest.mark.parametrize("name", list(CASES))
def test_the_dependent_is_cut_off_when_the_value_is_the_same(tmp_path: Path, name: str) -> None:
    first, _ = CASES[name]
    assert _runs(tmp_path, [first, first.copy(deep=True)]) == [1, 1]
