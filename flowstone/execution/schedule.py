"""The run's items and what each still waits for: which become ready as others finish.

Plain bookkeeping in the event loop, apart from the runner's tasks so that the order of items,
their inputs still open and the chains that may follow them have one owner. It never runs,
claims or records anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Set
from dataclasses import replace

from flowstone.execution.chain import find_successors
from flowstone.execution.plan import ItemKey, Plan, PlanItem
from flowstone.storage import VersionState


class Schedule:
    """The items of one run, in report order: the inputs each waits for, the chains that may
    follow it, and the stored versions it is judged by when it is conditional.

    Example:
        >>> schedule = Schedule(plan)
        >>> ready = [key for key, count in schedule.waiting.items() if count == 0]
        >>> newly_ready = schedule.unblock(ready[0])
    """

    def __init__(self, plan: Plan) -> None:
        self.items = {item.key: item for item in plan.items}
        """Items still to run or judged (an item judged fresh during the run leaves)."""
        self.order: list[ItemKey] = list(self.items)
        """Every item ever added, in the order results are reported."""
        self.dependents: defaultdict[ItemKey, list[ItemKey]] = defaultdict(list)
        self.waiting: dict[ItemKey, int] = {}
        self.states: dict[ItemKey, VersionState] = dict(plan.states)
        """The stored versions that conditional items are judged by once their inputs are done."""
        self.add(plan.items, finished=())
        self.successors = find_successors(plan, self.dependents, dict(self.waiting))
        """The item that may follow each one in its worker thread."""

    def add(self, items: Iterable[PlanItem], *, finished: Collection[ItemKey]) -> list[ItemKey]:
        """Register items to run; return those whose inputs are all ready."""
        ready = []
        for item in items:
            self.items[item.key] = item
            upstream = {
                up
                for spec in item.inputs
                for up in spec.upstream
                if up in self.items and up not in finished
            }
            self.waiting[item.key] = len(upstream)
            for up in upstream:
                self.dependents[up].append(item.key)
            if not upstream:
                ready.append(item.key)
        return ready

    def insert_before(self, key: ItemKey, keys: list[ItemKey]) -> None:
        """Report ``keys`` (items added to compute ``key``'s inputs) just before ``key``."""
        position = self.order.index(key)
        self.order[position:position] = keys

    def wait_for(self, key: ItemKey, keys: list[ItemKey]) -> None:
        """``key`` becomes ready again once every one of ``keys`` has finished."""
        self.waiting[key] = len(keys)
        for up in keys:
            self.dependents[up].append(key)

    def unblock(self, key: ItemKey) -> list[ItemKey]:
        """``key`` has finished: return its dependents that have no input left to wait for."""
        newly_ready = []
        for dependent in self.dependents.get(key, ()):
            self.waiting[dependent] -= 1
            if self.waiting[dependent] == 0:
                newly_ready.append(dependent)
        return newly_ready

    def with_chains(
        self, keys: list[ItemKey], *, mine: Set[ItemKey], held: Collection[ItemKey]
    ) -> list[PlanItem]:
        """``keys``' items and the chains that may follow them in their worker thread, which
        must be claimed before it starts: one store call for a whole chain."""
        items = []
        for key in keys:
            item: PlanItem | None = self.items.get(key)
            while item is not None and item.key not in mine and item.key not in held:
                items.append(item)
                item = self.successors.get(item.key)
        return items

    def judge_again(
        self,
        moved: Iterable[ItemKey],
        *,
        states: Mapping[ItemKey, VersionState],
        held: Collection[ItemKey],
    ) -> None:
        """Another run materialized ``moved`` (now at ``states``): judge them once their inputs
        are done, and run neither them nor the items ``held`` by others at the end of a chain."""
        moved = set(moved)
        for key in moved:
            if key in self.items:
                self.items[key] = replace(self.items[key], conditional=True)
        self.states.update(states)
        not_chained = moved | set(held)
        if not_chained:
            self.successors = {
                key: follower
                for key, follower in self.successors.items()
                if follower.key not in not_chained
            }
