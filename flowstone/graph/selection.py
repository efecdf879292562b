"""The asset selection syntax: parsing terms such as ``+name*`` and evaluating them on a graph.

This module owns the grammar (``name``, ``+name``, ``name+``, ``*name``, ``name*``,
``group:NAME``, ``tag:KEY[=VALUE]`` and their combinations) and its meaning over an
``AssetGraph``. It is pure: it must not read the command line, print, or touch storage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from flowstone.definitions import AssetDef
from flowstone.errors import SelectionError
from flowstone.graph.asset_graph import AssetGraph, did_you_mean
from flowstone.keys import KEY_SEPARATOR, AssetKey

TermKind: TypeAlias = Literal["key", "group", "tag"]
Selection: TypeAlias = "str | Sequence[str | SelectionTerm] | None"

SYNTAX: Final = (
    "Selection syntax: name, +name (with direct upstream; ++name for two levels), name+, "
    "*name (all upstream), name*, group:NAME, tag:KEY or tag:KEY=VALUE; "
    "separate terms with spaces or commas."
)

_WORD: Final = r"[\w.\-]+"
_NAME_PATTERN: Final = re.compile(_WORD)
_KEY_PATTERN: Final = re.compile(rf"{_WORD}(?:{KEY_SEPARATOR}{_WORD})*")
_TERM_PATTERN: Final = re.compile(r"(?P<up>\*|\++)?(?P<body>[^*+]*)(?P<down>\*|\++)?")
_TERM_SEPARATOR: Final = re.compile(r"[\s,]+")
_KINDS: Final = ("key", "group", "tag")
_ALLOWED: Final = "letters, digits, '_', '.' and '-'"


@dataclass(frozen=True, slots=True)
class SelectionTerm:
    """One selection term: a base set of assets and how far to widen it.

    ``kind`` says what ``name`` is: an asset key (``"warehouse/orders"``), a group, or a tag key
    (``tag_value`` is then the value it must have, or ``None`` for any value). A depth of ``0``
    adds nothing, ``n`` adds assets up to ``n`` edges away and ``None`` adds all of them.
    ``str(term)`` gives the canonical syntax back.

    Example:
        >>> term = SelectionTerm.parse("+clean_orders*")
        >>> (term.upstream_depth, term.downstream_depth)
        (1, None)
        >>> str(term)
        '+clean_orders*'
    """

    kind: TermKind
    name: str
    tag_value: str | None = None
    upstream_depth: int | None = 0
    downstream_depth: int | None = 0

    def __post_init__(self) -> None:
        problem = _find_problem(self.kind, self.name, self.tag_value)
        problem = problem or _depth_problem(self.upstream_depth, self.downstream_depth)
        if problem:
            raise SelectionError(f"Invalid selection term {self!r}: {problem}. {SYNTAX}")

    @classmethod
    def parse(cls, text: str) -> SelectionTerm:
        """Parse one term such as ``"++orders"``, ``"group:raw*"`` or ``"tag:team=data"``.

        Example:
            >>> SelectionTerm.parse("group:raw+")
            SelectionTerm(kind='group', name='raw', tag_value=None, upstream_depth=0, ...)

        Raises:
            SelectionError: the term is malformed; the message shows the syntax.
        """
        match = _TERM_PATTERN.fullmatch(text)
        if match is None:
            raise _malformed(text, "'+' and '*' go only at the start or the end of a term")
        kind, name, tag_value = _split_body(text, match["body"])
        problem = _find_problem(kind, name, tag_value)
        if problem:
            raise _malformed(text, problem)
        return cls(
            kind,
            name,
            tag_value,
            upstream_depth=_depth_of(match["up"]),
            downstream_depth=_depth_of(match["down"]),
        )

    def __str__(self) -> str:
        if self.kind == "key":
            body = self.name
        elif self.kind == "group":
            body = f"group:{self.name}"
        else:
            value = "" if self.tag_value is None else f"={self.tag_value}"
            body = f"tag:{self.name}{value}"
        return f"{_marks(self.upstream_depth)}{body}{_marks(self.downstream_depth)}"


def parse_selection(selection: Selection = None) -> tuple[SelectionTerm, ...]:
    """Parse a selection into terms; an empty selection (``None``, ``""``, ``[]``) has none.

    Each string may hold several terms separated by whitespace or commas. Terms already parsed
    are passed through.

    Example:
        >>> [str(term) for term in parse_selection("+orders, group:raw")]
        ['+orders', 'group:raw']

    Raises:
        SelectionError: a term is malformed; the message shows the syntax.
    """
    if selection is None:
        return ()
    items = [selection] if isinstance(selection, str) else list(selection)
    terms: list[SelectionTerm] = []
    for item in items:
        if isinstance(item, SelectionTerm):
            terms.append(item)
            continue
        terms.extend(SelectionTerm.parse(text) for text in _TERM_SEPARATOR.split(item) if text)
    return tuple(terms)


def select(graph: AssetGraph, selection: Selection = None) -> list[AssetKey]:
    """The keys a selection names: the union of its terms, in topological order.

    An empty selection (``None``, ``""``, ``[]``) selects every asset.

    Example:
        >>> [str(key) for key in select(graph, "*daily_revenue")]
        ['raw_orders', 'clean_orders', 'daily_revenue']

    Raises:
        SelectionError: a term is malformed or names no asset, group or tag.
    """
    terms = parse_selection(selection)
    if not terms:
        return graph.keys()
    chosen: set[AssetKey] = set()
    for term in terms:
        chosen.update(
            graph.expand(
                _resolve_base(graph, term),
                upstream_depth=term.upstream_depth,
                downstream_depth=term.downstream_depth,
            )
        )
    return graph.topological_order(chosen)


def _split_body(text: str, body: str) -> tuple[TermKind, str, str | None]:
    """``(kind, name, tag_value)`` of a term body with the ``+``/``*`` marks removed."""
    prefix, colon, rest = body.partition(":")
    if not colon:
        return "key", body, None
    if prefix == "group":
        return "group", rest, None
    if prefix == "tag":
        tag_key, equals, tag_value = rest.partition("=")
        return "tag", tag_key, tag_value if equals else None
    raise _malformed(text, f"{prefix + colon!r} is not a selector; use group:NAME or tag:KEY")


def _find_problem(kind: str, name: str, tag_value: str | None) -> str | None:
    """Why these parts make no valid term, or ``None`` when they do."""
    if kind not in _KINDS:
        return f"kind must be one of {', '.join(map(repr, _KINDS))}, not {kind!r}"
    if not name:
        examples = {"key": "it names no asset", "group": "group: needs a name, e.g. group:raw"}
        return examples.get(kind, "tag: needs a key, e.g. tag:team or tag:team=data")
    pattern = _KEY_PATTERN if kind == "key" else _NAME_PATTERN
    if not pattern.fullmatch(name):
        separator = f" (and {KEY_SEPARATOR!r} between key segments)" if kind == "key" else ""
        return f"{name!r} may hold only {_ALLOWED}{separator}"
    if tag_value is not None and kind != "tag":
        return "only tag terms have a value"
    if tag_value is not None and not _NAME_PATTERN.fullmatch(tag_value):
        return f"the tag value {tag_value!r} must be non-empty and hold only {_ALLOWED}"
    return None


def _depth_problem(*depths: int | None) -> str | None:
    for depth in depths:
        if depth is not None and (isinstance(depth, bool) or depth < 0):
            return f"depths are None (all) or an int of 0 or more, not {depth!r}"
    return None


def _depth_of(marks: str | None) -> int | None:
    if marks is None:
        return 0
    return None if marks == "*" else len(marks)


def _marks(depth: int | None) -> str:
    return "*" if depth is None else "+" * depth


def _malformed(text: str, reason: str) -> SelectionError:
    return SelectionError(f"Cannot parse selection term {text!r}: {reason}. {SYNTAX}")


def _resolve_base(graph: AssetGraph, term: SelectionTerm) -> list[AssetKey]:
    """The assets a term names before widening; ``SelectionError`` if there are none."""
    if term.kind == "key":
        return [_resolve_key(graph, term)]
    definitions = graph.definitions()
    found = [d.key for d in definitions if _matches(term, d)]
    if found:
        return found
    if term.kind == "group":
        known = ", ".join(repr(group) for group in sorted({d.group for d in definitions}))
        raise SelectionError(
            f"Selection term {str(term)!r}: no asset is in group {term.name!r}. "
            f"Known groups: {known or 'none'}. Fix the group name, or set group= on an asset."
        )
    tags = sorted({f"{key}={value}" for d in definitions for key, value in d.tags.items()})
    wanted = term.name if term.tag_value is None else f"{term.name}={term.tag_value}"
    raise SelectionError(
        f"Selection term {str(term)!r}: no asset has the tag {wanted!r}."
        f"{did_you_mean(wanted, tags)} Known tags: {', '.join(map(repr, tags)) or 'none'}. "
        f"Fix the tag, or set tags= on an asset."
    )


def _matches(term: SelectionTerm, definition: AssetDef[Any, Any]) -> bool:
    if term.kind == "group":
        return definition.group == term.name
    if term.name not in definition.tags:
        return False
    return term.tag_value is None or definition.tags[term.name] == term.tag_value


def _resolve_key(graph: AssetGraph, term: SelectionTerm) -> AssetKey:
    """The key a name term means: the exact key, or the only asset whose last segment it is."""
    key = AssetKey.parse(term.name)
    if key in graph:
        return key
    by_name = [known for known in graph.keys() if known.name == term.name]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        options = ", ".join(repr(str(known)) for known in by_name)
        raise SelectionError(
            f"Selection term {str(term)!r} is ambiguous: it is the name of {options}. "
            f"Use the full key of the one you mean."
        )
    candidates = [str(known) for known in graph.keys()]
    raise SelectionError(
        f"Selection term {str(term)!r} names no asset.{did_you_mean(term.name, candidates)} "
        f"Check the name against the defined assets. {SYNTAX}"
    )
