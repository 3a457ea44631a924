"""Refunds under real concurrency on PostgreSQL: eight refunds at once on one order, each in its
own thread with its own connection, never give back more than was captured; the ones that fit
succeed, the others are refused with nothing changed, and the books reconcile."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Payment, Refund, table
from openoms.domain.errors import DomainError
from openoms.services import orders, payments
from openoms.services.common import Actor
from tests.conftest import seed_basics
from tests.integration.test_backorder_concurrency import _run_all

pytestmark = pytest.mark.postgres

T = Actor("tests")
D = Decimal
THREADS = 8


def _captured(db: Database, ext: str, amount: str) -> int:
    cmd = orders.CaptureOrder(
        channel="web",
        currency="USD",
        external_order_id=ext,
        lines=[orders.LineInput(sku="A", quantity=1, unit_price=D(amount))],
    )
    oid = orders.capture_order(db, cmd, T).order_id
    p = payments.authorize_payment(db, oid, provider="test", payment_method="test_ok", actor=T, idempotency_key="a")
    payments.capture_payment(db, p["id"], D(amount), actor=T, idempotency_key="c", final=True)
    return oid


def test_eight_concurrent_refunds_never_exceed_what_was_captured(pg_url: str) -> None:
    db = Database(pg_url, pool_size=THREADS + 2)
    try:
        seed_basics(db, stock={("A", "WH1"): 10})
        oid = _captured(db, "C-1", "100.00")
        # eight refunds of 30.00 on 100.00 captured: exactly three fit
        results = _run_all(
            [
                (
                    lambda i=i: payments.refund(
                        db, oid, D("30.00"), reason=f"r{i}", kind="appeasement", actor=T, idempotency_key=f"k{i}"
                    )
                )
                for i in range(THREADS)
            ]
        )
        ok = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, DomainError)]
        assert len(ok) == 3 and len(refused) == THREADS - 3, results
        assert all(r["status"] == "succeeded" for r in ok)
        assert all(e.errors[0].field == "amount" for e in refused)
        with db.read() as conn:
            pay = conn.execute(select(table(Payment))).one()
            refunds = conn.execute(select(table(Refund))).all()
        assert pay.amount_refunded == D("90.00") and pay.amount_refund_pending == 0
        assert pay.amount_refunded <= pay.amount_captured
        assert sum(r.amount for r in refunds) == D("90.00") and len(refunds) == 3

        # the same key from eight threads at once: one refund
        same = _run_all(
            [
                (
                    lambda: payments.refund(
                        db, oid, D("10.00"), reason="dup", kind="appeasement", actor=T, idempotency_key="same"
                    )
                )
                for _ in range(THREADS)
            ]
        )
        assert {r["id"] for r in same if isinstance(r, dict)} and all(isinstance(r, dict) for r in same), same
        assert len({r["id"] for r in same}) == 1
        listed = payments.list_payments(db, oid)
        assert listed["refunded"] == D("100.00") and listed["refundable"] == 0 and listed["net_paid"] == 0
        assert listed["payment_status"] == "refunded"
    finally:
        db.dispose()
