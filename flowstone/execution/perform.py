"""Performing a work order: load the inputs, call the function, save the value.

This is the one code path of every executor: a worker thread of the driver performs an order
with the driver's definitions and I/O managers (``Materializer``), a pool process or a Dask
worker with the ones it loaded from the order's setup (``worker``). The environment decides
where definitions and managers come from and guards the save; what happens to the value is
the same everywhere. It never schedules and never touches the metadata store.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from flowstone.definitions import AssetContext, AssetDef, Output
from flowstone.definitions.config_parameter import CONFIG_PARAMETER
from flowstone.errors import FlowstoneError, IOManagerError, MissingOutputError
from flowstone.execution.failure import describe_error
from flowstone.execution.work_order import InputToLoad, ItemKey, Outcome, WorkOrder, WorkResult
from flowstone.io import IOContext, IOManager
from flowstone.keys import AssetKey
from flowstone.versioning import hash_value


class RunCancelledError(Exception):
    """Raised in a worker thread instead of saving once the run is cancelled."""


class LostInputs(Exception):
    """Some inputs have no stored value; ``lost`` names each with its I/O manager message."""

    def __init__(self, lost: Mapping[ItemKey, str]) -> None:
        super().__init__(f"{len(lost)} stored input value(s) missing")
        self.lost = dict(lost)


class WorkerEnvironment(Protocol):
    """Where a worker finds definitions and managers, and how it guards a save."""

    def definition(self, key: AssetKey) -> AssetDef[Any, Any]: ...

    def manager(self, definition: AssetDef[Any, Any]) -> IOManager: ...

    def logger(self, key: AssetKey) -> logging.Logger: ...

    def begin_save(self, order: WorkOrder) -> None:
        """Called before the value is stored; raises ``RunCancelledError`` to refuse it."""
        ...

    def end_save(self, order: WorkOrder, outcome: Outcome | None) -> None:
        """Called once the save ended (``outcome`` is ``None`` if it failed)."""
        ...


def perform(order: WorkOrder, env: WorkerEnvironment) -> WorkResult:
    """Perform ``order`` in this thread; an async function runs on an event loop of its own.

    Only ``RunCancelledError`` (and ``BaseException``) escape: every other error is the result.
    """
    started_at = datetime.now(UTC)
    try:
        definition, context, kwargs = prepare(order, env)
        value = definition.fn(**kwargs)
        if definition.is_async:
            value = asyncio.run(value)
        outcome = store(order, env, context, value)
    except LostInputs as lost:
        return WorkResult(started_at, datetime.now(UTC), lost=lost.lost)
    except RunCancelledError:
        raise
    except Exception as exc:
        return WorkResult(started_at, datetime.now(UTC), error=describe_error(exc))
    return WorkResult(started_at, datetime.now(UTC), outcome=outcome)


def prepare(
    order: WorkOrder, env: WorkerEnvironment
) -> tuple[AssetDef[Any, Any], AssetContext, dict[str, Any]]:
    """The definition, the context and the function's keyword arguments (inputs loaded).

    Raises:
        LostInputs: some inputs' values are missing (once one is, the others are only checked
            with ``exists``, so every lost input is named at once).
    """
    definition = env.definition(order.asset_key)
    context = AssetContext(
        asset_key=order.asset_key,
        partition_key=order.partition_key,
        run_id=order.run_id,
        attempt=order.attempt,
        log=env.logger(order.asset_key),
        partitions=definition.partitions,
    )
    kwargs: dict[str, Any] = {}
    if definition.context_parameter is not None:
        kwargs[definition.context_parameter] = context
    if order.config is not None:
        kwargs[CONFIG_PARAMETER] = order.config
    lost: dict[ItemKey, str] = {}
    for spec in order.inputs:
        values = _load_input(spec, env, lost)
        kwargs[spec.parameter] = values if spec.many else next(iter(values.values()), None)
    if lost:
        raise LostInputs(lost)
    return definition, context, kwargs


def _load_input(
    spec: InputToLoad, env: WorkerEnvironment, lost: dict[ItemKey, str]
) -> dict[str, Any]:
    """The values of one input by partition key; adds the missing ones to ``lost``."""
    values: dict[str, Any] = {}
    for up, stored in spec.upstream:
        definition = env.definition(up[0])
        ctx = io_context(definition, up, stored)
        manager = env.manager(definition)
        if lost:
            if not call_manager("look up", manager.exists, ctx):
                lost[up] = "no value is stored"
            continue
        try:
            values[up[1]] = call_manager("load", manager.load, ctx)
        except MissingOutputError as exc:
            lost[up] = str(exc)
    return values


def store(order: WorkOrder, env: WorkerEnvironment, context: AssetContext, value: Any) -> Outcome:
    """Save ``value`` through the asset's I/O manager, guarded by the environment."""
    env.begin_save(order)
    outcome: Outcome | None = None
    try:
        given: str | None = None
        if isinstance(value, Output):
            context.add_metadata(**value.metadata)
            value, given = value.value, value.data_version
        definition = env.definition(order.asset_key)
        ctx = io_context(definition, order.key, {})
        manager = env.manager(definition)
        saved = _checked_save_result(ctx, call_manager("save", manager.save, ctx, value))
        outcome = Outcome(
            saved,
            _json_safe(context.metadata),
            tuple(context.partition_changes),
            given or _given_by_manager(saved) or hash_value(value),
        )
        return outcome
    finally:
        env.end_save(order, outcome)


def io_context(
    definition: AssetDef[Any, Any], key: ItemKey, stored: Mapping[str, Any]
) -> IOContext:
    return IOContext(
        asset_key=key[0],
        partition_key=key[1],
        metadata=definition.metadata,
        options=definition.io_manager_options,
        stored=stored,
    )


def call_manager(action: str, call: Callable[..., Any], ctx: IOContext, *args: Any) -> Any:
    """Call an I/O manager, turning a plugin's foreign error into an ``IOManagerError``."""
    try:
        return call(ctx, *args)
    except FlowstoneError:
        raise
    except Exception as exc:
        raise IOManagerError(
            f"The I/O manager failed to {action} the value of {ctx.asset_key}"
            f"[{ctx.partition_key}]: {type(exc).__name__}: {exc}",
            asset_key=ctx.asset_key,
            partition_key=ctx.partition_key,
        ) from exc


def _checked_save_result(ctx: IOContext, saved: object) -> dict[str, Any]:
    if saved is None:
        return {}
    uri = saved.get("uri") if isinstance(saved, Mapping) else None
    if not isinstance(saved, Mapping) or (uri is not None and not isinstance(uri, str)):
        raise IOManagerError(
            f"The I/O manager of {ctx.asset_key}[{ctx.partition_key}] returned {saved!r} from "
            f"save(); it must return a mapping whose 'uri', if any, is a string. Fix the plugin.",
            asset_key=ctx.asset_key,
            partition_key=ctx.partition_key,
        )
    return _json_safe(dict(saved))


def _given_by_manager(saved: Mapping[str, Any]) -> str | None:
    version = saved.get("data_version")
    return version if isinstance(version, str) and version else None


def _json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata as the store will keep it: JSON values, anything else by its ``repr``."""
    if not values:
        return {}
    result: dict[str, Any] = json.loads(json.dumps(values, default=repr))
    return result
