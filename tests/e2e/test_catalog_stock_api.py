"""Reference data (products, locations, channels, customers) and stock through the API, as
a client sees them, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services.check import run_check
from tests.conftest import books, order_body, seed_basics


def _all_pages(api: TestClient, path: str, limit: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = api.get(path, params=params)
        assert r.status_code == 200, r.text
        pages.append(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "pagination does not end"


# --- products -----------------------------------------------------------------------------


def test_products_create_read_update_list(api: TestClient) -> None:
    r = api.post(
        "/api/v1/products",
        json={"sku": "TEE-BLK-M", "name": "  Organic tee ", "list_price": "24.00", "weight_grams": 180},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in ("sku", "name", "currency", "active", "hazmat", "high_value", "weight_grams")} == {
        "sku": "TEE-BLK-M",
        "name": "Organic tee",
        "currency": "USD",
        "active": True,
        "hazmat": False,
        "high_value": False,
        "weight_grams": 180,
    }
    assert Decimal(created["list_price"]) == Decimal("24.00")
    assert api.get("/api/v1/products/TEE-BLK-M").json() == created

    dup = api.post("/api/v1/products", json={"sku": "TEE-BLK-M", "name": "Other"})
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "already_exists"
    assert dup.json()["error"]["errors"] == [{"field": "sku", "reason": "already exists"}]
    assert "use PATCH" in dup.json()["error"]["message"]
    assert api.get("/api/v1/products/TEE-BLK-M").json()["name"] == "Organic tee"

    r = api.patch("/api/v1/products/TEE-BLK-M", json={"list_price": "26.50", "hazmat": True, "weight_grams": None})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert Decimal(updated["list_price"]) == Decimal("26.50")
    assert (updated["hazmat"], updated["weight_grams"], updated["name"]) == (True, None, "Organic tee")
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] >= created["updated_at"]
    assert api.get("/api/v1/products/TEE-BLK-M").json() == updated

    for body, field in (({"name": None}, "name"), ({"active": None}, "active"), ({"sku": "NEW"}, "sku")):
        bad = api.patch("/api/v1/products/TEE-BLK-M", json=body)
        assert bad.status_code == 422, bad.text
        assert [e["field"] for e in bad.json()["error"]["errors"]] == [field]
    assert api.get("/api/v1/products/TEE-BLK-M").json() == updated

    missing = api.patch("/api/v1/products/NOPE", json={"name": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Product NOPE does not exist"
    assert api.get("/api/v1/products/NOPE").status_code == 404

    for i in range(4):
        assert api.post("/api/v1/products", json={"sku": f"SKU-{i}", "name": f"P{i}"}).status_code == 201
    pages = _all_pages(api, "/api/v1/products", limit=2)
    assert [[p["sku"] for p in page] for page in pages] == [["TEE-BLK-M", "SKU-0"], ["SKU-1", "SKU-2"], ["SKU-3"]]


def test_product_input_is_validated(api: TestClient) -> None:
    for body, field in (
        ({"sku": "has space", "name": "x"}, "sku"),
        ({"sku": "-leading", "name": "x"}, "sku"),
        ({"sku": "A" * 65, "name": "x"}, "sku"),
        ({"sku": "OK", "name": ""}, "name"),
        ({"sku": "OK", "name": "x", "currency": "EURO"}, "currency"),
        ({"sku": "OK", "name": "x", "list_price": "-1"}, "list_price"),
        ({"sku": "OK", "name": "x", "weight_grams": -5}, "weight_grams"),
        ({"sku": "OK"}, "name"),
    ):
        r = api.post("/api/v1/products", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in [e["field"] for e in r.json()["error"]["errors"]], (body, r.json())
    assert api.get("/api/v1/products").json() == {"items": [], "next_cursor": None}


# --- locations ----------------------------------------------------------------------------

LOCATION = {
    "code": "WH-RNO",
    "name": "Reno DC",
    "kind": "warehouse",
    "country": "US",
    "timezone": "America/Los_Angeles",
    "cutoff_time": "15:00",
    "daily_capacity": 4000,
    "latitude": "39.529600",
    "longitude": "-119.813800",
}


def test_locations_create_read_update_list(api: TestClient) -> None:
    r = api.post("/api/v1/locations", json=LOCATION)
    assert r.status_code == 201, r.text
    loc = r.json()
    assert (loc["cutoff_time"], loc["priority"], loc["ships"], loc["pickup"], loc["active"]) == (
        "15:00",
        100,
        True,
        False,
        True,
    )
    assert Decimal(loc["latitude"]) == Decimal("39.5296")
    assert api.get("/api/v1/locations/WH-RNO").json() == loc
    assert api.post("/api/v1/locations", json=LOCATION).status_code == 409

    r = api.patch("/api/v1/locations/WH-RNO", json={"cutoff_time": "16:30", "priority": 5, "ships": False})
    assert r.status_code == 200, r.text
    assert (r.json()["cutoff_time"], r.json()["priority"], r.json()["ships"]) == ("16:30", 5, False)
    assert api.get("/api/v1/locations/WH-RNO").json() == r.json()

    for patch, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"cutoff_time": "25:00"}, "cutoff_time"),
        ({"cutoff_time": "15:00+02:00"}, "cutoff_time"),
        ({"kind": "garage"}, "kind"),
        ({"latitude": "91"}, "latitude"),
        ({"priority": -1}, "priority"),
        ({"country": None}, "country"),
    ):
        bad = api.patch("/api/v1/locations/WH-RNO", json=patch)
        assert bad.status_code == 422, (patch, bad.text)
        assert [e["field"] for e in bad.json()["error"]["errors"]] == [field], bad.json()
    assert api.get("/api/v1/locations/WH-RNO").json() == r.json()
    assert api.patch("/api/v1/locations/NOPE", json={"priority": 1}).status_code == 404

    api.post("/api/v1/locations", json={**LOCATION, "code": "ST-NYC", "kind": "store", "timezone": "America/New_York"})
    pages = _all_pages(api, "/api/v1/locations", limit=1)
    assert [[x["code"] for x in page] for page in pages] == [["WH-RNO"], ["ST-NYC"], []]


# --- channels -----------------------------------------------------------------------------


def test_channels_create_read_update_and_inactive_channel_refuses_orders(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    r = api.post("/api/v1/channels", json={"code": "amazon-us", "name": "Amazon US", "kind": "amazon"})
    assert r.status_code == 201, r.text
    assert (r.json()["currency"], r.json()["active"]) == ("USD", True)
    assert api.get("/api/v1/channels/amazon-us").json() == r.json()
    assert api.post("/api/v1/channels", json={"code": "amazon-us", "name": "x", "kind": "amazon"}).status_code == 409
    bad = api.post("/api/v1/channels", json={"code": "tiktok", "name": "TikTok", "kind": "tiktok"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "kind"

    assert api.post("/api/v1/orders", json=order_body([("A", 1)], channel="amazon-us")).status_code == 201
    assert api.patch("/api/v1/channels/amazon-us", json={"active": False}).json()["active"] is False
    refused = api.post("/api/v1/orders", json=order_body([("A", 1)], channel="amazon-us"))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "unknown_channel"
    assert api.patch("/api/v1/channels/amazon-us", json={"active": True}).status_code == 200
    assert api.post("/api/v1/orders", json=order_body([("A", 1)], channel="amazon-us")).status_code == 201

    codes = [c["code"] for page in _all_pages(api, "/api/v1/channels", limit=2) for c in page]
    assert codes == ["web", "shopify", "amazon-us"]
    assert api.get("/api/v1/channels/nope").status_code == 404


# --- customers ----------------------------------------------------------------------------


def test_customers_are_keyed_by_lowercased_email(api: TestClient, db: Database) -> None:
    r = api.post("/api/v1/customers", json={"email": "Ana.Rivera@Example.COM", "name": "Ana", "phone": "+1 512 555"})
    assert r.status_code == 201, r.text
    ana = r.json()
    assert ana["email"] == "ana.rivera@example.com"
    assert api.get("/api/v1/customers/ANA.RIVERA@example.com").json() == ana
    dup = api.post("/api/v1/customers", json={"email": "ana.rivera@EXAMPLE.com"})
    assert dup.status_code == 409 and dup.json()["error"]["errors"] == [{"field": "email", "reason": "already exists"}]
    bad = api.post("/api/v1/customers", json={"email": "not-an-email"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "email"
    assert api.get("/api/v1/customers/nobody@example.com").status_code == 404

    # an order naming the customer finds it by e-mail and keeps the newest name
    seed_basics(db, stock={("A", "WH1"): 5})
    order = api.post(
        "/api/v1/orders", json=order_body([("A", 1)], customer={"email": "ANA.RIVERA@example.com", "name": "Ana R."})
    ).json()
    assert order["customer"]["id"] == ana["id"]
    after = api.get("/api/v1/customers/ana.rivera@example.com").json()
    assert (after["name"], after["phone"]) == ("Ana R.", "+1 512 555")

    for i in range(3):
        api.post("/api/v1/customers", json={"email": f"c{i}@example.com"})
    emails = [c["email"] for page in _all_pages(api, "/api/v1/customers", limit=3) for c in page]
    assert emails == ["ana.rivera@example.com", "c0@example.com", "c1@example.com", "c2@example.com"]


# --- stock --------------------------------------------------------------------------------


def _level(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_count_receive_adjust_and_the_ledger(api: TestClient, db: Database) -> None:
    seed_basics(db)
    assert _level(api.put("/api/v1/stock", json={"sku": "A", "location": "WH1", "on_hand": 10})) == {
        "sku": "A",
        "location": "WH1",
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "delta": 10,
    }
    received = _level(
        api.post("/api/v1/stock/receipts", json={"sku": "A", "location": "WH1", "quantity": 5, "reference": "PO-77"})
    )
    assert (received["on_hand"], received["delta"]) == (15, 5)
    adjusted = _level(
        api.post("/api/v1/stock/adjustments", json={"sku": "A", "location": "WH1", "delta": -3, "reason": "damaged"})
    )
    assert (adjusted["on_hand"], adjusted["available"], adjusted["delta"]) == (12, 12, -3)
    recount = _level(api.put("/api/v1/stock", json={"sku": "A", "location": "WH1", "on_hand": 12, "reason": "cycle"}))
    assert recount["delta"] == 0  # a count that confirms the figure is still recorded
    _level(api.post("/api/v1/stock/receipts", json={"sku": "A", "location": "WH2", "quantity": 4, "reason": "xfer"}))

    ledger = api.get("/api/v1/stock/ledger", params={"sku": "A"}).json()
    assert [(e["location"], e["entry_type"], e["on_hand_delta"], e["reason"], e["reference"]) for e in ledger] == [
        ("WH2", "receipt", 4, "xfer", None),
        ("WH1", "count", 0, "cycle", None),
        ("WH1", "adjustment", -3, "damaged", None),
        ("WH1", "receipt", 5, "receipt", "PO-77"),
        ("WH1", "count", 10, "count", None),
    ]
    assert {(e["actor"], e["reserved_delta"], e["order_id"]) for e in ledger} == {("api-key:tests", 0, None)}
    ids = [e["id"] for e in ledger]
    assert ids == sorted(ids, reverse=True)

    wh1 = api.get("/api/v1/stock/ledger", params={"sku": "A", "location": "WH1", "limit": 2}).json()
    assert [e["entry_type"] for e in wh1] == ["count", "adjustment"]
    older = api.get("/api/v1/stock/ledger", params={"sku": "A", "location": "WH1", "before_id": wh1[-1]["id"]}).json()
    assert [e["entry_type"] for e in older] == ["receipt", "count"]
    assert api.get("/api/v1/stock/ledger", params={"sku": "B"}).json() == []
    assert api.get("/api/v1/stock/ledger", params={"sku": "NOPE"}).status_code == 404

    # orders move reserved, and the ledger says which order did
    oid = api.post("/api/v1/orders", json=order_body([("A", 2)])).json()["id"]
    api.post(f"/api/v1/orders/{oid}/cancel", json={"reason": "changed mind"})
    moves = api.get("/api/v1/stock/ledger", params={"sku": "A", "limit": 2}).json()
    assert [(e["entry_type"], e["reserved_delta"], e["order_id"], e["reference"]) for e in moves] == [
        ("release", -2, oid, f"SO-{oid:07d}"),
        ("reservation", 2, oid, f"SO-{oid:07d}"),
    ]
    assert moves[0]["reason"] == "changed mind"
    report = run_check(db)
    assert report.ok, report.problems
    assert report.ledger_rows == 7


def test_stock_writes_replay_on_the_same_idempotency_key(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    body = {"sku": "A", "location": "WH1", "delta": -2, "reason": "shrinkage"}
    first = _level(api.post("/api/v1/stock/adjustments", json=body, headers={"Idempotency-Key": "adj-1"}))
    again = _level(api.post("/api/v1/stock/adjustments", json=body, headers={"Idempotency-Key": "adj-1"}))
    assert first == again == {"sku": "A", "location": "WH1", "on_hand": 8, "reserved": 0, "available": 8, "delta": -2}
    other = api.post(
        "/api/v1/stock/adjustments", json={**body, "delta": -1}, headers={"Idempotency-Key": "adj-1"}
    ).json()
    assert other["error"]["code"] == "idempotency_key_reused"
    assert api.get("/api/v1/availability/A").json()["on_hand"] == 8
    assert len(api.get("/api/v1/stock/ledger", params={"sku": "A"}).json()) == 2
    assert run_check(db).ok


def test_availability_per_location_and_across_the_network(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 5, ("A", "WH2"): 3, ("A", "ST1"): 7, ("C", "WH2"): 1})
    assert api.post("/api/v1/orders", json=order_body([("A", 2)])).status_code == 201  # reserved at WH1

    a = api.get("/api/v1/availability/A").json()
    assert a == {
        "sku": "A",
        "network_available": 6,  # ST1 does not ship, so its 7 do not count
        "on_hand": 15,
        "reserved": 2,
        "locations": [
            {"location": "ST1", "on_hand": 7, "reserved": 0, "safety_stock": 0, "available": 7, "ships": False},
            {"location": "WH1", "on_hand": 5, "reserved": 2, "safety_stock": 0, "available": 3, "ships": True},
            {"location": "WH2", "on_hand": 3, "reserved": 0, "safety_stock": 0, "available": 3, "ships": True},
        ],
    }
    both = api.get("/api/v1/availability", params={"sku": ["A", "B"]}).json()
    assert [x["sku"] for x in both] == ["A", "B"]
    assert both[1] == {"sku": "B", "network_available": 0, "on_hand": 0, "reserved": 0, "locations": []}
    at_wh2 = api.get("/api/v1/availability", params={"sku": ["A"], "location": "WH2"}).json()
    assert [(x["network_available"], [loc["location"] for loc in x["locations"]]) for x in at_wh2] == [(3, ["WH2"])]

    page1 = api.get("/api/v1/availability", params={"limit": 2}).json()
    page2 = api.get("/api/v1/availability", params={"limit": 2, "after_sku": page1[-1]["sku"]}).json()
    assert [x["sku"] for x in page1 + page2] == ["A", "B", "C", "D"]
    assert page2[0]["network_available"] == 1

    unknown = api.get("/api/v1/availability/NOPE")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["errors"] == [{"field": "sku", "reason": "unknown SKU 'NOPE'"}]
    nowhere = api.get("/api/v1/availability", params={"sku": ["A"], "location": "NOPE"})
    assert nowhere.status_code == 422 and nowhere.json()["error"]["code"] == "unknown_location"

    # an inactive location keeps its stock but no longer counts, and capture does not use it
    assert api.patch("/api/v1/locations/WH2", json={"active": False}).status_code == 200
    a = api.get("/api/v1/availability/A").json()
    assert a["network_available"] == 3
    assert [(x["location"], x["ships"]) for x in a["locations"]] == [("ST1", False), ("WH1", True), ("WH2", False)]
    short = api.post("/api/v1/orders", json=order_body([("A", 4)]))
    assert short.status_code == 409
    assert short.json()["error"]["shortages"] == [{"sku": "A", "requested": 4, "available": 3, "short": 1}]


def test_on_hand_below_reserved_is_409_and_changes_nothing(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 5})
    oid = api.post("/api/v1/orders", json=order_body([("A", 4)])).json()["id"]
    before = books(db)
    r = api.post("/api/v1/stock/adjustments", json={"sku": "A", "location": "WH1", "delta": -2, "reason": "broken"})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "stock_conflict"
    assert err["message"].startswith("A at WH1: on hand would become 3, but 4 unit(s) are reserved for orders")
    assert err["errors"] == [{"field": "delta", "reason": "on hand 5 + -2 < reserved 4"}]
    assert (err["on_hand"], err["reserved"], err["delta"]) == (5, 4, -2)
    count = api.put("/api/v1/stock", json={"sku": "A", "location": "WH1", "on_hand": 3})
    assert count.status_code == 409 and count.json()["error"]["code"] == "stock_conflict"
    assert books(db) == before
    assert run_check(db).ok

    # down to exactly what is reserved is fine; below it again is not
    level = _level(
        api.post("/api/v1/stock/adjustments", json={"sku": "A", "location": "WH1", "delta": -1, "reason": "broken"})
    )
    assert (level["on_hand"], level["reserved"], level["available"]) == (4, 4, 0)
    assert api.put("/api/v1/stock", json={"sku": "A", "location": "WH1", "on_hand": 0}).status_code == 409
    # once the order is cancelled the units are free to write off
    api.post(f"/api/v1/orders/{oid}/cancel", json={"reason": "x"})
    assert _level(api.put("/api/v1/stock", json={"sku": "A", "location": "WH1", "on_hand": 0}))["delta"] == -4
    assert run_check(db).ok
