"""Code versions of asset functions: the given ``code_version=`` or a hash of the code they run.

The hash covers the function's normalised AST (docstrings, its decorators and comments removed)
and, transitively, the normalised source of the project-local functions and classes it refers to
plus the module-level constants it reads: immutable plain values by their canonical form,
anything else (and anything read from the environment) by the source of its defining expression.
A value that can change while the program runs (a list, set or dict, or a name the walked code
rebinds through ``global``/``nonlocal``) counts by the literal its source binds it to, so an asset
appending to a list it closes over, in one thread, does not change the version another thread
sees; when the source has no such literal, or fills the value in after it (``OPTIONS["x"] = 5``),
what the value holds counts instead: never nothing. The standard
library, installed packages and flowstone itself are left out: they change with installs, not
with edits. Everything is named by module and qualified name, never by file path, so moving the
project folder keeps every version. Parsing is cached per code object; names are resolved again
on every call, so a rebound global or a different closure is seen. Pure apart from reading
source files.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from types import FunctionType, ModuleType
from typing import Any, Final

from flowstone.errors import FlowstoneWarning
from flowstone.versioning.code_analysis import analyse_class, analyse_function
from flowstone.versioning.code_constant import Canonical, canonical_constant
from flowstone.versioning.code_expression import cell_literal, constant_expression
from flowstone.versioning.code_reference import (
    Definition,
    Reference,
    as_definition,
    is_project_definition,
    is_project_module,
    iter_references,
    qualified_name,
)
from flowstone.versioning.hashing import hash_struct

_LENGTH: Final = 16
"""Hex digits kept: 64 bits, plenty to tell the versions of one asset apart."""

_Entry = tuple[str, str, str]
"""(qualified name, kind, digest or canonical value) of one thing an asset's code depends on."""


def compute_code_version(fn: Callable[..., Any], given: str | None = None) -> str:
    """The code version of ``fn``: ``given`` when set, else a hash of the code it runs.

    Args:
        fn: the asset function (an asset definition or decorated function also works).
        given: the ``code_version=`` of the asset, which wins when set.

    Returns:
        ``given``, or 16 hex digits that are equal in every process for equal code.

    Example:
        >>> compute_code_version(lambda: 1, given="2")
        '2'
    """
    if given is not None:
        return given
    root = as_definition(fn)
    if root is None:
        return _compute_opaque_version(fn)
    return _hash(root, _collect_entries(root)[0])


def code_version_and_breakdown(
    fn: Callable[..., Any], given: str | None = None
) -> tuple[str, tuple[_Entry, ...]]:
    """The code version of ``fn`` and the parts it was made of, to tell later what changed.

    The parts are the asset's body (kind ``body``), each project function (``function``) and
    class (``class``) it reaches, and each constant it reads (``constant`` or ``expression``),
    with their digests; or only the given ``code_version=`` (kind ``given``) when set.

    Example:
        >>> code_version_and_breakdown(lambda: 1, given="2")
        ('2', (('code_version', 'given', '2'),))
    """
    if given is not None:
        return given, (("code_version", "given", given),)
    root = as_definition(fn)
    if root is None:
        return _compute_opaque_version(fn), ()
    entries, classes = _collect_entries(root)
    parts = [
        (name, ("class" if name in classes else "function") if kind == "definition" else kind, d)
        for name, kind, d in entries
    ]
    return _hash(root, entries), ((qualified_name(root), "body", _digest(root)), *parts)


def _hash(root: Definition, entries: list[_Entry]) -> str:
    return hash_struct(["CodeVersion", _digest(root), entries])[:_LENGTH]


def _collect_entries(root: Definition) -> tuple[list[_Entry], set[str]]:
    """Everything project-local that ``root`` refers to, transitively, in a canonical order, and
    the qualified names of the classes among them."""
    project = str(root.__module__).partition(".")[0]
    # ids only mark definitions already walked (so recursion ends); they are never hashed
    seen = {id(root)}
    entries: set[_Entry] = set()
    classes: set[str] = set()
    values: list[tuple[Definition, Reference]] = []
    pending = [root]
    while pending:
        reader = pending.pop()
        for reference in iter_references(reader):
            target = as_definition(reference.value)
            if target is None:
                values.append((reader, reference))
            elif id(target) not in seen and is_project_definition(target, project):
                seen.add(id(target))
                pending.append(target)
                entries.add((qualified_name(target), "definition", _digest(target)))
                if isinstance(target, type):
                    classes.add(qualified_name(target))
    # a name that any walked code rebinds is state wherever it is read
    written = {reference.label for _, reference in values if reference.written}
    for reader, reference in values:
        entry = _constant_entry(reader, reference, project, written=reference.label in written)
        if entry is not None:
            entries.add(entry)
    return sorted(entries), classes


def _constant_entry(
    reader: Definition, reference: Reference, project: str, *, written: bool
) -> _Entry | None:
    """The entry of a constant read from project code, else None.

    An immutable value that no walked code rebinds counts by its current value. A value that
    can change while the program runs (a list the asset appends to, a counter it bumps through
    ``nonlocal``) counts by the literal its source assigns; only when the source spells out no
    value (a factory's argument) does a changeable value count by what it holds now: a version
    that moves with state costs a recomputation, one blind to an edit a wrong skip.
    """
    if reference.module is not None and not is_project_module(reference.module, project):
        return None
    value = None if written else canonical_constant(reference.value, immutable=True)
    module_name, _, name = reference.label.partition(":")
    module = reference.module or sys.modules.get(module_name)
    local = module is None or not name.isidentifier()  # a closure cell, default or class member
    if local:
        entry = _local_entry(reader, reference, value)
    else:
        assert module is not None
        entry = _module_entry(reference, module, name, value)
    if entry is not None:
        return entry
    current = canonical_constant(reference.value)
    if current is not None:
        return (reference.label, "constant", repr(current))
    if not local:
        _warn_unreadable(reference.label)
    return None


def _local_entry(
    reader: Definition, reference: Reference, value: Canonical | None
) -> _Entry | None:
    """A closure cell, default or class member: its value when immutable and not rebound, else
    the literal the enclosing function assigns a cell; else None."""
    if value is not None:
        return (reference.label, "constant", repr(value))
    _, closure, name = reference.label.rpartition(":<closure>:")
    if not closure or not isinstance(reader, FunctionType):
        return None
    literal = cell_literal(reader, name)
    return None if literal is None else (reference.label, "constant", repr(literal))


def _module_entry(
    reference: Reference, module: ModuleType, name: str, value: Canonical | None
) -> _Entry | None:
    """A module constant: by its source when that reads the environment or the value may have
    changed since (the literal it spells out, else its expression), by ``value`` otherwise."""
    expression = constant_expression(module, name)
    if expression is not None and expression.reads_environment:
        return (reference.label, "expression", expression.form)
    if expression is not None and expression.changed_in_place:
        return None  # its source is not its value: what it holds counts
    if value is not None:
        return (reference.label, "constant", repr(value))
    if expression is not None and expression.literal is not None:
        return (reference.label, "constant", repr(expression.literal))
    if expression is not None:
        return (reference.label, "expression", expression.form)
    return None


def _warn_unreadable(label: str) -> None:
    warnings.warn(
        f"Cannot read how the constant {label!r} is defined, and its value is not a plain "
        "constant, so edits to it will go unnoticed. Define it with a plain assignment in the "
        "module's source, or pass code_version= to @asset to version the asset explicitly.",
        FlowstoneWarning,
        stacklevel=5,
    )


def _digest(definition: Definition) -> str:
    if isinstance(definition, type):
        return analyse_class(definition).digest
    return analyse_function(definition).digest


def _compute_opaque_version(fn: object) -> str:
    """A callable with neither source nor bytecode (a builtin, say): versioned by name only."""
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    warnings.warn(
        f"Cannot read the source of {f'{module}.{name}'!r} (not a Python function), so its "
        "code version is hashed from its name only, and edits to it will go unnoticed. "
        "Pass code_version= to @asset to version it explicitly.",
        FlowstoneWarning,
        stacklevel=3,
    )
    return hash_struct(["CodeVersion", "opaque", f"{module}:{name}"])[:_LENGTH]
