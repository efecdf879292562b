"""``--config FILE``: asset config values read from a JSON (or YAML) file.

The file maps asset keys to their config fields, e.g. ``{"clean_orders": {"min_amount": 5}}``.
Only its shape is checked here, before anything runs; the values themselves are validated against
each asset's pydantic model when the run is planned, so both kinds of error name the asset.
YAML is read only when PyYAML is installed: flowstone does not depend on it for one file format.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from flowstone.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

YAML_SUFFIXES = (".yaml", ".yml")
EXAMPLE = '{"clean_orders": {"min_amount": 5}}'


def config_option(command: F) -> F:
    """``--config FILE``: config values by asset, as a JSON (or YAML) object."""
    return click.option(
        "--config",
        "config_file",
        metavar="FILE",
        type=click.Path(path_type=Path),
        help=f"Asset config values, e.g. {EXAMPLE} (JSON; YAML when PyYAML is installed).",
    )(command)


def load_config_file(path: Path | None) -> dict[str, dict[str, Any]] | None:
    """The config values in ``path`` (``None`` when no file was given).

    Raises:
        ConfigError: the file is missing or unreadable, does not parse, or is not an object
            mapping each asset key to an object of field values.
    """
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"The config file {str(path)!r} does not exist. Check the --config path."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the config file {str(path)!r}: {exc}. Check the --config path and that "
            f"the file is UTF-8 text."
        ) from exc
    is_yaml = path.suffix.lower() in YAML_SUFFIXES
    parsed = _parse_yaml(path, text) if is_yaml else _parse_json(path, text)
    return _check_shape(path, parsed)


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The config file {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}. Fix the syntax; the file should look like {EXAMPLE}."
        ) from exc


def _parse_yaml(path: Path, text: str) -> Any:
    """Parse YAML with PyYAML when it is installed (imported by name: it is optional)."""
    try:
        yaml = importlib.import_module("yaml")
    except ImportError as exc:
        raise ConfigError(
            f"The config file {str(path)!r} is YAML, which needs PyYAML (not installed). "
            f"Install it (pip install pyyaml) or write the same mapping as JSON, e.g. {EXAMPLE}."
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(
            f"The config file {str(path)!r} is not valid YAML: {problem}. Fix the syntax."
        ) from exc


def _check_shape(path: Path, parsed: Any) -> dict[str, dict[str, Any]]:
    """Asset key -> mapping of fields; anything else is named with where it is in the file."""
    if not isinstance(parsed, Mapping):
        raise ConfigError(
            f"The config file {str(path)!r} holds {_kind(parsed)}, not an object of asset keys. "
            f"Write one entry per asset, e.g. {EXAMPLE}."
        )
    values: dict[str, dict[str, Any]] = {}
    for name, fields in parsed.items():
        if not isinstance(name, str):
            raise ConfigError(
                f"The config file {str(path)!r} has the key {name!r}, which is not text. Quote "
                f"it: top-level keys are asset keys, e.g. {EXAMPLE}."
            )
        if not isinstance(fields, Mapping):
            raise ConfigError(
                f"The config file {str(path)!r} gives {_kind(fields)} for {name!r}, but each "
                f"asset key must map to an object of config fields, e.g. {EXAMPLE}."
            )
        values[name] = {str(field): value for field, value in fields.items()}
    return values


def _kind(value: Any) -> str:
    """How a parsed value is named in messages: ``a list``, ``null``, ``a number``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"
