"""What a function's or class's source says: a digest of its normalised AST and the names it reads.

The definition's own decorators, every docstring and all comments are dropped, and positions are
not part of the digest, so documenting, reformatting or moving a definition keeps it. Parsing is
the expensive part of a code version, so results are cached per code object (per class for
classes). Never resolves a name: that is ``code_reference``'s job.
"""

from __future__ import annotations

import ast
import dis
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from types import CodeType, FunctionType
from typing import Final, TypeAlias

from flowstone.errors import FlowstoneWarning
from flowstone.versioning.code_constant import Canonical, canonical_constant
from flowstone.versioning.code_source import DefinitionNode, find_class_node, find_function_node
from flowstone.versioning.hashing import hash_struct

Chain: TypeAlias = tuple[str, ...]
"""A dotted name as read in the source: ``("helpers", "clean_row")`` for ``helpers.clean_row``."""

_DOCSTRING_OWNERS: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_AUTOMATIC_MEMBERS: Final = frozenset(
    {"__dict__", "__doc__", "__firstlineno__", "__module__", "__qualname__", "__weakref__"}
)
_COLLECT: Final = object()
"""Names read from here on are collected: a function's body starts (no source value is this)."""
_STOP: Final = object()
"""Names read from here on are not collected: a function's body ended."""

_IGNORED_FIELDS: Final = frozenset({"ctx", "kind", "type_comment"})
"""Fields that say nothing the tree does not: load/store follows from a name's place, a string's
``u`` prefix means nothing, and type comments are never parsed."""
_GLOBAL_WRITES: Final = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})
_CELL_WRITES: Final = frozenset({"STORE_DEREF", "DELETE_DEREF"})
"""Instructions that rebind a global or a closure cell: what they rebind is run-time state."""
_READ_KINDS: Final = frozenset({ast.Name, ast.Attribute})
_GETTERS: dict[type[ast.AST], Callable[[ast.AST], tuple[object, ...]]] = {}
"""How to read each AST node type's fields, filled as types are met."""


@dataclass(frozen=True, slots=True)
class SourceAnalysis:
    """The digest of one definition and the dotted names its body reads.

    ``chains`` holds only names that can refer to globals or closure cells (never a local
    variable of a function), sorted. ``readable`` is False when the digest had to come from
    bytecode or member names because the source could not be read. ``written`` holds the
    globals and closure cells the code itself assigns or deletes (``global``/``nonlocal``): their
    values are run-time state, not code.
    """

    digest: str
    chains: tuple[Chain, ...]
    readable: bool = True
    written: frozenset[str] = frozenset()


_FUNCTIONS: weakref.WeakKeyDictionary[CodeType, SourceAnalysis] = weakref.WeakKeyDictionary()
_CLASSES: weakref.WeakKeyDictionary[type, SourceAnalysis] = weakref.WeakKeyDictionary()


def analyse_function(fn: FunctionType) -> SourceAnalysis:
    """The analysis of ``fn``; warns once per code object when its source cannot be read."""
    code = fn.__code__
    known = _FUNCTIONS.get(code)
    if known is None:
        node = find_function_node(fn)
        if node is None:
            _warn_unreadable(fn)
            known = _analyse_bytecode(code)
        else:
            serialised, chains = _serialise(node)
            readable = _readable_names(code)
            chains = tuple(chain for chain in chains if chain[0] in readable)
            known = SourceAnalysis(
                hash_struct(["function", serialised]), chains, written=_written_names(code)
            )
        _FUNCTIONS[code] = known
    return known


def analyse_class(cls: type) -> SourceAnalysis:
    """The analysis of ``cls``; a class without a ``class`` statement is digested from its
    member names, and the caller follows the members themselves.

    No warning: classes made by ``namedtuple``, the functional ``Enum`` API or ``type()`` have
    no ``class`` statement to read, and their members say what they are.
    """
    known = _CLASSES.get(cls)
    if known is None:
        node = find_class_node(cls)
        if node is None:
            members = [name for name, _ in own_members(cls)]
            known = SourceAnalysis(hash_struct(["class-members", members]), (), readable=False)
        else:
            serialised, chains = _serialise(node)
            known = SourceAnalysis(hash_struct(["class", serialised]), chains)
        _CLASSES[cls] = known
    return known


def own_members(cls: type) -> list[tuple[str, object]]:
    """The attributes the class body defined, by name, without the ones Python adds itself."""
    members = [(name, value) for name, value in vars(cls).items() if name not in _AUTOMATIC_MEMBERS]
    return sorted(members, key=itemgetter(0))


def _readable_names(code: CodeType) -> frozenset[str]:
    """Names the code may read from globals or its closure: never its local variables.

    Attribute names share ``co_names`` with globals, so this over-approximates; the source
    chains it filters are what narrow it down.
    """
    names = set(code.co_names) | set(code.co_freevars)
    nested = [const for const in code.co_consts if isinstance(const, CodeType)]
    while nested:
        inner = nested.pop()
        names.update(inner.co_names)
        nested.extend(const for const in inner.co_consts if isinstance(const, CodeType))
    return frozenset(names)


def _written_names(code: CodeType) -> frozenset[str]:
    """Globals and closure cells that the code, or code nested in it, assigns or deletes.

    A cell counts only when it comes from outside (a free variable of ``code``): the code's own
    locals that nested functions share are not names a code version looks up.
    """
    names: set[str] = set()
    pending = [code]
    while pending:
        current = pending.pop()
        for instruction in dis.get_instructions(current):
            name = instruction.argval
            if instruction.opname in _GLOBAL_WRITES or (
                instruction.opname in _CELL_WRITES and name in code.co_freevars
            ):
                names.add(str(name))
        pending.extend(const for const in current.co_consts if isinstance(const, CodeType))
    return frozenset(names)


def _serialise(definition: DefinitionNode) -> tuple[str, tuple[Chain, ...]]:
    """The node's fields in order, without its own decorators, docstrings or positions; and the
    dotted names read where the definition runs (a function's body, not its signature).

    Reads the tree without changing it: class trees are shared through a cache.
    """
    # prefix notation: a node's type fixes how many fields follow and a list leads with its
    # length, so no closing markers are needed to keep the form unambiguous
    parts = [type(definition).__name__]
    chains: set[Chain] = set()
    collecting = isinstance(definition, ast.ClassDef)
    pending = list(reversed(_own_fields(definition)))
    while pending:
        item = pending.pop()
        if isinstance(item, ast.AST):
            kind = type(item)
            if collecting and kind in _READ_KINDS:
                _add_chain(item, chains)
            parts.append(kind.__name__)
            pending.extend((_GETTERS.get(kind) or _add_getter(kind))(item))
        elif isinstance(item, list):
            parts.append(f"[{len(item)}")
            pending.extend(reversed(item))
        elif item is _COLLECT or item is _STOP:
            collecting = item is _COLLECT
        else:
            parts.append(repr(item))
    return ",".join(parts), _longest_chains(chains)


def _own_fields(node: DefinitionNode) -> list[object]:
    """The definition's fields, its decorators dropped and its body between collect markers."""
    values: list[object] = []
    for name in node._fields:
        if name in _IGNORED_FIELDS:
            continue
        value = getattr(node, name, None)
        if name == "decorator_list":
            value = []
        elif name == "body" and not isinstance(node, ast.ClassDef):
            body = _without_docstring(node)
            values.extend((_COLLECT, body if isinstance(body, list) else [body], _STOP))
            continue
        elif name == "body":
            value = _without_docstring(node)
        values.append(value)
    return values


def _add_getter(kind: type[ast.AST]) -> Callable[[ast.AST], tuple[object, ...]]:
    """Reads a node's fields last to first (the stack pops them in order), docstrings left out."""
    names = tuple(name for name in reversed(kind._fields) if name not in _IGNORED_FIELDS)
    getter: Callable[[ast.AST], tuple[object, ...]]
    if kind in _DOCSTRING_OWNERS:
        body_at = names.index("body")
        read = attrgetter(*names)

        def getter(node: ast.AST) -> tuple[object, ...]:
            values = read(node)
            return (*values[:body_at], _without_docstring(node), *values[body_at + 1 :])

    elif len(names) > 1:
        getter = attrgetter(*names)
    elif names:
        one = attrgetter(names[0])
        getter = lambda node: (one(node),)  # noqa: E731
    else:
        getter = lambda node: ()  # noqa: E731
    _GETTERS[kind] = getter
    return getter


def _without_docstring(node: ast.AST) -> object:
    if isinstance(node, _DOCSTRING_OWNERS) and _has_docstring(node):
        return node.body[1:] or [ast.Pass()]
    return getattr(node, "body", None)


def _add_chain(node: ast.AST, chains: set[Chain]) -> None:
    if isinstance(node, ast.Name):
        chains.add((node.id,))
    elif isinstance(node, ast.Attribute) and (chain := _attribute_chain(node)) is not None:
        chains.add(chain)


def _longest_chains(chains: set[Chain]) -> tuple[Chain, ...]:
    """Drops ``a`` and ``a.b`` when ``a.b.c`` is read too: resolving the longer one says more."""
    prefixes = {chain[:end] for chain in chains for end in range(1, len(chain))}
    return tuple(sorted(chains - prefixes))


def _attribute_chain(node: ast.Attribute) -> Chain | None:
    """``("a", "b", "c")`` for ``a.b.c``; None when the chain does not start at a plain name."""
    attributes: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attributes.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return (current.id, *reversed(attributes))


def _has_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    first = node.body[0] if node.body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _analyse_bytecode(code: CodeType) -> SourceAnalysis:
    """Bytecode, names and constants: stable for one Python version, blind to source edits."""
    chains = tuple(sorted((name,) for name in _readable_names(code)))
    digest = hash_struct(["bytecode", _code_form(code)])
    return SourceAnalysis(digest, chains, readable=False, written=_written_names(code))


def _code_form(code: CodeType) -> Canonical:
    """Bytecode with the names and constants it indexes (the indices alone say nothing)."""
    constants: list[str | Canonical] = []
    for const in code.co_consts:
        if isinstance(const, CodeType):
            constants.append(_code_form(const))
        else:
            constants.append(canonical_constant(const) or ["object", type(const).__qualname__])
    return [
        "code",
        code.co_code.hex(),
        ["names", *code.co_names],
        ["locals", *code.co_varnames],
        ["free", *code.co_freevars],
        ["constants", *constants],
    ]


def _warn_unreadable(fn: FunctionType) -> None:
    code = fn.__code__
    warnings.warn(
        f"Cannot read the source of {f'{fn.__module__}.{fn.__qualname__}'!r} "
        f"({code.co_filename}:{code.co_firstlineno}), so its code version is hashed from its "
        "bytecode, which changes with the Python version and misses some edits. "
        "Pass code_version= to @asset to version it explicitly.",
        FlowstoneWarning,
        stacklevel=2,
    )
