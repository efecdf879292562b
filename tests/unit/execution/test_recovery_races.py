"""Several readers finding the same stored value missing at once: it is recovered exactly once."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from flowstone import UNPARTITIONED, AssetKey, Registry, RunResult, asset
from flowstone.errors import MissingOutputError
from flowstone.execution import RunEvent
from flowstone.execution.api import build_graph, plan_run
from flowstone.execution.recovery import Recovery
from flowstone.io import IOContext
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

Run = Callable[..., RunResult]
SIDE = (AssetKey.parse("side"), UNPARTITIONED)
WAIT_SECONDS = 30.0
"""Only a broken run waits this long: every wait below ends on an event of a healthy run."""


class SecondMissHeld(InMemoryIOManager):
    """Holds the second failed load until the run has stored the value again, then fails it.

    That is the worst moment for the second reader: its load saw the old value missing, and by
    the time the run hears of it the recovery triggered by the first reader has finished.
    """

    def __init__(self) -> None:
        super().__init__()
        self.second_miss = threading.Event()
        self.stored_again = threading.Event()
        self._misses = itertools.count(1)

    def load(self, ctx: IOContext) -> Any:
        try:
            return super().load(ctx)
        except MissingOutputError:
            if next(self._misses) == 2:
                self.second_miss.set()
                self.stored_again.wait(WAIT_SECONDS)
            raise


def _define_readers(manager: SecondMissHeld, counted: Counter[str]) -> None:
    """``side`` and two readers of it; ``side`` is computed again only after both missed it."""

    @asset
    def side() -> int:
        if counted["side"]:  # the first run stores it without waiting
            manager.second_miss.wait(WAIT_SECONDS)
        counted["side"] += 1
        return 5

    @asset(depends_on=[side])
    def left(side: int) -> int:
        counted["left"] += 1
        return side + 1

    @asset(depends_on=[side])
    def right(side: int) -> int:
        counted["right"] += 1
        return side + 2


def test_a_reader_that_missed_a_value_this_run_stored_since_reads_the_new_value(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    counted: Counter[str] = Counter()
    held = SecondMissHeld()
    _define_readers(held, counted)
    assert run("side", io_managers={"fs": InMemoryIOManager()}).success

    def on_event(event: RunEvent) -> None:
        if event.kind == "finished" and event.item.key == SIDE:
            held.stored_again.set()

    result = run(io_managers={"fs": held}, on_event=on_event)

    assert result.success, result.failures
    assert counted == Counter(side=2, left=1, right=1)  # one computation in each run
    assert [item.label for item in result.recovered] == ["side"]
    history = store.get_history(SIDE[0], UNPARTITIONED)
    assert [record.status.value for record in history] == ["success", "lost", "success"]
    for reader in ("left", "right"):
        [record] = store.get_history(AssetKey.parse(reader), UNPARTITIONED)
        [edge] = record.inputs
        assert edge.upstream_materialization_id == history[0].materialization_id


def test_readers_reporting_the_same_lost_input_at_once_plan_it_once(
    run: Run, store: SqlMetadataStore, registry: Registry
) -> None:
    counted: Counter[str] = Counter()
    _define_readers(SecondMissHeld(), counted)
    assert run("side", io_managers={"fs": InMemoryIOManager()}).success
    plan = plan_run(build_graph(registry), None, store)
    recovery = Recovery(plan, store, run_id="r1", next_id=map(str, itertools.count()).__next__)
    readers = {str(item.asset_key): item for item in plan.items}
    assert sorted(readers) == ["left", "right"]  # side is fresh: read from the store
    lost = {SIDE: "no value is stored"}
    # Both readers took their view of the run before either recovery joined it.
    before: dict[str, Any] = {"planned": {item.key for item in plan.items}, "finished": set()}

    first = recovery.plan_for(readers["left"], lost, records=plan.external, **before)
    second = recovery.plan_for(readers["right"], lost, records=plan.external, **before)

    assert [item.key for item in first.items] == [SIDE]
    assert [record.status.value for record in first.lost] == ["lost"]
    assert (first.wait_for, first.refusal) == ((SIDE,), None)
    assert (second.items, second.lost, second.wait_for, second.refusal) == ((), (), (SIDE,), None)
    assert [(item.asset_key, item.partition_key) for item in recovery.recovered] == [SIDE]
