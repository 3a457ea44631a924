"""Shopify order webhooks over HTTP: signed deliveries become orders once, in any order."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.channels import shopify
from openoms.adapters.db.engine import Database
from openoms.config import Settings
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, channel_connections, channel_inbox, channel_webhooks, inventory, orders
from openoms.services.common import Actor
from tests.conftest import books, seed_basics

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")
ORDER = json.loads((SAMPLES / "shopify_orders_create.json").read_text())
SECRET = "shpss_test_secret_1"
SKUS = ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK", "IPOD2009BLACK")
URL = "/api/v1/channels/shopify/webhooks/shopify"


def setup(db: Database, settings: Settings, *, stock: int = 50) -> None:
    seed_basics(db)
    with db.begin() as conn:
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=s, name=s, list_price=199, currency="USD") for s in SKUS])
    if stock:
        inventory.change_stock(
            db, [inventory.StockChange(s, "WH1", LedgerEntryType.RECEIPT, stock, "seed") for s in SKUS], Actor("t")
        )
    channel_connections.set_connection(
        db, settings, "shopify", platform="shopify", base_url="https://example.myshopify.com",
        webhook_secrets=[SECRET], actor=Actor("t"),
    )  # fmt: skip


def post(client: TestClient, order: dict[str, Any], topic: str, webhook_id: str, secret: str = SECRET) -> Any:
    body = json.dumps(order).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": shopify.sign(body, secret),
    }
    return client.post(URL, content=body, headers=headers)


def settings_of(client: TestClient) -> Settings:
    return client.app.state.settings  # type: ignore[attr-defined,no-any-return]


def test_a_signed_order_becomes_one_order(app_client: TestClient, db: Database) -> None:
    setup(db, settings_of(app_client))
    r = post(app_client, ORDER, "orders/create", "wh-1")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "processed" and r.json()["duplicate"] is False
    order = orders.get_order(db, r.json()["order_id"])
    assert order["external_order_id"] == "450789469" and str(order["grand_total"]) == "598.94"
    again = post(app_client, ORDER, "orders/create", "wh-1")
    assert again.json()["duplicate"] is True and again.json()["inbox_id"] == r.json()["inbox_id"]
    other_delivery = post(app_client, ORDER, "orders/updated", "wh-2")  # same order, another topic
    assert other_delivery.json()["order_id"] == r.json()["order_id"]
    assert books(db)["orders"] == 1
    conn = channel_connections.get_connection(db, settings_of(app_client), "shopify")
    assert conn["last_received_at"] is not None and conn["webhook_secrets"][0]["fingerprint"]
    assert SECRET not in json.dumps(conn, default=str)


def test_a_bad_signature_changes_nothing(app_client: TestClient, db: Database) -> None:
    setup(db, settings_of(app_client))
    before = books(db)
    r = post(app_client, ORDER, "orders/create", "wh-1", secret="not-the-secret")
    assert r.status_code == 401 and "does not match" in r.json()["error"]["message"]
    unsigned = app_client.post(URL, content=json.dumps(ORDER), headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert books(db) == before and channel_inbox.list_messages(db)["items"] == []
    assert "webhook refused" in channel_connections.get_connection(db, settings_of(app_client), "shopify")["last_error"]
    r = app_client.post(
        "/api/v1/channels/web/webhooks/shopify", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 404  # no Shopify connection on that channel


def test_cancellations_in_any_order(app_client: TestClient, db: Database) -> None:
    setup(db, settings_of(app_client))
    created = post(app_client, ORDER, "orders/create", "a-1").json()
    cancelled = {**copy.deepcopy(ORDER), "cancelled_at": "2008-01-10T12:00:00-05:00", "cancel_reason": "customer"}
    r = post(app_client, cancelled, "orders/cancelled", "a-2").json()
    assert r["status"] == "processed" and orders.get_order(db, created["order_id"])["status"] == "cancelled"

    # Another order whose cancellation overtakes its creation: no order is ever made.
    early = {**copy.deepcopy(cancelled), "id": 999000111}
    first = post(app_client, early, "orders/cancelled", "b-2").json()
    assert first["status"] == "ignored"
    late = post(app_client, {**copy.deepcopy(ORDER), "id": 999000111}, "orders/create", "b-1").json()
    assert late["status"] == "ignored" and late.get("order_id") is None
    assert books(db)["orders"] == 1


def test_unmappable_and_unreadable_deliveries_are_dead_letters(app_client: TestClient, db: Database) -> None:
    settings = settings_of(app_client)
    setup(db, settings, stock=0)
    r = post(app_client, ORDER, "orders/create", "c-1").json()
    assert r["status"] == "dead"
    assert channel_inbox.get_message(db, r["inbox_id"])["reason"].startswith("insufficient_stock")
    inventory.change_stock(
        db, [inventory.StockChange(s, "WH2", LedgerEntryType.RECEIPT, 5, "po") for s in SKUS], Actor("t")
    )
    assert channel_inbox.retry(db, r["inbox_id"], Actor("t"))["status"] == "processed"
    body = b"not json at all"
    junk = app_client.post(
        URL, content=body,
        headers={"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                 "X-Shopify-Hmac-Sha256": shopify.sign(body, SECRET)},
    )  # fmt: skip
    assert junk.status_code == 200 and junk.json()["status"] == "dead"


def test_connection_api_never_returns_secrets(api: TestClient, db: Database) -> None:
    seed_basics(db)
    r = api.put(
        "/api/v1/channels/shopify/connection",
        json={"platform": "shopify", "base_url": "https://x.myshopify.com", "webhook_secrets": [SECRET],
              "credentials": {"access_token": "shpat_abc123"}},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    got = api.get("/api/v1/channels/shopify/connection").json()
    assert got["credentials"] == ["access_token"] and len(got["webhook_secrets"]) == 1
    assert "shpat_abc123" not in r.text + json.dumps(got) and SECRET not in r.text
    bad = api.put("/api/v1/channels/shopify/connection", json={"platform": "shopify", "base_url": "ftp://x",
                                                                "webhook_secrets": ["short"]})  # fmt: skip
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["error"]["errors"]} == {"base_url", "webhook_secrets"}
    with db.read() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("SELECT credentials_encrypted FROM channel_connections")).scalar_one()
    assert "shpat_abc123" not in stored


@pytest.mark.postgres
def test_one_delivery_sent_six_times_at_once_makes_one_order(pg_url: str, tmp_path: Path) -> None:
    db = Database(pg_url, pool_size=8)
    settings = Settings(database_url=pg_url, var_dir=tmp_path)
    try:
        setup(db, settings)
        body = json.dumps(ORDER).encode()
        headers = {"x-shopify-topic": "orders/create", "x-shopify-hmac-sha256": shopify.sign(body, SECRET)}
        barrier = threading.Barrier(6)
        results: list[dict[str, Any]] = []
        errors: list[BaseException] = []

        def deliver(i: int) -> None:
            try:
                barrier.wait()
                # Half carry Shopify's delivery id, half do not (a proxy stripped it): still one order.
                h = {**headers, "x-shopify-webhook-id": "d-1"} if i % 2 else headers
                results.append(channel_webhooks.receive_shopify(db, settings, "shopify", h, body))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert books(db)["orders"] == 1
        assert len({r["order_id"] for r in results if r.get("order_id")}) == 1
    finally:
        db.dispose()


WOO = json.loads((SAMPLES / "woocommerce_order.json").read_text())
WOO_URL = "/api/v1/channels/woo/webhooks/woocommerce"


def test_woocommerce_webhooks_end_to_end(app_client: TestClient, db: Database) -> None:
    settings = settings_of(app_client)
    seed_basics(db)
    product_sku = str(WOO["line_items"][0]["product_id"])
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="woo", name="Woo shop", kind="web")])
        catalog.PRODUCTS.upsert_many(
            conn, [dict(sku=s, name=s, list_price=3, currency="USD") for s in (product_sku, "Bar3")]
        )
    inventory.change_stock(
        db, [inventory.StockChange(s, "WH1", LedgerEntryType.RECEIPT, 20, "seed") for s in (product_sku, "Bar3")],
        Actor("t"),
    )  # fmt: skip
    channel_connections.set_connection(db, settings, "woo", platform="woocommerce", webhook_secrets=["wc-secret-1"],
                                       actor=Actor("t"))  # fmt: skip
    ping = app_client.post(WOO_URL, content=b"webhook_id=12", headers={"Content-Type": "application/json"})
    assert ping.status_code == 200 and ping.json()["status"] == "ignored"

    def send(order: dict[str, Any], topic: str, delivery: str) -> Any:
        body = json.dumps(order).encode()
        return app_client.post(WOO_URL, content=body, headers={
            "Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": delivery,
            "X-WC-Webhook-Signature": shopify.sign(body, "wc-secret-1")})  # fmt: skip

    first = send(WOO, "order.created", "d1").json()
    assert first["status"] == "dead"  # the example's first line has no SKU
    channel_connections.set_connection(db, settings, "woo", platform="woocommerce",
                                       options={"missing_sku": "product_id"}, actor=Actor("t"))  # fmt: skip
    assert channel_inbox.retry(db, first["inbox_id"], Actor("t"))["status"] == "processed"
    order_id = channel_inbox.get_message(db, first["inbox_id"])["order_id"]
    assert str(orders.get_order(db, order_id)["grand_total"]) == "29.35"
    assert send(WOO, "order.created", "d1").json()["duplicate"] is True
    assert send({**WOO, "status": "cancelled"}, "order.updated", "d2").json()["status"] == "processed"
    assert orders.get_order(db, order_id)["status"] == "cancelled"
    assert send(WOO, "order.created", "d3").status_code == 200
    bad = app_client.post(WOO_URL, content=b"{}", headers={"Content-Type": "application/json",
                          "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": "AAAA"})  # fmt: skip
    assert bad.status_code == 401
