"""Why-lines for many items at once: runs of partitions with one cause share a line.

``status --why`` lists the items of a report in order; consecutive partitions of one asset whose
explanation is the same become ``raw_events[2024-01-01 .. 2024-02-29] (60 items): stale — ...``.
A run is broken by any listed item of the asset with another explanation, fresh ones included,
so a range never covers an item it does not describe. Only display; ``--json`` keeps every item.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flowstone.keys import UNPARTITIONED, AssetKey, PartitionKey

ItemKey = tuple[AssetKey, PartitionKey]


@dataclass
class _Run:
    first: ItemKey
    last: ItemKey
    text: str | None
    count: int = 1

    def line(self) -> str:
        asset, first = self.first
        if first == UNPARTITIONED:
            return f"{asset}: {self.text}"
        if self.count == 1:
            return f"{asset}[{first}]: {self.text}"
        return f"{asset}[{first} .. {self.last[1]}] ({self.count:,} items): {self.text}"


def grouped_why_lines(items: Iterable[tuple[ItemKey, str | None]]) -> Iterator[str]:
    """One line per run of consecutive items of an asset with the same explanation.

    Args:
        items: each listed item's key and explanation, in listing order; None for an item that
            needs no line (a fresh one), which still ends the run it interrupts.

    Example:
        >>> a = AssetKey.parse("a")
        >>> list(grouped_why_lines([((a, "1"), "stale"), ((a, "2"), "stale")]))
        ['a[1 .. 2] (2 items): stale']
    """
    run: _Run | None = None
    for key, text in items:
        joins = run is not None and run.text == text and run.first[0] == key[0]
        if run is not None and joins and key[1] != UNPARTITIONED:
            run.last, run.count = key, run.count + 1
            continue
        if run is not None and run.text is not None:
            yield run.line()
        run = _Run(key, key, text)
    if run is not None and run.text is not None:
        yield run.line()
