"""The order and order-line status machines, holds, and the rules for cancelling.

An order's status is a roll-up of its lines' statuses (see ``rollup_status``); each command
changes line statuses and then checks that the order moved along a legal transition. Holds
are orthogonal to status: they never change it, they block release to fulfilment.
docs/order-lifecycle.md draws both machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from openoms.domain.errors import DomainError, ErrorCode, IllegalTransition, validation_error


class OrderStatus(StrEnum):
    CREATED = "created"  # captured, not yet sourced (awaiting approval or routing)
    ALLOCATED = "allocated"  # every open line reserved at a location
    BACKORDERED = "backordered"  # an open line waits for stock
    RELEASED = "released"  # handed to the fulfilment locations
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"  # closed: nothing more will happen to it
    CANCELLED = "cancelled"


class LineStatus(StrEnum):
    CREATED = "created"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    RELEASED = "released"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class HoldType(StrEnum):
    PAYMENT = "payment"
    FRAUD = "fraud"
    CREDIT = "credit"
    MANUAL = "manual"


#: Limits on one order, the same for every channel: larger ones are refused as bad input.
MAX_LINE_QUANTITY = 100_000
MAX_ORDER_LINES = 500

OS = OrderStatus
ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OS.CREATED: frozenset({OS.ALLOCATED, OS.BACKORDERED, OS.CANCELLED}),
    OS.ALLOCATED: frozenset({OS.RELEASED, OS.BACKORDERED, OS.CANCELLED}),
    OS.BACKORDERED: frozenset({OS.ALLOCATED, OS.CANCELLED}),
    # A location that rejects its lines sends them back to sourcing.
    OS.RELEASED: frozenset({OS.PARTIALLY_SHIPPED, OS.SHIPPED, OS.ALLOCATED, OS.BACKORDERED, OS.CANCELLED}),
    OS.PARTIALLY_SHIPPED: frozenset({OS.SHIPPED}),
    OS.SHIPPED: frozenset({OS.DELIVERED}),
    OS.DELIVERED: frozenset({OS.COMPLETED}),
    OS.COMPLETED: frozenset(),
    OS.CANCELLED: frozenset(),
}

LS = LineStatus
LINE_TRANSITIONS: Mapping[LineStatus, frozenset[LineStatus]] = {
    LS.CREATED: frozenset({LS.ALLOCATED, LS.BACKORDERED, LS.CANCELLED}),
    LS.ALLOCATED: frozenset({LS.RELEASED, LS.BACKORDERED, LS.CANCELLED}),
    LS.BACKORDERED: frozenset({LS.ALLOCATED, LS.CANCELLED}),
    LS.RELEASED: frozenset({LS.PARTIALLY_SHIPPED, LS.SHIPPED, LS.ALLOCATED, LS.BACKORDERED, LS.CANCELLED}),
    LS.PARTIALLY_SHIPPED: frozenset({LS.SHIPPED}),
    LS.SHIPPED: frozenset({LS.DELIVERED}),
    LS.DELIVERED: frozenset(),
    LS.CANCELLED: frozenset(),
}

#: Statuses in which an order, or a line, can still be cancelled: nothing has left a building.
CANCELLABLE_ORDER = frozenset({OS.CREATED, OS.ALLOCATED, OS.BACKORDERED, OS.RELEASED})
CANCELLABLE_LINE = frozenset({LS.CREATED, LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED})
#: Holds are placed before release; a released order is with the warehouse already.
HOLDABLE_ORDER = frozenset({OS.CREATED, OS.ALLOCATED, OS.BACKORDERED})


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in ORDER_TRANSITIONS[current]


def can_transition_line(current: LineStatus, target: LineStatus) -> bool:
    return target in LINE_TRANSITIONS[current]


def check_order_transition(order_ref: str, current: OrderStatus, target: OrderStatus) -> None:
    """Refuse an illegal move, naming the state the order is in now."""
    if current == target:
        return
    if not can_transition(current, target):
        raise IllegalTransition(
            f"Order {order_ref} is {current.value}; it cannot become {target.value}",
            current.value,
            target.value,
        )


def check_line_transition(line_ref: str, current: LineStatus, target: LineStatus) -> None:
    if current == target:
        return
    if not can_transition_line(current, target):
        raise IllegalTransition(
            f"Line {line_ref} is {current.value}; it cannot become {target.value}",
            current.value,
            target.value,
        )


def rollup_status(line_statuses: Iterable[LineStatus]) -> OrderStatus:
    """An order's status from its lines: the least advanced open line decides, cancelled
    lines are ignored unless every line is cancelled."""
    statuses = list(line_statuses)
    active = [s for s in statuses if s != LS.CANCELLED]
    if not active:
        return OS.CANCELLED
    shipped_like = {LS.SHIPPED, LS.DELIVERED}
    if all(s == LS.DELIVERED for s in active):
        return OS.DELIVERED
    if all(s in shipped_like for s in active):
        return OS.SHIPPED
    if any(s in shipped_like or s == LS.PARTIALLY_SHIPPED for s in active):
        return OS.PARTIALLY_SHIPPED
    if any(s == LS.BACKORDERED for s in active):
        return OS.BACKORDERED
    if any(s == LS.CREATED for s in active):
        return OS.CREATED
    if all(s == LS.RELEASED for s in active):
        return OS.RELEASED
    return OS.ALLOCATED


@dataclass(frozen=True)
class LineState:
    """What the rules need to know of a line to decide a cancellation."""

    line_id: int
    line_number: int
    status: LineStatus
    quantity: int
    quantity_cancelled: int
    quantity_shipped: int = 0

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.quantity_cancelled - self.quantity_shipped


@dataclass(frozen=True)
class LineCancellation:
    line_id: int
    quantity: int  # units to cancel now
    new_status: LineStatus


def plan_line_cancellation(
    order_ref: str, order_status: OrderStatus, line: LineState, quantity: int | None
) -> LineCancellation:
    """Cancel ``quantity`` open units of a line (all open units when None).

    Partly cancelling keeps the line in its status with fewer units; cancelling every open
    unit of a line that has shipped nothing cancels the line.
    """
    if order_status not in CANCELLABLE_ORDER:
        raise IllegalTransition(
            f"Order {order_ref} is {order_status.value}; its lines can no longer be cancelled",
            order_status.value,
            "cancelled",
        )
    ref = f"{order_ref}/{line.line_number}"
    if line.status not in CANCELLABLE_LINE:
        raise IllegalTransition(
            f"Line {ref} is {line.status.value}; it cannot be cancelled",
            line.status.value,
            "cancelled",
        )
    open_qty = line.open_quantity
    qty = open_qty if quantity is None else quantity
    if qty <= 0:
        raise validation_error("quantity", "must be at least 1")
    if qty > open_qty:
        raise validation_error("quantity", f"line {ref} has {open_qty} open unit(s); cannot cancel {qty}")
    if qty == open_qty and line.quantity_shipped == 0:
        check_line_transition(ref, line.status, LS.CANCELLED)
        return LineCancellation(line.line_id, qty, LS.CANCELLED)
    return LineCancellation(line.line_id, qty, line.status)


def check_cancellable(order_ref: str, status: OrderStatus) -> None:
    if status not in CANCELLABLE_ORDER:
        raise IllegalTransition(
            f"Order {order_ref} is {status.value}; it cannot be cancelled",
            status.value,
            "cancelled",
        )


def check_can_place_hold(order_ref: str, status: OrderStatus, active_holds: Iterable[HoldType], hold: HoldType) -> None:
    if status not in HOLDABLE_ORDER:
        raise IllegalTransition(
            f"Order {order_ref} is {status.value}; holds can only be placed before release",
            status.value,
            f"hold:{hold.value}",
        )
    if hold in set(active_holds):
        raise DomainError(ErrorCode.HOLD_CONFLICT, f"Order {order_ref} is already on {hold.value} hold")


def check_can_release_hold(order_ref: str, active_holds: Iterable[HoldType], hold: HoldType) -> None:
    if hold not in set(active_holds):
        raise DomainError(ErrorCode.HOLD_CONFLICT, f"Order {order_ref} has no active {hold.value} hold")


def check_can_release_to_fulfilment(order_ref: str, status: OrderStatus, active_holds: Iterable[HoldType]) -> None:
    """Release needs an allocated order with no active hold."""
    check_order_transition(order_ref, status, OS.RELEASED)
    holds = sorted(h.value for h in set(active_holds))
    if holds:
        raise DomainError(
            ErrorCode.HOLD_CONFLICT,
            f"Order {order_ref} is on hold ({', '.join(holds)}); release the hold first",
        )


def order_number(order_id: int) -> str:
    """The human-facing order number, derived from the id so it costs no extra write."""
    return f"SO-{order_id:07d}"


def parse_order_number(text: str) -> int | None:
    t = text.strip().upper()
    if t.startswith("SO-") and t[3:].isascii() and t[3:].isdigit():
        return int(t[3:])
    return None
