"""Payments in the back office: the order page's payment actions (record a manual payment,
capture, void, mark received, appeasement refund) and the payment review queue.

Each action is a POST form that calls one payment service with the signed-in person as the
actor and comes back to the order with a message; a refusal changes nothing. A hidden
``form_key`` (one per page view) is the idempotency key: a double submit records one payment.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.payments import ManualMethod
from openoms.services import payments
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.orders import FormProblem, _act, _required, actor_label

router = APIRouter(include_in_schema=False)

MAX_KEY = 64


def _amount(text: str, label: str = "Amount") -> Decimal:
    raw = text.strip().replace(",", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormProblem(f"{label} must be a number like 12.50, not {text.strip()!r}.") from None
    if not value.is_finite() or value <= 0:
        raise FormProblem(f"{label} must be more than zero.")
    if value >= Decimal(10) ** 14:
        raise FormProblem(f"{label} is too large.")
    return value


def _key(form_key: str, what: str) -> str:
    key = form_key.strip()[:MAX_KEY]
    if not key:
        raise FormProblem("The form was incomplete; reload the page and try again.")
    return f"web:{what}:{key}"


def _explain(exc: DomainError) -> str:
    """A refusal in words with the field named, and that nothing changed."""
    if exc.code == ErrorCode.NOT_FOUND:
        raise exc
    if exc.errors:
        text = "; ".join(f"{e.field.replace('_', ' ').capitalize()}: {e.reason}" for e in exc.errors)
    else:
        text = exc.message
    return text.rstrip(".") + ". Nothing changed."


def _money(value: Any, currency: str) -> str:
    return f"{value} {currency}"


@router.post("/orders/{order_id:int}/payments/manual")
def record_payment(
    request: Request,
    order_id: int,
    method: str = Form(""),
    amount: str = Form(""),
    reference: str = Form(""),
    expected: str = Form(""),
    form_key: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.PAYMENTS_MANAGE)),
) -> Response:
    def run() -> str:
        if method not in {m.value for m in ManualMethod}:
            raise FormProblem("Method is required: cash, cheque, bank transfer or other.")
        value = _amount(amount)
        try:
            p = payments.record_manual_payment(
                request.app.state.db,
                order_id,
                method=method,
                amount=value,
                reference=reference.strip()[:255] or None,
                actor=user.actor,
                idempotency_key=_key(form_key, "manual"),
                expected=bool(expected),
            )
        except DomainError as exc:
            raise FormProblem(_explain(exc)) from None
        what = method.replace("_", " ")
        if p["status"] == "pending":
            return (
                f"Expected {what} payment of {_money(p['amount_requested'], p['currency'])} recorded; the order stays "
                "on payment hold until it is marked received."
            )
        return f"{what.capitalize()} payment of {_money(p['amount_captured'], p['currency'])} recorded."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/payments/{payment_id:int}/capture")
def capture(
    request: Request,
    order_id: int,
    payment_id: int,
    amount: str = Form(""),
    final: str = Form(""),
    form_key: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.PAYMENTS_MANAGE)),
) -> Response:
    def run() -> str:
        _own(request, order_id, payment_id)
        value = _amount(amount)
        try:
            p = payments.capture_payment(
                request.app.state.db,
                payment_id,
                value,
                actor=user.actor,
                idempotency_key=_key(form_key, f"capture:{payment_id}"),
                final=bool(final),
            )
        except DomainError as exc:
            raise FormProblem(_explain(exc)) from None
        return f"Captured {_money(value, p['currency'])} of payment #{payment_id}; {p['amount_captured']} in all."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/payments/{payment_id:int}/void")
def void(
    request: Request,
    order_id: int,
    payment_id: int,
    form_key: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.PAYMENTS_MANAGE)),
) -> Response:
    def run() -> str:
        _own(request, order_id, payment_id)
        try:
            payments.void_payment(
                request.app.state.db,
                payment_id,
                actor=user.actor,
                idempotency_key=_key(form_key, f"void:{payment_id}"),
            )
        except DomainError as exc:
            raise FormProblem(_explain(exc)) from None
        return f"Payment #{payment_id} voided: the authorisation is released."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/payments/{payment_id:int}/received")
def received(
    request: Request,
    order_id: int,
    payment_id: int,
    user: CurrentUser = Depends(permitted(Permission.PAYMENTS_MANAGE)),
) -> Response:
    def run() -> str:
        _own(request, order_id, payment_id)
        try:
            p = payments.mark_received(request.app.state.db, payment_id, actor=user.actor)
        except DomainError as exc:
            raise FormProblem(_explain(exc)) from None
        return f"Payment #{payment_id} received: {_money(p['amount_captured'], p['currency'])}."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/refunds")
def appeasement(
    request: Request,
    order_id: int,
    amount: str = Form(""),
    reason: str = Form(""),
    form_key: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.REFUNDS_ISSUE)),
) -> Response:
    def run() -> str:
        value = _amount(amount)
        why = _required(reason, "Reason for the refund")
        try:
            r = payments.refund(
                request.app.state.db,
                order_id,
                value,
                reason=why,
                kind="appeasement",
                actor=user.actor,
                idempotency_key=_key(form_key, "refund"),
            )
        except DomainError as exc:
            raise FormProblem(_explain(exc)) from None
        if r["status"] == "succeeded":
            return f"Refunded {_money(r['amount'], r['currency'])} to the customer."
        if r["status"] == "pending":
            return (
                f"Refund of {_money(r['amount'], r['currency'])} recorded; the payment provider has not answered "
                "yet, the worker will retry it."
            )
        raise FormProblem(
            f"The provider refused the refund of {_money(r['amount'], r['currency'])}; the payment is flagged for "
            "review and the amount can be refunded again."
        )

    return _act(order_id, run)


def _own(request: Request, order_id: int, payment_id: int) -> None:
    """A payment is acted on from its own order's page only."""
    try:
        p = payments.get_payment(request.app.state.db, payment_id)
    except DomainError:
        raise FormProblem(f"There is no payment #{payment_id} on this order.") from None
    if p["order_id"] != order_id:
        raise FormProblem(f"There is no payment #{payment_id} on this order.")


@router.get("/payments/review", response_class=HTMLResponse)
def review_page(request: Request, user: CurrentUser = Depends(permitted(Permission.PAYMENTS_MANAGE))) -> Any:
    queue = payments.review_queue(request.app.state.db)
    disputes = sum(1 for p in queue if (p["review_reason"] or "").startswith("disputed"))
    return page(
        request,
        "payments/review.html",
        {"queue": queue, "disputes": disputes, "actor_label": actor_label},
        user=user,
        title="Payment review",
    )


@router.post("/payments/{payment_id:int}/review")
def clear_review(
    request: Request,
    payment_id: int,
    note: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.PAYMENTS_MANAGE)),
) -> Response:
    try:
        why = _required(note, "What was done")
        payments.clear_review(request.app.state.db, payment_id, note=why, actor=user.actor)
    except FormProblem as exc:
        return redirect("/payments/review", str(exc), "error")
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        return redirect("/payments/review", exc.message, "error")
    return redirect("/payments/review", f"Payment #{payment_id} taken off the review queue.")
