"""Timeline and outbox writes, always inside the caller's unit of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert

from openoms.adapters.db.tables import AuditEntry, OrderEvent, OutboxMessage, table

_event = table(OrderEvent)
_outbox = table(OutboxMessage)


def record_order_event(
    conn: Connection,
    *,
    order_id: int,
    event_type: str,
    actor: str,
    message: str,
    data: dict[str, Any] | None = None,
    publish: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Append to the order's timeline and, when ``publish`` is given, to the outbox: both or
    neither, because they share the caller's transaction."""
    now = now or dt.datetime.now(dt.UTC)
    conn.execute(
        insert(_event).values(
            order_id=order_id,
            event_type=event_type,
            actor=actor,
            message=message,
            data=data,
            created_at=now,
        )
    )
    if publish is not None:
        enqueue(conn, event_type, "order", str(order_id), publish, now=now)


@dataclass(frozen=True)
class OrderEventRow:
    """One timeline entry (and outbox message, when ``publish`` is given) for ``record_order_events``."""

    order_id: int
    event_type: str
    actor: str
    message: str
    data: dict[str, Any] | None = None
    publish: dict[str, Any] | None = None


def record_order_events(conn: Connection, events: Sequence[OrderEventRow], *, now: dt.datetime) -> None:
    """``record_order_event`` for many orders at once (a wave releases thousands): two
    multi-row inserts instead of two statements per order, same rows, same transaction."""
    if not events:
        return
    conn.execute(
        insert(_event),
        [
            {
                "order_id": e.order_id,
                "event_type": e.event_type,
                "actor": e.actor,
                "message": e.message,
                "data": e.data,
                "created_at": now,
            }
            for e in events
        ],
    )
    messages = []
    for e in events:
        if e.publish is None:
            continue
        event_id = str(uuid.uuid4())
        messages.append(
            {
                "event_id": event_id,
                "event_type": e.event_type,
                "aggregate_type": "order",
                "aggregate_id": str(e.order_id),
                "payload": {"event_id": event_id, "type": e.event_type, "occurred_at": now.isoformat(), **e.publish},
                "created_at": now,
                "available_at": now,
            }
        )
    if messages:
        conn.execute(insert(_outbox), messages)


def enqueue(
    conn: Connection,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime | None = None,
) -> str:
    """Queue an event for other systems. Consumers de-duplicate on ``event_id``."""
    now = now or dt.datetime.now(dt.UTC)
    event_id = str(uuid.uuid4())
    conn.execute(
        insert(_outbox).values(
            event_id=event_id,
            event_type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload={"event_id": event_id, "type": event_type, "occurred_at": now.isoformat(), **payload},
            created_at=now,
            available_at=now,
        )
    )
    return event_id


_audit = table(AuditEntry)


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | None,
    message: str,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Append to the audit log in the caller's unit of work, for changes that are not an
    order's (users, keys, catalogue, stock): the change and its record commit together."""
    conn.execute(
        insert(_audit).values(
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            message=message,
            data=data,
            created_at=now or dt.datetime.now(dt.UTC),
        )
    )
