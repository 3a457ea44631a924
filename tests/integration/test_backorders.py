"""Backorders and preorders through the API on SQLite and PostgreSQL: capture against inbound
lots, the promise from the lot, allocation on receipt in capture order, cancellation, refusals."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Backorder, OutboxMessage, table
from openoms.config import get_settings
from openoms.services import catalog, inbound, orders
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import books, order_body, seed_basics
from tests.integration.test_cli import Cli
from tests.integration.test_routing_capture import NJ, available, seed
from tests.integration.test_routing_capture import order_body as routed_order

T = Actor("tests")


def _at(days: int) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0)


def _lot(api: TestClient, sku: str, location: str, quantity: int, days: int, ref: str) -> dict[str, Any]:
    r = api.post(
        "/api/v1/inbound",
        json={
            "sku": sku,
            "location": location,
            "quantity": quantity,
            "expected_at": _at(days).isoformat(),
            "reference": ref,
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _allow(api: TestClient, sku: str, policy: str = "backorder", channel: str = "web") -> None:
    r = api.patch(f"/api/v1/products/{sku}", json={"backorder_policy": policy})
    assert r.status_code == 200 and r.json()["backorder_policy"] == policy, r.text
    r = api.patch(f"/api/v1/channels/{channel}", json={"accepts_backorders": True})
    assert r.status_code == 200 and r.json()["accepts_backorders"] is True, r.text


def _capture(api: TestClient, lines: list[tuple[str, int]], ext: str) -> Any:
    return api.post("/api/v1/orders", json=order_body(lines, external_order_id=ext))


def _receive(api: TestClient, sku: str, location: str, quantity: int) -> dict[str, Any]:
    r = api.post(
        "/api/v1/stock/receipts", json={"sku": sku, "location": location, "quantity": quantity, "reason": "PO"}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _order(api: TestClient, number: str) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/orders/{number}").json())


def test_short_units_wait_for_the_earliest_lots_and_are_promised_from_them(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 2})
    _allow(api, "A")
    po1 = _lot(api, "A", "WH1", 5, 10, "PO-1")
    po2 = _lot(api, "A", "WH1", 10, 20, "PO-2")

    first = _capture(api, [("A", 4)], "o1")
    assert first.status_code == 201, first.text
    o1 = first.json()
    line = o1["lines"][0]
    assert o1["status"] == "backordered" and line["status"] == "backordered"
    assert (line["quantity_reserved"], line["quantity_backordered"]) == (2, 2)
    assert line["expected_at"][:10] == po1["expected_at"][:10]
    assert "backordered line 1 (A) x2 at WH1" in o1["timeline"][0]["message"]
    assert _order(api, o1["order_number"])["lines"][0]["quantity_backordered"] == 2  # as read back

    # PO-1 has 3 unclaimed units left: the next order takes them and 1 of PO-2.
    o2 = _capture(api, [("A", 4)], "o2").json()
    assert o2["lines"][0]["quantity_reserved"] == 0 and o2["lines"][0]["quantity_backordered"] == 4
    assert o2["lines"][0]["expected_at"][:10] == po2["expected_at"][:10]
    with db.read() as conn:
        bo = table(Backorder)
        claims = conn.execute(select(bo.c.inbound_id, bo.c.quantity).order_by(bo.c.id)).all()
    assert [tuple(c) for c in claims] == [(po1["id"], 2), (po1["id"], 3), (po2["id"], 1)]

    # More than every lot still has: refused, naming the line, and nothing changes.
    before = books(db)
    r = _capture(api, [("B", 1), ("A", 10)], "o3")
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_stock", r.text
    assert any(e["field"] == "lines[1].quantity" for e in r.json()["error"]["errors"])
    assert books(db) == before

    queue = api.get("/api/v1/backorders", params={"sku": "A"}).json()
    assert [(q["position"], q["order_number"], q["quantity_waiting"]) for q in queue] == [
        (1, o1["order_number"], 2),
        (2, o2["order_number"], 4),
    ]
    assert queue[0]["inbound_reference"] == "PO-1" and queue[0]["policy"] == "backorder"

    # A partial receipt: the first order is served whole, the second gets what is left.
    level = _receive(api, "A", "WH1", 4)
    assert (level["on_hand"], level["reserved"], level["available"]) == (6, 6, 0)
    got1, got2 = _order(api, o1["order_number"]), _order(api, o2["order_number"])
    assert got1["status"] == "allocated" and got1["lines"][0]["status"] == "allocated"
    assert got1["lines"][0]["quantity_reserved"] == 4 and got1["lines"][0]["quantity_backordered"] == 0
    assert got2["status"] == "backordered"
    assert (got2["lines"][0]["quantity_reserved"], got2["lines"][0]["quantity_backordered"]) == (2, 2)
    event = got1["timeline"][-1]
    assert event["event_type"] == "order.backorder_allocated" and "nothing waits" in event["message"]
    assert "2 unit(s) still waiting" in got2["timeline"][-1]["message"]
    with db.read() as conn:
        out = table(OutboxMessage)
        published = conn.execute(
            select(out.c.aggregate_id).where(out.c.event_type == "order.backorder_allocated").order_by(out.c.id)
        ).all()
    assert len(published) == 2

    _receive(api, "A", "WH1", 5)
    assert _order(api, o2["order_number"])["status"] == "allocated"
    assert api.get("/api/v1/backorders").json() == []
    assert available(api, "A")["WH1"] == 3
    # Served backorders leave the lots' room to new orders again.
    assert _capture(api, [("A", 3)], "o4").json()["status"] == "allocated"
    assert run_check(db).ok, run_check(db).problems


def test_the_promise_comes_from_the_lot_the_units_wait_for(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 1})  # with carrier rates: orders get a promise
    _allow(api, "A")
    lot = _lot(api, "A", "WH-EAST", 5, 12, "PO-9")
    quote = api.post(
        "/api/v1/promise", json={"channel": "web", "lines": [{"sku": "A", "quantity": 3}], "shipping_address": NJ}
    )
    r = api.post("/api/v1/orders", json=routed_order([("A", 3)]))
    assert r.status_code == 201, r.text
    order = r.json()
    eta = dt.date.fromisoformat(lot["expected_at"][:10])
    assert order["status"] == "backordered"
    assert dt.date.fromisoformat(order["promise"]["ship_date"]) >= eta
    assert order["promise"]["ship_date"] == quote.json()["promise"]["ship_date"]
    assert order["lines"][0]["expected_at"][:10] == lot["expected_at"][:10]
    # The shelf unit is reserved and 2 of PO-9 are claimed: quotes count only the 3 left.
    q = {"channel": "web", "lines": [{"sku": "A", "quantity": 4}], "shipping_address": NJ}
    assert api.post("/api/v1/promise", json=q).status_code == 409
    assert api.post("/api/v1/promise", json={**q, "lines": [{"sku": "A", "quantity": 3}]}).status_code == 200


def test_without_permission_a_short_order_is_refused_as_before(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 1})
    _lot(api, "A", "WH1", 5, 5, "PO-1")
    before = books(db)
    # Neither the product nor the channel allows it.
    r = _capture(api, [("A", 3)], "x1")
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_stock"
    assert r.json()["error"]["errors"][0]["field"] == "lines[0].quantity"
    # The product allows it, the channel does not.
    api.patch("/api/v1/products/A", json={"backorder_policy": "backorder"})
    r = _capture(api, [("A", 3)], "x2")
    assert r.status_code == 409 and r.json()["error"]["errors"][0]["field"] == "lines[0].sku"
    assert "does not accept backorders" in r.json()["error"]["message"]
    # The channel allows it, a short line's product does not.
    api.patch("/api/v1/channels/web", json={"accepts_backorders": True})
    api.patch("/api/v1/products/A", json={"backorder_policy": "none"})
    r = _capture(api, [("A", 3)], "x3")
    assert r.status_code == 409 and r.json()["error"]["errors"][0]["field"] == "lines[0].quantity"
    # Other channels keep refusing.
    api.patch("/api/v1/products/A", json={"backorder_policy": "backorder"})
    r = api.post("/api/v1/orders", json={**order_body([("A", 3)]), "channel": "shopify"})
    assert r.status_code == 409
    assert books(db) == {**before, "products": before["products"], "channels": before["channels"]}
    # Bad policy values are refused with the field.
    r = api.patch("/api/v1/products/A", json={"backorder_policy": "maybe"})
    assert r.status_code == 422 and "backorder_policy" in r.text
    r = api.patch("/api/v1/channels/web", json={"accepts_backorders": None})
    assert r.status_code == 422 and "accepts_backorders" in r.text


def test_preorders_wait_for_inbound_even_with_units_on_the_shelf(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("B", "WH1"): 3})
    _allow(api, "B", "preorder")
    r = _capture(api, [("B", 2)], "p0")
    assert r.status_code == 409  # nothing on its way: a preorder is taken against inbound only
    _lot(api, "B", "WH1", 5, 30, "PO-LAUNCH")
    p1 = _capture(api, [("B", 2)], "p1").json()
    assert p1["status"] == "backordered"
    assert (p1["lines"][0]["quantity_reserved"], p1["lines"][0]["quantity_backordered"]) == (0, 2)
    assert available(api, "B")["WH1"] == 3
    # The catch-up run gives the early shelf units to the waiting preorder.
    served = api.post("/api/v1/backorders/allocate").json()
    assert [(s["order_number"], s["sku"], s["location"], s["quantity"]) for s in served] == [
        (p1["order_number"], "B", "WH1", 2)
    ]
    assert _order(api, p1["order_number"])["status"] == "allocated"
    assert api.post("/api/v1/backorders/allocate").json() == []
    assert run_check(db).ok


def test_cancelling_drops_waiting_units_and_their_claim(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 1})
    _allow(api, "A")
    _lot(api, "A", "WH1", 4, 7, "PO-1")
    o1 = _capture(api, [("A", 3), ("C", 1)], "c1")
    assert o1.status_code == 409  # C has no stock and no policy: the whole order is refused
    o1 = _capture(api, [("A", 3)], "c1").json()
    assert o1["lines"][0]["quantity_backordered"] == 2
    # Cancel the two waiting units: the line keeps its reserved unit and is allocated.
    r = api.post(
        f"/api/v1/orders/{o1['order_number']}/lines/cancel",
        json={"lines": [{"line_number": 1, "quantity": 2}], "reason": "customer changed mind"},
    )
    assert r.status_code == 200, r.text
    line = r.json()["lines"][0]
    assert r.json()["status"] == "allocated" and line["status"] == "allocated"
    assert (line["quantity_reserved"], line["quantity_backordered"], line["quantity_cancelled"]) == (1, 0, 2)
    assert api.get("/api/v1/backorders").json() == []
    # The lot has its 4 units free again.
    o2 = _capture(api, [("A", 4)], "c2").json()
    assert o2["lines"][0]["quantity_backordered"] == 4
    cancelled = api.post(f"/api/v1/orders/{o2['order_number']}/cancel", json={"reason": "fraud"})
    assert cancelled.json()["status"] == "cancelled"
    assert api.get("/api/v1/backorders").json() == []
    _receive(api, "A", "WH1", 4)  # nobody waits: the units stay available
    assert available(api, "A")["WH1"] == 4
    assert run_check(db).ok


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    yield runner
    runner.close()
    get_settings.cache_clear()


def test_the_cli_imports_the_policy_and_catches_up_waiting_units(cli: Cli) -> None:
    assert cli("migrate").exit_code == 0
    seed_basics(cli.db, stock={("B", "WH1"): 3})
    path = cli.csv("p.csv", [["sku", "name", "backorder_policy"], ["B", "Product B", "preorder"], ["E", "E", "maybe"]])
    bad = cli("import", "products", str(path))
    assert bad.exit_code == 1 and "backorder_policy" in bad.output
    path = cli.csv("p.csv", [["sku", "name", "backorder_policy"], ["B", "Product B", "preorder"]])
    assert cli("import", "products", str(path)).exit_code == 0
    with cli.db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="web", name="Web", kind="web", accepts_backorders=True)])
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=9)
    inbound.expect_inbound(
        cli.db, sku="B", location="WH1", quantity=5, expected_at=due, kind="purchase_order", reference="PO", actor=T
    )
    cmd = orders.CaptureOrder(channel="web", currency="USD", lines=[orders.LineInput("B", 2, Decimal("10"))])
    placed = orders.capture_order(cli.db, cmd, T)
    assert placed.order and placed.order["status"] == "backordered"
    out = cli("allocate-backorders")
    assert out.exit_code == 0, out.output
    assert "reserved 2 unit(s) for 1 order(s)" in out.output and "SO-0000001: reserved 2 x B at WH1" in out.output
    assert orders.get_order(cli.db, placed.order_id)["status"] == "allocated"
    assert "reserved 0 unit(s) for 0 order(s)" in cli("allocate-backorders").output


def test_a_capture_the_shelves_cover_never_looks_at_backorders_or_inbound(db: Database) -> None:
    """The hot path stays as it was: the policy rides along in the stock snapshot, and the
    backorder tables are read only after a shortage."""
    seed_basics(db, stock={("A", "WH1"): 5})
    with db.begin() as conn:
        catalog.PRODUCTS.upsert_many(
            conn, [dict(sku="A", name="Product A", list_price=10, currency="USD", backorder_policy="backorder")]
        )
        catalog.CHANNELS.upsert_many(conn, [dict(code="web", name="Web", kind="web", accepts_backorders=True)])
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        cmd = orders.CaptureOrder(channel="web", currency="USD", lines=[orders.LineInput("A", 2, Decimal("10"))])
        assert orders.capture_order(db, cmd, T).order["status"] == "allocated"  # type: ignore[index]
        normal = list(seen)
        seen.clear()
        short = orders.CaptureOrder(channel="web", currency="USD", lines=[orders.LineInput("A", 9, Decimal("10"))])
        with pytest.raises(orders.DomainError):
            orders.capture_order(db, short, T)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    touched = re.compile(r"\b(backorders|inbound_stock)\b")
    assert normal and not [s for s in normal if touched.search(s)]
    assert any("inbound_stock" in s for s in seen)  # the short one did look (and found no lot)


def test_received_stock_serves_waiting_units_only_above_safety_stock(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 1})
    _allow(api, "A")
    _lot(api, "A", "WH1", 10, 5, "PO-S")
    r = api.put("/api/v1/stock/A/WH1/policy", json={"safety_stock": 2, "reorder_point": None})
    assert r.status_code == 200, r.text
    o = _capture(api, [("A", 4)], "s1").json()
    assert o["lines"][0]["quantity_backordered"] == 4

    # 4 arrive (5 on hand), 2 of them are safety stock: 3 go to the waiting order, 1 still waits.
    level = _receive(api, "A", "WH1", 4)
    assert (level["on_hand"], level["reserved"]) == (5, 3)
    line = _order(api, o["order_number"])["lines"][0]
    assert (line["quantity_reserved"], line["quantity_backordered"]) == (3, 1)
    # The catch-up finds nothing to give either: what is free is safety stock.
    assert api.post("/api/v1/backorders/allocate").json() == []
    assert run_check(db).ok, run_check(db).problems
