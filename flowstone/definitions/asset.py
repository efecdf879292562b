"""``@asset`` and the frozen ``AssetDef`` it registers.

The decorator validates the signature against ``depends_on`` (and ``deps``, dependencies bound to
no parameter) and registers a definition in the active registry. It never calls the function,
opens files or connects to anything.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Generic, ParamSpec, TypeAlias, TypeVar, overload

from pydantic import BaseModel

from flowstone.config import EXECUTOR_NAMES
from flowstone.definitions.config_parameter import CONFIG_PARAMETER, find_config_model
from flowstone.definitions.dependency import Dependency, bind_parameters, names_bound
from flowstone.definitions.retry import RetryPolicy
from flowstone.errors import DefinitionError
from flowstone.io import IOManager
from flowstone.keys import AssetKey
from flowstone.partitions import PartitionsDefinition
from flowstone.partitions.mapping import PartitionMapping

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_IO_MANAGER = "fs"

DependencyTarget: TypeAlias = "AssetDef[Any, Any] | AssetKey | str | PartitionMapping"
DependsOn: TypeAlias = "Sequence[DependencyTarget] | Mapping[str, DependencyTarget] | None"
Deps: TypeAlias = "Sequence[DependencyTarget] | None"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where an asset is defined, shown in every error about it."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, eq=False)
class AssetDef(Generic[P, R]):
    """A validated, registered asset definition. Calling it calls the function."""

    key: AssetKey
    fn: Callable[P, R]
    dependencies: tuple[Dependency, ...]
    source: SourceLocation
    context_parameter: str | None = None
    config_model: type[BaseModel] | None = None
    is_async: bool = False
    io_manager: str | IOManager = DEFAULT_IO_MANAGER
    io_manager_options: Mapping[str, Any] = field(default_factory=dict)
    partitions: PartitionsDefinition | None = None
    code_version: str | None = None
    group: str = "default"
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    owners: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    executor: str | None = None
    """Where its items run (``"threads"``, ``"processes"``, ``"dask"``); the run's default
    when ``None``."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def label(self) -> str:
        """``name (file:line)``: how errors refer to this asset."""
        return f"{self.key} ({self.source})"


@overload
def asset(fn: Callable[P, R], /) -> AssetDef[P, R]: ...


@overload
def asset(
    *,
    depends_on: DependsOn = None,
    deps: Deps = None,
    key: str | AssetKey | None = None,
    io_manager: str | IOManager = DEFAULT_IO_MANAGER,
    io_manager_options: Mapping[str, Any] | None = None,
    partitioned_by: PartitionsDefinition | None = None,
    code_version: str | None = None,
    group: str = "default",
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    owners: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    retries: int | RetryPolicy = 0,
    executor: str | None = None,
) -> Callable[[Callable[P, R]], AssetDef[P, R]]: ...


def asset(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Declare a function as an asset: one persistent, versioned value per partition.

    Args:
        depends_on: upstream assets (functions or keys such as ``"raw/orders"``), bound to the
            parameter named like each key's last segment, or a dict of parameter name to upstream.
        deps: upstream assets (or keys, or partition mappings) that order and version this asset
            like ``depends_on`` but are never loaded and bind to no parameter.
        key: the asset key; the function's name by default.
        io_manager: a registered I/O manager name (``"fs"``, ``"memory"``, ...) or an instance.
        partitioned_by: the asset's partitions; unpartitioned assets have exactly one.
        retries: extra attempts after a failure, or a ``RetryPolicy`` with backoff.
        executor: run this asset's items on ``"processes"`` or ``"dask"`` (or ``"threads"``)
            whatever the run's executor, e.g. one CPU-heavy asset in a process pool.

    Example:
        >>> @asset(depends_on=[raw_orders], group="clean")
        ... def clean_orders(raw_orders: list[dict]) -> list[dict]:
        ...     return [o for o in raw_orders if o["amount"] > 0]

    Raises:
        DefinitionError: the signature does not match ``depends_on`` or an option is invalid.
        CycleError: this asset closes a dependency cycle.
    """
    if fn is not None:
        return _build_and_register(fn, options)

    def decorate(inner: Callable[P, R]) -> AssetDef[P, R]:
        return _build_and_register(inner, options)

    return decorate


def _build_and_register(fn: Callable[P, R], options: Mapping[str, Any]) -> AssetDef[P, R]:
    from flowstone.definitions.registry import get_active_registry  # noqa: PLC0415 (cycle)

    definition = build_asset_def(fn, **options)
    get_active_registry().register(definition)
    return definition


def build_asset_def(
    fn: Callable[P, R],
    *,
    depends_on: DependsOn = None,
    deps: Deps = None,
    key: str | AssetKey | None = None,
    partitioned_by: PartitionsDefinition | None = None,
    retries: int | RetryPolicy = 0,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    io_manager_options: Mapping[str, Any] | None = None,
    owners: Sequence[str] = (),
    **plain: Any,
) -> AssetDef[P, R]:
    """Validate ``fn`` and options into an ``AssetDef`` without registering it."""
    if not callable(fn) or isinstance(fn, AssetDef):
        raise DefinitionError(f"@asset decorates a function; got {fn!r}.")
    source = _source_of(fn)
    asset_key = AssetKey.parse(key) if key is not None else AssetKey((fn.__name__,))
    where = f"Asset {str(asset_key)!r} ({source})"
    if partitioned_by is not None and not isinstance(partitioned_by, PartitionsDefinition):
        raise DefinitionError(
            f"{where}: partitioned_by= must be a partitions definition such as "
            f"StaticPartitions([...]); got {partitioned_by!r}."
        )
    _check_plain_options(where, plain)
    _check_selectable_names(where, asset_key, plain.get("group", "default"), tags or {})
    dependencies = _parse_dependencies(where, depends_on)
    unloaded = _parse_deps(where, deps, dependencies)
    context_parameter = bind_parameters(where, fn, dependencies, unloaded)
    config_model = (
        None if CONFIG_PARAMETER in names_bound(dependencies) else find_config_model(where, fn)
    )
    return AssetDef(
        key=asset_key,
        fn=fn,
        dependencies=dependencies + unloaded,
        source=source,
        context_parameter=context_parameter,
        config_model=config_model,
        is_async=inspect.iscoroutinefunction(fn),
        partitions=partitioned_by,
        retry_policy=retries if isinstance(retries, RetryPolicy) else RetryPolicy.of(retries),
        tags=MappingProxyType(dict(tags or {})),
        metadata=MappingProxyType(dict(metadata or {})),
        io_manager_options=MappingProxyType(dict(io_manager_options or {})),
        owners=tuple(owners),
        description=plain.pop("description", None) or inspect.getdoc(fn),
        **plain,
    )


_PLAIN_OPTION_TYPES: Mapping[str, tuple[type, ...]] = {
    "io_manager": (str, IOManager),
    "code_version": (str, type(None)),
    "group": (str,),
    "description": (str, type(None)),
    "executor": (str, type(None)),
}


def _check_plain_options(where: str, plain: Mapping[str, Any]) -> None:
    for name, value in plain.items():
        expected = _PLAIN_OPTION_TYPES.get(name)
        if expected is None:
            raise DefinitionError(f"{where}: @asset has no option {name!r}. Remove it.")
        if not isinstance(value, expected):
            raise DefinitionError(f"{where}: {name}= has the wrong type ({value!r}).")
    executor = plain.get("executor")
    if executor is not None and executor not in EXECUTOR_NAMES:
        raise DefinitionError(
            f"{where}: executor={executor!r} is not an executor. Use one of "
            f"{', '.join(repr(name) for name in EXECUTOR_NAMES)}."
        )


_SELECTABLE = re.compile(r"[\w.-]+")


def _check_selectable_names(where: str, key: AssetKey, group: str, tags: Mapping[str, str]) -> None:
    """Keys, groups and tags must be writable in the selection syntax (letters, digits, _ . -)."""
    names = [("asset key segment", segment) for segment in key.path]
    names += [("group", group)] + [("tag key", name) for name in tags]
    names += [("tag value", value) for value in tags.values()]
    for kind, value in names:
        if not isinstance(value, str) or not _SELECTABLE.fullmatch(value):
            raise DefinitionError(
                f"{where}: {kind} {value!r} must be a non-empty string of letters, digits, "
                f"'_', '.' or '-' so that selections can name it. Rename it."
            )


def _parse_dependencies(where: str, depends_on: DependsOn) -> tuple[Dependency, ...]:
    if depends_on is None:
        return ()
    if isinstance(depends_on, Mapping):
        pairs = [(str(name), target) for name, target in depends_on.items()]
    elif isinstance(depends_on, (str, AssetKey, AssetDef)):
        raise DefinitionError(
            f"{where}: depends_on= takes a list or dict; wrap it: [{depends_on}]."
        )
    else:
        pairs = [(_key_of(where, target).name, target) for target in depends_on]
    dependencies = tuple(_dependency_of(where, name, target) for name, target in pairs)
    seen: set[str] = set()
    for dependency in dependencies:
        if dependency.parameter in seen:
            raise DefinitionError(
                f"{where}: two dependencies bind to parameter {dependency.parameter!r}. "
                f"Use a dict, depends_on={{'other_name': ...}}, to give each its own parameter."
            )
        seen.add(dependency.parameter)
    return dependencies


def _dependency_of(
    where: str, parameter: str, target: object, option: str = "depends_on"
) -> Dependency:
    if isinstance(target, PartitionMapping):
        if target.target is None:
            raise DefinitionError(
                f"{where}: the partition mapping {target!r} names no upstream asset. Pass the "
                f"asset first, e.g. TimeWindowMapping(clean_orders, start_offset=-6)."
            )
        return Dependency(parameter, _key_of(where, target.target, option), target)
    return Dependency(parameter, _key_of(where, target, option))


def _key_of(where: str, target: object, option: str = "depends_on") -> AssetKey:
    if isinstance(target, PartitionMapping):
        return _dependency_of(where, "", target, option).asset_key
    if isinstance(target, AssetDef):
        return target.key
    if isinstance(target, (str, AssetKey)):
        try:
            return AssetKey.parse(target)
        except ValueError as exc:
            raise DefinitionError(f"{where}: {exc}") from exc
    hint = " (a function not decorated with @asset)" if callable(target) else ""
    raise DefinitionError(
        f"{where}: {option}= entries are assets or asset keys; got {target!r}{hint} of type "
        f"{type(target).__name__}. Pass the decorated function or its key as a string."
    )


def _parse_deps(where: str, deps: Deps, loaded: tuple[Dependency, ...]) -> tuple[Dependency, ...]:
    """The ``deps=`` entries as dependencies that load nothing, each upstream once."""
    if deps is None:
        return ()
    single = isinstance(deps, (str, AssetKey, AssetDef, PartitionMapping, Mapping))
    if single or not isinstance(deps, Iterable):
        raise DefinitionError(
            f"{where}: deps= takes a list of assets or asset keys; got {deps!r}. Wrap one in a "
            f"list, deps=[...]; to bind upstream values to parameters use depends_on= instead."
        )
    loaded_keys = {dependency.asset_key for dependency in loaded}
    unloaded: dict[AssetKey, Dependency] = {}
    for target in deps:
        dependency = _dependency_of(where, "", target, "deps")
        key = dependency.asset_key
        if key in loaded_keys:
            raise DefinitionError(
                f"{where}: {str(key)!r} is both in depends_on= and in deps=. Keep it in "
                f"depends_on= to receive its value, or only in deps= to run after it without "
                f"loading it."
            )
        if key in unloaded:
            raise DefinitionError(f"{where}: {str(key)!r} is listed twice in deps=. Remove one.")
        unloaded[key] = replace(dependency, parameter=f"deps[{key}]", loads=False)
    return tuple(unloaded.values())


def _source_of(fn: Callable[..., Any]) -> SourceLocation:
    code = getattr(fn, "__code__", None)
    if code is None:
        return SourceLocation("<unknown>", 0)
    path = inspect.getsourcefile(fn) or code.co_filename
    try:
        shown = os.path.relpath(path)
    except ValueError:
        shown = path
    if shown.startswith(".."):
        shown = path
    return SourceLocation(shown, code.co_firstlineno)
