"""Execution: plans, the anyio runner, backfills and the ``materialize`` entry points."""

from flowstone.execution.api import materialize, materialize_async
from flowstone.execution.backfill import (
    BackfillResult,
    backfill,
    backfill_async,
    resume_backfill,
    resume_backfill_async,
)
from flowstone.execution.backfill_targets import BackfillPolicy
from flowstone.execution.dynamic_partitions import (
    add_dynamic_partitions,
    get_dynamic_partitions,
    remove_dynamic_partitions,
)
from flowstone.execution.partition_request import ALL_PARTITIONS, PartitionRange, PartitionRequest
from flowstone.execution.plan import InputSpec, Plan, PlanItem, build_plan
from flowstone.execution.result import ItemResult, RunEvent, RunResult
from flowstone.execution.runner import Runner
from flowstone.execution.status_report import ItemStatus, StatusReport, status

__all__ = [
    "ALL_PARTITIONS",
    "BackfillPolicy",
    "BackfillResult",
    "InputSpec",
    "ItemResult",
    "ItemStatus",
    "PartitionRange",
    "PartitionRequest",
    "Plan",
    "PlanItem",
    "RunEvent",
    "RunResult",
    "Runner",
    "StatusReport",
    "add_dynamic_partitions",
    "backfill",
    "backfill_async",
    "build_plan",
    "get_dynamic_partitions",
    "materialize",
    "materialize_async",
    "remove_dynamic_partitions",
    "resume_backfill",
    "resume_backfill_async",
    "status",
]
