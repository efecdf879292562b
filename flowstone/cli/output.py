"""Consoles for command output (rich tables on stdout, progress and errors on stderr) and the
pieces of result display that several commands share, so a status looks the same everywhere."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from flowstone.execution import ItemResult, RunResult
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.storage import MaterializationStatus

PIPE_WIDTH = 160
"""Width of tables written to a pipe or file, where no terminal width limits them."""

STATUS_STYLE = {
    MaterializationStatus.SUCCESS: "green",
    MaterializationStatus.FAILED: "red",
    MaterializationStatus.BLOCKED: "dark_orange",
    MaterializationStatus.SKIPPED: "yellow",
    MaterializationStatus.CANCELLED: "magenta",
    MaterializationStatus.UNCHANGED: "cyan",
    MaterializationStatus.LOST: "bright_red",
}

COUNT_WORDS = {MaterializationStatus.UNCHANGED: "skipped: unchanged inputs"}
"""How a run summary counts a status, where its bare name would not say enough."""

ProblemRow = tuple[str, MaterializationStatus, str]
"""An item that did not succeed: its label, status and one-line reason."""


def stdout_console() -> Console:
    """The console for results; wide when not a terminal so tables are not folded."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPE_WIDTH)
    return console


def stderr_console() -> Console:
    """The console for progress and error paragraphs."""
    return Console(stderr=True)


SHOWN_VALUE_LENGTH = 60
"""How many characters of a metadata value a summary shows (the store keeps it whole)."""


def describe(error: str | None, metadata: Mapping[str, object]) -> str:
    """One short line: the error's last line, else the metadata as ``key=value`` pairs, each
    value on one line and cut to ``SHOWN_VALUE_LENGTH`` characters."""
    if error:
        return error.strip().splitlines()[-1]
    return " ".join(f"{key}={_shortened(value)}" for key, value in metadata.items())


def _shortened(value: object) -> str:
    text = " ".join(str(value).split())
    if len(text) <= SHOWN_VALUE_LENGTH:
        return text
    return f"{text[: SHOWN_VALUE_LENGTH - 1]}…"


def styled(status: MaterializationStatus) -> str:
    """The status as rich markup in its colour."""
    return f"[{STATUS_STYLE[status]}]{status.value}[/]"


def item_label(asset_key: AssetKey, partition_key: PartitionKey) -> str:
    """``asset`` or ``asset[partition]``, as a run shows its items."""
    if partition_key == UNPARTITIONED:
        return str(asset_key)
    return f"{asset_key}[{partition_key}]"


def describe_run_counts(result: RunResult) -> str:
    """``2 success, 1 skipped: unchanged inputs, fresh: 6 (not run)``: what a run did (items
    blocked by definition are counted apart: they are not failures)."""
    impossible = len(result.blocked_by_definition)
    counted = Counter(item.status for item in result.items if item.blocked_by_definition is None)
    parts = [
        f"{counted[status]} {COUNT_WORDS.get(status, status.value)}"
        for status in MaterializationStatus
        if counted[status]
    ]
    if impossible:
        parts.append(f"{impossible} blocked by definition")
    if result.fresh:
        parts.append(f"fresh: {len(result.fresh)} (not run)")
    return ", ".join(parts) or "nothing selected"


def describe_blocked_by_definition(items: Iterable[ItemResult]) -> list[str]:
    """One line per reason: ``6 blocked by definition: input raw before 2024-01-01 cannot exist
    (weekly[2024-01-01] .. weekly[2024-01-06])``."""
    grouped: dict[str, list[str]] = {}
    for item in items:
        if item.blocked_by_definition is not None:
            grouped.setdefault(item.blocked_by_definition, []).append(item.label)
    lines = []
    for reason, labels in grouped.items():
        shown = labels[0] if len(labels) == 1 else f"{labels[0]} .. {labels[-1]}"
        lines.append(f"{len(labels)} blocked by definition: {reason} ({shown})")
    return lines


def item_as_dict(asset_key: AssetKey, partition_key: PartitionKey) -> dict[str, str]:
    """An (asset, partition) item as JSON-ready data."""
    return {"asset": str(asset_key), "partition": partition_key}


def problems_table(title: str, rows: Iterable[ProblemRow], *, limit: int) -> Table:
    """The items that did not succeed, with their reasons; at most ``limit`` rows."""
    table = Table(title=title, title_justify="left")
    table.add_column("item", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for label, status, detail in list(rows)[:limit]:
        table.add_row(escape(label), styled(status), escape(detail))
    return table


def run_as_dict(result: RunResult) -> dict[str, object]:
    """A run and its items as JSON-ready data."""
    return {
        "run_id": result.run_id,
        "status": result.status.value,
        "items": [
            {
                "asset": str(item.asset_key),
                "partition": item.partition_key,
                "status": item.status.value,
                "materialization_id": item.materialization_id,
                "duration": item.duration,
                "attempts": item.attempts,
                "error": item.error,
                "blocked_by_definition": item.blocked_by_definition,
            }
            for item in result.items
        ],
        "fresh": [
            item_as_dict(asset_key, partition_key) for asset_key, partition_key in result.fresh
        ],
        "recovered": [
            {**item_as_dict(item.asset_key, item.partition_key), "reason": item.reason}
            for item in result.recovered
        ],
    }


def show_logs(level: str) -> None:
    """Send flowstone's and the assets' log records to stderr, above any progress bar."""
    handler = RichHandler(console=stderr_console(), show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger("flowstone")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
