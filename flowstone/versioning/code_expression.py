"""Forms of module-level constants by the source of their defining expression.

A constant such as ``re.compile(...)``, ``date(2024, 1, 10)`` or ``Config(rate=2)`` has no plain
value to hash, so its form is the normalised AST of the expression that defines it, followed
through ``from .module import NAME`` to the module that assigns it, plus the plain values of the
module-level names the expression reads (so ``re.compile(WORD)`` sees ``WORD``). An expression
that reads the environment (``os.environ``, ``os.getenv``) is versioned by its text only: a new
environment is not new code. A closure cell is followed the same way to the literal its
enclosing function assigns it. Reads source files; executes nothing.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from types import FunctionType, ModuleType
from typing import Final, NamedTuple

from flowstone.versioning.code_constant import Canonical, canonical_constant
from flowstone.versioning.code_source import find_binding, find_cell_binding, is_changed_in_place

_ENVIRONMENT_NAMES: Final = frozenset({"environ", "environb", "getenv", "getenvb"})
_MAX_IMPORTS: Final = 16
"""``from ... import`` hops followed before a constant counts as unreadable."""


class Expression(NamedTuple):
    """The form of one constant's defining expression, and whether it reads the environment.

    ``literal`` is the canonical form of the value the source spells out when the expression
    is a plain literal (``["a", "b"]``, ``{"x": 1}``): what the module sets the name to, however
    the value has been changed since.
    """

    form: str
    reads_environment: bool
    literal: Canonical | None = None
    changed_in_place: bool = False


def constant_expression(module: ModuleType, name: str) -> Expression | None:
    """The defining expression of ``module.name``, or None when no source binds it plainly."""
    for _ in range(_MAX_IMPORTS):
        binding = find_binding(module, name)
        if not isinstance(binding, ast.ImportFrom):
            if binding is None:
                return None
            if is_changed_in_place(module, name):  # not the value the module ends with
                return _expression(module, binding)._replace(literal=None, changed_in_place=True)
            return _expression(module, binding)
        source = _imported_module(module, binding)
        if source is None:
            return None
        alias = next(item for item in binding.names if (item.asname or item.name) == name)
        module, name = source, alias.name
    return None


def cell_literal(fn: FunctionType, name: str) -> Canonical | None:
    """The plain literal that the function enclosing ``fn`` assigns its closure cell ``name``
    (``calls = []``), whatever the cell holds now; None when no one literal does."""
    binding = find_cell_binding(fn, name)
    return None if binding is None else _literal(binding)


def _imported_module(module: ModuleType, binding: ast.ImportFrom) -> ModuleType | None:
    relative = "." * binding.level + (binding.module or "")
    try:
        resolved = importlib.util.resolve_name(relative, module.__package__)
    except (ImportError, ValueError):
        return None
    return sys.modules.get(resolved)


def _expression(module: ModuleType, node: ast.expr) -> Expression:
    nodes = list(ast.walk(node))
    reads_environment = any(_is_environment(item) for item in nodes)
    names = sorted({item.id for item in nodes if isinstance(item, ast.Name)})
    members = vars(module)
    values: list[str] = []
    if not reads_environment:
        for name in names:
            canonical = _read_value(module, members, name)
            if canonical is not None:
                values.append(f"{name}={canonical!r}")
    return Expression(repr([ast.dump(node), values]), reads_environment, _literal(node))


def _read_value(module: ModuleType, members: dict[str, object], name: str) -> Canonical | None:
    """A name an expression reads: its value when immutable, else the literal the module
    assigns it when nothing changes it in place (a list the asset appends to has changed since),
    else what it holds now; None when it holds no plain value."""
    if name not in members:
        return None
    canonical = canonical_constant(members[name], immutable=True)
    if canonical is not None:
        return canonical
    binding = find_binding(module, name)
    if isinstance(binding, ast.expr) and not is_changed_in_place(module, name):
        literal = _literal(binding)
        if literal is not None:
            return literal
    return canonical_constant(members[name])


def _literal(node: ast.expr) -> Canonical | None:
    """The canonical form of a plain literal's value; evaluates nothing but literals."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return canonical_constant(value)


def _is_environment(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in _ENVIRONMENT_NAMES
    return isinstance(node, ast.Name) and node.id in _ENVIRONMENT_NAMES
