"""The figures on the back-office dashboard, each one countable again from the orders or
inventory list it links to (the same filters, the same predicates)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Channel, Location, Order, OrderHold, Product, StockLevel, table
from openoms.domain.orders import order_number
from openoms.services import tracking

orders_t = table(Order)
channels_t = table(Channel)
holds_t = table(OrderHold)
stock_t = table(StockLevel)
products_t = table(Product)
locations_t = table(Location)


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    by_channel: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())


@dataclass
class Dashboard:
    today: dt.date
    orders_today: int = 0
    today_matrix: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> n
    statuses_today: list[str] = field(default_factory=list)
    on_hold: int = 0
    holds_by_type: dict[str, int] = field(default_factory=dict)
    at_risk: int = 0
    low_stock: int = 0
    backordered: int = 0
    per_day: list[DayCount] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    held_orders: list[dict[str, Any]] = field(default_factory=list)
    low_stock_items: list[dict[str, Any]] = field(default_factory=list)
    tracking_exceptions: int = 0  # packages with a carrier exception no later event cleared
    tracking_exception_items: list[dict[str, Any]] = field(default_factory=list)


STATUS_ORDER = (
    "created",
    "allocated",
    "backordered",
    "released",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
)


def _day(conn: Connection, column: Any) -> Any:
    """The UTC calendar day of a timestamp, on either engine."""
    if conn.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def low_stock_query(threshold: int) -> Any:
    """SKUs whose network available (active shipping locations) is at or below the threshold:
    the same rule as the inventory list's ``low=1`` filter."""
    available = func.coalesce(func.sum(stock_t.c.on_hand - stock_t.c.reserved), 0)
    return (
        select(products_t.c.sku, products_t.c.name, available.label("available"))
        .select_from(
            products_t.outerjoin(stock_t, stock_t.c.product_id == products_t.c.id).outerjoin(
                locations_t, and_(locations_t.c.id == stock_t.c.location_id)
            )
        )
        .where(products_t.c.active.is_(True))
        .where((locations_t.c.id.is_(None)) | (locations_t.c.active.is_(True) & locations_t.c.ships.is_(True)))
        .group_by(products_t.c.id, products_t.c.sku, products_t.c.name)
        .having(available <= threshold)
    )


def load_dashboard(
    db: Database, *, now: dt.datetime, sla_hours: int, low_stock_threshold: int, days: int = 14
) -> Dashboard:
    from openoms.services.order_search import at_risk_condition

    today = now.astimezone(dt.UTC).date()
    start_today = dt.datetime.combine(today, dt.time(), dt.UTC)
    first_day = today - dt.timedelta(days=days - 1)
    start_chart = dt.datetime.combine(first_day, dt.time(), dt.UTC)
    board = Dashboard(today=today)
    with db.read() as conn:
        rows = conn.execute(
            select(channels_t.c.code, orders_t.c.status, func.count())
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .where(orders_t.c.placed_at >= start_today)
            .group_by(channels_t.c.code, orders_t.c.status)
        ).all()
        matrix: dict[str, dict[str, int]] = defaultdict(dict)
        seen_status: set[str] = set()
        for code, status, n in rows:
            matrix[code][status] = int(n)
            seen_status.add(status)
        board.today_matrix = dict(sorted(matrix.items()))
        board.statuses_today = [s for s in STATUS_ORDER if s in seen_status]
        board.orders_today = sum(sum(v.values()) for v in matrix.values())

        active_hold = holds_t.c.released_at.is_(None)
        board.on_hold = int(
            conn.execute(select(func.count(func.distinct(holds_t.c.order_id))).where(active_hold)).scalar_one()
        )
        board.holds_by_type = {
            str(t): int(n)
            for t, n in conn.execute(
                select(holds_t.c.hold_type, func.count()).where(active_hold).group_by(holds_t.c.hold_type)
            ).all()
        }
        board.at_risk = int(
            conn.execute(
                select(func.count()).select_from(orders_t).where(at_risk_condition(now, sla_hours))
            ).scalar_one()
        )
        board.backordered = int(
            conn.execute(select(func.count()).where(orders_t.c.status == "backordered")).scalar_one()
        )
        low = low_stock_query(low_stock_threshold).subquery()
        board.low_stock = int(conn.execute(select(func.count()).select_from(low)).scalar_one())
        board.low_stock_items = [
            {"sku": r.sku, "name": r.name, "available": int(r.available)}
            for r in conn.execute(select(low).order_by(low.c.available, low.c.sku).limit(8)).all()
        ]

        day = _day(conn, orders_t.c.placed_at)
        per_day: dict[dt.date, dict[str, int]] = {first_day + dt.timedelta(days=i): {} for i in range(days)}
        channel_set: set[str] = set()
        for d, code, n in conn.execute(
            select(day.label("d"), channels_t.c.code, func.count())
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .where(orders_t.c.placed_at >= start_chart)
            .group_by(day, channels_t.c.code)
        ).all():
            key = d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
            if key in per_day:
                per_day[key][code] = int(n)
                channel_set.add(code)
        board.channels = sorted(channel_set)
        board.per_day = [DayCount(d, per_day[d]) for d in sorted(per_day)]

        board.held_orders = [
            {
                "id": int(r.order_id),
                "number": order_number(int(r.order_id)),
                "hold": r.hold_type,
                "reason": r.reason,
                "placed_at": r.placed_at,
                "status": r.status,
            }
            for r in conn.execute(
                select(
                    holds_t.c.order_id, holds_t.c.hold_type, holds_t.c.reason, holds_t.c.placed_at, orders_t.c.status
                )
                .join(orders_t, orders_t.c.id == holds_t.c.order_id)
                .where(active_hold)
                .order_by(holds_t.c.placed_at)
                .limit(8)
            ).all()
        ]
    board.tracking_exceptions = tracking.count_open_exceptions(db)
    board.tracking_exception_items = tracking.open_exceptions(db, limit=8)
    return board
