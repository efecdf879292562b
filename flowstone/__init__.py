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
    Output,
    Registry,
    RetryPolicy,
    asset,
)
from flowstone.errors import (
    BackfillError,
    ConfigError,
    CycleError,
    DefinitionError,
    ExecutorError,
    FlowstoneError,
    FlowstoneWarning,
    IOManagerError,
    MissingOutputError,
    PartitionError,
    RunError,
    SelectionError,
    StorageError,
)
from flowstone.execution import (
    ALL_PARTITIONS,
    BackfillResult,
    ItemResult,
    PartitionRange,
    RunResult,
    StatusReport,
    add_dynamic_partitions,
    backfill,
    backfill_async,
    get_dynamic_partitions,
    materialize,
    materialize_async,
    remove_dynamic_partitions,
    resume_backfill,
    status,
)
from flowstone.graph import AssetGraph
from flowstone.io import IOContext, IOManager
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.partitions import (
    AllPartitions,
    DailyPartitions,
    DimensionMapping,
    DynamicPartitions,
    HourlyPartitions,
    Identity,
    LastPartition,
    MonthlyPartitions,
    MultiMapping,
    MultiPartitions,
    PartitionsDefinition,
    StaticMapping,
    StaticPartitions,
    TimeWindow,
    TimeWindowMapping,
    WeeklyPartitions,
)
from flowstone.storage import BackfillStatus, MaterializationStatus, RunStatus
from flowstone.versioning import Freshness

__all__ = [
    "ALL_PARTITIONS",
    "UNPARTITIONED",
    "AllPartitions",
    "AssetContext",
    "AssetDef",
    "AssetGraph",
    "AssetKey",
    "BackfillError",
    "BackfillResult",
    "BackfillStatus",
    "ConfigError",
    "CycleError",
    "DailyPartitions",
    "DefinitionError",
    "Definitions",
    "DimensionMapping",
    "DynamicPartitions",
    "ExecutorError",
    "FlowstoneError",
    "FlowstoneWarning",
    "Freshness",
    "HourlyPartitions",
    "IOContext",
    "IOManager",
    "IOManagerError",
    "Identity",
    "ItemResult",
    "LastPartition",
    "MaterializationStatus",
    "MissingOutputError",
    "MonthlyPartitions",
    "MultiMapping",
    "MultiPartitions",
    "Output",
    "PartitionError",
    "PartitionRange",
    "PartitionsDefinition",
    "Registry",
    "RetryPolicy",
    "RunError",
    "RunResult",
    "RunStatus",
    "SelectionError",
    "StaticMapping",
    "StaticPartitions",
    "StatusReport",
    "StorageError",
    "TimeWindow",
    "TimeWindowMapping",
    "WeeklyPartitions",
    "add_dynamic_partitions",
    "asset",
    "backfill",
    "backfill_async",
    "get_dynamic_partitions",
    "materialize",
    "materialize_async",
    "remove_dynamic_partitions",
    "resume_backfill",
    "status",
]
