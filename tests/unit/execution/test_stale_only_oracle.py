"""The oracle: stale-only runs equal from-scratch results and execute exactly the minimal set.

Random asset graphs (some partitioned by day; identity, one-day-back window and fan-in
mappings) go through random edits. After each edit a stale-only run must leave every stored
value equal to evaluating the definitions from scratch, and must execute exactly the items a
reference model says are needed: those whose code changed, whose inputs' values changed, or that
never succeeded, cut off wherever a recomputed value came out identical. Executions are counted
through the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowstone import (
    AssetContext,
    DailyPartitions,
    Registry,
    TimeWindowMapping,
    asset,
    materialize,
)
from flowstone.io import IOContext
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager

DAYS = DailyPartitions("2024-01-01", "2024-01-04")
KEYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
MODULUS = 3  # small: edits often give identical values, which exercises the cutoff


@dataclass
class Spec:
    """A graph: per asset whether it is partitioned, and its inputs with their mapping."""

    partitioned: list[bool]
    inputs: list[list[tuple[int, str]]]  # (upstream index, "identity" | "window" | "default")


@dataclass
class World:
    """What the asset functions compute from: source data and a code factor per asset."""

    source: list[int]
    factor: list[int]
    version: list[int]
    fails: set[int] = field(default_factory=set)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    count = draw(st.integers(2, 7))
    partitioned = [draw(st.booleans()) for _ in range(count)]
    inputs: list[list[tuple[int, str]]] = []
    for index in range(count):
        ups = draw(st.sets(st.integers(0, index - 1), max_size=2)) if index else set()
        chosen = []
        for up in sorted(ups):
            both = partitioned[index] and partitioned[up]
            kind = draw(st.sampled_from(["identity", "window"])) if both else "default"
            chosen.append((up, kind))
        inputs.append(chosen)
    return Spec(partitioned, inputs)


EDITS = st.lists(
    st.tuples(st.sampled_from(["code", "same_output", "source", "fail"]), st.integers(0, 6)),
    min_size=1,
    max_size=4,
)


def _value(world: World, index: int, day: int, inputs: list[Any]) -> int:
    flat = [v for value in inputs for v in (value.values() if isinstance(value, dict) else [value])]
    return (world.source[index] + world.factor[index] + day * (index + 1) + sum(flat)) % MODULUS


def _define(spec: Spec, world: World) -> Registry:
    registry = Registry()
    with registry:
        for index in range(len(spec.partitioned)):
            _define_one(spec, world, index)
    return registry


def _define_one(spec: Spec, world: World, index: int) -> None:
    depends: dict[str, Any] = {}
    for up, kind in spec.inputs[index]:
        key = f"a{up}"
        depends[f"in{up}"] = (
            TimeWindowMapping(key, start_offset=-1, allow_missing=True) if kind == "window" else key
        )

    def compute(context: AssetContext, **inputs: Any) -> int:
        if index in world.fails:
            raise RuntimeError("edit: this attempt fails")
        day = KEYS.index(context.partition_key) if context.has_partition else 0
        return _value(world, index, day, [inputs[name] for name in sorted(inputs)])

    asset(
        key=f"a{index}",
        depends_on=depends,
        partitioned_by=DAYS if spec.partitioned[index] else None,
        code_version=f"v{world.version[index]}",
    )(compute)


def _expected(spec: Spec, world: World) -> dict[tuple[str, str], int]:
    """Evaluate the definitions from scratch, without flowstone."""
    values: dict[tuple[str, str], int] = {}
    for index, partitioned in enumerate(spec.partitioned):
        for day, key in enumerate(KEYS if partitioned else [UNPARTITIONED]):
            inputs = [_read(spec, values, up, kind, key) for up, kind in sorted(spec.inputs[index])]
            values[f"a{index}", key] = _value(world, index, day, inputs)
    return values


def _read(spec: Spec, values: dict[tuple[str, str], int], up: int, kind: str, key: str) -> Any:
    if not spec.partitioned[up]:
        return values[f"a{up}", UNPARTITIONED]
    if key == UNPARTITIONED:
        return {k: values[f"a{up}", k] for k in KEYS}
    if kind == "window":
        position = KEYS.index(key)
        return {k: values[f"a{up}", k] for k in KEYS[max(0, position - 1) : position + 1]}
    return values[f"a{up}", key]


@dataclass
class Reference:
    """What each item last computed from: its code version and its inputs' values."""

    read: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = field(default_factory=dict)

    def needed(self, spec: Spec, world: World) -> set[tuple[str, str]]:
        """Items a minimal run executes, given the values each would now read."""
        values = _expected(spec, world)
        needed = set()
        for index, partitioned in enumerate(spec.partitioned):
            for key in KEYS if partitioned else [UNPARTITIONED]:
                reads = tuple(
                    repr(_read(spec, values, up, kind, key))
                    for up, kind in sorted(spec.inputs[index])
                )
                if self.read.get((f"a{index}", key)) != (world.version[index], reads):
                    needed.add((f"a{index}", key))
                    if index not in world.fails:
                        self.read[f"a{index}", key] = (world.version[index], reads)
        return needed


def _executed(store: SqlMetadataStore, run_id: str) -> set[tuple[str, str]]:
    return {
        (str(record.asset_key), record.partition_key)
        for record in store.get_run_materializations(run_id)
        if record.status.is_attempt
    }


@dataclass
class Harness:
    """One example's graph, world, store and reference model."""

    spec: Spec
    world: World
    store: SqlMetadataStore
    memory: InMemoryIOManager
    folder: Path
    reference: Reference = field(default_factory=Reference)

    def materialize(self, *selection: str, force: bool = False) -> Any:
        chosen = [int(name[1:]) for name in selection] or range(len(self.spec.partitioned))
        partitioned = any(self.spec.partitioned[index] for index in chosen)
        return materialize(
            list(selection) or None,
            force=force,
            partitions="all" if partitioned else None,
            definitions=_define(self.spec, self.world),
            store=self.store,
            io_managers={"fs": self.memory},
            project_dir=self.folder,
        )

    def forget(self, index: int) -> None:
        for key in KEYS if self.spec.partitioned[index] else [UNPARTITIONED]:
            self.reference.read.pop((f"a{index}", key), None)

    def apply(self, kind: str, index: int) -> None:
        world = self.world
        if kind == "code":
            world.version[index] += 1
            world.factor[index] += 1
        elif kind == "same_output":
            world.version[index] += 1
        elif kind == "source":  # new source data, picked up by re-running that asset on purpose
            world.source[index] += 1
            self.materialize(f"a{index}", force=True)
            before = dict(self.reference.read)
            self.forget(index)
            self.reference.needed(self.spec, world)  # what the forced asset read, only that
            forced = {k: v for k, v in self.reference.read.items() if k[0] == f"a{index}"}
            self.reference.read = {**before, **forced}
        else:  # an attempt fails: the next stale-only run must redo it
            world.fails.add(index)
            self.materialize(f"a{index}", force=True)
            world.fails.discard(index)
            self.forget(index)

    def run_and_check(self) -> None:
        needed = self.reference.needed(self.spec, self.world)
        result = self.materialize()
        assert result.success, [(i.label, i.status, i.error) for i in result.failures]
        assert _executed(self.store, result.run_id) == needed
        for (name, key), value in _expected(self.spec, self.world).items():
            assert self.memory.load(IOContext(AssetKey.parse(name), key)) == value, (name, key)
        assert all(i.status.is_current for i in result.items)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=specs(), edits=EDITS)
def test_stale_only_runs_equal_from_scratch_and_run_the_minimal_set(
    tmp_path_factory: Any, spec: Spec, edits: list[tuple[str, int]]
) -> None:
    folder: Path = tmp_path_factory.mktemp("oracle")
    count = len(spec.partitioned)
    store = SqlMetadataStore(f"sqlite:///{folder / 'meta.db'}")
    world = World([0] * count, [0] * count, [0] * count)
    harness = Harness(spec, world, store, InMemoryIOManager(), folder)
    try:
        harness.run_and_check()
        for kind, target in edits:
            harness.apply(kind, target % count)
            harness.run_and_check()
    finally:
        store.close()
