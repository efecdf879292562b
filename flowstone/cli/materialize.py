"""``flowstone materialize``: run the selected assets with a live progress bar and a summary."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from flowstone.cli.failure import exit_with_outcome
from flowstone.cli.loading import load_definitions
from flowstone.cli.options import (
    concurrency_option,
    definitions_options,
    json_option,
    partition_options,
    store_option,
)
from flowstone.cli.output import describe, run_as_dict, stdout_console, styled
from flowstone.cli.progress import run_with_progress
from flowstone.execution import PartitionRequest, RunResult
from flowstone.execution import materialize as run_materialize
from flowstone.execution.api import resolve_settings
from flowstone.storage import MaterializationStatus


@click.command()
@click.argument("selection", nargs=-1)
@definitions_options
@partition_options(default=None)
@concurrency_option
@store_option
@json_option
def materialize(
    *,
    selection: tuple[str, ...],
    module: str | None,
    file: Path | None,
    partitions: PartitionRequest,
    concurrency: int | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Materialize SELECTION (all assets when omitted), e.g. '*daily_revenue' or 'group:raw'.

    Partitioned assets need --partition KEY (repeatable), --from KEY --to KEY (inclusive) or
    --all-partitions.
    """
    settings = resolve_settings(store_url=store_url, concurrency=concurrency)
    registry = load_definitions(module, file, settings)
    work = partial(
        run_materialize,
        list(selection) or None,
        definitions=registry,
        store=settings.resolved_store_url(),
        partitions=partitions,
        concurrency=settings.concurrency,
        project_dir=settings.project_dir,
    )
    result = run_with_progress(work, title="materializing", quiet=as_json)
    _report(result, as_json)
    exit_with_outcome(result.success)


def _report(result: RunResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(run_as_dict(result), indent=2))
        return
    console = stdout_console()
    table = Table(title=f"run {result.run_id}", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for item in result.items:
        duration = f"{item.duration:.3f}s" if item.duration is not None else ""
        detail = escape(describe(item.error, item.metadata))
        table.add_row(escape(item.label), styled(item.status), duration, detail)
    console.print(table)
    totals = ", ".join(
        f"{result.count(status)} {status.value}"
        for status in MaterializationStatus
        if result.count(status)
    )
    console.print(f"[bold]{result.status.value}[/]: {totals or 'nothing selected'}")
