"""The live progress display of long work (``materialize``, ``backfill``) and its Ctrl-C exit.

One bar on stderr, so stdout stays clean for results and ``--json``: items done, failed and
remaining, the rate in items per second and the time left. The number of items can grow while
a run goes on (partitions added by an asset), so the total is taken from every event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from flowstone.cli.failure import leave_interrupted
from flowstone.cli.output import stderr_console
from flowstone.execution import RunEvent
from flowstone.storage import MaterializationStatus

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
EventHandler = Callable[[RunEvent], None]


class ProgressWork(Protocol[T_co]):
    """Work that reports progress: a run or backfill waiting only for its ``on_event``."""

    def __call__(self, *, on_event: EventHandler) -> T_co: ...


class RateColumn(ProgressColumn):
    """Items finished per second, over rich's recent window of samples."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.0f}/s", style="progress.data.speed")


def describe_counts(counts: Counter[MaterializationStatus], total: int) -> str:
    """``done 3 · failed 1 · blocked 2 · remaining 4``: what happened so far and what is left."""
    finished = sum(counts.values())
    parts = [
        f"done {counts[MaterializationStatus.SUCCESS]}",
        f"failed {counts[MaterializationStatus.FAILED]}",
    ]
    others = (s for s in MaterializationStatus if s not in _ALWAYS_SHOWN and counts[s])
    parts.extend(f"{status.value} {counts[status]}" for status in others)
    parts.append(f"remaining {max(total - finished, 0)}")
    return " · ".join(parts)


_ALWAYS_SHOWN = (MaterializationStatus.SUCCESS, MaterializationStatus.FAILED)


class RunProgress:
    """A progress bar fed by run events; shown only on a terminal and never with ``--json``.

    Example:
        >>> with RunProgress("materializing", quiet=False) as progress:
        ...     materialize(..., on_event=progress.on_event)
    """

    def __init__(self, title: str, *, quiet: bool) -> None:
        console = stderr_console()
        self._progress = Progress(
            TextColumn(f"[bold]{title}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            console=console,
            disable=quiet or not console.is_terminal,
            transient=True,
        )
        self.counts: Counter[MaterializationStatus] = Counter()
        self._task = self._progress.add_task(title, total=None, counts="")

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def on_event(self, event: RunEvent) -> None:
        """Count a finished item; take the (possibly grown) total from every event."""
        if event.result is not None:
            self.counts[event.result.status] += 1
        shown = describe_counts(self.counts, event.total)
        advance = 0 if event.result is None else 1
        self._progress.update(self._task, advance=advance, total=event.total, counts=shown)


def run_with_progress(
    work: ProgressWork[T], *, title: str, quiet: bool, interrupted_hint: str = ""
) -> T:
    """Run ``work(on_event=...)`` under a progress bar; on Ctrl-C leave with exit code 130.

    Args:
        work: starts the run, e.g. ``partial(materialize, ...)`` without its ``on_event``.
        title: the bar's label, e.g. ``"materializing"``.
        quiet: hide the bar (``--json``).
        interrupted_hint: what to do next, shown after the interruption notice.
    """
    try:
        with RunProgress(title, quiet=quiet) as progress:
            return work(on_event=progress.on_event)
    except KeyboardInterrupt:
        leave_interrupted(interrupted_hint)
