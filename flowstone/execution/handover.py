"""What passes between a run and the other runs over the same items, while it goes on.

Claiming itself is ``claims``' (blocking store calls); this is its side in the event loop: claims
are made one call at a time, an item another run holds stays parked until that claim ends (asked
again in the background), an item another run materialized since is taken over to be judged
again, and the claims are kept alive. It never runs or records an item: the runner queues what
is handed back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from flowstone.errors import FlowstoneError
from flowstone.execution.claims import POLL_SECONDS, ItemClaims, Moved
from flowstone.execution.ledger import RunLedger
from flowstone.execution.materializer import Materializer
from flowstone.execution.plan import ItemKey, Plan, PlanItem
from flowstone.execution.schedule import Schedule
from flowstone.storage import VersionState

_log = logging.getLogger("flowstone.execution.runner")
"""The runner's log, whichever of its modules speaks: the name a user filters on stays one."""


class ClaimHandover:
    """The claims of one run as its items get ready, and what other runs hand over.

    Example:
        >>> handover = ClaimHandover(plan, claims, schedule=..., ledger=..., ...)
        >>> await handover.claim(schedule.with_chains(ready, mine=..., held=...), workers)
    """

    def __init__(
        self,
        plan: Plan,
        claims: ItemClaims,
        *,
        schedule: Schedule,
        ledger: RunLedger,
        materializer: Materializer,
        on_released: Callable[[list[ItemKey], TaskGroup], Awaitable[None]],
    ) -> None:
        self._force = plan.force
        self._claims = claims
        self._schedule = schedule
        self._ledger = ledger
        self._materializer = materializer
        self._on_released = on_released
        self._lock = anyio.Lock()
        """One claim call at a time: the ready batch and the retry of held items share state."""
        self.parked: set[ItemKey] = set()
        """Ready items that another run is computing: they wait for its claim to end."""
        self.unclaimed: list[ItemKey] = []
        """Items judged fresh without a record, whose claims can go before the run ends."""
        self._waiting_for_others = False

    async def claim(self, items: list[PlanItem], task_group: TaskGroup) -> None:
        """Claim ``items``; wait (in the background) for those another run holds."""
        planned, local = self._planned_states(), set(self._schedule.items)
        async with self._lock:
            moved = await anyio.to_thread.run_sync(self._claims.claim, items, planned, local)
            self._take_over(moved)
        if self._claims.held and not self._waiting_for_others:
            self._waiting_for_others = True
            task_group.start_soon(self._wait_for_others, task_group)

    async def keep_claims(self) -> None:
        """Renew this run's claims while it lives; release those of items judged fresh."""
        while True:
            await anyio.sleep(POLL_SECONDS)
            released, self.unclaimed = self.unclaimed, []
            try:
                if released:
                    await anyio.to_thread.run_sync(self._claims.release, released)
                await anyio.to_thread.run_sync(self._claims.renew_if_due)
            except FlowstoneError as exc:  # a busy store: the next round tries again
                self.unclaimed.extend(released)
                _log.warning("could not renew or release claims: %s", exc)

    def _planned_states(self) -> dict[ItemKey, VersionState] | None:
        """What the plan judged against; a forced plan read nothing (claims take a baseline)."""
        return None if self._force else self._schedule.states

    def _take_over(self, moved: Moved) -> None:
        """Judge again, once their inputs are done, the items another run materialized since."""
        held = self._claims.held.keys()
        self._schedule.judge_again(moved.items, states=moved.states, held=held)
        self._ledger.records.update(moved.records)
        self._materializer.add_external(moved.records)

    async def _wait_for_others(self, task_group: TaskGroup) -> None:
        """Ask again for the items other runs hold until this run has claimed them all."""
        try:
            while self._claims.held:
                await anyio.sleep(POLL_SECONDS)
                planned, local = self._planned_states(), set(self._schedule.items)
                async with self._lock:
                    claim = self._claims.claim_held
                    moved = await anyio.to_thread.run_sync(claim, planned, local)
                    self._take_over(moved)
                ready = [key for key in self.parked if key not in self._claims.held]
                self.parked.difference_update(ready)
                await self._on_released(ready, task_group)
        finally:
            self._waiting_for_others = False
