"""How long a release run takes: ``services.waves.release_due_waves`` over many allocated orders.

Seeds the capture benchmark's catalogue and network on a throw-away PostgreSQL database,
captures ``--orders`` orders through the capture service (routed by the engine over five
locations), then, per repeat, on a fresh copy of that database: sets every location to
``automatic`` and times one ``release_due_waves`` (every order's part at every location released
in one run per location), then a second run, which finds nothing left. A second case gives each
location a daily capacity of half its waiting units and times the capacity cut. Prints the
median of ``--repeat`` runs; checks the books (``openoms check``) and that every reservation was
handed over exactly once.

    .venv/bin/python bench/waves_bench.py                 # 5,000 orders, 3 repeats
    .venv/bin/python bench/waves_bench.py --orders 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import func, select, update

from benchlib import PgAdmin, console, new_database, popularity_order, seed_catalogue
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import FulfilmentLine, FulfilmentOrder, Location, Reservation, table
from openoms.domain.errors import DomainError
from openoms.services import orders, waves
from openoms.services.check import run_check
from openoms.services.common import Actor

ADDRESSES = [
    {"line1": "1 Main St", "city": "Edison", "region": "NJ", "postal_code": "08817", "country": "US"},
    {"line1": "1 Market St", "city": "San Francisco", "region": "CA", "postal_code": "94105", "country": "US"},
    {"line1": "233 S Wacker Dr", "city": "Chicago", "region": "IL", "postal_code": "60606", "country": "US"},
    {"line1": "1 Elm St", "city": "Dallas", "region": "TX", "postal_code": "75201", "country": "US"},
    {"line1": "1 Peachtree St", "city": "Atlanta", "region": "GA", "postal_code": "30303", "country": "US"},
]


def capture(db: Database, n: int, seed: int) -> int:
    rng = random.Random(seed)
    skus = popularity_order(2_000, seed)[:300]
    bodies = [
        orders.CaptureOrder(
            channel="web",
            currency="USD",
            external_order_id=f"WB-{i}",
            shipping_address=rng.choice(ADDRESSES),
            lines=[
                orders.LineInput(sku, rng.randint(1, 2), Decimal("10.00"))
                for sku in rng.sample(skus, rng.choice((1, 1, 2, 3)))
            ],
        )
        for i in range(n)
    ]
    actor = Actor("bench")

    def one(body: orders.CaptureOrder) -> int:
        try:
            orders.capture_order(db, body, actor)
            return 1
        except DomainError:
            return 0

    with ThreadPoolExecutor(16) as pool:
        return sum(pool.map(one, bodies))


def handed_over_once(db: Database) -> bool:
    res, fl = table(Reservation), table(FulfilmentLine)
    with db.read() as conn:
        dupes = conn.execute(select(fl.c.reservation_id).group_by(fl.c.reservation_id).having(func.count() > 1)).first()
        left = conn.execute(
            select(func.count())
            .select_from(res.outerjoin(fl, fl.c.reservation_id == res.c.id))
            .where(res.c.quantity > 0, fl.c.id.is_(None))
        ).scalar_one()
    return dupes is None and left == 0


def run_case(
    admin: PgAdmin, template: str, label: str, capacity_half: bool, now: dt.datetime
) -> tuple[float, float, int]:
    _, url = admin.create(label.replace(" ", "_") + f"_{time.monotonic_ns() % 10**6}", template=template)
    db = Database(url, pool_size=4)
    try:
        loc = table(Location)
        with db.begin() as conn:
            conn.execute(update(loc).values(release_mode="automatic", daily_capacity=None))
        if capacity_half:
            with db.read() as conn:
                waiting = {code: o["waiting_units"] for o in waves.overview(db, now) for code in [o["location"]]}
            with db.begin() as conn:
                for code, units in waiting.items():
                    conn.execute(update(loc).where(loc.c.code == code).values(daily_capacity=max(units // 2, 1)))
        started = time.perf_counter()
        released = waves.release_due_waves(db, now)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = waves.release_due_waves(db, now + dt.timedelta(seconds=1))
        second = time.perf_counter() - started
        report = run_check(db)
        if not report.ok:
            console.print(f"[red]openoms check failed:[/] {report.problems[:3]}")
            sys.exit(1)
        if not capacity_half and (again or not handed_over_once(db)):
            console.print("[red]a reservation was not handed over exactly once[/]")
            sys.exit(1)
        with db.read() as conn:
            fos = conn.execute(select(func.count()).select_from(table(FulfilmentOrder))).scalar_one()
        if fos != released:
            console.print(f"[red]{released} reported, {fos} fulfilment orders exist[/]")
            sys.exit(1)
        return first, second, released
    finally:
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    admin = PgAdmin()
    try:
        name, url = new_database(admin, "waves_template")
        db = Database(url, pool_size=20)
        seed_catalogue(db, 2_000, 1.0, args.seed, lambda *_: None)
        started = time.perf_counter()
        placed = capture(db, args.orders, args.seed)
        console.print(f"captured {placed:,} of {args.orders:,} orders in {time.perf_counter() - started:.1f} s")
        db.dispose()
        now = dt.datetime.now(dt.UTC)
        for label, half in (("all released", False), ("capacity half", True)):
            runs = [run_case(admin, name, label, half, now) for _ in range(args.repeat)]
            first = statistics.median(r[0] for r in runs)
            second = statistics.median(r[1] for r in runs)
            fos = runs[0][2]
            console.print(
                f"{label:>14}: {fos:,} fulfilment orders in {first:.2f} s median of {args.repeat} "
                f"({fos / first:,.0f} FO/s; runs {', '.join(f'{r[0]:.2f}' for r in runs)} s); "
                f"second run {second * 1000:.0f} ms"
            )
    finally:
        admin.close()


if __name__ == "__main__":
    main()
