"""The returns API as a client sees it, on both engines: request, approve, label, receive,
quote, policy; bad input gets 4xx with the field and changes nothing; scopes are enforced."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from pypdf import PdfReader

from openoms.adapters.db.engine import Database
from openoms.services import apikeys
from openoms.services.check import run_check
from tests.integration.test_returns import everything, setup_network, shipped_order


def test_request_approve_label_receive_and_quote_over_http(api: TestClient, db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    el = api.get(f"/api/v1/orders/SO-{oid:07d}/returns/eligibility")
    assert el.status_code == 200, el.text
    assert [ln["returnable"] for ln in el.json()["lines"]] == [3, 1]
    r = api.post(
        f"/api/v1/orders/{oid}/returns",
        json={"lines": [{"line_number": 1, "quantity": 2, "reason": "wrong_size", "condition": "unopened"}]},
        headers={"Idempotency-Key": "ret-1"},
    )
    assert r.status_code == 201, r.text
    ret = r.json()
    rma = ret["rma_number"]
    assert r.headers["Location"] == f"/api/v1/returns/{ret['id']}"
    assert ret["status"] == "requested" and ret["lines"][0]["quantity_outstanding"] == 2
    again = api.post(
        f"/api/v1/orders/{oid}/returns",
        json={"lines": [{"line_number": 1, "quantity": 2, "reason": "wrong_size", "condition": "unopened"}]},
        headers={"Idempotency-Key": "ret-1"},
    )
    assert again.json()["id"] == ret["id"]
    assert api.post(f"/api/v1/returns/{rma}/approve").json()["status"] == "approved"
    assert api.post(f"/api/v1/returns/{rma}/approve").status_code == 409
    pdf = api.get(f"/api/v1/returns/{rma}/label.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert rma in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    got = api.post(
        f"/api/v1/returns/{ret['id']}/receive",
        json={
            "location": "WH-EAST",
            "lines": [{"line_number": 1, "quantity": 2, "condition": "unopened", "disposition": "restock"}],
        },
    )
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "received" and got.json()["dispositions"] == {"restock": 2}
    q = api.get(f"/api/v1/returns/{rma}/refund-quote").json()
    assert q["components"]["items"] == "36.00" and q["total"] == "38.88"
    listed = api.get("/api/v1/returns", params={"status": "received"}).json()
    assert [x["rma_number"] for x in listed["items"]] == [rma] and listed["next_cursor"] is None
    assert api.get("/api/v1/returns", params={"q": f"SO-{oid:07d}"}).json()["items"][0]["id"] == ret["id"]
    detail = api.get(f"/api/v1/returns/{rma}").json()
    assert [e["event_type"] for e in detail["timeline"]] == [
        "return.requested",
        "return.approved",
        "return.label_issued",
        "return.received",
    ]
    assert run_check(db).ok


def test_bad_input_is_refused_with_the_field_and_changes_nothing(api: TestClient, db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    before = everything(db)
    line = {"line_number": 1, "quantity": 1}
    cases = [
        ({"lines": [{**line, "quantity": 9}]}, 422, "lines[0].quantity"),
        ({"lines": [{**line, "quantity": 0}]}, 422, "lines[0].quantity"),
        ({"lines": [{**line, "line_number": 5}]}, 422, "lines[0].line_number"),
        ({"lines": [{**line, "reason": "meh"}]}, 422, "lines[0].reason"),
        ({"lines": []}, 422, "lines"),
        ({"lines": [line], "method": "drone"}, 422, "method"),
        ({"lines": [line], "method": "in_store"}, 422, "location"),
        ({"lines": [line], "location": "NOWHERE"}, 422, "location"),
        ({"lines": [line], "surprise": 1}, 422, "surprise"),
        ({"lines": [line], "exchange": [{"sku": "NOPE", "quantity": 1}]}, 422, "exchange[0].sku"),
    ]
    for body, code, field in cases:
        r = api.post(f"/api/v1/orders/{oid}/returns", json=body)
        assert r.status_code == code, (body, r.text)
        assert field in [e["field"] for e in r.json()["error"]["errors"]], (body, r.json())
        assert everything(db) == before, body
    assert api.post("/api/v1/orders/SO-9999999/returns", json={"lines": [line]}).status_code == 404
    assert api.post("/api/v1/orders/nope/returns", json={"lines": [line]}).status_code == 422
    assert api.get("/api/v1/returns/RMA-0009999").status_code == 404
    assert api.get("/api/v1/returns/xyz").status_code == 422
    assert api.get("/api/v1/returns", params={"status": "lost"}).status_code == 422
    assert api.get("/api/v1/returns", params={"cursor": "garbage"}).status_code == 422
    rid = api.post(f"/api/v1/orders/{oid}/returns", json={"lines": [line]}).json()["id"]
    before = everything(db)
    assert api.post(f"/api/v1/returns/{rid}/reject", json={"reason": ""}).status_code == 422
    assert api.post(f"/api/v1/returns/{rid}/refund", headers={"Idempotency-Key": "r"}).status_code == 409
    assert api.post(f"/api/v1/returns/{rid}/refund").status_code == 422  # the key is required
    receipt = {
        "location": "WH-EAST",
        "lines": [{"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "restock"}],
    }
    assert api.post(f"/api/v1/returns/{rid}/receive", json=receipt).status_code == 409  # not approved
    assert api.get(f"/api/v1/returns/{rid}/label.pdf").status_code == 409
    assert everything(db) == before
    assert api.post(f"/api/v1/returns/{rid}/cancel").json()["status"] == "cancelled"


def test_return_policy_per_channel_and_scopes(api: TestClient, db: Database) -> None:
    setup_network(db)
    r = api.get("/api/v1/channels/web/return-policy")
    assert r.status_code == 200 and r.json()["source"] == "built_in"
    put = api.put(
        "/api/v1/channels/web/return-policy",
        json={"window_days": 14, "restocking_fee_percent": "7.50", "allowed_methods": ["mail"]},
    )
    assert put.status_code == 200, put.text
    assert put.json() | {"restocking_fee_percent": "7.50"} == {
        "channel": "web",
        "source": "channel",
        "window_days": 14,
        "restocking_fee_percent": "7.50",
        "refund_shipping": "full_return_or_merchant_fault",
        "allowed_methods": ["mail"],
        "accepted_conditions": ["unopened", "opened", "damaged"],
    }
    bad = api.put("/api/v1/channels/web/return-policy", json={"window_days": -1, "allowed_methods": []})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["error"]["errors"]} >= {"window_days"}
    assert api.put("/api/v1/channels/nope/return-policy", json={"window_days": 3}).status_code == 422
    assert api.get("/api/v1/channels/web/return-policy").json()["window_days"] == 14

    _, reader = apikeys.create_api_key(db, "reader", ["returns:read"])
    _, other = apikeys.create_api_key(db, "orders-only", ["orders:write"])
    h = {"Authorization": f"Bearer {reader}"}
    assert api.get("/api/v1/returns", headers=h).status_code == 200
    assert (
        api.post("/api/v1/orders/1/returns", json={"lines": [{"line_number": 1, "quantity": 1}]}, headers=h).status_code
        == 403
    )
    assert api.get("/api/v1/returns", headers={"Authorization": f"Bearer {other}"}).status_code == 403


def test_exchange_and_refund_over_http(api: TestClient, db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db, [("A", 3, "20.00", "6.00", "4.32")], pay="test_ok")
    r = api.post(
        f"/api/v1/orders/{oid}/returns",
        json={
            "lines": [{"line_number": 1, "quantity": 2, "reason": "damaged", "condition": "damaged"}],
            "exchange": [{"sku": "A", "quantity": 1}],
            "approve": True,
        },
    )
    assert r.status_code == 201, r.text
    ret = r.json()
    assert ret["exchange"]["order_number"] == ret["exchange_order_number"] and ret["exchange_difference"] == "-28.08"
    rma = ret["rma_number"]
    body = {
        "location": "WH-EAST",
        "lines": [{"line_number": 1, "quantity": 2, "condition": "damaged", "disposition": "write_off"}],
    }
    assert api.post(f"/api/v1/returns/{rma}/receive", json=body).status_code == 200
    q = api.get(f"/api/v1/returns/{rma}/refund-quote").json()
    # 2 x (18 + 1.44) credit, no fee (exchange), shipping 8.64 back (damaged: the merchant's fault);
    # minus the 19.44 replacement
    assert q["total"] == "47.52" and q["components"]["shipping"] == "8.64"
    assert q["refund_due"] == "28.08" and q["exchange"]["replacement_total"] == "19.44"
    done = api.post(f"/api/v1/returns/{rma}/refund", headers={"Idempotency-Key": "k"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "refunded" and done.json()["refund_amount"] == "28.08"
    assert api.get(f"/api/v1/returns/{rma}").json()["refund"]["amount"] == "28.08"


def test_close_without_a_refund_needs_a_reason(api: TestClient, db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    rid = api.post(
        f"/api/v1/orders/{oid}/returns", json={"lines": [{"line_number": 1, "quantity": 2}], "approve": True}
    ).json()["id"]
    body = {
        "location": "WH-EAST",
        "lines": [{"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "refurbish"}],
    }
    assert api.post(f"/api/v1/returns/{rid}/receive", json=body).json()["status"] == "partially_received"
    assert api.post(f"/api/v1/returns/{rid}/close").status_code == 422
    closed = api.post(f"/api/v1/returns/{rid}/close", json={"reason": "the second unit was never sent"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    el = api.get(f"/api/v1/orders/{oid}/returns/eligibility").json()
    assert el["lines"][0]["returnable"] == 2  # the unit that never came is free again
    assert api.post(f"/api/v1/returns/{rid}/close", json={"reason": "again"}).status_code == 409


def test_final_sale_and_the_product_window_are_product_fields(api: TestClient, db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    r = api.patch("/api/v1/products/B", json={"final_sale": True, "return_window_days": 90})
    assert r.status_code == 200, r.text
    assert r.json()["final_sale"] is True and r.json()["return_window_days"] == 90
    assert api.patch("/api/v1/products/B", json={"final_sale": None}).status_code == 422
    assert api.patch("/api/v1/products/B", json={"return_window_days": -1}).status_code == 422
    lines = api.get(f"/api/v1/orders/{oid}/returns/eligibility").json()["lines"]
    assert lines[1]["returnable"] == 0 and "final-sale" in lines[1]["reason"]
    created = api.post("/api/v1/products", json={"sku": "FS-1", "name": "Clearance tee"})
    assert created.status_code == 201 and created.json()["final_sale"] is False
    assert api.patch("/api/v1/products/B", json={"return_window_days": None}).json()["return_window_days"] is None
