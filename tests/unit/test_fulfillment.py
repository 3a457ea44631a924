"""The fulfilment order machine and the shipment rules, exhaustively."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.fulfillment import (
    CLOSED,
    OPEN,
    FulfilmentLineState,
    FulfilmentStatus,
    PackageInput,
    check_progress,
    check_rejectable,
    fulfilment_number,
    parse_fulfilment_number,
    plan_shipment,
    status_after,
)

FS = FulfilmentStatus
ALLOWED = {(FS.RELEASED, FS.ACCEPTED), (FS.ACCEPTED, FS.PICKED), (FS.PICKED, FS.PACKED)}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(FS, FS)))
def test_progress_goes_one_step_at_a_time(current: FS, target: FS) -> None:
    if (current, target) in ALLOWED:
        check_progress("FO-1", current, target)
    else:
        with pytest.raises(DomainError) as err:
            check_progress("FO-1", current, target)
        assert err.value.code == ErrorCode.ILLEGAL_TRANSITION


LINES = [FulfilmentLineState(1, "A", 3), FulfilmentLineState(2, "B", 1, quantity_shipped=1)]


@pytest.mark.parametrize("status", list(FS))
def test_shipping_is_possible_exactly_while_open(status: FS) -> None:
    pkg = [PackageInput("T1", 500, [(1, 1)])]
    if status in OPEN:  # a pickup waiting at the counter leaves only by hand-over
        assert plan_shipment("FO-1", status, LINES, pkg, handover=True).units == {1: 1}
    if status in OPEN and status != FS.READY_FOR_PICKUP:
        assert plan_shipment("FO-1", status, LINES, pkg).units == {1: 1}
    else:
        with pytest.raises(DomainError) as err:
            plan_shipment("FO-1", status, LINES, pkg)
        assert err.value.code == ErrorCode.ILLEGAL_TRANSITION


def test_a_shipment_reports_every_problem_with_its_field() -> None:
    with pytest.raises(DomainError) as err:
        plan_shipment(
            "FO-1",
            FS.ACCEPTED,
            LINES,
            [
                PackageInput(" ", 0, [(9, 1)]),
                PackageInput("T2", 500, [(1, 0), (2, 1)]),
                PackageInput("T2", None, []),
            ],
        )
    fields = [e.field for e in err.value.errors]
    assert fields == [
        "packages[0].tracking_number",
        "packages[0].weight_grams",
        "packages[0].lines[0].line_number",
        "packages[1].lines[0].quantity",
        "packages[2].tracking_number",
        "packages[2].lines",
        "packages",  # line 2 has nothing open
    ]


def test_a_shipment_that_takes_everything_open_closes_the_order() -> None:
    plan = plan_shipment("FO-1", FS.PACKED, LINES, [PackageInput("T1", 1, [(1, 2)]), PackageInput("T2", 1, [(1, 1)])])
    assert plan.units == {1: 3} and plan.closes


@pytest.mark.parametrize(
    ("lines", "current", "expected"),
    [
        ([FulfilmentLineState(1, "A", 2)], FS.ACCEPTED, FS.ACCEPTED),
        ([FulfilmentLineState(1, "A", 2, quantity_shipped=1)], FS.PACKED, FS.PARTIALLY_SHIPPED),
        ([FulfilmentLineState(1, "A", 2, quantity_shipped=2)], FS.PARTIALLY_SHIPPED, FS.SHIPPED),
        ([FulfilmentLineState(1, "A", 2, quantity_shipped=1, quantity_rejected=1)], FS.PACKED, FS.SHIPPED),
        ([FulfilmentLineState(1, "A", 2, quantity_rejected=2)], FS.ACCEPTED, FS.REJECTED),
        ([FulfilmentLineState(1, "A", 2, quantity_cancelled=2)], FS.RELEASED, FS.CANCELLED),
        (
            [FulfilmentLineState(1, "A", 2, quantity_rejected=2), FulfilmentLineState(2, "B", 1)],
            FS.ACCEPTED,
            FS.ACCEPTED,
        ),
    ],
)
def test_status_follows_the_lines(lines: list[FulfilmentLineState], current: FS, expected: FS) -> None:
    assert status_after(lines, current) == expected


@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=5
    )
)
def test_closed_exactly_when_nothing_is_open(parts: list[tuple[int, int, int, int]]) -> None:
    lines = []
    for i, (qty, s, r, c) in enumerate(parts):
        s, r = min(s, qty), min(r, qty - min(s, qty))
        c = min(c, qty - s - r)
        lines.append(FulfilmentLineState(i + 1, "A", qty, s, r, c))
    after = status_after(lines, FS.ACCEPTED)
    assert (after in CLOSED) == all(ln.open == 0 for ln in lines)
    if any(ln.quantity_shipped for ln in lines):
        assert after in (FS.SHIPPED, FS.PARTIALLY_SHIPPED)


def test_only_open_units_of_an_open_order_can_be_rejected() -> None:
    check_rejectable("FO-1", FS.PICKED, LINES[0], 1)
    for status in CLOSED:
        with pytest.raises(DomainError):
            check_rejectable("FO-1", status, LINES[0], 1)
    with pytest.raises(DomainError) as err:
        check_rejectable("FO-1", FS.PICKED, LINES[1], 2)
    assert err.value.errors[0].field == "line_number"
    with pytest.raises(DomainError):
        check_rejectable("FO-1", FS.PICKED, None, 7)


def test_fulfilment_numbers_round_trip() -> None:
    assert fulfilment_number(42) == "FO-0000042"
    assert parse_fulfilment_number("fo-0000042") == 42 and parse_fulfilment_number("42") == 42
    assert parse_fulfilment_number("SO-1") is None and parse_fulfilment_number("FO-x") is None
    assert parse_fulfilment_number("²") is None and parse_fulfilment_number("FO-١٢") is None  # digits, not ASCII
