"""How ``PostgresIOManager`` lays values out in PostgreSQL: tables, names, columns and rows.

It owns what counts as tabular (a non-empty list of dicts with the same string keys, or a pandas
or polars DataFrame or a pyarrow Table when that library is installed), the column types, the
canonical hash of rows, the names tables and keys get, the catalog tables and bulk row copies.
It opens no connection of its own, so most rules stay testable without a server, and it imports
none of the optional frame libraries unless a stored value needs one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles

from flowstone.keys import AssetKey

ColumnType: TypeAlias = Literal[
    "text", "bigint", "double", "boolean", "timestamptz", "timestamp", "jsonb"
]
"""The column types a table gets; a column that fits none of the others becomes ``jsonb``."""

ValueType: TypeAlias = Literal["records", "pandas", "polars", "pyarrow"]
"""The Python type a tabular value had, so loading returns the same type."""

TABLES: Final = "_flowstone_tables"
VALUES: Final = "_flowstone_values"
SQL_TYPES: Final[dict[ColumnType, Any]] = {
    "text": sa.Text(),
    "bigint": sa.BigInteger(),
    "double": postgresql.DOUBLE_PRECISION(),
    "boolean": sa.Boolean(),
    "timestamptz": sa.DateTime(timezone=True),
    "timestamp": sa.DateTime(),
    "jsonb": postgresql.JSONB(),
}
RESERVED_COLUMNS: Final = frozenset({"_partition", "_row"})
"""Columns every asset table has; a value using one of these names is not stored as rows."""

MAX_IDENTIFIER_BYTES: Final = 63
"""PostgreSQL silently cuts longer identifiers, so longer names are never used as they are."""

_INT64: Final = range(-(2**63), 2**63)
_SIMPLE_TYPES: Final[dict[type, ColumnType]] = {bool: "boolean", float: "double", str: "text"}
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]*")
_UNSAFE_CHARACTERS: Final = re.compile(r"[^A-Za-z0-9_./-]")
_HASH_LENGTH: Final = 12
_HASH_CHUNK: Final = 10_000
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
    schema: dict[str, Any] | None = None
    """The logical schema that rebuilds a pandas frame exactly (see ``postgres_pandas``)."""


def compute_table_name(asset_key: AssetKey) -> str:
    """The table of an asset: its key when short and plain, else a cut, cleaned key + hash.

    Plain names start with a letter or digit and hold no ``~``; every other name ends in ``~``
    and 12 hex digits of the key's SHA-256, so the two kinds never meet, names starting with
    ``_`` stay free for flowstone's own tables, and no name exceeds 63 bytes.
    """
    text = str(asset_key)
    if len(text) <= MAX_IDENTIFIER_BYTES and _PLAIN_NAME.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    cleaned = _UNSAFE_CHARACTERS.sub("_", text).lstrip("_")
    return f"{cleaned[: MAX_IDENTIFIER_BYTES - _HASH_LENGTH - 1]}~{digest}"


def encode_key(text: str) -> str:
    """Make a key storable as PostgreSQL text (which refuses NUL) without making two keys equal."""
    return text.replace("%", "%25").replace("\x00", "%00")


def extract_rows(value: Any) -> Rows | None:
    """Take ``value`` apart into rows, or return ``None`` when it is not tabular.

    Column names must be non-empty text of at most 63 UTF-8 bytes without NUL, and not
    ``_partition`` or ``_row``; every column must hold one simple type or JSON-able values.
    """
    if _FRAME_CLASSES.get(_class_of(value)) == "pandas":
        from io_managers.postgres_pandas import split_frame  # noqa: PLC0415 (imports pandas)

        parts = split_frame(value)
        return Rows("pandas", parts.columns, parts.types, parts.records, parts.schema)
    found = _records_of(value)
    if found is None:
        return None
    value_type, columns, records = found
    if not _are_valid_columns(columns):
        return None
    types: list[ColumnType | None] = []
    for column in columns:
        inferred = infer_type([record[column] for record in records])
        if inferred == "invalid":
            return None
        types.append(inferred)
    return Rows(value_type, tuple(columns), tuple(types), records)


def hash_rows(columns: tuple[str, ...], records: list[dict[str, Any]], schema: Any = None) -> str:
    """The SHA-256 of the rows (and logical schema, if any) in canonical JSON: the same rows
    give the same hash anywhere."""
    digest = hashlib.sha256(canonical_json(list(columns)))
    if schema is not None:
        digest.update(b"\n" + canonical_json(schema))
    for start in range(0, len(records), _HASH_CHUNK):  # one C-level dump per chunk is fast
        chunk = records[start : start + _HASH_CHUNK]
        digest.update(b"\n")
        digest.update(canonical_json([[record[column] for column in columns] for record in chunk]))
    return f"sha256:{digest.hexdigest()}"


def copy_rows(conn: sa.Connection, table: sa.Table, partition: str, rows: Rows) -> None:
    """Append the rows with ``COPY``, inside the connection's transaction.

    ``COPY`` is tens of times faster than ``INSERT`` for big partitions. Names are quoted by
    SQLAlchemy; its doubling of ``%`` (for parameter styles) is undone, as COPY has no parameters.
    """
    preparer = conn.dialect.identifier_preparer
    columns = [table.c._partition, table.c._row, *(table.c[name] for name in rows.columns)]
    names = ", ".join(preparer.format_column(column) for column in columns)
    statement = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN".replace("%%", "%")
    as_json = [isinstance(column.type, postgresql.JSONB) for column in columns[2:]]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(statement) as copy:
        for index, record in enumerate(rows.records):
            values = [record[name] for name in rows.columns]
            copy.write_row((partition, index, *map(_dump_if_json, as_json, values)))


def _dump_if_json(is_json: bool, value: Any) -> Any:
    return json.dumps(value) if is_json and value is not None else value


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys; aware datetimes in UTC so their zone does not matter."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_encode_datetime
    )
    return text.encode("utf-8", "surrogatepass")


def build_value(
    value_type: ValueType,
    columns: tuple[str, ...],
    records: list[dict[str, Any]],
    schema: dict[str, Any] | None = None,
) -> Any:
    """Rebuild the stored type from loaded records (a pandas frame from its logical schema).

    Raises:
        ImportError: the value was a frame whose library is not installed here.
    """
    if schema is not None:
        from io_managers.postgres_pandas import build_frame  # noqa: PLC0415 (imports pandas)

        return build_frame(schema, columns, records)
    if value_type == "records":
        return records
    data = {column: [record[column] for record in records] for column in columns}
    module = importlib.import_module(value_type)
    if value_type == "pyarrow":
        return module.Table.from_pydict(data)
    return module.DataFrame(data)


def define_catalog(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The catalog tables: asset key -> table and columns, and one entry per stored value."""
    tables = sa.Table(
        TABLES,
        metadata,
        sa.Column("asset_key", sa.Text, primary_key=True),
        sa.Column("table_name", sa.Text, nullable=False, unique=True),
        sa.Column("columns", postgresql.JSONB, nullable=False),
    )
    values = sa.Table(
        VALUES,
        metadata,
        sa.Column("asset_key", sa.Text, primary_key=True),
        sa.Column("partition_key", sa.Text, primary_key=True),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("value", postgresql.JSONB),
        sa.Column("value_bytes", sa.LargeBinary),
        sa.Column("value_type", sa.Text),
        sa.Column("columns", postgresql.JSONB),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("logical_schema", postgresql.JSONB),
        sa.Column("column_types", postgresql.JSONB),
        sa.Column("checksum", sa.Text, nullable=False),
    )
    return tables, values


class AddColumn(sa.schema.ExecutableDDLElement):
    """``ALTER TABLE ... ADD COLUMN``, quoted by SQLAlchemy like ``CREATE TABLE``."""

    inherit_cache = False

    def __init__(
        self, table: sa.Table, column: sa.Column[Any], *, if_missing: bool = False
    ) -> None:
        self.table = table
        self.column = column
        self.if_missing = if_missing


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: Any, **kw: Any) -> str:
    preparer = compiler.preparer
    kind = compiler.dialect.type_compiler_instance.process(element.column.type)
    return (
        f"ALTER TABLE {preparer.format_table(element.table)} "
        f"ADD COLUMN {'IF NOT EXISTS ' if element.if_missing else ''}"
        f"{preparer.format_column(element.column)} {kind}"
    )


def _records_of(value: Any) -> tuple[ValueType, list[Any], list[dict[str, Any]]] | None:
    if not isinstance(value, list):
        return _frame_records(value)
    if not value or not all(type(record) is dict for record in value):
        return None
    if any(record.keys() != value[0].keys() for record in value):
        return None
    return "records", list(value[0]), value


def _frame_records(value: Any) -> tuple[ValueType, list[Any], list[dict[str, Any]]] | None:
    """Columns and records of a DataFrame or Table, found by class so nothing is imported."""
    frame_type = _FRAME_CLASSES.get(_class_of(value))
    if frame_type == "polars":
        return frame_type, list(value.columns), value.to_dicts()
    if frame_type == "pyarrow":
        return frame_type, list(value.column_names), value.to_pylist()
    return None


def _class_of(value: Any) -> tuple[str, str]:
    return type(value).__module__.partition(".")[0], type(value).__name__


def _are_valid_columns(columns: list[Any]) -> bool:
    return len(set(columns)) == len(columns) and all(
        isinstance(column, str)
        and 0 < len(column.encode("utf-8", "surrogatepass")) <= MAX_IDENTIFIER_BYTES
        and "\x00" not in column
        and column not in RESERVED_COLUMNS
        for column in columns
    )


def infer_type(values: list[Any]) -> ColumnType | Literal["invalid"] | None:
    present = [value for value in values if value is not None]
    if not present:
        return None
    kinds = {type(value) for value in present}
    if len(kinds) == 1 and (simple := _SIMPLE_TYPES.get(next(iter(kinds)))) is not None:
        return simple
    if kinds == {int} and all(value in _INT64 for value in present):
        return "bigint"
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


class AlterColumnType(sa.schema.ExecutableDDLElement):
    """``ALTER TABLE ... ALTER COLUMN ... TYPE ... USING``: a cast of the stored values."""

    inherit_cache = False

    def __init__(self, table: sa.Table, column: sa.Column[Any]) -> None:
        self.table = table
        self.column = column


@compiles(AlterColumnType)
def _compile_alter_column_type(element: AlterColumnType, compiler: Any, **kw: Any) -> str:
    preparer = compiler.preparer
    kind = compiler.dialect.type_compiler_instance.process(element.column.type)
    name = preparer.format_column(element.column)
    return (
        f"ALTER TABLE {preparer.format_table(element.table)} "
        f"ALTER COLUMN {name} TYPE {kind} USING {name}::{kind}"
    )
