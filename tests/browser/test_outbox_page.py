"""The outbox page in a real browser: an administrator finds the e-mails the worker could not
send, with the reason, and queues one again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from openoms.adapters.db.tables import OutboxMessage, table
from openoms.config import Settings
from openoms.worker import Worker
from tests.browser.conftest import DemoSite, sign_in
from tests.conftest import free_port

outbox_t = table(OutboxMessage)


def test_an_admin_sees_failed_emails_and_retries_one(page: Page, site: DemoSite) -> None:
    # The worker runs with an SMTP server that is down: the demo orders' confirmations fail.
    settings = Settings(database_url=site.db.url, smtp_host="127.0.0.1", smtp_port=free_port())
    Worker(site.db, settings).run_once()
    with site.db.read() as conn:
        failing = conn.execute(
            select(outbox_t.c.id).where(outbox_t.c.delivered_at.is_(None), outbox_t.c.attempts > 0)
        ).scalars()
        first = min(failing)

    sign_in(page, site, "admin@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox", exact=True)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="E-mail is off")).to_be_visible()
    emails = page.get_by_role("region", name="Customer e-mails not sent")
    expect(emails.get_by_role("row").nth(1)).to_contain_text("Connection refused")
    row = page.get_by_role("row").filter(has=page.get_by_role("button", name=f"Retry message {first} now"))
    expect(row).to_contain_text("Order placed")
    expect(row).to_contain_text(re.compile(r"SO-\d{7}"))
    page.screenshot(path="/tmp/notify-outbox.png", full_page=False)
    row.get_by_role("button", name=f"Retry message {first} now").click()
    expect(page.get_by_role("status").filter(has_text=f"Message {first} is queued again")).to_be_visible()
    retried = page.get_by_role("row").filter(has=page.get_by_text(str(first), exact=True)).first
    expect(retried).to_contain_text("waiting")
