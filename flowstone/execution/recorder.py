"""Batches materialization records on their way to the store.

The runner hands every outcome here; records are written in batches (by size or age) from a
worker thread, so the event loop never waits on one round trip per item. Records arrive in
completion order, so an upstream is always written before (and sequenced below) its dependents.
"""

from __future__ import annotations

import time

import anyio
import anyio.to_thread

from flowstone.storage import MaterializationRecord, MetadataStore


class MaterializationRecorder:
    """Buffers records and writes them in batches through ``MetadataStore.add_materializations``.

    Example:
        >>> recorder = MaterializationRecorder(store)
        >>> recorder.add(record)
        >>> await recorder.flush()
    """

    def __init__(
        self, store: MetadataStore, *, batch_size: int = 1000, max_age_seconds: float = 1.0
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._max_age = max_age_seconds
        self._pending: list[MaterializationRecord] = []
        self._oldest = time.monotonic()
        self._lock = anyio.Lock()

    def add(self, record: MaterializationRecord) -> None:
        """Queue ``record``; it is written at the next flush."""
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(record)

    @property
    def is_due(self) -> bool:
        """Whether the buffer is big or old enough to write now."""
        if not self._pending:
            return False
        full = len(self._pending) >= self._batch_size
        return full or time.monotonic() - self._oldest >= self._max_age

    async def flush_if_due(self) -> None:
        """Write the buffer if it is due; cheap to call after every item."""
        if self.is_due:
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far in one transaction."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                await anyio.to_thread.run_sync(self._store.add_materializations, batch)
