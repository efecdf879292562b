"""Which partitions of each selected asset a run or backfill covers.

A request is a list of keys, an inclusive range, or every partition. Every selected asset whose
partitions definition accepts the keys gets exactly those. The other selected assets get the
partitions related to them through the dependency mappings: downstream, the partitions that read
them (a monthly roll-up covers the months of the selected days); upstream, the partitions they
read (the hours of a selected day). Unpartitioned assets always have their one partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal, TypeAlias

from flowstone.definitions import Dependency
from flowstone.errors import PartitionError
from flowstone.graph import AssetGraph
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.partitions import (
    PartitionMapping,
    PartitionsDefinition,
    PartitionState,
    TimeWindowMapping,
    TimeWindowPartitions,
)


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Every partition from ``first`` to ``last``, both included.

    Example:
        >>> materialize("daily_revenue", partitions=PartitionRange("2024-01-01", "2024-01-31"))
    """

    first: PartitionKey
    last: PartitionKey


ALL_PARTITIONS: Literal["all"] = "all"
PartitionRequest: TypeAlias = Sequence[PartitionKey] | PartitionRange | Literal["all"] | None
"""Keys, a range, ``"all"``, or ``None`` (only valid when nothing selected is partitioned)."""


def describe_request(request: PartitionRequest) -> dict[str, Any]:
    """The request as JSON, as a backfill records it."""
    if request is None:
        return {}
    if isinstance(request, PartitionRange):
        return {"from": request.first, "to": request.last}
    if isinstance(request, str):
        return {"all": True}
    return {"keys": list(request)}


def request_from_description(description: Mapping[str, Any]) -> PartitionRequest:
    """The inverse of ``describe_request``."""
    if "from" in description:
        return PartitionRange(description["from"], description["to"])
    if description.get("all"):
        return ALL_PARTITIONS
    if "keys" in description:
        return list(description["keys"])
    return None


def resolve_partition_keys(
    graph: AssetGraph,
    selected: Sequence[AssetKey],
    request: PartitionRequest,
    state: PartitionState,
    *,
    known: Mapping[AssetKey, Sequence[PartitionKey]] | None = None,
) -> dict[AssetKey, list[PartitionKey]]:
    """The partition keys of each selected asset, in partition order.

    ``known`` holds the keys already chosen for other assets of the same run (assets planned
    later in a run relate to them).

    Raises:
        PartitionError: a key is unknown or malformed, a range is backwards, keys were given but
            nothing selected is partitioned, a partitioned asset was selected without keys, or
            an asset is related to no asset that has keys.
    """
    partitioned = [key for key in selected if graph.get(key).partitions is not None]
    if not known:
        _check_request(graph, selected, partitioned, request)
    keys: dict[AssetKey, list[PartitionKey]] = {key: [UNPARTITIONED] for key in selected}
    if request == ALL_PARTITIONS:
        for key in partitioned:
            keys[key] = list(_definition(graph, key).get_partition_keys(state))
        return keys
    if not partitioned:
        return keys
    assert request is not None and not isinstance(request, str)
    chosen = {k: list(v) for k, v in (known or {}).items() if graph.get(k).partitions is not None}
    direct = _read_directly(graph, partitioned, request, state, bool(chosen))
    chosen.update(direct)
    _propagate_downstream(graph, partitioned, chosen, state)
    _propagate_upstream(graph, partitioned, chosen, state)
    for key in partitioned:
        if key not in chosen:
            raise PartitionError(
                f"Partitions {_shown(request)} do not apply to asset {str(key)!r} "
                f"({_definition(graph, key).describe()}), and no selected asset it reads or that "
                f"reads it has them. Select it in a separate run with its own partitions."
            )
        keys[key] = chosen[key]
    return keys


def _check_request(
    graph: AssetGraph,
    selected: Sequence[AssetKey],
    partitioned: list[AssetKey],
    request: PartitionRequest,
) -> None:
    if isinstance(request, str) and request != ALL_PARTITIONS:
        raise PartitionError(
            f"partitions={request!r} is not a partition request. Pass a list of keys, "
            f"PartitionRange(first, last) or 'all'."
        )
    if request is None and partitioned:
        raise _no_request_error(graph, partitioned)
    if request is not None and request != ALL_PARTITIONS and not partitioned:
        names = ", ".join(str(key) for key in selected[:3])
        raise PartitionError(
            f"Partitions {_shown(request)} were given, but no selected asset is partitioned "
            f"({names}). Drop the partition options, or select a partitioned asset."
        )


def _read_directly(
    graph: AssetGraph,
    partitioned: list[AssetKey],
    request: Sequence[PartitionKey] | PartitionRange,
    state: PartitionState,
    related_elsewhere: bool,
) -> dict[AssetKey, list[PartitionKey]]:
    """The assets whose definition accepts the request, with its keys."""
    accepted: dict[AssetKey, list[PartitionKey]] = {}
    first_error: PartitionError | None = None
    for key in partitioned:
        try:
            accepted[key] = _read_request(_definition(graph, key), request, state)
        except PartitionError as exc:
            first_error = first_error or PartitionError(f"Asset {str(key)!r}: {exc}")
    if not accepted and not related_elsewhere and first_error is not None:
        raise first_error
    return accepted


def _read_request(
    definition: PartitionsDefinition,
    request: Sequence[PartitionKey] | PartitionRange,
    state: PartitionState,
) -> list[PartitionKey]:
    if isinstance(request, PartitionRange):
        return list(definition.key_range(request.first, request.last, state))
    if not request:
        raise PartitionError("An empty list of partitions was given. Name at least one key.")
    validated = [definition.validate_key(key, state) for key in request]
    return _in_order(definition, dict.fromkeys(validated), state)


def _propagate_downstream(
    graph: AssetGraph,
    partitioned: list[AssetKey],
    chosen: dict[AssetKey, list[PartitionKey]],
    state: PartitionState,
) -> None:
    """Assets without keys get the partitions that read chosen partitions of their inputs."""
    for key in partitioned:
        if key in chosen:
            continue
        sources = [d for d in graph.get(key).dependencies if d.asset_key in chosen]
        if not sources:
            continue
        found: dict[PartitionKey, None] = {}
        for dependency in sources:
            found.update(dict.fromkeys(_keys_reading(graph, key, dependency, chosen, state)))
        chosen[key] = _in_order(_definition(graph, key), found, state)


def _propagate_upstream(
    graph: AssetGraph,
    partitioned: list[AssetKey],
    chosen: dict[AssetKey, list[PartitionKey]],
    state: PartitionState,
) -> None:
    """Assets still without keys get the partitions that chosen partitions downstream read."""
    for key in reversed(partitioned):
        if key in chosen:
            continue
        definition = _definition(graph, key)
        found: dict[PartitionKey, None] = {}
        readers = False
        for reader in graph.children(key):
            if reader not in chosen:
                continue
            reader_definition = graph.get(reader)
            for dependency in reader_definition.dependencies:
                if dependency.asset_key != key:
                    continue
                readers = True
                mapping = graph.mapping(reader, dependency)
                for reader_key in chosen[reader]:
                    mapped = mapping.upstream_keys(
                        reader_definition.partitions, reader_key, definition, state
                    )
                    found.update(dict.fromkeys(mapped.keys))
        if readers:
            chosen[key] = _in_order(definition, found, state)


def _keys_reading(
    graph: AssetGraph,
    asset_key: AssetKey,
    dependency: Dependency,
    chosen: Mapping[AssetKey, Sequence[PartitionKey]],
    state: PartitionState,
) -> list[PartitionKey]:
    """The partitions of ``asset_key`` that read any chosen partition of ``dependency``."""
    definition = _definition(graph, asset_key)
    upstream = graph.get(dependency.asset_key).partitions
    mapping = graph.mapping(asset_key, dependency)
    wanted = set(chosen[dependency.asset_key])
    return [
        key
        for key in _candidates(definition, upstream, mapping, wanted, state)
        if wanted.intersection(mapping.upstream_keys(definition, key, upstream, state).keys)
    ]


def _candidates(
    definition: PartitionsDefinition,
    upstream: PartitionsDefinition | None,
    mapping: PartitionMapping,
    wanted: set[PartitionKey],
    state: PartitionState,
) -> Iterable[PartitionKey]:
    """A superset of the partitions that can read ``wanted``: near them in time when possible,
    so that relating a few days to ten years of hours does not look at every hour."""
    if not (
        wanted
        and isinstance(mapping, TimeWindowMapping)
        and isinstance(definition, TimeWindowPartitions)
        and isinstance(upstream, TimeWindowPartitions)
    ):
        return definition.get_partition_keys(state)
    windows = [upstream.time_window(key) for key in wanted]
    start = min(window.start.astimezone(UTC) for window in windows)
    end = max(window.end.astimezone(UTC) for window in windows)
    near = definition.keys_overlapping(start, end)
    first = definition.shift(near[0], -mapping.end_offset)
    last = definition.shift(near[-1], -mapping.start_offset)
    span_start = definition.time_window(first).start.astimezone(UTC)
    span_end = definition.time_window(last).end.astimezone(UTC)
    return [
        key
        for key in definition.keys_overlapping(span_start, span_end)
        if definition.contains(key, state)
    ]


def _in_order(
    definition: PartitionsDefinition, keys: Mapping[PartitionKey, None], state: PartitionState
) -> list[PartitionKey]:
    if isinstance(definition, TimeWindowPartitions):
        return sorted(keys, key=lambda key: definition.time_window(key).start.astimezone(UTC))
    order = {key: index for index, key in enumerate(definition.get_partition_keys(state))}
    return sorted(keys, key=lambda key: order.get(key, len(order)))


def _no_request_error(graph: AssetGraph, partitioned: list[AssetKey]) -> PartitionError:
    key = partitioned[0]
    definition = _definition(graph, key)
    return PartitionError(
        f"Asset {str(key)!r} is partitioned ({definition.describe()}) and no partitions were "
        f"given. Pass --partition KEY, --from KEY --to KEY or --all-partitions "
        f"(partitions=[...], PartitionRange(...) or 'all' in Python)."
    )


def _definition(graph: AssetGraph, key: AssetKey) -> PartitionsDefinition:
    partitions = graph.get(key).partitions
    assert partitions is not None
    return partitions


def _shown(request: PartitionRequest) -> str:
    if isinstance(request, PartitionRange):
        return f"{request.first!r}..{request.last!r}"
    if request is None or isinstance(request, str):
        return repr(request)
    keys = list(request)
    return ", ".join(map(repr, keys[:3])) + (" ..." if len(keys) > 3 else "")
