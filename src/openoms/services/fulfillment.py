"""Fulfilment use cases: release an order to its locations, their progress, shipments, rejections.

One unit of work each. Locks are taken order first, then fulfilment order, then stock rows in
sorted order, the same order every other command uses, so none of them deadlock. Shipping takes
units off the shelf and out of the reservation in one conditional update per stock row, with its
ledger row; the order's lines and status follow (docs/fulfilment.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openoms.adapters.carriers import labels
from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue, record_order_event
from openoms.adapters.db.tables import (
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    OrderHold,
    OrderLine,
    OrderPickup,
    PackageLine,
    Reservation,
    Shipment,
    ShipmentPackage,
    table,
)
from openoms.domain import fulfillment as fx
from openoms.domain import orders as rules
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.domain.events import EventType
from openoms.domain.fulfillment import FulfilmentStatus, fulfilment_number
from openoms.domain.inventory import LedgerEntryType
from openoms.domain.network import routing_service_level
from openoms.domain.orders import HoldType, LineStatus, OrderStatus
from openoms.services import network as network_service
from openoms.services import payments, rerouting
from openoms.services.common import Actor, utcnow

orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
holds_t = table(OrderHold)
fo_t = table(FulfilmentOrder)
fl_t = table(FulfilmentLine)
ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
pl_t = table(PackageLine)
locations_t = table(Location)
pickups_t = table(OrderPickup)

_STAMP = {
    FulfilmentStatus.ACCEPTED: "accepted_at",
    FulfilmentStatus.PICKED: "picked_at",
    FulfilmentStatus.PACKED: "packed_at",
}


def _lock_order(conn: Connection, order_id: int) -> Any:
    row = conn.execute(select(orders_t).where(orders_t.c.id == order_id).with_for_update()).first()
    if row is None:
        raise NotFound("Order", rules.order_number(order_id))
    return row


def _lock_fo(conn: Connection, fo_id: int) -> tuple[Any, Any]:
    """The fulfilment order with its order locked first (the house lock order)."""
    head = conn.execute(select(fo_t.c.order_id).where(fo_t.c.id == fo_id)).first()
    if head is None:
        raise NotFound("Fulfilment order", fulfilment_number(fo_id))
    order = _lock_order(conn, int(head.order_id))
    fo = conn.execute(
        select(fo_t, locations_t.c.code.label("location"))
        .join(locations_t, locations_t.c.id == fo_t.c.location_id)
        .where(fo_t.c.id == fo_id)
        .with_for_update(of=fo_t)
    ).one()
    return order, fo


def _line_states(conn: Connection, fo_id: int) -> list[Any]:
    return list(conn.execute(select(fl_t).where(fl_t.c.fulfilment_order_id == fo_id).order_by(fl_t.c.line_number)))


def _state(r: Any) -> fx.FulfilmentLineState:
    return fx.FulfilmentLineState(
        r.line_number, r.sku, r.quantity, r.quantity_shipped, r.quantity_rejected, r.quantity_cancelled
    )


def _rollup(conn: Connection, order_id: int, ref: str, current: OrderStatus, now: dt.datetime) -> OrderStatus:
    statuses = [
        LineStatus(s) for s in conn.execute(select(lines_t.c.status).where(lines_t.c.order_id == order_id)).scalars()
    ]
    new = rules.rollup_status(statuses)
    if new != current:
        rules.check_order_transition(ref, current, new)
    conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_id)
        .values(status=new.value, updated_at=now, version=orders_t.c.version + 1)
    )
    return new


# --- release ------------------------------------------------------------------------------------


def fulfilment_line_values(fo_id: int, reservation: Any) -> dict[str, Any]:
    """One fulfilment line per reservation handed over (release by hand, by wave, automatic):
    ``reservation`` carries its id, line, product, line number, SKU and quantity."""
    return {
        "fulfilment_order_id": fo_id,
        "reservation_id": reservation.id,
        "order_line_id": reservation.order_line_id,
        "product_id": reservation.product_id,
        "line_number": reservation.line_number,
        "sku": reservation.sku,
        "quantity": reservation.quantity,
    }


def release_order(db: Database, order_id: int, actor: Actor) -> list[dict[str, Any]]:
    """Hand the order's reserved units to their locations: one fulfilment order per location,
    one line per reservation not yet handed over. Refused while the order is on hold."""
    ref = rules.order_number(order_id)
    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        status = OrderStatus(order.status)
        holds = [
            HoldType(h)
            for h in conn.execute(
                select(holds_t.c.hold_type).where(holds_t.c.order_id == order_id, holds_t.c.released_at.is_(None))
            ).scalars()
        ]
        if status == OrderStatus.PARTIALLY_SHIPPED:  # the rest, after a rejected line was re-routed
            rules.check_can_release_to_fulfilment(ref, OrderStatus.ALLOCATED, holds)
        else:
            rules.check_can_release_to_fulfilment(ref, status, holds)
        pending = conn.execute(
            select(
                res_t.c.id,
                res_t.c.order_line_id,
                res_t.c.product_id,
                res_t.c.location_id,
                res_t.c.quantity,
                lines_t.c.line_number,
                lines_t.c.sku,
                locations_t.c.code,
                locations_t.c.kind,
            )
            .join(lines_t, lines_t.c.id == res_t.c.order_line_id)
            .join(locations_t, locations_t.c.id == res_t.c.location_id)
            .outerjoin(fl_t, fl_t.c.reservation_id == res_t.c.id)
            .where(res_t.c.order_id == order_id, res_t.c.quantity > 0, fl_t.c.id.is_(None))
            .order_by(locations_t.c.code, lines_t.c.line_number)
        ).all()
        if not pending:
            raise DomainError(ErrorCode.ILLEGAL_TRANSITION, f"Order {ref} has no reserved units left to release")
        now = utcnow()
        by_loc: dict[tuple[int, str], list[Any]] = defaultdict(list)
        for r in pending:
            by_loc[(int(r.location_id), r.code)].append(r)
        made: list[tuple[int, str, list[Any]]] = []
        for (loc_id, code), rows in by_loc.items():
            fo_id = conn.execute(
                insert(fo_t)
                .values(
                    order_id=order_id,
                    location_id=loc_id,
                    status=FulfilmentStatus.RELEASED.value,
                    released_by=actor.name,
                    released_at=now,
                    updated_at=now,
                    version=1,
                )
                .returning(fo_t.c.id)
            ).scalar_one()
            conn.execute(insert(fl_t), [fulfilment_line_values(int(fo_id), r) for r in rows])
            made.append((int(fo_id), code, rows))
        for line_id in sorted({int(r.order_line_id) for r in pending}):
            line = conn.execute(select(lines_t.c.status, lines_t.c.line_number).where(lines_t.c.id == line_id)).one()
            if LineStatus(line.status) == LineStatus.ALLOCATED:
                rules.check_line_transition(f"{ref}/{line.line_number}", LineStatus.ALLOCATED, LineStatus.RELEASED)
                conn.execute(update(lines_t).where(lines_t.c.id == line_id).values(status=LineStatus.RELEASED.value))
        new_status = _rollup(conn, order_id, ref, status, now)
        summary = [
            {
                "fulfilment_order": fulfilment_number(fo_id),
                "location": code,
                "lines": [{"line": r.line_number, "sku": r.sku, "quantity": r.quantity} for r in rows],
            }
            for fo_id, code, rows in made
        ]
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.ORDER_RELEASED,
            actor=actor.name,
            message="Released to "
            + ", ".join(f"{s['location']} ({s['fulfilment_order']}: {len(s['lines'])} line(s))" for s in summary),
            data={"fulfilment_orders": summary},
            publish={"order": {"id": order_id, "order_number": ref, "status": new_status.value}, "released": summary},
            now=now,
        )
        for fo_id, code, rows in made:
            if rows[0].kind == "dropship":  # the supplier ships it: hand it the work (ADR 21)
                dropship_requested(conn, order, fo_id, code, rows, now)
    return [get_fulfilment_order(db, fo_id) for fo_id, _, _ in made]


def dropship_requested(
    conn: Connection, order: Any, fo_id: int, location: str, rows: Sequence[Any], now: dt.datetime
) -> None:
    """A drop-ship supplier receives the fulfilment order as an outbox event (delivered to it by
    the worker's webhooks); it reports progress and shipments through the fulfilment API."""
    enqueue(
        conn,
        EventType.FULFILMENT_DROPSHIP_REQUESTED,
        "fulfilment_order",
        str(fo_id),
        {
            "fulfilment_order": fulfilment_number(fo_id),
            "location": location,
            "order": {"id": int(order.id), "order_number": rules.order_number(int(order.id))},
            "service_level": order.service_level,
            "ship_to": order.shipping_address,
            "lines": [{"line_number": r.line_number, "sku": r.sku, "quantity": r.quantity} for r in rows],
        },
        now=now,
    )


# --- progress -----------------------------------------------------------------------------------


def report_progress(db: Database, fo_id: int, target: FulfilmentStatus, actor: Actor) -> dict[str, Any]:
    """The location accepted, picked or packed the fulfilment order."""
    with db.begin() as conn:
        order, fo = _lock_fo(conn, fo_id)
        number = fulfilment_number(fo_id)
        fx.check_progress(number, FulfilmentStatus(fo.status), target)
        now = utcnow()
        conn.execute(
            update(fo_t)
            .where(fo_t.c.id == fo_id)
            .values(status=target.value, updated_at=now, version=fo_t.c.version + 1, **{_STAMP[target]: now})
        )
        record_order_event(
            conn,
            order_id=int(order.id),
            event_type=EventType.FULFILMENT_PROGRESS,
            actor=actor.name,
            message=f"{number} {target.value} at {fo.location}",
            data={"fulfilment_order": number, "location": fo.location, "status": target.value},
            now=now,
        )
    return get_fulfilment_order(db, fo_id)


# --- shipments ----------------------------------------------------------------------------------


def ship(
    db: Database,
    fo_id: int,
    *,
    carrier: str,
    service_code: str | None,
    packages: Sequence[fx.PackageInput],
    actor: Actor,
    shipped_at: dt.datetime | None = None,
    label_costs: Sequence[tuple[Decimal, str]] | None = None,
) -> dict[str, Any]:
    """Record a shipment of some or all of the fulfilment order's open units (``label_costs``:
    per package, what its label cost when OpenOMS bought it)."""
    with db.begin() as conn:
        shipment_id = ship_in(
            conn,
            fo_id,
            carrier=carrier,
            service_code=service_code,
            packages=packages,
            actor=actor,
            shipped_at=shipped_at,
            label_costs=label_costs,
        )
    payments.capture_after_shipment(db, shipment_id, actor)  # outside the transaction; the worker retries
    return get_shipment(db, shipment_id)


def ship_in(
    conn: Connection,
    fo_id: int,
    *,
    carrier: str,
    service_code: str | None,
    packages: Sequence[fx.PackageInput],
    actor: Actor,
    shipped_at: dt.datetime | None = None,
    label_costs: Sequence[tuple[Decimal, str]] | None = None,
    handover: bool = False,
    note: str | None = None,
) -> int:
    """``ship`` inside the caller's unit of work; returns the shipment id. ``handover``: the
    customer collects a pickup order (services/pickup.py), which writes its own timeline entry."""
    order, fo = _lock_fo(conn, fo_id)
    number = fulfilment_number(fo_id)
    ref = rules.order_number(int(order.id))
    if not handover and _is_pickup(conn, int(order.id)):
        raise DomainError(
            ErrorCode.ILLEGAL_TRANSITION,
            f"{number} is collected by the customer at {fo.location}: mark it ready for pickup and hand it over",
        )
    rows = _line_states(conn, fo_id)
    plan = fx.plan_shipment(number, FulfilmentStatus(fo.status), [_state(r) for r in rows], packages, handover=handover)
    now = utcnow()
    when = shipped_at or now
    by_number = {r.line_number: r for r in rows}
    stock: dict[tuple[int, int], int] = defaultdict(int)
    ledger: list[stock_db.LedgerRow] = []
    for number_, qty in plan.units.items():
        r = by_number[number_]
        stock[(int(r.product_id), int(fo.location_id))] += qty
        conn.execute(update(fl_t).where(fl_t.c.id == r.id).values(quantity_shipped=fl_t.c.quantity_shipped + qty))
        conn.execute(update(res_t).where(res_t.c.id == r.reservation_id).values(quantity=res_t.c.quantity - qty))
        ledger.append(
            stock_db.LedgerRow(
                int(r.product_id),
                int(fo.location_id),
                LedgerEntryType.SHIPMENT,
                -qty,
                -qty,
                actor.name,
                note or f"shipped with {carrier}",
                ref,
                int(order.id),
                int(r.order_line_id),
            )
        )
        line = conn.execute(select(lines_t).where(lines_t.c.id == r.order_line_id)).one()
        shipped = line.quantity_shipped + qty
        target = (
            LineStatus.SHIPPED if shipped >= line.quantity - line.quantity_cancelled else LineStatus.PARTIALLY_SHIPPED
        )
        if LineStatus(line.status) != target:
            rules.check_line_transition(f"{ref}/{line.line_number}", LineStatus(line.status), target)
        conn.execute(
            update(lines_t).where(lines_t.c.id == line.id).values(quantity_shipped=shipped, status=target.value)
        )
    stock_db.ship(conn, [(p, loc, q) for (p, loc), q in stock.items()], now)
    stock_db.append_ledger(conn, ledger, now)
    shipment_id = conn.execute(
        insert(ship_t)
        .values(
            fulfilment_order_id=fo_id,
            order_id=order.id,
            carrier=carrier,
            service_code=service_code,
            shipped_at=when,
            created_by=actor.name,
        )
        .returning(ship_t.c.id)
    ).scalar_one()
    for i, pkg in enumerate(packages):
        cost, currency = label_costs[i] if label_costs else (None, None)
        package_id = conn.execute(
            insert(pkg_t)
            .values(
                shipment_id=shipment_id,
                tracking_number=pkg.tracking_number.strip(),
                weight_grams=pkg.weight_grams,
                label_cost=cost,
                label_currency=currency,
            )
            .returning(pkg_t.c.id)
        ).scalar_one()
        conn.execute(
            insert(pl_t),
            [{"package_id": package_id, "fulfilment_line_id": by_number[n].id, "quantity": q} for n, q in pkg.lines],
        )
    after = fx.status_after([_state(r) for r in _line_states(conn, fo_id)], FulfilmentStatus(fo.status))
    conn.execute(
        update(fo_t)
        .where(fo_t.c.id == fo_id)
        .values(
            status=after.value,
            updated_at=now,
            version=fo_t.c.version + 1,
            closed_at=now if after in fx.CLOSED else None,
        )
    )
    new_status = _rollup(conn, int(order.id), ref, OrderStatus(order.status), now)
    # Money held for the order is captured for this shipment after the commit (docs/payments.md).
    payments.request_capture_for_shipment(conn, int(order.id), int(shipment_id), now)
    tracking = [p.tracking_number.strip() for p in packages]
    units = ", ".join(f"line {n} x {q}" for n, q in sorted(plan.units.items()))
    message = (
        f"Shipped from {fo.location} ({number}) by {carrier}"
        + (f" {service_code}" if service_code else "")
        + f": {len(packages)} package(s), tracking {', '.join(tracking)}; {units}"
    )
    data = {
        "shipment_id": shipment_id,
        "fulfilment_order": number,
        "location": fo.location,
        "carrier": carrier,
        "service_code": service_code,
        "tracking_numbers": tracking,
        "lines": [{"line": n, "quantity": q} for n, q in sorted(plan.units.items())],
    }
    if handover:  # the hand-over writes its own timeline entry and event
        return int(shipment_id)
    record_order_event(
        conn,
        order_id=int(order.id),
        event_type=EventType.SHIPMENT_CREATED,
        actor=actor.name,
        message=message,
        data=data,
        publish={"order": {"id": int(order.id), "order_number": ref, "status": new_status.value}, **data},
        now=now,
    )
    return int(shipment_id)


def _is_pickup(conn: Connection, order_id: int) -> bool:
    return conn.execute(select(pickups_t.c.order_id).where(pickups_t.c.order_id == order_id)).first() is not None


# --- rejection ----------------------------------------------------------------------------------


def ship_with_labels(
    db: Database,
    fo_id: int,
    *,
    packages: Sequence[tuple[int, Sequence[tuple[int, int]]]],  # (weight_grams, [(line number, units)])
    service_code: str | None,
    actor: Actor,
    provider: labels.LabelProvider | None = None,
) -> dict[str, Any]:
    """Buy a label for every package (the built-in provider prices them from the rate tables
    and issues OpenOMS tracking references) and record the shipment with them."""
    with db.read() as conn:
        fo = conn.execute(select(fo_t.c.order_id, fo_t.c.location_id).where(fo_t.c.id == fo_id)).first()
        if fo is None:
            raise NotFound("Fulfilment order", fulfilment_number(fo_id))
        order = conn.execute(
            select(orders_t.c.shipping_address, orders_t.c.service_level).where(orders_t.c.id == fo.order_id)
        ).one()
        net = network_service.current_network(db, conn)
    location = next((loc.profile for loc in net.locations if loc.id == fo.location_id), None)
    destination = network_service.address_from(order.shipping_address)
    if location is None or destination is None:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            "This order has no shipping address (or its location is inactive): record the shipment instead",
            [FieldError("shipping_address", "is missing")],
        )
    destination, _ = network_service.locate(destination)
    if provider is None:
        quoter = net.quoter()
        if quoter is None:
            raise DomainError(
                ErrorCode.VALIDATION_ERROR,
                "No carrier rate table is loaded to price labels; load one with `openoms rates import FILE.csv`",
                [FieldError("service_code", "no rates loaded")],
            )
        provider = labels.RateTableLabels(quoter)
    bought = provider.buy(
        labels.LabelRequest(
            location=location,
            destination=destination,
            service_level=routing_service_level(order.service_level),
            weights_grams=[w for w, _ in packages],
            service_code=service_code,
        )
    )
    carriers = {(b.carrier, b.service_code) for b in bought}
    if len(carriers) > 1:  # one shipment is one carrier service; heavier parcels may need another
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            "The packages need different carrier services ("
            + ", ".join(sorted(code for _, code in carriers))
            + "); choose one service_code or ship them separately",
            [FieldError("service_code", "packages priced with different services")],
        )
    carrier, code = carriers.pop()
    return ship(
        db,
        fo_id,
        carrier=carrier,
        service_code=code,
        packages=[fx.PackageInput(b.tracking_number, w, lines) for b, (w, lines) in zip(bought, packages, strict=True)],
        actor=actor,
        label_costs=[(b.cost, b.currency) for b in bought],
    )


def reject_line(db: Database, fo_id: int, line_number: int, reason: str, actor: Actor) -> dict[str, Any]:
    """The location will not ship a line (not found, damaged): its open units go back to
    routing, which reserves them elsewhere or backorders them, in the same transaction."""

    def work(conn: Connection) -> rerouting.RerouteResult:
        order, fo = _lock_fo(conn, fo_id)
        number = fulfilment_number(fo_id)
        rows = _line_states(conn, fo_id)
        row = next((r for r in rows if r.line_number == line_number), None)
        fx.check_rejectable(number, FulfilmentStatus(fo.status), _state(row) if row else None, line_number)
        assert row is not None
        open_units = _state(row).open
        conn.execute(
            update(fl_t).where(fl_t.c.id == row.id).values(quantity_rejected=fl_t.c.quantity_rejected + open_units)
        )
        now = utcnow()
        after = fx.status_after([_state(r) for r in _line_states(conn, fo_id)], FulfilmentStatus(fo.status))
        conn.execute(
            update(fo_t)
            .where(fo_t.c.id == fo_id)
            .values(
                status=after.value,
                updated_at=now,
                version=fo_t.c.version + 1,
                closed_at=now if after in fx.CLOSED else None,
            )
        )
        return rerouting.reroute_in(
            conn, db, int(order.id), actor, f"{number}: {reason}", reject=(line_number, fo.location), trigger="reject"
        )

    result = rerouting.with_retries(db, work)
    return {
        "fulfilment_order": get_fulfilment_order(db, fo_id),
        "moved": result.moved,
        "backordered": result.backordered,
        "message": result.message,
    }


# --- cancellation (called by the order's cancel commands, in their unit of work) ----------------


def cancel_units(conn: Connection, takes: Sequence[tuple[int, int]], now: dt.datetime) -> None:
    """Units cancelled from reservations (reservation id, units) no longer go to the location:
    their fulfilment lines count them as cancelled, and a fulfilment order with nothing open
    left is closed."""
    touched: set[int] = set()
    for reservation_id, units in takes:
        row = conn.execute(
            select(fl_t.c.id, fl_t.c.fulfilment_order_id).where(fl_t.c.reservation_id == reservation_id)
        ).first()
        if row is None:
            continue
        conn.execute(
            update(fl_t).where(fl_t.c.id == row.id).values(quantity_cancelled=fl_t.c.quantity_cancelled + units)
        )
        touched.add(int(row.fulfilment_order_id))
    for fo_id in sorted(touched):
        fo = conn.execute(select(fo_t.c.status).where(fo_t.c.id == fo_id).with_for_update()).one()
        after = fx.status_after([_state(r) for r in _line_states(conn, fo_id)], FulfilmentStatus(fo.status))
        conn.execute(
            update(fo_t)
            .where(fo_t.c.id == fo_id)
            .values(status=after.value, updated_at=now, closed_at=now if after in fx.CLOSED else None)
        )


# --- queries ------------------------------------------------------------------------------------


def _fo_dict(conn: Connection, fo: Any) -> dict[str, Any]:
    lines = _line_states(conn, int(fo.id))
    shipments = conn.execute(select(ship_t).where(ship_t.c.fulfilment_order_id == fo.id).order_by(ship_t.c.id)).all()
    return {
        "id": fo.id,
        "number": fulfilment_number(int(fo.id)),
        "order_id": fo.order_id,
        "order_number": rules.order_number(int(fo.order_id)),
        "location": fo.location,
        "status": fo.status,
        "released_by": fo.released_by,
        "released_at": fo.released_at,
        "accepted_at": fo.accepted_at,
        "picked_at": fo.picked_at,
        "packed_at": fo.packed_at,
        "closed_at": fo.closed_at,
        "lines": [
            {
                "line_number": r.line_number,
                "sku": r.sku,
                "quantity": r.quantity,
                "quantity_shipped": r.quantity_shipped,
                "quantity_rejected": r.quantity_rejected,
                "quantity_cancelled": r.quantity_cancelled,
                "quantity_open": _state(r).open,
            }
            for r in lines
        ],
        "shipments": [int(s.id) for s in shipments],
    }


def _fo_select() -> Any:
    return select(fo_t, locations_t.c.code.label("location")).join(locations_t, locations_t.c.id == fo_t.c.location_id)


def get_fulfilment_order(db: Database, fo_id: int) -> dict[str, Any]:
    with db.read() as conn:
        fo = conn.execute(_fo_select().where(fo_t.c.id == fo_id)).first()
        if fo is None:
            raise NotFound("Fulfilment order", fulfilment_number(fo_id))
        return _fo_dict(conn, fo)


def list_fulfilment_orders(
    db: Database,
    *,
    location: str | None = None,
    status: Sequence[FulfilmentStatus] = (),
    order_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """A location's queue (oldest first), or an order's fulfilment orders."""
    stmt = _fo_select().order_by(fo_t.c.id).limit(limit)
    if location:
        stmt = stmt.where(locations_t.c.code == location)
    if status:
        stmt = stmt.where(fo_t.c.status.in_([s.value for s in status]))
    if order_id is not None:
        stmt = stmt.where(fo_t.c.order_id == order_id)
    if after_id is not None:
        stmt = stmt.where(fo_t.c.id > after_id)
    with db.read() as conn:
        return [_fo_dict(conn, fo) for fo in conn.execute(stmt)]


def get_shipment(db: Database, shipment_id: int) -> dict[str, Any]:
    with db.read() as conn:
        s = conn.execute(
            select(ship_t, locations_t.c.code.label("location"))
            .join(fo_t, fo_t.c.id == ship_t.c.fulfilment_order_id)
            .join(locations_t, locations_t.c.id == fo_t.c.location_id)
            .where(ship_t.c.id == shipment_id)
        ).first()
        if s is None:
            raise NotFound("Shipment", str(shipment_id))
        packages = conn.execute(select(pkg_t).where(pkg_t.c.shipment_id == shipment_id).order_by(pkg_t.c.id)).all()
        contents = conn.execute(
            select(pl_t.c.package_id, pl_t.c.quantity, fl_t.c.line_number, fl_t.c.sku)
            .join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
            .where(pl_t.c.package_id.in_([p.id for p in packages]))
            .order_by(pl_t.c.id)
        ).all()
    inside: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in contents:
        inside[int(c.package_id)].append({"line_number": c.line_number, "sku": c.sku, "quantity": c.quantity})
    return {
        "id": s.id,
        "fulfilment_order": fulfilment_number(int(s.fulfilment_order_id)),
        "order_id": s.order_id,
        "order_number": rules.order_number(int(s.order_id)),
        "location": s.location,
        "carrier": s.carrier,
        "service_code": s.service_code,
        "shipped_at": s.shipped_at,
        "created_by": s.created_by,
        "packages": [
            {
                "tracking_number": p.tracking_number,
                "weight_grams": p.weight_grams,
                "label_cost": p.label_cost,
                "label_currency": p.label_currency,
                "lines": inside[int(p.id)],
            }
            for p in packages
        ],
    }


def list_shipments(db: Database, order_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        if conn.execute(select(orders_t.c.id).where(orders_t.c.id == order_id)).first() is None:
            raise NotFound("Order", rules.order_number(order_id))
        ids = conn.execute(select(ship_t.c.id).where(ship_t.c.order_id == order_id).order_by(ship_t.c.id)).scalars()
        found = [int(i) for i in ids]
    return [get_shipment(db, i) for i in found]
