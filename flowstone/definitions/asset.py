"""``@asset`` and the frozen ``AssetDef`` it registers.

The decorator validates the signature against ``depends_on`` and registers a definition in the
active registry. It never calls the function, opens files or connects to anything.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, ParamSpec, TypeAlias, TypeVar, overload

from pydantic import BaseModel

from flowstone.definitions.config_parameter import CONFIG_PARAMETER, find_config_model
from flowstone.definitions.context import AssetContext
from flowstone.definitions.retry import RetryPolicy
from flowstone.errors import DefinitionError
from flowstone.io import IOManager
from flowstone.keys import AssetKey
from flowstone.partitions import PartitionsDefinition
from flowstone.partitions.mapping import PartitionMapping

P = ParamSpec("P")
R = TypeVar("R")

CONTEXT_PARAMETER = "context"
DEFAULT_IO_MANAGER = "fs"

DependencyTarget: TypeAlias = "AssetDef[Any, Any] | AssetKey | str | PartitionMapping"
DependsOn: TypeAlias = "Sequence[DependencyTarget] | Mapping[str, DependencyTarget] | None"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where an asset is defined, shown in every error about it."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Dependency:
    """One upstream asset, bound to the function parameter ``parameter``.

    ``mapping`` says which upstream partitions each partition reads; ``None`` means the default
    for the two partitions definitions (identity, grain change, or all partitions for fan-in).
    """

    parameter: str
    asset_key: AssetKey
    mapping: PartitionMapping | None = None

    @property
    def allow_missing(self) -> bool:
        """Whether the asset runs with the upstream partitions that exist instead of blocking."""
        return self.mapping is not None and self.mapping.allow_missing


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
) -> Callable[[Callable[P, R]], AssetDef[P, R]]: ...


def asset(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Declare a function as an asset: one persistent, versioned value per partition.

    Args:
        depends_on: upstream assets (functions or keys such as ``"raw/orders"``), bound to the
            parameter named like each key's last segment, or a dict of parameter name to upstream.
        key: the asset key; the function's name by default.
        io_manager: a registered I/O manager name (``"fs"``, ``"memory"``, ...) or an instance.
        partitioned_by: the asset's partitions; unpartitioned assets have exactly one.
        retries: extra attempts after a failure, or a ``RetryPolicy`` with backoff.

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
    context_parameter = _bind_parameters(where, fn, dependencies)
    config_model = (
        None if CONFIG_PARAMETER in _names(dependencies) else find_config_model(where, fn)
    )
    return AssetDef(
        key=asset_key,
        fn=fn,
        dependencies=dependencies,
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
}


def _check_plain_options(where: str, plain: Mapping[str, Any]) -> None:
    for name, value in plain.items():
        expected = _PLAIN_OPTION_TYPES.get(name)
        if expected is None:
            raise DefinitionError(f"{where}: @asset has no option {name!r}. Remove it.")
        if not isinstance(value, expected):
            raise DefinitionError(f"{where}: {name}= has the wrong type ({value!r}).")


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


def _dependency_of(where: str, parameter: str, target: object) -> Dependency:
    if isinstance(target, PartitionMapping):
        if target.target is None:
            raise DefinitionError(
                f"{where}: the partition mapping {target!r} names no upstream asset. Pass the "
                f"asset first, e.g. TimeWindowMapping(clean_orders, start_offset=-6)."
            )
        return Dependency(parameter, _key_of(where, target.target), target)
    return Dependency(parameter, _key_of(where, target))


def _key_of(where: str, target: object) -> AssetKey:
    if isinstance(target, PartitionMapping):
        return _dependency_of(where, "", target).asset_key
    if isinstance(target, AssetDef):
        return target.key
    if isinstance(target, (str, AssetKey)):
        try:
            return AssetKey.parse(target)
        except ValueError as exc:
            raise DefinitionError(f"{where}: {exc}") from exc
    raise DefinitionError(
        f"{where}: depends_on= entries are assets or asset keys; got {target!r}. "
        f"Pass the decorated function or its key as a string."
    )


def _names(dependencies: tuple[Dependency, ...]) -> set[str]:
    return {dependency.parameter for dependency in dependencies}


def _bind_parameters(
    where: str, fn: Callable[..., Any], dependencies: tuple[Dependency, ...]
) -> str | None:
    """Check every dependency has a parameter and every required parameter is bound."""
    parameters = inspect.signature(fn).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    bound = {dependency.parameter for dependency in dependencies}
    for dependency in dependencies:
        if dependency.parameter not in parameters and not accepts_any:
            raise DefinitionError(
                f"{where}: dependency {str(dependency.asset_key)!r} matches no parameter "
                f"(expected one named {dependency.parameter!r}). Add the parameter, or map it "
                f"with depends_on={{'parameter_name': ...}}."
            )
    context_parameter = None
    for name, parameter in parameters.items():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if name == CONTEXT_PARAMETER or parameter.annotation in (AssetContext, "AssetContext"):
            if name in bound:
                raise DefinitionError(
                    f"{where}: parameter {name!r} receives the AssetContext, so no dependency "
                    f"can bind to it. Map the dependency to another name with depends_on={{...}}."
                )
            context_parameter = name
        elif (
            name not in bound
            and name != CONFIG_PARAMETER
            and parameter.default is inspect.Parameter.empty
        ):
            raise DefinitionError(
                f"{where}: parameter {name!r} matches no dependency. Add the asset it reads to "
                f"depends_on=, give it a default, or name it 'context' to receive the context."
            )
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY and name in bound:
            raise DefinitionError(f"{where}: parameter {name!r} must not be positional-only.")
    return context_parameter


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
