"""Partition definitions and keys (pure: no clock reads outside explicit arguments, no I/O)."""

from flowstone.partitions.definition import PartitionsDefinition, StaticPartitions

__all__ = ["PartitionsDefinition", "StaticPartitions"]
