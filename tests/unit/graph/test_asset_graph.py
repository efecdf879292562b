"""AssetGraph: validation messages, deterministic topological order, closures and subsets."""

from __future__ import annotations

import inspect
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.definitions import AssetDef, Dependency, Registry, asset
from flowstone.definitions.asset import build_asset_def
from flowstone.errors import CycleError, DefinitionError, SelectionError
from flowstone.graph import AssetGraph
from flowstone.keys import AssetKey
from tests.support.dags import Dag, build_graph, dags, keys, reachable, takes_inputs


def decorator_line(def_line: str) -> int:
    """The 1-based number of the line above ``def_line`` in this file: its decorator's line."""
    return Path(__file__).read_text().splitlines().index(def_line)


@pytest.fixture
def pipeline(registry: Registry) -> AssetGraph:
    """raw_orders -> clean_orders -> {daily_revenue, customer_ltv} <- raw_customers."""

    @asset(group="raw")
    def raw_orders() -> list[int]:
        return [1, -2]

    @asset(group="raw")
    def raw_customers() -> list[str]:
        return ["ada"]

    @asset(depends_on=[raw_orders])
    def clean_orders(raw_orders: list[int]) -> list[int]:
        return [amount for amount in raw_orders if amount > 0]

    @asset(depends_on=[clean_orders])
    def daily_revenue(clean_orders: list[int]) -> int:
        return sum(clean_orders)

    @asset(depends_on={"orders": clean_orders, "customers": raw_customers})
    def customer_ltv(orders: list[int], customers: list[str]) -> dict[str, int]:
        return dict.fromkeys(customers, sum(orders))

    return AssetGraph.from_registry(registry)


PIPELINE_ORDER = keys(
    "raw_customers", "raw_orders", "clean_orders", "customer_ltv", "daily_revenue"
)


def test_keys_are_in_lexicographic_topological_order(pipeline: AssetGraph) -> None:
    assert pipeline.keys() == PIPELINE_ORDER
    assert list(pipeline) == PIPELINE_ORDER
    assert pipeline.topological_order() == PIPELINE_ORDER
    assert [definition.key for definition in pipeline.definitions()] == PIPELINE_ORDER


def test_independent_assets_come_in_key_order_whatever_the_definition_order() -> None:
    names = ["c", "a", "b", "warehouse/z", "d"]
    definitions = [build_asset_def(takes_inputs, key=name) for name in names]
    shuffled = definitions[:]
    random.Random(7).shuffle(shuffled)
    for candidates in (definitions, shuffled, definitions[::-1]):
        assert AssetGraph.from_definitions(candidates).keys() == keys(
            "a", "b", "c", "d", "warehouse/z"
        )


def test_topological_order_of_a_subset_keeps_the_whole_graph_order(pipeline: AssetGraph) -> None:
    subset: list[AssetKey | str] = [
        "daily_revenue",
        AssetKey.parse("raw_orders"),
        "daily_revenue",
        "raw_customers",
    ]
    assert pipeline.topological_order(subset) == keys(
        "raw_customers", "raw_orders", "daily_revenue"
    )
    assert pipeline.topological_order([]) == []


def test_upstream_and_downstream_closures(pipeline: AssetGraph) -> None:
    assert pipeline.upstream("daily_revenue") == keys("raw_orders", "clean_orders")
    assert pipeline.upstream("customer_ltv", depth=1) == keys("raw_customers", "clean_orders")
    assert pipeline.upstream("customer_ltv", depth=2) == keys(
        "raw_customers", "raw_orders", "clean_orders"
    )
    assert pipeline.upstream("raw_orders") == []
    assert pipeline.downstream("raw_orders") == keys(
        "clean_orders", "customer_ltv", "daily_revenue"
    )
    assert pipeline.downstream("raw_orders", depth=1) == keys("clean_orders")
    assert pipeline.downstream(AssetKey.parse("raw_orders"), depth=0) == []


def test_parents_children_and_roots(pipeline: AssetGraph) -> None:
    assert pipeline.parents("customer_ltv") == keys("raw_customers", "clean_orders")
    assert pipeline.children("clean_orders") == keys("customer_ltv", "daily_revenue")
    assert pipeline.children("daily_revenue") == []
    assert pipeline.roots() == keys("raw_customers", "raw_orders")


def test_expand_widens_several_keys_at_once(pipeline: AssetGraph) -> None:
    widened = pipeline.expand(["raw_customers", "clean_orders"], upstream_depth=1)
    assert widened == keys("raw_customers", "raw_orders", "clean_orders")
    assert pipeline.expand(["clean_orders"], downstream_depth=None) == keys(
        "clean_orders", "customer_ltv", "daily_revenue"
    )


def test_subgraph_edges_stay_inside_the_subset(pipeline: AssetGraph) -> None:
    subset = ["customer_ltv", "clean_orders", "raw_orders", "raw_customers"]
    assert pipeline.subgraph_edges(subset) == [
        (AssetKey.parse("raw_customers"), AssetKey.parse("customer_ltv")),
        (AssetKey.parse("raw_orders"), AssetKey.parse("clean_orders")),
        (AssetKey.parse("clean_orders"), AssetKey.parse("customer_ltv")),
    ]
    assert pipeline.subgraph_edges(["raw_orders", "daily_revenue"]) == []


def test_dependencies_and_get_return_the_definition_values(pipeline: AssetGraph) -> None:
    assert pipeline.dependencies("customer_ltv") == (
        Dependency("orders", AssetKey.parse("clean_orders")),
        Dependency("customers", AssetKey.parse("raw_customers")),
    )
    definition = pipeline.get("raw_orders")
    assert isinstance(definition, AssetDef)
    assert definition.group == "raw"


def test_membership_and_length(pipeline: AssetGraph) -> None:
    assert len(pipeline) == 5
    assert "raw_orders" in pipeline
    assert AssetKey.parse("clean_orders") in pipeline
    assert "raw_order" not in pipeline
    assert "a//b" not in pipeline
    assert 42 not in pipeline


def test_unknown_key_raises_selection_error_with_a_near_miss(pipeline: AssetGraph) -> None:
    with pytest.raises(SelectionError, match=r"'raw_order'.* Did you mean 'raw_orders'\?"):
        pipeline.get("raw_order")
    with pytest.raises(SelectionError, match="No asset has the key 'nothing_like_it'"):
        pipeline.upstream("nothing_like_it")
    with pytest.raises(SelectionError, match="not a valid asset key"):
        pipeline.children("a//b")
    with pytest.raises(SelectionError, match="'ghost'"):
        pipeline.subgraph_edges(["raw_orders", "ghost"])


def test_negative_depth_is_rejected(pipeline: AssetGraph) -> None:
    with pytest.raises(SelectionError, match="depth must be 0 or more"):
        pipeline.upstream("daily_revenue", depth=-1)


def test_unknown_dependency_names_file_line_and_near_miss(registry: Registry) -> None:
    @asset
    def raw_orders() -> int:
        return 1

    @asset(depends_on=["raw_order"])
    def b(raw_order: int) -> int:
        return raw_order

    line = decorator_line("    def b(raw_order: int) -> int:")
    assert b.source.file.endswith("test_asset_graph.py")
    assert b.source.line == line
    expected = (
        f"Asset 'b' ({b.source.file}:{line}) depends on unknown asset 'raw_order'. "
        f"Did you mean 'raw_orders'? Fix depends_on= or define an asset named 'raw_order'."
    )
    with pytest.raises(DefinitionError) as raised:
        AssetGraph.from_registry(registry)
    assert str(raised.value) == expected


def test_all_unknown_dependencies_are_reported_in_one_error(registry: Registry) -> None:
    @asset(depends_on=["zzz", "warehouse/orders"])
    def report(zzz: int, orders: int) -> int:
        return zzz + orders

    with pytest.raises(DefinitionError) as raised:
        AssetGraph.from_registry(registry)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert "unknown asset 'zzz'. Fix depends_on=" in lines[0]
    assert "unknown asset 'warehouse/orders'. Fix depends_on=" in lines[1]
    assert all(f"({report.source})" in line for line in lines)


def test_duplicate_keys_name_both_locations(registry: Registry) -> None:
    @asset(key="orders")
    def first() -> int:
        return 1

    @asset(key="orders")
    def second() -> int:
        return 2

    assert first.source != second.source
    with pytest.raises(DefinitionError, match="'orders' is defined twice") as raised:
        AssetGraph.from_registry(registry)
    assert f"at {first.source} and at {second.source}" in str(raised.value)


def test_duplicates_among_plain_definitions_are_found_too() -> None:
    def first() -> int:
        return 1

    def second() -> int:
        return 2

    one = build_asset_def(first, key="orders")
    other = build_asset_def(second, key="orders")
    with pytest.raises(DefinitionError, match="'orders' is defined twice"):
        AssetGraph.from_definitions([one, other])
    assert AssetGraph.from_definitions([one, one]).keys() == keys("orders")


def test_cycle_is_reported_in_data_flow_order() -> None:
    def a(b: int) -> int:
        return b

    def b(a: int) -> int:
        return a

    a_def = build_asset_def(a, depends_on=["b"])
    b_def = build_asset_def(b, depends_on=["a"])
    with pytest.raises(CycleError) as raised:
        AssetGraph.from_definitions([b_def, a_def])
    assert raised.value.cycle == keys("a", "b")
    assert str(raised.value) == (
        f"Dependency cycle: a ({a_def.source}) -> b ({b_def.source}) -> a. "
        f"Remove one depends_on= edge to break it."
    )


def test_cycle_excludes_the_path_leading_into_it() -> None:
    start = build_asset_def(takes_inputs, key="start")
    c1 = build_asset_def(takes_inputs, key="c1", depends_on=["start", "c3"])
    c2 = build_asset_def(takes_inputs, key="c2", depends_on=["c1"])
    c3 = build_asset_def(takes_inputs, key="c3", depends_on=["c2"])
    with pytest.raises(CycleError, match=r"c1 \(.*\) -> c2 \(.*\) -> c3 \(.*\) -> c1\.") as raised:
        AssetGraph.from_definitions([c3, start, c2, c1])
    assert raised.value.cycle == keys("c1", "c2", "c3")


def test_asset_depending_on_itself_is_a_cycle() -> None:
    itself = build_asset_def(takes_inputs, key="itself", depends_on=["itself"])
    with pytest.raises(CycleError, match=r"itself \(.*\) -> itself\.") as raised:
        AssetGraph.from_definitions([itself])
    assert raised.value.cycle == keys("itself")


def test_a_long_chain_builds_and_answers_closures() -> None:
    names = [f"step{index:04d}" for index in range(3000)]
    graph = build_graph(names, {(index, index + 1) for index in range(len(names) - 1)})
    assert graph.keys() == keys(*names)
    assert len(graph.upstream(names[-1])) == len(names) - 1
    assert graph.downstream(names[0], depth=2) == keys(*names[1:3])


def test_api_exposes_no_networkx_types() -> None:
    for name, member in inspect.getmembers(AssetGraph):
        if name.startswith("_") or not callable(member):
            continue
        annotations = str(inspect.signature(member)).replace("AssetGraph", "")
        for networkx_name in ("nx.", "networkx", "Graph", "View"):
            assert networkx_name not in annotations, (name, annotations)


@settings(max_examples=80, derandomize=True, deadline=None)
@given(dags())
def test_topological_order_respects_every_edge_and_is_lexicographic(dag: Dag) -> None:
    names, edges = dag
    order = [str(key) for key in build_graph(names, edges).keys()]
    assert sorted(order) == sorted(names)
    position = {name: index for index, name in enumerate(order)}
    for i, j in edges:
        assert position[names[i]] < position[names[j]]
    # Kahn's algorithm, always taking the smallest available name, gives the same order.
    parents = {names[j]: {names[i] for i, jj in edges if jj == j} for j in range(len(names))}
    placed: set[str] = set()
    for name in order:
        available = [n for n in names if n not in placed and parents[n] <= placed]
        assert name == min(available)
        placed.add(name)


@settings(max_examples=80, derandomize=True, deadline=None)
@given(dags(), st.data())
def test_closures_match_a_plain_search(dag: Dag, data: st.DataObject) -> None:
    names, edges = dag
    graph = build_graph(names, edges)
    target = data.draw(st.sampled_from(range(len(names))))
    parents = {j: {i for i, jj in edges if jj == j} for j in range(len(names))}
    children = {i: {j for ii, j in edges if ii == i} for i in range(len(names))}
    assert {str(key) for key in graph.upstream(names[target])} == {
        names[i] for i in reachable(parents, target) - {target}
    }
    assert {str(key) for key in graph.downstream(names[target])} == {
        names[i] for i in reachable(children, target) - {target}
    }
    assert {str(key) for key in graph.parents(names[target])} == {names[i] for i in parents[target]}
    assert {str(key) for key in graph.upstream(names[target], depth=1)} == {
        names[i] for i in parents[target]
    }
