"""Reading version states in bulk: what staleness needs of every item of many assets.

This module builds and runs the query that reads, for each ``latest`` row of the given assets,
the newest attempt's status, the last success's versions and that success's lineage edges, and
turns the rows into ``VersionState`` values without pydantic (status reads 100,000 items at a
time). It must not open connections, begin transactions or catch database errors
(``flowstone.storage.sql`` does that), nor write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

from sqlalchemy import Connection, Select, and_, select

from flowstone.collector import collector_paused
from flowstone.errors import StorageError
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.records import InputVersion, MaterializationStatus, VersionState
from flowstone.storage.schema import CHUNK, is_in, latest, lineage, materializations

_STATUSES: Final = {status.value: status for status in MaterializationStatus}
"""Status text to member: a dict lookup is several times faster than ``Enum.__call__``."""

_success = materializations.alias("success")
_edge = lineage.alias("edge")


def load_version_states(
    conn: Connection, assets: Iterable[AssetKey], partitions: Iterable[PartitionKey] | None
) -> dict[tuple[AssetKey, PartitionKey], VersionState]:
    """The version state of every item of ``assets`` with a ``latest`` row, by partition.

    One query per ``CHUNK`` asset keys (and per ``CHUNK`` partition keys when they are given):
    the count depends on the names asked for, never on how many items they have.
    """
    by_text = {str(key): key for key in assets}
    wanted = None if partitions is None else sorted(set(partitions))
    dialect = conn.dialect.name
    states: dict[tuple[AssetKey, PartitionKey], VersionState] = {}
    for asset_chunk in _chunk(sorted(by_text)):
        for partition_chunk in [None] if wanted is None else _chunk(wanted):
            statement = select_version_rows(asset_chunk, partition_chunk, dialect)
            with collector_paused():
                _collect(conn.execute(statement).all(), by_text, states)
    return states


def select_version_rows(
    asset_keys: Sequence[str], partition_keys: Sequence[str] | None, dialect: str
) -> Select[Any]:
    """One row per (item, input of its last success), or one row for an item without inputs.

    A single statement, so every backend reads the ``latest`` row, its success and the
    success's edges from one snapshot (PostgreSQL's default isolation gives each statement its
    own). Filtering ``latest`` by asset key is a primary-key range scan on both backends, and the
    joins are primary-key lookups (``lineage``'s key starts with ``materialization_id``). No
    ``ORDER BY``: sorting 100,000 rows by text costs more than grouping them here.
    """
    wanted = is_in(latest.c.asset_key, asset_keys, dialect)
    if partition_keys is not None:
        wanted = and_(wanted, is_in(latest.c.partition_key, partition_keys, dialect))
    return (
        select(
            latest.c.asset_key,
            latest.c.partition_key,
            latest.c.latest_status,
            latest.c.latest_sequence,
            latest.c.last_success_id,
            _success.c.sequence,
            _success.c.code_version,
            _success.c.data_version,
            _success.c.provenance_version,
            _edge.c.position,
            _edge.c.upstream_asset_key,
            _edge.c.upstream_partition_key,
            _edge.c.upstream_data_version,
        )
        .select_from(latest)
        .outerjoin(_success, _success.c.materialization_id == latest.c.last_success_id)
        .outerjoin(_edge, _edge.c.materialization_id == latest.c.last_success_id)
        .where(wanted)
    )


def _collect(
    rows: Sequence[Any],
    by_text: dict[str, AssetKey],
    states: dict[tuple[AssetKey, PartitionKey], VersionState],
) -> None:
    """Turn the rows of ``select_version_rows`` into one state per item, inputs in order.

    An item is built from its row without inputs or with its first input (position 0: the
    writer numbers inputs from 0); the rare further inputs are added at the end, in position
    order, since rows come in no particular order.
    """
    further: list[Any] = []
    for row in rows:
        position = row[9]
        if position:  # neither None nor 0
            further.append(row)
        else:
            inputs = () if position is None else (InputVersion(row[10], row[11], row[12]),)
            states[by_text[row[0]], row[1]] = _state(row, inputs)
    if further:
        _add_further_inputs(further, by_text, states)


def _add_further_inputs(
    rows: Sequence[Any],
    by_text: dict[str, AssetKey],
    states: dict[tuple[AssetKey, PartitionKey], VersionState],
) -> None:
    """Append the inputs after the first to their items' states, sorted by position."""
    edges: dict[tuple[AssetKey, PartitionKey], list[tuple[int, InputVersion]]] = {}
    for row in rows:
        key = (by_text[row[0]], row[1])
        if key not in states:  # its first input is gone: keep what is left rather than fail
            states[key] = _state(row, ())
        edges.setdefault(key, []).append((row[9], InputVersion(row[10], row[11], row[12])))
    for key, found in edges.items():
        found.sort(key=_position)
        state = states[key]
        states[key] = replace(state, inputs=state.inputs + tuple(edge for _, edge in found))


def _state(row: Sequence[Any], inputs: tuple[InputVersion, ...]) -> VersionState:
    """The state in a row of ``select_version_rows``, with the given inputs."""
    status = _STATUSES.get(row[2])
    if status is None:
        raise StorageError(
            f"The latest row of asset {row[0]!r}, partition {row[1]!r} has an unknown status "
            f"{row[2]!r}. The store was written by a newer flowstone or edited by hand: upgrade "
            "flowstone, or rematerialize the item to replace the row."
        )
    return VersionState(status, row[3], row[4], row[5], row[6], row[7], row[8], inputs)


def _position(edge: tuple[int, InputVersion]) -> int:
    return edge[0]


def _chunk(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[start : start + CHUNK] for start in range(0, len(values), CHUNK)]
