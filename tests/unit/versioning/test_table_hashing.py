"""Data versions of pandas, NumPy, pyarrow and polars values: different meaning, different
version; equal meaning (including equal dtypes, labels and names), one version."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy
import pandas
import polars
import pyarrow
import pytest

from flowstone.versioning.data_version import hash_value


def _ordered(categories: list[str]) -> pandas.DataFrame:
    values = pandas.Categorical(["low", "high"], categories=categories, ordered=True)
    return pandas.DataFrame({"level": values})


def test_reordering_the_categories_of_an_ordered_categorical_changes_the_version() -> None:
    assert hash_value(_ordered(["low", "high"])) != hash_value(_ordered(["high", "low"]))
    assert hash_value(_ordered(["low", "high"])) == hash_value(_ordered(["low", "high"]))


def test_categories_unused_categories_and_order_flag_count() -> None:
    frame = _ordered(["low", "high"])
    unordered = frame.astype({"level": pandas.CategoricalDtype(["low", "high"])})
    extra = frame.astype({"level": pandas.CategoricalDtype(["low", "high", "mid"], ordered=True)})
    assert len({hash_value(frame), hash_value(unordered), hash_value(extra)}) == 3


def test_object_columns_are_hashed_element_by_element_not_through_str() -> None:
    mixed = pandas.DataFrame({"x": [True, 1.5]})
    texts = pandas.DataFrame({"x": ["True", "1.5"]}, dtype=object)
    assert hash_value(mixed) != hash_value(texts)
    decimal = pandas.DataFrame({"x": [Decimal("1")]}, dtype=object)
    text = pandas.DataFrame({"x": ["1"]}, dtype=object)
    assert hash_value(decimal) != hash_value(text)


def test_a_list_column_is_hashable() -> None:
    frame = pandas.DataFrame({"id": [1, 2], "kids": [[3, 4], [5]]})
    assert hash_value(frame) is not None
    assert hash_value(frame) == hash_value(frame.copy(deep=True))
    assert hash_value(frame) != hash_value(pandas.DataFrame({"id": [1, 2], "kids": [[3, 4], [6]]}))


def test_index_and_column_names_count() -> None:
    frame = pandas.DataFrame({"a": [1, 2]})
    named_index = frame.rename_axis("row")
    named_columns = frame.rename_axis(columns="field")
    assert len({hash_value(frame), hash_value(named_index), hash_value(named_columns)}) == 3


def test_timezones_and_units_of_datetimes_count() -> None:
    naive = pandas.Series(pandas.to_datetime(["2024-01-01"]))
    utc = naive.dt.tz_localize("UTC")
    paris = utc.dt.tz_convert("Europe/Paris")
    coarse = naive.astype("datetime64[s]")
    assert len({hash_value(naive), hash_value(utc), hash_value(paris), hash_value(coarse)}) == 4


def test_string_storages_of_one_dtype_agree() -> None:
    python = pandas.Series(["a", None], dtype=pandas.StringDtype("python", na_value=numpy.nan))
    arrow = pandas.Series(["a", None], dtype=pandas.StringDtype("pyarrow", na_value=numpy.nan))
    assert hash_value(python) == hash_value(arrow)
    assert hash_value(python) != hash_value(pandas.Series(["a", None], dtype="string"))
    assert hash_value(python) != hash_value(pandas.Series(["a", "None"], dtype=python.dtype))


def test_a_multi_index_is_hashed_by_its_levels() -> None:
    index = pandas.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    frame = pandas.DataFrame({"v": [1.0, 2.0]}, index=index)
    swapped = frame.swaplevel()
    assert hash_value(frame) not in {None, hash_value(swapped)}
    assert hash_value(frame) == hash_value(frame.copy())


def test_numpy_object_datetime_and_structured_arrays() -> None:
    assert hash_value(numpy.array([True, 1.5], dtype=object)) != hash_value(
        numpy.array(["True", "1.5"], dtype=object)
    )
    days = numpy.array(["2024-01-01"], dtype="datetime64[D]")
    assert hash_value(days) != hash_value(days.astype("datetime64[s]"))
    packed = numpy.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")])
    aligned = packed.astype(numpy.dtype([("a", "<i4"), ("b", "<f8")], align=True))
    assert hash_value(packed) == hash_value(aligned)  # padding is not data
    assert hash_value(numpy.arange(3, dtype=">i8")) == hash_value(numpy.arange(3, dtype="<i8"))


def test_arrow_dictionaries_and_chunking() -> None:
    plain = pyarrow.table({"a": ["x", "y", "x"]})
    encoded = plain.combine_chunks().cast(
        pyarrow.schema([("a", pyarrow.dictionary(pyarrow.int8(), pyarrow.string()))])
    )
    first = pyarrow.chunked_array(
        [
            pyarrow.array(["x"]).dictionary_encode(),
            pyarrow.DictionaryArray.from_arrays(pyarrow.array([1, 0], pyarrow.int32()), ["x", "y"]),
        ]
    )
    assert hash_value(plain) != hash_value(encoded)
    assert hash_value(pyarrow.table({"a": first})) is not None
    with_metadata = plain.replace_schema_metadata({"source": "crm"})
    assert hash_value(with_metadata) != hash_value(plain)


def test_polars_categoricals_enums_and_lists() -> None:
    low_high = polars.Enum(["low", "high"])
    high_low = polars.Enum(["high", "low"])
    values = ["low", "high"]
    enum_a = polars.DataFrame({"x": values}, schema={"x": low_high})
    enum_b = polars.DataFrame({"x": values}, schema={"x": high_low})
    category = polars.DataFrame({"x": values}, schema={"x": polars.Categorical})
    text = polars.DataFrame({"x": values})
    assert (
        len({hash_value(enum_a), hash_value(enum_b), hash_value(category), hash_value(text)}) == 4
    )
    lists = polars.DataFrame({"kids": [[1, 2], [3]]})
    assert hash_value(lists) != hash_value(polars.DataFrame({"kids": [[1, 2], [4]]}))


GOLDEN: dict[str, tuple[Callable[[], Any], str]] = {
    "pandas frame": (
        lambda: pandas.DataFrame({"a": [1, 2], "b": ["x", None], "c": [[1], [2]]}),
        "39fbf5beef3e3aef6ea42295cf810d00",
    ),
    "numpy array": (lambda: numpy.arange(4, dtype="<f8"), "0a156fac264e981883fa9a9ce30cf391"),
    "arrow table": (lambda: pyarrow.table({"a": [1, 2]}), "5706d69cc96dfc0aa21c210895733e91"),
    "polars frame": (lambda: polars.DataFrame({"a": [1, 2]}), "da215c21f1427d1e8126b74ddd3044dc"),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_values_of_library_encodings(name: str) -> None:
    build, expected = GOLDEN[name]
    assert hash_value(build()) == expected


def test_arrow_chunks_with_different_dictionaries_agree() -> None:
    def chunk(indices: list[int], dictionary: list[str]) -> Any:
        return pyarrow.DictionaryArray.from_arrays(
            pyarrow.array(indices, pyarrow.int32()), dictionary
        )

    whole = pyarrow.table({"a": pyarrow.chunked_array([chunk([0, 1, 0], ["x", "y"])])})
    pieces = pyarrow.table(
        {"a": pyarrow.chunked_array([chunk([1], ["y", "x"]), chunk([0, 1], ["y", "x"])])}
    )
    assert hash_value(whole) == hash_value(pieces)


def test_pandas_scalars_in_object_columns_are_hashable_and_distinct() -> None:
    def column(*values: Any) -> pandas.Series:
        return pandas.Series(list(values), dtype=object)

    versions = [
        hash_value(column(pandas.NaT)),
        hash_value(column(None)),
        hash_value(column(pandas.NA)),
        hash_value(column(pandas.Timestamp("2024-01-01", tz="UTC"))),
        hash_value(column(pandas.Timestamp("2024-01-01"))),
        hash_value(column(pandas.Timedelta(1))),
    ]
    assert None not in versions
    assert len(set(versions)) == len(versions)
