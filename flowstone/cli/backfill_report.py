"""How backfills are shown: the summary after a run, ``backfill show`` and ``backfill list``.

Only display: the commands in ``flowstone.cli.backfill`` read the store and pass values in.
Text goes to stdout as rich output; ``--json`` variants are plain data built here too, so the
two never disagree about what a backfill is.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flowstone.cli.output import (
    describe,
    describe_blocked_by_definition,
    item_label,
    problems_table,
    run_as_dict,
    stdout_console,
)
from flowstone.execution import BackfillResult
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage import BackfillRecord, MaterializationStatus, mask_url

ItemKey = tuple[AssetKey, PartitionKey]

PROBLEMS_SHOWN = 20
"""Failed or blocked items listed in text output; the rest are counted."""
PROBLEM_STATUSES = (MaterializationStatus.FAILED, MaterializationStatus.BLOCKED)
"""The outcomes listed item by item; skipped and cancelled items follow from them or Ctrl-C."""
PENDING = "pending"
"""The state of a backfill item that none of its runs has reached yet."""
REUSED = "reused"
"""The state of a backfill item another run stored while the backfill went on: it is done."""
REUSING_RUNS_SHOWN = 3
"""Runs named in the summary's line of reused items; the rest are counted."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A backfill item that failed or is blocked, with the reason its last attempt recorded."""

    asset_key: AssetKey
    partition_key: PartitionKey
    status: MaterializationStatus
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": str(self.asset_key),
            "partition": self.partition_key,
            "status": self.status.value,
            "error": self.error,
        }


def resume_command(
    backfill_id: str,
    *,
    module: str | None,
    file: Path | None,
    store_url: str | None,
    config_file: Path | None = None,
) -> str:
    """The command line that resumes ``backfill_id`` with the same definitions, config file and
    store (its password masked: never printed)."""
    words = ["flowstone", "backfill", "resume", backfill_id]
    if file is not None:
        words += ["-f", str(file)]
    elif module is not None:
        words += ["-m", module]
    if config_file is not None:
        words += ["--config", str(config_file)]
    if store_url is not None:
        words += ["--store", mask_url(store_url)]
    return shlex.join(words)


def describe_partitions(partitions: Mapping[str, Any]) -> str:
    """A backfill's partition request in the words of the command line."""
    if "from" in partitions:
        return f"{partitions['from']}..{partitions['to']}"
    if partitions.get("all"):
        return "all"
    if "keys" in partitions:
        keys = [str(key) for key in partitions["keys"]]
        shown = ", ".join(keys[:5])
        return f"{shown}, ... ({len(keys)} keys)" if len(keys) > 5 else shown
    return "none (unpartitioned)"


def report_result(result: BackfillResult, *, resume: str, as_json: bool) -> None:
    """The summary after ``backfill`` or ``backfill resume``: where it stands, what failed."""
    record = result.backfill
    if as_json:
        payload = {
            "backfill": record.model_dump(mode="json"),
            "complete": result.success,
            "succeeded": result.succeeded,
            "failed": result.failed,
            "remaining": result.remaining,
            "reused": reused_as_dicts(result.reused),
            "run": None if result.run is None else run_as_dict(result.run),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    console = stdout_console()
    console.print(
        f"[bold]backfill {record.backfill_id}[/] {record.status.value}: {result.succeeded} of "
        f"{record.item_count} items succeeded, {result.failed} failed, "
        f"{result.remaining} remaining"
    )
    if result.run is None:
        console.print("Nothing to run: every item of this backfill has succeeded.")
    else:
        items = result.run.items
        counts = Counter(item.status for item in items if item.blocked_by_definition is None)
        impossible = len(result.run.blocked_by_definition)
        apart = f", {impossible} blocked by definition" if impossible else ""
        console.print(f"run {result.run.run_id}: {_describe_counts(counts)}{apart}")
        if result.reused:
            console.print(describe_reused(result.reused), highlight=False)
        for line in describe_blocked_by_definition(items):
            click.echo(line)
        problems = [
            Problem(item.asset_key, item.partition_key, item.status, item.error)
            for item in items
            if item.status in PROBLEM_STATUSES and item.blocked_by_definition is None
        ]
        _print_problems(console, problems, record.backfill_id)
    if not result.success:
        console.print(f"To resume: {escape(resume)}", highlight=False, soft_wrap=True)


def describe_reused(reused: Mapping[ItemKey, str]) -> str:
    """One line: how many items were reused from which runs (short ids), most first."""
    by_run = Counter(reused.values()).most_common()
    shown = [f"{count} reused from run {run_id[:8]}…" for run_id, count in by_run]
    if len(shown) > REUSING_RUNS_SHOWN:
        rest = sum(count for _, count in by_run[REUSING_RUNS_SHOWN:])
        others = len(by_run) - REUSING_RUNS_SHOWN
        shown[REUSING_RUNS_SHOWN:] = [f"{rest} from {others} other runs"]
    return ", ".join(shown)


def reused_as_dicts(reused: Mapping[ItemKey, str]) -> list[dict[str, str]]:
    """Reused items with the full id of the run that stored each, as JSON-ready data."""
    return [
        {"asset": str(asset_key), "partition": partition_key, "run_id": run_id}
        for (asset_key, partition_key), run_id in reused.items()
    ]


def report_backfill(
    record: BackfillRecord,
    counts: Mapping[str, int],
    problems: Sequence[Problem],
    *,
    resume: str,
    as_json: bool,
    reused: Mapping[ItemKey, str] | None = None,
) -> None:
    """``backfill show``: the request, counts per state, the problems and the runs; ``reused``
    items (stored by other runs while it went on) count as done."""
    if as_json:
        payload = {
            "backfill": record.model_dump(mode="json"),
            "counts": dict(counts),
            "problems": [problem.as_dict() for problem in problems],
            "reused": reused_as_dicts(reused or {}),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    console = stdout_console()
    console.print(_details(record, counts))
    if reused:
        console.print(describe_reused(reused), highlight=False)
    _print_problems(console, problems, record.backfill_id)
    done_states = [status.value for status in MaterializationStatus if status.is_current]
    done = sum(counts.get(state, 0) for state in [*done_states, REUSED])
    if done < record.item_count:
        console.print(f"To resume: {escape(resume)}", highlight=False, soft_wrap=True)


def _details(record: BackfillRecord, counts: Mapping[str, int]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    counted = ", ".join(f"{count} {state}" for state, count in counts.items() if count)
    for name, value in (
        ("backfill", record.backfill_id),
        ("status", record.status.value),
        ("policy", record.policy),
        ("selection", ", ".join(record.selection) or "(no assets)"),
        ("partitions", describe_partitions(record.partitions)),
        ("created", record.created_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("updated", record.updated_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("items", f"{record.item_count}" + (f": {counted}" if counted else "")),
        ("runs", ", ".join(record.run_ids) or "none"),
    ):
        grid.add_row(name, escape(value))
    return grid


def report_backfills(records: Sequence[BackfillRecord], *, as_json: bool) -> None:
    """``backfill list``: the newest backfills first."""
    if as_json:
        click.echo(json.dumps([record.model_dump(mode="json") for record in records], indent=2))
        return
    console = stdout_console()
    if not records:
        console.print("No backfills recorded yet. Start one with: flowstone backfill [SELECTION]")
        return
    table = Table(title=f"{len(records)} backfills (newest first)", title_justify="left")
    for column in ("backfill", "status", "policy", "created", "items", "runs", "partitions"):
        table.add_column(column, no_wrap=True)
    table.add_column("selection", overflow="fold")
    for record in records:
        table.add_row(
            record.backfill_id, record.status.value, escape(record.policy),
            record.created_at.strftime("%Y-%m-%d %H:%M:%S"), str(record.item_count),
            str(len(record.run_ids)), escape(describe_partitions(record.partitions)),
            escape(", ".join(record.selection)),
        )  # fmt: skip
    console.print(table)


def count_states(
    items: Sequence[ItemKey],
    outcomes: Mapping[ItemKey, MaterializationStatus],
    reused: Collection[ItemKey] = (),
) -> dict[str, int]:
    """How many items are in each state: ``reused`` for those another run stored meanwhile,
    ``pending`` for the others no run has reached."""
    counted = Counter(
        outcomes[item].value if item in outcomes else REUSED if item in reused else PENDING
        for item in items
    )
    order = [status.value for status in MaterializationStatus] + [REUSED, PENDING]
    return {state: counted[state] for state in order if counted[state]}


def _describe_counts(counts: Counter[MaterializationStatus]) -> str:
    shown = [
        f"{counts[status]} {status.value}" for status in MaterializationStatus if counts[status]
    ]
    return ", ".join(shown) or "nothing ran"


def _print_problems(console: Console, problems: Sequence[Problem], backfill_id: str) -> None:
    if not problems:
        return
    rows = (
        (item_label(p.asset_key, p.partition_key), p.status, describe(p.error, {}))
        for p in problems
    )
    console.print(problems_table("failed or blocked items", rows, limit=PROBLEMS_SHOWN))
    if len(problems) > PROBLEMS_SHOWN:
        console.print(
            f"... and {len(problems) - PROBLEMS_SHOWN} more: "
            f"flowstone backfill show {backfill_id} --json",
            highlight=False,
        )
