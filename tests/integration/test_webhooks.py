"""Outgoing webhooks end to end against a real HTTP receiver on 127.0.0.1: fan-out from the
outbox, signed deliveries, retries with back-off, ordering per order, re-send, dead letters;
on SQLite and PostgreSQL. The PostgreSQL race: four workers deliver 200 events exactly once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from openoms.adapters.carriers.tracking_inbound import verify_webhook_signature
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue
from openoms.adapters.db.tables import WebhookDelivery, WebhookSubscription, table
from openoms.config import Settings
from openoms.domain.errors import DomainError
from openoms.services import webhooks
from openoms.services.common import Actor
from openoms.worker import Worker
from tests.webhook_receiver import Receiver

ACTOR = Actor("tests")
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _settings(db: Database, **extra: Any) -> Settings:
    return Settings(database_url=db.url, secret_key="webhook-tests-secret-key", webhook_max_attempts=3, **extra)


def _event(db: Database, event_type: str, order_id: int | None, at: dt.datetime = T0, **data: Any) -> str:
    with db.begin() as conn:
        if order_id is None:
            return enqueue(conn, event_type, "stock", "A@WH1", {"stock": data}, now=at)
        return enqueue(conn, event_type, "order", str(order_id), {"order": {"id": order_id}, **data}, now=at)


def _fan_out(db: Database, settings: Settings, at: dt.datetime = T0) -> None:
    Worker(db, settings, consumers=[webhooks.WebhookFanout(clock=lambda: at)], jobs=[], clock=lambda: at).drain()


def _deliveries(db: Database) -> list[Any]:
    with db.read() as conn:
        return conn.execute(select(table(WebhookDelivery)).order_by(table(WebhookDelivery).c.id)).all()


def test_signed_delivery_the_receiver_can_verify(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    sub, secret = webhooks.create_subscription(
        db, settings, name="ERP", url=receiver.url, event_types=["order.*"], actor=ACTOR
    )
    event_id = _event(db, "order.placed", 7, total="12.50")
    _event(db, "stock.low", None, sku="A")  # not wanted by order.*
    _fan_out(db, settings)

    run = webhooks.deliver_due(db, settings, T0)

    assert (run.delivered, run.failed) == (1, 0)
    [req] = receiver.requests
    verify_webhook_signature(req.body, req.headers["OpenOMS-Signature"], secret, now=dt.datetime.now(dt.UTC))
    assert req.headers["OpenOMS-Event-Id"] == event_id
    assert req.headers["OpenOMS-Event-Type"] == "order.placed"
    assert req.headers["Content-Type"] == "application/json"
    body = req.json
    assert body["id"] == event_id and body["type"] == "order.placed"
    assert body["data"]["order"] == {"id": 7} and body["data"]["total"] == "12.50"
    assert dt.datetime.fromisoformat(body["created_at"]) == T0
    [row] = _deliveries(db)
    assert (row.status, row.attempts, row.last_response_code, row.order_id) == ("delivered", 1, 200, 7)
    assert row.delivered_at == T0 and row.duration_ms is not None and row.response_excerpt == "ok"
    # The secret is stored encrypted: nothing of it in the row.
    with db.read() as conn:
        stored = conn.execute(select(table(WebhookSubscription).c.secret_encrypted)).scalar_one()
    assert secret not in stored and secret[6:20] not in stored
    assert "secret" not in sub


def test_fan_out_is_idempotent_and_follows_event_types(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    webhooks.create_subscription(db, settings, name="all", url=receiver.url, event_types=["*"], actor=ACTOR)
    webhooks.create_subscription(
        db, settings, name="ship", url=receiver.url, event_types=["shipment.delivered"], actor=ACTOR
    )
    paused, _ = webhooks.create_subscription(
        db, settings, name="off", url=receiver.url, event_types=["*"], active=False, actor=ACTOR
    )
    _event(db, "order.placed", 1)
    _event(db, "shipment.delivered", 1)
    _fan_out(db, settings)
    from openoms.services.notifications import OutboxEvent

    with db.read() as conn:
        from openoms.adapters.db.tables import OutboxMessage

        rows = conn.execute(select(table(OutboxMessage))).all()
    for r in rows:  # the outbox hands the same messages over again: nothing new
        with db.begin() as conn:
            added = webhooks.fan_out(
                conn,
                OutboxEvent(r.id, r.event_id, r.event_type, r.aggregate_type, r.aggregate_id, r.payload, 1),
                T0,
            )
        assert added == 0
    got = sorted((d.subscription_id, d.event_type) for d in _deliveries(db))
    assert got == [(1, "order.placed"), (1, "shipment.delivered"), (2, "shipment.delivered")]
    assert paused["id"] not in {d.subscription_id for d in _deliveries(db)}


def test_500_is_retried_later_with_the_code_logged(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    answers = iter([500, 200])
    receiver.answer = lambda r: next(answers)
    webhooks.create_subscription(db, settings, name="crm", url=receiver.url, event_types=["*"], actor=ACTOR)
    _event(db, "order.placed", 3)
    _fan_out(db, settings)

    run = webhooks.deliver_due(db, settings, T0, rand=lambda: 0.5)
    assert (run.delivered, run.failed) == (0, 1)
    [row] = _deliveries(db)
    assert (row.status, row.attempts, row.last_response_code) == ("failed", 1, 500)
    assert row.last_error == "HTTP 500" and row.response_excerpt == "receiver says no (500)"
    assert row.next_attempt_at == T0 + dt.timedelta(minutes=1)  # the first wait, jitter in the middle

    assert webhooks.deliver_due(db, settings, T0 + dt.timedelta(seconds=30)).total == 0  # not due yet
    run = webhooks.deliver_due(db, settings, T0 + dt.timedelta(minutes=2))
    assert run.delivered == 1
    [row] = _deliveries(db)
    assert (row.status, row.attempts, row.last_response_code, row.last_error) == ("delivered", 2, 200, None)
    assert len(receiver.requests) == 2 and len(set(receiver.event_ids())) == 1


def test_network_error_is_a_failure_too(db: Database) -> None:
    settings = _settings(db)
    dead = Receiver().start()
    url = dead.url
    dead.stop()  # nothing listens there any more
    webhooks.create_subscription(db, settings, name="gone", url=url, event_types=["*"], actor=ACTOR)
    _event(db, "order.placed", 3)
    _fan_out(db, settings)
    assert webhooks.deliver_due(db, settings, T0).failed == 1
    [row] = _deliveries(db)
    assert row.status == "failed" and row.last_response_code is None and "ConnectError" in (row.last_error or "")


def test_ordering_per_order_holds_under_failure(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    first = _event(db, "order.placed", 1)
    second = _event(db, "order.released", 1)
    other = _event(db, "order.placed", 2)
    unordered = _event(db, "stock.low", None, sku="A")
    failing = {first}
    receiver.answer = lambda r: 503 if r.json["id"] in failing else 200
    webhooks.create_subscription(db, settings, name="wms", url=receiver.url, event_types=["*"], actor=ACTOR)
    _fan_out(db, settings)

    webhooks.deliver_due(db, settings, T0)
    # order 1's second event waits for its first; order 2 and the unordered event go
    assert receiver.event_ids() == [first, other, unordered]
    status = {d.event_id: d.status for d in _deliveries(db)}
    assert status == {first: "failed", second: "pending", other: "delivered", unordered: "delivered"}

    failing.clear()
    webhooks.deliver_due(db, settings, T0 + dt.timedelta(minutes=5))
    assert receiver.event_ids() == [first, other, unordered, first, second]
    assert {d.status for d in _deliveries(db)} == {"delivered"}


def test_dead_after_max_attempts_then_resend(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)  # 3 attempts
    receiver.answer = lambda r: 500
    webhooks.create_subscription(db, settings, name="erp", url=receiver.url, event_types=["*"], actor=ACTOR)
    event_id = _event(db, "order.placed", 9)
    later = _event(db, "order.cancelled", 9)
    _fan_out(db, settings)
    now = T0
    for _ in range(3):
        webhooks.deliver_due(db, settings, now)
        now += dt.timedelta(hours=2)
    first, second = _deliveries(db)
    assert (first.status, first.attempts) == ("dead", 3)
    assert second.status == "pending"  # waits behind the dead one: ordering is kept
    assert webhooks.deliver_due(db, settings, now + dt.timedelta(days=1)).total == 0
    assert len(receiver.requests) == 3

    receiver.answer = lambda r: 204
    view = webhooks.resend(db, first.id, ACTOR)
    assert (view["status"], view["attempts"]) == ("pending", 0)
    webhooks.deliver_due(db, settings, now + dt.timedelta(days=1))
    assert receiver.event_ids() == [event_id] * 4 + [later]
    assert [d.status for d in _deliveries(db)] == ["delivered", "delivered"]

    # a delivered one can be sent again too: same event id, a new attempt
    webhooks.resend(db, first.id, ACTOR)
    webhooks.deliver_due(db, settings, now + dt.timedelta(days=1))
    assert receiver.event_ids()[-1] == event_id and len(receiver.requests) == 6


def test_deliveries_log_filters_and_pages(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    a, _ = webhooks.create_subscription(db, settings, name="a", url=receiver.url, event_types=["*"], actor=ACTOR)
    webhooks.create_subscription(db, settings, name="b", url=receiver.url, event_types=["order.*"], actor=ACTOR)
    for i in range(5):
        _event(db, "order.placed", 100 + i)
    _event(db, "stock.low", None)
    _fan_out(db, settings)
    page1 = webhooks.list_deliveries(db, subscription_id=a["id"], limit=4)
    page2 = webhooks.list_deliveries(db, subscription_id=a["id"], limit=4, cursor=page1["next_cursor"])
    ids = [d["id"] for d in page1["items"] + page2["items"]]
    assert len(ids) == 6 and ids == sorted(ids, reverse=True) and page2["next_cursor"] is None
    assert {d["subscription_name"] for d in page1["items"]} == {"a"}
    assert [d["event_type"] for d in webhooks.list_deliveries(db, event_type="stock.low")["items"]] == ["stock.low"]
    assert webhooks.list_deliveries(db, status="delivered")["items"] == []
    with pytest.raises(DomainError) as err:
        webhooks.list_deliveries(db, status="lost")
    assert err.value.errors[0].field == "status"


def test_bad_subscriptions_are_refused_and_change_nothing(db: Database) -> None:
    settings = _settings(db)
    for url, reason in [
        ("ftp://example.com/x", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https://", "no host"),
        ("https://user:pw@example.com/", "user name"),
    ]:
        with pytest.raises(DomainError) as err:
            webhooks.create_subscription(db, settings, name="x", url=url, event_types=["*"], actor=ACTOR)
        assert err.value.errors[0].field == "url" and reason in err.value.errors[0].reason
    with pytest.raises(DomainError) as err:
        webhooks.create_subscription(
            db, settings, name="x", url="https://example.com", event_types=["order.*", "Order Placed!"], actor=ACTOR
        )
    assert err.value.errors[0].field == "event_types[1]"
    assert webhooks.list_subscriptions(db) == []


def test_paused_subscription_holds_its_queue_and_rotation_changes_the_secret(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    sub, old = webhooks.create_subscription(db, settings, name="x", url=receiver.url, event_types=["*"], actor=ACTOR)
    _event(db, "order.placed", 1)
    _fan_out(db, settings)
    webhooks.update_subscription(db, sub["id"], active=False, actor=ACTOR)
    assert webhooks.deliver_due(db, settings, T0).total == 0
    _, new = webhooks.rotate_secret(db, settings, sub["id"], ACTOR)
    assert new != old and new.startswith("whsec_")
    webhooks.update_subscription(db, sub["id"], active=True, actor=ACTOR)
    assert webhooks.deliver_due(db, settings, T0).delivered == 1
    [req] = receiver.requests
    verify_webhook_signature(req.body, req.headers["OpenOMS-Signature"], new, now=dt.datetime.now(dt.UTC))


def test_worker_sends_through_its_scheduled_job(db: Database, receiver: Receiver) -> None:
    settings = _settings(db)
    webhooks.create_subscription(db, settings, name="x", url=receiver.url, event_types=["*"], actor=ACTOR)
    _event(db, "order.placed", 1, at=dt.datetime.now(dt.UTC))
    worker = Worker(db, settings)  # the default consumers and jobs
    assert "webhooks" in [c.name for c in worker.consumers]
    result = worker.run_once()
    assert result.jobs["deliver webhooks"] == 1 and len(receiver.requests) == 1


@pytest.mark.postgres
def test_four_workers_deliver_200_events_each_exactly_once(pg_url: str) -> None:
    db = Database(pg_url, pool_size=12)
    receiver = Receiver().start()
    try:
        settings = _settings(db)
        webhooks.create_subscription(db, settings, name="x", url=receiver.url, event_types=["*"], actor=ACTOR)
        ids = []
        now = dt.datetime.now(dt.UTC)
        for i in range(200):  # 40 orders with 5 events each: ordering per order is raced too
            ids.append(_event(db, "order.placed" if i < 40 else "order.released", i % 40, at=now))
        _fan_out(db, settings, now)
        assert len(_deliveries(db)) == 200
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                start.wait()
                for _ in range(50):
                    if webhooks.deliver_due(db, settings, batch=5).total == 0:
                        with db.read() as conn:
                            left = conn.execute(
                                select(table(WebhookDelivery).c.id).where(
                                    table(WebhookDelivery).c.status != "delivered"
                                )
                            ).first()
                        if left is None:
                            return
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        counts = Counter(receiver.event_ids())
        assert len(counts) == 200 and set(counts.values()) == {1}, counts.most_common(3)
        assert {d.status for d in _deliveries(db)} == {"delivered"}
        # per order, the receiver saw the events in outbox order
        seen: dict[int, list[str]] = {}
        for req in receiver.requests:
            seen.setdefault(req.json["data"]["order"]["id"], []).append(req.json["id"])
        for order_id, got in seen.items():
            assert got == [e for i, e in enumerate(ids) if i % 40 == order_id]
    finally:
        receiver.stop()
        db.dispose()
