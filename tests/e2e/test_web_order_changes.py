"""The order page's change forms over HTTP, on SQLite and PostgreSQL: who sees them, what each
does, and the refusals (bad input, a stale page, a forbidden role) that change nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services import orders as order_service
from tests.conftest import books, seed_basics
from tests.e2e.test_web_orders import capture, reserved, sign_in_as


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return app_client  # each test signs in with the role it is about


@pytest.fixture
def oid(db: Database) -> int:
    seed_basics(db, stock={("A", "WH1"): 20, ("B", "WH1"): 20})
    return capture(db, [("A", 2)], external="W-9")


def test_customer_service_changes_quantity_adds_a_line_and_swaps(client: TestClient, db: Database, oid: int) -> None:
    csrf = sign_in_as(client, db, "customer_service")
    page = client.get(f"/orders/{oid}").text
    assert 'id="change-order"' in page and 'name="version" value="1"' in page
    r = client.post(
        f"/orders/{oid}/change/line",
        data={"csrf_token": csrf, "line_number": "1", "quantity": "4", "reason": "two more", "version": "1"},
    )
    assert r.status_code == 200 and "Line 1 (A) 2 → 4" in r.text, r.text
    assert reserved(db, "A", "WH1") == 4
    r = client.post(
        f"/orders/{oid}/change/add-line",
        data={"csrf_token": csrf, "sku": "B", "quantity": "1", "unit_price": "", "reason": "gift", "version": "2"},
    )
    assert "Line 2 added (B x 1 at 10.00 USD" in r.text, r.text
    r = client.post(
        f"/orders/{oid}/change/line",
        data={"csrf_token": csrf, "line_number": "2", "sku": "A", "reason": "wants another A", "version": "3"},
    )
    assert "swapped for A x 1" in r.text, r.text
    o = order_service.get_order(db, oid)
    assert [(ln["sku"], ln["status"], ln["quantity_reserved"]) for ln in o["lines"]] == [
        ("A", "allocated", 4),
        ("B", "cancelled", 0),
        ("A", "allocated", 1),
    ]
    assert reserved(db, "B", "WH1") == 0 and o["grand_total"] == 50
    r = client.post(
        f"/orders/{oid}/change/shipping",
        data={
            "csrf_token": csrf,
            "what": "service_level",
            "service_level": "express",
            "reason": "paid",
            "version": "4",
        },
    )
    assert "Service level standard → express" in r.text, r.text


@pytest.mark.parametrize(
    ("path", "data", "says"),
    [
        ("line", {"line_number": "1", "quantity": "two", "reason": "x"}, "Quantity must be a whole number"),
        ("line", {"line_number": "1", "quantity": "", "reason": "x"}, "Give a new quantity or a new SKU"),
        ("line", {"line_number": "1", "quantity": "3", "reason": " "}, "Reason for the change is required"),
        ("line", {"line_number": "1", "quantity": "3", "reason": "x", "version": "9"}, "changed since you read it"),
        ("line", {"line_number": "1", "quantity": "500", "reason": "x"}, "Not enough stock"),
        ("add-line", {"sku": "ZZ", "quantity": "1", "reason": "x"}, "SKU: unknown SKU"),
        ("add-line", {"sku": "B", "quantity": "1", "unit_price": "abc", "reason": "x"}, "Unit price must be an amount"),
        ("shipping", {"what": "address", "line1": "", "city": "X", "country": "US", "reason": "x"}, "not complete"),
        ("shipping", {"what": "service_level", "service_level": "warp", "reason": "x"}, "Service level is required"),
    ],
)
def test_refused_forms_say_why_and_change_nothing(
    client: TestClient, db: Database, oid: int, path: str, data: dict[str, str], says: str
) -> None:
    csrf = sign_in_as(client, db, "operations")
    before = books(db)
    r = client.post(f"/orders/{oid}/change/{path}", data={"csrf_token": csrf, **data})
    assert r.status_code == 200 and says in r.text.replace("&#39;", "'"), r.text[:2000]
    assert books(db) == before


def test_warehouse_may_not_change_orders(client: TestClient, db: Database, oid: int) -> None:
    csrf = sign_in_as(client, db, "warehouse")
    assert 'id="change-order"' not in client.get(f"/orders/{oid}").text
    before = books(db)
    r = client.post(
        f"/orders/{oid}/change/line", data={"csrf_token": csrf, "line_number": "1", "quantity": "3", "reason": "x"}
    )
    assert r.status_code == 403
    assert books(db) == before
