"""Code versions follow the project code an asset runs, and nothing else.

Each test writes a small project into ``tmp_path`` (one folder per edit, same module names) and
imports it, so two versions of a module are compared exactly as a user would produce them.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import flowstone
from flowstone.definitions import Registry
from flowstone.errors import FlowstoneWarning
from flowstone.versioning.code_constant import canonical_constant
from flowstone.versioning.code_reference import is_project_definition
from flowstone.versioning.code_version import compute_code_version

ROOT = Path(__file__).parents[3]

HELPERS = '''
import json

RATE = 3
UNUSED = 4
TAGS = {"north", "south", "east", "west"}


def clean_row(row):
    """Strip and scale one row."""
    return scale(row.strip())


def scale(text):
    # a helper of a helper
    return text * RATE


def unrelated():
    return 1
'''

ASSETS = """
import json

import cv_helpers
from cv_helpers import clean_row


def asset(rows):
    return json.dumps([cv_helpers.clean_row(row) for row in rows])


def imported(rows):
    return [clean_row(row) for row in rows]


def tagged(rows):
    return [row for row in rows if row in cv_helpers.TAGS]
"""


class Project:
    """Writes module sources into a fresh folder per call and imports them under fixed names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: set[str] = set()

    def load(self, **sources: str) -> dict[str, ModuleType]:
        folder = self.root / f"copy{len(list(self.root.iterdir()))}"
        folder.mkdir()
        for name, source in sources.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
            sys.modules.pop(name, None)
        self.names.update(sources)
        importlib.invalidate_caches()
        sys.path.insert(0, str(folder))
        try:
            return {name: importlib.import_module(name) for name in sources}
        finally:
            sys.path.remove(str(folder))

    def version(self, function: str = "asset", **edits: str) -> str:
        """The version of ``cv_assets.<function>`` with the default sources, edited."""
        sources = {"cv_helpers": HELPERS, "cv_assets": ASSETS, **edits}
        return compute_code_version(getattr(self.load(**sources)["cv_assets"], function))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = Project(tmp_path)
    yield made
    for name in made.names:
        sys.modules.pop(name, None)


def edit(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


def test_a_version_is_sixteen_hex_digits_and_given_wins(project: Project) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", project.version())
    assert compute_code_version(lambda: 1, given="v7") == "v7"


def test_editing_a_helper_the_asset_calls_changes_its_version(project: Project) -> None:
    helpers = edit(HELPERS, "return scale(row.strip())", "return scale(row.lower())")
    assert project.version() != project.version(cv_helpers=helpers)


def test_editing_a_helper_of_a_helper_changes_the_version(project: Project) -> None:
    helpers = edit(HELPERS, "return text * RATE", "return text * RATE + text")
    assert project.version() != project.version(cv_helpers=helpers)


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("cv_helpers", '"""Strip and scale one row."""', '"""Strip, then scale."""'),
        ("cv_helpers", "# a helper of a helper", "# reworded, and\n    # longer"),
        ("cv_assets", "def asset(rows):\n", 'def asset(rows):\n    """Now documented."""\n'),
        ("cv_assets", "def asset(rows):\n", "def asset(rows):  # a comment\n"),
        ("cv_helpers", "def unrelated():\n    return 1", "def unrelated():\n    return 2"),
        ("cv_helpers", "UNUSED = 4", "UNUSED = 5"),
        ("cv_assets", "import json\n", "import json\n\n\nMOVED_DOWN = 1\n"),
    ],
    ids=[
        "helper-docstring",
        "helper-comment",
        "asset-docstring",
        "asset-comment",
        "unrelated-function",
        "unused-constant",
        "asset-moved-down",
    ],
)
def test_edits_that_change_no_code_the_asset_runs_keep_its_version(
    project: Project, module: str, old: str, new: str
) -> None:
    sources = {"cv_helpers": HELPERS, "cv_assets": ASSETS}
    edited = {module: edit(sources[module], old, new)}
    assert project.version() == project.version(**edited)


def test_a_constant_the_asset_reads_is_part_of_its_version(project: Project) -> None:
    assert project.version() != project.version(cv_helpers=edit(HELPERS, "RATE = 3", "RATE = 4"))
    tags = '{"north", "south", "east", "west"}'
    fewer = edit(HELPERS, tags, '{"west", "east", "north"}')
    assert project.version("tagged") != project.version("tagged", cv_helpers=fewer)
    reordered = edit(HELPERS, tags, '{"west", "east", "south", "north"}')
    assert project.version("tagged") == project.version("tagged", cv_helpers=reordered)


def test_a_helper_imported_by_name_is_followed(project: Project) -> None:
    helpers = edit(HELPERS, "return scale(row.strip())", "return scale(row.lower())")
    assert project.version("imported") != project.version("imported", cv_helpers=helpers)


def test_installed_and_standard_library_code_is_not_followed(
    project: Project, tmp_path: Path
) -> None:
    installed = tmp_path / "site-packages"
    installed.mkdir()
    sys.path.insert(0, str(installed))
    try:
        versions = set()
        for body in ("return 1", "return 2"):
            (installed / "cv_installed.py").write_text(f"def shout():\n    {body}\n")
            sys.modules.pop("cv_installed", None)
            importlib.invalidate_caches()
            uses = "import cv_installed\n\n\ndef asset():\n    return cv_installed.shout()\n"
            versions.add(project.version(cv_assets=uses))
    finally:
        sys.path.remove(str(installed))
        sys.modules.pop("cv_installed", None)
    assert len(versions) == 1
    project_package = "cv_assets"
    assert not is_project_definition(json.dumps, project_package)
    assert not is_project_definition(flowstone.asset, project_package)
    assert not is_project_definition(flowstone.AssetContext, project_package)
    assert not is_project_definition(pytest.approx, project_package)


def test_recursion_and_mutual_recursion_terminate(project: Project) -> None:
    source = """
        def ping(n):
            return pong(n - 1) if n else 0


        def pong(n):
            return ping(n - 1) if n else asset(n)


        def asset(n):
            return ping(n) + asset(n - 1) if n > 0 else 0
    """
    first = project.version(cv_assets=source)
    assert first == project.version(cv_assets=source)
    assert first != project.version(cv_assets=edit(source, "else asset(n)", "else 1"))


def test_an_asset_definition_referenced_by_name_is_followed_through_fn(
    project: Project, registry: Registry
) -> None:
    source = """
        from flowstone import asset as define

        import cv_helpers


        @define
        def upstream():
            return cv_helpers.clean_row(" a ")


        def asset():
            return upstream() * 2
    """
    helpers = edit(HELPERS, "return scale(row.strip())", "return scale(row.lower())")
    assert project.version(cv_assets=source) != project.version(
        cv_assets=source, cv_helpers=helpers
    )


def test_the_assets_own_decorator_is_not_part_of_its_version(
    project: Project, registry: Registry
) -> None:
    source = """
        from flowstone import asset as define


        @define(group="a")
        def asset():
            return 1
    """
    regrouped = edit(source, 'group="a"', 'group="b", tags={"team": "x"}')
    assert project.version(cv_assets=source) == project.version(cv_assets=regrouped)


def test_closures_are_part_of_the_version(project: Project) -> None:
    source = """
        def make(factor):
            def asset(rows):
                return [row * factor for row in rows]

            return asset
    """
    make = project.load(cv_assets=source)["cv_assets"].make
    assert compute_code_version(make(2)) == compute_code_version(make(2))
    assert compute_code_version(make(2)) != compute_code_version(make(3))


def test_a_function_from_exec_warns_once_and_still_gets_a_version() -> None:
    namespace: dict[str, Any] = {"__name__": "pipeline"}
    exec(compile("def total(rows):\n    return sum(rows)\n", "<pipeline>", "exec"), namespace)
    with pytest.warns(FlowstoneWarning, match=r"'pipeline\.total' \(<pipeline>:1\).*code_version="):
        version = compute_code_version(namespace["total"])
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    assert compute_code_version(namespace["total"]) == version
    exec(compile("def total(rows):\n    return max(rows)\n", "<pipeline>", "exec"), namespace)
    with pytest.warns(FlowstoneWarning):
        assert compute_code_version(namespace["total"]) != version


def test_a_namedtuple_is_versioned_by_its_fields_without_a_warning(project: Project) -> None:
    source = """
        from collections import namedtuple

        Row = namedtuple("Row", "city amount")


        def asset():
            return Row("x", 1)
    """
    renamed = edit(source, '"city amount"', '"town amount"')
    assert project.version(cv_assets=source) != project.version(cv_assets=renamed)


def test_the_same_source_gives_the_same_version_in_another_process(project: Project) -> None:
    """Set order follows PYTHONHASHSEED and folders move: neither may change a version."""
    here = project.version("tagged")
    assert project.version("tagged") == here  # a second copy, in another folder
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import cv_assets; "
        "from flowstone.versioning.code_version import compute_code_version; "
        "print(compute_code_version(cv_assets.tagged))"
    )
    folder = next(project.root.iterdir())
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == here


@pytest.mark.parametrize(
    ("left", "right"),
    [({3, 1, 2}, {1, 2, 3}), ({"b": 1, "a": 2}, {"a": 2, "b": 1}), ((1, "a"), (1, "a"))],
)
def test_equal_constants_have_one_canonical_form(left: object, right: object) -> None:
    assert canonical_constant(left) == canonical_constant(right) is not None


def test_constants_of_different_types_differ_and_objects_have_no_form() -> None:
    forms = [canonical_constant(value) for value in (1, 1.0, True, "1", b"1", (1,), [1])]
    assert len({json.dumps(form) for form in forms}) == len(forms)
    looping: list[object] = []
    looping.append(looping)
    for value in (object(), [1, object()], {"a": {1: sys}}, looping):
        assert canonical_constant(value) is None


def test_canonical_constants_ignore_hash_order() -> None:
    words: Mapping[str, int] = {word: len(word) for word in ("pear", "fig", "apple")}
    shuffled = dict(sorted(words.items(), reverse=True))
    assert canonical_constant(words) == canonical_constant(shuffled)
