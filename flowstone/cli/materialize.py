"""``flowstone materialize``: run the selected assets that are not fresh, with a live progress bar
and a summary; ``--dry-run`` shows that plan instead, and runs and records nothing."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

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
from flowstone.cli.output import (
    describe,
    describe_blocked_by_definition,
    describe_run_counts,
    run_as_dict,
    stdout_console,
    styled,
)
from flowstone.cli.plan_report import report_plan
from flowstone.cli.progress import run_with_progress
from flowstone.execution import PartitionRequest, RunResult
from flowstone.execution import materialize as run_materialize
from flowstone.execution.api import build_graph, open_store, plan_run, resolve_settings
from flowstone.storage import MaterializationStatus


@click.command()
@click.argument("selection", nargs=-1)
@definitions_options
@partition_options(default=None)
@click.option("--force", is_flag=True, help="Recompute every selected item, fresh or not.")
@click.option("--dry-run", is_flag=True, help="Show what would run and why; run nothing.")
@config_option
@run_options
@store_option
@json_option
def materialize(
    *,
    selection: tuple[str, ...],
    module: str | None,
    file: Path | None,
    partitions: PartitionRequest,
    force: bool,
    dry_run: bool,
    config_file: Path | None,
    concurrency: int | None,
    executor: str | None,
    dask_address: str | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Materialize SELECTION (all assets when omitted), e.g. '*daily_revenue' or 'group:raw'.

    Only items that are not fresh run (changed code, config or input data; missing; failed);
    --force recomputes them all. Partitioned assets need --partition KEY (repeatable),
    --from KEY --to KEY (inclusive) or --all-partitions.
    """
    config = load_config_file(config_file)
    settings = resolve_settings(
        store_url=store_url, concurrency=concurrency, executor=executor, dask_address=dask_address
    )
    registry = load_definitions(module, file, settings)
    chosen = list(selection) or None
    if dry_run:
        with open_store(None, settings, read_only=True) as store:
            plan = plan_run(
                build_graph(registry), chosen, store, partitions=partitions, config=config,
                force=force,
            )  # fmt: skip
        report_plan(plan, as_json=as_json)
        return
    work = partial(
        run_materialize, chosen, definitions=registry, store=settings.resolved_store_url(),
        partitions=partitions, config=config, force=force, concurrency=settings.concurrency,
        executor=settings.executor, dask_address=settings.dask_address,
        project_dir=settings.project_dir,
    )  # fmt: skip
    result = run_with_progress(work, title="materializing", quiet=as_json)
    _report(result, as_json)
    exit_with_outcome(result.success)


def _report(result: RunResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(run_as_dict(result), indent=2))
        return
    console = stdout_console()
    impossible = describe_blocked_by_definition(result.items)
    shown = [item for item in result.items if item.blocked_by_definition is None]
    # Items planned during the run (dynamic partitions) are judged only then: when they turn out
    # current they count as unchanged, and the run still did nothing.
    if all(item.status is MaterializationStatus.UNCHANGED for item in shown):
        current = len(shown) + len(result.fresh)
        if current:
            every = "Everything that can run is fresh" if impossible else "Everything is fresh"
            console.print(f"{every}: {current} items, nothing to do.")
            _print_lines(impossible)
            return
    table = Table(title=f"run {result.run_id}", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for item in shown:
        duration = f"{item.duration:.3f}s" if item.duration is not None else ""
        detail = escape(describe(item.error, item.metadata))
        table.add_row(escape(item.label), styled(item.status), duration, detail)
    console.print(table)
    for recovered in result.recovered:
        console.print(
            f"recovered: {escape(recovered.label)} (stored value missing: "
            f"{escape(recovered.reason)})",
            highlight=False,
        )
    _print_lines(impossible)
    console.print(f"[bold]{result.status.value}[/]: {describe_run_counts(result)}")


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)
