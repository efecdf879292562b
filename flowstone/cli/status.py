"""``flowstone status``: where every selected (asset, partition) stands, and why.

The same judgement a stale-only ``materialize`` makes, without running anything. The exit code
is 0 whatever the items' status (the command informs; it does not check): 2 only for bad usage,
definitions or config, 1 when the metadata store fails.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from flowstone.cli.config_file import config_option, load_config_file
from flowstone.cli.explanation import (
    FRESHNESS_ORDER,
    FRESHNESS_STYLE,
    causes_as_dicts,
    freshness_title,
)
from flowstone.cli.loading import load_definitions
from flowstone.cli.options import definitions_options, json_option, partition_options, store_option
from flowstone.cli.output import item_as_dict, stdout_console
from flowstone.cli.why_groups import grouped_why_lines
from flowstone.execution import ALL_PARTITIONS, ItemStatus, PartitionRequest, StatusReport
from flowstone.execution import status as judge_status
from flowstone.execution.api import resolve_settings
from flowstone.keys import AssetKey
from flowstone.versioning import Freshness


@click.command()
@click.argument("selection", nargs=-1)
@definitions_options
@partition_options(default=ALL_PARTITIONS)
@config_option
@click.option("--why", is_flag=True, help="List each item that is not fresh, with its causes.")
@click.option(
    "--verify", is_flag=True, help="Check with the I/O managers that fresh values really exist."
)
@store_option
@json_option
def status(
    *,
    selection: tuple[str, ...],
    module: str | None,
    file: Path | None,
    partitions: PartitionRequest,
    config_file: Path | None,
    why: bool,
    verify: bool,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Show whether SELECTION's items (all assets, every partition when omitted) are fresh.

    Counts per asset: fresh, stale, upstream stale, missing, failed, blocked. --config FILE
    judges against that config, as `materialize --config FILE` would run. The exit code is 0
    whatever the status; it is 1 or 2 only when the status cannot be computed.
    """
    config = load_config_file(config_file)
    settings = resolve_settings(store_url=store_url)
    registry = load_definitions(module, file, settings)
    report = judge_status(
        list(selection) or None,
        partitions=partitions,
        definitions=registry,
        store=settings.resolved_store_url(),
        config=config,
        project_dir=settings.project_dir,
        verify=verify,
    )
    if as_json:
        click.echo(json.dumps(status_as_dict(report), indent=2))
        return
    show_status(report, why=why)


UNHASHABLE_NOTE = (
    "its value could not be hashed, so its data version is its provenance version and its "
    "dependents get no early cutoff (return Output(value, data_version=...) to give one)"
)


def show_status(report: StatusReport, *, why: bool) -> None:
    """The table of counts, the items blocked by definition with their reasons, then (with
    ``why``) one line per item that needs work."""
    console = stdout_console()
    counts = report.counts()
    if not counts:
        console.print("Nothing selected.")
        return
    console.print(_counts_table(counts))
    for value in report.lost:
        click.echo(f"lost: {value.label} ({value.reason}); --force recomputes it")
    impossible = report.blocked_by_definition
    if impossible:
        click.echo(f"blocked by definition ({len(impossible)} items; never run, not work):")
        for line in grouped_why_lines((item.key, _cause(item)) for item in impossible):
            click.echo(f"  {line}")
    if why:
        _print_why(report)
    _print_verdict(report, why=why)


def _cause(item: ItemStatus) -> str:
    return "; ".join(cause.message for cause in item.verdict.causes)


def _print_why(report: StatusReport) -> None:
    """One line per run of items that need work (fresh and blocked-by-definition ones end runs)."""
    work = {item.key for item in report.needing_work}
    for line in grouped_why_lines(
        (item.key, item.verdict.explain() if item.key in work else None) for item in report.items
    ):
        click.echo(line)
    for item in report.items:
        if item.unhashable:
            click.echo(f"{item.label}: note — {UNHASHABLE_NOTE}")


def _print_verdict(report: StatusReport, *, why: bool) -> None:
    console = stdout_console()
    total, impossible = len(report.items), len(report.blocked_by_definition)
    waiting = len(report.needing_work)
    if not waiting:
        if impossible:
            console.print(
                f"All {total - impossible} other items are fresh: materialize has nothing to do.",
                highlight=False,
            )
        else:
            console.print(f"All {total} items are fresh: materialize has nothing to do.")
        return
    apart = f" ({impossible} more are blocked by definition)" if impossible else ""
    hint = "" if why else " --why lists the causes;"
    console.print(
        f"{waiting} of {total} items are not fresh{apart}.{hint} flowstone materialize "
        f"recomputes only those (--dry-run shows the plan).",
        highlight=False,
    )


def _counts_table(counts: dict[AssetKey, Counter[Freshness]]) -> Table:
    table = Table(title="status per asset", title_justify="left")
    table.add_column("asset", no_wrap=True)
    table.add_column("items", justify="right")
    for status_shown in FRESHNESS_ORDER:
        table.add_column(freshness_title(status_shown), justify="right")
    for asset_key, counted in counts.items():
        cells = [
            f"[{FRESHNESS_STYLE[shown]}]{counted[shown]}[/]" if counted[shown] else "[dim]0[/]"
            for shown in FRESHNESS_ORDER
        ]
        table.add_row(escape(str(asset_key)), str(sum(counted.values())), *cells)
    return table


def status_as_dict(report: StatusReport) -> dict[str, object]:
    """Every item with its status and structured causes, the counts per asset, and the items
    blocked by definition apart (``blocked``: they are never work)."""
    return {
        "all_fresh": report.all_fresh,
        "nothing_to_do": not report.needing_work,
        "verified": report.verified,
        "lost": [{**item_as_dict(*value.key), "reason": value.reason} for value in report.lost],
        "counts": {
            str(asset_key): {shown.value: counted[shown] for shown in FRESHNESS_ORDER}
            for asset_key, counted in report.counts().items()
        },
        "blocked": [
            {**item_as_dict(*item.key), "reason": _cause(item)}
            for item in report.blocked_by_definition
        ],
        "items": [
            {
                **item_as_dict(*item.key),
                "status": item.verdict.status.value,
                "blocked_by_definition": item.verdict.is_blocked_by_definition,
                "explanation": item.verdict.explain(),
                "causes": causes_as_dicts(item.verdict.causes),
                "unhashable": item.unhashable,
            }
            for item in report.items
        ],
    }
