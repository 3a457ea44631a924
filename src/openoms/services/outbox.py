"""What operators see of the outbox: messages not yet delivered, and re-queueing them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import Notification, OutboxMessage, table
from openoms.domain.notifications import NotificationStatus
from openoms.domain.orders import order_number
from openoms.services.common import Actor, utcnow

outbox_t = table(OutboxMessage)
notes_t = table(Notification)


def undelivered(db: Database, *, max_attempts: int, failed_only: bool = False, limit: int = 100) -> dict[str, Any]:
    """Counts (pending, retrying, dead) and the oldest undelivered messages with their errors.
    ``dead``: failed ``max_attempts`` times; the worker leaves it until someone retries it."""
    pending = outbox_t.c.delivered_at.is_(None)
    with db.read() as conn:
        counts = conn.execute(
            select(
                func.count().filter(outbox_t.c.attempts == 0),
                func.count().filter(outbox_t.c.attempts > 0, outbox_t.c.attempts < max_attempts),
                func.count().filter(outbox_t.c.attempts >= max_attempts),
            ).where(pending)
        ).one()
        stmt = select(outbox_t).where(pending)
        if failed_only:
            stmt = stmt.where(outbox_t.c.attempts > 0)
        rows = conn.execute(stmt.order_by(outbox_t.c.id).limit(limit)).all()
    return {
        "pending": int(counts[0]),
        "retrying": int(counts[1]),
        "dead": int(counts[2]),
        "messages": [
            {
                "id": r.id,
                "event_id": r.event_id,
                "event_type": r.event_type,
                "aggregate": f"{r.aggregate_type}:{r.aggregate_id}",
                "created_at": r.created_at,
                "available_at": r.available_at,
                "attempts": r.attempts,
                "dead": r.attempts >= max_attempts,
                "last_error": r.last_error,
            }
            for r in rows
        ],
    }


def retry(db: Database, ids: Sequence[int], actor: Actor) -> list[int]:
    """Put undelivered messages back in the queue now, with a fresh count of attempts (the last
    error stays until the next try). Delivered ones are left alone: their consumers are done."""
    now = utcnow()
    with db.begin() as conn:
        done = (
            conn.execute(
                update(outbox_t)
                .where(outbox_t.c.id.in_(list(ids)), outbox_t.c.delivered_at.is_(None))
                .values(attempts=0, available_at=now)
                .returning(outbox_t.c.id)
            )
            .scalars()
            .all()
        )
        if done:
            record_audit(
                conn,
                actor=actor.name,
                action="outbox.retry",
                subject_type="outbox",
                subject_id=",".join(str(i) for i in sorted(done))[:64],
                message=f"Re-queued {len(done)} outbox message(s): {', '.join(str(i) for i in sorted(done))}",
                now=now,
            )
    return sorted(int(i) for i in done)


def dead_ids(db: Database, *, max_attempts: int) -> list[int]:
    """Messages the worker gave up on, for "retry all"."""
    with db.read() as conn:
        rows = conn.execute(
            select(outbox_t.c.id)
            .where(outbox_t.c.delivered_at.is_(None), outbox_t.c.attempts >= max_attempts)
            .order_by(outbox_t.c.id)
        )
        return [int(i) for i in rows.scalars().all()]


def email_problems(db: Database, *, limit: int = 50) -> dict[str, Any]:
    """Customer e-mails by status, and the ones not (yet) sent with their reasons, newest first.
    ``sending`` for long means a worker stopped between the SMTP call and recording it."""
    with db.read() as conn:
        by_status = conn.execute(select(notes_t.c.status, func.count()).group_by(notes_t.c.status))
        counts: dict[str, int] = {str(status): int(n) for status, n in by_status}
        rows = conn.execute(
            select(notes_t)
            .where(notes_t.c.status.in_([NotificationStatus.FAILED.value, NotificationStatus.SENDING.value]))
            .order_by(notes_t.c.id.desc())
            .limit(limit)
        ).all()
        skipped = conn.execute(
            select(notes_t.c.error, func.count())
            .where(notes_t.c.status == NotificationStatus.SKIPPED.value)
            .group_by(notes_t.c.error)
        ).all()
    return {
        "counts": {s.value: int(counts.get(s.value, 0)) for s in NotificationStatus},
        "problems": [{**r._mapping, "order_number": order_number(r.order_id) if r.order_id else None} for r in rows],
        "skipped": sorted(((str(e or ""), int(n)) for e, n in skipped), key=lambda x: -x[1]),
    }
