"""Consoles for command output: rich tables on stdout, progress and errors on stderr."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rich.console import Console
from rich.logging import RichHandler

PIPE_WIDTH = 160
"""Width of tables written to a pipe or file, where no terminal width limits them."""


def stdout_console() -> Console:
    """The console for results; wide when not a terminal so tables are not folded."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPE_WIDTH)
    return console


def stderr_console() -> Console:
    """The console for progress and error paragraphs."""
    return Console(stderr=True)


def describe(error: str | None, metadata: Mapping[str, object]) -> str:
    """One short line: the error's last line, else the metadata as ``key=value`` pairs."""
    if error:
        return error.strip().splitlines()[-1]
    return " ".join(f"{key}={value}" for key, value in metadata.items())


def show_logs(level: str) -> None:
    """Send flowstone's and the assets' log records to stderr, above any progress bar."""
    handler = RichHandler(console=stderr_console(), show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger("flowstone")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
