"""Inbound stock: what is on its way to a location and when it is expected.

Recorded from purchase orders and transfers (by the API, or by the fulfilment flows that
receive against it); the promise quote counts it when the shelves are short.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import InboundStock, Location, Product, Transfer, TransferLine, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.domain.inventory import InboundLot
from openoms.services.common import Actor, utcnow

inbound_t = table(InboundStock)
products_t = table(Product)
locations_t = table(Location)

KINDS = ("purchase_order", "transfer")


def inbound_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "sku": r.sku,
        "location": r.location,
        "quantity": r.quantity,
        "quantity_received": r.quantity_received,
        "outstanding": max(r.quantity - r.quantity_received, 0) if r.status == "open" else 0,
        "expected_at": r.expected_at,
        "kind": r.kind,
        "reference": r.reference,
        "status": r.status,
        "created_by": r.created_by,
        "created_at": r.created_at,
    }


def inbound_select() -> Any:
    """Lots with their SKU and location code (for ``inbound_row``)."""
    return (
        select(inbound_t, products_t.c.sku, locations_t.c.code.label("location"))
        .join(products_t, products_t.c.id == inbound_t.c.product_id)
        .join(locations_t, locations_t.c.id == inbound_t.c.location_id)
    )


def expect_inbound(
    db: Database,
    *,
    sku: str,
    location: str,
    quantity: int,
    expected_at: dt.datetime,
    kind: str,
    reference: str | None,
    actor: Actor,
) -> dict[str, Any]:
    """Record units on their way to ``location``, expected at ``expected_at``."""
    errors: list[FieldError] = []
    if quantity < 1:
        errors.append(FieldError("quantity", "must be at least 1"))
    if kind not in KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(KINDS)}"))
    if expected_at.tzinfo is None:
        errors.append(FieldError("expected_at", "needs a UTC offset, e.g. 2026-12-01T09:00:00Z"))
    with db.begin() as conn:
        product = conn.execute(select(products_t.c.id).where(products_t.c.sku == sku)).scalar()
        loc = conn.execute(select(locations_t.c.id).where(locations_t.c.code == location)).scalar()
        if product is None:
            errors.append(FieldError("sku", f"unknown SKU {sku!r}"))
        if loc is None:
            errors.append(FieldError("location", f"no location with code {location!r}"))
        if errors:
            raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
        now = utcnow()
        new_id = conn.execute(
            insert(inbound_t)
            .values(
                product_id=product,
                location_id=loc,
                quantity=quantity,
                expected_at=expected_at,
                kind=kind,
                reference=reference,
                status="open",
                created_by=actor.name,
                created_at=now,
                updated_at=now,
            )
            .returning(inbound_t.c.id)
        ).scalar_one()
        record_audit(
            conn,
            actor=actor.name,
            action="inbound.expected",
            subject_type="inbound",
            subject_id=str(new_id),
            message=f"{quantity} x {sku} expected at {location} on {expected_at:%Y-%m-%d %H:%M} UTC"
            + (f" ({reference})" if reference else ""),
            now=now,
        )
        stock_db.clear_low(conn, [(int(product or 0), int(loc or 0))])  # both known here
        return inbound_row(conn.execute(inbound_select().where(inbound_t.c.id == new_id)).one())


def cancel_inbound(db: Database, inbound_id: int, actor: Actor) -> dict[str, Any]:
    with db.begin() as conn:
        row = conn.execute(inbound_select().where(inbound_t.c.id == inbound_id).with_for_update(of=inbound_t)).first()
        if row is None:
            raise NotFound("Inbound", str(inbound_id))
        if row.status != "open":
            raise DomainError(ErrorCode.ILLEGAL_TRANSITION, f"Inbound {inbound_id} is {row.status}, not open")
        transfer = conn.execute(
            select(table(Transfer).c.number)
            .join(table(TransferLine), table(TransferLine).c.transfer_id == table(Transfer).c.id)
            .where(table(TransferLine).c.inbound_id == inbound_id)
        ).scalar()
        if transfer is not None:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"Inbound {inbound_id} is transfer {transfer}, already shipped: receive it on the transfer",
            )
        now = utcnow()
        conn.execute(update(inbound_t).where(inbound_t.c.id == inbound_id).values(status="cancelled", updated_at=now))
        stock_db.mark_low(conn, [(int(row.product_id), int(row.location_id))], now)
        record_audit(
            conn,
            actor=actor.name,
            action="inbound.cancelled",
            subject_type="inbound",
            subject_id=str(inbound_id),
            message=f"Inbound {row.quantity} x {row.sku} to {row.location} cancelled",
            now=now,
        )
        return inbound_row(conn.execute(inbound_select().where(inbound_t.c.id == inbound_id)).one())


def list_inbound(
    db: Database, *, sku: str | None = None, location: str | None = None, status: str | None = "open"
) -> list[dict[str, Any]]:
    stmt = inbound_select().order_by(inbound_t.c.expected_at, inbound_t.c.id)
    if sku:
        stmt = stmt.where(products_t.c.sku == sku)
    if location:
        stmt = stmt.where(locations_t.c.code == location)
    if status:
        stmt = stmt.where(inbound_t.c.status == status)
    with db.read() as conn:
        return [inbound_row(r) for r in conn.execute(stmt.limit(1000))]


def open_lots(conn: Connection, product_ids: Iterable[int]) -> dict[int, dict[int, list[InboundLot]]]:
    """Open inbound per location id and product id, earliest first."""
    out: dict[int, dict[int, list[InboundLot]]] = defaultdict(lambda: defaultdict(list))
    rows = conn.execute(
        select(
            inbound_t.c.product_id,
            inbound_t.c.location_id,
            (inbound_t.c.quantity - inbound_t.c.quantity_received).label("quantity"),
            inbound_t.c.expected_at,
            inbound_t.c.reference,
        )
        .where(inbound_t.c.product_id.in_(list(product_ids)), inbound_t.c.status == "open")
        .order_by(inbound_t.c.expected_at, inbound_t.c.id)
    )
    for r in rows:
        if int(r.quantity) <= 0:
            continue
        out[int(r.location_id)][int(r.product_id)].append(InboundLot(r.expected_at, int(r.quantity), r.reference))
    return out
