"""Amazon Selling Partner API (Orders API v0): poll orders in, confirm shipments out.

The client speaks the documented endpoints with a Login with Amazon access token (refresh-token
grant) in ``x-amz-access-token``: ``GET /orders/v0/orders`` (``LastUpdatedAfter``,
``NextToken`` pages), ``GET /orders/v0/orders/{id}/orderItems`` and
``POST /orders/v0/orders/{id}/shipmentConfirmation``. The base URLs are settings, so tests and a
sandbox point it elsewhere. Throttling (429) and server errors raise ``ChannelUnavailable``; the
poll keeps its cursor and tries again next time.

Mapping: SP-API's ``ItemPrice`` is the price of the whole quantity, so the unit price is
``ItemPrice / QuantityOrdered``; ``PromotionDiscount`` is the line's discount and ``ItemTax`` its
tax; shipping is ``ShippingPrice - ShippingDiscount`` with ``ShippingTax``. Orders Amazon itself
fulfils (AFN) and orders still ``Pending`` (not yet paid: Amazon says do not ship) are not
captured; ``Canceled`` cancels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from openoms.adapters.channels.base import ChangeKind, ChannelOrderChange, MappingError

SERVICE_LEVELS = {
    "Standard": "standard",
    "Expedited": "expedited",
    "SecondDay": "express",
    "NextDay": "next_day",
    "SameDay": "next_day",
    "Priority": "express",
    "Scheduled": "standard",
}
#: Carrier codes SP-API accepts for confirmShipment (its CarrierCode values), by our carrier names.
CARRIER_CODES = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL", "ontrac": "OnTrac"}


class ChannelUnavailable(Exception):
    """The platform could not be reached, throttled us, or failed: try again later."""


class ChannelRefused(Exception):
    """The platform answered and said no (bad credentials, an invalid request): a person must act."""


@dataclass(frozen=True)
class AmazonConfig:
    endpoint: str  # e.g. https://sellingpartnerapi-na.amazon.com
    token_url: str  # https://api.amazon.com/auth/o2/token
    client_id: str
    client_secret: str
    refresh_token: str
    marketplace_ids: Sequence[str]


class AmazonClient:
    """One poll's or one confirmation's conversation with SP-API (a fresh access token each)."""

    def __init__(self, config: AmazonConfig, *, timeout: float = 20.0) -> None:
        self.config = config
        self.http = httpx.Client(timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AmazonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ChannelUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ChannelUnavailable(f"HTTP {response.status_code} from {url.split('?')[0]}")
        if response.status_code >= 400:
            raise ChannelRefused(f"HTTP {response.status_code} from {url.split('?')[0]}: {_error_text(response)}")
        return response

    def token(self) -> str:
        if self._token is None:
            r = self._call(
                "POST",
                self.config.token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": self.config.refresh_token,
                    "client_id": self.config.client_id,
                    "client_secret": self.config.client_secret,
                },
            )
            token = r.json().get("access_token")
            if not token:
                raise ChannelRefused("Login with Amazon returned no access_token")
            self._token = str(token)
        return self._token

    def _get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        r = self._call(
            "GET", f"{self.config.endpoint}{path}", params=params, headers={"x-amz-access-token": self.token()}
        )
        try:
            body = r.json()
        except ValueError as exc:
            raise ChannelUnavailable(f"unreadable answer from {path}") from exc
        return dict(body.get("payload") or {})

    def orders_page(self, *, updated_after: dt.datetime, next_token: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"MarketplaceIds": ",".join(self.config.marketplace_ids)}
        if next_token:
            params["NextToken"] = next_token
        else:
            params["LastUpdatedAfter"] = updated_after.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._get("/orders/v0/orders", params)

    def order_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._get(f"/orders/v0/orders/{order_id}/orderItems", {"NextToken": token} if token else {})
            items.extend(page.get("OrderItems") or [])
            token = page.get("NextToken")
            if not token:
                return items

    def confirm_shipment(self, order_id: str, body: Mapping[str, Any]) -> None:
        self._call(
            "POST",
            f"{self.config.endpoint}/orders/v0/orders/{order_id}/shipmentConfirmation",
            json=dict(body),
            headers={"x-amz-access-token": self.token()},
        )


def _error_text(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or response.text[:200]
    except ValueError:
        return response.text[:200]


def _money(value: Mapping[str, Any] | None, where: str) -> tuple[Decimal, str | None]:
    if not value:
        return Decimal(0), None
    try:
        amount = Decimal(str(value.get("Amount", "0")))
    except InvalidOperation:
        raise MappingError(where, f"{value.get('Amount')!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise MappingError(where, f"{value.get('Amount')!r} is not an amount")
    return amount, value.get("CurrencyCode")


def order_body(order: Mapping[str, Any], items: Sequence[Mapping[str, Any]], *, channel: str) -> dict[str, Any]:
    """The canonical order for an SP-API order and its items."""
    currency = (order.get("OrderTotal") or {}).get("CurrencyCode")
    lines = []
    shipping = shipping_discount = shipping_tax = Decimal(0)
    for i, item in enumerate(items):
        where = f"OrderItems[{i}]"
        sku = str(item.get("SellerSKU") or "").strip()
        if not sku:
            raise MappingError(f"{where}.SellerSKU", f"item {item.get('OrderItemId')} has no SellerSKU")
        quantity = item.get("QuantityOrdered")
        if not isinstance(quantity, int) or quantity < 1:
            raise MappingError(f"{where}.QuantityOrdered", f"{quantity!r} is not a whole number of at least 1")
        price, cur = _money(item.get("ItemPrice"), f"{where}.ItemPrice")
        currency = currency or cur
        discount, _ = _money(item.get("PromotionDiscount"), f"{where}.PromotionDiscount")
        tax, _ = _money(item.get("ItemTax"), f"{where}.ItemTax")
        ship, _ = _money(item.get("ShippingPrice"), f"{where}.ShippingPrice")
        ship_disc, _ = _money(item.get("ShippingDiscount"), f"{where}.ShippingDiscount")
        ship_tax, _ = _money(item.get("ShippingTax"), f"{where}.ShippingTax")
        shipping, shipping_discount, shipping_tax = (
            shipping + ship,
            shipping_discount + ship_disc,
            shipping_tax + ship_tax,
        )
        unit = price / quantity
        if unit != unit.quantize(Decimal("0.0001")):
            raise MappingError(f"{where}.ItemPrice", f"{price} does not divide into {quantity} equal unit prices")
        lines.append(
            {
                "sku": sku,
                "quantity": quantity,
                "unit_price": unit,
                "discount": discount,
                "tax": tax,
                "external_line_id": str(item.get("OrderItemId")),
            }
        )
    if not lines:
        raise MappingError("OrderItems", "the order has no items")
    if not currency:
        raise MappingError("OrderTotal.CurrencyCode", "the order has no currency")
    body: dict[str, Any] = {
        "channel": channel,
        "external_order_id": str(order["AmazonOrderId"]),
        "currency": currency,
        "lines": lines,
        "shipping_total": max(shipping - shipping_discount, Decimal(0)),
        "shipping_tax": shipping_tax,
        "service_level": SERVICE_LEVELS.get(str(order.get("ShipmentServiceLevelCategory")), "standard"),
        "placed_at": dt.datetime.fromisoformat(str(order["PurchaseDate"]).replace("Z", "+00:00"))
        if order.get("PurchaseDate")
        else None,
        "notes": f"Amazon {order['AmazonOrderId']}"
        + (f" · PO {po}" if (po := (order.get("BuyerInfo") or {}).get("PurchaseOrderNumber")) else ""),
    }
    buyer = order.get("BuyerInfo") or {}
    if buyer.get("BuyerEmail"):
        body["customer"] = {"email": buyer["BuyerEmail"], "name": buyer.get("BuyerName")}
    address = order.get("ShippingAddress") or {}
    if address.get("AddressLine1") and address.get("City") and len(str(address.get("CountryCode") or "")) == 2:
        body["shipping_address"] = {
            k: v
            for k, v in {
                "name": address.get("Name"),
                "line1": address["AddressLine1"],
                "line2": address.get("AddressLine2"),
                "city": address["City"],
                "region": address.get("StateOrRegion"),
                "postal_code": address.get("PostalCode"),
                "country": address["CountryCode"],
                "phone": address.get("Phone"),
            }.items()
            if v
        }
    return body


def map_order(
    order: Mapping[str, Any], items: Sequence[Mapping[str, Any]], *, channel: str
) -> list[ChannelOrderChange]:
    external = str(order.get("AmazonOrderId") or "")
    if not external:
        raise MappingError("AmazonOrderId", "the order has no id")
    status = str(order.get("OrderStatus") or "")
    if order.get("FulfillmentChannel") == "AFN":
        return [ChannelOrderChange(ChangeKind.IGNORE, external, reason="fulfilled by Amazon (AFN): nothing to ship")]
    if status == "Canceled":
        return [ChannelOrderChange(ChangeKind.CANCEL, external, reason="canceled on Amazon")]
    if status in ("Pending", "PendingAvailability"):
        return [ChannelOrderChange(ChangeKind.IGNORE, external, reason=f"{status} on Amazon: not to be shipped yet")]
    return [ChannelOrderChange(ChangeKind.CREATE, external, order=order_body(order, items, channel=channel))]


def shipment_confirmation(
    *,
    marketplace_id: str,
    package_reference: str,
    carrier: str,
    service: str | None,
    tracking_number: str,
    shipped_at: dt.datetime,
    items: Sequence[tuple[str, int]],
) -> dict[str, Any]:
    """The ``shipmentConfirmation`` body for one package (items: Amazon OrderItemId, units)."""
    code = CARRIER_CODES.get(carrier.lower())
    detail: dict[str, Any] = {
        "packageReferenceId": package_reference,
        "carrierCode": code or "Other",
        "trackingNumber": tracking_number,
        "shipDate": shipped_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "orderItems": [{"orderItemId": i, "quantity": q} for i, q in items],
    }
    if code is None:
        detail["carrierName"] = carrier
    if service:
        detail["shippingMethod"] = service
    return {"marketplaceId": marketplace_id, "packageDetail": detail}
