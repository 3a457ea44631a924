"""Outgoing webhooks for integrators (docs/webhooks.md, docs/adr/0030-outgoing-webhooks-and-nats.md).

Three steps, each its own unit of work:

1. ``WebhookFanout`` (an outbox consumer in the worker) turns each outbox message into one
   ``webhook_deliveries`` row per matching active subscription; unique per (subscription,
   event), so a message handed over again adds nothing.
2. ``deliver_due`` (a scheduled job in the worker) claims due deliveries with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, pushes their time past a lease and commits;
3. then POSTs each one, signed, with no transaction open, and records the answer in a second
   unit of work: 2xx delivered, anything else retried with back-off, dead after
   ``webhook_max_attempts``.

Ordering per order: a delivery waits while an earlier event (lower outbox id) for the same order
to the same subscription is not delivered. Events about no order are unordered.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import secrets as secrets_mod
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Connection, and_, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms import __version__
from openoms.adapters import crypto
from openoms.adapters.carriers.tracking_inbound import SIGNATURE_HEADER, sign_webhook
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import OutboxMessage, WebhookDelivery, WebhookSubscription, table
from openoms.config import Settings
from openoms.domain import webhooks as rules
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.domain.webhooks import DeliveryStatus
from openoms.services.common import Actor, decode_cursor, encode_cursor, utcnow
from openoms.services.notifications import OutboxEvent

log = logging.getLogger("openoms.webhooks")

subs_t = table(WebhookSubscription)
deliveries_t = table(WebhookDelivery)
outbox_t = table(OutboxMessage)

SECRET_PREFIX = "whsec_"
EVENT_ID_HEADER = "OpenOMS-Event-Id"
EVENT_TYPE_HEADER = "OpenOMS-Event-Type"
DELIVERY_ID_HEADER = "OpenOMS-Delivery-Id"
USER_AGENT = f"OpenOMS-Webhooks/{__version__}"
MAX_READ_BYTES = 16 * 1024


def new_secret() -> str:
    return SECRET_PREFIX + secrets_mod.token_urlsafe(32)


# --------------------------------------------------------------------------- subscriptions


def _sub_view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "name": row.name,
        "url": row.url,
        "event_types": list(row.event_types),
        "active": bool(row.active),
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _check(name: str | None, url: str | None, event_types: Sequence[str] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    if name is not None:
        values["name"], errs = rules.validate_name(name)
        errors += errs
    if url is not None:
        values["url"], errs = rules.validate_url(url)
        errors += errs
    if event_types is not None:
        values["event_types"], errs = rules.validate_event_types(list(event_types))
        errors += errs
    if errors:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors=errors
        )
    return values


def create_subscription(
    db: Database,
    settings: Settings,
    *,
    name: str,
    url: str,
    event_types: Sequence[str],
    active: bool = True,
    actor: Actor,
) -> tuple[dict[str, Any], str]:
    """A new subscription and its signing secret, which is shown this once (stored encrypted)."""
    values = _check(name, url, event_types)
    secret = new_secret()
    now = utcnow()
    with db.begin() as conn:
        row = conn.execute(
            insert(subs_t)
            .values(
                **values,
                active=active,
                secret_encrypted=crypto.encrypt(settings, secret),
                created_by=actor.name[:128],
                created_at=now,
                updated_at=now,
            )
            .returning(*subs_t.c)
        ).one()
        record_audit(
            conn,
            actor=actor.name,
            action="webhook.created",
            subject_type="webhook_subscription",
            subject_id=str(row.id),
            message=f"Webhook {values['name']!r} to {values['url']} for {', '.join(values['event_types'])}",
            now=now,
        )
    return _sub_view(row), secret


def list_subscriptions(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_sub_view(r) for r in conn.execute(select(subs_t).order_by(subs_t.c.id)).all()]


def get_subscription(db: Database, subscription_id: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(select(subs_t).where(subs_t.c.id == subscription_id)).first()
    if row is None:
        raise NotFound("Webhook subscription", subscription_id)
    return _sub_view(row)


def update_subscription(
    db: Database,
    subscription_id: int,
    *,
    name: str | None = None,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    active: bool | None = None,
    actor: Actor,
) -> dict[str, Any]:
    """Change what is given; deliveries already made keep the URL they were sent to, queued
    ones go to the new URL. A paused subscription's queued deliveries wait for it."""
    values = _check(name, url, event_types)
    if active is not None:
        values["active"] = active
    now = utcnow()
    with db.begin() as conn:
        row = conn.execute(
            update(subs_t).where(subs_t.c.id == subscription_id).values(**values, updated_at=now).returning(*subs_t.c)
        ).first()
        if row is None:
            raise NotFound("Webhook subscription", subscription_id)
        if values:
            record_audit(
                conn,
                actor=actor.name,
                action="webhook.updated",
                subject_type="webhook_subscription",
                subject_id=str(subscription_id),
                message=f"Webhook {row.name!r} changed: {', '.join(sorted(values))}",
                data={k: v for k, v in values.items()},
                now=now,
            )
    return _sub_view(row)


def delete_subscription(db: Database, subscription_id: int, actor: Actor) -> None:
    """Remove it and its delivery log; nothing more is sent to it."""
    now = utcnow()
    with db.begin() as conn:
        row = conn.execute(select(subs_t.c.name, subs_t.c.url).where(subs_t.c.id == subscription_id)).first()
        if row is None:
            raise NotFound("Webhook subscription", subscription_id)
        conn.execute(delete(deliveries_t).where(deliveries_t.c.subscription_id == subscription_id))
        conn.execute(delete(subs_t).where(subs_t.c.id == subscription_id))
        record_audit(
            conn,
            actor=actor.name,
            action="webhook.deleted",
            subject_type="webhook_subscription",
            subject_id=str(subscription_id),
            message=f"Webhook {row.name!r} to {row.url} deleted",
            now=now,
        )


def rotate_secret(db: Database, settings: Settings, subscription_id: int, actor: Actor) -> tuple[dict[str, Any], str]:
    """A new signing secret, effective for the next request sent; shown this once."""
    secret = new_secret()
    now = utcnow()
    with db.begin() as conn:
        row = conn.execute(
            update(subs_t)
            .where(subs_t.c.id == subscription_id)
            .values(secret_encrypted=crypto.encrypt(settings, secret), updated_at=now)
            .returning(*subs_t.c)
        ).first()
        if row is None:
            raise NotFound("Webhook subscription", subscription_id)
        record_audit(
            conn,
            actor=actor.name,
            action="webhook.secret_rotated",
            subject_type="webhook_subscription",
            subject_id=str(subscription_id),
            message=f"Webhook {row.name!r}: signing secret rotated",
            now=now,
        )
    return _sub_view(row), secret


# --------------------------------------------------------------------------- fan-out


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def fan_out(conn: Connection, event: OutboxEvent, now: dt.datetime) -> int:
    """Queue ``event`` for every active subscription that wants it; returns how many are new."""
    subs = conn.execute(select(subs_t.c.id, subs_t.c.event_types).where(subs_t.c.active.is_(True))).all()
    wanted = [int(s.id) for s in subs if rules.matches(s.event_types, event.event_type)]
    if not wanted:
        return 0
    order_id = rules.order_id_of(event.aggregate_type, event.aggregate_id, event.payload)
    result = conn.execute(
        _insert(conn)(deliveries_t)
        .values(
            [
                {
                    "subscription_id": sub_id,
                    "outbox_id": event.id,
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "order_id": order_id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for sub_id in wanted
            ]
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
    )
    return max(int(result.rowcount or 0), 0)


class WebhookFanout:
    """The outbox consumer: queues deliveries; the sending is ``deliver_due``'s, so a slow
    receiver never holds up the outbox (nor the e-mail consumer)."""

    name = "webhooks"

    def __init__(self, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.clock = clock

    def __call__(self, event: OutboxEvent, db: Database) -> None:
        with db.begin() as conn:
            added = fan_out(conn, event, self.clock())
        if added:
            log.info("event %s %s queued for %d webhook(s)", event.event_id, event.event_type, added)


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Claimed:
    id: int
    subscription_id: int
    url: str
    secret_encrypted: str
    event_id: str
    event_type: str
    attempts: int
    created_at: dt.datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and rules.is_success(self.status_code)


def _head_of_chain() -> Any:
    """No earlier delivery of the same order's events to the same subscription is undelivered."""
    earlier = deliveries_t.alias("earlier")
    return ~exists(
        select(earlier.c.id).where(
            earlier.c.subscription_id == deliveries_t.c.subscription_id,
            earlier.c.order_id == deliveries_t.c.order_id,
            earlier.c.outbox_id < deliveries_t.c.outbox_id,
            earlier.c.status != DeliveryStatus.DELIVERED.value,
        )
    )


def claim_due(db: Database, now: dt.datetime, *, batch: int, lease: dt.timedelta) -> list[Claimed]:
    """Take up to ``batch`` due deliveries (skipping rows another worker holds), push them past
    the lease and commit: a worker that dies mid-send leaves them to be sent again later."""
    due = (
        select(deliveries_t.c.id)
        .where(
            deliveries_t.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
            deliveries_t.c.next_attempt_at <= now,
            deliveries_t.c.subscription_id.in_(select(subs_t.c.id).where(subs_t.c.active.is_(True))),
            _head_of_chain(),
        )
        .order_by(deliveries_t.c.outbox_id, deliveries_t.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    with db.begin() as conn:
        ids = (
            conn.execute(
                update(deliveries_t)
                .where(deliveries_t.c.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=now + lease)
                .returning(deliveries_t.c.id)
            )
            .scalars()
            .all()
        )
    if not ids:
        return []
    with db.read() as conn:
        rows = conn.execute(
            select(
                deliveries_t.c.id,
                deliveries_t.c.subscription_id,
                deliveries_t.c.event_id,
                deliveries_t.c.event_type,
                deliveries_t.c.attempts,
                subs_t.c.url,
                subs_t.c.secret_encrypted,
                outbox_t.c.created_at,
                outbox_t.c.payload,
            )
            .join(subs_t, subs_t.c.id == deliveries_t.c.subscription_id)
            .join(outbox_t, outbox_t.c.id == deliveries_t.c.outbox_id)
            .where(deliveries_t.c.id.in_(list(ids)))
            .order_by(deliveries_t.c.outbox_id, deliveries_t.c.id)
        ).all()
    return [
        Claimed(
            int(r.id),
            int(r.subscription_id),
            r.url,
            r.secret_encrypted,
            r.event_id,
            r.event_type,
            int(r.attempts),
            r.created_at,
            dict(r.payload),
        )
        for r in rows
    ]


def request_body(event_id: str, event_type: str, created_at: dt.datetime, data: dict[str, Any]) -> bytes:
    """What a receiver gets; the signature covers these exact bytes."""
    envelope = {"id": event_id, "type": event_type, "created_at": created_at.isoformat(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def post(client: httpx.Client, delivery: Claimed, secret: str, *, timestamp: int | None = None) -> Attempt:
    """One signed POST; never raises for the receiver's or the network's failures."""
    body = request_body(delivery.event_id, delivery.event_type, delivery.created_at, delivery.payload)
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
        DELIVERY_ID_HEADER: str(delivery.id),
        SIGNATURE_HEADER: sign_webhook(body, secret, ts),
    }
    started = time.perf_counter()
    try:
        with client.stream("POST", delivery.url, content=body, headers=headers) as response:
            raw = b""
            for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) >= MAX_READ_BYTES:
                    break
            code = response.status_code
            location = response.headers.get("location")
    except httpx.TimeoutException as exc:
        return Attempt(None, f"timed out: {type(exc).__name__}", None, _ms(started))
    except httpx.HTTPError as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:1000], None, _ms(started))
    text = raw.decode("utf-8", errors="replace").strip()
    error = None
    if not rules.is_success(code):
        error = f"HTTP {code}"
        if 300 <= code < 400:
            error += f": redirect to {location} not followed; point the subscription at the final URL"
    return Attempt(code, error, rules.excerpt(text) if text else None, _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def record_attempt(
    db: Database,
    delivery: Claimed,
    attempt: Attempt,
    *,
    now: dt.datetime,
    max_attempts: int,
    rand: float,
) -> DeliveryStatus:
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_response_code": attempt.status_code,
        "last_error": attempt.error,
        "response_excerpt": attempt.excerpt,
        "duration_ms": attempt.duration_ms,
    }
    if attempt.ok:
        status = DeliveryStatus.DELIVERED
        values.update(status=status.value, delivered_at=now)
    else:
        status = rules.after_failure(attempts, max_attempts)
        values.update(status=status.value, next_attempt_at=now + rules.retry_delay(attempts, rand))
    with db.begin() as conn:
        conn.execute(
            update(deliveries_t)
            .where(deliveries_t.c.id == delivery.id, deliveries_t.c.status != DeliveryStatus.DELIVERED.value)
            .values(**values)
        )
    return status


@dataclass
class DeliveryRun:
    delivered: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.dead


def deliver_due(
    db: Database,
    settings: Settings,
    now: dt.datetime | None = None,
    *,
    batch: int = 50,
    limit: int = 10_000,
    client: httpx.Client | None = None,
    rand: Callable[[], float] = random.random,
) -> DeliveryRun:
    """Send what is due now until nothing is (or ``limit`` sends); each send in its own pair of
    units of work, none open during the request."""
    run = DeliveryRun()
    lease = dt.timedelta(seconds=settings.webhook_lease_seconds)
    own = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    secrets_cache: dict[str, str] = {}
    try:
        while run.total < limit:
            at = now or utcnow()
            claimed = claim_due(db, at, batch=min(batch, limit - run.total), lease=lease)
            if not claimed:
                break
            for delivery in claimed:
                try:
                    secret = secrets_cache.get(delivery.secret_encrypted)
                    if secret is None:
                        secret = secrets_cache[delivery.secret_encrypted] = crypto.decrypt(
                            settings, delivery.secret_encrypted
                        )
                    attempt = post(http, delivery, secret)
                except crypto.DecryptionFailed as exc:
                    attempt = Attempt(None, str(exc), None, 0)
                status = record_attempt(
                    db, delivery, attempt, now=now or utcnow(), max_attempts=settings.webhook_max_attempts, rand=rand()
                )
                if status is DeliveryStatus.DELIVERED:
                    run.delivered += 1
                elif status is DeliveryStatus.DEAD:
                    run.dead += 1
                    log.error("webhook delivery %d (%s) is dead: %s", delivery.id, delivery.event_type, attempt.error)
                else:
                    run.failed += 1
                    log.warning("webhook delivery %d (%s) failed: %s", delivery.id, delivery.event_type, attempt.error)
    finally:
        if own:
            http.close()
    return run


def delivery_job(settings: Settings) -> Callable[[Database, dt.datetime], int]:
    """The worker's scheduled job: sends every due delivery (docs/webhooks.md)."""

    def run(db: Database, now: dt.datetime) -> int:
        return deliver_due(db, settings).total

    return run


# --------------------------------------------------------------------------- the log


def _delivery_view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "subscription_id": int(row.subscription_id),
        "subscription_name": row.subscription_name,
        "url": row.url,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "order_id": row.order_id,
        "status": row.status,
        "attempts": int(row.attempts),
        "next_attempt_at": row.next_attempt_at
        if row.status in (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
        else None,
        "last_attempt_at": row.last_attempt_at,
        "last_response_code": row.last_response_code,
        "last_error": row.last_error,
        "response_excerpt": row.response_excerpt,
        "duration_ms": row.duration_ms,
        "delivered_at": row.delivered_at,
        "created_at": row.created_at,
    }


def _delivery_select() -> Any:
    return select(
        deliveries_t,
        subs_t.c.name.label("subscription_name"),
        subs_t.c.url,
    ).join(subs_t, subs_t.c.id == deliveries_t.c.subscription_id)


def list_deliveries(
    db: Database,
    *,
    subscription_id: int | None = None,
    status: str | None = None,
    event_type: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The delivery log, newest first, in keyset pages (``next_cursor``)."""
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"status: must be one of {', '.join(s.value for s in DeliveryStatus)}",
            [FieldError("status", f"must be one of {', '.join(s.value for s in DeliveryStatus)}")],
        )
    before = decode_cursor(cursor)
    stmt = _delivery_select()
    conds = []
    if subscription_id is not None:
        conds.append(deliveries_t.c.subscription_id == subscription_id)
    if status is not None:
        conds.append(deliveries_t.c.status == status)
    if event_type:
        conds.append(deliveries_t.c.event_type == event_type.strip().lower())
    if before is not None:
        conds.append(deliveries_t.c.id < before)
    if conds:
        stmt = stmt.where(and_(*conds))
    with db.read() as conn:
        rows = conn.execute(stmt.order_by(deliveries_t.c.id.desc()).limit(limit)).all()
    items = [_delivery_view(r) for r in rows]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if len(items) == limit else None}


def get_delivery(db: Database, delivery_id: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(_delivery_select().where(deliveries_t.c.id == delivery_id)).first()
    if row is None:
        raise NotFound("Webhook delivery", delivery_id)
    return _delivery_view(row)


def resend(db: Database, delivery_id: int, actor: Actor) -> dict[str, Any]:
    """Queue any delivery again (delivered, failed or dead): the next worker pass sends the same
    event, with the same event id, and a fresh count of attempts. Ordering still holds: it goes
    once earlier events of its order are delivered, and later ones wait for it."""
    now = utcnow()
    with db.begin() as conn:
        row = conn.execute(
            update(deliveries_t)
            .where(deliveries_t.c.id == delivery_id)
            .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now)
            .returning(deliveries_t.c.event_type, deliveries_t.c.event_id, deliveries_t.c.subscription_id)
        ).first()
        if row is None:
            raise NotFound("Webhook delivery", delivery_id)
        record_audit(
            conn,
            actor=actor.name,
            action="webhook.resend",
            subject_type="webhook_delivery",
            subject_id=str(delivery_id),
            message=f"Webhook delivery {delivery_id} ({row.event_type}, event {row.event_id}) queued again",
            now=now,
        )
    return get_delivery(db, delivery_id)


def delivery_counts(db: Database) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(select(deliveries_t.c.status, func.count()).group_by(deliveries_t.c.status)).all()
    counts = {s.value: 0 for s in DeliveryStatus}
    counts.update({str(s): int(n) for s, n in rows})
    return counts
