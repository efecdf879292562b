"""The I/O manager plugin contract: everything a storage plugin needs to import.

It owns the ``IOManager`` protocol, the frozen ``IOContext`` handed to it, and the lookup of
managers by name through the ``flowstone.io_managers`` entry-point group. It must not import any
plugin eagerly: a manager's module is imported only when an asset first uses it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from flowstone.errors import IOManagerError
from flowstone.keys import AssetKey, PartitionKey

ENTRY_POINT_GROUP = "flowstone.io_managers"


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class IOContext:
    """What an I/O manager is told about the value it stores or loads.

    New information becomes a new field here, never a new method parameter.

    Attributes:
        asset_key: the asset the value belongs to.
        partition_key: the partition (``UNPARTITIONED`` for unpartitioned assets).
        metadata: the asset's definition-level metadata.
        options: definition-level options for the manager (``io_manager_options=`` on ``@asset``).
        stored: what ``save`` returned when this value was stored (empty when unknown).
    """

    asset_key: AssetKey
    partition_key: PartitionKey
    metadata: Mapping[str, Any] = field(default_factory=_empty)
    options: Mapping[str, Any] = field(default_factory=_empty)
    stored: Mapping[str, Any] = field(default_factory=_empty)


@runtime_checkable
class IOManager(Protocol):
    """Stores and loads one (asset, partition) value. Called from worker threads."""

    def save(self, ctx: IOContext, value: Any) -> Mapping[str, Any]:
        """Persist ``value`` atomically; return metadata (e.g. ``{"uri": ...}``) for the store."""
        ...

    def load(self, ctx: IOContext) -> Any:
        """Return the stored value; raise ``MissingOutputError`` if there is none."""
        ...

    def exists(self, ctx: IOContext) -> bool:
        """Cheap presence check; must not read the value."""
        ...


def iter_io_manager_names() -> list[str]:
    """The names of every installed I/O manager, sorted."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


@cache
def load_io_manager_class(name: str) -> type[IOManager]:
    """Import the I/O manager registered under ``name`` (only now, on first use).

    Raises:
        IOManagerError: no installed package registers ``name``.
    """
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = iter_io_manager_names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise IOManagerError(
            f"No I/O manager named {name!r} is installed "
            f"(known: {', '.join(known) or 'none'}).{hint} "
            f"Fix io_manager= or install the package that provides it under the "
            f"{ENTRY_POINT_GROUP!r} entry-point group."
        )
    try:
        loaded: type[IOManager] = found[0].load()
    except Exception as exc:
        raise IOManagerError(
            f"The I/O manager {name!r} ({found[0].value}) failed to import: {exc}. "
            f"Fix or reinstall the package that provides it."
        ) from exc
    return loaded
