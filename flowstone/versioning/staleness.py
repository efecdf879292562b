"""Staleness judgement: is a stored (asset, partition) current, and if not, why.

Pure: the recorded versions of the item's last success, the current code version and config
hash, and what each of its inputs is now come in; a verdict with structured causes comes out.
An item is ``FRESH`` when recomputing its provenance version from the current facts gives the
recorded one. "Latest" is decided by sequence numbers in the store before this is called, never by
wall-clock time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from flowstone.keys import UNPARTITIONED, DataVersion, PartitionKey
from flowstone.versioning.code_changes import (
    Breakdown,
    CodeChange,
    describe_code_changes,
    diff_breakdowns,
)
from flowstone.versioning.provenance import compute_provenance_version

InputKey = tuple[str, PartitionKey]
"""An input item as the store records it: (asset key text, partition key)."""


class Freshness(StrEnum):
    """Where a stored (asset, partition) stands against the current code, config and inputs."""

    FRESH = "fresh"
    STALE = "stale"
    UPSTREAM_STALE = "upstream_stale"
    MISSING = "missing"
    FAILED = "failed"
    BLOCKED = "blocked"

    @property
    def needs_run(self) -> bool:
        """Whether a stale-only run must consider the item (``UPSTREAM_STALE``: conditionally)."""
        return self not in (Freshness.FRESH, Freshness.BLOCKED)


class CauseKind(StrEnum):
    """Why an item is not fresh, one kind per cause (``unhashable_value`` is a note on an item
    whose stored value could not be hashed: its dependents get no early cutoff)."""

    MISSING = "missing"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANNOT_EXIST = "inputs_cannot_exist"
    """Blocked by definition: the inputs can never exist, so the item is never work."""
    CODE = "code_changed"
    CONFIG = "config_changed"
    UPSTREAM_DATA = "upstream_data_changed"
    NEW_UPSTREAM = "new_upstream_partitions"
    REMOVED_UPSTREAM = "upstream_partitions_removed"
    UPSTREAM_STALE = "upstream_stale"
    UNHASHABLE = "unhashable_value"
    UNVERSIONED = "no_recorded_versions"
    PROVENANCE = "provenance_changed"
    LOST = "stored_value_lost"


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason, with the upstream item and the versions involved when there are any."""

    kind: CauseKind
    message: str
    upstream: InputKey | None = None
    before: str | None = None
    after: str | None = None
    changes: tuple[CodeChange, ...] = ()
    """For a code change: the functions, classes and constants that differ (empty when the
    recorded code version has no breakdown: it was made before they were kept)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The status of one item and its causes; ``provenance_version`` is the current one when all
    inputs are known (it is what a recomputation would record)."""

    status: Freshness
    causes: tuple[Cause, ...] = ()
    provenance_version: str | None = None

    @property
    def is_blocked_by_definition(self) -> bool:
        """Blocked because its inputs can never exist: nothing any run could do."""
        return self.status is Freshness.BLOCKED and any(
            cause.kind is CauseKind.CANNOT_EXIST for cause in self.causes
        )

    def explain(self) -> str:
        """The causes in one line, e.g. ``stale — code changed``."""
        if not self.causes:
            return self.status.value
        return f"{self.status.value.replace('_', ' ')} — " + "; ".join(
            c.message for c in self.causes
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the item's last success recorded (``None`` fields when it never succeeded)."""

    code_version: str | None
    provenance_version: str | None
    data_version: DataVersion | None
    inputs: Mapping[InputKey, DataVersion | None]
    latest_failed: bool = False
    lost: bool = False
    """The newest record says the last success's stored value was found missing."""
    succeeded: bool = True
    error: str | None = None
    breakdown: Breakdown | None = None
    """What the recorded code version was made of, when the store kept it."""


@dataclass(frozen=True, slots=True)
class CurrentInput:
    """An input as it is now: its current data version, and whether it is itself current."""

    key: InputKey
    data_version: DataVersion | None
    fresh: bool = True


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """Everything the judgement of one item needs, gathered by the caller."""

    asset_key: str
    partition_key: PartitionKey
    code_version: str
    config_hash: str | None
    recorded: Recorded | None
    inputs: Sequence[CurrentInput]
    blocked: str | None = None
    breakdown: Breakdown | None = None
    """What the current code version is made of, to name what changed."""
    blocked_by_definition: bool = False
    """``blocked`` says why its inputs can never exist (not that one is missing)."""


def judge(facts: ItemFacts) -> Verdict:
    """The verdict for one item.

    Example:
        >>> judge(ItemFacts("orders", UNPARTITIONED, "c1", None, None, ())).status
        <Freshness.MISSING: 'missing'>
    """
    recorded = facts.recorded
    early = _without_recorded_versions(facts)
    if early is not None or recorded is None or not recorded.succeeded:
        return early or Verdict(
            Freshness.MISSING, (Cause(CauseKind.MISSING, "never materialized"),)
        )
    if recorded.provenance_version is None:
        cause = Cause(CauseKind.UNVERSIONED, "recorded without versions (by an older flowstone)")
        return Verdict(Freshness.STALE, (cause,))
    if all(current.fresh for current in facts.inputs):
        provenance = expected_provenance(facts)
        if provenance == recorded.provenance_version:
            return Verdict(Freshness.FRESH, (), provenance)
        causes = _own_causes(facts, recorded) or (_unexplained(facts),)
        return Verdict(Freshness.STALE, causes, provenance)
    causes = _own_causes(facts, recorded)
    if causes:
        return Verdict(Freshness.STALE, causes)
    stale = [current.key for current in facts.inputs if not current.fresh]
    shown = ", ".join(label(key) for key in stale[:3]) + (" ..." if len(stale) > 3 else "")
    cause = Cause(CauseKind.UPSTREAM_STALE, f"upstream {shown} will be recomputed", stale[0])
    return Verdict(Freshness.UPSTREAM_STALE, (cause,))


def _unexplained(facts: ItemFacts) -> Cause:
    """Code and inputs match but the provenance does not: its config (or lack of one) differs."""
    if facts.config_hash is not None:
        return Cause(CauseKind.CONFIG, "config changed")
    return Cause(CauseKind.PROVENANCE, "recorded with a config it no longer has")


def _without_recorded_versions(facts: ItemFacts) -> Verdict | None:
    """Blocked and failed items are judged before any version is compared."""
    if facts.blocked is not None:
        kind = CauseKind.CANNOT_EXIST if facts.blocked_by_definition else CauseKind.BLOCKED
        return Verdict(Freshness.BLOCKED, (Cause(kind, facts.blocked),))
    if facts.recorded is not None and facts.recorded.latest_failed:
        return Verdict(Freshness.FAILED, (Cause(CauseKind.FAILED, "the newest attempt failed"),))
    if facts.recorded is not None and facts.recorded.lost:
        cause = Cause(CauseKind.LOST, "its stored value was found missing (recorded as lost)")
        return Verdict(Freshness.MISSING, (cause,))
    return None


def expected_provenance(facts: ItemFacts) -> str:
    """The provenance version a materialization of the item would record now."""
    return compute_provenance_version(
        facts.asset_key,
        facts.partition_key,
        facts.code_version,
        facts.config_hash,
        [(*current.key, current.data_version) for current in facts.inputs],
    )


def _own_causes(facts: ItemFacts, recorded: Recorded) -> tuple[Cause, ...]:
    """Causes visible without recomputing anything: code, input sets, changed input data."""
    causes: list[Cause] = []
    if recorded.code_version != facts.code_version:
        causes.append(_code_changed(facts, recorded))
    expected = {current.key: current for current in facts.inputs}
    new = [key for key in expected if key not in recorded.inputs]
    removed = [key for key in recorded.inputs if key not in expected]
    if new:
        kind = CauseKind.NEW_UPSTREAM
        causes.append(Cause(kind, f"new upstream partitions {_labels(new)}", new[0]))
    if removed:
        kind = CauseKind.REMOVED_UPSTREAM
        causes.append(Cause(kind, f"upstream partitions no longer read {_labels(removed)}"))
    for key, current in expected.items():
        if key in recorded.inputs and current.fresh:
            before = recorded.inputs[key]
            if before != current.data_version:
                causes.append(_changed(key, before, current.data_version))
    return tuple(causes)


def _code_changed(facts: ItemFacts, recorded: Recorded) -> Cause:
    changes: tuple[CodeChange, ...] = ()
    if recorded.breakdown is not None and facts.breakdown is not None:
        changes = diff_breakdowns(recorded.breakdown, facts.breakdown)
    before, after = recorded.code_version, facts.code_version
    message = describe_code_changes(changes, before, after)
    return Cause(CauseKind.CODE, message, None, before, after, changes)


def _changed(key: InputKey, before: str | None, after: str | None) -> Cause:
    message = f"upstream {label(key)} changed (data version {_short(before)} -> {_short(after)})"
    return Cause(CauseKind.UPSTREAM_DATA, message, key, before, after)


def label(key: InputKey) -> str:
    """``asset`` or ``asset[partition]``."""
    asset, partition = key
    return asset if partition == UNPARTITIONED else f"{asset}[{partition}]"


def _labels(keys: Sequence[InputKey]) -> str:
    return ", ".join(label(key) for key in keys[:3]) + (
        f" (+{len(keys) - 3})" if len(keys) > 3 else ""
    )


def _short(version: str | None) -> str:
    return "none" if version is None else f"{version[:8]}.."
