"""The order and line status machines, roll-up, cancellation planning and holds.

The expected tables are written out here by hand (they are the ones in
docs/order-lifecycle.md), not derived from ``ORDER_TRANSITIONS``: a change to the machine
must change this file too, or a test fails.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import DomainError, ErrorCode, IllegalTransition
from openoms.domain.orders import (
    HoldType,
    LineState,
    LineStatus,
    OrderStatus,
    can_transition,
    can_transition_line,
    check_can_place_hold,
    check_can_release_hold,
    check_can_release_to_fulfilment,
    check_cancellable,
    check_line_transition,
    check_order_transition,
    order_number,
    parse_order_number,
    plan_line_cancellation,
    rollup_status,
)

OS = OrderStatus
LS = LineStatus

# --- the expected machines, by hand -------------------------------------------------------

EXPECTED_ORDER: dict[str, set[str]] = {
    "created": {"allocated", "backordered", "cancelled"},
    "allocated": {"released", "backordered", "cancelled"},
    "backordered": {"allocated", "cancelled"},
    "released": {"partially_shipped", "shipped", "allocated", "backordered", "cancelled"},
    "partially_shipped": {"shipped"},
    "shipped": {"delivered"},
    "delivered": {"completed"},
    "completed": set(),
    "cancelled": set(),
}

EXPECTED_LINE: dict[str, set[str]] = {
    "created": {"allocated", "backordered", "cancelled"},
    "allocated": {"released", "backordered", "cancelled"},
    "backordered": {"allocated", "cancelled"},
    "released": {"partially_shipped", "shipped", "allocated", "backordered", "cancelled"},
    "partially_shipped": {"shipped"},
    "shipped": {"delivered"},
    "delivered": set(),
    "cancelled": set(),
}

ORDER_PAIRS = list(itertools.product(EXPECTED_ORDER, repeat=2))
LINE_PAIRS = list(itertools.product(EXPECTED_LINE, repeat=2))


def test_the_enums_hold_exactly_the_documented_statuses() -> None:
    assert [s.value for s in OrderStatus] == list(EXPECTED_ORDER)
    assert [s.value for s in LineStatus] == list(EXPECTED_LINE)
    assert {h.value for h in HoldType} == {"payment", "fraud", "credit", "manual"}


@pytest.mark.parametrize(("current", "target"), ORDER_PAIRS)
def test_order_transition_table(current: str, target: str) -> None:
    legal = target in EXPECTED_ORDER[current]
    assert can_transition(OS(current), OS(target)) is legal
    if legal or current == target:
        check_order_transition("SO-0000001", OS(current), OS(target))  # no error
    else:
        with pytest.raises(IllegalTransition) as info:
            check_order_transition("SO-0000001", OS(current), OS(target))
        exc = info.value
        assert exc.code == ErrorCode.ILLEGAL_TRANSITION
        assert exc.message == f"Order SO-0000001 is {current}; it cannot become {target}"
        assert exc.extra == {"current_status": current, "attempted": target}


@pytest.mark.parametrize(("current", "target"), LINE_PAIRS)
def test_line_transition_table(current: str, target: str) -> None:
    legal = target in EXPECTED_LINE[current]
    assert can_transition_line(LS(current), LS(target)) is legal
    if legal or current == target:
        check_line_transition("SO-0000001/2", LS(current), LS(target))
    else:
        with pytest.raises(IllegalTransition) as info:
            check_line_transition("SO-0000001/2", LS(current), LS(target))
        assert info.value.message == f"Line SO-0000001/2 is {current}; it cannot become {target}"
        assert info.value.extra == {"current_status": current, "attempted": target}


def test_no_status_can_transition_to_itself() -> None:
    """Staying put is not a transition; the check_* helpers let it pass as a no-op."""
    assert not any(can_transition(s, s) for s in OrderStatus)
    assert not any(can_transition_line(s, s) for s in LineStatus)


def test_final_states_and_the_order_only_state() -> None:
    assert [s for s in OrderStatus if not any(can_transition(s, t) for t in OrderStatus)] == [
        OS.COMPLETED,
        OS.CANCELLED,
    ]
    assert [s for s in LineStatus if not any(can_transition_line(s, t) for t in LineStatus)] == [
        LS.DELIVERED,
        LS.CANCELLED,
    ]
    # nothing ever goes back to created
    assert not any(can_transition(s, OS.CREATED) for s in OrderStatus)
    assert not any(can_transition_line(s, LS.CREATED) for s in LineStatus)


# --- roll-up ------------------------------------------------------------------------------

ROLLUP_CASES: list[tuple[list[LineStatus], OrderStatus]] = [
    ([LS.CREATED], OS.CREATED),
    ([LS.ALLOCATED], OS.ALLOCATED),
    ([LS.BACKORDERED], OS.BACKORDERED),
    ([LS.RELEASED], OS.RELEASED),
    ([LS.PARTIALLY_SHIPPED], OS.PARTIALLY_SHIPPED),
    ([LS.SHIPPED], OS.SHIPPED),
    ([LS.DELIVERED], OS.DELIVERED),
    ([LS.CANCELLED], OS.CANCELLED),
    ([LS.CANCELLED, LS.CANCELLED, LS.CANCELLED], OS.CANCELLED),
    # cancelled lines are ignored while anything else is left
    ([LS.CANCELLED, LS.ALLOCATED], OS.ALLOCATED),
    ([LS.CANCELLED, LS.DELIVERED], OS.DELIVERED),
    ([LS.CANCELLED, LS.RELEASED, LS.CANCELLED], OS.RELEASED),
    # the least advanced open line decides
    ([LS.ALLOCATED, LS.RELEASED], OS.ALLOCATED),
    ([LS.RELEASED, LS.ALLOCATED, LS.RELEASED], OS.ALLOCATED),
    ([LS.CREATED, LS.ALLOCATED], OS.CREATED),
    ([LS.CREATED, LS.RELEASED], OS.CREATED),
    ([LS.ALLOCATED, LS.BACKORDERED], OS.BACKORDERED),
    ([LS.CREATED, LS.BACKORDERED], OS.BACKORDERED),
    ([LS.RELEASED, LS.BACKORDERED], OS.BACKORDERED),
    # once anything has shipped, the order is at least partially shipped
    ([LS.SHIPPED, LS.ALLOCATED], OS.PARTIALLY_SHIPPED),
    ([LS.SHIPPED, LS.BACKORDERED], OS.PARTIALLY_SHIPPED),
    ([LS.DELIVERED, LS.CREATED], OS.PARTIALLY_SHIPPED),
    ([LS.PARTIALLY_SHIPPED, LS.SHIPPED], OS.PARTIALLY_SHIPPED),
    ([LS.PARTIALLY_SHIPPED, LS.CANCELLED], OS.PARTIALLY_SHIPPED),
    ([LS.SHIPPED, LS.DELIVERED], OS.SHIPPED),
    ([LS.SHIPPED, LS.SHIPPED, LS.CANCELLED], OS.SHIPPED),
    ([LS.DELIVERED, LS.DELIVERED], OS.DELIVERED),
]


@pytest.mark.parametrize(("lines", "expected"), ROLLUP_CASES, ids=lambda v: "+".join(v) if isinstance(v, list) else v)
def test_rollup_cases(lines: list[LineStatus], expected: OrderStatus) -> None:
    assert rollup_status(lines) == expected
    assert rollup_status(reversed(lines)) == expected  # any iterable, any order


def test_rollup_of_no_lines_is_cancelled() -> None:
    assert rollup_status([]) == OS.CANCELLED


line_lists = st.lists(st.sampled_from(list(LineStatus)), min_size=1, max_size=12)


@given(line_lists)
def test_rollup_property(lines: list[LineStatus]) -> None:
    got = rollup_status(lines)
    active = [s for s in lines if s != LS.CANCELLED]
    shipped_any = any(s in (LS.PARTIALLY_SHIPPED, LS.SHIPPED, LS.DELIVERED) for s in active)

    assert got != OS.COMPLETED  # only a close-out job completes an order
    assert (got == OS.CANCELLED) == (not active)
    assert (got == OS.DELIVERED) == (bool(active) and all(s == LS.DELIVERED for s in active))
    if active and all(s in (LS.SHIPPED, LS.DELIVERED) for s in active) and got != OS.DELIVERED:
        assert got == OS.SHIPPED
    if active and shipped_any and not all(s in (LS.SHIPPED, LS.DELIVERED) for s in active):
        assert got == OS.PARTIALLY_SHIPPED
    if LS.BACKORDERED in active and not shipped_any:
        assert got == OS.BACKORDERED
    if LS.CREATED in active and LS.BACKORDERED not in active and not shipped_any:
        assert got == OS.CREATED
    if active and all(s == LS.RELEASED for s in active):
        assert got == OS.RELEASED
    if active and set(active) <= {LS.ALLOCATED, LS.RELEASED} and LS.ALLOCATED in active:
        assert got == OS.ALLOCATED


@given(line_lists, st.randoms(use_true_random=False))
def test_rollup_ignores_order_of_lines_and_extra_cancelled_lines(lines: list[LineStatus], rnd: random.Random) -> None:
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert rollup_status(shuffled) == rollup_status(lines)
    if any(s != LS.CANCELLED for s in lines):
        assert rollup_status([*lines, LS.CANCELLED]) == rollup_status(lines)


@given(st.sampled_from([LS.CREATED, LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED]), st.data())
def test_cancelling_lines_of_a_uniform_order_moves_it_legally(start: LineStatus, data: st.DataObject) -> None:
    """Capture writes every line in one status; cancelling any subset of those lines (what
    the cancel commands do today) must move the order along a legal transition."""
    n = data.draw(st.integers(1, 6), label="lines")
    cancel = data.draw(st.sets(st.integers(0, n - 1), min_size=1), label="cancelled lines")
    before = rollup_status([start] * n)
    after = rollup_status([LS.CANCELLED if i in cancel else start for i in range(n)])
    check_order_transition("SO-0000001", before, after)
    assert (after == OS.CANCELLED) == (len(cancel) == n)


# --- cancellation planning ----------------------------------------------------------------


def _line(status: LineStatus = LS.ALLOCATED, quantity: int = 5, cancelled: int = 0, shipped: int = 0) -> LineState:
    return LineState(
        line_id=41,
        line_number=3,
        status=status,
        quantity=quantity,
        quantity_cancelled=cancelled,
        quantity_shipped=shipped,
    )


def test_open_quantity() -> None:
    assert _line(quantity=7, cancelled=2, shipped=1).open_quantity == 4


def test_cancel_part_of_a_line_keeps_its_status() -> None:
    plan = plan_line_cancellation("SO-0000009", OS.ALLOCATED, _line(quantity=5), 2)
    assert (plan.line_id, plan.quantity, plan.new_status) == (41, 2, LS.ALLOCATED)


def test_cancel_the_rest_of_a_partly_cancelled_line_cancels_it() -> None:
    plan = plan_line_cancellation("SO-0000009", OS.ALLOCATED, _line(quantity=5, cancelled=2), 3)
    assert (plan.quantity, plan.new_status) == (3, LS.CANCELLED)


@pytest.mark.parametrize("status", [LS.CREATED, LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED])
def test_cancel_all_open_units_when_no_quantity_is_given(status: LineStatus) -> None:
    plan = plan_line_cancellation("SO-0000009", OS(status.value), _line(status, quantity=5, cancelled=1), None)
    assert (plan.quantity, plan.new_status) == (4, LS.CANCELLED)


def test_cancel_every_open_unit_of_a_line_that_shipped_some_keeps_the_line() -> None:
    plan = plan_line_cancellation("SO-0000009", OS.RELEASED, _line(LS.RELEASED, quantity=5, shipped=2), None)
    assert (plan.quantity, plan.new_status) == (3, LS.RELEASED)


@pytest.mark.parametrize("quantity", [0, -1, -100])
def test_cancel_zero_or_negative_units_is_a_validation_error(quantity: int) -> None:
    with pytest.raises(DomainError) as info:
        plan_line_cancellation("SO-0000009", OS.ALLOCATED, _line(), quantity)
    assert info.value.code == ErrorCode.VALIDATION_ERROR
    assert [(e.field, e.reason) for e in info.value.errors] == [("quantity", "must be at least 1")]


@pytest.mark.parametrize(("cancelled", "shipped", "asked"), [(0, 0, 6), (2, 0, 4), (1, 2, 3), (0, 0, 10**9)])
def test_cancel_more_than_open_is_refused_naming_the_open_units(cancelled: int, shipped: int, asked: int) -> None:
    line = _line(quantity=5, cancelled=cancelled, shipped=shipped)
    with pytest.raises(DomainError) as info:
        plan_line_cancellation("SO-0000009", OS.ALLOCATED, line, asked)
    assert info.value.code == ErrorCode.VALIDATION_ERROR
    [err] = info.value.errors
    assert err.field == "quantity"
    assert err.reason == f"line SO-0000009/3 has {line.open_quantity} open unit(s); cannot cancel {asked}"


@pytest.mark.parametrize("order_status", [OS.PARTIALLY_SHIPPED, OS.SHIPPED, OS.DELIVERED, OS.COMPLETED, OS.CANCELLED])
def test_lines_of_an_order_past_release_cannot_be_cancelled(order_status: OrderStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        plan_line_cancellation("SO-0000009", order_status, _line(), 1)
    assert info.value.message == f"Order SO-0000009 is {order_status.value}; its lines can no longer be cancelled"
    assert info.value.extra == {"current_status": order_status.value, "attempted": "cancelled"}


@pytest.mark.parametrize("line_status", [LS.PARTIALLY_SHIPPED, LS.SHIPPED, LS.DELIVERED, LS.CANCELLED])
def test_a_line_that_shipped_or_is_cancelled_cannot_be_cancelled(line_status: LineStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        plan_line_cancellation("SO-0000009", OS.ALLOCATED, _line(line_status), None)
    assert info.value.message == f"Line SO-0000009/3 is {line_status.value}; it cannot be cancelled"
    assert info.value.extra["current_status"] == line_status.value


@given(
    st.sampled_from([LS.CREATED, LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED]),
    st.integers(1, 50),
    st.data(),
)
def test_cancellation_plan_property(status: LineStatus, quantity: int, data: st.DataObject) -> None:
    cancelled = data.draw(st.integers(0, quantity - 1), label="already cancelled")
    line = _line(status, quantity=quantity, cancelled=cancelled)
    asked = data.draw(st.none() | st.integers(-3, quantity + 3), label="asked")
    open_qty = quantity - cancelled
    if asked is not None and not 1 <= asked <= open_qty:
        with pytest.raises(DomainError) as info:
            plan_line_cancellation("SO-1", OS.ALLOCATED, line, asked)
        assert info.value.code == ErrorCode.VALIDATION_ERROR
        return
    plan = plan_line_cancellation("SO-1", OS.ALLOCATED, line, asked)
    units = open_qty if asked is None else asked
    assert plan.quantity == units
    assert plan.new_status == (LS.CANCELLED if units == open_qty else status)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_check_cancellable(status: OrderStatus) -> None:
    if status.value in {"created", "allocated", "backordered", "released"}:
        check_cancellable("SO-0000012", status)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_cancellable("SO-0000012", status)
        assert info.value.message == f"Order SO-0000012 is {status.value}; it cannot be cancelled"


# --- holds --------------------------------------------------------------------------------

HOLDABLE = {"created", "allocated", "backordered"}


@pytest.mark.parametrize(("status", "hold"), list(itertools.product(OrderStatus, HoldType)))
def test_place_hold_only_before_release(status: OrderStatus, hold: HoldType) -> None:
    if status.value in HOLDABLE:
        check_can_place_hold("SO-0000005", status, [], hold)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_can_place_hold("SO-0000005", status, [], hold)
        assert info.value.message == f"Order SO-0000005 is {status.value}; holds can only be placed before release"
        assert info.value.extra == {"current_status": status.value, "attempted": f"hold:{hold.value}"}


@pytest.mark.parametrize("hold", list(HoldType))
def test_one_active_hold_of_each_type(hold: HoldType) -> None:
    others = [h for h in HoldType if h != hold]
    check_can_place_hold("SO-0000005", OS.ALLOCATED, others, hold)  # other types do not block it
    with pytest.raises(DomainError) as info:
        check_can_place_hold("SO-0000005", OS.ALLOCATED, [*others, hold], hold)
    assert info.value.code == ErrorCode.HOLD_CONFLICT
    assert info.value.message == f"Order SO-0000005 is already on {hold.value} hold"


def test_release_hold_needs_that_hold_active() -> None:
    check_can_release_hold("SO-0000005", [HoldType.FRAUD, HoldType.PAYMENT], HoldType.PAYMENT)
    with pytest.raises(DomainError) as info:
        check_can_release_hold("SO-0000005", [HoldType.FRAUD], HoldType.PAYMENT)
    assert info.value.code == ErrorCode.HOLD_CONFLICT
    assert info.value.message == "Order SO-0000005 has no active payment hold"
    with pytest.raises(DomainError):
        check_can_release_hold("SO-0000005", [], HoldType.MANUAL)


def test_release_to_fulfilment_needs_an_allocated_order_without_holds() -> None:
    check_can_release_to_fulfilment("SO-0000005", OS.ALLOCATED, [])
    with pytest.raises(DomainError) as info:
        check_can_release_to_fulfilment("SO-0000005", OS.ALLOCATED, [HoldType.PAYMENT, HoldType.FRAUD, HoldType.FRAUD])
    assert info.value.code == ErrorCode.HOLD_CONFLICT
    assert info.value.message == "Order SO-0000005 is on hold (fraud, payment); release the hold first"
    for status in (OS.CREATED, OS.BACKORDERED, OS.CANCELLED, OS.SHIPPED):
        with pytest.raises(IllegalTransition) as illegal:
            check_can_release_to_fulfilment("SO-0000005", status, [])
        assert illegal.value.message == f"Order SO-0000005 is {status.value}; it cannot become released"


# --- order numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_id", "number"),
    [(1, "SO-0000001"), (42, "SO-0000042"), (9_999_999, "SO-9999999"), (12_345_678, "SO-12345678")],
)
def test_order_number(order_id: int, number: str) -> None:
    assert order_number(order_id) == number
    assert parse_order_number(number) == order_id


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_order_number_round_trip(order_id: int) -> None:
    assert parse_order_number(order_number(order_id)) == order_id
    assert parse_order_number(f"  {order_number(order_id).lower()} ") == order_id


@pytest.mark.parametrize(
    "text", ["", "SO-", "SO", "123", "SO-12a", "SO--1", "SO-+12", "SO- 12", "SO-1.0", "XO-0000001", "SO-١٢٣", "SO-²"]
)
def test_parse_order_number_refuses_what_is_not_one(text: str) -> None:
    assert parse_order_number(text) is None
