"""Batches materialization records on their way to the store.

The runner hands every outcome here; a background task writes them in batches (when a batch is
full or its oldest record is 0.2 s old: writing a record ends its claim, which other processes
may be waiting for) from a worker thread, so no item ever waits on a
round trip to the store. Records arrive in
completion order, so an upstream is always written before (and sequenced below) its dependents.
The code breakdown of each (asset, code version) a record names is written with the first batch
that holds one, once per run (the store keeps the first of each).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import anyio
import anyio.to_thread

from flowstone.errors import FlowstoneError
from flowstone.storage import BreakdownEntry, CodeKey, MaterializationRecord, MetadataStore

RETRY_DELAY_SECONDS = 0.2
"""First pause before writing a failed batch again; it doubles with each try."""


class MaterializationRecorder:
    """Buffers records and writes them in batches through ``MetadataStore.add_materializations``.

    Example:
        >>> recorder = MaterializationRecorder(store)
        >>> recorder.add(record)
        >>> await recorder.flush()
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        batch_size: int = 1000,
        max_age_seconds: float = 0.2,
        breakdowns: Mapping[CodeKey, Sequence[BreakdownEntry]] | None = None,
    ) -> None:
        self._store = store
        self._breakdowns = breakdowns or {}
        self._written: set[CodeKey] = set()
        self._batch_size = batch_size
        self._max_age = max_age_seconds
        self._pending: list[MaterializationRecord] = []
        self._oldest = time.monotonic()
        self._lock = anyio.Lock()
        self._full = anyio.Event()

    def add(self, record: MaterializationRecord) -> None:
        """Queue ``record``; it is written within ``max_age_seconds`` or when the batch is full."""
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._full.set()

    async def flush_periodically(self) -> None:
        """Write the buffer whenever it is full or its oldest record is due; run until cancelled.

        Writing from this one task keeps store latency off the path of ready items.
        """
        while True:
            due_in = self._max_age
            if self._pending:
                due_in = max(0.0, self._oldest + self._max_age - time.monotonic())
            with anyio.move_on_after(due_in):
                await self._full.wait()
            self._full = anyio.Event()
            await self.flush()

    async def flush(self, attempts: int = 3) -> None:
        """Write everything queued so far in one transaction, retrying a failing store.

        A busy or briefly unreachable store recovers; on final failure the records stay queued
        and the ``StorageError`` is raised.
        """
        async with self._lock:
            for attempt in range(attempts):
                batch, self._pending = self._pending, []
                if not batch:
                    return
                try:
                    await anyio.to_thread.run_sync(self._write, batch)
                    return
                except BaseException as exc:
                    self._pending[:0] = batch
                    if not isinstance(exc, FlowstoneError) or attempt == attempts - 1:
                        raise
                await anyio.sleep(RETRY_DELAY_SECONDS * 2**attempt)

    def _write(self, batch: list[MaterializationRecord]) -> None:
        """Write the breakdowns the batch's records name for the first time, then the records."""
        new: dict[CodeKey, Sequence[BreakdownEntry]] = {}
        for record in batch:
            if record.code_version is None:
                continue
            key = (record.asset_key, record.code_version)
            if key not in self._written and key in self._breakdowns:
                new[key] = self._breakdowns[key]
        if new:
            self._store.add_code_breakdowns(new)
            self._written.update(new)
        self._store.add_materializations(batch)
