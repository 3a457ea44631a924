"""The payments API as a client sees it: payment at capture (authorise now, or recorded), the
order's payments, manual payments, capture/void, appeasement refunds, the review queue, scopes
and bad input (4xx with the field, nothing changed)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services import apikeys
from tests.conftest import books, order_body, seed_basics


def _order(api: TestClient, ext: str, **extra: Any) -> dict[str, Any]:
    r = api.post("/api/v1/orders", json=order_body([("A", 2)], external_order_id=ext, **extra))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_declined_card_at_capture_holds_the_order_and_a_new_card_releases_it(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _order(api, "E-1", payment={"provider": "test", "payment_method": "test_decline"})
    assert order["payment_status"] == "failed" and order["on_hold"] is True
    assert [h["hold_type"] for h in order["holds"]] == ["payment"]
    ref = order["order_number"]
    assert api.post(f"/api/v1/orders/{ref}/release").status_code == 409

    r = api.post(
        f"/api/v1/orders/{ref}/payments",
        json={"provider": "test", "payment_method": "test_ok"},
        headers={"Idempotency-Key": "new-card"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "authorized" and r.json()["amount_authorized"] == "20.00"
    again = api.post(
        f"/api/v1/orders/{ref}/payments",
        json={"provider": "test", "payment_method": "test_ok"},
        headers={"Idempotency-Key": "new-card"},
    )
    assert again.json()["id"] == r.json()["id"]
    listed = api.get(f"/api/v1/orders/{ref}/payments").json()
    assert listed["payment_status"] == "authorized" and len(listed["payments"]) == 2
    assert listed["payments"][0]["transactions"][0]["error_code"] == "card_declined"
    assert api.get(f"/api/v1/orders/{ref}").json()["on_hold"] is False
    assert api.post(f"/api/v1/orders/{ref}/release").status_code == 201


def test_an_authorisation_taken_by_the_channel_is_recorded_and_captured_and_refunded(
    api: TestClient, db: Database
) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _order(api, "E-2", payment={"provider": "test", "reference": "tpi_test_ok_abc", "status": "authorized"})
    assert order["payment_status"] == "authorized" and order["on_hold"] is False
    ref = order["order_number"]
    pid = api.get(f"/api/v1/orders/{ref}/payments").json()["payments"][0]["id"]
    # a replay of the capture records nothing twice
    r = api.post(
        "/api/v1/orders",
        json=order_body(
            [("A", 2)], external_order_id="E-2", payment={"provider": "test", "reference": "tpi_test_ok_abc"}
        ),
    )
    assert r.status_code == 200 and len(api.get(f"/api/v1/orders/{ref}/payments").json()["payments"]) == 1

    too_much = api.post(f"/api/v1/payments/{pid}/capture", json={"amount": "20.01"})
    assert too_much.status_code == 422 and too_much.json()["error"]["errors"][0]["field"] == "amount"
    cap = api.post(f"/api/v1/payments/{pid}/capture", json={"amount": "20.00", "final": True})
    assert cap.status_code == 200 and cap.json()["status"] == "captured", cap.text
    assert api.post(f"/api/v1/payments/{pid}/void").status_code == 409

    before = books(db)
    bad = api.post(f"/api/v1/orders/{ref}/refunds", json={"amount": "25.00", "reason": "sorry"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "amount"
    missing = api.post(f"/api/v1/orders/{ref}/refunds", json={"amount": "5.00"})
    assert missing.status_code == 422 and missing.json()["error"]["errors"][0]["field"] == "reason"
    negative = api.post(f"/api/v1/orders/{ref}/refunds", json={"amount": "-5", "reason": "x"})
    assert negative.status_code == 422 and negative.json()["error"]["errors"][0]["field"] == "amount"
    assert books(db) == before

    r = api.post(
        f"/api/v1/orders/{ref}/refunds",
        json={"amount": "5.00", "reason": "late delivery"},
        headers={"Idempotency-Key": "ap-1"},
    )
    assert r.status_code == 201 and r.json()["status"] == "succeeded" and r.json()["kind"] == "appeasement", r.text
    again = api.post(
        f"/api/v1/orders/{ref}/refunds",
        json={"amount": "5.00", "reason": "late delivery"},
        headers={"Idempotency-Key": "ap-1"},
    )
    assert again.json()["id"] == r.json()["id"]
    listed = api.get(f"/api/v1/orders/{ref}/payments").json()
    assert (listed["captured"], listed["refunded"], listed["net_paid"]) == ("20.00", "5.00", "15.00")
    assert listed["payment_status"] == "partially_refunded" and len(listed["refunds"]) == 1


def test_manual_payments_and_bad_input(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    ref = _order(api, "E-3")["order_number"]
    before = books(db)
    for body, field in [
        ({"provider": "manual", "payment_method": "bitcoin", "amount": "5"}, "payment_method"),
        ({"provider": "manual", "payment_method": "cash"}, "amount"),
        ({"provider": "paypal", "payment_method": "x"}, "provider"),
        ({"provider": "test", "payment_method": "test_ok", "amount": "1.001"}, "amount"),
        ({"provider": "test", "payment_method": "test_ok", "amount": "0"}, "amount"),
        ({"provider": "test"}, "payment_method"),
    ]:
        r = api.post(f"/api/v1/orders/{ref}/payments", json=body)
        assert r.status_code == 422, (body, r.text)
        fields = [e["field"] for e in r.json()["error"]["errors"]]
        assert any(field in f for f in fields), (body, fields)
    assert (
        api.post(
            "/api/v1/orders/SO-9999999/payments", json={"provider": "test", "payment_method": "test_ok"}
        ).status_code
        == 404
    )
    assert books(db) == before
    bad_capture = api.post(
        "/api/v1/orders",
        json=order_body([("A", 1)], external_order_id="E-9", payment={"provider": "nope", "payment_method": "x"}),
    )
    assert bad_capture.status_code == 422 and books(db) == before
    both = api.post(
        "/api/v1/orders",
        json=order_body(
            [("A", 1)], external_order_id="E-9", payment={"provider": "test", "payment_method": "x", "reference": "y"}
        ),
    )
    assert both.status_code == 422 and books(db) == before

    cash = api.post(
        f"/api/v1/orders/{ref}/payments",
        json={"provider": "manual", "payment_method": "cash", "amount": "8.00", "reference": "R1"},
    )
    assert cash.status_code == 201 and cash.json()["status"] == "captured", cash.text
    wire = api.post(
        f"/api/v1/orders/{ref}/payments",
        json={"provider": "manual", "payment_method": "bank_transfer", "amount": "12.00", "expected": True},
    ).json()
    assert wire["status"] == "pending" and api.get(f"/api/v1/orders/{ref}").json()["on_hold"] is True
    got = api.post(f"/api/v1/payments/{wire['id']}/received", json={"note": "on statement 12"})
    assert got.status_code == 200 and got.json()["status"] == "captured"
    assert api.get(f"/api/v1/orders/{ref}").json()["payment_status"] == "paid"


def test_review_queue_and_scopes(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _order(api, "E-4", payment={"provider": "test", "payment_method": "test_insufficient_funds"})
    queue = api.get("/api/v1/payments/review").json()
    assert [q["order_number"] for q in queue] == [order["order_number"]]
    assert "insufficient_funds" in queue[0]["review_reason"]
    cleared = api.post(f"/api/v1/payments/{queue[0]['id']}/review", json={"note": "customer called, paying by wire"})
    assert cleared.status_code == 200 and api.get("/api/v1/payments/review").json() == []

    _, secret = apikeys.create_api_key(db, "reader", ["orders:write", "payments:read"])
    h = {"Authorization": f"Bearer {secret}"}
    ref = order["order_number"]
    assert api.get(f"/api/v1/orders/{ref}/payments", headers=h).status_code == 200
    r = api.post(f"/api/v1/orders/{ref}/refunds", json={"amount": "1", "reason": "x"}, headers=h)
    assert r.status_code == 403


def test_a_long_idempotency_key_fits_and_still_replays(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    ref = _order(api, "E-5")["order_number"]
    key = {"Idempotency-Key": "k" * 200}
    first = api.post(
        f"/api/v1/orders/{ref}/payments", json={"provider": "test", "payment_method": "test_ok"}, headers=key
    )
    again = api.post(
        f"/api/v1/orders/{ref}/payments", json={"provider": "test", "payment_method": "test_ok"}, headers=key
    )
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"], first.text
    other = api.post(
        f"/api/v1/orders/{ref}/payments",
        json={"provider": "test", "payment_method": "test_ok", "amount": "1.00"},
        headers={"Idempotency-Key": "k" * 199 + "j"},
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
