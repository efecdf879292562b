"""The PostgreSQL I/O manager against the filesystem one, side by side in one run.

Two measurements, each on a fresh manager (a new, empty PostgreSQL schema, dropped afterwards,
or a new temporary folder), the two managers interleaved so both see the same machine noise:

* ``save`` / ``load``: the median time of one save and one load of a 1-row list of dicts, a
  300-row list of dicts and a 300-row pandas DataFrame, each into its own partition;
* ``concurrency``: ``--items`` partitions of one asset (10-row lists of dicts) saved from 1, 4,
  8 and 16 threads at once, in items per second.

Usage::

    python benchmarks/postgres_io.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                     [--repeat 200] [--items 400] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from flowstone.io import IOContext, IOManager
from flowstone.keys import AssetKey
from io_managers.filesystem import FilesystemIOManager
from io_managers.postgres import PostgresIOManager

DEFAULT_URL = os.environ.get(
    "FLOWSTONE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
THREADS = (1, 4, 8, 16)
KINDS = ("postgresql", "filesystem")


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "sku": f"sku-{i % 17}", "price": i * 0.25, "paid": i % 2 == 0}
        for i in range(count)
    ]


VALUES: dict[str, Callable[[], Any]] = {
    "1 row (list of dicts)": lambda: _records(1),
    "300 rows (list of dicts)": lambda: _records(300),
    "300 rows (pandas)": lambda: pd.DataFrame(_records(300)),
}


@contextmanager
def open_manager(kind: str, url: str) -> Iterator[IOManager]:
    """A manager on empty storage: a new schema or a new folder, removed afterwards."""
    if kind == "filesystem":
        with tempfile.TemporaryDirectory() as folder:
            yield FilesystemIOManager(folder)
        return
    schema = f"flowstone_bench_{uuid.uuid4().hex[:12]}"
    manager = PostgresIOManager(url, schema=schema)
    try:
        yield manager
    finally:
        manager.close()
        admin = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"))
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True, if_exists=True))
        admin.dispose()


def measure_save_load(manager: IOManager, value: Any, repeat: int) -> tuple[float, float]:
    """Median save and load times in ms, each save into a new partition (after one warm-up)."""
    saves, loads = [], []
    for number in range(repeat + 1):
        ctx = IOContext(AssetKey.parse("bench/value"), f"p{number}")
        started = time.perf_counter()
        manager.save(ctx, value)
        saved = time.perf_counter()
        manager.load(ctx)
        loaded = time.perf_counter()
        if number:
            saves.append(saved - started)
            loads.append(loaded - saved)
    return statistics.median(saves) * 1000, statistics.median(loads) * 1000


def measure_throughput(manager: IOManager, items: int, threads: int) -> float:
    """Items per second when ``items`` partitions of one asset are saved from ``threads``."""
    value = _records(10)
    manager.save(IOContext(AssetKey.parse("bench/scan"), "warm-up"), value)
    contexts = [IOContext(AssetKey.parse("bench/scan"), f"t{threads}-{n}") for n in range(items)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda ctx: manager.save(ctx, value), contexts))
    return items / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL server to measure on")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="profile the 1-row saves")
    args = parser.parse_args()
    shown = make_url(args.url).render_as_string(hide_password=True)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"PostgreSQL at {shown}; medians of {args.repeat} saves and loads")  # fmt: skip
    if args.profile:
        with open_manager("postgresql", args.url) as manager:
            profile = cProfile.Profile()
            profile.runcall(measure_save_load, manager, _records(1), args.repeat)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    print("| value | PG save ms | PG load ms | FS save ms | FS load ms |")
    print("|---|---|---|---|---|")
    for label, build in VALUES.items():
        figures = []
        for kind in KINDS:
            with open_manager(kind, args.url) as manager:
                figures.extend(measure_save_load(manager, build(), args.repeat))
        print(f"| {label} | " + " | ".join(f"{figure:.2f}" for figure in figures) + " |")
    print(f"\n| threads | PG items/s | FS items/s |  ({args.items} saves of 10 rows each)")
    print("|---|---|---|")
    for threads in THREADS:
        rates = []
        for kind in KINDS:
            with open_manager(kind, args.url) as manager:
                rates.append(measure_throughput(manager, args.items, threads))
        print(f"| {threads} | {rates[0]:.0f} | {rates[1]:.0f} |")


if __name__ == "__main__":
    main()
