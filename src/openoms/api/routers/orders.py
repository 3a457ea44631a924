"""Order capture, queries, cancellation, holds and notes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status

from openoms.api.deps import DB, actor_of, order_id_of, require
from openoms.api.schemas import (
    COMMON_ERRORS,
    CancelLines,
    CancelOrder,
    HoldCreate,
    HoldRelease,
    NoteCreate,
    OrderCreate,
    OrderRead,
    OrderSummary,
    Page,
    UtcDatetime,
    error_responses,
)
from openoms.domain.orders import HoldType, OrderStatus
from openoms.services import orders, payments
from openoms.services.apikeys import Principal
from openoms.services.common import decode_cursor, encode_cursor
from openoms.services.idempotency import request_fingerprint

router = APIRouter(prefix="/api/v1", tags=["orders"], responses=COMMON_ERRORS)
Writer = Annotated[Principal, Depends(require("orders:write"))]
OrderRef = Annotated[str, Path(description="Order id (123) or order number (SO-0000123)")]

ERRORS = error_responses(404, 409)


def _read(order: dict[str, Any]) -> dict[str, Any]:
    order["on_hold"] = any(h["active"] for h in order["holds"])
    return order


@router.post(
    "/orders",
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A repeat of an earlier capture: the first order is returned"}, **ERRORS},
)
def capture_order(
    db: DB,
    body: OrderCreate,
    response: Response,
    principal: Writer,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="A repeated key returns the first result"),
    ] = None,
) -> dict[str, Any]:
    """Capture an order and reserve its stock atomically.

    Every line is reserved at one or more locations or the order is refused with 409 and
    the SKUs and quantities short; nothing is left behind. Sending the same
    `(channel, external_order_id)` or `Idempotency-Key` again returns the first order with
    200 and `Idempotent-Replayed: true`.
    """
    cmd = orders.CaptureOrder(
        channel=body.channel,
        external_order_id=body.external_order_id,
        currency=body.currency,
        customer=orders.CustomerInput(str(body.customer.email), body.customer.name, body.customer.phone)
        if body.customer
        else None,
        shipping_address=body.shipping_address.model_dump(exclude_none=True) if body.shipping_address else None,
        billing_address=body.billing_address.model_dump(exclude_none=True) if body.billing_address else None,
        lines=[
            orders.LineInput(ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.tax, ln.external_line_id)
            for ln in body.lines
        ],
        shipping_total=body.shipping_total,
        shipping_tax=body.shipping_tax,
        service_level=body.service_level,
        placed_at=body.placed_at,
        notes=body.notes,
        language=body.language,
        fulfilment_method=body.fulfilment_method,
        pickup_location=body.pickup_location,
    )
    pay = body.payment
    result = payments.capture_order_with_payment(
        db,
        cmd,
        payments.CapturePayment(pay.provider, pay.payment_method, pay.reference, pay.amount, pay.status)
        if pay
        else None,
        actor_of(principal),
        idempotency_key=idempotency_key,
        request_hash=request_fingerprint("POST", "/orders", body.model_dump_json().encode())
        if idempotency_key
        else None,
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/orders/{result.order_id}"
    return _read(result.order or orders.get_order(db, result.order_id))


@router.get("/orders", response_model=Page[OrderSummary], dependencies=[Depends(require("orders:read"))])
def list_orders(
    db: DB,
    channel: str | None = None,
    status_: Annotated[list[OrderStatus] | None, Query(alias="status", description="Repeat for several")] = None,
    customer_email: str | None = None,
    external_order_id: str | None = None,
    sku: Annotated[str | None, Query(description="Orders with a line of this SKU")] = None,
    on_hold: Annotated[
        bool | None, Query(description="Only orders with (true) or without (false) an active hold")
    ] = None,
    created_from: Annotated[UtcDatetime | None, Query(description="ISO 8601 with offset")] = None,
    created_to: Annotated[UtcDatetime | None, Query(description="ISO 8601 with offset, exclusive")] = None,
    q: Annotated[str | None, Query(description="Order number, external id, customer e-mail or name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor from the previous page")] = None,
) -> dict[str, Any]:
    """Newest first with filters; pages are cut with an opaque cursor."""
    flt = orders.OrderFilter(
        channel=channel,
        status=status_ or (),
        customer_email=customer_email,
        external_order_id=external_order_id,
        sku=sku,
        on_hold=on_hold,
        created_from=created_from,
        created_to=created_to,
        q=q,
    )
    items = orders.list_orders(db, flt, after_id=decode_cursor(cursor), limit=limit)
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if len(items) == limit else None}


@router.get(
    "/orders/{order}", response_model=OrderRead, responses=ERRORS, dependencies=[Depends(require("orders:read"))]
)
def get_order(db: DB, order: OrderRef) -> dict[str, Any]:
    """The order with lines, quantities per state, reservations per location, holds and timeline."""
    return _read(orders.get_order(db, order_id_of(order)))


@router.post("/orders/{order}/cancel", response_model=OrderRead, responses=ERRORS)
def cancel_order(db: DB, order: OrderRef, body: CancelOrder, principal: Writer) -> dict[str, Any]:
    """Cancel every open unit and release its reservations. Refused once anything shipped."""
    oid = order_id_of(order)
    orders.cancel_order(db, oid, body.reason, actor_of(principal))
    return _read(orders.get_order(db, oid))


@router.post("/orders/{order}/lines/cancel", response_model=OrderRead, responses=ERRORS)
def cancel_lines(db: DB, order: OrderRef, body: CancelLines, principal: Writer) -> dict[str, Any]:
    """Cancel some units of some lines; the order is cancelled when no open unit is left."""
    oid = order_id_of(order)
    orders.cancel_lines(db, oid, [(ln.line_number, ln.quantity) for ln in body.lines], body.reason, actor_of(principal))
    return _read(orders.get_order(db, oid))


@router.post("/orders/{order}/holds", response_model=OrderRead, responses=ERRORS)
def place_hold(db: DB, order: OrderRef, body: HoldCreate, principal: Writer) -> dict[str, Any]:
    """Put the order on a payment, fraud, credit or manual hold: it will not be released."""
    oid = order_id_of(order)
    orders.place_hold(db, oid, body.type, body.reason, actor_of(principal))
    return _read(orders.get_order(db, oid))


@router.post("/orders/{order}/holds/{hold_type}/release", response_model=OrderRead, responses=ERRORS)
def release_hold(db: DB, order: OrderRef, hold_type: HoldType, body: HoldRelease, principal: Writer) -> dict[str, Any]:
    oid = order_id_of(order)
    orders.release_hold(db, oid, hold_type, body.reason, actor_of(principal))
    return _read(orders.get_order(db, oid))


@router.post("/orders/{order}/notes", response_model=OrderRead, responses=ERRORS)
def add_note(db: DB, order: OrderRef, body: NoteCreate, principal: Writer) -> dict[str, Any]:
    """Add a note to the order's timeline."""
    oid = order_id_of(order)
    orders.add_note(db, oid, body.text, actor_of(principal))
    return _read(orders.get_order(db, oid))
