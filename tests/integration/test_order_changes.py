"""Order changes on SQLite and PostgreSQL: each change kind end to end, reservations, ledger
and `openoms check` consistent after, totals, version conflicts, refusals that change nothing,
and the outbox event for the channel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import LedgerEntry, OutboxMessage, table
from openoms.domain.fulfillment import FulfilmentStatus
from openoms.services import fulfillment, orders
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import books, seed_basics

T = Actor("tests")


def _capture(api: TestClient, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    body = {
        "channel": "web",
        "currency": "USD",
        "external_order_id": extra.pop("ext", "EXT-1"),
        "lines": [{"sku": s, "quantity": q, "unit_price": "10.00", "tax": str(q)} for s, q in lines],
        "shipping_total": "5.00",
        **extra,
    }
    r = api.post("/api/v1/orders", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _stock(db: Database) -> dict[str, Any]:
    return {k: v for k, v in books(db).items() if k == "stock_levels"}


def _reserved(db: Database, sku: str, location: str) -> int:
    from openoms.adapters.db.tables import Location, Product, StockLevel

    st, pr, lo = table(StockLevel), table(Product), table(Location)
    with db.read() as conn:
        return int(
            conn.execute(
                select(st.c.reserved)
                .join(pr, pr.c.id == st.c.product_id)
                .join(lo, lo.c.id == st.c.location_id)
                .where(pr.c.sku == sku, lo.c.code == location)
            ).scalar_one()
        )


def _outbox(db: Database, event_type: str) -> list[dict[str, Any]]:
    t = table(OutboxMessage)
    with db.read() as conn:
        return [
            dict(p)
            for p in conn.execute(select(t.c.payload).where(t.c.event_type == event_type).order_by(t.c.id)).scalars()
        ]


def _ledger(db: Database, order_id: int) -> list[tuple[str, int, int]]:
    t = table(LedgerEntry)
    with db.read() as conn:
        return [
            (r.entry_type, int(r.reserved_delta), int(r.product_id))
            for r in conn.execute(select(t).where(t.c.order_id == order_id).order_by(t.c.id))
        ]


def test_quantity_up_reserves_more_at_the_same_location(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("A", "WH2"): 10})
    order = _capture(api, [("A", 2)])
    where = order["lines"][0]["reservations"][0]["location"]
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 5, "reason": "customer wants more"})
    assert r.status_code == 200, r.text
    o = r.json()
    ln = o["lines"][0]
    assert (ln["quantity"], ln["quantity_open"], ln["quantity_reserved"]) == (5, 5, 5)
    assert {x["location"] for x in ln["reservations"]} == {where}
    assert _reserved(db, "A", where) == 5
    # 5 x 10.00, tax grows per unit (2.00 for 2 -> 5.00 for 5), shipping unchanged
    assert (o["subtotal"], o["tax_total"], o["grand_total"]) == ("50.00", "5.00", "60.00")
    assert o["version"] == order["version"] + 1
    assert o["timeline"][-1]["event_type"] == "order.changed"
    assert "Change sent to channel web (order EXT-1)" in o["timeline"][-1]["message"]
    ev = _outbox(db, "order.changed")[-1]
    assert ev["order"]["channel"] == "web" and ev["order"]["external_order_id"] == "EXT-1"
    assert ev["changes"][0] == {
        "kind": "quantity",
        "line": 1,
        "sku": "A",
        "from": 2,
        "to": 5,
        "reserved": [{"location": where, "quantity": 3}],
    }
    assert ("reservation", 3, ln_product(db, "A")) in _ledger(db, order["id"])
    assert run_check(db).ok, run_check(db).problems


def ln_product(db: Database, sku: str) -> int:
    from openoms.adapters.db.tables import Product

    with db.read() as conn:
        return int(conn.execute(select(table(Product).c.id).where(table(Product).c.sku == sku)).scalar_one())


def test_quantity_up_routes_extra_units_when_the_location_is_short(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 3, ("A", "WH2"): 3})
    order = _capture(api, [("A", 3)])
    first = order["lines"][0]["reservations"][0]["location"]
    other = "WH2" if first == "WH1" else "WH1"
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 5, "reason": "more"})
    assert r.status_code == 200, r.text
    res = {x["location"]: x["quantity"] for x in r.json()["lines"][0]["reservations"]}
    assert res == {first: 3, other: 2}
    assert run_check(db).ok


def test_quantity_up_beyond_stock_is_refused_and_changes_nothing(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 3})
    order = _capture(api, [("A", 2)])
    before = books(db)
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 9, "reason": "more"})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "insufficient_stock"
    assert err["errors"] == [{"field": "quantity", "reason": "7 more of A requested, 1 available"}]
    assert books(db) == before


def test_quantity_down_is_a_partial_cancellation(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    seed_more = api.post("/api/v1/stock/receipts", json={"sku": "B", "location": "WH1", "quantity": 5, "reason": "x"})
    assert seed_more.status_code == 200, seed_more.text
    order = _capture(api, [("A", 4), ("B", 1)], ext="EXT-2")
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 1, "reason": "too many"})
    assert r.status_code == 200, r.text
    o = r.json()
    ln = o["lines"][0]
    assert (ln["quantity"], ln["quantity_cancelled"], ln["quantity_reserved"], ln["status"]) == (4, 3, 1, "allocated")
    assert _reserved(db, "A", "WH1") == 1
    # lines: A 1 x 10 (tax 4 -> 1), B 1 x 10 (tax 1); shipping 5
    assert (o["subtotal"], o["tax_total"], o["grand_total"]) == ("20.00", "2.00", "27.00")
    assert run_check(db).ok


def test_released_line_is_pulled_back_until_picked(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _capture(api, [("A", 4)])
    fos = fulfillment.release_order(db, order["id"], T)
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 3, "reason": "one less"})
    assert r.status_code == 200, r.text
    fo = fulfillment.get_fulfilment_order(db, fos[0]["id"])
    assert fo["lines"][0]["quantity_cancelled"] == 1
    # more units for a released line: refused with the way out
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 5, "reason": "more"})
    assert r.status_code == 409 and "add a new line" in r.json()["error"]["message"]
    fulfillment.report_progress(db, fos[0]["id"], FulfilmentStatus.ACCEPTED, T)
    fulfillment.report_progress(db, fos[0]["id"], FulfilmentStatus.PICKED, T)
    before = books(db)
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 2, "reason": "one less"})
    assert r.status_code == 409, r.text
    assert "picked at WH1" in r.json()["error"]["message"]
    assert books(db) == before
    assert run_check(db).ok


def test_add_line_routes_and_adds_proportional_tax(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH2"): 10})
    order = _capture(api, [("A", 2)])  # 20.00 + tax 2.00: a 10% rate
    r = api.post(f"/api/v1/orders/{order['id']}/lines", json={"sku": "B", "quantity": 3, "reason": "add-on"})
    assert r.status_code == 200, r.text
    o = r.json()
    new = o["lines"][1]
    assert (new["line_number"], new["sku"], new["quantity"], new["status"]) == (2, "B", 3, "allocated")
    assert new["unit_price"] == "10.00" and new["tax"] == "3.00"
    assert new["reservations"] == [{"location": "WH2", "quantity": 3}]
    assert (o["subtotal"], o["tax_total"], o["grand_total"]) == ("50.00", "5.00", "60.00")
    # tax given: used as is
    r = api.post(
        f"/api/v1/orders/{order['id']}/lines",
        json={"sku": "B", "quantity": 1, "unit_price": "7.50", "tax": "0.00", "reason": "add-on"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["grand_total"] == "67.50"
    assert run_check(db).ok


def test_swap_sku_cancels_the_old_line_and_adds_a_new_one(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("C", "WH1"): 10})
    order = _capture(api, [("A", 2)])
    r = api.patch(
        f"/api/v1/orders/{order['id']}/lines/1", json={"sku": "C", "unit_price": "12.00", "reason": "wrong colour"}
    )
    assert r.status_code == 200, r.text
    o = r.json()
    old, new = o["lines"]
    assert (old["status"], old["quantity_cancelled"], old["quantity_reserved"]) == ("cancelled", 2, 0)
    assert (new["sku"], new["quantity"], new["unit_price"], new["quantity_reserved"]) == ("C", 2, "12.00", 2)
    assert _reserved(db, "A", "WH1") == 0 and _reserved(db, "C", "WH1") == 2
    assert (o["subtotal"], o["tax_total"], o["grand_total"]) == ("24.00", "2.40", "31.40")
    change = _outbox(db, "order.changed")[-1]["changes"][0]
    assert (change["kind"], change["new_line"], change["new_sku"]) == ("swap_sku", 2, "C")
    assert run_check(db).ok


def test_address_change_reroutes_and_is_refused_after_release(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    addr = {"line1": "1 Main St", "city": "Austin", "country": "US", "postal_code": "73301"}
    order = _capture(api, [("A", 1)], shipping_address=addr)
    new = {"line1": "9 Elm St", "city": "Boston", "country": "US", "postal_code": "02101"}
    r = api.patch(f"/api/v1/orders/{order['id']}", json={"shipping_address": new, "reason": "customer moved"})
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["shipping_address"]["city"] == "Boston"
    types = [e["event_type"] for e in o["timeline"]]
    assert types[-2:] == ["order.rerouted", "order.changed"]
    r = api.patch(
        f"/api/v1/orders/{order['id']}",
        json={"service_level": "express", "reason": "needs it sooner"},
        headers={"If-Match": f'"{o["version"]}"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["service_level"] == "express" and r.headers["ETag"] == f'"{o["version"] + 1}"'
    fulfillment.release_order(db, order["id"], T)
    before = books(db)
    r = api.patch(f"/api/v1/orders/{order['id']}", json={"shipping_address": addr, "reason": "back again"})
    assert r.status_code == 409 and "released to fulfilment" in r.json()["error"]["message"]
    assert books(db) == before
    assert run_check(db).ok


def test_stale_version_is_refused(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _capture(api, [("A", 2)])
    v = order["version"]
    assert (
        api.patch(
            f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 3, "reason": "x", "expected_version": v}
        ).status_code
        == 200
    )
    before = books(db)
    r = api.patch(
        f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 4, "reason": "x"}, headers={"If-Match": str(v)}
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "version_conflict"
    assert r.json()["error"]["current_version"] == v + 1
    assert books(db) == before


def test_idempotency_key_replays_the_first_change(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _capture(api, [("A", 2)])
    h = {"Idempotency-Key": "chg-1"}
    r1 = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 3, "reason": "x"}, headers=h)
    r2 = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 3, "reason": "x"}, headers=h)
    assert r1.status_code == r2.status_code == 200
    assert r2.headers["Idempotent-Replayed"] == "true"
    assert r2.json()["lines"][0]["quantity"] == 3 and r2.json()["version"] == r1.json()["version"]
    assert len(_outbox(db, "order.changed")) == 1
    r3 = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 4, "reason": "x"}, headers=h)
    assert r3.status_code == 422 and r3.json()["error"]["code"] == "idempotency_key_reused"


def test_nothing_changes_after_shipment(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH1"): 10})
    order = _capture(api, [("A", 2)])
    orders.cancel_order(db, order["id"], "customer", T)
    before = books(db)
    for path, body in (
        (f"/api/v1/orders/{order['id']}/lines/1", {"quantity": 1, "reason": "x"}),
        (f"/api/v1/orders/{order['id']}/lines", {"sku": "B", "quantity": 1, "reason": "x"}),
        (f"/api/v1/orders/{order['id']}", {"service_level": "express", "reason": "x"}),
    ):
        r = api.patch(path, json=body) if "sku" not in body else api.post(path, json=body)
        assert r.status_code == 409, r.text
        assert "cancelled" in r.json()["error"]["message"]
    assert books(db) == before


def test_cancellations_reduce_totals_and_name_the_channel(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "WH1"): 10, ("B", "WH1"): 10})
    order = _capture(api, [("A", 2), ("B", 2)])
    orders.cancel_lines(db, order["id"], [(1, 1)], "one less", T)
    o = orders.get_order(db, order["id"])
    assert (o["subtotal"], o["tax_total"], o["grand_total"]) == (
        Decimal("30.00"),
        Decimal("3.00"),
        Decimal("38.00"),
    )
    ev = _outbox(db, "order.line_cancelled")[-1]
    assert ev["order"]["channel"] == "web" and ev["order"]["external_order_id"] == "EXT-1"
    orders.cancel_order(db, order["id"], "customer", T)
    o = orders.get_order(db, order["id"])
    assert o["grand_total"] == Decimal("0.00") and o["shipping_total"] == Decimal("0.00")
    ev = _outbox(db, "order.cancelled")[-1]
    assert ev["order"]["external_order_id"] == "EXT-1" and ev["order"]["grand_total"] == "0.00"
    assert o["timeline"][-1]["data"]["sent_to"] == "Change sent to channel web (order EXT-1) through the outbox"


def test_pickup_order_extra_units_only_at_its_store(db: Database, api: TestClient) -> None:
    seed_basics(db, stock={("A", "ST1"): 3, ("A", "WH1"): 50})
    order = _capture(api, [("A", 1)], fulfilment_method="pickup", pickup_location="ST1")
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 3, "reason": "two more"})
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["reservations"] == [{"location": "ST1", "quantity": 3}]
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 5, "reason": "more"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_stock"
    r = api.patch(f"/api/v1/orders/{order['id']}", json={"service_level": "express", "reason": "x"})
    assert r.status_code == 409 and "collected in store" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 0, "reason": "x"}, "quantity"),
        ({"reason": "x"}, "body"),
        ({"quantity": 2}, "reason"),
        ({"sku": "ZZZ", "reason": "x"}, "sku"),
        ({"quantity": 3, "unit_price": "1.00", "reason": "x"}, "unit_price"),
    ],
)
def test_bad_line_changes_name_the_field(db: Database, api: TestClient, body: dict[str, Any], field: str) -> None:
    seed_basics(db, stock={("A", "WH1"): 10})
    order = _capture(api, [("A", 2)])
    before = books(db)
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"].startswith(field) for e in r.json()["error"]["errors"]), r.json()
    assert books(db) == before


def test_payment_follows_the_change_after_commit(db: Database, api: TestClient) -> None:
    from openoms.services import payments

    seed_basics(db, stock={("A", "WH1"): 10})
    order = _capture(api, [("A", 3)])  # 30.00 + tax 3.00 + shipping 5.00
    p = payments.authorize_payment(
        db, order["id"], provider="test", payment_method="test_ok", actor=T, idempotency_key="a"
    )
    payments.capture_payment(db, p["id"], Decimal("38.00"), actor=T, idempotency_key="c")
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 1, "reason": "two less"})
    assert r.status_code == 200, r.text
    assert r.json()["grand_total"] == "16.00"
    view = payments.list_payments(db, order["id"])
    assert [(x["amount"], x["kind"]) for x in view["refunds"]] == [(Decimal("22.00"), "cancellation")]
    assert view["balance_due"] == Decimal("0.00")
    # the order grew again: more is authorised for the difference
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 2, "reason": "one more after all"})
    assert r.status_code == 200, r.text
    assert payments.list_payments(db, order["id"])["authorized"] == Decimal("11.00")


def test_backordered_line_gives_back_waiting_units_first(db: Database, api: TestClient) -> None:
    from tests.integration.test_backorders import _allow, _lot

    seed_basics(db, stock={("A", "WH1"): 2, ("B", "WH1"): 5})
    _allow(api, "A")
    _lot(api, "A", "WH1", 10, 7, "PO-7")
    order = _capture(api, [("A", 5)])
    assert order["status"] == "backordered"
    assert (order["lines"][0]["quantity_reserved"], order["lines"][0]["quantity_backordered"]) == (2, 3)
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 3, "reason": "fewer"})
    assert r.status_code == 200, r.text
    ln = r.json()["lines"][0]
    assert (ln["quantity_reserved"], ln["quantity_backordered"], ln["status"]) == (2, 1, "backordered")
    r = api.patch(f"/api/v1/orders/{order['id']}/lines/1", json={"quantity": 6, "reason": "more"})
    assert r.status_code == 409 and "waiting for stock" in r.json()["error"]["message"]
    r = api.post(f"/api/v1/orders/{order['id']}/lines", json={"sku": "B", "quantity": 2, "reason": "add-on"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "backordered" and r.json()["lines"][1]["quantity_reserved"] == 2
    assert run_check(db).ok
