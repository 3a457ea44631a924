"""Shopify: order webhooks in (``orders/create``, ``orders/updated``, ``orders/cancelled``),
verified with ``X-Shopify-Hmac-Sha256``, mapped to the canonical order.

Shopify's webhook body is the bare Order resource (REST Admin API). Its totals are kept exact:
line discounts come from ``discount_allocations``, line taxes from ``tax_lines``, shipping from
``shipping_lines``; when the shop's prices include tax (``taxes_included``) each line's net unit
price is derived so that the OMS's grand total equals Shopify's ``total_price`` to the cent.

Webhooks arrive in any order and more than once. Every order topic carries the whole order, so
an ``orders/updated`` for an order the OMS has not seen creates it (the create was lost); a
cancellation of an order the OMS has not seen is recorded, and a late ``orders/create`` for it
then creates nothing (services/channel_inbox.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from openoms.adapters.channels.base import (
    ChangeKind,
    ChannelOrderChange,
    MappingError,
    sign_base64_hmac,
    verify_base64_hmac,
)
from openoms.domain import money

TOPICS = ("orders/create", "orders/updated", "orders/cancelled", "orders/paid")
#: Shipping line titles that mean a faster service than standard, checked in this order.
SERVICE_WORDS = (
    ("next day", "next_day"),
    ("overnight", "next_day"),
    ("express", "express"),
    ("expedited", "expedited"),
)


def verify_webhook(body: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """``X-Shopify-Hmac-Sha256``: Base64(HMAC-SHA256(app secret, raw body))."""
    verify_base64_hmac(body, header, secrets, header="X-Shopify-Hmac-Sha256")


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


def _sum(items: Iterable[Mapping[str, Any]] | None, key: str, where: str) -> Decimal:
    return sum((_amount(i.get(key), where) for i in items or ()), Decimal(0))


def _address(a: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not a or not a.get("address1"):
        return None
    name = a.get("name") or " ".join(p for p in (a.get("first_name"), a.get("last_name")) if p) or None
    out = {
        "name": name,
        "company": a.get("company") or None,
        "line1": a["address1"],
        "line2": a.get("address2") or None,
        "city": a.get("city") or "",
        "region": a.get("province_code") or a.get("province") or None,
        "postal_code": a.get("zip") or None,
        "country": a.get("country_code") or "",
        "phone": a.get("phone") or None,
    }
    if not out["city"] or len(out["country"]) != 2:
        raise MappingError("shipping_address", "needs a city and a two-letter country_code")
    return {k: v for k, v in out.items() if v is not None}


def _service_level(shipping_lines: Sequence[Mapping[str, Any]]) -> str:
    text = " ".join(f"{s.get('title') or ''} {s.get('code') or ''}" for s in shipping_lines).lower()
    return next((level for word, level in SERVICE_WORDS if word in text), "standard")


def _lines(order: Mapping[str, Any], currency: str) -> list[dict[str, Any]]:
    included = bool(order.get("taxes_included"))
    lines = []
    for i, li in enumerate(order.get("line_items") or []):
        where = f"line_items[{i}]"
        if li.get("gift_card"):
            continue  # a gift card is money, not stock: nothing to reserve or ship
        sku = (li.get("sku") or "").strip()
        if not sku:
            raise MappingError(f"{where}.sku", f"{li.get('name') or li.get('title')!r} has no SKU in Shopify")
        quantity = li.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            raise MappingError(f"{where}.quantity", f"{quantity!r} is not a whole number of at least 1")
        price = _amount(li.get("price"), f"{where}.price")
        discount = _sum(li.get("discount_allocations"), "amount", f"{where}.discount_allocations")
        tax = _sum(li.get("tax_lines"), "price", f"{where}.tax_lines")
        if included and tax:
            # Net unit price rounded up; the rounding goes to the discount, so the line's total
            # (net x qty - discount + tax) is exactly Shopify's gross total less its discount.
            step = Decimal(1).scaleb(-money.minor_units(currency))
            net = ((price * quantity - tax) / quantity).quantize(step, rounding=ROUND_CEILING)
            discount += net * quantity - (price * quantity - tax)
            price = net
        lines.append(
            {
                "sku": sku,
                "quantity": quantity,
                "unit_price": price,
                "discount": discount,
                "tax": tax,
                "external_line_id": str(li.get("id")),
            }
        )
    if not lines:
        raise MappingError("line_items", "the order has no line to ship (only gift cards, or none)")
    return lines


def order_body(order: Mapping[str, Any], *, channel: str) -> dict[str, Any]:
    """The canonical order (the body ``POST /api/v1/orders`` takes) for a Shopify order."""
    if not order.get("id"):
        raise MappingError("id", "the payload has no order id: is this an order webhook?")
    currency = str(order.get("currency") or "")
    if len(currency) != 3:
        raise MappingError("currency", f"{currency!r} is not a currency code")
    shipping_lines = [s for s in order.get("shipping_lines") or [] if not s.get("is_removed")]
    email = order.get("email") or order.get("contact_email") or (order.get("customer") or {}).get("email")
    customer = order.get("customer") or {}
    body: dict[str, Any] = {
        "channel": channel,
        "external_order_id": str(order["id"]),
        "currency": currency,
        "lines": _lines(order, currency),
        "shipping_total": _sum(shipping_lines, "price", "shipping_lines.price")
        - _sum([d for s in shipping_lines for d in s.get("discount_allocations") or []], "amount", "shipping_lines"),
        "shipping_tax": _sum([t for s in shipping_lines for t in s.get("tax_lines") or []], "price", "shipping_lines"),
        "service_level": _service_level(shipping_lines),
        "placed_at": dt.datetime.fromisoformat(order.get("processed_at") or order["created_at"]).astimezone(dt.UTC)
        if order.get("processed_at") or order.get("created_at")
        else None,
        "notes": " · ".join(p for p in (f"Shopify {order.get('name') or order['id']}", order.get("note") or None) if p),
    }
    if email:
        name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or None
        body["customer"] = {"email": email, "name": name, "phone": customer.get("phone") or order.get("phone")}
    if shipping := _address(order.get("shipping_address")):
        body["shipping_address"] = shipping
    if billing := _address(order.get("billing_address")):
        body["billing_address"] = billing
    if body["shipping_total"] < 0:
        body["shipping_total"] = Decimal(0)
    return body


def map_webhook(topic: str, order: Mapping[str, Any], *, channel: str) -> list[ChannelOrderChange]:
    """A webhook as order changes: create (any order topic), or cancel (a cancelled order)."""
    external = str(order.get("id") or "")
    if topic not in TOPICS:
        return [ChannelOrderChange(ChangeKind.IGNORE, external, reason=f"topic {topic} is not handled")]
    if topic == "orders/cancelled" or order.get("cancelled_at"):
        reason = order.get("cancel_reason") or "cancelled"
        return [ChannelOrderChange(ChangeKind.CANCEL, external, reason=f"cancelled in Shopify ({reason})")]
    return [
        ChannelOrderChange(
            ChangeKind.CREATE,
            external,
            order=order_body(order, channel=channel),
            context={"financial_status": order.get("financial_status"), "updated_at": order.get("updated_at")},
        )
    ]
