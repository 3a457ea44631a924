"""The payment rules: status roll-ups, what an order and a shipment are worth, and how captures
and refunds are spread over payments (hypothesis: never refund more than captured; totals
reconcile per payment and per order)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.adapters.payments.base import AuthorizeRequest, GatewayStatus, GatewayUnavailable
from openoms.adapters.payments.manual import ManualGateway
from openoms.adapters.payments.registry import get_gateway
from openoms.adapters.payments.test import TestGateway
from openoms.config import Settings
from openoms.domain import payments as rules
from openoms.domain.errors import DomainError, IllegalTransition
from openoms.domain.payments import LineMoney, OrderPaymentStatus, PaymentAmounts, PaymentStatus

D = Decimal
PS = PaymentStatus


def _p(
    pid: int, captured: str = "0", refunded: str = "0", authorized: str | None = None, **kw: object
) -> PaymentAmounts:
    auth = D(authorized if authorized is not None else captured)
    status = kw.pop("status", None) or rules.status_from_amounts(auth, D(captured), D(refunded), capture_closed=False)
    return PaymentAmounts(pid, status, auth, D(captured), D(refunded), **kw)  # type: ignore[arg-type]


def test_status_from_amounts() -> None:
    assert rules.status_from_amounts(D(10), D(0), D(0), capture_closed=False) == PS.AUTHORIZED
    assert rules.status_from_amounts(D(10), D(4), D(0), capture_closed=False) == PS.PARTIALLY_CAPTURED
    assert rules.status_from_amounts(D(10), D(4), D(0), capture_closed=True) == PS.CAPTURED
    assert rules.status_from_amounts(D(10), D(10), D(0), capture_closed=False) == PS.CAPTURED
    assert rules.status_from_amounts(D(10), D(10), D(3), capture_closed=False) == PS.PARTIALLY_REFUNDED
    assert rules.status_from_amounts(D(10), D(10), D(10), capture_closed=False) == PS.REFUNDED


def test_transitions_refuse_capturing_a_voided_payment() -> None:
    rules.check_payment_transition("1", PS.AUTHORIZED, PS.CAPTURED)
    with pytest.raises(IllegalTransition):
        rules.check_payment_transition("1", PS.VOIDED, PS.CAPTURED)
    with pytest.raises(IllegalTransition):
        rules.check_payment_transition("1", PS.FAILED, PS.AUTHORIZED)


@pytest.mark.parametrize(
    ("payments", "payable", "expected"),
    [
        ([], D(10), OrderPaymentStatus.UNPAID),
        ([_p(1, status=PS.FAILED)], D(10), OrderPaymentStatus.FAILED),
        ([_p(1, status=PS.FAILED), _p(2, status=PS.REQUIRES_ACTION)], D(10), OrderPaymentStatus.PENDING),
        ([_p(1, authorized="10")], D(10), OrderPaymentStatus.AUTHORIZED),
        ([_p(1, "4", authorized="10")], D(10), OrderPaymentStatus.PARTIALLY_PAID),
        ([_p(1, "10")], D(10), OrderPaymentStatus.PAID),
        ([_p(1, "10", "2")], D(10), OrderPaymentStatus.PARTIALLY_REFUNDED),
        ([_p(1, "10", "2")], D(8), OrderPaymentStatus.PAID),  # the order shrank by what was refunded
        ([_p(1, "10", "10")], D(0), OrderPaymentStatus.REFUNDED),
        ([_p(1, status=PS.VOIDED, authorized="10")], D(0), OrderPaymentStatus.UNPAID),
    ],
)
def test_order_payment_status(payments: list[PaymentAmounts], payable: Decimal, expected: OrderPaymentStatus) -> None:
    assert rules.order_payment_status(payments, payable) == expected


def test_payable_total_spreads_discount_and_tax_per_unit_and_drops_shipping_when_all_cancelled() -> None:
    line = LineMoney(1, 3, D("10.00"), discount=D("1.00"), tax=D("2.90"))  # 31.90 for 3 units
    assert rules.line_value(line, 3, "USD") == D("31.90")
    assert rules.line_value(line, 1, "USD") == D("10.63")  # 31.90 / 3 rounded half-even
    assert rules.line_value(line, 2, "USD") == D("21.27")
    assert rules.payable_total([line], D("5.00"), "USD") == D("36.90")
    part = LineMoney(1, 3, D("10.00"), D("1.00"), D("2.90"), quantity_cancelled=1)
    assert rules.payable_total([part], D("5.00"), "USD") == D("26.27")
    gone = LineMoney(1, 3, D("10.00"), D("1.00"), D("2.90"), quantity_cancelled=3)
    assert rules.payable_total([gone], D("5.00"), "USD") == D("0.00")
    assert rules.payable_total([LineMoney(1, 1, D("1200"))], D("0"), "JPY") == D("1200")


def test_shipment_value_slices_add_up_and_shipping_goes_with_the_first() -> None:
    line = LineMoney(7, 3, D("10.00"), D("1.00"), D("2.90"))
    first = rules.shipment_value([line], {}, {7: 1}, shipping=D("5"), first_shipment=True, currency="USD")
    second = rules.shipment_value([line], {7: 1}, {7: 1}, shipping=D("5"), first_shipment=False, currency="USD")
    third = rules.shipment_value([line], {7: 2}, {7: 1}, shipping=D("5"), first_shipment=False, currency="USD")
    assert (first, second, third) == (D("15.63"), D("10.64"), D("10.63"))
    assert first + second + third == rules.payable_total([line], D("5"), "USD")


def test_refund_is_spread_newest_first_and_refused_above_refundable() -> None:
    pays = [_p(1, "30"), _p(2, "5", refund_pending=D("1")), _p(3, status=PS.FAILED)]
    assert rules.plan_refund(D("10"), pays, "USD") == [(2, D("4")), (1, D("6"))]
    with pytest.raises(DomainError) as exc:
        rules.plan_refund(D("34.01"), pays, "USD")
    assert exc.value.errors[0].field == "amount" and exc.value.extra["refundable"] == "34.00"
    with pytest.raises(DomainError):
        rules.plan_refund(D("0"), pays, "USD")
    with pytest.raises(DomainError):
        rules.plan_refund(D("1.005"), pays, "USD")


def test_capture_oldest_first_within_what_is_held() -> None:
    pays = [
        _p(2, authorized="10"),
        _p(1, "5", authorized="8", capture_pending=D("1")),
        _p(3, authorized="9", capture_closed=True),
    ]
    assert rules.plan_capture(D("6"), pays) == [(1, D("2")), (2, D("4"))]
    assert sum(a for _, a in rules.plan_capture(D("100"), pays)) == D("12")


def test_reconcile_decides_refund_void_or_authorise() -> None:
    assert rules.reconcile(D("0"), [_p(1, authorized="10")]) == rules.Reconciliation(D(0), (1,), D(0))
    assert rules.reconcile(D("6"), [_p(1, "10")]).refund == D("4")
    assert rules.reconcile(D("15"), [_p(1, authorized="10")]).authorize == D("5")
    assert rules.reconcile(D("10"), [_p(1, authorized="10")]) == rules.Reconciliation(D(0), (), D(0))
    assert rules.reconcile(D("15"), []) == rules.Reconciliation(D(0), (), D(0))


cents = st.integers(min_value=0, max_value=1_000_000).map(lambda c: D(c) / 100)


@st.composite
def payment_sets(draw: st.DrawFn) -> list[PaymentAmounts]:
    out = []
    for pid in range(1, draw(st.integers(1, 5)) + 1):
        captured = draw(cents)
        refunded = draw(st.integers(0, int(captured * 100))) / D(100)
        pending = draw(st.integers(0, int((captured - refunded) * 100))) / D(100)
        out.append(_p(pid, str(captured), str(refunded), refund_pending=pending))
    return out


@settings(max_examples=300, deadline=None)
@given(payment_sets(), st.lists(cents, min_size=1, max_size=8))
def test_refunds_never_exceed_captured_and_totals_reconcile(pays: list[PaymentAmounts], asks: list[Decimal]) -> None:
    state = {p.payment_id: p for p in pays}
    captured = sum((p.captured for p in pays), D(0))
    given_back = D(0)
    for ask in asks:
        room = sum((p.refundable for p in state.values()), D(0))
        try:
            plan = rules.plan_refund(ask, list(state.values()), "USD")
        except DomainError:
            assert ask <= 0 or ask > room
            continue
        assert sum(a for _, a in plan) == ask <= room
        for pid, amount in plan:
            p = state[pid]
            assert 0 < amount <= p.refundable
            state[pid] = PaymentAmounts(pid, p.status, p.authorized, p.captured, p.refunded + amount, p.refund_pending)
        given_back += ask
    for p in state.values():
        assert p.refunded + p.refund_pending <= p.captured  # per payment
        assert p.net_paid == p.captured - p.refunded >= 0
    refunded = sum((p.refunded for p in state.values()), D(0))
    assert refunded == sum((p.refunded for p in pays), D(0)) + given_back  # per order
    assert sum((p.net_paid for p in state.values()), D(0)) == captured - refunded


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(0, 50_000), st.integers(0, 5_000), st.integers(0, 3_000)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 2_000),
    st.data(),
)
def test_shipments_capture_exactly_the_payable_total(
    spec: list[tuple[int, int, int, int]], shipping: int, data: st.DataObject
) -> None:
    lines = [
        LineMoney(i, q, D(price) / 100, min(D(disc) / 100, D(price) * q / 100), D(tax) / 100)
        for i, (q, price, disc, tax) in enumerate(spec)
    ]
    ship = D(shipping) / 100
    shipped: dict[int, int] = {}
    total = D(0)
    first = True
    while any(shipped.get(ln.line_id, 0) < ln.quantity for ln in lines):
        now = {}
        for ln in lines:
            left = ln.quantity - shipped.get(ln.line_id, 0)
            if left:
                now[ln.line_id] = data.draw(st.integers(0, left))
        if not any(now.values()):
            ln = next(ln for ln in lines if shipped.get(ln.line_id, 0) < ln.quantity)
            now[ln.line_id] = 1
        total += rules.shipment_value(lines, dict(shipped), now, shipping=ship, first_shipment=first, currency="USD")
        first = False
        for k, v in now.items():
            shipped[k] = shipped.get(k, 0) + v
    assert total == rules.payable_total(lines, ship, "USD")


def test_test_provider_is_deterministic_by_token_and_key() -> None:
    gw = TestGateway()
    req = AuthorizeRequest(D("10"), "USD", "key-1", "test_ok", "SO-0000001")
    a, b = gw.authorize(req), TestGateway().authorize(req)
    assert a == b and a.status == GatewayStatus.SUCCEEDED
    declined = gw.authorize(AuthorizeRequest(D("10"), "USD", "k", "test_decline", "SO-1"))
    assert declined.status == GatewayStatus.FAILED and declined.error_code == "card_declined"
    broke = gw.authorize(AuthorizeRequest(D("10"), "USD", "k", "test_insufficient_funds", "SO-1"))
    assert broke.error_code == "insufficient_funds"
    assert gw.authorize(AuthorizeRequest(D("10"), "USD", "k", "test_requires_action", "SO-1")).status == (
        GatewayStatus.REQUIRES_ACTION
    )
    with pytest.raises(GatewayUnavailable):
        gw.authorize(AuthorizeRequest(D("10"), "USD", "k", "test_unavailable", "SO-1"))
    fails = gw.authorize(AuthorizeRequest(D("10"), "USD", "k", "test_refund_fails", "SO-1"))
    assert fails.reference is not None
    assert gw.capture(fails.reference, D("10"), "USD", idempotency_key="c").succeeded
    assert gw.refund(fails.reference, D("1"), "USD", idempotency_key="r").status == GatewayStatus.FAILED
    assert a.reference is not None and gw.refund(a.reference, D("1"), "USD", idempotency_key="r").succeeded
    assert (
        gw.authorize(AuthorizeRequest(D("10"), "USD", "k", "tok_visa", "SO-1")).error_code == "unknown_payment_method"
    )


def test_manual_provider_and_registry() -> None:
    gw = get_gateway("manual", Settings())
    assert isinstance(gw, ManualGateway)
    got = gw.authorize(AuthorizeRequest(D("5"), "USD", "k", "cash", "SO-1", metadata={"reference": "R-9"}))
    assert got.succeeded and got.reference == "R-9"
    expected = gw.authorize(AuthorizeRequest(D("5"), "USD", "k", "cheque", "SO-1", metadata={"expected": "true"}))
    assert expected.status == GatewayStatus.PENDING
    with pytest.raises(DomainError) as exc:
        get_gateway("paypal", Settings())
    assert exc.value.errors[0].field == "provider"
