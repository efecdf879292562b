"""``flowstone partitions add|remove|list``: the keys of dynamic partitions, kept in the store.

Keys are checked before the store is opened, so a bad key writes nothing: a key is a non-empty
string without ``|`` or ``=`` (those join the dimensions of multi-partition keys).
"""

from __future__ import annotations

import json

import click

from flowstone.cli.options import json_option, store_option
from flowstone.cli.output import stdout_console
from flowstone.execution.api import resolve_settings
from flowstone.execution.dynamic_partitions import (
    add_dynamic_partitions,
    get_dynamic_partitions,
    remove_dynamic_partitions,
)


@click.group()
def partitions() -> None:
    """Add, remove and list the keys of dynamic partitions (DynamicPartitions("NAME"))."""


@partitions.command("add")
@click.argument("name")
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
@store_option
def add(*, name: str, keys: tuple[str, ...], store_url: str | None) -> None:
    """Add KEYs to dynamic partitions NAME; keys it has already are left as they are."""
    settings = resolve_settings(store_url=store_url)
    added = add_dynamic_partitions(name, keys, store=settings.resolved_store_url())
    present = [key for key in dict.fromkeys(keys) if key not in added]
    click.echo(f"Added {len(added)} key(s) to dynamic partitions {name!r}.")
    if present:
        click.echo(f"Already present: {', '.join(present)}")


@partitions.command("remove")
@click.argument("name")
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
@store_option
def remove(*, name: str, keys: tuple[str, ...], store_url: str | None) -> None:
    """Remove KEYs from dynamic partitions NAME; unknown keys are reported, not an error."""
    settings = resolve_settings(store_url=store_url)
    removed = remove_dynamic_partitions(name, keys, store=settings.resolved_store_url())
    missing = [key for key in dict.fromkeys(keys) if key not in removed]
    click.echo(f"Removed {len(removed)} key(s) from dynamic partitions {name!r}.")
    if missing:
        click.echo(f"Not present: {', '.join(missing)}")


@partitions.command("list")
@click.argument("name")
@store_option
@json_option
def list_keys(*, name: str, store_url: str | None, as_json: bool) -> None:
    """List the keys of dynamic partitions NAME in the order they were added."""
    settings = resolve_settings(store_url=store_url)
    keys = list(get_dynamic_partitions(name, store=settings.resolved_store_url()))
    if as_json:
        click.echo(json.dumps({"name": name, "keys": keys}, indent=2))
        return
    if not keys:
        click.echo(
            f"Dynamic partitions {name!r} have no keys. Add some with: "
            f"flowstone partitions add {name} KEY..."
        )
        return
    stdout_console().print("\n".join(keys), markup=False, highlight=False)
