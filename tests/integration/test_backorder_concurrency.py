"""Backorders under real concurrency on PostgreSQL: many captures backordering one SKU while
receipts arrive. Afterwards the queue was served first come first served, nothing is
oversold, no unit is lost, and free stock never sits beside a waiting unit."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Backorder, OrderLine, Reservation, StockLevel, table
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, inbound, inventory, orders
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import seed_basics

pytestmark = pytest.mark.postgres

T = Actor("tests")
CAPTURES = 24
RECEIPTS = 8
UNITS_PER_RECEIPT = 3


def _run_all(jobs: list[Any]) -> list[Any]:
    """Start every job at once (a barrier), each in its own thread with its own connection."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_backorders_and_receipts_serve_the_queue_in_order(pg_url: str) -> None:
    db = Database(pg_url, pool_size=CAPTURES + RECEIPTS + 2)
    try:
        seed_basics(db)
        with db.begin() as conn:
            catalog.PRODUCTS.upsert_many(
                conn, [dict(sku="A", name="Product A", list_price=10, currency="USD", backorder_policy="backorder")]
            )
            catalog.CHANNELS.upsert_many(conn, [dict(code="web", name="Web", kind="web", accepts_backorders=True)])
        eta = dt.datetime.now(dt.UTC) + dt.timedelta(days=14)
        lot = inbound.expect_inbound(
            db, sku="A", location="WH1", quantity=200, expected_at=eta, kind="purchase_order", reference="PO-1", actor=T
        )
        rng = random.Random(7)
        quantities = [rng.randint(1, 4) for _ in range(CAPTURES)]

        def capture(i: int) -> Any:
            cmd = orders.CaptureOrder(
                channel="web",
                currency="USD",
                external_order_id=f"c-{i}",
                lines=[orders.LineInput("A", quantities[i], Decimal("10"))],
            )
            return orders.capture_order(db, cmd, T)

        def receive(i: int) -> Any:
            return inventory.change_stock(
                db, [inventory.StockChange("A", "WH1", LedgerEntryType.RECEIPT, UNITS_PER_RECEIPT, f"r{i}")], T
            )

        jobs: list[Any] = [lambda i=i: capture(i) for i in range(CAPTURES)]
        jobs += [lambda i=i: receive(i) for i in range(RECEIPTS)]
        rng.shuffle(jobs)
        results = _run_all(jobs)
        # Under heavy contention a capture may give up after its retries (409 stock_conflict,
        # "send the order again", as any capture may); it must then have left nothing behind.
        failures = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(f, orders.DomainError) and f.code == "stock_conflict" for f in failures), failures[:3]
        captured = sum(1 for r in results if isinstance(r, orders.CaptureResult))
        assert captured >= CAPTURES - 2 and captured + len(failures) == CAPTURES

        report = run_check(db)
        assert report.ok, report.problems  # no oversell, balances = ledger, reserved = reservations

        bo, ln, res, st = table(Backorder), table(OrderLine), table(Reservation), table(StockLevel)
        with db.read() as conn:
            lines = conn.execute(select(ln.c.id, ln.c.order_id, ln.c.quantity, ln.c.status)).all()
            reserved = dict(
                conn.execute(select(res.c.order_line_id, func.sum(res.c.quantity)).group_by(res.c.order_line_id)).all()
            )
            claims = conn.execute(
                select(
                    bo.c.id,
                    bo.c.order_line_id,
                    bo.c.inbound_id,
                    bo.c.quantity,
                    bo.c.quantity_allocated,
                    bo.c.quantity_cancelled,
                ).order_by(bo.c.id)
            ).all()
            on_hand, reserved_total = conn.execute(select(st.c.on_hand, st.c.reserved)).one()
        assert len(lines) == captured
        waiting: dict[int, int] = defaultdict(int)
        for c in claims:
            assert c.inbound_id == lot["id"] and c.quantity_cancelled == 0
            waiting[int(c.order_line_id)] += c.quantity - c.quantity_allocated
        # Every unit is accounted for: reserved now or waiting, never both, never neither.
        for line in lines:
            assert int(reserved.get(line.id, 0)) + waiting[int(line.id)] == line.quantity, line
            assert line.status == ("backordered" if waiting[int(line.id)] else "allocated")
        assert on_hand == RECEIPTS * UNITS_PER_RECEIPT
        # The lot was never promised beyond its size.
        assert sum(c.quantity for c in claims) <= lot["quantity"]
        # First come, first served: once one backorder still waits, every later one waits whole.
        first_waiting = next((i for i, c in enumerate(claims) if c.quantity > c.quantity_allocated), len(claims))
        assert all(c.quantity_allocated == c.quantity for c in claims[:first_waiting])
        assert all(c.quantity_allocated == 0 for c in claims[first_waiting + 1 :])
        # Stock never sits free while somebody waits for it.
        if first_waiting < len(claims):
            assert on_hand == reserved_total
        assert len(claims) > 0  # the race was real: orders were backordered
    finally:
        db.dispose()


def _setup(db: Database, lot_size: int) -> dict[str, Any]:
    seed_basics(db)
    with db.begin() as conn:
        catalog.PRODUCTS.upsert_many(
            conn, [dict(sku="A", name="Product A", list_price=10, currency="USD", backorder_policy="backorder")]
        )
        catalog.CHANNELS.upsert_many(conn, [dict(code="web", name="Web", kind="web", accepts_backorders=True)])
    eta = dt.datetime.now(dt.UTC) + dt.timedelta(days=14)
    return inbound.expect_inbound(
        db,
        sku="A",
        location="WH1",
        quantity=lot_size,
        expected_at=eta,
        kind="purchase_order",
        reference="PO-1",
        actor=T,
    )


def _order(i: int, qty: int) -> orders.CaptureOrder:
    return orders.CaptureOrder(
        channel="web", currency="USD", external_order_id=f"o-{i}", lines=[orders.LineInput("A", qty, Decimal("10"))]
    )


def _between_plan_and_lock(monkeypatch: pytest.MonkeyPatch, other: Any) -> list[int]:
    """Run ``other`` (on its own connection, committed) once, after a capture planned its
    backorder from its snapshot and before it locks the stock rows: the race, made certain."""
    real = orders._reserve_and_claim
    calls: list[int] = []
    errors: list[Exception] = []

    def run_other() -> None:
        try:
            other()
        except Exception as exc:  # surfaced in the capturing thread
            errors.append(exc)

    def racing(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # only the first capture to get here races, once
            t = threading.Thread(target=run_other)
            t.start()
            t.join(timeout=30)
            assert not t.is_alive(), "the racing command waited for the capture: it was not a race"
            assert not errors, errors
        real(*args, **kwargs)

    monkeypatch.setattr(orders, "_reserve_and_claim", racing)
    return calls


def test_stock_received_after_the_plan_is_taken_from_the_shelf(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(pg_url, pool_size=4)
    try:
        _setup(db, 10)
        receipt = lambda: inventory.change_stock(  # noqa: E731
            db, [inventory.StockChange("A", "WH1", LedgerEntryType.RECEIPT, 5, "early")], T
        )
        calls = _between_plan_and_lock(monkeypatch, receipt)
        result = orders.capture_order(db, _order(1, 3), T)
        order = orders.get_order(db, result.order_id)
        # The first plan lost the race (its order rolled back); the second took the shelf.
        assert calls == [1] and result.order_id == 2
        assert order["status"] == "allocated" and order["lines"][0]["quantity_backordered"] == 0
        assert order["lines"][0]["quantity_reserved"] == 3
        assert run_check(db).ok
    finally:
        db.dispose()


def test_a_lot_claimed_after_the_plan_is_not_promised_twice(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(pg_url, pool_size=4)
    try:
        _setup(db, 5)
        first: list[Any] = []
        calls = _between_plan_and_lock(monkeypatch, lambda: first.append(orders.capture_order(db, _order(1, 4), T)))
        with pytest.raises(orders.DomainError) as refused:
            orders.capture_order(db, _order(2, 3), T)  # planned on 5 free units; only 1 is left
        assert refused.value.code == "insufficient_stock"
        assert len(calls) >= 2 and first and first[0].created  # the outer capture planned again
        bo = table(Backorder)
        with db.read() as conn:
            assert conn.execute(select(func.sum(bo.c.quantity))).scalar_one() == 4
    finally:
        db.dispose()
