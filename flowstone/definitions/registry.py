"""The registry of asset definitions, and which registry is active.

It checks each registration at once for the one error that a single decorator can close: a
dependency cycle. Duplicates and unknown dependencies are reported when the graph is built, so a
module can refer to assets defined later. It does not build the graph itself (``graph/`` does).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterator
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from flowstone.definitions.asset import AssetDef
from flowstone.definitions.dependency import find_edge_dependencies, name_options
from flowstone.errors import CycleError
from flowstone.keys import AssetKey


class Registry:
    """Holds asset definitions by key. One default registry per process; ``with`` for others.

    Example:
        >>> with Registry() as registry:
        ...     import my_pipeline
        >>> sorted(str(k) for k in registry.keys())
    """

    def __init__(self) -> None:
        self._assets: dict[AssetKey, AssetDef[Any, Any]] = {}
        self._duplicates: list[tuple[AssetDef[Any, Any], AssetDef[Any, Any]]] = []
        self._dependents: defaultdict[AssetKey, set[AssetKey]] = defaultdict(set)
        self._tokens: list[Token[Registry]] = []

    def register(self, definition: AssetDef[Any, Any]) -> None:
        """Add ``definition``; raise ``CycleError`` if its dependencies close a cycle."""
        previous = self._assets.get(definition.key)
        if previous is not None and not _is_redefinition(previous, definition):
            self._duplicates.append((previous, definition))
            return
        self._raise_if_cycle(definition)
        self._assets[definition.key] = definition
        for dependency in definition.dependencies:
            self._dependents[dependency.asset_key].add(definition.key)

    def _raise_if_cycle(self, definition: AssetDef[Any, Any]) -> None:
        upstream = {dependency.asset_key for dependency in definition.dependencies}
        path = self._find_downstream_path(definition.key, upstream)
        if path is None:
            return
        cycle = path
        labels = [
            self._assets[key].label if key in self._assets else definition.label for key in path
        ]
        edges = find_edge_dependencies(
            lambda key: (definition if key == definition.key else self._assets[key]).dependencies,
            [*path, definition.key],
        )
        raise CycleError(
            f"Dependency cycle: {' -> '.join([*labels, str(definition.key)])}. "
            f"Remove one {name_options(edges)} edge to break it.",
            cycle,
        )

    def _find_downstream_path(
        self, start: AssetKey, targets: set[AssetKey]
    ) -> list[AssetKey] | None:
        """Shortest path start -> ... -> t (t in targets) along registered data-flow edges."""
        if start in targets:
            return [start]
        parents: dict[AssetKey, AssetKey | None] = {start: None}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for child in sorted(self._dependents.get(current, ())):
                if child in parents or child not in self._assets:
                    continue
                parents[child] = current
                if child in targets:
                    path = [child]
                    while (parent := parents[path[-1]]) is not None:
                        path.append(parent)
                    return path[::-1]
                queue.append(child)
        return None

    def get(self, key: AssetKey | str) -> AssetDef[Any, Any] | None:
        return self._assets.get(AssetKey.parse(key))

    def keys(self) -> list[AssetKey]:
        return list(self._assets)

    def definitions(self) -> list[AssetDef[Any, Any]]:
        """Every registered definition, in registration order."""
        return list(self._assets.values())

    @property
    def duplicates(self) -> list[tuple[AssetDef[Any, Any], AssetDef[Any, Any]]]:
        """Pairs (first, second) of definitions that claimed the same key."""
        return list(self._duplicates)

    def __iter__(self) -> Iterator[AssetDef[Any, Any]]:
        return iter(self.definitions())

    def __len__(self) -> int:
        return len(self._assets)

    def __enter__(self) -> Registry:
        self._tokens.append(_active_registry.set(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _active_registry.reset(self._tokens.pop())


def _is_redefinition(previous: AssetDef[Any, Any], new: AssetDef[Any, Any]) -> bool:
    """The same module-level function defined again (a module re-run), not a second asset."""
    qualname = getattr(new.fn, "__qualname__", "")
    same_function = getattr(previous.fn, "__qualname__", None) == qualname
    return previous.source == new.source and same_function and "<locals>" not in qualname


_default_registry = Registry()
_active_registry: ContextVar[Registry] = ContextVar("flowstone_registry", default=_default_registry)


def get_active_registry() -> Registry:
    """The registry ``@asset`` registers into: the innermost ``with Registry()`` or the default."""
    return _active_registry.get()
