"""The benchmark suite: W1-W6 for flowstone, the floor and Dagster, side by side in one run.

Every measurement runs in a fresh interpreter and an empty temporary folder; systems are
interleaved within each repetition (flowstone, floor, Dagster, flowstone, ...) so all three see
the same machine noise. Dagster runs in its own virtual environment (``benchmarks/setup_peers.sh``)
and is skipped, with a message, when that is absent. Prints medians and ratios, with each target,
and writes them as JSON under ``benchmarks/results/``. Usage::

    python -m benchmarks [--repeat 3] [--dagster-repeat 1] [--quick] [--only W1,W3] [--no-dagster]
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.workloads import FULL, QUICK, WORKLOADS, Sizes

HERE = Path(__file__).resolve().parent
DAGSTER_PYTHON = HERE / ".peers" / "dagster" / "bin" / "python"
DAGSTER_SIDE = HERE / "peers" / "dagster_side.py"
Figures = dict[str, Any]
Runs = dict[str, list[Figures]]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure of each system, lower is better, and its target."""

    workload: str
    measure: str
    unit: str
    flowstone: float | None
    floor: float | None
    dagster: float | None
    target: str = ""
    met: bool | None = None


def run_child(system: str, workload: str, quick: bool) -> Figures:
    """One measurement in a fresh interpreter; Dagster's in its own environment."""
    with tempfile.TemporaryDirectory() as folder:
        if system == "dagster":
            command = [str(DAGSTER_PYTHON), str(DAGSTER_SIDE), workload, folder]
            command += ["--quick"] if quick else []
        else:
            command = [sys.executable, "-m", "benchmarks.run", "--child", system, workload, folder]
            command += ["--quick"] if quick else []
        done = subprocess.run(command, cwd=HERE.parent, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    figures: Figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def median(runs: list[Figures], *path: str) -> float | None:
    """The median of a figure over the runs that have it (``None`` if none has)."""
    values = []
    for figures in runs:
        value: Any = figures
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return statistics.median(values) if values else None


def rows_for(workload: str, runs: dict[str, Runs], sizes: Sizes) -> list[Row]:
    """The table rows of one workload from every system's runs."""
    fs, fl, dg = (runs[workload].get(system, []) for system in ("flowstone", "floor", "dagster"))
    return ROWS[workload](fs, fl, dg, runs, sizes)


def _ratio(slower: float | None, faster: float | None) -> float | None:
    return None if slower is None or faster is None or faster == 0 else slower / faster


def _w1(fs: list[Figures], fl: list[Figures], dg: list[Figures], *_: Any) -> list[Row]:
    flowstone, floor, dagster = median(fs, "seconds"), median(fl, "seconds"), median(dg, "seconds")
    vs_dagster, vs_floor = _ratio(dagster, flowstone), _ratio(flowstone, floor)
    met = vs_floor is not None and vs_floor <= 3 and (vs_dagster is None or vs_dagster >= 100)
    target = "100x faster than Dagster, within 3x of the floor"
    return [Row("W1 chain", "one run of 200 assets", "s", flowstone, floor, dagster, target, met)]


def _w2(fs: list[Figures], fl: list[Figures], dg: list[Figures], *_: Any) -> list[Row]:
    flowstone = median(fs, "seconds")
    met = flowstone is not None and flowstone <= 0.5
    return [
        Row(
            "W2 fan", "1 -> 64 x 50 ms -> 1, concurrency 8", "s", flowstone,
            median(fl, "seconds"), median(dg, "seconds"), "within 1.25x of 0.4 s", met,
        )
    ]  # fmt: skip


def _w3(fs: list[Figures], fl: list[Figures], dg: list[Figures], *_: Any) -> list[Row]:
    flowstone, floor = median(fs, "seconds"), median(fl, "seconds")
    per_run = median(dg, "per_partition", "per_partition_seconds")
    days = median(fs, "items")
    per_partition = None if per_run is None or days is None else per_run * days / 2
    single = median(dg, "single_run", "seconds")
    vs_runs, vs_single = _ratio(per_partition, flowstone), _ratio(single, flowstone)
    vs_floor = _ratio(flowstone, floor)
    met = (
        vs_floor is not None
        and vs_floor <= 3
        and (vs_runs is None or vs_runs >= 100)
        and (vs_single is None or vs_single >= 10)
    )
    return [
        Row("W3 daily backfill", "2 assets x days, run per partition", "s", flowstone, floor,
            per_partition, "100x faster than Dagster's runs, within 3x of the floor", met),
        Row("W3 daily backfill", "single-run backfill (Dagster)", "s", flowstone, floor, single,
            "10x faster than Dagster's single run", vs_single is None or vs_single >= 10),
    ]  # fmt: skip


def _w4(fs: list[Figures], fl: list[Figures], dg: list[Figures], *_: Any) -> list[Row]:
    grid_fs, grid_dg = median(fs, "grid_items"), median(dg, "grid_items")
    dagster_grid = median(dg, "grid_status_seconds")
    if dagster_grid is not None and grid_fs and grid_dg and grid_dg != grid_fs:
        dagster_grid *= grid_fs / grid_dg  # scaled to the same number of items
    return [
        Row("W4 staleness", "status of 200 assets, root changed", "s",
            median(fs, "chain_seconds"), median(fl, "chain_seconds"),
            median(dg, "chain_status_seconds")),
        Row("W4 staleness", f"status of {int(grid_fs or 0):,} items", "s",
            median(fs, "grid_seconds"), median(fl, "grid_seconds"), dagster_grid),
    ]  # fmt: skip


def _w5(
    fs: list[Figures], fl: list[Figures], dg: list[Figures], runs: dict[str, Runs], _: Sizes
) -> list[Row]:
    flowstone = median(fs, "seconds")
    scratch = median(runs.get("W3", {}).get("flowstone", []), "seconds")
    speedup = _ratio(scratch, flowstone)
    target = "20x faster than W3 from scratch" + (f" ({speedup:.0f}x)" if speedup else "")
    met = speedup is not None and speedup >= 20
    return [
        Row("W5 no-op", "re-run of W3, nothing changed", "s", flowstone, median(fl, "seconds"),
            median(dg, "rerun_single_run_seconds"), target, met),
    ]  # fmt: skip


def _w6(fs: list[Figures], fl: list[Figures], dg: list[Figures], _: Any, sizes: Sizes) -> list[Row]:
    flowstone, floor = median(fs, "seconds"), median(fl, "seconds")
    per_partition = None if flowstone is None else flowstone / sizes.big * 1000
    beyond = None if flowstone is None or floor is None else (flowstone - floor) / sizes.big * 1000
    peak = median(fs, "peak_mb")
    return [
        Row("W6 big backfill", f"{sizes.big:,} partitions", "s", flowstone, floor,
            median(dg, "single_run_seconds")),
        Row("W6 big backfill", "per partition", "ms", per_partition,
            None if floor is None else floor / sizes.big * 1000, median(dg, "per_partition_ms"),
            f"overhead at most 1 ms ({beyond:.2f} ms beyond the floor)" if beyond is not None
            else "", beyond is not None and beyond <= 1),
        Row("W6 big backfill", "peak memory", "MB", peak, median(fl, "peak_mb"),
            median(dg, "peak_mb"), "at most 200 MB", peak is not None and peak <= 200),
    ]  # fmt: skip


ROWS: dict[str, Callable[..., list[Row]]] = {
    "W1": _w1, "W2": _w2, "W3": _w3, "W4": _w4, "W5": _w5, "W6": _w6,
}  # fmt: skip


def _shown(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    """Medians of each system, the ratios to flowstone, and each target, as a Markdown table."""
    lines = [
        "| workload | measure | flowstone | floor | Dagster | flowstone ÷ floor "
        "| Dagster ÷ flowstone | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        vs_floor, vs_dagster = _ratio(row.flowstone, row.floor), _ratio(row.dagster, row.flowstone)
        verdict = {True: "met: ", False: "**missed**: ", None: ""}[row.met] + row.target
        cells = [
            row.workload, f"{row.measure} ({row.unit})", _shown(row.flowstone),
            _shown(row.floor), _shown(row.dagster), f"{vs_floor:.2f}x" if vs_floor else "-",
            f"{vs_dagster:,.0f}x" if vs_dagster else "-", verdict,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller workloads, one repetition, flowstone and the floor only (under a minute)",
    )
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W1,W3")
    parser.add_argument("--no-dagster", action="store_true")
    parser.add_argument("--with-dagster", action="store_true", help="Dagster in --quick too")
    parser.add_argument(
        "--dagster-repeat",
        type=int,
        default=1,
        help="Dagster's repetitions (its full side alone takes about 20 minutes)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.child:
        system, workload, folder = args.child
        print(json.dumps(WORKLOADS[workload][system](sizes, Path(folder))))
        return
    console = Console(stderr=True)
    repeat = 1 if args.quick else args.repeat
    systems = ["flowstone", "floor"]
    if args.no_dagster or (args.quick and not args.with_dagster):
        console.print("Dagster skipped (--no-dagster, or --quick without --with-dagster).")
    elif DAGSTER_PYTHON.exists():
        systems.append("dagster")
    else:
        console.print(f"Dagster skipped: {DAGSTER_PYTHON} is absent (benchmarks/setup_peers.sh).")
    workloads = [name.strip() for name in args.only.split(",")]
    if "W5" in workloads and "W3" not in workloads:
        workloads.insert(workloads.index("W5"), "W3")  # W5 is judged against W3
    runs: dict[str, Runs] = {name: {system: [] for system in systems} for name in workloads}
    for name in workloads:
        for index in range(max(repeat, args.dagster_repeat)):
            for system in systems:
                if index >= (args.dagster_repeat if system == "dagster" else repeat):
                    continue
                console.print(f"{name} {system} ...")
                runs[name][system].append(run_child(system, name, args.quick))
    rows = [row for name in workloads for row in rows_for(name, runs, sizes)]
    print(table(rows))
    errors = {
        f"{name} {system}": figures["error"]
        for name, by_system in runs.items()
        for system, figures_list in by_system.items()
        for figures in figures_list
        if "error" in figures
    }
    for where, error in errors.items():
        console.print(f"[red]{where} failed:[/red] {error}")
    _write(rows, runs, sizes, repeat, args.quick)
    if "dagster" in systems:
        print(f"Dagster: {args.dagster_repeat} run(s) of each workload")


def _write(rows: list[Row], runs: dict[str, Runs], sizes: Sizes, repeat: int, quick: bool) -> None:
    now = datetime.now(UTC)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    document = {
        "date": now.isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "quick": quick,
        "repeat": repeat,
        "sizes": asdict(sizes),
        "rows": [asdict(row) for row in rows],
        "runs": runs,
    }
    name = f"{now:%Y-%m-%dT%H%M%S}{'-quick' if quick else ''}.json"
    (results / name).write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to benchmarks/results/{name}")


if __name__ == "__main__":
    main()
