"""The rules of stock operations: receipts against lots, the transfer state machine, transfer
requests and receipts, stock policy and the low-stock formula."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.inventory import StockPosition
from openoms.domain.stock_ops import (
    TRANSFER_ACTIONS,
    TransferAction,
    TransferLineRequest,
    TransferStatus,
    check_stock_policy,
    check_transfer_action,
    check_transfer_receipt,
    check_transfer_request,
    in_transit,
    is_low,
    receive_against_lot,
)


def _fields(exc: pytest.ExceptionInfo[DomainError]) -> dict[str, str]:
    return {e.field: e.reason for e in exc.value.errors}


def test_a_lot_is_received_in_parts_and_closes_when_complete() -> None:
    first = receive_against_lot(status="open", expected=10, received=0, quantity=4)
    assert (first.received_total, first.complete, first.over) == (4, False, 0)
    last = receive_against_lot(status="open", expected=10, received=4, quantity=6)
    assert (last.received_total, last.complete, last.over) == (10, True, 0)


def test_over_receipt_is_refused_unless_allowed() -> None:
    with pytest.raises(DomainError) as exc:
        receive_against_lot(status="open", expected=10, received=8, quantity=3)
    assert exc.value.code is ErrorCode.VALIDATION_ERROR
    assert "at most 2" in _fields(exc)["quantity"]
    over = receive_against_lot(status="open", expected=10, received=8, quantity=3, allow_over=True)
    assert (over.received_total, over.complete, over.over) == (11, True, 1)


@pytest.mark.parametrize("status", ["received", "cancelled"])
def test_only_open_lots_are_received(status: str) -> None:
    with pytest.raises(DomainError) as exc:
        receive_against_lot(status=status, expected=10, received=0, quantity=1)
    assert exc.value.code is ErrorCode.ILLEGAL_TRANSITION


@pytest.mark.parametrize("qty", [0, -1, 100_000_001])
def test_receipt_quantity_bounds(qty: int) -> None:
    with pytest.raises(DomainError) as exc:
        receive_against_lot(status="open", expected=10**9, received=0, quantity=qty, allow_over=True)
    assert "quantity" in _fields(exc)


@given(
    expected=st.integers(1, 1000),
    parts=st.lists(st.integers(1, 300), min_size=1, max_size=10),
)
def test_receipts_never_pass_the_lot_without_permission(expected: int, parts: list[int]) -> None:
    received, status = 0, "open"
    for q in parts:
        try:
            out = receive_against_lot(status=status, expected=expected, received=received, quantity=q)
        except DomainError:
            continue
        received = out.received_total
        status = "received" if out.complete else "open"
    assert received <= expected
    assert (status == "received") == (received == expected)


def test_the_transfer_state_machine_table() -> None:
    allowed = {(s, a) for s, actions in TRANSFER_ACTIONS.items() for a in actions}
    assert allowed == {
        (TransferStatus.DRAFT, TransferAction.SHIP),
        (TransferStatus.DRAFT, TransferAction.CANCEL),
        (TransferStatus.DRAFT, TransferAction.EDIT),
        (TransferStatus.IN_TRANSIT, TransferAction.RECEIVE),
    }
    for status in TransferStatus:
        for action in TransferAction:
            if (status, action) in allowed:
                check_transfer_action("TR-1", status.value, action)
            else:
                with pytest.raises(DomainError) as exc:
                    check_transfer_action("TR-1", status.value, action)
                assert exc.value.code is ErrorCode.ILLEGAL_TRANSITION
                assert exc.value.extra == {"current_status": status.value, "attempted": action.value}


def test_a_transfer_request_names_every_bad_field() -> None:
    with pytest.raises(DomainError) as exc:
        check_transfer_request(
            "WH1",
            "WH1",
            [TransferLineRequest("A", 0), TransferLineRequest(" ", 2), TransferLineRequest("A", 1)],
            "x" * 300,
        )
    assert _fields(exc) == {
        "to_location": "must differ from the location the units leave from",
        "lines[0].quantity": "must be at least 1",
        "lines[1].sku": "enter a SKU",
        "lines[2].sku": "A is already on the transfer; add the units there",
        "note": "must be at most 255 characters",
    }
    with pytest.raises(DomainError) as exc:
        check_transfer_request("", "WH2", [])
    assert set(_fields(exc)) == {"from_location", "lines"}
    assert check_transfer_request("WH1", "WH2", [TransferLineRequest(" A ", 3)]) == [TransferLineRequest("A", 3)]


def test_a_transfer_receipt_cannot_exceed_what_is_in_transit() -> None:
    check_transfer_receipt({"A": 5, "B": 2}, {"A": 5})
    check_transfer_receipt({"A": 5, "B": 2}, {"A": 0, "B": 1})
    with pytest.raises(DomainError) as exc:
        check_transfer_receipt({"A": 5}, {"A": 6, "Z": 1})
    assert _fields(exc) == {
        "lines[A].quantity": "6 received but only 5 still in transit",
        "lines[Z].sku": "Z is not on this transfer",
    }
    with pytest.raises(DomainError):
        check_transfer_receipt({"A": 5}, {"A": 0})
    assert in_transit(5, 2) == 3 and in_transit(5, 5) == 0


def test_stock_policy_bounds() -> None:
    check_stock_policy(0, None)
    check_stock_policy(5, 0)
    with pytest.raises(DomainError) as exc:
        check_stock_policy(-1, -2)
    assert set(_fields(exc)) == {"safety_stock", "reorder_point"}


@pytest.mark.parametrize(
    ("on_hand", "reserved", "inbound", "reorder_point", "low"),
    [
        (10, 0, 0, None, False),  # no reorder point, no alert
        (10, 0, 0, 10, True),  # at the point is low
        (11, 0, 0, 10, False),
        (10, 4, 0, 6, True),  # reserved units are not free
        (10, 4, 5, 6, False),  # a purchase order on its way covers it
        (0, 0, 0, 0, True),
    ],
)
def test_low_stock_formula(on_hand: int, reserved: int, inbound: int, reorder_point: int | None, low: bool) -> None:
    assert is_low(on_hand, reserved, inbound, reorder_point) is low


def test_safety_stock_is_not_available() -> None:
    assert StockPosition(10, 3).available == 7
    assert StockPosition(10, 3, 4).available == 3
    assert StockPosition(5, 3, 4).available == -2  # plan_allocation clips at 0
