"""The webhooks page in a real browser: an administrator subscribes a receiver, copies the
secret shown once, finds a failed delivery with the receiver's answer in the log, and re-sends
it. Screenshots in /tmp/shots-webhooks/."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from openoms.adapters.db.tables import Order, OutboxMessage, table
from openoms.config import Settings
from openoms.services import webhooks
from openoms.services.common import Actor
from openoms.services.notifications import OutboxEvent
from tests.browser.conftest import DemoSite, sign_in
from tests.webhook_receiver import Receiver

SHOTS = Path("/tmp/shots-webhooks")
outbox_t = table(OutboxMessage)
orders_t = table(Order)


def _fan_out_since(site: DemoSite, last_id: int) -> None:
    """What the worker's fan-out consumer does, for the new outbox rows only: the demo site is
    shared, and other tests count on the rest of its outbox staying undelivered."""
    with site.db.read() as conn:
        rows = conn.execute(select(outbox_t).where(outbox_t.c.id > last_id).order_by(outbox_t.c.id)).all()
    fan_out = webhooks.WebhookFanout()
    for r in rows:
        fan_out(OutboxEvent(r.id, r.event_id, r.event_type, r.aggregate_type, r.aggregate_id, r.payload, 0), site.db)


def test_an_admin_subscribes_sees_a_failure_and_resends(page: Page, site: DemoSite) -> None:
    SHOTS.mkdir(exist_ok=True)
    receiver = Receiver(answer=lambda r: 503).start()
    try:
        sign_in(page, site, "admin@openoms.example")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
        page.get_by_role("link", name="New webhook").click()

        page.get_by_label("Name").fill("ERP (staging)")
        page.get_by_label("Endpoint URL").fill("ftp://nope")
        page.get_by_role("button", name="Create webhook").click()
        summary = page.get_by_role("alert")
        expect(summary).to_contain_text("Must start with http:// or https://")
        expect(summary).to_contain_text("Choose at least one event type")
        page.screenshot(path=str(SHOTS / "webhook-form-errors.png"), full_page=True)

        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("All order.*").check()
        page.screenshot(path=str(SHOTS / "webhook-form.png"), full_page=True)
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_role("heading", name="Webhook created")).to_be_visible()
        secret = page.get_by_role("textbox", name="Signing secret").input_value()
        assert secret.startswith("whsec_")
        page.screenshot(path=str(SHOTS / "webhook-secret.png"), full_page=True)
        page.get_by_role("link", name="I have stored the secret").click()
        row = page.get_by_role("row").filter(has_text="ERP (staging)")
        expect(row).to_contain_text("order.*")
        expect(row).to_contain_text("active")
        expect(page.get_by_role("row").filter(has_text="ERP (example, paused)")).to_contain_text("paused")
        expect(page.get_by_text(secret)).to_have_count(0)

        # A hold on an order: two events for it, sent by the worker to a receiver that is down.
        with site.db.read() as conn:
            last_id = int(conn.execute(select(outbox_t.c.id).order_by(outbox_t.c.id.desc())).scalars().first() or 0)
            order_id = (
                conn.execute(select(orders_t.c.id).where(orders_t.c.status == "allocated").order_by(orders_t.c.id))
                .scalars()
                .first()
            )
        assert order_id is not None
        with site.api() as api:
            r = api.post(f"/api/v1/orders/{order_id}/holds", json={"type": "manual", "reason": "webhook test"})
            assert r.status_code == 200, r.text
            r = api.post(f"/api/v1/orders/{order_id}/holds/manual/release", json={"reason": "checked"})
            assert r.status_code == 200, r.text
        _fan_out_since(site, last_id)
        settings = Settings(database_url=site.db.url)
        run = webhooks.deliver_due(site.db, settings)
        assert run.failed == 1  # the release waits behind the hold: ordering per order

        page.reload()
        log = page.get_by_role("region", name="Delivery log")
        failed = log.get_by_role("row").filter(has_text="order.hold_placed")
        expect(failed).to_contain_text("503")
        expect(failed).to_contain_text("HTTP 503")
        expect(failed).to_contain_text("failed")
        expect(log.get_by_role("row").filter(has_text="order.hold_released")).to_contain_text("pending")
        page.screenshot(path=str(SHOTS / "webhooks-log.png"), full_page=True)

        receiver.answer = lambda r: 200
        failed.get_by_role("button", name="Re-send").click()
        expect(page.get_by_role("status").filter(has_text="is queued again")).to_be_visible()
        assert webhooks.deliver_due(site.db, settings).delivered == 2
        page.reload()
        log = page.get_by_role("region", name="Delivery log")
        expect(log.get_by_role("row").filter(has_text="order.hold_placed")).to_contain_text("delivered")
        expect(log.get_by_role("row").filter(has_text="order.hold_released")).to_contain_text("delivered")
        page.screenshot(path=str(SHOTS / "webhooks-delivered.png"), full_page=True)
        assert [r.json["type"] for r in receiver.requests] == [
            "order.hold_placed",
            "order.hold_placed",
            "order.hold_released",
        ]
    finally:
        receiver.stop()
        for sub in webhooks.list_subscriptions(site.db):  # the site is shared: leave no active one behind
            if sub["name"] == "ERP (staging)":
                webhooks.delete_subscription(site.db, sub["id"], Actor("tests"))
