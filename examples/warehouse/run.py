"""Backfill the warehouse example with its marts and its metadata in PostgreSQL.

    python examples/warehouse/run.py postgresql+psycopg://user:password@host:5432/dbname

Raw and staging files go under ``.flowstone/storage`` of the current folder; the marts go to
tables in the schema ``warehouse`` (created if needed); runs, materializations and lineage go to
the same database. Running it again does nothing: everything is fresh.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from flowstone import Registry, backfill
from io_managers.postgres import PostgresIOManager

HERE = Path(__file__).parent


def main(url: str, *, schema: str = "warehouse", project_dir: Path | None = None) -> int:
    """Run the backfill; return the number of items materialized now."""
    registry = Registry()
    spec = importlib.util.spec_from_file_location("warehouse_pipeline", HERE / "pipeline.py")
    assert spec is not None and spec.loader is not None
    with registry:  # the assets register here as the module runs
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    marts = PostgresIOManager(url, schema=schema)
    try:
        result = backfill(
            definitions=registry, store=url, io_managers={"postgres": marts},
            project_dir=project_dir or Path.cwd(), policy="stale",
        )  # fmt: skip
    finally:
        marts.close()
    result.raise_on_failure()
    print(f"backfill {result.backfill_id}: {result.backfill.status.value}, "
          f"{result.backfill.item_count} items to do, {result.succeeded} done")  # fmt: skip
    return result.backfill.item_count


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
