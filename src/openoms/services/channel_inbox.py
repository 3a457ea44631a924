"""The channel inbox: every message a channel sends is stored first, then turned into orders.

Storing before mapping is what makes channel intake safe: a re-delivered webhook or an
overlapping poll window finds its ``(channel, dedupe_key)`` already there and changes nothing;
a payload an adapter cannot map stays as a *dead letter* with the adapter's reason, visible in
the back office and retried after the fix (a SKU created, a partner setting corrected); and
capture itself is idempotent on ``(channel, external_order_id)``, so processing a message twice
(two workers, a retry after a crash) still makes one order. See docs/channels.md, ADR 31.

Mappers are registered per topic prefix (``x12/`` for EDI); each reads the stored message and
returns canonical order changes (adapters/channels/base.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.channels.base import ChangeKind, ChannelOrderChange, InboundMessage, MappingError
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import Channel, ChannelInboxMessage, Order, table
from openoms.domain.errors import DomainError, ErrorCode, NotFound, validation_error
from openoms.services import orders
from openoms.services.common import MAX_ID, Actor, as_utc, decode_cursor, encode_cursor, utcnow

inbox_t = table(ChannelInboxMessage)
channels_t = table(Channel)
orders_t = table(Order)

STATUSES = ("received", "processed", "dead", "ignored")
#: The reason kept on a cancellation that arrived before its order; a later create checks it.
CANCELLED_FIRST = "cancelled before the order reached OpenOMS"


class Skip(Exception):
    """Nothing to do for this message, on purpose: it is marked ignored with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoredMessage:
    id: int
    channel: str
    channel_currency: str
    source: str
    topic: str
    body: str
    content_type: str


#: What turns a stored message into order changes, by topic prefix.
Mapper = Callable[[Database, StoredMessage], Sequence[ChannelOrderChange]]
#: Called after a change was applied (EDI sends its 855 here); errors are recorded, not raised.
AfterApply = Callable[[Database, StoredMessage, ChannelOrderChange, dict[str, Any] | None], None]

_MAPPERS: dict[str, Mapper] = {}
_AFTER: dict[str, AfterApply] = {}


def register(topic_prefix: str, mapper: Mapper, after_apply: AfterApply | None = None) -> None:
    _MAPPERS[topic_prefix] = mapper
    if after_apply is not None:
        _AFTER[topic_prefix] = after_apply


def _handler(topic: str) -> tuple[Mapper, AfterApply | None]:
    from openoms.services import (  # noqa: F401  (they register their mappers)
        channel_polling,
        channel_webhooks,
        edi,
        order_import,
    )

    for prefix, mapper in _MAPPERS.items():
        if topic.startswith(prefix):
            return mapper, _AFTER.get(prefix)
    raise MappingError("topic", f"no channel adapter reads {topic!r} messages")


def _channel(conn: Connection, code: str) -> Any:
    row = conn.execute(
        select(channels_t.c.id, channels_t.c.code, channels_t.c.currency).where(channels_t.c.code == code)
    ).first()
    if row is None:
        raise DomainError(ErrorCode.UNKNOWN_CHANNEL, f"Channel {code} does not exist")
    return row


def receive(db: Database, message: InboundMessage) -> dict[str, Any]:
    """Store a message once. Returns the row's id and whether it was new."""
    if not message.dedupe_key or len(message.dedupe_key) > 255:
        raise validation_error("dedupe_key", "must be 1 to 255 characters")
    with db.begin() as conn:
        channel = _channel(conn, message.channel)
        existing = conn.execute(
            select(inbox_t.c.id, inbox_t.c.status).where(
                inbox_t.c.channel_id == channel.id, inbox_t.c.dedupe_key == message.dedupe_key
            )
        ).first()
        if existing is not None:
            return {"id": int(existing.id), "created": False, "status": existing.status}
        inbox_id = _insert(conn, channel.id, message)
        if inbox_id is None:  # a concurrent delivery of the same message won the insert
            row = conn.execute(
                select(inbox_t.c.id, inbox_t.c.status).where(
                    inbox_t.c.channel_id == channel.id, inbox_t.c.dedupe_key == message.dedupe_key
                )
            ).one()
            return {"id": int(row.id), "created": False, "status": row.status}
    return {"id": inbox_id, "created": True, "status": "received"}


def _insert(conn: Connection, channel_id: int, message: InboundMessage) -> int | None:
    values = {
        "channel_id": channel_id,
        "source": message.source,
        "topic": message.topic,
        "dedupe_key": message.dedupe_key,
        "external_order_id": message.external_order_id,
        "content_type": message.content_type,
        "body": message.body,
        "status": "received",
        "received_at": utcnow(),
    }
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    ins = dialect_insert(inbox_t).values(**values).on_conflict_do_nothing().returning(inbox_t.c.id)
    got = conn.execute(ins).scalar()
    return int(got) if got is not None else None


def record_dead(db: Database, message: InboundMessage, reason: str) -> dict[str, Any]:
    """Keep a message that could not even be split into orders (a broken EDI envelope)."""
    stored = receive(db, message)
    if stored["created"]:
        with db.begin() as conn:
            conn.execute(
                update(inbox_t)
                .where(inbox_t.c.id == stored["id"])
                .values(status="dead", reason=reason, attempts=1, processed_at=utcnow())
            )
        stored["status"] = "dead"
    return stored


def _load(conn: Connection, inbox_id: int) -> tuple[StoredMessage, str]:
    row = conn.execute(
        select(inbox_t, channels_t.c.code.label("channel_code"), channels_t.c.currency.label("channel_currency"))
        .join(channels_t, channels_t.c.id == inbox_t.c.channel_id)
        .where(inbox_t.c.id == inbox_id)
    ).first()
    if row is None:
        raise NotFound("Inbox message", inbox_id)
    return (
        StoredMessage(
            int(row.id), row.channel_code, row.channel_currency, row.source, row.topic, row.body, row.content_type
        ),
        row.status,
    )


def _capture_command(body: Mapping[str, Any]) -> orders.CaptureOrder:
    """The canonical body as a capture command; shape problems become mapping errors."""
    try:
        lines = [
            orders.LineInput(
                sku=str(ln["sku"]),
                quantity=int(ln["quantity"]),
                unit_price=Decimal(str(ln["unit_price"])),
                discount=Decimal(str(ln.get("discount", 0))),
                tax=Decimal(str(ln.get("tax", 0))),
                external_line_id=ln.get("external_line_id"),
            )
            for ln in body["lines"]
        ]
        customer = body.get("customer")
        return orders.CaptureOrder(
            channel=str(body["channel"]),
            external_order_id=body.get("external_order_id"),
            currency=str(body["currency"]),
            lines=lines,
            customer=orders.CustomerInput(customer["email"], customer.get("name"), customer.get("phone"))
            if customer
            else None,
            shipping_address=body.get("shipping_address"),
            billing_address=body.get("billing_address"),
            shipping_total=Decimal(str(body.get("shipping_total", 0))),
            shipping_tax=Decimal(str(body.get("shipping_tax", 0))),
            service_level=body.get("service_level", "standard"),
            placed_at=_when(body.get("placed_at")),
            notes=body.get("notes"),
            language=body.get("language"),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise MappingError("order", f"the adapter's order is incomplete: {type(exc).__name__} {exc}") from exc


def _when(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _find_order(db: Database, channel: str, external_order_id: str) -> int | None:
    with db.read() as conn:
        got = conn.execute(
            select(orders_t.c.id)
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .where(channels_t.c.code == channel, orders_t.c.external_order_id == external_order_id)
        ).scalar()
    return int(got) if got is not None else None


def _cancelled_first(db: Database, msg: StoredMessage, external_order_id: str) -> bool:
    with db.read() as conn:
        return (
            conn.execute(
                select(inbox_t.c.id)
                .join(channels_t, channels_t.c.id == inbox_t.c.channel_id)
                .where(
                    channels_t.c.code == msg.channel,
                    inbox_t.c.external_order_id == external_order_id,
                    inbox_t.c.status == "ignored",
                    inbox_t.c.reason.like(f"{CANCELLED_FIRST}%"),
                )
                .limit(1)
            ).first()
            is not None
        )


def _apply(db: Database, msg: StoredMessage, change: ChannelOrderChange, actor: Actor) -> dict[str, Any] | None:
    if change.kind == ChangeKind.CREATE:
        assert change.order is not None
        if _find_order(db, msg.channel, change.external_order_id) is None and _cancelled_first(
            db, msg, change.external_order_id
        ):
            raise Skip(f"{msg.channel} cancelled order {change.external_order_id} before it arrived; not created")
        result = orders.capture_order(db, _capture_command(change.order), actor)
        return {"order_id": result.order_id, "created": result.created, "order": result.order}
    if change.kind == ChangeKind.CANCEL:
        order_id = _find_order(db, msg.channel, change.external_order_id)
        if order_id is None:
            raise Skip(f"{CANCELLED_FIRST} ({change.reason or 'cancelled'}); a late create of it makes no order")
        order = orders.get_order(db, order_id)
        if order["status"] != "cancelled":
            orders.cancel_order(db, order_id, change.reason or f"cancelled by {msg.channel}", actor)
        return {"order_id": order_id, "created": False, "order": None}
    return None


def process(db: Database, inbox_id: int, actor: Actor) -> dict[str, Any]:
    """Turn one stored message into orders; a failure leaves it dead with the reason."""
    with db.read() as conn:
        msg, status = _load(conn, inbox_id)
    if status in ("processed", "ignored"):
        return get_message(db, inbox_id)
    order_id: int | None = None
    new_status, reason = "processed", None
    try:
        mapper, after = _handler(msg.topic)
        changes = mapper(db, msg)
        if all(c.kind == ChangeKind.IGNORE for c in changes):
            new_status = "ignored"
            reason = "; ".join(c.reason for c in changes if c.reason) or None
        for change in changes:
            result = _apply(db, msg, change, actor)
            if result is not None:
                order_id = result["order_id"]
            if after is not None:
                after(db, msg, change, result)
    except Skip as exc:
        new_status, reason = "ignored", exc.reason
    except MappingError as exc:
        new_status, reason = "dead", f"{exc.field}: {exc.reason}"
    except DomainError as exc:
        new_status, reason = "dead", f"{exc.code.value}: {exc.message}"
    with db.begin() as conn:
        conn.execute(
            update(inbox_t)
            .where(inbox_t.c.id == inbox_id)
            .values(
                status=new_status,
                reason=reason,
                order_id=order_id,
                attempts=inbox_t.c.attempts + 1,
                processed_at=utcnow(),
            )
        )
    return get_message(db, inbox_id)


def retry(db: Database, inbox_id: int, actor: Actor) -> dict[str, Any]:
    """Try a dead letter again, after the fix; processed messages are left alone."""
    with db.begin() as conn:
        _msg, status = _load(conn, inbox_id)
        if status not in ("dead", "received"):
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION, f"Inbox message {inbox_id} is {status}; only dead letters are retried"
            )
        record_audit(
            conn,
            actor=str(actor),
            action="channel_inbox.retry",
            subject_type="channel_inbox",
            subject_id=str(inbox_id),
            message=f"Retried inbox message {inbox_id}",
        )
    return process(db, inbox_id, actor)


def ignore(db: Database, inbox_id: int, reason: str, actor: Actor) -> dict[str, Any]:
    """Give up on a dead letter on purpose (handled by hand), with the reason on record."""
    if not reason.strip():
        raise validation_error("reason", "say why the message is ignored")
    with db.begin() as conn:
        _msg, status = _load(conn, inbox_id)
        if status != "dead":
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION, f"Inbox message {inbox_id} is {status}; only dead letters are ignored"
            )
        conn.execute(update(inbox_t).where(inbox_t.c.id == inbox_id).values(status="ignored", reason=reason.strip()))
        record_audit(
            conn,
            actor=str(actor),
            action="channel_inbox.ignore",
            subject_type="channel_inbox",
            subject_id=str(inbox_id),
            message=f"Ignored inbox message {inbox_id}: {reason.strip()}",
        )
    return get_message(db, inbox_id)


def _row_dict(row: Any, *, body: bool) -> dict[str, Any]:
    out = {
        "id": int(row.id),
        "channel": row.channel_code,
        "source": row.source,
        "topic": row.topic,
        "dedupe_key": row.dedupe_key,
        "external_order_id": row.external_order_id,
        "status": row.status,
        "reason": row.reason,
        "order_id": row.order_id,
        "attempts": row.attempts,
        "received_at": as_utc(row.received_at),
        "processed_at": as_utc(row.processed_at),
    }
    if body:
        out["content_type"] = row.content_type
        out["body"] = row.body
    return out


def get_message(db: Database, inbox_id: int) -> dict[str, Any]:
    if not 0 < inbox_id <= MAX_ID:
        raise NotFound("Inbox message", inbox_id)
    with db.read() as conn:
        row = conn.execute(
            select(inbox_t, channels_t.c.code.label("channel_code"))
            .join(channels_t, channels_t.c.id == inbox_t.c.channel_id)
            .where(inbox_t.c.id == inbox_id)
        ).first()
    if row is None:
        raise NotFound("Inbox message", inbox_id)
    return _row_dict(row, body=True)


def list_messages(
    db: Database,
    *,
    channel: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first; ``status='dead'`` is the dead-letter list."""
    if status is not None and status not in STATUSES:
        raise validation_error("status", f"must be one of {', '.join(STATUSES)}")
    before = decode_cursor(cursor)
    q = (
        select(inbox_t, channels_t.c.code.label("channel_code"))
        .join(channels_t, channels_t.c.id == inbox_t.c.channel_id)
        .order_by(inbox_t.c.id.desc())
        .limit(limit + 1)
    )
    if channel is not None:
        q = q.where(channels_t.c.code == channel)
    if status is not None:
        q = q.where(inbox_t.c.status == status)
    if before is not None:
        q = q.where(inbox_t.c.id < before)
    with db.read() as conn:
        rows = conn.execute(q).all()
        counts = {
            str(status): int(n)
            for status, n in conn.execute(select(inbox_t.c.status, func.count()).group_by(inbox_t.c.status))
        }
    items = [_row_dict(r, body=False) for r in rows[:limit]]
    return {
        "items": items,
        "next_cursor": encode_cursor(items[-1]["id"]) if len(rows) > limit else None,
        "counts": {s: int(counts.get(s, 0)) for s in STATUSES},
    }
