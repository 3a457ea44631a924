"""The release-policy API as a client sees it: location policy fields with their errors, the
waves list and detail, running due waves, "release now", the wave pick list, refusals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services import apikeys
from tests.integration.test_routing_capture import NJ, order_body, seed


@pytest.mark.parametrize(
    ("times", "bad"),
    [(["9:00"], "9:00"), (["09:00", "25:00"], "25:00"), (["noon"], "noon"), (["12:00:00"], "12:00:00")],
)
def test_bad_wave_times_are_422_naming_the_field_and_change_nothing(
    api: TestClient, db: Database, times: list[str], bad: str
) -> None:
    seed(db, {})
    before = api.get("/api/v1/locations/WH-EAST").json()
    r = api.patch("/api/v1/locations/WH-EAST", json={"release_mode": "waves", "wave_times": times})
    assert r.status_code == 422, r.text
    errors = r.json()["error"]["errors"]
    assert [e["field"] for e in errors] == ["wave_times"] and bad in errors[0]["reason"], errors
    assert api.get("/api/v1/locations/WH-EAST").json() == before


def test_release_mode_must_be_known_and_policy_is_read_back(api: TestClient, db: Database) -> None:
    seed(db, {})
    r = api.patch("/api/v1/locations/WH-EAST", json={"release_mode": "hourly"})
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "release_mode"
    assert api.patch("/api/v1/locations/WH-EAST", json={"release_mode": None}).status_code == 422
    r = api.patch("/api/v1/locations/WH-EAST", json={"release_mode": "waves", "wave_times": ["13:00", "09:00"]})
    assert r.status_code == 200, r.text
    assert r.json()["release_mode"] == "waves" and r.json()["wave_times"] == ["09:00", "13:00"]
    assert api.get("/api/v1/locations/WH-WEST").json()["release_mode"] == "manual"  # the default
    r = api.post(
        "/api/v1/locations",
        json={
            "code": "WH-NEW",
            "name": "New",
            "kind": "warehouse",
            "country": "US",
            "timezone": "Europe/Berlin",
            "release_mode": "automatic",
        },
    )
    assert r.status_code == 201 and r.json()["release_mode"] == "automatic" and r.json()["wave_times"] is None


def test_release_now_list_detail_and_pick_list(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    for i in range(3):
        assert (
            api.post("/api/v1/orders", json=order_body([("A", 2)], NJ, external_order_id=f"E-{i}")).status_code == 201
        )
    assert api.patch("/api/v1/locations/WH-EAST", json={"daily_capacity": 4}).status_code == 200
    r = api.post("/api/v1/locations/WH-EAST/release")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fulfilment_orders"] == 2 and body["runs"][0]["kind"] == "manual"
    assert body["runs"][0]["skipped_for_capacity"] == 1
    wave = body["runs"][0]["wave"]

    page = api.get("/api/v1/waves", params={"location": "WH-EAST"}).json()
    assert [w["number"] for w in page["items"]] == [wave] and page["next_cursor"] is None
    assert api.get("/api/v1/waves", params={"location": "WH-WEST"}).json()["items"] == []
    detail = api.get(f"/api/v1/waves/{wave}").json()
    assert len(detail["fulfilment_order_list"]) == 2 and detail["units"] == 4
    pdf = api.get(f"/api/v1/waves/{wave}/pick-list.pdf", params={"paper": "a4"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    run = api.post("/api/v1/waves/run")  # WH-EAST is manual: nothing due anywhere
    assert run.status_code == 200 and run.json() == {"fulfilment_orders": 0, "runs": []}
    assert api.post("/api/v1/locations/WH-EAST/release").json()["runs"] == []  # capacity spent today


def test_refusals(api: TestClient, db: Database) -> None:
    seed(db, {})
    assert api.get("/api/v1/waves/W-0000099").status_code == 404
    assert api.get("/api/v1/waves/W-0000099/pick-list.pdf").status_code == 404
    r = api.get("/api/v1/waves/nope")
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "wave"
    assert api.post("/api/v1/locations/NOPE/release").status_code == 404
    assert api.get("/api/v1/waves", params={"date": "yesterday"}).status_code == 422
    _, secret = apikeys.create_api_key(db, "reader", ["fulfilment:read"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.post("/api/v1/waves/run", headers=headers).status_code == 403
    assert api.post("/api/v1/locations/WH-EAST/release", headers=headers).status_code == 403
    assert api.get("/api/v1/waves", headers=headers).status_code == 200
