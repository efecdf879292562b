"""What changed between two code versions of an asset, named as a user knows it.

Pure: two breakdowns (from ``code_version_and_breakdown``: qualified name, kind, digest) come in;
the parts that changed, appeared or went away come out, and one phrase names them, e.g.
``helper normalise() in etl.py, constant STOPWORDS in hn.py``. Files are named by the module's
own file name (``pkg.etl`` is ``etl.py``), never by a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

Breakdown = Sequence[tuple[str, str, str]]
"""(qualified name, kind, digest) of each part of a code version."""

SHOWN: Final = 3
"""Changes named in a message; the rest are counted (``and 2 more``)."""


@dataclass(frozen=True, slots=True)
class CodeChange:
    """One part of an asset's code that differs: its qualified name, kind, and how it changed
    (``changed``, ``added`` or ``removed``)."""

    name: str
    kind: str
    change: str


def diff_breakdowns(before: Breakdown, after: Breakdown) -> tuple[CodeChange, ...]:
    """The parts of ``after`` that changed or are new, then those of ``before`` that are gone.

    Example:
        >>> diff_breakdowns([("m:f", "function", "1")], [("m:f", "function", "2")])
        (CodeChange(name='m:f', kind='function', change='changed'),)
    """
    old = {name: (kind, digest) for name, kind, digest in before}
    new = {name: (kind, digest) for name, kind, digest in after}
    changes = [
        CodeChange(name, kind, "added" if name not in old else "changed")
        for name, kind, digest in after
        if old.get(name) != (kind, digest)
    ]
    changes += [CodeChange(name, kind, "removed") for name, kind, _ in before if name not in new]
    return tuple(changes)


def describe_code_changes(
    changes: Sequence[CodeChange], before: str | None, after: str | None
) -> str:
    """``code changed: helper normalise() in etl.py``, or plain ``code changed`` with none.

    ``before`` and ``after`` are the code versions, shown when a given ``code_version=`` changed.
    """
    if not changes:
        return "code changed"
    named = [_describe(change, before, after) for change in changes[:SHOWN]]
    more = f" and {len(changes) - SHOWN} more" if len(changes) > SHOWN else ""
    return f"code changed: {', '.join(named)}{more}"


def _describe(change: CodeChange, before: str | None, after: str | None) -> str:
    if change.kind == "given" and change.change == "changed":
        return f"code_version {before!r} -> {after!r}"
    text = _part(change)
    return text if change.change == "changed" else f"{text} ({change.change})"


def _part(change: CodeChange) -> str:
    if change.kind == "given":
        return "code_version="
    module, _, rest = change.name.partition(":")
    if change.kind == "body":
        return f"the body of {rest}"
    where = f"{module.rpartition('.')[2]}.py"
    if change.kind == "function":
        return f"helper {rest}() in {where}"
    if change.kind == "class":
        return f"class {rest} in {where}"
    owner, _, name = rest.rpartition(":")
    if "<default>" in owner:
        return f"default {name} of {owner.partition(':')[0]}() in {where}"
    return f"constant {name or rest} in {where}"
