"""Payment providers' webhooks: Stripe's signed events (docs/payments-stripe.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openoms.adapters.payments.stripe import (
    STRIPE_SIGNATURE_HEADER,
    StripeEventError,
    StripeSignatureError,
    parse_stripe_event,
    verify_stripe_webhook,
)
from openoms.api.deps import DB
from openoms.api.errors import error_body
from openoms.api.schemas import error_responses
from openoms.services import payments
from openoms.services.common import utcnow

router = APIRouter(prefix="/api/v1/payments/webhooks", tags=["payments"])

BAD_SIGNATURE = "bad_signature"
BAD_EVENT = "bad_event"


class WebhookResult(BaseModel):
    event_id: str = Field(description="Stripe's event id (`evt_...`).")
    duplicate: bool = Field(description="True when this event was delivered before: nothing was changed.")
    applied: bool = Field(description="True when a payment was found by the event's reference and updated.")
    kind: str = Field(description="What the event means for the OMS (authorized, captured, disputed, ... other).")
    outcome: str | None = Field(default=None, description="What was done, in words.")
    payment_id: int | None = None
    order_id: int | None = None


def _refuse(code: str, field: str, reason: str, message: str) -> JSONResponse:
    body = error_body(code, message, [{"field": field, "reason": reason}], reason=reason)
    return JSONResponse(body, status_code=400)


@router.post(
    "/stripe",
    response_model=WebhookResult,
    summary="Receive a Stripe webhook event",
    responses=error_responses(400, 413),
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
        "parameters": [
            {
                "name": STRIPE_SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' under the endpoint secret>",
            }
        ],
    },
)
async def stripe_webhook(request: Request, db: DB) -> Any:
    """An event from Stripe, exactly as Stripe sends it. No API key: the `Stripe-Signature`
    header, checked against `OPENOMS_STRIPE_WEBHOOK_SECRETS`, is the authentication. A missing,
    malformed, wrong or stale signature answers 400 with the `reason` and records nothing.
    A signed event is applied once to the payment whose Stripe reference it names; a redelivered
    event answers `duplicate: true` and changes nothing."""
    raw = await request.body()
    settings = request.app.state.settings
    secrets = settings.stripe_webhook_secret_list
    if not secrets:
        return _refuse(
            BAD_SIGNATURE,
            STRIPE_SIGNATURE_HEADER,
            "not_configured",
            "the Stripe webhook is not configured: set OPENOMS_STRIPE_WEBHOOK_SECRETS",
        )
    try:
        verify_stripe_webhook(
            raw,
            request.headers.get(STRIPE_SIGNATURE_HEADER),
            secrets,
            utcnow(),
            settings.stripe_webhook_tolerance_seconds,
        )
    except StripeSignatureError as exc:
        return _refuse(
            BAD_SIGNATURE, STRIPE_SIGNATURE_HEADER, exc.reason, f"Stripe signature refused ({exc.reason}): {exc.detail}"
        )
    if b"\x00" in raw or b"\\u0000" in raw.lower():  # PostgreSQL text cannot hold NUL
        return _refuse(BAD_EVENT, "body", "contains a NUL character", "body: contains a NUL character")
    try:
        event = parse_stripe_event(raw)
    except StripeEventError as exc:
        return _refuse(BAD_EVENT, "body", str(exc), f"not a Stripe event: {exc}")
    result = await run_in_threadpool(payments.apply_gateway_event, db, "stripe", event)
    return {
        "event_id": event.id,
        "kind": event.kind.value,
        "duplicate": bool(result.get("duplicate")),
        "applied": bool(result.get("applied")),
        "outcome": result.get("outcome"),
        "payment_id": result.get("payment_id"),
        "order_id": result.get("order_id"),
    }
