"""Amazon SP-API against a local fake built from Amazon's published examples: polling is
idempotent and resumable, shipments are confirmed back."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openoms.adapters.channels import amazon
from openoms.adapters.channels.base import ChangeKind, MappingError
from openoms.adapters.db.engine import Database
from openoms.config import Settings
from openoms.domain.fulfillment import FulfilmentStatus, PackageInput
from openoms.domain.inventory import LedgerEntryType
from openoms.services import (
    catalog,
    channel_connections,
    channel_inbox,
    channel_polling,
    fulfillment,
    inventory,
    orders,
)
from openoms.services.common import Actor
from tests.conftest import books, seed_basics
from tests.fakes import amazon_server

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")
SANDBOX_ORDERS = json.loads((SAMPLES / "amazon_getorders_sandbox.json").read_text())["payload"]["Orders"]
SANDBOX_ITEMS = json.loads((SAMPLES / "amazon_getorderitems_sandbox.json").read_text())["payload"]["OrderItems"]
DOC_ORDER = json.loads((SAMPLES / "amazon_getorders.json").read_text())["payload"]["Orders"][0]
DOC_ITEMS = json.loads((SAMPLES / "amazon_getorderitems.json").read_text())["payload"]["OrderItems"]
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
T = Actor("tests")


def stamp(order: dict[str, Any], minutes_ago: int, **changes: Any) -> dict[str, Any]:
    out = {**copy.deepcopy(order), **changes}
    out["LastUpdateDate"] = (NOW - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


@pytest.fixture
def fake() -> Iterator[amazon_server.FakeAmazon]:
    with amazon_server.running() as server:
        yield server


def setup(db: Database, settings: Settings, fake: amazon_server.FakeAmazon) -> None:
    seed_basics(db)
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="amz", name="Amazon US", kind="amazon")])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku="NABetaASINB00551Q3CS", name="Card book", list_price=10)])
    inventory.change_stock(
        db, [inventory.StockChange("NABetaASINB00551Q3CS", "WH1", LedgerEntryType.RECEIPT, 10, "seed")], T
    )
    channel_connections.set_connection(
        db, settings, "amz", platform="amazon", base_url=fake.base_url,
        credentials={"client_id": "amzn1.application-oa2-client.x", "client_secret": "s3cr3t",
                     "refresh_token": "Atzr|refresh"},
        options={"marketplace_ids": ["ATVPDKIKX0DER"], "token_url": f"{fake.base_url}/auth/o2/token"},
        actor=T,
    )  # fmt: skip
    first, second = SANDBOX_ORDERS
    fake.orders = [stamp(first, 60), stamp(second, 30)]
    fake.items = {
        first["AmazonOrderId"]: copy.deepcopy(SANDBOX_ITEMS),
        second["AmazonOrderId"]: [{**copy.deepcopy(SANDBOX_ITEMS[0]), "OrderItemId": "05015851154199"}],
    }


def test_the_sandbox_pair_maps_and_reconciles() -> None:
    (change,) = amazon.map_order(SANDBOX_ORDERS[0], SANDBOX_ITEMS, channel="amz")
    body = change.order
    assert change.kind == ChangeKind.CREATE and body is not None
    (line,) = body["lines"]
    assert (line["sku"], line["unit_price"], line["tax"], line["external_line_id"]) == (
        "NABetaASINB00551Q3CS", 10, amazon.Decimal("1.01"), "05015851154158",
    )  # fmt: skip
    total = line["unit_price"] * line["quantity"] - line["discount"] + line["tax"] + body["shipping_total"]
    assert str(total) == SANDBOX_ORDERS[0]["OrderTotal"]["Amount"] == "11.01"


def test_published_examples_statuses() -> None:
    (pending,) = amazon.map_order(DOC_ORDER, [], channel="amz")
    assert pending.kind == ChangeKind.IGNORE and "Pending" in (pending.reason or "")
    (created,) = amazon.map_order({**DOC_ORDER, "OrderStatus": "Unshipped"}, DOC_ITEMS, channel="amz")
    assert created.order is not None and created.order["currency"] == "JPY"
    assert [ln["unit_price"] for ln in created.order["lines"]] == [amazon.Decimal("25.99"), amazon.Decimal("8.975")]
    assert created.order["customer"]["email"] == "user@example.com" and "PO 1234567890123" in created.order["notes"]
    (cancel,) = amazon.map_order({**DOC_ORDER, "OrderStatus": "Canceled"}, [], channel="amz")
    assert cancel.kind == ChangeKind.CANCEL
    (afn,) = amazon.map_order({**DOC_ORDER, "FulfillmentChannel": "AFN"}, [], channel="amz")
    assert afn.kind == ChangeKind.IGNORE
    with pytest.raises(MappingError, match="SellerSKU"):
        amazon.map_order({**DOC_ORDER, "OrderStatus": "Unshipped"}, [{**DOC_ITEMS[0], "SellerSKU": ""}], channel="a")


def test_polls_are_idempotent_and_resume_after_throttling(
    db: Database, fake: amazon_server.FakeAmazon, tmp_path: Path
) -> None:
    settings = Settings(database_url=db.url, var_dir=tmp_path)
    setup(db, settings, fake)
    first = channel_polling.poll_amazon(db, settings, "amz", now=NOW)
    assert (first["orders_seen"], first["stored"], first["error"]) == (2, 2, None)
    assert books(db)["orders"] == 2
    assert fake.requests[0] == "POST /auth/o2/token"
    # The next poll's window overlaps the newest order by ten minutes: it comes again, stored once.
    again = channel_polling.poll_amazon(db, settings, "amz", now=NOW)
    assert (again["orders_seen"], again["stored"]) == (1, 0) and books(db)["orders"] == 2

    # Two newer versions; Amazon throttles after the first page: the cursor stays, the retry gets both.
    cancelled = stamp(SANDBOX_ORDERS[0], 10, OrderStatus="Canceled")
    fake.orders += [cancelled, stamp(DOC_ORDER, 5)]  # the second is Pending: not captured yet
    fake.throttle_after, fake.order_page_calls = 1, 0
    cut = channel_polling.poll_amazon(db, settings, "amz", now=NOW)
    assert cut["error"] and "429" in cut["error"]
    assert "poll: HTTP 429" in channel_connections.get_connection(db, settings, "amz")["last_error"]
    fake.throttle_after = None
    done = channel_polling.poll_amazon(db, settings, "amz", now=NOW)
    assert done["error"] is None
    by_external = {
        m["external_order_id"]: m["order_id"]
        for m in channel_inbox.list_messages(db, status="processed")["items"]
        if m["order_id"]
    }
    assert orders.get_order(db, by_external[SANDBOX_ORDERS[0]["AmazonOrderId"]])["status"] == "cancelled"
    assert orders.get_order(db, by_external[SANDBOX_ORDERS[1]["AmazonOrderId"]])["status"] != "cancelled"
    assert books(db)["orders"] == 2
    pending = [
        m for m in channel_inbox.list_messages(db, status="ignored")["items"] if "Pending" in (m["reason"] or "")
    ]
    assert len(pending) == 1
    assert channel_connections.get_connection(db, settings, "amz")["last_synced_at"] is not None


def test_shipments_are_confirmed_back_once(db: Database, fake: amazon_server.FakeAmazon, tmp_path: Path) -> None:
    from openoms.worker import Worker

    settings = Settings(database_url=db.url, var_dir=tmp_path, edi_dir=tmp_path / "edi")
    setup(db, settings, fake)
    channel_polling.poll_amazon(db, settings, "amz", now=NOW)
    order_id = next(m["order_id"] for m in channel_inbox.list_messages(db, status="processed")["items"])
    (fo,) = fulfillment.release_order(db, order_id, T)
    for step in (FulfilmentStatus.ACCEPTED, FulfilmentStatus.PICKED, FulfilmentStatus.PACKED):
        fulfillment.report_progress(db, fo["id"], step, T)
    shipment = fulfillment.ship(db, fo["id"], carrier="FedEx", service_code="FedEx Ground", actor=T,
                                packages=[PackageInput("112345678", 500, [(1, 1)])])  # fmt: skip
    Worker(db, settings).drain()
    ((amazon_id, body),) = fake.confirmations
    assert amazon_id == orders.get_order(db, order_id)["external_order_id"]
    detail = body["packageDetail"]
    assert body["marketplaceId"] == "ATVPDKIKX0DER"
    assert (detail["carrierCode"], detail["trackingNumber"], detail["shippingMethod"]) == (
        "FedEx",
        "112345678",
        "FedEx Ground",
    )
    assert detail["orderItems"][0]["quantity"] == 1 and detail["orderItems"][0]["orderItemId"].startswith("0501585115")
    assert channel_polling.confirm_amazon_shipment(db, settings, shipment["id"]) == 0  # once
    timeline = orders.get_order(db, order_id)["timeline"]
    assert any(e["event_type"] == "channel.shipment_confirmed" for e in timeline)


def test_a_refused_confirmation_is_on_the_timeline(
    db: Database, fake: amazon_server.FakeAmazon, tmp_path: Path
) -> None:
    settings = Settings(database_url=db.url, var_dir=tmp_path)
    setup(db, settings, fake)
    channel_polling.poll_amazon(db, settings, "amz", now=NOW)
    order_id = next(m["order_id"] for m in channel_inbox.list_messages(db, status="processed")["items"])
    (fo,) = fulfillment.release_order(db, order_id, T)
    for step in (FulfilmentStatus.ACCEPTED, FulfilmentStatus.PICKED, FulfilmentStatus.PACKED):
        fulfillment.report_progress(db, fo["id"], step, T)
    shipment = fulfillment.ship(db, fo["id"], carrier="Acme Freight", service_code=None, actor=T,
                                packages=[PackageInput("AF-1", 500, [(1, 1)])])  # fmt: skip
    fake.refuse_confirmations = True
    assert channel_polling.confirm_amazon_shipment(db, settings, shipment["id"]) == 0
    last = orders.get_order(db, order_id)["timeline"][-1]
    assert last["event_type"] == "channel.shipment_refused" and "Invalid order item id" in last["message"]


def test_missing_credentials_are_named(db: Database, tmp_path: Path) -> None:
    settings = Settings(database_url=db.url, var_dir=tmp_path)
    seed_basics(db)
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="amz", name="Amazon", kind="amazon")])
    channel_connections.set_connection(db, settings, "amz", platform="amazon", actor=T)
    with pytest.raises(Exception, match=r"lacks client_id, client_secret, refresh_token, settings\.marketplace_ids"):
        channel_polling.poll_amazon(db, settings, "amz", now=NOW)
