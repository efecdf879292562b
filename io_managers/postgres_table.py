"""The asset tables of one ``PostgresIOManager``: their shapes, what it knows of them, and
their creation and widening under the asset's exclusive lock.

It owns the ``sa.Table`` of each asset (one object per name and columns, so statements on it
are compiled once), what this instance has seen in the catalog, and the DDL that creates a table
or changes its columns. It takes no lock itself: its callers hold the asset's lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowstone.io import IOContext
from flowstone.keys import AssetKey
from io_managers.postgres_layout import (
    SQL_TYPES,
    AddColumn,
    AlterColumnType,
    Rows,
    compute_table_name,
    encode_key,
)
from io_managers.postgres_message import build_error, build_refusal
from io_managers.postgres_widening import (
    EXACT_LIMIT,
    TableType,
    Widening,
    WideningRefusal,
    plan_columns,
    refuse_inexact,
)


class StaleTable(Exception):
    """The asset's table changed since this instance saw it: save again on the exclusive path."""


def fits_table(table: sa.Table, rows: Rows) -> bool:
    """Whether ``rows`` go into ``table`` as it is: no new column, no widening."""
    try:
        columns, widenings = plan_columns(table.info["types"], rows)
    except WideningRefusal:
        return False  # the exclusive path reads the catalog again and refuses with the details
    return not widenings and columns == table.info["types"]


class AssetTables:
    """Each asset's table as far as this manager knows it, and the DDL that changes it."""

    def __init__(self, schema: str, catalog: sa.Table) -> None:
        self._schema = schema
        self._catalog = catalog
        self._checked: set[str] = set()
        """Tables this instance created or found: a save looks a table up only the first time,
        and again once a load or ``exists`` found it dropped (a save then creates it again)."""
        self.known: dict[AssetKey, sa.Table] = {}
        """Each asset's table as this instance last saw it in the catalog: a save whose rows fit
        it needs no catalog look-up and takes the asset's lock shared only."""
        self._shapes: dict[tuple[str, tuple[tuple[str, TableType], ...]], sa.Table] = {}
        """One ``Table`` per name and columns, so its statements are compiled only once."""

    def find(self, conn: Connection, asset_key: AssetKey) -> sa.Table | None:
        found = conn.execute(
            sa.select(self._catalog.c.table_name, self._catalog.c.columns).where(
                self._catalog.c.asset_key == encode_key(str(asset_key))
            )
        ).first()
        if found is None:
            return None
        return self.table(found.table_name, found.columns)

    def exists(self, conn: Connection, table: sa.Table, *, cached: bool = False) -> bool:
        """Whether ``table`` is in the database (``cached``: as far as this instance knows)."""
        if cached and table.name in self._checked:
            return True
        qualified = conn.dialect.identifier_preparer.format_table(table)
        name = sa.cast(sa.literal(qualified), sa.Text)
        if conn.execute(sa.select(sa.func.to_regclass(name))).scalar() is not None:
            self._checked.add(table.name)
            return True
        self.forget(table.name)
        return False

    def forget(self, table_name: str) -> None:
        """Forget what this instance knew of a table found dropped: the next save looks it up."""
        self._checked.discard(table_name)
        for asset_key, table in list(self.known.items()):
            if table.name == table_name:
                self.known.pop(asset_key, None)

    def table(self, name: str, columns: Mapping[str, TableType]) -> sa.Table:
        """The asset's table as the catalog records it; ``info["types"]`` holds its types."""
        shape = (name, tuple(columns.items()))
        if (cached := self._shapes.get(shape)) is not None:
            return cached
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        table = sa.Table(
            name,
            sa.MetaData(schema=self._schema),
            sa.Column("_partition", sa.Text, nullable=False),
            sa.Column("_row", sa.BigInteger, nullable=False),
            *(
                sa.Column(column, SQL_TYPES["text" if kind == "unknown" else kind])
                for column, kind in columns.items()
            ),
            info={"types": dict(columns)},
        )
        sa.Index(f"_flowstone_ix_{digest}", table.c._partition, table.c._row)
        return self._shapes.setdefault(shape, table)

    def prepare(self, conn: Connection, ctx: IOContext, rows: Rows) -> sa.Table:
        """The asset's table, created or widened for these rows; refuses a name clash."""
        name, key = compute_table_name(ctx.asset_key), encode_key(str(ctx.asset_key))
        catalog = self._catalog
        found = conn.execute(
            sa.select(catalog.c.asset_key, catalog.c.columns).where(catalog.c.table_name == name)
        ).first()
        if found is not None and found.asset_key != key:
            raise build_error(
                ctx,
                f"its table name {name!r} already belongs to asset {found.asset_key!r}",
                "Rename one of the two assets or give one of them another schema.",
            )
        existing: dict[str, TableType] = dict(found.columns) if found is not None else {}
        try:
            columns, widenings = plan_columns(existing, rows)
        except WideningRefusal as exc:
            raise build_refusal(ctx, exc) from exc
        table = self.table(name, columns)
        created = found is None or not self.exists(conn, table, cached=True)
        if created:  # a new asset, or one whose table was dropped behind the catalog's back
            table.create(conn, checkfirst=True)
            self._checked.add(name)
        if found is None:
            conn.execute(sa.insert(catalog).values(asset_key=key, table_name=name, columns=columns))
        elif columns != existing:
            for column in columns.keys() - existing.keys() if not created else ():
                conn.execute(AddColumn(table, table.c[column]))
            for widening in widenings if not created else ():
                self._widen(conn, ctx, table, widening)
            conn.execute(
                sa.update(catalog).where(catalog.c.asset_key == key).values(columns=columns)
            )
        return table

    def _widen(self, conn: Connection, ctx: IOContext, table: sa.Table, widening: Widening) -> None:
        """Change a column's type in this transaction, unless a stored value would change."""
        column = table.c[widening.column]
        if widening.check_exact:
            inexact = sa.select(table.c._partition).where(sa.func.abs(column) > EXACT_LIMIT)
            partition = conn.execute(inexact.limit(1)).scalar()
            if partition is not None:
                raise build_refusal(ctx, refuse_inexact(widening.column, partition))
        conn.execute(AlterColumnType(table, column))
