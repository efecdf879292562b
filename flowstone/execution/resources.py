"""The I/O manager instances a run uses, built once per run from names, options and overrides.

Managers named on ``@asset`` are imported from their entry point only when an asset in the plan
uses them, and constructed before anything runs so a bad name fails the run up front.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowstone.config import Settings
from flowstone.definitions import AssetDef
from flowstone.errors import IOManagerError
from flowstone.execution.work_order import ManagerSpec
from flowstone.io import IOManager, load_io_manager_class

FILESYSTEM_MANAGER = "fs"


class IOManagerSet:
    """Resolves each asset's I/O manager: an instance on the asset, a given override, or by name.

    Example:
        >>> managers = IOManagerSet(settings, {"memory": InMemoryIOManager()})
        >>> managers.for_asset(clean_orders)
    """

    def __init__(self, settings: Settings, overrides: Mapping[str, IOManager] | None = None):
        self._settings = settings
        self._instances: dict[str, IOManager] = dict(overrides or {})
        self._built: set[str] = set()
        """Names built here from settings (the others in ``_instances`` were given)."""

    def prepare(self, definitions: Iterable[AssetDef[Any, Any]]) -> None:
        """Build every manager these assets need now, so a bad name fails before the run."""
        for definition in definitions:
            self.for_asset(definition)

    def for_asset(self, definition: AssetDef[Any, Any]) -> IOManager:
        """The manager that stores ``definition``'s values."""
        if not isinstance(definition.io_manager, str):
            return definition.io_manager
        name = definition.io_manager
        instance = self._instances.get(name)
        if instance is None:
            instance = self._build(name, definition)
            self._instances[name] = instance
            self._built.add(name)
        return instance

    def spec_for(self, definition: AssetDef[Any, Any]) -> ManagerSpec | None:
        """How a worker in another process builds ``definition``'s manager (``None`` when the
        asset holds its own instance, which the worker imports with it)."""
        if not isinstance(definition.io_manager, str):
            return None
        name = definition.io_manager
        given = self._instances.get(name)
        if given is not None and name not in self._built:
            return ManagerSpec(name, instance=given)
        return ManagerSpec(name, options=self._options_for(name))

    def _build(self, name: str, definition: AssetDef[Any, Any]) -> IOManager:
        try:
            manager_class = load_io_manager_class(name)
        except IOManagerError as exc:
            raise IOManagerError(
                f"Asset {definition.label}: {exc}", asset_key=definition.key
            ) from exc
        options = self._options_for(name)
        try:
            return manager_class(**options)
        except Exception as exc:
            raise IOManagerError(
                f"The I/O manager {name!r} for asset {definition.label} could not be created "
                f"with options {sorted(options)}: {exc}. Fix its settings.",
                asset_key=definition.key,
            ) from exc

    def _options_for(self, name: str) -> dict[str, Any]:
        options = dict(self._settings.io_managers.get(name, {}))
        if name == FILESYSTEM_MANAGER:
            options.setdefault("root", self._settings.resolved_storage_root())
        return options
