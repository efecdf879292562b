"""The store's share of status: ``get_version_states`` for every item of a large store.

Fills a SQLite store (and a PostgreSQL one when a server is given) with 100 assets x 365 daily
partitions, each item one success that read the previous asset's same partition (the first
asset reads an external source), then times one bulk read of all 36,500 items; a second store
holds 100 x 1,000 = 100,000 items. Usage::

    python benchmarks/status_store.py [--repeat 5] [--postgres URL] [--compare-latest]

``FLOWSTONE_TEST_POSTGRES_URL`` stands in for ``--postgres``. On PostgreSQL each store lives in
a new schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flowstone.keys import AssetKey
from flowstone.storage import (
    LineageEdge,
    MaterializationRecord,
    MaterializationStatus,
    RunRecord,
    RunStatus,
    SqlMetadataStore,
    mask_url,
)

BATCH = 10_000
SOURCE = AssetKey(("raw", "source"))
STARTED = datetime(2024, 1, 1, tzinfo=UTC)


def daily_keys(count: int) -> list[str]:
    first = date(2020, 1, 1)
    return [(first + timedelta(days=offset)).isoformat() for offset in range(count)]


def version(*parts: str) -> str:
    """A realistic 64-character content hash."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def iter_records(assets: list[AssetKey], partitions: list[str]) -> Iterator[MaterializationRecord]:
    """One success per item, asset by asset, each reading the previous asset's same partition."""
    previous: dict[str, tuple[str, str]] = {
        partition: (uuid.uuid4().hex, version("source", partition)) for partition in partitions
    }
    upstream = SOURCE
    for asset_key in assets:
        current: dict[str, tuple[str, str]] = {}
        for partition in partitions:
            upstream_id, upstream_version = previous[partition]
            record = MaterializationRecord(
                materialization_id=uuid.uuid4().hex,
                asset_key=asset_key,
                partition_key=partition,
                run_id="fill",
                status=MaterializationStatus.SUCCESS,
                code_version=version("code", str(asset_key)),
                data_version=version("data", str(asset_key), partition),
                provenance_version=version("provenance", str(asset_key), partition),
                started_at=STARTED,
                finished_at=STARTED,
                inputs=(
                    LineageEdge(
                        upstream_materialization_id=upstream_id,
                        upstream_asset_key=upstream,
                        upstream_partition_key=partition,
                        upstream_data_version=upstream_version,
                    ),
                ),
            )
            current[partition] = (record.materialization_id, record.data_version or "")
            yield record
        previous, upstream = current, asset_key


def fill(store: SqlMetadataStore, assets: list[AssetKey], partitions: list[str]) -> float:
    """Write every item in batches of ``BATCH``; return the seconds it took."""
    started = time.perf_counter()
    store.add_run(RunRecord(run_id="fill", status=RunStatus.RUNNING, started_at=STARTED))
    batch: list[MaterializationRecord] = []
    for record in iter_records(assets, partitions):
        batch.append(record)
        if len(batch) == BATCH:
            store.add_materializations(batch)
            batch = []
    store.add_materializations(batch)
    return time.perf_counter() - started


def time_reads(
    store: SqlMetadataStore, assets: list[AssetKey], expected: int, repeat: int
) -> tuple[float, float]:
    """The first read (cold statement cache) and the median of ``repeat`` more, in seconds."""
    times = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        states = store.get_version_states(assets)
        times.append(time.perf_counter() - started)
        assert len(states) == expected, (len(states), expected)
        del states  # freeing 100,000 states is the caller's cost, not the read's
    return times[0], statistics.median(times[1:])


def time_latest(store: SqlMetadataStore, assets: list[AssetKey], partitions: list[str]) -> float:
    """One ``get_latest`` of every item: the pydantic records path, for comparison."""
    items = [(asset_key, partition) for asset_key in assets for partition in partitions]
    started = time.perf_counter()
    found = store.get_latest(items)
    elapsed = time.perf_counter() - started
    assert len(found) == len(items)
    return elapsed


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="flowstone-status-") as folder:
        yield f"sqlite:///{Path(folder) / 'flowstone.db'}"


@contextmanager
def postgres_url(base: str) -> Iterator[str]:
    """A URL whose connections see only a new schema, dropped afterwards."""
    url = make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    schema = f"flowstone_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False
            )
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def run_case(url: str, shape: tuple[int, int], options: argparse.Namespace) -> None:
    asset_count, partition_count = shape
    assets = [AssetKey(("bench", f"asset_{index:03d}")) for index in range(asset_count)]
    partitions = daily_keys(partition_count)
    items = asset_count * partition_count
    store = SqlMetadataStore(url)
    try:
        filled = fill(store, assets, partitions)
        first, median = time_reads(store, assets, items, options.repeat)
        line = (
            f"  {asset_count} x {partition_count} = {items:,} items: fill {filled:.1f} s, "
            f"get_version_states first {first * 1000:.0f} ms, median {median * 1000:.0f} ms "
            f"({median / items * 1e6:.2f} us per item)"
        )
        if options.compare_latest:
            line += f"; get_latest {time_latest(store, assets, partitions) * 1000:.0f} ms"
        print(line, flush=True)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("FLOWSTONE_TEST_POSTGRES_URL", ""))
    parser.add_argument("--compare-latest", action="store_true")
    options = parser.parse_args()
    shapes = [(100, 365), (100, 1000)]
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, medians of "
        f"{options.repeat} reads after a first one"
    )
    print("SQLite (temp folder):")
    for shape in shapes:
        with sqlite_url() as url:
            run_case(url, shape, options)
    if options.postgres:
        print(f"PostgreSQL ({mask_url(options.postgres)}):")
        for shape in shapes:
            with postgres_url(options.postgres) as url:
                run_case(url, shape, options)


if __name__ == "__main__":
    main()
