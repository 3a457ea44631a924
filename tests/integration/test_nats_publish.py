"""Publishing outbox events to the real NATS JetStream on 127.0.0.1:4222: the stream is made
when missing, each event lands on <prefix>.<type>, and an event handed over twice is stored
once (Nats-Msg-Id = event id). A unique stream and subject prefix per test."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import nats
import pytest

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue
from openoms.adapters.notify.broker import NatsPublisher, PublishFailed, subject_for
from openoms.config import Settings
from openoms.services.notifications import OutboxEvent
from openoms.worker import Worker, default_consumers

NATS_URL = os.environ.get("OPENOMS_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_reachable() -> bool:
    parsed = urlparse(NATS_URL)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def _need_nats(request: pytest.FixtureRequest) -> None:
    """Talk to a real NATS server: CI runs one on 127.0.0.1:4222 (and fails without it); a
    developer machine without one skips these tests."""
    if request.node.name.startswith(("test_no_nats_url", "test_subjects_never", "test_unreachable")):
        return
    if not _nats_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"NATS at {NATS_URL} cannot be reached; CI must run the JetStream tests")
        pytest.skip(f"JetStream tests need a NATS server at {NATS_URL} (OPENOMS_TEST_NATS_URL)")


def _event(event_type: str, order_id: int) -> OutboxEvent:
    event_id = str(uuid.uuid4())
    payload = {"event_id": event_id, "type": event_type, "occurred_at": "2026-11-25T01:00:00+00:00"}
    return OutboxEvent(1, event_id, event_type, "order", str(order_id), {**payload, "order": {"id": order_id}}, 0)


def _run(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright keeps an event loop
    running in the main thread for the whole session, where asyncio.run refuses to start."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


async def _read_back(stream: str, subject: str) -> tuple[list[Any], Any]:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        sub = await js.pull_subscribe(subject, durable=None, stream=stream)
        msgs: list[Any] = []
        try:
            while True:
                batch = await sub.fetch(50, timeout=1)
                for m in batch:
                    await m.ack()
                msgs.extend(batch)
        except nats.errors.TimeoutError:
            pass
        return msgs, info
    finally:
        await nc.close()


async def _delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:
        pass
    finally:
        await nc.close()


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"OPENOMS_TEST_{tag}", f"test{tag}"
    yield stream, prefix
    _run(_delete_stream(stream))


def test_events_reach_jetstream_once_even_when_handed_over_twice(names: tuple[str, str]) -> None:
    stream, prefix = names
    publisher = NatsPublisher(NATS_URL, stream, prefix)
    placed, shipped = _event("order.placed", 5), _event("shipment.created", 5)
    try:
        first = publisher.publish(placed)
        again = publisher.publish(placed)  # the outbox retried the message: JetStream drops it
        publisher.publish(shipped)
    finally:
        publisher.close()
    assert not first.duplicate and again.duplicate and again.seq == first.seq

    msgs, info = _run(_read_back(stream, f"{prefix}.>"))
    assert info.config.subjects == [f"{prefix}.>"] and info.config.duplicate_window >= 3600
    assert info.state.messages == 2
    assert [m.subject for m in msgs] == [f"{prefix}.order.placed", f"{prefix}.shipment.created"]
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [placed.event_id, shipped.event_id]
    body = json.loads(msgs[0].data)
    assert body == {
        "id": placed.event_id,
        "type": "order.placed",
        "created_at": "2026-11-25T01:00:00+00:00",
        "data": dict(placed.payload),
    }


def test_the_worker_publishes_when_nats_url_is_set(names: tuple[str, str], db: Database) -> None:
    stream, prefix = names
    settings = Settings(database_url=db.url, nats_url=NATS_URL, nats_stream=stream, nats_subject_prefix=prefix)
    with db.begin() as conn:
        event_id = enqueue(conn, "order.cancelled", "order", "12", {"order": {"id": 12}})
    worker = Worker(db, settings, jobs=[])
    assert [c.name for c in worker.consumers][-1] == "nats"
    try:
        assert worker.drain().delivered == 1
    finally:
        worker.consumers[-1].close()  # type: ignore[attr-defined]
    msgs, _ = _run(_read_back(stream, f"{prefix}.order.cancelled"))
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [event_id]


def test_no_nats_url_no_publisher() -> None:
    assert "nats" not in [c.name for c in default_consumers(Settings())]


def test_unreachable_server_fails_so_the_outbox_retries() -> None:
    publisher = NatsPublisher("nats://127.0.0.1:1", "OPENOMS_NOPE", "nope", timeout=1)
    try:
        with pytest.raises(PublishFailed, match=r"127\.0\.0\.1:1"):
            publisher.publish(_event("order.placed", 1))
    finally:
        publisher.close()


def test_subjects_never_become_wildcards() -> None:
    assert subject_for("openoms", "order.placed") == "openoms.order.placed"
    assert subject_for("openoms", "odd type.>*") == "openoms.odd_type.__"
    with pytest.raises(ValueError):
        NatsPublisher(NATS_URL, "S", "bad prefix")
