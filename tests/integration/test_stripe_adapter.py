"""The Stripe provider against the local fake Stripe server (tests/fakes/stripe_server.py):
real HTTP on 127.0.0.1, never the internet."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from openoms.adapters.payments.base import (
    AuthorizeRequest,
    GatewayResult,
    GatewayStatus,
    GatewayUnavailable,
    PaymentGateway,
)
from openoms.adapters.payments.stripe import StripeGateway
from openoms.config import Settings
from openoms.domain.errors import DomainError
from tests.fakes.stripe_server import FakeStripe, running_fake_stripe

KEY = "sk_test_fake_openoms"


@pytest.fixture
def fake() -> Iterator[tuple[FakeStripe, StripeGateway]]:
    with running_fake_stripe(KEY) as (state, url):
        settings = Settings(
            stripe_secret_key=KEY, stripe_api_base=url, stripe_api_version="2024-06-20", stripe_timeout_seconds=1
        )
        with StripeGateway(settings) as gateway:
            yield state, gateway


def _key() -> str:
    return f"test-{uuid.uuid4()}"


def _authorize(
    gateway: StripeGateway, method: str = "pm_card_visa", amount: str = "50.00", currency: str = "USD", key: str = ""
) -> GatewayResult:
    return gateway.authorize(
        AuthorizeRequest(
            amount=Decimal(amount),
            currency=currency,
            idempotency_key=key or _key(),
            payment_method=method,
            order_reference="SO-1001",
            customer_email="ada@example.com",
            description="Order SO-1001",
            metadata={"order_id": "17"},
        )
    )


def test_is_a_payment_gateway(fake: tuple[FakeStripe, StripeGateway]) -> None:
    assert isinstance(fake[1], PaymentGateway)
    assert fake[1].name == "stripe"


def test_authorize_ok_sends_what_stripe_documents(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    result = _authorize(gateway, key="order-17-auth-1")
    assert result.status == GatewayStatus.SUCCEEDED
    assert result.reference is not None and result.reference.startswith("pi_")
    assert (result.amount, result.currency) == (Decimal("50.00"), "USD")
    assert result.raw["status"] == "requires_capture"
    assert result.raw["client_secret"] == "[removed]"  # never stored
    request = state.posts("/v1/payment_intents")[0]
    params = request["params"]
    assert params["amount"] == "5000"
    assert params["currency"] == "usd"
    assert params["capture_method"] == "manual"
    assert params["confirm"] == "true"
    assert params["metadata"] == {"order_id": "17", "order_reference": "SO-1001"}
    assert params["payment_method_options"] == {"card": {"request_multicapture": "if_available"}}
    assert params["receipt_email"] == "ada@example.com"
    headers = request["headers"]
    assert headers["idempotency-key"] == "order-17-auth-1"
    assert headers["stripe-version"] == "2024-06-20"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert KEY not in json.dumps(result.raw)


def test_authorize_jpy_in_whole_yen(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    result = _authorize(gateway, amount="5000", currency="JPY")
    assert result.succeeded and result.amount == Decimal("5000")
    assert state.posts()[0]["params"]["amount"] == "5000"


def test_authorize_declined(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    result = _authorize(gateway, method="pm_card_chargeDeclinedInsufficientFunds")
    assert result.status == GatewayStatus.FAILED
    assert result.error_code == "card_declined"
    assert result.message == "Your card has insufficient funds. (decline code: insufficient_funds)"
    assert result.reference is not None and result.reference in state.payment_intents
    assert result.raw["error"]["decline_code"] == "insufficient_funds"
    assert result.raw["http_status"] == 402
    assert result.raw["error"]["payment_intent"]["client_secret"] == "[removed]"


def test_authorize_requires_action(fake: tuple[FakeStripe, StripeGateway]) -> None:
    _, gateway = fake
    result = _authorize(gateway, method="pm_card_authenticationRequired")
    assert result.status == GatewayStatus.REQUIRES_ACTION
    assert not result.succeeded
    assert result.raw["next_action"]["type"] == "use_stripe_sdk"


def test_unknown_payment_method_is_a_refusal(fake: tuple[FakeStripe, StripeGateway]) -> None:
    _, gateway = fake
    result = _authorize(gateway, method="pm_nonexistent")
    assert (result.status, result.error_code) == (GatewayStatus.FAILED, "resource_missing")


def test_amount_stripe_cannot_charge_is_refused_before_any_call(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    with pytest.raises(DomainError):
        _authorize(gateway, amount="5.124", currency="KWD")
    assert state.requests == []


def test_partial_captures_then_final(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    auth = _authorize(gateway, amount="50.00")
    assert auth.reference is not None
    first = gateway.capture(auth.reference, Decimal("20.00"), "USD", idempotency_key="ship-1")
    assert first.status == GatewayStatus.SUCCEEDED and first.amount == Decimal("20.00")
    intent = state.payment_intents[auth.reference]
    assert (intent["amount_received"], intent["amount_capturable"], intent["status"]) == (
        2000,
        3000,
        "requires_capture",
    )
    assert state.posts("/capture")[0]["params"] == {"amount_to_capture": "2000", "final_capture": "false"}

    last = gateway.capture(auth.reference, Decimal("25.00"), "USD", idempotency_key="ship-2", final=True)
    assert last.succeeded and last.amount == Decimal("25.00")
    # the final capture released the 5.00 not shipped
    assert (intent["amount_received"], intent["amount_capturable"], intent["status"]) == (4500, 0, "succeeded")
    assert "final_capture" not in state.posts("/capture")[1]["params"]

    again = gateway.capture(auth.reference, Decimal("1.00"), "USD", idempotency_key="ship-3")
    assert (again.status, again.error_code) == (GatewayStatus.FAILED, "payment_intent_unexpected_state")


def test_a_final_capture_of_nothing_releases_the_rest(fake: tuple[FakeStripe, StripeGateway]) -> None:
    """The payments service closes a payment whose order has nothing left to ship with a final
    capture of 0.00: Stripe releases the rest when the PaymentIntent is cancelled."""
    state, gateway = fake
    auth = _authorize(gateway, amount="50.00")
    assert auth.reference is not None
    gateway.capture(auth.reference, Decimal("20.00"), "USD", idempotency_key="ship-1")
    done = gateway.capture(auth.reference, Decimal("0"), "USD", idempotency_key="close", final=True)
    assert done.succeeded and done.amount == 0
    intent = state.payment_intents[auth.reference]
    assert (intent["amount_received"], intent["amount_capturable"], intent["status"]) == (2000, 0, "canceled")
    assert len(state.posts("/capture")) == 1 and len(state.posts("/cancel")) == 1


def test_capture_more_than_authorised_is_refused(fake: tuple[FakeStripe, StripeGateway]) -> None:
    _, gateway = fake
    auth = _authorize(gateway, amount="10.00")
    assert auth.reference is not None
    result = gateway.capture(auth.reference, Decimal("10.01"), "USD", idempotency_key=_key(), final=True)
    assert (result.status, result.error_code) == (GatewayStatus.FAILED, "amount_too_large")


def test_void(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    auth = _authorize(gateway, amount="30.00")
    assert auth.reference is not None
    result = gateway.void(auth.reference, idempotency_key=_key())
    assert result.status == GatewayStatus.SUCCEEDED
    assert (result.amount, result.currency) == (Decimal("30.00"), "USD")
    assert state.payment_intents[auth.reference]["status"] == "canceled"
    again = gateway.void(auth.reference, idempotency_key=_key())
    assert (again.status, again.error_code) == (GatewayStatus.FAILED, "payment_intent_unexpected_state")


def test_refund_and_over_refund(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    auth = _authorize(gateway, amount="40.00")
    assert auth.reference is not None
    gateway.capture(auth.reference, Decimal("40.00"), "USD", idempotency_key=_key(), final=True)
    refund = gateway.refund(auth.reference, Decimal("15.00"), "USD", idempotency_key="refund-1", reason="return")
    assert refund.status == GatewayStatus.SUCCEEDED
    assert refund.reference is not None and refund.reference.startswith("re_")
    assert refund.amount == Decimal("15.00")
    params = state.posts("/v1/refunds")[0]["params"]
    assert params == {"payment_intent": auth.reference, "amount": "1500", "metadata": {"reason": "return"}}

    over = gateway.refund(auth.reference, Decimal("25.01"), "USD", idempotency_key="refund-2")
    assert (over.status, over.error_code) == (GatewayStatus.FAILED, "amount_too_large")
    assert "greater than unrefunded amount" in (over.message or "")
    assert len(state.refunds) == 1

    rest = gateway.refund(auth.reference, Decimal("25.00"), "USD", idempotency_key="refund-3", reason="duplicate")
    assert rest.succeeded
    assert state.posts("/v1/refunds")[2]["params"]["reason"] == "duplicate"
    done = gateway.refund(auth.reference, Decimal("0.01"), "USD", idempotency_key="refund-4")
    assert (done.status, done.error_code) == (GatewayStatus.FAILED, "charge_already_refunded")


def test_refund_of_uncaptured_intent_is_refused(fake: tuple[FakeStripe, StripeGateway]) -> None:
    _, gateway = fake
    auth = _authorize(gateway)
    assert auth.reference is not None
    result = gateway.refund(auth.reference, Decimal("1.00"), "USD", idempotency_key=_key())
    assert result.status == GatewayStatus.FAILED


def test_retry_with_the_same_key_returns_the_same_result_and_creates_nothing(
    fake: tuple[FakeStripe, StripeGateway],
) -> None:
    state, gateway = fake
    first = _authorize(gateway, key="order-9-auth")
    second = _authorize(gateway, key="order-9-auth")
    assert first == second
    assert len(state.payment_intents) == 1
    assert first.reference is not None
    gateway.capture(first.reference, Decimal("50.00"), "USD", idempotency_key="cap", final=True)
    assert gateway.capture(first.reference, Decimal("50.00"), "USD", idempotency_key="cap", final=True).succeeded
    assert state.payment_intents[first.reference]["amount_received"] == 5000
    a = gateway.refund(first.reference, Decimal("5.00"), "USD", idempotency_key="rf")
    b = gateway.refund(first.reference, Decimal("5.00"), "USD", idempotency_key="rf")
    assert a == b and len(state.refunds) == 1


def test_same_key_other_parameters_is_not_a_second_charge(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    _authorize(gateway, key="order-10-auth", amount="10.00")
    with pytest.raises(GatewayUnavailable, match="409"):
        _authorize(gateway, key="order-10-auth", amount="11.00")
    assert len(state.payment_intents) == 1


@pytest.mark.parametrize("mode", ["error500", "ratelimit", "garbage"])
def test_unavailable_answers_raise(fake: tuple[FakeStripe, StripeGateway], mode: str) -> None:
    state, gateway = fake
    state.mode = mode
    with pytest.raises(GatewayUnavailable):
        _authorize(gateway, key="order-11-auth")
    assert state.payment_intents == {}
    # Stripe is back: the same key authorises once
    state.mode = "ok"
    assert _authorize(gateway, key="order-11-auth").succeeded
    assert len(state.payment_intents) == 1


def test_timeout_raises_unavailable(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    state.mode, state.hang_seconds = "hang", 2.5
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable, match="did not answer"):
        _authorize(gateway)
    assert time.monotonic() - started < 2.4  # the 1 s timeout, not the server's 2.5 s


def test_wrong_api_key_is_unavailable_not_a_decline() -> None:
    with running_fake_stripe("sk_test_other") as (state, url):
        gateway = StripeGateway(Settings(stripe_secret_key=KEY, stripe_api_base=url))
        with pytest.raises(GatewayUnavailable, match="API key"):
            _authorize(gateway)
        gateway.close()
        assert state.payment_intents == {}


def test_unreachable_and_unconfigured() -> None:
    with running_fake_stripe(KEY) as (_, url):
        pass  # stopped: nothing listens on that port any more
    gateway = StripeGateway(Settings(stripe_secret_key=KEY, stripe_api_base=url, stripe_timeout_seconds=1))
    with pytest.raises(GatewayUnavailable, match="could not be reached"):
        _authorize(gateway)
    gateway.close()
    unconfigured = StripeGateway(Settings(stripe_secret_key="", stripe_api_base=url))
    with pytest.raises(GatewayUnavailable, match="OPENOMS_STRIPE_SECRET_KEY"):
        _authorize(unconfigured)
    unconfigured.close()


def test_reference_that_is_not_a_stripe_id_is_refused(fake: tuple[FakeStripe, StripeGateway]) -> None:
    state, gateway = fake
    with pytest.raises(DomainError):
        gateway.capture("../v1/refunds", Decimal("1.00"), "USD", idempotency_key=_key())
    assert state.requests == []


def _canned(status: int, body: object) -> StripeGateway:
    """A gateway whose every call gets one canned answer (httpx's MockTransport, no socket)."""
    import httpx

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    settings = Settings(stripe_secret_key=KEY, stripe_api_base="http://stripe.invalid")
    return StripeGateway(settings, transport=httpx.MockTransport(reply))


def test_processing_is_pending_and_odd_answers_are_unavailable() -> None:
    from tests.fakes.stripe_server import sample

    intent = sample("stripe_payment_intent.json")
    intent.update(status="processing", amount=1099)
    assert _authorize(_canned(200, intent)).status == GatewayStatus.PENDING
    intent.update(status="requires_payment_method", last_payment_error=None)
    failed = _authorize(_canned(200, intent))
    assert (failed.status, failed.error_code) == (GatewayStatus.FAILED, "requires_payment_method")
    intent.update(status="something_new")
    with pytest.raises(GatewayUnavailable, match="something_new"):
        _authorize(_canned(200, intent))
    with pytest.raises(GatewayUnavailable, match="not a JSON object"):
        _authorize(_canned(200, [intent]))
    with pytest.raises(GatewayUnavailable, match="without an error object"):
        _authorize(_canned(400, {"message": "no"}))
    with pytest.raises(GatewayUnavailable, match="503"):
        _authorize(_canned(503, {"error": {"type": "api_error"}}))

    refund = sample("stripe_refund.json")
    refund.update(status="pending", payment_intent="pi_1")
    pending = _canned(200, refund).refund("pi_1", Decimal("1.00"), "USD", idempotency_key="k")
    assert (pending.status, pending.reference) == (GatewayStatus.PENDING, refund["id"])
    refund.update(status="failed", failure_reason="lost_or_stolen_card")
    failed_refund = _canned(200, refund).refund("pi_1", Decimal("1.00"), "USD", idempotency_key="k")
    assert (failed_refund.status, failed_refund.error_code) == (GatewayStatus.FAILED, "lost_or_stolen_card")


def test_idempotency_keys_get_the_installation_prefix_and_stay_within_stripes_limit() -> None:
    with running_fake_stripe(KEY) as (state, url):
        settings = Settings(stripe_secret_key=KEY, stripe_api_base=url, stripe_idempotency_prefix="staging:")
        gateway = StripeGateway(settings)
        _authorize(gateway, key="o1:auth:k")
        long_key = "o1:auth:" + "x" * 300
        first = _authorize(gateway, key=long_key)
        assert _authorize(gateway, key=long_key) == first  # still one key per call
        sent = [r["headers"]["idempotency-key"] for r in state.posts()]
        assert sent[0] == "staging:o1:auth:k"
        assert sent[1] == sent[2] and sent[1].startswith("staging:sha256:") and len(sent[1]) <= 255
        assert len(state.payment_intents) == 2
