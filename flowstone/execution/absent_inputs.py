"""Blocked items whose absent inputs another live run is computing now: they wait for it.

An item planned as blocked because an input outside the run was never materialized may only be
early: another run may hold a claim on that input. Such an item waits until those claims end and
is then judged again against what the store holds, so it runs (or is found current) when its
inputs exist by then and stays blocked otherwise. Items blocked by definition never wait. The
store calls here are blocking: the runner runs them in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flowstone.execution.plan import ItemKey, PlanItem, item_label
from flowstone.storage import MaterializationRecord, MetadataStore

_log = logging.getLogger("flowstone.run")


class AbsentInputs:
    """The blocked items of one run that wait for other runs' claims on their inputs.

    Example:
        >>> absent = AbsentInputs(store, run_id)
        >>> absent.find(plan.items)  # holds back the items whose inputs are being computed
        >>> ready, records = absent.settle()  # later: those whose claims have ended
    """

    def __init__(self, store: MetadataStore, run_id: str) -> None:
        self._store = store
        self._run_id = run_id
        self.waiting: dict[ItemKey, PlanItem] = {}
        """Items held back, by key: not to be queued until ``settle`` returns them."""

    def find(self, items: Iterable[PlanItem]) -> None:
        """Hold back the blocked items an absent input of which another live run holds."""
        candidates = [item for item in items if item.absent and not item.blocked_by_definition]
        if not candidates:
            return
        held = self._held({up for item in candidates for up in item.absent})
        for item in candidates:
            if held.intersection(item.absent):
                self.waiting[item.key] = item
        if self.waiting:
            first = next(iter(self.waiting))
            _log.info(
                "%d blocked items (e.g. %s) wait for inputs other runs are materializing",
                len(self.waiting),
                item_label(first),
            )

    def settle(self) -> tuple[list[PlanItem], dict[ItemKey, MaterializationRecord]]:
        """The held-back items none of whose absent inputs is claimed any more (they leave
        ``waiting``), and the last successes of those inputs now."""
        if not self.waiting:
            return [], {}
        held = self._held({up for item in self.waiting.values() for up in item.absent})
        ready = [item for item in self.waiting.values() if not held.intersection(item.absent)]
        if not ready:
            return [], {}
        for item in ready:
            del self.waiting[item.key]
        latest = self._store.get_latest(sorted({up for item in ready for up in item.absent}))
        records = {key: state.last_success for key, state in latest.items() if state.last_success}
        return ready, records

    def _held(self, keys: set[ItemKey]) -> set[ItemKey]:
        """Those of ``keys`` that another run holds a live claim on."""
        claims = self._store.get_claims(sorted(keys))
        return {key for key, claim in claims.items() if claim.run_id != self._run_id}
