"""`openoms worker`: the outbox relay and the scheduled jobs (docs/notifications.md).

Each pass claims due outbox messages in small batches (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so any number of workers share the queue without taking the same message), hands
each to every consumer, and marks it delivered; a message whose consumer raised waits with
exponential back-off, and after ``outbox_max_attempts`` failures it waits for an operator
(`openoms outbox`, `openoms outbox retry`). Delivery is at least once: consumers de-duplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import OutboxMessage, table
from openoms.config import Settings
from openoms.domain.notifications import retry_delay
from openoms.services import pickup, waves
from openoms.services.common import utcnow
from openoms.services.notifications import EmailConsumer, OutboxEvent
from openoms.services.payments import PaymentConsumer

log = logging.getLogger("openoms.worker")
outbox_t = table(OutboxMessage)


class Consumer(Protocol):
    """Gets every outbox message; returns when done with it, raises to have it retried. Must
    be idempotent: a message comes again after a crash or when another consumer failed."""

    name: str

    def __call__(self, event: OutboxEvent, db: Database) -> None: ...


@dataclass(frozen=True)
class ScheduledJob:
    """Work that runs every ``every`` in each worker: ``run(db, now)`` returns how many things
    it did (for the log). It must be safe to run from two workers at once (conditional updates)."""

    name: str
    every: dt.timedelta
    run: Callable[[Database, dt.datetime], int]


#: Jobs other features plug in; ``scheduled_jobs`` returns them. Every minute: release waves
#: that came due and automatic locations' work (docs/fulfilment.md); every five: cancel pickup
#: orders not collected in time (docs/pickup.md).
SCHEDULED_JOBS: list[ScheduledJob] = [
    ScheduledJob("release waves", dt.timedelta(minutes=1), waves.release_due_waves),
    ScheduledJob("expire pickups", dt.timedelta(minutes=5), pickup.expire_pickups),
]


def scheduled_jobs() -> list[ScheduledJob]:
    """The jobs a worker runs."""
    return list(SCHEDULED_JOBS)


def default_consumers(settings: Settings) -> list[Consumer]:
    """The consumers a worker hands every message to, in this order."""
    return [EmailConsumer(settings), PaymentConsumer(settings)]


@dataclass
class PassResult:
    delivered: int = 0
    failed: int = 0
    jobs: dict[str, int] = field(default_factory=dict)


class Worker:
    """One worker process's loop; ``run_once`` for cron and tests, ``run`` until stopped."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        consumers: Sequence[Consumer] | None = None,
        jobs: Sequence[ScheduledJob] | None = None,
        batch: int = 20,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.consumers = list(default_consumers(settings) if consumers is None else consumers)
        self.jobs = list(scheduled_jobs() if jobs is None else jobs)
        self.batch = max(1, batch)
        self.max_attempts = settings.outbox_max_attempts
        self.lease = dt.timedelta(seconds=settings.outbox_lease_seconds)
        self.clock = clock
        self._next_run: dict[str, dt.datetime] = {}

    # ------------------------------------------------------------------ the outbox

    def claim(self) -> list[OutboxEvent]:
        """Take up to ``batch`` due messages: lock them (skipping rows another worker holds),
        push their ``available_at`` past the lease and commit. A worker that dies mid-batch
        leaves its messages to be claimed again when the lease ends."""
        now = self.clock()
        due = (
            select(outbox_t.c.id)
            .where(
                outbox_t.c.delivered_at.is_(None),
                outbox_t.c.available_at <= now,
                outbox_t.c.attempts < self.max_attempts,
            )
            .order_by(outbox_t.c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        with self.db.begin() as conn:
            rows = conn.execute(
                update(outbox_t)
                .where(outbox_t.c.id.in_(due.scalar_subquery()))
                .values(available_at=now + self.lease)
                .returning(
                    outbox_t.c.id,
                    outbox_t.c.event_id,
                    outbox_t.c.event_type,
                    outbox_t.c.aggregate_type,
                    outbox_t.c.aggregate_id,
                    outbox_t.c.payload,
                    outbox_t.c.attempts,
                )
            ).all()
        return sorted(
            (
                OutboxEvent(r.id, r.event_id, r.event_type, r.aggregate_type, r.aggregate_id, r.payload, r.attempts)
                for r in rows
            ),
            key=lambda e: e.id,
        )

    def process(self, event: OutboxEvent) -> bool:
        """Hand one message to every consumer; True when all of them took it."""
        errors: list[str] = []
        for consumer in self.consumers:
            try:
                consumer(event, self.db)
            except Exception as exc:  # one consumer's failure must not stop the others
                errors.append(f"{consumer.name}: {type(exc).__name__}: {exc}")
        now = self.clock()
        with self.db.begin() as conn:
            if not errors:
                conn.execute(
                    update(outbox_t).where(outbox_t.c.id == event.id).values(delivered_at=now, last_error=None)
                )
            else:
                attempts = event.attempts + 1
                conn.execute(
                    update(outbox_t)
                    .where(outbox_t.c.id == event.id)
                    .values(
                        attempts=attempts,
                        last_error="; ".join(errors)[:4000],
                        available_at=now + retry_delay(attempts),
                    )
                )
        if not errors:
            log.info("delivered outbox %d %s (%s)", event.id, event.event_type, event.event_id)
            return True
        if event.attempts + 1 >= self.max_attempts:
            log.error(
                "outbox %d %s failed %d times, no more retries (`openoms outbox retry %d`): %s",
                event.id,
                event.event_type,
                event.attempts + 1,
                event.id,
                "; ".join(errors),
            )
        else:
            log.warning(
                "outbox %d %s failed (attempt %d, next in %s): %s",
                event.id,
                event.event_type,
                event.attempts + 1,
                retry_delay(event.attempts + 1),
                "; ".join(errors),
            )
        return False

    # ------------------------------------------------------------------ scheduled jobs

    def run_due_jobs(self, *, force: bool = False) -> dict[str, int]:
        """Run the jobs whose time has come (all of them with ``force``)."""
        done: dict[str, int] = {}
        for job in self.jobs:
            now = self.clock()
            if not force and now < self._next_run.get(job.name, now):
                continue
            self._next_run[job.name] = now + job.every
            try:
                count = job.run(self.db, now)
            except Exception:
                log.exception("scheduled job %s failed", job.name)
                continue
            done[job.name] = count
            log.info("scheduled job %s: %d done", job.name, count)
        return done

    # ------------------------------------------------------------------ loops

    def drain(self, stop: threading.Event | None = None) -> PassResult:
        """Claim and process batches until nothing is due (or ``stop`` is set)."""
        result = PassResult()
        while stop is None or not stop.is_set():
            events = self.claim()
            if not events:
                break
            for event in events:
                if self.process(event):
                    result.delivered += 1
                else:
                    result.failed += 1
        return result

    def run_once(self) -> PassResult:
        """Everything due now, and every scheduled job once: for cron and tests."""
        result = self.drain()
        result.jobs = self.run_due_jobs(force=True)
        return result

    def run(self, stop: threading.Event, interval: float = 2.0) -> None:
        """Until ``stop`` is set (SIGINT/SIGTERM): the message in hand is finished first."""
        log.info("worker started: %d consumer(s), %d scheduled job(s)", len(self.consumers), len(self.jobs))
        while not stop.is_set():
            try:
                self.drain(stop)
                self.run_due_jobs()
            except Exception:  # the database went away for a moment: log, wait, go on
                log.exception("worker pass failed")
            stop.wait(interval)
        log.info("worker stopped")
