"""Options shared by several commands, and the project context they resolve to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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
