"""Payments: an order's payments and refunds, authorising or recording a payment, capture, void,
appeasement refunds, and the review queue (docs/payments.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path
from pydantic import BaseModel, Field, StringConstraints

from openoms.api.deps import DB, actor_of, order_id_of, require
from openoms.api.schemas import COMMON_ERRORS, Strict, error_responses
from openoms.domain.errors import validation_error
from openoms.domain.payments import (
    ManualMethod,
    OrderPaymentStatus,
    PaymentStatus,
    RefundKind,
    RefundStatus,
    TransactionKind,
)
from openoms.services import payments
from openoms.services.apikeys import Principal

router = APIRouter(prefix="/api/v1", tags=["payments"], responses=COMMON_ERRORS)
Writer = Annotated[Principal, Depends(require("payments:write"))]
Reader = Annotated[Principal, Depends(require("payments:read"))]
OrderRef = Annotated[str, Path(description="Order id (123) or order number (SO-0000123)")]
PaymentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The payment's id")]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retry-safe writes: a repeated key returns the first result and never charges or refunds twice",
    ),
]
PositiveAmount = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4, examples=["19.99"])]
ReasonText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
ERRORS = error_responses(404, 409, 422, 503)


def _key(principal: Principal, given: str | None) -> str:
    """Keys are the caller's own: two API keys never share one; none given, none repeated."""
    return f"{principal.name}:{given}" if given else f"once:{uuid.uuid4()}"


class TransactionRead(BaseModel):
    id: int
    payment_id: int
    refund_id: int | None
    kind: TransactionKind
    amount: Decimal
    final: bool = Field(description="A final capture: what was not captured was released")
    status: str = Field(description="pending (no answer yet), succeeded, failed, requires_action, accepted")
    reference: str | None = Field(description="The provider's id for this call")
    error_code: str | None
    message: str | None
    actor: str
    created_at: dt.datetime
    completed_at: dt.datetime | None


class PaymentRead(BaseModel):
    id: int
    order_id: int
    order_number: str
    provider: str = Field(description="manual, test, stripe, ...")
    method: str = Field(description="The provider's payment-method token, or the manual method's name")
    reference: str | None = Field(description="The provider's reference (PaymentIntent id, cheque number)")
    currency: str
    status: PaymentStatus
    amount_requested: Decimal
    amount_authorized: Decimal
    amount_captured: Decimal
    amount_refunded: Decimal
    amount_refund_pending: Decimal = Field(description="Refunds asked of the provider, not yet answered")
    capturable: Decimal = Field(description="Held and not captured (captures in progress count as taken)")
    refundable: Decimal = Field(description="Captured - refunded - refunds in progress")
    capture_closed: bool
    review_reason: str | None = Field(description="Why the payment was flagged (decline, dispute, failed refund)")
    flagged_at: dt.datetime | None = Field(description="Set while the payment waits in the review queue")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    transactions: list[TransactionRead] = Field(default_factory=list)
    order_status: str | None = Field(default=None, description="In the review queue: the order's status")


class RefundPart(BaseModel):
    payment_id: int
    amount: Decimal
    status: str
    reference: str | None
    error_code: str | None
    message: str | None


class RefundRead(BaseModel):
    id: int
    order_id: int
    amount: Decimal
    amount_refunded: Decimal = Field(description="What the providers confirmed")
    currency: str
    kind: RefundKind
    reason: str
    status: RefundStatus
    return_id: int | None
    requested_by: str
    created_at: dt.datetime
    completed_at: dt.datetime | None
    payments: list[RefundPart] = Field(description="How the refund was spread over the payments, newest first")


class OrderPaymentsRead(BaseModel):
    order_id: int
    order_number: str
    currency: str
    payment_status: OrderPaymentStatus
    payable_total: Decimal = Field(description="Non-cancelled units plus shipping (docs/payments.md)")
    authorized: Decimal = Field(description="Held and not yet captured")
    captured: Decimal
    refunded: Decimal
    net_paid: Decimal = Field(description="captured - refunded")
    refundable: Decimal
    balance_due: Decimal = Field(description="payable_total - net_paid, at least 0")
    payments: list[PaymentRead]
    refunds: list[RefundRead]


class PaymentCreate(Strict):
    provider: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="manual: record money received by hand; any other provider: authorise payment_method now",
        examples=["test"],
    )
    payment_method: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] = Field(
        description="The provider's token (pm_..., test_ok) or, for manual, cash / cheque / bank_transfer / other"
    )
    amount: PositiveAmount | None = Field(
        default=None, description="Default: what the order still owes. Required for manual payments."
    )
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = Field(
        default=None, description="Manual: the receipt or cheque number"
    )
    expected: bool = Field(
        default=False, description="Manual: not received yet; pending (order on payment hold) until marked received"
    )


class CaptureIn(Strict):
    amount: PositiveAmount
    final: bool = Field(default=False, description="Release what is left of the authorisation")


class RefundCreate(Strict):
    amount: PositiveAmount
    reason: ReasonText = Field(description="Why the customer gets money back; on the timeline and the audit log")
    kind: Literal["appeasement", "adjustment"] = Field(
        default="appeasement", description="Refunds for returns are made by the returns flow"
    )


class ReceivedIn(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None


class ReviewClear(Strict):
    note: ReasonText = Field(description="What was done about it")


@router.get(
    "/orders/{order}/payments",
    response_model=OrderPaymentsRead,
    responses=error_responses(404),
)
def order_payments(db: DB, order: OrderRef, _: Reader) -> dict[str, Any]:
    """The order's payment status and totals, each payment with its provider transactions, and
    its refunds."""
    return payments.list_payments(db, order_id_of(order))


@router.post("/orders/{order}/payments", response_model=PaymentRead, status_code=201, responses=ERRORS)
def create_payment(
    db: DB, order: OrderRef, body: PaymentCreate, principal: Writer, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    """Authorise a payment method at a provider (a declined one puts the order on payment hold;
    a later authorisation releases it), or with `provider: manual` record money received by
    cash, cheque or bank transfer (captured at once, or `expected` until marked received).
    503 when the provider cannot be reached: retry with the same Idempotency-Key."""
    oid = order_id_of(order)
    key = _key(principal, idempotency_key)
    if body.provider == "manual":
        if body.payment_method not in {m.value for m in ManualMethod}:
            raise validation_error("payment_method", "for manual payments: cash, cheque, bank_transfer or other")
        if body.amount is None:
            raise validation_error("amount", "is required for manual payments")
        return payments.record_manual_payment(
            db,
            oid,
            method=body.payment_method,
            amount=body.amount,
            reference=body.reference,
            actor=actor_of(principal),
            idempotency_key=key,
            expected=body.expected,
        )
    if body.reference or body.expected:
        raise validation_error("reference", "reference and expected are for manual payments only")
    return payments.authorize_payment(
        db,
        oid,
        provider=body.provider,
        payment_method=body.payment_method,
        amount=body.amount,
        actor=actor_of(principal),
        idempotency_key=key,
    )


@router.get("/payments/review", response_model=list[PaymentRead])
def review(db: DB, _: Reader) -> list[dict[str, Any]]:
    """Payments waiting for a person: declined authorisations, failed captures or refunds, and
    disputes (chargebacks). Newest first."""
    return payments.review_queue(db)


@router.get("/payments/{payment_id}", response_model=PaymentRead, responses=error_responses(404))
def get_payment(db: DB, payment_id: PaymentId, _: Reader) -> dict[str, Any]:
    return payments.get_payment(db, payment_id)


@router.post("/payments/{payment_id}/capture", response_model=PaymentRead, responses=ERRORS)
def capture(
    db: DB, payment_id: PaymentId, body: CaptureIn, principal: Writer, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    """Capture part or all of an authorisation (shipments capture by themselves); `final`
    releases the rest. More than is held is refused (422)."""
    return payments.capture_payment(
        db,
        payment_id,
        body.amount,
        actor=actor_of(principal),
        idempotency_key=_key(principal, idempotency_key),
        final=body.final,
    )


@router.post("/payments/{payment_id}/void", response_model=PaymentRead, responses=ERRORS)
def void(db: DB, payment_id: PaymentId, principal: Writer, idempotency_key: IdemKey = None) -> dict[str, Any]:
    """Release an authorisation nothing was captured from (409 otherwise)."""
    return payments.void_payment(
        db, payment_id, actor=actor_of(principal), idempotency_key=_key(principal, idempotency_key)
    )


@router.post("/payments/{payment_id}/received", response_model=PaymentRead, responses=ERRORS)
def received(db: DB, payment_id: PaymentId, principal: Writer, body: ReceivedIn | None = None) -> dict[str, Any]:
    """An expected manual payment (bank transfer, cheque) arrived: captured in full, payment
    hold released."""
    return payments.mark_received(db, payment_id, actor=actor_of(principal), note=body.note if body else None)


@router.post("/payments/{payment_id}/review", response_model=PaymentRead, responses=ERRORS)
def clear_review(db: DB, payment_id: PaymentId, body: ReviewClear, principal: Writer) -> dict[str, Any]:
    """Take a payment off the review queue, saying what was done."""
    return payments.clear_review(db, payment_id, note=body.note, actor=actor_of(principal))


@router.post("/orders/{order}/refunds", response_model=RefundRead, status_code=201, responses=ERRORS)
def create_refund(
    db: DB, order: OrderRef, body: RefundCreate, principal: Writer, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    """Give money back without a return (an appeasement), to the order's payments newest first.
    Never more than captured and not yet refunded (422, field `amount`). The refund is
    `pending` while a provider has not answered; the worker retries it."""
    return payments.refund(
        db,
        order_id_of(order),
        body.amount,
        reason=body.reason,
        kind=body.kind,
        actor=actor_of(principal),
        idempotency_key=_key(principal, idempotency_key),
    )
