"""``MetadataStore``: the contract of the system of record.

It records runs, materializations and their lineage, the keys of dynamic partitions, and
backfills.

Only the driver process writes. Every method that touches many items takes them in bulk: the
runner never makes one round trip per item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.records import (
    BackfillRecord,
    BackfillStatus,
    BreakdownEntry,
    Claim,
    ClaimOutcome,
    CodeKey,
    LatestState,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
    VersionState,
)


@runtime_checkable
class MetadataStore(Protocol):
    """Persists runs, materializations with lineage, dynamic partitions and backfills."""

    def add_run(self, run: RunRecord) -> None:
        """Record a run that has started."""
        ...

    def finish_run(self, run_id: str, status: RunStatus, finished_at: datetime) -> None:
        """Record how a run ended."""
        ...

    def add_materializations(
        self, records: Sequence[MaterializationRecord]
    ) -> list[MaterializationRecord]:
        """Write records, their lineage edges and ``latest`` rows in one transaction.

        Assigns each record the next sequence number, in the given order, and returns the
        records with ``sequence`` set. Only attempts (success, failed) move ``latest``. Ends the
        claims of the records' runs on their items.
        """
        ...

    def claim_items(
        self,
        run_id: str,
        holder: str,
        items: Sequence[tuple[AssetKey, PartitionKey]],
        *,
        lease_seconds: float,
    ) -> ClaimOutcome:
        """Claim for ``run_id`` every item no other live run holds, for ``lease_seconds``.

        Claims of this run are renewed and expired ones taken over. Writing an item's record
        (``add_materializations``) ends its run's claim on it in the same transaction.
        """
        ...

    def renew_claims(self, run_id: str, *, lease_seconds: float) -> int:
        """Extend every claim of ``run_id`` by ``lease_seconds`` from now; return how many."""
        ...

    def release_claims(
        self, run_id: str, items: Sequence[tuple[AssetKey, PartitionKey]] | None = None
    ) -> None:
        """End the claims of ``run_id`` on ``items``, or all of them."""
        ...

    def get_claims(
        self, items: Iterable[tuple[AssetKey, PartitionKey]]
    ) -> dict[tuple[AssetKey, PartitionKey], Claim]:
        """The live claims on ``items``: which run computes each of them now."""
        ...

    def get_latest(
        self, items: Iterable[tuple[AssetKey, PartitionKey]]
    ) -> dict[tuple[AssetKey, PartitionKey], LatestState]:
        """The ``latest`` state of each item that has one, in one query per chunk."""
        ...

    def get_version_states(
        self, assets: Iterable[AssetKey], partitions: Iterable[PartitionKey] | None = None
    ) -> dict[tuple[AssetKey, PartitionKey], VersionState]:
        """What staleness needs of every item of ``assets`` that has a ``latest`` row.

        Optionally only the given partitions. Reads without building records, in a number of
        queries that does not grow with the number of items.
        """
        ...

    def add_code_breakdowns(self, breakdowns: Mapping[CodeKey, Sequence[BreakdownEntry]]) -> None:
        """Keep what each (asset, code version) was made of, once: stored ones are left as is."""
        ...

    def get_code_breakdowns(
        self, keys: Iterable[CodeKey]
    ) -> dict[CodeKey, tuple[BreakdownEntry, ...]]:
        """The stored breakdown of each (asset, code version) that has one, in one query."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or ``None`` if there is no such run."""
        ...

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The newest runs first."""
        ...

    def get_history(
        self, asset_key: AssetKey, partition_key: PartitionKey | None = None, limit: int = 50
    ) -> list[MaterializationRecord]:
        """Materializations of an asset (optionally one partition), newest sequence first."""
        ...

    def get_run_materializations(self, run_id: str) -> list[MaterializationRecord]:
        """Every materialization recorded for a run, in sequence order, with lineage."""
        ...

    def add_dynamic_partitions(self, name: str, keys: Sequence[PartitionKey]) -> list[PartitionKey]:
        """Add the keys of ``name`` not stored yet, in order, in one transaction.

        Returns the keys this call added; known and repeated keys are left out. Another process
        adding the same key at the same time is no error: the key is stored once.
        """
        ...

    def remove_dynamic_partitions(
        self, name: str, keys: Sequence[PartitionKey]
    ) -> list[PartitionKey]:
        """Remove keys of ``name``; return those that were stored."""
        ...

    def get_dynamic_partitions(self, names: Iterable[str]) -> dict[str, tuple[PartitionKey, ...]]:
        """The keys of every requested name in the order added (``()`` for none), in one query."""
        ...

    def add_backfill(
        self, backfill: BackfillRecord, items: Sequence[tuple[AssetKey, PartitionKey]]
    ) -> None:
        """Record a backfill and its ordered items in one transaction."""
        ...

    def add_backfill_run(self, backfill_id: str, run_id: str) -> None:
        """Append a run to a backfill's runs; adding one it has already changes nothing."""
        ...

    def update_backfill(
        self, backfill_id: str, status: BackfillStatus, updated_at: datetime
    ) -> None:
        """Record where a backfill stands now."""
        ...

    def get_backfill(self, backfill_id: str) -> BackfillRecord | None:
        """The backfill with its run ids (oldest first), or ``None`` if there is no such one."""
        ...

    def list_backfills(self, limit: int = 20) -> list[BackfillRecord]:
        """The newest backfills first."""
        ...

    def get_backfill_items(self, backfill_id: str) -> list[tuple[AssetKey, PartitionKey]]:
        """A backfill's items in the order they were given."""
        ...

    def get_backfill_outcomes(
        self, backfill_id: str
    ) -> dict[tuple[AssetKey, PartitionKey], MaterializationStatus]:
        """For each item some run of the backfill recorded, the status of its newest record."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
