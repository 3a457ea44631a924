"""The outbox page: administrators only, undelivered events and failed e-mails with their
errors, and retrying (one, or every stopped message) puts them back in the queue."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import AuditEntry, OutboxMessage, table
from openoms.config import Settings
from openoms.domain.access import Role
from openoms.worker import Worker
from tests.conftest import free_port
from tests.e2e.test_web_admin import as_role, staff  # noqa: F401  (staff is a fixture)
from tests.e2e.test_web_inventory import flash
from tests.integration.test_notifications import _place, api_outbox, seed

outbox_t = table(OutboxMessage)


def test_the_outbox_page_shows_failures_and_retries_them(
    app_client: TestClient,
    api: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],  # noqa: F811
) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    admin = as_role(app_client, db, Role.ADMIN)
    page = admin.get("/outbox")
    assert page.status_code == 200
    assert "Nothing waiting" in page.text and "No failed e-mails" in page.text and "E-mail is off" in page.text

    order = _place(api, "W-1")
    dead_port = free_port()  # nothing listens there: every e-mail fails
    Worker(db, Settings(database_url=db.url, smtp_host="127.0.0.1", smtp_port=dead_port)).run_once()
    [placed] = api_outbox(db)
    page = admin.get("/outbox").text
    assert f'href="/orders/{order["id"]}">{order["order_number"]}</a>' in page
    assert "Connection refused" in page and "Order placed" in page and "Retry now" in page
    assert f"Order {order['order_number']} confirmed" in page and "ana@example.com" in page

    r = admin.post(f"/outbox/{placed['id']}/retry", {})
    assert r.status_code == 303 and r.headers["location"] == "/outbox"
    assert f"Message {placed['id']} is queued again" in flash(r)
    assert api_outbox(db)[0]["attempts"] == 0
    with db.begin() as conn:
        conn.execute(update(outbox_t).where(outbox_t.c.id == placed["id"]).values(attempts=10))
    assert "Retry all 1 stopped" in admin.get("/outbox").text
    assert "1 message(s) queued again" in flash(admin.post("/outbox/retry-dead", {}))
    assert api_outbox(db)[0]["attempts"] == 0
    assert "No message has run out of retries." in flash(admin.post("/outbox/retry-dead", {}))
    with db.read() as conn:
        audit = conn.execute(select(table(AuditEntry).c.action).where(table(AuditEntry).c.subject_type == "outbox"))
        assert list(audit.scalars()) == ["outbox.retry", "outbox.retry"]

    for role in (Role.OPERATIONS, Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.FINANCE):
        person = as_role(app_client, db, role)
        assert person.get("/outbox").status_code == 403
        assert person.post(f"/outbox/{placed['id']}/retry", {}).status_code == 403
