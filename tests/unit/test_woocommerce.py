"""WooCommerce's published v3 order example mapped to the canonical order."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openoms.adapters.channels import woocommerce as woo
from openoms.adapters.channels.base import ChangeKind, MappingError, SignatureError

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")
ORDER: dict[str, Any] = json.loads((SAMPLES / "woocommerce_order.json").read_text())


def test_the_published_example_has_a_line_without_sku_and_says_so() -> None:
    with pytest.raises(MappingError) as err:
        woo.order_body(ORDER, channel="woo")
    assert err.value.field == "line_items[0].sku" and "missing_sku" in err.value.reason


def test_with_product_ids_for_missing_skus_the_totals_reconcile() -> None:
    (change,) = woo.map_webhook("order.created", ORDER, channel="woo", missing_sku="product_id")
    assert change.kind == ChangeKind.CREATE and change.external_order_id == "727"
    body = change.order
    assert body is not None
    assert [ln["sku"] for ln in body["lines"]] == [str(ORDER["line_items"][0]["product_id"]), "Bar3"]
    total = sum(
        (ln["unit_price"] * ln["quantity"] - ln["discount"] + ln["tax"] for ln in body["lines"]), Decimal(0)
    ) + body["shipping_total"] + body["shipping_tax"]  # fmt: skip
    assert total == Decimal(ORDER["total"]) == Decimal("29.35")
    assert body["customer"]["email"] == "john.doe@example.com"
    assert body["shipping_address"] == {
        "name": "John Doe", "line1": "969 Market", "city": "San Francisco", "region": "CA", "postal_code": "94103",
        "country": "US",
    }  # fmt: skip
    assert body["placed_at"].isoformat() == "2017-03-22T19:28:02+00:00"


def test_statuses_and_topics() -> None:
    cancelled = {**copy.deepcopy(ORDER), "status": "cancelled"}
    assert woo.map_webhook("order.updated", cancelled, channel="w")[0].kind == ChangeKind.CANCEL
    assert woo.map_webhook("order.deleted", ORDER, channel="w")[0].kind == ChangeKind.CANCEL
    pending = {**copy.deepcopy(ORDER), "status": "pending"}
    assert woo.map_webhook("order.created", pending, channel="w")[0].kind == ChangeKind.IGNORE
    assert woo.map_webhook("product.updated", ORDER, channel="w")[0].kind == ChangeKind.IGNORE


def test_coupons_become_line_discounts() -> None:
    order = copy.deepcopy(ORDER)
    order["line_items"][1]["total"] = "10.80"  # a 10 % coupon on the 12.00 line
    body = woo.order_body(order, channel="w", missing_sku="product_id")
    assert body["lines"][1]["discount"] == Decimal("1.20") and body["lines"][1]["unit_price"] == Decimal(12)


def test_signature() -> None:
    body = (SAMPLES / "woocommerce_order.json").read_bytes()
    woo.verify_webhook(body, woo.sign(body, "wc-secret-1"), ["wc-secret-1"])
    with pytest.raises(SignatureError, match="does not match"):
        woo.verify_webhook(body, woo.sign(body, "other"), ["wc-secret-1"])
    with pytest.raises(SignatureError, match="X-WC-Webhook-Signature is missing"):
        woo.verify_webhook(body, None, ["wc-secret-1"])
