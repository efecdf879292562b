"""Which partitions of each selected asset a run or backfill covers.

A request is a list of keys, an inclusive range, or every partition. The keys are read in the
partitions definition of the first selected asset that accepts them (the anchor); every other
selected asset covers the partitions that read, or are read by, those anchor partitions (a
monthly roll-up covers the months of the selected days). Unpartitioned assets always have their
one partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from flowstone.errors import PartitionError
from flowstone.graph import AssetGraph
from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey
from flowstone.partitions import PartitionsDefinition, PartitionState
from flowstone.partitions.mapping import default_mapping


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
) -> dict[AssetKey, list[PartitionKey]]:
    """The partition keys of each selected asset, in partition order.

    Raises:
        PartitionError: a key is unknown or malformed, a range is backwards, keys were given but
            nothing selected is partitioned, or a partitioned asset was selected without keys.
    """
    partitioned = [key for key in selected if graph.get(key).partitions is not None]
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
    keys: dict[AssetKey, list[PartitionKey]] = {key: [UNPARTITIONED] for key in selected}
    if request == ALL_PARTITIONS:
        for key in partitioned:
            keys[key] = list(_definition(graph, key).get_partition_keys(state))
        return keys
    if partitioned:
        assert request is not None and not isinstance(request, str)
        keys.update(_keys_around_anchor(graph, partitioned, request, state))
    return keys


def _keys_around_anchor(
    graph: AssetGraph,
    partitioned: list[AssetKey],
    request: Sequence[PartitionKey] | PartitionRange,
    state: PartitionState,
) -> dict[AssetKey, list[PartitionKey]]:
    anchor, anchor_keys = _find_anchor(graph, partitioned, request, state)
    result = {anchor: anchor_keys}
    wanted = set(anchor_keys)
    anchor_definition = _definition(graph, anchor)
    for key in partitioned:
        definition = _definition(graph, key)
        if key == anchor:
            continue
        if definition == anchor_definition:
            result[key] = list(anchor_keys)
            continue
        try:
            result[key] = _related_keys(definition, anchor_definition, wanted, state)
        except PartitionError:
            raise PartitionError(
                f"Partitions {_shown(request)} ({anchor_definition.describe()}) do not apply to "
                f"asset {str(key)!r} ({definition.describe()}). Select it in a separate run."
            ) from None
    return result


def _find_anchor(
    graph: AssetGraph,
    partitioned: list[AssetKey],
    request: Sequence[PartitionKey] | PartitionRange,
    state: PartitionState,
) -> tuple[AssetKey, list[PartitionKey]]:
    first_error: PartitionError | None = None
    for key in partitioned:
        try:
            return key, _read_request(_definition(graph, key), request, state)
        except PartitionError as exc:
            first_error = first_error or PartitionError(f"Asset {str(key)!r}: {exc}")
    assert first_error is not None
    raise first_error


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
    return list(dict.fromkeys(validated))


def _related_keys(
    definition: PartitionsDefinition,
    anchor: PartitionsDefinition,
    wanted: set[PartitionKey],
    state: PartitionState,
) -> list[PartitionKey]:
    """The partitions of ``definition`` that read, or are read by, the wanted anchor keys."""
    reads = default_mapping(definition, anchor)
    if reads is not None:
        return [
            key
            for key in definition.get_partition_keys(state)
            if wanted.intersection(reads.upstream_keys(definition, key, anchor, state).keys)
        ]
    read_by = default_mapping(anchor, definition)
    if read_by is not None:
        found: dict[PartitionKey, None] = {}
        for anchor_key in sorted(wanted):
            mapped = read_by.upstream_keys(anchor, anchor_key, definition, state).keys
            found.update(dict.fromkeys(mapped))
        order = {key: index for index, key in enumerate(definition.get_partition_keys(state))}
        return sorted(found, key=order.__getitem__)
    raise PartitionError("no mapping relates the two definitions")


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
