"""The Stripe provider: card payments through PaymentIntents, and Stripe's signed webhooks.

Written against Stripe's documented REST API (docs/payments-stripe.md,
docs/adr/0027-stripe-provider.md):

* authorise: ``POST /v1/payment_intents`` with ``capture_method=manual`` and ``confirm=true``;
  multicapture is asked for (``request_multicapture=if_available``) so an order shipped in parts
  can be captured in parts;
* capture: ``POST /v1/payment_intents/{id}/capture`` with ``amount_to_capture``; a non-final
  part sends ``final_capture=false`` so the rest stays authorised, the final one releases it;
* void: ``POST /v1/payment_intents/{id}/cancel``;
* refund: ``POST /v1/refunds`` with ``payment_intent`` and ``amount``.

Every call is form-encoded, carries the caller's key as ``Idempotency-Key`` (Stripe answers a
retry with the first answer, so a timeout followed by a retry never charges twice) and, when set,
a ``Stripe-Version``. Stripe saying no (402 card errors, 400 invalid requests, 404 unknown
objects) is a ``FAILED`` result; not reaching Stripe, a timeout, 429, 5xx, 409 (a concurrent or
conflicting request under the same key), a refused API key, or an answer that is not Stripe JSON
raise ``GatewayUnavailable`` so the service changes nothing and can retry with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx

from openoms.adapters.payments.base import (
    AuthorizeRequest,
    GatewayEvent,
    GatewayEventKind,
    GatewayResult,
    GatewayStatus,
    GatewayUnavailable,
    WebhookSignatureError,
)
from openoms.domain.errors import validation_error
from openoms.domain.money import fits_currency, quantize

if TYPE_CHECKING:
    from openoms.config import Settings

# --------------------------------------------------------------------------- amounts

#: Currencies Stripe takes in whole units (stripe.com/docs/currencies#zero-decimal).
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
#: Three-decimal currencies: Stripe takes thousandths but the last digit must be 0.
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
#: Two-decimal in Stripe's API but charged in whole units only (``amount`` a multiple of 100).
STRIPE_WHOLE_UNITS_TWO_DECIMAL = frozenset({"ISK"})


def stripe_exponent(currency: str) -> int:
    """How many decimal places Stripe's integer ``amount`` carries for ``currency``."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str, *, field: str = "amount") -> int:
    """``amount`` as Stripe's integer in the currency's smallest unit (10.00 USD → 1000, 500 JPY
    → 500, 5.120 KWD → 5120). Refuses (``DomainError`` naming ``field``) what Stripe cannot
    charge exactly: zero or less, more decimals than the currency has, a three-decimal amount
    whose last digit is not 0, a fraction of an ISK. Never rounds: money is not lost silently."""
    code = currency.upper()
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise validation_error(field, "must be a finite decimal amount")
    if amount <= 0:
        raise validation_error(field, "must be greater than zero")
    if not fits_currency(amount, code):
        raise validation_error(field, f"{amount} has more decimals than {code} allows")
    scaled = amount.scaleb(stripe_exponent(code))
    if scaled != scaled.to_integral_value():
        raise validation_error(field, f"Stripe charges {code} in whole units; {amount} has a fraction")
    minor = int(scaled)
    if code in STRIPE_THREE_DECIMAL and minor % 10:
        raise validation_error(field, f"Stripe needs {code} amounts whose third decimal is 0; {amount} is not")
    if code in STRIPE_WHOLE_UNITS_TWO_DECIMAL and minor % 100:
        raise validation_error(field, f"Stripe charges {code} in whole units; {amount} has a fraction")
    return minor


def from_minor_units(minor: int, currency: str) -> Decimal:
    """Stripe's integer amount back as a ``Decimal`` in the currency (1099 USD → 10.99)."""
    code = currency.upper()
    return quantize(Decimal(int(minor)).scaleb(-stripe_exponent(code)), code)


# --------------------------------------------------------------------------- answers

_SECRET_FIELDS = frozenset({"client_secret"})
_REFERENCE = re.compile(r"[A-Za-z0-9_]{1,255}")
MAX_IDEMPOTENCY_KEY = 255
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


def scrub(value: Any) -> Any:
    """A copy of a Stripe object with secrets taken out (a PaymentIntent's ``client_secret``
    lets a browser confirm the payment: it never goes into the payment's history)."""
    if isinstance(value, Mapping):
        return {k: ("[removed]" if k in _SECRET_FIELDS else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested mappings as ``metadata[key]``, booleans as true/false,
    ``None`` left out."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            out.extend(_form(value, name))
        elif isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        else:
            out.append((name, str(value)))
    return out


class _Refused:
    """Stripe answered 4xx with an error object: the provider said no."""

    def __init__(self, status: int, error: Mapping[str, Any]) -> None:
        self.status = status
        self.error = error

    @property
    def code(self) -> str:
        return str(self.error.get("code") or self.error.get("type") or f"http_{self.status}")

    @property
    def message(self) -> str:
        message = str(self.error.get("message") or "Stripe refused the request")
        decline = self.error.get("decline_code")
        return f"{message} (decline code: {decline})" if decline else message


@lru_cache(maxsize=8)
def _shared_client(base_url: str, timeout: float, api_version: str) -> httpx.Client:
    """One pooled client per Stripe configuration, shared by every gateway instance (the
    registry makes a gateway per call; httpx clients are thread-safe and keep connections)."""
    headers = {"User-Agent": "OpenOMS"}
    if api_version:
        headers["Stripe-Version"] = api_version
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers)


class StripeGateway:
    """``PaymentGateway`` over Stripe's REST API (a pooled ``httpx.Client``, timeouts from settings)."""

    name = "stripe"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        self._secret_key = settings.stripe_secret_key
        self._key_prefix = settings.stripe_idempotency_prefix
        self._timeout = float(settings.stripe_timeout_seconds)
        base_url = settings.stripe_api_base.rstrip("/")
        if transport is None:
            self._client = _shared_client(base_url, self._timeout, settings.stripe_api_version)
            self._owned = False
        else:  # tests: a client of its own over the given transport
            headers = {"Stripe-Version": settings.stripe_api_version} if settings.stripe_api_version else {}
            self._client = httpx.Client(base_url=base_url, timeout=self._timeout, headers=headers, transport=transport)
            self._owned = True

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def __enter__(self) -> StripeGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the protocol

    def authorize(self, request: AuthorizeRequest) -> GatewayResult:
        currency = request.currency.upper()
        minor = to_minor_units(request.amount, currency)
        metadata = {**dict(request.metadata), "order_reference": request.order_reference}
        params: dict[str, Any] = {
            "amount": minor,
            "currency": currency.lower(),
            "payment_method": request.payment_method,
            "confirm": True,
            "capture_method": "manual",
            # an OMS has no browser to send the customer to: only methods without a redirect
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            # an order shipped in parts is captured in parts where the card allows it
            "payment_method_options": {"card": {"request_multicapture": "if_available"}},
            "description": request.description,
            "receipt_email": request.customer_email,
            "metadata": metadata,
        }
        answer = self._post("/v1/payment_intents", params, request.idempotency_key)
        if isinstance(answer, _Refused):
            intent = answer.error.get("payment_intent")
            reference = intent.get("id") if isinstance(intent, Mapping) else None
            return self._failed(answer, reference, request.amount, currency)
        return self._intent_result(answer, currency)

    def capture(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, final: bool = False
    ) -> GatewayResult:
        currency = currency.upper()
        if final and amount == 0:
            # Nothing more to take: release what is still held. Stripe does that by cancelling a
            # requires_capture PaymentIntent (earlier partial captures stay captured).
            released = self.void(reference, idempotency_key=idempotency_key)
            return GatewayResult(
                released.status, released.reference, Decimal(0), currency, released.error_code, released.message,
                released.raw,
            )  # fmt: skip
        params: dict[str, Any] = {"amount_to_capture": to_minor_units(amount, currency)}
        if not final:
            params["final_capture"] = False  # multicapture: keep the rest authorised
        path = f"/v1/payment_intents/{self._reference(reference)}/capture"
        answer = self._post(path, params, idempotency_key)
        if isinstance(answer, _Refused):
            return self._failed(answer, reference, amount, currency)
        status = answer.get("status")
        if status not in ("succeeded", "requires_capture"):
            raise GatewayUnavailable(f"Stripe answered a capture with PaymentIntent status {status!r}")
        return GatewayResult(
            GatewayStatus.SUCCEEDED, str(answer.get("id") or reference), amount, currency, raw=scrub(answer)
        )

    def void(self, reference: str, *, idempotency_key: str) -> GatewayResult:
        answer = self._post(f"/v1/payment_intents/{self._reference(reference)}/cancel", {}, idempotency_key)
        if isinstance(answer, _Refused):
            intent = answer.error.get("payment_intent")
            currency = str(intent.get("currency", "")).upper() if isinstance(intent, Mapping) else ""
            return self._failed(answer, reference, Decimal(0), currency)
        currency = self._currency(answer)
        if answer.get("status") != "canceled":
            raise GatewayUnavailable(f"Stripe answered a cancel with PaymentIntent status {answer.get('status')!r}")
        released = self._int(answer, "amount") - self._int(answer, "amount_received")
        return GatewayResult(
            GatewayStatus.SUCCEEDED,
            str(answer.get("id") or reference),
            from_minor_units(max(released, 0), currency),
            currency,
            raw=scrub(answer),
        )

    def refund(
        self, reference: str, amount: Decimal, currency: str, *, idempotency_key: str, reason: str | None = None
    ) -> GatewayResult:
        currency = currency.upper()
        params: dict[str, Any] = {
            "payment_intent": self._reference(reference),
            "amount": to_minor_units(amount, currency),
            # Stripe knows three reasons; ours (a return, an appeasement) goes in metadata
            "reason": reason if reason in _REFUND_REASONS else None,
            "metadata": {"reason": reason[:500]} if reason else None,
        }
        answer = self._post("/v1/refunds", params, idempotency_key)
        if isinstance(answer, _Refused):
            return self._failed(answer, None, amount, currency)
        status = answer.get("status")
        refund_id = str(answer.get("id") or "") or None
        refunded = from_minor_units(self._int(answer, "amount"), currency)
        if status == "succeeded":
            return GatewayResult(GatewayStatus.SUCCEEDED, refund_id, refunded, currency, raw=scrub(answer))
        if status in ("pending", "requires_action"):
            return GatewayResult(GatewayStatus.PENDING, refund_id, refunded, currency, raw=scrub(answer))
        if status in ("failed", "canceled"):
            code = str(answer.get("failure_reason") or status)
            return GatewayResult(
                GatewayStatus.FAILED,
                refund_id,
                refunded,
                currency,
                code,
                f"Stripe refund {status}: {code}",
                scrub(answer),
            )
        raise GatewayUnavailable(f"Stripe answered a refund with status {status!r}")

    # -- plumbing

    def _post(self, path: str, params: Mapping[str, Any], idempotency_key: str) -> dict[str, Any] | _Refused:
        if not self._secret_key:
            raise GatewayUnavailable("Stripe is not configured: set OPENOMS_STRIPE_SECRET_KEY")
        if not idempotency_key:
            raise ValueError("every Stripe call needs an idempotency key")
        headers = {
            "Authorization": f"Bearer {self._secret_key}",
            "Idempotency-Key": self._idempotency_key(idempotency_key),
        }
        try:
            response = self._client.post(path, data=dict(_form(params)), headers=headers)
        except httpx.TimeoutException as exc:
            raise GatewayUnavailable(
                f"Stripe did not answer within {self._timeout:g} s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"Stripe could not be reached ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise GatewayUnavailable(f"Stripe answered HTTP {status}; try again with the same idempotency key")
        try:
            body = response.json()
        except ValueError:
            raise GatewayUnavailable(f"Stripe's answer (HTTP {status}) is not JSON") from None
        if not isinstance(body, dict):
            raise GatewayUnavailable(f"Stripe's answer (HTTP {status}) is not a JSON object")
        if 200 <= status < 300:
            return body
        error = body.get("error")
        if not isinstance(error, dict):
            raise GatewayUnavailable(f"Stripe answered HTTP {status} without an error object")
        message = str(error.get("message") or "")
        if status in (401, 403):
            raise GatewayUnavailable(f"Stripe refused the API key (HTTP {status}): {message}")
        if status == 409:
            # a concurrent request on the same object, or this key used with other parameters
            raise GatewayUnavailable(f"Stripe answered 409 ({error.get('type')}): {message}")
        return _Refused(status, error)

    def _idempotency_key(self, key: str) -> str:
        """The key Stripe sees: the installation's prefix and the caller's key; Stripe takes at
        most 255 characters, so a longer key is sent as its SHA-256 (still one key per call)."""
        full = self._key_prefix + key
        if len(full) <= MAX_IDEMPOTENCY_KEY:
            return full
        return f"{self._key_prefix}sha256:{hashlib.sha256(key.encode()).hexdigest()}"

    @staticmethod
    def _reference(reference: str) -> str:
        if not _REFERENCE.fullmatch(reference or ""):
            raise validation_error("reference", "is not a Stripe object id")
        return reference

    @staticmethod
    def _int(obj: Mapping[str, Any], key: str) -> int:
        value = obj.get(key)
        if value is None:
            return 0
        if not isinstance(value, int) or isinstance(value, bool):
            raise GatewayUnavailable(f"Stripe's {key} is not an integer")
        return value

    @staticmethod
    def _currency(obj: Mapping[str, Any]) -> str:
        currency = obj.get("currency")
        if not isinstance(currency, str) or len(currency) != 3:
            raise GatewayUnavailable("Stripe's answer has no currency")
        return currency.upper()

    @staticmethod
    def _failed(answer: _Refused, reference: str | None, amount: Decimal, currency: str) -> GatewayResult:
        return GatewayResult(
            GatewayStatus.FAILED,
            reference,
            amount,
            currency,
            error_code=answer.code,
            message=answer.message,
            raw=scrub({"error": answer.error, "http_status": answer.status}),
        )

    def _intent_result(self, intent: Mapping[str, Any], currency: str) -> GatewayResult:
        status = intent.get("status")
        reference = str(intent.get("id") or "") or None
        if reference is None:
            raise GatewayUnavailable("Stripe's PaymentIntent has no id")
        cur = self._currency(intent) if intent.get("currency") else currency
        raw = scrub(intent)

        def amount(key: str) -> Decimal:
            return from_minor_units(self._int(intent, key), cur)

        if status == "requires_capture":
            return GatewayResult(GatewayStatus.SUCCEEDED, reference, amount("amount_capturable"), cur, raw=raw)
        if status == "succeeded":  # captured at once (a method without separate capture)
            return GatewayResult(GatewayStatus.SUCCEEDED, reference, amount("amount_received"), cur, raw=raw)
        if status in ("requires_action", "requires_confirmation"):
            return GatewayResult(
                GatewayStatus.REQUIRES_ACTION,
                reference,
                amount("amount"),
                cur,
                error_code="authentication_required",
                message="the customer must authenticate the payment (3-D Secure) before it is authorised",
                raw=raw,
            )
        if status == "processing":
            return GatewayResult(GatewayStatus.PENDING, reference, amount("amount"), cur, raw=raw)
        if status in ("requires_payment_method", "canceled"):
            error = intent.get("last_payment_error")
            if isinstance(error, Mapping):
                refused = _Refused(402, error)
                code, message = refused.code, refused.message
            else:
                code, message = str(status), f"Stripe PaymentIntent is {status}"
            return GatewayResult(GatewayStatus.FAILED, reference, amount("amount"), cur, code, message, raw)
        raise GatewayUnavailable(f"Stripe answered with PaymentIntent status {status!r}")


# --------------------------------------------------------------------------- webhooks

STRIPE_SIGNATURE_HEADER = "Stripe-Signature"
STRIPE_SIGNATURE_TOLERANCE_SECONDS = 300
MAX_SIGNATURES = 8
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class StripeSignatureError(WebhookSignatureError):
    """A refused Stripe webhook; ``reason`` is a short code (missing_header, malformed_header,
    mismatch, stale_timestamp, future_timestamp), the message says it in words."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class StripeEventError(ValueError):
    """A correctly signed body that is not a Stripe event (no id, type or data.object)."""


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``"<t>." + raw body`` under the endpoint secret (what Stripe puts in v1)."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_stripe_webhook(body: bytes, secrets: str | Sequence[str], timestamp: int) -> str:
    """A ``Stripe-Signature`` header value as Stripe sends it (one v1 per secret); for tests."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join([f"t={timestamp}", *(f"v1={stripe_signature(body, k, timestamp)}" for k in keys)])


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not name:
            raise StripeSignatureError("malformed_header", f"{item.strip()[:40]!r} is not a key=value pair")
        value = value.strip()
        if name == "t":
            if timestamp is not None:
                raise StripeSignatureError("malformed_header", "t appears more than once")
            if not _UNIX_SECONDS.fullmatch(value):
                raise StripeSignatureError("malformed_header", "t is not a time in unix seconds")
            timestamp = int(value)
        elif name == "v1":
            if not _HEX_SHA256.fullmatch(value):
                raise StripeSignatureError("malformed_header", "v1 is not 64 hex digits (HMAC-SHA256)")
            signatures.append(value.lower())
        # v0 (Stripe's test-mode scheme) and future schemes are ignored, as Stripe's libraries do
    if timestamp is None:
        raise StripeSignatureError("malformed_header", "no t= timestamp")
    if not signatures:
        raise StripeSignatureError("malformed_header", "no v1= signature")
    if len(signatures) > MAX_SIGNATURES:
        raise StripeSignatureError("malformed_header", f"more than {MAX_SIGNATURES} v1 signatures")
    return timestamp, signatures


def verify_stripe_webhook(
    body: bytes,
    header: str | None,
    secrets: str | Sequence[str],
    now: dt.datetime,
    tolerance: int = STRIPE_SIGNATURE_TOLERANCE_SECONDS,
) -> int:
    """Accept the raw body only if some ``v1`` in ``Stripe-Signature`` is its HMAC under one of
    ``secrets`` (several while an endpoint secret is rolled) and the signed time is within
    ``tolerance`` seconds of ``now``. Returns the signed timestamp; raises
    ``StripeSignatureError`` (a ``WebhookSignatureError``) with the reason otherwise.

    The MAC is checked before the time, so ``stale_timestamp`` is only said of a body Stripe
    really signed: a replay, or a clock problem."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys or any(not k for k in keys):
        raise ValueError("no Stripe webhook secret configured")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if header is None or not header.strip():
        raise StripeSignatureError("missing_header", f"the {STRIPE_SIGNATURE_HEADER} header is missing")
    timestamp, signatures = _parse_header(header)
    matched = False
    for key in keys:
        expected = stripe_signature(body, key, timestamp)
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)  # every pair: timing says nothing
    if not matched:
        raise StripeSignatureError("mismatch", "no v1 signature matches the body with the endpoint secret")
    age = int(now.timestamp()) - timestamp
    if age > tolerance:
        raise StripeSignatureError("stale_timestamp", f"signed {age} s ago; at most {tolerance} s is accepted")
    if -age > tolerance:
        raise StripeSignatureError("future_timestamp", f"signed {-age} s ahead; at most {tolerance} s of skew")
    return timestamp


_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


def _minor(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_stripe_event(payload: bytes | str | Mapping[str, Any]) -> GatewayEvent:
    """A Stripe event reduced to what the OMS acts on. ``reference`` is the PaymentIntent id
    (a charge's, refund's or dispute's ``payment_intent``; for a charge made before
    PaymentIntents, the charge id). Amounts are Decimals in the event's currency:

    * authorized: what is now capturable; captured: the total captured so far;
    * refunded (``charge.refunded``): the charge's total refunded so far, not one refund's;
    * refund_failed: the failed refund's amount; disputed / dispute_closed: the disputed amount.

    Types the OMS does not act on are kind ``OTHER``. ``raw`` is the event's object (the
    PaymentIntent, charge, refund or dispute, without its ``client_secret``): its ``status``,
    ``reason`` and ``last_payment_error`` are what a person reviewing the payment wants."""
    if isinstance(payload, Mapping):
        event: Any = payload
    else:
        try:
            event = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise StripeEventError("the body is not JSON") from None
    if not isinstance(event, Mapping):
        raise StripeEventError("the body is not a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise StripeEventError("a Stripe event needs an id and a type")
    if not isinstance(obj, Mapping):
        raise StripeEventError("a Stripe event needs data.object")
    currency = obj.get("currency")
    currency = currency.upper() if isinstance(currency, str) and len(currency) == 3 else None

    kind = GatewayEventKind.OTHER
    minor: int | None = None
    reference: str | None = None
    object_type = obj.get("object")
    if event_type.startswith("payment_intent."):
        reference = obj.get("id")
        if event_type == "payment_intent.amount_capturable_updated":
            kind, minor = GatewayEventKind.AUTHORIZED, _minor(obj, "amount_capturable")
        elif event_type == "payment_intent.succeeded":
            received = _minor(obj, "amount_received") or 0
            if obj.get("status") == "succeeded" and received > 0:
                kind, minor = GatewayEventKind.CAPTURED, received
            else:
                kind, minor = GatewayEventKind.AUTHORIZED, _minor(obj, "amount_capturable")
        elif event_type == "payment_intent.payment_failed":
            kind, minor = GatewayEventKind.AUTHORIZATION_FAILED, _minor(obj, "amount")
        elif event_type == "payment_intent.canceled":
            released = (_minor(obj, "amount") or 0) - (_minor(obj, "amount_received") or 0)
            kind, minor = GatewayEventKind.VOIDED, max(released, 0)
    elif event_type in _REFUND_EVENTS and object_type in ("refund", None):
        reference = obj.get("payment_intent") or obj.get("charge")
        if obj.get("status") in ("failed", "canceled"):
            kind, minor = GatewayEventKind.REFUND_FAILED, _minor(obj, "amount")
    elif event_type.startswith("charge.dispute."):
        reference = obj.get("payment_intent") or obj.get("charge")
        if event_type == "charge.dispute.created":
            kind, minor = GatewayEventKind.DISPUTED, _minor(obj, "amount")
        elif event_type == "charge.dispute.closed":
            kind, minor = GatewayEventKind.DISPUTE_CLOSED, _minor(obj, "amount")
    elif event_type.startswith("charge."):
        reference = obj.get("payment_intent") or obj.get("id")
        if event_type == "charge.captured":
            kind, minor = GatewayEventKind.CAPTURED, _minor(obj, "amount_captured") or _minor(obj, "amount")
        elif event_type == "charge.refunded":
            refunded = _minor(obj, "amount_refunded")
            if refunded is None and obj.get("refunded") is True:  # pre-2014 charges: fully refunded
                refunded = _minor(obj, "amount")
            kind, minor = GatewayEventKind.REFUNDED, refunded
    amount = from_minor_units(minor, currency) if minor is not None and currency else None
    raw = scrub(dict(obj))
    error = obj.get("last_payment_error")
    if isinstance(error, Mapping) and error.get("message") and "message" not in raw:
        raw["message"] = str(error["message"])  # what the timeline and the review queue show
    return GatewayEvent(
        id=event_id,
        type=event_type,
        kind=kind,
        reference=reference if isinstance(reference, str) and reference else None,
        amount=amount,
        currency=currency,
        raw=raw,
    )
