"""The schema: one set of typed SQLAlchemy models for SQLite and PostgreSQL alike.

Changes go through an Alembic migration in ``openoms/migrations`` as well.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY auto-increments).
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(18, 4)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out on both engines (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; OpenOMS stores timezone-aware UTC only")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        UtcDateTime(), default=_now, onupdate=_now, server_default=func.now()
    )


class Product(Timestamped, Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    length_mm: Mapped[int | None] = mapped_column(Integer)
    width_mm: Mapped[int | None] = mapped_column(Integer)
    height_mm: Mapped[int | None] = mapped_column(Integer)
    hazmat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    high_value: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    list_price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # none / backorder / preorder: may a short line wait for inbound stock (0014, docs/backorders.md)
    backorder_policy: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # Returns (0017, docs/returns.md): never returnable, and the product's own window in days.
    final_sale: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    return_window_days: Mapped[int | None] = mapped_column(Integer)


class Location(Timestamped, Base):
    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("kind IN ('warehouse', 'store', '3pl', 'dropship')", name="kind_known"),
        CheckConstraint("daily_capacity IS NULL OR daily_capacity >= 0", name="capacity_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    postal_code: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    timezone: Mapped[str] = mapped_column(String(64))
    ships: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    pickup: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accepts_returns: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    daily_capacity: Mapped[int | None] = mapped_column(Integer)
    cutoff_time: Mapped[dt.time | None] = mapped_column(Time)
    priority: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # What routing and promising need besides the above (0004).
    hazmat_licensed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    secure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    workdays: Mapped[str] = mapped_column(
        String(32), default="mon tue wed thu fri", server_default="mon tue wed thu fri"
    )
    holiday_calendar: Mapped[str | None] = mapped_column(String(16))  # "US", "US-TX": public holidays observed
    handling_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    channels: Mapped[list[Any] | None] = mapped_column(JSON)  # channel codes it serves; NULL: every channel
    # When its work is released (0012, domain.waves): manual / automatic / waves at local "HH:MM" times.
    release_mode: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    wave_times: Mapped[list[Any] | None] = mapped_column(JSON)
    pickup_hold_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")  # 0013: uncollected -> cancel


class StockLevel(Base):
    """On hand and reserved per SKU and location. The CHECK is the last line of defence of the
    no-oversell invariant; the conditional updates in ``stock.py`` are the first."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="no_oversell"),
        Index("ix_stock_levels_location_id", "location_id"),
    )

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="RESTRICT"), primary_key=True)
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(
        UtcDateTime(), default=_now, onupdate=_now, server_default=func.now()
    )
    # Stock policy (docs/inventory.md): units kept back from orders, the low-stock threshold,
    # and since when the row has been low (set once when it crosses, so ``stock.low`` fires once).
    safety_stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    low_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class LedgerEntry(Base):
    """Append-only: every change of on hand or reserved, with why and by whom."""

    __tablename__ = "inventory_ledger"
    __table_args__ = (
        Index("ix_inventory_ledger_stock", "product_id", "location_id", "id"),
        Index("ix_inventory_ledger_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    entry_type: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(128))
    order_id: Mapped[int | None] = mapped_column(BigId)
    order_line_id: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class Channel(Timestamped, Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    default_language: Mapped[str | None] = mapped_column(String(35))  # BCP 47, for e-mails (0009)
    accepts_backorders: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # 0014


class Customer(Timestamped, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_order_id", name="uq_orders_channel_external"),
        Index("ix_orders_status_id", "status", "id"),
        Index("ix_orders_channel_id_id", "channel_id", "id"),
        Index("ix_orders_customer_id", "customer_id"),
        Index("ix_orders_created_at", "created_at"),
        # The back-office list (migration 0003): newest first, status + date, external id search.
        Index("ix_orders_placed_at", "placed_at", "id"),
        Index("ix_orders_status_placed_at", "status", "placed_at", "id"),
        Index("ix_orders_external_order_id", "external_order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    external_order_id: Mapped[str | None] = mapped_column(String(128))
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(Money)
    discount_total: Mapped[Decimal] = mapped_column(Money)
    tax_total: Mapped[Decimal] = mapped_column(Money)
    shipping_total: Mapped[Decimal] = mapped_column(Money)
    grand_total: Mapped[Decimal] = mapped_column(Money)
    service_level: Mapped[str] = mapped_column(String(32), default="standard")
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    placed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    sourcing_rule: Mapped[str | None] = mapped_column(String(64))
    captured_by: Mapped[str] = mapped_column(String(128))
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The promise given at capture (or at the last re-route): local dates at the destination.
    promised_ship_date: Mapped[dt.date | None] = mapped_column(Date)
    promised_earliest: Mapped[dt.date | None] = mapped_column(Date)
    promised_latest: Mapped[dt.date | None] = mapped_column(Date)
    language: Mapped[str | None] = mapped_column(String(35))  # BCP 47, the customer's (0009)
    # The roll-up of its payments (domain.payments.OrderPaymentStatus, migration 0016).
    payment_status: Mapped[str] = mapped_column(String(24), default="unpaid", server_default="unpaid")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_number", name="uq_order_lines_order_line"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "quantity_cancelled >= 0 AND quantity_shipped >= 0 AND quantity_cancelled + quantity_shipped <= quantity",
            name="quantities_consistent",
        ),
        Index("ix_order_lines_product_id", "product_id"),
        Index("ix_order_lines_sku", "sku"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    line_number: Mapped[int] = mapped_column(Integer)
    external_line_id: Mapped[str | None] = mapped_column(String(128))
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_shipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(24))
    # Units in active returns (requested, not rejected or cancelled): 0017, docs/returns.md.
    quantity_returned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Reservation(Base):
    """Units of a line held at a location; the sum per (product, location) equals
    ``stock_levels.reserved`` (checked by ``openoms check``)."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index("ix_reservations_order_line_id", "order_line_id"),
        Index("ix_reservations_stock", "product_id", "location_id"),
        # The order page reads by order; the orders list filters by reserving location (0003).
        Index("ix_reservations_order_id", "order_id", "location_id"),
        Index("ix_reservations_location_order", "location_id", "quantity", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(Integer)


class OrderHold(Base):
    __tablename__ = "order_holds"
    __table_args__ = (
        Index("ix_order_holds_order_id", "order_id"),
        Index("ix_order_holds_active", "released_at", "hold_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    hold_type: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    released_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    released_by: Mapped[str | None] = mapped_column(String(128))
    release_reason: Mapped[str | None] = mapped_column(String(500))


class OrderEvent(Base):
    """The order timeline: who or what changed the order, when and why."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class OutboxMessage(Base):
    """Events for other systems, committed with the change and delivered at least once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    available_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """Integration credentials. Only a SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # A drop-ship supplier's or 3PL's key sees only this location's work (0015).
    location_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("locations.id"))


class IdempotencyRecord(Base):
    """First result of a write sent with an ``Idempotency-Key``, per API key."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str | None] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class User(Timestamped, Base):
    """A back-office person. Passwords are argon2id hashes; the role decides what they may do."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'operations', 'customer_service', 'warehouse', 'finance')", name="role_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class UserSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    leaked table signs nobody in, and signing out (or disabling the user) ends it at once."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(255))
    client_ip: Mapped[str | None] = mapped_column(String(64))


class SignInAttempt(Base):
    """Failed and successful sign-ins: the rate limit counts recent failures from here."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_email", "email", "created_at"),
        Index("ix_sign_in_attempts_client_ip", "client_ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class AuditEntry(Base):
    """What a person or key did outside an order's timeline: users, keys, catalogue, stock."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class SourcingRuleSet(Base):
    """One version of the sourcing rules (``domain.routing.SourcingRules`` as JSON). Versions
    are never changed: the highest is in force, and a routed order names the one it used."""

    __tablename__ = "sourcing_rule_sets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(40))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class CarrierRateTable(Base):
    """One loaded rate file. The newest is in force; older ones stay, so that a decision can
    be explained with the prices it saw."""

    __tablename__ = "carrier_rate_tables"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    row_count: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    loaded_by: Mapped[str] = mapped_column(String(128))
    loaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class CarrierRate(Base):
    """One price of a rate table (``domain.carriers.RateRow``); docs/carriers.md has the format."""

    __tablename__ = "carrier_rates"
    __table_args__ = (Index("ix_carrier_rates_rate_table_id", "rate_table_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rate_table_id: Mapped[int] = mapped_column(BigId, ForeignKey("carrier_rate_tables.id", ondelete="CASCADE"))
    location: Mapped[str] = mapped_column(String(32))  # a location code, or "*" for every location
    carrier: Mapped[str] = mapped_column(String(64))
    service_code: Mapped[str] = mapped_column(String(64))
    service_level: Mapped[str] = mapped_column(String(16))
    zone: Mapped[str | None] = mapped_column(String(16))
    from_km: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    to_km: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    weight_up_to_grams: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    transit_days_min: Mapped[int] = mapped_column(Integer)
    transit_days_max: Mapped[int] = mapped_column(Integer)


class RoutingDecisionRecord(Base):
    """Why an order ships from where it does: the engine's explanation, kept for every
    decision (capture, re-route, batch re-plan) so that it can be shown later."""

    __tablename__ = "routing_decisions"
    __table_args__ = (Index("ix_routing_decisions_order_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))  # capture / reroute / reoptimize
    rule_label: Mapped[str] = mapped_column(String(64))
    rate_table_id: Mapped[int | None] = mapped_column(BigId)
    chosen: Mapped[str] = mapped_column(String(255))
    promised_ship_date: Mapped[dt.date | None] = mapped_column(Date)
    promised_earliest: Mapped[dt.date | None] = mapped_column(Date)
    promised_latest: Mapped[dt.date | None] = mapped_column(Date)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class InboundStock(Base):
    """Units expected at a location: a purchase order or a transfer, with its expected arrival.
    Routing promises from it when the shelves are short (the quote); receiving against it and
    backorders that wait for it belong to fulfilment."""

    __tablename__ = "inbound_stock"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("kind IN ('purchase_order', 'transfer')", name="kind_known"),
        CheckConstraint("status IN ('open', 'received', 'cancelled')", name="status_known"),
        Index("ix_inbound_stock_open", "product_id", "status", "expected_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class FulfilmentOrder(Base):
    """The work one location is handed for one order (docs/fulfilment.md)."""

    __tablename__ = "fulfilment_orders"
    __table_args__ = (
        Index("ix_fulfilment_orders_order_id", "order_id"),
        Index("ix_fulfilment_orders_queue", "location_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(24))
    released_by: Mapped[str] = mapped_column(String(128))
    released_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    picked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    packed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    wave_id: Mapped[int | None] = mapped_column(BigId, index=True)  # the release run that made it (0012)


class FulfilmentLine(Base):
    """One reservation handed to the location; shipped and rejected units are counted here."""

    __tablename__ = "fulfilment_lines"
    __table_args__ = (
        CheckConstraint(
            "quantity > 0 AND quantity_shipped >= 0 AND quantity_rejected >= 0 AND quantity_cancelled >= 0 "
            "AND quantity_shipped + quantity_rejected + quantity_cancelled <= quantity",
            name="quantities_add_up",
        ),
        Index("ix_fulfilment_lines_fulfilment_order_id", "fulfilment_order_id", "line_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fulfilment_order_id: Mapped[int] = mapped_column(BigId, ForeignKey("fulfilment_orders.id", ondelete="CASCADE"))
    reservation_id: Mapped[int] = mapped_column(BigId, ForeignKey("reservations.id"), unique=True)
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id"))
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    line_number: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_shipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_rejected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Shipment(Base):
    """Parcels that left a location together, by one carrier service."""

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_order_id", "order_id"),
        Index("ix_shipments_fulfilment_order_id", "fulfilment_order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fulfilment_order_id: Mapped[int] = mapped_column(BigId, ForeignKey("fulfilment_orders.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(64))
    service_code: Mapped[str | None] = mapped_column(String(64))
    shipped_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    # Set by tracking (0007) when every package is delivered; docs/tracking.md "Promise accuracy".
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    promise_outcome: Mapped[str | None] = mapped_column(String(16))  # early / on_time / late
    days_late: Mapped[int | None] = mapped_column(Integer)


class ShipmentPackage(Base):
    __tablename__ = "shipment_packages"
    __table_args__ = (
        Index("ix_shipment_packages_shipment_id", "shipment_id"),
        Index("ix_shipment_packages_tracking_number", "tracking_number"),
        Index("ix_shipment_packages_exception_open", "exception_open"),  # the dashboard alert
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipments.id", ondelete="CASCADE"))
    tracking_number: Mapped[str] = mapped_column(String(64))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    # The package's tracking state as its events decide it (domain.tracking, migration 0007).
    tracking_status: Mapped[str | None] = mapped_column(String(24))
    status_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    exception_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    exception_reason: Mapped[str | None] = mapped_column(String(500))
    exception_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())  # when the open exception happened
    # What the label cost, when OpenOMS bought it (adapters.carriers.labels, migration 0008).
    label_cost: Mapped[Decimal | None] = mapped_column(Money)
    label_currency: Mapped[str | None] = mapped_column(String(3))


class PackageLine(Base):
    __tablename__ = "package_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_package_lines_package_id", "package_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipment_packages.id", ondelete="CASCADE"))
    fulfilment_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("fulfilment_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)


class TrackingEventRecord(Base):
    """One thing a carrier said about one package (``domain.tracking.TrackingEvent``). Kept
    whole, so the package's state can always be replayed from its events. A sender's event id
    is unique per package, and so is a status at one instant: both are duplicates by the rules."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        Index("uq_tracking_events_package_external", "package_id", "external_id", unique=True),
        Index("uq_tracking_events_package_instant", "package_id", "status", "occurred_at", unique=True),
        Index("ix_tracking_events_tracking_number", "tracking_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipment_packages.id", ondelete="CASCADE"))
    tracking_number: Mapped[str] = mapped_column(String(64))
    carrier: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    location: Mapped[str] = mapped_column(String(500), default="", server_default="")
    carrier_status_code: Mapped[str] = mapped_column(String(200), default="", server_default="")
    carrier_status_detail: Mapped[str] = mapped_column(String(200), default="", server_default="")
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class Notification(Base):
    """One message to a customer for one event (docs/notifications.md). ``dedupe_key`` is
    unique, so a retried outbox message never sends what was already sent."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("status IN ('sending', 'sent', 'failed', 'skipped')", name="status_known"),
        Index("ix_notifications_order_id", "order_id", "id"),
        Index("ix_notifications_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_id: Mapped[str] = mapped_column(String(36))
    order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    template: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
    language: Mapped[str | None] = mapped_column(String(35))
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    promised_latest: Mapped[dt.date | None] = mapped_column(Date)  # the promise the customer was told
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Transfer(Base):
    """Stock moved between two locations (docs/inventory.md): shipped units leave the source's
    on hand and are in transit, as inbound lots at the destination, until received there."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("from_location_id <> to_location_id", name="two_locations"),
        CheckConstraint("status IN ('draft', 'in_transit', 'received', 'cancelled')", name="status_known"),
        UniqueConstraint("number"),
        Index("ix_transfers_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32))
    from_location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    to_location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    expected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    shipped_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class TransferLine(Base):
    __tablename__ = "transfer_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("quantity_received >= 0 AND quantity_received <= quantity", name="received_in_range"),
        Index("ix_transfer_lines_transfer_id", "transfer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(BigId, ForeignKey("transfers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    inbound_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inbound_stock.id"))


class TrackingExceptionAck(Base):
    """A person acknowledged a package's carrier exception: it leaves the dashboard alert, and a
    later event that replays to the same exception does not raise it again. One per exception
    (the exception is named by the time it happened); kept for the history."""

    __tablename__ = "tracking_exception_acks"
    __table_args__ = (Index("uq_tracking_exception_acks_package_exception", "package_id", "exception_at", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipment_packages.id", ondelete="CASCADE"))
    exception_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    exception_reason: Mapped[str | None] = mapped_column(String(500))
    acknowledged_by: Mapped[str] = mapped_column(String(128))
    acknowledged_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text, default="", server_default="")


class Wave(Base):
    """One release run at one location: a scheduled wave, an automatic release or a manual
    "release now" (docs/fulfilment.md). Unique per location and instant, so a wave runs once."""

    __tablename__ = "waves"
    __table_args__ = (
        CheckConstraint("kind IN ('wave', 'automatic', 'manual')", name="kind_known"),
        Index("uq_waves_location_scheduled", "location_id", "scheduled_for", unique=True),
        Index("ix_waves_scheduled_for", "scheduled_for", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[dt.datetime] = mapped_column(UtcDateTime())  # the local wave time, as UTC
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    started_by: Mapped[str] = mapped_column(String(128))
    fulfilment_orders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_for_capacity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # orders left waiting
    note: Mapped[str | None] = mapped_column(String(500))


class OrderPickup(Base):
    """An order the customer collects at a store (BOPIS or curbside, docs/pickup.md): where,
    the code they show, when it was ready, until when it is held, and the hand-over."""

    __tablename__ = "order_pickups"
    __table_args__ = (
        CheckConstraint("method IN ('pickup', 'curbside')", name="method_known"),
        Index("ix_order_pickups_location_expires", "location_id", "expires_at"),
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    method: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(16))  # kept readable: customer service reads it out (ADR 21)
    ready_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    arrived_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    arrival_note: Mapped[str | None] = mapped_column(String(255))  # vehicle, bay
    collected_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    collected_by: Mapped[str | None] = mapped_column(String(128))  # the associate who handed it over
    id_checked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Backorder(Base):
    """Units of a line that wait for stock at a location, and the inbound lot they were promised
    from (the lot's claim). The queue at a stock row is served in ``id`` order: ids are taken
    under that row's lock, so they are the order in which the captures were accepted."""

    __tablename__ = "backorders"
    __table_args__ = (
        CheckConstraint(
            "quantity > 0 AND quantity_allocated >= 0 AND quantity_cancelled >= 0 "
            "AND quantity_allocated + quantity_cancelled <= quantity",
            name="quantities_add_up",
        ),
        Index("ix_backorders_queue", "product_id", "location_id", "id"),
        Index("ix_backorders_order_line_id", "order_line_id"),
        Index("ix_backorders_inbound_id", "inbound_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    inbound_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inbound_stock.id"))
    expected_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_allocated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class Payment(Base):
    """One authorisation at one provider and what became of it: captured in parts, refunded in
    parts, or voided (docs/payments.md). Amounts are the order's currency."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "amount_authorized >= 0 AND amount_captured >= 0 AND amount_refunded >= 0 "
            "AND amount_refund_pending >= 0 AND amount_refunded + amount_refund_pending <= amount_captured",
            name="amounts_consistent",
        ),
        Index("ix_payments_order_id", "order_id", "id"),
        Index("ix_payments_provider_reference", "provider", "reference"),
        Index("ix_payments_flagged_at", "flagged_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(128))  # the token or method name given (never card numbers)
    reference: Mapped[str | None] = mapped_column(String(255))  # the provider's id (PaymentIntent, receipt)
    currency: Mapped[str] = mapped_column(String(3))
    amount_requested: Mapped[Decimal] = mapped_column(Money)
    amount_authorized: Mapped[Decimal] = mapped_column(Money, default=0, server_default="0")
    amount_captured: Mapped[Decimal] = mapped_column(Money, default=0, server_default="0")
    amount_refunded: Mapped[Decimal] = mapped_column(Money, default=0, server_default="0")
    amount_refund_pending: Mapped[Decimal] = mapped_column(Money, default=0, server_default="0")
    capture_closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    review_reason: Mapped[str | None] = mapped_column(String(500))  # failed or disputed: for a person
    flagged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class Refund(Base):
    """Money given back on an order, spread over its payments (one refund transaction each)."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_order_id", "order_id", "id"),
        Index("ix_refunds_return_id", "return_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Money)
    amount_refunded: Mapped[Decimal] = mapped_column(Money, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))  # return / appeasement / cancellation / exchange / adjustment
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # pending / succeeded / failed
    return_id: Mapped[int | None] = mapped_column(BigId)  # the return it pays for; no FK (returns own it)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class PaymentTransaction(Base):
    """One call to the provider (authorise, capture, void, refund): written as ``pending`` before
    the call with its idempotency key, then completed with the answer."""

    __tablename__ = "payment_transactions"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_payment_transactions_payment_id", "payment_id", "id"),
        Index("ix_payment_transactions_refund_id", "refund_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(BigId, ForeignKey("payments.id", ondelete="CASCADE"))
    refund_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("refunds.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    reference: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(String(500))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class PaymentEventRecord(Base):
    """A provider's notification, kept once per (provider, event id): a redelivery changes nothing."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),
        Index("ix_payment_events_payment_id", "payment_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    payment_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("payments.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(255))  # what it did, for support
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class ReturnPolicyRecord(Base):
    """What a channel accepts back (docs/returns.md); the row with no channel is the default."""

    __tablename__ = "return_policies"
    __table_args__ = (
        CheckConstraint("window_days >= 0", name="window_not_negative"),
        CheckConstraint("restocking_fee_percent >= 0 AND restocking_fee_percent <= 100", name="fee_in_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"), unique=True)
    window_days: Mapped[int] = mapped_column(Integer)
    restocking_fee_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    refund_shipping: Mapped[str] = mapped_column(String(32))
    allowed_methods: Mapped[list[Any]] = mapped_column(JSON)
    accepted_conditions: Mapped[list[Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


class Return(Base):
    """A return merchandise authorisation (RMA): units of one order coming back (docs/returns.md).
    Its number is ``RMA-`` and the id. An exchange names its replacement order."""

    __tablename__ = "returns"
    __table_args__ = (
        CheckConstraint("method IN ('mail', 'in_store')", name="method_known"),
        CheckConstraint("source IN ('customer_service', 'api', 'customer')", name="source_known"),
        Index("ix_returns_order_id", "order_id"),
        Index("ix_returns_status_id", "status", "id"),
        Index("ix_returns_location_id", "location_id", "id"),
        Index("uq_returns_exchange_order_id", "exchange_order_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(24))
    method: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("locations.id"))  # store or receiving DC
    source: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(500))  # why rejected, cancelled or closed
    note: Mapped[str | None] = mapped_column(Text)
    label_tracking_number: Mapped[str | None] = mapped_column(String(64))
    exchange_order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orders.id"))
    exchange_difference: Mapped[Decimal | None] = mapped_column(Money)  # replacement minus credit
    refund_id: Mapped[str | None] = mapped_column(String(64))  # the payments service's refund
    refund_key: Mapped[str | None] = mapped_column(String(255))  # the refund's intent: set before the call
    refund_amount: Mapped[Decimal | None] = mapped_column(Money)
    refund_breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("quantity_received >= 0 AND quantity_received <= quantity", name="received_in_range"),
        UniqueConstraint("return_id", "order_line_id", name="uq_return_lines_return_order_line"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(BigId, ForeignKey("returns.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str | None] = mapped_column(String(16))  # as the customer reported it
    quantity_received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReturnInspection(Base):
    """Units of a return line received and inspected at a location, with what became of them."""

    __tablename__ = "return_inspections"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("disposition IN ('restock', 'refurbish', 'write_off')", name="disposition_known"),
        Index("ix_return_inspections_return_line_id", "return_line_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("return_lines.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(BigId, ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str] = mapped_column(String(16))
    inspected_by: Mapped[str] = mapped_column(String(128))
    inspected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now, server_default=func.now())


def table(model: type[Base]) -> Table:
    """The Core table behind a model, typed for SQLAlchemy Core statements."""
    return cast(Table, model.__table__)
