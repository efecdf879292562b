"""The property: over generated DataFrames, equal meaning <=> equal data version.

"Equal meaning" here is ``DataFrame.equals`` plus equal dtypes, equal index and column labels
(each with its dtype) and equal index/columns names, made stricter where ``equals`` is looser
than meaning: in an object column ``None``, ``NaN`` and ``NaT`` are different values, and so are
``True`` and ``1`` (their element types are compared too). ``-0.0`` and ``0.0`` are one value,
as everywhere in flowstone's hashing (a set or dict key cannot hold both), and so is every NaN.
"""

from __future__ import annotations

from typing import Any

import numpy
import pandas
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.versioning.data_version import hash_value

OBJECTS = st.sampled_from([None, float("nan"), pandas.NaT, True, 1, "1", 1.5, "a", (1,), [1]])
COLUMNS = {
    "int": st.lists(st.integers(-3, 3), min_size=3, max_size=3),
    "float": st.lists(st.sampled_from([0.0, -0.0, 1.5, float("nan")]), min_size=3, max_size=3),
    "object": st.lists(OBJECTS, min_size=3, max_size=3),
    "category": st.lists(st.sampled_from(["lo", "hi", None]), min_size=3, max_size=3),
    "str": st.lists(st.sampled_from(["lo", "", None]), min_size=3, max_size=3),
}


def _column(kind: str, values: list[Any], ordered: bool) -> pandas.Series:
    if kind == "category":
        return pandas.Series(pandas.Categorical(values, categories=["lo", "hi"], ordered=ordered))
    if kind == "object":
        series = pandas.Series([None] * len(values), dtype=object)
        for position, value in enumerate(values):
            series.iloc[position] = value
        return series
    return pandas.Series(values, dtype={"int": "int64", "float": "float64", "str": "str"}[kind])


@st.composite
def frames(draw: st.DrawFn) -> pandas.DataFrame:
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=3))
    data = {
        f"c{i}": _column(kind, draw(COLUMNS[kind]), draw(st.booleans()))
        for i, kind in enumerate(kinds)
    }
    frame = pandas.DataFrame(data)
    if draw(st.booleans()):
        frame.index = pandas.MultiIndex.from_tuples(
            [("a", 1), ("a", 2), (draw(st.sampled_from(["a", "b"])), 3)],
            names=[draw(st.sampled_from([None, "k"])), "n"],
        )
    return frame


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return ("float", "nan" if numpy.isnan(value) else value + 0.0)
    return (type(value).__name__, repr(value))


def _meaning(frame: pandas.DataFrame) -> Any:
    """A plain structure that is equal exactly when two frames mean the same."""
    columns = []
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        dtype = column.dtype
        categories = (
            (list(dtype.categories), dtype.ordered)
            if isinstance(dtype, pandas.CategoricalDtype)
            else None
        )
        columns.append((str(dtype), categories, [_cell(value) for value in column.tolist()]))
    index = [(str(level.dtype), level.tolist()) for level in _levels(frame.index)]
    return (list(frame.columns), list(frame.index.names), index, columns)


def _levels(index: pandas.Index) -> list[pandas.Index]:
    return [index.get_level_values(i) for i in range(index.nlevels)]


@settings(max_examples=150, derandomize=True, deadline=None)
@given(frames(), frames())
def test_equal_meaning_iff_equal_version(left: pandas.DataFrame, right: pandas.DataFrame) -> None:
    same = _meaning(left) == _meaning(right)
    if same:
        assert left.equals(right)  # the meaning is never looser than pandas' own equality
    assert (hash_value(left) == hash_value(right)) == same
    assert hash_value(left) == hash_value(left.copy(deep=True))
