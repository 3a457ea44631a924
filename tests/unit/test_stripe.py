"""The Stripe provider's pure parts: amounts in minor units, webhook signatures, and events
parsed from Stripe's recorded fixtures (tests/fakes/samples)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from openoms.adapters.payments.base import GatewayEventKind, WebhookSignatureError
from openoms.adapters.payments.stripe import (
    StripeEventError,
    StripeSignatureError,
    from_minor_units,
    parse_stripe_event,
    scrub,
    sign_stripe_webhook,
    stripe_signature,
    to_minor_units,
    verify_stripe_webhook,
)
from openoms.domain.errors import DomainError
from tests.fakes.stripe_server import SAMPLES, sample

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
T = int(NOW.timestamp())
SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{}}}'


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("10.99", "USD", 1099),
        ("10.99", "usd", 1099),
        ("0.01", "EUR", 1),
        ("1", "EUR", 100),
        ("500", "JPY", 500),
        ("12345", "KRW", 12345),
        ("5.120", "KWD", 5120),
        ("5.12", "KWD", 5120),
        ("0.010", "BHD", 10),
        ("5", "ISK", 500),
        ("100000", "UGX", 100000),
    ],
)
def test_to_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "why"),
    [
        ("10.999", "USD", "more decimals than USD"),
        ("500.5", "JPY", "more decimals than JPY"),
        ("5.124", "KWD", "third decimal is 0"),
        ("0", "USD", "greater than zero"),
        ("-1.00", "USD", "greater than zero"),
        ("5.5", "ISK", "decimals than ISK"),
        ("NaN", "USD", "finite"),
    ],
)
def test_to_minor_units_refuses_what_stripe_cannot_charge(amount: str, currency: str, why: str) -> None:
    with pytest.raises(DomainError) as caught:
        to_minor_units(Decimal(amount), currency)
    assert caught.value.errors[0].field == "amount"
    assert why in caught.value.message


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [(1099, "usd", "10.99"), (500, "JPY", "500"), (5120, "KWD", "5.120"), (500, "ISK", "5"), (1, "EUR", "0.01")],
)
def test_from_minor_units(minor: int, currency: str, amount: str) -> None:
    value = from_minor_units(minor, currency)
    assert value == Decimal(amount)
    assert str(value) == amount


def test_round_trip_over_many_amounts() -> None:
    for cents in range(1, 2000, 7):
        assert to_minor_units(from_minor_units(cents, "USD"), "USD") == cents
        assert to_minor_units(from_minor_units(cents * 10, "KWD"), "KWD") == cents * 10
        assert to_minor_units(from_minor_units(cents, "JPY"), "JPY") == cents


def test_scrub_removes_client_secret_at_any_depth() -> None:
    intent = sample("stripe_payment_intent.json")
    wrapped = {"error": {"payment_intent": intent}, "list": [intent]}
    cleaned = scrub(wrapped)
    text = json.dumps(cleaned)
    assert intent["client_secret"] not in text
    assert cleaned["error"]["payment_intent"]["id"] == intent["id"]


# --------------------------------------------------------------------------- signatures


def test_good_signature_is_accepted() -> None:
    header = sign_stripe_webhook(BODY, SECRET, T)
    assert verify_stripe_webhook(BODY, header, [SECRET], NOW) == T


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert stripe_signature(BODY, SECRET, T) == expected
    assert verify_stripe_webhook(BODY, f"t={T},v1={expected}", SECRET, NOW) == T


def _refused(body: bytes, header: str | None, secrets: list[str], now: dt.datetime = NOW, tolerance: int = 300) -> str:
    with pytest.raises(StripeSignatureError) as caught:
        verify_stripe_webhook(body, header, secrets, now, tolerance)
    assert isinstance(caught.value, WebhookSignatureError)
    return caught.value.reason


def test_wrong_secret_is_refused() -> None:
    assert _refused(BODY, sign_stripe_webhook(BODY, "whsec_other", T), [SECRET]) == "mismatch"


def test_tampered_body_is_refused() -> None:
    header = sign_stripe_webhook(BODY, SECRET, T)
    assert _refused(BODY.replace(b"evt_1", b"evt_2"), header, [SECRET]) == "mismatch"


def test_timestamp_is_part_of_the_signature() -> None:
    header = sign_stripe_webhook(BODY, SECRET, T).replace(f"t={T}", f"t={T + 1}")
    assert _refused(BODY, header, [SECRET]) == "mismatch"


def test_stale_and_future_timestamps_are_refused() -> None:
    old = sign_stripe_webhook(BODY, SECRET, T - 301)
    assert _refused(BODY, old, [SECRET]) == "stale_timestamp"
    assert verify_stripe_webhook(BODY, sign_stripe_webhook(BODY, SECRET, T - 300), [SECRET], NOW) == T - 300
    ahead = sign_stripe_webhook(BODY, SECRET, T + 301)
    assert _refused(BODY, ahead, [SECRET]) == "future_timestamp"
    # a wider tolerance from settings accepts it
    assert verify_stripe_webhook(BODY, old, [SECRET], NOW, 600) == T - 301


def test_any_of_several_v1_values_may_match() -> None:
    good = stripe_signature(BODY, SECRET, T)
    header = f"t={T},v1={'0' * 64},v1={good},v0={'1' * 64}"
    assert verify_stripe_webhook(BODY, header, [SECRET], NOW) == T


def test_rotation_accepts_old_and_new_secret() -> None:
    assert verify_stripe_webhook(BODY, sign_stripe_webhook(BODY, OLD_SECRET, T), [SECRET, OLD_SECRET], NOW) == T
    assert verify_stripe_webhook(BODY, sign_stripe_webhook(BODY, SECRET, T), [SECRET, OLD_SECRET], NOW) == T
    both = sign_stripe_webhook(BODY, [SECRET, OLD_SECRET], T)
    assert verify_stripe_webhook(BODY, both, [SECRET], NOW) == T
    assert _refused(BODY, sign_stripe_webhook(BODY, OLD_SECRET, T), [SECRET]) == "mismatch"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_header"),
        ("", "missing_header"),
        ("   ", "missing_header"),
        ("garbage", "malformed_header"),
        (f"v1={'a' * 64}", "malformed_header"),  # no timestamp
        (f"t={T}", "malformed_header"),  # no v1
        (f"t={T},v0={'a' * 64}", "malformed_header"),  # only the test-mode scheme
        (f"t=yesterday,v1={'a' * 64}", "malformed_header"),
        (f"t={T},t={T},v1={'a' * 64}", "malformed_header"),
        (f"t={T},v1=abc", "malformed_header"),
        (f"t={T}," + ",".join([f"v1={'a' * 64}"] * 9), "malformed_header"),
    ],
)
def test_malformed_headers_say_why(header: str | None, reason: str) -> None:
    assert _refused(BODY, header, [SECRET]) == reason


def test_no_secret_configured_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        verify_stripe_webhook(BODY, sign_stripe_webhook(BODY, SECRET, T), [], NOW)
    with pytest.raises(ValueError):
        verify_stripe_webhook(BODY, sign_stripe_webhook(BODY, SECRET, T), [SECRET], NOW.replace(tzinfo=None))


# --------------------------------------------------------------------------- events


def _event(event_type: str, obj: dict[str, Any], event_id: str = "evt_3Fake1") -> dict[str, Any]:
    """An event envelope as Stripe sends it, around a recorded fixture object."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": T,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def _intent(**changes: Any) -> dict[str, Any]:
    intent = sample("stripe_payment_intent.json")
    intent.update(capture_method="manual", **changes)
    return intent


def test_legacy_charge_refunded_sample() -> None:
    raw = (SAMPLES / "stripe_charge_refunded_event_legacy.json").read_bytes()
    event = parse_stripe_event(raw)
    assert event.id == "evt_00000000000000"
    assert event.type == "charge.refunded"
    assert event.kind == GatewayEventKind.REFUNDED
    # a 2012 charge has no payment_intent: the charge id is the reference; refunded: true means all of it
    assert event.reference == "ch_00000000000000"
    assert event.amount == Decimal("10.00")
    assert event.currency == "USD"


def test_modern_charge_refunded_uses_payment_intent_and_amount_refunded() -> None:
    charge = sample("stripe_charge.json")
    charge.update(payment_intent="pi_3Abc", refunded=False, amount_refunded=40, amount_captured=100, captured=True)
    event = parse_stripe_event(json.dumps(_event("charge.refunded", charge)).encode())
    assert (event.kind, event.reference, event.amount, event.currency) == (
        GatewayEventKind.REFUNDED,
        "pi_3Abc",
        Decimal("0.40"),
        "USD",
    )


def test_charge_captured() -> None:
    charge = sample("stripe_charge.json")
    charge.update(payment_intent="pi_3Abc", captured=True, amount_captured=100)
    event = parse_stripe_event(_event("charge.captured", charge))
    assert (event.kind, event.reference, event.amount) == (GatewayEventKind.CAPTURED, "pi_3Abc", Decimal("1.00"))


def test_payment_intent_events() -> None:
    pid = "pi_1MoS6fLgUG5tbmjca6AdBPsl"
    held = _intent(status="requires_capture", amount_capturable=1099)
    event = parse_stripe_event(_event("payment_intent.amount_capturable_updated", held))
    assert (event.kind, event.reference, event.amount) == (GatewayEventKind.AUTHORIZED, pid, Decimal("10.99"))

    # succeeded on a manual intent means captured: look at the object, not only the type
    captured = _intent(status="succeeded", amount_received=1099)
    event = parse_stripe_event(_event("payment_intent.succeeded", captured))
    assert (event.kind, event.amount) == (GatewayEventKind.CAPTURED, Decimal("10.99"))

    failed = _intent(
        status="requires_payment_method",
        last_payment_error={"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                            "message": "Your card was declined."},
    )  # fmt: skip
    event = parse_stripe_event(_event("payment_intent.payment_failed", failed))
    assert (event.kind, event.amount) == (GatewayEventKind.AUTHORIZATION_FAILED, Decimal("10.99"))
    assert event.raw["message"] == "Your card was declined."  # what the timeline shows

    canceled = _intent(status="canceled", cancellation_reason="abandoned")
    event = parse_stripe_event(_event("payment_intent.canceled", canceled))
    assert (event.kind, event.amount) == (GatewayEventKind.VOIDED, Decimal("10.99"))

    # and the client_secret never reaches the payment's history
    assert "client_secret" not in json.dumps(event.raw).replace('"client_secret": "[removed]"', "")


def test_jpy_event_amount() -> None:
    held = _intent(status="requires_capture", amount=5000, amount_capturable=5000, currency="jpy")
    event = parse_stripe_event(_event("payment_intent.amount_capturable_updated", held))
    assert (event.amount, event.currency) == (Decimal("5000"), "JPY")


@pytest.mark.parametrize("event_type", ["refund.updated", "charge.refund.updated", "refund.failed"])
def test_failed_refund(event_type: str) -> None:
    refund = sample("stripe_refund.json")
    refund.update(payment_intent="pi_3Abc", status="failed", failure_reason="expired_or_canceled_card")
    event = parse_stripe_event(_event(event_type, refund))
    assert (event.kind, event.reference, event.amount) == (GatewayEventKind.REFUND_FAILED, "pi_3Abc", Decimal("1.00"))


def test_succeeded_refund_update_is_other() -> None:
    refund = sample("stripe_refund.json")
    event = parse_stripe_event(_event("refund.updated", refund))
    assert event.kind == GatewayEventKind.OTHER
    assert event.reference == "ch_1MoS30LgUG5tbmjcjfsQqpHI"  # no payment_intent on the fixture: its charge


def test_disputes() -> None:
    dispute = {
        "id": "dp_3Fake",
        "object": "dispute",
        "amount": 100,
        "charge": "ch_1MoS30LgUG5tbmjcjfsQqpHI",
        "currency": "usd",
        "payment_intent": "pi_3Abc",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    event = parse_stripe_event(_event("charge.dispute.created", dispute))
    assert (event.kind, event.reference, event.amount) == (GatewayEventKind.DISPUTED, "pi_3Abc", Decimal("1.00"))
    closed = parse_stripe_event(_event("charge.dispute.closed", {**dispute, "status": "won"}))
    assert closed.kind == GatewayEventKind.DISPUTE_CLOSED
    assert closed.raw["status"] == "won"
    assert event.raw["reason"] == "fraudulent"


def test_unknown_types_are_other() -> None:
    event = parse_stripe_event(_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert event.kind == GatewayEventKind.OTHER
    assert event.amount is None


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"type": "charge.refunded"}', b'{"id": "evt_1", "type": "x", "data": {}}', b"\xff"],
)
def test_bodies_that_are_not_events(body: bytes) -> None:
    with pytest.raises(StripeEventError):
        parse_stripe_event(body)


def test_parse_does_not_change_its_input() -> None:
    envelope = _event("payment_intent.canceled", _intent(status="canceled"))
    before = copy.deepcopy(envelope)
    parse_stripe_event(envelope)
    assert envelope == before
