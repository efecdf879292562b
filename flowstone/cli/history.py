"""``flowstone history ASSET``: an asset's materializations, newest first, with their inputs."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from flowstone.cli.options import json_option, store_option
from flowstone.errors import SelectionError
from flowstone.execution.api import open_store, resolve_settings
from flowstone.keys import UNPARTITIONED, AssetKey
from flowstone.storage import MaterializationRecord


@click.command()
@click.argument("asset")
@click.option("--partition", "partition_key", help="Only this partition.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@store_option
@json_option
def history(
    *, asset: str, partition_key: str | None, limit: int, store_url: str | None, as_json: bool
) -> None:
    """Show ASSET's recorded materializations: status, timing, storage URI, inputs and errors."""
    settings = resolve_settings(store_url=store_url)
    try:
        key = AssetKey.parse(asset)
    except ValueError as exc:
        raise SelectionError(f"{asset!r} is not a valid asset key: {exc}") from exc
    with open_store(None, settings) as store:
        records = store.get_history(key, partition_key, limit)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    if not records:
        click.echo(
            f"No materializations recorded for {asset!r}. Run: flowstone materialize {asset}"
        )
        return
    Console().print(_table(asset, records))


def _table(asset: str, records: list[MaterializationRecord]) -> Table:
    table = Table(title=f"history of {asset} (newest first)", title_justify="left")
    for column in ("seq", "partition", "status", "run", "started", "duration", "inputs", "detail"):
        table.add_column(column)
    for record in records:
        partition = "" if record.partition_key == UNPARTITIONED else record.partition_key
        started = record.started_at.isoformat(timespec="seconds") if record.started_at else ""
        duration = f"{record.duration:.3f}s" if record.duration is not None else ""
        inputs = ", ".join(
            f"{edge.upstream_asset_key}@{edge.upstream_materialization_id[:8]}"
            for edge in record.inputs
        )
        error = record.error.strip().splitlines()[-1] if record.error else ""
        table.add_row(
            str(record.sequence),
            partition,
            record.status.value,
            record.run_id[:8],
            started,
            duration,
            inputs,
            error or (record.uri or ""),
        )
    return table
