"""The webhooks API as an integrator's admin sees it: subscriptions with the secret shown once,
the delivery log with filters and pages, re-send, the scope, and bad input refused with the
field and the reason, changing nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue
from openoms.adapters.db.tables import AuditEntry, WebhookSubscription, table
from openoms.config import Settings
from openoms.services import apikeys, webhooks
from openoms.services.common import Actor
from openoms.worker import Worker

BASE = "/api/v1/webhooks"


def _create(api: TestClient, **extra: Any) -> dict[str, Any]:
    body = {"name": "ERP", "url": "https://erp.example.com/hooks/oms", "event_types": ["order.*"], **extra}
    r = api.post(f"{BASE}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _errors(r: Any) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in r.json()["error"]["errors"]}


def _count_subs(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table(WebhookSubscription))).scalar_one())


def test_subscription_crud_and_the_secret_shown_once(api: TestClient, db: Database) -> None:
    created = _create(api, event_types=["order.*", "shipment.delivered", "ORDER.*"])
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["order.*", "shipment.delivered"]
    sid = created["id"]
    listed = api.get(f"{BASE}/subscriptions").json()
    assert [s["id"] for s in listed] == [sid] and "secret" not in listed[0]
    got = api.get(f"{BASE}/subscriptions/{sid}").json()
    assert "secret" not in got and got["created_by"] == "api-key:tests"

    r = api.patch(f"{BASE}/subscriptions/{sid}", json={"active": False, "url": "http://10.0.0.5:8080/in"})
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["url"] == "http://10.0.0.5:8080/in"
    assert r.json()["name"] == "ERP"  # left out: unchanged

    rotated = api.post(f"{BASE}/subscriptions/{sid}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]

    assert api.delete(f"{BASE}/subscriptions/{sid}").status_code == 204
    assert api.get(f"{BASE}/subscriptions/{sid}").status_code == 404
    with db.read() as conn:
        actions = conn.execute(select(table(AuditEntry).c.action).order_by(table(AuditEntry).c.id)).scalars().all()
    assert [a for a in actions if a.startswith("webhook.")] == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]


def test_bad_input_names_the_field_and_changes_nothing(api: TestClient, db: Database) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"url": "ftp://x.example.com/"}, "url", "http:// or https://"),
        ({"url": "not a url"}, "url", "spaces"),
        ({"url": "https:///nohost"}, "url", "no host"),
        ({"url": "https://a.example.com:99999/"}, "url", "not a valid URL"),
        ({"event_types": []}, "event_types", ""),
        ({"event_types": ["order.*", "orders placed"]}, "event_types[1]", "not an event type"),
        ({"name": "   "}, "name", "must not be empty"),
        ({"secret": "mine"}, "secret", ""),
    ]
    for extra, field, reason in cases:
        body = {"name": "ERP", "url": "https://erp.example.com/h", "event_types": ["*"], **extra}
        r = api.post(f"{BASE}/subscriptions", json=body)
        assert r.status_code == 422, (extra, r.text)
        errors = _errors(r)
        assert field in errors and reason in errors[field], (extra, errors)
    assert _count_subs(db) == 0
    sid = _create(api)["id"]
    r = api.patch(f"{BASE}/subscriptions/{sid}", json={"url": "javascript:alert(1)"})
    assert r.status_code == 422 and "url" in _errors(r)
    assert api.get(f"{BASE}/subscriptions/{sid}").json()["url"] == "https://erp.example.com/hooks/oms"
    assert api.patch(f"{BASE}/subscriptions/999", json={"active": True}).status_code == 404
    assert api.post(f"{BASE}/deliveries/999/resend").status_code == 404
    r = api.get(f"{BASE}/deliveries", params={"status": "lost"})
    assert r.status_code == 422 and "status" in _errors(r)
    assert api.get(f"{BASE}/deliveries", params={"cursor": "!!"}).status_code == 422
    assert api.get(f"{BASE}/subscriptions/0").status_code == 422


def test_scope_is_required(app_client: TestClient, db: Database) -> None:
    _, reader = apikeys.create_api_key(db, "orders only", ["orders:write"])
    r = app_client.get(f"{BASE}/subscriptions", headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "webhooks:manage" in r.text
    _, manager = apikeys.create_api_key(db, "hooks", ["webhooks:manage"])
    r = app_client.get(f"{BASE}/subscriptions", headers={"Authorization": f"Bearer {manager}"})
    assert r.status_code == 200
    assert app_client.get(f"{BASE}/subscriptions").status_code == 401


def test_delivery_log_and_resend(api: TestClient, db: Database) -> None:
    sid = _create(api, url="http://127.0.0.1:9/unreachable", event_types=["*"])["id"]
    other = _create(api, name="CRM", event_types=["shipment.*"])["id"]
    with db.begin() as conn:
        for i in range(3):
            enqueue(conn, "order.placed", "order", str(i + 1), {"order": {"id": i + 1}})
        enqueue(conn, "shipment.created", "order", "1", {"order": {"id": 1}})
    settings = Settings(database_url=db.url, webhook_timeout_seconds=2)
    Worker(db, settings, consumers=[webhooks.WebhookFanout()], jobs=[]).drain()
    webhooks.update_subscription(db, other, active=False, actor=Actor("tests"))
    webhooks.deliver_due(db, settings)  # port 9: nothing listens, a network error each

    page = api.get(f"{BASE}/deliveries", params={"subscription_id": sid, "limit": 3}).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = api.get(f"{BASE}/deliveries", params={"subscription_id": sid, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    failed = api.get(f"{BASE}/deliveries", params={"status": "failed"}).json()["items"]
    assert len(failed) == 3 and all(d["last_response_code"] is None and d["last_error"] for d in failed)
    assert all(d["next_attempt_at"] for d in failed)
    shipments = api.get(f"{BASE}/deliveries", params={"event_type": "shipment.created"}).json()["items"]
    assert {d["subscription_id"] for d in shipments} == {sid, other}

    target = failed[0]
    r = api.post(f"{BASE}/deliveries/{target['id']}/resend")
    assert r.status_code == 200
    again = r.json()
    assert again["status"] == "pending" and again["attempts"] == 0 and again["event_id"] == target["event_id"]
    assert api.get(f"{BASE}/deliveries/{target['id']}").json()["last_error"] == target["last_error"]


def test_event_type_choices(api: TestClient) -> None:
    got = api.get(f"{BASE}/event-types").json()
    assert "order.placed" in got["event_types"] and "order.*" in got["prefixes"]
    assert "notification.sent" not in got["event_types"]


def test_openapi_documents_the_routes(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/webhooks/subscriptions"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/webhooks/subscriptions/{subscription_id}"])
    assert "post" in paths["/api/v1/webhooks/deliveries/{delivery_id}/resend"]
