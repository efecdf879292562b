"""Status and no-op re-runs at scale: 100 daily assets x 365 days (36,500 items), all fresh.

Materializes the whole grid once (memory I/O manager, SQLite store), then times, end to end:
``flowstone.status`` of every item, a stale-only ``materialize`` that finds everything fresh
(the no-op re-run), and the status of 100,000 items (100 assets x 1,000 days). Usage::

    python benchmarks/status.py [--repeat 5] [--skip-100k]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from flowstone import DailyPartitions, Registry, asset, materialize, status
from io_managers.memory import InMemoryIOManager

START = date(2000, 1, 1)


def build(assets: int, days: int) -> Registry:
    """A chain of ``assets`` daily assets, each reading the previous one's same day."""
    partitions = DailyPartitions(START.isoformat(), (START + timedelta(days=days)).isoformat())
    registry = Registry()
    with registry:
        previous = None
        for index in range(assets):
            depends = {"x": previous} if previous is not None else None
            fn = (lambda x: x + 1) if previous is not None else (lambda: 0)
            previous = asset(
                key=f"asset_{index:03d}", depends_on=depends, partitioned_by=partitions,
                code_version="1",
            )(fn)  # fmt: skip
    return registry


def measure(assets: int, days: int, repeat: int, *, rerun: bool) -> dict[str, float]:
    registry = build(assets, days)
    memory = InMemoryIOManager()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'meta.db'}"
        options = {"definitions": registry, "store": url, "project_dir": Path(folder)}
        started = time.perf_counter()
        first = materialize(partitions="all", io_managers={"fs": memory}, **options)
        fill = time.perf_counter() - started
        assert first.success
        figures = {"fill": fill, "items": float(len(first.items))}
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            report = status(**options)
            timings.append(time.perf_counter() - started)
            assert report.all_fresh and len(report.items) == assets * days
        figures["status"] = statistics.median(timings)
        if rerun:
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                again = materialize(partitions="all", io_managers={"fs": memory}, **options)
                timings.append(time.perf_counter() - started)
                assert again.success and not again.items and len(again.fresh) == assets * days
            figures["noop"] = statistics.median(timings)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-100k", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"medians of {args.repeat}")  # fmt: skip
    grid = measure(100, 365, args.repeat, rerun=True)
    print(f"100 assets x 365 days ({int(grid['items'])} items), first run {grid['fill']:.1f} s")
    print(f"  status, all fresh:         {grid['status']:6.2f} s   (target 1 s)")
    print(f"  no-op re-run (materialize): {grid['noop']:6.2f} s   (target 2 s)")
    if not args.skip_100k:
        big = measure(100, 1000, args.repeat, rerun=False)
        print(f"100 assets x 1,000 days ({int(big['items'])} items), first run {big['fill']:.1f} s")
        print(f"  status, all fresh:         {big['status']:6.2f} s   (target 3 s)")


if __name__ == "__main__":
    main()
