"""Webhook rules: event-type patterns, URL checks, the back-off schedule, the signature a
receiver verifies, and secrets encrypted at rest."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.adapters import crypto
from openoms.adapters.carriers.tracking_inbound import SignatureError, verify_webhook_signature
from openoms.config import Settings
from openoms.domain import webhooks as rules
from openoms.domain.webhooks import DeliveryStatus
from openoms.services.webhooks import Claimed, request_body


@pytest.mark.parametrize(
    ("patterns", "event_type", "wanted"),
    [
        (["*"], "order.placed", True),
        (["order.*"], "order.placed", True),
        (["order.*"], "order.hold_placed", True),
        (["order.*"], "orders.placed", False),
        (["order.*"], "shipment.created", False),
        (["shipment.delivered"], "shipment.delivered", True),
        (["shipment.delivered"], "shipment.delivered_late", False),
        (["fulfilment_order.*"], "fulfilment_order.progress", True),
        ([], "order.placed", False),
        (["stock.low", "order.*"], "stock.low", True),
    ],
)
def test_matching(patterns: list[str], event_type: str, wanted: bool) -> None:
    assert rules.matches(patterns, event_type) is wanted


def test_event_type_validation() -> None:
    assert rules.validate_event_types([" Order.* ", "order.*", "stock.low", "*"]) == (["order.*", "stock.low", "*"], [])
    _, errors = rules.validate_event_types(["order.", "order*", "or der", "order.**", ".x", "x" * 65])
    assert [e.field for e in errors] == [f"event_types[{i}]" for i in range(6)]
    _, errors = rules.validate_event_types([])
    assert errors[0].field == "event_types"


def test_every_choice_is_a_valid_pattern() -> None:
    assert rules.validate_event_types(list(rules.EVENT_CHOICES + rules.PREFIX_CHOICES))[1] == []
    assert "notification.sent" not in rules.EVENT_CHOICES and "order.placed" in rules.EVENT_CHOICES


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://erp.example.com/hooks", True),
        ("http://127.0.0.1:8080/in?x=1", True),
        ("http://[::1]:9000/", True),
        ("ftp://example.com/", False),
        ("//example.com/", False),
        ("https://", False),
        ("https://a b.com/", False),
        ("https://user:pw@example.com/", False),
        ("https://example.com:70000/", False),
        ("https://example.com/#frag", False),
        ("", False),
        ("https://example.com/" + "x" * 2000, False),
    ],
)
def test_url_validation(url: str, ok: bool) -> None:
    assert (rules.validate_url(url)[1] == []) is ok


def test_back_off_doubles_from_a_minute_to_an_hour_with_jitter() -> None:
    mid = [rules.retry_delay(n, 0.5) for n in range(1, 10)]
    assert [d.total_seconds() / 60 for d in mid] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert rules.retry_delay(1, 0.0) == dt.timedelta(seconds=54)
    assert rules.retry_delay(1, 0.999999) < dt.timedelta(seconds=66)
    assert rules.retry_delay(200, 0.5) == dt.timedelta(hours=1)
    with pytest.raises(ValueError):
        rules.retry_delay(0, 0.5)


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_back_off_stays_in_bounds(attempts: int, rand: float) -> None:
    delay = rules.retry_delay(attempts, rand)
    assert dt.timedelta(seconds=54) <= delay <= dt.timedelta(minutes=66)


def test_dead_after_max_attempts() -> None:
    assert rules.after_failure(2, 3) is DeliveryStatus.FAILED
    assert rules.after_failure(3, 3) is DeliveryStatus.DEAD


def test_order_of_an_event() -> None:
    assert rules.order_id_of("order", "12", {}) == 12
    assert rules.order_id_of("shipment", "SH-1", {"order": {"id": 7}}) == 7
    assert rules.order_id_of("stock", "A@WH1", {"stock": {}}) is None
    assert rules.order_id_of("stock", "A@WH1", {"order": {"id": True}}) is None


def test_signature_over_the_exact_body() -> None:
    from openoms.adapters.carriers.tracking_inbound import sign_webhook

    created = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
    delivery = Claimed(1, 1, "http://x", "", "evt-1", "order.placed", 0, created, {"order": {"id": 1}, "n": "é"})
    body = request_body(delivery.event_id, delivery.event_type, delivery.created_at, delivery.payload)
    expected = '{"id":"evt-1","type":"order.placed","created_at":"2026-11-25T01:00:00+00:00",'
    expected += '"data":{"order":{"id":1},"n":"é"}}'
    assert body == expected.encode()
    header = sign_webhook(body, "whsec_x", 1_795_568_400)
    assert verify_webhook_signature(body, header, "whsec_x", now=created) == 1_795_568_400
    with pytest.raises(SignatureError):
        verify_webhook_signature(body + b" ", header, "whsec_x", now=created)


def test_secrets_are_encrypted_and_bound_to_the_installation_key() -> None:
    one = Settings(secret_key="installation-one")
    token = crypto.encrypt(one, "whsec_abc")
    assert "whsec_abc" not in token and token != crypto.encrypt(one, "whsec_abc")  # a fresh IV each time
    assert crypto.decrypt(one, token) == "whsec_abc"
    with pytest.raises(crypto.DecryptionFailed, match="OPENOMS_SECRET_KEY"):
        crypto.decrypt(Settings(secret_key="installation-two"), token)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(one, token[:-4] + "AAAA")
