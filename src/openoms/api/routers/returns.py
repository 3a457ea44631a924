"""Returns (RMA): eligibility, requests, approval, the return label, receiving with inspection,
the refund quote and the refund, and the return policy per channel (docs/returns.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status
from pydantic import BaseModel, Field, StringConstraints

from openoms.api.deps import DB, actor_of, order_id_of, require
from openoms.api.schemas import COMMON_ERRORS, Code, Page, Quantity, Sku, Strict, error_responses
from openoms.domain.returns import MAX_RETURN_LINES
from openoms.services import returns
from openoms.services.apikeys import Principal
from openoms.services.idempotency import request_fingerprint

router = APIRouter(prefix="/api/v1", tags=["returns"], responses=COMMON_ERRORS)
Writer = Annotated[Principal, Depends(require("returns:write"))]
Reader = [Depends(require("returns:read"))]
ReturnRef = Annotated[
    str, Path(min_length=1, max_length=32, description="The return's id or RMA number, e.g. RMA-0000012")
]
OrderRef = Annotated[str, Path(min_length=1, max_length=32, description="The order's id or number, e.g. SO-0000123")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
IdemKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="A repeated key returns the first result"),
]

ReturnStatusName = Literal[
    "requested",
    "approved",
    "label_issued",
    "partially_received",
    "received",
    "refunded",
    "closed",
    "rejected",
    "cancelled",
]
ReasonCodeName = Literal[
    "no_longer_needed",
    "wrong_size",
    "not_as_described",
    "changed_mind",
    "damaged",
    "defective",
    "wrong_item",
    "other",
]
StatusFilter = Literal[
    "open",
    "requested",
    "approved",
    "label_issued",
    "partially_received",
    "received",
    "refunded",
    "closed",
    "rejected",
    "cancelled",
]
ConditionName = Literal["unopened", "opened", "damaged"]
DispositionName = Literal["restock", "refurbish", "write_off"]
MethodName = Literal["mail", "in_store"]
LineNumber = Annotated[int, Field(ge=1, le=100_000, description="The order line's number (1, 2, ...)")]


class ReturnLineIn(Strict):
    line_number: LineNumber
    quantity: Quantity
    reason: ReasonCodeName = Field(
        default="other", description="Why it comes back; damaged, defective and wrong_item are the merchant's fault"
    )
    condition: ConditionName | None = Field(default=None, description="As the customer reports it")


class ExchangeLineIn(Strict):
    sku: Sku
    quantity: Quantity


class ReturnCreate(Strict):
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=MAX_RETURN_LINES)
    method: MethodName = Field(default="mail", description="mail (with a return label) or in_store")
    location: Code | None = Field(
        default=None,
        description="In store: the store it is brought to (required). Mail: the receiving location "
        "(default: where the order shipped from, if it accepts returns)",
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    exchange: list[ExchangeLineIn] | None = Field(
        default=None,
        max_length=50,
        description="Replacement items: a linked replacement order is captured and reserved at once",
    )
    approve: bool = Field(default=False, description="Approve at once (e.g. at the store's counter)")


class RejectBody(Strict):
    reason: Reason


class CancelBody(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class ReceiptLineIn(Strict):
    line_number: LineNumber
    quantity: Quantity
    condition: ConditionName = Field(description="As inspected")
    disposition: DispositionName = Field(
        description="restock: back to available through the ledger; refurbish: kept aside; write_off: scrapped"
    )


class ReceiveBody(Strict):
    location: Code = Field(description="Where the units were received")
    lines: list[ReceiptLineIn] = Field(min_length=1, max_length=MAX_RETURN_LINES)


def _all_methods() -> list[MethodName]:
    return ["mail", "in_store"]


def _all_conditions() -> list[ConditionName]:
    return ["unopened", "opened", "damaged"]


class PolicyBody(Strict):
    window_days: Annotated[int, Field(ge=0, le=3650, description="Days from delivery (or shipment) to return")]
    restocking_fee_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)] = Decimal(0)
    refund_shipping: Literal["never", "full_return", "full_return_or_merchant_fault"] = "full_return_or_merchant_fault"
    allowed_methods: list[MethodName] = Field(default_factory=_all_methods, min_length=1, max_length=2)
    accepted_conditions: list[ConditionName] = Field(default_factory=_all_conditions, min_length=1, max_length=3)


class PolicyRead(BaseModel):
    channel: str | None
    source: Literal["channel", "default", "built_in"] = Field(
        description="The channel's own policy, the default one, or the built-in default"
    )
    window_days: int
    restocking_fee_percent: Decimal
    refund_shipping: str
    allowed_methods: list[str]
    accepted_conditions: list[str]


class EligibleLine(BaseModel):
    line_number: int
    sku: str
    name: str
    quantity: int
    quantity_shipped: int
    quantity_returned: int = Field(description="Units in returns that are not rejected or cancelled")
    unit_price: Decimal
    returnable: int = Field(description="Units that may be requested now")
    reason: str | None = Field(description="Why no (more) units may be returned")
    deadline: dt.datetime | None = Field(description="The last instant of the return window")
    final_sale: bool


class EligibilityRead(BaseModel):
    order_id: int
    order_number: str
    status: str
    currency: str
    returnable: bool
    policy: PolicyRead
    lines: list[EligibleLine]


class ReturnLineRead(BaseModel):
    line_number: int
    sku: str
    name: str
    quantity: int
    quantity_received: int
    quantity_outstanding: int
    reason: str
    condition: str | None
    unit_price: Decimal


class InspectionRead(BaseModel):
    line_number: int
    sku: str
    location: str
    quantity: int
    condition: str
    disposition: str
    inspected_by: str
    inspected_at: dt.datetime


class TimelineEntry(BaseModel):
    event_type: str
    actor: str
    message: str
    created_at: dt.datetime


class ReturnSummary(BaseModel):
    id: int
    rma_number: str
    order_id: int
    order_number: str
    channel: str
    status: ReturnStatusName
    method: MethodName
    location: str | None
    source: str
    customer_email: str | None
    reason: str | None = Field(description="Why it was rejected, cancelled or closed")
    currency: str
    units: int
    units_received: int
    exchange_order_number: str | None
    exchange_difference: Decimal | None = Field(description="Replacement total minus the credit for the returned units")
    refund_amount: Decimal | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ReturnRead(ReturnSummary):
    note: str | None
    label_tracking_number: str | None
    refund_id: str | None
    refunded_at: dt.datetime | None
    created_by: str
    lines: list[ReturnLineRead]
    inspections: list[InspectionRead]
    dispositions: dict[str, int]
    quote: dict[str, Any] | None = Field(
        description="The refund for what came back, per line and component (as refunded, once refunded)"
    )
    refund: dict[str, Any] | None = Field(description="The refund made: id (payments refund), amount, at, currency")
    exchange: dict[str, Any] | None = Field(description="The replacement order of an exchange and the difference")
    policy: PolicyRead = Field(description="The return policy of the order's channel")
    timeline: list[TimelineEntry]


class QuoteRead(BaseModel):
    currency: str
    lines: list[dict[str, Any]]
    components: dict[str, Decimal] = Field(
        description="items, tax, shipping, restocking_fee, cap: they add up to total"
    )
    total: Decimal
    notes: list[str]
    exchange: dict[str, Any] | None = None
    refund_due: Decimal | None = Field(default=None, description="Exchanges: what goes back after the replacement")


@router.get(
    "/orders/{ref}/returns/eligibility",
    response_model=EligibilityRead,
    responses=error_responses(404),
    dependencies=Reader,
)
def eligibility(db: DB, ref: OrderRef) -> dict[str, Any]:
    """Per line of the order: how many units may be returned now, or the reason none can (not
    shipped, final sale, the window ended, already returned)."""
    return returns.check_eligibility(db, order_id_of(ref))


@router.post(
    "/orders/{ref}/returns",
    response_model=ReturnRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409, 422),
)
def request_return(
    db: DB, ref: OrderRef, body: ReturnCreate, response: Response, principal: Writer, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    """Request a return of shipped units, by mail or in store, optionally as an exchange.
    Units that may not come back are refused with 422 naming each line and why; nothing is
    changed. An exchange whose replacement cannot be reserved now is refused with 409. The same
    `Idempotency-Key` again returns the first return."""
    order_id = order_id_of(ref)
    out = returns.request_return(
        db,
        order_id,
        lines=[ln.model_dump() for ln in body.lines],
        method=body.method,
        location=body.location,
        source="api",
        actor=actor_of(principal),
        note=body.note,
        exchange=[e.model_dump() for e in body.exchange] if body.exchange else None,
        idempotency_key=idempotency_key,
        request_hash=request_fingerprint("POST", f"/orders/{order_id}/returns", body.model_dump_json().encode())
        if idempotency_key
        else None,
        approve=body.approve,
    )
    response.headers["Location"] = f"/api/v1/returns/{out['id']}"
    return out


@router.get("/returns", response_model=Page[ReturnSummary], dependencies=Reader)
def list_returns(
    db: DB,
    status_: Annotated[
        StatusFilter | None,
        Query(alias="status", description="A status, or open for every return still being worked"),
    ] = None,
    location: Annotated[str | None, Query(max_length=64, description="Receiving location code")] = None,
    q: Annotated[str | None, Query(max_length=320, description="RMA number, order number or customer e-mail")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Returns, newest first, a keyset page at a time."""
    return returns.list_returns(db, status=status_, location=location, q=q, limit=limit, cursor=cursor)


@router.get("/returns/{ref}", response_model=ReturnRead, responses=error_responses(404), dependencies=Reader)
def get_return(db: DB, ref: ReturnRef) -> dict[str, Any]:
    """One return with its lines, inspections, refund quote or refund, exchange and timeline."""
    return returns.get_return(db, returns.return_id_of(ref))


@router.post("/returns/{ref}/approve", response_model=ReturnRead, responses=error_responses(404, 409))
def approve(db: DB, ref: ReturnRef, principal: Writer) -> dict[str, Any]:
    """Approve a requested return: the customer may send or bring the units."""
    return returns.approve_return(db, returns.return_id_of(ref), actor=actor_of(principal))


@router.post("/returns/{ref}/reject", response_model=ReturnRead, responses=error_responses(404, 409))
def reject(db: DB, ref: ReturnRef, body: RejectBody, principal: Writer) -> dict[str, Any]:
    """Reject a requested return with the reason; its units may be requested again."""
    return returns.reject_return(db, returns.return_id_of(ref), reason=body.reason, actor=actor_of(principal))


@router.post("/returns/{ref}/cancel", response_model=ReturnRead, responses=error_responses(404, 409))
def cancel(db: DB, ref: ReturnRef, principal: Writer, body: CancelBody | None = None) -> dict[str, Any]:
    """Withdraw a return before anything came back."""
    return returns.cancel_return(
        db, returns.return_id_of(ref), actor=actor_of(principal), reason=body.reason if body else None
    )


@router.post("/returns/{ref}/close", response_model=ReturnRead, responses=error_responses(404, 409, 422))
def close(db: DB, ref: ReturnRef, principal: Writer, body: CancelBody | None = None) -> dict[str, Any]:
    """Close a return: after its refund, or without one (a reason is then required): units
    still expected are no longer waited for."""
    return returns.close_return(
        db, returns.return_id_of(ref), actor=actor_of(principal), reason=body.reason if body else None
    )


PDF = {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


@router.get("/returns/{ref}/label.pdf", response_class=Response, responses={200: PDF, **error_responses(404, 409)})
def label(db: DB, ref: ReturnRef, principal: Writer) -> Response:
    """The 4 x 6 inch return label (PDF) of an approved mail return, with the RMA number as a
    Code 128 barcode. The first one moves the return to label_issued."""
    rid = returns.return_id_of(ref)
    data = returns.return_label_pdf(db, rid, actor=actor_of(principal))
    name = f"return-label-RMA-{rid:07d}.pdf"
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.post("/returns/{ref}/receive", response_model=ReturnRead, responses=error_responses(404, 409, 422))
def receive(db: DB, ref: ReturnRef, body: ReceiveBody, principal: Writer) -> dict[str, Any]:
    """Receive and inspect returned units at a location, partly or in full. Restocked units go
    back to available through the ledger; more than is still expected is refused (422)."""
    return returns.receive_return(
        db,
        returns.return_id_of(ref),
        location=body.location,
        lines=[ln.model_dump() for ln in body.lines],
        actor=actor_of(principal),
    )


@router.get(
    "/returns/{ref}/refund-quote", response_model=QuoteRead, responses=error_responses(404), dependencies=Reader
)
def refund_quote(db: DB, ref: ReturnRef) -> dict[str, Any]:
    """What the refund is for what has come back: per line and per component (items net of
    discount, tax, shipping, restocking fee, cap), with the reasons."""
    return returns.refund_quote(db, returns.return_id_of(ref))


@router.post("/returns/{ref}/refund", response_model=ReturnRead, responses=error_responses(404, 409, 422))
def refund(
    db: DB,
    ref: ReturnRef,
    principal: Writer,
    idempotency_key: Annotated[
        str, Header(alias="Idempotency-Key", min_length=1, max_length=200, description="Required: a retry refunds once")
    ],
) -> dict[str, Any]:
    """Refund what came back to the original payment method, as the quote says. A retry with
    the same key refunds once."""
    return returns.issue_return_refund(
        db, returns.return_id_of(ref), actor=actor_of(principal), idempotency_key=idempotency_key
    )


@router.get(
    "/channels/{code}/return-policy", response_model=PolicyRead, responses=error_responses(422), dependencies=Reader
)
def get_policy(db: DB, code: Annotated[str, Path(min_length=1, max_length=32)]) -> dict[str, Any]:
    """The return policy in force for a channel (its own, the default, or the built-in one)."""
    return returns.get_return_policy(db, code)


@router.put("/channels/{code}/return-policy", response_model=PolicyRead, responses=error_responses(422))
def put_policy(
    db: DB, code: Annotated[str, Path(min_length=1, max_length=32)], body: PolicyBody, principal: Writer
) -> dict[str, Any]:
    """Set the channel's own return policy."""
    return returns.set_return_policy(
        db,
        code,
        window_days=body.window_days,
        restocking_fee_percent=body.restocking_fee_percent,
        refund_shipping=body.refund_shipping,
        allowed_methods=body.allowed_methods,
        accepted_conditions=body.accepted_conditions,
        actor=actor_of(principal),
    )
