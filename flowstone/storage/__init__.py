"""The metadata store: runs, materializations, lineage and ``latest`` rows."""

from flowstone.storage.protocol import MetadataStore
from flowstone.storage.records import (
    LatestState,
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
)
from flowstone.storage.sql import SqlMetadataStore

__all__ = [
    "LatestState",
    "LineageEdge",
    "MaterializationRecord",
    "MaterializationStatus",
    "MetadataStore",
    "RunRecord",
    "RunStatus",
    "SqlMetadataStore",
]
