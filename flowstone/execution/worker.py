"""The worker side of another process (a pool process or a Dask worker): ``run_order``.

A worker loads each run's ``WorkerSetup`` once (it imports the modules that define the assets
into a registry of their own and builds the I/O managers), then performs every order of that
run with them. What the asset logs is collected and sent back in the result, so the driver's
log shows it. This module is imported by workers; it must stay light and must not import the
runner.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowstone.definitions import AssetDef, Registry, get_active_registry
from flowstone.errors import ConfigError, IOManagerError
from flowstone.execution.failure import describe_error
from flowstone.execution.perform import RunCancelledError, perform
from flowstone.execution.work_order import (
    ManagerSpec,
    Outcome,
    SourceModule,
    WorkerSetup,
    WorkOrder,
    WorkResult,
)
from flowstone.io import IOManager, load_io_manager_class
from flowstone.keys import AssetKey

MAIN_MODULE = "__main__"
ASSET_LOGGER = "flowstone.asset"

_loaded: dict[str, LoadedSetup] = {}
_loading = threading.Lock()


def run_order(order: WorkOrder) -> WorkResult:
    """Perform ``order`` with its run's setup (loaded on the first order of the run)."""
    if order.setup is None:
        raise ValueError("an order sent to another process needs its setup")
    try:
        env = loaded_setup(order.setup)
    except Exception as exc:  # the definitions or managers cannot be loaded here
        failed_at = datetime.now(UTC)
        return WorkResult(failed_at, failed_at, error=describe_error(exc))
    capture = _LogCapture()
    logger = env.logger(order.asset_key)
    logger.addHandler(capture)
    try:
        result = perform(order, env)
    finally:
        logger.removeHandler(capture)
    if not capture.lines:
        return result
    return WorkResult(
        result.started_at, result.finished_at, result.outcome, result.error, result.lost,
        tuple(capture.lines),
    )  # fmt: skip


def loaded_setup(setup: WorkerSetup) -> LoadedSetup:
    """The setup of ``setup.key``, loaded once per process (a few runs' worth are kept)."""
    with _loading:
        found = _loaded.get(setup.key)
        if found is None:
            if len(_loaded) >= 4:
                _loaded.pop(next(iter(_loaded)))
            found = _loaded[setup.key] = LoadedSetup(setup)
        return found


def warm_up(setup: WorkerSetup) -> int:
    """Load ``setup`` now (before the first order arrives); return this worker's process id."""
    loaded_setup(setup)
    return os.getpid()


class LoadedSetup:
    """A run's definitions and I/O managers as this worker process has them."""

    def __init__(self, setup: WorkerSetup) -> None:
        self._specs = setup.managers
        self._modules = [module.name for module in setup.modules]
        self._managers: dict[str, IOManager] = {}
        self._assets = _import_definitions(setup.modules)
        parent = logging.getLogger(ASSET_LOGGER)  # lines go to the driver, not this stderr
        parent.setLevel(setup.log_level or logging.NOTSET)
        parent.propagate = False
        self._lock = threading.Lock()

    def definition(self, key: AssetKey) -> AssetDef[Any, Any]:
        found = self._assets.get(key)
        if found is None:
            raise ConfigError(
                f"Asset {str(key)!r} is not defined by the modules this worker imported "
                f"({', '.join(self._modules)}; found {', '.join(map(str, self._assets))}). Make "
                f"sure the worker has the same version of the definitions as the driver."
            )
        return found

    def manager(self, definition: AssetDef[Any, Any]) -> IOManager:
        if not isinstance(definition.io_manager, str):
            return definition.io_manager
        name = definition.io_manager
        with self._lock:
            found = self._managers.get(name)
            if found is None:
                found = self._managers[name] = _build_manager(
                    self._specs.get(name, ManagerSpec(name))
                )
            return found

    def logger(self, key: AssetKey) -> logging.Logger:
        return logging.getLogger(f"{ASSET_LOGGER}.{key}")

    def begin_save(self, order: WorkOrder) -> None:
        """In a pool process, the save waits on the driver's gate (a Dask worker has none)."""
        _enter_save()

    def end_save(self, order: WorkOrder, outcome: Outcome | None) -> None:
        """Nothing to report: the result carries the outcome."""


def _build_manager(spec: ManagerSpec) -> IOManager:
    if spec.instance is not None:
        return spec.instance
    try:
        return load_io_manager_class(spec.name)(**dict(spec.options))
    except IOManagerError:
        raise
    except Exception as exc:
        raise IOManagerError(
            f"The I/O manager {spec.name!r} could not be created in a worker with options "
            f"{sorted(spec.options)}: {exc}."
        ) from exc


def _import_definitions(modules: tuple[SourceModule, ...]) -> dict[AssetKey, AssetDef[Any, Any]]:
    """Import ``modules`` afresh into a registry of their own; the main module (a script
    run with ``python``) was imported as the worker started, into the default registry."""
    assets: dict[AssetKey, AssetDef[Any, Any]] = {}
    registry = Registry()
    with registry:
        for module in modules:
            if module.name != MAIN_MODULE:
                _import_fresh(module)
    if any(module.name == MAIN_MODULE for module in modules):
        assets.update((d.key, d) for d in get_active_registry().definitions())
    for module in modules:  # built without registering (build_asset_def) at the top level
        found = vars(sys.modules[module.name]).values()
        assets.update((d.key, d) for d in found if isinstance(d, AssetDef))
    assets.update((d.key, d) for d in registry.definitions())
    return assets


def _import_fresh(module: SourceModule) -> None:
    for name in [m for m in sys.modules if m == module.name or m.startswith(f"{module.name}.")]:
        del sys.modules[name]
    try:
        importlib.import_module(module.name)
        return
    except ModuleNotFoundError as exc:
        if exc.name != module.name or module.file is None or not Path(module.file).is_file():
            raise ConfigError(
                f"The definitions module {module.name!r} cannot be imported on this worker "
                f"({exc}). Install it where the workers run, or give the definitions as a "
                f"file with -f so that it is shipped to them."
            ) from exc
    spec = importlib.util.spec_from_file_location(module.name, module.file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{module.file!r} is not an importable Python file.")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module.name] = loaded
    spec.loader.exec_module(loaded)


class _LogCapture(logging.Handler):
    """Collects the lines one order's asset logs in this thread."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.lines.append((record.levelno, record.getMessage()))


COMPUTING, SAVING, CANCELLED = 0, 1, 2
"""The states of a pool process's save gate, shared with the driver."""

_save_gate: Any = None
"""This pool process's gate (a shared ``multiprocessing.Value``), set as it starts."""


def start_pool_process(gate: Any) -> None:
    """The pool's initializer: keep the gate the driver checks before it cancels this item."""
    global _save_gate  # noqa: PLW0603 - one gate per process, set once as it starts
    _save_gate = gate


def _enter_save() -> None:
    """Refuse to save once the driver cancelled this item; else tell it a save is under way."""
    if _save_gate is None:
        return
    with _save_gate.get_lock():
        if _save_gate.value == CANCELLED:
            raise RunCancelledError("the run was cancelled before the value was stored")
        _save_gate.value = SAVING
