"""The fulfilment pages over HTTP, as a browser sends them: releasing from the order page (and
its refusals), a location's queue, a fulfilment order worked accept → pick → pack → ship, a
refused shipment that keeps the form and changes nothing, rejecting a line, and who may do what."""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from openoms.adapters.db.engine import Database
from openoms.domain.access import ROLE_PERMISSIONS, Permission, Role
from openoms.domain.orders import HoldType
from openoms.services import fulfillment, users
from openoms.services import orders as order_service
from openoms.services.common import Actor
from openoms.web.auth import SESSION_COOKIE
from tests.conftest import seed_basics

PASSWORD = "correct horse battery"
TESTS = Actor("tests")


class Person:
    """A signed-in browser of one role: its session cookie and the CSRF token its forms carry."""

    def __init__(self, client: TestClient, db: Database, role: Role) -> None:
        self.client = client
        email = f"{role.value}@shop.example"
        users.create_user(db, email, f"{role.label} Person", role, PASSWORD, TESTS)
        self.user, self.token = users.sign_in(db, email, PASSWORD)

    def get(self, path: str) -> Response:
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.token)
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None) -> Response:
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.token)
        body = {"csrf_token": self.user.csrf_token, **(data or {})}
        return self.client.post(path, data=body, follow_redirects=False)

    def follow(self, response: Response) -> str:
        """The page a redirect leads to, with its flash message."""
        assert response.status_code == 303, response.text
        cookie = response.cookies.get("openoms_flash")
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.token)
        if cookie:
            self.client.cookies.set("openoms_flash", cookie)
        page = self.client.get(response.headers["location"], follow_redirects=False)
        assert page.status_code == 200, page.text
        return html_lib.unescape(page.text)


@pytest.fixture
def shop(app_client: TestClient, db: Database) -> dict[str, Any]:
    seed_basics(db, stock={("A", "WH1"): 20, ("B", "WH1"): 20, ("C", "WH2"): 20})
    people = {role: Person(app_client, db, role) for role in Role}
    return {"db": db, "people": people}


def capture(db: Database, lines: list[tuple[str, int]]) -> int:
    cmd = order_service.CaptureOrder(
        channel="web",
        currency="USD",
        external_order_id=None,
        customer=order_service.CustomerInput("ana.rivera@example.com", "Ana Rivera"),
        lines=[order_service.LineInput(sku, qty, Decimal("10.00")) for sku, qty in lines],
        shipping_address={"name": "Ana Rivera", "line1": "1 Main St", "city": "Austin", "country": "US"},
    )
    return order_service.capture_order(db, cmd, TESTS).order_id


def released(db: Database, lines: list[tuple[str, int]]) -> dict[str, Any]:
    order_id = capture(db, lines)
    [fo] = fulfillment.release_order(db, order_id, TESTS)
    return fo


def fo_state(db: Database, fo_id: int) -> dict[str, Any]:
    fo = fulfillment.get_fulfilment_order(db, fo_id)
    order = order_service.get_order(db, fo["order_id"])
    return {
        "fo": (fo["status"], [(ln["quantity_open"], ln["quantity_shipped"]) for ln in fo["lines"]], fo["shipments"]),
        "order": (order["status"], order["version"], len(order["timeline"])),
        "reserved": [ln["quantity_reserved"] for ln in order["lines"]],
    }


def text(response: Response) -> str:
    return html_lib.unescape(response.text)


# --- who may do what --------------------------------------------------------------------------


def test_every_role_sees_the_queue_and_only_workers_change_it(shop: dict[str, Any]) -> None:
    db = shop["db"]
    for role, person in shop["people"].items():
        fo = released(db, [("A", 1)])
        assert person.get("/fulfilment").status_code == 200
        queue = person.get("/fulfilment?location=WH1")
        assert queue.status_code == 200 and fo["number"] in queue.text
        page = text(person.get(f"/fulfilment/{fo['id']}"))
        may_work = Permission.FULFILMENT_WORK in ROLE_PERMISSIONS[role]
        assert ('action="/fulfilment/{}/accept"'.format(fo["id"]) in page) is may_work, role
        assert ("Ship</button>" in page) is may_work, role
        r = person.post(f"/fulfilment/{fo['id']}/accept")
        if may_work:
            assert r.status_code == 303
            assert fulfillment.get_fulfilment_order(db, fo["id"])["status"] == "accepted"
        else:
            assert r.status_code == 403 and "may not accept, pick, pack, ship and reject" in text(r)
            assert fulfillment.get_fulfilment_order(db, fo["id"])["status"] == "released"
            shipped = person.post(
                f"/fulfilment/{fo['id']}/shipments",
                {"carrier": "UPS", "packages[0].tracking_number": "1Z1", "packages[0].line.1": "1"},
            )
            assert shipped.status_code == 403
            assert fulfillment.get_fulfilment_order(db, fo["id"])["shipments"] == []


def test_the_nav_has_fulfilment_under_work(shop: dict[str, Any]) -> None:
    page = shop["people"][Role.WAREHOUSE].get("/fulfilment").text
    work = page.split('<h2 class="nav-title">Work</h2>')[1].split("</ul>")[0]
    assert 'href="/fulfilment" aria-current="page"' in work


def test_release_is_for_operations_and_administrators(shop: dict[str, Any]) -> None:
    db = shop["db"]
    for role, person in shop["people"].items():
        order_id = capture(db, [("A", 1)])
        page = person.get(f"/orders/{order_id}").text
        allowed = role in (Role.ADMIN, Role.OPERATIONS)
        assert ("Release to fulfilment</button>" in page) is allowed, role
        r = person.post(f"/orders/{order_id}/release")
        assert r.status_code == (303 if allowed else 403), role
        assert order_service.get_order(db, order_id)["status"] == ("released" if allowed else "allocated")


# --- release from the order page --------------------------------------------------------------


def test_release_from_the_order_page_shows_the_fulfilment_orders(shop: dict[str, Any]) -> None:
    db, ops = shop["db"], shop["people"][Role.OPERATIONS]
    order_id = capture(db, [("A", 2), ("C", 1)])
    before = ops.get(f"/orders/{order_id}").text
    assert "Not released yet" in before
    page = ops.follow(ops.post(f"/orders/{order_id}/release"))
    assert re.search(r"Released to fulfilment: FO-\d{7} to WH1, FO-\d{7} to WH2\.", page)
    section = page.split('id="fulfilment"')[1].split("</section>")[0]
    assert "Warehouse 1" in section and "Warehouse 2" in section
    assert section.count('href="/fulfilment/') == 2
    assert "Release to fulfilment</button>" not in page  # nothing left to release
    assert "Released to fulfilment" in page.split("Timeline")[1]


def test_a_refused_release_says_why_and_changes_nothing(shop: dict[str, Any]) -> None:
    db, ops = shop["db"], shop["people"][Role.OPERATIONS]
    order_id = capture(db, [("A", 1)])
    order_service.place_hold(db, order_id, HoldType.PAYMENT, "card declined", TESTS)
    page = ops.get(f"/orders/{order_id}").text
    assert "On hold: release every hold first" in page
    before = order_service.get_order(db, order_id)
    after_post = ops.follow(ops.post(f"/orders/{order_id}/release"))
    assert "is on hold (payment); release the hold first. Nothing changed." in after_post
    assert 'class="flash flash-error"' in after_post
    after = order_service.get_order(db, order_id)
    assert (after["status"], after["version"], len(after["timeline"])) == (
        before["status"],
        before["version"],
        len(before["timeline"]),
    )
    assert fulfillment.list_fulfilment_orders(db, order_id=order_id) == []


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_lists_open_work_oldest_first_and_filters_by_status(shop: dict[str, Any]) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    first, second, third = (released(db, [("A", 1), ("B", 2)]) for _ in range(3))
    other = released(db, [("C", 1)])
    fulfillment.report_progress(db, second["id"], fulfillment.FulfilmentStatus.ACCEPTED, TESTS)
    page = wh.get("/fulfilment?location=WH1").text
    shown = re.findall(r'class="ref mono strong" href="/fulfilment/(\d+)"', page)
    assert shown == [str(first["id"]), str(second["id"]), str(third["id"])]
    assert other["number"] not in page
    assert "3 / 3" not in page and "<strong>3</strong>" in page  # units open / released per row
    accepted = wh.get("/fulfilment?location=WH1&status=accepted").text
    assert re.findall(r'class="ref mono strong" href="/fulfilment/(\d+)"', accepted) == [str(second["id"])]
    overview = wh.get("/fulfilment").text
    assert 'href="/fulfilment?location=WH1"' in overview and 'href="/fulfilment?location=WH2"' in overview
    assert wh.get("/fulfilment?location=NOPE").status_code == 404
    assert wh.get("/fulfilment/999999").status_code == 404


# --- the store workflow -----------------------------------------------------------------------


def test_accept_pick_pack_ship_through_the_pages(shop: dict[str, Any]) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    fo = released(db, [("A", 2), ("B", 1)])
    url = f"/fulfilment/{fo['id']}"
    page = wh.get(url).text
    assert "Product A" in page and "Accept</button>" in page and "Mark picked" not in page
    page = wh.follow(wh.post(f"{url}/accept"))
    assert f"{fo['number']} accepted" in page and "Mark picked</button>" in page
    # A step out of order is refused with the reason, and nothing moves.
    refused = wh.follow(wh.post(f"{url}/pack"))
    assert "it can move to picked, not packed. Nothing changed." in refused
    page = wh.follow(wh.post(f"{url}/pick"))
    assert "marked picked" in page and "Mark packed</button>" in page
    page = wh.follow(wh.post(f"{url}/pack"))
    assert "marked packed" in page and "Mark packed</button>" not in page
    # The ship form starts with one package holding every open unit.
    assert 'name="packages[0].line.1" class="units" type="text" inputmode="numeric" size="4" value="2"' in page
    page = wh.follow(
        wh.post(
            f"{url}/shipments",
            {
                "carrier": "UPS",
                "service_code": "UPS-GROUND",
                "packages[0].tracking_number": "1Z999AA10123456784",
                "packages[0].weight_grams": "1200",
                "packages[0].line.1": "2",
                "packages[0].line.2": "",
                "packages[1].tracking_number": "1Z999AA10123456791",
                "packages[1].weight_grams": "",
                "packages[1].line.1": "",
                "packages[1].line.2": "1",
                "packages[2].tracking_number": "",  # added and left empty: ignored
            },
        )
    )
    assert "Shipped 3 units in 2 packages by UPS, tracking 1Z999AA10123456784, 1Z999AA10123456791." in page
    assert f"{fo['number']} is shipped" in page
    state = fulfillment.get_fulfilment_order(db, fo["id"])
    assert state["status"] == "shipped" and len(state["shipments"]) == 1
    shipment = fulfillment.get_shipment(db, state["shipments"][0])
    assert [(p["tracking_number"], p["weight_grams"]) for p in shipment["packages"]] == [
        ("1Z999AA10123456784", 1200),
        ("1Z999AA10123456791", None),
    ]
    assert "Ship</button>" not in page  # nothing left to ship
    order_page = text(wh.get(f"/orders/{fo['order_id']}"))
    assert order_service.get_order(db, fo["order_id"])["status"] == "shipped"
    assert "1Z999AA10123456791" in order_page.split('id="fulfilment"')[1]
    timeline = order_page.split("Timeline")[1]
    assert "Shipped" in timeline and "tracking 1Z999AA10123456784, 1Z999AA10123456791" in timeline


def test_a_bad_shipment_keeps_the_form_and_changes_nothing(shop: dict[str, Any]) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    fo = released(db, [("A", 2), ("B", 1)])
    before = fo_state(db, fo["id"])
    r = wh.post(
        f"/fulfilment/{fo['id']}/shipments",
        {
            "carrier": "FedEx",
            "service_code": "FEDEX-2DAY",
            "packages[0].tracking_number": "",
            "packages[0].weight_grams": "heavy",
            "packages[0].line.1": "5",
            "packages[0].line.2": "1",
        },
    )
    assert r.status_code == 422
    page = text(r)
    assert "The shipment was not recorded" in page and "Nothing has been changed." in page
    assert 'id="pkg0-weight_grams-error"' in page and "Enter the weight in whole grams" in page
    assert 'value="heavy"' in page and 'value="FedEx"' in page and 'value="FEDEX-2DAY"' in page
    assert fo_state(db, fo["id"]) == before
    # Once the form parses, the service's field errors land next to their fields.
    r = wh.post(
        f"/fulfilment/{fo['id']}/shipments",
        {
            "carrier": "FedEx",
            "packages[0].tracking_number": "",
            "packages[0].weight_grams": "900",
            "packages[0].line.1": "5",
            "packages[0].line.2": "1",
        },
    )
    assert r.status_code == 422
    page = text(r)
    tracking = page.split('id="pkg0-tracking_number"')[1].split("</div>")[0]
    assert 'aria-invalid="true"' in tracking and "Is required." in tracking
    units = page.split('id="pkg0-line-1"')[1].split("</td>")[0]
    assert "5 units shipped but only 2 open" in units and 'value="5"' in units
    assert 'value="900"' in page
    assert fo_state(db, fo["id"]) == before
    # No carrier: refused before the service is asked.
    r = wh.post(f"/fulfilment/{fo['id']}/shipments", {"packages[0].tracking_number": "1Z", "packages[0].line.1": "1"})
    assert r.status_code == 422 and "Required: the carrier taking the parcels" in text(r)
    assert fo_state(db, fo["id"]) == before


def test_a_partial_shipment_leaves_the_rest_open(shop: dict[str, Any]) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    fo = released(db, [("A", 3)])
    page = wh.follow(
        wh.post(
            f"/fulfilment/{fo['id']}/shipments",
            {"carrier": "USPS", "packages[0].tracking_number": "9400100000000000000000", "packages[0].line.1": "1"},
        )
    )
    assert "is partially shipped: 2 unit(s) still open" in page
    assert 'value="2"' in page  # the form offers what is left
    assert fulfillment.get_fulfilment_order(db, fo["id"])["status"] == "partially_shipped"


def test_reject_a_line_sends_it_back_to_routing(shop: dict[str, Any]) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    fo = released(db, [("A", 1)])
    refused = wh.follow(wh.post(f"/fulfilment/{fo['id']}/lines/1/reject", {"reason": "  "}))
    assert "Reason for rejecting the line is required. Nothing changed." in refused
    assert fulfillment.get_fulfilment_order(db, fo["id"])["status"] == "released"
    page = wh.follow(wh.post(f"/fulfilment/{fo['id']}/lines/1/reject", {"reason": "damaged on the shelf"}))
    assert "Line 1 rejected." in page
    state = fulfillment.get_fulfilment_order(db, fo["id"])
    assert state["status"] == "rejected" and state["lines"][0]["quantity_rejected"] == 1
    assert "Reject…" not in page
