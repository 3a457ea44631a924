"""A drop-ship supplier's key bound to DS-ACME sees and works only DS-ACME's fulfilment orders,
shipments and waves; every fulfilment route answers 404/403 for another location's work."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import ApiKey, AuditEntry, table
from openoms.domain.errors import DomainError
from openoms.services import apikeys, catalog
from openoms.services.check import run_check
from tests.integration.test_routing_capture import order_body, seed

SHIP = {"carrier": "UPS", "packages": [{"tracking_number": "1ZACME", "lines": [{"line_number": 1, "quantity": 2}]}]}
WORK_PREFIXES = ("/api/v1/fulfilment-orders", "/api/v1/shipments", "/api/v1/waves", "/api/v1/locations/{code}/release")


def _setup(api: TestClient, db: Database) -> dict[str, Any]:
    """DS-ACME holds A, WH-EAST holds W: one order each, both released; WH-EAST's shipped."""
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn,
            [
                dict(
                    code="DS-ACME",
                    name="Acme Supply",
                    kind="dropship",
                    country="US",
                    timezone="UTC",
                    priority=1,
                    address_line1="1 Supply Rd",
                    city="Newark",
                )
            ],
        )
    seed(db, {("A", "DS-ACME"): 10, ("W", "WH-EAST"): 10}, rates=False)
    acme_order = api.post("/api/v1/orders", json=order_body([("A", 2)], external_order_id="D-1")).json()
    wh_order = api.post("/api/v1/orders", json=order_body([("W", 2)], external_order_id="D-2")).json()
    [acme_fo] = api.post(f"/api/v1/orders/{acme_order['id']}/release").json()
    run = api.post("/api/v1/locations/WH-EAST/release").json()
    [wh_fo] = api.get("/api/v1/fulfilment-orders", params={"location": "WH-EAST"}).json()["items"]
    wh_ship = api.post(f"/api/v1/fulfilment-orders/{wh_fo['number']}/shipments", json={**SHIP, "carrier": "FedEx"})
    assert acme_fo["location"] == "DS-ACME" and wh_ship.status_code == 201, wh_ship.text
    _, secret = apikeys.create_api_key(db, "acme", ["fulfilment:write"], location="DS-ACME")
    return {
        "acme_fo": acme_fo,
        "wh_fo": wh_fo,
        "wh_order": wh_order,
        "wh_wave": run["runs"][0]["wave"],
        "wh_shipment": wh_ship.json()["id"],
        "headers": {"Authorization": f"Bearer {secret}"},
    }


def test_a_bound_key_sees_and_ships_only_its_own_work(api: TestClient, db: Database) -> None:
    s = _setup(api, db)
    h = s["headers"]
    listed = api.get("/api/v1/fulfilment-orders", headers=h).json()["items"]
    assert [fo["number"] for fo in listed] == [s["acme_fo"]["number"]]
    assert api.get("/api/v1/fulfilment-orders", headers=h, params={"location": "WH-EAST"}).json()["items"] == []
    assert api.get("/api/v1/waves", headers=h).json()["items"] == []
    assert api.get("/api/v1/waves", headers=h, params={"location": "WH-EAST"}).json()["items"] == []
    wh = s["wh_fo"]["number"]
    before = api.get(f"/api/v1/fulfilment-orders/{wh}").json()
    for r in (
        api.get(f"/api/v1/fulfilment-orders/{wh}", headers=h),
        api.post(f"/api/v1/fulfilment-orders/{wh}/accept", headers=h),
        api.post(f"/api/v1/fulfilment-orders/{wh}/shipments", headers=h, json=SHIP),
        api.get(f"/api/v1/fulfilment-orders/{wh}/pick-list.pdf", headers=h),
        api.get(f"/api/v1/shipments/{s['wh_shipment']}", headers=h),
        api.get(f"/api/v1/shipments/{s['wh_shipment']}/packing-slip.pdf", headers=h),
        api.get(f"/api/v1/waves/{s['wh_wave']}", headers=h),
        api.post("/api/v1/locations/WH-EAST/release", headers=h),
    ):
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    # Exactly as if it did not exist: the same answer as a number nobody has.
    assert api.get("/api/v1/fulfilment-orders/FO-0099999", headers=h).json()["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/fulfilment-orders/{wh}").json() == before  # nothing changed

    own = s["acme_fo"]["number"]
    assert api.get(f"/api/v1/fulfilment-orders/{own}", headers=h).status_code == 200
    assert api.post(f"/api/v1/fulfilment-orders/{own}/accept", headers=h).json()["status"] == "accepted"
    shipped = api.post(f"/api/v1/fulfilment-orders/{own}/shipments", headers=h, json=SHIP)
    assert shipped.status_code == 201, shipped.text
    assert api.get(f"/api/v1/shipments/{shipped.json()['id']}", headers=h).status_code == 200
    slip = api.get(f"/api/v1/shipments/{shipped.json()['id']}/packing-slip.pdf", headers=h)
    assert slip.status_code == 200, slip.text
    assert api.post("/api/v1/locations/DS-ACME/release", headers=h).status_code == 200
    assert run_check(db).ok

    # Other resources span locations: refused by scope, and routes that span locations refused too.
    for path in ("/api/v1/orders", f"/api/v1/orders/{s['wh_order']['id']}/shipments", "/api/v1/customers"):
        assert api.get(path, headers=h).status_code == 403, path
    assert api.post("/api/v1/waves/run", headers=h).status_code == 403
    assert api.post("/api/v1/tracking/events", headers=h, json={"events": []}).status_code == 403


def _fill(path: str, s: dict[str, Any]) -> str:
    values = {
        "fo": s["wh_fo"]["number"],
        "shipment_id": str(s["wh_shipment"]),
        "wave": s["wh_wave"],
        "code": "WH-EAST",
        "line_number": "1",
        "step": "pick",
        "package_number": "1",
        "fmt": "pdf",
    }
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"{path}: teach this test the new path parameter"
    return path


def test_every_fulfilment_route_hides_another_locations_work(
    app_client: TestClient, api: TestClient, db: Database
) -> None:
    """Enumerated from the app, so a route added later is checked too: never a 2xx."""
    s = _setup(api, db)
    before = api.get(f"/api/v1/fulfilment-orders/{s['wh_fo']['number']}").json()
    paths = app_client.app.openapi()["paths"]  # type: ignore[attr-defined]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(WORK_PREFIXES)
        for method in sorted(operations)
    ]
    assert len(routes) >= 15, routes
    leaks = []
    for method, template in routes:
        path = _fill(template, s)
        if "{" not in template:  # a list: it filters to the key's location instead
            r = app_client.request(method, path, headers=s["headers"], params={"location": "WH-EAST"})
            if (r.status_code == 200 and r.json().get("items")) or r.status_code not in (200, 403):
                leaks.append((method, template, r.status_code))
            continue
        r = app_client.request(method, path, headers=s["headers"], json={})
        if r.status_code not in (403, 404):
            leaks.append((method, template, r.status_code))
    assert leaks == []
    assert api.get(f"/api/v1/fulfilment-orders/{s['wh_fo']['number']}").json() == before


def test_creating_a_bound_key_checks_location_and_scopes(db: Database) -> None:
    seed(db, {}, rates=False)
    with pytest.raises(DomainError) as bad:
        apikeys.create_api_key(db, "acme", ["fulfilment:write"], location="NOPE")
    assert [e.field for e in bad.value.errors] == ["location"]
    for scopes in (["orders:read", "fulfilment:write"], ["*"], ["inventory:read"]):
        with pytest.raises(DomainError) as wide:
            apikeys.create_api_key(db, "acme", scopes, location="WH-EAST")
        assert [e.field for e in wide.value.errors] == ["scopes"], scopes
    with db.read() as conn:  # refused: nothing written
        assert conn.execute(select(table(ApiKey))).all() == []
        assert conn.execute(select(table(AuditEntry))).all() == []

    principal, secret = apikeys.create_api_key(db, "acme", ["fulfilment:read"], location="WH-EAST")
    assert principal.location == "WH-EAST"
    assert apikeys.authenticate(db, secret).location == "WH-EAST"
    cache = apikeys.KeyCache()
    apikeys.authenticate(db, secret, cache)
    assert apikeys.authenticate(db, secret, cache).location_id == principal.location_id
    [listed] = apikeys.list_api_keys(db)
    assert listed["location"] == "WH-EAST"
    with db.read() as conn:
        [audit] = conn.execute(select(table(AuditEntry))).mappings().all()
    assert "bound to location WH-EAST" in audit["message"] and audit["data"]["location"] == "WH-EAST"
    unbound, _ = apikeys.create_api_key(db, "erp", ["*"])
    assert unbound.location is None and apikeys.list_api_keys(db)[1]["location"] is None
