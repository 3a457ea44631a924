"""Release, fulfilment orders, shipments and rejections through the API, on both engines: the
order's statuses follow its lines, shipping moves stock and ledger together, refusals change
nothing and the books always balance."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services import apikeys
from openoms.services.check import run_check
from tests.integration.test_routing_capture import NJ, order_body, reserved_at, seed


def _levels(api: TestClient, sku: str) -> dict[str, tuple[int, int]]:
    return {
        lv["location"]: (lv["on_hand"], lv["reserved"])
        for lv in api.get(f"/api/v1/availability/{sku}").json()["locations"]
    }


def _placed(api: TestClient, lines: list[tuple[str, int]], ext: str = "F-1") -> dict[str, Any]:
    r = api.post("/api/v1/orders", json=order_body(lines, NJ, external_order_id=ext))
    assert r.status_code == 201, r.text
    return r.json()


def _pkg(tracking: str, *lines: tuple[int, int], weight: int | None = 900) -> dict[str, Any]:
    return {
        "tracking_number": tracking,
        "weight_grams": weight,
        "lines": [{"line_number": n, "quantity": q} for n, q in lines],
    }


def test_release_ship_in_two_shipments_and_the_order_follows(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5, ("W", "ST-NYC"): 3})
    order = _placed(api, [("A", 2), ("W", 1)])
    ref = order["order_number"]
    assert reserved_at(order) == {"A": [("WH-EAST", 2)], "W": [("ST-NYC", 1)]}

    r = api.post(f"/api/v1/orders/{ref}/release")
    assert r.status_code == 201, r.text
    fos = {fo["location"]: fo for fo in r.json()}
    assert set(fos) == {"WH-EAST", "ST-NYC"} and all(fo["status"] == "released" for fo in fos.values())
    east = fos["WH-EAST"]
    assert [(ln["line_number"], ln["sku"], ln["quantity_open"]) for ln in east["lines"]] == [(1, "A", 2)]
    after = api.get(f"/api/v1/orders/{ref}").json()
    assert after["status"] == "released" and {ln["status"] for ln in after["lines"]} == {"released"}
    assert after["timeline"][-1]["event_type"] == "order.released"
    assert api.post(f"/api/v1/orders/{ref}/release").status_code == 409  # nothing left to release

    for step, status in [("accept", "accepted"), ("pick", "picked"), ("pack", "packed")]:
        r = api.post(f"/api/v1/fulfilment-orders/{east['number']}/{step}")
        assert r.status_code == 200 and r.json()["status"] == status, r.text

    first = api.post(
        f"/api/v1/fulfilment-orders/{east['number']}/shipments",
        json={"carrier": "UPS", "service_code": "UPS-GROUND", "packages": [_pkg("1Z001", (1, 1))]},
    )
    assert first.status_code == 201, first.text
    assert first.json()["packages"][0]["lines"] == [{"line_number": 1, "sku": "A", "quantity": 1}]
    assert _levels(api, "A")["WH-EAST"] == (4, 1)  # on hand and reserved down together
    mid = api.get(f"/api/v1/orders/{ref}").json()
    assert mid["status"] == "partially_shipped"
    assert [ln["status"] for ln in mid["lines"]] == ["partially_shipped", "released"]
    assert api.get(f"/api/v1/fulfilment-orders/{east['id']}").json()["status"] == "partially_shipped"

    second = api.post(
        f"/api/v1/fulfilment-orders/{east['id']}/shipments",
        json={"carrier": "UPS", "packages": [_pkg("1Z002", (1, 1), weight=None)]},
    )
    assert second.status_code == 201, second.text
    assert api.get(f"/api/v1/fulfilment-orders/{east['id']}").json()["status"] == "shipped"
    store = fos["ST-NYC"]["number"]  # a store that reports only the shipment, straight from released
    r = api.post(
        f"/api/v1/fulfilment-orders/{store}/shipments",
        json={"carrier": "METRO", "packages": [_pkg("M-1", (2, 1))]},
    )
    assert r.status_code == 201, r.text
    final = api.get(f"/api/v1/orders/{ref}").json()
    assert final["status"] == "shipped" and [ln["quantity_shipped"] for ln in final["lines"]] == [2, 1]
    assert final["timeline"][-1]["event_type"] == "shipment.created" and "M-1" in final["timeline"][-1]["message"]
    assert [len(s["packages"]) for s in api.get(f"/api/v1/orders/{ref}/shipments").json()] == [1, 1, 1]
    assert _levels(api, "A")["WH-EAST"] == (3, 0) and _levels(api, "W")["ST-NYC"] == (2, 0)
    assert run_check(db).ok


def test_shipments_that_do_not_fit_are_refused_and_change_nothing(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 2)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]["number"]
    url = f"/api/v1/fulfilment-orders/{fo}/shipments"
    cases = [
        ({"carrier": "UPS", "packages": [_pkg("1", (1, 3))]}, "packages"),  # more than open
        ({"carrier": "UPS", "packages": [_pkg("1", (1, 1)), _pkg("2", (1, 2))]}, "packages"),  # together too many
        ({"carrier": "UPS", "packages": [_pkg("1", (7, 1))]}, "packages[0].lines[0].line_number"),
        ({"carrier": "UPS", "packages": [_pkg("1", (1, 1)), _pkg("1", (1, 1))]}, "packages[1].tracking_number"),
        ({"carrier": "UPS", "packages": []}, "packages"),
        ({"carrier": "", "packages": [_pkg("1", (1, 1))]}, "carrier"),
        ({"carrier": "UPS", "packages": [_pkg("1", (1, 0))]}, "packages[0].lines[0].quantity"),
    ]
    for body, field in cases:
        r = api.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in [e["field"] for e in r.json()["error"]["errors"]], r.json()
    assert _levels(api, "A")["WH-EAST"] == (5, 2)
    assert api.get(f"/api/v1/fulfilment-orders/{fo}").json()["status"] == "released"
    assert api.post(f"/api/v1/fulfilment-orders/{fo}/pack").status_code == 409  # not accepted yet
    assert api.post("/api/v1/fulfilment-orders/FO-0099999/accept").status_code == 404
    assert api.post("/api/v1/fulfilment-orders/nope/accept").status_code == 422
    assert run_check(db).ok


def test_a_held_order_is_not_released(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 1)])
    assert (
        api.post(f"/api/v1/orders/{order['id']}/holds", json={"type": "fraud", "reason": "check the card"}).status_code
        == 200
    )
    r = api.post(f"/api/v1/orders/{order['id']}/release")
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_conflict"
    assert api.get("/api/v1/fulfilment-orders", params={"order": order["order_number"]}).json()["items"] == []


def test_a_rejected_line_is_routed_elsewhere_and_released_again(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 2, ("A", "WH-WEST"): 2})
    order = _placed(api, [("A", 2)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    assert fo["location"] == "WH-EAST"
    r = api.post(f"/api/v1/fulfilment-orders/{fo['number']}/lines/1/reject", json={"reason": "not found on the shelf"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fulfilment_order"]["status"] == "rejected"
    assert body["fulfilment_order"]["lines"][0]["quantity_rejected"] == 2
    assert body["moved"][0]["to"] == "WH-WEST"
    again = api.get(f"/api/v1/orders/{order['id']}").json()
    assert again["status"] == "allocated" and reserved_at(again) == {"A": [("WH-WEST", 2)]}
    assert api.post(f"/api/v1/fulfilment-orders/{fo['number']}/lines/1/reject", json={"reason": "x"}).status_code == 409
    second = api.post(f"/api/v1/orders/{order['id']}/release").json()
    assert [f["location"] for f in second] == ["WH-WEST"]
    queue = api.get("/api/v1/fulfilment-orders", params={"location": "WH-WEST", "status": "released"}).json()
    assert [f["number"] for f in queue["items"]] == [second[0]["number"]]
    assert run_check(db).ok


def test_cancelling_released_units_takes_them_off_the_fulfilment_order(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 3)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    r = api.post(
        f"/api/v1/orders/{order['id']}/lines/cancel",
        json={"reason": "customer wants two", "lines": [{"line_number": 1, "quantity": 1}]},
    )
    assert r.status_code == 200, r.text
    line = api.get(f"/api/v1/fulfilment-orders/{fo['id']}").json()["lines"][0]
    assert (line["quantity_cancelled"], line["quantity_open"]) == (1, 2)
    too_many = {"carrier": "UPS", "packages": [_pkg("T1", (1, 3))]}
    assert api.post(f"/api/v1/fulfilment-orders/{fo['id']}/shipments", json=too_many).status_code == 422
    ok = {"carrier": "UPS", "packages": [_pkg("T1", (1, 2))]}
    assert api.post(f"/api/v1/fulfilment-orders/{fo['id']}/shipments", json=ok).status_code == 201
    assert api.get(f"/api/v1/fulfilment-orders/{fo['id']}").json()["status"] == "shipped"
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "shipped"
    assert _levels(api, "A")["WH-EAST"] == (3, 0)
    assert run_check(db).ok


def test_cancelling_a_released_order_cancels_its_fulfilment_orders(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 2)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    assert api.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "fraud confirmed"}).status_code == 200
    closed = api.get(f"/api/v1/fulfilment-orders/{fo['id']}").json()
    assert closed["status"] == "cancelled" and closed["closed_at"] is not None
    ship = {"carrier": "UPS", "packages": [_pkg("T1", (1, 1))]}
    assert api.post(f"/api/v1/fulfilment-orders/{fo['id']}/shipments", json=ship).status_code == 409
    assert _levels(api, "A")["WH-EAST"] == (5, 0)
    assert run_check(db).ok


def test_fulfilment_needs_its_scope(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 1)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    _, key = apikeys.create_api_key(db, "reader", ["fulfilment:read"])
    headers = {"Authorization": f"Bearer {key}"}
    assert api.get(f"/api/v1/fulfilment-orders/{fo['id']}", headers=headers).status_code == 200
    assert api.post(f"/api/v1/fulfilment-orders/{fo['id']}/accept", headers=headers).status_code == 403


def test_paperwork_for_a_shipment(api: TestClient, db: Database) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    from openoms.services import catalog
    from tests.integration.test_routing_capture import LOCATIONS

    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 2)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    picks = api.get(f"/api/v1/fulfilment-orders/{fo['number']}/pick-list.pdf")
    assert picks.status_code == 200 and picks.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(picks.content)).pages)
    assert fo["number"] in text and "A" in text and order["order_number"] in text

    shipment = api.post(
        f"/api/v1/fulfilment-orders/{fo['id']}/shipments",
        json={"carrier": "UPS", "service_code": "UPS-GROUND", "packages": [_pkg("1Z999AA10123456784", (1, 2))]},
    ).json()
    sid = shipment["id"]
    # The test network's DCs have no street address: the sender cannot be printed.
    r = api.get(f"/api/v1/shipments/{sid}/packing-slip.pdf")
    assert r.status_code == 422 and "no street address" in r.json()["error"]["message"]
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn, [{**LOCATIONS[0], "address_line1": "705 Boulder Dr", "city": "Breinigsville"}]
        )
    slip = api.get(f"/api/v1/shipments/{sid}/packing-slip.pdf")
    assert slip.status_code == 200, slip.text
    slip_text = PdfReader(BytesIO(slip.content)).pages[0].extract_text()
    assert order["order_number"] in slip_text and "Edison" in slip_text and "705 Boulder Dr" in slip_text
    label = api.get(f"/api/v1/shipments/{sid}/packages/1/label.pdf")
    assert label.status_code == 200
    page = PdfReader(BytesIO(label.content)).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (288.0, 432.0)
    assert "1Z999AA10123456784" in page.extract_text()
    zpl = api.get(f"/api/v1/shipments/{sid}/packages/1/label.zpl")
    assert zpl.status_code == 200 and zpl.text.startswith("^XA") and zpl.text.rstrip().endswith("^XZ")
    assert "1Z999AA10123456784" in zpl.text
    assert api.get(f"/api/v1/shipments/{sid}/packages/2/label.pdf").status_code == 404
    assert api.get(f"/api/v1/shipments/{sid}/packages/1/label.png").status_code == 422


def test_labels_bought_from_the_rate_tables_ship_the_packages(api: TestClient, db: Database) -> None:
    from openoms.adapters.carriers.labels import issue_reference, luhn_digit

    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 3)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    body = {
        "packages": [
            {"weight_grams": 1200, "lines": [{"line_number": 1, "quantity": 2}]},
            {"weight_grams": 600, "lines": [{"line_number": 1, "quantity": 1}]},
        ]
    }
    r = api.post(f"/api/v1/fulfilment-orders/{fo['id']}/labels", json=body)
    assert r.status_code == 201, r.text
    shipment = r.json()
    assert shipment["carrier"] == "UPS" and shipment["service_code"] == "UPS-GROUND"  # the only standard service
    for pkg in shipment["packages"]:
        ref = pkg["tracking_number"]
        assert ref.startswith("OO") and len(ref) == 18 and luhn_digit(ref[2:-1]) == ref[-1]
        assert pkg["label_cost"] is not None and pkg["label_currency"] == "USD"
    assert len({p["tracking_number"] for p in shipment["packages"]}) == 2
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "shipped"
    ref = issue_reference()
    assert luhn_digit(ref[2:-1]) == ref[-1]


def test_labels_for_a_service_the_rates_do_not_have_are_refused(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5})
    order = _placed(api, [("A", 1)])
    fo = api.post(f"/api/v1/orders/{order['id']}/release").json()[0]
    body = {"service_code": "PIGEON", "packages": [{"weight_grams": 500, "lines": [{"line_number": 1, "quantity": 1}]}]}
    r = api.post(f"/api/v1/fulfilment-orders/{fo['id']}/labels", json=body)
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "packages[0].weight_grams"
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "released"
    assert _levels(api, "A")["WH-EAST"] == (5, 1)
