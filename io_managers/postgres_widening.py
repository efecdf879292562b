"""How an asset table's column types follow values whose types drift from partition to partition.

It owns the rules, pure and testable without a server: a column that held only ``None`` so far
(``unknown``) takes the first real type it meets; ``bigint`` widens to ``double`` when integers
meet floats, as long as every integer is exact as a double (at most 2**53 in magnitude); any
other change is refused. Each partition records the types it was saved with, so a partition of
integers loads back as integers after its column was widened. It runs no SQL of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from io_managers.postgres_layout import ColumnType, Rows

TableType: TypeAlias = ColumnType | Literal["unknown"]
"""A table column's type in the catalog; ``unknown`` while it has held only ``None``."""

UNKNOWN: Final = "unknown"
EXACT_LIMIT: Final = 2**53
"""Integers up to this magnitude are exact as doubles; larger ones would be rounded."""


class WideningRefusal(Exception):
    """A column whose new values cannot share the table's column without losing values."""

    def __init__(self, column: str, what: str, fix: str) -> None:
        super().__init__(f"column {column!r} {what}. {fix}.")
        self.column, self.what, self.fix = column, f"column {column!r} {what}", fix


@dataclass(frozen=True, slots=True)
class Widening:
    """A column whose table type changes; ``check_exact``: its stored integers must fit."""

    column: str
    to_type: ColumnType
    check_exact: bool


def plan_columns(
    existing: Mapping[str, TableType], rows: Rows
) -> tuple[dict[str, TableType], list[Widening]]:
    """The table's columns after adding ``rows``, and the existing columns that must widen.

    Raises:
        WideningRefusal: a column's new values would lose values in, or be lost by, the table.
    """
    merged: dict[str, TableType] = dict(existing)
    widenings: list[Widening] = []
    for column, kind in zip(rows.columns, rows.types, strict=True):
        have = merged.get(column)
        if have is None:
            merged[column] = kind or UNKNOWN
        elif kind is None or kind == have:
            continue
        elif have == UNKNOWN:
            merged[column] = kind
            widenings.append(Widening(column, kind, check_exact=False))
        elif (have, kind) == ("bigint", "double"):
            merged[column] = "double"
            widenings.append(Widening(column, "double", check_exact=True))
        elif (have, kind) == ("double", "bigint"):
            _check_exact(column, [record[column] for record in rows.records])
        else:
            raise WideningRefusal(
                column,
                f"now holds {kind} values but the table stores {have}, and widening {have} "
                f"to {kind} would lose values",
                f"Convert the column back to {have} values, or store the asset under a new key",
            )
    return merged, widenings


def refuse_inexact(column: str, partition: str) -> WideningRefusal:
    """The refusal of a bigint column with an integer beyond 2**53 in ``partition``."""
    return WideningRefusal(
        column,
        f"now holds floats but partition {partition!r} stores integers beyond 2**53 in it, "
        "which a double would round",
        "Save floats as integers (or as text) in this column, or store the asset under a new key",
    )


def restore_types(records: list[dict[str, Any]], saved: Mapping[str, ColumnType | None]) -> None:
    """Give integers back to a partition saved as ``bigint`` whose column is now ``double``.

    It looks at the values, not the table, so a table widened since it was last looked up needs
    no look-up: a float in a column saved as ``bigint`` can only come from a widening.
    """
    widened = [column for column, kind in saved.items() if kind == "bigint"]
    for record in records:
        for column in widened:
            value = record[column]
            if isinstance(value, float):
                record[column] = int(value)


def _check_exact(column: str, values: list[Any]) -> None:
    if any(value is not None and abs(value) > EXACT_LIMIT for value in values):
        raise WideningRefusal(
            column,
            "now holds integers beyond 2**53 but the table stores doubles, which would round them",
            "Save them as floats (or as text), or store the asset under a new key",
        )
