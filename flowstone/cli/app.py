"""The ``flowstone`` command: the only code in flowstone that prints or exits.

Exit codes (``flowstone.cli.failure``): 0 when everything selected succeeded, 1 when an asset
failed or was skipped or the metadata store failed, 2 for bad usage, bad definitions or bad config
(a one-paragraph error, never a traceback), 130 when interrupted. ``status`` informs and does not
check: it exits 0 whatever the items' status.
"""

from __future__ import annotations

from typing import Any

import click

from flowstone.cli.backfill import backfill
from flowstone.cli.failure import FlowstoneFailure, FlowstoneUsageError
from flowstone.cli.history import history
from flowstone.cli.listing import list_assets
from flowstone.cli.materialize import materialize
from flowstone.cli.output import show_logs
from flowstone.cli.partitions import partitions
from flowstone.cli.status import status
from flowstone.errors import FlowstoneError, StorageError


class _Group(click.Group):
    """Turns flowstone errors from any command into one paragraph and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StorageError as exc:
            raise FlowstoneFailure(f"{type(exc).__name__}: {exc}") from exc
        except FlowstoneError as exc:
            raise FlowstoneUsageError(f"{type(exc).__name__}: {exc}") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flowstone")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Level of the messages assets log through context.log.",
)
def cli(log_level: str) -> None:
    """flowstone: asset-first data orchestration with lineage and stale-only recomputation."""
    show_logs(log_level.upper())


cli.add_command(materialize)
cli.add_command(status)
cli.add_command(list_assets)
cli.add_command(history)
cli.add_command(backfill)
cli.add_command(partitions)


def main() -> None:
    """Console-script entry point."""
    cli()
