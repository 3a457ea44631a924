"""Changing an order after capture: quantities, SKU swaps, new lines, address, service level.

Each endpoint calls one service in services/order_changes.py, which changes the order in one
unit of work or refuses and changes nothing. ``If-Match: <version>`` (or ``expected_version``
in the body) refuses an edit made from a stale read with 409 ``version_conflict``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Response
from pydantic import Field, model_validator

from openoms.api.deps import DB, actor_of, order_id_of, require
from openoms.api.schemas import (
    COMMON_ERRORS,
    Address,
    Amount,
    OrderRead,
    Quantity,
    Reason,
    Sku,
    Strict,
    error_responses,
)
from openoms.domain.errors import validation_error
from openoms.services import order_changes, orders
from openoms.services.apikeys import Principal
from openoms.services.idempotency import request_fingerprint

router = APIRouter(prefix="/api/v1", tags=["orders"], responses={**COMMON_ERRORS, **error_responses(404, 409)})
Writer = Annotated[Principal, Depends(require("orders:write"))]
OrderRef = Annotated[str, Path(description="Order id (123) or order number (SO-0000123)")]
LineNumber = Annotated[int, Path(ge=1, le=100_000, description="The line's number on the order")]
IdemKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="A repeated key returns the first result"),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=32,
        description="The order version the edit was made from (its `version`, optionally quoted as an ETag)",
    ),
]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
ServiceLevel = Literal["standard", "expedited", "express", "next_day"]


class OrderChange(Strict):
    reason: Reason = Field(description="Why the order changes: shown on the timeline and sent to the channel")
    shipping_address: Address | None = Field(
        default=None, description="The new address; an allocated order is routed again and re-promised for it"
    )
    service_level: ServiceLevel | None = Field(
        default=None, description="The new service level; the promise and carrier choice follow"
    )
    expected_version: Version | None = Field(default=None, description="Refuse the change unless the order is at it")

    @model_validator(mode="after")
    def _something(self) -> OrderChange:
        if self.shipping_address is None and self.service_level is None:
            raise ValueError("give a shipping_address, a service_level, or both")
        return self


class LineAdd(Strict):
    reason: Reason
    sku: Sku
    quantity: Quantity
    unit_price: Amount | None = Field(default=None, description="Per unit; the product's list price when omitted")
    discount: Amount = Field(default=Decimal(0), description="Total discount on the line")
    tax: Amount | None = Field(
        default=None,
        description="Total tax on the line; when omitted, the order's own tax rate on its lines is applied",
    )
    expected_version: Version | None = None


class LineChange(Strict):
    reason: Reason
    quantity: Quantity | None = Field(
        default=None,
        description="The line's new ordered quantity (not cancelled); lower cancels units, higher reserves more",
    )
    sku: Sku | None = Field(
        default=None,
        description="Swap to this SKU: the line's open units are cancelled and a new line carries the new SKU",
    )
    unit_price: Amount | None = Field(default=None, description="For a swap: the new SKU's unit price")
    tax: Amount | None = Field(default=None, description="For a swap: the new line's total tax")
    expected_version: Version | None = None

    @model_validator(mode="after")
    def _something(self) -> LineChange:
        if self.quantity is None and self.sku is None:
            raise ValueError("give a quantity, a sku, or both")
        return self


def _expected(if_match: str | None, body_version: int | None) -> int | None:
    if if_match is None:
        return body_version
    text = if_match.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise validation_error("If-Match", f'{if_match!r} is not an order version (e.g. 3 or "3")')
    version = int(text)
    if body_version is not None and body_version != version:
        raise validation_error("expected_version", "differs from the If-Match header")
    return version


def _answer(db: Any, result: order_changes.ChangeResult, response: Response) -> dict[str, Any]:
    order = orders.get_order(db, result.order_id)
    order["on_hold"] = any(h["active"] for h in order["holds"])
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["ETag"] = f'"{order["version"]}"'
    return order


def _hash(method: str, path: str, body: Strict, if_match: str | None) -> str:
    return request_fingerprint(method, path, body.model_dump_json().encode() + (if_match or "").encode())


@router.patch("/orders/{order}", response_model=OrderRead, summary="Change the shipping address or service level")
def change_order(
    db: DB,
    order: OrderRef,
    body: OrderChange,
    response: Response,
    principal: Writer,
    idempotency_key: IdemKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change where or how the order ships, before it is released to fulfilment.

    An allocated order is routed again for the new address or service level (its own
    reservations count as free), so its locations, promise and carrier follow; when no location
    can ship it there, 409 and nothing changes. Refused (409) once the order is released: the
    location may have bought the label.
    """
    oid = order_id_of(order)
    result = order_changes.change_order(
        db,
        oid,
        reason=body.reason,
        actor=actor_of(principal),
        shipping_address=body.shipping_address.model_dump(exclude_none=True)
        if body.shipping_address
        else order_changes.UNSET,
        service_level=body.service_level,
        expected_version=_expected(if_match, body.expected_version),
        idempotency_key=idempotency_key,
        request_hash=_hash("PATCH", f"/orders/{oid}", body, if_match),
    )
    return _answer(db, result, response)


@router.post("/orders/{order}/lines", response_model=OrderRead, summary="Add a line to an order")
def add_line(
    db: DB,
    order: OrderRef,
    body: LineAdd,
    response: Response,
    principal: Writer,
    idempotency_key: IdemKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Add a line, reserved at once: routed like a capture (a pickup order's line only at its
    store). 409 when no location has the units; nothing changes. The order's totals grow by
    the line; the payment is reconciled after the change commits."""
    oid = order_id_of(order)
    result = order_changes.add_line(
        db,
        oid,
        sku=body.sku,
        quantity=body.quantity,
        unit_price=body.unit_price,
        discount=body.discount,
        tax=body.tax,
        reason=body.reason,
        actor=actor_of(principal),
        expected_version=_expected(if_match, body.expected_version),
        idempotency_key=idempotency_key,
        request_hash=_hash("POST", f"/orders/{oid}/lines", body, if_match),
    )
    return _answer(db, result, response)


@router.patch(
    "/orders/{order}/lines/{line_number}", response_model=OrderRead, summary="Change a line's quantity or SKU"
)
def change_line(
    db: DB,
    order: OrderRef,
    line_number: LineNumber,
    body: LineChange,
    response: Response,
    principal: Writer,
    idempotency_key: IdemKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Set a line's quantity or swap its SKU.

    Lower: the units are cancelled (pulled back from an unpicked fulfilment order). Higher:
    more units are reserved, where the line already is when that location has them, else
    where routing sends them; only while the line is allocated. A SKU swap cancels the line's
    open units and adds a new line for the new SKU at the price given or its list price.
    Refused with 409 after shipment or picking, 409 when the stock is not there.
    """
    oid = order_id_of(order)
    result = order_changes.change_line(
        db,
        oid,
        line_number,
        quantity=body.quantity,
        sku=body.sku,
        unit_price=body.unit_price,
        tax=body.tax,
        reason=body.reason,
        actor=actor_of(principal),
        expected_version=_expected(if_match, body.expected_version),
        idempotency_key=idempotency_key,
        request_hash=_hash("PATCH", f"/orders/{oid}/lines/{line_number}", body, if_match),
    )
    return _answer(db, result, response)
