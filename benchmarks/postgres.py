"""The metadata store on PostgreSQL against SQLite, side by side in one run.

Two workloads, each measured in a fresh interpreter per store, interleaved (PostgreSQL, SQLite,
PostgreSQL, ...) so both see the same machine noise; every PostgreSQL measurement gets a new,
empty schema, dropped afterwards:

* ``backfill``: ``flowstone.backfill`` of 10,000 daily partitions of a trivial asset with the
  memory I/O manager, so the time is orchestration alone: planning, claims, records and lineage;
* ``status``: ``flowstone.status`` of 36,500 fresh items (100 daily assets x 365 days, each
  reading the previous one's day), after materializing them once.

Usage::

    python benchmarks/postgres.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                  [--repeat 3] [--partitions 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from status import build  # the same grid as benchmarks/status.py (run as a script, beside it)

from flowstone import DailyPartitions, Registry, asset, backfill, materialize, status
from io_managers.memory import InMemoryIOManager

START = date(2000, 1, 1)
DEFAULT_URL = os.environ.get(
    "FLOWSTONE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _trivial(partitions: int) -> Registry:
    days = DailyPartitions(START.isoformat(), (START + timedelta(days=partitions)).isoformat())
    registry = Registry()
    with registry:
        asset(key="trivial", partitioned_by=days, code_version="1")(lambda: 1)
    return registry


def child_backfill(url: str, partitions: int, folder: Path) -> dict[str, float]:
    """In a fresh interpreter: backfill every partition; report the time per partition."""
    registry = _trivial(partitions)
    memory = InMemoryIOManager()
    started = time.perf_counter()
    result = backfill(
        partitions="all", definitions=registry, store=url, project_dir=folder,
        io_managers={"fs": memory},
    )  # fmt: skip
    total = time.perf_counter() - started
    assert result.success and result.succeeded == partitions, result
    return {"total": total, "per_partition_ms": total / partitions * 1000}


def child_status(url: str, repeat: int, folder: Path) -> dict[str, float]:
    """In a fresh interpreter: materialize 36,500 items once, then time their status."""
    registry = build(100, 365)
    options = {"definitions": registry, "store": url, "project_dir": folder}
    first = materialize(partitions="all", io_managers={"fs": InMemoryIOManager()}, **options)
    assert first.success
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        report = status(**options)
        timings.append(time.perf_counter() - started)
        assert report.all_fresh and len(report.items) == 36_500
    return {"status": statistics.median(timings)}


@contextmanager
def _store_url(kind: str, base: str, folder: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'meta.db'}"
        return
    schema = f"flowstone_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(base))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        isolated = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield isolated.render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def _run_child(workload: str, kind: str, base: str, number: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name, _store_url(kind, base, Path(name)) as url:
        output = subprocess.run(
            [sys.executable, __file__, "--child", workload, url, str(number), name],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL server to measure on")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, url, number, folder = args.child
        child = child_backfill if workload == "backfill" else child_status
        print(json.dumps(child(url, int(number), Path(folder))))
        return
    shown = make_url(args.url).render_as_string(hide_password=True)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"PostgreSQL at {shown}; medians of {args.repeat} runs")  # fmt: skip
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        "backfill": {"postgresql": [], "sqlite": []},
        "status": {"postgresql": [], "sqlite": []},
    }
    for _ in range(args.repeat):
        for kind in ("postgresql", "sqlite"):
            runs["backfill"][kind].append(_run_child("backfill", kind, args.url, args.partitions))
            runs["status"][kind].append(_run_child("status", kind, args.url, 3))

    def median(workload: str, kind: str, field: str) -> float:
        return statistics.median(run[field] for run in runs[workload][kind])

    pg_item = median("backfill", "postgresql", "per_partition_ms")
    lite_item = median("backfill", "sqlite", "per_partition_ms")
    print(f"backfill of {args.partitions:,} partitions, per partition: PostgreSQL "
          f"{pg_item:.2f} ms (target 2 ms), SQLite {lite_item:.2f} ms, "
          f"ratio {pg_item / lite_item:.2f}")  # fmt: skip
    pg_status = median("status", "postgresql", "status")
    lite_status = median("status", "sqlite", "status")
    print(f"status of 36,500 items: PostgreSQL {pg_status:.2f} s (target 1.5 s), "
          f"SQLite {lite_status:.2f} s, ratio {pg_status / lite_status:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
