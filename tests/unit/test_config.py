"""Settings: files, environment and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstone import ConfigError
from flowstone.config import find_project_dir
from flowstone.execution.api import resolve_settings


def test_defaults_live_in_the_project_state_folder(tmp_path: Path) -> None:
    settings = resolve_settings(tmp_path)
    assert settings.resolved_store_url() == f"sqlite:///{tmp_path}/.flowstone/flowstone.db"
    assert settings.resolved_storage_root() == str(tmp_path / ".flowstone" / "storage")


def test_files_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowstone]\nmodule = "pipeline"\nconcurrency = 3\n'
        '[tool.flowstone.io_managers.fs]\nroot = "memory://shared"\n'
    )
    (tmp_path / "flowstone.toml").write_text("concurrency = 4\n")
    assert resolve_settings(tmp_path).concurrency == 4
    assert resolve_settings(tmp_path).io_managers == {"fs": {"root": "memory://shared"}}
    monkeypatch.setenv("FLOWSTONE_CONCURRENCY", "5")
    assert resolve_settings(tmp_path).concurrency == 5
    assert resolve_settings(tmp_path, concurrency=6).concurrency == 6
    assert resolve_settings(tmp_path).module == "pipeline"


def test_project_folder_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "flowstone.toml").write_text("")
    (tmp_path / "src" / "deep").mkdir(parents=True)
    assert find_project_dir(tmp_path / "src" / "deep") == tmp_path


def test_invalid_values_name_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSTONE_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match=r"concurrency: Input should be greater than"):
        resolve_settings(tmp_path)
    monkeypatch.delenv("FLOWSTONE_CONCURRENCY")
    (tmp_path / "flowstone.toml").write_text('colour = "red"\n')
    with pytest.raises(ConfigError, match=r"colour: Extra inputs are not permitted"):
        resolve_settings(tmp_path)
