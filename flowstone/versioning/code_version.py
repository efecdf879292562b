"""Code versions of asset functions: the given ``code_version=`` or a hash of the normalised AST.

The AST is taken without docstrings, decorators or comments, so reformatting and documenting a
function does not make its asset stale. Pure apart from reading the function's source file.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import weakref
from collections.abc import Callable
from types import CodeType
from typing import Any

from flowstone.versioning.hashing import hash_struct

_DOCSTRING_OWNERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


_VERSIONS: weakref.WeakKeyDictionary[CodeType, str] = weakref.WeakKeyDictionary()
"""Versions already computed, by code object: many assets (and every run) share one source."""


def compute_code_version(fn: Callable[..., Any], given: str | None = None) -> str:
    """The code version of ``fn``: ``given`` when set, else a hash of its normalised source.

    Example:
        >>> compute_code_version(lambda: 1, given="2")
        '2'
    """
    if given is not None:
        return given
    code = getattr(fn, "__code__", None)
    if code is not None and (known := _VERSIONS.get(code)) is not None:
        return known
    version = _hash_source(fn, code)
    if code is not None:
        _VERSIONS[code] = version
    return version


def _hash_source(fn: Callable[..., Any], code: CodeType | None) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        body = code.co_code.hex() if code is not None else repr(fn)
        return hash_struct(["CodeVersion", "bytecode", body])[:16]
    return hash_struct(["CodeVersion", "ast", _normalised_ast(source)])[:16]


def _normalised_ast(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = []
        if isinstance(node, _DOCSTRING_OWNERS) and _has_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=True, include_attributes=False)


def _has_docstring(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module,
) -> bool:
    first = node.body[0] if node.body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
