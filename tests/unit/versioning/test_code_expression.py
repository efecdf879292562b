"""Constants that are not plain values are versioned by the expression that defines them.

Each test writes a small project package into ``tmp_path`` (one folder per edit, same package
name), imports it afresh and compares the code versions of its assets.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstone.errors import FlowstoneWarning
from flowstone.versioning.code_version import compute_code_version

PACKAGE = "ce_project"

SETTINGS = """
STOPWORDS = frozenset({"a", "the"})
"""

CONSTANTS = """
import datetime
import decimal
import enum
import functools
import os
import pathlib
import re
from dataclasses import dataclass

from .settings import STOPWORDS


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


@dataclass(frozen=True)
class Config:
    rate: int


WORD = re.compile(r"[a-z]+")
START = datetime.date(2024, 1, 10)
PRICE = decimal.Decimal("1.50")
ROOT = pathlib.Path("/srv/data")
MODE = Colour.RED
CONFIG = Config(rate=2)
ROUND = functools.partial(round, ndigits=2)
BASE = 10
LIMIT = BASE * 2
DATA_DIR = os.environ.get("CE_DATA_DIR", "/data")
OTHER_DIR = os.getenv("CE_OTHER_DIR")
INPUT = pathlib.Path(os.environ["CE_INPUT"])
"""

NAMES = [
    "WORD", "START", "PRICE", "ROOT", "MODE", "CONFIG", "ROUND", "STOPWORDS", "LIMIT",
    "DATA_DIR", "OTHER_DIR", "INPUT",
]  # fmt: skip

ASSETS = "from . import constants as c\n\n" + "".join(
    f"\n\ndef uses_{name.lower()}():\n    return c.{name}\n" for name in NAMES
)

EDITS = {
    "WORD": ("constants", 'r"[a-z]+"', 'r"[a-z0-9]+"'),
    "START": ("constants", "date(2024, 1, 10)", "date(2024, 1, 11)"),
    "PRICE": ("constants", 'Decimal("1.50")', 'Decimal("1.75")'),
    "ROOT": ("constants", 'Path("/srv/data")', 'Path("/srv/other")'),
    "MODE": ("constants", "MODE = Colour.RED", "MODE = Colour.BLUE"),
    "CONFIG": ("constants", "Config(rate=2)", "Config(rate=3)"),
    "ROUND": ("constants", "ndigits=2", "ndigits=3"),
    "STOPWORDS": ("settings", '{"a", "the"}', '{"a", "an", "the"}'),
    "LIMIT": ("constants", "BASE = 10", "BASE = 11"),
}


class Project:
    """Writes the package into a fresh folder per call and imports it under one name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self, **sources: str) -> dict[str, str]:
        files = {"settings": SETTINGS, "constants": CONSTANTS, "assets": ASSETS, **sources}
        folder = self.root / f"copy{len(list(self.root.iterdir()))}"
        (folder / PACKAGE).mkdir(parents=True)
        (folder / PACKAGE / "__init__.py").write_text("")
        for name, source in files.items():
            (folder / PACKAGE / f"{name}.py").write_text(textwrap.dedent(source))
        forget()
        importlib.invalidate_caches()
        sys.path.insert(0, str(folder))
        try:
            assets = importlib.import_module(f"{PACKAGE}.assets")
        finally:
            sys.path.remove(str(folder))
        users = {name: getattr(assets, f"uses_{name.lower()}") for name in NAMES}
        return {name: compute_code_version(user) for name, user in users.items()}


def forget() -> None:
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setenv("CE_INPUT", "/in/one")
    yield Project(tmp_path)
    forget()


@pytest.mark.parametrize("constant", sorted(EDITS))
def test_editing_a_constant_changes_exactly_the_version_of_its_user(
    project: Project, constant: str
) -> None:
    module, old, new = EDITS[constant]
    source = {"settings": SETTINGS, "constants": CONSTANTS}[module]
    assert old in source
    before = project.versions()
    after = project.versions(**{module: source.replace(old, new)})
    changed = {name for name in NAMES if before[name] != after[name]}
    assert changed == {constant}


def test_changing_the_environment_a_constant_reads_changes_no_version(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = project.versions()
    monkeypatch.setenv("CE_DATA_DIR", "/elsewhere")
    monkeypatch.setenv("CE_OTHER_DIR", "/other")
    monkeypatch.setenv("CE_INPUT", "/in/two")
    assert project.versions() == before


def test_a_constant_with_no_readable_definition_warns_and_names_it(project: Project) -> None:
    hidden = CONSTANTS + '\nglobals()["HIDDEN"] = object()\n'
    assets = ASSETS + "\n\ndef uses_hidden():\n    return c.HIDDEN\n"
    project.versions(constants=hidden, assets=assets)
    module = sys.modules[f"{PACKAGE}.assets"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        version = compute_code_version(module.uses_hidden)
    messages = [str(item.message) for item in caught if item.category is FlowstoneWarning]
    assert len(messages) == 1
    assert "ce_project.constants:HIDDEN" in messages[0]
    assert "code_version=" in messages[0]
    assert len(version) == 16
