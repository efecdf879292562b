"""Dagster's side of the benchmark suite: the workloads flowstone and the floor run, in Dagster.

Runs in Dagster's own interpreter (created by ``benchmarks/setup_peers.sh``), one workload per
fresh process::

    benchmarks/.peers/dagster/bin/python benchmarks/peers/dagster_side.py WORKLOAD FOLDER [--quick]

FOLDER is an empty directory. Every Dagster instance used here lives under it (SQLite storage,
Dagster's default for a local instance), and so does every file the assets write. Only the work
is timed, with ``time.perf_counter()``: not importing Dagster, not defining the assets, not
building the jobs. The last line of stdout is one JSON object; anything else goes to stderr.

Two things a reader of the figures should know:

* Runs go through ``JobDefinition.execute_in_process`` (the job is resolved once, untimed), the
  cheapest way to launch a run in Dagster. A backfill launched from the UI or by the daemon
  starts every run in a new process through the run launcher, which costs far more per run.
  W2 alone uses ``execute_job`` with the multiprocess executor, since it needs concurrency.
* Dagster's filesystem I/O manager refuses to store one output covering several partitions (its
  error message suggests a multi-run policy, or returning ``None`` to do without an I/O
  manager). So the assets of single-run backfills return ``None`` and pickle each partition
  themselves, into the ``<storage>/<asset>/<partition>`` layout that I/O manager uses.
"""

import argparse
import json
import logging
import os
import pickle
import resource
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

CHAIN_LENGTH = 200
FAN_OUT = 64
FAN_SLEEP_SECONDS = 0.05
FAN_CONCURRENCY = 8
YEAR_START = "2023-01-01"
YEAR_END = "2024-01-01"  # exclusive: 365 daily partitions, 2023-01-01 .. 2023-12-31
MANY_START = date(2000, 1, 1)
GRID_DAYS = 50  # days of the full-mode staleness grid; see w4_staleness

# Dagster's console logger prints every event of a run; a user who wants quiet runs sets its
# level in the run config. The events are still written to the instance's event log.
QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

# Telemetry writes its own log files under the instance folder; it is no part of the storage a
# run needs, so it is turned off to keep the folder to Dagster's real work.
INSTANCE_YAML = "telemetry:\n  enabled: false\n"

Result = dict[str, Any]


def quiet_python_logging() -> None:
    """Keeps Dagster's framework loggers and warnings off stderr: the runs do not wait on them."""
    warnings.simplefilter("ignore")
    for name in ("dagster", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def open_instance(home: Path) -> dg.DagsterInstance:
    """A persistent instance in ``home``, with Dagster's default local storage: SQLite files."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    return dg.DagsterInstance.from_config(str(home))


def peak_mb() -> float:
    """Peak resident memory of this process (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def children_peak_mb() -> float:
    """Largest peak resident memory among the finished child processes (not their sum)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def resolve_job(
    assets: Sequence[dg.AssetsDefinition],
    executor: dg.ExecutorDefinition | None = None,
) -> dg.JobDefinition:
    """One job over all ``assets``, storing outputs with the filesystem I/O manager."""
    definitions = dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job("all_assets", executor_def=executor)],
        resources={"io_manager": dg.FilesystemIOManager()},
    )
    return definitions.resolve_job_def("all_assets")


def run_in_process(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition_key: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """One run with the in-process executor; fails loudly rather than timing a failed run."""
    result = job.execute_in_process(
        run_config=QUIET_RUN_CONFIG, instance=instance, partition_key=partition_key, tags=tags
    )
    if not result.success:
        raise RuntimeError(f"Dagster run {result.run_id} failed")


def run_range(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: Sequence[str]) -> None:
    """A single-run backfill: one run over the partition range ``keys[0] .. keys[-1]``."""
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    run_in_process(job, instance, tags=tags)


def timed(work: Callable[[], object]) -> float:
    """Seconds spent in ``work()``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def guarded(variant: Callable[[], Result]) -> Result:
    """A variant's figures, or what failed: one variant failing must not hide the others."""
    try:
        return variant()
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def flatten(name: str, figures: Result) -> Result:
    """``figures`` to merge into a workload's JSON, or a failure kept under ``name``."""
    return {name: figures} if "error" in figures else figures


def chain_assets(length: int, root_version: str | None = None) -> list[dg.AssetsDefinition]:
    """``asset_000 -> asset_001 -> ...``, each returning a small int through the I/O manager.

    With ``root_version``, every asset gets code version "1" except the root, which gets
    ``root_version``: that is how a code change is declared to Dagster's staleness.
    """

    def make(index: int) -> dg.AssetsDefinition:
        name = f"asset_{index:03d}"
        version = None if root_version is None else (root_version if index == 0 else "1")
        if index == 0:

            @dg.asset(name=name, code_version=version)
            def root() -> int:
                return 0

            return root

        @dg.asset(
            name=name,
            code_version=version,
            ins={"previous": dg.AssetIn(key=f"asset_{index - 1:03d}")},
        )
        def step(previous: int) -> int:
            return previous + 1

        return step

    return [make(index) for index in range(length)]


def partitioned_chain(
    partitions: dg.PartitionsDefinition, length: int, prefix: str
) -> list[dg.AssetsDefinition]:
    """A chain of partitioned assets for one-run-per-partition backfills (Dagster's default).

    Each asset returns an int through the filesystem I/O manager, which stores one file per
    partition; each reads the previous asset's same partition (identity mapping by default).
    """

    def make(index: int) -> dg.AssetsDefinition:
        name = f"{prefix}_{index:03d}"
        if index == 0:

            @dg.asset(name=name, partitions_def=partitions)
            def root() -> int:
                return 0

            return root

        @dg.asset(
            name=name,
            partitions_def=partitions,
            ins={"previous": dg.AssetIn(key=f"{prefix}_{index - 1:03d}")},
        )
        def step(previous: int) -> int:
            return previous + 1

        return step

    return [make(index) for index in range(length)]


def partition_folder(context: dg.AssetExecutionContext, asset_name: str) -> Path:
    """Where the filesystem I/O manager would keep ``asset_name``'s partitions."""
    return Path(context.instance.storage_directory()) / asset_name


def write_partitions(context: dg.AssetExecutionContext, values: Mapping[str, object]) -> None:
    """Pickles one file per partition, as the filesystem I/O manager does for one partition."""
    folder = partition_folder(context, context.asset_key.path[-1])
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        with open(folder / key, "wb") as file:
            pickle.dump(value, file, pickle.HIGHEST_PROTOCOL)


def read_partitions(context: dg.AssetExecutionContext, upstream: str) -> dict[str, Any]:
    """The upstream asset's values for this run's partitions (identity mapping)."""
    folder = partition_folder(context, upstream)
    values = {}
    for key in context.partition_keys:
        with open(folder / key, "rb") as file:
            values[key] = pickle.load(file)
    return values


def ranged_chain(
    partitions: dg.PartitionsDefinition,
    length: int,
    prefix: str,
    code_version: str | None = None,
) -> list[dg.AssetsDefinition]:
    """A chain of partitioned assets for single-run backfills over a partition range.

    Each asset computes every partition of its run's range (one partition in a per-partition
    run) and stores them itself, since the filesystem I/O manager stores one partition per output.
    """
    policy = dg.BackfillPolicy.single_run()

    def make(index: int) -> dg.AssetsDefinition:
        name = f"{prefix}_{index:03d}"
        if index == 0:

            @dg.asset(
                name=name,
                partitions_def=partitions,
                backfill_policy=policy,
                code_version=code_version,
            )
            def root(context: dg.AssetExecutionContext) -> None:
                write_partitions(context, {key: 0 for key in context.partition_keys})

            return root

        upstream = f"{prefix}_{index - 1:03d}"

        @dg.asset(
            name=name,
            partitions_def=partitions,
            backfill_policy=policy,
            code_version=code_version,
            deps=[upstream],
        )
        def step(context: dg.AssetExecutionContext) -> None:
            previous = read_partitions(context, upstream)
            write_partitions(context, {key: value + 1 for key, value in previous.items()})

        return step

    return [make(index) for index in range(length)]


def count_stored_partitions(
    instance: dg.DagsterInstance, assets: Sequence[dg.AssetsDefinition]
) -> int:
    """Fewest materialized partitions over ``assets``, as recorded in the instance's event log."""
    return min(len(instance.get_materialized_partitions(a.key)) for a in assets)


def year_partitions() -> dg.DailyPartitionsDefinition:
    """The 365 days of 2023."""
    return dg.DailyPartitionsDefinition(start_date=YEAR_START, end_date=YEAR_END)


def many_partitions(count: int) -> dg.DailyPartitionsDefinition:
    """``count`` days from 2000-01-01, including any that lie in the future.

    Dagster leaves out partitions later than today unless ``end_offset`` lets them in; 10,000
    days from 2000 reach into 2027, so the offset is whatever reaches the end date.
    """
    end = MANY_START + timedelta(days=count)
    ahead = max(0, (end - date.today()).days + 1)
    partitions = dg.DailyPartitionsDefinition(
        start_date=MANY_START.isoformat(), end_date=end.isoformat(), end_offset=ahead
    )
    found = len(partitions.get_partition_keys())
    if found != count:
        raise RuntimeError(f"expected {count} daily partitions, Dagster has {found}")
    return partitions


def all_keys(partitions: dg.PartitionsDefinition) -> list[str]:
    """Every partition key, oldest first."""
    return list(partitions.get_partition_keys())


def w1_chain(folder: Path, quick: bool) -> Result:
    """W1: orchestration overhead of 200 trivial assets in a chain, one in-process run."""
    del quick  # the chain is short enough in both modes
    instance = open_instance(folder)
    assets = chain_assets(CHAIN_LENGTH)
    job = resolve_job(assets)
    seconds = timed(lambda: run_in_process(job, instance))
    if len(instance.get_asset_keys()) != CHAIN_LENGTH:
        raise RuntimeError("the chain run did not record every asset")
    return {"seconds": seconds, "assets": CHAIN_LENGTH, "peak_mb": peak_mb()}


def build_fan_job(start_method: str) -> dg.JobDefinition:
    """W2's job: a root, 64 assets that sleep 50 ms and read the root, a sink that reads all 64.

    Steps run in their own processes, at most 8 at a time, started with ``start_method``.
    """

    @dg.asset(name="fan_root")
    def root() -> int:
        return 1

    def make(index: int) -> dg.AssetsDefinition:
        @dg.asset(name=f"fan_{index:02d}", ins={"root_value": dg.AssetIn(key="fan_root")})
        def branch(root_value: int) -> int:
            time.sleep(FAN_SLEEP_SECONDS)
            return root_value + index

        return branch

    branches = [make(index) for index in range(FAN_OUT)]

    @dg.asset(name="fan_sink", ins={b.key.path[-1]: dg.AssetIn(key=b.key) for b in branches})
    def sink(**values: int) -> int:
        return sum(values.values())

    config = {"max_concurrent": FAN_CONCURRENCY, "start_method": {start_method: {}}}
    executor = dg.multiprocess_executor.configured(config)
    return resolve_job([root, *branches, sink], executor=executor)


def fan_job_spawn() -> dg.JobDefinition:
    """W2's job with Dagster's default start method; at module scope so step processes load it."""
    return build_fan_job("spawn")


def fan_job_forkserver() -> dg.JobDefinition:
    """W2's job with the forkserver start method, which Dagster offers to cut process start-up."""
    return build_fan_job("forkserver")


def run_fan(folder: Path, job_fn: Callable[[], dg.JobDefinition]) -> float:
    """Seconds of one multiprocess run of the fan-out job, on a fresh instance in ``folder``."""
    instance = open_instance(folder)
    job = dg.reconstructable(job_fn)

    def work() -> None:
        result = dg.execute_job(job, instance=instance, run_config=QUIET_RUN_CONFIG)
        if not result.success:
            raise RuntimeError(f"Dagster run {result.run_id} failed")

    return timed(work)


def w2_fan(folder: Path, quick: bool) -> Result:
    """W2: fan-out with concurrency 8, on Dagster's multiprocess executor (a process per step).

    ``seconds`` uses Dagster's default start method, spawn: every step process imports Dagster
    and loads the job again. ``forkserver_seconds`` is the same run with the forkserver start
    method, the option Dagster offers to make step processes cheaper (skipped with ``--quick``).
    ``peak_mb`` is this orchestrating process's; ``step_process_peak_mb`` the largest step's.
    """
    figures: Result = {}
    figures.update(
        flatten("spawn", guarded(lambda: {"seconds": run_fan(folder / "spawn", fan_job_spawn)}))
    )
    if not quick:
        forkserver = guarded(
            lambda: {"forkserver_seconds": run_fan(folder / "forkserver", fan_job_forkserver)}
        )
        figures.update(flatten("forkserver", forkserver))
    figures["steps"] = FAN_OUT + 2
    figures["max_concurrent"] = FAN_CONCURRENCY
    figures["start_method"] = "spawn (Dagster's default)"
    figures["peak_mb"] = peak_mb()
    figures["step_process_peak_mb"] = children_peak_mb()
    return figures


def w3_per_partition(folder: Path, count: int) -> Result:
    """W3 (a): one run per partition, both assets in each run, as a default backfill launches."""
    instance = open_instance(folder)
    partitions = year_partitions()
    job = resolve_job(partitioned_chain(partitions, 2, "daily"))
    keys = all_keys(partitions)[:count]

    def work() -> None:
        for key in keys:
            run_in_process(job, instance, partition_key=key)

    seconds = timed(work)
    return {
        "seconds": seconds,
        "partitions": len(keys),
        "per_partition_seconds": seconds / len(keys),
    }


def w3_single_run(folder: Path) -> Result:
    """W3 (b): one run over all 365 partitions of both assets (single-run backfill policy)."""
    instance = open_instance(folder)
    partitions = year_partitions()
    assets = ranged_chain(partitions, 2, "daily")
    job = resolve_job(assets)
    keys = all_keys(partitions)
    seconds = timed(lambda: run_range(job, instance, keys))
    stored = count_stored_partitions(instance, assets)
    if stored != len(keys):
        raise RuntimeError(f"the single run stored {stored} partitions, expected {len(keys)}")
    return {"seconds": seconds, "partitions": stored}


def w3_partitioned(folder: Path, quick: bool) -> Result:
    """W3: 2 daily assets x 365 days, per-partition runs and one single-run backfill.

    Each variant runs on its own fresh instance, so neither sees the other's events.
    """
    count = 30 if quick else 365
    return {
        "per_partition": guarded(lambda: w3_per_partition(folder / "per_partition", count)),
        "single_run": guarded(lambda: w3_single_run(folder / "single_run")),
        "peak_mb": peak_mb(),
    }


def stale_resolver(instance: dg.DagsterInstance, graph: AssetGraph) -> CachingStaleStatusResolver:
    """The resolver behind the stale status Dagster's UI and sensors show, for one request."""
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    return CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)


def w4_chain_status(folder: Path) -> Result:
    """W4, chain: stale status of the 200 assets after the root's code version changed.

    Dagster marks the root stale ("has a new code version"); its dependents stay fresh until
    the root is materialized again with a different data version, so one stale asset is right.
    """
    instance = open_instance(folder)
    run_in_process(resolve_job(chain_assets(CHAIN_LENGTH, root_version="1")), instance)
    changed = chain_assets(CHAIN_LENGTH, root_version="2")
    graph = AssetGraph.from_assets(changed)
    keys = [a.key for a in changed]
    statuses: dict[dg.AssetKey, StaleStatus] = {}

    def work() -> None:
        resolver = stale_resolver(instance, graph)
        for key in keys:
            statuses[key] = resolver.get_status(key)

    seconds = timed(work)
    if statuses[keys[0]] != StaleStatus.STALE:
        raise RuntimeError(f"the root should be stale after a code change: {statuses[keys[0]]}")
    stale = [key.to_user_string() for key in keys if statuses[key] != StaleStatus.FRESH]
    return {
        "chain_status_seconds": seconds,
        "chain_stale": len(stale),
        "chain_stale_assets": stale[:5],
    }


def w4_grid_status(folder: Path, assets: int, days: int) -> Result:
    """W4, grid: stale status of every (asset, partition) of a fully materialized daily chain."""
    instance = open_instance(folder)
    partitions = many_partitions(days)
    chain = ranged_chain(partitions, assets, "grid", code_version="1")
    keys = all_keys(partitions)
    setup = timed(lambda: run_range(resolve_job(chain), instance, keys))
    graph = AssetGraph.from_assets(chain)
    items = [(a.key, key) for a in chain for key in keys]
    statuses: list[StaleStatus] = []

    def work() -> None:
        resolver = stale_resolver(instance, graph)
        statuses.extend(resolver.get_status(asset, partition) for asset, partition in items)

    seconds = timed(work)
    return {
        "grid_status_seconds": seconds,
        "grid_items": len(items),
        "grid_assets": assets,
        "grid_partitions": days,
        "grid_stale": sum(status != StaleStatus.FRESH for status in statuses),
        "grid_setup_seconds": setup,
    }


def w4_staleness(folder: Path, quick: bool) -> Result:
    """W4: staleness of a changed chain, then of every item of a partitioned grid.

    The grid is 100 assets x 50 days rather than x 365: Dagster records each materialized
    partition as its own events, about 30 ms apiece on a disk, so 36,500 items would take some
    18 minutes to set up. The status of each item is independent of the others.
    """
    assets, days = (10, 30) if quick else (100, GRID_DAYS)
    figures: Result = {}
    figures.update(flatten("chain", guarded(lambda: w4_chain_status(folder / "chain"))))
    figures.update(flatten("grid", guarded(lambda: w4_grid_status(folder / "grid", assets, days))))
    figures["peak_mb"] = peak_mb()
    return figures


def w5_noop(folder: Path, quick: bool) -> Result:
    """W5: re-running a fully materialized single-run backfill, which Dagster recomputes.

    A plain run has no way to skip what is up to date, so the re-run does all the work again.
    One per-partition run of one partition is timed as well, on the same instance.
    """
    del quick  # the same year in both modes
    instance = open_instance(folder)
    partitions = year_partitions()
    job = resolve_job(ranged_chain(partitions, 2, "daily"))
    keys = all_keys(partitions)
    run_range(job, instance, keys)
    figures: Result = {}
    rerun = guarded(
        lambda: {"rerun_single_run_seconds": timed(lambda: run_range(job, instance, keys))}
    )
    figures.update(flatten("rerun_single_run", rerun))
    one = guarded(
        lambda: {"one_partition_run_seconds": timed(lambda: run_in_process(job, instance, keys[0]))}
    )
    figures.update(flatten("one_partition_run", one))
    figures["partitions"] = len(keys)
    figures["peak_mb"] = peak_mb()
    return figures


def w6_single_run(folder: Path, count: int) -> Result:
    """W6, single run: one run over every partition of one trivial asset."""
    instance = open_instance(folder)
    partitions = many_partitions(count)
    assets = ranged_chain(partitions, 1, "many")
    job = resolve_job(assets)
    keys = all_keys(partitions)
    seconds = timed(lambda: run_range(job, instance, keys))
    stored = count_stored_partitions(instance, assets)
    if stored != count:
        raise RuntimeError(f"the single run stored {stored} partitions, expected {count}")
    return {
        "single_run_seconds": seconds,
        "per_partition_ms": seconds / count * 1000,
        "partitions": count,
    }


def w6_sampled_runs(folder: Path, count: int, sample: int) -> Result:
    """W6, per-partition runs: the first ``sample`` partitions, one run each."""
    instance = open_instance(folder)
    partitions = many_partitions(count)
    job = resolve_job(partitioned_chain(partitions, 1, "many"))
    keys = all_keys(partitions)[:sample]

    def work() -> None:
        for key in keys:
            run_in_process(job, instance, partition_key=key)

    seconds = timed(work)
    return {"per_partition_run_ms": seconds / sample * 1000, "per_partition_run_sample": sample}


def w6_many_partitions(folder: Path, quick: bool) -> Result:
    """W6: 10,000 daily partitions of one trivial asset: one single run, and a sample of runs.

    One run per partition for all 10,000 would take about an hour, hence the sample.
    """
    count, sample = (1_000, 10) if quick else (10_000, 50)
    figures: Result = {}
    single = guarded(lambda: w6_single_run(folder / "single_run", count))
    figures.update(flatten("single_run", single))
    sampled = guarded(lambda: w6_sampled_runs(folder / "per_partition", count, sample))
    figures.update(flatten("per_partition_runs", sampled))
    figures["peak_mb"] = peak_mb()
    return figures


WORKLOADS: dict[str, Callable[[Path, bool], Result]] = {
    "W1": w1_chain,
    "W2": w2_fan,
    "W3": w3_partitioned,
    "W4": w4_staleness,
    "W5": w5_noop,
    "W6": w6_many_partitions,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast check")
    args = parser.parse_args()
    folder = args.folder.resolve()
    os.environ["DAGSTER_HOME"] = str(folder)
    quiet_python_logging()
    figures = WORKLOADS[args.workload](folder, args.quick)
    figures["dagster_version"] = dg.__version__
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
