"""Data versions of pandas values: equal meaning gives one version, different meaning another.

Owns the pandas handlers ``data_version`` registers once pandas is imported; never imports
pandas itself. A frame is hashed by its column labels, its index (levels and names, each with
its dtype) and each column by its dtype and data: categoricals by categories, order flag and
codes; datetimes with their unit and zone; strings (``str`` or ``string``, Python or pyarrow
storage alike) by their text and missing mask; object columns element by element through the
canonical encoder, so ``True`` and ``"True"`` or ``Decimal("1")`` and ``"1"`` differ and lists
are hashable. Digests are tagged ``pandas...:2``, apart from the earlier row-hash encoding.
"""

from __future__ import annotations

import sys
from typing import Any

from flowstone.keys import DataVersion
from flowstone.versioning.data_version import Unhashable, digest, hash_value
from flowstone.versioning.table_hashing import hash_array


def hash_pandas(value: Any) -> DataVersion | None:
    """A DataFrame, Series or Index by labels, names, dtypes and data."""
    pandas = sys.modules["pandas"]
    try:
        if isinstance(value, pandas.DataFrame):
            columns = [_hash_column(value.iloc[:, i]) for i in range(value.shape[1])]
            parts: list[Any] = [_hash_index(value.columns), _hash_index(value.index), columns]
        elif isinstance(value, pandas.Series):
            parts = [[value.name], _hash_index(value.index), _hash_column(value)]
        else:
            parts = [_hash_index(value)]
        return digest(f"pandas.{type(value).__name__}:2", parts)
    except (Unhashable, RecursionError, TypeError, ValueError):
        return None


def hash_pandas_scalar(value: Any) -> DataVersion | None:
    """``Timestamp``, ``Timedelta``, ``NaT`` and ``NA``, as elements of object columns."""
    pandas = sys.modules["pandas"]
    if value is pandas.NaT or value is pandas.NA:
        text = str(value)
    elif isinstance(value, pandas.Timestamp):
        text = f"{value.isoformat()}@{value.tz}"  # nanoseconds and zone name kept
    else:
        text = value.isoformat()
    return digest("pandas.scalar:2", [type(value).__name__, text])


def _hash_index(index: Any) -> DataVersion:
    pandas = sys.modules["pandas"]
    if isinstance(index, pandas.MultiIndex):
        levels = [_hash_column(index.get_level_values(i)) for i in range(index.nlevels)]
        return digest("multi", [list(index.names), levels])
    return digest("index", [[index.name], _hash_column(index)])


def _hash_column(column: Any) -> DataVersion:
    """One Series or Index: its dtype and data."""
    pandas, numpy = sys.modules["pandas"], sys.modules["numpy"]
    dtype = column.dtype
    if isinstance(dtype, pandas.CategoricalDtype):
        codes = numpy.asarray(column.array.codes)
        order = [_hash_index(dtype.categories), dtype.ordered]
        return digest("category", order, numpy.ascontiguousarray(codes).view(numpy.uint8))
    if isinstance(dtype, numpy.dtype):
        return digest("numpy", [hash_array(numpy.asarray(column.to_numpy()))])
    if isinstance(dtype, pandas.StringDtype):
        return _hash_strings(column, dtype.name)
    if isinstance(dtype, pandas.DatetimeTZDtype):
        instants = numpy.asarray(column.array.asi8)
        return digest("datetimetz", [dtype.unit, str(dtype.tz), hash_array(instants)])
    # Other extension dtypes (nullable numbers, periods, ...): their elements, with the dtype.
    missing = hash_array(numpy.asarray(column.isna()))
    elements = hash_value(list(column.astype(object)))
    if elements is None:
        raise Unhashable
    return digest("extension", [str(dtype), missing, elements])


def _hash_strings(column: Any, name: str) -> DataVersion:
    """Text and missing mask: lengths in code points and the joined text, never ``str()``."""
    numpy = sys.modules["numpy"]
    missing = numpy.asarray(column.isna(), dtype=bool)
    texts = column.to_numpy(dtype=object, na_value="").tolist()
    lengths = numpy.fromiter(map(len, texts), dtype=numpy.int64, count=len(texts))
    text = "".join(texts).encode("utf-8", "surrogatepass")
    return digest("strings", [name], missing.view(numpy.uint8), lengths.view(numpy.uint8), text)
