"""Fulfilment orders and shipments: the hand-off to the locations and the truth of what shipped.

When an order is released, every location holding stock for it gets a **fulfilment order**
with one line per reservation it holds. The location works it through

    released -> accepted -> picked -> packed -> shipped

reporting as much or as little of that as its systems do: a 3PL that only reports shipments
ships straight from ``released``. Any open line can be **rejected** (not found, damaged): its
units go back to routing. A fulfilment order ships in one or more **shipments**, each with one
or more **packages** (tracking number, weight, the lines and units inside); shipping takes the
units off the shelf and out of the reservation together. A fulfilment order is closed when every
line is shipped or rejected: ``shipped`` if anything shipped, else ``rejected``.
docs/fulfilment.md draws the machine; the rules are here and only here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from openoms.domain.errors import DomainError, ErrorCode, FieldError, IllegalTransition


class FulfilmentStatus(StrEnum):
    RELEASED = "released"  # handed to the location, not yet acknowledged
    ACCEPTED = "accepted"
    PICKED = "picked"
    PACKED = "packed"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"  # closed: every line shipped or rejected, something shipped
    REJECTED = "rejected"  # closed: every line rejected
    CANCELLED = "cancelled"  # closed: the order was cancelled before anything shipped
    READY_FOR_PICKUP = "ready_for_pickup"  # a pickup order waits at the store (domain/pickup.py)
    PICKED_UP = "picked_up"  # closed: the customer collected it


FS = FulfilmentStatus
OPEN = frozenset({FS.RELEASED, FS.ACCEPTED, FS.PICKED, FS.PACKED, FS.PARTIALLY_SHIPPED, FS.READY_FOR_PICKUP})
CLOSED = frozenset({FS.SHIPPED, FS.REJECTED, FS.CANCELLED, FS.PICKED_UP})

#: The progress a location reports; shipping, rejecting and cancelling are separate commands.
PROGRESS: Mapping[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    FS.RELEASED: frozenset({FS.ACCEPTED}),
    FS.ACCEPTED: frozenset({FS.PICKED}),
    FS.PICKED: frozenset({FS.PACKED}),
    FS.PACKED: frozenset(),
    FS.PARTIALLY_SHIPPED: frozenset(),
    FS.SHIPPED: frozenset(),
    FS.REJECTED: frozenset(),
    FS.CANCELLED: frozenset(),
    FS.READY_FOR_PICKUP: frozenset(),  # the customer collects it: domain/pickup.py
    FS.PICKED_UP: frozenset(),
}

#: Statuses a shipment may be recorded from (a 3PL may report only the shipment); an order
#: waiting at the store for its customer leaves by hand-over (domain/pickup.py), not by carrier.
SHIPPABLE = OPEN - {FS.READY_FOR_PICKUP}


def check_progress(ref: str, current: FulfilmentStatus, target: FulfilmentStatus) -> None:
    """A location reports the next step: accepted, picked, packed, in that order."""
    if target not in PROGRESS[current]:
        allowed = sorted(s.value for s in PROGRESS[current]) or ["nothing"]
        raise IllegalTransition(
            f"Fulfilment order {ref} is {current.value}; it can move to {', '.join(allowed)}, not {target.value}",
            current.value,
            target.value,
        )


@dataclass(frozen=True)
class FulfilmentLineState:
    line_number: int  # the order line's number, as people see it
    sku: str
    quantity: int
    quantity_shipped: int = 0
    quantity_rejected: int = 0
    quantity_cancelled: int = 0  # the order's units cancelled after release

    @property
    def open(self) -> int:
        return self.quantity - self.quantity_shipped - self.quantity_rejected - self.quantity_cancelled


@dataclass(frozen=True)
class PackageInput:
    tracking_number: str
    weight_grams: int | None
    lines: Sequence[tuple[int, int]]  # (order line number, units)


@dataclass(frozen=True)
class ShipmentPlan:
    """What a shipment takes: units per fulfilment line (by order line number)."""

    units: Mapping[int, int]
    closes: bool  # every line is then shipped or rejected


MAX_PACKAGES = 500
MAX_TRACKING = 64


def plan_shipment(
    ref: str,
    status: FulfilmentStatus,
    lines: Sequence[FulfilmentLineState],
    packages: Sequence[PackageInput],
    *,
    handover: bool = False,
) -> ShipmentPlan:
    """Check a shipment against the fulfilment order and say what it takes. Every problem
    is reported at once, each naming its field (``packages[1].lines[0].quantity``).
    ``handover``: the customer collects it at the store (from ``ready_for_pickup``)."""
    if status not in (OPEN if handover else SHIPPABLE):
        raise IllegalTransition(
            f"Fulfilment order {ref} is {status.value}: nothing more can ship from it", status.value, "shipped"
        )
    errors: list[FieldError] = []
    if not packages:
        errors.append(FieldError("packages", "a shipment needs at least one package"))
    if len(packages) > MAX_PACKAGES:
        errors.append(FieldError("packages", f"at most {MAX_PACKAGES} packages per shipment"))
    by_number = {ln.line_number: ln for ln in lines}
    units: dict[int, int] = defaultdict(int)
    seen_tracking: set[str] = set()
    for p, pkg in enumerate(packages):
        tracking = pkg.tracking_number.strip()
        if not tracking:
            errors.append(FieldError(f"packages[{p}].tracking_number", "is required"))
        elif len(tracking) > MAX_TRACKING:
            errors.append(FieldError(f"packages[{p}].tracking_number", f"at most {MAX_TRACKING} characters"))
        elif tracking in seen_tracking:
            errors.append(FieldError(f"packages[{p}].tracking_number", f"{tracking} is used twice in this shipment"))
        seen_tracking.add(tracking)
        if pkg.weight_grams is not None and not 0 < pkg.weight_grams <= 1_000_000:
            errors.append(FieldError(f"packages[{p}].weight_grams", "must be from 1 to 1000000"))
        if not pkg.lines:
            errors.append(FieldError(f"packages[{p}].lines", "a package holds at least one line"))
        for i, (number, qty) in enumerate(pkg.lines):
            where = f"packages[{p}].lines[{i}]"
            if number not in by_number:
                errors.append(FieldError(f"{where}.line_number", f"line {number} is not in fulfilment order {ref}"))
            elif qty < 1:
                errors.append(FieldError(f"{where}.quantity", "must be at least 1"))
            else:
                units[number] += qty
    for number, qty in sorted(units.items()):
        line = by_number[number]
        if qty > line.open:
            errors.append(
                FieldError(
                    "packages",
                    f"line {number} ({line.sku}): {qty} units shipped but only {line.open} open "
                    f"({line.quantity} released, {line.quantity_shipped} shipped, {line.quantity_rejected} rejected, "
                    f"{line.quantity_cancelled} cancelled)",
                )
            )
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    closes = all(ln.open - units.get(ln.line_number, 0) == 0 for ln in lines)
    return ShipmentPlan(dict(units), closes)


def status_after(lines: Sequence[FulfilmentLineState], current: FulfilmentStatus) -> FulfilmentStatus:
    """The fulfilment order's status once its lines' quantities changed (a shipment or a
    rejection): closed when nothing is open, partially shipped when some units left."""
    if all(ln.open == 0 for ln in lines):
        if any(ln.quantity_shipped for ln in lines):
            return FS.SHIPPED
        return FS.REJECTED if any(ln.quantity_rejected for ln in lines) else FS.CANCELLED
    if any(ln.quantity_shipped for ln in lines):
        return FS.PARTIALLY_SHIPPED
    return current


def check_rejectable(ref: str, status: FulfilmentStatus, line: FulfilmentLineState | None, number: int) -> None:
    """A location can reject what it has not shipped, while the fulfilment order is open."""
    if status not in OPEN:
        raise IllegalTransition(
            f"Fulfilment order {ref} is {status.value}: nothing in it can be rejected", status.value, "rejected"
        )
    if line is None:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"line_number: line {number} is not in fulfilment order {ref}",
            [FieldError("line_number", f"line {number} is not in fulfilment order {ref}")],
        )
    if line.open == 0:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"line_number: line {number} of {ref} has nothing open to reject",
            [FieldError("line_number", f"line {number} has nothing open ({line.quantity_shipped} shipped)")],
        )


def fulfilment_number(fo_id: int) -> str:
    """The human-facing fulfilment order number (FO-0000042)."""
    return f"FO-{fo_id:07d}"


def parse_fulfilment_number(text: str) -> int | None:
    """An id (42) or number (FO-0000042); None for anything else (``isdigit`` alone would let
    "²" through, which ``int`` then refuses)."""
    t = text.strip().upper()
    digits = t[3:] if t.startswith("FO-") else t
    if digits.isascii() and digits.isdigit():
        return int(digits)
    return None
