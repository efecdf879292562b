"""A pandas DataFrame as table columns plus the logical schema that rebuilds it exactly.

The index (unless a ``RangeIndex``, which is only recorded) becomes ``_index_<n>`` columns, one per
level; each data column becomes a column named by its label. The schema records every dtype
(categories and their order, nullable and string dtypes, time units and zones), the index names
and levels and the column labels with their types, so a load gives back an equal frame. What
cannot be stored faithfully is refused with ``FrameRefusal`` before anything is written.
pandas is imported only when a frame is taken apart or rebuilt.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from io_managers.postgres_layout import ColumnType, infer_type

Encoded: TypeAlias = tuple[ColumnType | None, list[Any], dict[str, Any]]
"""A column's SQL type, its values as Python objects and the spec that rebuilds its dtype."""

_NAT: Final = -(2**63)
"""The int64 tick pandas stores for NaT (numpy's int64 minimum)."""
_SQL_OF_KIND: Final[dict[str, ColumnType]] = {
    "b": "boolean",
    "i": "bigint",
    "u": "bigint",
    "f": "double",
}
_INT64_MAX: Final = 2**63 - 1


class FrameRefusal(Exception):
    """A frame that cannot be stored faithfully: which column, what is wrong, what to do."""

    def __init__(self, column: str, what: str, fix: str) -> None:
        super().__init__(f"column {column}: {what}. {fix}")


@dataclass(frozen=True, slots=True)
class FrameParts:
    """The SQL columns of a frame (in order), their types, records and logical schema."""

    columns: tuple[str, ...]
    types: tuple[ColumnType | None, ...]
    records: list[dict[str, Any]]
    schema: dict[str, Any]


def split_frame(frame: Any) -> FrameParts:
    """Take a pandas DataFrame apart into SQL columns and its logical schema.

    Raises:
        FrameRefusal: a label, dtype or value cannot be stored and loaded back unchanged.
    """
    pd = importlib.import_module("pandas")
    names: list[str] = []
    encoded: list[Encoded] = []
    index = frame.index
    schema: dict[str, Any] = {"index": _range_spec(index)}
    if schema["index"] is None:
        levels = []
        for level in range(index.nlevels):
            names.append(f"_index_{level}")
            encoded.append(_encode(pd.Series(index.get_level_values(level)), names[-1]))
            levels.append(encoded[-1][2])
        schema["index"] = {
            "multi": isinstance(index, pd.MultiIndex),
            "names": [_label(name, "index name") for name in index.names],
            "levels": levels,
        }
    schema["columns"] = _columns_spec(pd, frame.columns)
    data_specs = []
    for position, label in enumerate(frame.columns):
        names.append(_column_name(label, names))
        encoded.append(_encode(frame.iloc[:, position], names[-1]))
        data_specs.append(encoded[-1][2])
    schema["dtypes"] = data_specs
    lists = [values for _, values, _ in encoded]
    records = [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]
    if not lists:
        records = [{} for _ in range(len(frame))]
    types = tuple(kind for kind, _, _ in encoded)
    return FrameParts(tuple(names), types, records, schema)


def build_frame(schema: dict[str, Any], columns: tuple[str, ...], records: list[Any]) -> Any:
    """Rebuild the DataFrame that ``split_frame`` took apart from its loaded records."""
    pd = importlib.import_module("pandas")
    series = [
        _decode(pd, spec, [record[name] for record in records])
        for name, spec in zip(
            columns, [*schema["index"].get("levels", []), *schema["dtypes"]], strict=True
        )
    ]
    index_spec = schema["index"]
    levels = len(index_spec.get("levels", []))
    if "range" in index_spec:
        index = pd.RangeIndex(*index_spec["range"], name=_unlabel(index_spec["name"]))
    elif index_spec["multi"]:
        names = [_unlabel(name) for name in index_spec["names"]]
        index = pd.MultiIndex.from_arrays(series[:levels], names=names)
    else:
        index = pd.Index(series[0], name=_unlabel(index_spec["names"][0]))
    body = {position: column.array for position, column in enumerate(series[levels:])}
    frame = pd.DataFrame(body, index=index)
    frame.columns = _build_columns(pd, schema["columns"])
    return frame


def _range_spec(index: Any) -> dict[str, Any] | None:
    if type(index).__name__ != "RangeIndex":
        return None
    return {"range": [index.start, index.stop, index.step], "name": _label(index.name, "index")}


def _columns_spec(pd: Any, columns: Any) -> dict[str, Any]:
    if isinstance(columns, pd.MultiIndex):
        raise FrameRefusal(
            "labels", "MultiIndex column labels cannot be stored", "Flatten them to one level."
        )
    spec = _range_spec(columns)
    if spec is not None:
        return spec
    dtype = _checked_dtype(pd, columns.dtype, "labels")
    labels = [_label(label, "column label") for label in columns]
    return {"labels": labels, "dtype": dtype, "name": _label(columns.name, "columns name")}


def _build_columns(pd: Any, spec: dict[str, Any]) -> Any:
    if "range" in spec:
        return pd.RangeIndex(*spec["range"], name=_unlabel(spec["name"]))
    labels = [_unlabel(label) for label in spec["labels"]]
    return pd.Index(
        labels, dtype=pd.api.types.pandas_dtype(spec["dtype"]), name=_unlabel(spec["name"])
    )


def _column_name(label: Any, taken: list[str]) -> str:
    name = label if isinstance(label, str) else repr(label)
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 0 < size <= 63 or "\x00" in name or name in {"_partition", "_row", *taken}:
        raise FrameRefusal(
            repr(label),
            "its label is empty, longer than 63 bytes, holds NUL or repeats another column "
            "or a reserved name (_partition, _row, _index_<n>)",
            "Rename the column.",
        )
    return name


def _label(label: Any, where: str) -> list[Any]:
    """A label as JSON with its type, so ``1``, ``1.0``, ``True`` and ``"1"`` stay apart."""
    if label is None:
        return ["none"]
    if isinstance(label, _numpy().generic):
        label = label.item()
    for tag, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(label, kind) and not (isinstance(label, float) and math.isnan(label)):
            return [tag, label]
    if isinstance(label, tuple):
        return ["tuple", [_label(part, where) for part in label]]
    raise FrameRefusal(
        repr(label),
        f"a {where} of type {type(label).__name__} cannot be recorded",
        "Use text, numbers, booleans or tuples of them as labels.",
    )


def _unlabel(tagged: list[Any]) -> Any:
    if tagged[0] == "none":
        return None
    if tagged[0] == "tuple":
        return tuple(_unlabel(part) for part in tagged[1])
    return tagged[1]


def _checked_dtype(pd: Any, dtype: Any, column: str) -> str:
    text = str(dtype)
    try:
        same = pd.api.types.pandas_dtype(text) == dtype
    except TypeError:
        same = False
    if not same:
        raise FrameRefusal(
            column,
            f"its dtype {text} cannot be recorded and rebuilt",
            "Convert it to a standard dtype (for time zones, use a named zone such as 'UTC').",
        )
    return text


def _encode(series: Any, column: str) -> Encoded:
    pd = importlib.import_module("pandas")
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _encode_category(pd, series, column)
    if isinstance(dtype, pd.StringDtype):
        values = [value if isinstance(value, str) else None for value in series.tolist()]
        na = "nan" if dtype.na_value is not pd.NA else "na"
        return "text", values, {"kind": "string", "storage": dtype.storage, "na": na}
    if dtype.kind == "O":
        return _encode_objects(series, column)
    text = _checked_dtype(pd, dtype, column)
    if dtype.kind in "mM":
        return _encode_time(pd, series, column, text)
    if dtype.kind not in _SQL_OF_KIND:
        raise FrameRefusal(
            column,
            f"its dtype {text} cannot be stored as a table column",
            "Convert it to numbers, text, booleans, datetimes or categories.",
        )
    plain = [None if _missing_marker(value) else value for value in series.tolist()]
    if dtype.kind == "u" and any(value > _INT64_MAX for value in plain if value is not None):
        raise FrameRefusal(
            column,
            "it holds unsigned integers above 2**63-1, which bigint cannot hold",
            "Convert it to float64 or text.",
        )
    return _SQL_OF_KIND[dtype.kind], plain, {"kind": "plain", "dtype": text}


def _encode_category(pd: Any, series: Any, column: str) -> Encoded:
    dtype = series.dtype
    kind, categories, spec = _encode(pd.Series(dtype.categories), column)
    codes = series.cat.codes.tolist()
    values = [None if code < 0 else categories[code] for code in codes]
    category = {"kind": "category", "ordered": bool(dtype.ordered), "categories": categories}
    return kind, values, {**category, "of": spec}


def _encode_objects(series: Any, column: str) -> Encoded:
    """Objects as JSON. Missing markers are NULL; where one is not None, the schema says which."""
    values = series.tolist()
    markers: dict[str, list[int]] = {}
    for position, value in enumerate(values):
        marker = _missing_marker(value)
        if marker is not None:
            values[position] = None
            if marker != "none":
                markers.setdefault(marker, []).append(position)
    kind = infer_type(values)
    if kind == "invalid":
        raise FrameRefusal(
            column,
            "its objects are not all text, numbers, booleans, datetimes or JSON values",
            "Convert the column to a typed dtype or to text",
        )
    return kind, values, {"kind": "object", "missing": markers}


def _missing_marker(value: Any) -> str | None:
    pd = importlib.import_module("pandas")
    if value is None:
        return "none"
    if value is pd.NA:
        return "na"
    if value is pd.NaT:
        return "nat"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return None


def _encode_time(pd: Any, series: Any, column: str, dtype: str) -> Encoded:
    if dtype.startswith("timedelta"):
        ticks = series.to_numpy().view("int64").tolist()
        return (
            "bigint",
            [None if tick == _NAT else tick for tick in ticks],
            {"kind": "timedelta", "dtype": dtype},
        )
    if (series.dt.nanosecond.fillna(0) != 0).any():
        raise FrameRefusal(
            column,
            "it holds datetimes with nanoseconds, which PostgreSQL cannot store",
            "Round it to microseconds (series.dt.floor('us')).",
        )
    values = [None if value is pd.NaT else value.to_pydatetime() for value in series]
    zoned = getattr(series.dtype, "tz", None) is not None
    return ("timestamptz" if zoned else "timestamp"), values, {"kind": "datetime", "dtype": dtype}


def _decode(pd: Any, spec: dict[str, Any], values: list[Any]) -> Any:
    """The column ``_encode`` took apart, rebuilt with its dtype from its loaded values."""
    kind = spec["kind"]
    if kind in _DECODERS:
        return _DECODERS[kind](pd, spec, values)
    dtype = pd.api.types.pandas_dtype(spec["dtype"])
    np = _numpy()
    if kind == "timedelta":
        ticks = np.array([_NAT if tick is None else tick for tick in values], dtype="int64")
        return pd.Series(ticks.view(dtype))
    if kind == "datetime":
        zone = getattr(dtype, "tz", None)
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=zone is not None)
        stamps = stamps.dt.tz_convert(zone) if zone is not None else stamps
        return stamps.astype(dtype)
    if isinstance(dtype, np.dtype):
        return pd.Series(np.array([np.nan if v is None else v for v in values], dtype=dtype))
    return pd.Series(pd.array(values, dtype=dtype))


def _decode_category(pd: Any, spec: dict[str, Any], values: list[Any]) -> Any:
    positions = {value: code for code, value in enumerate(spec["categories"])}
    categories = pd.Index(_decode(pd, spec["of"], spec["categories"]))
    dtype = pd.CategoricalDtype(categories, ordered=spec["ordered"])
    codes = [-1 if value is None else positions[value] for value in values]
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype))


def _decode_string(pd: Any, spec: dict[str, Any], values: list[Any]) -> Any:
    na = math.nan if spec["na"] == "nan" else pd.NA
    return pd.Series(values, dtype=pd.StringDtype(spec["storage"], na_value=na))


def _decode_objects(pd: Any, spec: dict[str, Any], values: list[Any]) -> Any:
    markers = {"na": pd.NA, "nat": pd.NaT, "nan": math.nan}
    for marker, positions in spec["missing"].items():
        for position in positions:
            values[position] = markers[marker]
    return pd.Series(values, dtype=object)


_DECODERS: Final[dict[str, Callable[[Any, dict[str, Any], list[Any]], Any]]] = {
    "category": _decode_category,
    "string": _decode_string,
    "object": _decode_objects,
}


def _numpy() -> Any:
    """numpy, imported only on the pandas paths (pandas implies it): the manager needs it not."""
    return importlib.import_module("numpy")
