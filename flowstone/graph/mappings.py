"""Which partition mapping each dependency uses, checked once when the graph is built.

A dependency without an explicit mapping gets the default for its two partitions definitions
(identity, grain change, fan-in). A mapping that cannot fit the definitions is a definition
error with the asset's ``file:line``, raised before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from flowstone.definitions import AssetDef, Dependency
from flowstone.errors import DefinitionError, PartitionError
from flowstone.keys import AssetKey
from flowstone.partitions import PartitionsDefinition
from flowstone.partitions.mapping import PartitionMapping, default_mapping

MappingKey: TypeAlias = tuple[AssetKey, str]
"""(downstream asset, parameter): one dependency edge."""


def resolve_mappings(
    by_key: Mapping[AssetKey, AssetDef[Any, Any]],
) -> dict[MappingKey, PartitionMapping]:
    """The mapping of every dependency of every asset.

    Raises:
        DefinitionError: a mapping does not fit, or no default exists for the two definitions.
    """
    mappings: dict[MappingKey, PartitionMapping] = {}
    for key, definition in by_key.items():
        for dependency in definition.dependencies:
            upstream = by_key[dependency.asset_key]
            mapping = dependency.mapping or default_mapping(
                definition.partitions, upstream.partitions
            )
            if mapping is None:
                raise _no_mapping_error(definition, upstream, dependency)
            _check(definition, upstream, mapping)
            mappings[key, dependency.parameter] = mapping
    return mappings


def _no_mapping_error(
    definition: AssetDef[Any, Any], upstream: AssetDef[Any, Any], dependency: Dependency
) -> DefinitionError:
    example = f"AllPartitions({upstream.name})"
    if dependency.loads:
        where = f"depends_on, e.g. {{{dependency.parameter!r}: {example}}}"
    else:
        where = f"deps, e.g. deps=[{example}]"
    return DefinitionError(
        f"Asset {definition.label} is partitioned differently from its upstream "
        f"{upstream.label} ({_describe(definition.partitions)} vs "
        f"{_describe(upstream.partitions)}), and no mapping between them is implied. "
        f"Give one in {where} or StaticMapping(...)."
    )


def _check(
    definition: AssetDef[Any, Any], upstream: AssetDef[Any, Any], mapping: PartitionMapping
) -> None:
    try:
        mapping.check(definition.partitions, upstream.partitions)
    except PartitionError as exc:
        raise DefinitionError(
            f"Asset {definition.label}: the mapping of its dependency on {upstream.key} does not "
            f"fit: {exc}"
        ) from exc


def _describe(partitions: PartitionsDefinition | None) -> str:
    return "unpartitioned" if partitions is None else partitions.describe()
