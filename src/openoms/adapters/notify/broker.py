"""Publishing every outbox event to NATS JetStream (docs/webhooks.md "NATS JetStream").

The worker is synchronous and nats-py is asyncio: each publisher runs one event loop in a
daemon thread of its own and hands it one publish at a time, waiting for JetStream's
acknowledgement. ``Nats-Msg-Id`` is the event id, so a message the outbox hands over again
(another consumer failed, a worker crashed after publishing) is stored once: JetStream drops
duplicates within the stream's duplicate window, which a stream created here sets to a day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import PubAck, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError

from openoms.adapters.db.engine import Database
from openoms.config import Settings
from openoms.services.notifications import OutboxEvent

log = logging.getLogger("openoms.nats")
T = TypeVar("T")

DUPLICATE_WINDOW = dt.timedelta(days=1)
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.]")


class PublishFailed(Exception):
    """JetStream did not acknowledge the message; the outbox retries it."""


def subject_for(prefix: str, event_type: str) -> str:
    """``<prefix>.<event type>``; characters a subject cannot hold (spaces, ``*``, ``>``)
    become ``_`` so a strange type never publishes to a wildcard."""
    tokens = [t or "_" for t in _UNSAFE.sub("_", event_type).split(".")]
    return ".".join([prefix, *tokens])


def message_body(event: OutboxEvent) -> bytes:
    """The same envelope a webhook receiver gets."""
    envelope = {
        "id": event.event_id,
        "type": event.event_type,
        "created_at": event.payload.get("occurred_at"),
        "data": dict(event.payload),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


class NatsPublisher:
    """The outbox consumer for JetStream. Connects on first use, creates the stream (subjects
    ``<prefix>.>``) if it is missing, and reconnects after the server went away."""

    name = "nats"

    def __init__(self, url: str, stream: str, subject_prefix: str, *, timeout: float = 10.0) -> None:
        if not all(_TOKEN.fullmatch(t) for t in subject_prefix.split(".")):
            raise ValueError(f"OPENOMS_NATS_SUBJECT_PREFIX {subject_prefix!r}: dot-separated letters, digits, - and _")
        if not _TOKEN.fullmatch(stream):
            raise ValueError(f"OPENOMS_NATS_STREAM {stream!r}: letters, digits, - and _ only")
        self.url = url
        self.stream = stream
        self.prefix = subject_prefix
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> NatsPublisher:
        return cls(settings.nats_url, settings.nats_stream, settings.nats_subject_prefix)

    # ------------------------------------------------------------------ the loop thread

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="openoms-nats", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(self.timeout * 3)

    async def _jetstream(self) -> JetStreamContext:
        if self._nc is None or self._nc.is_closed:
            self._nc = await nats.connect(
                self.url, connect_timeout=self.timeout, max_reconnect_attempts=3, name="openoms-worker"
            )
            self._js = self._nc.jetstream(timeout=self.timeout)
            self._stream_ready = False
        assert self._js is not None
        if not self._stream_ready:
            await self._ensure_stream(self._js)
            self._stream_ready = True
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
            return
        except NotFoundError:
            pass
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            duplicate_window=DUPLICATE_WINDOW.total_seconds(),
            description="OpenOMS outbox events",
        )
        try:
            await js.add_stream(config)
            log.info("created JetStream stream %s for %s.>", self.stream, self.prefix)
        except BadRequestError:  # another worker created it a moment ago
            await js.stream_info(self.stream)

    async def _publish(self, subject: str, body: bytes, msg_id: str) -> PubAck:
        js = await self._jetstream()
        return await js.publish(
            subject, body, timeout=self.timeout, stream=self.stream, headers={"Nats-Msg-Id": msg_id}
        )

    # ------------------------------------------------------------------ the consumer

    def publish(self, event: OutboxEvent) -> PubAck:
        subject = subject_for(self.prefix, event.event_type)
        try:
            return self._run(self._publish(subject, message_body(event), event.event_id))
        except Exception as exc:
            self._stream_ready = False
            raise PublishFailed(f"NATS {self.url} {subject}: {type(exc).__name__}: {exc}") from exc

    def __call__(self, event: OutboxEvent, db: Database) -> None:
        ack = self.publish(event)
        log.info(
            "published %s to %s seq %d%s", event.event_id, ack.stream, ack.seq, " (duplicate)" if ack.duplicate else ""
        )

    def close(self) -> None:
        """Drain the connection and stop the loop thread (tests, shutdown)."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        if self._nc is not None and not self._nc.is_closed:
            nc = self._nc
            try:
                asyncio.run_coroutine_threadsafe(nc.drain(), loop).result(self.timeout)
            except Exception:  # closing anyway
                log.debug("NATS drain failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(self.timeout)
        loop.close()
        self._loop = self._thread = None
        self._nc = self._js = None
