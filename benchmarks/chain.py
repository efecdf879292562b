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
    times: dict[str, list[float]] = {"first": [], "again": [], "floor": [], "floor_again": []}
    for _ in range(args.repeat):  # interleaved, so both systems see the same machine noise
        with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
            times["first"].append(run_flowstone(registry, Path(first)))
            times["floor"].append(run_floor(functions, Path(second)))
            times["again"].append(run_flowstone(registry, Path(first)))
            times["floor_again"].append(run_floor(functions, Path(second)))
    cost = measure_function_cost(functions)
    median = {name: statistics.median(values) for name, values in times.items()}
    n = args.assets
    print(f"chain of {n} trivial assets, {args.repeat} runs each, medians")
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"storage in {tempfile.gettempdir()}"
    )
    print(f"  functions alone:                           {cost * 1000:8.3f} ms")
    for label, run, floor in (
        ("empty storage", "first", "floor"),
        ("storage exists", "again", "floor_again"),
    ):
        flowstone_ms, floor_ms = median[run] * 1000, median[floor] * 1000
        print(f"  {label}:")
        print(f"    flowstone (fs manager, SQLite store):    {flowstone_ms:8.1f} ms")
        print(f"    floor (plain script, same storage work): {floor_ms:8.1f} ms")
        beyond_functions = (flowstone_ms - cost * 1000) / n
        print(f"    flowstone beyond the functions, per asset: {beyond_functions:6.3f} ms")
        beyond_floor = (flowstone_ms - floor_ms) / n
        print(f"    flowstone beyond the floor, per asset:     {beyond_floor:6.3f} ms")
        print(f"    flowstone / floor:                       {flowstone_ms / floor_ms:8.2f}x")


if __name__ == "__main__":
    main()
