"""``flowstone history ASSET``: an asset's materializations, newest first, with their inputs.

With ``-f``/``-m`` the asset is looked up among the definitions first, so a misspelt name gets a
"did you mean" and a bare name finds its grouped key; without them only the store is read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from flowstone.cli.loading import load_definitions
from flowstone.cli.options import definitions_options, json_option, store_option
from flowstone.cli.output import describe, stdout_console
from flowstone.config import Settings
from flowstone.errors import SelectionError
from flowstone.execution.api import build_graph, open_store, resolve_settings
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.storage import LineageEdge, MaterializationRecord


@click.command()
@click.argument("asset")
@definitions_options
@click.option("--partition", "partition_key", help="Only this partition.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@store_option
@json_option
def history(
    *,
    asset: str,
    module: str | None,
    file: Path | None,
    partition_key: str | None,
    limit: int,
    store_url: str | None,
    as_json: bool,
) -> None:
    """Show ASSET's recorded materializations: status, timing, storage URI, inputs and errors.

    With -f FILE or -m MODULE, ASSET is checked against the definitions first. Long metadata
    values are cut in the table; --json gives them whole.
    """
    settings = resolve_settings(store_url=store_url)
    key = _asset_key(asset, module, file, settings)
    with open_store(None, settings, read_only=True) as store:
        records = store.get_history(key, partition_key, limit)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    if not records:
        click.echo(
            f"No materializations recorded for {asset!r}. Run: flowstone materialize {asset}"
        )
        return
    stdout_console().print(_table(asset, records))


def _asset_key(asset: str, module: str | None, file: Path | None, settings: Settings) -> AssetKey:
    """The key ``asset`` names: looked up in the definitions when they are given."""
    if module is not None or file is not None:
        return build_graph(load_definitions(module, file, settings)).get(asset).key
    try:
        return AssetKey.parse(asset)
    except ValueError as exc:
        raise SelectionError(f"{asset!r} is not a valid asset key: {exc}") from exc


def _table(asset: str, records: list[MaterializationRecord]) -> Table:
    partitioned = any(record.partition_key != UNPARTITIONED for record in records)
    table = Table(title=f"history of {asset} (newest first)", title_justify="left")
    columns = ["seq", *(["partition"] if partitioned else []), "status", "run", "started"]
    for column in [*columns, "duration", "inputs", "detail"]:
        table.add_column(column, no_wrap=column != "detail", overflow="fold")
    for record in records:
        started = record.started_at.strftime("%Y-%m-%d %H:%M:%S") if record.started_at else ""
        duration = f"{record.duration:.3f}s" if record.duration is not None else ""
        inputs = _inputs(record.inputs)
        partition = [record.partition_key] if partitioned else []
        table.add_row(
            str(record.sequence), *partition, record.status.value, record.run_id[:8], started,
            duration, escape(inputs), escape(describe(record.error, record.metadata)),
        )  # fmt: skip
    return table


def _inputs(edges: Sequence[LineageEdge]) -> str:
    """The upstream items read, ``asset[partition]``; long lists are counted per asset."""
    labels = sorted(
        str(edge.upstream_asset_key)
        if edge.upstream_partition_key == UNPARTITIONED
        else f"{edge.upstream_asset_key}[{edge.upstream_partition_key}]"
        for edge in edges
    )
    if len(labels) <= 3:
        return ", ".join(labels)
    per_asset = Counter(str(edge.upstream_asset_key) for edge in edges)
    return ", ".join(
        f"{asset} ({count} partitions)" if count > 1 else asset
        for asset, count in sorted(per_asset.items())
    )
