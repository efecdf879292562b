"""Partition definitions, keys, ranges and mappings (pure: no clock reads outside explicit
arguments, no I/O)."""

from flowstone.partitions.definition import (
    PartitionsDefinition,
    PartitionState,
    StaticPartitions,
    collect_dynamic_names,
)
from flowstone.partitions.dynamic import DynamicPartitions
from flowstone.partitions.mapping import (
    AllPartitions,
    DimensionMapping,
    Identity,
    LastPartition,
    MappedKeys,
    MultiMapping,
    PartitionMapping,
    StaticMapping,
    TimeWindowMapping,
    default_mapping,
)
from flowstone.partitions.multi import MultiPartitions
from flowstone.partitions.time_window import (
    DailyPartitions,
    Grain,
    HourlyPartitions,
    MonthlyPartitions,
    TimeWindow,
    TimeWindowPartitions,
    WeeklyPartitions,
)

__all__ = [
    "AllPartitions",
    "DailyPartitions",
    "DimensionMapping",
    "DynamicPartitions",
    "Grain",
    "HourlyPartitions",
    "Identity",
    "LastPartition",
    "MappedKeys",
    "MonthlyPartitions",
    "MultiMapping",
    "MultiPartitions",
    "PartitionMapping",
    "PartitionState",
    "PartitionsDefinition",
    "StaticMapping",
    "StaticPartitions",
    "TimeWindow",
    "TimeWindowMapping",
    "TimeWindowPartitions",
    "WeeklyPartitions",
    "collect_dynamic_names",
    "default_mapping",
]
