"""One asset on the process pool between two in threads, for the per-asset executor test."""

from __future__ import annotations

import os

from flowstone import AssetContext
from flowstone.definitions.asset import build_asset_def


def source(context: AssetContext) -> int:
    context.add_metadata(pid=os.getpid())
    return 20


def heavy(context: AssetContext, source: int) -> int:
    context.add_metadata(pid=os.getpid())
    return source + 1


def report(context: AssetContext, heavy: int) -> int:
    context.add_metadata(pid=os.getpid())
    return heavy * 2


SOURCE = build_asset_def(source)
HEAVY = build_asset_def(heavy, depends_on=["source"], executor="processes")
REPORT = build_asset_def(report, depends_on=["heavy"])
