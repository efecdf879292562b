"""The plan of a run: which (asset, partition) items run, what each reads, and why.

This is the one place where the graph, the store and partitions meet. Building a plan reads the
store (dynamic partition keys, the last successes of inputs outside the plan) but runs nothing.
Assets whose partitions come from a dynamic definition that an upstream asset in the same run may
extend are deferred: the runner plans them once every upstream asset of theirs has finished.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

from flowstone.collector import collector_paused
from flowstone.definitions import AssetDef
from flowstone.execution.asset_versions import AssetVersions, resolve_asset_versions
from flowstone.execution.blockage import describe_cannot_exist, propagate_blocked_by_definition
from flowstone.execution.judgement import (
    judge_items,
    read_code_breakdowns,
    read_version_states,
)
from flowstone.execution.partition_request import PartitionRequest, resolve_partition_keys
from flowstone.graph import AssetGraph
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.partitions import Identity, PartitionState, collect_dynamic_names
from flowstone.storage import LineageEdge, MaterializationRecord, MetadataStore, VersionState
from flowstone.versioning.staleness import Freshness, Verdict

ItemKey: TypeAlias = tuple[AssetKey, PartitionKey]


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One parameter of an asset function and the upstream items it receives.

    ``many`` inputs receive ``dict[partition_key, value]`` in partition order; the others
    receive the value (``None`` when an optional input does not exist). An input that does not
    ``load`` (from ``deps=``) orders the item and is recorded in its lineage, but nothing is
    loaded and no parameter receives it.
    """

    parameter: str
    upstream: tuple[ItemKey, ...]
    many: bool = False
    loads: bool = True


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One (asset, partition) to materialize, with its inputs and why it runs (or cannot)."""

    key: ItemKey
    inputs: tuple[InputSpec, ...]
    reason: str
    blocked: str | None = None
    verdict: Verdict | None = None
    conditional: bool = False
    """Decided when its inputs are done: it runs only if they changed (early cutoff)."""
    blocked_by_definition: str | None = None
    """Set with ``blocked`` when its inputs can never exist: the short reason, shared by the
    items blocked alike. Such an item is never work and never a failure."""
    absent: tuple[ItemKey, ...] = ()
    """Inputs neither in the run nor stored when planned (they block it); another run may be
    computing them, so its inputs are kept whole for judging it again."""

    @property
    def asset_key(self) -> AssetKey:
        return self.key[0]

    @property
    def partition_key(self) -> PartitionKey:
        return self.key[1]


@dataclass(frozen=True, slots=True)
class Plan:
    """Items in a dependency-respecting order, and the stored inputs read from outside it.

    ``deferred`` assets get their items from ``expand`` while the run goes on; ``request`` and
    ``state`` are what their partitions are resolved with.
    """

    graph: AssetGraph
    items: tuple[PlanItem, ...]
    external: Mapping[ItemKey, MaterializationRecord] = field(default_factory=dict)
    state: PartitionState = field(default_factory=PartitionState)
    deferred: tuple[AssetKey, ...] = ()
    request: PartitionRequest = None
    versions: AssetVersions = field(default_factory=AssetVersions)
    states: Mapping[ItemKey, VersionState] = field(default_factory=dict)
    fresh: tuple[ItemKey, ...] = ()
    force: bool = False

    def asset(self, key: AssetKey) -> AssetDef[Any, Any]:
        return self.graph.get(key)

    @property
    def assets_read_or_written(self) -> set[AssetKey]:
        """Every asset the run stores or reads the records of: the selection and its direct
        inputs (those from ``deps=`` too)."""
        return self._with_inputs(loaded_only=False)

    @property
    def assets_loaded_or_written(self) -> set[AssetKey]:
        """Every asset whose I/O manager the run uses: the selection and the inputs it loads."""
        return self._with_inputs(loaded_only=True)

    def _with_inputs(self, *, loaded_only: bool) -> set[AssetKey]:
        direct = {
            dependency.asset_key
            for key in self.selection
            for dependency in self.graph.get(key).dependencies
            if dependency.loads or not loaded_only
        }
        return direct | set(self.selection)

    @property
    def selection(self) -> list[AssetKey]:
        """The selected assets, in order, each once (deferred ones included)."""
        planned = dict.fromkeys(item.asset_key for item in self.items)
        return self.graph.topological_order([*planned, *self.deferred])

    def dynamic_names(self) -> frozenset[str]:
        """The dynamic partitions definitions the selection and its inputs use."""
        return _dynamic_names(self.graph, self.assets_read_or_written)


def build_plan(
    graph: AssetGraph,
    selection: Iterable[AssetKey],
    store: MetadataStore,
    *,
    request: PartitionRequest = None,
    only: Sequence[ItemKey] | None = None,
    now: datetime | None = None,
    defer_dynamic: bool = True,
    versions: AssetVersions | None = None,
    force: bool = False,
) -> Plan:
    """Plan the requested partitions of the selected assets, or exactly the ``only`` items.

    Inputs outside the plan are read from their last successful materialization; an item whose
    such input was never materialized, or whose mapping asks for partitions that cannot exist,
    is planned as blocked, with the reason, unless the dependency allows missing partitions.

    Unless ``force``, items are judged against the store first: fresh ones are left out (their
    dependents read their stored values), stale, missing and failed ones run, and those whose
    only cause is a stale input run only if that input's new value differs (conditional).

    Raises:
        PartitionError: the request does not fit the selected assets' partitions.
    """
    selected = graph.topological_order(list(selection))
    deferred = _deferred_assets(graph, selected) if defer_dynamic and only is None else []
    state = read_partition_state(graph, selected, store, now)
    versions = versions or resolve_asset_versions(graph, selected)
    states: Mapping[ItemKey, VersionState] = {}
    fresh: tuple[ItemKey, ...] = ()
    with collector_paused():  # many small objects, no cycles: see flowstone.collector
        items = _draft(graph, selected, request, only, state, deferred=deferred)
        if not force:
            states = read_version_states(items, store)
            breakdowns = read_code_breakdowns(states, versions, store)
            items, fresh = _judged(items, judge_items(items, states, versions, graph, breakdowns))
    plan = finish_plan(graph, items, store, state=state, deferred=tuple(deferred), request=request)
    return replace(plan, versions=versions, states=states, fresh=fresh, force=force)


def _judged(
    items: Sequence[PlanItem], verdicts: Mapping[ItemKey, Verdict]
) -> tuple[list[PlanItem], tuple[ItemKey, ...]]:
    """The items to run, each with its verdict, and the keys of the fresh ones."""
    run: list[PlanItem] = []
    fresh: list[ItemKey] = []
    for item in items:
        verdict = verdicts[item.key]
        if verdict.status is Freshness.FRESH:
            fresh.append(item.key)
            continue
        conditional = verdict.status is Freshness.UPSTREAM_STALE
        run.append(
            replace(item, reason=verdict.explain(), verdict=verdict, conditional=conditional)
        )
    return run, tuple(fresh)


def draft_plan_items(
    graph: AssetGraph,
    selection: Iterable[AssetKey],
    store: MetadataStore,
    *,
    request: PartitionRequest = None,
) -> list[PlanItem]:
    """Every requested item with the upstream partitions it reads, before inputs outside the
    items are looked up (``blocked`` is set only where an input cannot exist)."""
    selected = graph.topological_order(list(selection))
    state = read_partition_state(graph, selected, store, None)
    return _draft(graph, selected, request, None, state)


def _draft(
    graph: AssetGraph,
    selected: list[AssetKey],
    request: PartitionRequest,
    only: Sequence[ItemKey] | None,
    state: PartitionState,
    *,
    deferred: Sequence[AssetKey] = (),
) -> list[PlanItem]:
    planned_assets = [key for key in selected if key not in deferred]
    if only is None:
        # Every selected asset, deferred ones included, so a bad request fails before anything
        # runs; deferred assets are resolved again when they are planned.
        keys = resolve_partition_keys(graph, selected, request, state)
    else:
        keys = {asset: [] for asset in planned_assets}
        for asset, partition in only:
            keys[asset].append(partition)
    items = [
        item
        for asset_key in planned_assets
        for item in plan_asset_items(graph, asset_key, keys[asset_key], state)
    ]
    return propagate_blocked_by_definition(graph, items)


def read_partition_state(
    graph: AssetGraph, assets: Iterable[AssetKey], store: MetadataStore, now: datetime | None
) -> PartitionState:
    """The time and the dynamic partition keys the partitions of ``assets`` are read with."""
    names = _dynamic_names(graph, _with_inputs(graph, assets))
    dynamic = store.get_dynamic_partitions(sorted(names)) if names else {}
    return PartitionState(now=now or datetime.now(UTC), dynamic=dynamic)


def finish_plan(
    graph: AssetGraph,
    items: Sequence[PlanItem],
    store: MetadataStore,
    *,
    state: PartitionState,
    deferred: tuple[AssetKey, ...] = (),
    request: PartitionRequest = None,
) -> Plan:
    """Look up the stored inputs from outside ``items`` and mark the items that cannot run."""
    planned = {item.key for item in items}
    external = read_external_inputs(items, planned, store)
    conditional = [item.key for item in items if item.conditional]
    if conditional:  # a conditional item that is cut off is read by its dependents as stored
        latest = store.get_latest(conditional)
        external |= {key: found.last_success for key, found in latest.items() if found.last_success}
    assets = {key[0] for key in planned}
    checked = tuple(mark_blocked(graph, item, planned, external, assets) for item in items)
    return Plan(graph, checked, external, state, deferred, request)


def read_external_inputs(
    items: Iterable[PlanItem], planned: Collection[ItemKey], store: MetadataStore
) -> dict[ItemKey, MaterializationRecord]:
    """The last success of every input of ``items`` that is not itself planned."""
    outside = {up for item in items for spec in item.inputs for up in spec.upstream} - set(planned)
    latest = store.get_latest(sorted(outside)) if outside else {}
    return {key: state.last_success for key, state in latest.items() if state.last_success}


def plan_asset_items(
    graph: AssetGraph,
    asset_key: AssetKey,
    partition_keys: Iterable[PartitionKey],
    state: PartitionState,
) -> list[PlanItem]:
    """One item per partition of ``asset_key``, with the upstream partitions each reads."""
    definition = graph.get(asset_key)
    resolved = [
        (dependency, graph.mapping(asset_key, dependency), graph.get(dependency.asset_key))
        for dependency in definition.dependencies
    ]
    # Same partitions on both sides, identity mapping: the key itself, with no lookups (the
    # common case, and the one that dominates planning thousands of partitions).
    same = [
        isinstance(mapping, Identity) and upstream.partitions == definition.partitions
        for _, mapping, upstream in resolved
    ]
    many = [
        mapping.is_many(definition.partitions, upstream.partitions)
        for _, mapping, upstream in resolved
    ]
    items = []
    for partition_key in partition_keys:
        inputs: list[InputSpec] = []
        missing: list[tuple[str, str]] = []
        for index, (dependency, mapping, upstream) in enumerate(resolved):
            if same[index]:
                only = ((upstream.key, partition_key),)
                inputs.append(InputSpec(dependency.parameter, only, False, dependency.loads))
                continue
            found = mapping.upstream_keys(
                definition.partitions, partition_key, upstream.partitions, state
            )
            upstream_items = tuple((upstream.key, key) for key in found.keys)
            inputs.append(
                InputSpec(dependency.parameter, upstream_items, many[index], dependency.loads)
            )
            if found.missing and not mapping.allow_missing:
                missing.append(describe_cannot_exist(upstream, found.missing, state))
        blocked = "; ".join(full for _, full in missing) or None
        short = "; ".join(reason for reason, _ in missing) or None
        key = (asset_key, partition_key)
        items.append(PlanItem(key, tuple(inputs), "selected", blocked, blocked_by_definition=short))
    return items


def mark_blocked(
    graph: AssetGraph,
    item: PlanItem,
    planned: Collection[ItemKey],
    external: Mapping[ItemKey, MaterializationRecord],
    planned_assets: Collection[AssetKey] = (),
) -> PlanItem:
    """Block ``item`` if an input is neither planned nor stored (optional inputs are dropped;
    a blocked item keeps all of them, with ``absent`` naming those that block it)."""
    if item.blocked is not None:
        return item
    inputs: list[InputSpec] = []
    absent: list[ItemKey] = []
    dependencies = {dep.parameter: dep for dep in graph.get(item.asset_key).dependencies}
    for spec in item.inputs:
        present = tuple(up for up in spec.upstream if up in planned or up in external)
        if len(present) == len(spec.upstream):
            inputs.append(spec)
            continue
        if not graph.mapping(item.asset_key, dependencies[spec.parameter]).allow_missing:
            absent.extend(up for up in spec.upstream if up not in present)
        inputs.append(replace(spec, upstream=present))
    if not absent:
        return replace(item, inputs=tuple(inputs))
    count, them = (f"{len(absent)} inputs", "them") if len(absent) > 1 else ("input", "it")
    if any(key[0] in planned_assets for key in absent):
        fix = f"widen the partitions of this run to include {them}, or materialize {them} first"
    else:
        fix = f"add {them} to the selection (e.g. '+{item.asset_key}')"
    blocked = f"{count} {_labels(absent)} never materialized and not in this run; {fix}"
    return replace(item, blocked=blocked, conditional=False, absent=tuple(absent))


def _labels(keys: Sequence[ItemKey]) -> str:
    return ", ".join(item_label(key) for key in keys[:3]) + (" ..." if len(keys) > 3 else "")


def item_label(key: ItemKey) -> str:
    """``asset`` or ``asset[partition]``: how messages name an item."""
    asset_key, partition_key = key
    return str(asset_key) if partition_key == UNPARTITIONED else f"{asset_key}[{partition_key}]"


def _with_inputs(graph: AssetGraph, assets: Iterable[AssetKey]) -> set[AssetKey]:
    keys = set(assets)
    return keys | {dep.asset_key for key in keys for dep in graph.get(key).dependencies}


def _dynamic_names(graph: AssetGraph, assets: Iterable[AssetKey]) -> frozenset[str]:
    names: set[str] = set()
    for key in assets:
        names |= collect_dynamic_names(graph.get(key).partitions)
    return frozenset(names)


def _deferred_assets(graph: AssetGraph, selected: Sequence[AssetKey]) -> list[AssetKey]:
    """Selected assets whose partitions depend on dynamic keys an upstream asset may add, and
    every selected asset downstream of those (they must wait for them)."""
    chosen = set(selected)
    deferred: set[AssetKey] = set()
    for key in selected:  # topological: a deferred parent is known before its children
        parents = {dependency.asset_key for dependency in graph.get(key).dependencies}
        if parents & deferred or (
            _dynamic_names(graph, _with_inputs(graph, [key]))
            and chosen.intersection(graph.upstream(key))
        ):
            deferred.add(key)
    return [key for key in selected if key in deferred]


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
