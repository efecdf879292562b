"""Items blocked by definition: the upstream partitions they read lie outside the upstream's
partitions (before its first, after a fixed end, or after the last of an open range, which may
come to exist later: then the item is judged again on each run and runs once they do).

Such an item is neither work nor a failure: no run can materialize it now (the first six days of
a 7-day window read days before the upstream's first partition). An item that needs an input
blocked by definition is blocked by definition too. Items blocked because an input failed or was
never materialized are not decided here: those are work. Pure: definitions and items only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flowstone.definitions import AssetDef
from flowstone.graph import AssetGraph
from flowstone.keys import PartitionKey
from flowstone.partitions import PartitionState, TimeWindowPartitions

if TYPE_CHECKING:  # the plan builds on this module; it only names the plan's item types
    from flowstone.execution.plan import InputSpec, ItemKey, PlanItem

ALLOW_MISSING_HINT = (
    "declare the dependency with allow_missing=True to run with the partitions that exist"
)


def describe_cannot_exist(
    upstream: AssetDef[Any, Any], keys: Sequence[PartitionKey], state: PartitionState
) -> tuple[str, str]:
    """The short reason (shared by every item that reads past the same bound) and the full one.

    Example: ``input raw before 2024-01-01 cannot exist`` and the same with the upstream's
    partitions and how to run with the partitions that exist.
    """
    partitions = upstream.partitions
    where = None
    if isinstance(partitions, TimeWindowPartitions):
        where = _outside_time_window(partitions, keys, state)
    if where is None:
        shown = keys[0] if len(keys) == 1 else f"{keys[0]} .. {keys[-1]} ({len(keys)} partitions)"
        where = f"[{shown}] cannot exist"
    short = f"input {upstream.key}{'' if where.startswith('[') else ' '}{where}"
    described = partitions.describe() if partitions is not None else ""
    return short, f"{short} ({described}); {ALLOW_MISSING_HINT}"


def _outside_time_window(
    partitions: TimeWindowPartitions, keys: Sequence[PartitionKey], state: PartitionState
) -> str | None:
    """``before <first key> cannot exist`` or ``after <last key> does not exist yet``, when every
    key lies on that side of the range; ``None`` otherwise."""
    starts = [partitions.time_window(key).start for key in keys]
    first = partitions.key_for_time(partitions.start)
    if all(start < partitions.start for start in starts):
        return f"before {first} cannot exist"
    existing = partitions.get_partition_keys(state)
    if not existing:
        return None
    last = existing[-1]
    end = partitions.time_window(last).end
    if all(start >= end for start in starts):
        if partitions.end is not None:
            return f"after {last} cannot exist"
        return f"after {last} does not exist yet"
    return None


def propagate_blocked_by_definition(graph: AssetGraph, items: Sequence[PlanItem]) -> list[PlanItem]:
    """``items`` (in topological order) where every item that needs an input blocked by
    definition is blocked by definition too; a dependency that allows missing partitions drops
    such inputs instead, as it drops the partitions that do not exist."""
    if not any(item.blocked_by_definition for item in items):  # the common case
        return list(items)
    reasons = {item.key: item.blocked_by_definition for item in items}
    found: list[PlanItem] = []
    for item in items:
        judged = item if item.blocked_by_definition else _judged_by_inputs(graph, item, reasons)
        reasons[judged.key] = judged.blocked_by_definition
        found.append(judged)
    return found


def _judged_by_inputs(
    graph: AssetGraph, item: PlanItem, reasons: dict[ItemKey, str | None]
) -> PlanItem:
    """``item`` blocked by its first required input blocked by definition, else with any
    optional inputs blocked by definition left out."""
    if not any(reasons.get(up) for spec in item.inputs for up in spec.upstream):
        return item  # most items: no input of theirs is blocked
    dependencies = {dep.parameter: dep for dep in graph.get(item.asset_key).dependencies}
    inputs: list[InputSpec] = []
    for spec in item.inputs:
        impossible = [up for up in spec.upstream if reasons.get(up)]
        if not impossible:
            inputs.append(spec)
            continue
        if not graph.mapping(item.asset_key, dependencies[spec.parameter]).allow_missing:
            upstream = impossible[0]
            short = f"input {upstream[0]} is blocked by definition"
            blocked = f"{short} ({reasons[upstream]}); {ALLOW_MISSING_HINT}"
            return replace(item, blocked=blocked, blocked_by_definition=short, conditional=False)
        kept = tuple(up for up in spec.upstream if up not in impossible)
        inputs.append(replace(spec, upstream=kept))
    return replace(item, inputs=tuple(inputs))
