"""The e-mail language settings at the edges: a channel's default language on its page and in
the API, and an order's language at capture, refused when it is not a language tag."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.domain.access import Role
from openoms.services import catalog
from tests.e2e.test_web_admin import as_role, field_error, staff  # noqa: F401  (staff is a fixture)


def test_a_channels_email_language_is_set_on_its_page(
    app_client: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],  # noqa: F811
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    form = {"code": "de-web", "name": "DE web", "kind": "web", "currency": "EUR", "active": "1"}
    assert admin.post("/channels/new", {**form, "default_language": "de"}).status_code == 303
    assert catalog.CHANNELS.get(db, "de-web")["default_language"] == "de"
    page = admin.get("/channels/de-web").text
    assert 'name="default_language"' in page and 'value="de"' in page and "E-mail language" in page
    r = admin.post("/channels/de-web", {**form, "default_language": "Deutsch!"})
    assert r.status_code == 422 and field_error(r.text, "default_language") == (
        "Use a language code, such as en, de or fr-CA."
    )
    assert catalog.CHANNELS.get(db, "de-web")["default_language"] == "de"
    assert admin.post("/channels/de-web", {**form, "default_language": ""}).status_code == 303
    assert catalog.CHANNELS.get(db, "de-web")["default_language"] is None  # cleared: English


def test_language_in_the_api(api: TestClient, db: Database) -> None:
    r = api.post("/api/v1/channels", json={"code": "fr", "name": "FR", "kind": "web", "default_language": "fr-CA"})
    assert r.status_code == 201, r.text
    assert r.json()["default_language"] == "fr-CA"
    r = api.patch("/api/v1/channels/fr", json={"default_language": None})
    assert r.status_code == 200 and r.json()["default_language"] is None
    r = api.post("/api/v1/channels", json={"code": "x", "name": "X", "kind": "web", "default_language": "x y"})
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "default_language"
    body = {
        "channel": "fr",
        "currency": "USD",
        "language": "français",
        "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}],
    }
    r = api.post("/api/v1/orders", json=body)
    assert r.status_code == 422 and [e["field"] for e in r.json()["error"]["errors"]] == ["language"]
    assert api.get("/api/v1/orders").json()["items"] == []
