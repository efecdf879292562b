"""A run's claims: the items it may compute, those another process computes now, and what moved.

Before an item runs, its run claims it in the store: not the whole run up front, but the items
that are ready, a batch at a time as the workers need them (``ClaimPace``; a chain is claimed
with its first item), so that processes over one range share its items instead of one holding
them all. An item another live run holds is parked, the run goes on with other items, and the
parked one is claimed again once that claim ends (the item recorded, or the claim expired because
its process died; a dead process on this machine is noticed at once). A claimed item whose
newest attempt is not the one the run planned with was materialized by another run since: the
runner judges it again once its inputs are done and reuses that result when it is fresh. Claims
are renewed while the run lives, and every claim left is released when it ends. The store calls
here are blocking: the runner runs them in a worker thread.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Collection, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from flowstone.execution.plan import ItemKey, PlanItem
from flowstone.storage import Claim, MaterializationRecord, MetadataStore, VersionState
from flowstone.versioning.staleness import label

POLL_SECONDS = 0.25
"""How often a run waiting for another one's items asks for them again."""
AHEAD_SECONDS = POLL_SECONDS
"""How much work, at the run's own pace, it claims beyond what its workers run now: a process
waiting for a held item asks again at this interval, so holding more would keep it idle longer."""
MAX_AHEAD = 2_000
"""The most items claimed ahead, whatever the pace: a bound on what a crash leaves held."""

_log = logging.getLogger("flowstone.run")


@dataclass(slots=True)
class Moved:
    """Items just claimed that another run materialized since they were planned.

    ``states`` and ``records`` are their stored versions and last successes now, with those of
    their inputs from outside the run (which that run may have rewritten too).
    """

    items: list[ItemKey] = field(default_factory=list)
    states: dict[ItemKey, VersionState] = field(default_factory=dict)
    records: dict[ItemKey, MaterializationRecord] = field(default_factory=dict)


class ClaimPace:
    """How many ready items a run claims at once.

    Enough for its free workers, plus what it gets through in ``AHEAD_SECONDS`` at its pace so
    far: slow items are claimed about one per worker (other processes get the rest), quick ones
    in large batches (one store call for hundreds of items). A new batch is claimed once half of
    the items claimed ahead have started, not after every item.

    Example:
        >>> pace = ClaimPace(concurrency=4)
        >>> pace.batch_size(in_hand=0)
        4
    """

    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._started: float | None = None
        self._finished = 0

    def finished(self) -> None:
        """One more item of the run has an outcome."""
        self._finished += 1

    def batch_size(self, in_hand: int) -> int:
        """How many items to claim now, with ``in_hand`` claimed items running or queued."""
        now = time.monotonic()
        if self._started is None:
            self._started = now
        elapsed = now - self._started
        pace = self._finished / elapsed if elapsed > 0 else 0.0
        ahead = min(MAX_AHEAD, int(pace * AHEAD_SECONDS))
        if in_hand > self._concurrency + ahead // 2:
            return 0
        return max(0, self._concurrency + ahead - in_hand)


class ItemClaims:
    """The claims of one run.

    Example:
        >>> claims = ItemClaims(store, run_id, lease_seconds=60)
        >>> moved = claims.claim(items, planned=plan.states, local=items_of_the_run)
    """

    def __init__(self, store: MetadataStore, run_id: str, *, lease_seconds: float) -> None:
        self._store = store
        self._run_id = run_id
        self._lease = lease_seconds
        self._holder = f"{socket.gethostname()}:{os.getpid()}"
        self._held: dict[ItemKey, Claim] = {}
        self._wanted: dict[ItemKey, PlanItem] = {}
        self._renewed = time.monotonic()
        self._announced: set[str] = set()
        self._claimed_any = False
        self._mine: set[ItemKey] = set()
        self._from_store: set[ItemKey] = set()
        self._baseline: dict[ItemKey, int | None] = {}
        """Each unclaimed item's newest attempt when the run planned it (a forced run: when it
        started; a recovered item: when first asked)."""

    @property
    def held(self) -> Mapping[ItemKey, Claim]:
        """Items this run waits for: other live runs hold them."""
        return self._held

    @property
    def mine(self) -> Set[ItemKey]:
        """Items this run has claimed and not finished: it may compute them."""
        return self._mine

    def read_baselines(self, keys: Sequence[ItemKey]) -> None:
        """Take each item's newest attempt now as what later moves are judged against: for a
        run that planned without reading states (forced), before any of its items is claimed."""
        assets = sorted({key[0] for key in keys})
        states = self._store.get_version_states(assets, sorted({key[1] for key in keys}))
        for key in keys:
            self._baseline.setdefault(key, _sequence(states.get(key)))

    def take_baseline_from_store(self, keys: Iterable[ItemKey]) -> None:
        """Judge later moves of ``keys`` against the store at their first claim, not the plan."""
        self._from_store.update(keys)

    def claim(
        self,
        items: Iterable[PlanItem],
        planned: Mapping[ItemKey, VersionState] | None,
        local: Collection[ItemKey],
    ) -> Moved:
        """Claim ``items``; those held by other runs are kept to claim again later.

        ``planned`` are the states the run planned with (``None`` when it read none: then the
        first claim's reading is the baseline); ``local`` the items the run itself computes,
        whose records it does not need from the store.
        """
        wanted = {item.key: item for item in items if item.blocked is None}
        self._wanted.update(wanted)
        if not wanted:
            return Moved()
        outcome = self._store.claim_items(
            self._run_id, self._holder, list(wanted), lease_seconds=self._lease
        )
        self._claimed_any = self._claimed_any or bool(outcome.claimed)
        for key in wanted:
            if key not in self._baseline:
                if planned is None or key in self._from_store:
                    self._baseline[key] = outcome.sequences.get(key)
                else:
                    self._baseline[key] = _sequence(planned.get(key))
        dead = _dead_runs_here(outcome.held)
        if dead:
            for run_id in dead:  # no need to wait for their claims to expire
                self._store.release_claims(run_id)
            outcome = self._store.claim_items(
                self._run_id, self._holder, list(wanted), lease_seconds=self._lease
            )
        self._mine.update(outcome.claimed)
        for key in outcome.claimed:
            self._held.pop(key, None)
            self._wanted.pop(key, None)
        self._held.update(outcome.held)
        self._say_who_holds(outcome.held)
        moved = [
            key
            for key in outcome.claimed
            if outcome.sequences.get(key) != self._baseline.pop(key, None)
        ]
        return self._read_moved([wanted[key] for key in moved], local)

    def claim_held(
        self, planned: Mapping[ItemKey, VersionState] | None, local: Collection[ItemKey]
    ) -> Moved:
        """Try again for the items other runs held; the ones claimed now leave ``held``."""
        return self.claim([self._wanted[key] for key in self._held], planned, local)

    def drop(self, key: ItemKey) -> None:
        """The item ended in this run (run, skipped or blocked): stop waiting for it."""
        self._held.pop(key, None)
        self._wanted.pop(key, None)
        self._mine.discard(key)

    def renew_if_due(self) -> None:
        """Extend this run's claims when a third of the lease has gone by."""
        if time.monotonic() - self._renewed < self._lease / 3:
            return
        self._renewed = time.monotonic()
        self._store.renew_claims(self._run_id, lease_seconds=self._lease)

    def release(self, keys: Sequence[ItemKey] | None = None) -> None:
        """End this run's claims on ``keys`` (all of them when ``None``)."""
        if self._claimed_any:
            self._store.release_claims(self._run_id, keys)

    def _read_moved(self, items: Sequence[PlanItem], local: Collection[ItemKey]) -> Moved:
        if not items:
            return Moved()
        keys = [item.key for item in items]
        inputs = {up for item in items for spec in item.inputs for up in spec.upstream}
        outside = sorted(inputs - set(local))
        assets = sorted({key[0] for key in keys})
        states = dict(self._store.get_version_states(assets, sorted({key[1] for key in keys})))
        latest = self._store.get_latest([*keys, *outside])
        records = {key: found.last_success for key, found in latest.items() if found.last_success}
        _log.info(
            "%d items were materialized by another run since this one planned (e.g. %s); "
            "they are judged again and reused when fresh",
            len(keys),
            _label(keys[0]),
        )
        return Moved(keys, {key: states[key] for key in keys if key in states}, records)

    def _say_who_holds(self, held: Mapping[ItemKey, Claim]) -> None:
        by_run: dict[str, list[ItemKey]] = {}
        for key, claim in held.items():
            by_run.setdefault(claim.run_id, []).append(key)
        for run_id, keys in by_run.items():
            if run_id in self._announced:
                continue
            self._announced.add(run_id)
            claim = held[keys[0]]
            _log.info(
                "waiting for %d items (e.g. %s) that run %s (%s) is materializing",
                len(keys),
                _label(keys[0]),
                run_id,
                claim.holder,
            )


def _label(key: ItemKey) -> str:
    return label((str(key[0]), key[1]))


def _sequence(state: VersionState | None) -> int | None:
    return None if state is None else state.latest_sequence


def _dead_runs_here(held: Mapping[ItemKey, Claim]) -> set[str]:
    """Runs holding claims from a process of this machine that no longer exists.

    A process on another machine cannot be checked: its claims are taken over once they expire.
    """
    here = socket.gethostname()
    dead: set[str] = set()
    for run_id, holder in {(claim.run_id, claim.holder) for claim in held.values()}:
        host, _, pid = holder.rpartition(":")
        if host != here or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.add(run_id)
            _log.warning("run %s (%s) has stopped: taking over its claimed items", run_id, holder)
        except PermissionError:  # alive, but another user's
            continue
    return dead
