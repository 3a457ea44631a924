"""Orders list benchmark: the back-office list's count + page on 100,000 orders, on a fresh
PostgreSQL database and on SQLite. Hand-run, never a test.

Both databases are migrated to head and seeded with the same orders by multi-row INSERTs
straight into the tables (customers, orders, lines, reservations, holds; the stock ledger is
not balanced, this is a read benchmark), then analysed. Each query goes through
``services.order_search.search_orders`` exactly as ``GET /orders`` calls it (count, page of
ids, then channels, customers, lines and holds for that page) and the median of several runs
is printed per engine.

    .venv/bin/python bench/orders_list_bench.py [--orders 100000] [--repeat 11] [--no-indexes]

``--no-indexes`` drops migration 0003's indexes after seeding, to show what they buy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import func, insert, select, text

import benchlib as b
from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import (
    Channel,
    Customer,
    Location,
    Order,
    OrderHold,
    OrderLine,
    Product,
    Reservation,
    table,
)
from openoms.services import catalog, demo
from openoms.services.order_search import OrderSearch, parse_search, search_orders

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SLA_HOURS = 24
SPAN_DAYS = 120
CHUNK = 5_000
FIRST = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farah", "Gus", "Hana", "Ivan", "Julia", "Kofi", "Lena", "Mateo")
LAST = ("Rivera", "Okafor", "Martin", "Patel", "Schultz", "Haddad", "Lindqvist", "Sato", "Petrov", "Costa", "Nguyen")
INDEXES_0003 = (
    ("ix_orders_placed_at", "orders"),
    ("ix_orders_status_placed_at", "orders"),
    ("ix_orders_external_order_id", "orders"),
    ("ix_reservations_order_id", "reservations"),
    ("ix_reservations_location_order", "reservations"),
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=100_000, help="orders to seed (default 100000)")
    p.add_argument("--customers", type=int, default=30_000, help="customers to seed (default 30000)")
    p.add_argument("--skus", type=int, default=2_000, help="products to seed (default 2000)")
    p.add_argument("--repeat", type=int, default=11, help="runs of each query; the median is printed (default 11)")
    p.add_argument("--engines", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite")
    p.add_argument("--no-indexes", action="store_true", help="drop migration 0003's indexes after seeding")
    p.add_argument("--seed", type=int, default=11)
    return p.parse_args()


# --- seeding ------------------------------------------------------------------------------


def _status_for(age: dt.timedelta, rng: random.Random) -> str:
    """A plausible mix: today's orders are mostly allocated or released, last week's shipped,
    older ones delivered or completed, and a few stuck ones (the at-risk list) at every age."""
    r = rng.random()
    if age < dt.timedelta(days=1):
        table_ = (
            (0.03, "created"),
            (0.55, "allocated"),
            (0.57, "backordered"),
            (0.95, "released"),
            (1.0, "partially_shipped"),
        )
    elif age < dt.timedelta(days=4):
        table_ = (
            (0.03, "allocated"),
            (0.05, "backordered"),
            (0.25, "released"),
            (0.30, "partially_shipped"),
            (0.94, "shipped"),
            (1.0, "cancelled"),
        )
    else:
        table_ = (
            (0.003, "allocated"),
            (0.008, "backordered"),
            (0.02, "shipped"),
            (0.60, "delivered"),
            (0.94, "completed"),
            (1.0, "cancelled"),
        )
    return next(s for limit, s in table_ if r < limit)


@dataclass
class Seeded:
    orders: int
    lines: int
    reservations: int
    holds: int
    seconds: float
    sample_sku: str
    sample_email: str
    sample_external: str


def _insert(db: Database, t: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        with db.begin() as conn:
            conn.execute(insert(t), rows[i : i + CHUNK])


def seed(db: Database, n_orders: int, n_customers: int, n_skus: int, seed_: int) -> Seeded:
    started = time.perf_counter()
    rng = random.Random(seed_)
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(conn, demo.LOCATIONS)
        catalog.CHANNELS.upsert_many(conn, demo.CHANNELS)
        channel_ids = {c: int(i) for c, i in conn.execute(select(table(Channel).c.code, table(Channel).c.id)).all()}
        location_ids = [
            int(i) for i in conn.execute(select(table(Location).c.id).order_by(table(Location).c.id)).scalars()
        ]
    _insert(
        db,
        table(Product),
        [
            {"id": i, "sku": b.sku_code(i), "name": f"Bench product {i}", "list_price": rng.choice(b.PRICES)}
            for i in range(1, n_skus + 1)
        ],
    )
    prices = {i: b.PRICES[i % len(b.PRICES)] for i in range(1, n_skus + 1)}
    _insert(
        db,
        table(Customer),
        [
            {
                "id": i,
                "email": f"customer{i}@example.com",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() > 0.02 else None,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(1, n_customers + 1)
        ],
    )
    weights = b.zipf_weights(n_skus, 0.9)
    sku_ids = list(range(1, n_skus + 1))
    channels = ["web", "web", "web", "shopify", "shopify", "amazon", "amazon", "b2b", "phone", "pos"]
    open_statuses = {"created", "allocated", "backordered", "released", "partially_shipped"}
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    reservations: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    line_id = 0
    for oid in range(1, n_orders + 1):
        # Older orders first; a little denser towards today.
        age = dt.timedelta(days=SPAN_DAYS * (1 - (oid / n_orders) ** 0.8), seconds=rng.randint(0, 3600))
        placed = NOW - age
        status = _status_for(age, rng)
        channel = channels[oid % len(channels)]
        n_lines = rng.choice((1, 1, 1, 2, 2, 3, 4))
        chosen = rng.choices(sku_ids, weights, k=n_lines)
        subtotal = Decimal(0)
        for number, pid in enumerate(dict.fromkeys(chosen), start=1):
            line_id += 1
            qty = rng.choice((1, 1, 1, 2, 3))
            price = prices[pid]
            subtotal += price * qty
            line_status = "allocated" if status in ("created", "partially_shipped") else status
            lines.append(
                {
                    "id": line_id,
                    "order_id": oid,
                    "line_number": number,
                    "product_id": pid,
                    "sku": b.sku_code(pid),
                    "quantity": qty,
                    "quantity_cancelled": qty if status == "cancelled" else 0,
                    "quantity_shipped": qty if status in ("shipped", "delivered", "completed") else 0,
                    "unit_price": price,
                    "discount": Decimal(0),
                    "tax": (price * qty * Decimal("0.08")).quantize(Decimal("0.01")),
                    "status": "delivered" if status == "completed" else line_status,
                }
            )
            if status != "created":
                # Shipped and cancelled orders keep their reservation rows at zero, as the
                # services leave them.
                reservations.append(
                    {
                        "order_id": oid,
                        "order_line_id": line_id,
                        "product_id": pid,
                        "location_id": location_ids[rng.choice((0, 0, 0, 1, 1, 2, 3, 4))],
                        "quantity": qty if status in open_statuses else 0,
                    }
                )
        tax = (subtotal * Decimal("0.08")).quantize(Decimal("0.01"))
        orders.append(
            {
                "id": oid,
                "channel_id": channel_ids[channel],
                "external_order_id": None if channel == "phone" else f"{channel.upper()}-{1_000_000 + oid}",
                "customer_id": rng.randint(1, n_customers) if channel != "pos" or rng.random() < 0.3 else None,
                "status": status,
                "currency": "USD",
                "subtotal": subtotal,
                "discount_total": Decimal(0),
                "tax_total": tax,
                "shipping_total": Decimal("7.95"),
                "grand_total": subtotal + tax + Decimal("7.95"),
                "service_level": "standard",
                "placed_at": placed,
                "captured_by": "bench",
                "created_at": placed,
                "updated_at": placed,
                "version": 1,
            }
        )
        if status in ("created", "allocated", "backordered") and rng.random() < 0.10:
            holds.append(
                {
                    "order_id": oid,
                    "hold_type": rng.choice(("payment", "fraud", "credit", "manual")),
                    "reason": "bench",
                    "placed_by": "bench",
                    "placed_at": placed,
                    "released_at": None,
                    "released_by": None,
                    "release_reason": None,
                }
            )
        elif rng.random() < 0.02:
            holds.append(
                {
                    "order_id": oid,
                    "hold_type": "fraud",
                    "reason": "bench",
                    "placed_by": "bench",
                    "placed_at": placed,
                    "released_at": placed + dt.timedelta(hours=1),
                    "released_by": "bench",
                    "release_reason": "checked",
                }
            )
    _insert(db, table(Order), orders)
    _insert(db, table(OrderLine), lines)
    _insert(db, table(Reservation), reservations)
    _insert(db, table(OrderHold), holds)
    if not db.is_sqlite:
        with db.begin() as conn:
            for name in ("products", "customers", "orders", "order_lines"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    sample = lines[len(lines) // 3]
    return Seeded(
        len(orders),
        len(lines),
        len(reservations),
        len(holds),
        time.perf_counter() - started,
        sample_sku=str(sample["sku"]),
        sample_email=f"customer{orders[len(orders) // 2]['customer_id'] or 1}@example.com",
        sample_external=str(orders[-7]["external_order_id"] or orders[-8]["external_order_id"]),
    )


def analyse(db: Database, url: str) -> None:
    if db.is_sqlite:
        with db.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        b.vacuum_analyze(url)


def drop_0003_indexes(db: Database) -> None:
    with db.begin() as conn:
        for name, _ in INDEXES_0003:
            conn.execute(text(f"DROP INDEX {name}"))


# --- the queries ----------------------------------------------------------------------------


def cases(s: Seeded, n_orders: int) -> list[tuple[str, str]]:
    """(label, query string) as a person or the dashboard would send it."""
    today = NOW.date().isoformat()
    per_page = 50
    deep = max(1, (n_orders // per_page) // 2)
    last = max(1, -(-n_orders // per_page))
    return [
        ("first page, newest first", ""),
        (f"page {deep:,} (middle)", f"page={deep}"),
        (f"page {last:,} (last)", f"page={last}"),
        ("sort by total, largest first", "sort=-total"),
        ("sort by customer", "sort=customer"),
        ("sort by status", "sort=status"),
        ("sort by number, oldest first", "sort=number"),
        ("status allocated + released", "status=allocated&status=released"),
        ("status delivered", "status=delivered"),
        ("dashboard: amazon, today", f"channel=amazon&from={today}&to={today}"),
        ("dashboard: on hold (any)", "hold=any"),
        ("hold fraud", "hold=fraud"),
        ("no hold", "hold=none"),
        ("dashboard: at risk", "at_risk=1"),
        ("placed in one week", "from=2026-10-01&to=2026-10-07"),
        ("reserved at WH-DFW", "location=WH-DFW"),
        ("reserved at ST-NYC, allocated", "location=ST-NYC&status=allocated"),
        ("search: order number", f"q=SO-{n_orders // 2:07d}"),
        ("search: external id", f"q={s.sample_external}"),
        ("search: e-mail", f"q={s.sample_email}"),
        ("search: name part", "q=okafor"),
        ("search: SKU", f"q={s.sample_sku}"),
        ("search: no match", "q=zzzz-nothing"),
        ("search SKU + status + sort total", f"q={s.sample_sku}&status=delivered&sort=-total"),
    ]


def time_case(db: Database, search: OrderSearch, repeat: int) -> tuple[float, int]:
    runs: list[float] = []
    total = 0
    for _ in range(repeat):
        started = time.perf_counter()
        res = search_orders(db, search, now=NOW, sla_hours=SLA_HOURS)
        runs.append((time.perf_counter() - started) * 1000)
        total = res.total
    return statistics.median(runs), total


def run_engine(
    label: str,
    make: Callable[[], tuple[Database, str]],
    args: argparse.Namespace,
    results: dict[str, dict[str, tuple[float, int]]],
) -> Seeded:
    db, url = make()
    try:
        migrate.upgrade(db)
        b.console.print(f"[bold]{label}[/]: seeding {args.orders:,} orders ...")
        seeded = seed(db, args.orders, args.customers, args.skus, args.seed)
        if args.no_indexes:
            drop_0003_indexes(db)
        analyse(db, url)
        with db.read() as conn:
            n = int(conn.execute(select(func.count()).select_from(table(Order))).scalar_one())
        b.console.print(
            f"  {n:,} orders, {seeded.lines:,} lines, {seeded.reservations:,} reservations, "
            f"{seeded.holds:,} holds in {seeded.seconds:.1f} s"
        )
        for name, qs in cases(seeded, args.orders):
            pairs = [tuple(p.split("=", 1)) for p in qs.split("&") if p]
            search, errors = parse_search((k, v) for k, v in pairs)
            assert not errors, errors
            search_orders(db, search, now=NOW, sla_hours=SLA_HOURS)  # warm the cache
            results.setdefault(name, {})[label] = time_case(db, search, args.repeat)
        return seeded
    finally:
        db.dispose()


def main() -> None:
    args = parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results: dict[str, dict[str, tuple[float, int]]] = {}
    labels: list[str] = []
    admin = b.PgAdmin() if "postgresql" in engines else None
    try:
        if admin is not None:
            label = f"PostgreSQL {admin.server_version.split()[0]}"
            labels.append(label)

            def make_pg() -> tuple[Database, str]:
                _, url = admin.create("orders_list")
                return Database(url, pool_size=2), url

            run_engine(label, make_pg, args, results)
        if "sqlite" in engines:
            tmp = tempfile.TemporaryDirectory(prefix="openoms-bench-")

            def make_sqlite() -> tuple[Database, str]:
                url = f"sqlite:///{Path(tmp.name) / 'orders.db'}"
                return Database(url), url

            labels.append("SQLite")
            try:
                run_engine("SQLite", make_sqlite, args, results)
            finally:
                tmp.cleanup()
    finally:
        if admin is not None:
            admin.close()

    out = Table(
        title=f"GET /orders through search_orders: median ms of {args.repeat} runs (count + page + enrich), "
        f"{args.orders:,} orders{' WITHOUT migration 0003 indexes' if args.no_indexes else ''}"
    )
    out.add_column("query")
    out.add_column("matches", justify="right")
    for label in labels:
        out.add_column(f"{label} ms", justify="right")
    for name, by_engine in results.items():
        matches = {str(v[1]) for v in by_engine.values()}
        out.add_row(
            name,
            " / ".join(f"{int(m):,}" for m in sorted(matches, key=int)),
            *(f"{by_engine[lab][0]:.1f}" if lab in by_engine else "-" for lab in labels),
        )
    b.console.print(out)
    b.console.print(f"machine: {b.machine()}")


if __name__ == "__main__":
    main()
