"""The selection syntax: parsing, canonical text, evaluation on a graph and its errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.definitions import Registry, asset
from flowstone.definitions.asset import build_asset_def
from flowstone.errors import SelectionError
from flowstone.graph import AssetGraph, SelectionTerm, parse_selection, select
from tests.support.dags import Dag, dags, keys, reachable, takes_inputs


@pytest.fixture
def graph(registry: Registry) -> AssetGraph:
    """raw_orders -> clean_orders -> {daily_revenue, customer_ltv, warehouse/orders}.

    raw_customers -> customer_ltv as well.
    """

    @asset(group="raw", tags={"team": "data", "tier": "gold"})
    def raw_orders() -> list[int]:
        return [1]

    @asset(group="raw", tags={"team": "crm"})
    def raw_customers() -> list[str]:
        return ["ada"]

    @asset(depends_on=[raw_orders], group="clean")
    def clean_orders(raw_orders: list[int]) -> list[int]:
        return raw_orders

    @asset(depends_on=[clean_orders], group="report", tags={"tier": "gold"})
    def daily_revenue(clean_orders: list[int]) -> int:
        return sum(clean_orders)

    @asset(depends_on=[clean_orders, raw_customers], group="report")
    def customer_ltv(clean_orders: list[int], raw_customers: list[str]) -> int:
        return len(raw_customers)

    @asset(key="warehouse/orders", depends_on=[clean_orders], group="warehouse")
    def warehouse_orders(clean_orders: list[int]) -> list[int]:
        return clean_orders

    return AssetGraph.from_registry(registry)


ALL = keys(
    "raw_customers",
    "raw_orders",
    "clean_orders",
    "customer_ltv",
    "daily_revenue",
    "warehouse/orders",
)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("clean_orders", ["clean_orders"]),
        ("+clean_orders", ["raw_orders", "clean_orders"]),
        ("+customer_ltv", ["raw_customers", "clean_orders", "customer_ltv"]),
        ("++customer_ltv", ["raw_customers", "raw_orders", "clean_orders", "customer_ltv"]),
        ("raw_orders+", ["raw_orders", "clean_orders"]),
        (
            "clean_orders+",
            ["clean_orders", "customer_ltv", "daily_revenue", "warehouse/orders"],
        ),
        ("*daily_revenue", ["raw_orders", "clean_orders", "daily_revenue"]),
        (
            "raw_orders*",
            ["raw_orders", "clean_orders", "customer_ltv", "daily_revenue", "warehouse/orders"],
        ),
        (
            "+clean_orders+",
            ["raw_orders", "clean_orders", "customer_ltv", "daily_revenue", "warehouse/orders"],
        ),
        ("*customer_ltv*", ["raw_customers", "raw_orders", "clean_orders", "customer_ltv"]),
        ("group:raw", ["raw_customers", "raw_orders"]),
        ("group:raw+", ["raw_customers", "raw_orders", "clean_orders", "customer_ltv"]),
        ("+group:report", ["raw_customers", "clean_orders", "customer_ltv", "daily_revenue"]),
        ("tag:team", ["raw_customers", "raw_orders"]),
        ("tag:team=data", ["raw_orders"]),
        ("tag:tier=gold", ["raw_orders", "daily_revenue"]),
        ("warehouse/orders", ["warehouse/orders"]),
        ("+warehouse/orders", ["clean_orders", "warehouse/orders"]),
        ("orders", ["warehouse/orders"]),
    ],
)
def test_each_form_selects_its_assets(
    graph: AssetGraph, selection: str, expected: list[str]
) -> None:
    assert select(graph, selection) == keys(*expected)


@pytest.mark.parametrize(
    "selection",
    [
        "daily_revenue raw_customers",
        "daily_revenue,raw_customers",
        " daily_revenue ,\n raw_customers, ",
        ["daily_revenue", "raw_customers"],
        ["daily_revenue raw_customers"],
        [SelectionTerm("key", "daily_revenue"), "raw_customers"],
    ],
)
def test_several_terms_are_a_union_in_topological_order(
    graph: AssetGraph, selection: str | list[str | SelectionTerm]
) -> None:
    assert select(graph, selection) == keys("raw_customers", "daily_revenue")


def test_overlapping_terms_give_each_asset_once(graph: AssetGraph) -> None:
    assert select(graph, "+clean_orders clean_orders raw_orders group:clean") == keys(
        "raw_orders", "clean_orders"
    )


@pytest.mark.parametrize("selection", [None, "", "  ", " , ", []])
def test_an_empty_selection_is_every_asset(
    graph: AssetGraph, selection: str | list[str] | None
) -> None:
    assert parse_selection(selection) == ()
    assert select(graph, selection) == ALL


def test_parse_selection_builds_terms() -> None:
    assert parse_selection("++a/b*, group:raw tag:team tag:team=data") == (
        SelectionTerm("key", "a/b", upstream_depth=2, downstream_depth=None),
        SelectionTerm("group", "raw"),
        SelectionTerm("tag", "team"),
        SelectionTerm("tag", "team", "data"),
    )
    assert SelectionTerm.parse("*x+") == SelectionTerm(
        "key", "x", upstream_depth=None, downstream_depth=1
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("+", "names no asset"),
        ("*", "names no asset"),
        ("**x", "go only at the start or the end"),
        ("a+*", "go only at the start or the end"),
        ("x+y", "go only at the start or the end"),
        ("+*x", "go only at the start or the end"),
        ("group:", "group: needs a name"),
        ("group:+", "group: needs a name"),
        ("tag:", "tag: needs a key"),
        ("tag:=v", "tag: needs a key"),
        ("tag:k=", "tag value '' must be non-empty"),
        ("tag:a=b=c", "tag value 'b=c'"),
        ("a$b", "'a\\$b' may hold only letters"),
        ("a//b", "between key segments"),
        ("/a", "between key segments"),
        ("group:a/b", "'a/b' may hold only letters"),
        ("kind:x", "'kind:' is not a selector"),
    ],
)
def test_malformed_terms_are_rejected_with_the_syntax(text: str, reason: str) -> None:
    with pytest.raises(SelectionError, match=re.escape(f"term {text!r}")) as raised:
        parse_selection(f"ok {text}")
    message = str(raised.value)
    assert re.search(reason, message), message
    assert "Selection syntax: name, +name" in message


def test_unknown_name_offers_a_near_miss_and_the_syntax(graph: AssetGraph) -> None:
    with pytest.raises(SelectionError, match=r"'\+raw_order' names no asset\. ") as raised:
        select(graph, "clean_orders +raw_order")
    assert "Did you mean 'raw_orders'?" in str(raised.value)
    assert "Selection syntax" in str(raised.value)


def test_unknown_group_lists_the_known_groups(graph: AssetGraph) -> None:
    with pytest.raises(
        SelectionError,
        match=r"no asset is in group 'rwa'\. Known groups: 'clean', 'raw', 'report', 'warehouse'\.",
    ):
        select(graph, "group:rwa")


def test_unknown_tag_offers_a_near_miss(graph: AssetGraph) -> None:
    with pytest.raises(SelectionError, match=r"tag 'team=dat'\. Did you mean 'team=data'\?"):
        select(graph, "tag:team=dat")
    with pytest.raises(SelectionError, match=r"no asset has the tag 'owner'\. .*Known tags: "):
        select(graph, "tag:owner")


def test_a_name_shared_by_several_keys_is_ambiguous(registry: Registry) -> None:
    @asset(key="raw/orders")
    def raw() -> int:
        return 1

    @asset(key="clean/orders")
    def clean() -> int:
        return 1

    graph = AssetGraph.from_registry(registry)
    with pytest.raises(
        SelectionError, match=r"'orders' is ambiguous: .*'clean/orders', 'raw/orders'"
    ):
        select(graph, "orders")
    assert select(graph, "raw/orders") == keys("raw/orders")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"kind": "key", "name": "a b"}, "may hold only"),
        ({"kind": "asset", "name": "a"}, "kind must be one of"),
        ({"kind": "group", "name": "raw", "tag_value": "x"}, "only tag terms have a value"),
        ({"kind": "key", "name": "a", "upstream_depth": -1}, "depths are None"),
        ({"kind": "key", "name": "a", "downstream_depth": True}, "depths are None"),
    ],
)
def test_terms_built_directly_are_validated(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(SelectionError, match=reason):
        SelectionTerm(**fields)


@pytest.mark.parametrize(
    "text",
    ["a", "+a", "++a", "a+", "a++", "*a", "a*", "*a*", "+a++", "x/y.z-1", "group:raw*", "tag:k=v"],
)
def test_str_gives_the_canonical_syntax_back(text: str) -> None:
    assert str(SelectionTerm.parse(text)) == text


WORDS = st.text("abcXYZ019_.-é", min_size=1, max_size=8) | st.sampled_from(["group", "tag"])
DEPTHS = st.none() | st.integers(min_value=0, max_value=3)
TERMS = st.one_of(
    st.builds(
        SelectionTerm,
        st.just("key"),
        st.lists(WORDS, min_size=1, max_size=3).map("/".join),
        st.none(),
        DEPTHS,
        DEPTHS,
    ),
    st.builds(SelectionTerm, st.just("group"), WORDS, st.none(), DEPTHS, DEPTHS),
    st.builds(SelectionTerm, st.just("tag"), WORDS, st.none() | WORDS, DEPTHS, DEPTHS),
)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(TERMS, max_size=4), st.sampled_from([" ", ",", ", ", "\n"]))
def test_parse_and_str_round_trip(terms: list[SelectionTerm], separator: str) -> None:
    for term in terms:
        assert SelectionTerm.parse(str(term)) == term
    assert parse_selection(separator.join(str(term) for term in terms)) == tuple(terms)


@settings(max_examples=80, derandomize=True, deadline=None)
@given(dags(), st.data())
def test_selection_matches_a_plain_search(dag: Dag, data: st.DataObject) -> None:
    names, edges = dag
    definitions = [
        build_asset_def(
            takes_inputs, key=name, depends_on=[names[i] for i, j in sorted(edges) if j == index]
        )
        for index, name in enumerate(names)
    ]
    graph = AssetGraph.from_definitions(definitions)
    target = data.draw(st.sampled_from(range(len(names))))
    parents = {j: {i for i, jj in edges if jj == j} for j in range(len(names))}
    children = {i: {j for ii, j in edges if ii == i} for i in range(len(names))}
    name = names[target]
    cases = {
        f"*{name}": reachable(parents, target),
        f"{name}*": reachable(children, target),
        f"+{name}": {target} | parents[target],
        f"{name}+": {target} | children[target],
        f"++{name}": reachable(parents, target, depth=2),
        f"*{name}*": reachable(parents, target) | reachable(children, target),
    }
    for text, expected in cases.items():
        selected = select(graph, text)
        assert {str(key) for key in selected} == {names[i] for i in expected}, text
        assert selected == graph.topological_order(selected), text
