"""Channel intake: Shopify order webhooks per second through the channel inbox, against the
same orders captured directly, on a throw-away PostgreSQL database.

Each webhook is what ``POST /channels/{code}/webhooks/shopify`` does after reading the body:
HMAC check, store in the inbox, map Shopify's order to the canonical one, capture with
reservation, mark processed. The direct run captures the same canonical orders with
``services.orders.capture_order``. The ratio is what storing before mapping costs. A second pass
re-delivers every webhook: each must be recognised as a duplicate and change nothing.

    .venv/bin/python bench/channel_intake_bench.py                    # 1,000 orders, 8 threads
    .venv/bin/python bench/channel_intake_bench.py --orders 3000 --threads 16
"""

from __future__ import annotations

import argparse
import copy
import json
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchlib import PgAdmin, console, new_database
from openoms.adapters.channels import shopify
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.config import Settings
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, channel_connections, channel_webhooks, inventory, orders
from openoms.services.channel_inbox import _capture_command
from openoms.services.common import Actor

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "shopify_orders_create.json"
SECRET = "bench-shopify-secret"
SKUS = [f"SKU-{i:04d}" for i in range(200)]


def payloads(n: int, offset: int) -> list[dict[str, Any]]:
    base = json.loads(SAMPLE.read_text())
    out = []
    for i in range(n):
        order = copy.deepcopy(base)
        order["id"] = offset + i
        order["name"] = f"#{offset + i}"
        for j, li in enumerate(order["line_items"]):
            li["sku"] = SKUS[(i * 7 + j * 13) % len(SKUS)]
            li["id"] = (offset + i) * 10 + j
        out.append(order)
    return out


def seed(db: Database, settings: Settings) -> None:
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn,
            [dict(code="WH1", name="Warehouse", kind="warehouse", country="US", timezone="America/Chicago",
                  ships=True, priority=10)],
        )  # fmt: skip
        catalog.CHANNELS.upsert_many(conn, [dict(code="shopify", name="Shopify", kind="shopify")])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=s, name=s, list_price=199, currency="USD") for s in SKUS])
    inventory.change_stock(
        db, [inventory.StockChange(s, "WH1", LedgerEntryType.RECEIPT, 1_000_000, "bench") for s in SKUS], Actor("b")
    )
    channel_connections.set_connection(db, settings, "shopify", platform="shopify", webhook_secrets=[SECRET],
                                       actor=Actor("bench"))  # fmt: skip


def threaded(items: list[Any], threads: int, work: Any) -> float:
    q: queue.Queue[Any] = queue.Queue()
    for item in items:
        q.put(item)
    errors: list[BaseException] = []

    def run() -> None:
        while True:
            try:
                item = q.get_nowait()
            except queue.Empty:
                return
            try:
                work(item)
            except BaseException as exc:
                errors.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        console.print(f"[red]{len(errors)} error(s):[/] {errors[0]!r}")
        sys.exit(1)
    return len(items) / (time.perf_counter() - t0)


def count(db: Database, name: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    admin = PgAdmin()
    try:
        _, url = new_database(admin, "intake")
        db = Database(url, pool_size=args.threads * 2 + 2)
        settings = Settings(database_url=url, secret_key="intake-bench")
        seed(db, settings)
        webhook_rates, direct_rates, dup_rates = [], [], []
        for r in range(args.repeat):
            hooks = payloads(args.orders, 10_000_000 * (r + 1))
            bodies = [json.dumps(o).encode() for o in hooks]

            def deliver(body: bytes) -> None:
                headers = {"x-shopify-topic": "orders/create", "x-shopify-hmac-sha256": shopify.sign(body, SECRET)}
                result = channel_webhooks.receive_shopify(db, settings, "shopify", headers, body)
                if result["status"] != "processed":
                    raise RuntimeError(result)

            before = count(db, "orders")
            webhook_rates.append(threaded(bodies, args.threads, deliver))
            if count(db, "orders") - before != args.orders:
                console.print("[red]not one order per webhook[/]")
                sys.exit(1)
            dup_rates.append(threaded(bodies, args.threads, deliver_duplicate(db, settings)))
            if count(db, "orders") - before != args.orders:
                console.print("[red]a re-delivery made an order[/]")
                sys.exit(1)
            direct = payloads(args.orders, 10_000_000 * (r + 1) + 5_000_000)
            commands = [_capture_command(shopify.order_body(o, channel="shopify")) for o in direct]
            direct_rates.append(threaded(commands, args.threads, lambda c: orders.capture_order(db, c, Actor("b"))))
        w, d, u = statistics.median(webhook_rates), statistics.median(direct_rates), statistics.median(dup_rates)
        console.print(
            f"PostgreSQL {admin.server_version}: {args.orders} Shopify orders per run, {args.threads} threads"
        )
        console.print(f"webhook intake (HMAC, inbox, map, capture): median {w:,.0f} orders/s "
                      f"(runs: {', '.join(f'{x:,.0f}' for x in webhook_rates)})")  # fmt: skip
        console.print(f"direct capture of the same orders:        median {d:,.0f} orders/s "
                      f"(runs: {', '.join(f'{x:,.0f}' for x in direct_rates)})")  # fmt: skip
        console.print(f"intake / direct: {w / d:.2f}; re-deliveries recognised: median {u:,.0f}/s, no order made")
        db.dispose()
    finally:
        admin.close()


def deliver_duplicate(db: Database, settings: Settings) -> Any:
    def again(body: bytes) -> None:
        headers = {"x-shopify-topic": "orders/create", "x-shopify-hmac-sha256": shopify.sign(body, SECRET)}
        result = channel_webhooks.receive_shopify(db, settings, "shopify", headers, body)
        if not result["duplicate"]:
            raise RuntimeError(result)

    return again


if __name__ == "__main__":
    main()
