"""What a run reports back to its caller: one ``ItemResult`` per (asset, partition)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from flowstone.errors import RunError
from flowstone.execution.plan import PlanItem
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.storage import MaterializationRecord, MaterializationStatus, RunStatus


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one (asset, partition) in a run."""

    asset_key: AssetKey
    partition_key: PartitionKey
    status: MaterializationStatus
    materialization_id: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    attempts: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    blocked_by_definition: str | None = None
    """Blocked because its inputs can never exist (the short reason): not a failure."""

    @classmethod
    def from_record(
        cls, record: MaterializationRecord, attempts: int, *, blocked_by_definition: str | None
    ) -> ItemResult:
        """The result a caller sees for the record the runner writes."""
        return cls(
            asset_key=record.asset_key,
            partition_key=record.partition_key,
            status=record.status,
            materialization_id=record.materialization_id,
            started_at=record.started_at,
            finished_at=record.finished_at,
            error=record.error,
            attempts=attempts,
            metadata=record.metadata,
            blocked_by_definition=blocked_by_definition,
        )

    @property
    def is_done(self) -> bool:
        """Whether nothing is left to do for the item: it is current, or it can never run."""
        return self.status.is_current or self.blocked_by_definition is not None

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, when the function ran."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def label(self) -> str:
        """``asset`` or ``asset[partition]``: how the item is shown."""
        if self.partition_key == UNPARTITIONED:
            return str(self.asset_key)
        return f"{self.asset_key}[{self.partition_key}]"


@dataclass(frozen=True, slots=True)
class RecoveredItem:
    """An input whose stored value was found missing during the run: recorded as ``lost`` and
    computed again (its outcome is among the run's items); ``reason`` is the I/O manager's word."""

    asset_key: AssetKey
    partition_key: PartitionKey
    reason: str

    @property
    def label(self) -> str:
        """``asset`` or ``asset[partition]``: how the item is shown."""
        if self.partition_key == UNPARTITIONED:
            return str(self.asset_key)
        return f"{self.asset_key}[{self.partition_key}]"


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A progress event: an item started, or finished with ``result``; ``total`` items planned."""

    kind: Literal["started", "finished"]
    item: PlanItem
    total: int
    result: ItemResult | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything a run did, in plan order.

    Example:
        >>> result = materialize(["clean_orders"])
        >>> result.success, [item.label for item in result.failures]
        (True, [])
    """

    run_id: str
    status: RunStatus
    items: tuple[ItemResult, ...]
    fresh: tuple[tuple[AssetKey, PartitionKey], ...] = ()
    """Selected items that were already current: not run (stale-only runs)."""
    recovered: tuple[RecoveredItem, ...] = ()
    """Items whose stored value was missing and that the run computed again before reading."""

    def __repr__(self) -> str:
        # Short: a run may hold tens of thousands of items, and reprs end up in logs.
        return (
            f"RunResult(run_id={self.run_id!r}, status={self.status.value!r}, "
            f"items={len(self.items)}, fresh={len(self.fresh)}, recovered={len(self.recovered)})"
        )

    @property
    def success(self) -> bool:
        """Whether every selected item was materialized."""
        return self.status is RunStatus.SUCCESS

    @property
    def failures(self) -> list[ItemResult]:
        """Items that did not succeed (failed, skipped, cancelled, or blocked by a missing
        input); items blocked by definition are not failures."""
        return [item for item in self.items if not item.is_done]

    @property
    def blocked_by_definition(self) -> list[ItemResult]:
        """Items that were not run because their inputs can never exist."""
        return [item for item in self.items if item.blocked_by_definition is not None]

    def count(self, status: MaterializationStatus) -> int:
        """How many items ended with ``status``."""
        return sum(1 for item in self.items if item.status is status)

    def raise_on_failure(self) -> RunResult:
        """Return ``self``, or raise ``RunError`` listing every item that did not succeed."""
        if self.success:
            return self
        failures = [
            (i.asset_key, i.partition_key, i.error or i.status.value) for i in self.failures
        ]
        lines = "\n".join(f"  {item.label}: {item.status.value}" for item in self.failures)
        raise RunError(
            f"Run {self.run_id} did not succeed for {len(failures)} item(s):\n{lines}\n"
            f"See `flowstone history ASSET` for the errors, fix them and run again.",
            failures,
        )
