"""Flash sale: one SKU, 1,000 units, 5,000 buyers arriving at once through the real server.
Hand-run (``make bench-flash``), never a test.

Each run gets a fresh migrated PostgreSQL database: the demo's five shipping locations, the
units received through ``services.inventory`` (ledger rows and all), an API key, and
``python -m openoms serve --workers 2``. The server is warmed up on another SKU, then every
buyer opens its own connection and orders one unit, all at the same moment. Afterwards the
database must hold exactly 1,000 reserved units in 1,000 orders, nothing oversold, and
``openoms check`` must pass; the script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import orjson
from rich.table import Table
from sqlalchemy import text

import benchlib as b
from openoms.adapters.db.engine import Database
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, inventory

SKU = "FLASH-1"
WARM_SKU = "WARM-1"
SPLIT = (0.40, 0.25, 0.15, 0.10, 0.10)  # of the units, per location in benchlib.network() order


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=1_000, help="units of the SKU on sale (default 1000)")
    p.add_argument("--buyers", type=int, default=5_000, help="buyers, one order of one unit each (default 5000)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="most buyers in flight at once (default: all of them, each on its own connection)",
    )
    p.add_argument(
        "--one-location",
        action="store_true",
        help="all units at one location (default: spread over the 5 locations, 40/25/15/10/10 %%)",
    )
    p.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="sales, each on a fresh database; medians printed")
    args = p.parse_args(argv)
    args.concurrency = args.concurrency or args.buyers
    return args


def split_units(units: int, one_location: bool) -> list[int]:
    if one_location:
        return [units, 0, 0, 0, 0]
    parts = [int(units * s) for s in SPLIT]
    parts[0] += units - sum(parts)
    return parts


def seed(url: str, units: list[int]) -> str:
    """Network, the two SKUs and their stock through the project's services; returns an API key."""
    db = Database(url, pool_size=2)
    try:
        b.seed_network(db)
        for sku, name in ((SKU, "Limited sneaker drop"), (WARM_SKU, "Warm-up socks")):
            catalog.PRODUCTS.create(db, {"sku": sku, "name": name, "list_price": Decimal("120.00"), "currency": "USD"})
        codes = [str(loc["code"]) for loc in b.network()]
        changes = [
            inventory.StockChange(SKU, code, LedgerEntryType.RECEIPT, q, "flash sale stock", "FLASH")
            for code, q in zip(codes, units, strict=True)
            if q
        ]
        changes.append(inventory.StockChange(WARM_SKU, codes[0], LedgerEntryType.RECEIPT, 100_000, "warm-up"))
        inventory.change_stock(db, changes, b.BENCH_ACTOR)
        return b.create_api_key(db)
    finally:
        db.dispose()


def order(buyer: int, sku: str, tag: str) -> bytes:
    return orjson.dumps(
        {
            "channel": "web",
            "external_order_id": f"{tag}-{buyer}",
            "currency": "USD",
            "customer": {"email": f"buyer{buyer}@bench.example.com", "name": f"Buyer {buyer}"},
            "lines": [{"sku": sku, "quantity": 1, "unit_price": "120.00"}],
        }
    )


@dataclass
class Buy:
    status: int
    label: str
    started: float
    ended: float


async def post(port: int, headers: bytes, body: bytes) -> tuple[int, bytes]:
    """One request on a new connection, HTTP/1.1 by hand: light on the CPUs the server needs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(headers + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await (reader.readexactly(length) if length is not None else reader.read())
        return status, data
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def request_head(api_key: str) -> bytes:
    return (
        f"POST {b.ORDERS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\nContent-Length: "
    ).encode()


async def crowd(port: int, api_key: str, bodies: list[bytes], concurrency: int) -> tuple[list[Buy], float]:
    """Everyone at once (up to ``concurrency`` in flight); returns each buy and the start time."""
    head = request_head(api_key)
    gate = asyncio.Event()
    slots = asyncio.Semaphore(concurrency)

    async def buyer(body: bytes) -> Buy:
        await gate.wait()
        async with slots:
            started = time.perf_counter()
            try:
                status, data = await post(port, head, body)
            except Exception as exc:
                return Buy(0, f"{type(exc).__name__}: {exc}", started, time.perf_counter())
            ended = time.perf_counter()
        if status == 201:
            label = "201"
        elif status == 409:
            label = f"409 {orjson.loads(data)['error']['code']}"
        else:
            label = f"{status} {data[:200].decode(errors='replace')}"
        return Buy(status, label, started, ended)

    tasks = [asyncio.create_task(buyer(body)) for body in bodies]
    await asyncio.sleep(0.2)  # every task is parked on the gate
    t0 = time.perf_counter()
    gate.set()
    return list(await asyncio.gather(*tasks)), t0


@dataclass(frozen=True)
class Sale:
    accepted: int
    db_orders: int
    reserved: int
    outcomes: Counter[str]
    oversold: int
    check_problems: list[str]
    seconds: float
    sold_out_after: float
    p50: float
    p99: float
    p50_accepted: float
    p99_accepted: float
    errors: list[str]
    cpu: dict[str, float]

    @property
    def ok(self) -> bool:
        return (
            self.accepted == self.db_orders == self.reserved
            and self.oversold == 0
            and not self.check_problems
            and not self.errors
        )


def one_sale(admin: b.PgAdmin, rep: int, args: argparse.Namespace) -> Sale:
    name, url = b.new_database(admin, f"flash_{rep}")
    server = None
    try:
        api_key = seed(url, split_units(args.units, args.one_location))
        b.vacuum_analyze(url)
        server = b.Server(url, args.workers)
        # warm both workers up (threads, pools, prepared statements) on another SKU
        asyncio.run(crowd(server.port, api_key, [order(i, WARM_SKU, f"W{rep}") for i in range(300)], 32))
        bodies = [order(i, SKU, f"F{rep}") for i in range(args.buyers)]
        meter = b.CpuMeter(server.pids(), poll_seconds=0.2)
        done = threading.Event()

        def poll() -> None:
            # the server's pools open and close overflow connections during the sale: a backend
            # that exits between two looks would take its CPU time with it
            while not done.wait(0.2):
                meter.poll()

        poller = threading.Thread(target=poll)
        meter.start()
        poller.start()
        cpu0 = time.process_time()
        buys, t0 = asyncio.run(crowd(server.port, api_key, bodies, args.concurrency))
        done.set()
        poller.join()
        meter.stop()
        cpu = meter.breakdown(0.0)
        wall = (meter.stopped[0] - meter.started[0]) if meter.started and meter.stopped else 0.0
        cpu["clients"] = (time.process_time() - cpu0) / wall if wall else math.nan
        if "other" in cpu:
            cpu["other"] = max(0.0, cpu["other"] - cpu["clients"])
        server.stop()
        server = None
        books = b.audit_books(url)
        db = Database(url, pool_size=1)
        with db.read() as conn:
            db_orders = int(
                conn.execute(
                    text("SELECT count(DISTINCT order_id) FROM order_lines WHERE sku = :s"), {"s": SKU}
                ).scalar_one()
            )
            reserved = int(
                conn.execute(
                    text(
                        "SELECT coalesce(sum(s.reserved), 0) FROM stock_levels s "
                        "JOIN products p ON p.id = s.product_id WHERE p.sku = :s"
                    ),
                    {"s": SKU},
                ).scalar_one()
            )
        db.dispose()
    finally:
        if server is not None:
            server.stop()
        admin.drop(name)
    accepted_ends = sorted(x.ended - t0 for x in buys if x.status == 201)
    lat = [x.ended - x.started for x in buys]
    lat_ok = [x.ended - x.started for x in buys if x.status == 201]
    outcomes = Counter(x.label if x.status in (201, 409) else (x.label.split(":")[0] or "error") for x in buys)
    return Sale(
        accepted=len(accepted_ends),
        db_orders=db_orders,
        reserved=reserved,
        outcomes=outcomes,
        oversold=books.oversold_rows,
        check_problems=books.check_problems,
        seconds=max(x.ended for x in buys) - t0,
        sold_out_after=accepted_ends[-1] if accepted_ends else float("nan"),
        p50=b.percentile(lat, 50),
        p99=b.percentile(lat, 99),
        p50_accepted=b.percentile(lat_ok, 50),
        p99_accepted=b.percentile(lat_ok, 99),
        errors=[x.label for x in buys if x.status not in (201, 409)][:5],
        cpu=cpu,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    b.exit_on_sigterm()
    c = b.console
    admin = b.PgAdmin()
    units = split_units(args.units, args.one_location)
    c.rule("[bold]OpenOMS flash sale")
    c.print(f"machine: {b.machine()}; PostgreSQL {admin.server_version}")
    b.warn_if_busy()
    c.print(
        f"1 SKU, {args.units:,} units at {', '.join(str(u) for u in units if u)} per location; {args.buyers:,} buyers "
        f"of 1 unit, {args.concurrency:,} in flight at once, each on its own connection; "
        f"server --workers {args.workers}; {args.repeat} sale(s)"
    )
    sales: list[Sale] = []
    try:
        with b.progress_bar() as bar:
            task = bar.add_task("flash sales", total=args.repeat, info="")
            for rep in range(args.repeat):
                bar.update(task, info=f"sale {rep + 1}: seeding, serving, selling")
                sale = one_sale(admin, rep, args)
                sales.append(sale)
                bar.update(task, advance=1, info=f"sale {rep + 1}: {sale.accepted:,} accepted")
                report(rep, sale, args)
    finally:
        admin.close()
    return summarise(sales, args)


def report(rep: int, s: Sale, args: argparse.Namespace) -> None:
    c = b.console
    verdict = "[green]exact[/]" if s.ok and s.accepted == args.units else "[red]WRONG[/]"
    c.print(
        f"  sale {rep + 1}: {verdict}: {s.accepted:,} accepted (HTTP 201), {s.db_orders:,} orders and "
        f"{s.reserved:,} units reserved in the database; oversold rows {s.oversold}; check "
        f"{'OK' if not s.check_problems else f'{len(s.check_problems)} problem(s)'}"
    )
    c.print(
        f"    {args.buyers / s.seconds:,.0f} requests/s, all answered in {s.seconds:.2f} s, sold out after "
        f"{s.sold_out_after:.2f} s; latency p50 {s.p50 * 1000:,.0f} ms, p99 {s.p99 * 1000:,.0f} ms "
        f"(accepted: p50 {s.p50_accepted * 1000:,.0f} ms, p99 {s.p99_accepted * 1000:,.0f} ms)"
    )
    c.print(f"    [dim]{', '.join(f'{k}: {v:,}' for k, v in sorted(s.outcomes.items()))}[/]")
    split = " + ".join(f"{v:.2f}" for k, v in s.cpu.items() if k.startswith("server process"))
    busy = ", ".join(
        f"{k} {v:.2f}" + (f" ({split})" if k == "server" and split else "")
        for k, v in s.cpu.items()
        if not k.startswith("server process")
    )
    c.print(f"    [dim]cores busy during the sale: {busy}[/]")
    for e in s.errors:
        c.print(f"    [red]error:[/] {e}")
    for p in s.check_problems[:10]:
        c.print(f"    [red]check:[/] {p}")


def summarise(sales: list[Sale], args: argparse.Namespace) -> int:
    c = b.console
    med = b.median
    table = Table(title=f"Medians of {len(sales)} sale(s)", title_justify="left")
    for col in ("accepted", "oversold", "requests/s", "sold out after s", "p50 ms", "p99 ms", "accepted p99 ms"):
        table.add_column(col, justify="right")
    table.add_row(
        " / ".join(f"{s.accepted:,}" for s in sales),
        str(sum(s.oversold for s in sales)),
        f"{med([args.buyers / s.seconds for s in sales]):,.0f}",
        f"{med([s.sold_out_after for s in sales]):.2f}",
        f"{med([s.p50 for s in sales]) * 1000:,.0f}",
        f"{med([s.p99 for s in sales]) * 1000:,.0f}",
        f"{med([s.p99_accepted for s in sales]) * 1000:,.0f}",
    )
    c.print(table)
    bad = [i + 1 for i, s in enumerate(sales) if not (s.ok and s.accepted == args.units)]
    if bad:
        c.print(f"[red]sale(s) {', '.join(map(str, bad))}: not exactly {args.units:,} accepted, or oversold[/]")
        return 1
    c.print(f"every sale: exactly {args.units:,} accepted, 0 oversold, openoms check OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
