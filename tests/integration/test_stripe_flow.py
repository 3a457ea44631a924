"""An order paid through Stripe end to end, on both engines, against the local fake Stripe
server: authorised → shipped in two parts → two captures (the last final) → a refund → a
chargeback webhook flags the payment for review; a redelivered or badly signed webhook changes
nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.adapters.payments.stripe import sign_stripe_webhook
from openoms.api.app import create_app
from openoms.config import Settings, get_settings
from openoms.services import apikeys, payments
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.fakes.stripe_server import FakeStripe, running_fake_stripe
from tests.integration.test_routing_capture import order_body, seed

KEY = "sk_test_fake_openoms"
WHSEC = "whsec_test_openoms"
WEBHOOK = "/api/v1/payments/webhooks/stripe"
ACTOR = Actor("tests")


@pytest.fixture
def stripe_site(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, FakeStripe, Settings]]:
    with running_fake_stripe(KEY) as (fake, url):
        # the ship commands capture with the process settings: point them at the fake
        monkeypatch.setenv("OPENOMS_STRIPE_SECRET_KEY", KEY)
        monkeypatch.setenv("OPENOMS_STRIPE_API_BASE", url)
        monkeypatch.setenv("OPENOMS_STRIPE_WEBHOOK_SECRETS", f"whsec_old,{WHSEC}")
        get_settings.cache_clear()
        settings = Settings(database_url=db.url)
        try:
            with TestClient(create_app(settings, db)) as client:
                _, secret = apikeys.create_api_key(db, "tests", ["*"])
                client.headers["Authorization"] = f"Bearer {secret}"
                yield client, fake, settings
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()


def _count(db: Database, table: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one())


def _stored_raw(db: Database) -> str:
    """Every provider answer kept in payment_transactions, as one text."""
    txns = Base.metadata.tables["payment_transactions"]
    with db.read() as conn:
        return json.dumps([r for (r,) in conn.execute(select(txns.c.raw)).all()])


def _ship(api: TestClient, fo: str, tracking: str, line: int, qty: int) -> None:
    package = {"tracking_number": tracking, "lines": [{"line_number": line, "quantity": qty}]}
    body = {"carrier": "UPS", "packages": [package]}
    r = api.post(f"/api/v1/fulfilment-orders/{fo}/shipments", json=body)
    assert r.status_code == 201, r.text


def _post_event(api: TestClient, event: dict[str, Any], secret: str = WHSEC, at: int | None = None) -> Any:
    body = json.dumps(event).encode()
    header = sign_stripe_webhook(body, secret, at if at is not None else int(time.time()))
    return api.post(
        WEBHOOK, content=body, headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"}
    )


def test_an_order_paid_through_stripe(stripe_site: tuple[TestClient, FakeStripe, Settings], db: Database) -> None:
    api, fake, _ = stripe_site
    seed(db, {("A", "WH-EAST"): 5})
    card = {"provider": "stripe", "payment_method": "pm_card_visa"}
    r = api.post("/api/v1/orders", json=order_body([("A", 2)], external_order_id="S-1", payment=card))
    assert r.status_code == 201, r.text
    order = r.json()
    order_id, number, total = order["id"], order["order_number"], Decimal(order["grand_total"])

    # paid with the order: authorised at Stripe, a PaymentIntent with manual capture for the total
    view = api.get(f"/api/v1/orders/{number}/payments").json()
    assert [p["provider"] for p in view["payments"]] == ["stripe"]
    paid = view["payments"][0]
    ref = paid["reference"]
    assert paid["status"] == "authorized" and Decimal(view["authorized"]) == total
    intent = fake.payment_intents[ref]
    assert intent["status"] == "requires_capture" and intent["capture_method"] == "manual"
    assert Decimal(intent["amount"]) / 100 == total
    assert intent["metadata"]["order_reference"] in (number, str(order_id))
    # the channel retries the same order: the same payment, no second PaymentIntent
    r = api.post("/api/v1/orders", json=order_body([("A", 2)], external_order_id="S-1", payment=card))
    assert r.status_code in (200, 201) and r.json()["id"] == order_id
    assert len(fake.payment_intents) == 1
    # an extra authorisation asked twice with the same Idempotency-Key: one PaymentIntent; voided
    headers, extra = {"Idempotency-Key": "checkout-1"}, {**card, "amount": "1.00"}
    first = api.post(f"/api/v1/orders/{number}/payments", json=extra, headers=headers)
    second = api.post(f"/api/v1/orders/{number}/payments", json=extra, headers=headers)
    assert first.status_code == 201, first.text
    assert second.json()["id"] == first.json()["id"] and len(fake.payment_intents) == 2
    r = api.post(f"/api/v1/payments/{first.json()['id']}/void", headers={"Idempotency-Key": "void-1"})
    assert r.status_code == 200 and r.json()["status"] == "voided", r.text
    assert fake.payment_intents[first.json()["reference"]]["status"] == "canceled"

    # shipped in two parts: two captures at Stripe, the first keeps the rest authorised
    r = api.post(f"/api/v1/orders/{number}/release")
    assert r.status_code == 201, r.text
    fo = r.json()[0]["number"]
    _ship(api, fo, "1Z-S1", 1, 1)
    captures = fake.posts("/capture")
    assert len(captures) == 1 and captures[0]["params"].get("final_capture") == "false"
    assert intent["status"] == "requires_capture" and 0 < intent["amount_received"] < intent["amount"]
    _ship(api, fo, "1Z-S2", 1, 1)
    captures = fake.posts("/capture")
    assert len(captures) == 2 and "final_capture" not in captures[1]["params"]
    assert intent["status"] == "succeeded" and Decimal(intent["amount_received"]) / 100 == total
    view = payments.list_payments(db, order_id)
    assert view["captured"] == total and view["payments"][0]["status"] == "captured"

    # a refund goes back through Stripe; more than is left is refused and changes nothing
    refund = payments.refund(
        db, order_id, Decimal("5.00"), reason="late delivery", kind="appeasement", actor=ACTOR, idempotency_key="rf-1"
    )
    assert refund["status"] == "succeeded"
    assert [r["amount"] for r in fake.refunds.values()] == [500]
    assert next(iter(fake.refunds.values()))["payment_intent"] == ref
    assert payments.list_payments(db, order_id)["refunded"] == Decimal("5.00")

    # Stripe tells us about a chargeback: the payment is flagged for review
    events_before = _count(db, "order_events")
    dispute = {
        "id": "evt_3FakeDispute1",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": "dp_3FakeDispute1",
                "object": "dispute",
                "amount": 1500,
                "charge": intent["latest_charge"],
                "currency": "usd",
                "payment_intent": ref,
                "reason": "fraudulent",
                "status": "needs_response",
            }
        },
    }
    r = _post_event(api, dispute)
    assert r.status_code == 200, r.text
    assert r.json()["applied"] is True and r.json()["duplicate"] is False and r.json()["kind"] == "disputed"
    payment = payments.list_payments(db, order_id)["payments"][0]
    assert payment["flagged_at"] is not None and "disputed" in payment["review_reason"]
    assert [p["id"] for p in payments.review_queue(db)] == [paid["id"]]
    assert [p["id"] for p in api.get("/api/v1/payments/review").json()] == [paid["id"]]
    timeline = api.get(f"/api/v1/orders/{number}").json()["timeline"]
    assert "flagged for review" in timeline[-1]["message"]
    after_first = (_count(db, "order_events"), _count(db, "payment_events"), _count(db, "outbox"), payment)
    assert after_first[0] == events_before + 1

    # the same event delivered again (Stripe delivers at least once): nothing changes
    r = _post_event(api, dispute)
    assert r.status_code == 200 and r.json()["duplicate"] is True and r.json()["applied"] is False
    payment_again = payments.list_payments(db, order_id)["payments"][0]
    counts = (_count(db, "order_events"), _count(db, "payment_events"), _count(db, "outbox"))
    assert (*counts, payment_again) == after_first

    # a webhook that is not Stripe's: 400 with the reason, nothing recorded
    for event, secret, at, reason in [
        ({**dispute, "id": "evt_forged"}, "whsec_attacker", None, "mismatch"),
        ({**dispute, "id": "evt_replayed"}, WHSEC, int(time.time()) - 3600, "stale_timestamp"),
    ]:
        r = _post_event(api, event, secret, at)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "bad_signature" and r.json()["error"]["reason"] == reason
    r = api.post(WEBHOOK, content=json.dumps(dispute).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["reason"] == "missing_header"
    assert (_count(db, "order_events"), _count(db, "payment_events"), _count(db, "outbox")) == after_first[:3]

    # the rotated-out secret still works while it is configured
    r = _post_event(api, {**dispute, "id": "evt_3FakeOther", "type": "customer.updated"}, "whsec_old")
    assert r.status_code == 200 and r.json()["kind"] == "other"
    assert run_check(db).ok


def test_a_declined_card_puts_the_order_on_payment_hold(
    stripe_site: tuple[TestClient, FakeStripe, Settings], db: Database
) -> None:
    api, fake, _ = stripe_site
    seed(db, {("A", "WH-EAST"): 5})
    order = api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="S-2")).json()
    result = payments.authorize_payment(
        db,
        order["id"],
        provider="stripe",
        payment_method="pm_card_chargeDeclinedInsufficientFunds",
        actor=ACTOR,
        idempotency_key="checkout-2",
    )
    assert result["status"] == "failed"
    after = api.get(f"/api/v1/orders/{order['order_number']}").json()
    assert after["on_hold"] is True
    assert "insufficient" in json.dumps(after["holds"]).lower()
    # a working card releases the hold
    ok = payments.authorize_payment(
        db, order["id"], provider="stripe", payment_method="pm_card_visa", actor=ACTOR, idempotency_key="checkout-3"
    )
    assert ok["status"] == "authorized"
    assert api.get(f"/api/v1/orders/{order['order_number']}").json()["on_hold"] is False
    assert len(fake.payment_intents) == 2


def test_webhook_not_configured_refuses(db: Database) -> None:
    with TestClient(create_app(Settings(database_url=db.url, stripe_webhook_secrets=""), db)) as client:
        r = client.post(
            WEBHOOK,
            content=b"{}",
            headers={"Stripe-Signature": "t=1,v1=" + "a" * 64, "Content-Type": "application/json"},
        )
    assert r.status_code == 400 and r.json()["error"]["reason"] == "not_configured"


def _envelope(event_id: str, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def test_three_d_secure_then_stripe_says_authorised(
    stripe_site: tuple[TestClient, FakeStripe, Settings], db: Database
) -> None:
    api, fake, _ = stripe_site
    seed(db, {("A", "WH-EAST"): 5})
    order = api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="S-3")).json()
    pending = payments.authorize_payment(
        db,
        order["id"],
        provider="stripe",
        payment_method="pm_card_authenticationRequired",
        actor=ACTOR,
        idempotency_key="checkout-4",
    )
    assert pending["status"] == "requires_action"
    assert api.get(f"/api/v1/orders/{order['order_number']}").json()["on_hold"] is True
    # the customer authenticates in the channel's checkout; Stripe holds the money and tells us
    intent = fake.payment_intents[pending["reference"]]
    intent.update(status="requires_capture", amount_capturable=intent["amount"], next_action=None)
    r = _post_event(api, _envelope("evt_3FakeAuth", "payment_intent.amount_capturable_updated", intent))
    assert r.status_code == 200 and r.json()["applied"] is True and r.json()["kind"] == "authorized", r.text
    payment = payments.list_payments(db, order["id"])["payments"][0]
    assert payment["status"] == "authorized"
    assert payment["amount_authorized"] == Decimal(intent["amount"]) / 100
    assert api.get(f"/api/v1/orders/{order['order_number']}").json()["on_hold"] is False
    # what Stripe answered is kept in the payment's history, without the client_secret
    stored = _stored_raw(db)
    assert intent["id"] in stored and intent["client_secret"] not in stored and "_secret_" not in stored


def test_a_refund_made_in_stripes_dashboard_is_reconciled_once(
    stripe_site: tuple[TestClient, FakeStripe, Settings], db: Database
) -> None:
    api, fake, _ = stripe_site
    seed(db, {("A", "WH-EAST"): 5})
    order = api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="S-4")).json()
    paid = payments.authorize_payment(
        db, order["id"], provider="stripe", payment_method="pm_card_visa", actor=ACTOR, idempotency_key="checkout-5"
    )
    fos = api.post(f"/api/v1/orders/{order['order_number']}/release").json()
    _ship(api, fos[0]["number"], "1Z-S4", 1, 1)
    intent = fake.payment_intents[paid["reference"]]
    assert intent["status"] == "succeeded"
    # OpenOMS refunds 2.00; Stripe then reports the charge refunded (its total: 2.00)
    payments.refund(
        db, order["id"], Decimal("2.00"), reason="scratch", kind="appeasement", actor=ACTOR, idempotency_key="r"
    )
    charge = {
        "id": intent["latest_charge"],
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount_received"],
        "amount_refunded": 200,
        "currency": "usd",
        "payment_intent": intent["id"],
        "refunded": False,
    }
    r = _post_event(api, _envelope("evt_3FakeRefund1", "charge.refunded", charge))
    assert r.status_code == 200 and r.json()["kind"] == "refunded"
    assert payments.list_payments(db, order["id"])["refunded"] == Decimal("2.00")  # known already: no change
    # someone refunds 3.00 more in Stripe's dashboard: the total says 5.00
    r = _post_event(api, _envelope("evt_3FakeRefund2", "charge.refunded", {**charge, "amount_refunded": 500}))
    assert r.status_code == 200 and r.json()["applied"] is True
    assert payments.list_payments(db, order["id"])["refunded"] == Decimal("5.00")
    r = _post_event(api, _envelope("evt_3FakeRefund2", "charge.refunded", {**charge, "amount_refunded": 500}))
    assert r.json()["duplicate"] is True
    assert payments.list_payments(db, order["id"])["refunded"] == Decimal("5.00")


def test_a_signed_body_that_is_not_an_event_is_refused(
    stripe_site: tuple[TestClient, FakeStripe, Settings], db: Database
) -> None:
    api, _, _ = stripe_site
    before = _count(db, "payment_events")
    r = _post_event(api, {"type": "charge.refunded"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_event", r.text
    r = _post_event(api, _envelope("evt_nul", "charge.refunded", {"id": "ch_1", "description": "a\u0000b"}))
    assert r.status_code == 400 and r.json()["error"]["reason"] == "contains a NUL character"
    assert _count(db, "payment_events") == before
