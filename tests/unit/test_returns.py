"""The returns rules, exhaustively: eligibility edge cases (window boundary in the shipping
location's timezone, final sale, units already returned, unshipped and partly shipped lines),
the RMA status machine as a table, receipts, and the refund arithmetic with hypothesis."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.domain import returns as rx
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.returns import ReturnStatus as RS

NY = "America/New_York"
# Delivered at 15:00 in New York on 1 March 2026 (20:00 UTC).
DELIVERED = dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC)


def facts(**kw: object) -> rx.LineFacts:
    base: dict[str, object] = dict(
        line_number=1, sku="A", quantity_shipped=2, quantity_returned=0, window_start=DELIVERED, timezone=NY
    )
    base.update(kw)
    return rx.LineFacts(**base)  # type: ignore[arg-type]


def local(y: int, m: int, d: int, h: int, mi: int = 0, s: int = 0, us: int = 0) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(y, m, d, h, mi, s, us, tzinfo=ZoneInfo(NY)).astimezone(dt.UTC)


POLICY = rx.ReturnPolicy(window_days=30)


def test_window_day_n_passes_to_its_last_local_instant_and_day_n_plus_1_is_refused() -> None:
    # 1 March + 30 days = 31 March, all of it, in New York.
    last = local(2026, 3, 31, 23, 59, 59, 999999)
    ok = rx.line_eligibility(facts(), POLICY, last)
    assert ok.returnable == 2 and ok.reason is None and ok.deadline == last
    late = rx.line_eligibility(facts(), POLICY, local(2026, 4, 1, 0, 0))
    assert late.returnable == 0 and late.reason == "the 30-day return window ended on 2026-03-31"


def test_window_counts_local_days_not_utc_days() -> None:
    # Delivered 22:30 New York on 1 March = 03:30 UTC on 2 March: the local date (1st) counts.
    start = local(2026, 3, 1, 22, 30)
    assert start.date() == dt.date(2026, 3, 2)
    assert rx.line_eligibility(facts(window_start=start), POLICY, local(2026, 4, 1, 0, 1)).returnable == 0
    assert rx.line_eligibility(facts(window_start=start), POLICY, local(2026, 3, 31, 23, 0)).returnable == 2


def test_window_across_a_daylight_saving_change() -> None:
    # New York moves to summer time on 8 March 2026: the deadline is still local midnight.
    d = rx.window_deadline(DELIVERED, 30, NY)
    assert d == local(2026, 3, 31, 23, 59, 59, 999999)
    assert d.hour == 3  # 23:59 EDT is 03:59 UTC


def test_product_window_overrides_the_policy_and_zero_days_means_the_same_day() -> None:
    assert rx.line_eligibility(facts(window_days=60), POLICY, local(2026, 4, 20, 12)).returnable == 2
    zero = facts(window_days=0)
    assert rx.line_eligibility(zero, POLICY, local(2026, 3, 1, 23, 59)).returnable == 2
    assert rx.line_eligibility(zero, POLICY, local(2026, 3, 2, 0, 0)).returnable == 0


def test_final_sale_unshipped_partly_shipped_and_already_returned() -> None:
    now = local(2026, 3, 5, 12)
    fs = rx.line_eligibility(facts(final_sale=True), POLICY, now)
    assert fs.returnable == 0 and "final-sale" in (fs.reason or "")
    un = rx.line_eligibility(facts(quantity_shipped=0, window_start=None), POLICY, now)
    assert un.returnable == 0 and un.reason == "nothing of this line has shipped yet"
    part = rx.line_eligibility(facts(quantity_shipped=1), POLICY, now)  # 1 of 2 shipped
    assert part.returnable == 1
    some = rx.line_eligibility(facts(quantity_shipped=3, quantity_returned=2), POLICY, now)
    assert some.returnable == 1
    done = rx.line_eligibility(facts(quantity_returned=2), POLICY, now)
    assert done.returnable == 0 and "already returned or requested" in (done.reason or "")


def test_a_request_is_checked_per_line_with_reasons() -> None:
    now = local(2026, 3, 5, 12)
    el = {
        1: rx.line_eligibility(facts(), POLICY, now),
        2: rx.line_eligibility(facts(line_number=2, sku="B", final_sale=True), POLICY, now),
    }
    rx.check_request([rx.RequestedLine(1, 2, rx.ReasonCode.WRONG_SIZE)], el, POLICY, rx.ReturnMethod.MAIL)
    with pytest.raises(DomainError) as exc:
        rx.check_request(
            [
                rx.RequestedLine(1, 2, rx.ReasonCode.WRONG_SIZE),
                rx.RequestedLine(1, 1, rx.ReasonCode.WRONG_SIZE),  # 3 of 2 in total
                rx.RequestedLine(2, 1, rx.ReasonCode.OTHER),
                rx.RequestedLine(9, 1, rx.ReasonCode.OTHER),
            ],
            el,
            POLICY,
            rx.ReturnMethod.MAIL,
        )
    fields = {e.field: e.reason for e in exc.value.errors}
    assert "2 returnable unit(s); 3 requested" in fields["lines[1].quantity"]
    assert "final-sale" in fields["lines[2].line_number"]
    assert fields["lines[3].line_number"] == "the order has no line 9"
    store_only = rx.ReturnPolicy(
        allowed_methods=(rx.ReturnMethod.IN_STORE,), accepted_conditions=(rx.Condition.UNOPENED,)
    )
    with pytest.raises(DomainError) as exc:
        rx.check_request(
            [rx.RequestedLine(1, 1, rx.ReasonCode.OTHER, rx.Condition.OPENED)], el, store_only, rx.ReturnMethod.MAIL
        )
    assert {e.field for e in exc.value.errors} == {"method", "lines[0].condition"}


# --- status machine -----------------------------------------------------------------------------

ALLOWED = {
    (RS.REQUESTED, RS.APPROVED),
    (RS.REQUESTED, RS.REJECTED),
    (RS.REQUESTED, RS.CANCELLED),
    (RS.APPROVED, RS.LABEL_ISSUED),
    (RS.APPROVED, RS.PARTIALLY_RECEIVED),
    (RS.APPROVED, RS.RECEIVED),
    (RS.APPROVED, RS.CANCELLED),
    (RS.LABEL_ISSUED, RS.PARTIALLY_RECEIVED),
    (RS.LABEL_ISSUED, RS.RECEIVED),
    (RS.LABEL_ISSUED, RS.CANCELLED),
    (RS.PARTIALLY_RECEIVED, RS.PARTIALLY_RECEIVED),
    (RS.PARTIALLY_RECEIVED, RS.RECEIVED),
    (RS.PARTIALLY_RECEIVED, RS.REFUNDED),
    (RS.PARTIALLY_RECEIVED, RS.CLOSED),
    (RS.RECEIVED, RS.REFUNDED),
    (RS.RECEIVED, RS.CLOSED),
    (RS.REFUNDED, RS.CLOSED),
}


@pytest.mark.parametrize("current", list(RS))
@pytest.mark.parametrize("target", list(RS))
def test_status_machine_table(current: RS, target: RS) -> None:
    assert rx.can_transition(current, target) == ((current, target) in ALLOWED)
    if (current, target) in ALLOWED:
        rx.check_transition("RMA-1", current, target)
    else:
        with pytest.raises(DomainError) as exc:
            rx.check_transition("RMA-1", current, target)
        assert exc.value.code == ErrorCode.ILLEGAL_TRANSITION


def test_rma_numbers_round_trip() -> None:
    assert rx.rma_number(12) == "RMA-0000012"
    assert rx.parse_rma_number("rma-0000012") == 12
    assert rx.parse_rma_number("SO-0000012") is None and rx.parse_rma_number("RMA-x") is None


# --- receipts -----------------------------------------------------------------------------------


def test_receipts_add_up_and_never_exceed_what_is_expected() -> None:
    r = rx.Receipt
    C, D = rx.Condition, rx.Disposition
    assert (
        rx.check_receipt("RMA-1", RS.APPROVED, [r(1, 1, C.UNOPENED, D.RESTOCK)], {1: 2}, POLICY)
        == RS.PARTIALLY_RECEIVED
    )
    assert (
        rx.check_receipt(
            "RMA-1",
            RS.PARTIALLY_RECEIVED,
            [r(1, 1, C.OPENED, D.REFURBISH), r(2, 1, C.DAMAGED, D.WRITE_OFF)],
            {1: 1, 2: 1},
            POLICY,
        )
        == RS.RECEIVED
    )
    with pytest.raises(DomainError) as exc:
        rx.check_receipt(
            "RMA-1", RS.APPROVED, [r(1, 1, C.OPENED, D.RESTOCK), r(1, 2, C.OPENED, D.RESTOCK)], {1: 2}, POLICY
        )
    assert exc.value.errors[0].field == "lines[1].quantity"
    with pytest.raises(DomainError) as exc:
        rx.check_receipt("RMA-1", RS.APPROVED, [r(1, 1, C.DAMAGED, D.RESTOCK)], {1: 2}, POLICY)
    assert exc.value.errors[0].field == "lines[0].disposition"
    with pytest.raises(DomainError) as exc:
        rx.check_receipt("RMA-1", RS.REQUESTED, [r(1, 1, C.OPENED, D.RESTOCK)], {1: 2}, POLICY)
    assert exc.value.code == ErrorCode.ILLEGAL_TRANSITION


# --- refund arithmetic --------------------------------------------------------------------------


def order_money(**kw: object) -> rx.OrderMoney:
    base: dict[str, object] = dict(
        currency="USD",
        shipping_total=Decimal("8.00"),
        shipping_tax=Decimal("0.64"),
        shipping_refunded_before=Decimal(0),
        refundable=Decimal("1000"),
        whole_order_back=False,
    )
    base.update(kw)
    return rx.OrderMoney(**base)  # type: ignore[arg-type]


def line(**kw: object) -> rx.RefundLine:
    base: dict[str, object] = dict(
        line_number=1,
        sku="A",
        quantity=3,
        unit_price=Decimal("20.00"),
        discount=Decimal("6.00"),
        tax=Decimal("4.32"),
        units_credited_before=0,
        units_now=1,
        reason=rx.ReasonCode.CHANGED_MIND,
    )
    base.update(kw)
    return rx.RefundLine(**base)  # type: ignore[arg-type]


def test_refund_of_one_unit_net_of_discount_with_tax_and_a_restocking_fee() -> None:
    policy = rx.ReturnPolicy(restocking_fee_percent=Decimal("10"))
    q = rx.refund_quote([line()], order_money(), policy)
    assert q.components == {
        "items": Decimal("18.00"),  # 20 - 6/3
        "tax": Decimal("1.44"),
        "shipping": Decimal(0),
        "restocking_fee": Decimal("-1.80"),
        "cap": Decimal(0),
    }
    assert q.total == Decimal("17.64")
    # the merchant's fault: no fee, and the shipping (with its tax) comes back
    q2 = rx.refund_quote([line(reason=rx.ReasonCode.DEFECTIVE)], order_money(), policy)
    assert q2.components["restocking_fee"] == 0 and q2.components["shipping"] == Decimal("8.64")
    # the whole order back: shipping comes back too, unless the policy never refunds it
    q3 = rx.refund_quote([line(units_now=3)], order_money(whole_order_back=True), rx.DEFAULT_POLICY)
    assert q3.components["shipping"] == Decimal("8.64") and q3.total == Decimal("54.00") + Decimal("4.32") + Decimal(
        "8.64"
    )
    never = rx.ReturnPolicy(refund_shipping=rx.ShippingRefund.NEVER)
    assert rx.refund_quote([line(units_now=3)], order_money(whole_order_back=True), never).components["shipping"] == 0
    # shipping refunded by an earlier return is not refunded twice
    q4 = rx.refund_quote(
        [line(reason=rx.ReasonCode.WRONG_ITEM)], order_money(shipping_refunded_before=Decimal("8.64")), policy
    )
    assert q4.components["shipping"] == 0


def test_the_refund_is_capped_at_what_is_refundable() -> None:
    q = rx.refund_quote([line(units_now=3)], order_money(refundable=Decimal("10.00")), rx.DEFAULT_POLICY)
    assert q.total == Decimal("10.00") and q.components["cap"] < 0
    assert sum(q.components.values()) == q.total


def test_yen_has_no_minor_units() -> None:
    q = rx.refund_quote(
        [line(unit_price=Decimal("1000"), discount=Decimal("100"), tax=Decimal("290"), units_now=1)],
        order_money(currency="JPY", shipping_total=Decimal(0), shipping_tax=Decimal(0)),
        rx.ReturnPolicy(restocking_fee_percent=Decimal("15")),
    )
    assert q.components["items"] == Decimal("967") and q.components["tax"] == Decimal("97")
    assert q.components["restocking_fee"] == Decimal("-145")


amounts = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("5000"), places=2)


@st.composite
def order_lines(draw: st.DrawFn) -> tuple[list[tuple[int, Decimal, Decimal, Decimal]], list[list[int]]]:
    """Lines (quantity, unit price, discount, tax) and how their units come back over several
    returns (a list of per-line unit counts per return)."""
    n = draw(st.integers(1, 4))
    lines = []
    for _ in range(n):
        qty = draw(st.integers(1, 7))
        price = draw(amounts)
        disc = draw(st.decimals(min_value=Decimal(0), max_value=price * qty, places=2))
        tax = draw(st.decimals(min_value=Decimal(0), max_value=Decimal("999"), places=2))
        lines.append((qty, price, disc, tax))
    splits: list[list[int]] = []
    left = [ln[0] for ln in lines]
    for _ in range(draw(st.integers(1, 4))):
        take = [draw(st.integers(0, lft)) for lft in left]
        left = [a - b for a, b in zip(left, take, strict=True)]
        splits.append(take)
    if draw(st.booleans()):
        splits.append(left)  # everything that is left comes back at last
    return lines, splits


@settings(max_examples=300, deadline=None)
@given(
    data=order_lines(),
    fee=st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2),
    reasons=st.lists(st.sampled_from(list(rx.ReasonCode)), min_size=4, max_size=4),
    shipping=amounts,
)
def test_refunds_of_several_returns_never_exceed_what_was_paid_and_components_add_up(
    data: tuple[list[tuple[int, Decimal, Decimal, Decimal]], list[list[int]]],
    fee: Decimal,
    reasons: list[rx.ReasonCode],
    shipping: Decimal,
) -> None:
    lines, splits = data
    policy = rx.ReturnPolicy(restocking_fee_percent=fee)
    paid_lines = sum((p * q - d + t for q, p, d, t in lines), Decimal(0))
    grand = paid_lines + shipping
    credited = [0] * len(lines)
    refunded = Decimal(0)
    shipping_back = Decimal(0)
    items_back = [Decimal(0)] * len(lines)
    for take in splits:
        rl = [
            rx.RefundLine(i + 1, f"S{i}", q, p, d, t, credited[i], take[i], reasons[i])
            for i, (q, p, d, t) in enumerate(lines)
        ]
        whole = all(credited[i] + take[i] == lines[i][0] for i in range(len(lines)))
        q = rx.refund_quote(
            rl,
            rx.OrderMoney("USD", shipping, Decimal(0), shipping_back, grand - refunded, whole),
            policy,
        )
        # components add up to the total, and so do the lines with shipping and the cap
        assert sum(q.components.values(), Decimal(0)) == q.total
        assert (
            sum((Decimal(str(ln["total"])) for ln in q.lines), Decimal(0))
            + q.components["shipping"]
            + q.components["cap"]
            == q.total
        )
        assert q.total >= 0
        # no amount has more decimals than the currency
        assert all(v == v.quantize(Decimal("0.01")) for v in q.components.values())
        for ln in q.lines:
            i = int(str(ln["line_number"])) - 1
            items_back[i] += Decimal(str(ln["item"])) + Decimal(str(ln["tax"]))
        refunded += q.total
        shipping_back += q.components["shipping"]
        credited = [c + t for c, t in zip(credited, take, strict=True)]
    assert refunded <= grand
    for i, (q_, p, d, t) in enumerate(lines):
        # rounding never creates money: what a line gives back is at most what it cost, and
        # exactly that once every unit is back
        assert items_back[i] <= p * q_ - d + t
        if credited[i] == q_:
            assert items_back[i] == p * q_ - d + t


def test_policy_validation_names_each_bad_field() -> None:
    with pytest.raises(DomainError) as exc:
        rx.validate_policy(
            window_days=-1,
            restocking_fee_percent=Decimal("101"),
            refund_shipping="sometimes",
            allowed_methods=[],
            accepted_conditions=["soggy"],
        )
    assert {e.field for e in exc.value.errors} == {
        "window_days",
        "restocking_fee_percent",
        "refund_shipping",
        "allowed_methods",
        "accepted_conditions",
    }
    p = rx.validate_policy(
        window_days=14,
        restocking_fee_percent=Decimal("12.5"),
        refund_shipping="never",
        allowed_methods=["in_store", "in_store"],
        accepted_conditions=["unopened"],
    )
    assert p.allowed_methods == (rx.ReturnMethod.IN_STORE,) and p.window_days == 14
