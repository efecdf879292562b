"""A small shop's nightly pipeline: raw data in, a daily report out.

Run it on the embedded defaults (SQLite store and files under ``.flowstone/``):

    flowstone materialize -f examples/quickstart.py

    raw_customers ─┐
                   ├─> customer_orders ─> top_customers ─┐
    raw_orders ─> clean_orders ─┬─> revenue_by_country ───┼─> daily_report
    exchange_rates ─────────────┴─> revenue_by_product ───┘

The data is generated locally from a fixed seed, so every run sees the same numbers.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import date, timedelta

from flowstone import AssetContext, asset

COUNTRIES = ("DE", "FR", "NL", "US", "GB")
PRODUCTS = {"espresso": 3.5, "latte": 4.2, "beans-1kg": 18.0, "grinder": 89.0, "mug": 12.0}
ORDER_COUNT = 5_000


@asset(group="raw", owners=["data-platform"])
def raw_customers(context: AssetContext) -> list[dict[str, object]]:
    """Customers with their home country, as the shop's CRM exports them."""
    rng = random.Random(7)
    customers = [
        {"customer_id": n, "name": f"customer-{n:04d}", "country": rng.choice(COUNTRIES)}
        for n in range(1, 801)
    ]
    context.add_metadata(row_count=len(customers))
    return customers


@asset(group="raw", owners=["data-platform"])
def raw_orders(context: AssetContext) -> list[dict[str, object]]:
    """One row per order line, including refunds (negative quantities) and test orders."""
    rng = random.Random(42)
    start = date(2024, 1, 1)
    orders = []
    for order_id in range(1, ORDER_COUNT + 1):
        product = rng.choice(list(PRODUCTS))
        orders.append(
            {
                "order_id": order_id,
                "customer_id": rng.randint(1, 800),
                "product": product,
                "quantity": rng.choice([1, 1, 1, 2, 3, -1]),
                "unit_price": PRODUCTS[product],
                "currency": rng.choice(["EUR", "EUR", "USD", "GBP"]),
                "day": (start + timedelta(days=rng.randint(0, 30))).isoformat(),
                "is_test": rng.random() < 0.02,
            }
        )
    context.add_metadata(row_count=len(orders))
    return orders


@asset(group="raw", code_version="1")
async def exchange_rates() -> dict[str, float]:
    """EUR per unit of each currency (an async asset: it would call a rates API)."""
    await asyncio.sleep(0.01)
    return {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}


@asset(depends_on=[raw_orders, exchange_rates], group="clean")
def clean_orders(
    context: AssetContext, raw_orders: list[dict[str, object]], exchange_rates: dict[str, float]
) -> list[dict[str, object]]:
    """Real sales only (no refunds, no test orders), with the amount in EUR."""
    clean = []
    for order in raw_orders:
        quantity = int(str(order["quantity"]))
        if quantity <= 0 or order["is_test"]:
            continue
        rate = exchange_rates[str(order["currency"])]
        amount = round(quantity * float(str(order["unit_price"])) * rate, 2)
        clean.append({**order, "amount_eur": amount})
    context.add_metadata(row_count=len(clean), dropped=len(raw_orders) - len(clean))
    return clean


@asset(depends_on=[clean_orders, raw_customers], group="marts")
def customer_orders(
    clean_orders: list[dict[str, object]], raw_customers: list[dict[str, object]]
) -> dict[int, dict[str, object]]:
    """Spend and order count per customer, with the customer's name and country."""
    customers = {int(str(c["customer_id"])): c for c in raw_customers}
    spend: defaultdict[int, float] = defaultdict(float)
    count: Counter[int] = Counter()
    for order in clean_orders:
        customer_id = int(str(order["customer_id"]))
        spend[customer_id] += float(str(order["amount_eur"]))
        count[customer_id] += 1
    return {
        cid: {**customers[cid], "spend_eur": round(spend[cid], 2), "orders": count[cid]}
        for cid in sorted(spend)
    }


@asset(depends_on=[clean_orders], group="marts")
def revenue_by_country(clean_orders: list[dict[str, object]]) -> dict[str, float]:
    """Revenue in EUR per currency zone of the order."""
    revenue: defaultdict[str, float] = defaultdict(float)
    for order in clean_orders:
        revenue[str(order["currency"])] += float(str(order["amount_eur"]))
    return {key: round(value, 2) for key, value in sorted(revenue.items())}


@asset(depends_on=[clean_orders], group="marts")
def revenue_by_product(clean_orders: list[dict[str, object]]) -> dict[str, float]:
    """Revenue in EUR per product, best seller first."""
    revenue: defaultdict[str, float] = defaultdict(float)
    for order in clean_orders:
        revenue[str(order["product"])] += float(str(order["amount_eur"]))
    return dict(sorted(((k, round(v, 2)) for k, v in revenue.items()), key=lambda kv: -kv[1]))


@asset(depends_on=[customer_orders], group="marts")
def top_customers(customer_orders: dict[int, dict[str, object]]) -> list[dict[str, object]]:
    """The ten customers who spent most."""
    ranked = sorted(customer_orders.values(), key=lambda c: -float(str(c["spend_eur"])))
    return ranked[:10]


@asset(
    depends_on=[revenue_by_country, revenue_by_product, top_customers],
    group="reports",
    tags={"audience": "management"},
)
def daily_report(
    context: AssetContext,
    revenue_by_country: dict[str, float],
    revenue_by_product: dict[str, float],
    top_customers: list[dict[str, object]],
) -> dict[str, object]:
    """The report management reads every morning."""
    total = round(sum(revenue_by_country.values()), 2)
    report = {
        "total_revenue_eur": total,
        "best_product": next(iter(revenue_by_product)),
        "top_customer": top_customers[0]["name"],
        "revenue_by_currency": revenue_by_country,
    }
    context.add_metadata(total_revenue_eur=total)
    return report
