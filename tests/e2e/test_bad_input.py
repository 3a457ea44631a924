"""Bad input gets a 4xx naming the field and the reason, and changes nothing (invariant 6).

Every refused request is wrapped in ``changes_nothing``: the row counts of every table a
command writes, every stock balance, the order list and availability as the API shows them,
and ``openoms check`` must be the same afterwards. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.api.app import create_app
from openoms.config import Settings
from openoms.services import apikeys, catalog
from openoms.services.check import run_check
from openoms.services.common import encode_cursor
from tests.conftest import books, order_body, seed_basics

Body = dict[str, Any]


@pytest.fixture
def shop(api: TestClient, db: Database) -> TestClient:
    """The basic network with stock, an inactive channel and an inactive product."""
    seed_basics(db, stock={("A", "WH1"): 5, ("B", "WH1"): 5, ("A", "WH2"): 3})
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="old", name="Closed store", kind="web", active=False)])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku="D", name="Discontinued", active=False)])
    return api


def _view(api: TestClient) -> tuple[Any, Any]:
    orders = api.get("/api/v1/orders")
    avail = api.get("/api/v1/availability", params={"sku": ["A", "B", "C", "D"]})
    assert orders.status_code == avail.status_code == 200
    return orders.json(), avail.json()


@contextmanager
def changes_nothing(api: TestClient, db: Database) -> Iterator[None]:
    before, view = books(db), _view(api)
    yield
    assert books(db) == before
    assert _view(api) == view
    report = run_check(db)
    assert report.ok, report.problems


def refused(r: Any, status: int, code: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """Assert the error shape; ``fields`` maps each expected field path to part of its reason."""
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code, err
    assert err["message"]
    got = {e["field"]: e["reason"] for e in err["errors"]}
    for field, reason in (fields or {}).items():
        assert field in got, f"{field} not named in {got}"
        assert reason.lower() in got[field].lower(), f"{field}: {got[field]!r} lacks {reason!r}"
    return err


# --- order capture: one case per kind of bad body -----------------------------------------


def _set(path: str, value: Any) -> Callable[[Body], Body]:
    """A body mutator: ``_set("lines.0.quantity", 0)``; a value of ``...`` deletes the key."""

    def mutate(body: Body) -> Body:
        body = copy.deepcopy(body)
        *parents, last = path.split(".")
        node: Any = body
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is ...:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return body

    return mutate


def _lines(*lines: tuple[str, int]) -> Callable[[Body], Body]:
    return lambda body: {**body, "lines": order_body(list(lines))["lines"]}


def _compose(*fns: Callable[[Body], Body]) -> Callable[[Body], Body]:
    def mutate(body: Body) -> Body:
        for fn in fns:
            body = fn(body)
        return body

    return mutate


ORDER_CASES: list[tuple[str, Callable[[Body], Body], int, str, dict[str, str]]] = [
    ("unknown-sku", _lines(("A", 1), ("NOPE", 1)), 422, "unknown_sku", {"lines[1].sku": "unknown SKU 'NOPE'"}),
    (
        "two-unknown-skus",
        _lines(("X1", 1), ("A", 1), ("X2", 1)),
        422,
        "unknown_sku",
        {"lines[0].sku": "'X1'", "lines[2].sku": "'X2'"},
    ),
    ("inactive-sku", _lines(("D", 1)), 422, "unknown_sku", {"lines[0].sku": "SKU 'D' is inactive"}),
    ("sku-pattern", _lines(("A B", 1)), 422, "validation_error", {"lines[0].sku": "must be 1-64 characters"}),
    (
        "zero-quantity",
        _set("lines.0.quantity", 0),
        422,
        "validation_error",
        {"lines[0].quantity": "greater than or equal to 1"},
    ),
    (
        "negative-quantity",
        _set("lines.0.quantity", -3),
        422,
        "validation_error",
        {"lines[0].quantity": "greater than or equal to 1"},
    ),
    (
        "quantity-over-max",
        _set("lines.0.quantity", 100_001),
        422,
        "validation_error",
        {"lines[0].quantity": "less than or equal to 100000"},
    ),
    (
        "billion-quantity",
        _set("lines.0.quantity", 10**9),
        422,
        "validation_error",
        {"lines[0].quantity": "less than or equal to 100000"},
    ),
    ("absurd-quantity", _set("lines.0.quantity", 10**40), 422, "validation_error", {"lines[0].quantity": ""}),
    ("fractional-quantity", _set("lines.0.quantity", 1.5), 422, "validation_error", {"lines[0].quantity": ""}),
    ("text-quantity", _set("lines.0.quantity", "two"), 422, "validation_error", {"lines[0].quantity": ""}),
    ("unknown-channel", _set("channel", "nope"), 422, "unknown_channel", {"channel": "unknown channel 'nope'"}),
    ("inactive-channel", _set("channel", "old"), 422, "unknown_channel", {"channel": "channel 'old' is inactive"}),
    ("channel-pattern", _set("channel", "web store"), 422, "validation_error", {"channel": "must be 1-32"}),
    ("lowercase-currency", _set("currency", "usd"), 422, "validation_error", {"currency": ""}),
    ("unknown-currency", _set("currency", "XYZ"), 422, "validation_error", {"currency": "not an ISO 4217"}),
    ("short-currency", _set("currency", "US"), 422, "validation_error", {"currency": ""}),
    (
        "cents-of-a-cent",
        _set("lines.0.unit_price", "10.001"),
        422,
        "validation_error",
        {"lines[0].unit_price": "10.001 has more decimals than USD allows (2)"},
    ),
    (
        "yen-with-decimals",
        _compose(_set("currency", "JPY"), _set("lines.0.unit_price", "1200.5")),
        422,
        "validation_error",
        {"lines[0].unit_price": "more decimals than JPY allows (0)"},
    ),
    (
        "five-decimals",
        _set("lines.0.unit_price", "1.00001"),
        422,
        "validation_error",
        {"lines[0].unit_price": "decimal places"},
    ),
    (
        "too-many-digits",
        _set("lines.0.unit_price", "123456789012345"),
        422,
        "validation_error",
        {"lines[0].unit_price": "digits"},
    ),
    (
        "negative-price",
        _set("lines.0.unit_price", "-1.00"),
        422,
        "validation_error",
        {"lines[0].unit_price": "greater than or equal to 0"},
    ),
    ("nan-price", _set("lines.0.unit_price", "NaN"), 422, "validation_error", {"lines[0].unit_price": ""}),
    (
        "shipping-decimals",
        _set("shipping_total", "4.999"),
        422,
        "validation_error",
        {"shipping_total": "more decimals than USD allows"},
    ),
    (
        "discount-over-price",
        _set("lines.0.discount", "10.01"),
        422,
        "validation_error",
        {"lines[0].discount": "larger than the line's price"},
    ),
    (
        "total-beyond-storage",
        _compose(_set("lines.0.unit_price", "9999999999.99"), _set("lines.0.quantity", 100_000)),
        422,
        "validation_error",
        {"lines": "larger than"},
    ),
    ("missing-lines", _set("lines", ...), 422, "validation_error", {"lines": "is required"}),
    ("missing-currency", _set("currency", ...), 422, "validation_error", {"currency": "is required"}),
    ("missing-channel", _set("channel", ...), 422, "validation_error", {"channel": "is required"}),
    ("missing-sku", _set("lines.0.sku", ...), 422, "validation_error", {"lines[0].sku": "is required"}),
    ("missing-price", _set("lines.0.unit_price", ...), 422, "validation_error", {"lines[0].unit_price": "is required"}),
    ("no-lines", _set("lines", []), 422, "validation_error", {"lines": "at least 1"}),
    ("too-many-lines", _lines(*[("A", 1)] * 501), 422, "validation_error", {"lines": "at most 500"}),
    ("unknown-field", _set("colour", "red"), 422, "validation_error", {"colour": "is not a known field"}),
    (
        "unknown-line-field",
        _set("lines.0.colour", "red"),
        422,
        "validation_error",
        {"lines[0].colour": "is not a known field"},
    ),
    ("bad-email", _set("customer", {"email": "not-an-email"}), 422, "validation_error", {"customer.email": ""}),
    (
        "address-without-city",
        _set("shipping_address", {"line1": "1 Main St", "country": "US"}),
        422,
        "validation_error",
        {"shipping_address.city": "is required"},
    ),
    (
        "address-country",
        _set("shipping_address", {"line1": "1 Main St", "city": "Austin", "country": "USA"}),
        422,
        "validation_error",
        {"shipping_address.country": ""},
    ),
    ("service-level", _set("service_level", "overnight"), 422, "validation_error", {"service_level": ""}),
    ("naive-placed-at", _set("placed_at", "2025-01-02T10:00:00"), 422, "validation_error", {"placed_at": "timezone"}),
    (
        "placed-at-before-year-one-in-utc",
        _set("placed_at", "0001-01-01T00:00:00+14:00"),
        422,
        "validation_error",
        {"placed_at": ""},
    ),
    (
        "placed-at-after-9999-in-utc",
        _set("placed_at", "9999-12-31T23:59:59-14:00"),
        422,
        "validation_error",
        {"placed_at": ""},
    ),
    ("nul-in-notes", _set("notes", "gift\x00wrap"), 422, "validation_error", {"notes": "NUL"}),
    (
        "nul-in-customer-name",
        _set("customer", {"email": "a@example.com", "name": "A\x00"}),
        422,
        "validation_error",
        {"customer.name": "NUL"},
    ),
    (
        "external-id-too-long",
        _set("external_order_id", "x" * 129),
        422,
        "validation_error",
        {"external_order_id": "128"},
    ),
    (
        "short-of-stock",
        _lines(("A", 2), ("B", 6)),
        409,
        "insufficient_stock",
        {"lines[1].quantity": "6 of B requested"},
    ),
]


def test_bad_order_is_refused_and_changes_nothing(shop: TestClient, db: Database, subtests: pytest.Subtests) -> None:
    """One subtest per case; they share the database, and each must leave it as it found it."""
    good = order_body([("A", 1), ("B", 1)], external_order_id="BAD-1", customer={"email": "c@example.com"})
    for name, mutate, status, code, fields in ORDER_CASES:
        with subtests.test(name), changes_nothing(shop, db):
            r = shop.post("/api/v1/orders", json=mutate(good), headers={"Idempotency-Key": "bad-1"})
            refused(r, status, code, fields)
    # the order, corrected, still goes through with the same idempotency key and external id
    ok = shop.post("/api/v1/orders", json=good, headers={"Idempotency-Key": "bad-1"})
    assert ok.status_code == 201, ok.text


def test_the_good_order_used_above_is_accepted(shop: TestClient) -> None:
    """Guards the cases above: each differs from an order that is accepted only by its defect."""
    body = order_body(
        [("A", 1), ("B", 1)],
        external_order_id="GOOD-1",
        customer={"email": "c@example.com", "name": "C"},
        shipping_address={"line1": "1 Main St", "city": "Austin", "country": "US"},
        placed_at="2025-01-02T10:00:00+14:00",
        notes="gift wrap",
    )
    r = shop.post("/api/v1/orders", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["placed_at"] == "2025-01-01T20:00:00Z"


def test_a_failed_capture_with_a_key_leaves_the_key_free(shop: TestClient, db: Database) -> None:
    """A 409 must not burn the Idempotency-Key: the retry after a receipt is a new attempt."""
    body = order_body([("A", 9)])
    with changes_nothing(shop, db):
        refused(shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "k-9"}), 409, "insufficient_stock")
    assert shop.post("/api/v1/stock/receipts", json={"sku": "A", "location": "WH1", "quantity": 10}).status_code == 200
    r = shop.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "k-9"})
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers


def test_idempotency_key_longer_than_255_is_refused(shop: TestClient, db: Database) -> None:
    with changes_nothing(shop, db):
        r = shop.post("/api/v1/orders", json=order_body([("A", 1)]), headers={"Idempotency-Key": "k" * 256})
        refused(r, 422, "validation_error", {"Idempotency-Key": "255"})


# --- transport: JSON, size, content type --------------------------------------------------


def test_malformed_json_is_400_and_json_that_is_no_object_is_422(
    shop: TestClient, db: Database, subtests: pytest.Subtests
) -> None:
    json_type = {"Content-Type": "application/json"}
    for raw in (b'{"channel": "web",', b"{'channel': 'web'}", b"\xff\xfe{}", b'{"lines": [1, 2,]}'):
        with subtests.test(raw=raw), changes_nothing(shop, db):
            err = refused(
                shop.post("/api/v1/orders", content=raw, headers=json_type),
                400,
                "malformed_json",
                {"body": "invalid JSON"},
            )
            assert "send a JSON object" in err["message"]
    for raw in (b"null", b"[]", b'"order"', b"42"):
        with subtests.test(raw=raw), changes_nothing(shop, db):
            refused(shop.post("/api/v1/orders", content=raw, headers=json_type), 422, "validation_error", {"body": ""})


def test_body_over_the_default_limit_is_413(shop: TestClient, db: Database) -> None:
    body = order_body([("A", 1)], notes="x" * 1_100_000)  # over 1 MiB
    with changes_nothing(shop, db):
        refused(shop.post("/api/v1/orders", json=body), 413, "body_too_large", {"body": "larger than 1048576 bytes"})


@pytest.fixture
def small_limit_api(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app as configured by OPENOMS_MAX_BODY_BYTES=2000."""
    monkeypatch.setenv("OPENOMS_MAX_BODY_BYTES", "2000")
    settings = Settings(database_url=db.url)
    assert settings.max_body_bytes == 2000
    _, secret = apikeys.create_api_key(db, "small", ["*"])
    with TestClient(create_app(settings, db)) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client


def test_max_body_bytes_setting_is_honoured(small_limit_api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 5})
    too_big = order_body([("A", 1)], notes="n" * 1990)
    with changes_nothing(small_limit_api, db):
        refused(small_limit_api.post("/api/v1/orders", json=too_big), 413, "body_too_large", {"body": "2000 bytes"})

        def chunks() -> Iterator[bytes]:  # no Content-Length: the guard must count as it reads
            yield b'{"channel": "web", "currency": "USD", "notes": "'
            for _ in range(30):
                yield b"n" * 100
            yield b'", "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}]}'

        r = small_limit_api.post("/api/v1/orders", content=chunks(), headers={"Content-Type": "application/json"})
        refused(r, 413, "body_too_large")
    fits = small_limit_api.post("/api/v1/orders", json=order_body([("A", 1)], notes="n" * 1500))
    assert fits.status_code == 201, fits.text


def test_body_that_is_not_json_is_415(shop: TestClient, db: Database, subtests: pytest.Subtests) -> None:
    import json

    raw = json.dumps(order_body([("A", 1)])).encode()
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        with subtests.test(content_type=content_type), changes_nothing(shop, db):
            r = shop.post("/api/v1/orders", content=raw, headers=headers)
            err = refused(r, 415, "unsupported_media_type", {"body": "application/json"})
            assert (content_type or "(none)").split(";")[0] in err["message"]
        with subtests.test(content_type=content_type, method="PUT"), changes_nothing(shop, db):
            r = shop.put("/api/v1/stock", content=b'{"sku": "A", "location": "WH1", "on_hand": 0}', headers=headers)
            refused(r, 415, "unsupported_media_type")
    # the same bytes as JSON, with parameters or a +json type, are accepted
    for ok_type in ("application/json; charset=utf-8", "application/vnd.openoms+json"):
        r = shop.post("/api/v1/orders", content=raw, headers={"Content-Type": ok_type})
        assert r.status_code == 201, (ok_type, r.text)


# --- unknown orders and cursors -----------------------------------------------------------


def test_unknown_order_is_404_and_commands_on_it_change_nothing(shop: TestClient, db: Database) -> None:
    with changes_nothing(shop, db):
        err = refused(shop.get("/api/v1/orders/999999"), 404, "not_found")
        assert err["message"] == "Order SO-0999999 does not exist"
        refused(shop.get("/api/v1/orders/SO-0999999"), 404, "not_found")
        refused(shop.post("/api/v1/orders/999999/cancel", json={"reason": "x"}), 404, "not_found")
        refused(
            shop.post("/api/v1/orders/999999/lines/cancel", json={"reason": "x", "lines": [{"line_number": 1}]}),
            404,
            "not_found",
        )
        refused(shop.post("/api/v1/orders/999999/holds", json={"type": "fraud", "reason": "x"}), 404, "not_found")
        refused(shop.post("/api/v1/orders/999999/notes", json={"text": "hello"}), 404, "not_found")
        for ref in ("abc", "SO-12x", "-1", "99999999999999999999"):
            refused(shop.get(f"/api/v1/orders/{ref}"), 422, "validation_error", {"order": "order number"})


def test_bad_commands_on_a_real_order_change_nothing(shop: TestClient, db: Database) -> None:
    oid = shop.post("/api/v1/orders", json=order_body([("A", 2), ("B", 1)])).json()["id"]
    base = f"/api/v1/orders/{oid}"
    with changes_nothing(shop, db):
        refused(
            shop.post(f"{base}/lines/cancel", json={"reason": "x", "lines": [{"line_number": 3}]}),
            422,
            "validation_error",
            {"lines[0].line_number": "has no line 3"},
        )
        refused(
            shop.post(
                f"{base}/lines/cancel",
                json={"reason": "x", "lines": [{"line_number": 1, "quantity": 1}, {"line_number": 1, "quantity": 1}]},
            ),
            422,
            "validation_error",
            {"lines[1].line_number": "listed twice"},
        )
        # a valid first item must not be applied when a later one is refused
        refused(
            shop.post(
                f"{base}/lines/cancel",
                json={"reason": "x", "lines": [{"line_number": 2}, {"line_number": 1, "quantity": 3}]},
            ),
            422,
            "validation_error",
            {"lines[1].quantity": "2 open unit(s); cannot cancel 3"},
        )
        refused(
            shop.post(f"{base}/lines/cancel", json={"reason": "x", "lines": [{"line_number": 1, "quantity": 0}]}),
            422,
            "validation_error",
            {"lines[0].quantity": "greater than or equal to 1"},
        )
        refused(shop.post(f"{base}/cancel", json={}), 422, "validation_error", {"reason": "is required"})
        refused(shop.post(f"{base}/cancel", json={"reason": "   "}), 422, "validation_error", {"reason": ""})
        refused(
            shop.post(f"{base}/holds", json={"type": "vibes", "reason": "x"}), 422, "validation_error", {"type": ""}
        )
        refused(shop.post(f"{base}/holds/vibes/release", json={"reason": "x"}), 422, "validation_error")
        refused(shop.post(f"{base}/holds/fraud/release", json={"reason": "x"}), 409, "hold_conflict")
        refused(shop.post(f"{base}/notes", json={"text": ""}), 422, "validation_error", {"text": ""})


BAD_CURSORS = {
    "not-base64": "garbage!",
    "no-id": "aWQ6",  # "id:"
    "wrong-kind": "eHg6NQ",  # "xx:5"
    "id-over-bigint": encode_cursor(2**63),
    "id-absurd": encode_cursor(10**30),
    "negative-id": "aWQ6LTU",  # "id:-5"
    "underscored": "aWQ6MV8w",  # "id:1_0"
    "non-ascii": "aWQ6\u0661",
}


def test_bad_cursor_is_422(shop: TestClient, db: Database, subtests: pytest.Subtests) -> None:
    for path in ("/api/v1/orders", "/api/v1/products", "/api/v1/locations", "/api/v1/channels", "/api/v1/customers"):
        for name, cursor in BAD_CURSORS.items():
            with subtests.test(path=path, cursor=name), changes_nothing(shop, db):
                err = refused(shop.get(path, params={"cursor": cursor}), 422, "validation_error")
                assert err["errors"] == [{"field": "cursor", "reason": "is not a cursor this API returned"}]
        assert shop.get(path, params={"cursor": encode_cursor(1)}).status_code == 200


def test_out_of_range_query_values_are_422(shop: TestClient, db: Database) -> None:
    with changes_nothing(shop, db):
        for before_id in (0, 2**63, 10**30):
            r = shop.get("/api/v1/stock/ledger", params={"sku": "A", "before_id": before_id})
            refused(r, 422, "validation_error", {"before_id": ""})
        for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2025-01-01T00:00:00"):
            refused(
                shop.get("/api/v1/orders", params={"created_from": value}),
                422,
                "validation_error",
                {"created_from": ""},
            )
            refused(
                shop.get("/api/v1/orders", params={"created_to": value}), 422, "validation_error", {"created_to": ""}
            )
        refused(shop.get("/api/v1/orders", params={"limit": 501}), 422, "validation_error", {"limit": ""})
        refused(
            shop.get("/api/v1/orders", params={"status": "lost"}),
            422,
            "validation_error",
            {"status[0]": "input should be"},
        )
    assert shop.get("/api/v1/stock/ledger", params={"sku": "A", "before_id": 2**63 - 1}).status_code == 200


def test_nul_characters_in_query_or_path_are_422(shop: TestClient, db: Database, subtests: pytest.Subtests) -> None:
    """PostgreSQL text cannot hold NUL: it must be refused at the edge, not fail in the database."""
    for path, params, where in (
        ("/api/v1/orders", {"q": "a\x00b"}, "query"),
        ("/api/v1/orders", {"customer_email": "\x00"}, "query"),
        ("/api/v1/availability", {"after_sku": "\x00"}, "query"),
        ("/api/v1/stock/ledger", {"sku": "A\x00"}, "query"),
        ("/api/v1/products/A%00", {}, "path"),
        ("/api/v1/availability/%00", {}, "path"),
        ("/api/v1/orders/1%00/cancel", {}, "path"),
    ):
        with subtests.test(path=path, params=params), changes_nothing(shop, db):
            err = refused(
                shop.request("POST" if "cancel" in path else "GET", path, params=params),
                422,
                "validation_error",
                {where: "NUL"},
            )
            assert err["errors"][0]["field"] == where


# --- authentication and scopes ------------------------------------------------------------


def test_no_or_bad_api_key_is_401(shop: TestClient, db: Database) -> None:
    anonymous = TestClient(shop.app)
    _, revoked = apikeys.create_api_key(db, "old-key", ["*"])
    apikeys.revoke_api_key(db, revoked.split("_")[1])
    body = order_body([("A", 1)])
    with changes_nothing(shop, db):
        for headers in (
            {},
            {"Authorization": "Bearer "},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": "Bearer not-a-key"},
            {"Authorization": "Bearer oms_00000000_unknownsecret"},
            {"X-API-Key": "oms_00000000_unknownsecret"},
            {"Authorization": f"Bearer {revoked}"},
            {"Authorization": f"Bearer {revoked}x"},
        ):
            for method, path in (("POST", "/api/v1/orders"), ("GET", "/api/v1/orders"), ("GET", "/api/v1/products")):
                r = anonymous.request(method, path, json=body if method == "POST" else None, headers=headers)
                refused(r, 401, "unauthorized")
                assert r.headers["www-authenticate"] == "Bearer", (headers, path)
    assert anonymous.get("/healthz").status_code == 200


SCOPE_CASES: list[tuple[list[str], str, str, Body | None, str]] = [
    (["orders:read"], "POST", "/api/v1/orders", order_body([("A", 1)]), "orders:write"),
    (["inventory:write"], "POST", "/api/v1/orders", order_body([("A", 1)]), "orders:write"),
    (["orders:read"], "POST", "/api/v1/orders/1/cancel", {"reason": "x"}, "orders:write"),
    (["catalog:write"], "GET", "/api/v1/orders", None, "orders:read"),
    (
        ["inventory:read"],
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "A", "location": "WH1", "delta": -1, "reason": "x"},
        "inventory:write",
    ),
    (["orders:write"], "PUT", "/api/v1/stock", {"sku": "A", "location": "WH1", "on_hand": 0}, "inventory:write"),
    (["orders:write"], "GET", "/api/v1/availability/A", None, "inventory:read"),
    (["catalog:read"], "POST", "/api/v1/products", {"sku": "NEW", "name": "New"}, "catalog:write"),
    (["catalog:read"], "PATCH", "/api/v1/channels/web", {"active": False}, "catalog:write"),
    (["orders:write"], "POST", "/api/v1/customers", {"email": "x@example.com"}, "customers:write"),
    (["orders:write"], "GET", "/api/v1/customers", None, "customers:read"),
]


def test_key_without_the_scope_is_403(shop: TestClient, db: Database, subtests: pytest.Subtests) -> None:
    shop.post("/api/v1/orders", json=order_body([("A", 1)]))  # order 1 exists
    for scopes, method, path, body, needed in SCOPE_CASES:
        _, secret = apikeys.create_api_key(db, f"narrow-{needed}", scopes)
        with subtests.test(scopes=scopes, method=method, path=path), changes_nothing(shop, db):
            r = shop.request(method, path, json=body, headers={"Authorization": f"Bearer {secret}"})
            err = refused(r, 403, "forbidden")
            assert err["message"] == f"API key 'narrow-{needed}' lacks the {needed} scope"


def test_write_scope_implies_read_and_x_api_key_works(shop: TestClient, db: Database) -> None:
    _, secret = apikeys.create_api_key(db, "writer", ["orders:write"])
    assert shop.get("/api/v1/orders", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    anonymous = TestClient(shop.app)
    r = anonymous.post("/api/v1/orders", json=order_body([("A", 1)]), headers={"X-API-Key": secret})
    assert r.status_code == 201, r.text
    assert r.json()["captured_by"] == "api-key:writer"


# --- stock commands -----------------------------------------------------------------------

STOCK_CASES: list[tuple[str, str, str, Body, int, str, dict[str, str]]] = [
    (
        "unknown-sku",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "NOPE", "location": "WH1", "delta": 1, "reason": "x"},
        422,
        "unknown_sku",
        {"sku": "unknown SKU 'NOPE'"},
    ),
    (
        "unknown-location",
        "POST",
        "/api/v1/stock/receipts",
        {"sku": "A", "location": "NOPE", "quantity": 1},
        422,
        "unknown_location",
        {"location": "unknown location 'NOPE'"},
    ),
    (
        "zero-delta",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "A", "location": "WH1", "delta": 0, "reason": "x"},
        422,
        "validation_error",
        {"delta": "must not be 0"},
    ),
    (
        "no-reason",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "A", "location": "WH1", "delta": 1},
        422,
        "validation_error",
        {"reason": "is required"},
    ),
    (
        "blank-reason",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "A", "location": "WH1", "delta": 1, "reason": " "},
        422,
        "validation_error",
        {"reason": ""},
    ),
    (
        "huge-delta",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "A", "location": "WH1", "delta": 100_000_001, "reason": "x"},
        422,
        "validation_error",
        {"delta": ""},
    ),
    (
        "zero-receipt",
        "POST",
        "/api/v1/stock/receipts",
        {"sku": "A", "location": "WH1", "quantity": 0},
        422,
        "validation_error",
        {"quantity": "greater than or equal to 1"},
    ),
    (
        "negative-count",
        "PUT",
        "/api/v1/stock",
        {"sku": "A", "location": "WH1", "on_hand": -1},
        422,
        "validation_error",
        {"on_hand": "greater than or equal to 0"},
    ),
    (
        "below-zero",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "C", "location": "WH1", "delta": -1, "reason": "x"},
        409,
        "stock_conflict",
        {"delta": ""},
    ),
    (
        "nul-in-reason",
        "POST",
        "/api/v1/stock/adjustments",
        {"sku": "A", "location": "WH1", "delta": 1, "reason": "x\x00"},
        422,
        "validation_error",
        {"reason": "NUL"},
    ),
]


def test_bad_stock_command_changes_nothing(shop: TestClient, db: Database, subtests: pytest.Subtests) -> None:
    for name, method, path, body, status, code, fields in STOCK_CASES:
        with subtests.test(name), changes_nothing(shop, db):
            refused(shop.request(method, path, json=body, headers={"Idempotency-Key": "s-1"}), status, code, fields)


def test_on_hand_beyond_what_a_stock_row_holds_is_refused(shop: TestClient, db: Database) -> None:
    """Each receipt is within bounds, but on hand must not pass what the column holds
    (a 500 from the database on PostgreSQL otherwise)."""
    assert shop.put("/api/v1/stock", json={"sku": "C", "location": "WH1", "on_hand": 100_000_000}).status_code == 200
    codes = [
        shop.post("/api/v1/stock/receipts", json={"sku": "C", "location": "WH1", "quantity": 100_000_000}).status_code
        for _ in range(20)
    ]
    assert codes == [200] * 20  # 2.1 billion on hand
    with changes_nothing(shop, db):
        r = shop.post("/api/v1/stock/receipts", json={"sku": "C", "location": "WH1", "quantity": 100_000_000})
        refused(r, 409, "stock_conflict", {"delta": ""})
        r = shop.post(
            "/api/v1/stock/adjustments", json={"sku": "C", "location": "WH1", "delta": 100_000_000, "reason": "found"}
        )
        refused(r, 409, "stock_conflict")


def test_placed_at_is_converted_to_utc(shop: TestClient) -> None:
    offset = dt.timezone(dt.timedelta(hours=-5))
    placed = dt.datetime(2025, 3, 1, 22, 30, tzinfo=offset).isoformat()
    r = shop.post("/api/v1/orders", json=order_body([("A", 1)], placed_at=placed))
    assert r.status_code == 201, r.text
    assert r.json()["placed_at"] == "2025-03-02T03:30:00Z"
    # the capture response is built without a re-read; it must still say what a read says
    assert shop.get(f"/api/v1/orders/{r.json()['id']}").json() == r.json()
