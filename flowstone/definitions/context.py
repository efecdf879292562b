"""``AssetContext``: what a running asset function may know about itself and report back.

The runner builds one per attempt; the function reads it and may add metadata. It holds no
connection and does no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey


@dataclass(slots=True)
class AssetContext:
    """Handed to an asset function through a parameter named ``context``.

    Example:
        >>> @asset
        ... def orders(context: AssetContext) -> list[dict]:
        ...     rows = load()
        ...     context.add_metadata(row_count=len(rows))
        ...     return rows
    """

    asset_key: AssetKey
    partition_key: PartitionKey
    run_id: str
    attempt: int = 0
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("flowstone.asset"))
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def has_partition(self) -> bool:
        """Whether the asset is partitioned (``partition_key`` is then a real key)."""
        return self.partition_key != UNPARTITIONED

    def add_metadata(self, **values: Any) -> None:
        """Record JSON-serialisable metadata (row counts, previews) with this materialization."""
        self.metadata.update(values)
