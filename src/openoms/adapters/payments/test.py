"""The test provider: deterministic outcomes chosen by the payment-method token, for development,
demos and tests. No state is kept: the answer depends only on the inputs (the token is part of
the reference it hands out), so a retry with the same idempotency key, in the same process or
after a restart, gets the same answer.

Tokens (``AuthorizeRequest.payment_method``):

=========================== ================================================================
``test_ok``                 authorised; captures, voids and refunds succeed
``test_decline``            declined (``card_declined``)
``test_insufficient_funds`` declined (``insufficient_funds``)
``test_requires_action``    needs the customer (3-D Secure): ``requires_action``
``test_pending``            accepted, answer later (a webhook): ``pending``
``test_unavailable``        the provider cannot be reached: raises ``GatewayUnavailable``
``test_refund_fails``       authorised and captured; every refund is refused
``test_capture_fails``      authorised; every capture is refused
=========================== ================================================================
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from openoms.adapters.payments.base import AuthorizeRequest, GatewayResult, GatewayStatus, GatewayUnavailable
from openoms.config import Settings

TOKENS = (
    "test_ok",
    "test_decline",
    "test_insufficient_funds",
    "test_requires_action",
    "test_pending",
    "test_unavailable",
    "test_refund_fails",
    "test_capture_fails",
)

_DECLINES = {
    "test_decline": ("card_declined", "Your card was declined."),
    "test_insufficient_funds": ("insufficient_funds", "Your card has insufficient funds."),
}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _token_of(reference: str) -> str:
    """References look like ``tpi_<token>_<digest>``: the token decides later calls."""
    body = reference.removeprefix("tpi_")
    return body.rsplit("_", 1)[0] if "_" in body else body


class TestGateway:
    name = "test"
    __test__ = False  # not a pytest test class

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def authorize(self, request: AuthorizeRequest) -> GatewayResult:
        token = request.payment_method
        if token == "test_unavailable":
            raise GatewayUnavailable("test provider: unavailable (test_unavailable)")
        ref = f"tpi_{token}_{_digest(request.idempotency_key)}"
        raw = {"token": token, "idempotency_key": request.idempotency_key, "amount": str(request.amount)}
        if request.amount <= 0:
            return GatewayResult(
                GatewayStatus.FAILED,
                None,
                request.amount,
                request.currency,
                "invalid_amount",
                "Amount must be positive.",
            )
        if token in _DECLINES:
            code, message = _DECLINES[token]
            return GatewayResult(GatewayStatus.FAILED, ref, request.amount, request.currency, code, message, raw)
        if token == "test_requires_action":
            return GatewayResult(
                GatewayStatus.REQUIRES_ACTION,
                ref,
                request.amount,
                request.currency,
                "authentication_required",
                "The customer must authenticate the payment (3-D Secure).",
                raw,
            )
        if token == "test_pending":
            return GatewayResult(GatewayStatus.PENDING, ref, request.amount, request.currency, raw=raw)
        if token not in TOKENS:
            return GatewayResult(
                GatewayStatus.FAILED,
                None,
                request.amount,
                request.currency,
                "unknown_payment_method",
                f"Unknown test payment method {token!r}; use one of {', '.join(TOKENS)}.",
                raw,
            )
        return GatewayResult(GatewayStatus.SUCCEEDED, ref, request.amount, request.currency, raw=raw)

    def capture(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, final: bool = False
    ) -> GatewayResult:
        raw = {"reference": reference, "idempotency_key": idempotency_key, "final": final}
        if _token_of(reference) == "test_capture_fails":
            return GatewayResult(
                GatewayStatus.FAILED, reference, amount, currency, "capture_refused", "The capture was refused.", raw
            )
        return GatewayResult(GatewayStatus.SUCCEEDED, reference, amount, currency, raw=raw)

    def void(self, reference: str, *, idempotency_key: str) -> GatewayResult:
        return GatewayResult(GatewayStatus.SUCCEEDED, reference, Decimal(0), "", raw={"reference": reference})

    def refund(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, reason: str | None = None
    ) -> GatewayResult:
        ref = f"tre_{_digest(idempotency_key)}"
        raw = {"reference": reference, "idempotency_key": idempotency_key, "amount": str(amount)}
        if _token_of(reference) == "test_refund_fails":
            return GatewayResult(
                GatewayStatus.FAILED, ref, amount, currency, "refund_refused", "The refund was refused.", raw
            )
        return GatewayResult(GatewayStatus.SUCCEEDED, ref, amount, currency, raw=raw)
