"""``MetadataStore``: the contract of the system of record for runs, materializations and lineage.

Only the driver process writes. Every method that touches many items takes them in bulk: the
runner never makes one round trip per item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage.records import (
    LatestState,
    MaterializationRecord,
    RunRecord,
    RunStatus,
)


@runtime_checkable
class MetadataStore(Protocol):
    """Persists runs and materializations with lineage, and answers questions about them."""

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
        records with ``sequence`` set. Only attempts (success, failed) move ``latest``.
        """
        ...

    def get_latest(
        self, items: Iterable[tuple[AssetKey, PartitionKey]]
    ) -> dict[tuple[AssetKey, PartitionKey], LatestState]:
        """The ``latest`` state of each item that has one, in one query per chunk."""
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

    def close(self) -> None:
        """Release connections."""
        ...
