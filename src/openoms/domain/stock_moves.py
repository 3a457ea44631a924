"""Rules for stock moved by hand in the back office: receipts, adjustments and counts.

A person moving stock must say why (an adjustment or count without a reason cannot be audited)
and a receipt must name what it was received against (a PO, ASN or transfer number), so that
every ledger row a person writes can be explained later. The on-hand-never-below-reserved rule
stays in ``domain.inventory.check_on_hand_change`` and is applied under the row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.inventory import LedgerEntryType

#: The largest number of units one command may move (the API's limit too).
MAX_UNITS = 100_000_000
#: The ledger keeps reasons and references up to these lengths.
MAX_REASON = 255
MAX_REFERENCE = 128


class MoveKind(StrEnum):
    RECEIPT = LedgerEntryType.RECEIPT
    ADJUSTMENT = LedgerEntryType.ADJUSTMENT
    COUNT = LedgerEntryType.COUNT


#: Reasons people pick most often; offered as suggestions, any text is accepted.
ADJUSTMENT_REASONS = (
    "Damaged",
    "Found in stock",
    "Lost or stolen",
    "Returned to vendor",
    "Sample or internal use",
    "Correction of a booking error",
)
COUNT_REASONS = ("Cycle count", "Full stocktake", "Spot check")


@dataclass(frozen=True)
class ManualMove:
    """A stock move a person asked for, with the figures already parsed to integers."""

    kind: MoveKind
    sku: str
    location: str
    quantity: int  # receipt: units received; adjustment: signed delta; count: counted on hand
    reason: str | None = None
    reference: str | None = None


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def check_manual_move(move: ManualMove) -> ManualMove:
    """The move with its texts trimmed, or a refusal naming each field that is wrong."""
    errors: list[FieldError] = []
    reason, reference = _clean(move.reason), _clean(move.reference)
    if not move.location.strip():
        errors.append(FieldError("location", "choose a location"))
    if move.kind is MoveKind.RECEIPT:
        if move.quantity < 1:
            errors.append(FieldError("quantity", "must be at least 1"))
        if reference is None:
            errors.append(FieldError("reference", "enter the PO, ASN or transfer number the units came in on"))
    elif move.kind is MoveKind.ADJUSTMENT:
        if move.quantity == 0:
            errors.append(FieldError("quantity", "must not be 0: enter units to add (12) or remove (-3)"))
        if reason is None:
            errors.append(FieldError("reason", "say why the stock changes (damaged, found, ...)"))
    elif move.kind is MoveKind.COUNT:
        if move.quantity < 0:
            errors.append(FieldError("quantity", "must be 0 or more"))
        if reason is None:
            errors.append(FieldError("reason", "say what kind of count this is (cycle count, stocktake, ...)"))
    if abs(move.quantity) > MAX_UNITS:
        errors.append(FieldError("quantity", f"must be at most {MAX_UNITS:,} units"))
    if reason is not None and len(reason) > MAX_REASON:
        errors.append(FieldError("reason", f"must be at most {MAX_REASON} characters"))
    if reference is not None and len(reference) > MAX_REFERENCE:
        errors.append(FieldError("reference", f"must be at most {MAX_REFERENCE} characters"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    if move.kind is MoveKind.RECEIPT and reason is None:
        reason = "receipt"
    return ManualMove(move.kind, move.sku, move.location.strip(), move.quantity, reason, reference)
