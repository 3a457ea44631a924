"""Real concurrent HTTP clients against a real server process on PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Location, Order, Product, StockLevel, table
from openoms.services import apikeys
from openoms.services.check import run_check
from tests.conftest import LiveServer, order_body, seed_basics

pytestmark = pytest.mark.postgres


def _burst(n: int, call: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """Start ``n`` clients together (a barrier) and collect their responses."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            try:
                results[i] = call(client, i)
            except Exception as exc:  # surfaced by the assertion below
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if not isinstance(r, httpx.Response)]
    assert not errors, errors[:3]
    return results


def _stock(db: Database, sku: str) -> list[tuple[str, int, int]]:
    """(location code, on hand, reserved) of one SKU."""
    s, p, loc = table(StockLevel), table(Product), table(Location)
    with db.read() as conn:
        rows = conn.execute(
            select(loc.c.code, s.c.on_hand, s.c.reserved)
            .join(p, p.c.id == s.c.product_id)
            .join(loc, loc.c.id == s.c.location_id)
            .where(p.c.sku == sku)
            .order_by(loc.c.code)
        ).all()
    return [(str(c), int(oh), int(rv)) for c, oh, rv in rows]


def _order_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table(Order))).scalar_one())


def test_fifty_clients_race_for_the_last_ten_units(live_pg_server: tuple[LiveServer, Database]) -> None:
    server, db = live_pg_server
    seed_basics(db, stock={("A", "WH1"): 10})
    _, key = apikeys.create_api_key(db, "race", ["orders:write"])
    headers = {"Authorization": f"Bearer {key}"}

    responses = _burst(
        50,
        lambda c, i: c.post(
            f"{server.base_url}/api/v1/orders",
            json=order_body([("A", 1)], external_order_id=f"race-{i}"),
            headers=headers,
        ),
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 10, 409: 40}, codes
    assert all(r.json()["error"]["code"] == "insufficient_stock" for r in responses if r.status_code == 409)
    assert _stock(db, "A") == [("WH1", 10, 10)]
    assert _order_count(db) == 10
    report = run_check(db)
    assert report.ok, report.problems


def test_twenty_copies_of_one_channel_order_create_one(live_pg_server: tuple[LiveServer, Database]) -> None:
    server, db = live_pg_server
    seed_basics(db, stock={("A", "WH1"): 100})
    _, key = apikeys.create_api_key(db, "dupes", ["orders:write"])
    headers = {"Authorization": f"Bearer {key}"}
    body = order_body([("A", 2)], external_order_id="SHOP-1001", channel="shopify")

    responses = _burst(20, lambda c, i: c.post(f"{server.base_url}/api/v1/orders", json=body, headers=headers))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 200: 19}, codes
    assert len({r.json()["id"] for r in responses}) == 1
    assert _order_count(db) == 1
    assert _stock(db, "A") == [("WH1", 100, 2)]
    assert run_check(db).ok


def test_twenty_copies_with_one_idempotency_key_create_one(live_pg_server: tuple[LiveServer, Database]) -> None:
    server, db = live_pg_server
    seed_basics(db, stock={("A", "WH1"): 100})
    _, key = apikeys.create_api_key(db, "idem", ["orders:write"])
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-me"}
    body = order_body([("A", 1)])  # no external id: only the key prevents duplicates

    responses = _burst(20, lambda c, i: c.post(f"{server.base_url}/api/v1/orders", json=body, headers=headers))
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 19}
    assert len({r.json()["id"] for r in responses}) == 1
    assert _order_count(db) == 1


def test_crossing_multi_line_orders_and_cancels_never_deadlock_or_oversell(
    live_pg_server: tuple[LiveServer, Database],
) -> None:
    """Orders name the same SKUs in opposite orders and cancels run alongside: rows are locked in
    sorted order, so no request fails with a deadlock and the books stay balanced."""
    server, db = live_pg_server
    seed_basics(db, stock={("A", "WH1"): 40, ("B", "WH1"): 40, ("C", "WH2"): 40, ("A", "WH2"): 15})
    _, key = apikeys.create_api_key(db, "mix", ["orders:write"])
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(3)
    baskets = [rng.sample([("A", 2), ("B", 1), ("C", 3)], k=rng.randint(1, 3)) for _ in range(40)]

    def call(c: httpx.Client, i: int) -> httpx.Response:
        r = c.post(f"{server.base_url}/api/v1/orders", json=order_body(baskets[i]), headers=headers)
        if r.status_code == 201 and i % 3 == 0:
            return c.post(
                f"{server.base_url}/api/v1/orders/{r.json()['id']}/cancel", json={"reason": "race"}, headers=headers
            )
        return r

    responses = _burst(40, call)
    assert {r.status_code for r in responses} <= {200, 201, 409}, server.log()
    report = run_check(db)
    assert report.ok, report.problems
