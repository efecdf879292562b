"""The records the metadata store persists: runs, materializations, lineage and backfills.

Pydantic models, frozen: they are parsed from and written to the store, and handed to callers
as values. The version states read to judge staleness are frozen slots dataclasses instead: they
are read by the hundred thousand and only ever built by the store, so they skip validation. They
know nothing about SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    UNCHANGED = "unchanged"
    """Not run: its inputs were recomputed with identical values, so its stored value is current."""
    LOST = "lost"
    """Its last success's stored value was found missing (e.g. the file was deleted): it must be
    computed again before anything can read it."""

    @property
    def is_current(self) -> bool:
        """Whether the item's stored value is current after the run: stored, or cut off."""
        return self in (MaterializationStatus.SUCCESS, MaterializationStatus.UNCHANGED)

    @property
    def is_attempt(self) -> bool:
        """Whether the record says something about the stored value: only those move the
        ``latest`` row (a success, a failure, or a stored value found lost).

        Skipped, cancelled and blocked items never ran, so they say nothing about the stored value.
        """
        return self in (
            MaterializationStatus.SUCCESS,
            MaterializationStatus.FAILED,
            MaterializationStatus.LOST,
        )


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


BreakdownEntry = tuple[str, str, str]
"""One part of a code version: (qualified name, kind, digest)."""
CodeKey = tuple[AssetKey, str]
"""An asset and one of its code versions: what a code breakdown is stored under."""


@dataclass(frozen=True, slots=True)
class InputVersion:
    """One input of a last success: what staleness compares with the input's current version.

    ``asset_key`` is the key's ``"group/name"`` text: parsing it for every edge of a bulk read
    would cost more than the comparison it serves.
    """

    asset_key: str
    partition_key: PartitionKey
    data_version: str | None


@dataclass(frozen=True, slots=True)
class VersionState:
    """What staleness needs of one (asset, partition): its newest attempt and its last success.

    ``latest_status`` and ``latest_sequence`` belong to the newest attempt (success or failed);
    the other fields to the newest success, all ``None`` (and no ``inputs``) when there is none.
    ``inputs`` are in the order the success recorded them.
    """

    latest_status: MaterializationStatus
    latest_sequence: int
    success_id: str | None
    success_sequence: int | None
    code_version: str | None
    data_version: str | None
    provenance_version: str | None
    inputs: tuple[InputVersion, ...]


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


@dataclass(frozen=True, slots=True)
class Claim:
    """An item another run is computing now: which run, where, and until when unless renewed."""

    run_id: str
    holder: str
    """``host:pid`` of the process, for messages."""
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """What one claim of many items got.

    ``claimed`` are the items this run now holds, ``held`` those other live runs hold.
    ``sequences`` gives every asked item's newest attempt read under the claim (items without one
    are left out): a number that differs from the one a run planned with means another run
    materialized the item since.
    """

    claimed: frozenset[tuple[AssetKey, PartitionKey]]
    held: dict[tuple[AssetKey, PartitionKey], Claim]
    sequences: dict[tuple[AssetKey, PartitionKey], int]
