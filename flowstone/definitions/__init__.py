"""Asset definitions: ``@asset``, ``AssetDef``, ``AssetContext`` and the ``Registry``."""

from flowstone.definitions.asset import AssetDef, SourceLocation, asset
from flowstone.definitions.collection import Definitions
from flowstone.definitions.context import AssetContext, PartitionChange
from flowstone.definitions.dependency import Dependency
from flowstone.definitions.output import Output
from flowstone.definitions.registry import Registry, get_active_registry
from flowstone.definitions.retry import RetryPolicy

__all__ = [
    "AssetContext",
    "AssetDef",
    "Definitions",
    "Dependency",
    "Output",
    "PartitionChange",
    "Registry",
    "RetryPolicy",
    "SourceLocation",
    "asset",
    "get_active_registry",
]
