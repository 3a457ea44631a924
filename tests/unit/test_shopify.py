"""Shopify's own published order payloads mapped to the canonical order, and webhook HMACs."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.adapters.channels import shopify
from openoms.adapters.channels.base import ChangeKind, MappingError, SignatureError

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")


def load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def grand_total(body: dict[str, Any]) -> Decimal:
    lines = body["lines"]
    return (
        sum((ln["unit_price"] * ln["quantity"] - ln["discount"] + ln["tax"] for ln in lines), Decimal(0))
        + body["shipping_total"]
        + body.get("shipping_tax", Decimal(0))
    )


@pytest.mark.parametrize("name", ["shopify_orders_create.json", "shopify_order_paid_new.json"])
def test_published_orders_map_and_their_totals_reconcile(name: str) -> None:
    order = load(name)
    (change,) = shopify.map_webhook("orders/create", order, channel="shopify")
    assert change.kind == ChangeKind.CREATE and change.external_order_id == str(order["id"])
    body = change.order
    assert body is not None
    assert grand_total(body) == Decimal(order["total_price"])
    assert body["currency"] == order["currency"]
    assert [ln["external_line_id"] for ln in body["lines"]] == [str(li["id"]) for li in order["line_items"]]


def test_the_bob_norman_order_in_detail() -> None:
    body = shopify.order_body(load("shopify_orders_create.json"), channel="shopify")
    assert [ln["sku"] for ln in body["lines"]] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    first = body["lines"][0]
    assert (first["quantity"], first["unit_price"], first["discount"], first["tax"]) == (
        1, Decimal("199.00"), Decimal("3.34"), Decimal("3.98"),
    )  # fmt: skip
    assert (body["customer"]["email"], body["customer"]["name"]) == ("bob.norman@mail.example.com", "Bob Norman")
    ship = body["shipping_address"]
    assert (ship["line1"], ship["city"], ship["region"], ship["postal_code"], ship["country"]) == (
        "Chestnut Street 92", "Louisville", "KY", "40202", "US",
    )  # fmt: skip
    assert body["placed_at"].isoformat() == "2008-01-10T16:00:00+00:00"
    assert body["service_level"] == "standard" and body["notes"].startswith("Shopify #1001")


def test_cancelled_and_other_topics() -> None:
    order = load("shopify_orders_create.json")
    order["cancelled_at"] = "2008-01-11T10:00:00-05:00"
    order["cancel_reason"] = "customer"
    (change,) = shopify.map_webhook("orders/updated", order, channel="shopify")
    assert change.kind == ChangeKind.CANCEL and "customer" in (change.reason or "")
    (ignored,) = shopify.map_webhook("products/update", order, channel="shopify")
    assert ignored.kind == ChangeKind.IGNORE


def test_unmappable_orders_name_the_field() -> None:
    order = load("shopify_order_paid_new.json")
    no_sku = copy.deepcopy(order)
    no_sku["line_items"][0]["sku"] = ""
    with pytest.raises(MappingError) as err:
        shopify.order_body(no_sku, channel="shopify")
    assert err.value.field == "line_items[0].sku"
    only_gift = copy.deepcopy(order)
    only_gift["line_items"][0]["gift_card"] = True
    with pytest.raises(MappingError, match="no line to ship"):
        shopify.order_body(only_gift, channel="shopify")
    bad_price = copy.deepcopy(order)
    bad_price["line_items"][0]["price"] = "free"
    with pytest.raises(MappingError) as err:
        shopify.order_body(bad_price, channel="shopify")
    assert err.value.field == "line_items[0].price"
    with pytest.raises(MappingError, match="order id"):
        shopify.order_body({"line_items": []}, channel="shopify")


def test_express_shipping_lines_pick_the_service_level() -> None:
    order = load("shopify_orders_create.json")
    order["shipping_lines"][0]["title"] = "UPS Next Day Air"
    assert shopify.order_body(order, channel="shopify")["service_level"] == "next_day"


@given(
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2),
    quantity=st.integers(min_value=1, max_value=50),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.27"), places=3),
    discount=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.5"), places=2),
)
def test_tax_inclusive_lines_reconcile_to_the_cent(
    price: Decimal, quantity: int, rate: Decimal, discount: Decimal
) -> None:
    gross = price * quantity
    tax = (gross * rate / (1 + rate)).quantize(Decimal("0.01"))
    disc = (gross * discount).quantize(Decimal("0.01"))
    order = {
        "id": 1, "currency": "EUR", "taxes_included": True, "created_at": "2026-01-01T00:00:00+00:00",
        "line_items": [{"id": 9, "sku": "S", "quantity": quantity, "price": str(price),
                        "tax_lines": [{"price": str(tax)}], "discount_allocations": [{"amount": str(disc)}]}],
    }  # fmt: skip
    body = shopify.order_body(order, channel="shop")
    (line,) = body["lines"]
    assert line["discount"] >= disc and line["unit_price"] <= price
    assert line["unit_price"] == line["unit_price"].quantize(Decimal("0.01"))
    assert grand_total(body) == gross - disc  # what the customer paid in Shopify


def test_webhook_hmac() -> None:
    body = (SAMPLES / "shopify_orders_create.json").read_bytes()
    header = shopify.sign(body, "shpss_secret")
    shopify.verify_webhook(body, header, ["shpss_secret"])
    shopify.verify_webhook(body, header, ["old", "shpss_secret"])  # rotation
    for bad_header, secrets, match in [
        (None, ["shpss_secret"], "missing"),
        ("not base64!!", ["shpss_secret"], "not base64"),
        (header, ["other"], "does not match"),
        (header, [], "no webhook secret"),
    ]:
        with pytest.raises(SignatureError, match=match):
            shopify.verify_webhook(body, bad_header, secrets)
    with pytest.raises(SignatureError, match="does not match"):
        shopify.verify_webhook(body + b" ", header, ["shpss_secret"])  # one byte changed
