"""The pickup pages over HTTP: the store's Pickups list (curbside arrivals first), ready for
pickup, a wrong code refused on the same page and changing nothing, the hand-over, the order
page showing the code, and who may do it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.domain.access import ROLE_PERMISSIONS, Permission, Role
from openoms.services import fulfillment, pickup
from openoms.services import orders as order_service
from tests.conftest import seed_basics
from tests.e2e.test_web_fulfilment import TESTS, Person, fo_state, text


@pytest.fixture
def shop(app_client: TestClient, db: Database) -> dict[str, Any]:
    seed_basics(db, stock={("A", "ST1"): 10, ("A", "WH1"): 10})
    people = {role: Person(app_client, db, role) for role in Role}
    return {"db": db, "people": people}


def collect_order(db: Database, method: str = "pickup", qty: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    cmd = order_service.CaptureOrder(
        channel="web",
        currency="USD",
        customer=order_service.CustomerInput("ana.rivera@example.com", "Ana Rivera"),
        lines=[order_service.LineInput("A", qty, Decimal("10.00"))],
        fulfilment_method=method,
        pickup_location="ST1",
    )
    result = order_service.capture_order(db, cmd, TESTS)
    [fo] = fulfillment.release_order(db, result.order_id, TESTS)
    return order_service.get_order(db, result.order_id), fo


def test_ready_wrong_code_then_hand_over(shop: dict[str, Any]) -> None:
    db, clerk = shop["db"], shop["people"][Role.WAREHOUSE]
    order, fo = collect_order(db)
    code = order["pickup"]["code"]
    page = text(clerk.get(f"/fulfilment/{fo['id']}"))
    assert "Pickup in store" in page and "Ready for pickup" in page and 'id="ship-form"' not in page
    assert code not in page  # the store asks the customer for it
    page = clerk.follow(clerk.post(f"/fulfilment/{fo['id']}/ready"))
    assert f"{fo['number']} is ready for pickup" in page and "Hand over 2 units" in page

    before = fo_state(db, fo["id"])
    wrong = "000000" if code != "000000" else "111111"
    r = clerk.post(f"/fulfilment/{fo['id']}/pickup", {"code": wrong})
    assert r.status_code == 422
    assert "The order was not handed over" in text(r) and "Does not match this order's pickup code" in text(r)
    assert fo_state(db, fo["id"]) == before
    r = clerk.post(f"/fulfilment/{fo['id']}/pickup", {"code": ""})
    assert r.status_code == 422 and "Enter the pickup code" in text(r)

    page = clerk.follow(clerk.post(f"/fulfilment/{fo['id']}/pickup", {"code": code, "id_checked": "yes"}))
    assert "Handed over: 2 units collected by the customer" in page and "ID checked" in page
    assert fo_state(db, fo["id"])["fo"][0] == "picked_up"
    assert order_service.get_order(db, order["id"])["status"] == "delivered"


def test_the_queue_lists_pickups_with_curbside_arrivals_first(shop: dict[str, Any]) -> None:
    db, clerk = shop["db"], shop["people"][Role.WAREHOUSE]
    _, counter = collect_order(db)
    _, curb = collect_order(db, "curbside", 1)
    pickup.mark_ready(db, curb["id"], TESTS)
    page = clerk.follow(clerk.post(f"/fulfilment/{curb['id']}/arrived", {"vehicle": "blue Volvo", "bay": "3"}))
    assert "Customer is outside" in page and "blue Volvo, bay 3" in page
    page = text(clerk.get("/fulfilment?location=ST1"))
    assert "Pickups" in page and page.index(curb["number"]) < page.index(counter["number"])
    assert "outside: blue Volvo, bay 3" in page and "not ready yet" in page


def test_the_order_page_shows_method_store_and_code(shop: dict[str, Any]) -> None:
    db, ops = shop["db"], shop["people"][Role.OPERATIONS]
    order, _ = collect_order(db)
    page = text(ops.get(f"/orders/{order['id']}"))
    assert "Pickup in store" in page and "Store 1" in page and order["pickup"]["code"] in page
    assert "Ready for pickup" in page and "Collected at ST1" in page


def test_only_workers_hand_over(shop: dict[str, Any]) -> None:
    db = shop["db"]
    order, fo = collect_order(db)
    pickup.mark_ready(db, fo["id"], TESTS)
    for role, person in shop["people"].items():
        if Permission.FULFILMENT_WORK in ROLE_PERMISSIONS[role]:
            continue
        r = person.post(f"/fulfilment/{fo['id']}/pickup", {"code": order["pickup"]["code"]})
        assert r.status_code == 403, role
    assert fo_state(db, fo["id"])["fo"][0] == "ready_for_pickup"
