"""The webhooks page: administrators only; a subscription made through the form shows its
secret once; bad input is shown on the form and saves nothing; the delivery log shows the
receiver's answers and Re-send queues a delivery again."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue
from openoms.config import Settings
from openoms.domain.access import Role
from openoms.services import webhooks
from openoms.services.common import Actor
from openoms.worker import Worker
from tests.e2e.test_web_admin import as_role, staff  # noqa: F401  (staff is a fixture)
from tests.e2e.test_web_inventory import flash
from tests.webhook_receiver import Receiver


def test_only_administrators_manage_webhooks(
    app_client: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],  # noqa: F811
) -> None:
    for role in (Role.OPERATIONS, Role.FINANCE, Role.WAREHOUSE):
        person = as_role(app_client, db, role)
        assert person.get("/admin/webhooks").status_code == 403
        assert person.post("/admin/webhooks/new", {"name": "x", "url": "https://x.example.com"}).status_code == 403
        assert "/admin/webhooks" not in person.get("/").text
    admin = as_role(app_client, db, Role.ADMIN)
    page = admin.get("/admin/webhooks")
    assert page.status_code == 200 and "No webhooks yet" in page.text and 'href="/admin/webhooks"' in page.text
    assert admin.post("/admin/webhooks/new", {"name": "x"}, csrf=False).status_code == 403


def test_create_edit_rotate_and_delete_through_the_form(
    app_client: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],  # noqa: F811
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    r = admin.post("/admin/webhooks/new", {"name": "", "url": "ftp://erp.example.com", "active": "1"})
    assert r.status_code == 422
    assert "Please fix these 3 things" in r.text and "Must start with http:// or https:// (ftp: given)" in r.text
    assert "Choose at least one event type" in r.text and 'value="ftp://erp.example.com"' in r.text
    assert webhooks.list_subscriptions(db) == []

    r = admin.post(
        "/admin/webhooks/new",
        {"name": "ERP", "url": "https://erp.example.com/in", "event_types": ["order.*", "stock.low"], "active": "1"},
    )
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    assert "This is the only time the secret is shown" in r.text
    [sub] = webhooks.list_subscriptions(db)
    assert sub["event_types"] == ["order.*", "stock.low"] and sub["active"] and sub["created_by"].startswith("user:")
    secret = r.text.split('id="secret" type="text" value="')[1].split('"')[0]
    assert secret.startswith("whsec_")
    listing = admin.get("/admin/webhooks").text
    assert "ERP" in listing and secret not in listing and "https://erp.example.com/in" in listing

    edit = admin.get(f"/admin/webhooks/{sub['id']}/edit").text
    assert 'value="order.*" checked' in edit and secret not in edit
    r = admin.post(f"/admin/webhooks/{sub['id']}/edit", {"name": "ERP", "url": "https://erp.example.com/in"})
    assert r.status_code == 422 and "Choose at least one event type" in r.text
    r = admin.post(
        f"/admin/webhooks/{sub['id']}/edit",
        {"name": "ERP prod", "url": "https://erp.example.com/v2", "event_types": ["*"]},
    )
    assert r.status_code == 303 and "Saved webhook ERP prod." in flash(r)
    sub = webhooks.get_subscription(db, sub["id"])
    assert (sub["name"], sub["event_types"], sub["active"]) == ("ERP prod", ["*"], False)  # unticked: paused
    assert "paused" in admin.get("/admin/webhooks").text

    r = admin.post(f"/admin/webhooks/{sub['id']}/rotate")
    assert r.status_code == 200 and "New signing secret" in r.text
    new_secret = r.text.split('id="secret" type="text" value="')[1].split('"')[0]
    assert new_secret.startswith("whsec_") and new_secret != secret

    r = admin.post(f"/admin/webhooks/{sub['id']}/delete")
    assert r.status_code == 303 and "Deleted webhook ERP prod" in flash(r)
    assert webhooks.list_subscriptions(db) == []
    assert admin.get(f"/admin/webhooks/{sub['id']}/edit").status_code == 404


def test_the_log_shows_answers_and_resend_queues_again(
    app_client: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],  # noqa: F811
) -> None:
    receiver = Receiver(answer=lambda r: 502).start()
    try:
        settings = Settings(database_url=db.url)
        webhooks.create_subscription(
            db, settings, name="WMS", url=receiver.url, event_types=["*"], actor=Actor("tests")
        )
        with db.begin() as conn:
            enqueue(conn, "order.placed", "order", "41", {"order": {"id": 41}})
        Worker(db, settings).run_once()
    finally:
        receiver.stop()
    admin = as_role(app_client, db, Role.ADMIN)
    page = admin.get("/admin/webhooks?status=failed").text
    assert "<code>502</code>" in page and "HTTP 502" in page and "receiver says no (502)" in page
    assert 'href="/orders/41">SO-0000041</a>' in page and " ms</td>" in page
    [d] = webhooks.list_deliveries(db)["items"]
    r = admin.post(f"/admin/webhooks/deliveries/{d['id']}/resend", {"back": "/admin/webhooks?status=failed"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/webhooks?status=failed"
    assert f"Delivery {d['id']} (order.placed) is queued again" in flash(r)
    assert webhooks.get_delivery(db, d["id"])["status"] == "pending"
    assert "No deliveries match" in admin.get("/admin/webhooks?status=dead").text
