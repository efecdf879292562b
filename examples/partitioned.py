"""Regional sales, one partition per day and region, rolled up by day, week and month.

Backfill January and February 2024 on the embedded defaults (SQLite store, files under
``.flowstone/``), then look at what was recorded:

    flowstone backfill -f examples/partitioned.py --from 2024-01-01 --to 2024-02-29
    flowstone backfill list
    flowstone history rolling_week --partition 2024-01-10

or from Python: ``python examples/partitioned.py``.

    raw_sales[date|region] ─> daily_sales[date] ─┬─> rolling_week[date]   (7-day window)
                                                 └─> monthly_sales[month] (the month's days)

The sales are generated from a seed derived from the partition key, so every run of a
partition produces the same numbers.
"""

from __future__ import annotations

import random
from datetime import UTC, timedelta

from flowstone import (
    AssetContext,
    DailyPartitions,
    MonthlyPartitions,
    MultiPartitions,
    PartitionRange,
    StaticPartitions,
    TimeWindowMapping,
    asset,
    backfill,
)

days = DailyPartitions(start="2024-01-01", end="2024-03-01", timezone="Europe/Berlin")
months = MonthlyPartitions(start="2024-01-01", end="2024-03-01", timezone="Europe/Berlin")
regions = StaticPartitions(["eu", "us", "apac"])
ORDERS_PER_DAY = {"eu": 120, "us": 200, "apac": 80}


@asset(partitioned_by=MultiPartitions({"date": days, "region": regions}), group="raw")
def raw_sales(context: AssetContext) -> list[float]:
    """One region's orders of one day (generated, as an upstream system would deliver them)."""
    region = context.partition_keys["region"]
    start, end = context.partition_time_window  # the local day: 23 to 25 hours long
    hours = (end.astimezone(UTC) - start.astimezone(UTC)) / timedelta(hours=1)
    context.add_metadata(hours=hours)
    rng = random.Random(context.partition_key)
    amounts = [round(rng.uniform(3.0, 90.0), 2) for _ in range(ORDERS_PER_DAY[region])]
    context.add_metadata(orders=len(amounts))
    return amounts


@asset(depends_on=[raw_sales], partitioned_by=days, group="sales")
def daily_sales(context: AssetContext, raw_sales: dict[str, list[float]]) -> dict[str, float]:
    """Revenue per region for the day: reads the day's partition of every region."""
    by_region = {
        key.split("region=")[1]: round(sum(amounts), 2) for key, amounts in raw_sales.items()
    }
    context.add_metadata(total=round(sum(by_region.values()), 2))
    return by_region


@asset(
    depends_on={"week": TimeWindowMapping(daily_sales, start_offset=-6, allow_missing=True)},
    partitioned_by=days,
    group="sales",
)
def rolling_week(week: dict[str, dict[str, float]]) -> float:
    """Revenue of the 7 days ending on this day.

    The first 6 days have no full week before them. Without ``allow_missing=True`` they would be
    reported ``blocked`` (their inputs cannot exist); with it they sum the days that exist.
    """
    return round(sum(sum(day.values()) for day in week.values()), 2)


@asset(depends_on=[daily_sales], partitioned_by=months, group="sales")
def monthly_sales(context: AssetContext, daily_sales: dict[str, dict[str, float]]) -> float:
    """Revenue of the month: reads every day of the month."""
    context.add_metadata(days=len(daily_sales))
    return round(sum(sum(day.values()) for day in daily_sales.values()), 2)


if __name__ == "__main__":
    result = backfill(partitions=PartitionRange("2024-01-01", "2024-02-29"))
    print(
        f"backfill {result.backfill_id}: {result.backfill.status.value}, "
        f"{result.succeeded} items materialized, {result.remaining} remaining"
    )
