"""`openoms webhooks list|add|deliveries|resend` in-process (SQLite), against a real receiver
for the worker's sending in between."""

from __future__ import annotations

from openoms.adapters.db.journal import enqueue
from openoms.config import Settings
from openoms.services import webhooks
from openoms.worker import Worker
from tests.integration import test_cli
from tests.integration.test_cli import Cli, failed, ok
from tests.webhook_receiver import Receiver

cli = test_cli.cli  # the fixtures, shared
migrated = test_cli.migrated


def test_add_list_deliveries_and_resend(migrated: Cli) -> None:
    assert "no webhook subscriptions" in ok(migrated("webhooks", "list"))
    receiver = Receiver(answer=lambda r: 500).start()
    try:
        out = ok(migrated("webhooks", "add", "ERP", receiver.url, "--event", "order.*", "-e", "stock.low"))
        assert "webhook 1 'ERP'" in out and "order.*, stock.low" in out
        secret = out.split("signing secret (shown once): ")[1].split()[0]
        assert secret.startswith("whsec_")
        listed = ok(migrated("webhooks", "list"))
        assert "ERP" in listed and secret not in listed

        with migrated.db.begin() as conn:
            enqueue(conn, "order.placed", "order", "5", {"order": {"id": 5}})
        settings = Settings(database_url=migrated.url, var_dir=migrated.var)
        Worker(migrated.db, settings, consumers=[webhooks.WebhookFanout()], jobs=[]).drain()
        assert webhooks.deliver_due(migrated.db, settings).failed == 1
        log = ok(migrated("webhooks", "deliveries", "--status", "failed"))
        assert "order.placed" in log and "500" in log and "HTTP 500" in log

        assert "delivery 1 (order.placed to ERP) queued again" in ok(migrated("webhooks", "resend", "1"))
        receiver.answer = lambda r: 200
        assert webhooks.deliver_due(migrated.db, settings).delivered == 1
        # the CLI's key and the worker's key are the same installation key (var/secret.key)
        assert receiver.requests[-1].headers["OpenOMS-Signature"].startswith("t=")
        import datetime as dt

        from openoms.adapters.carriers.tracking_inbound import verify_webhook_signature

        last = receiver.requests[-1]
        verify_webhook_signature(last.body, last.headers["OpenOMS-Signature"], secret, now=dt.datetime.now(dt.UTC))
    finally:
        receiver.stop()


def test_bad_input_is_refused_cleanly(migrated: Cli) -> None:
    out = failed(migrated("webhooks", "add", "ERP", "ftp://x", "--event", "order.*"), 2)
    assert "url: must start with http:// or https://" in out
    out = failed(migrated("webhooks", "add", "ERP", "https://x.example.com", "--event", "no such"), 2)
    assert "event_types[0]" in out
    assert "does not exist" in failed(migrated("webhooks", "resend", "42"), 1)
    assert "no webhook subscriptions" in ok(migrated("webhooks", "list"))
