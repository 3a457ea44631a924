"""Shipments list benchmark: the back-office ``/shipments`` page (services.shipment_views) on
many shipments, on a fresh PostgreSQL database and on SQLite. Hand-run, never a test.

Seeds orders as bench/orders_list_bench.py does, then one fulfilment order and one shipment per
order with 1-3 packages in a realistic mix of tracking statuses (most delivered, some in transit,
a few exceptions), by multi-row INSERTs straight into the tables, then analyses. Each case goes
through ``shipment_views.list_shipments`` exactly as the page calls it; the median of several
runs is printed per engine. Rare statuses are the hard case: the newest-first scan must read
past many shipments to fill a page.

    .venv/bin/python bench/shipments_list_bench.py [--orders 50000] [--repeat 9] [--engines postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import select

import benchlib as b
from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import FulfilmentOrder, Location, Order, Shipment, ShipmentPackage, table
from openoms.domain.shipment_status import ShipmentStage
from openoms.services.shipment_views import ShipmentFilters, list_shipments
from orders_list_bench import NOW, _insert, analyse, seed

CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
WEEK = (dt.date(2026, 10, 1), dt.date(2026, 10, 7))
# tracking status of a package and how often it is seen (exception packages also have the alert open)
STATUS_MIX = (
    ("delivered", 0.80),
    ("in_transit", 0.12),
    ("out_for_delivery", 0.03),
    ("pre_transit", 0.035),
    ("exception", 0.01),
    ("returned_to_sender", 0.005),
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=50_000, help="orders (and shipments) to seed (default 50000)")
    p.add_argument("--repeat", type=int, default=9, help="runs of each case; the median is printed (default 9)")
    p.add_argument("--engines", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite")
    p.add_argument("--seed", type=int, default=5)
    return p.parse_args()


def seed_shipments(db: Database, rng: random.Random) -> tuple[int, str]:
    """One fulfilment order, one shipment and 1-3 packages per order; returns (packages, a tracking number)."""
    with db.read() as conn:
        orders = conn.execute(select(table(Order).c.id, table(Order).c.placed_at).order_by(table(Order).c.id)).all()
        locations = [int(i) for i in conn.execute(select(table(Location).c.id)).scalars()]
    fos, ships, pkgs = [], [], []
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    package_id = 0
    for o in orders:
        oid = int(o.id)
        shipped_at = o.placed_at + dt.timedelta(hours=rng.randint(2, 60))
        fos.append(
            {
                "id": oid,
                "order_id": oid,
                "location_id": rng.choice(locations),
                "status": "shipped",
                "released_by": "bench",
                "released_at": o.placed_at,
                "closed_at": shipped_at,
            }
        )
        carrier = rng.choice(CARRIERS)
        ships.append(
            {
                "id": oid,
                "fulfilment_order_id": oid,
                "order_id": oid,
                "carrier": carrier,
                "service_code": f"{carrier}-GROUND",
                "shipped_at": shipped_at,
                "created_by": "bench",
            }
        )
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            package_id += 1
            status = rng.choices(statuses, weights)[0]
            pkgs.append(
                {
                    "id": package_id,
                    "shipment_id": oid,
                    "tracking_number": f"1ZB{package_id:012d}",
                    "weight_grams": rng.randint(200, 9000),
                    "tracking_status": status,
                    "status_since": shipped_at,
                    "exception_open": status == "exception",
                    "exception_reason": "Delayed" if status == "exception" else None,
                    "exception_at": shipped_at if status == "exception" else None,
                }
            )
    _insert(db, table(FulfilmentOrder), fos)
    _insert(db, table(Shipment), ships)
    _insert(db, table(ShipmentPackage), pkgs)
    return len(pkgs), str(pkgs[len(pkgs) // 2]["tracking_number"])


def cases(sample_tracking: str, n_orders: int) -> list[tuple[str, ShipmentFilters, int | None]]:
    return [
        ("first page, newest first", ShipmentFilters(), None),
        ("middle page (keyset)", ShipmentFilters(), n_orders // 2),
        ("carrier UPS", ShipmentFilters(carrier="UPS"), None),
        ("location WH-DFW", ShipmentFilters(location="WH-DFW"), None),
        ("status delivered (common)", ShipmentFilters(stage=ShipmentStage.DELIVERED), None),
        ("status in transit", ShipmentFilters(stage=ShipmentStage.IN_TRANSIT), None),
        ("status exception (rare)", ShipmentFilters(stage=ShipmentStage.EXCEPTION), None),
        ("status returned (rarest)", ShipmentFilters(stage=ShipmentStage.RETURNED_TO_SENDER), None),
        (
            "shipped in one week",
            ShipmentFilters(shipped_from=dt.date(2026, 10, 1), shipped_to=dt.date(2026, 10, 7)),
            None,
        ),
        ("search: tracking number", ShipmentFilters(query=sample_tracking), None),
        ("search: order number", ShipmentFilters(query=f"SO-{n_orders // 3:07d}"), None),
        ("search: no match", ShipmentFilters(query="zzzz-nothing"), None),
    ]


def run_engine(
    label: str, make: Callable[[], tuple[Database, str]], args: argparse.Namespace, results: dict[str, dict[str, Any]]
) -> None:
    db, url = make()
    try:
        migrate.upgrade(db)
        b.console.print(f"[bold]{label}[/]: seeding {args.orders:,} orders and shipments ...")
        started = time.perf_counter()
        seed(db, args.orders, max(1000, args.orders // 3), 500, args.seed)
        packages, sample = seed_shipments(db, random.Random(args.seed))
        analyse(db, url)
        b.console.print(f"  {args.orders:,} shipments, {packages:,} packages in {time.perf_counter() - started:.1f} s")
        for name, filters, before in cases(sample, args.orders):
            list_shipments(db, filters, before_id=before, now=NOW)  # warm the cache
            runs = []
            shown = 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                shown = len(list_shipments(db, filters, before_id=before, now=NOW)["items"])
                runs.append((time.perf_counter() - t0) * 1000)
            results.setdefault(name, {})[label] = (statistics.median(runs), shown)
    finally:
        db.dispose()


def main() -> None:
    args = parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results: dict[str, dict[str, Any]] = {}
    labels: list[str] = []
    admin = b.PgAdmin() if "postgresql" in engines else None
    try:
        if admin is not None:
            label = f"PostgreSQL {admin.server_version.split()[0]}"
            labels.append(label)

            def make_pg() -> tuple[Database, str]:
                _, url = admin.create("shipments_list")
                return Database(url, pool_size=2), url

            run_engine(label, make_pg, args, results)
        if "sqlite" in engines:
            tmp = tempfile.TemporaryDirectory(prefix="openoms-bench-")

            def make_sqlite() -> tuple[Database, str]:
                url = f"sqlite:///{Path(tmp.name) / 'shipments.db'}"
                return Database(url), url

            labels.append("SQLite")
            try:
                run_engine("SQLite", make_sqlite, args, results)
            finally:
                tmp.cleanup()
    finally:
        if admin is not None:
            admin.close()
    out = Table(title=f"/shipments on {args.orders:,} shipments: median ms of {args.repeat} runs (rows shown)")
    out.add_column("case")
    for label in labels:
        out.add_column(label, justify="right")
    for name, per in results.items():
        out.add_row(name, *(f"{per[lbl][0]:.1f} ({per[lbl][1]})" if lbl in per else "—" for lbl in labels))
    b.console.print(out)
    b.console.print(b.machine())


if __name__ == "__main__":
    main()
