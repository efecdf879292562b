"""Project settings: where definitions, metadata and outputs live, and run defaults.

Settings come, highest priority first, from explicit arguments, ``FLOWSTONE_*`` environment
variables, ``flowstone.toml`` and ``[tool.flowstone]`` in ``pyproject.toml`` of the project
directory. This module only reads and validates; callers turn a ``pydantic.ValidationError``
into a ``ConfigError`` (errors and config are independent layers).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

EXECUTOR_NAMES = ("threads", "processes", "dask")
"""Where items can run: the driver's worker threads, a process pool, a Dask cluster."""
ExecutorName = Literal["threads", "processes", "dask"]

STATE_DIR_NAME = ".flowstone"
"""The folder in the project directory that holds the embedded store and default outputs."""


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` with ``flowstone.toml`` or a flowstone pyproject.

    Falls back to ``start`` (the current directory) so a bare folder works with no set-up.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "flowstone.toml").is_file() or _has_tool_section(folder / "pyproject.toml"):
            return folder
    return here


def _has_tool_section(pyproject: Path) -> bool:
    if not pyproject.is_file():
        return False
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return "flowstone" in data.get("tool", {})


class Settings(BaseSettings):
    """Validated flowstone settings for one project directory.

    Example:
        >>> Settings(project_dir=Path("/tmp/p")).resolved_store_url()
        'sqlite:////tmp/p/.flowstone/flowstone.db'
    """

    model_config = SettingsConfigDict(
        env_prefix="FLOWSTONE_", extra="forbid", pyproject_toml_table_header=("tool", "flowstone")
    )

    project_dir: Path = Field(default_factory=Path.cwd)
    module: str | None = Field(default=None, description="Module that defines the assets.")
    store_url: str | None = Field(default=None, description="Metadata store SQLAlchemy URL.")
    storage_root: str | None = Field(default=None, description="Root of the filesystem manager.")
    concurrency: int = Field(default=8, ge=1, description="Items run at once.")
    executor: ExecutorName = Field(
        default="threads",
        description="Where items run: 'threads', 'processes' or 'dask' (flowstone[dask]).",
    )
    dask_address: str | None = Field(
        default=None,
        description="The Dask scheduler to run on (tcp://host:8786); a local cluster when unset.",
    )
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How long a claim on an item outlives its process: another process takes over an "
            "item whose claim was not renewed for this long."
        ),
    )
    io_managers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Options per I/O manager name, e.g. {'fs': {'root': ...}}.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = getattr(init_settings, "init_kwargs", {}).get("project_dir")
        project_dir = Path(given) if given else find_project_dir()
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=project_dir / "flowstone.toml"),
            PyprojectTomlConfigSettingsSource(settings_cls, project_dir / "pyproject.toml"),
        )

    @property
    def state_dir(self) -> Path:
        """``.flowstone/`` of the project: the embedded store and default outputs."""
        return self.project_dir / STATE_DIR_NAME

    def resolved_store_url(self) -> str:
        """The metadata store URL, defaulting to SQLite in the state directory."""
        return self.store_url or f"sqlite:///{self.state_dir / 'flowstone.db'}"

    def resolved_storage_root(self) -> str:
        """The filesystem manager's root, defaulting to ``.flowstone/storage``."""
        return self.storage_root or str(self.state_dir / "storage")


def load_settings(project_dir: Path | None = None, **overrides: Any) -> Settings:
    """Read settings for ``project_dir`` (found from the current directory when omitted).

    Raises:
        pydantic.ValidationError: a value in a file or the environment does not validate.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(project_dir=project_dir or find_project_dir(), **given)
