"""Which items a backfill targets, and which of a backfill's items are still to do.

Targets follow the policy: never materialized (``missing``), last attempt failed together with
everything downstream of those in the backfill (``failed``: they were skipped because of it), or
those that are not fresh (``stale``: code, config or input data changed, missing or failed), or
every item (``all``). Items whose inputs cannot exist (the days before a window's start) are run
so that they are reported blocked, but they are not targets: no resume could ever finish them.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from flowstone.errors import BackfillError, PartitionError
from flowstone.execution.asset_versions import AssetVersions
from flowstone.execution.judgement import judge_items, read_version_states
from flowstone.execution.partition_request import PartitionRequest
from flowstone.execution.plan import (
    ItemKey,
    PlanItem,
    draft_plan_items,
    item_label,
    read_partition_state,
)
from flowstone.graph import AssetGraph
from flowstone.keys import AssetKey
from flowstone.storage import BackfillRecord, MaterializationStatus, MetadataStore
from flowstone.versioning.staleness import Freshness

BackfillPolicy = Literal["missing", "failed", "stale", "all"]
"""Which items a backfill targets: never materialized, last attempt failed, not fresh, or all."""


@dataclass(frozen=True, slots=True)
class BackfillTargets:
    """The items to run (in plan order) and those of them that can never succeed."""

    items: list[ItemKey]
    impossible: set[ItemKey]

    @property
    def recorded(self) -> list[ItemKey]:
        """The items the backfill tracks until each has succeeded."""
        return [item for item in self.items if item not in self.impossible]


def select_targets(
    graph: AssetGraph,
    selected: Sequence[AssetKey],
    store: MetadataStore,
    request: PartitionRequest,
    *,
    policy: BackfillPolicy,
    versions: AssetVersions,
) -> BackfillTargets:
    """The items of ``selected`` x ``request`` that ``policy`` targets.

    Raises:
        PartitionError: the request does not fit the selected assets' partitions.
    """
    items = draft_plan_items(graph, selected, store, request=request)
    keys = [item.key for item in items]
    if policy == "all":
        chosen = keys
    elif policy == "stale":
        verdicts = judge_items(items, read_version_states(items, store), versions, graph)
        chosen = [key for key in keys if verdicts[key].status is not Freshness.FRESH]
    else:
        latest = store.get_latest(keys)
        if policy == "missing":
            chosen = [key for key in keys if key not in latest or not latest[key].last_success]
        else:
            failed = {
                key
                for key, state in latest.items()
                if state.latest is not None and state.latest.status is MaterializationStatus.FAILED
            }
            chosen = _with_dependents(items, failed)
    impossible = {item.key for item in items if item.blocked_by_definition is not None}
    return BackfillTargets(chosen, impossible.intersection(chosen))


def _with_dependents(items: Sequence[PlanItem], roots: set[ItemKey]) -> list[ItemKey]:
    dependents: defaultdict[ItemKey, list[ItemKey]] = defaultdict(list)
    for item in items:
        for spec in item.inputs:
            for up in spec.upstream:
                dependents[up].append(item.key)
    reached, queue = set(roots), deque(roots)
    while queue:
        for dependent in dependents[queue.popleft()]:
            if dependent not in reached:
                reached.add(dependent)
                queue.append(dependent)
    return [item.key for item in items if item.key in reached]


def remaining_items(
    store: MetadataStore, record: BackfillRecord, graph: AssetGraph
) -> list[ItemKey]:
    """The backfill's items without a success, checked against the current definitions.

    Raises:
        BackfillError: an item's asset is no longer defined or its partition no longer exists.
    """
    items = store.get_backfill_items(record.backfill_id)
    outcomes = store.get_backfill_outcomes(record.backfill_id)
    remaining = [item for item in items if not _is_done(outcomes.get(item))]
    known = set(graph.keys())
    state = read_partition_state(graph, {asset for asset, _ in remaining} & known, store, None)
    gone: list[ItemKey] = []
    for asset_key, partition_key in remaining:
        if asset_key not in known:
            raise BackfillError(
                f"Backfill {record.backfill_id!r} includes asset {str(asset_key)!r}, which is no "
                f"longer defined. Load the definitions it was created with (-m/-f), or start a "
                f"new backfill."
            )
        partitions = graph.get(asset_key).partitions
        try:
            if partitions is not None:
                partitions.validate_key(partition_key, state)
        except PartitionError:
            gone.append((asset_key, partition_key))
    if gone:
        shown = ", ".join(item_label(key) for key in gone[:5]) + (" ..." if len(gone) > 5 else "")
        raise BackfillError(
            f"Backfill {record.backfill_id!r} has {len(gone)} item(s) whose partition no longer "
            f"exists ({shown}). Add the partitions back, or start a new backfill."
        )
    return remaining


def _is_done(status: MaterializationStatus | None) -> bool:
    return status is not None and status.is_current


def find_reused(
    store: MetadataStore,
    record: BackfillRecord,
    items: Sequence[ItemKey],
    outcomes: Mapping[ItemKey, MaterializationStatus],
) -> dict[ItemKey, str]:
    """The items of backfill ``record`` another run stored while it went on: the run for each.

    An item the backfill has not done is reused when its newest attempt is a success by another
    run: after the backfill's own attempt at it, or, when it has none, after the backfill was
    created (a run of the backfill found it stored and fresh, so it is done, not remaining). An
    older success is not counted: the backfill targeted the item because that one did not do.
    """
    own = set(record.run_ids)
    undone = [key for key in items if not _is_done(outcomes.get(key))]
    reused: dict[ItemKey, str] = {}
    for key, state in store.get_latest(undone).items():
        newest = state.latest
        if newest.status is not MaterializationStatus.SUCCESS or newest.run_id in own:
            continue
        if key in outcomes or (
            newest.finished_at is not None and newest.finished_at >= record.created_at
        ):
            reused[key] = newest.run_id
    return reused
