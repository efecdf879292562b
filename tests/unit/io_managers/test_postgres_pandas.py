"""pandas frames through PostgresIOManager: what is saved is what is loaded, or refused up front.

A hypothesis property saves and loads generated frames (index kinds, label types, dtypes, missing
values, empty frames) on the live server; refusals must name the column and leave the previous
partition as it was.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from flowstone.errors import IOManagerError
from flowstone.io import IOContext
from flowstone.keys import AssetKey
from tests.contract.postgres_case import open_postgres_manager

ZONES = ["UTC", "Europe/Paris", "America/New_York"]
UNITS = ["s", "ms", "us", "ns"]
MOMENTS = st.integers(-2_000_000_000, 4_000_000_000)  # seconds around 1970, inside every unit


def context(asset: str = "frame") -> IOContext:
    return IOContext(AssetKey.parse(asset), "p")


def _numeric(draw: Any, rows: int) -> Any:
    dtype = np.dtype(
        draw(
            st.sampled_from(
                [
                    "int8",
                    "int16",
                    "int32",
                    "int64",
                    "uint8",
                    "uint16",
                    "uint32",
                    "uint64",
                    "float32",
                    "float64",
                    "bool",
                ]
            )
        )
    )
    if dtype.kind == "b":
        values = st.booleans()
    elif dtype.kind == "f":
        values = st.floats(width=dtype.itemsize * 8)
    else:
        info = np.iinfo(dtype)  # uint64 above 2**63-1 is refused, tested on its own below
        values = st.integers(int(info.min), min(int(info.max), 2**63 - 1))
    return np.array(draw(st.lists(values, min_size=rows, max_size=rows)), dtype=dtype)


def _missing(draw: Any, rows: int, values: st.SearchStrategy[Any]) -> list[Any]:
    return draw(st.lists(st.none() | values, min_size=rows, max_size=rows))


def _times(draw: Any, rows: int, kind: str) -> Any:
    unit = draw(st.sampled_from(UNITS))
    micros = st.tuples(MOMENTS, st.integers(0, 999_999))
    found = _missing(draw, rows, micros)
    ticks = [None if v is None else pd.Timestamp(v[0] * 10**6 + v[1], unit="us") for v in found]
    if kind == "timedelta":
        spans = [None if v is None else timedelta(seconds=v[0] % 10**6) for v in found]
        return pd.Series(spans, dtype=f"timedelta64[{unit if unit != 'ns' else 'us'}]")
    stamps = pd.Series(ticks, dtype="datetime64[us]").dt.floor(unit if unit != "ns" else "us")
    stamps = stamps.astype(f"datetime64[{unit}]")
    if kind == "aware":
        return stamps.dt.tz_localize("UTC").dt.tz_convert(draw(st.sampled_from(ZONES)))
    return stamps


@st.composite
def columns(draw: Any, rows: int) -> Any:  # noqa: PLR0911 (one return per kind reads best)
    """One column of any supported kind, with missing values where its dtype has them."""
    kind = draw(
        st.sampled_from(
            [
                "numeric",
                "Int64",
                "boolean",
                "str",
                "string",
                "object",
                "category",
                "naive",
                "aware",
                "timedelta",
            ]
        )
    )
    text = st.text("abcxyzé", max_size=4)
    if kind == "numeric":
        return _numeric(draw, rows)
    if kind == "Int64":
        return pd.array(_missing(draw, rows, st.integers(-(2**63), 2**63 - 1)), dtype="Int64")
    if kind == "boolean":
        return pd.array(_missing(draw, rows, st.booleans()), dtype="boolean")
    if kind in ("str", "string"):
        return pd.array(_missing(draw, rows, text), dtype=kind)
    if kind == "object":
        values = _missing(draw, rows, text | st.sampled_from([np.nan, pd.NaT]))
        return np.array(values, dtype=object)
    if kind == "category":
        categories = draw(st.lists(text, unique=True, max_size=4))
        picks = _missing(draw, rows, st.sampled_from(categories)) if categories else [None] * rows
        return pd.Categorical(picks, categories=categories, ordered=draw(st.booleans()))
    return _times(draw, rows, kind)


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    rows = draw(st.integers(0, 4))
    labels = draw(
        st.lists(
            st.text("ab", min_size=1, max_size=2) | st.integers(-3, 3), unique_by=str, max_size=4
        )
    )
    frame = pd.DataFrame({position: draw(columns(rows)) for position in range(len(labels))})
    frame.columns = pd.Index(labels, dtype=object) if labels else frame.columns
    index_kind = draw(st.sampled_from(["range", "single", "multi"]))
    names = st.none() | st.sampled_from(["k", "when", 7])
    if index_kind == "single":
        frame.index = pd.Index(draw(columns(rows)), name=draw(names))
    elif index_kind == "multi":
        levels = [draw(columns(rows)) for _ in range(2)]
        frame.index = pd.MultiIndex.from_arrays(levels, names=[draw(names), draw(names)])
    return frame


@pytest.mark.postgres
def test_generated_frames_load_as_they_were_saved() -> None:
    counter = itertools.count()
    with open_postgres_manager() as manager:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(frames())
        def check(frame: pd.DataFrame) -> None:
            asset = f"frame{next(counter)}"  # each its own table: its column types are new
            manager.save(context(asset), frame)
            assert_frame_equal(manager.load(context(asset)), frame, check_dtype=True)

        check()


@pytest.mark.postgres
def test_dtypes_labels_and_index_levels_survive() -> None:
    index = pd.MultiIndex.from_arrays([[1, 2], ["a", None]], names=["id", None])
    frame = pd.DataFrame(
        {
            1: np.array([1.5, np.nan], dtype="float32"),
            "size": pd.Categorical(["m", None], categories=["s", "m", "l"], ordered=True),
            "at": pd.to_datetime(["2024-03-31 01:30", None]).tz_localize("Europe/Paris"),
            "note": np.array([None, np.nan], dtype=object),
        },
        index=index,
    )
    with open_postgres_manager() as manager:
        manager.save(context(), frame)
        loaded = manager.load(context())
    assert_frame_equal(loaded, frame, check_dtype=True)
    assert list(loaded.columns) == [1, "size", "at", "note"]
    assert list(loaded["size"].cat.categories) == ["s", "m", "l"]
    assert loaded["note"].iloc[0] is None and loaded["note"].iloc[1] is not None


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("bad", "column"),
    [
        (pd.DataFrame({"at": pd.to_datetime(["2024-01-01 00:00:00.000000001"])}), "at"),
        (pd.DataFrame({"big": np.array([2**64 - 1], dtype="uint64")}), "big"),
        (pd.DataFrame({"span": pd.period_range("2024-01", periods=1, freq="M")}), "span"),
        (pd.DataFrame({"o": [object()]}), "o"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "a"),
    ],
)
def test_unstorable_frames_are_refused_before_writing(bad: pd.DataFrame, column: str) -> None:
    good = pd.DataFrame({"a": [1, 2]})
    with open_postgres_manager() as manager:
        manager.save(context(), good)
        with pytest.raises(IOManagerError, match=f"column '?{column}'?") as refused:
            manager.save(context(), bad)
        assert "Nothing was written" in str(refused.value)
        assert_frame_equal(manager.load(context()), good)
