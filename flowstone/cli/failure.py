"""How a command ends when not everything succeeded: exit codes and one-paragraph errors.

Every command leaves through here, so the codes mean the same everywhere: 0 when everything
asked for succeeded, 1 when an item failed or the metadata store failed, 2 for bad usage, bad
definitions or unknown names, 130 when interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click
from rich.markup import escape

from flowstone.cli.output import stderr_console

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

INTERRUPTED = "Interrupted: running items were recorded as cancelled."


class FlowstoneUsageError(click.ClickException):
    """A flowstone error the user can fix (usage, definitions, names): exit code 2."""

    exit_code = EXIT_USAGE

    def format_message(self) -> str:
        return self.message


class FlowstoneFailure(click.ClickException):
    """Work that could not be done although the request was valid (the store failed): exit 1."""

    exit_code = EXIT_FAILED

    def format_message(self) -> str:
        return self.message


def exit_with_outcome(success: bool) -> NoReturn:
    """Leave with 0 when everything asked for succeeded, else 1."""
    sys.exit(0 if success else EXIT_FAILED)


def leave_interrupted(hint: str = "") -> NoReturn:
    """Say that Ctrl-C stopped the work, then leave at once with exit code 130.

    Worker threads cannot be interrupted, so the process must not wait for them: the runner has
    recorded the running items as cancelled before the interrupt reaches the command.
    """
    notice = f"[magenta]{INTERRUPTED}[/]{' ' + escape(hint) if hint else ''}"
    stderr_console().print(notice, soft_wrap=True, highlight=False)  # commands stay on one line
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
