"""``flowstone.status``: where every selected (asset, partition) stands, and why.

The same judgement a stale-only run makes, without running anything: one bulk read of the
store, then the pure verdicts in topological order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowstone.collector import collector_paused
from flowstone.definitions import AssetDef, Definitions, Registry
from flowstone.execution.api import Selection, build_graph, open_store, resolve_settings
from flowstone.execution.asset_versions import ConfigValues, resolve_asset_versions
from flowstone.execution.judgement import (
    judge_items,
    read_code_breakdowns,
    read_version_states,
)
from flowstone.execution.partition_request import ALL_PARTITIONS, PartitionRequest
from flowstone.execution.plan import ItemKey, draft_plan_items
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.verification import (
    LostValue,
    find_lost_values,
    fresh_keys,
    judge_with_lost,
)
from flowstone.graph import select
from flowstone.io import IOManager
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.storage import MetadataStore, VersionState
from flowstone.versioning import Freshness, Verdict
from flowstone.versioning.provenance import FALLBACK_PREFIX


@dataclass(frozen=True, slots=True)
class ItemStatus:
    """One item's verdict."""

    key: ItemKey
    verdict: Verdict
    unhashable: bool = False
    """Its stored value could not be hashed: its data version is its provenance version, so its
    dependents get no early cutoff."""

    @property
    def label(self) -> str:
        asset, partition = self.key
        return str(asset) if partition == UNPARTITIONED else f"{asset}[{partition}]"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Every selected item's verdict, in topological order."""

    items: tuple[ItemStatus, ...]
    lost: tuple[LostValue, ...] = ()
    """With ``verify``: fresh items whose stored value is missing (judged as lost in ``items``)."""
    verified: bool = False

    def counts(self) -> dict[AssetKey, Counter[Freshness]]:
        """Per asset, how many of its partitions are in each status."""
        counts: dict[AssetKey, Counter[Freshness]] = {}
        for item in self.items:
            counts.setdefault(item.key[0], Counter())[item.verdict.status] += 1
        return counts

    @property
    def all_fresh(self) -> bool:
        return all(item.verdict.status is Freshness.FRESH for item in self.items)

    @property
    def blocked_by_definition(self) -> tuple[ItemStatus, ...]:
        """Items whose inputs can never exist: not work, whatever a run does."""
        return tuple(item for item in self.items if item.verdict.is_blocked_by_definition)

    @property
    def needing_work(self) -> tuple[ItemStatus, ...]:
        """Items a stale-only materialize would consider: not fresh, not blocked by definition."""
        return tuple(
            item
            for item in self.items
            if item.verdict.status is not Freshness.FRESH
            and not item.verdict.is_blocked_by_definition
        )


def status(
    selection: Selection = None,
    *,
    partitions: PartitionRequest = ALL_PARTITIONS,
    definitions: Registry | Definitions | Sequence[AssetDef[Any, Any]] | None = None,
    store: str | MetadataStore | None = None,
    config: ConfigValues | None = None,
    project_dir: Path | None = None,
    verify: bool = False,
    io_managers: Mapping[str, IOManager] | None = None,
) -> StatusReport:
    """The status of the selected items (every partition by default) with their causes.

    Example:
        >>> report = status("*daily_revenue")
        >>> [i.verdict.explain() for i in report.items if i.verdict.status != "fresh"]
        ['stale — upstream clean_orders[2024-03-02] changed (data version a1b2.. -> c3d4..)']
    """
    settings = resolve_settings(project_dir)
    graph = build_graph(definitions)
    selected = select(graph, selection)
    versions = resolve_asset_versions(graph, selected, config)
    with open_store(store, settings, read_only=True) as opened, collector_paused():
        items = draft_plan_items(graph, selected, opened, request=partitions)
        states = read_version_states(items, opened)
        breakdowns = read_code_breakdowns(states, versions, opened)
        verdicts = judge_items(items, states, versions, graph, breakdowns)
        lost: tuple[LostValue, ...] = ()
        if verify:  # ask the I/O managers whether the fresh items' values are really there
            managers = IOManagerSet(settings, io_managers)
            lost = find_lost_values(graph, fresh_keys(items, verdicts), opened, managers)
            if lost:
                states, verdicts = judge_with_lost(
                    items, states, lost, lambda i, s: judge_items(i, s, versions, graph, breakdowns)
                )
        return StatusReport(
            tuple(
                ItemStatus(item.key, verdicts[item.key], _is_unhashable(states.get(item.key)))
                for item in items
            ),
            lost,
            verify,
        )


def _is_unhashable(state: VersionState | None) -> bool:
    version = state.data_version if state is not None else None
    return version is not None and version.startswith(FALLBACK_PREFIX)
