"""``PostgresIOManager``: tabular values as rows of one table per asset, others in a value table.

It owns the tables in its schema: one per asset for tabular values (with ``_partition`` and
``_row`` columns), ``_flowstone_tables`` (asset key -> table name and column types) and
``_flowstone_values`` (one row per stored (asset, partition): a JSON or pickled value, or where
its rows are, plus its checksum). Every save is one transaction under a per-asset advisory lock,
so a partition is replaced whole or not at all. Keys are untrusted text: they reach SQL only as
bound parameters or as identifiers quoted by SQLAlchemy, never formatted into a statement.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from flowstone.errors import IOManagerError, MissingOutputError
from flowstone.io import IOContext
from flowstone.keys import AssetKey
from io_managers.postgres_entry import encode_value, entry_of
from io_managers.postgres_layout import (
    VALUES,
    AddColumn,
    Rows,
    build_value,
    canonical_json,
    compute_table_name,
    copy_rows,
    define_catalog,
    encode_key,
    extract_rows,
    hash_rows,
)
from io_managers.postgres_message import (
    build_error,
    describe_error,
    describe_where,
    format_location,
    format_uri,
    parse_url,
    sqlstate,
)
from io_managers.postgres_pandas import FrameRefusal
from io_managers.postgres_table import AssetTables, StaleTable, fits_table
from io_managers.postgres_widening import (
    restore_types,
)

UNDEFINED_TABLE: Final = "42P01"
"""The SQLSTATE of a query on a table that does not exist (e.g. dropped by hand)."""


class PostgresIOManager:
    """Stores asset values in PostgreSQL, tabular ones as rows a warehouse can query.

    A list of dicts with the same keys (or a pandas/polars DataFrame or pyarrow Table) becomes
    rows of the asset's table; ``load`` returns the same type. Any other value is stored as
    JSONB, or pickled into BYTEA with ``binary=True`` (pickles run code when loaded: keep the
    schema writable only by people you trust). JSON numbers come back as PostgreSQL prints them,
    so a float such as ``1e20`` fails its checksum on load instead of returning an int.

    Args:
        url: a SQLAlchemy URL (``postgresql+psycopg://user@host/db``); its password is never shown.
        schema: where the tables live; created when first needed.
        binary: pickle non-tabular values instead of storing them as JSON.
        pool_size: connections kept open, one per worker thread that saves or loads at once
            (as many more open for a burst beyond it, then close).

    Raises:
        IOManagerError: the URL is malformed or not a PostgreSQL URL.
    """

    def __init__(
        self, url: str, *, schema: str = "flowstone", binary: bool = False, pool_size: int = 16
    ) -> None:
        self._url = parse_url(url)
        self._schema = schema
        self._binary = binary
        # No ping before every checkout (a round trip per save): a connection the server closed
        # fails one save, and that failure discards the pool, so the next save reconnects.
        self._engine = sa.create_engine(
            self._url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
        )
        driver = self._engine.dialect.dbapi  # COPY raises the driver's errors, not SQLAlchemy's
        self._driver_error: type[Exception] = driver.Error if driver else SQLAlchemyError
        self._metadata = sa.MetaData(schema=schema)
        self._tables, self._values = define_catalog(self._metadata)
        self._ready = False
        self._ready_lock = threading.Lock()
        self._asset_tables = AssetTables(schema, self._tables)

    def __repr__(self) -> str:
        return f"PostgresIOManager({self._location()!r}, schema={self._schema!r})"

    def close(self) -> None:
        """Close the pooled connections (they reopen on next use)."""
        self._engine.dispose()

    def save(self, ctx: IOContext, value: Any) -> Mapping[str, Any]:
        """Replace the (asset, partition) value in one transaction.

        Returns:
            ``uri`` (no password), ``rows`` for tabular values, ``data_version`` (the SHA-256 of
            the canonical rows or value) and ``format`` (``table``, ``json`` or ``pickle``).

        Raises:
            IOManagerError: the value cannot be encoded or written, or the asset's table name
                belongs to another asset.
        """
        try:
            rows = extract_rows(value)
        except FrameRefusal as exc:
            raise build_error(
                ctx,
                f"it cannot be stored faithfully: {str(exc).rstrip('.')}",
                "Nothing was written; fix the column and save again.",
            ) from exc
        encoded = encode_value(ctx, value, binary=self._binary) if rows is None else None
        try:
            entry = self._save_once(ctx, rows, encoded)
        except StaleTable:  # another process changed the asset's table: read it this time
            entry = self._save_once(ctx, rows, encoded)
        table_name = compute_table_name(ctx.asset_key) if rows is not None else VALUES
        uri = format_uri(self._url, self._schema, ctx, table_name)
        stored = {"uri": uri, "data_version": entry["checksum"]}
        if rows is not None:
            stored["rows"] = len(rows.records)
        return {**stored, "format": entry["format"]}

    def _save_once(
        self, ctx: IOContext, rows: Rows | None, encoded: dict[str, Any] | None
    ) -> dict[str, Any]:
        """One save transaction; returns the value-table entry it wrote."""
        try:
            with self._transaction(ctx, "written") as conn:
                stale, table = self._begin_save(conn, ctx, rows)
                encoded = encoded if rows is None else entry_of(rows)
                assert encoded is not None
                self._write(conn, ctx, encoded, stale=stale, table=table, rows=rows)
        except (StaleTable, IOManagerError):
            self._asset_tables.known.pop(ctx.asset_key, None)  # the next save reads the catalog
            raise
        return encoded

    def load(self, ctx: IOContext) -> Any:
        """Return the stored value after checking it against its recorded checksum.

        Raises:
            MissingOutputError: nothing is stored for the (asset, partition).
            IOManagerError: the value cannot be read, fails its checksum or cannot be rebuilt.
        """
        with self._transaction(ctx, "read", isolation="REPEATABLE READ") as conn:
            entry = conn.execute(self._entry_query(ctx)).mappings().first()
            if entry is None:
                raise MissingOutputError(
                    f"No value is stored for {describe_where(ctx)} in {self._location()} schema "
                    f"{self._schema!r}. Materialize the asset before loading it.",
                    asset_key=ctx.asset_key,
                    partition_key=ctx.partition_key,
                )
            if entry["format"] == "table":
                return self._load_rows(conn, ctx, entry)
        if entry["format"] == "pickle":
            data = bytes(entry["value_bytes"])
            self._verify(ctx, f"sha256:{hashlib.sha256(data).hexdigest()}", entry["checksum"])
            return pickle.loads(data)
        loaded = entry["value"]
        checksum = f"sha256:{hashlib.sha256(canonical_json(loaded)).hexdigest()}"
        self._verify(ctx, checksum, entry["checksum"])
        return loaded

    def exists(self, ctx: IOContext) -> bool:
        """Whether a value is stored for the (asset, partition): its catalog row, and for rows
        their table (a dropped table holds nothing); never reads the value."""
        with self._transaction(ctx, "looked up") as conn:
            query = self._entry_query(ctx).with_only_columns(self._values.c.format)
            entry = conn.execute(query).first()
            if entry is None or entry.format != "table":
                return entry is not None
            table = self._asset_tables.find(conn, ctx.asset_key)
            return table is not None and self._asset_tables.exists(conn, table)

    @contextmanager
    def _transaction(
        self, ctx: IOContext, action: str, *, isolation: str = "READ COMMITTED"
    ) -> Iterator[Connection]:
        """One transaction; database errors become ``IOManagerError`` without the password."""
        try:
            self._create_catalog()
            with self._engine.connect().execution_options(isolation_level=isolation) as conn:
                with conn.begin():
                    yield conn
        except (SQLAlchemyError, self._driver_error) as exc:
            raise build_error(
                ctx,
                f"the value could not be {action} in {self._location()} ({self._describe(exc)})",
                "Check that the server is reachable and the user may write the schema "
                f"{self._schema!r}, then try again.",
            ) from exc

    def _create_catalog(self) -> None:
        """Create the schema and catalog tables once, serialized across processes."""
        if self._ready:
            return
        with self._ready_lock, self._engine.begin() as conn:
            if self._ready:
                return
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_id(None))))
            conn.execute(sa.schema.CreateSchema(self._schema, if_not_exists=True))
            self._metadata.create_all(conn)
            for column in (self._values.c.logical_schema, self._values.c.column_types):
                conn.execute(AddColumn(self._values, column, if_missing=True))
            self._ready = True

    def _lock_id(self, asset_key: AssetKey | None, partition_key: str | None = None) -> int:
        name = f"flowstone.postgres\x00{self._schema}\x00{asset_key or ''}"
        if partition_key is not None:
            name += f"\x00{partition_key}"
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _entry_query(self, ctx: IOContext) -> sa.Select[Any]:
        values = self._values
        return sa.select(values).where(
            values.c.asset_key == encode_key(str(ctx.asset_key)),
            values.c.partition_key == encode_key(ctx.partition_key),
        )

    def _begin_save(
        self, conn: Connection, ctx: IOContext, rows: Rows | None
    ) -> tuple[sa.Table | None, sa.Table | None]:
        """Lock; return the table still holding the partition's old rows and the one for new rows.

        The old rows are deleted here before a table changes (a widening must not count them), else
        in the statement that writes the entry, to save a round trip.

        Only a save that changes the asset's table (creates, adds or widens a column) or its
        catalog entry takes the asset's lock exclusively; the others take it shared plus the
        partition's own lock, so partitions of one asset are saved in parallel.
        """
        known = self._asset_tables.known.get(ctx.asset_key)
        if rows is None or (known is not None and fits_table(known, rows)):
            self._lock_shared(conn, ctx, known)
            old = known if known is not None else self._asset_tables.find(conn, ctx.asset_key)
            table = known
        else:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_id(ctx.asset_key))))
            old = self._asset_tables.find(conn, ctx.asset_key)
            table = None
        if old is not None and not self._asset_tables.exists(conn, old, cached=True):
            old = None
        if rows is not None and table is None:
            if old is not None:
                partition = old.c._partition == encode_key(ctx.partition_key)
                conn.execute(sa.delete(old).where(partition))
                old = None
            table = self._asset_tables.prepare(conn, ctx, rows)
            self._asset_tables.known[ctx.asset_key] = table
        return old, table

    def _write(
        self,
        conn: Connection,
        ctx: IOContext,
        entry: dict[str, Any],
        *,
        stale: sa.Table | None,
        table: sa.Table | None,
        rows: Rows | None,
    ) -> None:
        """Delete the old rows and upsert the entry in one statement, then ``COPY`` the rows.

        ``COPY`` even for one row: a multi-row ``INSERT`` built per save costs more to compile
        than the round trip it saves.
        """
        partition = encode_key(ctx.partition_key)
        statement = self._upsert_statement(ctx, entry)
        if stale is not None:
            old_rows = sa.delete(stale).where(stale.c._partition == partition)
            statement = statement.add_cte(old_rows.cte("old_rows"))
        conn.execute(statement)
        if rows is not None and table is not None:
            copy_rows(conn, table, partition, rows)

    def _lock_shared(self, conn: Connection, ctx: IOContext, known: sa.Table | None) -> None:
        """Take the asset's lock shared and the partition's exclusively; check ``known``.

        Raises:
            StaleTable: the catalog no longer describes ``known`` (another process changed it).
        """
        locks = (
            sa.func.pg_advisory_xact_lock_shared(self._lock_id(ctx.asset_key)),
            sa.func.pg_advisory_xact_lock(self._lock_id(ctx.asset_key, ctx.partition_key)),
        )
        if known is None:
            conn.execute(sa.select(*locks))
            return
        tables, where = self._tables, self._tables.c.table_name == known.name
        catalog = (
            sa.select(tables.c.asset_key).where(where).scalar_subquery(),
            sa.select(tables.c.columns).where(where).scalar_subquery(),
        )  # read in the statement that takes the locks: no extra round trip
        found = conn.execute(sa.select(*locks, *catalog)).one()
        if (found[2], found[3]) != (encode_key(str(ctx.asset_key)), known.info["types"]):
            raise StaleTable

    def _upsert_statement(self, ctx: IOContext, entry: dict[str, Any]) -> Any:
        """Insert or replace the (asset, partition) entry; a plain value clears the row fields."""
        record = {
            "value": None,
            "value_bytes": None,
            "value_type": None,
            "columns": None,
            "row_count": None,
            "logical_schema": None,
            "column_types": None,
            **entry,
        }
        statement = postgresql.insert(self._values).values(
            asset_key=encode_key(str(ctx.asset_key)),
            partition_key=encode_key(ctx.partition_key),
            **record,
        )
        return statement.on_conflict_do_update(
            index_elements=[self._values.c.asset_key, self._values.c.partition_key],
            set_={name: statement.excluded[name] for name in record},
        )

    def _table_to_load(self, conn: Connection, ctx: IOContext, entry: sa.RowMapping) -> sa.Table:
        """The asset's table as known, or from the catalog when it may lack a loaded column."""
        table = self._asset_tables.known.get(ctx.asset_key)
        if table is None or not set(entry["columns"]) <= set(table.c.keys()):
            table = self._asset_tables.find(conn, ctx.asset_key)
        if table is None:
            raise build_error(
                ctx,
                "its rows are recorded but the asset's table is missing from the catalog",
                "Materialize the asset again.",
            )
        return table

    def _load_rows(self, conn: Connection, ctx: IOContext, entry: sa.RowMapping) -> Any:
        table = self._table_to_load(conn, ctx, entry)
        columns = tuple(entry["columns"])
        query = (
            sa.select(*(table.c[column] for column in columns))
            .where(table.c._partition == encode_key(ctx.partition_key))
            .order_by(table.c._row)
        )
        try:
            found = conn.execute(query)
        except DBAPIError as exc:  # no look-up before every read: the error says it was dropped
            if sqlstate(exc) != UNDEFINED_TABLE:
                raise
            self._asset_tables.forget(table.name)
            raise MissingOutputError(
                f"No value is stored for {describe_where(ctx)}: its table {table.name!r} in "
                f"{self._location()} schema {self._schema!r} was dropped. Materialize the asset "
                f"again.",
                asset_key=ctx.asset_key,
                partition_key=ctx.partition_key,
            ) from exc
        records = [dict(zip(columns, row, strict=True)) for row in found]
        restore_types(records, entry["column_types"] or {})
        schema = entry["logical_schema"]
        self._verify(ctx, hash_rows(columns, records, schema), entry["checksum"])
        try:
            return build_value(entry["value_type"], columns, records, schema)
        except ImportError as exc:
            raise build_error(
                ctx,
                f"it was stored as a {entry['value_type']} value but that library is missing",
                f"Install {entry['value_type']} to load it.",
            ) from exc

    def _verify(self, ctx: IOContext, actual: str, recorded: str) -> None:
        if actual != recorded:
            raise build_error(
                ctx,
                f"the stored value fails its checksum (recorded {recorded}, read {actual})",
                "Materialize the asset again; if this repeats, something else edits the table.",
            )

    def _location(self) -> str:
        return format_location(self._url)

    def _describe(self, exc: Exception) -> str:
        return describe_error(self._url, exc)
