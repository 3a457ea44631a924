"""The order API as a client sees it, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services.check import run_check
from tests.conftest import order_body, seed_basics


def _stock(api: TestClient, sku: str) -> dict[str, dict[str, int]]:
    body = api.get(f"/api/v1/availability/{sku}").json()
    return {loc["location"]: loc for loc in body["locations"]}


def test_capture_reserves_at_one_location_and_writes_timeline(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 5, ("B", "WH1"): 5, ("A", "WH2"): 10, ("B", "WH2"): 10})
    r = api.post(
        "/api/v1/orders",
        json=order_body(
            [("A", 2), ("B", 1)],
            external_order_id="W-1",
            customer={"email": "Ana@Example.com", "name": "Ana"},
            shipping_total="4.95",
        ),
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "allocated"
    assert order["order_number"] == f"SO-{order['id']:07d}"
    assert r.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert [ln["reservations"] for ln in order["lines"]] == [
        [{"location": "WH1", "quantity": 2}],
        [{"location": "WH1", "quantity": 1}],
    ]
    assert order["grand_total"] == "34.95"
    assert order["lines"][0]["unit_price"] == "10.00"
    assert order["customer"]["email"] == "ana@example.com"
    assert order["timeline"][0]["event_type"] == "order.placed"
    assert order["timeline"][0]["actor"] == "api-key:tests"
    # the capture response is built without re-reading; it must equal what a read returns
    assert api.get(f"/api/v1/orders/{order['id']}").json() == order
    assert _stock(api, "A")["WH1"] == {
        "location": "WH1",
        "on_hand": 5,
        "reserved": 2,
        "safety_stock": 0,
        "available": 3,
        "ships": True,
    }
    assert run_check(db).ok


def test_capture_splits_when_no_single_location_covers(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 3, ("A", "WH2"): 4})
    r = api.post("/api/v1/orders", json=order_body([("A", 6)]))
    assert r.status_code == 201, r.text
    assert r.json()["lines"][0]["reservations"] == [
        {"location": "WH1", "quantity": 3},
        {"location": "WH2", "quantity": 3},
    ]
    assert r.json()["sourcing_rule"] == "priority/split-by-priority"


def test_shortage_is_409_naming_skus_and_reserves_nothing(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 3, ("B", "WH1"): 1, ("B", "ST1"): 50})
    r = api.post("/api/v1/orders", json=order_body([("A", 2), ("B", 2), ("C", 1)]))
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "insufficient_stock"
    assert {s["sku"]: s["short"] for s in err["shortages"]} == {"B": 1, "C": 1}
    assert {e["field"] for e in err["errors"]} == {"lines[1].quantity", "lines[2].quantity"}
    assert _stock(api, "A")["WH1"]["reserved"] == 0
    assert api.get("/api/v1/orders").json()["items"] == []
    assert run_check(db).ok


def test_same_channel_order_twice_returns_the_first(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    first = api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="X-9"))
    again = api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="X-9"))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert _stock(api, "A")["WH1"]["reserved"] == 1
    # the same external id on another channel is another order
    other = api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="X-9", channel="shopify"))
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


def test_idempotency_key_replays_and_refuses_a_different_body(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    headers = {"Idempotency-Key": "k-1"}
    first = api.post("/api/v1/orders", json=order_body([("A", 1)]), headers=headers)
    again = api.post("/api/v1/orders", json=order_body([("A", 1)]), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    changed = api.post("/api/v1/orders", json=order_body([("A", 2)]), headers=headers)
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert _stock(api, "A")["WH1"]["reserved"] == 1


def test_cancel_order_releases_stock_and_second_cancel_is_409(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH1"): 10})
    oid = api.post("/api/v1/orders", json=order_body([("A", 2), ("B", 3)])).json()["id"]
    r = api.post(f"/api/v1/orders/{oid}/cancel", json={"reason": "customer request"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert all(ln["status"] == "cancelled" and ln["quantity_reserved"] == 0 for ln in r.json()["lines"])
    assert _stock(api, "A")["WH1"]["reserved"] == 0
    again = api.post(f"/api/v1/orders/SO-{oid:07d}/cancel", json={"reason": "again"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "illegal_transition"
    assert "is cancelled" in again.json()["error"]["message"]
    assert run_check(db).ok


def test_cancel_part_of_a_line_then_the_rest(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH1"): 10})
    oid = api.post("/api/v1/orders", json=order_body([("A", 5), ("B", 1)])).json()["id"]
    r = api.post(
        f"/api/v1/orders/{oid}/lines/cancel", json={"reason": "short", "lines": [{"line_number": 1, "quantity": 2}]}
    )
    assert r.status_code == 200, r.text
    line = r.json()["lines"][0]
    assert (line["status"], line["quantity_open"], line["quantity_cancelled"], line["quantity_reserved"]) == (
        "allocated",
        3,
        2,
        3,
    )
    too_many = api.post(
        f"/api/v1/orders/{oid}/lines/cancel", json={"reason": "x", "lines": [{"line_number": 1, "quantity": 4}]}
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["errors"][0]["field"] == "lines[0].quantity"
    r = api.post(f"/api/v1/orders/{oid}/lines/cancel", json={"reason": "gone", "lines": [{"line_number": 2}]})
    assert r.json()["status"] == "allocated"
    assert r.json()["lines"][1]["status"] == "cancelled"
    r = api.post(f"/api/v1/orders/{oid}/lines/cancel", json={"reason": "gone", "lines": [{"line_number": 1}]})
    assert r.json()["status"] == "cancelled"
    assert _stock(api, "A")["WH1"]["reserved"] == 0
    assert run_check(db).ok


def test_holds_place_release_and_conflicts(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    oid = api.post("/api/v1/orders", json=order_body([("A", 1)])).json()["id"]
    r = api.post(f"/api/v1/orders/{oid}/holds", json={"type": "fraud", "reason": "mismatched address"})
    assert r.status_code == 200 and r.json()["on_hold"] is True
    dup = api.post(f"/api/v1/orders/{oid}/holds", json={"type": "fraud", "reason": "again"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "hold_conflict"
    r = api.post(f"/api/v1/orders/{oid}/holds/fraud/release", json={"reason": "verified by phone"})
    assert r.status_code == 200 and r.json()["on_hold"] is False
    assert api.post(f"/api/v1/orders/{oid}/holds/fraud/release", json={"reason": "x"}).status_code == 409
    events = [e["event_type"] for e in r.json()["timeline"]]
    assert events == ["order.placed", "order.hold_placed", "order.hold_released"]
    api.post(f"/api/v1/orders/{oid}/cancel", json={"reason": "x"})
    late = api.post(f"/api/v1/orders/{oid}/holds", json={"type": "manual", "reason": "late"})
    assert late.status_code == 409
    assert "is cancelled" in late.json()["error"]["message"]


def test_list_filters_and_cursor_pagination(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 100, ("B", "WH1"): 100})
    ids = []
    for i in range(5):
        sku = "A" if i % 2 == 0 else "B"
        body = order_body([(sku, 1)], external_order_id=f"E-{i}", customer={"email": f"c{i}@example.com"})
        ids.append(api.post("/api/v1/orders", json=body).json()["id"])
    page1 = api.get("/api/v1/orders", params={"limit": 2}).json()
    page2 = api.get("/api/v1/orders", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    page3 = api.get("/api/v1/orders", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    seen = [o["id"] for p in (page1, page2, page3) for o in p["items"]]
    assert seen == sorted(ids, reverse=True)
    assert page3["next_cursor"] is None
    assert [o["external_order_id"] for o in api.get("/api/v1/orders", params={"sku": "B"}).json()["items"]] == [
        "E-3",
        "E-1",
    ]
    assert len(api.get("/api/v1/orders", params={"q": "c2@example.com"}).json()["items"]) == 1
    assert api.get("/api/v1/orders", params={"q": f"SO-{ids[0]:07d}"}).json()["items"][0]["id"] == ids[0]
    api.post(f"/api/v1/orders/{ids[0]}/cancel", json={"reason": "x"})
    cancelled = api.get("/api/v1/orders", params={"status": "cancelled"}).json()["items"]
    assert [o["id"] for o in cancelled] == [ids[0]]
    assert api.get("/api/v1/orders", params={"cursor": "garbage!"}).status_code == 422
