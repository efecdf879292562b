"""Finding and importing the user's asset definitions for a command (``-m``/``-f``/settings)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import click

from flowstone.config import Settings
from flowstone.definitions import Registry
from flowstone.errors import FlowstoneError


def load_definitions(module: str | None, file: Path | None, settings: Settings) -> Registry:
    """Import the definitions into a fresh registry, from ``-f``, ``-m`` or ``[tool.flowstone]``.

    Raises:
        click.UsageError: nothing says where the definitions are, or they cannot be imported.
        FlowstoneError: a definition is invalid (e.g. a ``CycleError``).
    """
    module = module or (None if file else settings.module)
    if file is None and module is None:
        raise click.UsageError(
            "No asset definitions given. Pass -f path/to/pipeline.py or -m package.module, "
            'or set module = "..." under [tool.flowstone] in pyproject.toml.'
        )
    registry = Registry()
    with registry:
        try:
            if file is not None:
                _import_file(file)
            else:
                _import_module(str(module), settings.project_dir)
        except FlowstoneError:
            raise
        except Exception as exc:
            where = str(file) if file is not None else repr(module)
            raise click.UsageError(
                f"Could not import the definitions in {where}: {type(exc).__name__}: {exc}. "
                f"Fix the module so that it imports cleanly (python -c 'import ...')."
            ) from exc
    return registry


def _import_file(file: Path) -> None:
    path = file.resolve()
    if not path.is_file():
        raise click.UsageError(f"Definitions file {str(file)!r} does not exist. Check the -f path.")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise click.UsageError(f"{str(file)!r} is not an importable Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)


def _import_module(name: str, project_dir: Path) -> None:
    """Import ``name`` afresh (with its submodules) so its assets register in the new registry."""
    sys.path.insert(0, str(project_dir))
    for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[loaded]
    importlib.import_module(name)
