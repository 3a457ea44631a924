"""The payment gateway interface every provider implements.

Services speak to a provider only through this interface, so an order's money is handled the
same way whether a card was authorised at Stripe, a cheque was marked received by a user, or the
deterministic test provider answered. Amounts cross the interface as ``Decimal`` in the order's
currency; each provider converts to its own representation (Stripe: integer minor units).

Two kinds of failure are kept apart on purpose:

* the provider answered and said no (declined card, refund refused): a ``GatewayResult`` with
  ``succeeded`` false, a provider error code and a message for a person; the service records it;
* the provider could not be reached or answered garbage: ``GatewayUnavailable`` is raised; the
  service leaves its own state untouched so the same call, with the same idempotency key, can be
  tried again without charging twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class GatewayStatus(StrEnum):
    SUCCEEDED = "succeeded"  # done: authorised, captured, voided or refunded as asked
    PENDING = "pending"  # accepted, outcome arrives later (a webhook, a bank transfer clearing)
    REQUIRES_ACTION = "requires_action"  # the customer must act (3-D Secure); not authorised yet
    FAILED = "failed"  # the provider said no


class GatewayUnavailable(Exception):
    """The provider could not be reached or its answer could not be read: retry with the same key."""


@dataclass(frozen=True)
class GatewayResult:
    status: GatewayStatus
    #: The provider's id for what was created or changed (PaymentIntent, refund, receipt number).
    reference: str | None
    amount: Decimal
    currency: str
    error_code: str | None = None
    message: str | None = None
    #: The provider's answer as received, kept for the payment's history (never card numbers).
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == GatewayStatus.SUCCEEDED


@dataclass(frozen=True)
class AuthorizeRequest:
    amount: Decimal
    currency: str
    #: Same key, same answer: a retried authorisation never places a second hold.
    idempotency_key: str
    #: What the channel handed over to charge: a provider token or payment-method id
    #: (``pm_...``), or for the manual provider the method's name (``cash``, ``cheque``, ...).
    payment_method: str
    order_reference: str
    customer_email: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


class GatewayEventKind(StrEnum):
    """What a provider's notification means for the OMS, whatever the provider calls it."""

    AUTHORIZED = "authorized"  # funds held (or, for a pending method, now confirmed)
    AUTHORIZATION_FAILED = "authorization_failed"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"
    VOIDED = "voided"  # authorisation cancelled or expired at the provider
    DISPUTED = "disputed"  # a chargeback opened: flag for review
    DISPUTE_CLOSED = "dispute_closed"
    OTHER = "other"  # recorded, nothing to do


@dataclass(frozen=True)
class GatewayEvent:
    """A provider's asynchronous notification, verified and reduced to what the OMS acts on."""

    id: str  # the provider's event id, for de-duplication
    type: str  # the provider's event type, e.g. ``payment_intent.succeeded``
    kind: GatewayEventKind
    #: The payment's reference at the provider (the PaymentIntent id for Stripe).
    reference: str | None
    amount: Decimal | None
    currency: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)


class WebhookSignatureError(Exception):
    """A webhook whose signature is missing, malformed, stale or wrong: refuse it, change nothing."""


@runtime_checkable
class PaymentGateway(Protocol):
    """authorise → capture (once or in parts) → refund (once or in parts); void frees an
    uncaptured authorisation. Every call carries an idempotency key the provider honours."""

    #: The provider's name as stored on payments (``manual``, ``test``, ``stripe``).
    name: str

    def authorize(self, request: AuthorizeRequest) -> GatewayResult: ...

    def capture(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, final: bool = False
    ) -> GatewayResult:
        """Capture ``amount`` of the authorisation ``reference``; ``final`` releases the rest."""
        ...

    def void(self, reference: str, *, idempotency_key: str) -> GatewayResult: ...

    def refund(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, reason: str | None = None
    ) -> GatewayResult:
        """Refund ``amount`` of what was captured under ``reference``."""
        ...
