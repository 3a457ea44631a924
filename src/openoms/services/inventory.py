"""Stock commands (count, adjust, receive) and availability queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue
from openoms.adapters.db.tables import LedgerEntry, Location, Product, StockLevel, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError, validation_error
from openoms.domain.events import EventType
from openoms.domain.inventory import LedgerEntryType, check_on_hand_change
from openoms.services import backorders, idempotency
from openoms.services.common import Actor, utcnow

_stock = table(StockLevel)
_products = table(Product)
_locations = table(Location)
_ledger = table(LedgerEntry)


@dataclass(frozen=True)
class StockChange:
    """One stock command. ``kind`` is count (set on hand), adjustment (delta), receipt, or one
    leg of a transfer: transfer_out (units leaving, ``quantity`` positive) or transfer_in."""

    sku: str
    location: str
    kind: str
    quantity: int  # count: the new on hand; adjustment: the delta; receipt: units received
    reason: str | None = None
    reference: str | None = None


def resolve_stock_keys(
    conn: Connection, pairs: Sequence[tuple[str, str]], field_prefix: str = ""
) -> dict[tuple[str, str], tuple[int, int]]:
    """(sku, location code) -> (product_id, location_id), or a 4xx naming each unknown one."""
    skus = {s for s, _ in pairs}
    codes = {c for _, c in pairs}
    pid = dict(conn.execute(select(_products.c.sku, _products.c.id).where(_products.c.sku.in_(skus))).all())
    lid = dict(conn.execute(select(_locations.c.code, _locations.c.id).where(_locations.c.code.in_(codes))).all())
    errors: list[FieldError] = []
    for i, (s, c) in enumerate(pairs):
        p = f"{field_prefix}[{i}]." if field_prefix else ""
        if s not in pid:
            errors.append(FieldError(f"{p}sku", f"unknown SKU {s!r}"))
        if c not in lid:
            errors.append(FieldError(f"{p}location", f"unknown location {c!r}"))
    if errors:
        code = ErrorCode.UNKNOWN_SKU if any("SKU" in e.reason for e in errors) else ErrorCode.UNKNOWN_LOCATION
        raise DomainError(code, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    return {(s, c): (int(pid[s]), int(lid[c])) for s, c in pairs}


def apply_stock_changes(conn: Connection, changes: Sequence[StockChange], actor: Actor) -> list[dict[str, Any]]:
    """Apply stock commands inside the caller's unit of work, each with its ledger row.

    Rows are locked one at a time in sorted order; on hand can never drop below reserved.
    """
    now = utcnow()
    keys = resolve_stock_keys(conn, [(c.sku, c.location) for c in changes], "changes" if len(changes) > 1 else "")
    results: list[tuple[int, dict[str, Any]]] = []
    grew: set[tuple[int, int]] = set()
    order = sorted(range(len(changes)), key=lambda i: keys[(changes[i].sku, changes[i].location)])
    for i in order:
        ch = changes[i]
        product_id, location_id = keys[(ch.sku, ch.location)]
        on_hand, reserved = stock_db.lock_stock_row(conn, product_id, location_id, now)
        if ch.kind == LedgerEntryType.COUNT:
            if ch.quantity < 0:
                raise validation_error("on_hand", "must be 0 or more")
            delta = ch.quantity - on_hand
            entry, event = LedgerEntryType.COUNT, EventType.STOCK_COUNTED
        elif ch.kind == LedgerEntryType.RECEIPT:
            if ch.quantity <= 0:
                raise validation_error("quantity", "must be at least 1")
            delta = ch.quantity
            entry, event = LedgerEntryType.RECEIPT, EventType.STOCK_RECEIVED
        elif ch.kind == LedgerEntryType.RESTOCK:  # a returned unit back on the shelf (services/returns.py)
            if ch.quantity <= 0:
                raise validation_error("quantity", "must be at least 1")
            delta = ch.quantity
            entry, event = LedgerEntryType.RESTOCK, EventType.STOCK_RECEIVED
        elif ch.kind == LedgerEntryType.TRANSFER_IN:
            if ch.quantity <= 0:
                raise validation_error("quantity", "must be at least 1")
            delta = ch.quantity
            entry, event = LedgerEntryType.TRANSFER_IN, EventType.STOCK_TRANSFERRED_IN
        elif ch.kind == LedgerEntryType.TRANSFER_OUT:
            if ch.quantity <= 0:
                raise validation_error("quantity", "must be at least 1")
            delta = -ch.quantity
            entry, event = LedgerEntryType.TRANSFER_OUT, EventType.STOCK_TRANSFERRED_OUT
        elif ch.kind == LedgerEntryType.ADJUSTMENT:
            if ch.quantity == 0:
                raise validation_error("delta", "must not be 0")
            delta = ch.quantity
            entry, event = LedgerEntryType.ADJUSTMENT, EventType.STOCK_ADJUSTED
        else:
            raise validation_error("kind", f"unknown stock change {ch.kind!r}")
        check_on_hand_change(ch.sku, ch.location, on_hand, reserved, delta)
        new_on_hand = on_hand + delta
        if delta:
            stock_db.set_on_hand(conn, product_id, location_id, new_on_hand, now)
        if delta > 0:
            grew.add((product_id, location_id))
        stock_db.append_ledger(
            conn,
            [stock_db.LedgerRow(product_id, location_id, entry, delta, 0, actor.name, ch.reason, ch.reference)],
            now,
        )
        level: dict[str, Any] = {
            "sku": ch.sku,
            "location": ch.location,
            "on_hand": new_on_hand,
            "reserved": reserved,
            "available": new_on_hand - reserved,
            "delta": delta,
        }
        enqueue(
            conn,
            event,
            "stock",
            f"{ch.sku}@{ch.location}",
            {"stock": level, "reason": ch.reason, "reference": ch.reference},
        )
        results.append((i, level))
    if grew:
        # Stock that arrived goes to the backorders waiting for it first, in queue order.
        served = backorders.allocate_backorders(conn, grew, now, actor)
        taken: dict[tuple[int, int], int] = defaultdict(int)
        for s in served:
            taken[(s["product_id"], s["location_id"])] += s["quantity"]
        for i, level in results:
            n = taken.pop(keys[(changes[i].sku, changes[i].location)], 0)
            level["reserved"] += n
            level["available"] -= n
    stock_db.refresh_low(conn, sorted(set(keys.values())), now)
    return [lvl for _, lvl in sorted(results, key=lambda t: t[0])]


def change_stock(
    db: Database,
    changes: Sequence[StockChange],
    actor: Actor,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> list[dict[str, Any]]:
    """Apply stock commands in one unit of work; a retried ``Idempotency-Key`` returns the
    first result instead of moving stock twice."""
    with db.begin() as conn:
        if idempotency_key:
            prior = idempotency.claim(conn, actor.name, idempotency_key, request_hash or "")
            if prior is not None:
                return list((prior.response or {}).get("levels", []))
        levels = apply_stock_changes(conn, changes, actor)
        if idempotency_key:
            idempotency.complete(conn, actor.name, idempotency_key, "stock", "", {"levels": levels})
        return levels


def availability(
    db: Database,
    skus: Sequence[str] | None = None,
    location: str | None = None,
    limit: int = 100,
    after_sku: str | None = None,
) -> list[dict[str, Any]]:
    """Available to promise per SKU: per location and network-wide (active shipping
    locations only count towards the network figure). Safety stock is not available."""
    stmt = (
        select(
            _products.c.sku,
            _locations.c.code,
            _locations.c.ships,
            _locations.c.active,
            _stock.c.on_hand,
            _stock.c.reserved,
            _stock.c.safety_stock,
        )
        .select_from(
            _products.join(_stock, _stock.c.product_id == _products.c.id).join(
                _locations, _locations.c.id == _stock.c.location_id
            )
        )
        .order_by(_products.c.sku, _locations.c.code)
    )
    with db.read() as conn:
        if skus is not None:
            known = set(conn.execute(select(_products.c.sku).where(_products.c.sku.in_(skus))).scalars())
            missing = [s for s in skus if s not in known]
            if missing:
                raise DomainError(
                    ErrorCode.UNKNOWN_SKU,
                    f"unknown SKU(s): {', '.join(missing)}",
                    [FieldError("sku", f"unknown SKU {s!r}") for s in missing],
                )
            stmt = stmt.where(_products.c.sku.in_(skus))
            page_skus = list(skus)
        else:
            q = select(_products.c.sku).order_by(_products.c.sku).limit(limit)
            if after_sku:
                q = q.where(_products.c.sku > after_sku)
            page_skus = list(conn.execute(q).scalars())
            stmt = stmt.where(_products.c.sku.in_(page_skus))
        if location is not None:
            if conn.execute(select(_locations.c.id).where(_locations.c.code == location)).first() is None:
                raise DomainError(
                    ErrorCode.UNKNOWN_LOCATION,
                    f"unknown location {location!r}",
                    [FieldError("location", f"unknown location {location!r}")],
                )
            stmt = stmt.where(_locations.c.code == location)
        rows = conn.execute(stmt).all()
    out: dict[str, dict[str, Any]] = {
        s: {"sku": s, "network_available": 0, "on_hand": 0, "reserved": 0, "locations": []} for s in page_skus
    }
    for sku, code, ships, active, on_hand, reserved, safety in rows:
        item = out[sku]
        avail = max(on_hand - reserved - safety, 0)
        item["locations"].append(
            {
                "location": code,
                "on_hand": on_hand,
                "reserved": reserved,
                "safety_stock": safety,
                "available": avail,
                "ships": bool(ships and active),
            }
        )
        item["on_hand"] += on_hand
        item["reserved"] += reserved
        if ships and active:
            item["network_available"] += max(avail, 0)
    return list(out.values())


def ledger(
    db: Database, sku: str, location: str | None, *, limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    stmt = (
        select(
            _ledger.c.id,
            _locations.c.code.label("location"),
            _ledger.c.entry_type,
            _ledger.c.on_hand_delta,
            _ledger.c.reserved_delta,
            _ledger.c.reason,
            _ledger.c.reference,
            _ledger.c.order_id,
            _ledger.c.actor,
            _ledger.c.created_at,
        )
        .select_from(
            _ledger.join(_products, and_(_products.c.id == _ledger.c.product_id, _products.c.sku == sku)).join(
                _locations, _locations.c.id == _ledger.c.location_id
            )
        )
        .order_by(_ledger.c.id.desc())
        .limit(limit)
    )
    if location:
        stmt = stmt.where(_locations.c.code == location)
    if before_id:
        stmt = stmt.where(_ledger.c.id < before_id)
    with db.read() as conn:
        if conn.execute(select(_products.c.id).where(_products.c.sku == sku)).first() is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"Product {sku} does not exist")
        return [dict(r) for r in conn.execute(stmt).mappings()]
