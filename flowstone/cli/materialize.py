"""``flowstone materialize``: run the selected assets with a live progress bar and a summary."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowstone.cli.loading import load_definitions
from flowstone.cli.options import definitions_options, json_option, store_option
from flowstone.cli.output import describe, stderr_console, stdout_console
from flowstone.errors import StorageError
from flowstone.execution import RunEvent, RunResult
from flowstone.execution import materialize as run_materialize
from flowstone.execution.api import resolve_settings
from flowstone.storage import MaterializationStatus

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
_STATUS_STYLE = {
    MaterializationStatus.SUCCESS: "green",
    MaterializationStatus.FAILED: "red",
    MaterializationStatus.SKIPPED: "yellow",
    MaterializationStatus.CANCELLED: "magenta",
}


@click.command()
@click.argument("selection", nargs=-1)
@definitions_options
@click.option("--concurrency", type=click.IntRange(min=1), help="Items run at once.")
@store_option
@json_option
def materialize(
    *,
    selection: tuple[str, ...],
    module: str | None,
    file: Path | None,
    concurrency: int | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Materialize SELECTION (all assets when omitted), e.g. '*daily_revenue' or 'group:raw'."""
    settings = resolve_settings(store_url=store_url, concurrency=concurrency)
    registry = load_definitions(module, file, settings)
    errors = stderr_console()
    progress = Progress(
        TextColumn("[bold]materializing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=errors,
        disable=as_json or not errors.is_terminal,
        transient=True,
    )
    counts = dict.fromkeys(MaterializationStatus, 0)
    task = progress.add_task("run", total=None, counts="")

    def on_event(event: RunEvent) -> None:
        if event.result is None:
            return
        counts[event.result.status] += 1
        shown = " ".join(f"{s.value}={n}" for s, n in counts.items() if n)
        progress.update(task, advance=1, total=event.total, counts=shown)

    try:
        with progress:
            result = run_materialize(
                list(selection) or None,
                definitions=registry,
                store=settings.resolved_store_url(),
                concurrency=settings.concurrency,
                project_dir=settings.project_dir,
                on_event=on_event,
            )
    except StorageError as exc:
        errors.print(f"[red]StorageError:[/] {exc}", markup=True, highlight=False)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        errors.print("[magenta]Interrupted: running items were recorded as cancelled.")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # worker threads cannot be interrupted; do not wait for them
    _report(result, as_json)
    sys.exit(0 if result.success else EXIT_FAILED)


def _report(result: RunResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_as_dict(result), indent=2))
        return
    console = stdout_console()
    table = Table(title=f"run {result.run_id}", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for item in result.items:
        duration = f"{item.duration:.3f}s" if item.duration is not None else ""
        style = _STATUS_STYLE[item.status]
        detail = describe(item.error, item.metadata)
        table.add_row(item.label, f"[{style}]{item.status.value}", duration, detail)
    console.print(table)
    totals = ", ".join(
        f"{result.count(status)} {status.value}"
        for status in MaterializationStatus
        if result.count(status)
    )
    console.print(f"[bold]{result.status.value}[/]: {totals or 'nothing selected'}")


def _as_dict(result: RunResult) -> dict[str, object]:
    return {
        "run_id": result.run_id,
        "status": result.status.value,
        "items": [
            {
                "asset": str(item.asset_key),
                "partition": item.partition_key,
                "status": item.status.value,
                "materialization_id": item.materialization_id,
                "duration": item.duration,
                "attempts": item.attempts,
                "error": item.error,
            }
            for item in result.items
        ],
    }
