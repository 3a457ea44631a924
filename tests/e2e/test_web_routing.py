"""Routing in the back office, as a browser-less client sees it: the order page's promise and
routing explanation, "location rejects this line" and "route again" (who may, and refusals that
change nothing), the routing rules page (versions, field errors with the typed values kept) and
the carrier rates page (CSV upload, every problem by row and column)."""

from __future__ import annotations

import html as html_lib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.api.app import create_app
from openoms.config import Settings
from openoms.domain.access import Role
from openoms.domain.orders import OrderStatus
from openoms.services import demo, routing_setup, sourcing, users
from openoms.services import orders as order_service
from openoms.services.common import Actor
from openoms.web.auth import SESSION_COOKIE

PASSWORD = "correct horse battery"
TESTS = Actor("tests")
DEMO_RATES = Path(__file__).resolve().parents[2] / "src/openoms/adapters/carriers/data/demo_rates.csv"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo network (15 locations, a rate table, engine-routed orders), built once."""
    path = tmp_path_factory.mktemp("routing-demo") / "openoms.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    demo.load(db, order_count=12)
    for role in Role:
        users.create_user(db, f"{role.value}@shop.example", f"{role.label} Person", role, PASSWORD, TESTS)
    db.dispose()
    return path


@pytest.fixture
def site(demo_template: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Database]]:
    target = tmp_path / "openoms.db"
    shutil.copy(demo_template, target)
    db = Database(f"sqlite:///{target}")
    with TestClient(create_app(Settings(database_url=db.url), db)) as client:
        yield client, db
    db.dispose()


class Person:
    """A signed-in browser of one role: its session cookie and the CSRF token its forms carry."""

    def __init__(self, site: tuple[TestClient, Database], role: Role) -> None:
        self.client, db = site
        self.user, self.token = users.sign_in(db, f"{role.value}@shop.example", PASSWORD)

    def _use(self) -> None:
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.token)

    def get(self, path: str) -> Response:
        self._use()
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, files: Any = None) -> Response:
        self._use()
        body = {"csrf_token": self.user.csrf_token} if csrf else {}
        return self.client.post(path, data={**body, **(data or {})}, files=files, follow_redirects=False)

    def follow(self, response: Response) -> str:
        """The page a redirect leads to, with its one-time message."""
        assert response.status_code == 303, response.text[:2000]
        self.client.cookies.set(SESSION_COOKIE, self.token)
        return self.client.get(response.headers["location"]).text


def text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def flash(html: str) -> str:
    m = re.search(r'<div class="flash flash-(\w+)"[^>]*>(.*?)</div>', html, re.S)
    assert m, "no message on the page"
    return f"{m.group(1)}: {html_lib.unescape(m.group(2)).strip()}"


def allocated_order(db: Database) -> dict[str, Any]:
    """An engine-routed order still allocated, with its lines' reservations."""
    for order_id in range(1, 200):
        try:
            o = order_service.get_order(db, order_id)
        except Exception:
            break
        if o["status"] == OrderStatus.ALLOCATED.value and o["promise"] and all(ln["reservations"] for ln in o["lines"]):
            return o
    raise AssertionError("the demo has no allocated order")


def state(db: Database, order_id: int) -> dict[str, Any]:
    """Everything a refused action must leave alone."""
    o = order_service.get_order(db, order_id)
    return {
        "status": o["status"],
        "version": o["version"],
        "promise": o["promise"],
        "reservations": [(ln["line_number"], ln["status"], ln["reservations"]) for ln in o["lines"]],
        "timeline": len(o["timeline"]),
        "decisions": len(sourcing.list_decisions(db, order_id)),
    }


# --- the order page ------------------------------------------------------------------------------


def test_the_order_page_shows_the_promise_and_why_it_ships_from_there(site: tuple[TestClient, Database]) -> None:
    _, db = site
    order = allocated_order(db)
    decision = sourcing.list_decisions(db, order["id"])[0]
    explanation = decision["explanation"]
    page = Person(site, Role.CUSTOMER_SERVICE).get(f"/orders/{order['id']}")
    assert page.status_code == 200
    body = text(page.text)
    # The promise sits by the status, in words.
    assert 'data-testid="promise-ship"' in page.text and "Delivery promised" in body
    ship = order["promise"]["ship_date"]
    assert f"{ship:%a} {ship.day} {ship:%b}" in body
    # The decision: chosen plan, its shipments, why these dates, the plans it beat, the locations.
    assert "Chosen plan" in body and explanation["chosen"] in body
    for shipment in explanation["plans"][0]["shipments"]:
        assert shipment["location"] in body and shipment["service_code"] in body
    assert "Why these dates" in body
    assert explanation["plans"][0]["promise"]["basis"] in body
    assert f"Plans considered ({len(explanation['plans'])}, best first" in body
    for plan in explanation["plans"][1:]:
        assert plan["outcome"].split(": ", 1)[-1][:40] in body  # why it lost
    assert f"Locations looked at ({len(explanation['candidates'])})" in body
    assert "<details" in page.text and 'id="candidates"' in page.text
    # Line eligibility by order line number, not the engine's index from 0.
    assert "Line 1" in body and "can ship lines 0" not in body.lower()
    # Customer service may look but not re-route.
    assert "Route again" not in body and "Location rejects this line" not in body


def test_an_order_sourced_by_priority_says_why(site: tuple[TestClient, Database]) -> None:
    _, db = site
    # Without an address the engine cannot price parcels: the fallback says so.
    cmd = order_service.CaptureOrder(
        channel="web",
        currency="USD",
        lines=[order_service.LineInput(allocated_order(db)["lines"][0]["sku"], 1, __import__("decimal").Decimal("5"))],
        shipping_address=None,
    )
    order_id = order_service.capture_order(db, cmd, TESTS).order_id
    body = text(Person(site, Role.OPERATIONS).get(f"/orders/{order_id}").text)
    assert "By location priority" in body
    assert "Sourced by location priority: the order has no shipping address" in body
    assert "No delivery date" in body


# --- location rejects a line ---------------------------------------------------------------------


def test_warehouse_records_a_rejected_line_and_it_is_routed_elsewhere(site: tuple[TestClient, Database]) -> None:
    _, db = site
    order = allocated_order(db)
    line = order["lines"][0]
    where = line["reservations"][0]["location"]
    before = len(sourcing.list_decisions(db, order["id"]))
    warehouse = Person(site, Role.WAREHOUSE)
    page = warehouse.get(f"/orders/{order['id']}").text
    assert "Location rejects this line" in page and "Route again" not in text(page)
    r = warehouse.post(
        f"/orders/{order['id']}/lines/{line['line_number']}/reject", {"location": where, "reason": "damaged box"}
    )
    after_page = warehouse.follow(r)
    message = flash(after_page)
    assert message.startswith(f"success: Line {line['line_number']} rejected by {where}: damaged box")
    after = order_service.get_order(db, order["id"])
    moved = next(ln for ln in after["lines"] if ln["line_number"] == line["line_number"])
    assert where not in [res["location"] for res in moved["reservations"]]
    decisions = sourcing.list_decisions(db, order["id"])
    assert len(decisions) == before + 1 and decisions[0]["trigger"] == "reject"
    assert "Warehouse Person" in decisions[0]["actor"]
    body = text(after_page)
    assert "Line rejected by a location" in body  # the decision in force
    assert "Earlier decisions" in body and "Order placed" in body
    assert "Routed again" in body or "Backordered" in body  # on the timeline


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"location": "WH-NOWHERE", "reason": "x"}, "error: Location: no location with code 'WH-NOWHERE'"),
        ({"location": "", "reason": "x"}, "error: Location is required"),
        ({"reason": ""}, "error: Reason for the rejection is required"),
    ],
)
def test_a_refused_rejection_changes_nothing(
    site: tuple[TestClient, Database], form: dict[str, str], expected: str
) -> None:
    _, db = site
    order = allocated_order(db)
    line = order["lines"][0]
    data = {"location": line["reservations"][0]["location"], **form}
    before = state(db, order["id"])
    ops = Person(site, Role.OPERATIONS)
    r = ops.post(f"/orders/{order['id']}/lines/{line['line_number']}/reject", data)
    assert flash(ops.follow(r)).startswith(expected)
    assert state(db, order["id"]) == before


def test_a_location_that_holds_nothing_for_the_line_is_refused(site: tuple[TestClient, Database]) -> None:
    _, db = site
    order = allocated_order(db)
    line = order["lines"][0]
    held = {res["location"] for res in line["reservations"]}
    other = next(code for code in ("WH-DFW", "WH-ATL", "WH-RNO", "ST-NYC") if code not in held)
    before = state(db, order["id"])
    ops = Person(site, Role.OPERATIONS)
    r = ops.post(f"/orders/{order['id']}/lines/{line['line_number']}/reject", {"location": other, "reason": "x"})
    message = flash(ops.follow(r))
    assert message.startswith(f"error: Location: line {line['line_number']} of {order['order_number']} holds no stock")
    assert message.endswith("Nothing changed.")
    assert state(db, order["id"]) == before


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.FINANCE])
def test_roles_without_the_permission_cannot_reject_lines(site: tuple[TestClient, Database], role: Role) -> None:
    _, db = site
    order = allocated_order(db)
    line = order["lines"][0]
    before = state(db, order["id"])
    r = Person(site, role).post(
        f"/orders/{order['id']}/lines/{line['line_number']}/reject",
        {"location": line["reservations"][0]["location"], "reason": "x"},
    )
    assert r.status_code == 403 and "may not record that a location rejects a line" in r.text
    assert state(db, order["id"]) == before


def test_rejecting_needs_the_csrf_token(site: tuple[TestClient, Database]) -> None:
    _, db = site
    order = allocated_order(db)
    line = order["lines"][0]
    before = state(db, order["id"])
    r = Person(site, Role.ADMIN).post(
        f"/orders/{order['id']}/lines/{line['line_number']}/reject",
        {"location": line["reservations"][0]["location"], "reason": "x"},
        csrf=False,
    )
    assert r.status_code == 403 and "This form expired" in r.text
    assert state(db, order["id"]) == before


# --- route again ---------------------------------------------------------------------------------


def test_operations_routes_an_order_again(site: tuple[TestClient, Database]) -> None:
    _, db = site
    order = allocated_order(db)
    ops = Person(site, Role.OPERATIONS)
    assert "Route again…" in ops.get(f"/orders/{order['id']}").text
    r = ops.post(f"/orders/{order['id']}/reroute", {"reason": "promised ship date missed"})
    message = flash(ops.follow(r))
    assert message.startswith("success: Re-routed: promised ship date missed"), message
    decisions = sourcing.list_decisions(db, order["id"])
    assert decisions[0]["trigger"] == "reroute" and decisions[0]["actor"].startswith("user:Operations Person")


@pytest.mark.parametrize("role", [Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.FINANCE])
def test_only_admin_and_operations_route_again(site: tuple[TestClient, Database], role: Role) -> None:
    _, db = site
    order = allocated_order(db)
    before = state(db, order["id"])
    r = Person(site, role).post(f"/orders/{order['id']}/reroute", {"reason": "why not"})
    assert r.status_code == 403 and "may not route orders again" in r.text
    assert state(db, order["id"]) == before


def test_a_cancelled_order_cannot_be_routed_again_and_nothing_changes(site: tuple[TestClient, Database]) -> None:
    _, db = site
    order = allocated_order(db)
    order_service.cancel_order(db, order["id"], "customer asked", TESTS)
    before = state(db, order["id"])
    admin = Person(site, Role.ADMIN)
    page = text(admin.get(f"/orders/{order['id']}").text)
    assert "Route again" not in page and "Location rejects this line" not in page
    r = admin.post(f"/orders/{order['id']}/reroute", {"reason": "try"})
    message = flash(admin.follow(r))
    assert message.startswith(f"error: Order {order['order_number']} is cancelled") and "Nothing changed." in message
    r = admin.post(f"/orders/{order['id']}/reroute", {"reason": "  "})
    assert flash(admin.follow(r)) == "error: Reason for routing again is required."
    assert state(db, order["id"]) == before


def test_an_order_that_does_not_exist_is_a_404(site: tuple[TestClient, Database]) -> None:
    admin = Person(site, Role.ADMIN)
    assert admin.post("/orders/999999/reroute", {"reason": "x"}).status_code == 404
    assert admin.post("/orders/999999/lines/1/reject", {"location": "WH-DFW", "reason": "x"}).status_code == 404


# --- routing rules -------------------------------------------------------------------------------

RULE_FORM = {
    "name": "default",
    "split_policy": "allowed",
    "split_min_days_saved": "0",
    "fulfilment_mode": "ship_as_available",
    "max_shipments": "3",
    "currency": "USD",
    "weights_carrier_cost": "1",
    "weights_transit_day": "1.50",
    "weights_per_100_km": "0.20",
    "weights_extra_shipment": "5",
    "weights_load": "3",
    "fastest_first": ["expedited", "premium"],
    "allowed_kinds": ["3pl", "dropship", "store", "warehouse"],
    "hazmat_requires_license": "1",
    "high_value_requires_secure": "1",
}


def field_error(html: str, field: str) -> str:
    m = re.search(
        rf'id="f-{field}-error"><svg.*?</svg><span><span class="visually-hidden">Error: </span>(.*?)</span>', html
    )
    assert m, f"no error next to {field}"
    return html_lib.unescape(m.group(1))


@pytest.mark.parametrize(
    ("role", "view", "edit"),
    [
        (Role.ADMIN, 200, True),
        (Role.OPERATIONS, 200, False),
        (Role.CUSTOMER_SERVICE, 403, False),
        (Role.WAREHOUSE, 403, False),
        (Role.FINANCE, 403, False),
    ],
)
def test_who_may_see_and_change_routing_set_up(
    site: tuple[TestClient, Database], role: Role, view: int, edit: bool
) -> None:
    _, db = site
    person = Person(site, role)
    nav = person.get("/orders").text
    assert ('href="/routing/rules"' in nav) == (view == 200)
    assert ('href="/routing/rates"' in nav) == (view == 200)
    for path in ("/routing/rules", "/routing/rates"):
        r = person.get(path)
        assert r.status_code == view
        if view == 200:
            assert ('action="' + path + '"' in r.text) == edit
            if not edit:
                assert "but not" in text(r.text)
    if not edit:
        r = person.post("/routing/rules", {**RULE_FORM, "note": "sneaky"})
        assert r.status_code == 403
        r = person.post("/routing/rates", files={"file": ("r.csv", DEMO_RATES.read_bytes(), "text/csv")})
        assert r.status_code == 403
        assert len(routing_setup.list_rule_sets(db)) == 1
        assert routing_setup.rate_table_summary(db)["id"] == 1


def test_the_rules_in_force_are_shown_and_the_form_is_prefilled(site: tuple[TestClient, Database]) -> None:
    r = Person(site, Role.ADMIN).get("/routing/rules")
    body = text(r.text)
    assert "In force: routing/default@v1" in body
    assert "Allowed when it scores better" in body and "Each parcel leaves when it is ready" in body
    assert "Hazmat: licensed locations only" in body and "High value: secure locations only" in body
    assert 'name="weights_transit_day" type="text" value="1.50"' in r.text
    assert 'name="max_shipments" type="text" value="3"' in r.text
    assert 'name="fastest_first" value="premium" checked' in r.text
    assert 'name="fastest_first" value="standard">' in r.text
    assert "Save as v2" in body


def test_bad_rules_are_refused_next_to_each_field_keeping_what_was_typed(site: tuple[TestClient, Database]) -> None:
    _, db = site
    admin = Person(site, Role.ADMIN)
    bad = {
        **RULE_FORM,
        "max_shipments": "lots",
        "weights_transit_day": "-2",
        "currency": "dollars",
        "split_policy": "min_days_saved",
        "split_min_days_saved": "0",
        "allowed_kinds": [],
        "note": "try this",
    }
    r = admin.post("/routing/rules", bad)
    assert r.status_code == 422
    assert field_error(r.text, "max_shipments") == "Must be a whole number."
    assert field_error(r.text, "weights_transit_day") == "Must not be negative."
    assert field_error(r.text, "currency").startswith("Must be an ISO 4217 currency code")
    assert field_error(r.text, "split_min_days_saved").startswith("Must be at least 1")
    assert field_error(r.text, "allowed_kinds").startswith("Must allow at least one kind")
    assert "Nothing has been changed." in r.text
    # What was typed is still there to correct.
    assert 'value="lots"' in r.text and 'value="-2"' in r.text and 'value="dollars"' in r.text
    assert ">try this</textarea>" in r.text
    assert len(routing_setup.list_rule_sets(db)) == 1


def test_a_new_version_is_saved_and_the_history_says_what_changed(site: tuple[TestClient, Database]) -> None:
    _, db = site
    admin = Person(site, Role.ADMIN)
    r = admin.post(
        "/routing/rules",
        {
            **RULE_FORM,
            "split_policy": "never",
            "weights_transit_day": "2",
            "fastest_first": ["premium"],
            "note": "calm",
        },
    )
    page = admin.follow(r)
    assert flash(page).startswith("success: Saved version 2 (routing/default@v2)")
    current = routing_setup.current_rule_set(db)
    assert current["version"] == 2 and current["rules"]["split_policy"] == "never"
    assert current["rules"]["weights"]["transit_day"] == "2" and current["rules"]["fastest_first"] == ["premium"]
    assert "Administrator Person" in current["created_by"]
    body = text(page)
    assert "In force: routing/default@v2" in body and "Never: one location ships the whole order" in body
    history = body.split("Versions", 1)[1]
    assert "Splitting an order : allowed → never" in history
    assert "Per day until delivered : 1.50 → 2" in history
    assert "Fastest first for : expedited, premium → premium" in history
    assert "calm" in history and "First version" in history and "Administrator Person" in history
    assert "user:" not in history


# --- carrier rates -------------------------------------------------------------------------------

BAD_CSV = (
    "location,carrier,service_code,service_level,zone,distance_km_from,distance_km_to,weight_up_to_grams,"
    "cost,currency,transit_days_min,transit_days_max\n"
    "*,UPS,UPS-GROUND,standard,2,,,500,abc,USD,2,3\n"
    "WH-NOPE,UPS,UPS-GROUND,standard,3,,,500,8.00,USD,2,3\n"
    "*,UPS,UPS-GROUND,warp,4,,,500,9.00,USD,3,2\n"
)


def test_a_bad_rate_file_lists_every_problem_and_loads_nothing(site: tuple[TestClient, Database]) -> None:
    _, db = site
    admin = Person(site, Role.ADMIN)
    r = admin.post("/routing/rates", files={"file": ("bad.csv", BAD_CSV.encode(), "text/csv")})
    assert r.status_code == 422
    body = text(r.text)
    assert "bad.csv was not loaded" in body and "the table in force is unchanged" in body
    rows = re.findall(
        r'<td class="row-no">(\d+)</td><td class="col-name">([^<]+)</td><td>([^<]*)</td>', r.text.replace("\n", "")
    )
    assert ("2", "cost") in [(a, b) for a, b, _ in rows]
    assert any(a == "4" and b == "service_level" for a, b, _ in rows)
    assert routing_setup.rate_table_summary(db)["id"] == 1


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"file": ("r.csv", b"\xff\xfe\x00bad", "text/csv")}, "is not UTF-8 text"),
        ({"file": ("r.csv", b"   \n", "text/csv")}, "r.csv is empty"),
        (None, "Choose a CSV file to upload"),
    ],
)
def test_unreadable_uploads_are_refused(site: tuple[TestClient, Database], files: Any, expected: str) -> None:
    _, db = site
    r = Person(site, Role.ADMIN).post("/routing/rates", files=files)
    assert r.status_code == 422 and expected in text(r.text)
    assert routing_setup.rate_table_summary(db)["id"] == 1


def test_a_good_rate_file_becomes_the_table_in_force(site: tuple[TestClient, Database]) -> None:
    _, db = site
    admin = Person(site, Role.ADMIN)
    r = admin.post("/routing/rates", files={"file": ("june-rates.csv", DEMO_RATES.read_bytes(), "text/csv")})
    page = admin.follow(r)
    assert flash(page).startswith("success: Loaded june-rates.csv: 336 rates for 5 services")
    summary = routing_setup.rate_table_summary(db)
    assert (
        summary["id"] == 2 and summary["source"] == "june-rates.csv" and "Administrator Person" in summary["loaded_by"]
    )
    body = text(page)
    assert "In force: table 2" in body and "FEDEX-PRIORITY-OVERNIGHT" in body and "every location" in body
    assert "22.50 \u2013 130.00 USD" in body and "by Administrator Person" in body
