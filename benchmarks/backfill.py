"""Backfill throughput: planning time, overhead per partition and peak memory, against a floor.

Two workloads, each run by flowstone (``flowstone.backfill`` with the filesystem I/O manager and
the SQLite store) and by the floor (a plain loop that calls the same function per partition,
pickles each output to a file with an atomic rename and writes one SQLite row per output):

* ``big``: 10,000 daily partitions of one trivial asset;
* ``year``: two daily assets over 365 days, the second reading the first (identity mapping).

Each measurement runs in a fresh interpreter, so peak memory (max RSS) is the run's own. Runs are
interleaved (flowstone, floor, flowstone, ...) so both see the same machine noise. Usage::

    python benchmarks/backfill.py [--repeat 3] [--partitions 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flowstone import DailyPartitions, Registry, asset, backfill
from flowstone.execution.api import build_graph
from flowstone.execution.plan import build_plan
from flowstone.storage.sql import SqlMetadataStore

START = date(2000, 1, 1)


def _define(workload: str, partitions: int) -> Any:

    end = START + timedelta(days=partitions if workload == "big" else 365)
    days = DailyPartitions(START.isoformat(), end.isoformat())
    registry = Registry()
    with registry:
        first = asset(key="first", partitioned_by=days, code_version="1")(lambda: 1)
        if workload == "year":
            asset(key="second", depends_on={"x": first}, partitioned_by=days, code_version="1")(
                lambda x: x + 1
            )
    return registry


def child_flowstone(workload: str, partitions: int, folder: Path) -> dict[str, float]:
    """In a fresh interpreter: plan, then backfill; report times and peak memory."""

    registry = _define(workload, partitions)
    url = f"sqlite:///{folder / 'meta.db'}"
    store = SqlMetadataStore(url)
    started = time.perf_counter()
    plan = build_plan(build_graph(registry), build_graph(registry).keys(), store, request="all")
    planning = time.perf_counter() - started
    store.close()
    started = time.perf_counter()
    result = backfill(partitions="all", definitions=registry, store=url, project_dir=folder)
    total = time.perf_counter() - started
    assert result.success and result.succeeded == len(plan.items), result
    return {"items": len(plan.items), "planning": planning, "total": total, **_peak()}


def child_floor(workload: str, partitions: int, folder: Path) -> dict[str, float]:
    """The same work without a framework: call, pickle, rename, one row per output."""

    days = partitions if workload == "big" else 365
    keys = [(START + timedelta(days=i)).isoformat() for i in range(days)]
    started = time.perf_counter()
    db = sqlite3.connect(folder / "floor.db")
    db.execute("pragma journal_mode=wal")
    db.execute("create table outputs (asset text, partition text, path text, finished real)")
    rows = []
    for name in ["first", "second"] if workload == "year" else ["first"]:
        (folder / name).mkdir()
        for key in keys:
            if name == "first":
                value = 1
            else:
                value = pickle.loads((folder / "first" / f"{key}.pickle").read_bytes()) + 1
            path = folder / name / f"{key}.pickle"
            temp = path.with_suffix(".tmp")
            temp.write_bytes(pickle.dumps(value, protocol=5))
            os.replace(temp, path)
            rows.append((name, key, str(path), time.time()))
    db.executemany("insert into outputs values (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    total = time.perf_counter() - started
    return {"items": len(rows), "planning": 0.0, "total": total, **_peak()}


def _peak() -> dict[str, float]:
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_child(system: str, workload: str, partitions: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        output = subprocess.run(
            [sys.executable, __file__, "--child", system, workload, str(partitions), folder],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        system, workload, partitions, folder = args.child
        child = child_flowstone if system == "flowstone" else child_floor
        print(json.dumps(child(workload, int(partitions), Path(folder))))
        return
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"storage in {tempfile.gettempdir()}; medians of {args.repeat} runs")  # fmt: skip
    for workload in ("big", "year"):
        runs: dict[str, list[dict[str, float]]] = {"flowstone": [], "floor": []}
        for _ in range(args.repeat):
            for system, results in runs.items():
                results.append(_run_child(system, workload, args.partitions))
        _report(workload, runs)


def _report(workload: str, runs: dict[str, list[dict[str, float]]]) -> None:
    def median(system: str, field: str) -> float:
        return statistics.median(run[field] for run in runs[system])

    items = int(runs["flowstone"][0]["items"])
    flowstone, floor = median("flowstone", "total"), median("floor", "total")
    title = "10,000 partitions of one asset" if workload == "big" else "365 days x 2 assets"
    print(f"{title} ({items} items)")
    print(f"  planning (build_plan):           {median('flowstone', 'planning') * 1000:8.1f} ms")
    print(f"  flowstone backfill, total:       {flowstone * 1000:8.1f} ms")
    print(f"  floor, total:                    {floor * 1000:8.1f} ms")
    print(f"  flowstone per item:              {flowstone / items * 1000:8.3f} ms")
    print(f"  beyond the floor, per item:      {(flowstone - floor) / items * 1000:8.3f} ms")
    print(f"  flowstone / floor:               {flowstone / floor:8.2f}x")
    peak, floor_peak = median("flowstone", "peak_mb"), median("floor", "peak_mb")
    print(f"  peak memory (max RSS):           {peak:6.0f} MB "
          f"(the floor, same interpreter and imports: {floor_peak:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
