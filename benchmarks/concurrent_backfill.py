"""Concurrent backfills: one process alone against four over the same range, on one store.

Each measurement writes a pipeline of one daily asset whose partitions each sleep (sleep-bound
items, so processes on one machine overlap them whatever its cores), then times, from the first
start to the last exit, ``flowstone backfill`` over every partition: once as a single process,
once as four processes started together, each with ``--concurrency 1``, on a fresh SQLite store
in a fresh temporary folder. Process start-up is inside both times: it is what a user waits for.
Runs are interleaved (alone, four, alone, ...) so both see the same machine noise. It checks
that every item was computed exactly once and says how many processes computed items. The
target: the four finish in at most 0.5x the time of one alone. Usage::

    python -m benchmarks.concurrent_backfill [--repeat 3] [--processes 4] [--items 16]
                                             [--sleep 0.3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from subprocess import PIPE, Popen

ROOT = Path(__file__).resolve().parent.parent
START = date(2024, 1, 1)
TARGET = 0.5
PIPELINE = """
    import os
    import time
    from pathlib import Path

    from flowstone import AssetContext, DailyPartitions, asset

    days = DailyPartitions("{first}", "{end}")
    CALLS = Path(__file__).with_name("calls.log")


    @asset(partitioned_by=days)
    def sleepy(context: AssetContext) -> int:
        time.sleep({sleep})
        with CALLS.open("a") as log:  # one short append: atomic between processes
            log.write(f"{{context.partition_key}} {{os.getpid()}}\\n")
        return 1
"""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One timed invocation: the wall times of the work and of the same processes idle (over
    the range once fresh), and how many processes computed items."""

    seconds: float
    idle_seconds: float
    computing_processes: int


def measure(processes: int, items: int, sleep: float) -> Measurement:
    """Run ``processes`` backfills at once over ``items`` partitions; time them all.

    Then time the same processes again over the now fresh range: they compute nothing, so that
    time is their start-up, planning and exit alone.
    """
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        end = START + timedelta(days=items)
        pipeline = PIPELINE.format(first=START.isoformat(), end=end.isoformat(), sleep=sleep)
        (project / "pipeline.py").write_text(textwrap.dedent(pipeline))
        seconds = _run_at_once(project, processes)
        calls = [line.split() for line in (project / "calls.log").read_text().splitlines()]
        idle = _run_at_once(project, processes)
        if len((project / "calls.log").read_text().splitlines()) != len(calls):
            raise SystemExit("a backfill over a fresh range computed items again")
    computed = Counter(partition for partition, _ in calls)
    if len(computed) != items or set(computed.values()) != {1}:
        raise SystemExit(f"items were not computed exactly once each: {computed}")
    return Measurement(seconds, idle, len({pid for _, pid in calls}))


def _run_at_once(project: Path, processes: int) -> float:
    """Start ``processes`` backfills of every partition together; the time until all exit."""
    command = [
        *(sys.executable, "-m", "flowstone.cli", "backfill", "sleepy", "-f", "pipeline.py"),
        *("--store", f"sqlite:///{project / 'meta.db'}", "--concurrency", "1"),
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    running = [_start(command, project, environment) for _ in range(processes)]
    outputs = [process.communicate() for process in running]
    seconds = time.perf_counter() - started
    for process, (stdout, stderr) in zip(running, outputs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"a backfill exited {process.returncode}:\n{stdout}\n{stderr}")
    return seconds


def _start(command: list[str], project: Path, environment: dict[str, str]) -> Popen[str]:
    return subprocess.Popen(
        command, cwd=project, env=environment, text=True, stdout=PIPE, stderr=PIPE
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--items", type=int, default=16, help="daily partitions")
    parser.add_argument("--sleep", type=float, default=0.3, help="seconds each item sleeps")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"storage in {tempfile.gettempdir()}; {args.items} items sleeping {args.sleep} s, "
          f"--concurrency 1; medians of {args.repeat} runs")  # fmt: skip
    alone: list[Measurement] = []
    together: list[Measurement] = []
    for _ in range(args.repeat):
        alone.append(measure(1, args.items, args.sleep))
        together.append(measure(args.processes, args.items, args.sleep))
    one, many = _median(alone), _median(together)
    one_idle, many_idle = _median(alone, idle=True), _median(together, idle=True)
    shared = ", ".join(str(run.computing_processes) for run in together)
    asleep = args.items * args.sleep
    print(f"  1 process alone:          {one:7.2f} s (its items sleep {asleep:.2f} s in all)")
    print(f"  {args.processes} processes at once:     {many:7.2f} s "
          f"(processes that computed items, per run: {shared})")  # fmt: skip
    verdict = "met" if many / one <= TARGET else "missed"
    print(f"  ratio:                    {many / one:7.2f}x ({verdict}: at most {TARGET}x)")
    print(f"  the same, idle (start-up, planning, exit): {one_idle:.2f} s alone, "
          f"{many_idle:.2f} s for {args.processes} at once")  # fmt: skip
    work = (many - many_idle) / (one - one_idle)
    print(f"  ratio without the idle part:               {work:.2f}x")


def _median(runs: list[Measurement], *, idle: bool = False) -> float:
    return statistics.median(run.idle_seconds if idle else run.seconds for run in runs)


if __name__ == "__main__":
    main()
