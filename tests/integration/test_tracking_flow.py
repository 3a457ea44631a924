"""Carrier tracking wired end to end, on SQLite and PostgreSQL: the signed webhook (OpenOMS JSON
and the real EasyPost sample), the API, CSV upload, duplicates and out-of-order events, the
delivered order with its promise accuracy, and the exception alert raised and cleared."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.carriers.tracking_inbound import sign_webhook
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base, OrderEvent, OutboxMessage, TrackingEventRecord, table
from openoms.api.app import create_app
from openoms.config import Settings
from openoms.services import apikeys, tracking
from openoms.services.check import run_check
from openoms.services.dashboard import load_dashboard
from tests.integration.test_routing_capture import NJ, order_body, seed

SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "easypost_tracker_updated_event.json"
NY = ZoneInfo("America/New_York")


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    settings = Settings(database_url=db.url, tracking_webhook_secrets=f"{SECRET}, {OLD_SECRET}")
    with TestClient(create_app(settings, db)) as c:
        _, key = apikeys.create_api_key(db, "tests", ["*"])
        c.headers["Authorization"] = f"Bearer {key}"
        yield c


def _count(db: Database, model: type[Base]) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table(model))).scalar_one())


def _ship(
    client: TestClient, db: Database, packages: list[str], *, ext: str, carrier: str = "UPS", seeded: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An order for A x len(packages), shipped one unit per package; returns (order, shipment)."""
    if not seeded:
        seed(db, {("A", "WH-EAST"): 20})
    r = client.post("/api/v1/orders", json=order_body([("A", len(packages))], NJ, external_order_id=ext))
    assert r.status_code == 201, r.text
    order = r.json()
    fo = client.post(f"/api/v1/orders/{order['id']}/release").json()[0]["number"]
    body = {
        "carrier": carrier,
        "packages": [{"tracking_number": t, "lines": [{"line_number": 1, "quantity": 1}]} for t in packages],
    }
    r = client.post(f"/api/v1/fulfilment-orders/{fo}/shipments", json=body)
    assert r.status_code == 201, r.text
    return order, r.json()


def _ev(number: str, status: str, at: dt.datetime, event_id: str | None = None, **extra: str) -> dict[str, Any]:
    event = {"tracking_number": number, "carrier": "UPS", "status": status, "occurred_at": at.isoformat(), **extra}
    if event_id:
        event["event_id"] = event_id
    return event


def _post_webhook(
    client: TestClient, body: bytes, *, secret: str = SECRET, t: int | None = None, query: str = ""
) -> Any:
    header = sign_webhook(body, secret, int(time.time()) if t is None else t)
    return client.post(
        f"/api/v1/tracking/webhook{query}",
        content=body,
        headers={"Content-Type": "application/json", "OpenOMS-Signature": header},
    )


def _signed(client: TestClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = _post_webhook(client, json.dumps({"events": events}).encode())
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _local(day: str, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), NY)


def _timeline(client: TestClient, order_id: int) -> list[dict[str, Any]]:
    timeline: list[dict[str, Any]] = client.get(f"/api/v1/orders/{order_id}").json()["timeline"]
    return timeline


def test_signed_webhook_delivers_the_order_and_judges_the_promise(client: TestClient, db: Database) -> None:
    order, shipment = _ship(client, db, ["1Z-A", "1Z-B"], ext="T-1")
    latest = order["promise"]["latest"]
    start = _local(order["promise"]["ship_date"], 9, 0)
    out = _signed(
        client,
        [
            _ev("1Z-A", "pre_transit", start, "a-1"),
            _ev("1Z-A", "in_transit", start + dt.timedelta(hours=5), "a-2"),
            _ev("1Z-A", "Out for delivery", _local(latest, 8, 0), "a-3"),
            # 23:30 in New York on the last promised day: 03:30 or 04:30 UTC the day after
            _ev("1Z-A", "delivered", _local(latest, 23, 30), "a-4", description="Front door"),
            _ev("NOT-OURS", "in_transit", start, "x-1"),
        ],
    )
    assert out["received"] == 5 and out["recorded"] == 4 and out["duplicates"] == 0
    assert out["unknown_tracking_numbers"] == [{"tracking_number": "NOT-OURS", "events": 1}]
    [pkg] = out["packages"]
    assert pkg["status"] == "delivered" and pkg["shipment_delivered_at"] is None  # 1Z-B still travelling
    mid = client.get(f"/api/v1/orders/{order['id']}").json()
    assert mid["status"] == "shipped" and mid["lines"][0]["status"] == "shipped"

    tr = client.get(f"/api/v1/shipments/{shipment['id']}/tracking").json()
    assert tr["delivered_at"] is None and tr["destination_timezone"] == "America/New_York"
    a, b = tr["packages"]
    assert a["status"] == "delivered" and [e["status"] for e in a["events"]] == [
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert b["status"] is None and b["events"] == []

    out = _signed(client, [_ev("1Z-B", "delivered", _local(latest, 23, 30), "b-1")])
    assert out["packages"][0]["promise_outcome"] == "on_time"
    assert out["packages"][0]["order_status"] == "delivered"
    done = client.get(f"/api/v1/orders/{order['id']}").json()
    assert done["status"] == "delivered" and done["lines"][0]["status"] == "delivered"
    tr = client.get(f"/api/v1/shipments/{shipment['id']}/tracking").json()
    assert tr["promise_outcome"] == "on_time" and tr["days_late"] == 0
    assert dt.datetime.fromisoformat(tr["delivered_at"]) == _local(latest, 23, 30)
    kinds = [e["event_type"] for e in done["timeline"]]
    assert kinds.count("shipment.tracking") == 4 + 1  # 1Z-A's four status changes, 1Z-B's one
    assert kinds[-1] == "shipment.delivered" and "on time" in done["timeline"][-1]["message"]
    assert "is now delivered" in done["timeline"][-1]["message"]
    with db.read() as conn:
        published = set(conn.execute(select(table(OutboxMessage).c.event_type)).scalars())
    assert {"shipment.tracking", "shipment.delivered"} <= published

    # A delivery scan that arrives late but happened earlier, after midnight local: still the
    # first delivery decides, so the shipment is re-judged, here one day late for package B.
    order2, shipment2 = _ship(client, db, ["1Z-C"], ext="T-2", seeded=True)
    latest2 = dt.date.fromisoformat(order2["promise"]["latest"])
    late = dt.datetime.combine(latest2 + dt.timedelta(days=1), dt.time(0, 30), NY)
    out = _signed(client, [_ev("1Z-C", "delivered", late, "c-1")])
    assert out["packages"][0]["promise_outcome"] == "late"
    assert client.get(f"/api/v1/shipments/{shipment2['id']}/tracking").json()["days_late"] == 1
    assert run_check(db).ok


def test_bad_signatures_are_refused_and_store_nothing(client: TestClient, db: Database) -> None:
    order, _ = _ship(client, db, ["1Z-S"], ext="T-S")
    body = json.dumps({"events": [_ev("1Z-S", "delivered", dt.datetime.now(dt.UTC), "s-1")]}).encode()
    events_before, timeline_before = _count(db, TrackingEventRecord), _count(db, OrderEvent)
    now = int(time.time())
    cases: list[tuple[Any, str]] = [
        (  # tampered after signing: a delivery turned into an exception
            client.post(
                "/api/v1/tracking/webhook",
                content=body.replace(b"delivered", b"exception"),
                headers={"Content-Type": "application/json", "OpenOMS-Signature": sign_webhook(body, SECRET, now)},
            ),
            "mismatch",
        ),
        (_post_webhook(client, body, secret="whsec_wrong"), "mismatch"),
        (_post_webhook(client, body, t=now - 3600), "stale_timestamp"),
        (_post_webhook(client, body, t=now + 3600), "future_timestamp"),
        (
            client.post("/api/v1/tracking/webhook", content=body, headers={"Content-Type": "application/json"}),
            "missing_header",
        ),
        (
            client.post(
                "/api/v1/tracking/webhook",
                content=body,
                headers={"Content-Type": "application/json", "OpenOMS-Signature": "v1=abc"},
            ),
            "malformed_header",
        ),
    ]
    for r, reason in cases:
        assert r.status_code == 401, r.text
        err = r.json()["error"]
        assert err["reason"] == reason and err["errors"] == [{"field": "OpenOMS-Signature", "reason": reason}]
    assert _count(db, TrackingEventRecord) == events_before == 0
    assert _count(db, OrderEvent) == timeline_before
    assert client.get(f"/api/v1/orders/{order['id']}").json()["status"] == "shipped"
    # An API key does not stand in for the signature, and the rotated-out secret still works.
    assert (
        client.post("/api/v1/tracking/webhook", content=body, headers={"Content-Type": "application/json"}).status_code
        == 401
    )
    r = _post_webhook(client, body, secret=OLD_SECRET)
    assert r.status_code == 200 and r.json()["recorded"] == 1


def test_unconfigured_webhook_refuses_everything(db: Database) -> None:
    with TestClient(create_app(Settings(database_url=db.url), db)) as c:
        body = b'{"events": []}'
        r = c.post(
            "/api/v1/tracking/webhook",
            content=body,
            headers={
                "Content-Type": "application/json",
                "OpenOMS-Signature": sign_webhook(body, "x", int(time.time())),
            },
        )
    assert r.status_code == 401 and r.json()["error"]["reason"] == "not_configured"


def test_the_real_easypost_sample_through_the_webhook(client: TestClient, db: Database) -> None:
    raw = SAMPLE.read_bytes()
    number = json.loads(raw)["result"]["tracking_code"]
    order, shipment = _ship(client, db, [number], ext="T-EP", carrier="FedEx")
    r = _post_webhook(client, raw, query="?format=easypost")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["recorded"] == 7 and out["unknown_tracking_numbers"] == []
    assert out["packages"][0]["status"] == "in_transit" and out["packages"][0]["shipment_id"] == shipment["id"]
    tr = client.get(f"/api/v1/shipments/{shipment['id']}/tracking").json()
    events = tr["packages"][0]["events"]
    assert [e["carrier_status_code"] for e in events] == ["OC", "PU", "AR", "DP", "IT", "IT", "AR"]
    assert events[-1]["location"] == "EDISON, NJ 08817, US" and events[-1]["source"] == "webhook"
    assert tr["packages"][0]["status_since"].startswith("2024-07-31T19:27:00")
    timeline = _timeline(client, order["id"])
    before = len(timeline)
    assert [e["event_type"] for e in timeline[-3:]] == ["shipment.tracking"] * 3  # 2 changes + the rest summed
    assert "5 event(s)" in timeline[-1]["message"]

    again = _post_webhook(client, raw, query="?format=easypost").json()  # EasyPost resends every detail
    assert again["recorded"] == 0 and again["duplicates"] == 7
    assert len(_timeline(client, order["id"])) == before and _count(db, TrackingEventRecord) == 7
    # the OpenOMS format is not EasyPost's: a mis-pointed webhook is a 422, not a silent no-op
    bad = _post_webhook(client, raw)
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "events"


def _final(client: TestClient, shipment_id: int) -> dict[str, Any]:
    pkg = client.get(f"/api/v1/shipments/{shipment_id}/tracking").json()["packages"][0]
    return {k: pkg[k] for k in ("status", "status_since", "delivered_at", "exception_open", "exception_reason")} | {
        "events": [(e["status"], e["occurred_at"]) for e in pkg["events"]]
    }


def test_duplicates_and_out_of_order_events_give_the_same_state(client: TestClient, db: Database) -> None:
    _, first = _ship(client, db, ["1Z-IN-ORDER"], ext="T-O1")
    _, second = _ship(client, db, ["1Z-SHUFFLED"], ext="T-O2", seeded=True)
    t0 = dt.datetime(2030, 3, 1, 12, 0, tzinfo=dt.UTC)
    plan = [
        ("pre_transit", 0, "e1", {}),
        ("in_transit", 6, "e2", {}),
        ("exception", 20, "e3", {"description": "Weather delay"}),
        ("in_transit", 30, "e4", {}),
        ("unknown", 31, "e5", {}),
        ("out_for_delivery", 44, "e6", {}),
        ("delivered", 50, "e7", {}),
        ("in_transit", 60, "e8", {"description": "scan after delivery"}),
    ]

    def events(number: str) -> list[dict[str, Any]]:
        return [_ev(number, s, t0 + dt.timedelta(hours=h), f"{number}-{i}", **x) for s, h, i, x in plan]

    for e in events("1Z-IN-ORDER"):
        _signed(client, [e])
    shuffled = events("1Z-SHUFFLED")
    random.Random(7).shuffle(shuffled)
    redo = [dict(e, event_id=None) for e in shuffled[:3]]  # same status and instant, no id: duplicates
    r = client.post("/api/v1/tracking/events", json={"events": shuffled[:4] + redo})
    assert r.status_code == 200, r.text
    _signed(client, shuffled[4:] + shuffled[:2])
    r = client.post("/api/v1/tracking/events", json={"events": shuffled})
    assert r.json()["duplicates"] == len(plan) and r.json()["recorded"] == 0

    a, b = _final(client, first["id"]), _final(client, second["id"])
    assert a == b
    assert a["status"] == "delivered" and a["exception_open"] is False and len(a["events"]) == len(plan)
    assert dt.datetime.fromisoformat(a["delivered_at"]) == t0 + dt.timedelta(hours=50)


def test_csv_upload_with_a_bad_row_stores_nothing(client: TestClient, db: Database) -> None:
    order, shipment = _ship(client, db, ["1Z-CSV"], ext="T-CSV")
    good = (
        "tracking_number,carrier,status,occurred_at,description,location\n"
        '1Z-CSV,UPS,in_transit,2030-08-01T22:10:00-04:00,Departed facility,"Newark, NJ, US"\n'
        '1Z-CSV,UPS,Out for delivery,2030-08-02T08:12:00-04:00,,"Edison, NJ, US"\n'
    )
    bad = good + "1Z-CSV,UPS,lost,2030-08-02 15:04:05,Front door,\n"
    timeline_before = _count(db, OrderEvent)
    r = client.post("/api/v1/tracking/upload", content=bad, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["error"]["errors"]]
    assert fields == ["rows[4].status", "rows[4].occurred_at"] and "nothing loaded" in r.json()["error"]["message"]
    assert _count(db, TrackingEventRecord) == 0 and _count(db, OrderEvent) == timeline_before

    r = client.post("/api/v1/tracking/upload", content=good, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["recorded"] == 2, r.text
    assert _final(client, shipment["id"])["status"] == "out_for_delivery"
    r = client.post("/api/v1/tracking/upload", content=good.encode("utf-8-sig"), headers={"Content-Type": "text/csv"})
    assert r.json()["duplicates"] == 2 and r.json()["recorded"] == 0  # the same file twice changes nothing
    assert (
        client.post("/api/v1/tracking/upload", content=good, headers={"Content-Type": "text/plain"}).status_code == 415
    )
    events = client.get(f"/api/v1/shipments/{shipment['id']}/tracking").json()["packages"][0]["events"]
    assert {e["source"] for e in events} == {"csv"} and order["id"]


def test_bad_json_events_name_the_field_and_store_nothing(client: TestClient, db: Database) -> None:
    _ship(client, db, ["1Z-J"], ext="T-J")
    now = dt.datetime.now(dt.UTC)
    body = {
        "events": [
            _ev("1Z-J", "in_transit", now),
            {"tracking_number": "1Z-J", "carrier": "UPS", "status": "lost", "occurred_at": "2030-01-01T10:00:00"},
        ]
    }
    r = client.post("/api/v1/tracking/events", json=body)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["error"]["errors"]] == ["events[1].status", "events[1].occurred_at"]
    nul = client.post(
        "/api/v1/tracking/events", json={"events": [_ev("1Z-J", "in_transit", now, description="a\x00b")]}
    )
    assert nul.status_code == 422
    assert _count(db, TrackingEventRecord) == 0
    assert client.get("/api/v1/shipments/999999/tracking").status_code == 404


def test_an_exception_raises_the_alert_and_a_later_event_clears_it(client: TestClient, db: Database) -> None:
    order, shipment = _ship(client, db, ["1Z-X"], ext="T-X")
    t0 = dt.datetime(2030, 5, 4, 9, 0, tzinfo=dt.UTC)
    _signed(client, [_ev("1Z-X", "in_transit", t0, "x-1")])
    out = _signed(client, [_ev("1Z-X", "exception", t0 + dt.timedelta(hours=3), "x-2", description="Address unknown")])
    assert out["packages"][0]["exception_open"] is True and out["packages"][0]["status"] == "exception"
    [alert] = tracking.open_exceptions(db)
    assert alert["order_id"] == order["id"] and alert["reason"] == "Address unknown"
    board = load_dashboard(db, now=dt.datetime.now(dt.UTC), sla_hours=24, low_stock_threshold=10)
    assert board.tracking_exceptions == 1 and board.tracking_exception_items[0]["tracking_number"] == "1Z-X"
    assert _timeline(client, order["id"])[-1]["event_type"] == "shipment.exception"
    # an older exception arriving late raises nothing new; a later scan clears the alert
    _signed(client, [_ev("1Z-X", "exception", t0 + dt.timedelta(hours=1), "x-0", description="old")])
    assert tracking.open_exceptions(db)[0]["reason"] == "Address unknown"
    out = _signed(client, [_ev("1Z-X", "out_for_delivery", t0 + dt.timedelta(hours=20), "x-3")])
    assert out["packages"][0]["exception_open"] is False and tracking.open_exceptions(db) == []
    last = _timeline(client, order["id"])[-1]
    assert last["event_type"] == "shipment.tracking" and "exception cleared" in last["message"]
    # damage reported after delivery: the alert is back, the status stays delivered
    _signed(client, [_ev("1Z-X", "delivered", t0 + dt.timedelta(hours=26), "x-4")])
    out = _signed(client, [_ev("1Z-X", "exception", t0 + dt.timedelta(hours=30), "x-5", description="Damaged")])
    assert out["packages"][0]["status"] == "delivered" and out["packages"][0]["exception_open"] is True
    assert client.get(f"/api/v1/orders/{order['id']}").json()["status"] == "delivered"
    assert [x["reason"] for x in tracking.open_exceptions(db)] == ["Damaged"]
    assert _final(client, shipment["id"])["exception_reason"] == "Damaged"
