"""The work of one item, done in a worker thread: load inputs, call the function, store the value.

It owns the save gate that makes cancellation safe: once a run is cancelled no new save starts,
and a save already under way is finished and reported, so the store never points at a value that
was replaced behind its back. It never schedules and never touches the metadata store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flowstone.definitions import AssetContext, AssetDef, Output, PartitionChange
from flowstone.definitions.config_parameter import CONFIG_PARAMETER
from flowstone.errors import FlowstoneError, IOManagerError, MissingOutputError
from flowstone.execution.plan import InputSpec, ItemKey, Plan, PlanItem
from flowstone.execution.resources import IOManagerSet
from flowstone.io import IOContext
from flowstone.storage import MaterializationRecord
from flowstone.versioning import hash_value


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a successful attempt produced: the manager's save result and the asset's metadata."""

    stored: dict[str, Any]
    metadata: dict[str, Any]
    partition_changes: tuple[PartitionChange, ...] = ()
    data_version: str | None = None
    """The value's content hash (or the one the asset or I/O manager gave); ``None`` when the
    value could not be hashed: the runner then uses its provenance version."""


@dataclass(slots=True)
class SaveInProgress:
    """A save that has started; ``outcome`` and ``finished_at`` are set once the value is stored.

    ``attempts`` is how many tries the item took, so a record made from it after a cancel says
    the same as one made normally.
    """

    started_at: datetime
    attempts: int
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenWork:
    """What a cancel finds still open: saves under way or unclaimed, and chained items running."""

    saves: dict[ItemKey, SaveInProgress]
    followers: dict[ItemKey, datetime]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at materializing an item: what to run, with which context, since when."""

    item: PlanItem
    definition: AssetDef[Any, Any]
    context: AssetContext
    started_at: datetime


class RunCancelledError(Exception):
    """Raised in a worker thread instead of saving once the run is cancelled."""


class LostInputError(Exception):
    """Inputs the store records as materialized have no stored value (a file deleted, a table
    dropped); ``lost`` gives each one's I/O manager message. The asset function did not run.

    ``tried`` holds the stored mapping each lost input was looked up with, so the runner can
    tell a value still missing from one the run replaced while this load went on.
    """

    def __init__(
        self, lost: Mapping[ItemKey, str], tried: Mapping[ItemKey, Mapping[str, Any]]
    ) -> None:
        super().__init__(f"{len(lost)} stored input value(s) missing")
        self.lost: dict[ItemKey, str] = dict(lost)
        self.tried: dict[ItemKey, Mapping[str, Any]] = dict(tried)


class Materializer:
    """Computes and stores items; safe to call from several worker threads at once."""

    def __init__(self, plan: Plan, managers: IOManagerSet) -> None:
        self._plan = plan
        self._managers = managers
        self._stored = {key: record.stored for key, record in plan.external.items()}
        self._gate = threading.Lock()
        self._cancelled = False
        self._saves: dict[ItemKey, SaveInProgress] = {}
        self._followers: dict[ItemKey, datetime] = {}

    def compute(self, attempt: Attempt) -> Outcome:
        """Load, call and store a sync asset's item (all in the calling worker thread)."""
        value = attempt.definition.fn(**self.load_inputs(attempt))
        return self.save(attempt, value)

    def load_inputs(self, attempt: Attempt) -> dict[str, Any]:
        """The function's keyword arguments: the context and every loaded input's stored value.

        Raises:
            LostInputError: some inputs' values are missing (once one is, the others are only
                checked with ``exists``, so every lost input is named at once).
        """
        kwargs: dict[str, Any] = {}
        if attempt.definition.context_parameter is not None:
            kwargs[attempt.definition.context_parameter] = attempt.context
        config = self._plan.versions.config.get(attempt.item.asset_key)
        if config is not None:
            kwargs[CONFIG_PARAMETER] = config
        lost: dict[ItemKey, str] = {}
        tried: dict[ItemKey, dict[str, Any]] = {}
        for spec in attempt.item.inputs:
            if not spec.loads:  # deps=: ordered and recorded in lineage, never loaded
                continue
            values = self._load_input(spec, lost, tried)
            kwargs[spec.parameter] = values if spec.many else next(iter(values.values()), None)
        if lost:
            raise LostInputError(lost, {key: tried[key] for key in lost})
        return kwargs

    def _load_input(
        self, spec: InputSpec, lost: dict[ItemKey, str], tried: dict[ItemKey, dict[str, Any]]
    ) -> dict[str, Any]:
        """The values of one input by partition key; adds the missing ones to ``lost``."""
        values: dict[str, Any] = {}
        for up in spec.upstream:
            definition = self._plan.asset(up[0])
            tried[up] = stored = self._stored[up]  # read once: a save may replace it meanwhile
            ctx = _io_context(definition, up, stored)
            manager = self._managers.for_asset(definition)
            if lost:
                if not _call_manager("look up", manager.exists, ctx):
                    lost[up] = "no value is stored"
                continue
            try:
                values[up[1]] = _call_manager("load", manager.load, ctx)
            except MissingOutputError as exc:
                lost[up] = str(exc)
        return values

    def still_missing(self, error: LostInputError) -> dict[ItemKey, str]:
        """The inputs of ``error`` whose loadable value is still the one found missing.

        Another item's recovery may have stored an input again while this load went on; that
        input is not lost, it only has to be loaded again. Every save and every record read
        brings a new mapping, so identity tells them apart even when they are equal.
        """
        return {
            key: reason
            for key, reason in error.lost.items()
            if self._stored.get(key) is error.tried.get(key)
        }

    def add_external(self, records: Mapping[ItemKey, MaterializationRecord]) -> None:
        """Make stored inputs found while the run goes on loadable."""
        self._stored.update({key: record.stored for key, record in records.items()})

    def save(self, attempt: Attempt, value: Any) -> Outcome:
        """Store ``value`` unless the run was cancelled; report the save even if it was."""
        key = attempt.item.key
        with self._gate:
            if self._cancelled:
                raise RunCancelledError("the run was cancelled before the value was stored")
            progress = SaveInProgress(attempt.started_at, attempt.context.attempt + 1)
            self._saves[key] = progress
        try:
            given: str | None = None
            if isinstance(value, Output):
                attempt.context.add_metadata(**value.metadata)
                value, given = value.value, value.data_version
            ctx = _io_context(attempt.definition, key, {})
            manager = self._managers.for_asset(attempt.definition)
            saved = _checked_save_result(ctx, _call_manager("save", manager.save, ctx, value))
            outcome = Outcome(
                saved,
                _json_safe(attempt.context.metadata),
                tuple(attempt.context.partition_changes),
                given or _given_by_manager(saved) or hash_value(value),
            )
            progress.finished_at = datetime.now(UTC)
            progress.outcome = outcome
            self._stored[key] = outcome.stored
            return outcome
        finally:
            progress.done.set()

    def start_follower(self, key: ItemKey) -> datetime | None:
        """Claim a chained item's start, atomically with the cancel check; ``None`` if cancelled."""
        with self._gate:
            if self._cancelled:
                return None
            started_at = self._followers[key] = datetime.now(UTC)
            return started_at

    def forget(self, key: ItemKey) -> None:
        """The runner has recorded the item; it no longer needs reporting at cancel."""
        with self._gate:
            self._saves.pop(key, None)
            self._followers.pop(key, None)

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled: no new save, and no chained item, may start."""
        return self._cancelled

    def cancel(self) -> OpenWork:
        """Refuse new saves and chained items; return what is still open. Idempotent."""
        with self._gate:
            self._cancelled = True
            return OpenWork(dict(self._saves), dict(self._followers))


def _io_context(definition: AssetDef[Any, Any], key: ItemKey, stored: dict[str, Any]) -> IOContext:
    return IOContext(
        asset_key=key[0],
        partition_key=key[1],
        metadata=definition.metadata,
        options=definition.io_manager_options,
        stored=stored,
    )


def _call_manager(action: str, call: Callable[..., Any], ctx: IOContext, *args: Any) -> Any:
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
