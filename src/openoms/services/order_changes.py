"""Changing an order after capture: a line's quantity, a SKU swap, a new line, the shipping
address, the service level (docs/order-changes.md).

Each change is one unit of work: the order row is locked (changes and cancellations of one
order run one at a time), an optional expected version refuses a stale edit, reservations
move through the same conditional statements as capture (no oversell) with their ledger rows,
the order's totals and version move, and the timeline entry and an ``order.changed`` outbox
event for the originating channel are written; a refusal anywhere leaves nothing behind. The
payment is reconciled after the commit (``_after_commit``), never inside it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Channel,
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    OrderLine,
    OrderPickup,
    Product,
    Reservation,
    StockLevel,
    table,
)
from openoms.domain import money
from openoms.domain import order_changes as change_rules
from openoms.domain import orders as rules
from openoms.domain.backorders import BackorderPolicy
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.domain.events import EventType
from openoms.domain.fulfillment import FulfilmentStatus
from openoms.domain.inventory import InsufficientStock, LedgerEntryType, Shortage, StockPosition
from openoms.domain.order_changes import ChangeKind, LineFacts, LineMoney
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.services import idempotency, rerouting, sourcing
from openoms.services import orders as order_service
from openoms.services.common import Actor, utcnow

orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
products_t = table(Product)
stock_t = table(StockLevel)
locations_t = table(Location)
channels_t = table(Channel)
pickups_t = table(OrderPickup)
fo_t = table(FulfilmentOrder)
fl_t = table(FulfilmentLine)

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
#: Fulfilment statuses at which a location has the units in hand: they cannot be pulled back.
PICKED = frozenset(
    {
        FulfilmentStatus.PICKED,
        FulfilmentStatus.PACKED,
        FulfilmentStatus.PARTIALLY_SHIPPED,
        FulfilmentStatus.READY_FOR_PICKUP,
    }
)
UNSET: Any = object()


@dataclass(frozen=True)
class ChangeResult:
    order_id: int
    version: int
    changes: list[dict[str, Any]]
    replayed: bool = False  # an Idempotency-Key seen before: the first change stands, nothing redone


@dataclass
class _Ctx:
    """What one change knows while it runs inside its unit of work."""

    conn: Connection
    db: Database
    order: Any
    ref: str
    status: OrderStatus
    channel: str
    pickup_location_id: int | None
    actor: Actor
    reason: str
    now: dt.datetime
    routed: list[sourcing.SourcingPlan]


# --- entry points ----------------------------------------------------------------------------


def change_line(
    db: Database,
    order_id: int,
    line_number: int,
    *,
    reason: str,
    actor: Actor,
    quantity: int | None = None,
    sku: str | None = None,
    unit_price: Decimal | None = None,
    tax: Decimal | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> ChangeResult:
    """Set a line's ordered quantity (down: a partial cancellation; up: more units reserved,
    at the line's own location when it has them, else routed) and/or swap its SKU (the old
    line's open units are cancelled and a new line carries the new SKU)."""
    if quantity is None and sku is None:
        raise validation_error("quantity", "give a new quantity, a new sku, or both")

    def work(ctx: _Ctx) -> list[dict[str, Any]]:
        ln = _line(ctx, line_number)
        if sku is not None and sku != ln.sku:
            return _swap(ctx, ln, sku, quantity, unit_price, tax)
        if sku is not None and quantity is None:
            raise validation_error("sku", f"line {line_number} is already {sku}")
        if unit_price is not None or tax is not None:
            field = "unit_price" if unit_price is not None else "tax"
            raise validation_error(field, "only a new line (or a SKU swap) takes a price or tax")
        assert quantity is not None
        return [_set_quantity(ctx, ln, quantity)]

    return _run(db, order_id, actor, reason, expected_version, idempotency_key, request_hash, work)


def add_line(
    db: Database,
    order_id: int,
    *,
    sku: str,
    quantity: int,
    reason: str,
    actor: Actor,
    unit_price: Decimal | None = None,
    discount: Decimal = Decimal(0),
    tax: Decimal | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> ChangeResult:
    """Add a line, reserved now (routed like capture; a pickup order's line at its store)."""

    def work(ctx: _Ctx) -> list[dict[str, Any]]:
        return [_add(ctx, sku, quantity, unit_price, discount, tax, replaces=None)]

    return _run(db, order_id, actor, reason, expected_version, idempotency_key, request_hash, work)


def change_order(
    db: Database,
    order_id: int,
    *,
    reason: str,
    actor: Actor,
    shipping_address: Mapping[str, Any] | None = UNSET,
    service_level: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> ChangeResult:
    """Change where and how the order ships. An allocated order is routed again for the new
    address or service (its own reservations count as free), which re-promises it and picks
    the carrier; no location able to ship it there refuses the change."""
    if shipping_address is UNSET and service_level is None:
        raise validation_error("shipping_address", "give a new shipping_address, service_level, or both")

    def work(ctx: _Ctx) -> list[dict[str, Any]]:
        return _change_shipping(ctx, shipping_address, service_level)

    return _run(db, order_id, actor, reason, expected_version, idempotency_key, request_hash, work)


# --- the unit of work ------------------------------------------------------------------------


def _run(
    db: Database,
    order_id: int,
    actor: Actor,
    reason: str,
    expected_version: int | None,
    idempotency_key: str | None,
    request_hash: str | None,
    work: Callable[[_Ctx], list[dict[str, Any]]],
) -> ChangeResult:
    reason = reason.strip()
    if not reason:
        raise validation_error("reason", "say why the order changes: it goes on the timeline")
    for attempt in range(MAX_ATTEMPTS):
        try:
            with db.begin() as conn:
                result = _once(db, conn, order_id, actor, reason, expected_version, idempotency_key, request_hash, work)
            break
        except stock_db.LostRace:
            if attempt == MAX_ATTEMPTS - 1:
                raise DomainError(
                    ErrorCode.STOCK_CONFLICT,
                    "Stock kept changing while the order was being changed; nothing changed, try again",
                ) from None
    else:  # pragma: no cover - the loop breaks or raises
        raise AssertionError("unreachable")
    if not result.replayed:
        after_commit(db, order_id, reason, actor)
    return result


def _once(
    db: Database,
    conn: Connection,
    order_id: int,
    actor: Actor,
    reason: str,
    expected_version: int | None,
    idempotency_key: str | None,
    request_hash: str | None,
    work: Callable[[_Ctx], list[dict[str, Any]]],
) -> ChangeResult:
    if idempotency_key:
        prior = idempotency.claim(conn, actor.name, idempotency_key, request_hash or "")
        if prior is not None:
            response = prior.response or {}
            return ChangeResult(int(prior.resource_id or order_id), int(response.get("version", 0)), [], replayed=True)
    order = order_service._lock_order(conn, order_id)
    ref = rules.order_number(order_id)
    check_version(ref, int(order.version), expected_version)
    channel = conn.execute(select(channels_t.c.code).where(channels_t.c.id == order.channel_id)).scalar_one()
    pickup_at = conn.execute(select(pickups_t.c.location_id).where(pickups_t.c.order_id == order_id)).scalar()
    now = utcnow()
    ctx = _Ctx(conn, db, order, ref, OrderStatus(order.status), channel, pickup_at, actor, reason, now, routed=[])
    before = line_money(conn, order_id)
    changes = work(ctx)
    if ctx.routed:  # extra units went somewhere new: the customer has it all when the last parcel lands
        current = conn.execute(select(orders_t).where(orders_t.c.id == order_id)).one()
        promise = rerouting._new_promise(conn, current, ctx.routed[-1], whole_order=False)
        if promise:
            conn.execute(update(orders_t).where(orders_t.c.id == order_id).values(**promise))
    new_status = order_service._update_order_status(conn, order_id, ref, ctx.status, now)
    version = int(order.version) + 1
    totals = apply_totals(conn, order_id, before, str(order.currency), new_status)
    conn.execute(update(orders_t).where(orders_t.c.id == order_id).values(version=version, updated_at=now))
    summary = "; ".join(c["summary"] for c in changes)
    external = order.external_order_id
    sent_to = f"channel {channel}" + (f" (order {external})" if external else "")
    record_order_event(
        conn,
        order_id=order_id,
        event_type=EventType.ORDER_CHANGED,
        actor=actor.name,
        message=f"{summary}: {reason}. Change sent to {sent_to} through the outbox",
        data={"reason": reason, "changes": changes, "version": version, "channel": channel, "totals": totals},
        publish={
            "order": {
                "id": order_id,
                "order_number": ref,
                "status": new_status.value,
                "version": version,
                "channel": channel,
                "external_order_id": external,
                "currency": order.currency,
                "grand_total": totals["grand_total"],
            },
            "reason": reason,
            "changes": [{k: v for k, v in c.items() if k != "summary"} for c in changes],
        },
        now=now,
    )
    if idempotency_key:
        idempotency.complete(conn, actor.name, idempotency_key, "order", str(order_id), {"version": version})
    return ChangeResult(order_id, version, changes)


def check_version(ref: str, current: int, expected: int | None) -> None:
    """A stale edit (made from an older read of the order) is refused rather than applied."""
    if expected is not None and expected != current:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"Order {ref} changed since you read it (version {expected}, now {current}); "
            "read it again and re-apply your change",
            [FieldError("expected_version", f"is {expected}; the order is at version {current}")],
            extra={"current_version": current},
        )


def after_commit(db: Database, order_id: int, reason: str, actor: Actor) -> dict[str, Any]:
    """What follows a committed change or cancellation, outside its transaction: the payment
    is reconciled to the new total (a refund of what is no longer owed, a void, or a further
    authorisation; a decline puts the order on payment hold). Idempotent, so a retry of the
    change that finds nothing to do costs nothing."""
    from openoms.services.payments import reconcile_order_payments  # payments builds on orders

    try:
        return reconcile_order_payments(db, order_id, reason=reason, actor=actor)
    except DomainError as exc:
        # The change is committed (a 2xx must say so); a provider that could not be reached
        # is on the order's payment timeline, and reconciling again later is idempotent.
        log.warning("order %s: payment not reconciled after %r: %s", order_id, reason, exc.message)
        return {"order_id": order_id, "error": exc.message}


# --- money -------------------------------------------------------------------------------------


def line_money(conn: Connection, order_id: int) -> list[LineMoney]:
    return [
        LineMoney(
            Decimal(r.unit_price), Decimal(r.discount), Decimal(r.tax), int(r.quantity), int(r.quantity_cancelled)
        )
        for r in conn.execute(
            select(
                lines_t.c.unit_price,
                lines_t.c.discount,
                lines_t.c.tax,
                lines_t.c.quantity,
                lines_t.c.quantity_cancelled,
            ).where(lines_t.c.order_id == order_id)
        )
    ]


def apply_totals(
    conn: Connection, order_id: int, before: list[LineMoney], currency: str, status: OrderStatus
) -> dict[str, str]:
    """Move the order's totals by what its lines changed; a cancelled order owes nothing (its
    shipping too). Returns the new totals as strings, for the event."""
    delta = change_rules.totals_delta(before, line_money(conn, order_id), currency)
    if status == OrderStatus.CANCELLED:
        values: dict[str, Any] = dict.fromkeys(
            ("subtotal", "discount_total", "tax_total", "shipping_total", "grand_total"), Decimal(0)
        )
    else:
        values = {k: getattr(orders_t.c, k) + v for k, v in delta.items() if v}
    if values:
        conn.execute(update(orders_t).where(orders_t.c.id == order_id).values(**values))
    row = conn.execute(
        select(orders_t.c.subtotal, orders_t.c.discount_total, orders_t.c.tax_total, orders_t.c.grand_total).where(
            orders_t.c.id == order_id
        )
    ).one()
    return {k: str(money.quantize(Decimal(v), currency)) for k, v in row._mapping.items()}


# --- the changes -------------------------------------------------------------------------------


def _line(ctx: _Ctx, line_number: int) -> Any:
    ln = ctx.conn.execute(
        select(lines_t).where(lines_t.c.order_id == ctx.order.id, lines_t.c.line_number == line_number)
    ).first()
    if ln is None:
        raise NotFound("Order line", f"{ctx.ref}/{line_number}")
    return ln


def _facts(ctx: _Ctx, ln: Any) -> LineFacts:
    picked = ctx.conn.execute(
        select(locations_t.c.code)
        .select_from(fl_t.join(fo_t, fo_t.c.id == fl_t.c.fulfilment_order_id))
        .join(locations_t, locations_t.c.id == fo_t.c.location_id)
        .where(
            fl_t.c.order_line_id == ln.id,
            fo_t.c.status.in_([s.value for s in PICKED]),
            fl_t.c.quantity > fl_t.c.quantity_shipped + fl_t.c.quantity_rejected + fl_t.c.quantity_cancelled,
        )
    ).first()
    return LineFacts(
        int(ln.line_number),
        LineStatus(ln.status),
        int(ln.quantity),
        int(ln.quantity_cancelled),
        int(ln.quantity_shipped),
        picked[0] if picked else None,
    )


def _cancel_units(ctx: _Ctx, ln: Any, units: int | None) -> int:
    """Cancel ``units`` open units of a line (all when None), as cancel_lines does."""
    plan = rules.plan_line_cancellation(ctx.ref, ctx.status, order_service._line_state(ln), units)
    freed = order_service._apply_line_cancellation(ctx.conn, ln, plan.quantity, plan.new_status)
    order_service._release_stock(ctx.conn, int(ctx.order.id), freed, ctx.actor, ctx.reason[:255], ctx.now)
    return plan.quantity


def _set_quantity(ctx: _Ctx, ln: Any, quantity: int) -> dict[str, Any]:
    facts = _facts(ctx, ln)
    kind, units = change_rules.plan_quantity(ctx.ref, ctx.status, facts, quantity)
    base = {"kind": "quantity", "line": facts.line_number, "sku": ln.sku, "from": facts.ordered, "to": quantity}
    if kind == ChangeKind.QUANTITY_DOWN:
        _cancel_units(ctx, ln, units)
        return base | {
            "released": units,
            "summary": f"Line {facts.line_number} ({ln.sku}) {facts.ordered} → {quantity}",
        }
    where = _reserve_more(ctx, int(ln.id), int(ln.product_id), ln.sku, units, field="quantity")
    # The line's discount and tax are for its whole quantity: they grow per unit as before.
    cur = str(ctx.order.currency)
    new_qty = int(ln.quantity) + units
    ctx.conn.execute(
        update(lines_t)
        .where(lines_t.c.id == ln.id)
        .values(
            quantity=new_qty,
            discount=change_rules.scaled(Decimal(ln.discount), int(ln.quantity), new_qty, cur),
            tax=change_rules.scaled(Decimal(ln.tax), int(ln.quantity), new_qty, cur),
        )
    )
    at = ", ".join(f"{w['quantity']} at {w['location']}" for w in where)
    return base | {
        "reserved": where,
        "summary": f"Line {facts.line_number} ({ln.sku}) {facts.ordered} → {quantity}, reserved {at}",
    }


def _swap(
    ctx: _Ctx, ln: Any, sku: str, quantity: int | None, unit_price: Decimal | None, tax: Decimal | None
) -> list[dict[str, Any]]:
    facts = _facts(ctx, ln)
    change_rules.check_line_change(ctx.ref, ctx.status, facts, ChangeKind.SWAP_SKU)
    qty = facts.open_quantity if quantity is None else quantity
    before = line_money(ctx.conn, int(ctx.order.id))
    cancelled = _cancel_units(ctx, ln, None)
    # The new line's price is the one given or the new product's list price; its tax, when
    # not given, is the order's rate as it stood with the old line (proportional_tax).
    added = _add(ctx, sku, qty, unit_price, Decimal(0), tax, replaces=facts.line_number, tax_basis=before)
    return [
        {
            "kind": "swap_sku",
            "line": facts.line_number,
            "sku": ln.sku,
            "cancelled": cancelled,
            "new_line": added["line"],
            "new_sku": sku,
            "quantity": qty,
            "summary": f"Line {facts.line_number} ({ln.sku} x {cancelled}) swapped for {sku} x {qty} "
            f"(line {added['line']}, reserved "
            + ", ".join(f"{w['quantity']} at {w['location']}" for w in added["reserved"])
            + ")",
        }
    ]


def _add(
    ctx: _Ctx,
    sku: str,
    quantity: int,
    unit_price: Decimal | None,
    discount: Decimal,
    tax: Decimal | None,
    *,
    replaces: int | None,
    tax_basis: list[LineMoney] | None = None,
) -> dict[str, Any]:
    conn = ctx.conn
    order_id = int(ctx.order.id)
    count = int(conn.execute(select(func.count()).where(lines_t.c.order_id == order_id)).scalar_one())
    change_rules.check_add_line(ctx.ref, ctx.status, count, quantity)
    product = conn.execute(select(products_t).where(products_t.c.sku == sku)).first()
    if product is None or not product.active:
        reason = f"unknown SKU {sku!r}" if product is None else f"SKU {sku!r} is inactive"
        raise validation_error("sku", reason, ErrorCode.UNKNOWN_SKU)
    if product.backorder_policy == BackorderPolicy.PREORDER:
        raise validation_error("sku", f"{sku} is sold as a preorder: capture it as a new order")
    cur = str(ctx.order.currency)
    price = _price(product, unit_price, cur)
    errors = []
    for name, amount in (("discount", discount), ("tax", tax)):
        if amount is None:
            continue
        if amount < 0:
            errors.append(FieldError(name, "must not be negative"))
        elif not money.fits_currency(amount, cur):
            errors.append(FieldError(name, f"{amount} has more decimals than {cur} allows"))
    if discount > price * quantity:
        errors.append(FieldError("discount", "is larger than the line's price"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    if tax is None:
        basis = tax_basis if tax_basis is not None else line_money(conn, order_id)
        tax = change_rules.proportional_tax(price * quantity - discount, basis, cur)
    number = (
        int(
            conn.execute(
                select(lines_t.c.line_number)
                .where(lines_t.c.order_id == order_id)
                .order_by(lines_t.c.line_number.desc())
            ).scalar()
            or 0
        )
        + 1
    )
    line_id = int(
        conn.execute(
            insert(lines_t)
            .values(
                order_id=order_id,
                line_number=number,
                product_id=product.id,
                sku=sku,
                quantity=quantity,
                quantity_cancelled=0,
                quantity_shipped=0,
                unit_price=price,
                discount=discount,
                tax=tax,
                status=LineStatus.ALLOCATED.value,
            )
            .returning(lines_t.c.id)
        ).scalar_one()
    )
    where = _reserve_more(ctx, line_id, int(product.id), sku, quantity, field="quantity")
    out: dict[str, Any] = {
        "kind": "add_line",
        "line": number,
        "sku": sku,
        "quantity": quantity,
        "unit_price": str(price),
        "tax": str(tax),
        "reserved": where,
        "summary": f"Line {number} added ({sku} x {quantity} at {price} {cur}, reserved "
        + ", ".join(f"{w['quantity']} at {w['location']}" for w in where)
        + ")",
    }
    if replaces is not None:
        out["replaces_line"] = replaces
    return out


def _price(product: Any, unit_price: Decimal | None, currency: str) -> Decimal:
    if unit_price is not None:
        if unit_price < 0:
            raise validation_error("unit_price", "must not be negative")
        if not money.fits_currency(unit_price, currency):
            raise validation_error("unit_price", f"{unit_price} has more decimals than {currency} allows")
        return unit_price
    if product.list_price is None:
        raise validation_error("unit_price", f"{product.sku} has no list price: give the unit price")
    if product.currency != currency:
        raise validation_error(
            "unit_price", f"{product.sku} is priced in {product.currency}, the order in {currency}: give the unit price"
        )
    return money.quantize(Decimal(product.list_price), currency)


def _reserve_more(
    ctx: _Ctx, line_id: int, product_id: int, sku: str, units: int, *, field: str
) -> list[dict[str, Any]]:
    """Reserve ``units`` more for a line: where the line already holds stock when that
    location has them free (one parcel, not two), else where routing sends them; a pickup
    order only at its store. Conditional reserve statements: a lost race re-runs the change."""
    conn = ctx.conn
    rows = conn.execute(
        select(
            stock_t.c.location_id,
            stock_t.c.on_hand,
            stock_t.c.reserved,
            stock_t.c.safety_stock,
            locations_t.c.code,
            locations_t.c.active,
            locations_t.c.ships,
        )
        .join(locations_t, locations_t.c.id == stock_t.c.location_id)
        .where(stock_t.c.product_id == product_id)
    ).all()
    position = {int(r.location_id): StockPosition(r.on_hand, r.reserved, r.safety_stock) for r in rows}
    codes = {int(r.location_id): r.code for r in rows}
    held = [
        int(loc)
        for loc in conn.execute(
            select(res_t.c.location_id)
            .where(res_t.c.order_line_id == line_id, res_t.c.quantity > 0)
            .order_by(res_t.c.id)
        ).scalars()
    ]
    plan: list[tuple[int, int]] = []  # (location_id, units)
    if ctx.pickup_location_id is not None:
        loc = ctx.pickup_location_id
        free = position[loc].available if loc in position else 0
        if free < units:
            raise _short(sku, units, free, field)
        plan = [(loc, units)]
    else:
        same = next((loc for loc in held if loc in position and position[loc].available >= units), None)
        if same is not None:
            plan = [(same, units)]
        else:
            facts_row = conn.execute(select(products_t).where(products_t.c.id == product_id)).one()
            facts = sourcing.ProductFacts(
                product_id,
                sku,
                facts_row.weight_grams,
                facts_row.length_mm,
                facts_row.width_mm,
                facts_row.height_mm,
                facts_row.hazmat,
                facts_row.high_value,
            )
            usable = {int(r.location_id): position[int(r.location_id)] for r in rows if r.active and r.ships}
            try:
                sourced = sourcing.plan_order(
                    ctx.db,
                    conn,
                    lines=[(facts, units)],
                    stock={(product_id, loc): pos for loc, pos in usable.items()},
                    shipping_address=ctx.order.shipping_address,
                    channel=ctx.channel,
                    service_level=ctx.order.service_level,
                    now=ctx.now,
                )
            except InsufficientStock:
                raise _short(sku, units, sum(max(p.available, 0) for p in usable.values()), field) from None
            plan = [(a.location_id, a.quantity) for a in sourced.plan.allocations]
            ctx.routed.append(sourced)
            sourcing.record_decision(conn, int(ctx.order.id), "change", sourced, ctx.actor.name, ctx.now)
    stock_db.reserve(conn, [(product_id, loc, q) for loc, q in plan], ctx.now)
    # Units at a location the line already holds (not yet handed over) join that reservation.
    open_res = {
        int(r.location_id): int(r.id)
        for r in conn.execute(
            select(res_t.c.id, res_t.c.location_id).where(
                res_t.c.order_line_id == line_id,
                res_t.c.quantity > 0,
                ~select(fl_t.c.id).where(fl_t.c.reservation_id == res_t.c.id).exists(),
            )
        )
    }
    for loc, q in plan:
        if loc in open_res:
            conn.execute(update(res_t).where(res_t.c.id == open_res[loc]).values(quantity=res_t.c.quantity + q))
        else:
            conn.execute(
                insert(res_t).values(
                    order_id=ctx.order.id, order_line_id=line_id, product_id=product_id, location_id=loc, quantity=q
                )
            )
    stock_db.append_ledger(
        conn,
        [
            stock_db.LedgerRow(
                product_id,
                loc,
                LedgerEntryType.RESERVATION,
                0,
                q,
                ctx.actor.name,
                f"order change: {ctx.reason}"[:255],
                ctx.ref,
                int(ctx.order.id),
                line_id,
            )
            for loc, q in plan
        ],
        ctx.now,
    )
    return [{"location": codes[loc], "quantity": q} for loc, q in plan]


def _short(sku: str, requested: int, available: int, field: str) -> InsufficientStock:
    exc = InsufficientStock([Shortage(0, sku, requested, max(available, 0))])
    exc.errors = [FieldError(field, f"{requested} more of {sku} requested, {max(available, 0)} available")]
    return exc


def _change_shipping(ctx: _Ctx, address: Mapping[str, Any] | None, service_level: str | None) -> list[dict[str, Any]]:
    conn = ctx.conn
    order = ctx.order
    pickup = ctx.pickup_location_id is not None
    changes: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    if address is not UNSET:
        change_rules.check_order_change(ctx.ref, ctx.status, ChangeKind.ADDRESS, pickup=pickup)
        new = dict(address) if address is not None else None
        if new == order.shipping_address:
            raise validation_error("shipping_address", "is the address the order already ships to")
        values["shipping_address"] = new
        changes.append(
            {
                "kind": "shipping_address",
                "from": order.shipping_address,
                "to": new,
                "summary": "Shipping address changed to " + _one_line(new),
            }
        )
    if service_level is not None:
        change_rules.check_order_change(ctx.ref, ctx.status, ChangeKind.SERVICE_LEVEL, pickup=pickup)
        if service_level == order.service_level:
            raise validation_error("service_level", f"the order already ships {service_level}")
        values["service_level"] = service_level
        changes.append(
            {
                "kind": "service_level",
                "from": order.service_level,
                "to": service_level,
                "summary": f"Service level {order.service_level} → {service_level}",
            }
        )
    conn.execute(update(orders_t).where(orders_t.c.id == order.id).values(**values))
    held = conn.execute(select(res_t.c.id).where(res_t.c.order_id == order.id, res_t.c.quantity > 0).limit(1)).first()
    if ctx.status == OrderStatus.ALLOCATED and not pickup and held is not None:
        try:
            routed = rerouting.reroute_in(
                conn, ctx.db, int(order.id), ctx.actor, f"order change: {ctx.reason}", reject=None, trigger="change"
            )
        except InsufficientStock as exc:
            raise DomainError(
                ErrorCode.INSUFFICIENT_STOCK,
                f"No location can ship order {ctx.ref} to the new address or service; nothing changed",
                [FieldError("shipping_address" if address is not UNSET else "service_level", exc.message)],
                extra=exc.extra,
            ) from None
        changes[-1]["rerouted"] = routed.moved
        changes[-1]["promise"] = {k: str(v) for k, v in (routed.promise or {}).items()}
        moved = [m for m in routed.moved if m["from"] != [m["to"]]]
        if moved:
            changes[-1]["summary"] += "; re-routed " + ", ".join(
                f"line {m['line']} {'/'.join(m['from'])} → {m['to']}" for m in moved
            )
        if routed.promise:
            changes[-1]["summary"] += (
                f"; now promised {_day(routed.promise['earliest'])} to {_day(routed.promise['latest'])}"
            )
    return changes


def _one_line(address: Mapping[str, Any] | None) -> str:
    if not address:
        return "none"
    parts = [address.get(k) for k in ("name", "line1", "city", "postal_code", "country")]
    return ", ".join(str(p) for p in parts if p)


def _day(d: dt.date | None) -> str:
    """A promise date as the timeline writes it elsewhere: Wed 2 Dec."""
    return "?" if d is None else f"{d:%a} {d.day} {d:%b}"
