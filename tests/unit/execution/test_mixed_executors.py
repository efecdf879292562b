"""``@asset(executor="processes")``: one asset in a pool process, the rest in the driver."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowstone import ConfigError, materialize
from flowstone.definitions.asset import build_asset_def
from flowstone.storage.sql import SqlMetadataStore
from io_managers.memory import InMemoryIOManager
from tests.support import mixed_pipeline


def test_one_asset_runs_in_a_process_and_the_others_in_threads(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    definitions = [mixed_pipeline.SOURCE, mixed_pipeline.HEAVY, mixed_pipeline.REPORT]
    result = materialize(definitions=definitions, store=store, project_dir=tmp_path)
    assert result.success, [item.error for item in result.items]
    records = {r.asset_key.name: r for r in store.get_run_materializations(result.run_id)}
    assert records["source"].metadata["pid"] == os.getpid()
    assert records["report"].metadata["pid"] == os.getpid()
    assert records["heavy"].metadata["pid"] != os.getpid()
    assert {edge.upstream_materialization_id for edge in records["report"].inputs} == {
        records["heavy"].materialization_id
    }
    store.close()


def test_an_asset_on_processes_that_reads_from_memory_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    source = build_asset_def(mixed_pipeline.source, io_manager=InMemoryIOManager())
    definitions = [source, mixed_pipeline.HEAVY, mixed_pipeline.REPORT]
    with pytest.raises(ConfigError, match=r"heavy .*reads source.*InMemoryIOManager.*'threads'"):
        materialize(definitions=definitions, store=store, project_dir=tmp_path)
    assert store.list_runs() == []
    store.close()
