"""Payments on SQLite and PostgreSQL: authorise (decline → payment hold → new card → released),
capture at shipment (partial, then final), refunds (refused above refundable, idempotent, a failed
refund gives the room back), collect, reconcile after a cancellation, provider events (de-dup,
dispute), and the worker retrying a capture the provider could not take."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base, OutboxMessage, Payment, PaymentTransaction, Refund, table
from openoms.adapters.payments import registry
from openoms.adapters.payments.base import GatewayEvent, GatewayEventKind, GatewayResult, GatewayUnavailable
from openoms.adapters.payments.test import TestGateway
from openoms.config import Settings
from openoms.domain import fulfillment as fx
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import fulfillment, orders, payments
from openoms.services.common import Actor
from openoms.services.notifications import OutboxEvent
from openoms.worker import Worker
from tests.conftest import seed_basics

T = Actor("tests")
D = Decimal
SETTINGS = Settings()


def _order(db: Database, lines: list[tuple[str, int, str]], *, shipping: str = "0", ext: str = "P-1") -> int:
    cmd = orders.CaptureOrder(
        channel="web",
        currency="USD",
        external_order_id=ext,
        lines=[
            orders.LineInput(sku=s, quantity=q, unit_price=D(p), tax=D(p) * q / 10)  # 10% tax per line
            for s, q, p in lines
        ],
        shipping_total=D(shipping),
    )
    return orders.capture_order(db, cmd, T).order_id


def _holds(db: Database, order_id: int) -> list[str]:
    return [h["hold_type"] for h in orders.get_order(db, order_id)["holds"] if h["active"]]


def _ship(db: Database, fo_id: int, tracking: str, *lines: tuple[int, int]) -> int:
    out = fulfillment.ship(
        db, fo_id, carrier="UPS", service_code=None, packages=[fx.PackageInput(tracking, None, list(lines))], actor=T
    )
    return int(out["id"])


def _count(db: Database, model: type[Base]) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table(model))).scalar_one())


def _state(db: Database) -> tuple[Any, ...]:
    with db.read() as conn:
        pays = conn.execute(select(table(Payment)).order_by(table(Payment).c.id)).all()
    return (
        [tuple(p) for p in pays],
        _count(db, PaymentTransaction),
        _count(db, Refund),
        _count(db, OutboxMessage),
    )


def test_decline_holds_the_order_a_new_card_releases_it_then_release_to_fulfilment(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 2, "10.00")], shipping="5.00")  # 20 + 2 tax + 5 shipping

    declined = payments.authorize_payment(
        db, oid, provider="test", payment_method="test_decline", actor=T, idempotency_key="k1"
    )
    assert declined["status"] == "failed" and declined["amount_requested"] == D("27.00")
    assert declined["review_reason"] and "card_declined" in declined["review_reason"]
    assert _holds(db, oid) == ["payment"]
    assert orders.get_order(db, oid)["payment_status"] == "failed"
    assert [p["id"] for p in payments.review_queue(db)] == [declined["id"]]
    with pytest.raises(DomainError) as held:
        fulfillment.release_order(db, oid, T)
    assert held.value.code == ErrorCode.HOLD_CONFLICT

    again = payments.authorize_payment(
        db, oid, provider="test", payment_method="test_decline", actor=T, idempotency_key="k1"
    )
    assert again["id"] == declined["id"] and _count(db, Payment) == 1  # same key: the first answer

    ok = payments.authorize_payment(db, oid, provider="test", payment_method="test_ok", actor=T, idempotency_key="k2")
    assert ok["status"] == "authorized" and ok["amount_authorized"] == D("27.00")
    assert ok["reference"].startswith("tpi_test_ok_")
    assert _holds(db, oid) == []
    assert payments.review_queue(db) == []  # the decline is answered by the new card
    order = orders.get_order(db, oid)
    assert order["payment_status"] == "authorized"
    kinds = [e["event_type"] for e in order["timeline"]]
    assert kinds[-4:] == ["payment.failed", "order.hold_placed", "order.hold_released", "payment.authorized"]
    assert len(fulfillment.release_order(db, oid, T)) == 1


def test_requires_action_keeps_the_hold_until_the_provider_says_authorised(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 1, "10.00")])
    p = payments.authorize_payment(
        db, oid, provider="test", payment_method="test_requires_action", actor=T, idempotency_key="k"
    )
    assert p["status"] == "requires_action" and _holds(db, oid) == ["payment"]
    assert orders.get_order(db, oid)["payment_status"] == "pending"
    event = GatewayEvent(
        "evt_1",
        "payment_intent.amount_capturable_updated",
        GatewayEventKind.AUTHORIZED,
        p["reference"],
        D("11.00"),
        "USD",
    )
    assert payments.apply_gateway_event(db, "test", event)["applied"] is True
    assert payments.get_payment(db, p["id"])["status"] == "authorized" and _holds(db, oid) == []


def test_provider_unavailable_changes_nothing_but_a_hold_and_the_retry_uses_the_same_key(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 1, "10.00")])
    with pytest.raises(DomainError) as exc:
        payments.authorize_payment(
            db, oid, provider="test", payment_method="test_unavailable", actor=T, idempotency_key="k"
        )
    assert exc.value.code == ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE
    listed = payments.list_payments(db, oid)
    assert listed["payments"][0]["status"] == "pending"
    assert listed["payments"][0]["transactions"][0]["status"] == "pending"
    assert _holds(db, oid) == ["payment"]


def _paid_and_released(db: Database, lines: list[tuple[str, int, str]], shipping: str = "0") -> tuple[int, int, int]:
    oid = _order(db, lines, shipping=shipping)
    p = payments.authorize_payment(db, oid, provider="test", payment_method="test_ok", actor=T, idempotency_key="a")
    fos = fulfillment.release_order(db, oid, T)
    return oid, int(p["id"]), int(fos[0]["id"])


def test_two_partial_shipments_capture_twice_the_last_one_final(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH1"): 10})
    # A: 3 x 10.00 + 3.00 tax = 33.00; B: 1 x 5.00 + 0.50 tax = 5.50; shipping 4.99 → 43.49
    oid, pid, fo = _paid_and_released(db, [("A", 3, "10.00"), ("B", 1, "5.00")], shipping="4.99")
    assert payments.list_payments(db, oid)["payable_total"] == D("43.49")

    s1 = _ship(db, fo, "T1", (1, 1))  # one unit of A (11.00) + shipping with the first shipment
    p = payments.get_payment(db, pid)
    assert p["amount_captured"] == D("15.99") and p["status"] == "partially_captured"
    first = payments.capture_for_shipment(db, s1, actor=T)  # again: nothing new
    assert first["captured"] == D("15.99") and payments.get_payment(db, pid)["amount_captured"] == D("15.99")
    assert orders.get_order(db, oid)["payment_status"] == "partially_paid"

    _ship(db, fo, "T2", (1, 2), (2, 1))
    p = payments.get_payment(db, pid)
    assert p["amount_captured"] == D("43.49") and p["status"] == "captured" and p["capture_closed"]
    caps = [t for t in p["transactions"] if t["kind"] == "capture"]
    assert [(t["amount"], t["final"]) for t in caps] == [(D("15.99"), False), (D("27.50"), True)]
    assert orders.get_order(db, oid)["payment_status"] == "paid"
    # the outbox asks the worker too; it finds the captures done and changes nothing
    before = _state(db)
    Worker(db, SETTINGS).drain()
    assert _state(db)[0] == before[0] and _state(db)[1] == before[1]


def test_orders_without_payments_ship_as_before(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 1, "10.00")])
    fo = fulfillment.release_order(db, oid, T)[0]["id"]
    _ship(db, fo, "T1", (1, 1))
    with db.read() as conn:
        kinds = conn.execute(select(table(OutboxMessage).c.event_type)).scalars().all()
    assert "payment.capture_requested" not in kinds and _count(db, PaymentTransaction) == 0


class _Flaky(TestGateway):
    """The test provider, down for captures until ``up`` is set."""

    up = False

    def capture(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, final: bool = False
    ) -> GatewayResult:
        if not _Flaky.up:
            raise GatewayUnavailable("down")
        return super().capture(reference, amount, currency, idempotency_key=idempotency_key, final=final)


@pytest.fixture
def flaky() -> Iterator[None]:
    registry.GATEWAYS["test"] = _Flaky
    _Flaky.up = False
    try:
        yield
    finally:
        registry.GATEWAYS["test"] = TestGateway


def test_a_capture_the_provider_could_not_take_is_retried_by_the_worker(db: Database, flaky: None) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid, pid, fo = _paid_and_released(db, [("A", 1, "10.00")])
    _ship(db, fo, "T1", (1, 1))  # the shipment stands although the capture could not be made
    assert orders.get_order(db, oid)["status"] == "shipped"
    assert payments.get_payment(db, pid)["amount_captured"] == 0
    worker = Worker(db, SETTINGS)
    assert worker.drain().failed >= 1  # still down: the message waits
    _Flaky.up = True
    with db.read() as conn:
        msg = conn.execute(
            select(table(OutboxMessage)).where(table(OutboxMessage).c.event_type == "payment.capture_requested")
        ).one()
    payments.PaymentConsumer(SETTINGS)(
        OutboxEvent(
            msg.id, msg.event_id, msg.event_type, msg.aggregate_type, msg.aggregate_id, msg.payload, msg.attempts
        ),
        db,
    )
    p = payments.get_payment(db, pid)
    assert p["amount_captured"] == D("11.00") and p["status"] == "captured"
    assert [t["status"] for t in p["transactions"] if t["kind"] == "capture"] == ["succeeded"]


def _captured_order(db: Database) -> tuple[int, int]:
    """Two units of A (22.00 with tax), authorised, shipped at once: captured in full."""
    oid, pid, fo = _paid_and_released(db, [("A", 2, "10.00")])
    _ship(db, fo, "T1", (1, 2))
    return oid, pid


def test_refund_above_refundable_is_refused_and_changes_nothing(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid, _ = _captured_order(db)  # 22.00 captured
    before = _state(db)
    with pytest.raises(DomainError) as exc:
        payments.refund(db, oid, D("22.01"), reason="too much", kind="appeasement", actor=T, idempotency_key="r1")
    assert exc.value.errors[0].field == "amount"
    for bad in (D("0"), D("-1"), D("1.001")):
        with pytest.raises(DomainError):
            payments.refund(db, oid, bad, reason="x", kind="appeasement", actor=T, idempotency_key="r2")
    with pytest.raises(DomainError) as exc:
        payments.refund(db, oid, D("1"), reason=" ", kind="appeasement", actor=T, idempotency_key="r3")
    assert exc.value.errors[0].field == "reason"
    with pytest.raises(DomainError) as exc:
        payments.refund(db, oid, D("1"), reason="x", kind="gift", actor=T, idempotency_key="r4")
    assert exc.value.errors[0].field == "kind"
    assert _state(db) == before


def test_refund_is_idempotent_and_spread_newest_first(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid, pid = _captured_order(db)  # 22.00 captured on payment 1
    extra = payments.collect(db, oid, D("5.00"), reason="gift wrap", actor=T, idempotency_key="c1")
    assert extra["status"] == "captured" and extra["amount_captured"] == D("5.00")
    assert payments.collect(db, oid, D("5.00"), reason="gift wrap", actor=T, idempotency_key="c1")["id"] == extra["id"]

    r = payments.refund(db, oid, D("7.00"), reason="late", kind="appeasement", actor=T, idempotency_key="r1")
    assert r["status"] == "succeeded" and r["amount"] == D("7.00") and r["currency"] == "USD"
    assert [(p["payment_id"], p["amount"]) for p in r["payments"]] == [(extra["id"], D("5.00")), (pid, D("2.00"))]
    before = _state(db)
    again = payments.refund(db, oid, D("7.00"), reason="late", kind="appeasement", actor=T, idempotency_key="r1")
    assert again["id"] == r["id"] and _state(db) == before
    listed = payments.list_payments(db, oid)
    assert listed["captured"] == D("27.00") and listed["refunded"] == D("7.00") and listed["net_paid"] == D("20.00")
    assert listed["refundable"] == D("20.00") and listed["payment_status"] == "partially_refunded"
    with pytest.raises(DomainError):
        payments.refund(db, oid, D("20.01"), reason="more", kind="appeasement", actor=T, idempotency_key="r2")
    full = payments.refund(db, oid, D("20.00"), reason="all", kind="appeasement", actor=T, idempotency_key="r3")
    assert full["status"] == "succeeded"
    assert orders.get_order(db, oid)["payment_status"] == "refunded"


def test_a_refused_refund_gives_the_room_back_and_is_flagged(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 1, "10.00")])
    p = payments.authorize_payment(
        db, oid, provider="test", payment_method="test_refund_fails", actor=T, idempotency_key="a"
    )
    payments.capture_payment(db, p["id"], D("11.00"), actor=T, idempotency_key="c", final=True)
    r = payments.refund(db, oid, D("11.00"), reason="broken", kind="appeasement", actor=T, idempotency_key="r")
    assert r["status"] == "failed" and r["amount_refunded"] == 0
    after = payments.get_payment(db, p["id"])
    assert after["amount_refund_pending"] == 0 and after["refundable"] == D("11.00")
    assert [q["id"] for q in payments.review_queue(db)] == [p["id"]]


def test_manual_payment_and_expected_bank_transfer(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 1, "10.00")])
    cash = payments.record_manual_payment(
        db, oid, method="cash", amount=D("5.00"), reference="till 3", actor=T, idempotency_key="m1"
    )
    assert cash["status"] == "captured" and cash["reference"] == "till 3" and cash["amount_captured"] == D("5.00")
    assert orders.get_order(db, oid)["payment_status"] == "partially_paid"
    wire = payments.record_manual_payment(
        db, oid, method="bank_transfer", amount=D("6.00"), reference=None, actor=T, idempotency_key="m2", expected=True
    )
    assert wire["status"] == "pending" and _holds(db, oid) == ["payment"]
    got = payments.mark_received(db, wire["id"], actor=T)
    assert got["status"] == "captured" and _holds(db, oid) == []
    assert orders.get_order(db, oid)["payment_status"] == "paid"
    with pytest.raises(DomainError) as exc:
        payments.record_manual_payment(
            db, oid, method="bitcoin", amount=D("1"), reference=None, actor=T, idempotency_key="m3"
        )
    assert exc.value.errors[0].field == "method"


def test_reconcile_after_cancellation_voids_or_refunds_and_is_idempotent(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH1"): 10})
    # authorised only: cancelling the whole order voids the authorisation
    oid = _order(db, [("A", 1, "10.00")], ext="V")
    p = payments.authorize_payment(db, oid, provider="test", payment_method="test_ok", actor=T, idempotency_key="a")
    orders.cancel_order(db, oid, "customer asked", T)
    out = payments.reconcile_order_payments(db, oid, reason="order cancelled", actor=T)
    assert out["voided"] == [p["id"]] and payments.get_payment(db, p["id"])["status"] == "voided"
    assert payments.reconcile_order_payments(db, oid, reason="order cancelled", actor=T)["changed"] is False

    # captured in full, then a line cancelled: the excess is refunded as a cancellation
    oid2 = _order(db, [("A", 1, "10.00"), ("B", 1, "20.00")], ext="R")
    p2 = payments.authorize_payment(db, oid2, provider="test", payment_method="test_ok", actor=T, idempotency_key="a")
    payments.capture_payment(db, p2["id"], D("33.00"), actor=T, idempotency_key="c")
    orders.cancel_lines(db, oid2, [(2, None)], "out of stock", T)
    out = payments.reconcile_order_payments(db, oid2, reason="line 2 cancelled", actor=T)
    assert out["refund"]["amount"] == D("22.00") and out["refund"]["kind"] == "cancellation"
    before = _state(db)
    assert payments.reconcile_order_payments(db, oid2, reason="line 2 cancelled", actor=T)["changed"] is False
    assert _state(db) == before
    assert orders.get_order(db, oid2)["payment_status"] == "paid"


def test_reconcile_authorises_what_a_grown_order_needs_and_holds_on_decline(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = _order(db, [("A", 2, "10.00")])
    p = payments.authorize_payment(
        db, oid, provider="test", payment_method="test_ok", amount=D("11.00"), actor=T, idempotency_key="a"
    )
    out = payments.reconcile_order_payments(db, oid, reason="order grew", actor=T)
    assert out["authorized"]["amount_authorized"] == D("11.00") and out["authorized"]["id"] != p["id"]
    assert payments.reconcile_order_payments(db, oid, reason="order grew", actor=T)["changed"] is False


def test_gateway_events_are_applied_once_and_a_dispute_is_flagged(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid, pid = _captured_order(db)
    ref = payments.get_payment(db, pid)["reference"]
    dispute = GatewayEvent(
        "evt_d1", "charge.dispute.created", GatewayEventKind.DISPUTED, ref, D("22.00"), "USD", {"reason": "fraudulent"}
    )
    first = payments.apply_gateway_event(db, "test", dispute)
    assert first["applied"] is True and first["outcome"] == "flagged: disputed"
    before = _state(db)
    assert payments.apply_gateway_event(db, "test", dispute) == {
        "duplicate": True,
        "applied": False,
        "event_id": "evt_d1",
    }
    assert _state(db) == before
    queue = payments.review_queue(db)
    assert [q["id"] for q in queue] == [pid] and "fraudulent" in queue[0]["review_reason"]
    order = orders.get_order(db, oid)
    assert order["timeline"][-1]["event_type"] == "payment.disputed"
    with db.read() as conn:
        assert "payment.disputed" in conn.execute(select(table(OutboxMessage).c.event_type)).scalars().all()

    # a refund made at the provider's dashboard is recorded; the same total again is not
    refunded = GatewayEvent("evt_r1", "charge.refunded", GatewayEventKind.REFUNDED, ref, D("2.00"), "USD")
    assert payments.apply_gateway_event(db, "test", refunded)["outcome"] == "refunded 2.00"
    again = GatewayEvent("evt_r2", "charge.refunded", GatewayEventKind.REFUNDED, ref, D("2.00"), "USD")
    assert payments.apply_gateway_event(db, "test", again)["outcome"] == "already recorded"
    assert payments.get_payment(db, pid)["amount_refunded"] == D("2.00")

    closed = GatewayEvent(
        "evt_d2", "charge.dispute.closed", GatewayEventKind.DISPUTE_CLOSED, ref, None, None, {"status": "won"}
    )
    assert payments.apply_gateway_event(db, "test", closed)["applied"] is True
    assert payments.review_queue(db) == []
    unknown = GatewayEvent("evt_x", "charge.refunded", GatewayEventKind.REFUNDED, "nope", D("1"), "USD")
    assert payments.apply_gateway_event(db, "test", unknown)["applied"] is False
