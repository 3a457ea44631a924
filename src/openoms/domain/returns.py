"""Returns (RMA): eligibility, the RMA status machine, dispositions and the refund arithmetic.

Pure rules, no I/O: the service (``services/returns.py``) reads the order, its shipments and the
policy, and asks these functions what may happen and for how much. docs/returns.md explains them
for people; ADR 26 records the decisions the issue left open (window basis and timezone, shipping
and restocking fee, exchanges).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from openoms.domain import money
from openoms.domain.errors import DomainError, ErrorCode, FieldError, IllegalTransition, validation_error


class ReturnStatus(StrEnum):
    REQUESTED = "requested"  # asked for; nothing promised yet
    APPROVED = "approved"  # the merchant agreed: the customer may send or bring the units
    LABEL_ISSUED = "label_issued"  # a return label was printed (mail returns)
    PARTIALLY_RECEIVED = "partially_received"  # some units came back and were inspected
    RECEIVED = "received"  # every requested unit came back and was inspected
    REFUNDED = "refunded"  # the money for what came back went back to the customer
    CLOSED = "closed"  # nothing more will happen (after the refund, or closed without one)
    REJECTED = "rejected"  # the merchant refused the request
    CANCELLED = "cancelled"  # withdrawn before anything came back


class ReturnMethod(StrEnum):
    MAIL = "mail"  # sent back by post with a return label
    IN_STORE = "in_store"  # brought to a store (bought online, returned in store)


class ReturnSource(StrEnum):
    CUSTOMER_SERVICE = "customer_service"
    API = "api"
    CUSTOMER = "customer"  # the customer's self-service page


class Condition(StrEnum):
    UNOPENED = "unopened"
    OPENED = "opened"
    DAMAGED = "damaged"


class Disposition(StrEnum):
    RESTOCK = "restock"  # back on the shelf: on hand grows through the ledger, sellable again
    REFURBISH = "refurbish"  # kept aside to be repaired; not available, counted on the return
    WRITE_OFF = "write_off"  # scrapped; never stock again


class ReasonCode(StrEnum):
    NO_LONGER_NEEDED = "no_longer_needed"
    WRONG_SIZE = "wrong_size"
    NOT_AS_DESCRIBED = "not_as_described"
    CHANGED_MIND = "changed_mind"
    DAMAGED = "damaged"  # arrived damaged
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"  # we sent the wrong thing
    OTHER = "other"


#: Reasons that are the merchant's fault: no restocking fee, and shipping comes back (ADR 26).
MERCHANT_FAULT = frozenset({ReasonCode.DAMAGED, ReasonCode.DEFECTIVE, ReasonCode.WRONG_ITEM})


class ShippingRefund(StrEnum):
    """When the order's shipping charge is refunded (per policy)."""

    NEVER = "never"
    FULL_RETURN = "full_return"  # only when the whole order has come back
    FULL_RETURN_OR_MERCHANT_FAULT = "full_return_or_merchant_fault"  # the default


RS = ReturnStatus
RETURN_TRANSITIONS: Mapping[ReturnStatus, frozenset[ReturnStatus]] = {
    RS.REQUESTED: frozenset({RS.APPROVED, RS.REJECTED, RS.CANCELLED}),
    RS.APPROVED: frozenset({RS.LABEL_ISSUED, RS.PARTIALLY_RECEIVED, RS.RECEIVED, RS.CANCELLED}),
    RS.LABEL_ISSUED: frozenset({RS.PARTIALLY_RECEIVED, RS.RECEIVED, RS.CANCELLED}),
    # More units may follow; refunding (or closing) what came back ends the wait for the rest.
    RS.PARTIALLY_RECEIVED: frozenset({RS.PARTIALLY_RECEIVED, RS.RECEIVED, RS.REFUNDED, RS.CLOSED}),
    RS.RECEIVED: frozenset({RS.REFUNDED, RS.CLOSED}),
    RS.REFUNDED: frozenset({RS.CLOSED}),
    RS.CLOSED: frozenset(),
    RS.REJECTED: frozenset(),
    RS.CANCELLED: frozenset(),
}

#: Statuses whose units are still expected or counted against the line (not rejected/cancelled).
ACTIVE = frozenset(s for s in ReturnStatus if s not in (RS.REJECTED, RS.CANCELLED))
#: Statuses in which units may be received.
RECEIVABLE = frozenset({RS.APPROVED, RS.LABEL_ISSUED, RS.PARTIALLY_RECEIVED})
#: Statuses in which the refund may be issued.
REFUNDABLE = frozenset({RS.PARTIALLY_RECEIVED, RS.RECEIVED})
#: Open returns: on the queue.
OPEN = frozenset({RS.REQUESTED, RS.APPROVED, RS.LABEL_ISSUED, RS.PARTIALLY_RECEIVED, RS.RECEIVED})

MAX_RETURN_LINES = 500
MAX_WINDOW_DAYS = 3650


def rma_number(return_id: int) -> str:
    """The human-facing RMA number, derived from the id like order numbers are."""
    return f"RMA-{return_id:07d}"


def parse_rma_number(text: str) -> int | None:
    t = text.strip().upper()
    if t.startswith("RMA-") and t[4:].isascii() and t[4:].isdigit():
        return int(t[4:])
    return None


def can_transition(current: ReturnStatus, target: ReturnStatus) -> bool:
    return target in RETURN_TRANSITIONS[current]


def check_transition(rma: str, current: ReturnStatus, target: ReturnStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(
            f"Return {rma} is {current.value}; it cannot become {target.value}", current.value, target.value
        )


# --- policy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnPolicy:
    """What a channel accepts back (the default policy when a channel has none of its own)."""

    window_days: int = 30
    restocking_fee_percent: Decimal = Decimal(0)
    refund_shipping: ShippingRefund = ShippingRefund.FULL_RETURN_OR_MERCHANT_FAULT
    allowed_methods: tuple[ReturnMethod, ...] = (ReturnMethod.MAIL, ReturnMethod.IN_STORE)
    accepted_conditions: tuple[Condition, ...] = (Condition.UNOPENED, Condition.OPENED, Condition.DAMAGED)


DEFAULT_POLICY = ReturnPolicy()


def validate_policy(
    *,
    window_days: int,
    restocking_fee_percent: Decimal,
    refund_shipping: str,
    allowed_methods: Sequence[str],
    accepted_conditions: Sequence[str],
) -> ReturnPolicy:
    """A policy from input, or a 422 naming each bad field."""
    errors: list[FieldError] = []
    if not 0 <= window_days <= MAX_WINDOW_DAYS:
        errors.append(FieldError("window_days", f"must be between 0 and {MAX_WINDOW_DAYS}"))
    if not Decimal(0) <= restocking_fee_percent <= Decimal(100):
        errors.append(FieldError("restocking_fee_percent", "must be between 0 and 100"))
    elif restocking_fee_percent != restocking_fee_percent.quantize(Decimal("0.01")):
        errors.append(FieldError("restocking_fee_percent", "at most 2 decimals"))
    if refund_shipping not in ShippingRefund.__members__.values():
        errors.append(FieldError("refund_shipping", f"one of {', '.join(s.value for s in ShippingRefund)}"))
    methods = list(dict.fromkeys(allowed_methods))
    bad = [m for m in methods if m not in ReturnMethod.__members__.values()]
    if bad or not methods:
        errors.append(FieldError("allowed_methods", f"at least one of {', '.join(m.value for m in ReturnMethod)}"))
    conds = list(dict.fromkeys(accepted_conditions))
    badc = [c for c in conds if c not in Condition.__members__.values()]
    if badc or not conds:
        errors.append(FieldError("accepted_conditions", f"at least one of {', '.join(c.value for c in Condition)}"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    return ReturnPolicy(
        window_days=window_days,
        restocking_fee_percent=restocking_fee_percent,
        refund_shipping=ShippingRefund(refund_shipping),
        allowed_methods=tuple(ReturnMethod(m) for m in methods),
        accepted_conditions=tuple(Condition(c) for c in conds),
    )


# --- eligibility --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineFacts:
    """What eligibility needs to know about one order line."""

    line_number: int
    sku: str
    quantity_shipped: int
    quantity_returned: int  # units already in active returns (requested and not rejected/cancelled)
    final_sale: bool = False
    window_days: int | None = None  # the product's own window, overriding the policy's
    window_start: dt.datetime | None = None  # delivery of its last shipment, else the shipment
    timezone: str = "UTC"  # the shipping location's: the window ends at its local midnight


@dataclass(frozen=True)
class Eligibility:
    line_number: int
    sku: str
    returnable: int  # units that may be requested now
    reason: str | None  # why nothing (more) can be returned; None when ``returnable`` > 0
    deadline: dt.datetime | None  # last instant of the window (UTC), when it has one


def window_deadline(start: dt.datetime, days: int, timezone: str) -> dt.datetime:
    """The window runs to the end of local day ``start + days`` where the goods shipped from: a
    parcel delivered on the 1st with 30 days may come back until 23:59:59 on the 31st there."""
    tz = ZoneInfo(timezone)
    local_day = start.astimezone(tz).date() + dt.timedelta(days=days)
    end = dt.datetime.combine(local_day + dt.timedelta(days=1), dt.time.min, tz)
    return end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)


def line_eligibility(line: LineFacts, policy: ReturnPolicy, now: dt.datetime) -> Eligibility:
    """How many units of a line may be returned now, or why none."""

    def no(reason: str, deadline: dt.datetime | None = None) -> Eligibility:
        return Eligibility(line.line_number, line.sku, 0, reason, deadline)

    if line.final_sale:
        return no(f"{line.sku} is a final-sale item: it cannot be returned")
    if line.quantity_shipped <= 0:
        return no("nothing of this line has shipped yet")
    left = line.quantity_shipped - line.quantity_returned
    if left <= 0:
        return no(f"every shipped unit ({line.quantity_shipped}) is already returned or requested")
    days = policy.window_days if line.window_days is None else line.window_days
    deadline = None
    if line.window_start is not None:
        deadline = window_deadline(line.window_start, days, line.timezone)
        if now > deadline:
            local = deadline.astimezone(ZoneInfo(line.timezone))
            return no(f"the {days}-day return window ended on {local:%Y-%m-%d}", deadline)
    return Eligibility(line.line_number, line.sku, left, None, deadline)


@dataclass(frozen=True)
class RequestedLine:
    line_number: int
    quantity: int
    reason: ReasonCode
    condition: Condition | None = None


def check_request(
    lines: Sequence[RequestedLine],
    eligibility: Mapping[int, Eligibility],
    policy: ReturnPolicy,
    method: ReturnMethod,
) -> None:
    """Refuse a request that asks for more than may come back, naming each line and why."""
    errors: list[FieldError] = []
    if method not in policy.allowed_methods:
        allowed = ", ".join(m.value for m in policy.allowed_methods)
        errors.append(FieldError("method", f"{method.value} returns are not accepted here (allowed: {allowed})"))
    if not lines:
        errors.append(FieldError("lines", "a return needs at least one line"))
    asked: dict[int, int] = {}
    for i, ln in enumerate(lines):
        asked[ln.line_number] = asked.get(ln.line_number, 0) + ln.quantity
        if ln.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
            continue
        el = eligibility.get(ln.line_number)
        if el is None:
            errors.append(FieldError(f"lines[{i}].line_number", f"the order has no line {ln.line_number}"))
        elif el.returnable == 0:
            errors.append(FieldError(f"lines[{i}].line_number", el.reason or "not returnable"))
        elif asked[ln.line_number] > el.returnable:
            errors.append(
                FieldError(
                    f"lines[{i}].quantity",
                    f"line {ln.line_number} ({el.sku}) has {el.returnable} returnable unit(s); "
                    f"{asked[ln.line_number]} requested",
                )
            )
        if ln.condition is not None and ln.condition not in policy.accepted_conditions:
            errors.append(FieldError(f"lines[{i}].condition", f"{ln.condition.value} items are not accepted back"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)


# --- receiving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    line_number: int
    quantity: int
    condition: Condition
    disposition: Disposition


def check_receipt(
    rma: str,
    status: ReturnStatus,
    receipts: Sequence[Receipt],
    outstanding: Mapping[int, int],
    policy: ReturnPolicy,
) -> ReturnStatus:
    """Refuse a receipt of more units than are still expected (per line, summed over the
    receipt); return the status the return is in afterwards."""
    if status not in RECEIVABLE:
        raise IllegalTransition(
            f"Return {rma} is {status.value}; units can be received only once it is approved",
            status.value,
            RS.RECEIVED.value,
        )
    errors: list[FieldError] = []
    if not receipts:
        errors.append(FieldError("lines", "receive at least one unit"))
    got: dict[int, int] = {}
    for i, r in enumerate(receipts):
        if r.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
            continue
        if r.line_number not in outstanding:
            errors.append(FieldError(f"lines[{i}].line_number", f"return {rma} has no line {r.line_number}"))
            continue
        got[r.line_number] = got.get(r.line_number, 0) + r.quantity
        if got[r.line_number] > outstanding[r.line_number]:
            errors.append(
                FieldError(
                    f"lines[{i}].quantity",
                    f"line {r.line_number}: {outstanding[r.line_number]} unit(s) still expected; "
                    f"{got[r.line_number]} received",
                )
            )
        if r.disposition == Disposition.RESTOCK and r.condition == Condition.DAMAGED:
            errors.append(FieldError(f"lines[{i}].disposition", "a damaged unit cannot be restocked as sellable"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    left = sum(outstanding.values()) - sum(got.values())
    target = RS.RECEIVED if left == 0 else RS.PARTIALLY_RECEIVED
    check_transition(rma, status, target)
    return target


# --- refund arithmetic --------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundLine:
    """One order line as far as the refund is concerned. Amounts are the line's totals."""

    line_number: int
    sku: str
    quantity: int  # units ordered
    unit_price: Decimal
    discount: Decimal  # the whole line's discount
    tax: Decimal  # the whole line's tax
    units_credited_before: int  # units of this line refunded by earlier returns
    units_now: int  # units of this line this refund is for
    reason: ReasonCode = ReasonCode.OTHER


@dataclass(frozen=True)
class OrderMoney:
    currency: str
    shipping_total: Decimal
    shipping_tax: Decimal
    shipping_refunded_before: Decimal  # shipping (with its tax) already refunded by earlier returns
    refundable: Decimal  # what may still go back to the customer (captured minus refunded)
    whole_order_back: bool  # with these units, every unit the order shipped has come back


@dataclass(frozen=True)
class RefundQuote:
    currency: str
    lines: list[dict[str, object]]
    components: dict[str, Decimal]
    total: Decimal
    notes: list[str] = field(default_factory=list)


def _share(total: Decimal, upto: int, of: int, currency: str) -> Decimal:
    """A line amount's share for its first ``upto`` units, rounded: shares are taken as the
    difference of cumulative shares, so the pieces of one line always add up to the line."""
    if of <= 0:
        return Decimal(0)
    return money.quantize(total * upto / of, currency)


def refund_quote(
    lines: Iterable[RefundLine], order: OrderMoney, policy: ReturnPolicy, *, waive_fee: bool = False
) -> RefundQuote:
    """What goes back for the units that came back: per line, the item price net of the line's
    discount and its tax (each line's shares are cumulative differences, so several returns of
    one line never credit more than the line cost); shipping when the whole order is back or
    the reason is the merchant's fault (per policy); minus the restocking fee, waived for the
    merchant's faults. Never more than ``order.refundable``: a cap is a component, so the
    components always add up to the total."""
    cur = order.currency
    out_lines: list[dict[str, object]] = []
    items = tax = fee = Decimal(0)
    fault = False
    pct = policy.restocking_fee_percent / Decimal(100)
    for ln in lines:
        if ln.units_now <= 0:
            continue
        before, after = ln.units_credited_before, ln.units_credited_before + ln.units_now
        gross = ln.unit_price * ln.quantity
        line_gross = _share(gross, after, ln.quantity, cur) - _share(gross, before, ln.quantity, cur)
        line_disc = _share(ln.discount, after, ln.quantity, cur) - _share(ln.discount, before, ln.quantity, cur)
        line_tax = _share(ln.tax, after, ln.quantity, cur) - _share(ln.tax, before, ln.quantity, cur)
        net = line_gross - line_disc
        merchant = ln.reason in MERCHANT_FAULT
        fault = fault or merchant
        line_fee = Decimal(0) if merchant or waive_fee else money.quantize(net * pct, cur)
        line_fee = min(line_fee, net)
        items += net
        tax += line_tax
        fee += line_fee
        out_lines.append(
            {
                "line_number": ln.line_number,
                "sku": ln.sku,
                "quantity": ln.units_now,
                "item": net,
                "discount": line_disc,
                "tax": line_tax,
                "restocking_fee": -line_fee,
                "total": net + line_tax - line_fee,
                "merchant_fault": merchant,
            }
        )
    notes: list[str] = []
    shipping = Decimal(0)
    rule = policy.refund_shipping
    remaining_shipping = max(order.shipping_total + order.shipping_tax - order.shipping_refunded_before, Decimal(0))
    if out_lines and remaining_shipping > 0:
        if rule != ShippingRefund.NEVER and order.whole_order_back:
            shipping = remaining_shipping
            notes.append("shipping refunded: the whole order came back")
        elif rule == ShippingRefund.FULL_RETURN_OR_MERCHANT_FAULT and fault:
            shipping = remaining_shipping
            notes.append("shipping refunded: the return is the merchant's fault")
    if fee:
        notes.append(f"restocking fee {policy.restocking_fee_percent}% on items returned for the customer's reasons")
    subtotal = items + tax + shipping - fee
    cap = Decimal(0)
    refundable = max(order.refundable, Decimal(0))
    if subtotal > refundable:
        cap = refundable - subtotal
        notes.append(f"limited to the {refundable} {cur} still refundable on the order")
    components = {
        "items": items,
        "tax": tax,
        "shipping": shipping,
        "restocking_fee": -fee,
        "cap": cap,
    }
    total = sum(components.values(), Decimal(0))
    return RefundQuote(cur, out_lines, components, total, notes)


def check_refund_amount(amount: Decimal, currency: str) -> None:
    if amount < 0 or not money.fits_currency(amount, currency):
        raise validation_error("amount", f"{amount} is not a refundable amount in {currency}")
