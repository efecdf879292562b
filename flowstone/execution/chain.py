"""Chains: runs of items that can execute back to back in one worker thread.

An item's *successor* is its only dependent in the plan when that dependent reads no other
planned item, is a sync asset without retries, is not blocked and is not conditional (those
are judged by the runner when their inputs are done): it becomes ready exactly when
its predecessor succeeds, so running it in the same thread saves a round trip through the event
loop without changing what runs, in which order, or what is recorded. Pure: plan in, map out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from flowstone.execution.materializer import Attempt, Outcome
from flowstone.execution.plan import ItemKey, Plan, PlanItem


@dataclass(frozen=True, slots=True)
class ChainStep:
    """One item run in a chain: its attempt, when it finished, and its outcome or error."""

    attempt: Attempt
    finished_at: datetime
    outcome: Outcome | None = None
    error: str | None = None


def find_successors(
    plan: Plan,
    dependents: Mapping[ItemKey, Sequence[ItemKey]],
    planned_upstream: Mapping[ItemKey, int],
) -> dict[ItemKey, PlanItem]:
    """Map each sync item to the item that may run right after it in the same thread."""
    items = {item.key: item for item in plan.items}
    successors: dict[ItemKey, PlanItem] = {}
    for key, followers in dependents.items():
        if len(followers) != 1 or plan.asset(key[0]).is_async:
            continue
        follower = items[followers[0]]
        definition = plan.asset(follower.asset_key)
        if (
            planned_upstream[follower.key] == 1
            and follower.blocked is None
            and not follower.conditional
            and not definition.is_async
            and definition.retry_policy.max_retries == 0
        ):
            successors[key] = follower
    return successors
