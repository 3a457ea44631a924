"""Promises from stock on its way: the quote counts inbound lots when the shelves are short and
starts the promise from their arrival; inbound is recorded with clear refusals."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.domain.inventory import InboundLot, inbound_ready_at
from tests.integration.test_routing_capture import NJ, order_body, seed

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def test_the_shelf_goes_first_then_the_earliest_lots() -> None:
    lots = {1: [InboundLot(T0 + dt.timedelta(days=9), 5, "PO-2"), InboundLot(T0, 2, "PO-1")]}
    units, ready, used = inbound_ready_at({1: 4}, {1: 1}, lots)
    assert units == {1: 8} and ready == T0 + dt.timedelta(days=9) and [u.reference for u in used] == ["PO-1", "PO-2"]
    units, ready, used = inbound_ready_at({1: 3}, {1: 1}, lots)
    assert units == {1: 3} and ready == T0 and [u.reference for u in used] == ["PO-1"]
    assert inbound_ready_at({1: 1}, {1: 1}, lots) == ({1: 1}, None, [])  # on the shelf
    units, ready, _ = inbound_ready_at({1: 20, 2: 1}, {}, lots)
    assert units == {1: 7, 2: 0}  # short even with every lot


def _future(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def test_a_short_basket_is_promised_from_inbound_and_not_reserved(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 1})
    quote = {"channel": "web", "lines": [{"sku": "A", "quantity": 3}], "shipping_address": NJ}
    assert api.post("/api/v1/promise", json=quote).status_code == 409  # nothing on its way yet

    r = api.post(
        "/api/v1/inbound",
        json={"sku": "A", "location": "WH-EAST", "quantity": 5, "expected_at": _future(10), "reference": "PO-77"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "open"
    q = api.post("/api/v1/promise", json=quote)
    assert q.status_code == 200, q.text
    body = q.json()
    eta = dt.date.fromisoformat(_future(10)[:10])
    assert body["availability"] == "inbound"
    assert dt.date.fromisoformat(body["promise"]["ship_date"]) >= eta
    assert any("PO-77" in n for n in body["notes"])
    assert "stock due" in body["promise"]["basis"] or "arriv" in body["promise"]["basis"]
    # Quoting reserved nothing, and an order cannot be captured against inbound (yet).
    assert api.get("/api/v1/availability/A").json()["reserved"] == 0
    assert api.post("/api/v1/orders", json=order_body([("A", 3)])).status_code == 409

    # In stock again: the promise is from the shelf.
    in_stock = api.post("/api/v1/promise", json={**quote, "lines": [{"sku": "A", "quantity": 1}]}).json()
    assert in_stock["availability"] == "in_stock"
    assert dt.date.fromisoformat(in_stock["promise"]["ship_date"]) < eta


def test_a_cancelled_lot_no_longer_counts(api: TestClient, db: Database) -> None:
    seed(db, {})
    lot = api.post(
        "/api/v1/inbound", json={"sku": "A", "location": "WH-WEST", "quantity": 2, "expected_at": _future(3)}
    ).json()
    quote = {"channel": "web", "lines": [{"sku": "A", "quantity": 1}], "shipping_address": NJ}
    assert api.post("/api/v1/promise", json=quote).json()["availability"] == "inbound"
    assert [x["id"] for x in api.get("/api/v1/inbound", params={"sku": "A"}).json()] == [lot["id"]]
    assert api.post(f"/api/v1/inbound/{lot['id']}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/api/v1/inbound/{lot['id']}/cancel").status_code == 409
    assert api.post("/api/v1/promise", json=quote).status_code == 409
    assert api.get("/api/v1/inbound").json() == []
    assert api.post("/api/v1/inbound/999/cancel").status_code == 404


def test_bad_inbound_is_refused_with_its_field(api: TestClient, db: Database) -> None:
    seed(db, {})
    good = {"sku": "A", "location": "WH-EAST", "quantity": 1, "expected_at": _future(2)}
    for patch, field in [
        ({"sku": "NOPE"}, "sku"),
        ({"location": "NOWHERE"}, "location"),
        ({"quantity": 0}, "quantity"),
        ({"expected_at": "2026-12-01T09:00:00"}, "expected_at"),  # no offset
        ({"expected_at": _future(900)}, "expected_at"),
        ({"kind": "gift"}, "kind"),
    ]:
        r = api.post("/api/v1/inbound", json={**good, **patch})
        assert r.status_code == 422, (patch, r.text)
        assert r.json()["error"]["errors"][0]["field"] == field
    assert api.get("/api/v1/inbound").json() == []
