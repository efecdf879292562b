"""How ``materialize --dry-run`` shows a plan: each item that would run and why, and how many
selected items are fresh.

Only display: the plan comes from ``flowstone.execution.api.plan_run`` and nothing is run or
recorded. An item's reason reads as in ``status --why``, so the two can be compared line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import click

from flowstone.cli.explanation import causes_as_dicts
from flowstone.cli.output import item_as_dict, stdout_console
from flowstone.cli.why_groups import grouped_why_lines
from flowstone.execution import Plan, PlanItem
from flowstone.execution.plan import ItemKey
from flowstone.keys import AssetKey, PartitionKey

CONDITIONAL = "runs only if its inputs change"
"""The mark of an item that the run decides only once its inputs are recomputed."""
FORCED = "forced (--force)"
DEFERRED = "planned during the run, once its upstream assets finish (they may add partitions)"


def describe_plan_item(item: PlanItem, *, force: bool, forced: str = FORCED) -> str:
    """Why ``item`` is in the plan: its verdict's explanation, marked when conditional
    (``forced``: what a forced item says, naming the option that forced it)."""
    if item.blocked is not None:
        return f"blocked — {item.blocked}"
    if force:
        return forced
    reason = item.verdict.explain() if item.verdict is not None else item.reason
    return f"{reason} ({CONDITIONAL})" if item.conditional else reason


def report_plan(
    plan: Plan, *, as_json: bool, empty: str = "Nothing selected.", forced: str = FORCED
) -> None:
    """Print the plan (``--json``: as data); say that nothing ran (``empty``: when nothing is
    planned and nothing is fresh)."""
    if as_json:
        click.echo(json.dumps(plan_as_dict(plan, forced=forced), indent=2))
        return
    for line in grouped_why_lines(_listing(plan, forced)):
        click.echo(line)
    for asset_key in plan.deferred:
        click.echo(f"{asset_key}: {DEFERRED}")
    console = stdout_console()
    if not plan.items and not plan.deferred:
        if plan.fresh:
            console.print(f"Everything is fresh: {len(plan.fresh)} items, nothing to do.")
        else:
            console.print(empty, highlight=False)
        return
    blocked = sum(1 for item in plan.items if item.blocked is not None)
    impossible = sum(1 for item in plan.items if item.blocked_by_definition is not None)
    shown_blocked = f", {blocked - impossible} blocked" if blocked > impossible else ""
    if impossible:
        shown_blocked += f", {impossible} blocked by definition (never run, not work)"
    console.print(
        f"Dry run: {len(plan.items) - blocked} items would run{shown_blocked}, "
        f"{len(plan.fresh)} selected items are fresh (not run). Nothing was run.",
        highlight=False,
    )


def plan_as_dict(plan: Plan, *, forced: str = FORCED) -> dict[str, object]:
    """The plan as JSON-ready data: items with status, reason and causes; fresh items; counts."""
    items = [
        {
            **item_as_dict(*item.key),
            "status": _status(item, force=plan.force),
            "reason": describe_plan_item(item, force=plan.force, forced=forced),
            "conditional": item.conditional,
            "blocked": item.blocked,
            "blocked_by_definition": item.blocked_by_definition,
            "causes": causes_as_dicts(item.verdict.causes if item.verdict is not None else ()),
        }
        for item in plan.items
    ]
    return {
        "dry_run": True,
        "force": plan.force,
        "items": items,
        "deferred": [str(asset_key) for asset_key in plan.deferred],
        "fresh": [item_as_dict(*key) for key in plan.fresh],
        "counts": {"run": len(plan.items), "fresh": len(plan.fresh)},
    }


def _status(item: PlanItem, *, force: bool) -> str:
    """The item's freshness, or why it was not judged (``blocked``, ``forced``)."""
    if item.blocked is not None:
        return "blocked"
    if item.verdict is not None:
        return item.verdict.status.value
    return "forced" if force else "unknown"


def _listing(plan: Plan, forced: str) -> Iterator[tuple[ItemKey, str | None]]:
    """The plan's items with their reasons, and its fresh items (no line) where they fall among
    their asset's partitions, so a range of partitions never spans a fresh one."""
    fresh: dict[AssetKey, list[tuple[int, ItemKey]]] = {}
    positions: dict[AssetKey, dict[PartitionKey, int]] = {}
    for key in plan.fresh:
        at = positions.get(key[0])
        if at is None:
            at = positions[key[0]] = _positions(plan, key[0])
        fresh.setdefault(key[0], []).append((at.get(key[1], -1), key))
    for found in fresh.values():
        found.sort()
    for item in plan.items:
        waiting = fresh.get(item.key[0], [])
        here = positions.get(item.key[0], {}).get(item.key[1], -1)
        while waiting and waiting[0][0] < here:
            yield waiting.pop(0)[1], None
        yield item.key, describe_plan_item(item, force=plan.force, forced=forced)


def _positions(plan: Plan, asset_key: AssetKey) -> dict[PartitionKey, int]:
    partitions = plan.asset(asset_key).partitions
    keys = () if partitions is None else partitions.get_partition_keys(plan.state)
    return {key: index for index, key in enumerate(keys)}
