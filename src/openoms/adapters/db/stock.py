"""Stock rows and the inventory ledger.

Reservation is one conditional UPDATE per stock row, issued in sorted (product, location)
order: the database decides, under its row lock, whether the units are still free, so two
requests can never both take the last unit and concurrent orders never deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db.tables import LedgerEntry, StockLevel, table

_stock = table(StockLevel)
_ledger = table(LedgerEntry)

RESERVE = (
    update(_stock)
    .where(
        _stock.c.product_id == bindparam("p_product_id"),
        _stock.c.location_id == bindparam("p_location_id"),
        _stock.c.on_hand - _stock.c.reserved >= bindparam("p_quantity"),
    )
    .values(reserved=_stock.c.reserved + bindparam("p_quantity"), updated_at=bindparam("p_now"))
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
    for product_id, location_id, quantity in sorted(deltas):
        res = conn.execute(
            RESERVE,
            {"p_product_id": product_id, "p_location_id": location_id, "p_quantity": quantity, "p_now": now},
        )
        if res.rowcount != 1:
            raise LostRace((product_id, location_id, quantity))


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
