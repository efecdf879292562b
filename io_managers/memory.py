"""``InMemoryIOManager``: the reference I/O manager and the test double for every other one.

It owns a dict of values keyed by (asset key, partition key), guarded by a lock because managers
are called from worker threads. It must not touch disk, serialize or copy values: it exists to be
obviously correct and fast, as httpx's ``MockTransport`` is for transports.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from flowstone.errors import MissingOutputError
from flowstone.io import IOContext
from flowstone.keys import AssetKey, PartitionKey


class InMemoryIOManager:
    """Keeps every value in a dict of this instance; values vanish with it.

    Values are stored as they are, not copied: a caller that mutates a loaded value mutates the
    stored one. That keeps the double fast and identity-preserving; use a serializing manager
    (e.g. ``FilesystemIOManager``) to test that a value survives a round trip.

    Example:
        >>> from flowstone.io import IOContext
        >>> from flowstone.keys import UNPARTITIONED, AssetKey
        >>> manager = InMemoryIOManager()
        >>> ctx = IOContext(AssetKey.parse("warehouse/orders"), UNPARTITIONED)
        >>> manager.save(ctx, [1, 2])
        {'uri': 'memory://warehouse/orders/__unpartitioned__'}
        >>> manager.load(ctx)
        [1, 2]
    """

    process_local = True
    """Its values live in this process: executors that run assets elsewhere refuse it."""

    def __init__(self) -> None:
        self._values: dict[tuple[AssetKey, PartitionKey], Any] = {}
        self._lock = threading.Lock()

    def save(self, ctx: IOContext, value: Any) -> Mapping[str, Any]:
        """Store ``value`` for the context's (asset, partition), replacing any earlier one.

        Args:
            ctx: names the asset and partition.
            value: any object; it is kept as is, not copied.

        Returns:
            ``{"uri": "memory://<asset key>/<partition key>"}``.
        """
        with self._lock:
            self._values[ctx.asset_key, ctx.partition_key] = value
        return {"uri": f"memory://{ctx.asset_key}/{ctx.partition_key}"}

    def load(self, ctx: IOContext) -> Any:
        """Return the value stored for the context's (asset, partition).

        Raises:
            MissingOutputError: nothing is stored for that (asset, partition).
        """
        with self._lock:
            try:
                return self._values[ctx.asset_key, ctx.partition_key]
            except KeyError:
                pass
        raise MissingOutputError(
            f"No value is stored for asset {str(ctx.asset_key)!r}, partition "
            f"{ctx.partition_key!r} in this InMemoryIOManager (it holds {len(self._values)} "
            f"values, only for its own lifetime). Materialize the asset with the same manager "
            f"instance before loading it.",
            asset_key=ctx.asset_key,
            partition_key=ctx.partition_key,
        )

    def exists(self, ctx: IOContext) -> bool:
        """Whether a value is stored for the context's (asset, partition)."""
        with self._lock:
            return (ctx.asset_key, ctx.partition_key) in self._values
