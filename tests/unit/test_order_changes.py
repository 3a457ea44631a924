"""The order-change rules: every order status x line status x change kind, and the money."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain import order_changes as oc
from openoms.domain.errors import DomainError, ErrorCode, IllegalTransition
from openoms.domain.order_changes import ChangeKind, LineFacts, LineMoney
from openoms.domain.orders import LineStatus, OrderStatus

OS, LS, K = OrderStatus, LineStatus, ChangeKind
LINE_KINDS = (K.QUANTITY_DOWN, K.QUANTITY_UP, K.SWAP_SKU)

#: The decided matrix (docs/adr/0029-order-changes.md): order statuses that take each change.
ORDER_MATRIX = {
    K.QUANTITY_DOWN: {OS.ALLOCATED, OS.BACKORDERED, OS.RELEASED},
    K.QUANTITY_UP: {OS.ALLOCATED, OS.BACKORDERED, OS.RELEASED},
    K.SWAP_SKU: {OS.ALLOCATED, OS.BACKORDERED, OS.RELEASED},
    K.ADD_LINE: {OS.ALLOCATED, OS.BACKORDERED, OS.RELEASED},
    K.ADDRESS: {OS.ALLOCATED, OS.BACKORDERED},
    K.SERVICE_LEVEL: {OS.ALLOCATED, OS.BACKORDERED},
}
LINE_MATRIX = {
    K.QUANTITY_DOWN: {LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED},
    K.QUANTITY_UP: {LS.ALLOCATED},
    K.SWAP_SKU: {LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED},
}


@pytest.mark.parametrize("kind", list(ChangeKind))
@pytest.mark.parametrize("status", list(OrderStatus))
def test_order_status_matrix(kind: ChangeKind, status: OrderStatus) -> None:
    if status in ORDER_MATRIX[kind]:
        oc.check_order_change("SO-1", status, kind)
    else:
        with pytest.raises(IllegalTransition) as err:
            oc.check_order_change("SO-1", status, kind)
        assert err.value.code == ErrorCode.ILLEGAL_TRANSITION
        assert f"is {status.value}" in err.value.message or "released" in err.value.message


@pytest.mark.parametrize("kind", LINE_KINDS)
@pytest.mark.parametrize("line_status", list(LineStatus))
def test_line_status_matrix(kind: ChangeKind, line_status: LineStatus) -> None:
    line = LineFacts(1, line_status, 5, 0, 0)
    if line_status in LINE_MATRIX[kind]:
        oc.check_line_change("SO-1", OS.ALLOCATED, line, kind)
    else:
        with pytest.raises(IllegalTransition) as err:
            oc.check_line_change("SO-1", OS.ALLOCATED, line, kind)
        assert f"Line SO-1/1 is {line_status.value}" in err.value.message


def test_refusals_say_why() -> None:
    shipped = LineFacts(1, LS.SHIPPED, 2, 0, 2)
    with pytest.raises(IllegalTransition, match="shipped units cannot change"):
        oc.check_line_change("SO-1", OS.ALLOCATED, shipped, K.QUANTITY_DOWN)
    with pytest.raises(IllegalTransition, match="add a new line for the extra units"):
        oc.check_line_change("SO-1", OS.RELEASED, LineFacts(1, LS.RELEASED, 2, 0), K.QUANTITY_UP)
    with pytest.raises(IllegalTransition, match="picked at WH1"):
        oc.check_line_change("SO-1", OS.RELEASED, LineFacts(1, LS.RELEASED, 2, 0, picked_at="WH1"), K.QUANTITY_DOWN)
    with pytest.raises(IllegalTransition, match="nothing changes after shipment"):
        oc.check_order_change("SO-1", OS.PARTIALLY_SHIPPED, K.ADD_LINE)
    with pytest.raises(IllegalTransition, match="collected in store"):
        oc.check_order_change("SO-1", OS.ALLOCATED, K.SERVICE_LEVEL, pickup=True)
    oc.check_order_change("SO-1", OS.ALLOCATED, K.ADDRESS, pickup=True)  # no carrier, but the record may change


def test_plan_quantity() -> None:
    line = LineFacts(1, LS.ALLOCATED, 5, 1)  # 4 ordered
    assert oc.plan_quantity("SO-1", OS.ALLOCATED, line, 6) == (K.QUANTITY_UP, 2)
    assert oc.plan_quantity("SO-1", OS.ALLOCATED, line, 1) == (K.QUANTITY_DOWN, 3)
    for bad, reason in ((0, "at least 1"), (4, "already has 4"), (100_001, "at most")):
        with pytest.raises(DomainError) as err:
            oc.plan_quantity("SO-1", OS.ALLOCATED, line, bad)
        assert err.value.code == ErrorCode.VALIDATION_ERROR and err.value.errors[0].field == "quantity"
        assert reason in err.value.errors[0].reason
    with pytest.raises(IllegalTransition):
        oc.plan_quantity("SO-1", OS.BACKORDERED, LineFacts(1, LS.BACKORDERED, 5, 0), 6)
    assert oc.plan_quantity("SO-1", OS.BACKORDERED, LineFacts(1, LS.BACKORDERED, 5, 0), 2) == (K.QUANTITY_DOWN, 3)


def test_add_line_limits() -> None:
    oc.check_add_line("SO-1", OS.RELEASED, 3, 1)
    with pytest.raises(DomainError, match="at most 500 lines"):
        oc.check_add_line("SO-1", OS.ALLOCATED, 500, 1)
    with pytest.raises(IllegalTransition):
        oc.check_add_line("SO-1", OS.SHIPPED, 1, 1)


def test_money() -> None:
    line = LineMoney(Decimal("10.00"), Decimal("3.00"), Decimal("1.50"), 3, 1)
    assert oc.effective_amounts(line, "USD") == (Decimal("20.00"), Decimal("2.00"), Decimal("1.00"))
    assert oc.effective_amounts(LineMoney(Decimal(5), Decimal(0), Decimal(1), 2, 2), "USD") == (0, 0, 0)
    assert oc.scaled(Decimal("1.50"), 3, 5, "USD") == Decimal("2.50")
    before = [LineMoney(Decimal("10.00"), Decimal(0), Decimal("1.00"), 2, 0)]
    after = [LineMoney(Decimal("10.00"), Decimal(0), Decimal("1.00"), 2, 1)]
    assert oc.totals_delta(before, after, "USD") == {
        "subtotal": Decimal("-10.00"),
        "discount_total": Decimal("0.00"),
        "tax_total": Decimal("-0.50"),
        "grand_total": Decimal("-10.50"),
    }
    # the order's own rate: 1.00 tax on 20.00 net -> 5 %
    assert oc.proportional_tax(Decimal("35.00"), before, "USD") == Decimal("1.75")
    assert oc.proportional_tax(Decimal("35.00"), [], "JPY") == Decimal("0")


lines_st = st.lists(
    st.builds(
        lambda price, qty, cancelled, disc, tax: LineMoney(
            Decimal(price) / 100,
            min(Decimal(disc) / 100, Decimal(price) / 100 * qty),
            Decimal(tax) / 100,
            qty,
            min(cancelled, qty),
        ),
        st.integers(0, 100_000),
        st.integers(1, 50),
        st.integers(0, 50),
        st.integers(0, 100_000),
        st.integers(0, 100_000),
    ),
    max_size=6,
)


@given(lines_st, lines_st, lines_st)
def test_deltas_add_up(a: list[LineMoney], b: list[LineMoney], c: list[LineMoney]) -> None:
    """Totals moved change by change end where recomputing from scratch would: no drift."""
    ab, bc, ac = (oc.totals_delta(x, y, "USD") for x, y in ((a, b), (b, c), (a, c)))
    for k in ac:
        assert ab[k] + bc[k] == ac[k]
    assert ac["grand_total"] == ac["subtotal"] - ac["discount_total"] + ac["tax_total"]
