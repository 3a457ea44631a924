"""Inventory pages as a browser-less client sees them, on SQLite and PostgreSQL: the list and
its filters, a SKU across locations, the ledger, and receive / adjust / count forms that write
the ledger as the signed-in person or refuse and change nothing."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.domain.access import Role
from openoms.services import catalog, inventory, users
from openoms.services import orders as order_service
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import seed_basics

PASSWORD = "correct horse battery"
SKU_CELL = re.compile(r'<td class="sku"><a href="[^"]+">([^<]+)</a>')


def snapshot(db: Database) -> dict[str, Any]:
    stock = Base.metadata.tables["stock_levels"]
    with db.read() as conn:
        return {
            "ledger": conn.execute(
                select(func.count()).select_from(Base.metadata.tables["inventory_ledger"])
            ).scalar_one(),
            "outbox": conn.execute(select(func.count()).select_from(Base.metadata.tables["outbox"])).scalar_one(),
            "stock": sorted(tuple(r) for r in conn.execute(select(stock)).all()),
        }


def sign_in(client: TestClient, db: Database, role: Role) -> str:
    email = f"{role.value}@example.com"
    t = Base.metadata.tables["users"]
    with db.read() as conn:
        exists = conn.execute(select(t.c.id).where(t.c.email == email)).first()
    if not exists:
        users.create_user(db, email, f"{role.label} Person", role, PASSWORD, Actor("tests"))
    user, token = users.sign_in(db, email, PASSWORD)
    client.cookies.set("openoms_session", token)
    return user.csrf_token


@pytest.fixture
def stocked(db: Database) -> Database:
    """A: WH1 5 (2 reserved by an order), WH2 3; B: WH1 12; C: the store only (does not ship);
    D: nothing anywhere."""
    seed_basics(db, stock={("A", "WH1"): 5, ("A", "WH2"): 3, ("B", "WH1"): 12, ("C", "ST1"): 4})
    order_service.capture_order(
        db,
        order_service.CaptureOrder(
            channel="web", currency="USD", lines=[order_service.LineInput("A", 2, Decimal("10"))]
        ),
        Actor("tests"),
    )
    return db


def ledger_rows(db: Database, sku: str, location: str) -> list[dict[str, Any]]:
    return inventory.ledger(db, sku, location)


def flash(r: Any) -> str:
    return unquote(r.headers.get("set-cookie", ""))


def test_inventory_needs_a_session(app_client: TestClient, stocked: Database) -> None:
    r = app_client.get("/inventory?low=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Finventory%3Flow%3D1"


def test_list_by_sku_shows_network_figures_and_each_location(app_client: TestClient, stocked: Database) -> None:
    sign_in(app_client, stocked, Role.FINANCE)  # every role may look
    r = app_client.get("/inventory")
    assert r.status_code == 200
    assert SKU_CELL.findall(r.text) == ["A", "B", "C", "D"]
    row_a = r.text[r.text.index('href="/inventory/A"') :].split("</tr>")[0]
    nums = re.findall(r'<td class="num[^"]*">(?:<span[^>]*>)?([\d,]+)', row_a)
    assert nums[:3] == ["8", "2", "6"]  # on hand, reserved, available across WH1 + WH2
    assert 'title="WH1: 5 on hand, 2 reserved">3<' in row_a
    assert 'title="WH2: 3 on hand, 0 reserved">3<' in row_a
    row_c = r.text[r.text.index('href="/inventory/C"') :].split("</tr>")[0]
    assert re.findall(r'<td class="num[^"]*">(?:<span[^>]*>)?([\d,]+)', row_c)[:3] == [
        "0",
        "0",
        "0",
    ]  # ST1 does not ship


def test_list_filters_search_location_and_low_stock(app_client: TestClient, stocked: Database) -> None:
    sign_in(app_client, stocked, Role.WAREHOUSE)
    assert SKU_CELL.findall(app_client.get("/inventory", params={"q": "b"}).text) == ["B"]
    assert SKU_CELL.findall(app_client.get("/inventory", params={"q": "product"}).text) == ["A", "B", "C", "D"]
    assert SKU_CELL.findall(app_client.get("/inventory", params={"q": "_"}).text) == []
    # low: network available <= 10 (the default threshold): A has 6, C and D none
    assert SKU_CELL.findall(app_client.get("/inventory", params={"low": "1"}).text) == ["A", "C", "D"]
    # by location: only what is stocked there, with that location's figures
    wh1 = app_client.get("/inventory", params={"location": "WH1"}).text
    assert SKU_CELL.findall(wh1) == ["A", "B"]
    assert 'href="/inventory/A/WH1"' in wh1
    assert SKU_CELL.findall(app_client.get("/inventory", params={"location": "WH1", "low": "1"}).text) == ["A"]
    assert SKU_CELL.findall(app_client.get("/inventory", params={"location": "ST1"}).text) == ["C"]
    assert app_client.get("/inventory", params={"location": "NOPE"}).status_code == 404


def test_list_is_paginated(app_client: TestClient, stocked: Database) -> None:
    with stocked.begin() as conn:
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=f"P{i:03d}", name=f"Part {i}") for i in range(60)])
    sign_in(app_client, stocked, Role.WAREHOUSE)
    first = app_client.get("/inventory").text
    assert len(SKU_CELL.findall(first)) == 50
    assert "Page 1 of 2" in first and 'href="/inventory?page=2"' in first
    second = app_client.get("/inventory", params={"page": "2"}).text
    assert SKU_CELL.findall(second) == [f"P{i:03d}" for i in range(46, 60)]
    filtered = app_client.get("/inventory", params={"q": "p0", "low": "1", "page": "2"}).text
    assert SKU_CELL.findall(filtered) == [f"P{i:03d}" for i in range(50, 60)]
    assert 'href="/inventory?q=p0&amp;low=1"' in filtered  # previous page keeps the filters


def test_sku_page_shows_every_location_and_recent_movements(app_client: TestClient, stocked: Database) -> None:
    sign_in(app_client, stocked, Role.FINANCE)
    r = app_client.get("/inventory/A")
    assert r.status_code == 200
    page = r.text
    for code in ("WH1", "WH2", "ST1"):
        assert f'href="/inventory/A/{code}"' in page
    assert "Reserved</span>" in page  # the reservation is among the recent movements
    assert app_client.get("/inventory/NOPE").status_code == 404
    assert app_client.get("/inventory/A/NOPE").status_code == 404


def test_ledger_lists_movements_newest_first_with_running_balances(app_client: TestClient, stocked: Database) -> None:
    sign_in(app_client, stocked, Role.FINANCE)
    page = html.unescape(app_client.get("/inventory/A/WH1").text)
    balances = re.findall(r'<td class="num bal"><strong>(\d+)</strong> on hand<span class="res">(\d+) reserved', page)
    assert balances == [("5", "2"), ("5", "0")]  # after the reservation, after the receipt
    assert re.search(r'<a href="/orders/1">SO-0000001</a>', page)


def test_ledger_pages_back_and_forward(app_client: TestClient, stocked: Database) -> None:
    for i in range(55):
        inventory.change_stock(stocked, [inventory.StockChange("B", "WH1", "adjustment", 1, f"n{i}")], Actor("tests"))
    sign_in(app_client, stocked, Role.WAREHOUSE)
    first = html.unescape(app_client.get("/inventory/B/WH1").text)
    ons = [int(x) for x in re.findall(r'<td class="num bal"><strong>(\d+)</strong>', first)]
    assert len(ons) == 50 and ons[0] == 12 + 55 and ons == sorted(ons, reverse=True)
    older = re.search(r'href="(/inventory/B/WH1\?before=\d+)"', first)
    assert older
    second = html.unescape(app_client.get(older.group(1)).text)
    ons2 = [int(x) for x in re.findall(r'<td class="num bal"><strong>(\d+)</strong>', second)]
    assert ons2 == [ons[-1] - 1 - i for i in range(5)] + [12]  # the last 5 adjustments and the receipt
    newer = re.search(r'href="(/inventory/B/WH1\?after=\d+)"', second)
    assert newer
    back = html.unescape(app_client.get(newer.group(1)).text)
    assert [int(x) for x in re.findall(r'<td class="num bal"><strong>(\d+)</strong>', back)] == ons


def test_receive_writes_the_ledger_as_the_user(app_client: TestClient, stocked: Database) -> None:
    csrf = sign_in(app_client, stocked, Role.WAREHOUSE)
    r = app_client.post(
        "/inventory/D/receive",
        data={"csrf_token": csrf, "location": "WH2", "quantity": "24", "reference": "PO-1042", "reason": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/inventory/D/WH2"
    assert "Received 24 units of D at WH2" in flash(r)
    row = ledger_rows(stocked, "D", "WH2")[0]
    assert (row["entry_type"], row["on_hand_delta"], row["reference"], row["reason"]) == (
        "receipt",
        24,
        "PO-1042",
        "receipt",
    )
    assert row["actor"] == "user:Warehouse Person <warehouse@example.com>"
    page = app_client.get("/inventory/D/WH2").text
    assert '<td class="who" title="warehouse@example.com">Warehouse Person</td>' in page
    assert run_check(stocked).ok


def test_adjust_and_count_write_the_ledger_as_the_user(app_client: TestClient, stocked: Database) -> None:
    csrf = sign_in(app_client, stocked, Role.OPERATIONS)
    r = app_client.post(
        "/inventory/B/adjust",
        data={"csrf_token": csrf, "mode": "delta", "location": "WH1", "quantity": "-3", "reason": "Damaged"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "Adjusted B at WH1 by -3" in flash(r)
    r = app_client.post(
        "/inventory/B/adjust",
        data={
            "csrf_token": csrf,
            "mode": "count",
            "location": "WH1",
            "counted": "7",
            "quantity": "99",
            "reason": "Cycle count",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "7 on hand (-2)" in flash(r)
    count, adjust = ledger_rows(stocked, "B", "WH1")[:2]
    assert (adjust["entry_type"], adjust["on_hand_delta"], adjust["reason"]) == ("adjustment", -3, "Damaged")
    assert (count["entry_type"], count["on_hand_delta"], count["reason"]) == ("count", -2, "Cycle count")
    assert adjust["actor"] == count["actor"] == "user:Operations Person <operations@example.com>"
    assert run_check(stocked).ok


REFUSED: list[tuple[str, str, dict[str, str], int, str, str]] = [
    # name, form, fields, status, input id with the error, words
    (
        "below reserved",
        "adjust",
        {"mode": "delta", "location": "WH1", "quantity": "-4", "reason": "Lost"},
        409,
        "adjust-quantity",
        "at least 2",
    ),
    (
        "count below reserved",
        "adjust",
        {"mode": "count", "location": "WH1", "counted": "1", "reason": "Cycle count"},
        409,
        "adjust-counted",
        "at least 2",
    ),
    (
        "zero delta",
        "adjust",
        {"mode": "delta", "location": "WH1", "quantity": "0", "reason": "Found"},
        422,
        "adjust-quantity",
        "must not be 0",
    ),
    (
        "no reason",
        "adjust",
        {"mode": "delta", "location": "WH1", "quantity": "2", "reason": "  "},
        422,
        "adjust-reason",
        "say why",
    ),
    (
        "not a number",
        "adjust",
        {"mode": "delta", "location": "WH1", "quantity": "two", "reason": "Found"},
        422,
        "adjust-quantity",
        "whole number",
    ),
    (
        "negative count",
        "adjust",
        {"mode": "count", "location": "WH1", "counted": "-1", "reason": "Count"},
        422,
        "adjust-counted",
        "0 or more",
    ),
    (
        "no location",
        "adjust",
        {"mode": "delta", "location": "", "quantity": "2", "reason": "Found"},
        422,
        "adjust-location",
        "choose a location",
    ),
    (
        "unknown location",
        "adjust",
        {"mode": "delta", "location": "XX9", "quantity": "2", "reason": "Found"},
        422,
        "adjust-location",
        "unknown location",
    ),
    (
        "receive nothing",
        "receive",
        {"location": "WH1", "quantity": "0", "reference": "PO-1"},
        422,
        "receive-quantity",
        "at least 1",
    ),
    (
        "receive without reference",
        "receive",
        {"location": "WH1", "quantity": "5", "reference": ""},
        422,
        "receive-reference",
        "PO, ASN",
    ),
    (
        "receive too many",
        "receive",
        {"location": "WH1", "quantity": "100000001", "reference": "PO-1"},
        422,
        "receive-quantity",
        "at most",
    ),
]


@pytest.mark.parametrize(
    ("which", "fields", "status", "field_id", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_a_refused_stock_change_says_why_keeps_the_input_and_changes_nothing(
    app_client: TestClient,
    stocked: Database,
    which: str,
    fields: dict[str, str],
    status: int,
    field_id: str,
    words: str,
) -> None:
    csrf = sign_in(app_client, stocked, Role.ADMIN)
    before = snapshot(stocked)
    r = app_client.post(f"/inventory/A/{which}", data={"csrf_token": csrf, **fields}, follow_redirects=False)
    assert r.status_code == status, r.text[:3000]
    assert snapshot(stocked) == before
    assert run_check(stocked).ok
    page = html.unescape(r.text)
    assert f'id="{which}-refused"' in page and "Nothing was changed" in page
    error = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', page, re.S)
    assert error, f"no error next to {field_id}"
    assert words.lower() in error.group(1).lower(), error.group(1)
    tag = re.search(rf'<(?:input|select) id="{field_id}"[^>]*>', page)
    assert tag and 'aria-invalid="true"' in tag.group(0) and f"{field_id}-error" in tag.group(0)
    typed = fields.get("quantity") or fields.get("counted")
    if typed and typed.strip():
        assert f'value="{typed}"' in page  # what was typed is still there


def test_a_refusal_on_the_ledger_page_comes_back_to_the_ledger(app_client: TestClient, stocked: Database) -> None:
    csrf = sign_in(app_client, stocked, Role.WAREHOUSE)
    r = app_client.post(
        "/inventory/A/adjust",
        data={
            "csrf_token": csrf,
            "mode": "delta",
            "location": "WH1",
            "return_to": "ledger",
            "quantity": "-5",
            "reason": "Lost",
        },
    )
    assert r.status_code == 409
    assert 'A <span class="muted">at</span> WH1' in r.text
    assert "2 units are reserved for open orders" in html.unescape(r.text)


def test_finance_sees_stock_but_no_forms_and_is_refused_changes(app_client: TestClient, stocked: Database) -> None:
    csrf = sign_in(app_client, stocked, Role.FINANCE)
    page = app_client.get("/inventory/A").text
    assert "Receive stock" not in page and "Adjust or count" not in page
    assert "can see stock but not change it" in page
    before = snapshot(stocked)
    for path, data in (
        ("/inventory/A/adjust", {"mode": "delta", "location": "WH1", "quantity": "5", "reason": "Found"}),
        ("/inventory/A/receive", {"location": "WH1", "quantity": "5", "reference": "PO-9"}),
    ):
        r = app_client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert r.status_code == 403, path
        assert "may not" in r.text
    assert snapshot(stocked) == before


def test_each_role_sees_the_forms_it_may_use(app_client: TestClient, stocked: Database) -> None:
    expected = {
        Role.WAREHOUSE: (True, True),
        Role.OPERATIONS: (True, True),
        Role.ADMIN: (True, True),
        Role.CUSTOMER_SERVICE: (False, False),
        Role.FINANCE: (False, False),
    }
    for role, (receive, adjust) in expected.items():
        sign_in(app_client, stocked, role)
        page = app_client.get("/inventory/A/WH1").text
        assert ('action="/inventory/A/receive"' in page) is receive, role
        assert ('action="/inventory/A/adjust"' in page) is adjust, role


def test_customer_service_is_refused_receiving(app_client: TestClient, stocked: Database) -> None:
    csrf = sign_in(app_client, stocked, Role.CUSTOMER_SERVICE)
    before = snapshot(stocked)
    r = app_client.post(
        "/inventory/A/receive", data={"csrf_token": csrf, "location": "WH1", "quantity": "5", "reference": "PO-9"}
    )
    assert r.status_code == 403
    assert snapshot(stocked) == before


def test_a_stock_form_without_the_csrf_token_is_refused(app_client: TestClient, stocked: Database) -> None:
    sign_in(app_client, stocked, Role.WAREHOUSE)
    before = snapshot(stocked)
    r = app_client.post("/inventory/A/receive", data={"location": "WH1", "quantity": "5", "reference": "PO-9"})
    assert r.status_code == 403
    assert snapshot(stocked) == before


def test_skus_with_a_slash_have_pages_and_forms(app_client: TestClient, stocked: Database) -> None:
    with stocked.begin() as conn:
        catalog.PRODUCTS.upsert_many(conn, [dict(sku="KIT/2", name="Two-pack")])
    csrf = sign_in(app_client, stocked, Role.WAREHOUSE)
    assert "Two-pack" in app_client.get("/inventory/KIT/2").text
    r = app_client.post(
        "/inventory/KIT/2/receive",
        data={"csrf_token": csrf, "location": "WH1", "quantity": "3", "reference": "PO-7"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/inventory/KIT/2/WH1"
    ledger = app_client.get("/inventory/KIT/2/WH1")
    assert ledger.status_code == 200 and "PO-7" in ledger.text
