"""EDI and the channel inbox over HTTP, as a trading partner's integration sees them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from tests.integration.test_edi_channel import VICS, setup

EDI = {"Content-Type": "application/edi-x12"}


def test_post_an_interchange_get_the_order_and_the_855(api: TestClient, db: Database) -> None:
    setup(db)
    r = api.post("/api/v1/channels/xyz/edi", content=VICS, headers=EDI)
    assert r.status_code == 200, r.text
    (po,) = r.json()["orders"]
    assert po["status"] == "processed" and po["po_number"] == "08292233294"
    assert api.get(f"/api/v1/orders/{po['order_id']}").json()["external_order_id"] == "08292233294"
    docs = api.get("/api/v1/channels/xyz/edi/documents", params={"direction": "out"}).json()
    assert ([d["set"] for d in docs] == ["855"] and "body" not in docs[0]) or docs[0]["body"] is None
    body = api.get(f"/api/v1/edi/documents/{docs[0]['id']}").json()["body"]
    assert body.startswith("ISA*") and "BAK*00*AD*08292233294" in body
    again = api.post("/api/v1/channels/xyz/edi", content=VICS, headers={"Content-Type": "text/plain"})
    assert again.json()["orders"][0]["duplicate"] is True


def test_dead_letters_listed_retried_and_ignored(api: TestClient, db: Database) -> None:
    setup(db)
    api.put(
        "/api/v1/channels/xyz/edi-partner",
        json={"ours": "01:999999999", "theirs": "12:4405197800", "sku_qualifiers": ["SK"]},
    ).raise_for_status()
    (po,) = api.post("/api/v1/channels/xyz/edi", content=VICS, headers=EDI).json()["orders"]
    assert po["status"] == "dead"
    dead = api.get("/api/v1/channel-inbox", params={"status": "dead"}).json()
    assert [m["id"] for m in dead["items"]] == [po["inbox_id"]] and dead["counts"]["dead"] == 1
    one = api.get(f"/api/v1/channel-inbox/{po['inbox_id']}").json()
    assert one["body"].startswith("ISA*") and "SKU qualifiers" in one["reason"]
    partner = api.get("/api/v1/channels/xyz/edi-partner").json()
    api.put("/api/v1/channels/xyz/edi-partner", json={**{k: partner[k] for k in ("ours", "theirs")},
                                                      "sku_qualifiers": ["VN"]}).raise_for_status()  # fmt: skip
    retried = api.post(f"/api/v1/channel-inbox/{po['inbox_id']}/retry").json()
    assert retried["status"] == "processed" and retried["order_id"]
    r = api.post(f"/api/v1/channel-inbox/{po['inbox_id']}/ignore", json={"reason": "done"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"


def test_bad_input_is_refused_with_the_field(api: TestClient, db: Database) -> None:
    setup(db)
    r = api.post("/api/v1/channels/xyz/edi", content=VICS, headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    r = api.post("/api/v1/channels/xyz/edi", content="   ", headers=EDI)
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "body"
    r = api.post("/api/v1/channels/nope/edi", content=VICS, headers=EDI)
    assert r.status_code in (404, 422)
    r = api.put("/api/v1/channels/xyz/edi-partner", json={"ours": "x", "theirs": "12:1", "usage": "Q"})
    assert r.status_code == 422
    r = api.put("/api/v1/channels/xyz/edi-partner", json={"ours": "ZZ", "theirs": "12:1"})
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "ours"
    assert api.get("/api/v1/channel-inbox", params={"status": "weird"}).status_code == 422
    assert api.get("/api/v1/channel-inbox/99999").status_code == 404
    # The EDI content type is accepted on the EDI route only.
    assert api.post("/api/v1/orders", content=VICS, headers=EDI).status_code == 415


def test_a_key_without_orders_write_cannot_send_files(app_client: TestClient, db: Database, tmp_path: Path) -> None:
    from openoms.services import apikeys

    setup(db)
    _, secret = apikeys.create_api_key(db, "reader", ["orders:read"])
    r = app_client.post("/api/v1/channels/xyz/edi", content=VICS, headers={**EDI, "Authorization": f"Bearer {secret}"})
    assert r.status_code == 403


def test_order_import_over_the_api(api: TestClient, db: Database) -> None:
    import base64

    from tests.integration.test_order_import import setup as import_setup
    from tests.unit.test_spreadsheet_orders import UCI, UCI_MAPPING

    import_setup(db)
    template = api.get("/api/v1/order-imports/template").json()
    assert "order_id" in template["columns"]
    body = {"filename": "retail.csv", "content_base64": base64.b64encode(UCI).decode(), "mapping": UCI_MAPPING}
    dry = api.post("/api/v1/channels/uk-shop/order-imports", json=body)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["orders_ready"] == 11 and len(dry.json()["errors"]) == 12
    assert api.get("/api/v1/orders", params={"channel": "uk-shop"}).json()["items"] == []
    real = api.post("/api/v1/channels/uk-shop/order-imports", json={**body, "dry_run": False}).json()
    assert {o["status"] for o in real["orders"]} == {"processed"}
    bad = api.post("/api/v1/channels/uk-shop/order-imports", json={**body, "content_base64": "***"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "content_base64"
    bad = api.post("/api/v1/channels/uk-shop/order-imports", json={**body, "mapping": {"columns": {}}})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "mapping"
