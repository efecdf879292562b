"""Turns tabular values into rows and back for ``PostgresIOManager``.

It owns what counts as tabular (a non-empty list of dicts with the same string keys, or a pandas
or polars DataFrame or a pyarrow Table when that library is installed), the simple column types,
and the canonical hash of rows. It is pure: no SQL and no connection, so the rules stay testable
without a server, and none of the optional frame libraries is imported unless a value needs it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

ColumnType: TypeAlias = Literal[
    "text", "bigint", "double", "boolean", "timestamptz", "timestamp", "jsonb"
]
"""The column types a table gets; a column that fits none of the others becomes ``jsonb``."""

ValueType: TypeAlias = Literal["records", "pandas", "polars", "pyarrow"]
"""The Python type a tabular value had, so loading returns the same type."""

RESERVED_COLUMNS: Final = frozenset({"_partition", "_row"})
"""Columns every asset table has; a value using one of these names is not stored as rows."""

MAX_IDENTIFIER_BYTES: Final = 63
"""PostgreSQL silently cuts longer identifiers, so longer names are never used as they are."""

_INT64: Final = range(-(2**63), 2**63)
_FRAME_CLASSES: Final[dict[tuple[str, str], ValueType]] = {
    ("pandas", "DataFrame"): "pandas",
    ("polars", "DataFrame"): "polars",
    ("pyarrow", "Table"): "pyarrow",
}


@dataclass(frozen=True, slots=True)
class Rows:
    """A tabular value taken apart: its type, columns (in order), column types and records.

    A column type is ``None`` when every value in it is ``None``: the table decides its type.
    """

    value_type: ValueType
    columns: tuple[str, ...]
    types: tuple[ColumnType | None, ...]
    records: list[dict[str, Any]]


def extract_rows(value: Any) -> Rows | None:
    """Take ``value`` apart into rows, or return ``None`` when it is not tabular.

    Column names must be non-empty text of at most 63 UTF-8 bytes without NUL, and not
    ``_partition`` or ``_row``; every column must hold one simple type or JSON-able values.
    """
    found = _records_of(value)
    if found is None:
        return None
    value_type, columns, records = found
    if not _are_valid_columns(columns):
        return None
    types: list[ColumnType | None] = []
    for column in columns:
        inferred = _infer_type([record[column] for record in records])
        if inferred == "invalid":
            return None
        types.append(inferred)
    return Rows(value_type, tuple(columns), tuple(types), records)


def hash_rows(columns: tuple[str, ...], records: list[dict[str, Any]]) -> str:
    """The SHA-256 of the rows in canonical JSON: the same rows give the same hash anywhere."""
    digest = hashlib.sha256(canonical_json(list(columns)))
    for record in records:
        digest.update(b"\n")
        digest.update(canonical_json([record[column] for column in columns]))
    return f"sha256:{digest.hexdigest()}"


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys; aware datetimes in UTC so their zone does not matter."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_encode_datetime
    )
    return text.encode("utf-8", "surrogatepass")


def build_value(
    value_type: ValueType, columns: tuple[str, ...], records: list[dict[str, Any]]
) -> Any:
    """Rebuild the stored type from loaded records.

    Raises:
        ImportError: the value was a frame whose library is not installed here.
    """
    if value_type == "records":
        return records
    data = {column: [record[column] for record in records] for column in columns}
    module = importlib.import_module(value_type)
    if value_type == "pyarrow":
        return module.Table.from_pydict(data)
    return module.DataFrame(data)


def _records_of(value: Any) -> tuple[ValueType, list[Any], list[dict[str, Any]]] | None:
    if isinstance(value, list):
        if not value or not all(type(record) is dict for record in value):
            return None
        columns = list(value[0])
        if any(record.keys() != value[0].keys() for record in value):
            return None
        return "records", columns, value
    frame_type = _FRAME_CLASSES.get(
        (type(value).__module__.partition(".")[0], type(value).__name__)
    )
    if frame_type == "pandas":
        records = value.to_dict(orient="records")
        return frame_type, list(value.columns), [_plain(record) for record in records]
    if frame_type == "polars":
        return frame_type, list(value.columns), value.to_dicts()
    if frame_type == "pyarrow":
        return frame_type, list(value.column_names), value.to_pylist()
    return None


def _plain(record: dict[Any, Any]) -> dict[Any, Any]:
    """Turn numpy scalars from a pandas frame into Python values."""
    return {
        key: item.item() if type(item).__module__ == "numpy" and hasattr(item, "item") else item
        for key, item in record.items()
    }


def _are_valid_columns(columns: list[Any]) -> bool:
    return len(set(columns)) == len(columns) and all(
        isinstance(column, str)
        and 0 < len(column.encode("utf-8", "surrogatepass")) <= MAX_IDENTIFIER_BYTES
        and "\x00" not in column
        and column not in RESERVED_COLUMNS
        for column in columns
    )


def _infer_type(values: list[Any]) -> ColumnType | None | Literal["invalid"]:
    present = [value for value in values if value is not None]
    if not present:
        return None
    kinds = {type(value) for value in present}
    if kinds == {bool}:
        return "boolean"
    if kinds == {int} and all(value in _INT64 for value in present):
        return "bigint"
    if kinds == {float}:
        return "double"
    if kinds == {str}:
        return "text"
    if all(isinstance(value, datetime) for value in present):
        zones = {value.tzinfo is None for value in present}
        if len(zones) == 1:
            return "timestamp" if zones == {True} else "timestamptz"
    try:
        json.dumps(present, allow_nan=False)
    except (TypeError, ValueError):
        return "invalid"
    return "jsonb"


def _encode_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
