"""Payments: the status of one payment, the order's payment status, and the money arithmetic.

Pure rules, no I/O. A payment is one authorisation at one provider (a card at Stripe, a cheque
marked received); it is captured once or in parts (at shipment), refunded once or in parts, or
voided while nothing is captured. docs/payments.md explains the rules chosen here:

* an order's **payable total** is what its non-cancelled units are worth plus shipping;
* a line's value for ``k`` of its ``q`` units is ``(unit_price * q - discount + tax) * k / q``,
  rounded to the currency: the line's discount and tax are spread evenly over its units;
* a shipment captures the value of the units it carries, and the shipping charge with the
  first shipment; the last shipment captures whatever the order still owes (rounding included);
* a refund is spread over the order's payments newest first, never more than any payment's
  refundable amount (captured - refunded - refunds in flight).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from openoms.domain import money
from openoms.domain.errors import DomainError, ErrorCode, FieldError, IllegalTransition

ZERO = Decimal(0)


class PaymentStatus(StrEnum):
    PENDING = "pending"  # asked, no answer yet (or an expected manual payment not yet received)
    REQUIRES_ACTION = "requires_action"  # the customer must act (3-D Secure)
    AUTHORIZED = "authorized"  # funds held, nothing captured
    PARTIALLY_CAPTURED = "partially_captured"  # part captured, the rest still held
    CAPTURED = "captured"  # everything captured, or the rest released by a final capture
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"  # everything captured was refunded
    VOIDED = "voided"  # authorisation released with nothing captured
    FAILED = "failed"  # declined, or never authorised


class OrderPaymentStatus(StrEnum):
    UNPAID = "unpaid"  # no payment, or none that holds money
    PENDING = "pending"  # a payment waits for the provider or the customer
    AUTHORIZED = "authorized"  # money held, nothing captured
    PARTIALLY_PAID = "partially_paid"  # some captured, less than the payable total
    PAID = "paid"  # captured (net of refunds) covers the payable total
    PARTIALLY_REFUNDED = "partially_refunded"  # a refund brought net paid below the payable total
    REFUNDED = "refunded"  # everything captured was refunded
    FAILED = "failed"  # the last attempts failed and nothing is held


class TransactionKind(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class TransactionStatus(StrEnum):
    PENDING = "pending"  # recorded before the provider call; stays so when it was unreachable
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    ACCEPTED = "accepted"  # answered "pending": the outcome comes later as a provider event


class RefundKind(StrEnum):
    RETURN = "return"
    APPEASEMENT = "appeasement"
    CANCELLATION = "cancellation"
    EXCHANGE = "exchange"
    ADJUSTMENT = "adjustment"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ManualMethod(StrEnum):
    CASH = "cash"
    CHEQUE = "cheque"
    BANK_TRANSFER = "bank_transfer"
    OTHER = "other"


PS = PaymentStatus
#: Where each status may go. Amount-driven moves (captures, refunds) are computed by
#: ``status_from_amounts``; this table refuses the rest (capturing a voided payment).
PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PS.PENDING: frozenset({PS.AUTHORIZED, PS.REQUIRES_ACTION, PS.FAILED, PS.VOIDED, PS.CAPTURED}),
    PS.REQUIRES_ACTION: frozenset({PS.AUTHORIZED, PS.PENDING, PS.FAILED, PS.VOIDED}),
    PS.AUTHORIZED: frozenset({PS.PARTIALLY_CAPTURED, PS.CAPTURED, PS.VOIDED, PS.FAILED}),
    PS.PARTIALLY_CAPTURED: frozenset({PS.CAPTURED, PS.PARTIALLY_REFUNDED, PS.REFUNDED}),
    PS.CAPTURED: frozenset({PS.PARTIALLY_REFUNDED, PS.REFUNDED}),
    PS.PARTIALLY_REFUNDED: frozenset({PS.PARTIALLY_REFUNDED, PS.REFUNDED, PS.CAPTURED, PS.PARTIALLY_CAPTURED}),
    PS.REFUNDED: frozenset({PS.PARTIALLY_REFUNDED}),  # a failed refund gives the room back
    PS.VOIDED: frozenset(),
    PS.FAILED: frozenset(),
}

#: Statuses in which money is held at the provider.
HOLDS_MONEY = frozenset({PS.AUTHORIZED, PS.PARTIALLY_CAPTURED, PS.CAPTURED, PS.PARTIALLY_REFUNDED, PS.REFUNDED})


def check_payment_transition(ref: str, current: PaymentStatus, target: PaymentStatus) -> None:
    if current == target or target in PAYMENT_TRANSITIONS[current]:
        return
    raise IllegalTransition(f"Payment {ref} is {current.value}; it cannot become {target.value}", current, target)


@dataclass(frozen=True)
class PaymentAmounts:
    """What the OMS knows of one payment's money."""

    payment_id: int
    status: PaymentStatus
    authorized: Decimal = ZERO
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    refund_pending: Decimal = ZERO
    capture_closed: bool = False  # a final capture (or void) released what was not captured
    capture_pending: Decimal = ZERO  # captures asked for, not yet answered

    @property
    def capturable(self) -> Decimal:
        """Held and not yet captured (nor being captured)."""
        if self.capture_closed or self.status not in (PS.AUTHORIZED, PS.PARTIALLY_CAPTURED, PS.PARTIALLY_REFUNDED):
            return ZERO
        return max(ZERO, self.authorized - self.captured - self.capture_pending)

    @property
    def refundable(self) -> Decimal:
        """Captured and not refunded, nor being refunded."""
        return max(ZERO, self.captured - self.refunded - self.refund_pending)

    @property
    def net_paid(self) -> Decimal:
        return self.captured - self.refunded


def status_from_amounts(
    authorized: Decimal, captured: Decimal, refunded: Decimal, *, capture_closed: bool
) -> PaymentStatus:
    """The status of a payment that holds money, from its amounts."""
    if captured > 0 and refunded >= captured:
        return PS.REFUNDED
    if refunded > 0:
        return PS.PARTIALLY_REFUNDED
    if captured <= 0:
        return PS.AUTHORIZED
    if capture_closed or captured >= authorized:
        return PS.CAPTURED
    return PS.PARTIALLY_CAPTURED


def order_payment_status(payments: Sequence[PaymentAmounts], payable: Decimal) -> OrderPaymentStatus:
    """The order's roll-up (docs/order-lifecycle.md, "Payment status")."""
    live = [p for p in payments if p.status not in (PS.FAILED, PS.VOIDED)]
    captured = sum((p.captured for p in live), ZERO)
    refunded = sum((p.refunded for p in live), ZERO)
    net = captured - refunded
    if captured > 0 and refunded >= captured:
        return OrderPaymentStatus.REFUNDED
    if captured > 0 and payable > 0 and net >= payable:
        return OrderPaymentStatus.PAID
    if refunded > 0:
        return OrderPaymentStatus.PARTIALLY_REFUNDED
    if captured > 0:
        return OrderPaymentStatus.PARTIALLY_PAID
    if any(p.status == PS.AUTHORIZED for p in live):
        return OrderPaymentStatus.AUTHORIZED
    if any(p.status in (PS.PENDING, PS.REQUIRES_ACTION) for p in live):
        return OrderPaymentStatus.PENDING
    if any(p.status == PS.FAILED for p in payments):
        return OrderPaymentStatus.FAILED
    return OrderPaymentStatus.UNPAID


# --- what an order is worth ------------------------------------------------------------------


@dataclass(frozen=True)
class LineMoney:
    """A line's money as captured: ``discount`` and ``tax`` are for the whole line."""

    line_id: int
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    quantity_cancelled: int = 0

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity - self.discount + self.tax


def line_value(line: LineMoney, units: int, currency: str) -> Decimal:
    """What ``units`` of the line are worth: its total spread evenly over its units, rounded.

    The value of the first ``k`` units is always computed whole (never unit by unit), so values
    of consecutive slices (``line_value(a+b) - line_value(a)``) add up to the line's total."""
    if units <= 0 or line.quantity <= 0:
        return money.quantize(ZERO, currency)
    if units >= line.quantity:
        return money.quantize(line.total, currency)
    return money.quantize(line.total * units / line.quantity, currency)


def payable_total(lines: Iterable[LineMoney], shipping: Decimal, currency: str) -> Decimal:
    """What the customer owes: the non-cancelled units, plus shipping (with its tax) unless every
    unit is cancelled."""
    lines = list(lines)
    kept = sum((line_value(ln, ln.quantity - ln.quantity_cancelled, currency) for ln in lines), ZERO)
    any_kept = any(ln.quantity - ln.quantity_cancelled > 0 for ln in lines)
    return money.quantize(kept + (shipping if any_kept else ZERO), currency)


def shipment_value(
    lines: Iterable[LineMoney],
    shipped_before: dict[int, int],
    shipped_now: dict[int, int],
    *,
    shipping: Decimal,
    first_shipment: bool,
    currency: str,
) -> Decimal:
    """The amount to capture for one shipment: the value of the units it carries (slices of each
    line, see ``line_value``), plus the shipping charge with the order's first shipment."""
    total = ZERO
    for ln in lines:
        now = shipped_now.get(ln.line_id, 0)
        if now <= 0:
            continue
        before = shipped_before.get(ln.line_id, 0)
        total += line_value(ln, before + now, currency) - line_value(ln, before, currency)
    if first_shipment:
        total += shipping
    return money.quantize(total, currency)


# --- spreading captures and refunds over payments ----------------------------------------------


def plan_capture(amount: Decimal, payments: Sequence[PaymentAmounts]) -> list[tuple[int, Decimal]]:
    """Spread a capture over the payments that hold money, oldest first (a payment taken at
    checkout before one collected later); at most what is capturable: the caller captures
    less when less is held."""
    left = amount
    plan: list[tuple[int, Decimal]] = []
    for p in sorted(payments, key=lambda p: p.payment_id):
        if left <= 0:
            break
        take = min(left, p.capturable)
        if take > 0:
            plan.append((p.payment_id, take))
            left -= take
    return plan


def plan_refund(amount: Decimal, payments: Sequence[PaymentAmounts], currency: str) -> list[tuple[int, Decimal]]:
    """Spread a refund over the order's payments, newest first, never more than any payment's
    refundable amount. Refuses (field ``amount``) when the order has less to give back."""
    if amount <= 0:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            "amount: must be more than zero",
            [FieldError("amount", "must be more than zero")],
        )
    if not money.fits_currency(amount, currency):
        reason = f"{amount} has more decimals than {currency} allows ({money.minor_units(currency)})"
        raise DomainError(ErrorCode.VALIDATION_ERROR, f"amount: {reason}", [FieldError("amount", reason)])
    room = sum((p.refundable for p in payments), ZERO)
    if amount > room:
        reason = f"is more than can be refunded: {money.quantize(room, currency)} {currency} captured and not refunded"
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"amount: {reason}",
            [FieldError("amount", reason)],
            extra={"refundable": str(money.quantize(room, currency))},
        )
    left = amount
    plan: list[tuple[int, Decimal]] = []
    for p in sorted(payments, key=lambda p: p.payment_id, reverse=True):
        if left <= 0:
            break
        take = min(left, p.refundable)
        if take > 0:
            plan.append((p.payment_id, take))
            left -= take
    return plan


@dataclass(frozen=True)
class Reconciliation:
    """What to do after an order changed: refund the excess, void idle authorisations, or
    authorise what the order now needs beyond what is held."""

    refund: Decimal
    void: tuple[int, ...]
    authorize: Decimal


def reconcile(payable: Decimal, payments: Sequence[PaymentAmounts]) -> Reconciliation:
    live = [p for p in payments if p.status in HOLDS_MONEY]
    net = sum((p.captured - p.refunded - p.refund_pending for p in live), ZERO)
    held = sum((p.capturable for p in live), ZERO)
    still_owed = payable - net
    if still_owed < 0:
        # Captured more than the order is now worth: give the excess back, release every hold.
        return Reconciliation(
            -still_owed, tuple(p.payment_id for p in live if p.capturable > 0 and p.captured == 0), ZERO
        )
    if still_owed == 0:
        return Reconciliation(ZERO, tuple(p.payment_id for p in live if p.capturable > 0 and p.captured == 0), ZERO)
    if held >= still_owed:
        return Reconciliation(ZERO, (), ZERO)
    if not live and not any(p.status in (PS.PENDING, PS.REQUIRES_ACTION) for p in payments):
        return Reconciliation(ZERO, (), ZERO)  # an order nobody took a payment for stays unpaid
    if any(p.status in (PS.PENDING, PS.REQUIRES_ACTION) for p in payments):
        return Reconciliation(ZERO, (), ZERO)  # an answer is awaited: do not ask twice
    return Reconciliation(ZERO, (), still_owed - held)
