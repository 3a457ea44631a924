"""The order-change endpoints as a client sees them: bad input names the field and the reason
and changes nothing; scopes are enforced; the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services import apikeys
from tests.conftest import books, order_body, seed_basics
from tests.e2e.test_bad_input import changes_nothing, refused


@pytest.fixture
def order(api: TestClient, db: Database) -> dict[str, Any]:
    seed_basics(db, stock={("A", "WH1"): 5, ("B", "WH1"): 5})
    r = api.post("/api/v1/orders", json=order_body([("A", 2)], external_order_id="E-1"))
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code", "fields"),
    [
        ("PATCH", "/lines/1", {"quantity": -1, "reason": "x"}, {}, 422, "validation_error", {"quantity": ""}),
        ("PATCH", "/lines/1", {"quantity": "many", "reason": "x"}, {}, 422, "validation_error", {"quantity": ""}),
        ("PATCH", "/lines/1", {"quantity": 3, "reason": "  "}, {}, 422, "validation_error", {"reason": ""}),
        (
            "PATCH",
            "/lines/1",
            {"quantity": 3, "reason": "x", "colour": "red"},
            {},
            422,
            "validation_error",
            {"colour": "not a known field"},
        ),
        ("PATCH", "/lines/1", {"reason": "x"}, {}, 422, "validation_error", {"body": "give a quantity"}),
        ("PATCH", "/lines/9", {"quantity": 3, "reason": "x"}, {}, 404, "not_found", None),
        ("PATCH", "/lines/0", {"quantity": 3, "reason": "x"}, {}, 422, "validation_error", {"line_number": ""}),
        (
            "PATCH",
            "/lines/1",
            {"quantity": 3, "reason": "x"},
            {"If-Match": "abc"},
            422,
            "validation_error",
            {"If-Match": "not an order version"},
        ),
        (
            "PATCH",
            "/lines/1",
            {"quantity": 3, "reason": "x", "expected_version": 2},
            {"If-Match": "1"},
            422,
            "validation_error",
            {"expected_version": "differs"},
        ),
        (
            "PATCH",
            "/lines/1",
            {"quantity": 3, "reason": "x"},
            {"If-Match": '"7"'},
            409,
            "version_conflict",
            {"expected_version": "version 1"},
        ),
        (
            "PATCH",
            "/lines/1",
            {"quantity": 50, "reason": "x"},
            {},
            409,
            "insufficient_stock",
            {"quantity": "available"},
        ),
        ("PATCH", "/lines/1", {"sku": "A", "reason": "x"}, {}, 422, "validation_error", {"sku": "already"}),
        ("PATCH", "/lines/1", {"sku": "NOPE", "reason": "x"}, {}, 422, "unknown_sku", {"sku": "unknown SKU"}),
        ("POST", "/lines", {"sku": "B", "quantity": 0, "reason": "x"}, {}, 422, "validation_error", {"quantity": ""}),
        (
            "POST",
            "/lines",
            {"sku": "B", "quantity": 1, "unit_price": "1.001", "reason": "x"},
            {},
            422,
            "validation_error",
            {"unit_price": "decimals"},
        ),
        (
            "POST",
            "/lines",
            {"sku": "B", "quantity": 1, "discount": "99.00", "reason": "x"},
            {},
            422,
            "validation_error",
            {"discount": "larger"},
        ),
        (
            "POST",
            "/lines",
            {"sku": "C", "quantity": 1, "reason": "x"},
            {},
            409,
            "insufficient_stock",
            {"quantity": "0 available"},
        ),
        ("PATCH", "", {"reason": "x"}, {}, 422, "validation_error", {"body": "give a shipping_address"}),
        ("PATCH", "", {"service_level": "teleport", "reason": "x"}, {}, 422, "validation_error", {"service_level": ""}),
        (
            "PATCH",
            "",
            {"shipping_address": {"city": "X", "country": "US"}, "reason": "x"},
            {},
            422,
            "validation_error",
            {"shipping_address.line1": "required"},
        ),
        (
            "PATCH",
            "",
            {"service_level": "standard", "reason": "x"},
            {},
            422,
            "validation_error",
            {"service_level": "already ships standard"},
        ),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(
    api: TestClient,
    db: Database,
    order: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    status: int,
    code: str,
    fields: dict[str, str] | None,
) -> None:
    with changes_nothing(api, db):
        r = api.request(method, f"/api/v1/orders/{order['id']}{path}", json=body, headers=headers)
        refused(r, status, code, fields)


def test_unknown_order_and_bad_reference(api: TestClient, order: dict[str, Any]) -> None:
    assert api.patch("/api/v1/orders/999999", json={"service_level": "express", "reason": "x"}).status_code == 404
    r = api.patch("/api/v1/orders/nope/lines/1", json={"quantity": 2, "reason": "x"})
    refused(r, 422, "validation_error", {"order": "neither an order id"})
    r = api.patch(f"/api/v1/orders/{order['order_number']}/lines/1", json={"quantity": 3, "reason": "by number"})
    assert r.status_code == 200 and r.json()["lines"][0]["quantity"] == 3


def test_read_only_key_cannot_change(api: TestClient, db: Database, order: dict[str, Any]) -> None:
    _, secret = apikeys.create_api_key(db, "reader", ["orders:read"])
    before = books(db)
    r = api.patch(
        f"/api/v1/orders/{order['id']}/lines/1",
        json={"quantity": 3, "reason": "x"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 403, r.text
    assert books(db) == before


def test_openapi_describes_the_change_endpoints(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    assert spec["paths"]["/api/v1/orders/{order}"]["patch"]["summary"] == "Change the shipping address or service level"
    assert "post" in spec["paths"]["/api/v1/orders/{order}/lines"]
    patch = spec["paths"]["/api/v1/orders/{order}/lines/{line_number}"]["patch"]
    assert {p["name"] for p in patch["parameters"]} >= {"If-Match", "Idempotency-Key", "order", "line_number"}
    assert "version" in spec["components"]["schemas"]["OrderRead"]["properties"]
