"""@asset(deps=[...]): dependencies that order and version an asset but bind to no parameter."""

from __future__ import annotations

import re

import pytest

from flowstone import (
    AssetKey,
    CycleError,
    DefinitionError,
    LastPartition,
    Registry,
    StaticPartitions,
    asset,
)
from flowstone.definitions.asset import build_asset_def
from flowstone.graph import AssetGraph, select


def test_deps_take_assets_keys_and_mappings_and_bind_no_parameter(registry: Registry) -> None:
    @asset
    def orders() -> int:
        return 1

    @asset(key="raw/customers")
    def customers() -> int:
        return 2

    @asset(partitioned_by=StaticPartitions(["v1", "v2"]))
    def snapshot() -> int:
        return 3

    @asset(deps=[orders, "raw/customers", LastPartition(snapshot)])
    def audit() -> str:
        return "checked"

    assert [(str(d.asset_key), d.loads) for d in audit.dependencies] == [
        ("orders", False),
        ("raw/customers", False),
        ("snapshot", False),
    ]
    assert isinstance(audit.dependencies[2].mapping, LastPartition)
    assert audit.config_model is None and audit.context_parameter is None


def test_depends_on_and_deps_together_keep_loaded_inputs_first(registry: Registry) -> None:
    @asset
    def orders() -> int:
        return 1

    @asset
    def checks() -> int:
        return 2

    @asset(depends_on=[orders], deps=[checks])
    def report(orders: int) -> int:
        return orders

    assert [(d.parameter, d.loads) for d in report.dependencies] == [
        ("orders", True),
        ("deps[checks]", False),
    ]


def test_a_name_in_depends_on_and_deps_is_an_error_with_the_location(registry: Registry) -> None:
    @asset
    def orders() -> int:
        return 1

    with pytest.raises(DefinitionError) as caught:

        @asset(depends_on=[orders], deps=["orders"])
        def report(orders: int) -> int:
            return orders

    message = str(caught.value)
    assert re.search(r"Asset 'report' \(.*test_asset_deps\.py:\d+\)", message), message
    assert "'orders' is both in depends_on= and in deps=" in message
    assert "Keep it in depends_on= to receive its value" in message


def not_an_asset() -> int:
    return 1


@pytest.mark.parametrize(
    ("deps", "message"),
    [
        ([42], r"deps= entries are assets or asset keys; got 42 of type int\."),
        (
            [not_an_asset],
            r"got <function not_an_asset at .*> \(a function not decorated with @asset\)",
        ),
        (["orders", "orders"], r"'orders' is listed twice in deps=\. Remove one\."),
        ("orders", r"deps= takes a list of assets or asset keys; got 'orders'\. Wrap one"),
        ({"orders": "orders"}, r"deps= takes a list"),
        (42, r"deps= takes a list of assets or asset keys; got 42\."),
    ],
)
def test_bad_deps_say_what_was_given_and_where(
    registry: Registry, deps: object, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as caught:

        @asset(deps=deps)  # type: ignore[call-overload]
        def report() -> int:
            return 1

    assert re.search(r"Asset 'report' \(.*test_asset_deps\.py:\d+\)", str(caught.value))


def test_a_parameter_named_like_a_deps_entry_says_deps_loads_nothing(registry: Registry) -> None:
    with pytest.raises(DefinitionError, match=r"'orders' matches an asset in deps=, which loads"):

        @asset(deps=["orders"])
        def report(orders: int) -> int:
            return orders


def test_a_cycle_through_deps_fails_at_the_closing_decorator(registry: Registry) -> None:
    @asset(deps=["summary"])
    def extract() -> int:
        return 1

    with pytest.raises(CycleError) as caught:

        @asset(depends_on=[extract])
        def summary(extract: int) -> int:
            return extract

    message = " ".join(str(caught.value).split())
    assert re.search(
        r"summary \(.*test_asset_deps\.py:\d+\) -> extract \(.*test_asset_deps\.py:\d+\) -> "
        r"summary\. Remove one depends_on= or deps= edge to break it\.",
        message,
    ), message
    assert caught.value.cycle == [AssetKey(("summary",)), AssetKey(("extract",))]
    assert registry.get("summary") is None


def test_a_self_dependency_in_deps_is_a_cycle(registry: Registry) -> None:
    with pytest.raises(CycleError, match=r"loop \(.*\) -> loop\. Remove one deps= edge"):

        @asset(deps=["loop"])
        def loop() -> int:
            return 1


def test_a_cycle_through_deps_among_plain_definitions_fails_at_graph_build() -> None:
    def first() -> int:
        return 1

    def second(first: int) -> int:
        return first

    first_def = build_asset_def(first, deps=["second"])
    second_def = build_asset_def(second, depends_on=["first"])
    with pytest.raises(CycleError) as raised:
        AssetGraph.from_definitions([second_def, first_def])
    assert raised.value.cycle == [AssetKey(("first",)), AssetKey(("second",))]
    assert str(raised.value) == (
        f"Dependency cycle: first ({first_def.source}) -> second ({second_def.source}) -> first. "
        f"Remove one depends_on= or deps= edge to break it."
    )


def test_an_unknown_deps_key_fails_at_graph_build_with_a_hint(registry: Registry) -> None:
    @asset
    def raw_orders() -> int:
        return 1

    @asset(deps=["raw_order"])
    def report() -> int:
        return 1

    with pytest.raises(DefinitionError) as raised:
        AssetGraph.from_registry(registry)
    assert str(raised.value) == (
        f"Asset 'report' ({report.source}) depends on unknown asset 'raw_order'. "
        f"Did you mean 'raw_orders'? Fix deps= or define an asset named 'raw_order'."
    )


def test_deps_are_edges_of_the_graph_and_of_selections(registry: Registry) -> None:
    @asset
    def source() -> int:
        return 1

    @asset(deps=[source])
    def marker() -> int:
        return 2

    @asset(deps=[marker])
    def last() -> int:
        return 3

    graph = AssetGraph.from_registry(registry)
    assert [str(k) for k in graph.topological_order(["last", "marker", "source"])] == [
        "source",
        "marker",
        "last",
    ]
    assert [str(k) for k in graph.upstream("marker")] == ["source"]
    assert [str(k) for k in graph.downstream("marker")] == ["last"]
    assert [str(k) for k in select(graph, "+marker")] == ["source", "marker"]
    assert [str(k) for k in select(graph, "marker+")] == ["marker", "last"]
    assert [str(k) for k in select(graph, "*last")] == ["source", "marker", "last"]


def test_a_partitioned_deps_entry_without_an_implied_mapping_asks_for_one_in_deps(
    registry: Registry,
) -> None:
    @asset(partitioned_by=StaticPartitions(["us", "eu"]))
    def regional() -> int:
        return 1

    @asset(partitioned_by=StaticPartitions(["a", "b"]), deps=[regional])
    def other() -> int:
        return 2

    with pytest.raises(DefinitionError, match=r"Give one in deps, e\.g\. deps=\[AllPartitions"):
        AssetGraph.from_registry(registry)
