"""What a run sends its workers in other processes: which modules to import, which managers.

Built once per run by the driver from the plan. It refuses, before anything runs, an asset that
another process cannot run: one defined inside a function (a worker cannot import it), or one
that uses or reads a process-local I/O manager (the memory manager's values live in the
driver). Each refusal names the asset and the fix.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from flowstone.definitions import AssetDef
from flowstone.errors import ConfigError
from flowstone.execution.plan import Plan
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.work_order import SourceModule, WorkerSetup
from flowstone.keys import AssetKey

MAIN_MODULE = "__main__"
ASSET_LOGGER = "flowstone.asset"
"""The parent of every asset's logger (``flowstone.asset.<key>``)."""


def build_worker_setup(
    plan: Plan,
    managers: IOManagerSet,
    *,
    run_id: str,
    remote: Iterable[tuple[AssetKey, str]],
) -> WorkerSetup:
    """The setup for the assets in ``remote`` (each with the executor it runs on).

    Raises:
        ConfigError: an asset cannot run in another process (see the module docstring).
    """
    needed: dict[AssetKey, AssetDef[Any, Any]] = {}
    for key, executor in remote:
        definition = plan.asset(key)
        for used in (definition, *_inputs_of(plan, key)):
            _refuse_process_local(managers, definition, used, executor)
            needed[used.key] = used
    modules: dict[str, SourceModule] = {}
    for definition in needed.values():
        name = _module_of(definition)
        if name not in modules:
            modules[name] = _source_module(name)
    specs = {spec.name: spec for d in needed.values() if (spec := managers.spec_for(d))}
    level = logging.getLogger(ASSET_LOGGER).getEffectiveLevel()
    return WorkerSetup(run_id, tuple(modules.values()), specs, log_level=level)


def _inputs_of(plan: Plan, key: AssetKey) -> list[AssetDef[Any, Any]]:
    definition = plan.asset(key)
    return [
        plan.graph.get(dependency.asset_key)
        for dependency in definition.dependencies
        if dependency.loads and dependency.asset_key in plan.graph
    ]


def _refuse_process_local(
    managers: IOManagerSet,
    runner: AssetDef[Any, Any],
    used: AssetDef[Any, Any],
    executor: str,
) -> None:
    manager = managers.for_asset(used)
    if not getattr(manager, "process_local", False):
        return
    reads = "uses" if used is runner else f"reads {used.label}, which uses"
    raise ConfigError(
        f"Asset {runner.label} runs on the {executor!r} executor but {reads} the "
        f"{type(manager).__name__}, whose values live only in this process. Store it with an "
        f"I/O manager other processes can read (such as 'fs'), or run {runner.label} on "
        f"the 'threads' executor."
    )


def _module_of(definition: AssetDef[Any, Any]) -> str:
    qualname = getattr(definition.fn, "__qualname__", "")
    if "<locals>" in qualname:
        raise ConfigError(
            f"Asset {definition.label} is defined inside a function ({qualname}), so a worker "
            f"in another process cannot import it. Define it at the top level of a module, or "
            f"run it on the 'threads' executor."
        )
    return str(definition.fn.__module__)


def _source_module(name: str) -> SourceModule:
    """A module as workers find it: by name, else by its file (shipped when it stands alone)."""
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    ship = name != MAIN_MODULE and "." not in name and bool(file) and str(file).endswith(".py")
    return SourceModule(name, str(file) if file else None, ship)
