"""The public API is pinned: ``flowstone.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import types

import flowstone

EXPECTED = {
    "Freshness",
    "Output",
    "StatusReport",
    "status",
    "DimensionMapping",
    "add_dynamic_partitions",
    "backfill_async",
    "get_dynamic_partitions",
    "remove_dynamic_partitions",
    "ALL_PARTITIONS",
    "AllPartitions",
    "BackfillError",
    "BackfillResult",
    "BackfillStatus",
    "DailyPartitions",
    "DynamicPartitions",
    "HourlyPartitions",
    "Identity",
    "LastPartition",
    "MonthlyPartitions",
    "MultiMapping",
    "MultiPartitions",
    "PartitionRange",
    "StaticMapping",
    "TimeWindow",
    "TimeWindowMapping",
    "WeeklyPartitions",
    "backfill",
    "resume_backfill",
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
    "FlowstoneWarning",
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
    "ExecutorError",
    "StorageError",
    "asset",
    "materialize",
    "materialize_async",
}


def _isort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then functions (the order ``ruff`` keeps)."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def test_all_is_sorted_and_pinned() -> None:
    assert flowstone.__all__ == sorted(flowstone.__all__, key=_isort_key)
    assert set(flowstone.__all__) == EXPECTED


def test_every_public_name_is_exported_and_resolves() -> None:
    public = {
        name
        for name, value in vars(flowstone).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(flowstone.__all__)
    for name in flowstone.__all__:
        assert getattr(flowstone, name) is not None
