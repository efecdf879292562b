"""The plan of a run: which (asset, partition) items run, what each reads, and why.

This is the one place where the graph, the store and versions meet. Building a plan reads the
store (the last successes of inputs outside the selection) but runs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from flowstone.definitions import AssetDef, Dependency
from flowstone.errors import DefinitionError
from flowstone.graph import AssetGraph
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.storage import LineageEdge, MaterializationRecord, MetadataStore

ItemKey: TypeAlias = tuple[AssetKey, PartitionKey]


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One parameter of an asset function and the upstream items it receives.

    ``fan_in`` inputs receive ``dict[partition_key, value]``; the others receive the value.
    """

    parameter: str
    upstream: tuple[ItemKey, ...]
    fan_in: bool = False


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One (asset, partition) to materialize, with its inputs and why it runs (or cannot)."""

    key: ItemKey
    inputs: tuple[InputSpec, ...]
    reason: str
    blocked: str | None = None

    @property
    def asset_key(self) -> AssetKey:
        return self.key[0]

    @property
    def partition_key(self) -> PartitionKey:
        return self.key[1]


@dataclass(frozen=True, slots=True)
class Plan:
    """Items in a dependency-respecting order, and the stored inputs read from outside it."""

    graph: AssetGraph
    items: tuple[PlanItem, ...]
    external: Mapping[ItemKey, MaterializationRecord] = field(default_factory=dict)

    def asset(self, key: AssetKey) -> AssetDef[Any, Any]:
        return self.graph.get(key)

    @property
    def assets_read_or_written(self) -> set[AssetKey]:
        """Every asset the run stores or loads: the selection and its direct inputs."""
        read = {up[0] for item in self.items for spec in item.inputs for up in spec.upstream}
        return read | set(self.selection)

    @property
    def selection(self) -> list[AssetKey]:
        """The selected assets, in order, each once."""
        return list(dict.fromkeys(item.asset_key for item in self.items))


def iter_partition_keys(
    definition: AssetDef[Any, Any], only: Sequence[PartitionKey] | None = None
) -> list[PartitionKey]:
    """The partitions of ``definition`` to run: all, or the validated ones in ``only``."""
    if definition.partitions is None:
        return [UNPARTITIONED]
    if only is None:
        return list(definition.partitions.get_partition_keys())
    return [definition.partitions.validate_key(key) for key in only]


def resolve_inputs(
    graph: AssetGraph, definition: AssetDef[Any, Any], partition_key: PartitionKey
) -> tuple[InputSpec, ...]:
    """The upstream items each dependency of ``definition[partition_key]`` reads."""
    return tuple(
        _resolve_dependency(graph, definition, dependency, partition_key)
        for dependency in definition.dependencies
    )


def _resolve_dependency(
    graph: AssetGraph,
    definition: AssetDef[Any, Any],
    dependency: Dependency,
    partition_key: PartitionKey,
) -> InputSpec:
    upstream = graph.get(dependency.asset_key)
    name = dependency.parameter
    if upstream.partitions is None:
        return InputSpec(name, ((upstream.key, UNPARTITIONED),))
    if definition.partitions is None:
        keys = upstream.partitions.get_partition_keys()
        return InputSpec(name, tuple((upstream.key, key) for key in keys), fan_in=True)
    if upstream.partitions == definition.partitions:
        return InputSpec(name, ((upstream.key, partition_key),))
    raise DefinitionError(
        f"Asset {definition.label} is partitioned differently from its upstream "
        f"{upstream.label}. Give both the same partitions definition."
    )


def build_plan(
    graph: AssetGraph,
    selection: Iterable[AssetKey],
    store: MetadataStore,
    *,
    partitions: Sequence[PartitionKey] | None = None,
) -> Plan:
    """Plan every partition of the selected assets (or only ``partitions`` of partitioned ones).

    Inputs outside the plan are read from their last successful materialization; an item whose
    such input was never materialized is planned as blocked, with the reason.
    """
    items: list[PlanItem] = []
    for asset_key in graph.topological_order(list(selection)):
        definition = graph.get(asset_key)
        for partition_key in iter_partition_keys(definition, partitions):
            inputs = resolve_inputs(graph, definition, partition_key)
            items.append(PlanItem((asset_key, partition_key), inputs, reason="selected"))
    planned = {item.key for item in items}
    outside = {up for item in items for spec in item.inputs for up in spec.upstream} - planned
    latest = store.get_latest(sorted(outside)) if outside else {}
    external = {
        key: state.last_success for key, state in latest.items() if state.last_success is not None
    }
    return Plan(graph, tuple(_mark_blocked(item, planned, external) for item in items), external)


def _mark_blocked(
    item: PlanItem, planned: set[ItemKey], external: Mapping[ItemKey, MaterializationRecord]
) -> PlanItem:
    missing = [
        up
        for spec in item.inputs
        for up in spec.upstream
        if up not in planned and up not in external
    ]
    if not missing:
        return item
    shown = ", ".join(_label(key) for key in missing[:3]) + (" ..." if len(missing) > 3 else "")
    return PlanItem(
        item.key,
        item.inputs,
        item.reason,
        blocked=(
            f"input {shown} has never been materialized; "
            f"add it to the selection (e.g. '+{item.asset_key}')"
        ),
    )


def _label(key: ItemKey) -> str:
    asset_key, partition_key = key
    return str(asset_key) if partition_key == UNPARTITIONED else f"{asset_key}[{partition_key}]"


def lineage_edges(
    item: PlanItem, records: Mapping[ItemKey, MaterializationRecord]
) -> tuple[LineageEdge, ...]:
    """One edge per upstream materialization ``item`` read (an input bound twice is read once)."""
    edges: dict[str, LineageEdge] = {}
    for spec in item.inputs:
        for up in spec.upstream:
            record = records.get(up)
            if record is None or record.materialization_id in edges:
                continue
            edges[record.materialization_id] = LineageEdge(
                upstream_materialization_id=record.materialization_id,
                upstream_asset_key=up[0],
                upstream_partition_key=up[1],
                upstream_data_version=record.data_version,
            )
    return tuple(edges.values())
