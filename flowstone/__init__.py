"""flowstone: asset-first data orchestration with lineage-driven, stale-only recomputation.

Example:
    >>> from flowstone import asset, materialize
    >>> @asset
    ... def numbers() -> list[int]:
    ...     return [1, 2, 3]
    >>> @asset(depends_on=[numbers])
    ... def total(numbers: list[int]) -> int:
    ...     return sum(numbers)
    >>> materialize().success
    True
"""

from flowstone.definitions import (
    AssetContext,
    AssetDef,
    Definitions,
    Registry,
    RetryPolicy,
    asset,
)
from flowstone.errors import (
    ConfigError,
    CycleError,
    DefinitionError,
    FlowstoneError,
    IOManagerError,
    MissingOutputError,
    PartitionError,
    RunError,
    SelectionError,
    StorageError,
)
from flowstone.execution import ItemResult, RunResult, materialize, materialize_async
from flowstone.graph import AssetGraph
from flowstone.io import IOContext, IOManager
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.partitions import PartitionsDefinition, StaticPartitions
from flowstone.storage import MaterializationStatus, RunStatus

__all__ = [
    "UNPARTITIONED",
    "AssetContext",
    "AssetDef",
    "AssetGraph",
    "AssetKey",
    "ConfigError",
    "CycleError",
    "DefinitionError",
    "Definitions",
    "FlowstoneError",
    "IOContext",
    "IOManager",
    "IOManagerError",
    "ItemResult",
    "MaterializationStatus",
    "MissingOutputError",
    "PartitionError",
    "PartitionsDefinition",
    "Registry",
    "RetryPolicy",
    "RunError",
    "RunResult",
    "RunStatus",
    "SelectionError",
    "StaticPartitions",
    "StorageError",
    "asset",
    "materialize",
    "materialize_async",
]
