"""The asset graph and the selection syntax (pure: networkx inside, never in the API)."""

from flowstone.graph.asset_graph import AssetGraph
from flowstone.graph.selection import SelectionTerm, parse_selection, select

__all__ = ["AssetGraph", "SelectionTerm", "parse_selection", "select"]
