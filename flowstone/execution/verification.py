"""Verification of stored values: is every fresh item's value really where its record says?

``status --verify`` asks each fresh item's I/O manager with ``exists`` (never ``load``): a
manager that defines ``exists_many(contexts) -> list[bool]`` is asked once for all of its items
(the filesystem manager lists each asset's folder once), the others once per item in worker
threads. Items whose value is missing are judged as if recorded lost, so they and their
dependents are shown as a run would find them. Nothing is written: not the store, not a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from flowstone.errors import FlowstoneError, IOManagerError
from flowstone.execution.plan import ItemKey, PlanItem, item_label
from flowstone.execution.resources import IOManagerSet
from flowstone.graph import AssetGraph
from flowstone.io import IOContext, IOManager
from flowstone.storage import MaterializationStatus, MetadataStore, VersionState
from flowstone.versioning import Freshness, Verdict

THREADS = 8
"""Worker threads for managers that check one item at a time (network round trips overlap)."""


@dataclass(frozen=True, slots=True)
class LostValue:
    """A fresh item whose stored value is missing, and what its I/O manager was asked."""

    key: ItemKey
    reason: str

    @property
    def label(self) -> str:
        return item_label(self.key)


def find_lost_values(
    graph: AssetGraph, keys: Sequence[ItemKey], store: MetadataStore, managers: IOManagerSet
) -> tuple[LostValue, ...]:
    """The items among ``keys`` whose last success's value no longer exists, in order.

    Raises:
        IOManagerError: a manager could not be asked (its storage unreachable, say).
    """
    latest = store.get_latest(list(keys)) if keys else {}
    by_manager: dict[int, tuple[IOManager, list[tuple[ItemKey, IOContext]]]] = {}
    for key in keys:
        found = latest.get(key)
        if found is None or found.last_success is None:
            continue
        definition = graph.get(key[0])
        manager = managers.for_asset(definition)
        ctx = IOContext(
            key[0], key[1], definition.metadata, definition.io_manager_options,
            found.last_success.stored,
        )  # fmt: skip
        by_manager.setdefault(id(manager), (manager, []))[1].append((key, ctx))
    missing: set[ItemKey] = set()
    for manager, asked in by_manager.values():
        present = _ask(manager, [ctx for _, ctx in asked])
        missing.update(key for (key, _), exists in zip(asked, present, strict=True) if not exists)
    return tuple(
        LostValue(key, _reason(latest[key].last_success.uri))  # type: ignore[union-attr]
        for key in keys
        if key in missing
    )


def judge_with_lost(
    items: Sequence[PlanItem],
    states: Mapping[ItemKey, VersionState],
    lost: Sequence[LostValue],
    judge: Any,
) -> tuple[dict[ItemKey, VersionState], dict[ItemKey, Verdict]]:
    """The states and verdicts as they are once ``lost`` items are known to be lost."""
    marked = dict(states)
    for value in lost:
        marked[value.key] = replace(marked[value.key], latest_status=MaterializationStatus.LOST)
    verdicts: dict[ItemKey, Verdict] = judge(items, marked)
    return marked, verdicts


def fresh_keys(items: Sequence[PlanItem], verdicts: Mapping[ItemKey, Verdict]) -> list[ItemKey]:
    """The keys of ``items`` judged fresh, in order."""
    return [item.key for item in items if verdicts[item.key].status is Freshness.FRESH]


def _ask(manager: IOManager, contexts: list[IOContext]) -> list[bool]:
    many = getattr(manager, "exists_many", None)
    try:
        if callable(many):
            return [bool(found) for found in many(contexts)]
        with ThreadPoolExecutor(max_workers=min(THREADS, len(contexts))) as pool:
            return list(pool.map(manager.exists, contexts))
    except FlowstoneError:
        raise
    except Exception as exc:  # a plugin's own error type
        ctx = contexts[0]
        raise IOManagerError(
            f"The I/O manager of {ctx.asset_key} could not say whether its stored values exist: "
            f"{type(exc).__name__}: {exc}. Check that its storage is reachable, then try again.",
            asset_key=ctx.asset_key,
        ) from exc


def _reason(uri: str | None) -> str:
    where = f" at {uri}" if uri else ""
    return f"its I/O manager finds no stored value{where}"
