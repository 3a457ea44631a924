"""The manual (offline) provider: cash, cheque, bank transfer or another method a person records.

No money moves through OpenOMS: a user says it was received, or paid out. So every call
succeeds, except an *expected* payment (``AuthorizeRequest.metadata["expected"] == "true"``),
which stays pending until a user marks it received (``services.payments.mark_received``).
References are the user's (a cheque number) or derived from the idempotency key, so a retried
call gives the same answer.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from openoms.adapters.payments.base import AuthorizeRequest, GatewayResult, GatewayStatus
from openoms.config import Settings

METHODS = ("cash", "cheque", "bank_transfer", "other")


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:20]}"


class ManualGateway:
    name = "manual"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def authorize(self, request: AuthorizeRequest) -> GatewayResult:
        expected = request.metadata.get("expected") == "true"
        return GatewayResult(
            GatewayStatus.PENDING if expected else GatewayStatus.SUCCEEDED,
            request.metadata.get("reference") or _ref("manual", request.idempotency_key),
            request.amount,
            request.currency,
            message="expected, not yet received" if expected else f"{request.payment_method} received",
            raw={"method": request.payment_method, "expected": expected},
        )

    def capture(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, final: bool = False
    ) -> GatewayResult:
        return GatewayResult(GatewayStatus.SUCCEEDED, reference, amount, currency, raw={"final": final})

    def void(self, reference: str, *, idempotency_key: str) -> GatewayResult:
        return GatewayResult(GatewayStatus.SUCCEEDED, reference, Decimal(0), "", message="cancelled")

    def refund(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, reason: str | None = None
    ) -> GatewayResult:
        return GatewayResult(
            GatewayStatus.SUCCEEDED,
            _ref("manual_refund", idempotency_key),
            amount,
            currency,
            message="paid out by hand",
            raw={"reason": reason},
        )
