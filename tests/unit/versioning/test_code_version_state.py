"""A code version follows the code, never state that changes while the program runs.

An asset defined inside a function often closes over a list it appends to or a counter it bumps;
a module may keep a list of what ran. Runs in two threads of one process call the asset while the
other computes its version, so such state must not reach the version.
"""

from __future__ import annotations

import ast
import gc
import importlib
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from flowstone.versioning.code_constant import canonical_constant
from flowstone.versioning.code_version import code_version_and_breakdown, compute_code_version

ROOT = Path(__file__).parents[3]
THREADS = 8

MODULE = '''
import re
from dataclasses import dataclass

RATE = 3
COLUMNS = ["city", "amount"]
TAGS = {"north", "south", "east", "west"}
SEEN = []
PATTERN = re.compile(r"\\d+")
WORDS = ["north", "south"]
MATCHER = re.compile("|".join(WORDS))
TOTAL = 0


@dataclass(frozen=True)
class Row:
    city: str
    amount: int


def make(factor):
    calls = []
    by_city = {}
    count = 0

    def scale(value):
        return value * factor * RATE

    def asset(rows):
        """Scaled rows; remembers what it saw."""
        nonlocal count
        global TOTAL
        count += 1
        TOTAL += 1
        calls.append(len(rows))
        by_city.update({row: len(calls) for row in rows})
        SEEN.append(rows)
        WORDS.append("up")
        clean = lambda text: text.strip()
        kept = [Row(clean(row), scale(len(row))) for row in rows if row in TAGS]
        return kept, COLUMNS, PATTERN, MATCHER

    return asset
'''


class Module:
    """Writes ``MODULE`` (edited) into a fresh folder per call and imports it as ``cvs_assets``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, source: str = MODULE) -> ModuleType:
        folder = self.root / f"copy{len(list(self.root.iterdir()))}"
        folder.mkdir()
        (folder / "cvs_assets.py").write_text(textwrap.dedent(source))
        sys.modules.pop("cvs_assets", None)
        importlib.invalidate_caches()
        sys.path.insert(0, str(folder))
        try:
            return importlib.import_module("cvs_assets")
        finally:
            sys.path.remove(str(folder))


@pytest.fixture
def module(tmp_path: Path) -> Iterator[Module]:
    yield Module(tmp_path)
    sys.modules.pop("cvs_assets", None)


def test_an_asset_changing_what_it_closes_over_keeps_its_version() -> None:
    calls: list[int] = []
    seen: dict[str, int] = {}
    count = 0

    def counted(rows: list[str]) -> int:
        nonlocal count
        count += 1
        calls.append(len(rows))
        seen.update(dict.fromkeys(rows, count))
        return len(calls)

    before = code_version_and_breakdown(counted)
    counted(["a", "b"])
    counted(["c"])
    assert code_version_and_breakdown(counted) == before


def test_state_the_asset_changes_in_its_module_keeps_its_version(module: Module) -> None:
    asset = module.load().make(2)
    before = code_version_and_breakdown(asset)
    asset(["north", "up"])
    assert code_version_and_breakdown(asset) == before
    # a fresh import of the same source, as in another process: the same version again
    assert compute_code_version(module.load().make(2)) == before[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('COLUMNS = ["city", "amount"]', 'COLUMNS = ["town", "amount"]'),
        ('TAGS = {"north", "south", "east", "west"}', 'TAGS = {"north", "south"}'),
        ("SEEN = []", "SEEN = [1]"),
        ("TOTAL = 0", "TOTAL = 10"),
        ("RATE = 3", "RATE = 4"),
        ('WORDS = ["north", "south"]', 'WORDS = ["north"]'),
        ("    calls = []", "    calls = [0]"),
        ("    by_city = {}", '    by_city = {"north": 0}'),
        ("    count = 0", "    count = 1"),
    ],
)
def test_editing_a_changeable_constant_still_changes_the_version(
    module: Module, old: str, new: str
) -> None:
    assert MODULE.count(old) == 1
    before = compute_code_version(module.load().make(2))
    assert compute_code_version(module.load(MODULE.replace(old, new)).make(2)) != before


def test_a_set_literal_in_another_order_and_an_immutable_closure_value(module: Module) -> None:
    before = compute_code_version(module.load().make(2))
    tags = '{"north", "south", "east", "west"}'
    reordered = MODULE.replace(tags, '{"west", "east", "south", "north"}')
    assert compute_code_version(module.load(reordered).make(2)) == before
    assert compute_code_version(module.load().make(3)) != before


def _at_once(work: Callable[[int], Any]) -> list[Any]:
    """``work(index)`` in ``THREADS`` threads released together; results in index order."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # reported as a result, so the assertion shows it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_threads_running_the_asset_while_others_version_it_agree(module: Module) -> None:
    """Fresh code objects and a fresh file each round, so no cache is warm when threads meet."""
    expected = compute_code_version(module.load().make(2))
    for _ in range(10):
        asset = module.load().make(2)

        def version_or_run(index: int, asset: Callable[..., Any] = asset) -> str:
            if index % 2:
                asset(["north", f"row{index}"])  # changes its cells, SEEN, WORDS and TOTAL
            return compute_code_version(asset)

        assert _at_once(version_or_run) == [expected] * THREADS


def _deep(depth: int, work: Callable[[], object]) -> object:
    """``work()`` called ``depth`` frames down: a parse there starts from another depth."""
    return work() if depth == 0 else _deep(depth - 1, work)


@pytest.mark.parametrize("other", ["another code version", "a parse outside flowstone"])
def test_a_parse_in_another_thread_midway_through_ours_changes_nothing(
    module: Module, other: str
) -> None:
    """Forces the interleaving: a collection that starts while the versioning thread builds a
    tree pauses it there until another thread has parsed (or, for flowstone's own parses, has
    had the time to), which used to fail the first with a spurious SystemError."""
    expected = compute_code_version(module.load().make(2))
    later = module.load().make(3)
    asset = module.load().make(2)  # loaded last: nothing of this copy is parsed yet
    work: Callable[[], object] = (
        (lambda: compute_code_version(later))
        if other == "another code version"
        else (lambda: ast.parse("rows = [1, 2, 3]\n" * 5))
    )
    started, parsed = threading.Event(), threading.Event()
    armed = [True]

    def pause_once(phase: str, info: dict[str, int]) -> None:
        if phase != "start" or not armed[0] or threading.current_thread().name != "versioning":
            return
        if sys._getframe(1).f_code is ast.parse.__code__:  # inside a parse, building the tree
            armed[0] = False
            started.set()
            parsed.wait(0.5)  # flowstone's own parse waits for ours to end: this stops waiting

    def parse_in_between() -> None:
        started.wait()
        _deep(40, work)
        parsed.set()

    results: list[object] = []
    threshold = gc.get_threshold()
    gc.callbacks.append(pause_once)
    gc.set_threshold(1)
    try:
        between = threading.Thread(target=parse_in_between)
        between.start()
        versioning = threading.Thread(
            target=lambda: results.append(_outcome(lambda: compute_code_version(asset))),
            name="versioning",
        )
        versioning.start()
        versioning.join()
        started.set()
        between.join()
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(pause_once)
    assert not armed[0] and results == [expected]


def _outcome(work: Callable[[], str]) -> str | Exception:
    try:
        return work()
    except Exception as exc:  # shown by the assertion
        return exc


def test_the_same_source_gives_the_same_version_under_other_hash_seeds(module: Module) -> None:
    """Sets of names, closures and classes are ordered by text, never by hash."""
    here = compute_code_version(module.load().make(2))
    folder = next(module.root.iterdir())
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import cvs_assets; "
        "from flowstone.versioning.code_version import compute_code_version; "
        "asset = cvs_assets.make(2); asset(['north']); print(compute_code_version(asset))"
    )
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", script, str(folder)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == here


def test_immutable_constants_keep_a_form_and_changeable_ones_do_not() -> None:
    assert canonical_constant((1, frozenset({"a"})), immutable=True) is not None
    for value in ([1], {"a": 1}, {1}, (1, [2])):
        assert canonical_constant(value) is not None
        assert canonical_constant(value, immutable=True) is None


def test_a_factory_argument_with_no_literal_in_the_source_is_versioned_by_its_value() -> None:
    """A list passed to a factory has no value in the source to follow: what it holds counts,
    so assets made from other arguments never share a version (that would be a wrong skip)."""

    def make(columns: list[str]) -> Callable[[], int]:
        def asset() -> int:
            return len(columns)

        return asset

    assert compute_code_version(make(["a"])) == compute_code_version(make(["a"]))
    assert compute_code_version(make(["a"])) != compute_code_version(make(["b", "c"]))


FILLED = """
    OPTIONS = {}
    OPTIONS["threshold"] = 5
    WORDS = ["a"]
    WORDS += ["b"]
    NAMES = []
    NAMES.extend(["x", "y"])
    LISTED = []
    list.extend(LISTED, ["p"])


    def make(n):
        opts = {}
        opts["n"] = n

        def asset():
            return (OPTIONS["threshold"], WORDS, NAMES, LISTED, opts["n"])

        return asset


    def make_counter(start):
        count = start

        def asset():
            nonlocal count
            count += 1
            return count

        return asset
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('OPTIONS["threshold"] = 5', 'OPTIONS["threshold"] = 6'),
        ('WORDS += ["b"]', 'WORDS += ["c"]'),
        ('NAMES.extend(["x", "y"])', 'NAMES.extend(["x", "z"])'),
        ('list.extend(LISTED, ["p"])', 'list.extend(LISTED, ["q"])'),
    ],
)
def test_a_module_value_filled_after_its_literal_is_versioned_by_what_it_holds(
    module: Module, old: str, new: str
) -> None:
    """``OPTIONS = {}`` then ``OPTIONS["threshold"] = 5``: the literal is not the value, so an
    edit to the later statement must change the version (else a wrong skip)."""
    assert FILLED.count(old) == 1
    before = compute_code_version(module.load(FILLED).make(1))
    assert compute_code_version(module.load(FILLED).make(1)) == before
    assert compute_code_version(module.load(FILLED.replace(old, new)).make(1)) != before


def test_a_cell_filled_in_place_or_rebound_without_a_literal_follows_its_factory(
    module: Module,
) -> None:
    loaded = module.load(FILLED)
    assert compute_code_version(loaded.make(1)) == compute_code_version(loaded.make(1))
    assert compute_code_version(loaded.make(1)) != compute_code_version(loaded.make(2))
    counter = compute_code_version(loaded.make_counter(0))
    assert compute_code_version(loaded.make_counter(10)) != counter
