"""Runner invariants on random graphs with random failures (hypothesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone import UNPARTITIONED, AssetKey, IOContext, MaterializationStatus, materialize
from flowstone.definitions.asset import build_asset_def
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager
from tests.support.dags import Dag, dags

Status = MaterializationStatus


def _definitions(dag: Dag, failing: set[int]) -> list[Any]:
    names, edges = dag

    def make(index: int) -> Any:
        def compute(**inputs: int) -> int:
            if index in failing:
                raise RuntimeError(f"asset {index} fails")
            return 1 + sum(inputs.values())

        return compute

    return [
        build_asset_def(
            make(index), key=name, depends_on=[names[i] for i, j in sorted(edges) if j == index]
        )
        for index, name in enumerate(names)
    ]


@settings(max_examples=40, derandomize=True, deadline=None)
@given(dags(), st.data(), st.integers(min_value=1, max_value=4))
def test_outcomes_values_and_lineage_follow_the_graph(
    tmp_path_factory: Any, dag: Dag, data: st.DataObject, concurrency: int
) -> None:
    names, edges = dag
    failing = data.draw(st.sets(st.integers(min_value=0, max_value=len(names) - 1), max_size=3))
    folder: Path = tmp_path_factory.mktemp("run")
    store = SqlMetadataStore(f"sqlite:///{folder / 'meta.db'}")
    memory = InMemoryIOManager()
    result = materialize(
        definitions=_definitions(dag, failing), store=store, project_dir=folder,
        io_managers={"fs": memory}, concurrency=concurrency,
    )  # fmt: skip
    parents = {j: {i for i, jj in edges if jj == j} for j in range(len(names))}

    expected: dict[int, Status] = {}
    values: dict[int, int] = {}
    for index in range(len(names)):  # edges go from lower to higher indexes: a topological order
        if any(expected[p] is not Status.SUCCESS for p in parents[index]):
            expected[index] = Status.SKIPPED
        elif index in failing:
            expected[index] = Status.FAILED
        else:
            expected[index] = Status.SUCCESS
            values[index] = 1 + sum(values[p] for p in parents[index])

    by_name = {item.label: item for item in result.items}
    assert len(result.items) == len(names)
    assert {names[i]: by_name[names[i]].status for i in range(len(names))} == {
        names[i]: expected[i] for i in range(len(names))
    }
    records = {r.asset_key.name: r for r in store.get_run_materializations(result.run_id)}
    assert len(records) == len(names)
    for index, name in enumerate(names):
        record = records[name]
        assert record.status is expected[index]
        if expected[index] is Status.SUCCESS:
            assert memory.load(_ctx(name)) == values[index]
            upstream_ids = {records[names[p]].materialization_id for p in parents[index]}
            assert {edge.upstream_materialization_id for edge in record.inputs} == upstream_ids
        else:
            assert not memory.exists(_ctx(name))
    store.close()


def _ctx(name: str) -> IOContext:
    return IOContext(AssetKey.parse(name), UNPARTITIONED)
