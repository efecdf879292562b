"""The records the metadata store persists: runs, materializations, lineage and backfills.

Pydantic models, frozen: they are parsed from and written to the store, and handed to callers
as values. They know nothing about SQL.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from flowstone.keys import AssetKey, PartitionKey

StoredAssetKey = Annotated[
    AssetKey,
    BeforeValidator(AssetKey.parse),
    PlainSerializer(str, return_type=str, when_used="json"),
]
"""An ``AssetKey`` that is given and shown as its ``"group/name"`` string."""


class RunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class MaterializationStatus(StrEnum):
    """The outcome of one (asset, partition) in one run."""

    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"
    """Not run: an input it needs is missing, e.g. an upstream partition never materialized."""

    @property
    def is_attempt(self) -> bool:
        """Whether the asset function ran: only attempts move the ``latest`` row.

        Skipped, cancelled and blocked items never ran, so they say nothing about the stored value.
        """
        return self in (MaterializationStatus.SUCCESS, MaterializationStatus.FAILED)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")


class RunRecord(_Record):
    """One invocation of the runner."""

    run_id: str
    status: RunStatus
    selection: list[str] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class LineageEdge(_Record):
    """One input a materialization read: the exact upstream materialization and its version."""

    upstream_materialization_id: str
    upstream_asset_key: StoredAssetKey
    upstream_partition_key: PartitionKey
    upstream_data_version: str | None = None


class MaterializationRecord(_Record):
    """One (asset, partition) outcome in one run, with what it was built from.

    ``metadata`` is what the asset reported (``context.add_metadata``); ``stored`` is what its I/O
    manager's ``save`` returned (uri, size, checksum). ``sequence`` is assigned by the store when
    the record is written: it is the only notion of "newer" flowstone trusts (never wall-clock).
    """

    materialization_id: str
    asset_key: StoredAssetKey
    partition_key: PartitionKey
    run_id: str
    status: MaterializationStatus
    sequence: int | None = None
    code_version: str | None = None
    data_version: str | None = None
    provenance_version: str | None = None
    uri: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    stored: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    inputs: tuple[LineageEdge, ...] = ()

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class LatestState(_Record):
    """The ``latest`` row of one (asset, partition): its newest attempt and newest success."""

    asset_key: StoredAssetKey
    partition_key: PartitionKey
    latest: MaterializationRecord
    last_success: MaterializationRecord | None = None


class BackfillStatus(StrEnum):
    """Where a backfill stands."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class BackfillRecord(_Record):
    """A request to materialize many (asset, partition) items, carried out by one or more runs.

    ``partitions`` describes the partition set as the user gave it (a range, a list, "all"), so
    the backfill can be shown and resumed without re-deriving it; the exact items it expanded to
    are stored beside it (``get_backfill_items``). ``run_ids`` are oldest first.
    """

    backfill_id: str
    status: BackfillStatus
    selection: list[str] = Field(default_factory=list)
    partitions: dict[str, Any] = Field(default_factory=dict)
    policy: str
    created_at: datetime
    updated_at: datetime
    item_count: int
    run_ids: list[str] = Field(default_factory=list)
