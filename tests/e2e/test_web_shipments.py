"""The shipments and tracking-exception pages over HTTP, on SQLite and PostgreSQL: the list
(newest first, each filter, search, keyset pages, bad filters reported), one shipment with its
documents and tracking history, the exceptions page and its Acknowledge action (who may, what
it clears, what it keeps, what it refuses), and the fulfilment queue's exact counts."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Location, OrderEvent, OutboxMessage, TrackingExceptionAck, table
from openoms.domain.access import Role
from openoms.domain.errors import DomainError
from openoms.domain.fulfillment import PackageInput
from openoms.domain.shipment_status import ShipmentStage
from openoms.domain.tracking import TrackingEvent, TrackingStatus
from openoms.services import fulfillment, shipment_views, tracking
from openoms.services.common import Actor
from openoms.services.dashboard import load_dashboard
from openoms.web.routes import fulfilment as fulfilment_pages
from tests.conftest import seed_basics
from tests.e2e.test_web_fulfilment import TESTS, Person, released, text

T0 = dt.datetime(2030, 5, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def shop(app_client: TestClient, db: Database) -> dict[str, Any]:
    """The fulfilment pages' shop (tests/e2e/test_web_fulfilment.py): WH1 holds A and B, WH2 C."""
    seed_basics(db, stock={("A", "WH1"): 20, ("B", "WH1"): 20, ("C", "WH2"): 20})
    return {"db": db, "people": {role: Person(app_client, db, role) for role in Role}}


def shipped(db: Database, lines: list[tuple[str, int]], carrier: str, numbers: list[str]) -> dict[str, Any]:
    """Release an order and ship it, one package per tracking number holding the lines in turn."""
    fo = released(db, lines)
    packages = [PackageInput(t, 900 + i, [(i + 1, lines[i][1])]) for i, t in enumerate(numbers)]
    return fulfillment.ship(
        db, fo["id"], carrier=carrier, service_code=f"{carrier}-GROUND", packages=packages, actor=TESTS
    )


def scan(db: Database, number: str, status: TrackingStatus, hours: int, description: str = "") -> None:
    event = TrackingEvent(number, "UPS", status, T0 + dt.timedelta(hours=hours), description, location="Austin, TX")
    tracking.record_events(db, [event], Actor("tests"))


def shipment_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="ref mono strong" href="/shipments/(\d+)"', page)]


def count(db: Database, model: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table(model))).scalar_one())


def test_the_list_is_newest_first_and_every_filter_narrows_it(shop: dict[str, Any]) -> None:
    db, cs = shop["db"], shop["people"][Role.CUSTOMER_SERVICE]
    ups = shipped(db, [("A", 1), ("B", 1)], "UPS", ["1ZAAA", "1ZBBB"])
    fedex = shipped(db, [("A", 1)], "FedEx", ["7712"])
    far = shipped(db, [("C", 1)], "UPS", ["1ZCCC"])  # C is held at WH2 only
    scan(db, "1ZAAA", TrackingStatus.DELIVERED, 30)  # one package of two delivered: still in transit
    scan(db, "1ZBBB", TrackingStatus.IN_TRANSIT, 5)
    scan(db, "7712", TrackingStatus.EXCEPTION, 6, "Address unknown")

    page = text(cs.get("/shipments"))
    assert shipment_ids(page) == [far["id"], fedex["id"], ups["id"]]
    assert "1ZAAA" in page and "FedEx-GROUND" in page and ups["order_number"] in page

    def ids(query: str) -> list[int]:
        response = cs.get(f"/shipments?{query}")
        assert response.status_code == 200, response.text
        return shipment_ids(text(response))

    assert ids("carrier=ups") == [far["id"], ups["id"]]
    assert ids("location=WH2") == [far["id"]]
    assert ids("status=in_transit") == [ups["id"]]
    assert ids("status=exception") == [fedex["id"]]
    assert ids("status=label_created") == [far["id"]]
    assert ids("status=delivered") == []
    assert ids("q=1zbbb") == [ups["id"]]  # tracking numbers are matched in capitals too
    assert ids(f"q={fedex['order_number']}") == [fedex["id"]]
    assert ids(f"q=SHP-{far['id']:07d}") == [far["id"]]
    today = dt.datetime.now(dt.UTC).date()
    assert ids(f"shipped_from={today}&shipped_to={today}") == [far["id"], fedex["id"], ups["id"]]
    assert ids(f"shipped_from={today + dt.timedelta(days=1)}") == []
    # the badge a row shows is the filter it matches
    rows = shipment_views.list_shipments(db)["items"]
    assert [r["stage"] for r in rows] == [
        ShipmentStage.LABEL_CREATED,
        ShipmentStage.EXCEPTION,
        ShipmentStage.IN_TRANSIT,
    ]

    scan(db, "1ZBBB", TrackingStatus.DELIVERED, 31)
    assert ids("status=delivered") == [ups["id"]]
    empty = text(cs.get("/shipments?carrier=DHL"))
    assert "No shipments match these filters." in empty and "Clear filters" in empty
    bad = text(cs.get("/shipments?status=lost&shipped_from=2024-13-01&carrier=UPS"))
    assert "Some filters were not applied" in bad and "unknown status 'lost'" in bad and "is not a date" in bad
    assert shipment_ids(bad) == [far["id"], ups["id"]]  # the good filter still applies


def test_keyset_pages_walk_every_shipment_once(shop: dict[str, Any]) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    made = [shipped(db, [("A", 1)], "UPS", [f"1ZP{i}"])["id"] for i in range(5)]
    seen: list[int] = []
    before = None
    while True:
        result = shipment_views.list_shipments(db, before_id=before, limit=2)
        seen += [r["id"] for r in result["items"]]
        before = result["next_before"]
        if before is None:
            break
    assert seen == sorted(made, reverse=True)
    first = text(wh.get("/shipments?carrier=UPS"))
    assert "Older shipments" not in first  # 5 fit on one page of 50


def test_the_shipment_page_shows_packages_documents_and_tracking(shop: dict[str, Any]) -> None:
    db, fin = shop["db"], shop["people"][Role.FINANCE]
    s = shipped(db, [("A", 2), ("B", 1)], "UPS", ["1ZDDD", "1ZEEE"])
    scan(db, "1ZDDD", TrackingStatus.IN_TRANSIT, 2, "Departed facility")
    scan(db, "1ZDDD", TrackingStatus.OUT_FOR_DELIVERY, 20)
    page = text(fin.get(f"/shipments/{s['id']}"))
    assert f"SHP-{s['id']:07d}" in page and s["order_number"] in page and "UPS-GROUND" in page
    assert "Package 1" in page and "Package 2" in page and "1ZDDD" in page and "1ZEEE" in page
    assert "900 g" in page and "901 g" in page and "Ana Rivera" in page
    history = page.split('id="package-1"')[1].split('id="package-2"')[0]
    assert history.index("Out for delivery") < history.index("Departed facility")  # newest first
    assert "No tracking events yet" in page.split('id="package-2"')[1]
    missing = fin.get(f"/shipments/{s['id']}/packing-slip.pdf")  # the sender's address is needed
    assert missing.status_code == 422 and "has no street address" in text(missing)
    with db.begin() as conn:
        conn.execute(
            update(table(Location))
            .where(table(Location).c.code == "WH1")
            .values(address_line1="1 Dock Rd", city="Austin")
        )
    slip = fin.get(f"/shipments/{s['id']}/packing-slip.pdf")
    assert slip.status_code == 200 and slip.content.startswith(b"%PDF")
    label = fin.get(f"/shipments/{s['id']}/packages/2/label.pdf")
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    zpl = fin.get(f"/shipments/{s['id']}/packages/1/label.zpl")
    assert zpl.status_code == 200 and zpl.text.startswith("^XA") and "1ZDDD" in zpl.text
    assert fin.get(f"/shipments/{s['id']}/packages/3/label.pdf").status_code == 404
    assert fin.get("/shipments/999999").status_code == 404
    assert fin.get(f"/shipments/{2**63}").status_code == 404
    assert fin.get("/shipments").status_code == 200


def test_acknowledging_an_exception_clears_the_alert_and_keeps_the_history(shop: dict[str, Any]) -> None:
    db, people = shop["db"], shop["people"]
    cs, wh = people[Role.CUSTOMER_SERVICE], people[Role.WAREHOUSE]
    s = shipped(db, [("A", 1)], "UPS", ["1ZXXX"])
    scan(db, "1ZXXX", TrackingStatus.IN_TRANSIT, 1)
    scan(db, "1ZXXX", TrackingStatus.EXCEPTION, 3, "Delivery attempted, business closed")
    board = load_dashboard(db, now=dt.datetime.now(dt.UTC), sla_hours=24, low_stock_threshold=10)
    assert board.tracking_exceptions == 1

    seen = text(wh.get("/tracking/exceptions"))  # everyone sees it; the warehouse cannot acknowledge
    assert "1ZXXX" in seen and "Delivery attempted, business closed" in seen and "Ana Rivera" in seen
    assert "Your role cannot acknowledge" in seen and 'name="note"' not in seen
    assert wh.post(f"/tracking/exceptions/{_package_id(db)}/acknowledge", {"note": "x"}).status_code == 403
    assert 'href="/tracking/exceptions"' in text(wh.get("/"))  # the dashboard card links here

    page = text(cs.get("/tracking/exceptions"))
    since = re.search(r'name="exception_at" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    timeline_before, outbox_before = count(db, OrderEvent), count(db, OutboxMessage)
    done = cs.follow(
        cs.post(
            f"/tracking/exceptions/{_package_id(db)}/acknowledge",
            {"note": "Called the customer, redelivery Monday", "exception_at": since},
        )
    )
    assert "Acknowledged the exception on 1ZXXX" in done and "No open tracking exceptions." in done
    assert "Called the customer, redelivery Monday" in done.split("Recently acknowledged")[1]
    board = load_dashboard(db, now=dt.datetime.now(dt.UTC), sla_hours=24, low_stock_threshold=10)
    assert board.tracking_exceptions == 0 and tracking.open_exceptions(db) == []
    assert count(db, OrderEvent) == timeline_before + 1 and count(db, OutboxMessage) == outbox_before + 1
    order_page = text(cs.get(f"/orders/{s['order_id']}"))
    assert "Tracking exception on 1ZXXX acknowledged" in order_page and "redelivery Monday" in order_page
    detail = text(cs.get(f"/shipments/{s['id']}"))
    assert "acknowledged by Customer service Person" in detail
    assert "Exception" in detail  # the carrier's status is still an exception: the badge says so

    # a second click (another tab) is refused and changes nothing
    again = cs.follow(cs.post(f"/tracking/exceptions/{_package_id(db)}/acknowledge", {"note": ""}))
    assert "has no open tracking exception" in again and "Nothing changed." in again
    assert count(db, TrackingExceptionAck) == 1

    # an old event arriving late replays to the same exception: the alert stays down
    scan(db, "1ZXXX", TrackingStatus.IN_TRANSIT, 2)
    assert tracking.open_exceptions(db) == []
    # a new exception raises it again; acknowledging with the old one's time is refused
    scan(db, "1ZXXX", TrackingStatus.EXCEPTION, 30, "Damaged in transit")
    assert [x["reason"] for x in tracking.open_exceptions(db)] == ["Damaged in transit"]
    stale = cs.follow(cs.post(f"/tracking/exceptions/{_package_id(db)}/acknowledge", {"exception_at": since}))
    assert "newer exception" in stale and "Nothing changed." in stale
    assert len(tracking.open_exceptions(db)) == 1
    long_note = cs.follow(cs.post(f"/tracking/exceptions/{_package_id(db)}/acknowledge", {"note": "x" * 1001}))
    assert "Note is longer than 1000 characters" in long_note and len(tracking.open_exceptions(db)) == 1
    # a later good scan clears the new one on its own, as before
    scan(db, "1ZXXX", TrackingStatus.DELIVERED, 50)
    assert tracking.open_exceptions(db) == []


def _package_id(db: Database) -> int:
    from openoms.adapters.db.tables import ShipmentPackage

    with db.read() as conn:
        return int(conn.execute(select(func.max(table(ShipmentPackage).c.id))).scalar_one())


@pytest.mark.postgres
def test_two_people_acknowledging_at_once_record_it_once(shop: dict[str, Any]) -> None:
    db = shop["db"]
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the race needs real row locks: PostgreSQL")
    shipped(db, [("A", 1)], "UPS", ["1ZRACE"])
    scan(db, "1ZRACE", TrackingStatus.EXCEPTION, 3, "Delayed")
    package_id = _package_id(db)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            shipment_views.acknowledge_exception(db, package_id, exception_at=None, note=f"#{n}", actor=Actor(f"u{n}"))
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code.value)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["illegal_transition"] * 5 + ["ok"]
    assert count(db, TrackingExceptionAck) == 1
    with db.read() as conn:
        acks = conn.execute(
            select(func.count())
            .select_from(table(OrderEvent))
            .where(table(OrderEvent).c.event_type == "shipment.exception_acknowledged")
        ).scalar_one()
    assert acks == 1


def test_queue_counts_are_exact_beyond_the_listed_rows(shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    db, wh = shop["db"], shop["people"][Role.WAREHOUSE]
    monkeypatch.setattr(fulfilment_pages, "OPEN_QUEUE_LIMIT", 2)
    fos = [released(db, [("A", 1), ("B", 2)]) for _ in range(3)]
    fulfillment.report_progress(db, fos[2]["id"], fulfillment.FulfilmentStatus.ACCEPTED, TESTS)
    page = text(wh.get("/fulfilment?location=WH1"))
    assert re.search(r'data-testid="open-count">3<', page)
    assert "Showing the oldest 2 of 3 open fulfilment orders" in page
    assert len(re.findall(r'class="ref mono strong" href="/fulfilment/', page)) == 2
    assert re.search(r"Accepted <span class=\"count\">1</span>", page)
    assert re.search(r"<div class=\"label\">Units to ship</div><div class=\"value\">9</div>", page)
    overview = text(wh.get("/fulfilment"))
    card = overview.split('href="/fulfilment?location=WH1"')[1].split("</a>")[0]
    assert "<strong>3</strong> open" in card and "<strong>9</strong> units" in card and "1 accepted" in card
