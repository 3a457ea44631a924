"""Order changes under real concurrency on PostgreSQL: quantity increases racing captures for
the last units (never oversold, each loser a clear 409), and several edits of one order at
once (serialised by the order lock: with an expected version one wins and the others get 409,
without one each applies on top of the last)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import OutboxMessage, StockLevel, table
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import order_changes, orders
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import seed_basics

pytestmark = pytest.mark.postgres

T = Actor("tests")


def _run_all(jobs: list[Any]) -> list[Any]:
    """Start every job at once (a barrier), each in its own thread with its own connection."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # reported by the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _capture(db: Database, ext: str, qty: int) -> int:
    cmd = orders.CaptureOrder(
        channel="web", currency="USD", external_order_id=ext, lines=[orders.LineInput("A", qty, Decimal("10"))]
    )
    return orders.capture_order(db, cmd, T).order_id


def test_quantity_increases_racing_captures_never_oversell(pg_url: str) -> None:
    db = Database(pg_url, pool_size=30)
    try:
        seed_basics(db, stock={("A", "WH1"): 20})
        edited = [_capture(db, f"e-{i}", 1) for i in range(8)]  # 8 reserved, 12 left
        jobs: list[Any] = [
            (lambda oid=oid: order_changes.change_line(db, oid, 1, quantity=3, reason="two more", actor=T))
            for oid in edited
        ]
        jobs += [(lambda i=i: _capture(db, f"c-{i}", 2)) for i in range(8)]
        results = _run_all(jobs)
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        for exc in lost:
            assert isinstance(exc, DomainError), repr(exc)
            assert exc.code in (ErrorCode.INSUFFICIENT_STOCK, ErrorCode.STOCK_CONFLICT), exc
        # every winner took 2 more units, 12 were free: exactly 6 winners, 10 losers
        assert (len(won), len(lost)) == (6, 10)
        with db.read() as conn:
            on_hand, reserved = conn.execute(select(table(StockLevel).c.on_hand, table(StockLevel).c.reserved)).one()
        assert (on_hand, reserved) == (20, 20)
        changed = [r for r in won if isinstance(r, order_changes.ChangeResult)]
        for r in changed:
            assert orders.get_order(db, r.order_id)["lines"][0]["quantity_reserved"] == 3
        for oid in set(edited) - {r.order_id for r in changed}:  # the losers' orders are as they were
            o = orders.get_order(db, oid)
            assert (o["lines"][0]["quantity"], o["lines"][0]["quantity_reserved"], o["version"]) == (1, 1, 1)
        report = run_check(db)
        assert report.ok, report.problems
    finally:
        db.dispose()


def test_concurrent_edits_of_one_order(pg_url: str) -> None:
    db = Database(pg_url, pool_size=20)
    try:
        seed_basics(db, stock={("A", "WH1"): 100})
        oid = _capture(db, "x", 1)
        # with the version read before: exactly one wins, the rest are stale
        jobs = [
            (lambda q=q: order_changes.change_line(db, oid, 1, quantity=q, reason="edit", actor=T, expected_version=1))
            for q in range(2, 10)
        ]
        results = _run_all(jobs)
        won = [r for r in results if isinstance(r, order_changes.ChangeResult)]
        assert len(won) == 1, results
        assert all(isinstance(r, DomainError) and r.code == ErrorCode.VERSION_CONFLICT for r in results if r not in won)
        o = orders.get_order(db, oid)
        assert o["version"] == 2 and o["lines"][0]["quantity_reserved"] == o["lines"][0]["quantity"]
        # without one: each applies on top of the last, one at a time (+1 unit each)
        jobs = [(lambda: order_changes.add_line(db, oid, sku="A", quantity=1, reason="add", actor=T)) for _ in range(6)]
        results = _run_all(jobs)
        assert all(isinstance(r, order_changes.ChangeResult) for r in results), results
        assert sorted(r.version for r in results) == list(range(3, 9))
        o = orders.get_order(db, oid)
        assert [ln["line_number"] for ln in o["lines"]] == list(range(1, 8))
        units = sum(ln["quantity_reserved"] for ln in o["lines"])
        assert o["subtotal"] == Decimal(units * 10)
        with db.read() as conn:
            events = conn.execute(
                select(table(OutboxMessage).c.id).where(table(OutboxMessage).c.event_type == "order.changed")
            ).all()
        assert len(events) == 7
        report = run_check(db)
        assert report.ok, report.problems
    finally:
        db.dispose()
