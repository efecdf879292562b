"""How a staleness verdict is shown, so ``status --why`` and ``materialize --dry-run`` give an item
the same words and the same JSON.

Only display: the verdicts come from ``flowstone.execution``; nothing here judges.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowstone.versioning import Cause, CauseKind, Freshness, Verdict

FRESHNESS_ORDER = (
    Freshness.FRESH,
    Freshness.STALE,
    Freshness.UPSTREAM_STALE,
    Freshness.MISSING,
    Freshness.FAILED,
    Freshness.BLOCKED,
)
"""The order statuses are counted in, from current to hopeless."""

FRESHNESS_STYLE = {
    Freshness.FRESH: "green",
    Freshness.STALE: "yellow",
    Freshness.UPSTREAM_STALE: "khaki3",
    Freshness.MISSING: "cyan",
    Freshness.FAILED: "red",
    Freshness.BLOCKED: "dark_orange",
}


def freshness_title(status: Freshness) -> str:
    """``upstream stale``: a status in words, as a column title."""
    return status.value.replace("_", " ")


def why_line(label: str, verdict: Verdict) -> str:
    """``daily_revenue[2024-03-02]: stale — upstream clean_orders[2024-03-02] changed (...)``."""
    return f"{label}: {verdict.explain()}"


def causes_as_dicts(causes: Iterable[Cause]) -> list[dict[str, object]]:
    """Each cause with its kind, message, the upstream item involved and its versions; a code
    change also lists what changed (``changes``: name, kind and changed/added/removed)."""
    return [_cause_as_dict(cause) for cause in causes]


def _cause_as_dict(cause: Cause) -> dict[str, object]:
    shown: dict[str, object] = {
        "kind": cause.kind.value,
        "message": cause.message,
        "upstream": (
            None
            if cause.upstream is None
            else {"asset": cause.upstream[0], "partition": cause.upstream[1]}
        ),
        "before": cause.before,
        "after": cause.after,
    }
    if cause.kind is CauseKind.CODE:
        shown["changes"] = [
            {"name": c.name, "kind": c.kind, "change": c.change} for c in cause.changes
        ]
    return shown
