"""``flowstone partitions add|remove|list``: the keys of dynamic partitions, kept in the store.

Keys are checked before the store is opened, so a bad key writes nothing: a key is a non-empty
string without ``|`` or ``=`` (those join the dimensions of multi-partition keys).
"""

from __future__ import annotations

import json

import click

from flowstone.cli.options import json_option, store_option
from flowstone.cli.output import stdout_console
from flowstone.errors import PartitionError
from flowstone.execution.api import open_store, resolve_settings
from flowstone.keys import UNPARTITIONED, PartitionKey
from flowstone.partitions import DynamicPartitions

_RESERVED = ("|", "=")


@click.group()
def partitions() -> None:
    """Add, remove and list the keys of dynamic partitions (DynamicPartitions("NAME"))."""


@partitions.command("add")
@click.argument("name")
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
@store_option
def add(*, name: str, keys: tuple[str, ...], store_url: str | None) -> None:
    """Add KEYs to dynamic partitions NAME; keys it has already are left as they are."""
    checked = check_keys(name, keys)
    with open_store(None, resolve_settings(store_url=store_url)) as store:
        added = store.add_dynamic_partitions(name, checked)
    present = [key for key in dict.fromkeys(checked) if key not in added]
    click.echo(f"Added {len(added)} key(s) to dynamic partitions {name!r}.")
    if present:
        click.echo(f"Already present: {', '.join(present)}")


@partitions.command("remove")
@click.argument("name")
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
@store_option
def remove(*, name: str, keys: tuple[str, ...], store_url: str | None) -> None:
    """Remove KEYs from dynamic partitions NAME; unknown keys are reported, not an error."""
    checked = check_keys(name, keys)
    with open_store(None, resolve_settings(store_url=store_url)) as store:
        removed = store.remove_dynamic_partitions(name, checked)
    missing = [key for key in dict.fromkeys(checked) if key not in removed]
    click.echo(f"Removed {len(removed)} key(s) from dynamic partitions {name!r}.")
    if missing:
        click.echo(f"Not present: {', '.join(missing)}")


@partitions.command("list")
@click.argument("name")
@store_option
@json_option
def list_keys(*, name: str, store_url: str | None, as_json: bool) -> None:
    """List the keys of dynamic partitions NAME in the order they were added."""
    check_name(name)
    with open_store(None, resolve_settings(store_url=store_url)) as store:
        keys = list(store.get_dynamic_partitions([name]).get(name, ()))
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


def check_name(name: str) -> None:
    """Reject a name no ``DynamicPartitions`` could have, before anything is read or written.

    Raises:
        PartitionError: ``name`` is empty or has characters other than letters, digits, ``_``,
            ``.`` and ``-``.
    """
    DynamicPartitions(name)


def check_keys(name: str, keys: tuple[str, ...]) -> list[PartitionKey]:
    """The keys, once every one of them is valid; otherwise nothing is written.

    Raises:
        PartitionError: a key is empty, contains ``|`` or ``=``, or is the reserved key.
    """
    check_name(name)
    bad = [
        key for key in keys if not key or key == UNPARTITIONED or any(c in key for c in _RESERVED)
    ]
    if bad:
        raise PartitionError(
            f"Dynamic partition key(s) {', '.join(map(repr, bad))} for {name!r} are invalid: "
            f"a key is a non-empty string without '|' or '=' (and not {UNPARTITIONED!r}). "
            f"Change the key(s); nothing was written."
        )
    return list(keys)
