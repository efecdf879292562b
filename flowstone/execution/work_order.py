"""The contract between the driver and a worker: a work order in, a work result out.

The driver (the process that plans, judges, claims and records) turns each attempt at an item
into a ``WorkOrder``; a worker (a thread of the driver, a pool process, a Dask worker) performs
it and answers with a ``WorkResult``. Both are small and picklable:

- The order names the item (asset key, partition key), the run and the attempt number, the
  resolved config, and each input to load as the upstream item with what its ``save`` returned
  (``stored``). ``setup`` says how a worker in another process gets everything else, once per
  run: the modules that define the assets (an importable module name, and the file it came from
  so that a stand-alone ``-f`` file can be shipped), and how to build each I/O manager (its
  entry-point name and options, or the picklable instance the caller gave).
- The worker loads the inputs and saves the value through the I/O managers itself: values never
  travel through the driver. It never writes to the metadata store.
- The result says how the attempt ended: an ``Outcome`` (what ``save`` returned, the data
  version, metadata, dynamic-partition requests), or the error with its formatted traceback, or
  the inputs whose stored values are lost; when it started and finished; and the asset's log
  lines, which the driver writes to its own log.

Only the driver writes to the metadata store, from the results it receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from flowstone.definitions import PartitionChange
from flowstone.io import IOManager
from flowstone.keys import AssetKey, PartitionKey

ItemKey = tuple[AssetKey, PartitionKey]


@dataclass(frozen=True, slots=True)
class SourceModule:
    """A module that defines assets: imported by name in a worker, else loaded from ``file``.

    ``ship`` marks a stand-alone file (given with ``-f``): it is sent to remote workers, which
    then need only flowstone installed.
    """

    name: str
    file: str | None = None
    ship: bool = False


@dataclass(frozen=True, slots=True)
class ManagerSpec:
    """How a worker builds the I/O manager of one name: by entry point and options, or the
    given ``instance`` itself (pickled to the worker)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    instance: IOManager | None = None


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What every order of one run shares; a worker loads it once, keyed by ``key``."""

    key: str
    modules: tuple[SourceModule, ...]
    managers: Mapping[str, ManagerSpec] = field(default_factory=dict)
    log_level: int = 0
    """The lowest level of the assets' log lines the driver shows: workers collect those."""


@dataclass(frozen=True, slots=True)
class InputToLoad:
    """One parameter of the function and the upstream items whose values it receives.

    ``upstream`` pairs each item with what its ``save`` returned; ``many`` inputs receive a
    dict by partition key, the others the single value (``None`` when there is none).
    """

    parameter: str
    upstream: tuple[tuple[ItemKey, Mapping[str, Any]], ...]
    many: bool = False


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """One attempt at one item, as a worker receives it."""

    asset_key: AssetKey
    partition_key: PartitionKey
    run_id: str
    attempt: int
    inputs: tuple[InputToLoad, ...] = ()
    config: BaseModel | None = None
    setup: WorkerSetup | None = None
    """``None`` for a worker thread of the driver, which uses the driver's own definitions."""

    @property
    def key(self) -> ItemKey:
        return (self.asset_key, self.partition_key)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a successful attempt produced: the manager's save result and the asset's metadata."""

    stored: dict[str, Any]
    metadata: dict[str, Any]
    partition_changes: tuple[PartitionChange, ...] = ()
    data_version: str | None = None
    """The value's content hash (or the one the asset or I/O manager gave); ``None`` when the
    value could not be hashed: the runner then uses its provenance version."""


@dataclass(frozen=True, slots=True)
class WorkResult:
    """How one order ended: ``outcome`` on success, else ``error`` or ``lost`` inputs."""

    started_at: datetime
    finished_at: datetime
    outcome: Outcome | None = None
    error: str | None = None
    """The asset's (or I/O manager's) error with the worker's formatted traceback."""
    lost: Mapping[ItemKey, str] = field(default_factory=dict)
    """Inputs whose stored value is missing, each with the I/O manager's message; the
    function did not run."""
    logs: tuple[tuple[int, str], ...] = ()
    """(level, message) of what the asset logged, when it ran in another process."""
