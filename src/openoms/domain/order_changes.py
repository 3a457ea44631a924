"""Which change an order may take in which state, and what a change does to its money.

A change (quantity, SKU swap, new line, shipping address, service level) is allowed only
while nothing it touches has left a building or been picked: the units a location has picked
are the location's to ship, and a change after shipment is a return. The rules, decided in
docs/adr/0029-order-changes.md:

- nothing changes once the order is partially shipped, shipped, delivered, completed or
  cancelled;
- a line's quantity goes **down** (a partial cancellation) while the line is allocated,
  backordered, or released and its fulfilment order not yet picked: the units are pulled back
  from the fulfilment order, as cancelling does;
- a line's quantity goes **up** only while the line is allocated (reserved, not handed over):
  more units for a released line are a new line, for a backordered line wait for its stock;
- a **SKU swap** cancels the old line's open units and adds a new line for the new SKU (the
  old line keeps its history); it follows the rules of the cancellation;
- a **new line** may be added to an allocated, backordered or released order;
- the **shipping address** and **service level** change only before release: once a location
  has the work it may have bought the label. A pickup order has no carrier service to change.

Money: a line's discount and tax are amounts for its whole quantity; the order counts them in
proportion to the units still ordered (not cancelled), so a partial cancellation takes its
share of them off (``effective_amounts``). A wholly cancelled order owes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from openoms.domain import money
from openoms.domain.errors import IllegalTransition, validation_error
from openoms.domain.orders import MAX_LINE_QUANTITY, MAX_ORDER_LINES, LineStatus, OrderStatus

OS = OrderStatus
LS = LineStatus


class ChangeKind(StrEnum):
    QUANTITY_DOWN = "quantity_down"
    QUANTITY_UP = "quantity_up"
    SWAP_SKU = "swap_sku"
    ADD_LINE = "add_line"
    ADDRESS = "address"
    SERVICE_LEVEL = "service_level"


#: Order statuses in which anything at all may change: nothing has left a building.
CHANGEABLE_ORDER = frozenset({OS.ALLOCATED, OS.BACKORDERED, OS.RELEASED})
#: Order statuses that may take each change (before the line rules apply).
ORDER_ALLOWS: dict[ChangeKind, frozenset[OrderStatus]] = {
    ChangeKind.QUANTITY_DOWN: CHANGEABLE_ORDER,
    ChangeKind.QUANTITY_UP: CHANGEABLE_ORDER,
    ChangeKind.SWAP_SKU: CHANGEABLE_ORDER,
    ChangeKind.ADD_LINE: CHANGEABLE_ORDER,
    # Before release only: once a location has the work, it may have bought the label.
    ChangeKind.ADDRESS: frozenset({OS.ALLOCATED, OS.BACKORDERED}),
    ChangeKind.SERVICE_LEVEL: frozenset({OS.ALLOCATED, OS.BACKORDERED}),
}
#: Line statuses that may take each line change.
LINE_ALLOWS: dict[ChangeKind, frozenset[LineStatus]] = {
    ChangeKind.QUANTITY_DOWN: frozenset({LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED}),
    ChangeKind.QUANTITY_UP: frozenset({LS.ALLOCATED}),
    ChangeKind.SWAP_SKU: frozenset({LS.ALLOCATED, LS.BACKORDERED, LS.RELEASED}),
}

_WHY_LINE: dict[tuple[ChangeKind, LineStatus], str] = {
    (ChangeKind.QUANTITY_UP, LS.RELEASED): "it is released to fulfilment; add a new line for the extra units",
    (ChangeKind.QUANTITY_UP, LS.BACKORDERED): "it is waiting for stock; add a new line for the extra units",
    (ChangeKind.QUANTITY_UP, LS.CREATED): "it is not sourced yet",
    (ChangeKind.QUANTITY_DOWN, LS.CREATED): "it is not sourced yet",
    (ChangeKind.SWAP_SKU, LS.CREATED): "it is not sourced yet",
}


@dataclass(frozen=True)
class LineFacts:
    """What the rules need to know of a line to decide a change."""

    line_number: int
    status: LineStatus
    quantity: int
    quantity_cancelled: int
    quantity_shipped: int = 0
    picked_at: str | None = None  # a location that has picked (or packed) its units, if any

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.quantity_cancelled - self.quantity_shipped

    @property
    def ordered(self) -> int:
        """Units the customer still wants: shipped or open (what a quantity change sets)."""
        return self.quantity - self.quantity_cancelled


def _after_shipment(ref: str, status: OrderStatus) -> IllegalTransition:
    if status == OS.CANCELLED:
        why = "it can no longer change"
    elif status == OS.CREATED:
        why = "it is not sourced yet; change it once it is allocated"
    else:
        why = "nothing changes after shipment (a return is the way back)"
    return IllegalTransition(f"Order {ref} is {status.value}; {why}", status.value, "changed")


def check_order_change(ref: str, status: OrderStatus, kind: ChangeKind, *, pickup: bool = False) -> None:
    """Refuse a change the order's status does not allow, saying why."""
    if status not in CHANGEABLE_ORDER:
        raise _after_shipment(ref, status)
    if status not in ORDER_ALLOWS[kind]:
        what = "shipping address" if kind == ChangeKind.ADDRESS else "service level"
        raise IllegalTransition(
            f"Order {ref} is released to fulfilment; its {what} can no longer change "
            "(the location may have bought the label): cancel the lines instead",
            status.value,
            "changed",
        )
    if pickup and kind == ChangeKind.SERVICE_LEVEL:
        raise IllegalTransition(
            f"Order {ref} is collected in store; it has no carrier service level to change", status.value, "changed"
        )


def check_line_change(ref: str, order_status: OrderStatus, line: LineFacts, kind: ChangeKind) -> None:
    """Refuse a change to one line that its status (or its picked units) does not allow."""
    check_order_change(ref, order_status, kind)
    lref = f"{ref}/{line.line_number}"
    if line.status not in LINE_ALLOWS[kind]:
        if line.status == LS.CANCELLED:
            why = "it can no longer change"
        elif line.status in (LS.PARTIALLY_SHIPPED, LS.SHIPPED, LS.DELIVERED):
            why = "its shipped units cannot change (a return is the way back)"
        else:
            why = _WHY_LINE.get((kind, line.status), "it cannot change")
        raise IllegalTransition(f"Line {lref} is {line.status.value}; {why}", line.status.value, "changed")
    if line.picked_at is not None:
        raise IllegalTransition(
            f"Line {lref} is picked at {line.picked_at}; its units can no longer be pulled back "
            "(ask the location to reject the work, or return it once shipped)",
            line.status.value,
            "changed",
        )


def plan_quantity(ref: str, order_status: OrderStatus, line: LineFacts, new_quantity: int) -> tuple[ChangeKind, int]:
    """A line's new ordered quantity: (QUANTITY_DOWN, units to cancel) or (QUANTITY_UP, units
    to reserve). Refused when the line cannot take it or the quantity is not sensible."""
    if new_quantity < 1:
        raise validation_error("quantity", "must be at least 1 (cancel the line to remove it)")
    if new_quantity > MAX_LINE_QUANTITY:
        raise validation_error("quantity", f"must be at most {MAX_LINE_QUANTITY}")
    if new_quantity < line.quantity_shipped:
        raise validation_error("quantity", f"{line.quantity_shipped} unit(s) already shipped")
    delta = new_quantity - line.ordered
    if delta == 0:
        raise validation_error("quantity", f"line {ref}/{line.line_number} already has {new_quantity} unit(s)")
    kind = ChangeKind.QUANTITY_UP if delta > 0 else ChangeKind.QUANTITY_DOWN
    check_line_change(ref, order_status, line, kind)
    return kind, abs(delta)


def check_add_line(ref: str, order_status: OrderStatus, line_count: int, quantity: int) -> None:
    check_order_change(ref, order_status, ChangeKind.ADD_LINE)
    if quantity < 1:
        raise validation_error("quantity", "must be at least 1")
    if quantity > MAX_LINE_QUANTITY:
        raise validation_error("quantity", f"must be at most {MAX_LINE_QUANTITY}")
    if line_count >= MAX_ORDER_LINES:
        raise validation_error("lines", f"an order has at most {MAX_ORDER_LINES} lines")


# --- money -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineMoney:
    unit_price: Decimal
    discount: Decimal  # for the line's whole quantity
    tax: Decimal  # for the line's whole quantity
    quantity: int
    quantity_cancelled: int


def effective_amounts(line: LineMoney, currency: str) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, discount, tax) the order counts for a line: its units not cancelled, with the
    discount and tax in proportion."""
    kept = line.quantity - line.quantity_cancelled
    if kept <= 0:
        return Decimal(0), Decimal(0), Decimal(0)
    share = Decimal(kept) / Decimal(line.quantity)
    return (
        money.quantize(line.unit_price * kept, currency),
        money.quantize(line.discount * share, currency),
        money.quantize(line.tax * share, currency),
    )


def scaled(amount: Decimal, old_quantity: int, new_quantity: int, currency: str) -> Decimal:
    """A whole-line amount (discount, tax) for a new quantity, per unit as before."""
    return money.quantize(amount * Decimal(new_quantity) / Decimal(old_quantity), currency)


def totals_delta(before: Iterable[LineMoney], after: Iterable[LineMoney], currency: str) -> dict[str, Decimal]:
    """How the order's subtotal, discount, tax and grand total move when its lines go from
    ``before`` to ``after`` (shipping is untouched)."""

    def summed(lines: Iterable[LineMoney]) -> tuple[Decimal, Decimal, Decimal]:
        g = d = t = Decimal(0)
        for ln in lines:
            a, b, c = effective_amounts(ln, currency)
            g, d, t = g + a, d + b, t + c
        return g, d, t

    g0, d0, t0 = summed(before)
    g1, d1, t1 = summed(after)
    return {
        "subtotal": g1 - g0,
        "discount_total": d1 - d0,
        "tax_total": t1 - t0,
        "grand_total": (g1 - d1 + t1) - (g0 - d0 + t0),
    }


def proportional_tax(net: Decimal, lines: Iterable[LineMoney], currency: str) -> Decimal:
    """Tax for a new line when the request gives none: the order's own rate on what its lines
    still count (tax over price less discount), applied to the new line's net amount. An order
    with no taxed lines gives no tax."""
    base = tax = Decimal(0)
    for ln in lines:
        g, d, t = effective_amounts(ln, currency)
        base += g - d
        tax += t
    if base <= 0 or tax == 0:
        return money.quantize(Decimal(0), currency)
    return money.quantize(net * tax / base, currency)
