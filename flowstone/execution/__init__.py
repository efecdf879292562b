"""Execution: plans, the anyio runner and the ``materialize`` entry points."""

from flowstone.execution.api import materialize, materialize_async
from flowstone.execution.plan import InputSpec, Plan, PlanItem, build_plan
from flowstone.execution.result import ItemResult, RunEvent, RunResult
from flowstone.execution.runner import Runner

__all__ = [
    "InputSpec",
    "ItemResult",
    "Plan",
    "PlanItem",
    "RunEvent",
    "RunResult",
    "Runner",
    "build_plan",
    "materialize",
    "materialize_async",
]
