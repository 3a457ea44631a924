"""Routing an order again: a location rejected a line, or a promised ship date was missed.

One unit of work per order: its reservations at the old locations are released and the new
ones taken in the same transaction (one sorted pass over the stock rows, like capture), the
decision and its explanation are stored, and the timeline says what moved and why. When no
other location can take a rejected line, it is backordered instead: the rejecting location's
units go back to stock and the order waits for stock (docs/adr/0015-rerouting.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Channel,
    Location,
    Order,
    OrderEvent,
    OrderLine,
    OrderPickup,
    Product,
    Reservation,
    StockLevel,
    table,
)
from openoms.domain import orders as rules
from openoms.domain.errors import DomainError, ErrorCode, NotFound, validation_error
from openoms.domain.events import EventType
from openoms.domain.inventory import InsufficientStock, LedgerEntryType, StockPosition
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.services import sourcing
from openoms.services.common import Actor, utcnow

orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
stock_t = table(StockLevel)
products_t = table(Product)
locations_t = table(Location)
channels_t = table(Channel)
events_t = table(OrderEvent)

MAX_ATTEMPTS = 5
#: Order statuses whose reservations may still move: nothing has been picked yet.
REROUTABLE = frozenset({OrderStatus.ALLOCATED, OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED})


@dataclass(frozen=True)
class RerouteResult:
    order_id: int
    moved: list[dict[str, Any]]  # {line, sku, quantity, from, to}
    backordered: list[dict[str, Any]]  # {line, sku, quantity, from}
    promise: dict[str, Any] | None
    message: str


def reject_line(
    db: Database, order_id: int, line_number: int, location: str, reason: str, actor: Actor
) -> RerouteResult:
    """``location`` will not ship line ``line_number`` (damaged, not found, no capacity):
    route the units it holds for that line again, anywhere else."""
    return with_retries(
        db, lambda conn: reroute_in(conn, db, order_id, actor, reason, reject=(line_number, location), trigger="reject")
    )


def reroute_order(db: Database, order_id: int, reason: str, actor: Actor, *, trigger: str = "reroute") -> RerouteResult:
    """Route every reserved line of the order again from fresh stock (its own reservations
    count as free): used when a promised ship date was missed."""
    return with_retries(db, lambda conn: reroute_in(conn, db, order_id, actor, reason, reject=None, trigger=trigger))


def missed_ship_dates(db: Database, today: dt.date) -> list[int]:
    """Orders still allocated whose promised ship date is before ``today``: they will not
    arrive when promised unless they move."""
    with db.read() as conn:
        return list(
            conn.execute(
                select(orders_t.c.id)
                .where(
                    orders_t.c.status == OrderStatus.ALLOCATED.value,
                    orders_t.c.promised_ship_date < today,
                    orders_t.c.id.not_in(select(table(OrderPickup).c.order_id)),  # pickups stay at their store
                )
                .order_by(orders_t.c.id)
            ).scalars()
        )


def with_retries(db: Database, work: Callable[[Connection], RerouteResult]) -> RerouteResult:
    """Run ``work`` in a unit of work, again from the start when a reservation lost a race."""
    for _attempt in range(MAX_ATTEMPTS):
        try:
            with db.begin() as conn:
                return work(conn)
        except stock_db.LostRace:
            continue
    raise DomainError(
        ErrorCode.STOCK_CONFLICT, "Stock kept changing while the order was re-routed; nothing moved, try again"
    )


def reroute_in(
    conn: Connection,
    db: Database,
    order_id: int,
    actor: Actor,
    reason: str,
    *,
    reject: tuple[int, str] | None,
    trigger: str,
) -> RerouteResult:
    order = conn.execute(select(orders_t).where(orders_t.c.id == order_id).with_for_update()).first()
    ref = rules.order_number(order_id)
    if order is None:
        raise NotFound("Order", ref)
    status = OrderStatus(order.status)
    if status not in REROUTABLE:
        raise DomainError(
            ErrorCode.ILLEGAL_TRANSITION,
            f"Order {ref} is {status.value}: only orders with units not yet shipped can be re-routed",
        )
    collect_at = conn.execute(
        select(locations_t.c.code)
        .join(table(OrderPickup), table(OrderPickup).c.location_id == locations_t.c.id)
        .where(table(OrderPickup).c.order_id == order_id)
    ).scalar()
    if collect_at is not None:  # the customer comes to that store: no other location can serve them
        raise DomainError(
            ErrorCode.ILLEGAL_TRANSITION,
            f"Order {ref} is collected by the customer at {collect_at}: it cannot move to another location; "
            "cancel the lines the store cannot supply instead",
        )
    channel = conn.execute(select(channels_t.c.code).where(channels_t.c.id == order.channel_id)).scalar_one()
    codes = dict(conn.execute(select(locations_t.c.id, locations_t.c.code)).all())
    ids = {c: i for i, c in codes.items()}
    lines = {
        ln.id: ln
        for ln in conn.execute(select(lines_t).where(lines_t.c.order_id == order_id).order_by(lines_t.c.line_number))
    }
    held = conn.execute(
        select(res_t.c.id, res_t.c.order_line_id, res_t.c.product_id, res_t.c.location_id, res_t.c.quantity).where(
            res_t.c.order_id == order_id, res_t.c.quantity > 0
        )
    ).all()
    exclude: frozenset[str] = frozenset()
    if reject is not None:
        line_number, location = reject
        target = next((ln for ln in lines.values() if ln.line_number == line_number), None)
        if target is None:
            raise validation_error("line_number", f"order {ref} has no line {line_number}")
        if location not in ids:
            raise validation_error("location", f"no location with code {location!r}", ErrorCode.UNKNOWN_LOCATION)
        moving = [r for r in held if r.order_line_id == target.id and r.location_id == ids[location]]
        if not moving:
            raise validation_error("location", f"line {line_number} of {ref} holds no stock at {location}")
        exclude = frozenset({location})
    else:
        moving = list(held)
        if not moving:
            raise DomainError(ErrorCode.ILLEGAL_TRANSITION, f"Order {ref} holds no stock to re-route")

    # What moves, per line: units and where they are now.
    units: dict[int, int] = defaultdict(int)
    for r in moving:
        units[r.order_line_id] += int(r.quantity)
    line_ids = sorted(units, key=lambda i: lines[i].line_number)
    product_rows = {
        p.id: p
        for p in conn.execute(select(products_t).where(products_t.c.id.in_({lines[i].product_id for i in line_ids})))
    }
    stock_rows = conn.execute(
        select(
            stock_t.c.product_id, stock_t.c.location_id, stock_t.c.on_hand, stock_t.c.reserved, stock_t.c.safety_stock
        ).where(stock_t.c.product_id.in_(list(product_rows)))
    ).all()
    # This order's own moving units count as free: they are released in the same pass.
    own: dict[tuple[int, int], int] = defaultdict(int)
    for r in moving:
        own[(int(r.product_id), int(r.location_id))] += int(r.quantity)
    stock = {
        (int(s.product_id), int(s.location_id)): StockPosition(
            s.on_hand, s.reserved - own.get((int(s.product_id), int(s.location_id)), 0), s.safety_stock
        )
        for s in stock_rows
    }
    facts = [
        (
            sourcing.ProductFacts(
                p.id, p.sku, p.weight_grams, p.length_mm, p.width_mm, p.height_mm, p.hazmat, p.high_value
            ),
            units[i],
        )
        for i in line_ids
        for p in [product_rows[lines[i].product_id]]
    ]
    now = utcnow()
    from_of = {i: sorted({codes[r.location_id] for r in moving if r.order_line_id == i}) for i in line_ids}
    try:
        sourced: sourcing.SourcingPlan | None = sourcing.plan_order(
            db,
            conn,
            lines=facts,
            stock=stock,
            shipping_address=order.shipping_address,
            channel=channel,
            service_level=order.service_level,
            now=now,
            exclude_locations=exclude,
            refused=_refusals(conn, order_id),
        )
    except InsufficientStock:
        if reject is None:
            raise  # a missed date with no better place: leave the order where it is
        sourced = None

    deltas: dict[tuple[int, int], int] = defaultdict(int)
    for (p, loc), q in own.items():
        deltas[(p, loc)] -= q
    ledger: list[stock_db.LedgerRow] = []
    for r in moving:
        conn.execute(update(res_t).where(res_t.c.id == r.id).values(quantity=0))
        ledger.append(
            stock_db.LedgerRow(
                int(r.product_id),
                int(r.location_id),
                LedgerEntryType.RELEASE,
                0,
                -int(r.quantity),
                actor.name,
                f"re-route: {reason}"[:255],
                ref,
                order_id,
                int(r.order_line_id),
            )
        )
    moved: list[dict[str, Any]] = []
    backordered: list[dict[str, Any]] = []
    new_rows = []
    if sourced is not None:
        for a in sourced.plan.allocations:
            line_id = line_ids[a.line_index]
            deltas[(a.product_id, a.location_id)] += a.quantity
            new_rows.append(
                {
                    "order_id": order_id,
                    "order_line_id": line_id,
                    "product_id": a.product_id,
                    "location_id": a.location_id,
                    "quantity": a.quantity,
                }
            )
            ledger.append(
                stock_db.LedgerRow(
                    a.product_id,
                    a.location_id,
                    LedgerEntryType.RESERVATION,
                    0,
                    a.quantity,
                    actor.name,
                    f"re-route: {reason}"[:255],
                    ref,
                    order_id,
                    line_id,
                )
            )
            moved.append(
                {
                    "line": lines[line_id].line_number,
                    "sku": lines[line_id].sku,
                    "quantity": a.quantity,
                    "from": from_of[line_id],
                    "to": codes[a.location_id],
                }
            )
    else:
        for i in line_ids:
            backordered.append(
                {"line": lines[i].line_number, "sku": lines[i].sku, "quantity": units[i], "from": from_of[i]}
            )
            rules.check_line_transition(
                f"{ref}/{lines[i].line_number}", LineStatus(lines[i].status), LineStatus.BACKORDERED
            )
            conn.execute(update(lines_t).where(lines_t.c.id == i).values(status=LineStatus.BACKORDERED.value))
    stock_db.move(conn, [(p, loc, q) for (p, loc), q in deltas.items() if q], now)
    if new_rows:
        conn.execute(insert(res_t), new_rows)
    stock_db.append_ledger(conn, ledger, now)
    if sourced is not None and status in (OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED):
        # Moved lines go back to sourcing: the new location has not been handed the work yet.
        for i in line_ids:
            if LineStatus(lines[i].status) == LineStatus.RELEASED:
                conn.execute(update(lines_t).where(lines_t.c.id == i).values(status=LineStatus.ALLOCATED.value))

    promise_view = _new_promise(conn, order, sourced, whole_order=reject is None)
    new_status = _rollup(conn, order_id, ref, status)
    conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_id)
        .values(
            status=new_status.value,
            updated_at=now,
            version=orders_t.c.version + 1,
            sourcing_rule=sourced.plan.rule if sourced is not None else order.sourcing_rule,
            **promise_view,
        )
    )
    what = f"line {reject[0]} rejected by {reject[1]}: {reason}" if reject is not None else f"re-routed: {reason}"
    if sourced is not None:
        sourcing.record_decision(conn, order_id, trigger, sourced, actor.name, now)
        changed = [m for m in moved if m["from"] != [m["to"]]]
        where = ", ".join(
            f"line {m['line']} ({m['quantity']} x {m['sku']}) {'/'.join(m['from'])} to {m['to']}" for m in changed
        )
        stays = sorted({m["to"] for m in moved if m["from"] == [m["to"]]})
        if stays:
            where += ("; " if where else "") + f"no better location, stays at {', '.join(stays)}"
        message = f"{what[0].upper()}{what[1:]}; {where}"
        if sourced.promise is not None:
            message += f"; {sourcing.promise_phrase(sourced.promise)}"
        event = EventType.ORDER_REROUTED
    else:
        where = ", ".join(f"line {b['line']} ({b['quantity']} x {b['sku']})" for b in backordered)
        message = f"{what[0].upper()}{what[1:]}; no other location can ship it, backordered: {where}"
        event = EventType.ORDER_BACKORDERED
    data: dict[str, Any] = {"trigger": trigger, "reason": reason, "moved": moved, "backordered": backordered}
    if reject is not None:
        data["refused"] = [[lines[i].sku, reject[1]] for i in line_ids]
    record_order_event(
        conn,
        order_id=order_id,
        event_type=event,
        actor=actor.name,
        message=message,
        data=data,
        publish={"order": {"id": order_id, "order_number": ref, "status": new_status.value}, **data},
        now=now,
    )
    promise = (
        None
        if promise_view.get("promised_earliest") is None
        else {
            "ship_date": promise_view["promised_ship_date"],
            "earliest": promise_view["promised_earliest"],
            "latest": promise_view["promised_latest"],
        }
    )
    return RerouteResult(order_id, moved, backordered, promise, message)


def _refusals(conn: Connection, order_id: int) -> frozenset[tuple[str, str]]:
    """(SKU, location) pairs that locations have rejected for this order: never routed back."""
    out: set[tuple[str, str]] = set()
    rows = conn.execute(
        select(events_t.c.data).where(
            events_t.c.order_id == order_id,
            events_t.c.event_type.in_([EventType.ORDER_REROUTED.value, EventType.ORDER_BACKORDERED.value]),
        )
    ).scalars()
    for data in rows:
        if data and data.get("trigger") == "reject":
            out.update((sku, loc) for sku, loc in data.get("refused", []))
    return frozenset(out)


def _new_promise(
    conn: Connection, order: Any, sourced: sourcing.SourcingPlan | None, *, whole_order: bool
) -> dict[str, Any]:
    """The order's promise after the move: the new one when the whole order was routed again;
    for some lines, the later of the old and new (the customer has everything when the
    last parcel arrives)."""
    old = (order.promised_ship_date, order.promised_earliest, order.promised_latest)
    p = sourced.promise if sourced is not None else None
    if p is None:
        if sourced is None:
            return {}
        return {} if not whole_order else dict.fromkeys(("promised_ship_date", "promised_earliest", "promised_latest"))
    new = (p.ship_date, p.earliest, p.latest)
    if not whole_order and old[1] is not None:
        new = tuple(max(a, b) if a is not None else b for a, b in zip(old, new, strict=True))  # type: ignore[assignment]
    return dict(zip(("promised_ship_date", "promised_earliest", "promised_latest"), new, strict=True))


def _rollup(conn: Connection, order_id: int, ref: str, current: OrderStatus) -> OrderStatus:
    statuses = [
        LineStatus(s) for s in conn.execute(select(lines_t.c.status).where(lines_t.c.order_id == order_id)).scalars()
    ]
    new = rules.rollup_status(statuses)
    if new != current:
        rules.check_order_transition(ref, current, new)
    return new


def reroute_missed(
    db: Database, today: dt.date, actor: Actor, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Re-route every allocated order whose promised ship date has passed. Orders that no
    location can now ship better stay where they are (and are counted)."""
    ids = missed_ship_dates(db, today)
    moved = kept = 0
    problems: list[str] = []
    for n, order_id in enumerate(ids, 1):
        try:
            reroute_order(db, order_id, f"promised ship date missed (checked {today.isoformat()})", actor)
            moved += 1
        except InsufficientStock:
            kept += 1
        except DomainError as exc:
            problems.append(f"{rules.order_number(order_id)}: {exc.message}")
        if progress:
            progress(n, len(ids))
    return {"checked": len(ids), "rerouted": moved, "kept": kept, "problems": problems}
