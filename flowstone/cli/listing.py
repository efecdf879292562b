"""``flowstone list``: the assets a project defines, in dependency order."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from flowstone.cli.loading import load_definitions
from flowstone.cli.options import definitions_options, json_option
from flowstone.cli.output import stdout_console
from flowstone.definitions import Dependency
from flowstone.execution.api import build_graph, resolve_settings


@click.command("list")
@definitions_options
@json_option
def list_assets(module: str | None, file: Path | None, as_json: bool) -> None:
    """List every asset with its group, upstream assets (those from deps= marked), I/O manager
    and definition site."""
    settings = resolve_settings()
    graph = build_graph(load_definitions(module, file, settings))
    rows = []
    for key in graph.keys():
        definition = graph.get(key)
        rows.append(
            {
                "asset": str(key),
                "group": definition.group,
                "depends_on": [str(d.asset_key) for d in definition.dependencies if d.loads],
                "deps": [str(d.asset_key) for d in definition.dependencies if not d.loads],
                "partitioned": definition.partitions is not None,
                "io_manager": definition.io_manager
                if isinstance(definition.io_manager, str)
                else type(definition.io_manager).__name__,
                "source": str(definition.source),
                "description": (definition.description or "").split("\n")[0],
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} assets", title_justify="left")
    for column in ("asset", "group", "depends_on", "io_manager", "source"):
        table.add_column(column, no_wrap=column != "depends_on", overflow="fold")
    for row in rows:
        table.add_row(
            str(row["asset"]),
            str(row["group"]),
            _upstream_cell(graph.get(str(row["asset"])).dependencies),
            str(row["io_manager"]),
            str(row["source"]),
        )
    stdout_console().print(table)


def _upstream_cell(dependencies: tuple[Dependency, ...]) -> str:
    """Upstream assets, loaded ones first; those from ``deps=`` (never loaded) are marked."""
    loaded = [str(d.asset_key) for d in dependencies if d.loads]
    return ", ".join([*loaded, *(f"{d.asset_key} (deps)" for d in dependencies if not d.loads)])
