"""Where a definition's source is: the AST node of one function or class, read from its file.

A function is cut out of its file by the lines its bytecode spans, which needs no tokenizing; the
few shapes that misses (a lambda, a body of only a docstring) go through ``inspect``. A class is
found by qualified name in its file's parsed tree, which is kept while ``linecache`` holds the
same lines. Reads source files through ``linecache`` (re-checked, so an edited and reloaded module
is read afresh); never executes anything. Parses one at a time, so threads can version at once.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import sys
import threading
from collections.abc import Iterator
from types import CodeType, FunctionType, ModuleType
from typing import Any, Final, TypeAlias

DefinitionNode: TypeAlias = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda

_SCOPES: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BLOCK_PARTS: Final = (ast.stmt, ast.excepthandler, ast.match_case)

_PARSING: Final = threading.Lock()
"""Held while parsing: see ``_parse``."""

_TREES: dict[str, tuple[list[str], ast.Module]] = {}
"""Parsed files by name, with the ``linecache`` lines they came from (a new list means an edit)."""


def find_function_node(fn: FunctionType) -> DefinitionNode | None:
    """The ``def`` or ``lambda`` node of ``fn``, or None when its source cannot be read."""
    code = fn.__code__
    if code.co_name != "<lambda>":
        lines = _source_lines(code.co_filename, fn.__globals__)
        body = _parse_block(lines[code.co_firstlineno - 1 : _last_line(code)])
        first = body[0] if body else None
        if (
            isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef))
            and first.name == code.co_name
        ):
            return first
    return _node_from_inspect(fn, code.co_name)


def find_class_node(cls: type) -> ast.ClassDef | None:
    """The ``class`` node of ``cls``, or None when its source cannot be read."""
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if module is None or not isinstance(filename, str):
        return None
    node = _find_by_qualified_name(_module_tree(module, filename), cls.__qualname__.split("."))
    return node if isinstance(node, ast.ClassDef) else None


def find_binding(module: ModuleType, name: str) -> ast.expr | ast.ImportFrom | None:
    """The last top-level statement of ``module`` binding ``name``: its value, or its import.

    None when the module has no readable source or no plain ``name = ...`` / ``from ... import``
    at its top level binds the name (it was set through ``globals()``, say).
    """
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return None
    found: ast.expr | ast.ImportFrom | None = None
    for statement in _module_tree(module, filename):
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in statement.targets
        ):
            found = statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            if isinstance(statement.target, ast.Name) and statement.target.id == name:
                found = statement.value
        elif isinstance(statement, ast.ImportFrom) and any(
            (alias.asname or alias.name) == name for alias in statement.names
        ):
            found = statement
    return found


def find_cell_binding(fn: FunctionType, name: str) -> ast.expr | None:
    """The value that the function enclosing ``fn`` gives its closure cell ``name``.

    None unless the innermost enclosing function binding ``name`` does so exactly once, with a
    plain ``name = ...`` (a parameter, a loop variable or a second assignment has no one value
    in the source). Nested functions rebinding the cell through ``nonlocal`` are not counted:
    that is the program running, not its code.
    """
    module = sys.modules.get(str(fn.__module__))
    filename = getattr(module, "__file__", None)
    if module is None or not isinstance(filename, str):
        return None
    statements = _module_tree(module, filename)
    parts = fn.__qualname__.split(".")
    for end in reversed([index for index, part in enumerate(parts) if part == "<locals>"]):
        scope = _find_by_qualified_name(statements, parts[:end])
        if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        stores = list(_iter_stores(scope, name))
        if stores:
            single = stores[0] if len(stores) == 1 else None
            return single.value if isinstance(single, (ast.Assign, ast.AnnAssign)) else None
    return None


def _iter_stores(scope: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> Iterator[ast.AST]:
    """What binds ``name`` in ``scope`` itself: parameters and statements, not nested scopes.

    Yields the parameter, the plain assignment statement, the bound name node for any other
    binding (``for``, ``with``, ``+=``, ``nonlocal``...), or the node that may change its value in
    place (``name[k] = v``, ``name.append(v)``); nothing when the scope never binds it.
    """
    arguments = scope.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    every += [argument for argument in (arguments.vararg, arguments.kwarg) if argument]
    yield from (argument for argument in every if argument.arg == name)
    pending: list[ast.AST] = list(scope.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (*_SCOPES, ast.Lambda)):
            if isinstance(node, _SCOPES) and node.name == name:
                yield node
            continue
        if _is_plain_assignment(node, name):
            yield node
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and node.id == name:
            yield node
        elif isinstance(node, (ast.Nonlocal, ast.Global)) and name in node.names:
            yield node
        elif _changes_in_place(node, name):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def is_changed_in_place(module: ModuleType, name: str) -> bool:
    """Whether ``module``'s own top-level code may change the value of ``name`` after binding it
    (``OPTIONS["x"] = 5``, ``WORDS.append(...)``, ``fill(WORDS)``): then the literal it was bound
    to is not the value the module ends with. Function and class bodies are not looked at: they
    run later, as the program does."""
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return False
    pending: list[ast.AST] = list(_module_tree(module, filename))
    while pending:
        node = pending.pop()
        if isinstance(node, (*_SCOPES, ast.Lambda)):
            continue
        if _changes_in_place(node, name):
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def _changes_in_place(node: ast.AST, name: str) -> bool:
    """``name[...] = ...``, ``name.x = ...``, ``del name[...]``, ``name += ...``,
    ``name.method(...)``, or ``name`` passed to a call whose result is unused (``fill(name)``):
    anything that may change the value ``name`` holds; ``"|".join(name)`` only reads it."""
    if isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(node.ctx, ast.Load):
        return _is_name(node.value, name)
    if isinstance(node, ast.AugAssign):  # WORDS += [...] extends a list in place
        return _is_name(node.target, name)
    if isinstance(node, ast.Call):
        called = node.func
        return isinstance(called, ast.Attribute) and _is_name(called.value, name)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # fill(WORDS): its
        call = node.value  # result unused, it is called for what it does to its arguments
        arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
        return any(_is_name(argument, name) for argument in arguments)
    return False


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_plain_assignment(node: ast.AST, name: str) -> bool:
    """``name = value`` or ``name: type = value``, with ``name`` its only target."""
    if isinstance(node, ast.Assign):
        targets = node.targets
        return len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == name
    return (
        isinstance(node, ast.AnnAssign)
        and node.value is not None
        and isinstance(node.target, ast.Name)
        and node.target.id == name
    )


def _module_tree(module: ModuleType, filename: str) -> list[ast.stmt]:
    """The top-level statements of ``module``'s file, parsed once per version of its lines."""
    lines = _source_lines(filename, vars(module))
    cached = _TREES.get(filename)
    if cached is None or cached[0] is not lines:
        tree = ast.Module(body=_parse_block(lines) or [], type_ignores=[])
        _TREES[filename] = cached = (lines, tree)
    return cached[1].body


def _source_lines(filename: str, module_globals: dict[str, Any]) -> list[str]:
    linecache.checkcache(filename)
    return linecache.getlines(filename, module_globals)


def _last_line(code: CodeType) -> int:
    """The last source line any instruction of ``code`` (or code nested in it) comes from."""
    last = code.co_firstlineno
    pending = [code]
    while pending:
        current = pending.pop()
        for _, end, _, _ in current.co_positions():
            if end is not None and end > last:
                last = end
        pending.extend(const for const in current.co_consts if isinstance(const, CodeType))
    return last


def _parse_block(lines: list[str]) -> list[ast.stmt] | None:
    """The statements of ``lines``; an indented block (a method, say) is parsed as a body."""
    text = "".join(lines)
    indented = text[:1] in (" ", "\t")
    try:
        # "if 1:" keeps multi-line strings intact, where dedenting would miss or change them
        tree = _parse(f"if 1:\n{text}" if indented else text)
    except (SyntaxError, ValueError):
        return None
    if indented:
        block = tree.body[0]
        return block.body if isinstance(block, ast.If) else None
    return tree.body


def _parse(text: str) -> ast.Module:
    """``ast.parse``, one thread at a time.

    Python 3.11 counts the depth of the tree it builds in one counter per interpreter, so a
    thread that parses while another is building a tree (a garbage collection can switch threads
    there) makes the other fail with a spurious ``SystemError`` ("AST constructor recursion depth
    mismatch"). A parse outside flowstone can still meet one of ours: that error says nothing
    about the source, so it is retried once.
    """
    with _PARSING:
        try:
            return ast.parse(text)
        except SystemError:
            return ast.parse(text)


def _node_from_inspect(fn: FunctionType, name: str) -> DefinitionNode | None:
    try:
        lines = inspect.getsource(fn).splitlines(keepends=True)
    except (OSError, TypeError):
        return None
    body = _parse_block(lines) or []
    if name == "<lambda>":
        # the source of a lambda is its whole line: only a line with one lambda is unambiguous
        nodes = [node for statement in body for node in ast.walk(statement)]
        lambdas = [node for node in nodes if isinstance(node, ast.Lambda)]
        return lambdas[0] if len(lambdas) == 1 else None
    first = body[0] if body else None
    if isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef)) and first.name == name:
        return first
    return None


def _find_by_qualified_name(
    statements: list[ast.stmt], parts: list[str]
) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None:
    """The first definition at ``parts`` (``["f", "<locals>", "Row"]``) under ``statements``."""
    name, rest = parts[0], parts[1:]
    for node in _iter_definitions(statements):
        if node.name != name:
            continue
        if not rest:
            return node
        is_function = not isinstance(node, ast.ClassDef)
        if (rest[0] == "<locals>") != is_function:
            continue
        found = _find_by_qualified_name(node.body, rest[1:] if is_function else rest)
        if found is not None:
            return found
    return None


def _iter_definitions(
    statements: list[ast.stmt],
) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """Definitions made in this scope, in source order, including under ``if``/``try``/``with``."""
    pending: list[ast.AST] = list(reversed(statements))
    while pending:
        node = pending.pop()
        if isinstance(node, _SCOPES):
            yield node
        else:
            children = [c for c in ast.iter_child_nodes(node) if isinstance(c, _BLOCK_PARTS)]
            pending.extend(reversed(children))
