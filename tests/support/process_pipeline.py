"""Assets defined at module level, so pool processes and Dask workers can import them."""

from __future__ import annotations

import os
import time

from flowstone import AssetContext
from flowstone.definitions.asset import build_asset_def


def _spin(seconds: float) -> int:
    """Pure-Python work (holds the GIL) for about ``seconds``."""
    deadline = time.process_time() + seconds
    count = 0
    while time.process_time() < deadline:
        count += 1
    return count


def numbers(context: AssetContext) -> list[int]:
    context.log.info("numbers in %s", os.getpid())
    context.add_metadata(pid=os.getpid())
    return [1, 2, 3]


def doubled(numbers: list[int]) -> list[int]:
    return [2 * n for n in numbers]


async def total(doubled: list[int]) -> int:
    return sum(doubled)


def spin_a(context: AssetContext) -> float:
    start = time.time()
    _spin(0.5)
    context.add_metadata(pid=os.getpid(), start=start, end=time.time())
    return start


def spin_b(context: AssetContext) -> float:
    start = time.time()
    _spin(0.5)
    context.add_metadata(pid=os.getpid(), start=start, end=time.time())
    return start


NUMBERS = build_asset_def(numbers)
DOUBLED = build_asset_def(doubled, depends_on=["numbers"])
TOTAL = build_asset_def(total, depends_on=["doubled"])
SPIN_A = build_asset_def(spin_a)
SPIN_B = build_asset_def(spin_b)
