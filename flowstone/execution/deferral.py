"""Assets planned while a run goes on: those partitioned by dynamic keys an upstream may add.

An asset can add keys to a dynamic partitions definition (``context.add_partitions``). A
downstream asset partitioned by it must see them in the same run, so it is planned only once every
selected upstream asset of it has finished, with the keys as they are then. If one of those did
not succeed, the keys may be incomplete: the deferred asset's items are skipped, and so are the
assets that wait for it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import replace

import anyio.to_thread

from flowstone.definitions import PartitionChange
from flowstone.errors import PartitionError
from flowstone.execution.partition_request import resolve_partition_keys
from flowstone.execution.plan import (
    ItemKey,
    Plan,
    PlanItem,
    item_label,
    mark_blocked,
    plan_asset_items,
    read_external_inputs,
)
from flowstone.keys import AssetKey, PartitionKey
from flowstone.partitions import PartitionState, collect_dynamic_names
from flowstone.storage import (
    MaterializationRecord,
    MaterializationStatus,
    MetadataStore,
    VersionState,
)


class DeferredAssets:
    """Tracks the deferred assets of a plan and plans each one when it is ready."""

    def __init__(self, plan: Plan, store: MetadataStore) -> None:
        self._plan = plan
        self._store = store
        self._waiting = list(plan.deferred)
        self._pending: Counter[AssetKey] = Counter(item.asset_key for item in plan.items)
        selected = set(plan.selection)
        self._ancestors = {
            key: selected.intersection(plan.graph.upstream(key)) for key in plan.deferred
        }
        self._troubled: dict[AssetKey, str] = {}
        self.external: dict[ItemKey, MaterializationRecord] = {}
        """Stored inputs (and stored values of its own items) found for the asset planned last."""
        self.states: dict[ItemKey, VersionState] = {}
        """The stored versions of the items planned last, to judge them by."""

    def finished(
        self, key: ItemKey, status: MaterializationStatus, *, blocked_by_definition: bool = False
    ) -> None:
        """Item ``key`` has finished with ``status`` (one blocked by definition troubles no one:
        its dependents are judged by their own mappings)."""
        self._pending[key[0]] -= 1
        if not status.is_current and not blocked_by_definition:
            self._troubled.setdefault(key[0], f"upstream {item_label(key)} {status.value}")

    def add_items(self, keys: Iterable[ItemKey]) -> None:
        """Items added to the run while it goes on (recoveries): their assets are not done yet."""
        self._pending.update(key[0] for key in keys)

    def apply(self, changes: Iterable[PartitionChange]) -> None:
        """Write the dynamic partition keys a stored materialization added or removed."""
        for change in changes:
            if change.remove:
                self._store.remove_dynamic_partitions(change.name, list(change.keys))
            else:
                self._store.add_dynamic_partitions(change.name, list(change.keys))

    async def expand_ready(
        self, planned: Collection[ItemKey]
    ) -> tuple[list[PlanItem], str | None] | None:
        """The items of the next deferred asset whose upstream assets are done, and why they
        must be skipped (``None`` when they can run); ``None`` when no asset is ready."""
        ready = next((key for key in self._waiting if self._is_ready(key)), None)
        if ready is None:
            return None
        self._waiting.remove(ready)
        skip = next(
            (self._troubled[up] for up in self._ancestors[ready] if up in self._troubled), None
        )
        try:
            items = await anyio.to_thread.run_sync(self._plan_asset, ready, set(planned))
        except PartitionError as exc:
            items, skip = [], f"its partitions could not be resolved: {exc}"
        if skip is not None:
            self._troubled[ready] = skip
        self._pending[ready] += len(items)
        return items, skip

    def _is_ready(self, key: AssetKey) -> bool:
        return all(
            up not in self._waiting and self._pending[up] <= 0 for up in self._ancestors[key]
        )

    def _plan_asset(self, asset_key: AssetKey, planned: set[ItemKey]) -> list[PlanItem]:
        graph = self._plan.graph
        names: set[str] = set(collect_dynamic_names(graph.get(asset_key).partitions))
        for dependency in graph.get(asset_key).dependencies:
            names |= collect_dynamic_names(graph.get(dependency.asset_key).partitions)
        dynamic = self._store.get_dynamic_partitions(sorted(names))
        state = PartitionState(now=self._plan.state.now, dynamic=dynamic)
        known: defaultdict[AssetKey, list[PartitionKey]] = defaultdict(list)
        for up_asset, partition_key in planned:
            known[up_asset].append(partition_key)
        keys = resolve_partition_keys(graph, [asset_key], self._plan.request, state, known=known)[
            asset_key
        ]
        items = plan_asset_items(graph, asset_key, keys, state)
        planned |= {item.key for item in items}
        self.external = read_external_inputs(items, planned, self._store)
        assets = {key[0] for key in planned}
        checked = [mark_blocked(graph, item, planned, self.external, assets) for item in items]
        if self._plan.force or not checked:
            return checked
        # Judged by the runner once their inputs are done, like any conditional item; a cut-off
        # item is read by its dependents as stored.
        own = [item.key for item in checked]
        self.states = dict(self._store.get_version_states([asset_key], {k[1] for k in own}))
        latest = self._store.get_latest(own)
        self.external |= {
            k: found.last_success for k, found in latest.items() if found.last_success
        }
        return [replace(item, conditional=True) for item in checked]
