"""Buy online, pick up in store and curbside, on SQLite and PostgreSQL: capture reserves at the
store only, ready emits the event with the code, a wrong code changes nothing, the hand-over
takes stock off the shelf with its ledger row, and an uncollected order is cancelled in time."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import LedgerEntry, Location, OutboxMessage, StockLevel, table
from openoms.config import get_settings
from openoms.domain import pickup as px
from openoms.domain.errors import DomainError
from openoms.services import catalog, fulfillment, orders, pickup
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.integration.test_cli import Cli, ok
from tests.integration.test_routing_capture import order_body, reserved_at, seed

T = Actor("tests")
CUSTOMER = {"email": "ana@example.com", "name": "Ana Example"}


def _levels(api: TestClient, sku: str) -> dict[str, tuple[int, int]]:
    return {
        lv["location"]: (lv["on_hand"], lv["reserved"])
        for lv in api.get(f"/api/v1/availability/{sku}").json()["locations"]
    }


def _pickup_order(
    api: TestClient, lines: list[tuple[str, int]], ext: str = "P-1", method: str = "pickup", store: str = "ST-NYC"
) -> dict[str, Any]:
    body = order_body(
        lines, None, external_order_id=ext, fulfilment_method=method, pickup_location=store, customer=CUSTOMER
    )
    r = api.post("/api/v1/orders", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _outbox(db: Database, event_type: str) -> list[dict[str, Any]]:
    t = table(OutboxMessage)
    with db.read() as conn:
        return [
            dict(p)
            for p in conn.execute(select(t.c.payload).where(t.c.event_type == event_type).order_by(t.c.id)).scalars()
        ]


def _ready_fo(api: TestClient, order: dict[str, Any]) -> str:
    fo = api.post(f"/api/v1/orders/{order['order_number']}/release").json()[0]["number"]
    for step in ("accept", "pick", "pack"):
        assert api.post(f"/api/v1/fulfilment-orders/{fo}/{step}").status_code == 200
    r = api.post(f"/api/v1/fulfilment-orders/{fo}/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready_for_pickup", r.text
    return str(fo)


def test_bopis_capture_reserves_at_the_store_only(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 50, ("A", "ST-NYC"): 2})
    order = _pickup_order(api, [("A", 2)])
    assert reserved_at(order) == {"A": [("ST-NYC", 2)]}  # never the cheaper warehouse
    assert order["shipping_address"] is None
    assert order["sourcing_rule"] == "pickup/ST-NYC"
    p = order["pickup"]
    assert p["method"] == "pickup" and p["location"] == "ST-NYC" and p["ready_at"] is None
    assert len(p["code"]) == 6 and p["code"].isdigit()
    promise = order["promise"]
    assert promise is not None and promise["earliest"] == promise["latest"] == promise["ship_date"]
    assert api.get(f"/api/v1/orders/{order['id']}").json()["pickup"]["code"] == p["code"]
    assert _levels(api, "A")["ST-NYC"] == (2, 2)


def test_bad_pickup_input_is_refused_and_changes_nothing(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 50, ("A", "ST-NYC"): 2})
    cases = [
        (order_body([("A", 1)], None, fulfilment_method="pickup"), 422, "pickup_location"),
        (order_body([("A", 1)], None, fulfilment_method="curbside"), 422, "pickup_location"),
        (order_body([("A", 1)], None, fulfilment_method="pickup", pickup_location="WH-EAST"), 422, "pickup_location"),
        (order_body([("A", 1)], None, fulfilment_method="pickup", pickup_location="NOPE"), 422, "pickup_location"),
        (order_body([("A", 1)], fulfilment_method="ship", pickup_location="ST-NYC"), 422, "pickup_location"),
        (order_body([("A", 1)], None, fulfilment_method="drone", pickup_location="ST-NYC"), 422, "fulfilment_method"),
        (order_body([("A", 3)], None, fulfilment_method="pickup", pickup_location="ST-NYC"), 409, "lines[0].quantity"),
    ]
    for body, status, field in cases:
        r = api.post("/api/v1/orders", json=body)
        assert r.status_code == status, (body, r.text)
        errors = r.json()["error"]["errors"]
        assert field in [e["field"] for e in errors], r.json()
    short = api.post("/api/v1/orders", json=cases[-1][0]).json()["error"]
    assert short["code"] == "insufficient_stock" and "ST-NYC" in short["errors"][0]["reason"]
    assert _levels(api, "A") == {"WH-EAST": (50, 0), "ST-NYC": (2, 0)}
    assert api.get("/api/v1/orders").json()["items"] == []


def test_ready_code_hand_over_ships_stock_and_delivers(api: TestClient, db: Database) -> None:
    seed(db, {("A", "ST-NYC"): 5, ("W", "ST-NYC"): 1})
    order = _pickup_order(api, [("A", 2), ("W", 1)])
    code = order["pickup"]["code"]
    fo = api.post(f"/api/v1/orders/{order['order_number']}/release").json()[0]["number"]
    r = api.post(
        f"/api/v1/fulfilment-orders/{fo}/shipments",
        json={"carrier": "UPS", "packages": [{"tracking_number": "1Z", "lines": [{"line_number": 1, "quantity": 2}]}]},
    )
    assert r.status_code == 409, r.text  # collected, not shipped
    assert api.post(f"/api/v1/fulfilment-orders/{fo}/pickup", json={"code": code}).status_code == 409  # not ready
    for step in ("accept", "pick", "pack"):
        assert api.post(f"/api/v1/fulfilment-orders/{fo}/{step}").status_code == 200
    r = api.post(f"/api/v1/fulfilment-orders/{fo}/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready_for_pickup", r.text
    [event] = _outbox(db, "order.ready_for_pickup")
    assert event["pickup_code"] == code and event["customer"] == {"email": "ana@example.com"}
    assert event["pickup_location"]["code"] == "ST-NYC" and event["pickup_location"]["name"] == "NYC store"
    assert event["pickup_location"]["address"]["postal_code"] == "10001"
    assert event["lines"] == [
        {"line_number": 1, "sku": "A", "quantity": 2},
        {"line_number": 2, "sku": "W", "quantity": 1},
    ]
    after_ready = api.get(f"/api/v1/orders/{order['id']}").json()
    assert after_ready["pickup"]["expires_at"] is not None
    assert after_ready["timeline"][-1]["event_type"] == "order.ready_for_pickup"

    wrong = "000000" if code != "000000" else "111111"
    r = api.post(f"/api/v1/fulfilment-orders/{fo}/pickup", json={"code": wrong})
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "code", r.text
    assert api.get(f"/api/v1/fulfilment-orders/{fo}").json()["status"] == "ready_for_pickup"
    assert _levels(api, "A")["ST-NYC"] == (5, 2)
    assert api.get(f"/api/v1/orders/{order['id']}").json()["timeline"] == after_ready["timeline"]

    r = api.post(f"/api/v1/fulfilment-orders/{fo}/pickup", json={"code": f" {code} ", "id_checked": True})
    assert r.status_code == 200 and r.json()["status"] == "picked_up", r.text
    assert _levels(api, "A")["ST-NYC"] == (3, 0) and _levels(api, "W")["ST-NYC"] == (0, 0)
    done = api.get(f"/api/v1/orders/{order['id']}").json()
    assert done["status"] == "delivered" and {ln["status"] for ln in done["lines"]} == {"delivered"}
    assert done["pickup"]["collected_at"] is not None and done["pickup"]["id_checked"] is True
    assert done["timeline"][-1]["event_type"] == "order.picked_up"
    [shipment] = api.get(f"/api/v1/orders/{order['id']}/shipments").json()
    assert shipment["carrier"] == "pickup" and shipment["location"] == "ST-NYC"
    ledger = table(LedgerEntry)
    with db.read() as conn:
        notes = conn.execute(select(ledger.c.reason).where(ledger.c.entry_type == "shipment")).scalars().all()
    assert notes == [f"picked up at ST-NYC ({fo})"] * 2
    assert [e["order"]["status"] for e in _outbox(db, "order.picked_up")] == ["delivered"]
    assert api.post(f"/api/v1/fulfilment-orders/{fo}/pickup", json={"code": code}).status_code == 409
    assert run_check(db).ok


def test_wrong_codes_lock_the_hand_over_for_a_while(api: TestClient, db: Database) -> None:
    seed(db, {("A", "ST-NYC"): 5})
    order = _pickup_order(api, [("A", 1)])
    code = order["pickup"]["code"]
    fo_id = int(_ready_fo(api, order).removeprefix("FO-"))
    wrong = "000000" if code != "000000" else "111111"
    now = dt.datetime.now(dt.UTC)
    for i in range(px.MAX_FAILED_ATTEMPTS):
        with pytest.raises(DomainError) as exc:
            pickup.hand_over(db, fo_id, wrong, T, now=now + dt.timedelta(seconds=i))
        assert exc.value.errors[0].field == "code"
    with pytest.raises(DomainError, match="locked"):  # even the right code, while locked
        pickup.hand_over(db, fo_id, code, T, now=now + dt.timedelta(minutes=5))
    done = pickup.hand_over(db, fo_id, code, T, now=now + px.LOCKOUT + dt.timedelta(minutes=1))
    assert done["status"] == "picked_up"
    assert run_check(db).ok


def test_curbside_arrival_and_its_refusals(api: TestClient, db: Database) -> None:
    seed(db, {("A", "ST-NYC"): 5})
    counter = _pickup_order(api, [("A", 1)], ext="P-1")
    curb = _pickup_order(api, [("A", 1)], ext="P-2", method="curbside")
    fo_counter = api.post(f"/api/v1/orders/{counter['id']}/release").json()[0]["number"]
    fo_curb = _ready_fo(api, curb)
    r = api.post(f"/api/v1/fulfilment-orders/{fo_counter}/arrived", json={"vehicle": "red van"})
    assert r.status_code == 409, r.text
    r = api.post(f"/api/v1/fulfilment-orders/{fo_curb}/arrived", json={"vehicle": "blue Volvo", "bay": "3"})
    assert r.status_code == 200, r.text
    p = api.get(f"/api/v1/orders/{curb['id']}").json()["pickup"]
    assert p["method"] == "curbside" and p["arrival_note"] == "blue Volvo, bay 3" and p["arrived_at"]
    queue = pickup.awaiting_collection(db, "ST-NYC", dt.datetime.now(dt.UTC))
    assert [q["number"] for q in queue] == [fo_curb, fo_counter]  # the car outside first
    r = api.post(f"/api/v1/fulfilment-orders/{fo_curb}/pickup", json={"code": curb["pickup"]["code"]})
    assert r.status_code == 200 and r.json()["status"] == "picked_up"
    assert api.post(f"/api/v1/fulfilment-orders/{fo_curb}/arrived", json={}).status_code == 409


def test_uncollected_pickups_are_cancelled_and_stock_goes_back_on_sale(api: TestClient, db: Database) -> None:
    seed(db, {("A", "ST-NYC"): 5})
    kept = _pickup_order(api, [("A", 2)], ext="P-1")
    gone = _pickup_order(api, [("A", 1)], ext="P-2")
    fos = {}
    for o in (kept, gone):
        fos[o["id"]] = int(api.post(f"/api/v1/orders/{o['id']}/release").json()[0]["id"])
    # Ready on Tue 1 Dec 2026, 10:00 in New York; held 7 days: to the end of Tue 8 Dec there.
    ready = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    pickup.mark_ready(db, fos[gone["id"]], T, now=ready)
    pickup.mark_ready(db, fos[kept["id"]], T, now=ready + dt.timedelta(days=3))
    end = dt.datetime(2026, 12, 9, 5, 0, tzinfo=dt.UTC)  # midnight 8/9 Dec in New York
    assert api.get(f"/api/v1/orders/{gone['id']}").json()["pickup"]["expires_at"].startswith("2026-12-09T05:00")
    assert pickup.expire_pickups(db, end - dt.timedelta(seconds=1)) == 0
    assert pickup.expire_pickups(db, end) == 1
    assert pickup.expire_pickups(db, end) == 0  # nothing twice
    after = api.get(f"/api/v1/orders/{gone['id']}").json()
    assert after["status"] == "cancelled" and {ln["status"] for ln in after["lines"]} == {"cancelled"}
    assert after["timeline"][-1]["message"] == "Order cancelled: not collected within 7 days"
    assert api.get(f"/api/v1/fulfilment-orders/{fos[gone['id']]}").json()["status"] == "cancelled"
    assert [e["reason"] for e in _outbox(db, "order.cancelled")] == ["not collected within 7 days"]
    assert _levels(api, "A")["ST-NYC"] == (5, 2)  # nothing left the shelf; 1 back on sale
    assert api.get(f"/api/v1/orders/{kept['id']}").json()["status"] == "released"
    assert run_check(db).ok


def test_ship_orders_still_route_and_a_store_ships_with_labels(api: TestClient, db: Database) -> None:
    """Ship-from-store: a store's fulfilment order of a shipped order buys labels and ships."""
    seed(db, {("W", "ST-NYC"): 2})
    r = api.post("/api/v1/orders", json=order_body([("W", 1)], external_order_id="S-1"))
    assert r.status_code == 201 and r.json()["pickup"] is None
    fo = api.post(f"/api/v1/orders/{r.json()['id']}/release").json()[0]
    assert fo["location"] == "ST-NYC"
    r = api.post(
        f"/api/v1/fulfilment-orders/{fo['number']}/labels",
        json={"packages": [{"weight_grams": 400, "lines": [{"line_number": 1, "quantity": 1}]}]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["carrier"] == "UPS" and r.json()["packages"][0]["tracking_number"].startswith("OO")
    assert api.post(f"/api/v1/fulfilment-orders/{fo['number']}/ready").status_code == 409  # not a pickup order
    assert _levels(api, "W")["ST-NYC"] == (1, 0)
    assert run_check(db).ok


@pytest.mark.postgres
def test_concurrent_pickups_never_oversell_the_store(pg_url: str) -> None:
    """Twelve customers at once for five units on the store's shelf: five orders, no oversell."""
    db = Database(pg_url, pool_size=12)
    try:
        seed(db, {("A", "ST-NYC"): 5, ("A", "WH-EAST"): 100})
        results: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(12)

        def buy(i: int) -> None:
            cmd = orders.CaptureOrder(
                channel="web",
                currency="USD",
                external_order_id=f"C-{i}",
                lines=[orders.LineInput("A", 1, Decimal("10"))],
                fulfilment_method="pickup",
                pickup_location="ST-NYC",
            )
            start.wait()
            try:
                orders.capture_order(db, cmd, T)
                outcome = "ok"
            except DomainError as exc:
                outcome = exc.code.value
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("ok") == 5, results
        assert set(results) <= {"ok", "insufficient_stock", "stock_conflict"}
        report = run_check(db)
        assert report.ok, report.problems
        with db.read() as conn:
            s, loc = table(StockLevel), table(Location)
            rows = conn.execute(
                select(loc.c.code, s.c.on_hand, s.c.reserved).join(loc, loc.c.id == s.c.location_id)
            ).all()
        assert {r.code: (r.on_hand, r.reserved) for r in rows} == {"ST-NYC": (5, 5), "WH-EAST": (100, 0)}
    finally:
        db.dispose()


def test_pickup_orders_are_not_rerouted_away_from_their_store(api: TestClient, db: Database) -> None:
    seed(db, {("A", "ST-NYC"): 2, ("A", "WH-EAST"): 10})
    order = _pickup_order(api, [("A", 1)])
    r = api.post(f"/api/v1/orders/{order['id']}/reroute", json={"reason": "try elsewhere"})
    assert r.status_code == 409 and "ST-NYC" in r.json()["error"]["message"], r.text
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]["number"]
    r = api.post(f"/api/v1/fulfilment-orders/{fo}/lines/1/reject", json={"reason": "not on the shelf"})
    assert r.status_code == 409, r.text
    assert reserved_at(api.get(f"/api/v1/orders/{order['id']}").json()) == {"A": [("ST-NYC", 1)]}
    assert run_check(db).ok


@pytest.fixture
def cli(tmp_path: Path, sqlite_template: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    shutil.copy(sqlite_template, runner.path)
    yield runner
    runner.close()
    get_settings.cache_clear()


def test_the_cli_expires_uncollected_pickups(cli: Cli) -> None:
    migrated = cli
    db = migrated.db
    seed(db, {("A", "ST-NYC"): 3})
    cmd = orders.CaptureOrder(
        channel="web",
        currency="USD",
        lines=[orders.LineInput("A", 2, Decimal("10"))],
        fulfilment_method="curbside",
        pickup_location="ST-NYC",
    )
    order_id = orders.capture_order(db, cmd, T).order_id
    [fo] = fulfillment.release_order(db, order_id, T)
    pickup.mark_ready(db, fo["id"], T, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    assert "1 uncollected pickup order(s) cancelled" in ok(migrated("pickups", "expire"))
    assert orders.get_order(db, order_id)["status"] == "cancelled"
    assert "0 uncollected pickup order(s) cancelled" in ok(migrated("pickups", "expire"))
    assert run_check(db).ok


def test_the_hold_is_a_location_setting(api: TestClient, db: Database) -> None:
    seed(db, {("A", "ST-NYC"): 2})
    assert api.get("/api/v1/locations/ST-NYC").json()["pickup_hold_days"] == 7
    r = api.patch("/api/v1/locations/ST-NYC", json={"pickup_hold_days": 2})
    assert r.status_code == 200 and r.json()["pickup_hold_days"] == 2, r.text
    assert api.patch("/api/v1/locations/ST-NYC", json={"pickup_hold_days": 91}).status_code == 422
    assert api.patch("/api/v1/locations/ST-NYC", json={"pickup_hold_days": None}).status_code == 422
    order = _pickup_order(api, [("A", 1)])
    fo = int(api.post(f"/api/v1/orders/{order['id']}/release").json()[0]["id"])
    ready = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)  # Tue 10:00 in New York
    pickup.mark_ready(db, fo, T, now=ready)
    assert pickup.expire_pickups(db, dt.datetime(2026, 12, 4, 4, 59, tzinfo=dt.UTC)) == 0
    assert pickup.expire_pickups(db, dt.datetime(2026, 12, 4, 5, 0, tzinfo=dt.UTC)) == 1  # end of Thu 3 Dec
    assert api.get(f"/api/v1/orders/{order['id']}").json()["timeline"][-1]["message"].endswith("within 2 days")


def test_releasing_to_a_dropship_supplier_hands_it_the_work(api: TestClient, db: Database) -> None:
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn,
            [dict(code="DS-ACME", name="Acme Supply", kind="dropship", country="US", timezone="UTC", priority=1)],
        )
    seed(db, {("A", "DS-ACME"): 10, ("A", "WH-EAST"): 10}, rates=False)
    r = api.post("/api/v1/orders", json=order_body([("A", 2)], external_order_id="D-1"))
    assert r.status_code == 201 and reserved_at(r.json()) == {"A": [("DS-ACME", 2)]}, r.text
    fo = api.post(f"/api/v1/orders/{r.json()['id']}/release").json()[0]
    [event] = _outbox(db, "fulfilment_order.dropship_requested")
    assert event["fulfilment_order"] == fo["number"] and event["location"] == "DS-ACME"
    assert event["lines"] == [{"line_number": 1, "sku": "A", "quantity": 2}]
    assert event["ship_to"]["postal_code"] == "08817"
    shipped = api.post(  # the supplier reports its shipment through the fulfilment API
        f"/api/v1/fulfilment-orders/{fo['number']}/shipments",
        json={
            "carrier": "UPS",
            "packages": [{"tracking_number": "1ZACME", "lines": [{"line_number": 1, "quantity": 2}]}],
        },
    )
    assert shipped.status_code == 201, shipped.text
    assert run_check(db).ok


def test_a_dropship_supplier_released_by_its_automatic_policy_gets_the_work_too(api: TestClient, db: Database) -> None:
    from openoms.services import waves

    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn,
            [dict(code="DS-ACME", name="Acme Supply", kind="dropship", country="US", timezone="UTC", priority=1)],
        )
    seed(db, {("A", "DS-ACME"): 10}, rates=False)
    assert api.patch("/api/v1/locations/DS-ACME", json={"release_mode": "automatic"}).status_code == 200
    r = api.post("/api/v1/orders", json=order_body([("A", 3)], external_order_id="D-2"))
    assert r.status_code == 201, r.text
    assert waves.release_due_waves(db, dt.datetime.now(dt.UTC)) == 1
    [event] = _outbox(db, "fulfilment_order.dropship_requested")
    assert event["location"] == "DS-ACME" and event["lines"] == [{"line_number": 1, "sku": "A", "quantity": 3}]


def test_a_short_pickup_order_is_refused_even_when_backorders_are_allowed(api: TestClient, db: Database) -> None:
    """Collected at its store: never backordered against another location's inbound lot."""
    seed(db, {("A", "WH-EAST"): 1, ("A", "ST-NYC"): 1})
    assert api.patch("/api/v1/products/A", json={"backorder_policy": "backorder"}).status_code == 200
    assert api.patch("/api/v1/channels/web", json={"accepts_backorders": True}).status_code == 200
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    lot = {"sku": "A", "location": "WH-EAST", "quantity": 10, "expected_at": due, "reference": "PO"}
    assert api.post("/api/v1/inbound", json=lot).status_code == 201
    body = order_body([("A", 3)], None, external_order_id="P-BO", fulfilment_method="pickup", pickup_location="ST-NYC")
    r = api.post("/api/v1/orders", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_stock", r.text
    assert _levels(api, "A")["ST-NYC"] == (1, 0)
