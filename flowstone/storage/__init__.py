"""The metadata store: runs, materializations, lineage, ``latest`` rows, dynamic partitions and
backfills."""

from flowstone.storage.engine import mask_url
from flowstone.storage.protocol import MetadataStore
from flowstone.storage.records import (
    BackfillRecord,
    BackfillStatus,
    BreakdownEntry,
    Claim,
    ClaimOutcome,
    CodeKey,
    InputVersion,
    LatestState,
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
    VersionState,
)
from flowstone.storage.sql import SqlMetadataStore

__all__ = [
    "BackfillRecord",
    "BackfillStatus",
    "BreakdownEntry",
    "Claim",
    "ClaimOutcome",
    "CodeKey",
    "InputVersion",
    "LatestState",
    "LineageEdge",
    "MaterializationRecord",
    "MaterializationStatus",
    "MetadataStore",
    "RunRecord",
    "RunStatus",
    "SqlMetadataStore",
    "VersionState",
    "mask_url",
]
