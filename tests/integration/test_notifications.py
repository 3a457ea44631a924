"""Customer e-mail through the worker, against a real SMTP server (aiosmtpd) on 127.0.0.1:
confirmation, shipping with the tracking link, SMTP down and back, never a second copy, two
workers sharing one outbox on PostgreSQL, and the CLI an operator runs."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import threading
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue, record_order_event
from openoms.adapters.db.tables import Notification, OutboxMessage, table
from openoms.api.app import create_app
from openoms.cli import app
from openoms.config import Settings, get_settings
from openoms.services import apikeys, notifications, outbox
from openoms.services.common import Actor
from openoms.worker import PassResult, ScheduledJob, Worker
from tests.conftest import free_port
from tests.integration.test_routing_capture import NJ, order_body
from tests.integration.test_routing_capture import seed as seed_network

outbox_t = table(OutboxMessage)
notes_t = table(Notification)


def _outbox_part(result: PassResult) -> tuple[int, int]:
    """Delivered and failed messages of a pass (the scheduled jobs' counts are their business)."""
    return result.delivered, result.failed


def seed(db: Database, stock: dict[tuple[str, str], int]) -> None:
    """The routing tests' network and stock, with the stock events already delivered: the
    tests count the outbox messages their orders make."""
    seed_network(db, stock)
    with db.begin() as conn:
        conn.execute(update(outbox_t).values(delivered_at=dt.datetime.now(dt.UTC)))


class Inbox:
    """What an aiosmtpd server on 127.0.0.1 received; ``stop``/``start`` take it down and up."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def text(self, msg: EmailMessage) -> str:
        body = msg.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())  # type: ignore[attr-defined]

    def html(self, msg: EmailMessage) -> str:
        body = msg.get_body(preferencelist=("html",))
        assert body is not None
        return str(body.get_content())  # type: ignore[attr-defined]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.start()
    yield box
    box.stop()


def settings_for(db: Database, inbox: Inbox | None, **extra: Any) -> Settings:
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": inbox.port} if inbox else {"smtp_host": ""}
    return Settings(
        database_url=db.url, mail_from="Acme Shop <shop@acme.test>", smtp_timeout_seconds=5, **smtp, **extra
    )


class Clock:
    """The worker's idea of now, moved by hand to get past a back-off."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


def _place(api: TestClient, ext: str, *, language: str | None = None, email_: str | None = "ana@example.com") -> Any:
    extra: dict[str, Any] = {"external_order_id": ext}
    if email_:
        extra["customer"] = {"email": email_, "name": "Ana Lima"}
    if language:
        extra["language"] = language
    r = api.post("/api/v1/orders", json=order_body([("A", 2)], NJ, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def _timeline(api: TestClient, ref: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in api.get(f"/api/v1/orders/{ref}").json()["timeline"] if e["event_type"] == kind]


def _ship(api: TestClient, order: dict[str, Any], carrier: str, tracking: str) -> None:
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]["number"]
    r = api.post(
        f"/api/v1/fulfilment-orders/{fo}/shipments",
        json={
            "carrier": carrier,
            "packages": [
                {"tracking_number": tracking, "weight_grams": 700, "lines": [{"line_number": 1, "quantity": 2}]}
            ],
        },
    )
    assert r.status_code == 201, r.text


def test_capture_then_worker_sends_one_confirmation_in_the_customers_language(
    api: TestClient, db: Database, inbox: Inbox
) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    order = _place(api, "N-1", language="de-AT")
    ref = order["order_number"]
    worker = Worker(db, settings_for(db, inbox))

    result = worker.run_once()
    assert (result.delivered, result.failed) == (1, 0)
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == f"Bestellung {ref} bestätigt"  # de-AT has no templates: German ones
    assert msg["To"] == "ana@example.com" and inbox.recipients == [["ana@example.com"]]
    assert msg["From"] == "Acme Shop <shop@acme.test>" and msg["Content-Language"] == "de"
    event_id = api_outbox(db)[0]["event_id"]
    assert msg["Message-ID"] == f"<{event_id}.order_confirmed@acme.test>"
    text = inbox.text(msg)
    assert "Hallo Ana Lima" in text and "2 x Tee (A)" in text and "Gesamtbetrag: 20,00" in text
    assert "Ana Lima" in inbox.html(msg) and "<strong>" + ref + "</strong>" in inbox.html(msg)

    sent = _timeline(api, ref, "notification.sent")
    assert len(sent) == 1 and sent[0]["actor"] == "worker:email"
    assert sent[0]["message"] == f"E-mail 'Bestellung {ref} bestätigt' sent to ana@example.com (order confirmation, de)"
    [note] = notifications.list_notifications(db, order["id"])
    assert (note["status"], note["attempts"], note["template"], note["language"]) == (
        "sent",
        1,
        "order_confirmed",
        "de",
    )

    assert _outbox_part(worker.run_once()) == (0, 0)  # nothing due: no second e-mail
    assert len(inbox.messages) == 1


def api_outbox(db: Database) -> list[Any]:
    """The outbox messages the test made (not the seed's)."""
    with db.read() as conn:
        rows = conn.execute(select(outbox_t).where(~outbox_t.c.event_type.like("stock.%")).order_by(outbox_t.c.id))
        return [r._asdict() for r in rows.all()]


def test_shipped_email_has_the_carrier_tracking_link_and_the_shipped_lines(
    api: TestClient, db: Database, inbox: Inbox
) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    order = _place(api, "N-2")
    _ship(api, order, "UPS", "1Z 999/AA")
    Worker(db, settings_for(db, inbox)).run_once()
    subjects = [m["Subject"] for m in inbox.messages]
    ref = order["order_number"]
    assert subjects == [f"Order {ref} confirmed", f"Your order {ref} has shipped"]
    text = inbox.text(inbox.messages[1])
    assert "on its way with UPS" in text and "2 x Tee (A)" in text
    assert "Track it: https://www.ups.com/track?tracknum=1Z%20999%2FAA" in text
    assert 'href="https://www.ups.com/track?tracknum=1Z%20999%2FAA"' in inbox.html(inbox.messages[1])
    assert [e["event_type"] for e in api_outbox(db) if e["delivered_at"] is None] == []


def test_a_channel_template_overrides_the_default_and_falls_back_per_language(
    api: TestClient, db: Database, inbox: Inbox, tmp_path: Path
) -> None:
    own = tmp_path / "mail" / "channels" / "web" / "en"
    own.mkdir(parents=True)
    (own / "order_confirmed.subject.txt").write_text("Web shop: {{ order.number }} is in")
    seed(db, {("A", "WH-EAST"): 10})
    en = _place(api, "N-3")
    de = _place(api, "N-4", language="de")
    Worker(db, settings_for(db, inbox, mail_templates_dir=tmp_path / "mail")).run_once()
    subjects = [m["Subject"] for m in inbox.messages]
    # The channel's English subject for English; German has no channel version: the default German.
    assert subjects == [f"Web shop: {en['order_number']} is in", f"Bestellung {de['order_number']} bestätigt"]
    assert "thank you for your order" in inbox.text(inbox.messages[0])  # body: the built-in one


def test_smtp_down_retries_with_back_off_then_delivers_once(api: TestClient, db: Database, inbox: Inbox) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    inbox.stop()
    order = _place(api, "N-5")
    clock = Clock()
    worker = Worker(db, settings_for(db, inbox), clock=clock)

    assert (worker.run_once().failed, len(inbox.messages)) == (1, 0)
    [row] = api_outbox(db)
    assert row["attempts"] == 1 and row["delivered_at"] is None and "Connection refused" in row["last_error"]
    assert row["available_at"] == clock.now + dt.timedelta(minutes=1)
    failed = _timeline(api, order["order_number"], "notification.failed")
    assert len(failed) == 1 and "retries it with back-off" in failed[0]["message"]

    assert _outbox_part(worker.run_once()) == (0, 0)  # not due yet
    clock.advance(minutes=1)
    assert worker.run_once().failed == 1  # second failure: now two minutes
    assert api_outbox(db)[0]["available_at"] == clock.now + dt.timedelta(minutes=2)
    assert len(_timeline(api, order["order_number"], "notification.failed")) == 1  # the first only

    inbox.start()
    clock.advance(minutes=2)
    assert worker.run_once().delivered == 1
    assert len(inbox.messages) == 1
    [note] = notifications.list_notifications(db, order["id"])
    assert (note["status"], note["attempts"], note["error"]) == ("sent", 3, None)
    assert api_outbox(db)[0]["last_error"] is None
    clock.advance(hours=2)
    assert _outbox_part(worker.run_once()) == (0, 0) and len(inbox.messages) == 1


class Failing:
    name = "webhook"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: Any, db: Database) -> None:
        self.calls += 1
        raise RuntimeError("receiver answered 503")


def test_redelivery_never_sends_a_second_email(api: TestClient, db: Database, inbox: Inbox) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    _place(api, "N-6")
    settings = settings_for(db, inbox)
    clock = Clock()
    email_consumer = notifications.EmailConsumer(settings)
    failing = Failing()
    # Another consumer fails: the message comes back, the e-mail consumer sees it again.
    w = Worker(db, settings, consumers=[email_consumer, failing], clock=clock)
    assert w.run_once().failed == 1 and len(inbox.messages) == 1
    assert "webhook: RuntimeError: receiver answered 503" in api_outbox(db)[0]["last_error"]
    clock.advance(minutes=5)
    assert w.run_once().failed == 1 and failing.calls == 2 and len(inbox.messages) == 1
    # The worker crashed after sending but before marking the message: it is delivered again.
    with db.begin() as conn:
        conn.execute(
            update(outbox_t)
            .where(outbox_t.c.event_type == "order.placed")
            .values(delivered_at=None, attempts=0, available_at=clock.now)
        )
    assert Worker(db, settings, clock=clock).run_once().delivered == 1
    # And an operator re-queues it by hand.
    with db.begin() as conn:
        conn.execute(
            update(outbox_t).where(outbox_t.c.event_type == "order.placed").values(delivered_at=None, attempts=10)
        )
    ids = [r["id"] for r in api_outbox(db)]
    assert outbox.retry(db, ids, Actor("tests")) == ids
    assert Worker(db, settings).run_once().delivered == 1
    assert len(inbox.messages) == 1


def test_without_smtp_or_address_notifications_are_skipped_and_the_outbox_moves_on(
    api: TestClient, db: Database
) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    with_email = _place(api, "N-7")
    without = _place(api, "N-8", email_=None)
    result = Worker(db, settings_for(db, None)).run_once()
    assert (result.delivered, result.failed) == (2, 0)
    [a] = notifications.list_notifications(db, with_email["id"])
    [b] = notifications.list_notifications(db, without["id"])
    assert (a["status"], a["error"]) == ("skipped", notifications.SKIP_NOT_CONFIGURED)
    assert (b["status"], b["error"]) == ("skipped", notifications.SKIP_NO_ADDRESS)
    assert _timeline(api, with_email["order_number"], "notification.sent") == []


def test_delay_delivered_and_pickup_emails(api: TestClient, db: Database, inbox: Inbox) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    order = _place(api, "N-9")
    oid, ref = order["id"], order["order_number"]
    _ship(api, order, "FedEx Ground", "7777")
    with db.begin() as conn:
        shipment_id = conn.execute(select(table(OutboxMessage).c.payload)).all()[-1][0]["shipment_id"]
        info = {"id": oid, "order_number": ref, "status": "shipped"}
        exception = {
            "shipment_id": shipment_id,
            "tracking_number": "7777",
            "carrier": "FedEx Ground",
            "event": {"status": "exception", "description": "Address could not be found"},
        }
        record_order_event(
            conn,
            order_id=oid,
            event_type="shipment.exception",
            actor="t",
            message="x",
            publish={"order": info, **exception},
        )
        delivered = {
            "shipment_id": shipment_id,
            "delivered_at": "2026-12-02T03:30:00+00:00",
            "destination_timezone": "America/New_York",
        }
        for _ in range(2):  # a corrected delivery time publishes it again: one e-mail
            record_order_event(
                conn,
                order_id=oid,
                event_type="shipment.delivered",
                actor="t",
                message="x",
                publish={"order": info, **delivered},
            )
        pickup = {
            "pickup_code": "K7Q4-92",
            "pickup_location": {
                "code": "ST-NYC",
                "name": "NYC store",
                "address": {"line1": "350 5th Ave", "city": "New York"},
            },
        }
        record_order_event(
            conn,
            order_id=oid,
            event_type="order.ready_for_pickup",
            actor="t",
            message="x",
            publish={"order": info, **pickup},
        )
    Worker(db, settings_for(db, inbox)).run_once()
    by_subject = {m["Subject"]: inbox.text(m) for m in inbox.messages}
    assert list(by_subject) == [
        f"Order {ref} confirmed",
        f"Your order {ref} has shipped",
        f"Your order {ref} is delayed",
        f"Your order {ref} has been delivered",
        f"Your order {ref} is ready for pickup",
    ]
    delay = by_subject[f"Your order {ref} is delayed"]
    assert "problem with package 7777: Address could not be found" in delay
    assert "https://www.fedex.com/fedextrack/?trknbr=7777" in delay
    assert "was delivered on December 1, 2026" in by_subject[f"Your order {ref} has been delivered"]  # New York's day
    assert "Your pickup code: K7Q4-92" in by_subject[f"Your order {ref} is ready for pickup"]
    assert "Address: 350 5th Ave, New York" in by_subject[f"Your order {ref} is ready for pickup"]


def test_a_reroute_that_moves_the_promise_later_sends_a_delay_notice(
    api: TestClient, db: Database, inbox: Inbox
) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    order = _place(api, "N-10")
    oid, ref = order["id"], order["order_number"]
    worker = Worker(db, settings_for(db, inbox))
    worker.run_once()
    [note] = notifications.list_notifications(db, oid)
    told = note["promised_latest"]
    assert told is not None
    info = {"id": oid, "order_number": ref, "status": "allocated"}
    orders_t = table(OutboxMessage).metadata.tables["orders"]
    with db.begin() as conn:  # a re-route that keeps the date: nothing to say
        record_order_event(
            conn, order_id=oid, event_type="order.rerouted", actor="t", message="x", publish={"order": info}
        )
    worker.run_once()
    assert len(inbox.messages) == 1
    with db.begin() as conn:  # one that moves it two days later
        conn.execute(update(orders_t).where(orders_t.c.id == oid).values(promised_latest=told + dt.timedelta(days=2)))
        record_order_event(
            conn, order_id=oid, event_type="order.rerouted", actor="t", message="x", publish={"order": info}
        )
    worker.run_once()
    assert [m["Subject"] for m in inbox.messages][1:] == [f"Your order {ref} is delayed"]
    with db.begin() as conn:  # and again with the same date: they have been told
        record_order_event(
            conn, order_id=oid, event_type="order.rerouted", actor="t", message="x", publish={"order": info}
        )
    worker.run_once()
    assert len(inbox.messages) == 2


def test_a_real_backorder_sends_a_delay_notice(api: TestClient, db: Database, inbox: Inbox) -> None:
    seed(db, {("A", "WH-EAST"): 2})
    order = _place(api, "N-11")
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]["number"]
    r = api.post(f"/api/v1/fulfilment-orders/{fo}/lines/1/reject", json={"reason": "not found on the shelf"})
    assert r.status_code == 200, r.text
    assert _timeline(api, order["order_number"], "order.backordered")  # nowhere else has it
    Worker(db, settings_for(db, inbox)).run_once()
    assert [m["Subject"] for m in inbox.messages] == [
        f"Order {order['order_number']} confirmed",
        f"Your order {order['order_number']} is delayed",
    ]
    assert "Some items are not in stock at the moment" in inbox.text(inbox.messages[1])


class Counting:
    """Records which worker took which message; slow enough that workers overlap."""

    name = "counter"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, event: Any, db: Database) -> None:
        threading.Event().wait(0.002)
        with self.lock:
            self.seen.append(event.event_id)


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_take_the_same_message(pg_url: str) -> None:
    db = Database(pg_url, pool_size=4)
    try:
        with db.begin() as conn:
            ids = [enqueue(conn, "test.ping", "test", str(i), {"n": i}) for i in range(300)]
        counter = Counting()
        settings = Settings(database_url=pg_url)
        barrier = threading.Barrier(4)
        results: list[PassResult] = []

        def run() -> None:
            own = Database(pg_url, pool_size=2)  # each worker its own connections
            try:
                barrier.wait()
                results.append(Worker(own, settings, consumers=[counter], jobs=[], batch=7).drain())
            finally:
                own.dispose()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(counter.seen) == sorted(ids)  # every message exactly once
        assert Counter(counter.seen).most_common(1)[0][1] == 1
        assert sum(r.delivered for r in results) == 300 and all(r.delivered > 0 for r in results)
        assert all(r["delivered_at"] is not None for r in api_outbox(db))
    finally:
        db.dispose()


def test_scheduled_jobs_run_when_due(db: Database) -> None:
    runs: list[dt.datetime] = []

    def expire(database: Database, now: dt.datetime) -> int:
        runs.append(now)
        return 3

    clock = Clock()
    w = Worker(db, settings_for(db, None), jobs=[ScheduledJob("expire", dt.timedelta(minutes=5), expire)], clock=clock)
    assert w.run_once().jobs == {"expire": 3}
    assert w.run_due_jobs() == {}  # ran a moment ago
    clock.advance(minutes=5)
    assert w.run_due_jobs() == {"expire": 3} and len(runs) == 2


def test_worker_and_outbox_commands(tmp_path: Path, inbox: Inbox) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    migrate.upgrade(db)
    seed(db, {("A", "WH-EAST"): 10})
    with TestClient(create_app(Settings(database_url=url), db)) as c:
        _, secret = apikeys.create_api_key(db, "t", ["*"])
        c.headers["Authorization"] = f"Bearer {secret}"
        _place(c, "C-1")
    runner = CliRunner()
    env = {
        "OPENOMS_DATABASE_URL": url,
        "OPENOMS_SMTP_HOST": "127.0.0.1",
        "OPENOMS_SMTP_PORT": str(inbox.port),
        "OPENOMS_OUTBOX_MAX_ATTEMPTS": "1",
        "COLUMNS": "200",
    }
    try:
        inbox.stop()
        get_settings.cache_clear()
        r = runner.invoke(app, ["worker", "--once"], env=env)
        assert r.exit_code == 1 and "delivered 0, failed 1" in r.output, r.output
        get_settings.cache_clear()
        r = runner.invoke(app, ["outbox"], env=env)
        assert r.exit_code == 0 and "order.placed" in r.output and "(dead)" in r.output and "dead 1" in r.output, (
            r.output
        )
        get_settings.cache_clear()
        assert "delivered 0, failed 0" in runner.invoke(app, ["worker", "--once"], env=env).output  # dead: left alone
        inbox.start()
        get_settings.cache_clear()
        assert runner.invoke(app, ["outbox", "retry", "999"], env=env).exit_code == 2
        get_settings.cache_clear()
        placed = api_outbox(db)[0]["id"]
        r = runner.invoke(app, ["outbox", "retry", str(placed)], env=env)
        assert r.exit_code == 0 and f"re-queued {placed}" in r.output, r.output
        get_settings.cache_clear()
        r = runner.invoke(app, ["worker", "--once"], env=env)
        assert r.exit_code == 0 and "delivered 1, failed 0" in r.output, r.output
        assert [m["Subject"] for m in inbox.messages] == ["Order SO-0000001 confirmed"]
        get_settings.cache_clear()
        assert "pending 0, retrying 0, dead 0" in runner.invoke(app, ["outbox"], env=env).output
    finally:
        get_settings.cache_clear()
        db.dispose()


def test_the_channels_language_is_used_when_the_order_has_none(api: TestClient, db: Database, inbox: Inbox) -> None:
    from openoms.services import catalog

    seed(db, {("A", "WH-EAST"): 10})
    catalog.CHANNELS.update(db, "web", {"default_language": "de"})
    german = _place(api, "L-1")
    english = _place(api, "L-2", language="en-US")
    Worker(db, settings_for(db, inbox)).run_once()
    assert [m["Subject"] for m in inbox.messages] == [
        f"Bestellung {german['order_number']} bestätigt",
        f"Order {english['order_number']} confirmed",
    ]
    assert "Gesamtbetrag: 20,00\xa0$" in inbox.text(inbox.messages[0])  # German number format
    assert "Total: $20.00" in inbox.text(inbox.messages[1])


def test_the_worker_process_delivers_and_stops_on_sigterm(tmp_path: Path, inbox: Inbox) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    url = f"sqlite:///{tmp_path / 'w.db'}"
    db = Database(url)
    migrate.upgrade(db)
    seed(db, {("A", "WH-EAST"): 10})
    with TestClient(create_app(Settings(database_url=url), db)) as c:
        _, secret = apikeys.create_api_key(db, "t", ["*"])
        c.headers["Authorization"] = f"Bearer {secret}"
        _place(c, "P-1")
    env = {**os.environ, "OPENOMS_DATABASE_URL": url, "OPENOMS_SMTP_HOST": "127.0.0.1"}
    env["OPENOMS_SMTP_PORT"] = str(inbox.port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "openoms", "worker", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m["Subject"] for m in inbox.messages] == ["Order SO-0000001 confirmed"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()
    assert proc.returncode == 0, out
    assert "delivered outbox" in out and "SIGTERM received, stopping" in out and "worker stopped" in out
