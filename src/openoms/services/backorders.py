"""Backorders: units of order lines that wait for inbound stock, and their allocation when the
stock is received.

Capture writes a backorder per (line, location, lot) it promised from an inbound lot
(``record``); every receipt, positive adjustment or count that raises on hand calls
``allocate_backorders`` in its own transaction, which reserves the waiting units at that stock
row in queue order. Lock order (docs/adr/0020-backorders-and-preorders.md): stock rows in
sorted order first, then the orders being served with ``SKIP LOCKED`` (an order busy with
another command is never waited for: it stops its queue until the next run, so a receipt can
never deadlock with a cancel, which locks the order first and the stock rows after).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Backorder,
    InboundStock,
    Location,
    Order,
    OrderLine,
    Product,
    Reservation,
    StockLevel,
    table,
)
from openoms.domain import orders as rules
from openoms.domain.backorders import LotRoom, Waiting, allocate_in_queue_order
from openoms.domain.events import EventType
from openoms.domain.inventory import LedgerEntryType
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.services.common import Actor, utcnow

bo_t = table(Backorder)
inbound_t = table(InboundStock)
orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
stock_t = table(StockLevel)
products_t = table(Product)
locations_t = table(Location)

#: Units still waiting on a backorder.
WAITING = bo_t.c.quantity - bo_t.c.quantity_allocated - bo_t.c.quantity_cancelled

#: Most backorders one allocation run serves per stock row; the rest wait for the next run.
QUEUE_BATCH = 1000


def lot_room(conn: Connection, product_ids: Iterable[int]) -> dict[tuple[int, int], list[LotRoom]]:
    """Open inbound lots per (product, location), earliest first, with the units no waiting
    backorder has claimed yet. Only exact under the stock row's lock (see ``orders``)."""
    pids = sorted(set(product_ids))
    claimed = (
        select(bo_t.c.inbound_id, func.sum(WAITING).label("claimed"))
        .where(bo_t.c.product_id.in_(pids), bo_t.c.inbound_id.is_not(None), WAITING > 0)
        .group_by(bo_t.c.inbound_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            inbound_t.c.id,
            inbound_t.c.product_id,
            inbound_t.c.location_id,
            inbound_t.c.quantity,
            inbound_t.c.expected_at,
            inbound_t.c.reference,
            func.coalesce(claimed.c.claimed, 0).label("claimed"),
        )
        .outerjoin(claimed, claimed.c.inbound_id == inbound_t.c.id)
        .where(inbound_t.c.product_id.in_(pids), inbound_t.c.status == "open")
        .order_by(inbound_t.c.expected_at, inbound_t.c.id)
    )
    out: dict[tuple[int, int], list[LotRoom]] = defaultdict(list)
    for r in rows:
        free = int(r.quantity) - int(r.claimed)
        if free > 0:
            out[(int(r.product_id), int(r.location_id))].append(LotRoom(int(r.id), r.expected_at, free, r.reference))
    return out


@dataclass(frozen=True)
class NewBackorder:
    order_line_id: int
    product_id: int
    location_id: int
    inbound_id: int
    expected_at: dt.datetime
    quantity: int


def record(conn: Connection, order_id: int, rows: Sequence[NewBackorder], now: dt.datetime) -> None:
    """Write the claims of a capture; the caller holds the stock rows' locks (queue order)."""
    if rows:
        conn.execute(
            insert(bo_t),
            [
                {
                    "order_id": order_id,
                    "order_line_id": r.order_line_id,
                    "product_id": r.product_id,
                    "location_id": r.location_id,
                    "inbound_id": r.inbound_id,
                    "expected_at": r.expected_at,
                    "quantity": r.quantity,
                    "quantity_allocated": 0,
                    "quantity_cancelled": 0,
                    "created_at": now,
                }
                for r in rows
            ],
        )


def waiting_by_line(conn: Connection, order_id: int) -> dict[int, tuple[int, dt.datetime | None]]:
    """Per order line id: units waiting and the latest expected arrival among them."""
    rows = conn.execute(
        select(bo_t.c.order_line_id, func.sum(WAITING), func.max(bo_t.c.expected_at))
        .where(bo_t.c.order_id == order_id, WAITING > 0)
        .group_by(bo_t.c.order_line_id)
    ).all()
    return {int(r[0]): (int(r[1]), r[2]) for r in rows}


def drop_waiting(conn: Connection, line_id: int, units: int) -> tuple[int, int, bool]:
    """Cancel up to ``units`` waiting units of a line, newest claim first: the lots get the
    units back for later captures. Returns (dropped, still waiting, had any backorder).
    The caller holds the order's lock."""
    rows = conn.execute(
        select(bo_t.c.id, WAITING.label("waiting")).where(bo_t.c.order_line_id == line_id).order_by(bo_t.c.id.desc())
    ).all()
    left = units
    dropped = 0
    for r in rows:
        take = min(left, int(r.waiting))
        if take > 0:
            conn.execute(
                update(bo_t).where(bo_t.c.id == r.id).values(quantity_cancelled=bo_t.c.quantity_cancelled + take)
            )
            dropped += take
            left -= take
    still = sum(int(r.waiting) for r in rows) - dropped
    return dropped, still, bool(rows)


def _lock_orders(conn: Connection, order_ids: Sequence[int]) -> set[int]:
    """Lock the orders to be served without waiting for any (see the module docstring)."""
    if not order_ids:
        return set()
    stmt = select(orders_t.c.id).where(orders_t.c.id.in_(sorted(set(order_ids))))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return {int(i) for i in conn.execute(stmt).scalars()}


def _queue(conn: Connection, product_id: int, location_id: int) -> list[Any]:
    return list(
        conn.execute(
            select(bo_t.c.id, bo_t.c.order_id, bo_t.c.order_line_id, WAITING.label("waiting"))
            .where(bo_t.c.product_id == product_id, bo_t.c.location_id == location_id, WAITING > 0)
            .order_by(bo_t.c.id)
            .limit(QUEUE_BATCH)
        ).all()
    )


def allocate_backorders(
    conn: Connection, keys: Iterable[tuple[int, int]], now: dt.datetime, actor: Actor
) -> list[dict[str, Any]]:
    """Reserve waiting units at each (product_id, location_id) from its free stock, in queue
    order, inside the caller's unit of work. The caller holds each stock row's lock (as
    ``inventory.apply_stock_changes`` does); rows are visited in sorted order all the same.

    Returns what was reserved: {order_id, order_line_id, product_id, location_id, quantity}.
    """
    served: list[dict[str, Any]] = []
    for product_id, location_id in sorted(set(keys)):
        pos = conn.execute(
            select(stock_t.c.on_hand, stock_t.c.reserved, stock_t.c.safety_stock).where(
                stock_t.c.product_id == product_id, stock_t.c.location_id == location_id
            )
        ).first()
        # Safety stock is never offered to orders, waiting ones included (docs/inventory.md).
        available = 0 if pos is None else int(pos.on_hand) - int(pos.reserved) - int(pos.safety_stock)
        if available <= 0:
            continue
        first = _queue(conn, product_id, location_id)
        if not first:
            continue
        locked = _lock_orders(conn, [int(r.order_id) for r in first])
        queue = _queue(conn, product_id, location_id)  # again, now that the orders are ours
        by_id = {int(r.id): r for r in queue}
        plan = allocate_in_queue_order(
            available, [Waiting(int(r.id), int(r.waiting), int(r.order_id) not in locked) for r in queue]
        )
        if not plan:
            continue
        total = sum(n for _, n in plan)
        stock_db.reserve(conn, [(product_id, location_id, total)], now)
        for backorder_id, n in plan:
            r = by_id[backorder_id]
            conn.execute(
                update(bo_t).where(bo_t.c.id == backorder_id).values(quantity_allocated=bo_t.c.quantity_allocated + n)
            )
            served.append(
                {
                    "order_id": int(r.order_id),
                    "order_line_id": int(r.order_line_id),
                    "product_id": product_id,
                    "location_id": location_id,
                    "quantity": n,
                }
            )
    if not served:
        return []
    conn.execute(
        insert(res_t),
        [
            {
                "order_id": s["order_id"],
                "order_line_id": s["order_line_id"],
                "product_id": s["product_id"],
                "location_id": s["location_id"],
                "quantity": s["quantity"],
            }
            for s in served
        ],
    )
    stock_db.append_ledger(
        conn,
        [
            stock_db.LedgerRow(
                s["product_id"],
                s["location_id"],
                LedgerEntryType.RESERVATION,
                0,
                s["quantity"],
                actor.name,
                "backorder allocated on receipt",
                rules.order_number(s["order_id"]),
                s["order_id"],
                s["order_line_id"],
            )
            for s in served
        ],
        now,
    )
    by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in served:
        by_order[s["order_id"]].append(s)
    for order_id in sorted(by_order):
        _after_allocation(conn, order_id, by_order[order_id], now, actor)
    return served


def _after_allocation(
    conn: Connection, order_id: int, served: list[dict[str, Any]], now: dt.datetime, actor: Actor
) -> None:
    """Lines with nothing left waiting become allocated; the order rolls up; timeline + outbox."""
    ref = rules.order_number(order_id)
    order_status = OrderStatus(conn.execute(select(orders_t.c.status).where(orders_t.c.id == order_id)).scalar_one())
    lines = conn.execute(
        select(lines_t.c.id, lines_t.c.line_number, lines_t.c.sku, lines_t.c.status).where(
            lines_t.c.order_id == order_id
        )
    ).all()
    waiting = waiting_by_line(conn, order_id)
    served_lines = {s["order_line_id"] for s in served}
    statuses: list[LineStatus] = []
    for ln in lines:
        status = LineStatus(ln.status)
        if int(ln.id) in served_lines and status == LineStatus.BACKORDERED and int(ln.id) not in waiting:
            rules.check_line_transition(f"{ref}/{ln.line_number}", status, LineStatus.ALLOCATED)
            conn.execute(update(lines_t).where(lines_t.c.id == ln.id).values(status=LineStatus.ALLOCATED.value))
            status = LineStatus.ALLOCATED
        statuses.append(status)
    new_status = rules.rollup_status(statuses)
    rules.check_order_transition(ref, order_status, new_status)
    conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_id)
        .values(status=new_status.value, updated_at=now, version=orders_t.c.version + 1)
    )
    number_of = {int(ln.id): int(ln.line_number) for ln in lines}
    sku_of = {int(ln.id): ln.sku for ln in lines}
    codes = dict(
        conn.execute(
            select(locations_t.c.id, locations_t.c.code).where(
                locations_t.c.id.in_(sorted({s["location_id"] for s in served}))
            )
        ).all()
    )
    items = [
        {
            "line": number_of[s["order_line_id"]],
            "sku": sku_of[s["order_line_id"]],
            "location": codes[s["location_id"]],
            "quantity": s["quantity"],
        }
        for s in served
    ]
    still = sum(q for q, _ in waiting.values())
    summary = ", ".join(f"line {i['line']} ({i['sku']}) x{i['quantity']} at {i['location']}" for i in items)
    record_order_event(
        conn,
        order_id=order_id,
        event_type=EventType.ORDER_BACKORDER_ALLOCATED,
        actor=actor.name,
        message=f"Received stock reserved for backordered units: {summary}"
        + (f"; {still} unit(s) still waiting" if still else "; nothing waits any more"),
        data={"allocations": items, "still_waiting": still, "order_status": new_status.value},
        publish={
            "order": {"id": order_id, "order_number": ref, "status": new_status.value},
            "allocations": items,
            "still_waiting": still,
        },
        now=now,
    )


def allocate_waiting(db: Database, actor: Actor) -> list[dict[str, Any]]:
    """Serve every queue that has free stock: the catch-up for units a receipt could not give
    (an order was busy, or the queue was longer than one batch). Safe to run at any time."""
    with db.begin() as conn:
        keys = conn.execute(
            select(bo_t.c.product_id, bo_t.c.location_id)
            .join(
                stock_t,
                (stock_t.c.product_id == bo_t.c.product_id) & (stock_t.c.location_id == bo_t.c.location_id),
            )
            .where(WAITING > 0, stock_t.c.on_hand - stock_t.c.reserved - stock_t.c.safety_stock > 0)
            .distinct()
        ).all()
        now = utcnow()
        wanted = sorted((int(p), int(loc)) for p, loc in keys)
        for p, loc in wanted:
            stock_db.lock_stock_row(conn, p, loc, now)
        return allocate_backorders(conn, wanted, now, actor)


def allocate_waiting_view(db: Database, actor: Actor) -> list[dict[str, Any]]:
    """``allocate_waiting`` with order numbers, SKUs and location codes for people and the API."""
    served = allocate_waiting(db, actor)
    with db.read() as conn:
        pids = sorted({s["product_id"] for s in served})
        lids = sorted({s["location_id"] for s in served})
        skus = dict(conn.execute(select(products_t.c.id, products_t.c.sku).where(products_t.c.id.in_(pids))).all())
        codes = dict(conn.execute(select(locations_t.c.id, locations_t.c.code).where(locations_t.c.id.in_(lids))).all())
    return [
        {
            "order_number": rules.order_number(s["order_id"]),
            "order_line_id": s["order_line_id"],
            "sku": skus[s["product_id"]],
            "location": codes[s["location_id"]],
            "quantity": s["quantity"],
        }
        for s in served
    ]


def list_backorders(
    db: Database, *, sku: str | None = None, location: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Waiting units per SKU and location, in the order received stock will go to them: one
    entry per order line and location (its claims on several lots summed, the latest date)."""
    stmt = (
        select(
            bo_t.c.id,
            bo_t.c.order_id,
            bo_t.c.quantity,
            WAITING.label("quantity_waiting"),
            bo_t.c.expected_at,
            bo_t.c.created_at,
            products_t.c.sku,
            products_t.c.name.label("product_name"),
            products_t.c.backorder_policy,
            locations_t.c.code.label("location"),
            lines_t.c.line_number,
            inbound_t.c.reference.label("inbound_reference"),
            inbound_t.c.kind.label("inbound_kind"),
            orders_t.c.placed_at,
        )
        .join(products_t, products_t.c.id == bo_t.c.product_id)
        .join(locations_t, locations_t.c.id == bo_t.c.location_id)
        .join(lines_t, lines_t.c.id == bo_t.c.order_line_id)
        .join(orders_t, orders_t.c.id == bo_t.c.order_id)
        .outerjoin(inbound_t, inbound_t.c.id == bo_t.c.inbound_id)
        .where(WAITING > 0)
        .order_by(products_t.c.sku, locations_t.c.code, bo_t.c.id)
        .limit(limit)
    )
    if sku:
        stmt = stmt.where(products_t.c.sku == sku)
    if location:
        stmt = stmt.where(locations_t.c.code == location)
    out: list[dict[str, Any]] = []
    position: dict[tuple[str, str], int] = defaultdict(int)
    entry_of: dict[tuple[int, int], dict[str, Any]] = {}  # a line's units at a location: one entry
    with db.read() as conn:
        for r in conn.execute(stmt).mappings():
            line_key = (int(r["order_id"]), int(r["line_number"]))
            same = entry_of.get(line_key)
            if same is not None and same["location"] == r["location"]:
                same["quantity_waiting"] += int(r["quantity_waiting"])
                if r["expected_at"] is not None and (
                    same["expected_at"] is None or r["expected_at"] > same["expected_at"]
                ):
                    same["expected_at"] = r["expected_at"]
                refs = [x for x in (same["inbound_reference"], r["inbound_reference"]) if x]
                same["inbound_reference"] = ", ".join(dict.fromkeys(", ".join(refs).split(", "))) if refs else None
                continue
            key = (r["sku"], r["location"])
            position[key] += 1
            entry = {
                "position": position[key],
                "order_number": rules.order_number(int(r["order_id"])),
                "line_number": int(r["line_number"]),
                "sku": r["sku"],
                "product_name": r["product_name"],
                "policy": r["backorder_policy"],
                "location": r["location"],
                "quantity_waiting": int(r["quantity_waiting"]),
                "expected_at": r["expected_at"],
                "inbound_reference": r["inbound_reference"],
                "inbound_kind": r["inbound_kind"],
                "placed_at": r["placed_at"],
                "backordered_at": r["created_at"],
            }
            entry_of[line_key] = entry
            out.append(entry)
    return out
