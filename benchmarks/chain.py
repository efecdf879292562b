"""Orchestration overhead of a chain of trivial assets, side by side with a hand-written floor.

Both systems run the same 200 functions in order, pickle each output to a file with an atomic
rename, and record one row per output in SQLite; flowstone adds its planning, scheduling,
lineage and metadata on top. Usage::

    python benchmarks/chain.py [--assets 200] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowstone import Registry, asset, materialize


def build_chain(registry: Registry, length: int) -> list[Callable[..., Any]]:
    """Register ``length`` trivial assets, each depending on the previous one."""
    functions: list[Callable[..., Any]] = []
    with registry:
        previous = None
        for index in range(length):
            name = f"step_{index:04d}"
            if previous is None:
                fn = asset(key=name, code_version="1")(lambda: 0)
            else:
                fn = asset(key=name, depends_on={"x": previous}, code_version="1")(lambda x: x + 1)
            functions.append(fn.fn)
            previous = fn
    return functions


def run_flowstone(registry: Registry, folder: Path) -> float:
    started = time.perf_counter()
    result = materialize(
        definitions=registry, store=f"sqlite:///{folder / 'meta.db'}", project_dir=folder
    )
    elapsed = time.perf_counter() - started
    assert result.success, result.failures[:1]
    return elapsed


def run_floor(functions: list[Callable[..., Any]], folder: Path) -> float:
    """The fastest honest version: no framework, same storage work."""
    started = time.perf_counter()
    db = sqlite3.connect(folder / "floor.db")
    db.execute("pragma journal_mode=wal")
    db.execute("create table if not exists outputs (name text, path text, finished real)")
    rows, previous_path = [], None
    for index, fn in enumerate(functions):
        if previous_path is None:
            value = fn()
        else:
            value = fn(pickle.loads(previous_path.read_bytes()))
        path = folder / f"step_{index:04d}.pickle"
        temp = path.with_suffix(".tmp")
        temp.write_bytes(pickle.dumps(value, protocol=5))
        os.replace(temp, path)
        rows.append((path.stem, str(path), time.time()))
        previous_path = path
    db.executemany("insert into outputs values (?, ?, ?)", rows)
    db.commit()
    db.close()
    return time.perf_counter() - started


def measure_function_cost(functions: list[Callable[..., Any]]) -> float:
    started = time.perf_counter()
    value = functions[0]()
    for fn in functions[1:]:
        value = fn(value)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    registry = Registry()
    functions = build_chain(registry, args.assets)
    flowstone_times, floor_times = [], []
    for _ in range(args.repeat):  # interleaved, so both see the same machine noise
        with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
            flowstone_times.append(run_flowstone(registry, Path(first)))
            floor_times.append(run_floor(functions, Path(second)))
    cost = measure_function_cost(functions)
    fs, floor = statistics.median(flowstone_times), statistics.median(floor_times)
    print(f"chain of {args.assets} trivial assets, {args.repeat} runs, medians")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"  flowstone (fs manager, SQLite store): {fs * 1000:8.1f} ms")
    print(f"  floor (plain script, same storage):   {floor * 1000:8.1f} ms")
    print(f"  functions alone:                      {cost * 1000:8.3f} ms")
    print(f"  flowstone overhead per asset:         {(fs - cost) / args.assets * 1000:8.3f} ms")
    print(f"  flowstone / floor:                    {fs / floor:8.2f}x")


if __name__ == "__main__":
    main()
