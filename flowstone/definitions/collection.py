"""``Definitions``: an explicit collection of assets, gathered from modules or given as a list.

An alternative to the active registry for libraries and tests: nothing global is consulted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flowstone.definitions.asset import AssetDef


@dataclass(frozen=True, slots=True)
class Definitions:
    """A fixed set of asset definitions.

    Example:
        >>> import my_pipeline
        >>> definitions = Definitions.from_modules(my_pipeline)
        >>> materialize(definitions=definitions)
    """

    assets: tuple[AssetDef[Any, Any], ...]

    @classmethod
    def from_modules(cls, *modules: ModuleType) -> Definitions:
        """Every asset defined at the top level of ``modules``, each once, in module order."""
        found: dict[int, AssetDef[Any, Any]] = {}
        for module in modules:
            for value in vars(module).values():
                if isinstance(value, AssetDef):
                    found.setdefault(id(value), value)
        return cls(tuple(found.values()))

    @classmethod
    def from_assets(cls, assets: Iterable[AssetDef[Any, Any]]) -> Definitions:
        return cls(tuple(assets))

    def __iter__(self) -> Iterator[AssetDef[Any, Any]]:
        return iter(self.assets)

    def __len__(self) -> int:
        return len(self.assets)
