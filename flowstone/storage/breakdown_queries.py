"""Code breakdowns in the SQL metadata store: what each code version of an asset was made of.

A breakdown lists the entries a code version was hashed from (qualified name, kind, digest), so
``status --why`` can name the function, class or constant that changed. It is kept once per
(asset, code version), never per item: a backfill of many partitions writes one row. This module
owns the table and runs its statements on a connection it is given. It must not open
connections, begin transactions or catch database errors: ``flowstone.storage.sql`` does that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Insert,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from flowstone.storage.records import BreakdownEntry, CodeKey
from flowstone.storage.schema import CHUNK, is_in, metadata_obj

code_breakdowns = Table(
    "code_breakdowns",
    metadata_obj,
    Column("asset_key", String, nullable=False),
    Column("code_version", String, nullable=False),
    # [[qualified name, kind, digest], ...] in the order the code version was hashed from
    Column("entries", JSON, nullable=False),
    PrimaryKeyConstraint("asset_key", "code_version"),
)


def save_code_breakdowns(
    conn: Connection, breakdowns: Mapping[CodeKey, Sequence[BreakdownEntry]]
) -> None:
    """Insert the breakdowns not stored yet; a stored one is left as it is (it cannot differ)."""
    rows = [
        {"asset_key": str(asset), "code_version": version, "entries": [list(e) for e in entries]}
        for (asset, version), entries in breakdowns.items()
    ]
    if rows:
        conn.execute(_insert_if_absent(conn.dialect.name), rows)


def load_code_breakdowns(
    conn: Connection, keys: Iterable[CodeKey]
) -> dict[CodeKey, tuple[BreakdownEntry, ...]]:
    """The stored breakdown of each (asset, code version) that has one, in one query per chunk."""
    wanted = {(str(asset), version): (asset, version) for asset, version in keys}
    pairs = sorted(wanted)
    found: dict[CodeKey, tuple[BreakdownEntry, ...]] = {}
    for start in range(0, len(pairs), CHUNK):
        statement = _select(pairs[start : start + CHUNK], conn.dialect.name)
        for asset_text, version, entries in conn.execute(statement):
            found[wanted[asset_text, version]] = tuple(_entry(entry) for entry in entries)
    return found


def _select(pairs: Sequence[tuple[str, str]], dialect: str) -> Any:
    by_asset: dict[str, list[str]] = {}
    for asset_text, version in pairs:
        by_asset.setdefault(asset_text, []).append(version)
    table = code_breakdowns
    terms = [
        and_(table.c.asset_key == text, is_in(table.c.code_version, versions, dialect))
        for text, versions in by_asset.items()
    ]
    return select(table.c.asset_key, table.c.code_version, table.c.entries).where(or_(*terms))


def _insert_if_absent(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(code_breakdowns).on_conflict_do_nothing()
    return sqlite.insert(code_breakdowns).on_conflict_do_nothing()


def _entry(value: Sequence[str]) -> BreakdownEntry:
    name, kind, digest = value
    return (str(name), str(kind), str(digest))
