"""Webhook deliveries per second to a local receiver: ``services.webhooks.deliver_due``.

On a throw-away PostgreSQL database: one subscription to ``*``, ``--events`` outbox events over
``--orders`` orders (so ordering per order is in play), fanned out by the worker's consumer
(timed too); then, per repeat, the deliveries are reset to pending and sent by ``--workers``
threads (each its own ``deliver_due`` loop, as separate worker processes would be) to an HTTP
receiver on 127.0.0.1 that answers 200 at once. Prints deliveries/s (median of ``--repeat``)
and checks every event arrived exactly once per repeat and in order per order.

    .venv/bin/python bench/webhooks_bench.py                     # 2,000 events, 1 and 4 workers
    .venv/bin/python bench/webhooks_bench.py --events 5000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import update

from benchlib import PgAdmin, console, new_database
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue
from openoms.adapters.db.tables import WebhookDelivery, table
from openoms.config import Settings
from openoms.services import webhooks
from openoms.services.common import Actor, utcnow
from openoms.worker import Worker

deliveries_t = table(WebhookDelivery)


class Receiver:
    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection per sending worker

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                doc = json.loads(body)
                with receiver.lock:
                    receiver.seen.append((int(doc["data"]["order"]["id"]), doc["id"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(db: Database, settings: Settings, receiver: Receiver, workers: int) -> float:
    with db.begin() as conn:
        conn.execute(update(deliveries_t).values(status="pending", attempts=0, next_attempt_at=utcnow()))
    receiver.seen.clear()
    sent: list[int] = []
    start = threading.Barrier(workers + 1)

    def work() -> None:
        start.wait()
        total = 0
        while True:
            n = webhooks.deliver_due(db, settings, batch=50).total
            total += n
            if n == 0:
                if not [s for s in webhooks.delivery_counts(db).items() if s[0] != "delivered" and s[1]]:
                    break
                time.sleep(0.005)  # the rest waits behind another worker's delivery of its order
        sent.append(total)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    counts = Counter(e for _, e in receiver.seen)
    if set(counts.values()) != {1} or sum(sent) != len(counts):
        console.print(f"[red]not exactly once:[/] {counts.most_common(3)}")
        sys.exit(1)
    return len(counts) / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    admin = PgAdmin()
    receiver = Receiver()
    try:
        _, url = new_database(admin, "webhooks")
        db = Database(url, pool_size=max(args.workers) * 2 + 2)
        settings = Settings(database_url=url, secret_key="webhooks-bench")
        webhooks.create_subscription(
            db, settings, name="bench", url=receiver.url, event_types=["*"], actor=Actor("bench")
        )
        with db.begin() as conn:
            for i in range(args.events):
                o = i % args.orders + 1
                enqueue(conn, "order.placed", "order", str(o), {"order": {"id": o}, "n": i})
        t0 = time.perf_counter()
        Worker(db, settings, consumers=[webhooks.WebhookFanout()], jobs=[], batch=200).drain()
        fan = args.events / (time.perf_counter() - t0)
        console.print(f"PostgreSQL {admin.server_version}: {args.events} events over {args.orders} orders")
        console.print(f"fan-out (outbox consumer): {fan:,.0f} events/s")
        for w in args.workers:
            rates = [run(db, settings, receiver, w) for _ in range(args.repeat)]
            console.print(
                f"{w} worker(s): median {statistics.median(rates):,.0f} deliveries/s "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}); each event exactly once"
            )
        db.dispose()
    finally:
        receiver.close()
        admin.close()


if __name__ == "__main__":
    main()
