"""Stock operations: receipts against inbound lots, transfers between locations, stock policy
(safety stock, reorder point) and low-stock alerts.

Every unit that arrives goes through ``inventory.apply_stock_changes`` (so whatever runs at its
end, such as backorder allocation, sees it), and every unit that leaves for another location is
a ``transfer_out`` ledger row there; docs/adr/0019-transfers-through-the-ledger.md says why.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue, record_audit
from openoms.adapters.db.tables import (
    InboundStock,
    Location,
    Product,
    StockLevel,
    Transfer,
    TransferLine,
    table,
)
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.domain.events import EventType
from openoms.domain.inventory import LedgerEntryType
from openoms.domain.stock_ops import (
    TransferAction,
    TransferLineRequest,
    TransferStatus,
    check_stock_policy,
    check_transfer_action,
    check_transfer_receipt,
    check_transfer_request,
    in_transit,
    receive_against_lot,
)
from openoms.services import idempotency
from openoms.services.common import Actor, utcnow
from openoms.services.inbound import inbound_row, inbound_select
from openoms.services.inventory import StockChange, apply_stock_changes

inbound_t = table(InboundStock)
products_t = table(Product)
locations_t = table(Location)
stock_t = table(StockLevel)
transfers_t = table(Transfer)
lines_t = table(TransferLine)

MAX_TEXT = 64


# --- receipts against inbound ---------------------------------------------------------------


def receive_inbound(
    db: Database,
    inbound_id: int,
    quantity: int,
    actor: Actor,
    *,
    allow_over_receipt: bool = False,
    reason: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> dict[str, Any]:
    """Receive units against an open inbound lot (a purchase order): a ``receipt`` ledger row
    at the lot's location referencing the lot, and the lot closed once complete."""
    with db.begin() as conn:
        if idempotency_key:
            prior = idempotency.claim(conn, actor.name, idempotency_key, request_hash or "")
            if prior is not None:
                return dict((prior.response or {}).get("inbound", {}))
        lot = conn.execute(inbound_select().where(inbound_t.c.id == inbound_id).with_for_update(of=inbound_t)).first()
        if lot is None:
            raise NotFound("Inbound", str(inbound_id))
        linked = conn.execute(
            select(transfers_t.c.number)
            .join(lines_t, lines_t.c.transfer_id == transfers_t.c.id)
            .where(lines_t.c.inbound_id == inbound_id)
        ).scalar()
        if linked is not None:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"Inbound {inbound_id} is transfer {linked} in transit: receive it on the transfer",
                extra={"transfer": linked},
            )
        outcome = receive_against_lot(
            status=lot.status,
            expected=int(lot.quantity),
            received=int(lot.quantity_received),
            quantity=quantity,
            allow_over=allow_over_receipt,
        )
        now = utcnow()
        # The lot first, then the stock: the low-stock check at the end of apply_stock_changes
        # must not count these units twice (on the shelf and still inbound).
        conn.execute(
            update(inbound_t)
            .where(inbound_t.c.id == inbound_id)
            .values(
                quantity_received=outcome.received_total,
                status="received" if outcome.complete else "open",
                updated_at=now,
            )
        )
        ref = f"inbound {inbound_id}" + (f" {lot.reference[:100]}" if lot.reference else "")
        why = (reason or "").strip()[:200] or f"received against inbound {inbound_id}"
        level = apply_stock_changes(
            conn, [StockChange(lot.sku, lot.location, LedgerEntryType.RECEIPT, quantity, why, ref)], actor
        )[0]
        message = f"{quantity} x {lot.sku} received at {lot.location} against inbound {inbound_id}" + (
            f" ({lot.reference})" if lot.reference else ""
        )
        if outcome.over:
            message += f"; {outcome.over} more than announced (over-receipt allowed)"
        record_audit(
            conn,
            actor=actor.name,
            action="inbound.received",
            subject_type="inbound",
            subject_id=str(inbound_id),
            message=message,
            data={"quantity": quantity, "received_total": outcome.received_total, "over": outcome.over},
            now=now,
        )
        result = inbound_row(conn.execute(inbound_select().where(inbound_t.c.id == inbound_id)).one())
        result["stock"] = level
        enqueue(
            conn,
            EventType.INBOUND_RECEIVED,
            "inbound",
            str(inbound_id),
            {"inbound": _jsonable(result), "quantity": quantity, "complete": outcome.complete},
            now=now,
        )
        if idempotency_key:
            idempotency.complete(
                conn, actor.name, idempotency_key, "inbound", str(inbound_id), {"inbound": _jsonable(result)}
            )
        return result


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in d.items()}


# --- transfers ------------------------------------------------------------------------------


def _location_ids(conn: Connection, codes: Sequence[str]) -> dict[str, int]:
    return {
        str(c): int(i)
        for c, i in conn.execute(select(locations_t.c.code, locations_t.c.id).where(locations_t.c.code.in_(codes)))
    }


def _transfer_view(conn: Connection, transfer_id: int) -> dict[str, Any]:
    src = locations_t.alias("src")
    dst = locations_t.alias("dst")
    t = conn.execute(
        select(transfers_t, src.c.code.label("from_location"), dst.c.code.label("to_location"))
        .join(src, src.c.id == transfers_t.c.from_location_id)
        .join(dst, dst.c.id == transfers_t.c.to_location_id)
        .where(transfers_t.c.id == transfer_id)
    ).one()
    lines = [
        {
            "sku": r.sku,
            "name": r.name,
            "quantity": int(r.quantity),
            "quantity_received": int(r.quantity_received),
            "in_transit": in_transit(int(r.quantity), int(r.quantity_received)) if t.status != "draft" else 0,
            "inbound_id": r.inbound_id,
        }
        for r in conn.execute(
            select(lines_t, products_t.c.sku, products_t.c.name)
            .join(products_t, products_t.c.id == lines_t.c.product_id)
            .where(lines_t.c.transfer_id == transfer_id)
            .order_by(lines_t.c.id)
        )
    ]
    return {
        "id": t.id,
        "number": t.number,
        "from_location": t.from_location,
        "to_location": t.to_location,
        "status": t.status,
        "expected_at": t.expected_at,
        "carrier": t.carrier,
        "tracking_number": t.tracking_number,
        "note": t.note,
        "created_by": t.created_by,
        "created_at": t.created_at,
        "shipped_at": t.shipped_at,
        "received_at": t.received_at,
        "cancelled_at": t.cancelled_at,
        "units": sum(ln["quantity"] for ln in lines),
        "units_received": sum(ln["quantity_received"] for ln in lines),
        "units_in_transit": sum(ln["in_transit"] for ln in lines),
        "lines": lines,
    }


def _clean(text: str | None, field: str, limit: int, errors: list[FieldError]) -> str | None:
    text = (text or "").strip()
    if len(text) > limit:
        errors.append(FieldError(field, f"must be at most {limit} characters"))
    return text or None


def create_transfer(
    db: Database,
    *,
    from_location: str,
    to_location: str,
    lines: Sequence[TransferLineRequest],
    expected_at: dt.datetime,
    actor: Actor,
    carrier: str | None = None,
    tracking_number: str | None = None,
    note: str | None = None,
    ship: bool = False,
) -> dict[str, Any]:
    """Plan a transfer (a draft: nothing moves yet), or plan and ship it at once (``ship``)."""
    errors: list[FieldError] = []
    try:
        clean = check_transfer_request(from_location, to_location, lines, note)
    except DomainError as exc:  # report these with the unknown SKUs and locations below
        errors.extend(exc.errors)
        clean = [TransferLineRequest(ln.sku.strip(), ln.quantity) for ln in lines]
    if expected_at.tzinfo is None:
        errors.append(FieldError("expected_at", "needs a UTC offset, e.g. 2026-12-01T09:00:00Z"))
    carrier = _clean(carrier, "carrier", MAX_TEXT, errors)
    tracking_number = _clean(tracking_number, "tracking_number", MAX_TEXT, errors)
    note = _clean(note, "note", 255, errors)
    with db.begin() as conn:
        locs = _location_ids(conn, [from_location.strip(), to_location.strip()])
        for field, code in (("from_location", from_location.strip()), ("to_location", to_location.strip())):
            if code and code not in locs:
                errors.append(FieldError(field, f"no location with code {code!r}"))
        skus = [ln.sku for ln in clean]
        pid = {
            str(s): int(i)
            for s, i in conn.execute(select(products_t.c.sku, products_t.c.id).where(products_t.c.sku.in_(skus)))
        }
        for i, ln in enumerate(clean):
            if ln.sku and ln.sku not in pid:
                errors.append(FieldError(f"lines[{i}].sku", f"unknown SKU {ln.sku!r}"))
        if errors:
            raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
        now = utcnow()
        transfer_id = int(
            conn.execute(
                insert(transfers_t)
                .values(
                    number=f"new-{uuid.uuid4().hex[:24]}",
                    from_location_id=locs[from_location.strip()],
                    to_location_id=locs[to_location.strip()],
                    status=TransferStatus.DRAFT.value,
                    expected_at=expected_at,
                    carrier=carrier,
                    tracking_number=tracking_number,
                    note=note,
                    created_by=actor.name,
                    created_at=now,
                    updated_at=now,
                )
                .returning(transfers_t.c.id)
            ).scalar_one()
        )
        number = f"TR-{transfer_id:06d}"
        conn.execute(update(transfers_t).where(transfers_t.c.id == transfer_id).values(number=number))
        conn.execute(
            insert(lines_t),
            [{"transfer_id": transfer_id, "product_id": pid[ln.sku], "quantity": ln.quantity} for ln in clean],
        )
        record_audit(
            conn,
            actor=actor.name,
            action="transfer.created",
            subject_type="transfer",
            subject_id=number,
            message=f"Transfer {number} planned: {sum(ln.quantity for ln in clean)} unit(s) "
            f"from {from_location.strip()} to {to_location.strip()}",
            now=now,
        )
        if ship:
            _ship(conn, transfer_id, actor, now)
        return _transfer_view(conn, transfer_id)


def _lock_transfer(conn: Connection, number: str) -> Any:
    row = conn.execute(select(transfers_t).where(transfers_t.c.number == number).with_for_update()).first()
    if row is None:
        raise NotFound("Transfer", number)
    return row


def ship_transfer(db: Database, number: str, actor: Actor) -> dict[str, Any]:
    """The units leave the source: ``transfer_out`` there (refused if it would take units
    reserved for orders), and inbound lots of kind transfer at the destination."""
    with db.begin() as conn:
        t = _lock_transfer(conn, number)
        _ship(conn, int(t.id), actor, utcnow())
        return _transfer_view(conn, int(t.id))


def _ship(conn: Connection, transfer_id: int, actor: Actor, now: dt.datetime) -> None:
    view = _transfer_view(conn, transfer_id)
    number = view["number"]
    check_transfer_action(number, view["status"], TransferAction.SHIP)
    changes = [
        StockChange(
            ln["sku"],
            view["from_location"],
            LedgerEntryType.TRANSFER_OUT,
            ln["quantity"],
            f"transfer to {view['to_location']}",
            number,
        )
        for ln in view["lines"]
    ]
    try:
        apply_stock_changes(conn, changes, actor)
    except DomainError as err:
        if err.code is not ErrorCode.STOCK_CONFLICT:
            raise
        sku = next((ln["sku"] for ln in view["lines"] if f"{ln['sku']} at " in err.message), None)
        index = next((i for i, ln in enumerate(view["lines"]) if ln["sku"] == sku), 0)
        raise DomainError(
            ErrorCode.STOCK_CONFLICT,
            f"Transfer {number} cannot ship: {err.message}",
            [FieldError(f"lines[{index}].quantity", "more than on hand less what is reserved for orders")],
            extra=err.extra,
        ) from None
    dest = _location_ids(conn, [view["to_location"]])[view["to_location"]]
    line_rows = conn.execute(
        select(lines_t.c.id, lines_t.c.product_id, lines_t.c.quantity).where(lines_t.c.transfer_id == transfer_id)
    ).all()
    for ln in line_rows:
        inbound_id = conn.execute(
            insert(inbound_t)
            .values(
                product_id=ln.product_id,
                location_id=dest,
                quantity=ln.quantity,
                expected_at=view["expected_at"],
                kind="transfer",
                reference=number,
                status="open",
                created_by=actor.name,
                created_at=now,
                updated_at=now,
            )
            .returning(inbound_t.c.id)
        ).scalar_one()
        conn.execute(update(lines_t).where(lines_t.c.id == ln.id).values(inbound_id=inbound_id))
    stock_db.refresh_low(conn, [(int(ln.product_id), dest) for ln in line_rows], now)
    conn.execute(
        update(transfers_t)
        .where(transfers_t.c.id == transfer_id)
        .values(status=TransferStatus.IN_TRANSIT.value, shipped_at=now, updated_at=now)
    )
    record_audit(
        conn,
        actor=actor.name,
        action="transfer.shipped",
        subject_type="transfer",
        subject_id=number,
        message=f"Transfer {number} shipped: {view['units']} unit(s) from {view['from_location']} "
        f"to {view['to_location']}, expected {view['expected_at']:%Y-%m-%d}",
        now=now,
    )
    enqueue(conn, EventType.TRANSFER_SHIPPED, "transfer", number, {"transfer": _event_view(conn, transfer_id)}, now=now)


def _event_view(conn: Connection, transfer_id: int) -> dict[str, Any]:
    v = _transfer_view(conn, transfer_id)
    return {
        k: (x.isoformat() if isinstance(x, dt.datetime) else x) for k, x in v.items() if k not in ("created_by", "note")
    }


def receive_transfer(
    db: Database, number: str, received: dict[str, int], actor: Actor, *, reason: str | None = None
) -> dict[str, Any]:
    """Book units that arrived at the destination (``transfer_in``), partly or in full; the
    transfer is received, and its inbound lots closed, once nothing is left in transit."""
    with db.begin() as conn:
        t = _lock_transfer(conn, number)
        check_transfer_action(number, t.status, TransferAction.RECEIVE)
        view = _transfer_view(conn, int(t.id))
        outstanding = {ln["sku"]: ln["in_transit"] for ln in view["lines"]}
        check_transfer_receipt(outstanding, received)
        now = utcnow()
        lines = {
            r.sku: r
            for r in conn.execute(
                select(lines_t, products_t.c.sku)
                .join(products_t, products_t.c.id == lines_t.c.product_id)
                .where(lines_t.c.transfer_id == t.id)
                .with_for_update(of=lines_t)
            )
        }
        changes = []
        for sku, qty in sorted(received.items()):
            if qty <= 0:
                continue
            ln = lines[sku]
            total = int(ln.quantity_received) + qty
            conn.execute(update(lines_t).where(lines_t.c.id == ln.id).values(quantity_received=total))
            if ln.inbound_id is not None:
                conn.execute(
                    update(inbound_t)
                    .where(inbound_t.c.id == ln.inbound_id)
                    .values(
                        quantity_received=total,
                        status="received" if total >= int(ln.quantity) else "open",
                        updated_at=now,
                    )
                )
            why = (reason or "").strip()[:200] or f"transfer from {view['from_location']}"
            changes.append(StockChange(sku, view["to_location"], LedgerEntryType.TRANSFER_IN, qty, why, number))
        apply_stock_changes(conn, changes, actor)
        left = sum(outstanding.values()) - sum(q for q in received.values() if q > 0)
        values: dict[str, Any] = {"updated_at": now}
        if left == 0:
            values.update(status=TransferStatus.RECEIVED.value, received_at=now)
        conn.execute(update(transfers_t).where(transfers_t.c.id == t.id).values(**values))
        units = sum(c.quantity for c in changes)
        record_audit(
            conn,
            actor=actor.name,
            action="transfer.received",
            subject_type="transfer",
            subject_id=number,
            message=f"Transfer {number}: {units} unit(s) received at {view['to_location']}"
            + ("; complete" if left == 0 else f"; {left} still in transit"),
            data={"received": {s: q for s, q in received.items() if q > 0}},
            now=now,
        )
        enqueue(
            conn,
            EventType.TRANSFER_RECEIVED,
            "transfer",
            number,
            {"transfer": _event_view(conn, int(t.id)), "received": received, "complete": left == 0},
            now=now,
        )
        return _transfer_view(conn, int(t.id))


def cancel_transfer(db: Database, number: str, actor: Actor, *, reason: str | None = None) -> dict[str, Any]:
    """Give up a planned transfer. Only drafts: shipped units are on their way and arrive as a
    receipt (or come back on a transfer of their own)."""
    with db.begin() as conn:
        t = _lock_transfer(conn, number)
        check_transfer_action(number, t.status, TransferAction.CANCEL)
        now = utcnow()
        conn.execute(
            update(transfers_t)
            .where(transfers_t.c.id == t.id)
            .values(status=TransferStatus.CANCELLED.value, cancelled_at=now, updated_at=now)
        )
        why = (reason or "").strip()[:200]
        record_audit(
            conn,
            actor=actor.name,
            action="transfer.cancelled",
            subject_type="transfer",
            subject_id=number,
            message=f"Transfer {number} cancelled" + (f": {why}" if why else ""),
            now=now,
        )
        payload = {"transfer": _event_view(conn, int(t.id)), "reason": why or None}
        enqueue(conn, EventType.TRANSFER_CANCELLED, "transfer", number, payload, now=now)
        return _transfer_view(conn, int(t.id))


def get_transfer(db: Database, number: str) -> dict[str, Any]:
    with db.read() as conn:
        tid = conn.execute(select(transfers_t.c.id).where(transfers_t.c.number == number)).scalar()
        if tid is None:
            raise NotFound("Transfer", number)
        return _transfer_view(conn, int(tid))


def list_transfers(
    db: Database, *, status: str | None = None, location: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Transfers, newest first; ``location`` matches either end."""
    stmt = select(transfers_t.c.id).order_by(transfers_t.c.id.desc()).limit(limit)
    with db.read() as conn:
        if status:
            stmt = stmt.where(transfers_t.c.status == status)
        if location:
            loc = _location_ids(conn, [location]).get(location)
            if loc is None:
                return []
            stmt = stmt.where((transfers_t.c.from_location_id == loc) | (transfers_t.c.to_location_id == loc))
        return [_transfer_view(conn, int(i)) for i in conn.execute(stmt).scalars()]


def in_transit_by_stock(conn: Connection, product_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """Units in transit towards each (product, destination location)."""
    out: dict[tuple[int, int], int] = defaultdict(int)
    if not product_ids:
        return out
    for p, loc, q, r in conn.execute(
        select(lines_t.c.product_id, transfers_t.c.to_location_id, lines_t.c.quantity, lines_t.c.quantity_received)
        .join(transfers_t, transfers_t.c.id == lines_t.c.transfer_id)
        .where(transfers_t.c.status == TransferStatus.IN_TRANSIT.value, lines_t.c.product_id.in_(list(product_ids)))
    ):
        out[(int(p), int(loc))] += in_transit(int(q), int(r))
    return out


def transfer_numbers_of_lots(db: Database, inbound_ids: Sequence[int]) -> dict[int, str]:
    """The transfer behind each inbound lot a transfer created (the others are purchase orders)."""
    if not inbound_ids:
        return {}
    with db.read() as conn:
        return {
            int(i): str(n)
            for i, n in conn.execute(
                select(lines_t.c.inbound_id, transfers_t.c.number)
                .join(transfers_t, transfers_t.c.id == lines_t.c.transfer_id)
                .where(lines_t.c.inbound_id.in_(list(inbound_ids)))
            )
        }


def inbound_counts(db: Database, now: dt.datetime) -> dict[str, int]:
    """Open lots, how many are late (expected before ``now``), and the units still expected."""
    with db.read() as conn:
        row = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((inbound_t.c.expected_at < now, 1), else_=0)), 0),
                func.coalesce(func.sum(inbound_t.c.quantity - inbound_t.c.quantity_received), 0),
            ).where(inbound_t.c.status == "open")
        ).one()
    return {"open": int(row[0]), "late": int(row[1]), "units": int(row[2])}


# --- stock policy and low stock -------------------------------------------------------------


def set_stock_policy(
    db: Database,
    sku: str,
    location: str,
    *,
    safety_stock: int,
    reorder_point: int | None,
    actor: Actor,
) -> dict[str, Any]:
    """Set a stock row's safety stock (units never offered to orders) and reorder point (the
    low-stock threshold; None for no alert). Takes effect for the next reservation."""
    check_stock_policy(safety_stock, reorder_point)
    from openoms.services.inventory import resolve_stock_keys

    with db.begin() as conn:
        product_id, location_id = resolve_stock_keys(conn, [(sku, location)])[(sku, location)]
        now = utcnow()
        stock_db.lock_stock_row(conn, product_id, location_id, now)
        before = conn.execute(
            select(stock_t.c.safety_stock, stock_t.c.reorder_point).where(
                stock_t.c.product_id == product_id, stock_t.c.location_id == location_id
            )
        ).one()
        conn.execute(
            update(stock_t)
            .where(stock_t.c.product_id == product_id, stock_t.c.location_id == location_id)
            .values(safety_stock=safety_stock, reorder_point=reorder_point)
        )
        stock_db.refresh_low(conn, [(product_id, location_id)], now)
        record_audit(
            conn,
            actor=actor.name,
            action="stock.policy",
            subject_type="stock",
            subject_id=f"{sku}@{location}",
            message=f"{sku} at {location}: safety stock {before.safety_stock} -> {safety_stock}, reorder point "
            f"{_rp(before.reorder_point)} -> {_rp(reorder_point)}",
            data={"safety_stock": safety_stock, "reorder_point": reorder_point},
            now=now,
        )
        view = _policy_view(conn, product_id, location_id)
        enqueue(conn, EventType.STOCK_POLICY_CHANGED, "stock", f"{sku}@{location}", {"stock": _jsonable(view)}, now=now)
        return view


def _rp(value: int | None) -> str:
    return "none" if value is None else str(value)


def _policy_select() -> Any:
    return (
        select(
            products_t.c.sku,
            products_t.c.name,
            locations_t.c.code.label("location"),
            stock_t.c.on_hand,
            stock_t.c.reserved,
            stock_t.c.safety_stock,
            stock_t.c.reorder_point,
            stock_t.c.low_since,
            stock_db.open_inbound_units().label("inbound"),
        )
        .join(products_t, products_t.c.id == stock_t.c.product_id)
        .join(locations_t, locations_t.c.id == stock_t.c.location_id)
    )


def _policy_row(r: Any) -> dict[str, Any]:
    on_hand, reserved, safety = int(r.on_hand), int(r.reserved), int(r.safety_stock)
    inbound = int(r.inbound or 0)
    rp = None if r.reorder_point is None else int(r.reorder_point)
    free = on_hand - reserved
    return {
        "sku": r.sku,
        "name": r.name,
        "location": r.location,
        "on_hand": on_hand,
        "reserved": reserved,
        "safety_stock": safety,
        "available": max(free - safety, 0),
        "inbound": inbound,
        "reorder_point": rp,
        "low": rp is not None and free + inbound <= rp,
        "low_since": r.low_since,
        "shortfall": max(rp - (free + inbound), 0) if rp is not None else 0,
    }


def _policy_view(conn: Connection, product_id: int, location_id: int) -> dict[str, Any]:
    return _policy_row(
        conn.execute(
            _policy_select().where(stock_t.c.product_id == product_id, stock_t.c.location_id == location_id)
        ).one()
    )


def low_stock(db: Database, *, location: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Stock rows at or below their reorder point now (free + inbound <= reorder point),
    furthest below first."""
    stmt = _policy_select().where(stock_db.low_condition())
    if location:
        stmt = stmt.where(locations_t.c.code == location)
    with db.read() as conn:
        rows = [_policy_row(r) for r in conn.execute(stmt.limit(limit))]
    return sorted(rows, key=lambda r: (-r["shortfall"], r["sku"], r["location"]))
