"""Pickup use cases: capture at a store, ready for pickup, hand-over with the code, curbside
arrival, and cancelling what nobody collected (docs/pickup.md, ADR 21).

A pickup order is reserved at its store only; release gives that store a fulfilment order as
for any other order. The hand-over is recorded as a shipment by carrier ``pickup`` through the
shipment machinery (``fulfillment.ship_in``): stock leaves on hand and reserved together with a
``shipment`` ledger row, then the lines are delivered at once, because the customer has them.
Locks follow the house order: order, fulfilment order, stock rows sorted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Customer,
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    OrderLine,
    OrderPickup,
    Shipment,
    StockLevel,
    table,
)
from openoms.domain import fulfillment as fx
from openoms.domain import orders as rules
from openoms.domain import pickup as px
from openoms.domain.errors import DomainError, ErrorCode, FieldError, IllegalTransition, NotFound
from openoms.domain.events import EventType
from openoms.domain.fulfillment import FulfilmentStatus, fulfilment_number
from openoms.domain.inventory import Allocation, AllocationPlan
from openoms.domain.network import PromiseWindow
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.domain.promising import ship_date
from openoms.services import fulfillment, payments, sourcing
from openoms.services import network as network_service
from openoms.services.common import SYSTEM, Actor, utcnow

pickups_t = table(OrderPickup)
locations_t = table(Location)
stock_t = table(StockLevel)
orders_t = table(Order)
lines_t = table(OrderLine)
fo_t = table(FulfilmentOrder)
fl_t = table(FulfilmentLine)
ship_t = table(Shipment)
customers_t = table(Customer)

CARRIER = "pickup"  # the shipment a hand-over records has this carrier and no tracking


# --- capture ------------------------------------------------------------------------------------


def _store(conn: Connection, code: str) -> Any:
    row = conn.execute(select(locations_t).where(locations_t.c.code == code)).first()
    px.check_pickup_store(code, found=row is not None, active=bool(row and row.active), pickup=bool(row and row.pickup))
    return row


def plan_pickup(
    db: Database,
    conn: Connection,
    *,
    method: str,
    pickup_location: str | None,
    lines: Sequence[tuple[sourcing.ProductFacts, int]],
    now: dt.datetime,
) -> tuple[dict[str, int], dict[int, str], sourcing.SourcingPlan]:
    """Reserve every line at the customer's store and nowhere else; the promise is the day the
    store has it ready (its cut-off, workdays and handling days, in its timezone). Short at the
    store is a 409 naming the line and the store: routing elsewhere would not reach the customer."""
    m = px.check_method(method, pickup_location)
    code = (pickup_location or "").strip()
    store = _store(conn, code)
    loc_id = int(store.id)
    product_ids = sorted({f.product_id for f, _ in lines})
    on_shelf = {
        int(r.product_id): int(r.on_hand) - int(r.reserved)
        for r in conn.execute(
            select(stock_t.c.product_id, stock_t.c.on_hand, stock_t.c.reserved).where(
                stock_t.c.location_id == loc_id, stock_t.c.product_id.in_(product_ids)
            )
        )
    }
    wanted: dict[int, int] = defaultdict(int)
    for f, qty in lines:
        wanted[f.product_id] += qty
    short = [
        FieldError(
            f"lines[{i}].quantity",
            f"{qty} of {f.sku} requested, {max(on_shelf.get(f.product_id, 0), 0)} available at {code}",
        )
        for i, (f, qty) in enumerate(lines)
        if wanted[f.product_id] > on_shelf.get(f.product_id, 0)
    ]
    if short:
        raise DomainError(
            ErrorCode.INSUFFICIENT_STOCK,
            f"Not enough stock at {code} for {m.value}: " + "; ".join(f"{e.field}: {e.reason}" for e in short),
            short,
        )
    rule = f"{m.value}/{code}"
    allocations = tuple(Allocation(i, f.product_id, loc_id, qty) for i, (f, qty) in enumerate(lines))
    net = network_service.current_network(db, conn)
    profile = net.by_code.get(code)
    promise = None
    if profile is not None:
        ready = ship_date(now, profile.profile.calendar)
        basis = f"ready for {m.value} at {code} on {ready:%a} {ready.day} {ready:%b} (in stock there)"
        promise = PromiseWindow(ready, ready, ready, basis)
    explanation: dict[str, Any] = {
        "method": m.value,
        "locations": [code],
        "allocations": [
            {"line": i + 1, "sku": f.sku, "location": code, "quantity": qty} for i, (f, qty) in enumerate(lines)
        ],
        "why": f"The customer collects the order at {code} ({m.value}), so it is reserved there only.",
        "candidates": [{"location": code, "priority": int(store.priority)}],
    }
    plan = sourcing.SourcingPlan(
        plan=AllocationPlan(allocations, rule), explanation=explanation, promise=promise, notes=()
    )
    return {f.sku: f.product_id for f, _ in lines}, {loc_id: code}, plan


def record_pickup(conn: Connection, order_id: int, method: str, pickup_location: str) -> dict[str, Any]:
    """Keep where and how the order is collected, with its new pickup code (in the capture's
    unit of work)."""
    store = _store(conn, pickup_location.strip())
    code = px.new_pickup_code()
    conn.execute(
        insert(pickups_t).values(
            order_id=order_id, location_id=store.id, method=px.FulfilmentMethod(method).value, code=code
        )
    )
    return pickup_of(conn, order_id) or {}


def pickup_of(conn: Connection, order_id: int) -> dict[str, Any] | None:
    """How a pickup order is collected, as the order shows it; None for a shipped order."""
    row = conn.execute(
        select(
            pickups_t,
            locations_t.c.code.label("location"),
            locations_t.c.name.label("location_name"),
            locations_t.c.timezone,
        )
        .join(locations_t, locations_t.c.id == pickups_t.c.location_id)
        .where(pickups_t.c.order_id == order_id)
    ).first()
    if row is None:
        return None
    return {
        "method": row.method,
        "location": row.location,
        "location_name": row.location_name,
        "timezone": row.timezone,
        "code": row.code,
        "ready_at": row.ready_at,
        "expires_at": row.expires_at,
        "arrived_at": row.arrived_at,
        "arrival_note": row.arrival_note,
        "collected_at": row.collected_at,
        "collected_by": row.collected_by,
        "id_checked": row.id_checked,
        "locked_until": row.locked_until,
    }


# --- the store's steps --------------------------------------------------------------------------


def _pickup_for_update(conn: Connection, order_id: int, number: str) -> Any:
    row = conn.execute(select(pickups_t).where(pickups_t.c.order_id == order_id).with_for_update()).first()
    if row is None:
        raise IllegalTransition(
            f"{number} is shipped to the customer, not collected: record a shipment instead", "ship", "pickup"
        )
    return row


def _address(store: Any) -> dict[str, Any]:
    return {
        k: getattr(store, k)
        for k in ("address_line1", "address_line2", "city", "region", "postal_code", "country")
        if getattr(store, k)
    }


def mark_ready(db: Database, fo_id: int, actor: Actor, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The store has the order at the counter: the customer is told to come with the code
    (``order.ready_for_pickup``), and the hold starts (``pickup_hold_days`` at the store)."""
    with db.begin() as conn:
        order, fo = fulfillment._lock_fo(conn, fo_id)
        number = fulfilment_number(fo_id)
        ref = rules.order_number(int(order.id))
        pick = _pickup_for_update(conn, int(order.id), number)
        px.check_ready(number, FulfilmentStatus(fo.status))
        store = conn.execute(select(locations_t).where(locations_t.c.id == fo.location_id)).one()
        now = now or utcnow()
        until = px.expires_at(now, int(store.pickup_hold_days), store.timezone)
        conn.execute(
            update(fo_t)
            .where(fo_t.c.id == fo_id)
            .values(status=FulfilmentStatus.READY_FOR_PICKUP.value, updated_at=now, version=fo_t.c.version + 1)
        )
        conn.execute(update(pickups_t).where(pickups_t.c.order_id == order.id).values(ready_at=now, expires_at=until))
        lines = [
            {
                "line_number": r.line_number,
                "sku": r.sku,
                "quantity": fx.FulfilmentLineState(
                    r.line_number, r.sku, r.quantity, r.quantity_shipped, r.quantity_rejected, r.quantity_cancelled
                ).open,
            }
            for r in fulfillment._line_states(conn, fo_id)
        ]
        email = None
        if order.customer_id is not None:
            email = conn.execute(select(customers_t.c.email).where(customers_t.c.id == order.customer_id)).scalar()
        local_until = until.astimezone(ZoneInfo(store.timezone)) - dt.timedelta(seconds=1)
        record_order_event(
            conn,
            order_id=int(order.id),
            event_type=EventType.ORDER_READY_FOR_PICKUP,
            actor=actor.name,
            message=f"{number} ready for {pick.method} at {store.code}; held until {local_until:%a %d %b} "
            f"({store.pickup_hold_days} days)",
            data={"fulfilment_order": number, "location": store.code, "expires_at": until.isoformat()},
            publish={
                "order": {"id": int(order.id), "order_number": ref, "status": order.status},
                "fulfilment_order": number,
                "method": pick.method,
                "pickup_code": pick.code,
                "pickup_location": {"code": store.code, "name": store.name, "address": _address(store)},
                "lines": [ln for ln in lines if ln["quantity"] > 0],
                "customer": {"email": email},
                "ready_at": now.isoformat(),
                "expires_at": until.isoformat(),
                "hold_days": int(store.pickup_hold_days),
            },
            now=now,
        )
    return fulfillment.get_fulfilment_order(db, fo_id)


def hand_over(
    db: Database, fo_id: int, code: str, actor: Actor, *, id_checked: bool = False, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The customer collects the order with their code. A wrong code changes nothing but the
    count of wrong codes (kept, so the lock-out survives); the right one takes the units off
    the shelf as a ``pickup`` shipment and the lines are delivered."""
    wrong: px.CodeCheck | None = None
    collected: int | None = None
    with db.begin() as conn:
        order, fo = fulfillment._lock_fo(conn, fo_id)
        number = fulfilment_number(fo_id)
        ref = rules.order_number(int(order.id))
        pick = _pickup_for_update(conn, int(order.id), number)
        px.check_collectable(number, FulfilmentStatus(fo.status))
        now = now or utcnow()
        check = px.check_code(
            pick.code, code, failed_attempts=int(pick.failed_attempts), locked_until=pick.locked_until, now=now
        )
        conn.execute(
            update(pickups_t)
            .where(pickups_t.c.order_id == order.id)
            .values(failed_attempts=check.failed_attempts, locked_until=check.locked_until)
        )
        if not check.ok:
            wrong = check
        else:
            units = [
                (r.line_number, fulfillment._state(r).open)
                for r in fulfillment._line_states(conn, fo_id)
                if fulfillment._state(r).open > 0
            ]
            shipment_id = fulfillment.ship_in(
                conn,
                fo_id,
                carrier=CARRIER,
                service_code=pick.method,
                packages=[fx.PackageInput(f"PICKUP-{number}", None, units)],
                actor=actor,
                handover=True,
                note=f"picked up at {fo.location} ({number})",
            )
            collected = shipment_id
            conn.execute(update(ship_t).where(ship_t.c.id == shipment_id).values(delivered_at=now))
            _deliver_lines(conn, int(order.id), ref)
            new_status = fulfillment._rollup(conn, int(order.id), ref, OrderStatus.SHIPPED, now)
            conn.execute(
                update(fo_t)
                .where(fo_t.c.id == fo_id)
                .values(status=FulfilmentStatus.PICKED_UP.value, closed_at=now, updated_at=now)
            )
            conn.execute(
                update(pickups_t)
                .where(pickups_t.c.order_id == order.id)
                .values(collected_at=now, collected_by=actor.name, id_checked=id_checked)
            )
            picked = [{"line": n, "quantity": q} for n, q in units]
            record_order_event(
                conn,
                order_id=int(order.id),
                event_type=EventType.ORDER_PICKED_UP,
                actor=actor.name,
                message=f"Collected by the customer at {fo.location} ({number}, {pick.method})"
                + ("; ID checked" if id_checked else "")
                + "; "
                + ", ".join(f"line {n} x {q}" for n, q in units),
                data={"fulfilment_order": number, "location": fo.location, "shipment_id": shipment_id, "lines": picked},
                publish={
                    "order": {"id": int(order.id), "order_number": ref, "status": new_status.value},
                    "fulfilment_order": number,
                    "location": fo.location,
                    "method": pick.method,
                    "lines": picked,
                },
                now=now,
            )
    if wrong is not None:  # raised after the commit, so the wrong-code count is kept
        raise px.wrong_code_error(wrong)
    if collected is not None:  # outside the transaction; the worker retries (docs/payments.md)
        payments.capture_after_shipment(db, collected, actor)
    return fulfillment.get_fulfilment_order(db, fo_id)


def _deliver_lines(conn: Connection, order_id: int, ref: str) -> None:
    """Shipped lines of a collected order are delivered: the customer has them in hand."""
    for ln in conn.execute(
        select(lines_t.c.id, lines_t.c.line_number, lines_t.c.status).where(
            lines_t.c.order_id == order_id, lines_t.c.status == LineStatus.SHIPPED.value
        )
    ).all():
        rules.check_line_transition(f"{ref}/{ln.line_number}", LineStatus.SHIPPED, LineStatus.DELIVERED)
        conn.execute(update(lines_t).where(lines_t.c.id == ln.id).values(status=LineStatus.DELIVERED.value))


MAX_ARRIVAL_NOTE = 200


def customer_arrived(
    db: Database, fo_id: int, actor: Actor, *, vehicle: str | None = None, bay: str | None = None
) -> dict[str, Any]:
    """Curbside: the customer is waiting outside; the store's queue shows them on top."""
    vehicle = (vehicle or "").strip() or None
    bay = (bay or "").strip() or None
    note = ", ".join(x for x in (vehicle, f"bay {bay}" if bay else None) if x) or None
    if note and len(note) > MAX_ARRIVAL_NOTE:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"vehicle: at most {MAX_ARRIVAL_NOTE} characters with the bay",
            [FieldError("vehicle", f"at most {MAX_ARRIVAL_NOTE} characters with the bay")],
        )
    with db.begin() as conn:
        order, fo = fulfillment._lock_fo(conn, fo_id)
        number = fulfilment_number(fo_id)
        pick = _pickup_for_update(conn, int(order.id), number)
        if pick.method != px.FulfilmentMethod.CURBSIDE.value:
            raise IllegalTransition(
                f"{number} is collected at the counter, not curbside", pick.method, px.FulfilmentMethod.CURBSIDE.value
            )
        if FulfilmentStatus(fo.status) not in fx.OPEN:
            raise IllegalTransition(
                f"Fulfilment order {number} is {fo.status}: nothing is waiting for the customer", fo.status, "arrived"
            )
        now = utcnow()
        conn.execute(
            update(pickups_t).where(pickups_t.c.order_id == order.id).values(arrived_at=now, arrival_note=note)
        )
        record_order_event(
            conn,
            order_id=int(order.id),
            event_type=EventType.PICKUP_CUSTOMER_ARRIVED,
            actor=actor.name,
            message=f"Customer arrived at {fo.location} for curbside pickup ({number})" + (f": {note}" if note else ""),
            data={"fulfilment_order": number, "location": fo.location, "vehicle": vehicle, "bay": bay},
            publish={
                "order": {"id": int(order.id), "order_number": rules.order_number(int(order.id))},
                "fulfilment_order": number,
                "location": fo.location,
                "vehicle": vehicle,
                "bay": bay,
            },
            now=now,
        )
    return fulfillment.get_fulfilment_order(db, fo_id)


# --- expiry -------------------------------------------------------------------------------------


def expire_pickups(db: Database, now: dt.datetime) -> int:
    """Cancel every pickup not collected by the end of its hold: stock goes back on sale, the
    order and lines are cancelled with the reason, the timeline and ``order.cancelled`` say so.
    One unit of work per order; one collected meanwhile is left alone. Returns how many."""
    from openoms.services import orders  # orders imports this module for capture

    with db.read() as conn:
        due = conn.execute(
            select(pickups_t.c.order_id, locations_t.c.pickup_hold_days)
            .join(fo_t, fo_t.c.order_id == pickups_t.c.order_id)
            .join(locations_t, locations_t.c.id == pickups_t.c.location_id)
            .where(
                fo_t.c.status == FulfilmentStatus.READY_FOR_PICKUP.value,
                pickups_t.c.expires_at.is_not(None),
                pickups_t.c.expires_at <= now,
            )
            .order_by(pickups_t.c.expires_at, pickups_t.c.order_id)
        ).all()
    done = 0
    seen: set[int] = set()
    for row in due:
        order_id = int(row.order_id)
        if order_id in seen:
            continue
        seen.add(order_id)
        try:
            orders.cancel_order(db, order_id, f"not collected within {row.pickup_hold_days} days", SYSTEM)
        except DomainError as exc:  # collected or cancelled meanwhile
            if exc.code not in (ErrorCode.ILLEGAL_TRANSITION, ErrorCode.NOT_FOUND):
                raise
            continue
        done += 1
    return done


# --- the store's queue --------------------------------------------------------------------------


def awaiting_collection(db: Database, location: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Pickup orders at a store that are open (being prepared or waiting at the counter):
    curbside arrivals first, then the oldest."""
    with db.read() as conn:
        rows = conn.execute(
            select(
                fo_t.c.id,
                fo_t.c.order_id,
                fo_t.c.status,
                pickups_t.c.method,
                pickups_t.c.ready_at,
                pickups_t.c.expires_at,
                pickups_t.c.arrived_at,
                pickups_t.c.arrival_note,
                locations_t.c.timezone,
            )
            .join(pickups_t, pickups_t.c.order_id == fo_t.c.order_id)
            .join(locations_t, locations_t.c.id == fo_t.c.location_id)
            .where(locations_t.c.code == location, fo_t.c.status.in_([s.value for s in fx.OPEN]))
            .order_by(fo_t.c.id)
        ).all()
    out = [
        {
            "id": int(r.id),
            "number": fulfilment_number(int(r.id)),
            "order_id": int(r.order_id),
            "order_number": rules.order_number(int(r.order_id)),
            "status": r.status,
            "method": r.method,
            "ready_at": r.ready_at,
            "expires_at": r.expires_at,
            "arrived_at": r.arrived_at,
            "arrival_note": r.arrival_note,
            "waiting_hours": (now - r.ready_at).total_seconds() / 3600 if r.ready_at else None,
            "expires_local": (r.expires_at - dt.timedelta(seconds=1)).astimezone(ZoneInfo(r.timezone))
            if r.expires_at
            else None,
        }
        for r in rows
    ]
    out.sort(key=lambda p: (p["arrived_at"] is None, p["arrived_at"] or now, p["id"]))
    return out


def pickup_by_fo(db: Database, fo_id: int) -> dict[str, Any] | None:
    with db.read() as conn:
        order_id = conn.execute(select(fo_t.c.order_id).where(fo_t.c.id == fo_id)).scalar()
        if order_id is None:
            raise NotFound("Fulfilment order", fulfilment_number(fo_id))
        return pickup_of(conn, int(order_id))
