"""Stock rows and the inventory ledger.

Reservation is one conditional UPDATE per stock row, issued in sorted (product, location)
order: the database decides, under its row lock, whether the units are still free, so two
requests can never both take the last unit and concurrent orders never deadlock. Free means
beyond the row's safety stock too: ``on_hand - reserved - safety_stock >= n``.

Low stock (docs/inventory.md): a row with a reorder point is low when
``on_hand - reserved + open inbound <= reorder_point``. ``low_since`` is set by one conditional
UPDATE when a row crosses into low, and ``stock.low`` is queued for exactly those rows, so the
event fires once per crossing, not on every movement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, insert, not_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db.journal import enqueue
from openoms.adapters.db.tables import InboundStock, LedgerEntry, Location, Product, StockLevel, table
from openoms.domain.events import EventType

_stock = table(StockLevel)
_ledger = table(LedgerEntry)
_inbound = table(InboundStock)
_products = table(Product)
_locations = table(Location)


RESERVE = (
    update(_stock)
    .where(
        _stock.c.product_id == bindparam("p_product_id"),
        _stock.c.location_id == bindparam("p_location_id"),
        _stock.c.on_hand - _stock.c.reserved - _stock.c.safety_stock >= bindparam("p_quantity"),
    )
    .values(reserved=_stock.c.reserved + bindparam("p_quantity"), updated_at=bindparam("p_now"))
    # What the low-stock check needs, so rows without a reorder point cost no second statement.
    .returning(_stock.c.reorder_point, _stock.c.low_since)
)

RELEASE = (
    update(_stock)
    .where(
        _stock.c.product_id == bindparam("p_product_id"),
        _stock.c.location_id == bindparam("p_location_id"),
        _stock.c.reserved >= bindparam("p_quantity"),
    )
    .values(reserved=_stock.c.reserved - bindparam("p_quantity"), updated_at=bindparam("p_now"))
)

INSERT_LEDGER = insert(_ledger)


class LostRace(Exception):
    """A conditional update found the units gone: re-read and re-plan."""


@dataclass(frozen=True)
class LedgerRow:
    product_id: int
    location_id: int
    entry_type: str
    on_hand_delta: int
    reserved_delta: int
    actor: str
    reason: str | None = None
    reference: str | None = None
    order_id: int | None = None
    order_line_id: int | None = None

    def params(self, now: dt.datetime) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "location_id": self.location_id,
            "entry_type": self.entry_type,
            "on_hand_delta": self.on_hand_delta,
            "reserved_delta": self.reserved_delta,
            "actor": self.actor,
            "reason": self.reason,
            "reference": self.reference,
            "order_id": self.order_id,
            "order_line_id": self.order_line_id,
            "created_at": now,
        }


def reserve(conn: Connection, deltas: Sequence[tuple[int, int, int]], now: dt.datetime) -> None:
    """Take ``quantity`` free units of each (product, location, quantity), all or nothing."""
    watched: list[tuple[int, int]] = []
    for product_id, location_id, quantity in sorted(deltas):
        row = conn.execute(
            RESERVE,
            {"p_product_id": product_id, "p_location_id": location_id, "p_quantity": quantity, "p_now": now},
        ).first()
        if row is None:
            raise LostRace((product_id, location_id, quantity))
        if row.reorder_point is not None and row.low_since is None:  # may just have crossed into low
            watched.append((product_id, location_id))
    mark_low(conn, watched, now)


def release(conn: Connection, deltas: Sequence[tuple[int, int, int]], now: dt.datetime) -> None:
    """Give reserved units back to available. A failure here means the books are wrong."""
    for product_id, location_id, quantity in sorted(deltas):
        res = conn.execute(
            RELEASE,
            {"p_product_id": product_id, "p_location_id": location_id, "p_quantity": quantity, "p_now": now},
        )
        if res.rowcount != 1:
            raise RuntimeError(
                f"stock row ({product_id}, {location_id}) holds fewer than {quantity} reserved "
                "units; run `openoms check`"
            )
    clear_low(conn, [(p, loc) for p, loc, _ in deltas])


def append_ledger(conn: Connection, rows: Sequence[LedgerRow], now: dt.datetime) -> None:
    if rows:
        conn.execute(INSERT_LEDGER, [r.params(now) for r in rows])


def lock_stock_row(conn: Connection, product_id: int, location_id: int, now: dt.datetime) -> tuple[int, int]:
    """Make sure the row exists, lock it, and return (on_hand, reserved)."""
    ins_fn = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        ins_fn(_stock)
        .values(product_id=product_id, location_id=location_id, on_hand=0, reserved=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    row = conn.execute(
        select(_stock.c.on_hand, _stock.c.reserved)
        .where(_stock.c.product_id == product_id, _stock.c.location_id == location_id)
        .with_for_update()
    ).one()
    return int(row.on_hand), int(row.reserved)


def set_on_hand(conn: Connection, product_id: int, location_id: int, on_hand: int, now: dt.datetime) -> None:
    conn.execute(
        update(_stock)
        .where(_stock.c.product_id == product_id, _stock.c.location_id == location_id)
        .values(on_hand=on_hand, updated_at=now)
    )


def move(conn: Connection, deltas: Sequence[tuple[int, int, int]], now: dt.datetime) -> None:
    """Release and reserve in one pass, all or nothing: ``(product, location, +n)`` reserves n
    free units (``LostRace`` if they are gone), ``-n`` gives n back. Rows are touched in one
    sorted order, the same as capture's, so a re-route never deadlocks with a capture."""
    for product_id, location_id, quantity in sorted(deltas):
        if quantity > 0:
            reserve(conn, [(product_id, location_id, quantity)], now)
        elif quantity < 0:
            release(conn, [(product_id, location_id, -quantity)], now)


SHIP = (
    update(_stock)
    .where(
        _stock.c.product_id == bindparam("p_product_id"),
        _stock.c.location_id == bindparam("p_location_id"),
        _stock.c.reserved >= bindparam("p_quantity"),
        _stock.c.on_hand >= bindparam("p_quantity"),
    )
    .values(
        on_hand=_stock.c.on_hand - bindparam("p_quantity"),
        reserved=_stock.c.reserved - bindparam("p_quantity"),
        updated_at=bindparam("p_now"),
    )
)


def ship(conn: Connection, deltas: Sequence[tuple[int, int, int]], now: dt.datetime) -> None:
    """Units leave the building: off the shelf and out of the reservation together, in the
    usual sorted order. A failure means the books are wrong (shipped more than reserved)."""
    for product_id, location_id, quantity in sorted(deltas):
        res = conn.execute(
            SHIP, {"p_product_id": product_id, "p_location_id": location_id, "p_quantity": quantity, "p_now": now}
        )
        if res.rowcount != 1:
            raise RuntimeError(
                f"stock row ({product_id}, {location_id}) holds fewer than {quantity} reserved units to ship; "
                "run `openoms check`"
            )


def open_inbound_units() -> ColumnElement[int]:
    """Units still expected at the stock row's location (open lots, less what was received)."""
    return func.coalesce(
        select(func.sum(_inbound.c.quantity - _inbound.c.quantity_received))
        .where(
            _inbound.c.product_id == _stock.c.product_id,
            _inbound.c.location_id == _stock.c.location_id,
            _inbound.c.status == "open",
        )
        .scalar_subquery(),
        0,
    )


def low_condition() -> ColumnElement[bool]:
    """SQL twin of ``domain.stock_ops.is_low``."""
    return and_(
        _stock.c.reorder_point.is_not(None),
        _stock.c.on_hand - _stock.c.reserved + open_inbound_units() <= _stock.c.reorder_point,
    )


def _keys_clause(keys: Sequence[tuple[int, int]]) -> ColumnElement[bool]:
    return tuple_(_stock.c.product_id, _stock.c.location_id).in_(sorted(set(keys)))


def mark_low(conn: Connection, keys: Sequence[tuple[int, int]], now: dt.datetime) -> list[tuple[int, int]]:
    """Mark the rows among ``keys`` that just crossed into low stock and queue ``stock.low`` for
    each, in the caller's transaction. One statement when nothing crossed."""
    if not keys:
        return []
    crossed = [
        (int(p), int(loc))
        for p, loc in conn.execute(
            update(_stock)
            .where(_keys_clause(keys), _stock.c.low_since.is_(None), low_condition())
            .values(low_since=now)
            .returning(_stock.c.product_id, _stock.c.location_id)
        ).all()
    ]
    if crossed:
        rows = conn.execute(
            select(
                _products.c.sku,
                _locations.c.code,
                _stock.c.on_hand,
                _stock.c.reserved,
                _stock.c.safety_stock,
                _stock.c.reorder_point,
                open_inbound_units().label("inbound"),
            )
            .join(_products, _products.c.id == _stock.c.product_id)
            .join(_locations, _locations.c.id == _stock.c.location_id)
            .where(_keys_clause(crossed))
            .order_by(_products.c.sku, _locations.c.code)
        ).all()
        for r in rows:
            enqueue(
                conn,
                EventType.STOCK_LOW,
                "stock",
                f"{r.sku}@{r.code}",
                {
                    "stock": {
                        "sku": r.sku,
                        "location": r.code,
                        "on_hand": int(r.on_hand),
                        "reserved": int(r.reserved),
                        "available": int(r.on_hand) - int(r.reserved),
                        "safety_stock": int(r.safety_stock),
                        "inbound": int(r.inbound),
                        "reorder_point": int(r.reorder_point),
                    }
                },
                now=now,
            )
    return crossed


def clear_low(conn: Connection, keys: Sequence[tuple[int, int]]) -> None:
    """Rows among ``keys`` that are no longer low may alert again the next time they cross."""
    if keys:
        conn.execute(
            update(_stock)
            .where(_keys_clause(keys), _stock.c.low_since.is_not(None), not_(low_condition()))
            .values(low_since=None)
        )


def refresh_low(conn: Connection, keys: Sequence[tuple[int, int]], now: dt.datetime) -> list[tuple[int, int]]:
    """After a change that may move a row either way (receipts, counts, policy, inbound)."""
    clear_low(conn, keys)
    return mark_low(conn, keys, now)
