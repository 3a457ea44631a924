"""Returns use cases (RMA): eligibility, request, approve, reject, cancel, the return label,
receiving with inspection and disposition, the refund quote and refund, exchanges, and the
return policies per channel (docs/returns.md, ADR 26).

Each command is one unit of work that writes the order's timeline, the audit log and an outbox
event (``return.*``) with the change, or refuses and changes nothing. Locks follow the house
order: the order row, then the return row, then stock rows (sorted, in
``inventory.apply_stock_changes``). Money goes back through ``services.payments`` after the
return's unit of work has committed, never inside it (ADR 26): intent first, provider call,
result in a second unit of work, with an idempotency key derived from the RMA.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy import null as sa_null

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit, record_order_event
from openoms.adapters.db.tables import (
    Channel,
    Customer,
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    OrderEvent,
    OrderLine,
    PackageLine,
    Payment,
    Product,
    Return,
    ReturnInspection,
    ReturnLine,
    ReturnPolicyRecord,
    Shipment,
    ShipmentPackage,
    table,
)
from openoms.domain import money
from openoms.domain import orders as order_rules
from openoms.domain import returns as rx
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.domain.events import EventType
from openoms.domain.inventory import LedgerEntryType
from openoms.domain.returns import ReturnStatus
from openoms.services import idempotency, inventory
from openoms.services.common import Actor, decode_cursor, encode_cursor, utcnow

returns_t = table(Return)
rlines_t = table(ReturnLine)
insp_t = table(ReturnInspection)
policies_t = table(ReturnPolicyRecord)
orders_t = table(Order)
lines_t = table(OrderLine)
products_t = table(Product)
locations_t = table(Location)
channels_t = table(Channel)
customers_t = table(Customer)
events_t = table(OrderEvent)
ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
pl_t = table(PackageLine)
fl_t = table(FulfilmentLine)
fo_t = table(FulfilmentOrder)
pay_t = table(Payment)

MAX_NOTE = 2000
MAX_REASON = 500
MAX_RETURN_LIST = 200
MAX_ATTEMPTS = 5


# --- policies -----------------------------------------------------------------------------------


def _channel_id(conn: Connection, code: str) -> int:
    cid = conn.execute(select(channels_t.c.id).where(channels_t.c.code == code)).scalar()
    if cid is None:
        raise validation_error("channel", f"unknown channel {code!r}", ErrorCode.UNKNOWN_CHANNEL)
    return int(cid)


def _policy_row_to_domain(row: Any) -> rx.ReturnPolicy:
    return rx.ReturnPolicy(
        window_days=int(row.window_days),
        restocking_fee_percent=Decimal(row.restocking_fee_percent).quantize(Decimal("0.01")),
        refund_shipping=rx.ShippingRefund(row.refund_shipping),
        allowed_methods=tuple(rx.ReturnMethod(m) for m in row.allowed_methods),
        accepted_conditions=tuple(rx.Condition(c) for c in row.accepted_conditions),
    )


def policy_for(conn: Connection, channel_id: int | None) -> tuple[rx.ReturnPolicy, str]:
    """The channel's own policy, else the default row, else the built-in default; with where
    it came from (``channel``, ``default``, ``built_in``)."""
    rows = conn.execute(
        select(policies_t).where(
            or_(policies_t.c.channel_id == channel_id, policies_t.c.channel_id.is_(None))
            if channel_id is not None
            else policies_t.c.channel_id.is_(None)
        )
    ).all()
    own = next((r for r in rows if r.channel_id is not None), None)
    if own is not None:
        return _policy_row_to_domain(own), "channel"
    default = next((r for r in rows if r.channel_id is None), None)
    if default is not None:
        return _policy_row_to_domain(default), "default"
    return rx.DEFAULT_POLICY, "built_in"


def _policy_dict(policy: rx.ReturnPolicy, source: str, channel: str | None) -> dict[str, Any]:
    return {
        "channel": channel,
        "source": source,
        "window_days": policy.window_days,
        "restocking_fee_percent": policy.restocking_fee_percent,
        "refund_shipping": policy.refund_shipping.value,
        "allowed_methods": [m.value for m in policy.allowed_methods],
        "accepted_conditions": [c.value for c in policy.accepted_conditions],
    }


def get_return_policy(db: Database, channel: str | None = None) -> dict[str, Any]:
    """The policy in force for a channel (``None``: the default), and whether it is the
    channel's own, the default one, or the built-in default."""
    with db.read() as conn:
        cid = _channel_id(conn, channel) if channel else None
        policy, source = policy_for(conn, cid)
    return _policy_dict(policy, source, channel)


def set_return_policy(
    db: Database,
    channel: str | None,
    *,
    window_days: int,
    restocking_fee_percent: Decimal,
    refund_shipping: str,
    allowed_methods: Sequence[str],
    accepted_conditions: Sequence[str],
    actor: Actor,
) -> dict[str, Any]:
    """Set a channel's return policy (``None``: the default one for channels without their own)."""
    policy = rx.validate_policy(
        window_days=window_days,
        restocking_fee_percent=restocking_fee_percent,
        refund_shipping=refund_shipping,
        allowed_methods=allowed_methods,
        accepted_conditions=accepted_conditions,
    )
    now = utcnow()
    values = {
        "window_days": policy.window_days,
        "restocking_fee_percent": policy.restocking_fee_percent,
        "refund_shipping": policy.refund_shipping.value,
        "allowed_methods": [m.value for m in policy.allowed_methods],
        "accepted_conditions": [c.value for c in policy.accepted_conditions],
        "updated_by": actor.name,
        "updated_at": now,
    }
    with db.begin() as conn:
        cid = None
        if channel:
            cid = _channel_id(conn, channel)
            conn.execute(select(channels_t.c.id).where(channels_t.c.id == cid).with_for_update()).one()
        where = policies_t.c.channel_id == cid if cid is not None else policies_t.c.channel_id.is_(None)
        existing = conn.execute(select(policies_t.c.id).where(where).with_for_update()).scalar()
        if existing is None:
            conn.execute(insert(policies_t).values(channel_id=cid, **values))
        else:
            conn.execute(update(policies_t).where(policies_t.c.id == existing).values(**values))
        record_audit(
            conn,
            actor=actor.name,
            action="return_policy.set",
            subject_type="channel" if channel else "return_policy",
            subject_id=channel or "default",
            message=f"Return policy for {channel or 'every channel without its own'}: "
            f"{policy.window_days} days, restocking fee {policy.restocking_fee_percent}%, "
            f"shipping refunded {policy.refund_shipping.value}, methods "
            + ", ".join(m.value for m in policy.allowed_methods),
            data={k: str(v) if isinstance(v, Decimal) else v for k, v in values.items() if k != "updated_at"},
            now=now,
        )
    return _policy_dict(policy, "channel" if channel else "default", channel)


# --- eligibility --------------------------------------------------------------------------------


def _order(conn: Connection, order_id: int, *, lock: bool = False) -> Any:
    stmt = select(orders_t).where(orders_t.c.id == order_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("Order", order_rules.order_number(order_id))
    return row


def _order_lines(conn: Connection, order_id: int) -> list[Any]:
    return list(
        conn.execute(
            select(
                lines_t,
                products_t.c.name.label("product_name"),
                products_t.c.final_sale,
                products_t.c.return_window_days,
            )
            .join(products_t, products_t.c.id == lines_t.c.product_id)
            .where(lines_t.c.order_id == order_id)
            .order_by(lines_t.c.line_number)
        ).all()
    )


def _window_starts(conn: Connection, order_id: int) -> dict[int, tuple[dt.datetime, str]]:
    """Per order line: when its return window starts (the latest delivery of a shipment that
    carried it, else the latest shipment) and the timezone of the location it shipped from."""
    rows = conn.execute(
        select(
            fl_t.c.order_line_id,
            ship_t.c.shipped_at,
            ship_t.c.delivered_at,
            locations_t.c.timezone,
        )
        .select_from(pl_t)
        .join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
        .join(pkg_t, pkg_t.c.id == pl_t.c.package_id)
        .join(ship_t, ship_t.c.id == pkg_t.c.shipment_id)
        .join(fo_t, fo_t.c.id == ship_t.c.fulfilment_order_id)
        .join(locations_t, locations_t.c.id == fo_t.c.location_id)
        .where(ship_t.c.order_id == order_id)
    ).all()
    out: dict[int, tuple[dt.datetime, str]] = {}
    for r in rows:
        start = r.delivered_at or r.shipped_at
        key = int(r.order_line_id)
        if key not in out or start > out[key][0]:
            out[key] = (start, r.timezone)
    return out


def _eligibility(
    conn: Connection, order: Any, lines: list[Any], now: dt.datetime
) -> tuple[rx.ReturnPolicy, str, dict[int, rx.Eligibility]]:
    policy, source = policy_for(conn, int(order.channel_id))
    starts = _window_starts(conn, int(order.id))
    out: dict[int, rx.Eligibility] = {}
    for ln in lines:
        start, tz = starts.get(int(ln.id), (None, "UTC"))
        facts = rx.LineFacts(
            line_number=int(ln.line_number),
            sku=ln.sku,
            quantity_shipped=int(ln.quantity_shipped),
            quantity_returned=int(ln.quantity_returned),
            final_sale=bool(ln.final_sale),
            window_days=ln.return_window_days,
            window_start=start,
            timezone=tz,
        )
        out[int(ln.line_number)] = rx.line_eligibility(facts, policy, now)
    return policy, source, out


def check_eligibility(db: Database, order_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Per line of the order: how many units may be returned now, or the reason none can."""
    now = now or utcnow()
    with db.read() as conn:
        order = _order(conn, order_id)
        lines = _order_lines(conn, order_id)
        policy, source, el = _eligibility(conn, order, lines, now)
        channel = conn.execute(select(channels_t.c.code).where(channels_t.c.id == order.channel_id)).scalar()
    return {
        "order_id": int(order.id),
        "order_number": order_rules.order_number(int(order.id)),
        "status": order.status,
        "currency": order.currency,
        "policy": _policy_dict(policy, source, channel),
        "returnable": any(e.returnable > 0 for e in el.values()),
        "lines": [
            {
                "line_number": int(ln.line_number),
                "sku": ln.sku,
                "name": ln.product_name,
                "quantity": int(ln.quantity),
                "quantity_shipped": int(ln.quantity_shipped),
                "quantity_returned": int(ln.quantity_returned),
                "unit_price": money.quantize(Decimal(ln.unit_price), order.currency),
                "returnable": el[int(ln.line_number)].returnable,
                "reason": el[int(ln.line_number)].reason,
                "deadline": el[int(ln.line_number)].deadline,
                "final_sale": bool(ln.final_sale),
            }
            for ln in lines
        ],
    }


# --- request ------------------------------------------------------------------------------------


def _location(conn: Connection, code: str, field: str) -> Any:
    row = conn.execute(select(locations_t).where(locations_t.c.code == code)).first()
    if row is None:
        raise validation_error(field, f"unknown location {code!r}", ErrorCode.UNKNOWN_LOCATION)
    if not row.active:
        raise validation_error(field, f"location {code!r} is inactive", ErrorCode.UNKNOWN_LOCATION)
    return row


def _default_return_location(conn: Connection, order_id: int) -> int | None:
    """Where a mail return goes when the request names no place: the location the order first
    shipped from, if it accepts returns; else the first active location that accepts returns
    (warehouses before stores, then by priority); else the shipping location all the same."""
    shipped_from = conn.execute(
        select(fo_t.c.location_id, locations_t.c.accepts_returns, locations_t.c.active)
        .join(ship_t, ship_t.c.fulfilment_order_id == fo_t.c.id)
        .join(locations_t, locations_t.c.id == fo_t.c.location_id)
        .where(ship_t.c.order_id == order_id)
        .order_by(ship_t.c.id)
        .limit(1)
    ).first()
    if shipped_from is not None and shipped_from.accepts_returns and shipped_from.active:
        return int(shipped_from.location_id)
    lid = conn.execute(
        select(locations_t.c.id)
        .where(locations_t.c.accepts_returns.is_(True), locations_t.c.active.is_(True))
        .order_by((locations_t.c.kind == "store").asc(), locations_t.c.priority, locations_t.c.id)
        .limit(1)
    ).scalar()
    if lid is not None:
        return int(lid)
    return int(shipped_from.location_id) if shipped_from is not None else None


def _parse_requested(lines: Sequence[dict[str, Any]]) -> list[rx.RequestedLine]:
    errors: list[FieldError] = []
    out: list[rx.RequestedLine] = []
    if len(lines) > rx.MAX_RETURN_LINES:
        raise validation_error("lines", f"at most {rx.MAX_RETURN_LINES} lines")
    for i, ln in enumerate(lines):
        number, qty = ln.get("line_number"), ln.get("quantity")
        reason, cond = ln.get("reason") or ln.get("reason_code") or "other", ln.get("condition")
        ok = True
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            errors.append(FieldError(f"lines[{i}].line_number", "must be a line number (1 or more)"))
            ok = False
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
            ok = False
        if reason not in rx.ReasonCode.__members__.values():
            errors.append(FieldError(f"lines[{i}].reason", f"one of {', '.join(r.value for r in rx.ReasonCode)}"))
            ok = False
        if cond is not None and cond not in rx.Condition.__members__.values():
            errors.append(FieldError(f"lines[{i}].condition", f"one of {', '.join(c.value for c in rx.Condition)}"))
            ok = False
        if ok:
            assert isinstance(number, int) and isinstance(qty, int)
            out.append(
                rx.RequestedLine(number, qty, rx.ReasonCode(reason), rx.Condition(cond) if cond is not None else None)
            )
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    return out


def _check_text(value: str | None, field: str, limit: int) -> str | None:
    value = (value or "").strip() or None
    if value is not None and len(value) > limit:
        raise validation_error(field, f"at most {limit} characters")
    return value


def request_return(
    db: Database,
    order_id: int,
    *,
    lines: list[dict[str, Any]],
    method: str,
    location: str | None,
    source: str,
    actor: Actor,
    note: str | None = None,
    exchange: list[dict[str, Any]] | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    approve: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Ask to return shipped units of an order (``lines``: line_number, quantity, reason,
    condition), by mail or in store. Refused with the reason per line when the units are not
    returnable. ``approve`` approves at once (customer service at the counter). With
    ``exchange`` ([{sku, quantity}]) a replacement order is captured in the same unit of work
    (docs/returns.md "Exchanges")."""
    if method not in rx.ReturnMethod.__members__.values():
        raise validation_error("method", f"one of {', '.join(m.value for m in rx.ReturnMethod)}")
    if source not in rx.ReturnSource.__members__.values():
        raise validation_error("source", f"one of {', '.join(s.value for s in rx.ReturnSource)}")
    m = rx.ReturnMethod(method)
    requested = _parse_requested(lines)
    note = _check_text(note, "note", MAX_NOTE)
    location = (location or "").strip() or None
    if m == rx.ReturnMethod.IN_STORE and not location:
        raise validation_error("location", "an in-store return needs the store it is brought to")
    now = now or utcnow()
    from openoms.services import exchanges  # exchanges capture orders, which import much

    def once() -> tuple[int, dict[str, Any] | None]:
        exchange_info: dict[str, Any] | None = None
        with db.begin() as conn:
            if idempotency_key:
                prior = idempotency.claim(conn, actor.name, idempotency_key, request_hash or "")
                if prior is not None and prior.resource_id:
                    return int(prior.resource_id), None
            order = _order(conn, order_id, lock=True)
            ref = order_rules.order_number(int(order.id))
            order_lines = _order_lines(conn, order_id)
            policy, _, el = _eligibility(conn, order, order_lines, now)
            rx.check_request(requested, el, policy, m)
            if location:
                loc = _location(conn, location, "location")
                if m == rx.ReturnMethod.IN_STORE and not loc.accepts_returns:
                    raise validation_error("location", f"{location} does not accept returns")
                location_id: int | None = int(loc.id)
            else:
                location_id = _default_return_location(conn, order_id)
            status = ReturnStatus.APPROVED if approve else ReturnStatus.REQUESTED
            return_id = int(
                conn.execute(
                    insert(returns_t)
                    .values(
                        order_id=order_id,
                        status=status.value,
                        method=m.value,
                        location_id=location_id,
                        source=source,
                        note=note,
                        created_by=actor.name,
                        created_at=now,
                        updated_at=now,
                        version=1,
                    )
                    .returning(returns_t.c.id)
                ).scalar_one()
            )
            rma = rx.rma_number(return_id)
            by_number = {int(ln.line_number): ln for ln in order_lines}
            merged: dict[int, rx.RequestedLine] = {}
            for r in requested:
                prev = merged.get(r.line_number)
                merged[r.line_number] = (
                    r
                    if prev is None
                    else rx.RequestedLine(r.line_number, prev.quantity + r.quantity, prev.reason, prev.condition)
                )
            conn.execute(
                insert(rlines_t),
                [
                    {
                        "return_id": return_id,
                        "order_line_id": int(by_number[r.line_number].id),
                        "quantity": r.quantity,
                        "reason_code": r.reason.value,
                        "condition": r.condition.value if r.condition else None,
                        "quantity_received": 0,
                    }
                    for r in merged.values()
                ],
            )
            for r in merged.values():
                conn.execute(
                    update(lines_t)
                    .where(lines_t.c.id == by_number[r.line_number].id)
                    .values(quantity_returned=lines_t.c.quantity_returned + r.quantity)
                )
            summary = ", ".join(f"line {r.line_number} x {r.quantity} ({r.reason.value})" for r in merged.values())
            if exchange:
                exchange_info = exchanges.capture_replacement(
                    db, conn, order, return_id, rma, exchange, list(merged.values()), by_number, policy, actor, now
                )
            where = _location_code(conn, location_id)
            ret_info = {"id": return_id, "rma_number": rma, "status": status.value, "method": m.value}
            payload: dict[str, Any] = {
                "return": ret_info,
                "order": {"id": int(order.id), "order_number": ref},
                "lines": [
                    {"line_number": r.line_number, "quantity": r.quantity, "reason": r.reason.value}
                    for r in merged.values()
                ],
                "location": where,
                "source": source,
            }
            record_order_event(
                conn,
                order_id=int(order.id),
                event_type=EventType.RETURN_REQUESTED,
                actor=actor.name,
                message=f"Return {rma} requested ({m.value}"
                + (f" at {where}" if where else "")
                + f", {source}): {summary}"
                + ("; approved at once" if approve else ""),
                data={"rma": rma, "return_id": return_id, "lines": payload["lines"], "method": m.value},
                publish=payload,
                now=now,
            )
            if approve:
                record_order_event(
                    conn,
                    order_id=int(order.id),
                    event_type=EventType.RETURN_APPROVED,
                    actor=actor.name,
                    message=f"Return {rma} approved",
                    data={"rma": rma, "return_id": return_id},
                    publish={**payload, "return": {**ret_info, "status": ReturnStatus.APPROVED.value}},
                    now=now,
                )
            record_audit(
                conn,
                actor=actor.name,
                action="return.request",
                subject_type="return",
                subject_id=rma,
                message=f"Requested return {rma} of {ref}: {summary}",
                data={"order": ref, "method": m.value, "source": source, "exchange": exchange_info},
                now=now,
            )
            if idempotency_key:
                idempotency.complete(conn, actor.name, idempotency_key, "return", str(return_id))
            return return_id, exchange_info

    for attempt in range(MAX_ATTEMPTS):
        try:
            return_id, _ = once()
            break
        except stock_db.LostRace:  # the replacement order's stock moved under it: try again
            if attempt == MAX_ATTEMPTS - 1:
                raise DomainError(
                    ErrorCode.STOCK_CONFLICT,
                    "Stock for the replacement kept changing while it was being reserved; nothing was "
                    "changed, send the return again",
                ) from None
    exchanges.settle_after_request(db, return_id, actor)  # after the commit; a retry settles once
    return get_return(db, return_id)


def _location_code(conn: Connection, location_id: int | None) -> str | None:
    if location_id is None:
        return None
    return conn.execute(select(locations_t.c.code).where(locations_t.c.id == location_id)).scalar()


# --- status commands ----------------------------------------------------------------------------


def _lock_return(conn: Connection, return_id: int) -> tuple[Any, Any]:
    """Lock the order, then the return (the house order: order before its parts)."""
    order_id = conn.execute(select(returns_t.c.order_id).where(returns_t.c.id == return_id)).scalar()
    if order_id is None:
        raise NotFound("Return", rx.rma_number(return_id))
    order = _order(conn, int(order_id), lock=True)
    ret = conn.execute(select(returns_t).where(returns_t.c.id == return_id).with_for_update()).one()
    return order, ret


def _set_status(conn: Connection, return_id: int, status: ReturnStatus, now: dt.datetime, **values: Any) -> None:
    conn.execute(
        update(returns_t)
        .where(returns_t.c.id == return_id)
        .values(status=status.value, updated_at=now, version=returns_t.c.version + 1, **values)
    )


def _free_unreceived(conn: Connection, return_id: int) -> list[dict[str, int]]:
    """Units requested and not received no longer count against their order lines."""
    freed = []
    for rl in conn.execute(select(rlines_t).where(rlines_t.c.return_id == return_id)).all():
        left = int(rl.quantity) - int(rl.quantity_received)
        if left > 0:
            conn.execute(
                update(lines_t)
                .where(lines_t.c.id == rl.order_line_id)
                .values(quantity_returned=lines_t.c.quantity_returned - left)
            )
            freed.append({"order_line_id": int(rl.order_line_id), "quantity": left})
    return freed


def _event(
    conn: Connection,
    order: Any,
    ret: Any,
    event: EventType,
    status: ReturnStatus,
    actor: Actor,
    message: str,
    now: dt.datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    rma = rx.rma_number(int(ret.id))
    ref = order_rules.order_number(int(order.id))
    record_order_event(
        conn,
        order_id=int(order.id),
        event_type=event,
        actor=actor.name,
        message=message,
        data={"rma": rma, "return_id": int(ret.id), **(extra or {})},
        publish={
            "return": {"id": int(ret.id), "rma_number": rma, "status": status.value, "method": ret.method},
            "order": {"id": int(order.id), "order_number": ref},
            **(extra or {}),
        },
        now=now,
    )
    record_audit(
        conn,
        actor=actor.name,
        action=str(event.value),
        subject_type="return",
        subject_id=rma,
        message=message,
        data=extra,
        now=now,
    )


def approve_return(db: Database, return_id: int, *, actor: Actor) -> dict[str, Any]:
    """The merchant agrees: the customer may send (label) or bring the units."""
    now = utcnow()
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        rx.check_transition(rma, ReturnStatus(ret.status), ReturnStatus.APPROVED)
        _set_status(conn, return_id, ReturnStatus.APPROVED, now)
        _event(conn, order, ret, EventType.RETURN_APPROVED, ReturnStatus.APPROVED, actor, f"Return {rma} approved", now)
    return get_return(db, return_id)


def reject_return(db: Database, return_id: int, *, reason: str, actor: Actor) -> dict[str, Any]:
    """Refuse a requested return, with the reason the customer is told; its units are free to
    be requested again."""
    text = _check_text(reason, "reason", MAX_REASON)
    if not text:
        raise validation_error("reason", "say why the return is rejected")
    now = utcnow()
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        rx.check_transition(rma, ReturnStatus(ret.status), ReturnStatus.REJECTED)
        _free_unreceived(conn, return_id)
        _set_status(conn, return_id, ReturnStatus.REJECTED, now, reason=text)
        _event(
            conn,
            order,
            ret,
            EventType.RETURN_REJECTED,
            ReturnStatus.REJECTED,
            actor,
            f"Return {rma} rejected: {text}",
            now,
            {"reason": text},
        )
    _cancel_replacement(db, ret, f"return {rma} was rejected", actor)
    return get_return(db, return_id)


def cancel_return(db: Database, return_id: int, *, actor: Actor, reason: str | None = None) -> dict[str, Any]:
    """Withdraw a return before anything came back (the customer changed their mind). An
    exchange's replacement order is cancelled too while nothing of it has shipped."""
    text = _check_text(reason, "reason", MAX_REASON)
    now = utcnow()
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        rx.check_transition(rma, ReturnStatus(ret.status), ReturnStatus.CANCELLED)
        _free_unreceived(conn, return_id)
        _set_status(conn, return_id, ReturnStatus.CANCELLED, now, reason=text)
        _event(
            conn,
            order,
            ret,
            EventType.RETURN_CANCELLED,
            ReturnStatus.CANCELLED,
            actor,
            f"Return {rma} cancelled" + (f": {text}" if text else ""),
            now,
            {"reason": text},
        )
    _cancel_replacement(db, ret, f"return {rma} was cancelled", actor)
    return get_return(db, return_id)


def _cancel_replacement(db: Database, ret: Any, why: str, actor: Actor) -> None:
    """An exchange whose return will not come back loses its replacement, unless it has left a
    building already (then it is the customer service's call: the timeline says so)."""
    if ret.exchange_order_id is None:
        return
    from openoms.services import orders

    try:
        orders.cancel_order(db, int(ret.exchange_order_id), f"replacement not sent: {why}", actor)
    except DomainError as exc:
        if exc.code not in (ErrorCode.ILLEGAL_TRANSITION, ErrorCode.NOT_FOUND):
            raise


def close_return(db: Database, return_id: int, *, actor: Actor, reason: str | None = None) -> dict[str, Any]:
    """Close a return: after its refund, or without one (what came back is not refundable, or
    the rest will not come); units still expected are freed on their order lines."""
    text = _check_text(reason, "reason", MAX_REASON)
    now = utcnow()
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        current = ReturnStatus(ret.status)
        rx.check_transition(rma, current, ReturnStatus.CLOSED)
        if current != ReturnStatus.REFUNDED and not text:
            raise validation_error("reason", "say why the return is closed without a refund")
        _free_unreceived(conn, return_id)
        _set_status(conn, return_id, ReturnStatus.CLOSED, now, reason=text or ret.reason)
        _event(
            conn,
            order,
            ret,
            EventType.RETURN_CLOSED,
            ReturnStatus.CLOSED,
            actor,
            f"Return {rma} closed" + (f": {text}" if text else ""),
            now,
            {"reason": text},
        )
    return get_return(db, return_id)


# --- label --------------------------------------------------------------------------------------


def return_label_pdf(db: Database, return_id: int, *, actor: Actor | None = None) -> bytes:
    """The 4 x 6 return label for a mail return: from the customer's shipping address to the
    receiving location, with the RMA number as its Code 128 barcode. Printing the first one
    moves an approved return to ``label_issued``; reprints change nothing."""
    from openoms.adapters.documents.label import label_pdf
    from openoms.adapters.documents.model import ShippingLabel
    from openoms.services.documents import _ship_from, _ship_to

    who = actor or Actor("system")
    now = utcnow()
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        ref = order_rules.order_number(int(order.id))
        status = ReturnStatus(ret.status)
        if ret.method != rx.ReturnMethod.MAIL.value:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"Return {rma} is brought to a store: it has no return label",
                extra={"current_status": status.value, "attempted": "label"},
            )
        if status not in (ReturnStatus.APPROVED, ReturnStatus.LABEL_ISSUED, ReturnStatus.PARTIALLY_RECEIVED):
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"Return {rma} is {status.value}: a label is printed once it is approved and until it is received",
                extra={"current_status": status.value, "attempted": "label"},
            )
        if ret.location_id is None:
            raise validation_error("location", f"return {rma} has no receiving location to send it to")
        dest = conn.execute(select(locations_t).where(locations_t.c.id == ret.location_id)).one()
        weight = conn.execute(
            select(func.coalesce(func.sum(products_t.c.weight_grams * rlines_t.c.quantity), 0))
            .select_from(rlines_t)
            .join(lines_t, lines_t.c.id == rlines_t.c.order_line_id)
            .join(products_t, products_t.c.id == lines_t.c.product_id)
            .where(rlines_t.c.return_id == return_id)
        ).scalar_one()
        customer_addr = _ship_to(order.shipping_address, ref)
        label = ShippingLabel(
            carrier="RETURN",
            service_name="Return",
            service_code="RETURN",
            tracking_number=rma,
            ship_from=customer_addr,
            ship_to=_ship_from(dest),
            weight_grams=max(int(weight or 0), 1),
            order_number=f"{ref} / {rma}",
            ship_date=now.date(),
            routing_code=dest.code,
        )
        pdf = label_pdf(label)
        if status == ReturnStatus.APPROVED:
            _set_status(conn, return_id, ReturnStatus.LABEL_ISSUED, now, label_tracking_number=rma)
            _event(
                conn,
                order,
                ret,
                EventType.RETURN_LABEL_ISSUED,
                ReturnStatus.LABEL_ISSUED,
                who,
                f"Return label printed for {rma}, to {dest.code}",
                now,
                {"tracking_number": rma, "location": dest.code},
            )
    return pdf


# --- receiving ----------------------------------------------------------------------------------


def _parse_receipts(lines: Sequence[dict[str, Any]]) -> list[rx.Receipt]:
    errors: list[FieldError] = []
    out: list[rx.Receipt] = []
    for i, ln in enumerate(lines):
        number, qty = ln.get("line_number"), ln.get("quantity")
        cond, disp = ln.get("condition"), ln.get("disposition")
        ok = True
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            errors.append(FieldError(f"lines[{i}].line_number", "must be a line number (1 or more)"))
            ok = False
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
            ok = False
        if cond not in rx.Condition.__members__.values():
            errors.append(FieldError(f"lines[{i}].condition", f"one of {', '.join(c.value for c in rx.Condition)}"))
            ok = False
        if disp not in rx.Disposition.__members__.values():
            errors.append(FieldError(f"lines[{i}].disposition", f"one of {', '.join(d.value for d in rx.Disposition)}"))
            ok = False
        if ok:
            assert isinstance(number, int) and isinstance(qty, int)
            out.append(rx.Receipt(number, qty, rx.Condition(str(cond)), rx.Disposition(str(disp))))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    return out


def _return_lines(conn: Connection, return_id: int) -> list[Any]:
    return list(
        conn.execute(
            select(
                rlines_t,
                lines_t.c.line_number,
                lines_t.c.sku,
                lines_t.c.product_id,
                lines_t.c.quantity.label("ordered"),
                lines_t.c.unit_price,
                lines_t.c.discount,
                lines_t.c.tax,
                products_t.c.name.label("product_name"),
            )
            .join(lines_t, lines_t.c.id == rlines_t.c.order_line_id)
            .join(products_t, products_t.c.id == lines_t.c.product_id)
            .where(rlines_t.c.return_id == return_id)
            .order_by(lines_t.c.line_number)
        ).all()
    )


def receive_return(
    db: Database, return_id: int, *, location: str, lines: list[dict[str, Any]], actor: Actor
) -> dict[str, Any]:
    """Units came back at ``location`` and were inspected: per line, how many, their condition
    and disposition. Restocked units go back on hand through the ledger (``restock`` rows), so
    backorders waiting at that location are served; refurbished and written-off units are
    counted on the return and never become available. Partial receipts add up; more than is
    still expected is refused, even when two desks receive the same return at once (the
    return row is locked)."""
    receipts = _parse_receipts(lines)
    now = utcnow()
    with db.begin() as conn:
        loc = _location(conn, (location or "").strip(), "location")
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        policy, _ = policy_for(conn, int(order.channel_id))
        rlines = _return_lines(conn, return_id)
        by_number = {int(r.line_number): r for r in rlines}
        outstanding = {n: int(r.quantity) - int(r.quantity_received) for n, r in by_number.items()}
        target = rx.check_receipt(rma, ReturnStatus(ret.status), receipts, outstanding, policy)
        got: dict[int, int] = defaultdict(int)
        restock: dict[str, int] = defaultdict(int)
        for r in receipts:
            rl = by_number[r.line_number]
            got[r.line_number] += r.quantity
            conn.execute(
                insert(insp_t).values(
                    return_line_id=int(rl.id),
                    location_id=int(loc.id),
                    quantity=r.quantity,
                    condition=r.condition.value,
                    disposition=r.disposition.value,
                    inspected_by=actor.name,
                    inspected_at=now,
                )
            )
            if r.disposition == rx.Disposition.RESTOCK:
                restock[rl.sku] += r.quantity
        for n, q in got.items():
            # Conditional: the CHECK (received <= quantity) is the last line; the lock the first.
            conn.execute(
                update(rlines_t)
                .where(rlines_t.c.id == by_number[n].id)
                .values(quantity_received=rlines_t.c.quantity_received + q)
            )
        levels = []
        if restock:
            levels = inventory.apply_stock_changes(
                conn,
                [
                    inventory.StockChange(sku, loc.code, LedgerEntryType.RESTOCK, q, f"return {rma}", rma)
                    for sku, q in sorted(restock.items())
                ],
                actor,
            )
        _set_status(conn, return_id, target, now)
        summary = "; ".join(
            f"line {r.line_number} x {r.quantity} {r.condition.value} -> {r.disposition.value}" for r in receipts
        )
        _event(
            conn,
            order,
            ret,
            EventType.RETURN_RECEIVED,
            target,
            actor,
            f"Return {rma} received at {loc.code}: {summary}"
            + ("; every unit is back" if target == ReturnStatus.RECEIVED else "; more units expected"),
            now,
            {
                "location": loc.code,
                "complete": target == ReturnStatus.RECEIVED,
                "lines": [
                    {
                        "line_number": r.line_number,
                        "quantity": r.quantity,
                        "condition": r.condition.value,
                        "disposition": r.disposition.value,
                    }
                    for r in receipts
                ],
                "restocked": [{"sku": lv["sku"], "location": lv["location"], "delta": lv["delta"]} for lv in levels],
            },
        )
    return get_return(db, return_id)


# --- refund -------------------------------------------------------------------------------------


def _quote(
    conn: Connection,
    order: Any,
    ret: Any,
    *,
    waive_fee: bool | None = None,
    units: dict[int, int] | None = None,
) -> rx.RefundQuote:
    """The refund for what this return has received so far, given earlier refunds (``units``:
    per order line id, count these units instead, e.g. all requested for an exchange's credit)."""
    cur = order.currency
    policy, _ = policy_for(conn, int(order.channel_id))
    rlines = _return_lines(conn, int(ret.id))
    others = conn.execute(
        select(returns_t.c.id, returns_t.c.refund_breakdown, returns_t.c.refund_amount).where(
            returns_t.c.order_id == order.id,
            returns_t.c.id != ret.id,
            or_(returns_t.c.refunded_at.is_not(None), returns_t.c.refund_key.is_not(None)),
        )
    ).all()
    other_ids = [int(o.id) for o in others]
    before: dict[int, int] = defaultdict(int)
    if other_ids:
        for r in conn.execute(
            select(rlines_t.c.order_line_id, rlines_t.c.quantity_received).where(rlines_t.c.return_id.in_(other_ids))
        ):
            before[int(r.order_line_id)] += int(r.quantity_received)
    shipping_before = sum(
        (Decimal(str((o.refund_breakdown or {}).get("components", {}).get("shipping", "0"))) for o in others),
        Decimal(0),
    )
    refunded_before = sum(
        (
            Decimal(o.refund_amount)
            if o.refund_amount is not None
            else Decimal(
                str((o.refund_breakdown or {}).get("refund_due", (o.refund_breakdown or {}).get("total", "0")))
            )
            for o in others
        ),
        Decimal(0),
    )
    order_lines = conn.execute(
        select(
            lines_t.c.id, lines_t.c.quantity, lines_t.c.quantity_shipped, lines_t.c.quantity_cancelled, lines_t.c.tax
        ).where(lines_t.c.order_id == order.id)
    ).all()
    now_units = units if units is not None else {int(r.order_line_id): int(r.quantity_received) for r in rlines}
    whole = all(
        int(ln.quantity_shipped) + int(ln.quantity_cancelled) == int(ln.quantity)
        and before.get(int(ln.id), 0) + now_units.get(int(ln.id), 0) >= int(ln.quantity_shipped)
        for ln in order_lines
    ) and any(int(ln.quantity_shipped) > 0 for ln in order_lines)
    line_tax = sum((Decimal(ln.tax) for ln in order_lines), Decimal(0))
    shipping_tax = max(Decimal(order.tax_total) - line_tax, Decimal(0))
    refundable = _refundable(conn, order, refunded_before)
    exchange = ret.exchange_order_id is not None
    return rx.refund_quote(
        [
            rx.RefundLine(
                line_number=int(r.line_number),
                sku=r.sku,
                quantity=int(r.ordered),
                unit_price=Decimal(r.unit_price),
                discount=Decimal(r.discount),
                tax=Decimal(r.tax),
                units_credited_before=before.get(int(r.order_line_id), 0),
                units_now=now_units.get(int(r.order_line_id), 0),
                reason=rx.ReasonCode(r.reason_code),
            )
            for r in rlines
        ],
        rx.OrderMoney(
            currency=cur,
            shipping_total=Decimal(order.shipping_total),
            shipping_tax=shipping_tax,
            shipping_refunded_before=shipping_before,
            refundable=refundable,
            whole_order_back=whole,
        ),
        policy,
        waive_fee=exchange if waive_fee is None else waive_fee,
    )


def _refundable(conn: Connection, order: Any, refunded_by_returns: Decimal) -> Decimal:
    """What may still go back: captured minus refunded (and refunds in flight) over the order's
    payments, as the payments service will enforce. An order with no payment recorded here
    (paid on the channel) is capped at its total minus what its returns refunded."""
    rows = conn.execute(
        select(pay_t.c.amount_captured, pay_t.c.amount_refunded, pay_t.c.amount_refund_pending).where(
            pay_t.c.order_id == order.id
        )
    ).all()
    if not rows:
        return Decimal(order.grand_total) - refunded_by_returns
    return sum(
        (Decimal(r.amount_captured) - Decimal(r.amount_refunded) - Decimal(r.amount_refund_pending) for r in rows),
        Decimal(0),
    )


def _quote_dict(conn: Connection, q: rx.RefundQuote, ret: Any) -> dict[str, Any]:
    cur = q.currency
    out: dict[str, Any] = {
        "currency": cur,
        "lines": [
            {k: (money.quantize(v, cur) if isinstance(v, Decimal) else v) for k, v in ln.items()} for ln in q.lines
        ],
        "components": {k: money.quantize(v, cur) for k, v in q.components.items()},
        "total": money.quantize(q.total, cur),
        "notes": list(q.notes),
    }
    if ret.exchange_order_id is not None:
        from openoms.services import exchanges

        out.update(exchanges.exchange_refund_view(conn, ret, q))
    return out


def refund_quote(db: Database, return_id: int) -> dict[str, Any]:
    """What the refund for this return is now (for what has come back), line by line and per
    component, with why shipping is or is not included and any restocking fee."""
    with db.read() as conn:
        ret = conn.execute(select(returns_t).where(returns_t.c.id == return_id)).first()
        if ret is None:
            raise NotFound("Return", rx.rma_number(return_id))
        order = _order(conn, int(ret.order_id))
        q = _quote(conn, order, ret)
        return _quote_dict(conn, q, ret)


def issue_return_refund(db: Database, return_id: int, *, actor: Actor, idempotency_key: str) -> dict[str, Any]:
    """Refund what came back to the original payment method. Intent first: the quote and the
    key are fixed on the return in one unit of work (a second caller, whatever its key, reuses
    them, so the return is refunded once); the payments service is called after that commits;
    the result is recorded in a second unit of work. An exchange refunds only the difference,
    if the replacement was cheaper (kind ``exchange``). A refund the provider refuses leaves
    the return as it was (and the payment flagged for review): try again with a new key."""
    if not idempotency_key or len(idempotency_key) > 200:
        raise validation_error("Idempotency-Key", "required, at most 200 characters")
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        rma = rx.rma_number(return_id)
        status = ReturnStatus(ret.status)
        done = ret.refunded_at is not None
        if not done and status not in rx.REFUNDABLE:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"Return {rma} is {status.value}: a refund is issued once units have come back",
                extra={"current_status": status.value, "attempted": ReturnStatus.REFUNDED.value},
            )
        intent = ret.refund_breakdown or {}
        if not done and not ret.refund_key:
            # Fixed before the call: later callers, and other returns' quotes, count it.
            quote = _quote_dict(conn, _quote(conn, order, ret), ret)
            intent = _jsonable(quote)
            conn.execute(
                update(returns_t)
                .where(returns_t.c.id == return_id)
                .values(refund_breakdown=intent, refund_key=f"return:{rma}:{idempotency_key}")
            )
            key = f"return:{rma}:{idempotency_key}"
        else:
            key = str(ret.refund_key or "")
    if done:  # refunded before: the same answer
        return get_return(db, return_id)
    amount = Decimal(str(intent.get("refund_due", intent["total"])))
    kind = "exchange" if ret.exchange_order_id is not None else "return"
    result: dict[str, Any] | None = None
    if amount > 0:
        from openoms.services import payments

        result = payments.refund(
            db,
            int(order.id),
            amount,
            reason=f"{rma}: "
            + ", ".join(f"line {ln['line_number']} x {ln['quantity']}" for ln in intent.get("lines", [])),
            kind=kind,
            actor=actor,
            idempotency_key=key,
            return_id=return_id,
        )
    now = utcnow()
    failed = result is not None and result.get("status") == "failed"
    with db.begin() as conn:
        order, ret = _lock_return(conn, return_id)
        done = ret.refunded_at is not None  # a concurrent caller recorded it first
        refund_id = str(result["id"]) if result and result.get("id") is not None else None
        if done:
            pass
        elif failed:
            conn.execute(
                update(returns_t).where(returns_t.c.id == return_id).values(refund_breakdown=sa_null(), refund_key=None)
            )
            _event(
                conn,
                order,
                ret,
                EventType.RETURN_REFUND_FAILED,
                ReturnStatus(ret.status),
                actor,
                f"Refund of {amount} {order.currency} for {rma} refused by the payment provider (refund {refund_id})",
                now,
                {"amount": str(amount), "currency": order.currency, "refund_id": refund_id, "kind": kind},
            )
        else:
            rx.check_transition(rma, ReturnStatus(ret.status), ReturnStatus.REFUNDED)
            _free_unreceived(conn, return_id)
            _set_status(
                conn,
                return_id,
                ReturnStatus.REFUNDED,
                now,
                refund_id=refund_id,
                refund_amount=amount,
                refund_breakdown=intent,
                refunded_at=now,
            )
            _event(
                conn,
                order,
                ret,
                EventType.RETURN_REFUNDED,
                ReturnStatus.REFUNDED,
                actor,
                f"Refund of {amount} {order.currency} for {rma}"
                + (f" ({kind})" if kind != "return" else "")
                + (f"; refund {refund_id} {result['status']}" if result and refund_id else "; nothing to pay back"),
                now,
                {"amount": str(amount), "currency": order.currency, "refund_id": refund_id, "kind": kind},
            )
    if failed and not done:
        raise DomainError(
            ErrorCode.ILLEGAL_TRANSITION,
            f"The payment provider refused the refund of {amount} {order.currency} for {rma}; the return is "
            "unchanged and the payment is flagged for review. Try again with a new Idempotency-Key.",
            extra={"current_status": ret.status, "attempted": ReturnStatus.REFUNDED.value, "refund_id": refund_id},
        )
    return get_return(db, return_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


# --- reading ------------------------------------------------------------------------------------


def _return_select() -> Any:
    return (
        select(
            returns_t,
            orders_t.c.currency,
            orders_t.c.customer_id,
            channels_t.c.code.label("channel"),
            locations_t.c.code.label("location"),
            customers_t.c.email.label("customer_email"),
            customers_t.c.name.label("customer_name"),
        )
        .join(orders_t, orders_t.c.id == returns_t.c.order_id)
        .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
        .outerjoin(locations_t, locations_t.c.id == returns_t.c.location_id)
        .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
    )


def _summary(row: Any, units: int = 0, received: int = 0) -> dict[str, Any]:
    cur = row.currency
    return {
        "id": int(row.id),
        "rma_number": rx.rma_number(int(row.id)),
        "order_id": int(row.order_id),
        "order_number": order_rules.order_number(int(row.order_id)),
        "channel": row.channel,
        "status": row.status,
        "method": row.method,
        "location": row.location,
        "source": row.source,
        "customer_email": row.customer_email,
        "customer_name": row.customer_name,
        "reason": row.reason,
        "note": row.note,
        "currency": cur,
        "units": units,
        "units_received": received,
        "label_tracking_number": row.label_tracking_number,
        "exchange_order_id": row.exchange_order_id,
        "exchange_order_number": order_rules.order_number(int(row.exchange_order_id))
        if row.exchange_order_id
        else None,
        "exchange_difference": money.quantize(Decimal(row.exchange_difference), cur)
        if row.exchange_difference is not None
        else None,
        "refund_id": row.refund_id,
        "refund_amount": money.quantize(Decimal(row.refund_amount), cur) if row.refund_amount is not None else None,
        "refunded_at": row.refunded_at,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def list_returns(
    db: Database,
    *,
    status: str | None = None,
    location: str | None = None,
    q: str | None = None,
    order_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Returns, newest first, one keyset page at a time. ``status`` may be ``open`` (every
    status still on the queue); ``q`` finds an RMA number, an order number or a customer's
    e-mail (any part)."""
    after = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_RETURN_LIST))
    where: list[Any] = []
    if status:
        if status == "open":
            where.append(returns_t.c.status.in_([s.value for s in rx.OPEN]))
        elif status in ReturnStatus.__members__.values():
            where.append(returns_t.c.status == status)
        else:
            raise validation_error("status", f"open or one of {', '.join(s.value for s in ReturnStatus)}")
    if location:
        where.append(locations_t.c.code == location)
    if order_id is not None:
        where.append(returns_t.c.order_id == order_id)
    text = (q or "").strip()
    if text:
        rid, oid = rx.parse_rma_number(text), order_rules.parse_order_number(text)
        if rid is not None:
            where.append(returns_t.c.id == rid)
        elif oid is not None:
            where.append(or_(returns_t.c.order_id == oid, returns_t.c.exchange_order_id == oid))
        else:
            where.append(func.lower(customers_t.c.email).contains(text.lower(), autoescape=True))
    if after is not None:
        where.append(returns_t.c.id < after)
    with db.read() as conn:
        rows = conn.execute(_return_select().where(*where).order_by(returns_t.c.id.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        ids = [int(r.id) for r in page]
        counts: dict[int, tuple[int, int]] = {}
        if ids:
            for c in conn.execute(
                select(
                    rlines_t.c.return_id,
                    func.sum(rlines_t.c.quantity),
                    func.sum(rlines_t.c.quantity_received),
                )
                .where(rlines_t.c.return_id.in_(ids))
                .group_by(rlines_t.c.return_id)
            ):
                counts[int(c[0])] = (int(c[1] or 0), int(c[2] or 0))
    items = [_summary(r, *counts.get(int(r.id), (0, 0))) for r in page]
    return {
        "items": items,
        "next_cursor": encode_cursor(ids[-1]) if len(rows) > limit and ids else None,
    }


def get_return(db: Database, return_id: int) -> dict[str, Any]:
    """One return with its lines, inspections, the refund quote (or the refund made), the
    exchange order and its timeline entries."""
    with db.read() as conn:
        row = conn.execute(_return_select().where(returns_t.c.id == return_id)).first()
        if row is None:
            raise NotFound("Return", rx.rma_number(return_id))
        order = _order(conn, int(row.order_id))
        rlines = _return_lines(conn, return_id)
        cur = row.currency
        out = _summary(row, sum(int(r.quantity) for r in rlines), sum(int(r.quantity_received) for r in rlines))
        out["lines"] = [
            {
                "id": int(r.id),
                "order_line_id": int(r.order_line_id),
                "line_number": int(r.line_number),
                "sku": r.sku,
                "name": r.product_name,
                "quantity": int(r.quantity),
                "quantity_received": int(r.quantity_received),
                "quantity_outstanding": int(r.quantity) - int(r.quantity_received),
                "reason": r.reason_code,
                "condition": r.condition,
                "unit_price": money.quantize(Decimal(r.unit_price), cur),
            }
            for r in rlines
        ]
        line_no = {int(r.id): (int(r.line_number), r.sku) for r in rlines}
        out["inspections"] = [
            {
                "line_number": line_no[int(i.return_line_id)][0],
                "sku": line_no[int(i.return_line_id)][1],
                "location": i.location,
                "quantity": int(i.quantity),
                "condition": i.condition,
                "disposition": i.disposition,
                "inspected_by": i.inspected_by,
                "inspected_at": i.inspected_at,
            }
            for i in conn.execute(
                select(insp_t, locations_t.c.code.label("location"))
                .join(locations_t, locations_t.c.id == insp_t.c.location_id)
                .where(insp_t.c.return_line_id.in_(list(line_no) or [0]))
                .order_by(insp_t.c.id)
            ).all()
        ]
        dispositions: dict[str, int] = defaultdict(int)
        for i in out["inspections"]:
            dispositions[i["disposition"]] += i["quantity"]
        out["dispositions"] = dict(dispositions)
        status = ReturnStatus(row.status)
        if row.refunded_at is not None:
            out["quote"] = row.refund_breakdown
        elif status in rx.REFUNDABLE or status in rx.RECEIVABLE:
            out["quote"] = _quote_dict(conn, _quote(conn, order, row), row)
        else:
            out["quote"] = None
        out["refund"] = (
            {"id": row.refund_id, "amount": out["refund_amount"], "at": row.refunded_at, "currency": cur}
            if row.refunded_at is not None
            else None
        )
        out["exchange"] = None
        if row.exchange_order_id is not None:
            ex = conn.execute(
                select(orders_t.c.id, orders_t.c.status, orders_t.c.grand_total).where(
                    orders_t.c.id == row.exchange_order_id
                )
            ).first()
            if ex is not None:
                out["exchange"] = {
                    "order_id": int(ex.id),
                    "order_number": order_rules.order_number(int(ex.id)),
                    "status": ex.status,
                    "grand_total": money.quantize(Decimal(ex.grand_total), cur),
                    "difference": out["exchange_difference"],
                }
        rma = out["rma_number"]
        out["timeline"] = [
            {
                "event_type": e.event_type,
                "actor": e.actor,
                "message": e.message,
                "data": e.data,
                "created_at": e.created_at,
            }
            for e in conn.execute(
                select(events_t)
                .where(
                    events_t.c.order_id.in_(
                        [int(row.order_id), *([int(row.exchange_order_id)] if row.exchange_order_id else [])]
                    )
                )
                .where(events_t.c.event_type.like("return.%"))
                .order_by(events_t.c.id)
            ).all()
            if (e.data or {}).get("rma") == rma
        ]
        out["policy"] = _policy_dict(*policy_for(conn, int(order.channel_id)), row.channel)
    return out


def return_id_of(ref: str) -> int:
    """The return a path names, by id (12) or RMA number (RMA-0000012); 422 otherwise."""
    num = int(ref) if ref.isascii() and ref.isdigit() else rx.parse_rma_number(ref)
    if num is None or num > 2**63 - 1:
        raise validation_error("return", f"{ref!r} is neither a return id nor an RMA number like RMA-0000012")
    return num
