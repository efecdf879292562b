"""Random DAGs for property tests, and a plain search to check graph answers against."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from flowstone.definitions.asset import build_asset_def
from flowstone.graph import AssetGraph
from flowstone.keys import AssetKey

Dag = tuple[list[str], set[tuple[int, int]]]


def keys(*names: str) -> list[AssetKey]:
    return [AssetKey.parse(name) for name in names]


def takes_inputs(**inputs: Any) -> None:
    """An asset function that accepts any dependency, for generated graphs."""


def build_graph(names: list[str], edges: set[tuple[int, int]]) -> AssetGraph:
    """The graph with an asset per name and an edge names[i] -> names[j] per (i, j)."""
    depends_on: dict[int, list[str]] = {index: [] for index in range(len(names))}
    for i, j in sorted(edges):
        depends_on[j].append(names[i])
    definitions = [
        build_asset_def(takes_inputs, key=name, depends_on=depends_on[index])
        for index, name in enumerate(names)
    ]
    return AssetGraph.from_definitions(definitions)


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    """Random DAGs: edges only from a lower to a higher index, names shuffled against indexes."""
    size = draw(st.integers(min_value=1, max_value=15))
    names = draw(st.permutations([f"a{index:02d}" for index in range(size)]))
    pairs = [(i, j) for i in range(size) for j in range(i + 1, size)]
    edges = draw(st.sets(st.sampled_from(pairs))) if pairs else set()
    return list(names), edges


def reachable(adjacency: dict[int, set[int]], start: int, depth: int | None = None) -> set[int]:
    """``start`` and everything at most ``depth`` steps from it, by depth-first search."""
    best = {start: 0}
    stack = [start]
    while stack:
        current = stack.pop()
        for following in adjacency[current]:
            steps = best[current] + 1
            if (depth is None or steps <= depth) and steps < best.get(following, steps + 1):
                best[following] = steps
                stack.append(following)
    return set(best)
