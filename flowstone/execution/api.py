"""The Python entry points: ``materialize`` and ``materialize_async``.

They resolve settings, the metadata store, the graph and the I/O managers, build the plan and
hand it to the runner. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from flowstone.config import Settings, load_settings
from flowstone.definitions import AssetDef, Definitions, Registry, get_active_registry
from flowstone.errors import ConfigError
from flowstone.execution.asset_versions import ConfigValues, resolve_asset_versions
from flowstone.execution.partition_request import PartitionRequest
from flowstone.execution.plan import Plan, build_plan
from flowstone.execution.resources import IOManagerSet
from flowstone.execution.result import RunEvent, RunResult
from flowstone.execution.runner import Runner
from flowstone.graph import AssetGraph, select
from flowstone.io import IOManager
from flowstone.storage import MetadataStore
from flowstone.storage.sql import SqlMetadataStore

Selection = str | Sequence[str] | None
_SQLITE_FILE = "sqlite:///"


def resolve_settings(project_dir: Path | None = None, **overrides: Any) -> Settings:
    """Load settings, turning a validation failure into a ``ConfigError`` naming the field."""
    try:
        return load_settings(project_dir, **overrides)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(
            f"Invalid flowstone settings ({fields}). Fix [tool.flowstone] in pyproject.toml, "
            f"flowstone.toml or the FLOWSTONE_* environment variables."
        ) from exc


@contextmanager
def open_store(
    store: str | MetadataStore | None, settings: Settings, *, read_only: bool = False
) -> Iterator[MetadataStore]:
    """The given store, or one opened from a URL (closed on exit), or the project default.

    ``read_only`` (status, dry runs, listings) never creates a SQLite file that does not exist
    yet: it reads an empty in-memory store instead.
    """
    if store is not None and not isinstance(store, str):
        yield store
        return
    url = store or settings.resolved_store_url()
    if read_only and url.startswith(_SQLITE_FILE) and not Path(url[len(_SQLITE_FILE) :]).exists():
        url = "sqlite://"
    opened = SqlMetadataStore(url)
    try:
        yield opened
    finally:
        opened.close()


def build_graph(
    definitions: Registry | Definitions | Sequence[AssetDef[Any, Any]] | None,
) -> AssetGraph:
    """The validated graph of a registry (the active one by default) or a set of assets."""
    if definitions is None:
        definitions = get_active_registry()
    if isinstance(definitions, Registry):
        return AssetGraph.from_registry(definitions)
    return AssetGraph.from_definitions(definitions)


def plan_run(
    graph: AssetGraph,
    selection: Selection,
    store: MetadataStore,
    *,
    partitions: PartitionRequest = None,
    config: ConfigValues | None = None,
    force: bool = False,
) -> Plan:
    """The plan for ``selection`` (every asset when ``None``): its stale items, or all of them
    with ``force``.

    Raises:
        PartitionError: the partitions do not fit the selection.
        ConfigError: a config value does not validate.
    """
    selected = select(graph, selection)
    versions = resolve_asset_versions(graph, selected, config)
    return build_plan(graph, selected, store, request=partitions, versions=versions, force=force)


async def materialize_async(
    selection: Selection = None,
    *,
    definitions: Registry | Definitions | Sequence[AssetDef[Any, Any]] | None = None,
    store: str | MetadataStore | None = None,
    io_managers: Mapping[str, IOManager] | None = None,
    partitions: PartitionRequest = None,
    config: ConfigValues | None = None,
    force: bool = False,
    concurrency: int | None = None,
    project_dir: Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    executor: str | None = None,
    dask_address: str | None = None,
) -> RunResult:
    """Materialize the selected assets inside a running event loop. See ``materialize``."""
    settings = resolve_settings(
        project_dir, concurrency=concurrency, executor=executor, dask_address=dask_address
    )
    graph = build_graph(definitions)
    with open_store(store, settings) as opened:
        plan = await anyio.to_thread.run_sync(
            partial(
                plan_run,
                graph,
                selection,
                opened,
                partitions=partitions,
                config=config,
                force=force,
            )
        )
        managers = IOManagerSet(settings, io_managers)
        managers.prepare(plan.asset(key) for key in plan.assets_loaded_or_written)
        runner = Runner(
            plan, opened, managers, concurrency=settings.concurrency, on_event=on_event,
            lease_seconds=settings.lease_seconds, executor=settings.executor,
            dask_address=settings.dask_address,
        )  # fmt: skip
        return await runner.run()


def materialize(
    selection: Selection = None,
    *,
    definitions: Registry | Definitions | Sequence[AssetDef[Any, Any]] | None = None,
    store: str | MetadataStore | None = None,
    io_managers: Mapping[str, IOManager] | None = None,
    partitions: PartitionRequest = None,
    config: ConfigValues | None = None,
    force: bool = False,
    concurrency: int | None = None,
    project_dir: Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    executor: str | None = None,
    dask_address: str | None = None,
) -> RunResult:
    """Materialize the selected assets and record every outcome with its lineage.

    Args:
        selection: selection terms (``"clean_orders"``, ``"*daily_revenue"``, ``"group:raw"``);
            every asset when ``None``.
        definitions: a ``Registry`` or list of assets; the active registry by default.
        store: a metadata store URL or instance; ``.flowstone/flowstone.db`` by default.
        io_managers: I/O manager instances by name, overriding the installed ones.
        partitions: which partitions of partitioned assets: keys, ``PartitionRange(first,
            last)`` or ``"all"``; required when a selected asset is partitioned.
        config: config values by asset key, validated against each asset's config model.
        force: run every selected item, fresh or not (by default only the stale ones run).
        concurrency: items run at once (default from settings, 8).
        on_event: called on every item start and finish (progress displays).
        executor: where items run: ``"threads"`` (the default), ``"processes"`` (a pool of
            this machine's cores) or ``"dask"`` (``pip install "flowstone[dask]"``).
        dask_address: the Dask scheduler (``tcp://host:8786``); a local cluster when omitted.

    Returns:
        A ``RunResult``; call ``.raise_on_failure()`` to turn failures into a ``RunError``.

    Example:
        >>> result = materialize("*daily_revenue", concurrency=4)
        >>> result.success
        True
    """
    return anyio.run(
        partial(
            materialize_async,
            selection,
            definitions=definitions,
            store=store,
            io_managers=io_managers,
            partitions=partitions,
            config=config,
            force=force,
            concurrency=concurrency,
            project_dir=project_dir,
            on_event=on_event,
            executor=executor,
            dask_address=dask_address,
        )
    )
