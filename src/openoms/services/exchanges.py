"""Exchanges: a return that creates a linked replacement order (docs/returns.md "Exchanges",
ADR 26).

The replacement is captured through the ordinary capture path (``orders._capture_once``) in the
return request's own unit of work, so it is reserved at once or the whole request is refused.
It is its own order (its own number, same channel, customer and shipping address) with the
external id ``<RMA>-X``: the channel's unique key, so a retried request never makes two. Both
sides are linked: ``returns.exchange_order_id`` and a ``return.exchange_created`` entry on each
order's timeline.

The price difference is the replacement's total minus the credit for the returned units (item,
its tax, no restocking fee: the sale is kept). Dearer: the difference is collected right after
the request commits (``payments.collect``, key derived from the RMA). Cheaper: the difference
is refunded (kind ``exchange``) with the return's refund, once the units are back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import Channel, Customer, Order, Product, Return, table
from openoms.domain import money
from openoms.domain import orders as order_rules
from openoms.domain import returns as rx
from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.events import EventType
from openoms.domain.orders import HoldType, OrderStatus
from openoms.services import orders
from openoms.services.common import Actor

returns_t = table(Return)
orders_t = table(Order)
products_t = table(Product)
channels_t = table(Channel)
customers_t = table(Customer)

MAX_EXCHANGE_LINES = 50


def _parse(exchange: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    errors: list[FieldError] = []
    out: list[tuple[str, int]] = []
    if len(exchange) > MAX_EXCHANGE_LINES:
        errors.append(FieldError("exchange", f"at most {MAX_EXCHANGE_LINES} lines"))
    for i, item in enumerate(exchange):
        sku, qty = item.get("sku"), item.get("quantity")
        if not isinstance(sku, str) or not sku.strip():
            errors.append(FieldError(f"exchange[{i}].sku", "must be a SKU"))
            continue
        if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= order_rules.MAX_LINE_QUANTITY:
            errors.append(FieldError(f"exchange[{i}].quantity", "must be at least 1"))
            continue
        out.append((sku.strip(), qty))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    return out


def capture_replacement(
    db: Database,
    conn: Connection,
    order: Any,
    return_id: int,
    rma: str,
    exchange: Sequence[dict[str, Any]],
    requested: Sequence[rx.RequestedLine],
    by_number: dict[int, Any],
    policy: rx.ReturnPolicy,
    actor: Actor,
    now: dt.datetime,
) -> dict[str, Any]:
    """Capture the replacement order in the caller's unit of work and link it to the return.

    Prices: a SKU that is also coming back keeps the price the customer paid for it (net of
    its discount, with its tax per unit), so a like-for-like swap costs nothing; another SKU
    is sold at its catalogue price with the tax rate of the returned units."""
    from openoms.services import returns as returns_service

    items = _parse(exchange)
    cur = order.currency
    ref = order_rules.order_number(int(order.id))
    skus = sorted({s for s, _ in items})
    products = {
        r.sku: r
        for r in conn.execute(
            select(products_t.c.sku, products_t.c.list_price, products_t.c.currency, products_t.c.active).where(
                products_t.c.sku.in_(skus)
            )
        )
    }
    returned_net = Decimal(0)
    returned_tax = Decimal(0)
    same_sku: dict[str, tuple[Decimal, Decimal]] = {}
    for r in requested:
        ln = by_number[r.line_number]
        qty = int(ln.quantity)
        net_unit = (Decimal(ln.unit_price) * qty - Decimal(ln.discount)) / qty
        tax_unit = Decimal(ln.tax) / qty
        returned_net += net_unit * r.quantity
        returned_tax += tax_unit * r.quantity
        same_sku.setdefault(ln.sku, (net_unit, tax_unit))
    rate = returned_tax / returned_net if returned_net > 0 else Decimal(0)
    errors: list[FieldError] = []
    lines: list[orders.LineInput] = []
    for i, (sku, qty) in enumerate(items):
        if sku in same_sku:
            net_unit, tax_unit = same_sku[sku]
            price = money.quantize(net_unit, cur)
            tax = money.quantize(tax_unit * qty, cur)
        else:
            p = products.get(sku)
            if p is None or not p.active:
                errors.append(FieldError(f"exchange[{i}].sku", f"unknown SKU {sku!r}"))
                continue
            if p.list_price is None or p.currency != cur:
                errors.append(
                    FieldError(f"exchange[{i}].sku", f"{sku} has no catalogue price in {cur} to exchange it at")
                )
                continue
            price = money.quantize(Decimal(p.list_price), cur)
            tax = money.quantize(price * qty * rate, cur)
        lines.append(orders.LineInput(sku=sku, quantity=qty, unit_price=price, tax=tax))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    channel = conn.execute(select(channels_t.c.code).where(channels_t.c.id == order.channel_id)).scalar_one()
    customer = None
    if order.customer_id is not None:
        c = conn.execute(select(customers_t).where(customers_t.c.id == order.customer_id)).one()
        customer = orders.CustomerInput(email=c.email, name=c.name, phone=c.phone)
    cmd = orders.CaptureOrder(
        channel=channel,
        lines=lines,
        currency=cur,
        external_order_id=f"{rma}-X",
        customer=customer,
        shipping_address=order.shipping_address,
        billing_address=order.billing_address,
        service_level=order.service_level,
        notes=f"Exchange for {rma} (return of {ref})",
        language=order.language,
    )
    orders._check_amounts(cmd)
    totals = orders._totals(cmd)
    result = orders._capture_once(db, conn, cmd, actor, totals, [ln.sku for ln in lines], None, None)
    new_id = result.order_id
    status = conn.execute(select(orders_t.c.status).where(orders_t.c.id == new_id)).scalar_one()
    if not result.created or status != OrderStatus.ALLOCATED.value:
        raise DomainError(
            ErrorCode.INSUFFICIENT_STOCK,
            "The replacement cannot be reserved now: "
            + ("it would wait for stock" if result.created else "an order for this exchange exists already")
            + "; nothing was changed",
            [FieldError("exchange", "not in stock to reserve at once")],
        )
    ret = conn.execute(select(returns_t).where(returns_t.c.id == return_id)).one()
    credit = returns_service._quote(
        conn,
        order,
        ret,
        waive_fee=True,
        units={int(by_number[r.line_number].id): r.quantity for r in requested},
    ).total
    credit = money.quantize(credit, cur)
    replacement_total = money.quantize(totals["grand_total"], cur)
    difference = replacement_total - credit
    conn.execute(
        update(returns_t)
        .where(returns_t.c.id == return_id)
        .values(exchange_order_id=new_id, exchange_difference=difference)
    )
    new_ref = order_rules.order_number(new_id)
    data = {
        "rma": rma,
        "return_id": return_id,
        "original_order": ref,
        "replacement_order": new_ref,
        "replacement_total": str(replacement_total),
        "credit": str(credit),
        "difference": str(difference),
    }
    what = (
        f"the customer pays {difference} {cur} more"
        if difference > 0
        else f"{-difference} {cur} goes back to the customer once the return is received"
        if difference < 0
        else "no price difference"
    )
    for oid, msg in (
        (int(order.id), f"Exchange for {rma}: replacement order {new_ref} ({replacement_total} {cur}); {what}"),
        (new_id, f"Replacement for return {rma} of {ref}; {what}"),
    ):
        record_order_event(
            conn,
            order_id=oid,
            event_type=EventType.RETURN_EXCHANGE_CREATED,
            actor=actor.name,
            message=msg,
            data=data,
            publish={"order": {"id": oid, "order_number": order_rules.order_number(oid)}, "exchange": data},
            now=now,
        )
    return data


def settle_after_request(db: Database, return_id: int, actor: Actor) -> None:
    """Collect a dearer replacement's difference, after the request's unit of work: the call
    to the gateway is never made inside a transaction. The key is derived from the RMA, so a
    retried request collects once. A failed collection puts the replacement on payment hold
    (it is not released until someone settles it) and says so on both timelines."""
    with db.read() as conn:
        ret = conn.execute(select(returns_t).where(returns_t.c.id == return_id)).first()
    if ret is None or ret.exchange_order_id is None or ret.exchange_difference is None:
        return
    difference = Decimal(ret.exchange_difference)
    if difference <= 0:
        return
    from openoms.services import payments

    rma = rx.rma_number(return_id)
    try:
        payments.collect(
            db,
            int(ret.order_id),
            difference,
            reason=f"{rma}: exchange difference for {order_rules.order_number(int(ret.exchange_order_id))}",
            actor=actor,
            idempotency_key=f"exchange:{rma}:collect",
        )
    except DomainError as exc:
        if exc.code in (ErrorCode.VALIDATION_ERROR, ErrorCode.NOT_FOUND):
            raise
        try:
            orders.place_hold(
                db,
                int(ret.exchange_order_id),
                HoldType.PAYMENT,
                f"exchange difference for {rma} not collected: {exc.message}"[:500],
                actor,
            )
        except DomainError as hold_exc:  # already held, or released meanwhile
            if hold_exc.code not in (ErrorCode.HOLD_CONFLICT, ErrorCode.ILLEGAL_TRANSITION):
                raise


def exchange_refund_view(conn: Connection, ret: Any, quote: rx.RefundQuote) -> dict[str, Any]:
    """What an exchange's refund is: the credit for what came back, plus what was collected for
    a dearer replacement, minus the replacement's total; never below zero."""
    cur = quote.currency
    replacement_total = Decimal(
        conn.execute(select(orders_t.c.grand_total).where(orders_t.c.id == ret.exchange_order_id)).scalar_one()
    )
    difference = Decimal(ret.exchange_difference or 0)
    collected = max(difference, Decimal(0))
    due = max(quote.total + collected - replacement_total, Decimal(0))
    return {
        "exchange": {
            "replacement_order": order_rules.order_number(int(ret.exchange_order_id)),
            "replacement_total": money.quantize(replacement_total, cur),
            "collected": money.quantize(collected, cur),
            "credit": money.quantize(quote.total, cur),
        },
        "refund_due": money.quantize(due, cur),
    }
