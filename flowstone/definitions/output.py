"""``Output``: an asset's value together with what the asset knows about it.

Returning ``Output(value, data_version=..., metadata=...)`` instead of the bare value lets an
asset name its value's data version (e.g. a source's own revision id) and attach metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Output(Generic[T]):
    """A value to store, with an optional data version and metadata.

    Example:
        >>> @asset
        ... def orders() -> Output[list[dict]]:
        ...     rows, revision = fetch_orders()
        ...     return Output(rows, data_version=revision, metadata={"row_count": len(rows)})
    """

    value: T
    data_version: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
