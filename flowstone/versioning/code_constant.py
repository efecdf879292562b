"""Canonical forms of the module-level constants an asset reads, for its code version.

Only plain values count: numbers, strings, bytes, booleans, ``None`` and tuples, lists, sets,
frozensets and dicts of them. Sets are sorted and dicts ordered by key, so neither insertion order
nor ``PYTHONHASHSEED`` changes a form. Anything else (instances, modules, subclasses of the plain
types such as enums) has no form here; ``code_expression`` versions those by their source. A code
version asks for immutable values only (``immutable=True``): a list, set or dict can be changed
while the program runs, by the asset itself or another thread, so its current value is state, not
code. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

Canonical: TypeAlias = "list[str | Canonical]"
"""A tagged, JSON-ready form: ``[type name, text]`` for a scalar, ``[type name, *items]`` else."""

_MAX_DEPTH: Final = 64
"""Containers nested deeper than this are not treated as constants."""

_SCALARS: Final[dict[type, Callable[[Any], str]]] = {
    type(None): lambda value: "",
    bool: str,
    int: hex,  # hex has no digit limit, unlike str() of a huge int
    float: repr,
    complex: repr,
    str: str,
    bytes: bytes.hex,
}

_SEQUENCES: Final = (tuple, list)
_SETS: Final = (set, frozenset)
_CONTAINERS: Final = (*_SEQUENCES, *_SETS, dict)
_FROZEN: Final = (tuple, frozenset)


def canonical_constant(value: object, *, immutable: bool = False) -> Canonical | None:
    """The canonical form of ``value``, or None when it is not a plain constant.

    With ``immutable``, a value that holds a list, set or dict anywhere has no form either.

    Example:
        >>> canonical_constant((1, "a"))
        ['tuple', ['int', '0x1'], ['str', 'a']]
        >>> canonical_constant(object()) is None
        True
        >>> canonical_constant((1, []), immutable=True) is None
        True
    """
    return _canonical(value, _Walk(_FROZEN if immutable else _CONTAINERS), 0)


@dataclass(slots=True)
class _Walk:
    """What one canonical form may contain, and the containers being walked (by id)."""

    containers: tuple[type, ...]
    active: set[int] = field(default_factory=set)


def _canonical(value: object, walk: _Walk, depth: int) -> Canonical | None:
    kind = type(value)
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return [kind.__name__, scalar(value)]
    if depth >= _MAX_DEPTH or id(value) in walk.active or kind not in walk.containers:
        return None
    # ids only guard against self-containing values; they are never part of a form
    walk.active.add(id(value))
    try:
        items = _canonical_items(value, walk, depth + 1)
    finally:
        walk.active.discard(id(value))
    return None if items is None else [kind.__name__, *items]


def _canonical_items(value: Any, walk: _Walk, depth: int) -> list[Canonical] | None:
    """Items in a canonical order: sequences keep theirs, sets and dicts are sorted.

    Sorted by ``repr``, which is deterministic for forms (nested lists of strings) and quick.
    """
    if isinstance(value, dict):
        pairs = _all_or_none(
            _pair(_canonical(key, walk, depth), _canonical(item, walk, depth))
            for key, item in value.items()
        )
        return None if pairs is None else sorted(pairs, key=repr)
    items = _all_or_none(_canonical(item, walk, depth) for item in value)
    if items is None or isinstance(value, _SEQUENCES):
        return items
    return sorted(items, key=repr)


def _pair(key: Canonical | None, item: Canonical | None) -> Canonical | None:
    return None if key is None or item is None else ["pair", key, item]


def _all_or_none(items: Iterable[Canonical | None]) -> list[Canonical] | None:
    collected: list[Canonical] = []
    for item in items:
        if item is None:
            return None
        collected.append(item)
    return collected
