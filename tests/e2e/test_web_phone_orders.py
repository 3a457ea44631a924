"""The phone-order page (/orders/new) as a browser-less client sees it, on SQLite and
PostgreSQL: capture through the one capture path, refusals that leave nothing behind,
double submits, and the JSON look-ups behind the type-ahead."""

from __future__ import annotations

import html
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.domain.access import Role
from openoms.services import catalog, users
from openoms.services import orders as order_service
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import seed_basics

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="order_token" value="(PH-[0-9A-F]{12})"')


def snapshot(db: Database) -> dict[str, Any]:
    """Row counts of everything a capture writes, and every stock balance."""
    names = ("orders", "order_lines", "reservations", "inventory_ledger", "order_events", "outbox", "customers")
    stock = Base.metadata.tables["stock_levels"]
    with db.read() as conn:
        out: dict[str, Any] = {
            n: conn.execute(select(func.count()).select_from(Base.metadata.tables[n])).scalar_one() for n in names
        }
        out["stock"] = sorted(tuple(r) for r in conn.execute(select(stock)).all())
    return out


def sign_in(client: TestClient, db: Database, role: Role) -> str:
    """Open a session for a user of ``role`` (created on first use); returns its CSRF token."""
    email = f"{role.value}@example.com"
    with db.read() as conn:
        exists = conn.execute(
            select(Base.metadata.tables["users"].c.id).where(Base.metadata.tables["users"].c.email == email)
        ).first()
    if not exists:
        users.create_user(db, email, f"{role.label} Person", role, PASSWORD, Actor("tests"))
    user, token = users.sign_in(db, email, PASSWORD)
    client.cookies.set("openoms_session", token)
    return user.csrf_token


@pytest.fixture
def shop(db: Database) -> Database:
    """Stock A: WH1 5, WH2 3; B: WH1 2; C only at the store that does not ship; a phone
    channel; one known customer."""
    seed_basics(db, stock={("A", "WH1"): 5, ("A", "WH2"): 3, ("B", "WH1"): 2, ("C", "ST1"): 4})
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="phone", name="Phone orders", kind="phone", currency="USD")])
        catalog.upsert_customer(conn, "ana.rivera@example.com", "Ana Rivera", "+1 512 555 0101")
    return db


def form(token: str, csrf: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf,
        "order_token": token,
        "customer_mode": "new",
        "new_name": "Ben Okafor",
        "new_email": "Ben.Okafor@Example.com",
        "new_phone": "+1 312 555 0199",
        "ship_name": "Ben Okafor",
        "ship_line1": "200 Main St",
        "ship_line2": "Apt 4",
        "ship_city": "Chicago",
        "ship_region": "IL",
        "ship_postal_code": "60607",
        "ship_country": "us",
        "lines-0-sku": "A",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "",
        "lines-1-sku": "B",
        "lines-1-quantity": "1",
        "lines-1-unit_price": "7.50",
        "lines-2-sku": "",
        "lines-2-quantity": "",
        "lines-2-unit_price": "",
        "service_level": "express",
        "shipping_total": "4.95",
        "notes": "Leave with the doorman",
        "action": "create",
    }
    data.update(overrides)
    return data


def new_token(client: TestClient) -> str:
    r = client.get("/orders/new")
    assert r.status_code == 200, r.text
    match = TOKEN_RE.search(r.text)
    assert match, "the form carries a one-time order token"
    return match.group(1)


def flash(r: Any) -> str:
    return unquote(r.headers.get("set-cookie", ""))


def test_the_form_needs_a_session_and_the_right_role(app_client: TestClient, shop: Database) -> None:
    r = app_client.get("/orders/new", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    sign_in(app_client, shop, Role.WAREHOUSE)
    assert app_client.get("/orders/new").status_code == 403
    assert app_client.get("/orders/new/sku?q=A").status_code == 403
    assert app_client.get("/orders/new/customers?q=ana").status_code == 403


def test_form_without_javascript_has_labelled_fields_and_five_empty_lines(
    app_client: TestClient, shop: Database
) -> None:
    sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    page = app_client.get("/orders/new").text
    rows = re.findall(r'<tbody class="line" data-row="(\d+)"', page)
    assert rows == ["0", "1", "2", "3", "4"]
    for field_id in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', page):
        assert f'for="{field_id}"' in page, f"{field_id} has no label"
    assert '<option value="express">Express</option>' in page


def test_phone_order_is_captured_on_the_phone_channel_by_the_user(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    token = new_token(app_client)
    r = app_client.post("/orders/new", data=form(token, csrf), follow_redirects=False)
    assert r.status_code == 303, r.text
    order_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/orders/{order_id}"
    assert f"Order SO-{order_id:07d} created" in flash(r)

    order = order_service.get_order(shop, order_id)
    assert order["channel"] == "phone"
    assert order["external_order_id"] == token
    assert order["currency"] == "USD"
    assert order["captured_by"] == "user:Customer service Person <customer_service@example.com>"
    assert order["timeline"][0]["actor"] == order["captured_by"]
    assert order["service_level"] == "express"
    assert order["notes"] == "Leave with the doorman"
    assert order["customer"]["email"] == "ben.okafor@example.com"
    assert order["customer"]["phone"] == "+1 312 555 0199"
    assert order["shipping_address"] == {
        "name": "Ben Okafor",
        "line1": "200 Main St",
        "line2": "Apt 4",
        "city": "Chicago",
        "region": "IL",
        "postal_code": "60607",
        "country": "US",
    }
    assert [(ln["sku"], ln["quantity"], str(ln["unit_price"])) for ln in order["lines"]] == [
        ("A", 2, "10.00"),  # blank price: the list price
        ("B", 1, "7.50"),
    ]
    assert str(order["shipping_total"]) == "4.95"
    assert str(order["grand_total"]) == "32.45"
    assert [ln["reservations"] for ln in order["lines"]] == [
        [{"location": "WH1", "quantity": 2}],
        [{"location": "WH1", "quantity": 1}],
    ]
    assert run_check(shop).ok


def test_existing_customer_is_found_by_email_or_unique_name_and_kept(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    for i, typed in enumerate(("ANA.RIVERA@example.com", "Ana Riv")):
        data = form(new_token(app_client), csrf, customer_mode="existing", customer_email=typed, new_name="ignored")
        data.update({"lines-0-quantity": "1", "lines-1-sku": "", "lines-1-quantity": "", "lines-1-unit_price": ""})
        r = app_client.post("/orders/new", data=data, follow_redirects=False)
        assert r.status_code == 303, r.text
        order = order_service.get_order(shop, int(r.headers["location"].rsplit("/", 1)[1]))
        assert order["customer"]["email"] == "ana.rivera@example.com", i
        assert order["customer"]["name"] == "Ana Rivera"  # not overwritten by the form
        assert order["customer"]["phone"] == "+1 512 555 0101"
    with shop.read() as conn:
        assert conn.execute(select(func.count()).select_from(Base.metadata.tables["customers"])).scalar_one() == 1


def test_a_double_submit_creates_one_order(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    data = form(new_token(app_client), csrf)
    first = app_client.post("/orders/new", data=data, follow_redirects=False)
    before = snapshot(shop)
    again = app_client.post("/orders/new", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert "already sent" in flash(again) and "no second order" in flash(again)
    assert snapshot(shop) == before
    assert before["orders"] == 1
    # a fresh form is a new order
    third = app_client.post(
        "/orders/new", data=form(new_token(app_client), csrf, new_email="other@example.com"), follow_redirects=False
    )
    assert third.headers["location"] != first.headers["location"]
    assert run_check(shop).ok


def test_copies_of_one_form_sent_at_once_make_one_order(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    data = form(new_token(app_client), csrf)  # a new customer too: the copies race to create them
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(lambda _: app_client.post("/orders/new", data=data, follow_redirects=False), range(4))
        )
    assert [r.status_code for r in responses] == [303] * 4, [r.text[:500] for r in responses if r.status_code != 303]
    assert len({r.headers["location"] for r in responses}) == 1
    assert snapshot(shop)["orders"] == 1
    assert run_check(shop).ok


REFUSALS: list[tuple[str, dict[str, str], int, dict[str, str]]] = [
    # name, form changes, status, {input id: words in its error}
    ("short", {"lines-0-quantity": "9"}, 409, {"lines-0-quantity": "9 of A wanted, 8 available"}),
    (
        "store stock does not ship",
        {"lines-0-sku": "C", "lines-0-quantity": "1"},
        409,
        {"lines-0-quantity": "0 available"},
    ),
    ("unknown sku", {"lines-1-sku": "NOPE"}, 422, {"lines-1-sku": "no product with SKU"}),
    ("zero quantity", {"lines-0-quantity": "0"}, 422, {"lines-0-quantity": "at least 1"}),
    ("fractional quantity", {"lines-1-quantity": "1.5"}, 422, {"lines-1-quantity": "whole number"}),
    ("negative price", {"lines-1-unit_price": "-1"}, 422, {"lines-1-unit_price": "must not be negative"}),
    ("too many decimals", {"lines-1-unit_price": "7.505"}, 422, {"lines-1-unit_price": "more decimals than USD"}),
    ("not a price", {"lines-0-unit_price": "ten"}, 422, {"lines-0-unit_price": "an amount"}),
    (
        "no lines",
        {
            "lines-0-sku": "",
            "lines-0-quantity": "",
            "lines-1-sku": "",
            "lines-1-quantity": "",
            "lines-1-unit_price": "",
        },
        422,
        {"lines": "at least one line"},
    ),
    (
        "no address",
        {"ship_line1": "", "ship_city": "", "ship_country": "USA"},
        422,
        {"ship_line1": "street", "ship_city": "city", "ship_country": "two-letter"},
    ),
    ("bad email", {"new_email": "ben@"}, 422, {"new_email": ""}),
    ("email taken", {"new_email": "ana.rivera@example.com"}, 422, {"new_email": "Existing customer"}),
    (
        "unknown customer",
        {"customer_mode": "existing", "customer_email": "nobody@example.com"},
        422,
        {"customer_email": "no customer"},
    ),
    ("bad shipping", {"shipping_total": "4,9.5.1"}, 422, {"shipping_total": "an amount"}),
]


@pytest.mark.parametrize(("changes", "status", "field_errors"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_refused_order_keeps_what_was_typed_shows_why_and_leaves_nothing(
    app_client: TestClient, shop: Database, changes: dict[str, str], status: int, field_errors: dict[str, str]
) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    token = new_token(app_client)
    data = form(token, csrf, **changes)
    before = snapshot(shop)
    r = app_client.post("/orders/new", data=data, follow_redirects=False)
    assert r.status_code == status, r.text[:2000]
    assert snapshot(shop) == before
    assert run_check(shop).ok
    page = html.unescape(r.text)
    assert 'id="error-summary"' in page and "The order was not created" in page
    assert f'value="{token}"' in page  # the same token: fixing and resending still makes one order
    for key in ("new_name", "ship_line2", "notes", "lines-1-unit_price"):
        if data.get(key) and key != "notes":
            assert f'value="{data[key]}"' in page, f"{key} was not kept"
    assert data["notes"] in page
    for field_id, words in field_errors.items():
        error = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">(.*?)</p>', page, re.S)
        assert error, f"no error shown for {field_id}"
        assert words.lower() in error.group(1).lower(), error.group(1)
        if field_id != "lines":
            tag = re.search(rf'<(?:input|select|textarea) id="{re.escape(field_id)}"[^>]*>', page, re.S)
            assert tag, field_id
            assert 'aria-invalid="true"' in tag.group(0)
            assert f"{field_id}-error" in tag.group(0)  # aria-describedby names the message
            assert f'href="#{field_id}"' in page  # the summary links to the field


def test_fixing_a_refused_form_creates_the_order_once(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    token = new_token(app_client)
    bad = app_client.post("/orders/new", data=form(token, csrf, **{"lines-0-quantity": "50"}), follow_redirects=False)
    assert bad.status_code == 409
    good = app_client.post("/orders/new", data=form(token, csrf), follow_redirects=False)
    assert good.status_code == 303
    again = app_client.post("/orders/new", data=form(token, csrf), follow_redirects=False)
    assert again.headers["location"] == good.headers["location"]
    assert snapshot(shop)["orders"] == 1


def test_post_without_csrf_token_is_refused_and_creates_nothing(app_client: TestClient, shop: Database) -> None:
    sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    data = form(new_token(app_client), "not-the-token")
    before = snapshot(shop)
    r = app_client.post("/orders/new", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert snapshot(shop) == before


def test_check_stock_reshows_the_form_with_stock_and_an_extra_line(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    data = form(new_token(app_client), csrf, action="check")
    data.update({f"lines-{i}-{f}": "x" if f == "sku" else "1" for i in (2, 3, 4) for f in ("sku", "quantity")})
    before = snapshot(shop)
    r = app_client.post("/orders/new", data=data)
    assert r.status_code == 200
    assert snapshot(shop) == before
    page = r.text
    assert "Stock of A by location" in page
    assert re.findall(r'<tbody class="line" data-row="(\d+)"', page) == ["0", "1", "2", "3", "4", "5"]


def test_sku_lookup_returns_matches_with_stock_per_location(app_client: TestClient, shop: Database) -> None:
    sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    body = app_client.get("/orders/new/sku", params={"q": "a"}).json()
    assert body["query"] == "a"
    assert [p["sku"] for p in body["items"]] == ["A"]
    item = body["items"][0]
    assert item["name"] == "Product A" and item["list_price"] == "10.00" and item["currency"] == "USD"
    assert item["active"] is True
    assert item["network_available"] == 8
    by_loc = {loc["location"]: loc for loc in item["locations"]}
    assert by_loc["WH1"] == {
        "location": "WH1",
        "name": "Warehouse 1",
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        "ships": True,
    }
    assert by_loc["ST1"]["ships"] is False  # shown, but not counted towards the network
    # names match too, exact SKU first
    names = app_client.get("/orders/new/sku", params={"q": "product"}).json()["items"]
    assert [p["sku"] for p in names] == ["A", "B", "C", "D"]
    assert app_client.get("/orders/new/sku", params={"q": "%"}).json()["items"] == []  # wildcards are literal
    assert app_client.get("/orders/new/sku", params={"q": ""}).json()["items"] == []


def test_sku_lookup_shows_live_reservations(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    app_client.post("/orders/new", data=form(new_token(app_client), csrf), follow_redirects=False)
    item = app_client.get("/orders/new/sku", params={"q": "A"}).json()["items"][0]
    wh1 = next(loc for loc in item["locations"] if loc["location"] == "WH1")
    assert (wh1["on_hand"], wh1["reserved"], wh1["available"]) == (5, 2, 3)
    assert item["network_available"] == 6


def test_customer_lookup_finds_by_email_or_name_with_the_last_address(app_client: TestClient, shop: Database) -> None:
    csrf = sign_in(app_client, shop, Role.CUSTOMER_SERVICE)
    data = form(new_token(app_client), csrf, customer_mode="existing", customer_email="ana.rivera@example.com")
    assert app_client.post("/orders/new", data=data, follow_redirects=False).status_code == 303
    for q in ("ana.r", "RIVERA"):
        items = app_client.get("/orders/new/customers", params={"q": q}).json()["items"]
        assert [c["email"] for c in items] == ["ana.rivera@example.com"], q
    ana = items[0]
    assert ana["name"] == "Ana Rivera" and ana["orders"] == 1 and ana["last_order"].startswith("SO-")
    assert ana["last_address"]["city"] == "Chicago"
    assert app_client.get("/orders/new/customers", params={"q": "a"}).json()["items"] == []  # 2 characters at least
