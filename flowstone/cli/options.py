"""Options shared by several commands, and the values they resolve to.

The partition options are read here, once, so that ``materialize`` and ``backfill`` accept and
reject exactly the same combinations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from flowstone.config import EXECUTOR_NAMES
from flowstone.execution import ALL_PARTITIONS, PartitionRange, PartitionRequest

F = TypeVar("F", bound=Callable[..., Any])


def definitions_options(command: F) -> F:
    """``-m MODULE`` / ``-f FILE``: where the asset definitions live."""
    command = click.option(
        "-f", "--file", "file", type=click.Path(path_type=Path), help="Python file with assets."
    )(command)
    return click.option("-m", "--module", help="Importable module with assets.")(command)


def store_option(command: F) -> F:
    """``--store URL``: the metadata store (default: .flowstone/flowstone.db)."""
    return click.option(
        "--store", "store_url", metavar="URL", help="Metadata store URL (SQLAlchemy)."
    )(command)


def json_option(command: F) -> F:
    """``--json``: machine-readable output on stdout, nothing else."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def run_options(command: F) -> F:
    """``--concurrency N``, ``--executor NAME`` and ``--dask-address URL`` (defaults from
    settings): how many items run at once, and where."""
    for option in reversed(_RUN_OPTIONS):
        command = option(command)
    return command


_RUN_OPTIONS = (
    click.option("--concurrency", type=click.IntRange(min=1), help="Items run at once."),
    click.option(
        "--executor",
        type=click.Choice(EXECUTOR_NAMES),
        help="Where items run: worker threads (default), a process pool, or a Dask cluster.",
    ),
    click.option(
        "--dask-address",
        metavar="URL",
        help="The Dask scheduler for --executor dask (tcp://host:8786); local when omitted.",
    ),
)


_PARTITION_OPTIONS = (
    click.option(
        "--partition",
        "partition_keys",
        metavar="KEY",
        multiple=True,
        help="A partition to run (repeat for several).",
    ),
    click.option("--from", "first", metavar="KEY", help="First partition of a range (with --to)."),
    click.option("--to", "last", metavar="KEY", help="Last partition of a range (with --from)."),
    click.option("--all-partitions", is_flag=True, help="Every partition."),
)


def partition_options(*, default: PartitionRequest) -> Callable[[F], F]:
    """``--partition KEY`` ... | ``--from KEY --to KEY`` | ``--all-partitions``.

    The command receives one ``partitions`` argument instead of the four options: the request
    they describe, or ``default`` when none is given.
    """
    return functools.partial(_add_partition_options, default=default)


def _add_partition_options(command: F, *, default: PartitionRequest) -> F:
    @functools.wraps(command)
    def read_options(**kwargs: Any) -> Any:
        keys, first, last = kwargs.pop("partition_keys"), kwargs.pop("first"), kwargs.pop("last")
        all_partitions = kwargs.pop("all_partitions")
        kwargs["partitions"] = read_partition_request(
            keys, first, last, all_partitions=all_partitions, default=default
        )
        return command(**kwargs)

    wrapped: Callable[..., Any] = read_options
    for option in reversed(_PARTITION_OPTIONS):
        wrapped = option(wrapped)
    return cast(F, wrapped)


def read_partition_request(
    keys: tuple[str, ...],
    first: str | None,
    last: str | None,
    *,
    all_partitions: bool,
    default: PartitionRequest,
) -> PartitionRequest:
    """The partition request the options describe.

    Raises:
        click.UsageError: ``--from`` without ``--to`` (or the reverse), or two ways of choosing
            partitions at once.
    """
    if (first is None) != (last is None):
        given, missing = ("--from", "--to") if last is None else ("--to", "--from")
        raise click.UsageError(
            f"{given} {first if last is None else last} was given without {missing}. A range "
            f"needs both ends, e.g. --from 2024-01-01 --to 2024-01-31; for single partitions "
            f"use --partition KEY."
        )
    ways = {"--partition": bool(keys), "--from/--to": first is not None}
    chosen = [name for name, used in {**ways, "--all-partitions": all_partitions}.items() if used]
    if len(chosen) > 1:
        raise click.UsageError(
            f"{' and '.join(chosen)} were given together, but each chooses the partitions on its "
            f"own. Pass only one of --partition KEY, --from KEY --to KEY or --all-partitions."
        )
    if keys:
        return list(keys)
    if first is not None and last is not None:
        return PartitionRange(first, last)
    return ALL_PARTITIONS if all_partitions else default
