"""Judging planned items against the store: which are fresh, which must run, and why.

It gathers, for each item, its last success's recorded versions (one bulk read) and what its
inputs are now, and hands them to the pure judgement in ``flowstone.versioning.staleness``, in
topological order so that an input judged stale makes its dependents ``UPSTREAM_STALE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from flowstone.execution.asset_versions import AssetVersions
from flowstone.graph import AssetGraph
from flowstone.keys import AssetKey
from flowstone.storage import (
    BreakdownEntry,
    CodeKey,
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    MetadataStore,
    VersionState,
)
from flowstone.versioning.provenance import compute_provenance_version
from flowstone.versioning.staleness import (
    CurrentInput,
    Freshness,
    ItemFacts,
    Recorded,
    Verdict,
    judge,
    label,
)

if TYPE_CHECKING:  # the plan builds on this module; it only names the plan's item type
    from flowstone.execution.plan import ItemKey, PlanItem


def read_version_states(
    items: Sequence[PlanItem], store: MetadataStore
) -> Mapping[ItemKey, VersionState]:
    """The stored versions of every item and every input of ``items``, in one bulk read.

    An input names one upstream asset, so its first upstream item is enough to find the asset
    (some items of an asset may read nothing of it, e.g. the first day of a lag); partitions
    narrow the read only for small plans (a big one reads whole assets).
    """
    if not items:
        return {}
    assets = {item.key[0] for item in items} | {
        spec.upstream[0][0] for item in items for spec in item.inputs if spec.upstream
    }
    partitions = None
    if len(items) <= 1000:
        partitions = {item.key[1] for item in items} | {
            up[1] for item in items for spec in item.inputs for up in spec.upstream
        }
    return store.get_version_states(sorted(assets), partitions)


Breakdowns = Mapping[CodeKey, tuple[BreakdownEntry, ...]]
"""Stored code breakdowns by (asset, code version)."""


def read_code_breakdowns(
    states: Mapping[ItemKey, VersionState], versions: AssetVersions, store: MetadataStore
) -> Breakdowns:
    """The stored breakdowns of the recorded code versions that differ from the current ones.

    One read for every distinct (asset, code version), however many items share it; nothing is
    read when no code changed.
    """
    wanted = {
        (asset, state.code_version)
        for (asset, _), state in states.items()
        if state.code_version is not None
        and asset in versions.code
        and state.code_version != versions.code[asset]
    }
    return store.get_code_breakdowns(wanted) if wanted else {}


def judge_items(
    items: Sequence[PlanItem],
    states: Mapping[ItemKey, VersionState],
    versions: AssetVersions,
    graph: AssetGraph,
    breakdowns: Breakdowns | None = None,
) -> dict[ItemKey, Verdict]:
    """The verdict of each item (given in topological order), inputs judged before dependents.

    An input that was never stored and is not judged here blocks its dependent, unless the
    dependency allows missing partitions: then it is left out, as the run leaves it out.
    ``breakdowns`` (from ``read_code_breakdowns``) let a code change name what changed.
    """
    optional = _optional_inputs(graph, {item.key[0] for item in items})
    verdicts: dict[ItemKey, Verdict] = {}
    names: dict[AssetKey, str] = {}
    for item in items:
        state = states.get(item.key)
        if state is not None and _is_plainly_fresh(
            item, state, states=states, verdicts=verdicts, versions=versions, names=names
        ):
            verdicts[item.key] = Verdict(Freshness.FRESH, (), state.provenance_version)
            continue
        verdicts[item.key] = _judge_slowly(
            item, states, verdicts, versions, optional, breakdowns=breakdowns or {}
        )
    return verdicts


def _judge_slowly(
    item: PlanItem,
    states: Mapping[ItemKey, VersionState],
    verdicts: Mapping[ItemKey, Verdict],
    versions: AssetVersions,
    optional: set[tuple[AssetKey, AssetKey]],
    *,
    breakdowns: Breakdowns,
) -> Verdict:
    """The full judgement: inputs present now, a required absent one blocks the item."""
    upstream = _inputs_of(item)
    present = [
        up
        for up in upstream
        if up in verdicts or (up in states and states[up].success_id is not None)
    ]
    required = [up for up in upstream if up not in present and (item.key[0], up[0]) not in optional]
    if required and item.blocked is None:
        shown = ", ".join(label((str(asset), partition)) for asset, partition in required[:3])
        item = replace(item, blocked=f"input {shown} never materialized and not in this run")
    current = [
        CurrentInput(
            (str(up[0]), up[1]),
            states[up].data_version if up in states else None,
            fresh=up not in verdicts or verdicts[up].status is Freshness.FRESH,
        )
        for up in present
    ]
    return judge(item_facts(item, states.get(item.key), versions, current, breakdowns))


def _optional_inputs(graph: AssetGraph, assets: set[AssetKey]) -> set[tuple[AssetKey, AssetKey]]:
    """(asset, upstream asset) pairs whose mapping lets the asset run without missing inputs."""
    return {
        (asset_key, dependency.asset_key)
        for asset_key in assets
        for dependency in graph.get(asset_key).dependencies
        if graph.mapping(asset_key, dependency).allow_missing
    }


def _is_plainly_fresh(
    item: PlanItem,
    state: VersionState,
    *,
    states: Mapping[ItemKey, VersionState],
    verdicts: Mapping[ItemKey, Verdict],
    versions: AssetVersions,
    names: dict[AssetKey, str],
) -> bool:
    """Fresh without recomputing the provenance version: same code, no config, and exactly the
    recorded inputs at their recorded data versions, each of them fresh. The recorded provenance
    was computed from these very values, so recomputing it would give it back; this check skips
    the hashing, which dominates the status of many thousands of items."""
    asset_key = item.asset_key
    if (
        state.provenance_version is None
        or state.latest_status is MaterializationStatus.FAILED
        or state.latest_status is MaterializationStatus.LOST
        or item.blocked is not None
        or versions.config_hash.get(asset_key) is not None
        or state.code_version != versions.code[asset_key]
    ):
        return False
    upstream = _inputs_of(item)
    if len(upstream) != len(state.inputs):
        return False
    if len(upstream) == 1:  # the common case, without building a mapping
        key, edge = upstream[0], state.inputs[0]
        found = states.get(key)
        return (
            found is not None
            and (key not in verdicts or verdicts[key].status is Freshness.FRESH)
            and edge.partition_key == key[1]
            and edge.data_version == found.data_version
            and edge.asset_key == (names.get(key[0]) or names.setdefault(key[0], str(key[0])))
        )
    recorded = {(edge.asset_key, edge.partition_key): edge.data_version for edge in state.inputs}
    for key in upstream:
        verdict, found = verdicts.get(key), states.get(key)
        if found is None or (verdict is not None and verdict.status is not Freshness.FRESH):
            return False
        name = names.get(key[0]) or names.setdefault(key[0], str(key[0]))
        if (name, key[1]) not in recorded or recorded[name, key[1]] != found.data_version:
            return False
    return True


def item_facts(
    item: PlanItem,
    state: VersionState | None,
    versions: AssetVersions,
    current: Sequence[CurrentInput],
    breakdowns: Breakdowns | None = None,
) -> ItemFacts:
    """What the judgement of ``item`` needs, from its stored state and its inputs now."""
    recorded = None
    if state is not None and state.code_version is not None and breakdowns:
        recorded = breakdowns.get((item.asset_key, state.code_version))
    return ItemFacts(
        asset_key=str(item.asset_key),
        partition_key=item.partition_key,
        code_version=versions.code[item.asset_key],
        config_hash=versions.config_hash.get(item.asset_key),
        recorded=_recorded(state, recorded),
        inputs=current,
        blocked=item.blocked,
        breakdown=versions.breakdown.get(item.asset_key),
        blocked_by_definition=item.blocked_by_definition is not None,
    )


def _recorded(
    state: VersionState | None, breakdown: tuple[BreakdownEntry, ...] | None
) -> Recorded | None:
    if state is None:
        return None
    return Recorded(
        succeeded=state.success_id is not None,
        code_version=state.code_version,
        provenance_version=state.provenance_version,
        data_version=state.data_version,
        inputs={(edge.asset_key, edge.partition_key): edge.data_version for edge in state.inputs},
        latest_failed=state.latest_status is MaterializationStatus.FAILED,
        lost=state.latest_status is MaterializationStatus.LOST,
        breakdown=breakdown,
    )


def _inputs_of(item: PlanItem) -> Sequence[ItemKey]:
    """Each upstream item once, in the order the inputs name them."""
    if len(item.inputs) == 1:
        return item.inputs[0].upstream  # one parameter names each upstream item once
    return list(dict.fromkeys(up for spec in item.inputs for up in spec.upstream))


def is_unchanged(
    item: PlanItem,
    state: VersionState | None,
    records: Mapping[ItemKey, MaterializationRecord],
    versions: AssetVersions,
) -> bool:
    """Re-judge a conditional item once its inputs are done: fresh means it is cut off."""
    current = [
        CurrentInput((str(up[0]), up[1]), record.data_version if record else None)
        for up in _inputs_of(item)
        for record in [records.get(up)]
    ]
    return judge(item_facts(item, state, versions, current)).status is Freshness.FRESH


def compute_provenance(
    item: PlanItem, inputs: Sequence[LineageEdge], versions: AssetVersions
) -> str:
    """The provenance version of ``item`` built from exactly the inputs it read."""
    return compute_provenance_version(
        str(item.asset_key),
        item.partition_key,
        versions.code[item.asset_key],
        versions.config_hash.get(item.asset_key),
        [(str(e.upstream_asset_key), e.upstream_partition_key, e.upstream_data_version)
         for e in inputs],
    )  # fmt: skip
