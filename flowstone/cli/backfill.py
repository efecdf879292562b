"""``flowstone backfill``: start, list, show and resume backfills.

``flowstone backfill [SELECTION]...`` starts a backfill (it is the ``run`` subcommand);
``list``, ``show ID`` and ``resume ID`` work on recorded ones. An asset literally named ``list``,
``show``, ``resume`` or ``run`` is selected with ``flowstone backfill run NAME``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import cast, get_args

import click

from flowstone.cli.backfill_report import (
    PROBLEM_STATUSES,
    Problem,
    count_states,
    report_backfill,
    report_backfills,
    report_result,
    resume_command,
)
from flowstone.cli.config_file import config_option, load_config_file
from flowstone.cli.failure import exit_with_outcome
from flowstone.cli.loading import load_definitions
from flowstone.cli.options import (
    definitions_options,
    json_option,
    partition_options,
    run_options,
    store_option,
)
from flowstone.cli.plan_report import report_plan
from flowstone.cli.progress import run_with_progress
from flowstone.execution import (
    ALL_PARTITIONS,
    BackfillPolicy,
    PartitionRequest,
    resume_backfill,
)
from flowstone.execution import backfill as start_backfill
from flowstone.execution.api import open_store, resolve_settings
from flowstone.execution.backfill import load_backfill, new_backfill_id, plan_backfill
from flowstone.execution.backfill_targets import find_reused
from flowstone.keys import AssetKey, PartitionKey
from flowstone.storage import BackfillRecord, MaterializationStatus, MetadataStore

ItemKey = tuple[AssetKey, PartitionKey]

NOTHING_TO_BACKFILL = "Nothing to backfill: the policy targets no item. Nothing was run."
FORCED = "targeted (--policy all)"


class BackfillGroup(click.Group):
    """A group whose arguments are a selection for ``run`` unless the first names a subcommand.

    ``flowstone backfill daily_sales --from A --to B`` reads as ``backfill run daily_sales ...``,
    while ``flowstone backfill list`` is the ``list`` subcommand; help stays the group's own.
    """

    default_command = "run"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first not in self.commands and first not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group(cls=BackfillGroup, subcommand_metavar="[SELECTION]... | COMMAND [ARGS]...")
def backfill() -> None:
    """Materialize many partitions as one recorded, resumable backfill.

    \b
    flowstone backfill [SELECTION]... [--from KEY --to KEY] [--policy missing]
        starts one (every partition unless --partition or --from/--to is given);
    flowstone backfill list | show ID | resume ID
        work on recorded backfills.
    An asset named list, show, resume or run is selected with: flowstone backfill run NAME
    """


@backfill.command("run")
@click.argument("selection", nargs=-1)
@definitions_options
@partition_options(default=ALL_PARTITIONS)
@click.option(
    "--policy",
    type=click.Choice(get_args(BackfillPolicy)),
    default="missing",
    show_default=True,
    help=(
        "Items never materialized (missing), whose last attempt failed (failed), that are not "
        "fresh (stale: changed code, config or input data, missing or failed), or all."
    ),
)
@click.option(
    "--dry-run", is_flag=True, help="Show what the backfill would run and why; record nothing."
)
@config_option
@run_options
@store_option
@json_option
def run(
    *,
    selection: tuple[str, ...],
    module: str | None,
    file: Path | None,
    partitions: PartitionRequest,
    policy: str,
    dry_run: bool,
    config_file: Path | None,
    concurrency: int | None,
    executor: str | None,
    dask_address: str | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Start a backfill of SELECTION (all assets when omitted) over all partitions or the
    chosen ones; exit 0 only when every item succeeded. --dry-run shows its plan instead."""
    config = load_config_file(config_file)
    settings = resolve_settings(
        store_url=store_url, concurrency=concurrency, executor=executor, dask_address=dask_address
    )
    registry = load_definitions(module, file, settings)
    if dry_run:
        plan = plan_backfill(
            list(selection) or None, partitions=partitions, policy=cast(BackfillPolicy, policy),
            definitions=registry, store=settings.resolved_store_url(),
            project_dir=settings.project_dir, config=config,
        )  # fmt: skip
        return report_plan(plan, as_json=as_json, empty=NOTHING_TO_BACKFILL, forced=FORCED)
    backfill_id = new_backfill_id()
    work = partial(
        start_backfill, list(selection) or None, partitions=partitions,
        policy=cast(BackfillPolicy, policy), definitions=registry,
        store=settings.resolved_store_url(), concurrency=settings.concurrency,
        executor=settings.executor, dask_address=settings.dask_address,
        project_dir=settings.project_dir, backfill_id=backfill_id, config=config,
    )  # fmt: skip
    resume = resume_command(
        backfill_id, module=module, file=file, store_url=store_url, config_file=config_file
    )
    hint = f"Resume it with: {resume}"
    result = run_with_progress(work, title="backfill", quiet=as_json, interrupted_hint=hint)
    report_result(result, resume=resume, as_json=as_json)
    exit_with_outcome(result.success)


@backfill.command("resume")
@click.argument("backfill_id", metavar="ID")
@definitions_options
@config_option
@run_options
@store_option
@json_option
def resume(
    *,
    backfill_id: str,
    module: str | None,
    file: Path | None,
    config_file: Path | None,
    concurrency: int | None,
    executor: str | None,
    dask_address: str | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Run the items of backfill ID that have not succeeded yet (failed, blocked, never run).

    Give the same --config FILE as the backfill was started with: config is not recorded.
    """
    config = load_config_file(config_file)
    settings = resolve_settings(
        store_url=store_url, concurrency=concurrency, executor=executor, dask_address=dask_address
    )
    registry = load_definitions(module, file, settings)
    work = partial(
        resume_backfill,
        backfill_id,
        definitions=registry,
        store=settings.resolved_store_url(),
        concurrency=settings.concurrency,
        executor=settings.executor,
        dask_address=settings.dask_address,
        project_dir=settings.project_dir,
        config=config,
    )
    again = resume_command(
        backfill_id, module=module, file=file, store_url=store_url, config_file=config_file
    )
    result = run_with_progress(
        work, title="backfill", quiet=as_json, interrupted_hint=f"Resume again with: {again}"
    )
    report_result(result, resume=again, as_json=as_json)
    exit_with_outcome(result.success)


@backfill.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@store_option
@json_option
def list_backfills(*, limit: int, store_url: str | None, as_json: bool) -> None:
    """List the recorded backfills, newest first: status, policy, items and partitions."""
    settings = resolve_settings(store_url=store_url)
    with open_store(None, settings, read_only=True) as store:
        records = store.list_backfills(limit)
    report_backfills(records, as_json=as_json)


@backfill.command("show")
@click.argument("backfill_id", metavar="ID")
@store_option
@json_option
def show(*, backfill_id: str, store_url: str | None, as_json: bool) -> None:
    """Show backfill ID: its request, items per status, failed or blocked items, and runs."""
    settings = resolve_settings(store_url=store_url)
    with open_store(None, settings, read_only=True) as store:
        record = load_backfill(store, backfill_id)
        items = store.get_backfill_items(backfill_id)
        outcomes = store.get_backfill_outcomes(backfill_id)
        reused = find_reused(store, record, items, outcomes)
        outcomes = {key: status for key, status in outcomes.items() if key not in reused}
        problems = _load_problems(store, record, items, outcomes)
    counts = count_states(items, outcomes, reused)
    resume = resume_command(backfill_id, module=None, file=None, store_url=store_url)
    report_backfill(record, counts, problems, resume=resume, as_json=as_json, reused=reused)


def _load_problems(
    store: MetadataStore,
    record: BackfillRecord,
    items: list[ItemKey],
    outcomes: dict[ItemKey, MaterializationStatus],
) -> list[Problem]:
    """The failed or blocked items in backfill order, with the error of their newest record."""
    wanted = {key: status for key, status in outcomes.items() if status in PROBLEM_STATUSES}
    errors: dict[ItemKey, str | None] = {}
    for run_id in reversed(record.run_ids):  # newest run first: its record is the outcome
        if len(errors) == len(wanted):
            break
        for found in reversed(store.get_run_materializations(run_id)):
            key = (found.asset_key, found.partition_key)
            if wanted.get(key) is found.status and key not in errors:
                errors[key] = found.error
    return [Problem(key[0], key[1], wanted[key], errors.get(key)) for key in items if key in wanted]
