"""Reads for the return pages that the returns service does not answer: where a customer may bring
a return, how many returns wait in each status, and the order facts the customer's page shows.
Read-only; every command goes through ``services.returns``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Channel, Customer, Location, Order, OrderLine, Product, Return, table
from openoms.domain.orders import order_number

locations_t = table(Location)
returns_t = table(Return)
orders_t = table(Order)
channels_t = table(Channel)
customers_t = table(Customer)
lines_t = table(OrderLine)
products_t = table(Product)


def _address(row: Any) -> str:
    region = " ".join(str(p) for p in (row.region, row.postal_code) if p)
    parts = [row.address_line1, row.address_line2, row.city, region]
    return ", ".join(str(p) for p in parts if p)


def return_locations(db: Database, *, stores_only: bool = False) -> list[dict[str, Any]]:
    """Active locations that take returns (stores first), with a one-line address."""
    query = select(locations_t).where(locations_t.c.active.is_(True), locations_t.c.accepts_returns.is_(True))
    if stores_only:
        query = query.where(locations_t.c.kind == "store")
    with db.read() as conn:
        rows = conn.execute(query.order_by((locations_t.c.kind != "store"), locations_t.c.name)).all()
    return [{"code": r.code, "name": r.name, "kind": r.kind, "city": r.city, "address": _address(r)} for r in rows]


def status_counts(db: Database, *, location: str | None = None) -> dict[str, int]:
    """Returns per status (for the queue's filter chips), optionally at one location."""
    query = select(returns_t.c.status, func.count()).group_by(returns_t.c.status)
    if location:
        query = query.join(locations_t, locations_t.c.id == returns_t.c.location_id).where(
            locations_t.c.code == location
        )
    with db.read() as conn:
        return {str(s): int(n) for s, n in conn.execute(query).all()}


def order_summary(db: Database, order_id: int) -> dict[str, Any] | None:
    """What the customer's return page says about the order: its number, shop, customer and the
    product name per line number."""
    with db.read() as conn:
        row = conn.execute(
            select(
                orders_t.c.id,
                orders_t.c.status,
                orders_t.c.currency,
                orders_t.c.placed_at,
                channels_t.c.code.label("channel_code"),
                channels_t.c.name.label("channel_name"),
                customers_t.c.name.label("customer_name"),
                customers_t.c.email,
            )
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
            .where(orders_t.c.id == order_id)
        ).first()
        if row is None:
            return None
        lines = conn.execute(
            select(lines_t.c.line_number, lines_t.c.sku, lines_t.c.unit_price, products_t.c.name)
            .join(products_t, products_t.c.id == lines_t.c.product_id)
            .where(lines_t.c.order_id == order_id)
            .order_by(lines_t.c.line_number)
        ).all()
    return {
        "id": row.id,
        "order_number": order_number(int(row.id)),
        "status": row.status,
        "currency": row.currency,
        "placed_at": row.placed_at,
        "channel": row.channel_code,
        "shop": row.channel_name,
        "customer_name": row.customer_name,
        "email": row.email,
        "lines": {int(r.line_number): {"sku": r.sku, "name": r.name, "unit_price": r.unit_price} for r in lines},
    }


def channel_names(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(channels_t.c.code, channels_t.c.name).order_by(channels_t.c.name)).all()
    return [{"code": r.code, "name": r.name} for r in rows]
