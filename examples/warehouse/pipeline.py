"""A small warehouse: raw orders -> staging -> marts, by day, with the marts in PostgreSQL.

Raw and staging data are files (the filesystem I/O manager); the marts are tables in PostgreSQL
(the ``postgres`` I/O manager: one table per asset, one partition per day, each day replaced in
one transaction). ``run.py`` runs it with the metadata store in the same database.
"""

from __future__ import annotations

import random
from collections import defaultdict

from flowstone import AssetContext, DailyPartitions, MonthlyPartitions, asset

days = DailyPartitions(start="2024-01-01", end="2024-03-01")
months = MonthlyPartitions(start="2024-01-01", end="2024-03-01")
COUNTRIES = ("DE", "FR", "NL", "US")


@asset(partitioned_by=days, group="raw")
def raw_orders(context: AssetContext) -> list[dict[str, object]]:
    """The day's orders as a source system delivers them (generated from the day's key)."""
    rng = random.Random(context.partition_key)
    return [
        {"order_id": f"{context.partition_key}-{n}", "country": rng.choice(COUNTRIES),
         "amount": round(rng.uniform(-5.0, 120.0), 2)}
        for n in range(200)
    ]  # fmt: skip


@asset(depends_on=[raw_orders], partitioned_by=days, group="staging")
def stg_orders(raw_orders: list[dict[str, object]]) -> list[dict[str, object]]:
    """Valid orders only: refunds and test orders (amount <= 0) are dropped."""
    return [order for order in raw_orders if float(str(order["amount"])) > 0]


@asset(depends_on=[stg_orders], partitioned_by=days, group="marts", io_manager="postgres")
def daily_revenue(stg_orders: list[dict[str, object]]) -> list[dict[str, object]]:
    """Revenue per country for the day: a table in PostgreSQL, one partition per day."""
    totals: dict[str, float] = defaultdict(float)
    for order in stg_orders:
        totals[str(order["country"])] += float(str(order["amount"]))
    return [{"country": c, "revenue": round(v, 2)} for c, v in sorted(totals.items())]


@asset(depends_on=[daily_revenue], partitioned_by=months, group="marts", io_manager="postgres")
def monthly_revenue(daily_revenue: dict[str, list[dict[str, object]]]) -> list[dict[str, object]]:
    """Revenue per country for the month, from the month's daily tables."""
    totals: dict[str, float] = defaultdict(float)
    for rows in daily_revenue.values():
        for row in rows:
            totals[str(row["country"])] += float(str(row["revenue"]))
    return [{"country": c, "revenue": round(v, 2)} for c, v in sorted(totals.items())]
