"""The asset graph: every definition, the dependency edges between them and their order.

This module owns validation of a set of definitions as a whole (duplicate keys, unknown
dependencies, cycles) and the queries over it: closures, topological order and subsets. networkx
is used inside only; no networkx object crosses this module's API. It must not run asset code,
read storage, look at the clock or print.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, TypeAlias

import networkx as nx

from flowstone.definitions import AssetDef, Dependency, Registry
from flowstone.definitions.dependency import find_edge_dependencies, name_options
from flowstone.errors import CycleError, DefinitionError, SelectionError
from flowstone.graph.mappings import resolve_mappings
from flowstone.keys import AssetKey
from flowstone.partitions.mapping import PartitionMapping

KeyLike: TypeAlias = AssetKey | str
"""An asset key, or its text form such as ``"warehouse/orders"``."""

DuplicatePair: TypeAlias = tuple[AssetDef[Any, Any], AssetDef[Any, Any]]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` sentence for the closest candidate, or ``""`` if none is close.

    Example:
        >>> did_you_mean("raw_order", ["raw_orders", "clean_orders"])
        " Did you mean 'raw_orders'?"
    """
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class AssetGraph:
    """A validated set of asset definitions and the dependency edges between them.

    Edges run upstream -> downstream (the direction data flows). Every query accepts asset keys
    or their text form and returns asset keys in topological order: an asset comes after all
    assets it depends on, and assets that do not depend on each other come in key order.

    Example:
        >>> graph = AssetGraph.from_registry(registry)
        >>> [str(key) for key in graph.upstream("daily_revenue")]
        ['raw_orders', 'clean_orders']

    Raises:
        DefinitionError: two definitions share a key, or a dependency names no asset.
        CycleError: the dependencies form a cycle.
    """

    __slots__ = ("_definitions", "_graph", "_mappings", "_order", "_position")

    def __init__(
        self,
        definitions: Iterable[AssetDef[Any, Any]],
        *,
        duplicates: Iterable[DuplicatePair] = (),
    ) -> None:
        by_key, found = _index_definitions(definitions)
        _raise_if_duplicates([*duplicates, *found])
        _raise_if_unknown_dependencies(by_key)
        graph: nx.DiGraph[AssetKey] = nx.DiGraph()
        graph.add_nodes_from(by_key)
        graph.add_edges_from(
            (dependency.asset_key, key)
            for key, definition in by_key.items()
            for dependency in definition.dependencies
        )
        self._definitions: Mapping[AssetKey, AssetDef[Any, Any]] = by_key
        self._graph = graph
        self._order: tuple[AssetKey, ...] = _sort_or_raise_cycle(graph, by_key)
        self._position: dict[AssetKey, int] = {key: i for i, key in enumerate(self._order)}
        self._mappings = resolve_mappings(by_key)

    @classmethod
    def from_definitions(
        cls,
        definitions: Iterable[AssetDef[Any, Any]],
        *,
        duplicates: Iterable[DuplicatePair] = (),
    ) -> AssetGraph:
        """Build and validate the graph of ``definitions``.

        Args:
            definitions: asset definitions, e.g. from ``build_asset_def`` or a registry.
            duplicates: pairs of definitions that claimed the same key (reported as errors).

        Example:
            >>> graph = AssetGraph.from_definitions([raw_orders, clean_orders])
            >>> graph.keys()
            [AssetKey('raw_orders'), AssetKey('clean_orders')]

        Raises:
            DefinitionError: duplicate keys or unknown dependencies, with ``file:line``.
            CycleError: the dependencies form a cycle; ``.cycle`` lists it in order.
        """
        return cls(definitions, duplicates=duplicates)

    @classmethod
    def from_registry(cls, registry: Registry) -> AssetGraph:
        """Build and validate the graph of every asset in ``registry``.

        Example:
            >>> with Registry() as registry:
            ...     import my_pipeline
            >>> graph = AssetGraph.from_registry(registry)

        Raises:
            DefinitionError: duplicate keys or unknown dependencies, with ``file:line``.
            CycleError: the dependencies form a cycle.
        """
        return cls(registry.definitions(), duplicates=registry.duplicates)

    def keys(self) -> list[AssetKey]:
        """Every asset key in topological order (computed once, when the graph is built).

        Example:
            >>> [str(key) for key in graph.keys()]
            ['raw_orders', 'clean_orders', 'daily_revenue']
        """
        return list(self._order)

    def definitions(self) -> list[AssetDef[Any, Any]]:
        """Every definition in topological order.

        Example:
            >>> {definition.group for definition in graph.definitions()}
            {'raw', 'clean'}
        """
        return [self._definitions[key] for key in self._order]

    def mapping(self, asset_key: AssetKey, dependency: Dependency) -> PartitionMapping:
        """The partition mapping ``dependency`` of ``asset_key`` uses (explicit or default)."""
        return self._mappings[asset_key, dependency.parameter]

    def topological_order(self, keys: Iterable[KeyLike] | None = None) -> list[AssetKey]:
        """``keys`` (default: all) in the graph's topological order, without duplicates.

        A subset keeps the order of the whole graph, so an asset still follows the assets it
        depends on through assets outside the subset.

        Example:
            >>> graph.topological_order(["daily_revenue", "raw_orders"])
            [AssetKey('raw_orders'), AssetKey('daily_revenue')]

        Raises:
            SelectionError: a key is not in the graph.
        """
        if keys is None:
            return list(self._order)
        return self._in_order({self._resolve(key) for key in keys})

    def get(self, key: KeyLike) -> AssetDef[Any, Any]:
        """The definition of ``key``.

        Example:
            >>> graph.get("raw_orders").group
            'raw'

        Raises:
            SelectionError: no asset has this key; the message offers the closest key.
        """
        found = self._definitions.get(key) if isinstance(key, AssetKey) else None
        return found if found is not None else self._definitions[self._resolve(key)]

    def dependencies(self, key: KeyLike) -> tuple[Dependency, ...]:
        """The dependencies of ``key`` as declared: one per bound parameter, then those from
        ``deps=`` (``loads`` false).

        Example:
            >>> [d.parameter for d in graph.dependencies("clean_orders")]
            ['raw_orders']
        """
        return self.get(key).dependencies

    def parents(self, key: KeyLike) -> list[AssetKey]:
        """The assets ``key`` depends on directly, in topological order.

        Example:
            >>> graph.parents("clean_orders")
            [AssetKey('raw_orders')]
        """
        return self._in_order(self._graph.pred[self._resolve(key)])

    def children(self, key: KeyLike) -> list[AssetKey]:
        """The assets that depend directly on ``key``, in topological order.

        Example:
            >>> graph.children("raw_orders")
            [AssetKey('clean_orders')]
        """
        return self._in_order(self._graph.succ[self._resolve(key)])

    def roots(self) -> list[AssetKey]:
        """The assets that depend on no other asset, in topological order.

        Example:
            >>> graph.roots()
            [AssetKey('raw_orders')]
        """
        return [key for key in self._order if not self._graph.pred[key]]

    def upstream(self, key: KeyLike, depth: int | None = None) -> list[AssetKey]:
        """The assets ``key`` depends on, up to ``depth`` edges away (``None``: all of them).

        ``depth=1`` gives the direct parents. ``key`` itself is not included.

        Example:
            >>> graph.upstream("daily_revenue")
            [AssetKey('raw_orders'), AssetKey('clean_orders')]

        Raises:
            SelectionError: the key is unknown or ``depth`` is negative.
        """
        start = self._resolve(key)
        return [found for found in self.expand([start], upstream_depth=depth) if found != start]

    def downstream(self, key: KeyLike, depth: int | None = None) -> list[AssetKey]:
        """The assets that depend on ``key``, up to ``depth`` edges away (``None``: all of them).

        ``depth=1`` gives the direct children. ``key`` itself is not included.

        Example:
            >>> graph.downstream("raw_orders", depth=1)
            [AssetKey('clean_orders')]

        Raises:
            SelectionError: the key is unknown or ``depth`` is negative.
        """
        start = self._resolve(key)
        return [found for found in self.expand([start], downstream_depth=depth) if found != start]

    def expand(
        self,
        keys: Iterable[KeyLike],
        *,
        upstream_depth: int | None = 0,
        downstream_depth: int | None = 0,
    ) -> list[AssetKey]:
        """``keys`` plus their upstream and downstream assets within the given depths.

        A depth of ``0`` adds nothing in that direction and ``None`` adds everything.

        Example:
            >>> graph.expand(["clean_orders"], upstream_depth=1, downstream_depth=None)
            [AssetKey('raw_orders'), AssetKey('clean_orders'), AssetKey('daily_revenue')]

        Raises:
            SelectionError: a key is unknown or a depth is negative.
        """
        starts = {self._resolve(key) for key in keys}
        found = set(starts)
        found |= _reach(self._graph.pred, starts, upstream_depth)
        found |= _reach(self._graph.succ, starts, downstream_depth)
        return self._in_order(found)

    def subgraph_edges(self, keys: Iterable[KeyLike]) -> list[tuple[AssetKey, AssetKey]]:
        """The (upstream, downstream) edges whose both ends are in ``keys``, in topological order.

        Example:
            >>> graph.subgraph_edges(["raw_orders", "clean_orders"])
            [(AssetKey('raw_orders'), AssetKey('clean_orders'))]

        Raises:
            SelectionError: a key is not in the graph.
        """
        subset = self._in_order({self._resolve(key) for key in keys})
        members = set(subset)
        return [
            (upstream, downstream)
            for upstream in subset
            for downstream in self._in_order(self._graph.succ[upstream])
            if downstream in members
        ]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            try:
                key = AssetKey.parse(key)
            except ValueError:
                return False
        return key in self._definitions

    def __iter__(self) -> Iterator[AssetKey]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"<AssetGraph: {len(self)} assets>"

    def _resolve(self, key: KeyLike) -> AssetKey:
        """The ``AssetKey`` for ``key``, or a ``SelectionError`` naming the closest key."""
        try:
            asset_key = AssetKey.parse(key)
        except ValueError as exc:
            raise SelectionError(f"{key!r} is not a valid asset key: {exc}") from exc
        if asset_key in self._definitions:
            return asset_key
        hint = did_you_mean(str(asset_key), (str(known) for known in self._order))
        raise SelectionError(
            f"No asset has the key {str(asset_key)!r} (the graph has {len(self)} assets).{hint} "
            f"Check the spelling, or define an asset with that key."
        )

    def _in_order(self, keys: Collection[AssetKey]) -> list[AssetKey]:
        return sorted(keys, key=self._position.__getitem__)


def _reach(
    adjacency: Mapping[AssetKey, Iterable[AssetKey]], starts: set[AssetKey], depth: int | None
) -> set[AssetKey]:
    """Assets at most ``depth`` edges from ``starts`` along ``adjacency`` (breadth first)."""
    if depth is not None and depth < 0:
        raise SelectionError(f"depth must be 0 or more (or None for all); got {depth}.")
    found: set[AssetKey] = set()
    frontier = starts
    level = 0
    while frontier and (depth is None or level < depth):
        frontier = {nxt for key in frontier for nxt in adjacency[key] if nxt not in found}
        found |= frontier
        level += 1
    return found


def _index_definitions(
    definitions: Iterable[AssetDef[Any, Any]],
) -> tuple[dict[AssetKey, AssetDef[Any, Any]], list[DuplicatePair]]:
    """Definitions by key, plus pairs that claim one key from different places.

    The same definition seen again (or one from the same ``file:line``, as after a module
    reload) is not a duplicate; the later one wins, as in ``Registry.register``.
    """
    by_key: dict[AssetKey, AssetDef[Any, Any]] = {}
    duplicates: list[DuplicatePair] = []
    for definition in definitions:
        previous = by_key.get(definition.key)
        if previous is not None and previous.source != definition.source:
            duplicates.append((previous, definition))
            continue
        by_key[definition.key] = definition
    return by_key, duplicates


def _raise_if_duplicates(duplicates: list[DuplicatePair]) -> None:
    lines = [
        f"Asset {str(first.key)!r} is defined twice, at {first.source} and at {second.source}. "
        f"Rename one with key= or remove one of the definitions."
        for first, second in duplicates
    ]
    if lines:
        raise DefinitionError("\n".join(lines))


def _raise_if_unknown_dependencies(definitions: Mapping[AssetKey, AssetDef[Any, Any]]) -> None:
    known = [str(key) for key in definitions]
    lines: list[str] = []
    for key, definition in definitions.items():
        for dependency in definition.dependencies:
            if dependency.asset_key in definitions:
                continue
            missing = str(dependency.asset_key)
            lines.append(
                f"Asset {str(key)!r} ({definition.source}) depends on unknown asset {missing!r}."
                f"{did_you_mean(missing, known)} Fix {name_options([dependency])} or define an "
                f"asset named {missing!r}."
            )
    if lines:
        raise DefinitionError("\n".join(lines))


def _sort_or_raise_cycle(
    graph: Any, definitions: Mapping[AssetKey, AssetDef[Any, Any]]
) -> tuple[AssetKey, ...]:
    """The lexicographic topological order of ``graph``, or ``CycleError`` with a cycle in order."""
    try:
        return tuple(nx.lexicographical_topological_sort(graph, key=str))
    except nx.NetworkXUnfeasible:
        cycle: list[AssetKey] = [upstream for upstream, _ in nx.find_cycle(graph)]
    # Start at the smallest key so the message does not depend on definition order.
    first = cycle.index(min(cycle, key=str))
    cycle = cycle[first:] + cycle[:first]
    path = " -> ".join([*(definitions[key].label for key in cycle), str(cycle[0])])
    edges = find_edge_dependencies(lambda key: definitions[key].dependencies, [*cycle, cycle[0]])
    raise CycleError(
        f"Dependency cycle: {path}. Remove one {name_options(edges)} edge to break it.", cycle
    )
