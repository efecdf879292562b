"""Assets planned while a run goes on: those partitioned by dynamic keys an upstream may add.

An asset can add keys to a dynamic partitions definition (``context.add_partitions``). A
downstream asset partitioned by it must see them in the same run, so it is planned only once every
selected upstream asset of it has finished, with the keys as they are then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

import anyio.to_thread

from flowstone.definitions import PartitionChange
from flowstone.execution.partition_request import resolve_partition_keys
from flowstone.execution.plan import (
    ItemKey,
    Plan,
    PlanItem,
    mark_blocked,
    plan_asset_items,
    read_external_inputs,
)
from flowstone.keys import AssetKey
from flowstone.partitions import PartitionState, iter_dynamic_names
from flowstone.storage import MaterializationRecord, MetadataStore


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
        self.external: dict[ItemKey, MaterializationRecord] = {}
        """Stored inputs found for the items planned last."""

    def finished(self, asset_key: AssetKey) -> None:
        """One item of ``asset_key`` has finished (in any status)."""
        self._pending[asset_key] -= 1

    def apply(self, changes: Iterable[PartitionChange]) -> None:
        """Write the dynamic partition keys a stored materialization added or removed."""
        for change in changes:
            if change.remove:
                self._store.remove_dynamic_partitions(change.name, list(change.keys))
            else:
                self._store.add_dynamic_partitions(change.name, list(change.keys))

    async def expand_ready(self, planned: Collection[ItemKey]) -> list[PlanItem] | None:
        """The items of the next deferred asset whose upstream assets are done, or ``None``."""
        ready = next((key for key in self._waiting if self._is_ready(key)), None)
        if ready is None:
            return None
        self._waiting.remove(ready)
        items = await anyio.to_thread.run_sync(self._plan_asset, ready, set(planned))
        self._pending[ready] += len(items)
        return items

    def _is_ready(self, key: AssetKey) -> bool:
        return all(
            up not in self._waiting and self._pending[up] <= 0 for up in self._ancestors[key]
        )

    def _plan_asset(self, asset_key: AssetKey, planned: set[ItemKey]) -> list[PlanItem]:
        graph = self._plan.graph
        names: set[str] = set(iter_dynamic_names(graph.get(asset_key).partitions))
        for dependency in graph.get(asset_key).dependencies:
            names |= iter_dynamic_names(graph.get(dependency.asset_key).partitions)
        dynamic = self._store.get_dynamic_partitions(sorted(names))
        state = PartitionState(now=self._plan.state.now, dynamic=dynamic)
        keys = resolve_partition_keys(graph, [asset_key], self._plan.request, state)[asset_key]
        items = plan_asset_items(graph, asset_key, keys, state)
        planned |= {item.key for item in items}
        self.external = read_external_inputs(items, planned, self._store)
        return [mark_blocked(graph, item, planned, self.external) for item in items]
