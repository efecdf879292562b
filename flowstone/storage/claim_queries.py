"""Claims: which run computes an item now, so that two processes never compute it at once.

A claim is a row of ``claims`` that lives until the item's record is written (``release_claims``
in the same transaction), until its run ends, or until it expires without being renewed: then
its process is taken for dead and another run may take the item over (a dead process on the same
machine is noticed sooner, by the runner). The caller runs these on a connection
inside a write transaction that serialises claims (``BEGIN IMMEDIATE`` on SQLite, an advisory
transaction lock on PostgreSQL), so the check and the insert see the same state. This module must
not open connections, begin transactions or catch database errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, delete, select, text, update

from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.records import Claim, ClaimOutcome
from flowstone.storage.schema import CHUNK, claims, is_item_in, latest

ItemText = tuple[str, str]
_CLAIM_LOCK: Final = 7_274_657_324
"""PostgreSQL advisory lock key that serialises claims, as ``BEGIN IMMEDIATE`` does on SQLite."""


def lock_claims(conn: Connection) -> None:
    """Serialise claim transactions: on PostgreSQL a transaction-level advisory lock.

    SQLite needs nothing more: the caller's ``BEGIN IMMEDIATE`` already holds the write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})


def claim_items(
    conn: Connection,
    run_id: str,
    holder: str,
    items: Iterable[tuple[AssetKey, PartitionKey]],
    *,
    now: datetime,
    expires_at: datetime,
) -> ClaimOutcome:
    """Claim every item no other live run holds; re-read the newest attempt of those claimed.

    Claims of this run are renewed, expired claims of other runs are taken over.
    """
    wanted = {(str(asset), partition): (asset, partition) for asset, partition in items}
    keys = sorted(wanted)
    claimed: list[tuple[AssetKey, PartitionKey]] = []
    held: dict[tuple[AssetKey, PartitionKey], Claim] = {}
    sequences: dict[tuple[AssetKey, PartitionKey], int] = {}
    dialect = conn.dialect.name
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        found = conn.execute(select(claims).where(is_item_in(claims, chunk, dialect))).mappings()
        ending = 0  # this run's own claims, and expired ones
        for row in found:
            if row["run_id"] != run_id and row["expires_at"] > now:
                key = wanted[row["asset_key"], row["partition_key"]]
                held[key] = Claim(row["run_id"], row["holder"], row["expires_at"])
            else:
                ending += 1
        sequences.update(
            (wanted[key], sequence) for key, sequence in _latest_sequences(conn, chunk).items()
        )
        free = [key for key in chunk if wanted[key] not in held]
        if not free:
            continue
        if ending:  # ours (renewed) and expired ones (taken over) go, then every free one is new
            conn.execute(delete(claims).where(is_item_in(claims, free, dialect)))
        conn.execute(
            claims.insert(),
            [
                {
                    "asset_key": asset,
                    "partition_key": partition,
                    "run_id": run_id,
                    "holder": holder,
                    "claimed_at": now,
                    "expires_at": expires_at,
                }
                for asset, partition in free
            ],
        )
        claimed.extend(wanted[key] for key in free)
    return ClaimOutcome(frozenset(claimed), held, sequences)


def read_live_claims(
    conn: Connection, items: Iterable[tuple[AssetKey, PartitionKey]], *, now: datetime
) -> dict[tuple[AssetKey, PartitionKey], Claim]:
    """The claims on ``items`` that have not expired: which run computes each of them now."""
    wanted = {(str(asset), partition): (asset, partition) for asset, partition in items}
    keys = sorted(wanted)
    found: dict[tuple[AssetKey, PartitionKey], Claim] = {}
    for start in range(0, len(keys), CHUNK):
        where = is_item_in(claims, keys[start : start + CHUNK], conn.dialect.name)
        for row in conn.execute(select(claims).where(where)).mappings():
            if row["expires_at"] > now:
                claim = Claim(row["run_id"], row["holder"], row["expires_at"])
                found[wanted[row["asset_key"], row["partition_key"]]] = claim
    return found


def renew_claims(conn: Connection, run_id: str, expires_at: datetime) -> int:
    """Move the expiry of every claim of ``run_id``; return how many it still holds."""
    statement = update(claims).where(claims.c.run_id == run_id).values(expires_at=expires_at)
    return conn.execute(statement).rowcount


def release_claims(
    conn: Connection, run_id: str, items: Sequence[tuple[AssetKey, PartitionKey]] | None
) -> None:
    """End the claims of ``run_id`` on ``items`` (all of them when ``None``)."""
    if items is None:
        conn.execute(delete(claims).where(claims.c.run_id == run_id))
        return
    keys = sorted({(str(asset), partition) for asset, partition in items})
    for start in range(0, len(keys), CHUNK):
        where = is_item_in(claims, keys[start : start + CHUNK], conn.dialect.name)
        conn.execute(delete(claims).where(claims.c.run_id == run_id, where))


def _latest_sequences(conn: Connection, keys: Sequence[ItemText]) -> dict[ItemText, int]:
    statement = select(latest.c.asset_key, latest.c.partition_key, latest.c.latest_sequence).where(
        is_item_in(latest, keys, conn.dialect.name)
    )
    return {(asset, partition): sequence for asset, partition, sequence in conn.execute(statement)}
