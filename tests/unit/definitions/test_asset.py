"""@asset: signatures, options and the registry's import-time checks."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from flowstone import AssetContext, AssetKey, CycleError, DefinitionError, Registry, asset
from flowstone.definitions import RetryPolicy

FIXTURES = Path(__file__).parents[2] / "fixtures"


def _import_fixture(name: str) -> None:
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_cycle_raises_at_the_closing_decorator_with_the_path_in_order(registry: Registry) -> None:
    with pytest.raises(CycleError) as caught:
        _import_fixture("assets_cycle")
    message = str(caught.value)
    pattern = (
        r"orders_report \(.*assets_cycle\.py:16\) -> orders_raw \(.*assets_cycle\.py:6\) -> "
        r"orders_clean \(.*assets_cycle\.py:11\) -> orders_report\."
    )
    assert re.search(pattern, message), message
    assert [str(k) for k in caught.value.cycle] == ["orders_report", "orders_raw", "orders_clean"]
    assert caught.value.__traceback__ is not None
    # the two assets before the closing one were registered; the closing one was not
    assert sorted(str(k) for k in registry.keys()) == ["orders_clean", "orders_raw"]


def test_self_dependency_is_a_cycle(registry: Registry) -> None:
    with pytest.raises(CycleError, match=r"loop \(.*\) -> loop"):

        @asset(depends_on=["loop"])
        def loop(loop: int) -> int:
            return loop


def test_bare_and_called_forms_register_and_stay_callable(registry: Registry) -> None:
    @asset
    def numbers() -> list[int]:
        """Some numbers."""
        return [1, 2]

    @asset(depends_on=[numbers], group="g", tags={"k": "v"}, retries=2)
    def total(numbers: list[int]) -> int:
        return sum(numbers)

    assert total([3, 4]) == 7
    assert numbers.description == "Some numbers."
    assert total.retry_policy == RetryPolicy(max_retries=2)
    assert [d.asset_key for d in total.dependencies] == [AssetKey(("numbers",))]
    assert registry.get("total") is total


def test_dict_dependencies_bind_to_named_parameters_and_keys_with_groups(
    registry: Registry,
) -> None:
    @asset(key="raw/orders")
    def orders() -> int:
        return 1

    @asset(depends_on={"rows": "raw/orders"})
    def count(rows: int) -> int:
        return rows

    assert count.dependencies[0].parameter == "rows"
    assert str(count.dependencies[0].asset_key) == "raw/orders"


def test_context_parameter_by_name_or_annotation(registry: Registry) -> None:
    @asset
    def by_name(context) -> int:  # type: ignore[no-untyped-def]
        return 1

    @asset
    def by_annotation(ctx: AssetContext) -> int:
        return 1

    assert by_name.context_parameter == "context"
    assert by_annotation.context_parameter == "ctx"


def test_async_functions_are_assets(registry: Registry) -> None:
    @asset
    async def fetched() -> int:
        return 1

    assert fetched.is_async


@pytest.mark.parametrize(
    ("kwargs", "signature", "message"),
    [
        ({"depends_on": ["a"]}, "def f(): pass", r"dependency 'a' matches no parameter"),
        ({}, "def f(x): pass", r"parameter 'x' matches no dependency"),
        ({"depends_on": "a"}, "def f(a): pass", r"takes a list or dict"),
        ({"depends_on": [1]}, "def f(a): pass", r"entries are assets or asset keys"),
        ({"partitioned_by": "daily"}, "def f(): pass", r"partitioned_by= must be"),
        ({"colour": "red"}, "def f(): pass", r"has no option 'colour'"),
        ({"retries": -1}, "def f(): pass", r"Invalid RetryPolicy"),
        ({"depends_on": {"a": "x", "b": "y"}}, "def f(a): pass", r"'y' matches no parameter"),
    ],
)
def test_bad_definitions_raise_with_the_location(
    registry: Registry, kwargs: dict[str, object], signature: str, message: str
) -> None:
    namespace: dict[str, object] = {}
    exec(compile(signature, "pipeline.py", "exec"), namespace)
    with pytest.raises(DefinitionError, match=message) as caught:
        asset(**kwargs)(namespace["f"])  # type: ignore[call-overload]
    if "RetryPolicy" not in message:  # a RetryPolicy is checked before it meets the function
        assert "Asset 'f' (pipeline.py:1)" in str(caught.value)


def test_error_names_the_file_and_line(registry: Registry) -> None:
    with pytest.raises(DefinitionError, match=r"Asset 'orphan' \(.*test_asset\.py:\d+\)"):

        @asset
        def orphan(missing: int) -> int:
            return missing


def test_registry_isolation_and_duplicates(registry: Registry) -> None:
    with Registry() as inner:

        @asset
        def thing() -> int:
            return 1

    assert inner.get("thing") is thing
    assert registry.get("thing") is None

    @asset
    def twin() -> int:
        return 1

    def make_second_twin() -> None:
        @asset(key="twin")
        def other() -> int:
            return 2

    make_second_twin()
    assert len(registry.duplicates) == 1
    assert registry.get("twin") is twin


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "my asset"}, r"asset key segment 'my asset'"),
        ({"group": "raw data"}, r"group 'raw data'"),
        ({"tags": {"tier": 1}}, r"tag value 1"),
        ({"tags": {"a=b": "c"}}, r"tag key 'a=b'"),
    ],
)
def test_names_must_be_selectable(
    registry: Registry, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):

        @asset(**kwargs)  # type: ignore[call-overload]
        def named() -> int:
            return 1


def test_assets_made_by_a_factory_with_one_key_are_duplicates(registry: Registry) -> None:
    def make(value: int) -> None:
        @asset(key="made")
        def made() -> int:
            return value

    make(1)
    make(2)
    assert len(registry.duplicates) == 1


def test_definitions_from_modules_collects_top_level_assets(registry: Registry) -> None:
    import types

    from flowstone import Definitions

    @asset
    def first() -> int:
        return 1

    module = types.ModuleType("pipeline")
    module.first = first  # type: ignore[attr-defined]
    module.alias = first  # type: ignore[attr-defined]
    module.other = 3  # type: ignore[attr-defined]
    assert Definitions.from_modules(module).assets == (first,)
