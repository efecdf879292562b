"""``Dependency``, one upstream edge of an asset, and how dependencies bind to the parameters
of the asset's function.

It checks signatures only; it never calls the function. Parsing ``depends_on=`` and ``deps=``
into dependencies is ``asset.py``'s.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flowstone.definitions.config_parameter import CONFIG_PARAMETER
from flowstone.definitions.context import AssetContext
from flowstone.errors import DefinitionError
from flowstone.keys import AssetKey
from flowstone.partitions.mapping import PartitionMapping

CONTEXT_PARAMETER = "context"


@dataclass(frozen=True, slots=True)
class Dependency:
    """One upstream asset, bound to the function parameter ``parameter``.

    ``mapping`` says which upstream partitions each partition reads; ``None`` means the default
    for the two partitions definitions (identity, grain change, or all partitions for fan-in).
    A dependency from ``deps=`` has ``loads=False``: it orders and versions the asset like any
    input, but its value is never loaded, and its ``parameter`` (``deps[key]``) names no
    function parameter, only the edge.
    """

    parameter: str
    asset_key: AssetKey
    mapping: PartitionMapping | None = None
    loads: bool = True

    @property
    def allow_missing(self) -> bool:
        """Whether the asset runs with the upstream partitions that exist instead of blocking."""
        return self.mapping is not None and self.mapping.allow_missing


def names_bound(dependencies: tuple[Dependency, ...]) -> set[str]:
    """The parameter names that ``dependencies`` bind."""
    return {dependency.parameter for dependency in dependencies}


def bind_parameters(
    where: str,
    fn: Callable[..., Any],
    dependencies: tuple[Dependency, ...],
    unloaded: tuple[Dependency, ...] = (),
) -> str | None:
    """Check every dependency has a parameter and every required parameter is bound
    (``unloaded`` ones, from ``deps=``, bind to none)."""
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
            raise _unbound_parameter_error(where, name, unloaded)
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY and name in bound:
            raise DefinitionError(f"{where}: parameter {name!r} must not be positional-only.")
    return context_parameter


def _unbound_parameter_error(
    where: str, name: str, unloaded: tuple[Dependency, ...]
) -> DefinitionError:
    if any(dependency.asset_key.name == name for dependency in unloaded):
        return DefinitionError(
            f"{where}: parameter {name!r} matches an asset in deps=, which loads nothing. Move "
            f"it to depends_on= to receive its value, or remove the parameter."
        )
    return DefinitionError(
        f"{where}: parameter {name!r} matches no dependency. Add the asset it reads to "
        f"depends_on=, give it a default, or name it 'context' to receive the context."
    )


def name_options(dependencies: Iterable[Dependency]) -> str:
    """Where these edges are declared (``depends_on=``, ``deps=`` or both), for messages."""
    options = {"depends_on=" if dependency.loads else "deps=" for dependency in dependencies}
    return " or ".join(sorted(options)) or "depends_on="


def find_edge_dependencies(
    definitions: Callable[[AssetKey], tuple[Dependency, ...]], path: Sequence[AssetKey]
) -> list[Dependency]:
    """The dependencies along ``path`` (each key upstream of the next), given each asset's."""
    return [
        dependency
        for upstream, downstream in itertools.pairwise(path)
        for dependency in definitions(downstream)
        if dependency.asset_key == upstream
    ]
