"""WooCommerce: order webhooks (REST API v3 order JSON) verified with ``X-WC-Webhook-Signature``.

Line amounts in the v3 order are tax-exclusive: ``subtotal`` is price x quantity before
coupons, ``total`` after them, ``total_tax`` the line's tax; so the OMS's line is
unit price = subtotal / quantity, discount = subtotal - total, tax = total_tax, and the grand
total equals WooCommerce's ``total``. Products without a SKU are common in WooCommerce; a
channel setting (``missing_sku: "product_id"``) names them by their WooCommerce id instead of
leaving the order as a dead letter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from openoms.adapters.channels.base import (
    ChangeKind,
    ChannelOrderChange,
    MappingError,
    sign_base64_hmac,
    verify_base64_hmac,
)

#: Order statuses that mean the shop will not ship it.
CANCELLED = frozenset({"cancelled", "refunded", "failed", "trash"})
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")


def verify_webhook(body: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """``X-WC-Webhook-Signature``: Base64(HMAC-SHA256(the webhook's secret, raw body))."""
    verify_base64_hmac(body, header, secrets, header="X-WC-Webhook-Signature")


def sign(body: bytes, secret: str) -> str:
    return sign_base64_hmac(body, secret)


def _amount(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise MappingError(where, f"{value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise MappingError(where, f"{value!r} is not an amount")
    return amount


def _address(a: Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    if not a or not a.get("address_1"):
        return None
    name = " ".join(p for p in (a.get("first_name"), a.get("last_name")) if p) or None
    out = {
        "name": name,
        "company": a.get("company") or None,
        "line1": a["address_1"],
        "line2": a.get("address_2") or None,
        "city": a.get("city") or "",
        "region": a.get("state") or None,
        "postal_code": a.get("postcode") or None,
        "country": a.get("country") or "",
        "phone": a.get("phone") or None,
    }
    if not out["city"] or len(out["country"]) != 2:
        raise MappingError(where, "needs a city and a two-letter country")
    return {k: v for k, v in out.items() if v is not None}


def _notes(order: Mapping[str, Any]) -> str:
    parts = [f"WooCommerce #{order.get('number') or order['id']}", order.get("customer_note") or None]
    return " · ".join(p for p in parts if p)


def order_body(order: Mapping[str, Any], *, channel: str, missing_sku: str = "refuse") -> dict[str, Any]:
    if not order.get("id"):
        raise MappingError("id", "the payload has no order id: is this an order webhook?")
    currency = str(order.get("currency") or "")
    if len(currency) != 3:
        raise MappingError("currency", f"{currency!r} is not a currency code")
    lines = []
    for i, li in enumerate(order.get("line_items") or []):
        where = f"line_items[{i}]"
        sku = str(li.get("sku") or "").strip()
        if not sku:
            if missing_sku != "product_id" or not (li.get("variation_id") or li.get("product_id")):
                raise MappingError(
                    f"{where}.sku",
                    f"{li.get('name')!r} has no SKU in WooCommerce; give the product a SKU, or set the "
                    'channel\'s connection setting missing_sku to "product_id"',
                )
            sku = str(li.get("variation_id") or li.get("product_id"))
        quantity = li.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            raise MappingError(f"{where}.quantity", f"{quantity!r} is not a whole number of at least 1")
        subtotal = _amount(li.get("subtotal"), f"{where}.subtotal")
        total = _amount(li.get("total"), f"{where}.total")
        unit = subtotal / quantity
        if unit != unit.quantize(Decimal("0.0001")):
            raise MappingError(f"{where}.subtotal", f"{subtotal} does not divide into {quantity} equal unit prices")
        lines.append(
            {
                "sku": sku,
                "quantity": quantity,
                "unit_price": unit,
                "discount": max(subtotal - total, Decimal(0)),
                "tax": _amount(li.get("total_tax"), f"{where}.total_tax"),
                "external_line_id": str(li.get("id")),
            }
        )
    if not lines:
        raise MappingError("line_items", "the order has no lines")
    billing = order.get("billing") or {}
    created = order.get("date_created_gmt")
    body: dict[str, Any] = {
        "channel": channel,
        "external_order_id": str(order["id"]),
        "currency": currency,
        "lines": lines,
        "shipping_total": _amount(order.get("shipping_total"), "shipping_total"),
        "shipping_tax": _amount(order.get("shipping_tax"), "shipping_tax"),
        "placed_at": dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC) if created else None,
        "notes": _notes(order),
    }
    if billing.get("email"):
        name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p) or None
        body["customer"] = {"email": billing["email"], "name": name, "phone": billing.get("phone") or None}
    if shipping := _address(order.get("shipping"), "shipping"):
        body["shipping_address"] = shipping
    if bill := _address(billing, "billing"):
        body["billing_address"] = bill
    return body


def map_webhook(
    topic: str, order: Mapping[str, Any], *, channel: str, missing_sku: str = "refuse"
) -> list[ChannelOrderChange]:
    external = str(order.get("id") or "")
    if topic not in TOPICS:
        return [ChannelOrderChange(ChangeKind.IGNORE, external, reason=f"topic {topic} is not handled")]
    status = str(order.get("status") or "")
    if topic == "order.deleted" or status in CANCELLED:
        return [ChannelOrderChange(ChangeKind.CANCEL, external, reason=f"WooCommerce order is {status or 'deleted'}")]
    if status in ("pending", "checkout-draft"):
        return [ChannelOrderChange(ChangeKind.IGNORE, external, reason=f"not placed yet (status {status})")]
    return [
        ChannelOrderChange(
            ChangeKind.CREATE,
            external,
            order=order_body(order, channel=channel, missing_sku=missing_sku),
            context={"status": status, "date_modified_gmt": order.get("date_modified_gmt")},
        )
    ]
