"""Rules for stock that moves between places: receipts against inbound lots, transfers between
locations (in transit until received), and the stock policy of a row (safety stock and reorder
point). Pure; the services apply them under row locks. See docs/inventory.md and
docs/adr/0019-transfers-through-the-ledger.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from openoms.domain.errors import DomainError, ErrorCode, FieldError, IllegalTransition
from openoms.domain.stock_moves import MAX_REASON, MAX_UNITS

#: Most lines one transfer carries (a truck, not a catalogue).
MAX_TRANSFER_LINES = 200


def _refuse(errors: list[FieldError]) -> None:
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)


# --- receipts against inbound -------------------------------------------------------------


@dataclass(frozen=True)
class LotReceipt:
    """What receiving ``quantity`` units against a lot does to it."""

    received_total: int
    complete: bool
    over: int  # units beyond what the lot announced (0 unless over-receipt was allowed)


def receive_against_lot(
    *, status: str, expected: int, received: int, quantity: int, allow_over: bool = False
) -> LotReceipt:
    """Receive against an open lot. More than the lot still expects is refused unless the
    person says so (``allow_over``): a typo of 100 for 10 must not silently add 90 units."""
    if status != "open":
        raise DomainError(
            ErrorCode.ILLEGAL_TRANSITION,
            f"the inbound lot is {status}; only open lots can be received",
            extra={"current_status": status, "attempted": "receive"},
        )
    if quantity < 1:
        _refuse([FieldError("quantity", "must be at least 1")])
    if quantity > MAX_UNITS:
        _refuse([FieldError("quantity", f"must be at most {MAX_UNITS:,} units")])
    outstanding = max(expected - received, 0)
    if quantity > outstanding and not allow_over:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"quantity: {quantity} is more than the {outstanding} unit(s) still expected on this lot; "
            "receive at most that many, or allow an over-receipt",
            [FieldError("quantity", f"at most {outstanding} unit(s) still expected (over-receipt not allowed)")],
            extra={"outstanding": outstanding},
        )
    total = received + quantity
    return LotReceipt(total, total >= expected, max(total - expected, 0))


# --- transfers ----------------------------------------------------------------------------


class TransferStatus(StrEnum):
    DRAFT = "draft"  # planned: nothing has moved
    IN_TRANSIT = "in_transit"  # shipped: off the source's shelf, not yet all received
    RECEIVED = "received"  # every unit shipped has been received
    CANCELLED = "cancelled"  # given up before shipping


class TransferAction(StrEnum):
    SHIP = "ship"
    RECEIVE = "receive"
    CANCEL = "cancel"
    EDIT = "edit"


#: Which actions each status allows. Cancelling is for drafts only: shipped units are on a
#: truck and come back as a receipt (or a new transfer), never by deleting the record.
TRANSFER_ACTIONS: dict[TransferStatus, frozenset[TransferAction]] = {
    TransferStatus.DRAFT: frozenset({TransferAction.SHIP, TransferAction.CANCEL, TransferAction.EDIT}),
    TransferStatus.IN_TRANSIT: frozenset({TransferAction.RECEIVE}),
    TransferStatus.RECEIVED: frozenset(),
    TransferStatus.CANCELLED: frozenset(),
}


def check_transfer_action(number: str, status: str, action: TransferAction) -> None:
    """Refuse an action the transfer's status does not allow, saying what is allowed."""
    current = TransferStatus(status)
    if action not in TRANSFER_ACTIONS[current]:
        allowed = ", ".join(sorted(a.value for a in TRANSFER_ACTIONS[current])) or "nothing"
        raise IllegalTransition(
            f"Transfer {number} is {current.value.replace('_', ' ')}: it cannot {action.value} (allowed: {allowed})",
            current.value,
            action.value,
        )


@dataclass(frozen=True)
class TransferLineRequest:
    sku: str
    quantity: int


def check_transfer_request(
    from_location: str, to_location: str, lines: Sequence[TransferLineRequest], note: str | None = None
) -> list[TransferLineRequest]:
    """A transfer must go somewhere else, carry at least one line, each SKU once and each
    quantity positive. Returns the lines with SKUs trimmed, or refuses naming every field."""
    errors: list[FieldError] = []
    if not from_location.strip():
        errors.append(FieldError("from_location", "choose the location the units leave from"))
    if not to_location.strip():
        errors.append(FieldError("to_location", "choose the location the units go to"))
    elif from_location.strip() == to_location.strip():
        errors.append(FieldError("to_location", "must differ from the location the units leave from"))
    if not lines:
        errors.append(FieldError("lines", "add at least one SKU to transfer"))
    if len(lines) > MAX_TRANSFER_LINES:
        errors.append(FieldError("lines", f"at most {MAX_TRANSFER_LINES} lines per transfer"))
    seen: set[str] = set()
    clean: list[TransferLineRequest] = []
    for i, ln in enumerate(lines):
        sku = ln.sku.strip()
        if not sku:
            errors.append(FieldError(f"lines[{i}].sku", "enter a SKU"))
        elif sku in seen:
            errors.append(FieldError(f"lines[{i}].sku", f"{sku} is already on the transfer; add the units there"))
        seen.add(sku)
        if ln.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
        elif ln.quantity > MAX_UNITS:
            errors.append(FieldError(f"lines[{i}].quantity", f"must be at most {MAX_UNITS:,} units"))
        clean.append(TransferLineRequest(sku, ln.quantity))
    if note is not None and len(note) > MAX_REASON:
        errors.append(FieldError("note", f"must be at most {MAX_REASON} characters"))
    _refuse(errors)
    return clean


def check_transfer_receipt(outstanding: dict[str, int], received: dict[str, int]) -> None:
    """Units received must be on the transfer and still in transit: a transfer cannot deliver
    more than it shipped (extra units are a receipt or an adjustment, with their own reason)."""
    errors: list[FieldError] = []
    if not received or not any(received.values()):
        errors.append(FieldError("lines", "enter the units received for at least one SKU"))
    for sku, qty in received.items():
        if sku not in outstanding:
            errors.append(FieldError(f"lines[{sku}].sku", f"{sku} is not on this transfer"))
        elif qty < 0:
            errors.append(FieldError(f"lines[{sku}].quantity", "must be 0 or more"))
        elif qty > outstanding[sku]:
            errors.append(
                FieldError(f"lines[{sku}].quantity", f"{qty} received but only {outstanding[sku]} still in transit")
            )
    _refuse(errors)


def in_transit(shipped: int, received: int) -> int:
    return max(shipped - received, 0)


# --- stock policy: safety stock, reorder point, low stock ----------------------------------


def check_stock_policy(safety_stock: int, reorder_point: int | None) -> None:
    errors: list[FieldError] = []
    if safety_stock < 0:
        errors.append(FieldError("safety_stock", "must be 0 or more"))
    elif safety_stock > MAX_UNITS:
        errors.append(FieldError("safety_stock", f"must be at most {MAX_UNITS:,} units"))
    if reorder_point is not None:
        if reorder_point < 0:
            errors.append(FieldError("reorder_point", "must be 0 or more (leave empty for no alert)"))
        elif reorder_point > MAX_UNITS:
            errors.append(FieldError("reorder_point", f"must be at most {MAX_UNITS:,} units"))
    _refuse(errors)


def is_low(on_hand: int, reserved: int, inbound_open: int, reorder_point: int | None) -> bool:
    """Low stock: what is free on the shelf plus what is already on its way is at or below the
    reorder point, i.e. it is time to order more. Inbound counts so that a row with a purchase
    order placed does not keep alerting; no reorder point means no alert."""
    if reorder_point is None:
        return False
    return (on_hand - reserved) + inbound_open <= reorder_point
