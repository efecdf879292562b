"""The suite's workloads W1-W6 for flowstone and for the floor, each in the calling interpreter.

flowstone runs with the filesystem I/O manager and the SQLite store (set-up runs that are not
timed use the memory I/O manager where only the store matters). The floor is what anyone could
write by hand without a framework: call the same functions in topological order, pickle each
output to a file with an atomic rename, and write one row per output to SQLite. Each function
returns the figures of one measurement; ``benchmarks.run`` calls it in a fresh interpreter. As
for every system, importing the libraries is not timed: the filesystem I/O manager (and fsspec)
and anyio's event loop backend are imported here rather than when the first run needs them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import resource
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio._backends._asyncio  # noqa: F401  imported up front, as each system's libraries are

import io_managers.filesystem  # noqa: F401
from flowstone import DailyPartitions, Registry, asset, backfill, materialize, status
from io_managers.memory import InMemoryIOManager

START = date(2000, 1, 1)
Figures = dict[str, float]


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each workload is: the full suite, or the quick one."""

    chain: int = 200
    fan: int = 64
    days: int = 365
    grid_assets: int = 100
    grid_days: int = 365
    big: int = 10_000


FULL = Sizes()
QUICK = Sizes(grid_assets=20, grid_days=60, big=1_000)
"""The year and the chains stay full size: Dagster's quick side compares with the same."""


def peak_mb() -> float:
    """This interpreter's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _options(registry: Registry, folder: Path) -> dict[str, Any]:
    return {
        "definitions": registry,
        "store": f"sqlite:///{folder / 'meta.db'}",
        "project_dir": folder,
    }


def _days(count: int) -> DailyPartitions:
    return DailyPartitions(START.isoformat(), (START + timedelta(days=count)).isoformat())


def _chain(length: int, *, root_version: str = "1", partitions: int | None = None) -> Registry:
    """``length`` trivial assets, each reading the previous one (the same day, if daily)."""
    days = None if partitions is None else _days(partitions)
    registry = Registry()
    with registry:
        previous = None
        for index in range(length):
            name = f"step_{index:04d}"
            if previous is None:
                previous = asset(key=name, code_version=root_version, partitioned_by=days)(
                    lambda: 0
                )
            else:
                previous = asset(
                    key=name, depends_on={"x": previous}, code_version="1", partitioned_by=days
                )(lambda x: x + 1)
    return registry


def _fan(width: int) -> Registry:
    registry = Registry()
    with registry:
        root = asset(key="root", code_version="1")(lambda: 1)
        middle = []
        for index in range(width):

            def sleepy(x: int) -> int:
                time.sleep(0.05)
                return x + 1

            middle.append(
                asset(key=f"mid_{index:02d}", depends_on={"x": root}, code_version="1")(sleepy)
            )
        asset(key="sink", depends_on={f"x{i}": m for i, m in enumerate(middle)}, code_version="1")(
            lambda **inputs: sum(inputs.values())
        )
    return registry


def _pair(days: int) -> Registry:
    """Two daily assets, the second reading the first's same day."""
    partitions = _days(days)
    registry = Registry()
    with registry:
        first = asset(key="first", partitioned_by=partitions, code_version="1")(lambda: 1)
        asset(key="second", depends_on={"x": first}, partitioned_by=partitions, code_version="1")(
            lambda x: x + 1
        )
    return registry


class Floor:
    """The hand-written floor: pickled files with atomic renames, one SQLite row per output."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rows: list[tuple[str, str, str, float]] = []

    def save(self, name: str, key: str, value: Any) -> None:
        path = self.folder / f"{name}.{key}.pickle"
        temp = path.with_suffix(".tmp")
        temp.write_bytes(pickle.dumps(value, protocol=5))
        os.replace(temp, path)
        self.rows.append((name, key, str(path), time.time()))

    def load(self, name: str, key: str) -> Any:
        return pickle.loads((self.folder / f"{name}.{key}.pickle").read_bytes())

    def commit(self) -> None:
        db = sqlite3.connect(self.folder / "floor.db")
        db.execute("pragma journal_mode=wal")
        db.execute("create table if not exists outputs (asset, partition, path, finished)")
        db.executemany("insert into outputs values (?, ?, ?, ?)", self.rows)
        db.commit()
        db.close()


def _keys(days: int) -> list[str]:
    return [(START + timedelta(days=offset)).isoformat() for offset in range(days)]


# W1 chain ------------------------------------------------------------------------------------


def w1_flowstone(sizes: Sizes, folder: Path) -> Figures:
    registry = _chain(sizes.chain)
    seconds = _timed(lambda: _check(materialize(**_options(registry, folder))))
    return {"seconds": seconds, "peak_mb": peak_mb()}


def w1_floor(sizes: Sizes, folder: Path) -> Figures:
    def work() -> None:
        floor = Floor(folder)
        floor.save("step_0000", "-", 0)
        for index in range(1, sizes.chain):
            floor.save(f"step_{index:04d}", "-", floor.load(f"step_{index - 1:04d}", "-") + 1)
        floor.commit()

    return {"seconds": _timed(work), "peak_mb": peak_mb()}


# W2 fan --------------------------------------------------------------------------------------


def w2_flowstone(sizes: Sizes, folder: Path) -> Figures:
    registry = _fan(sizes.fan)
    options = _options(registry, folder)
    seconds = _timed(lambda: _check(materialize(concurrency=8, **options)))
    return {"seconds": seconds, "peak_mb": peak_mb()}


def w2_floor(sizes: Sizes, folder: Path) -> Figures:
    """By hand, the middle layer in 8 threads: sequential code would take 64 x 50 ms."""

    def middle(index: int) -> None:
        time.sleep(0.05)
        floor.save(f"mid_{index:02d}", "-", floor.load("root", "-") + 1)

    floor = Floor(folder)

    def work() -> None:
        floor.save("root", "-", 1)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(middle, range(sizes.fan)))
        floor.save("sink", "-", sum(floor.load(f"mid_{i:02d}", "-") for i in range(sizes.fan)))
        floor.commit()

    return {"seconds": _timed(work), "peak_mb": peak_mb()}


# W3 daily backfill and W5 no-op --------------------------------------------------------------


def w3_flowstone(sizes: Sizes, folder: Path) -> Figures:
    registry = _pair(sizes.days)
    options = _options(registry, folder)
    seconds = _timed(lambda: _check(backfill(partitions="all", **options)))
    return {"seconds": seconds, "items": 2 * sizes.days, "peak_mb": peak_mb()}


def w3_floor(sizes: Sizes, folder: Path) -> Figures:
    def work() -> None:
        floor = Floor(folder)
        keys = _keys(sizes.days)
        for key in keys:
            floor.save("first", key, 1)
        for key in keys:
            floor.save("second", key, floor.load("first", key) + 1)
        floor.commit()

    return {"seconds": _timed(work), "items": 2 * sizes.days, "peak_mb": peak_mb()}


def w5_flowstone(sizes: Sizes, folder: Path) -> Figures:
    registry = _pair(sizes.days)
    options = _options(registry, folder)
    _check(backfill(partitions="all", **options))

    def again() -> None:
        result = materialize(partitions="all", **options)
        assert result.success and not result.items and len(result.fresh) == 2 * sizes.days

    return {"seconds": _timed(again), "peak_mb": peak_mb()}


def w5_floor(sizes: Sizes, folder: Path) -> Figures:
    """A plain script cannot tell what changed: it computes everything again."""
    w3_floor(sizes, folder)
    return w3_floor(sizes, folder)


# W4 staleness --------------------------------------------------------------------------------


def w4_flowstone(sizes: Sizes, folder: Path) -> Figures:
    chain_folder, grid_folder = folder / "chain", folder / "grid"
    _check(materialize(**_options(_chain(sizes.chain), chain_folder)))
    changed = _options(_chain(sizes.chain, root_version="2"), chain_folder)
    started = time.perf_counter()
    report = status(**changed)
    chain_seconds = time.perf_counter() - started
    stale = sum(1 for item in report.items if item.verdict.status.value != "fresh")
    assert stale == sizes.chain, stale

    grid = _options(_chain(sizes.grid_assets, partitions=sizes.grid_days), grid_folder)
    _check(materialize(partitions="all", io_managers={"fs": InMemoryIOManager()}, **grid))
    started = time.perf_counter()
    report = status(**grid)
    grid_seconds = time.perf_counter() - started
    assert report.all_fresh and len(report.items) == sizes.grid_assets * sizes.grid_days
    return {
        "chain_seconds": chain_seconds,
        "chain_stale": stale,
        "grid_seconds": grid_seconds,
        "grid_items": len(report.items),
        "peak_mb": peak_mb(),
    }


def w4_floor(sizes: Sizes, folder: Path) -> Figures:
    """By hand: read every stored version from SQLite and compare in topological order."""
    chain = _floor_versions(folder / "chain.db", sizes.chain, ["-"])
    changed = {"step_0000": "2"}
    chain_seconds = _timed(lambda: _floor_stale(folder / "chain.db", chain, changed))
    grid = _floor_versions(folder / "grid.db", sizes.grid_assets, _keys(sizes.grid_days))
    grid_seconds = _timed(lambda: _floor_stale(folder / "grid.db", grid, {}))
    return {
        "chain_seconds": chain_seconds,
        "grid_seconds": grid_seconds,
        "grid_items": sizes.grid_assets * sizes.grid_days,
        "peak_mb": peak_mb(),
    }


def _floor_versions(path: Path, assets: int, keys: Sequence[str]) -> list[str]:
    """Store each output's code version, data version and the data version it read."""
    names = [f"step_{index:04d}" for index in range(assets)]
    rows = []
    for key in keys:
        previous = None
        for index, name in enumerate(names):
            version = hashlib.sha256(pickle.dumps(index)).hexdigest()
            rows.append((name, key, "1", version, previous))
            previous = version
    db = sqlite3.connect(path)
    columns = "asset, partition, code, data, input, primary key (asset, partition)"
    db.execute(f"create table versions ({columns})")
    db.executemany("insert into versions values (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return names


def _floor_stale(path: Path, names: list[str], code: dict[str, str]) -> int:
    db = sqlite3.connect(path)
    stored = {(a, p): (c, d, i) for a, p, c, d, i in db.execute("select * from versions")}
    db.close()
    stale = 0
    partitions = {partition for _, partition in stored}
    for partition in partitions:
        upstream_stale, upstream_data = False, None
        for name in names:
            code_version, data, read = stored[name, partition]
            upstream_stale = (
                upstream_stale or code.get(name, "1") != code_version or read != upstream_data
            )
            stale += upstream_stale
            upstream_data = data
    return stale


# W6 big backfill -----------------------------------------------------------------------------


def w6_flowstone(sizes: Sizes, folder: Path) -> Figures:
    partitions = _days(sizes.big)
    registry = Registry()
    with registry:
        asset(key="trivial", partitioned_by=partitions, code_version="1")(lambda: 1)
    seconds = _timed(lambda: _check(backfill(partitions="all", **_options(registry, folder))))
    return {"seconds": seconds, "items": sizes.big, "peak_mb": peak_mb()}


def w6_floor(sizes: Sizes, folder: Path) -> Figures:
    def work() -> None:
        floor = Floor(folder)
        for key in _keys(sizes.big):
            floor.save("trivial", key, 1)
        floor.commit()

    return {"seconds": _timed(work), "items": sizes.big, "peak_mb": peak_mb()}


def _check(result: Any) -> None:
    assert result.success, result


WORKLOADS: dict[str, dict[str, Callable[[Sizes, Path], Figures]]] = {
    "W1": {"flowstone": w1_flowstone, "floor": w1_floor},
    "W2": {"flowstone": w2_flowstone, "floor": w2_floor},
    "W3": {"flowstone": w3_flowstone, "floor": w3_floor},
    "W4": {"flowstone": w4_flowstone, "floor": w4_floor},
    "W5": {"flowstone": w5_flowstone, "floor": w5_floor},
    "W6": {"flowstone": w6_flowstone, "floor": w6_floor},
}
