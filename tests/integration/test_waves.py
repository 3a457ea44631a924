"""Release by policy on SQLite and PostgreSQL: waves at the location's local times release the
orders captured before them, within the daily capacity, once; automatic locations release as
soon as the worker runs; held orders wait; each location releases only its own part."""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import FulfilmentOrder, Order, OutboxMessage, Wave, table
from openoms.services import apikeys, waves
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import LiveServer
from tests.integration.test_routing_capture import CA, NJ, order_body, seed

# Wednesday 2 December 2026. WH-EAST is in New York (cut-off 17:00), WH-WEST in Los Angeles (15:00).
DAY = dt.date(2026, 12, 2)
ET = dt.timezone(dt.timedelta(hours=-5))
PT = dt.timezone(dt.timedelta(hours=-8))


def _east(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=ET).astimezone(dt.UTC)


def _place(api: TestClient, n: int, qty: int = 1, sku: str = "A", prefix: str = "WV") -> list[int]:
    ids = []
    for i in range(n):
        r = api.post("/api/v1/orders", json=order_body([(sku, qty)], NJ, external_order_id=f"{prefix}-{i}"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def _set(db: Database, order_id: int, captured: dt.datetime, promised: dt.date | None) -> None:
    with db.begin() as conn:
        conn.execute(
            update(table(Order))
            .where(table(Order).c.id == order_id)
            .values(created_at=captured, promised_ship_date=promised)
        )


def _policy(api: TestClient, code: str, **fields: Any) -> None:
    r = api.patch(f"/api/v1/locations/{code}", json=fields)
    assert r.status_code == 200, r.text


def _fos(db: Database) -> list[Any]:
    fo = table(FulfilmentOrder)
    with db.read() as conn:
        return list(conn.execute(select(fo).order_by(fo.c.id)))


def test_waves_release_what_was_captured_before_them_within_capacity_once(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 50})
    _policy(api, "WH-EAST", release_mode="waves", wave_times=["09:00", "13:00"], daily_capacity=5)
    ids = _place(api, 5, qty=2)
    # Captured 08:00..12:00 local; the last is promised today, one promised tomorrow, others later.
    promised = [DAY + dt.timedelta(days=3), DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2), None, DAY]
    for i, (oid, p) in enumerate(zip(ids, promised, strict=True)):
        _set(db, oid, _east(8 + i, 30), p)

    assert waves.release_due_waves(db, _east(8, 59)) == 0  # no wave due yet
    assert waves.release_due_waves(db, _east(9, 5)) == 1  # the 09:00 wave: only the 08:30 order
    assert waves.release_due_waves(db, _east(9, 30)) == 0  # it runs once
    first = _fos(db)
    assert [f.order_id for f in first] == [ids[0]] and first[0].wave_id is not None

    # The 13:00 wave: captured before it are all five (08:30 to 12:30); 2 of 5 units are used.
    assert waves.release_due_waves(db, _east(13, 1)) == 1  # 2 units used, capacity 5: one more order of 2 fits
    second = _fos(db)[1:]
    assert [f.order_id for f in second] == [ids[4]]  # promised today goes first, though captured last
    runs = waves.list_waves(db, location="WH-EAST")
    assert [r["kind"] for r in runs] == ["wave", "wave"]
    assert runs[0]["local_time"] == "2026-12-02 13:00 EST"
    assert runs[0]["skipped_for_capacity"] == 3 and "do not fit in the 1 unit(s) left" in (runs[0]["note"] or "")
    assert runs[0]["fulfilment_orders"] == 1 and runs[0]["units"] == 2

    # The cut-off (17:00) is a wave as well; capacity is spent (4 of 5; orders of 2 do not fit).
    assert waves.release_due_waves(db, _east(17, 0)) == 0
    # The next working day, capacity is back: the 09:00 wave takes the most urgent two.
    nxt = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(9, 0), tzinfo=ET).astimezone(dt.UTC)
    assert waves.release_due_waves(db, nxt) == 2
    assert [f.order_id for f in _fos(db)[2:]] == [ids[1], ids[2]]
    order = api.get(f"/api/v1/orders/{ids[1]}").json()
    assert order["status"] == "released"
    event = order["timeline"][-1]
    assert (
        event["event_type"] == "order.released" and event["actor"].startswith("wave W-") and "WH-EAST" in event["actor"]
    )
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(table(OutboxMessage))).scalar_one() >= 4
    assert run_check(db).ok


def _west(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PT).astimezone(dt.UTC)


def test_wave_release_at_cut_off_in_the_locations_timezone(api: TestClient, db: Database) -> None:
    """WH-WEST (Los Angeles, cut-off 15:00) releases at 09:00 and at its cut-off: an order
    captured at 14:30 local, promised today, is released at 15:00 Los Angeles time (23:00 UTC),
    not at 15:00 UTC or New York's 15:00."""
    seed(db, {("A", "WH-WEST"): 10})
    _policy(api, "WH-WEST", release_mode="waves", wave_times=["09:00"])
    [early, late] = [
        api.post("/api/v1/orders", json=order_body([("A", 1)], CA, external_order_id=f"CUT-{i}")).json()["id"]
        for i in range(2)
    ]
    _set(db, early, _west(8, 0), DAY)
    _set(db, late, _west(14, 30), DAY)
    assert waves.release_due_waves(db, _west(9, 0)) == 1  # the 09:00 wave: the 08:00 order
    assert waves.release_due_waves(db, dt.datetime.combine(DAY, dt.time(15), tzinfo=dt.UTC)) == 0  # 07:00 LA
    assert waves.release_due_waves(db, dt.datetime.combine(DAY, dt.time(15), tzinfo=ET)) == 0  # 12:00 LA
    assert waves.release_due_waves(db, _west(14, 59)) == 0
    assert waves.release_due_waves(db, _west(15, 0)) == 1  # the cut-off wave
    [cut] = [
        w
        for w in waves.list_waves(db, location="WH-WEST", day=DAY)
        if w["fulfilment_orders"] and "15:00" in w["local_time"]
    ]
    assert cut["scheduled_for"] == dt.datetime(2026, 12, 2, 23, 0, tzinfo=dt.UTC)
    assert cut["local_time"] == "2026-12-02 15:00 PST"
    assert {f.order_id for f in _fos(db)} == {early, late}
    assert run_check(db).ok


def test_automatic_release_held_orders_wait_and_manual_locations_are_left_alone(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 10, ("A", "WH-WEST"): 10})
    _policy(api, "WH-EAST", release_mode="automatic")
    ids = _place(api, 3)
    r = api.post(f"/api/v1/orders/{ids[1]}/holds", json={"type": "fraud", "reason": "check the card"})
    assert r.status_code in (200, 201), r.text
    now = dt.datetime.now(dt.UTC)
    assert waves.release_due_waves(db, now) == 2
    assert {f.order_id for f in _fos(db)} == {ids[0], ids[2]}
    assert waves.release_due_waves(db, now + dt.timedelta(seconds=1)) == 0  # nothing left; no empty run kept
    assert [w["kind"] for w in waves.list_waves(db)] == ["automatic"]
    held = api.get(f"/api/v1/orders/{ids[1]}").json()
    assert held["status"] == "allocated"

    # A manual location is only released by hand: "release now" respects its capacity too.
    _policy(api, "WH-EAST", release_mode="manual")
    _policy(api, "WH-WEST", daily_capacity=0)
    assert waves.release_due_waves(db, now + dt.timedelta(seconds=2)) == 0
    assert run_check(db).ok


def test_each_location_releases_only_its_own_part(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5, ("W", "ST-NYC"): 5})
    _policy(api, "WH-EAST", release_mode="automatic")
    r = api.post("/api/v1/orders", json=order_body([("A", 2), ("W", 1)], NJ, external_order_id="SPLIT-1"))
    assert r.status_code == 201, r.text
    order = r.json()
    locs = {res["location"] for ln in order["lines"] for res in ln["reservations"]}
    assert locs == {"WH-EAST", "ST-NYC"}
    assert waves.release_due_waves(db, dt.datetime.now(dt.UTC)) == 1
    mid = api.get(f"/api/v1/orders/{order['id']}").json()
    assert mid["status"] == "allocated"  # the store's part is not released yet
    assert [ln["status"] for ln in mid["lines"]] == ["released", "allocated"]
    # the store (manual) is released by hand: the order button releases what is left
    r = api.post(f"/api/v1/orders/{order['id']}/release")
    assert r.status_code == 201, r.text
    assert [fo["location"] for fo in r.json()] == ["ST-NYC"]
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "released"
    assert run_check(db).ok


def test_release_now_at_one_location(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    _policy(api, "WH-EAST", daily_capacity=2)
    ids = _place(api, 3)
    result = waves.release_location_now(db, "WH-EAST", Actor("user:ops@example.com"))
    assert result is not None and result.fulfilment_orders == 2 and result.waiting == 1
    assert result.kind == "manual"
    assert {f.order_id for f in _fos(db)} == set(ids[:2])
    again = waves.release_location_now(db, "WH-EAST", Actor("user:ops@example.com"))
    assert again is None  # capacity spent today: nothing released, no empty run kept
    with pytest.raises(Exception, match="Location"):
        waves.release_location_now(db, "NOPE", Actor("t"))
    pdf = waves.wave_pick_list(db, result.wave_id)
    assert pdf.startswith(b"%PDF")
    got = waves.get_wave(db, result.wave_id)
    assert len(got["fulfilment_order_list"]) == 2


@pytest.mark.postgres
def test_two_workers_run_due_waves_at_once_each_order_released_once(
    live_pg_server: tuple[LiveServer, Database],
) -> None:
    server, db = live_pg_server
    seed(db, {("A", "WH-EAST"): 200, ("A", "WH-WEST"): 200})
    _, key = apikeys.create_api_key(db, "waves", ["orders:write", "catalog:write"])
    headers = {"Authorization": f"Bearer {key}"}
    base = f"{server.base_url}/api/v1"
    with httpx.Client(timeout=30) as c:
        for code, fields in {
            "WH-EAST": {"release_mode": "automatic", "daily_capacity": 25},
            "WH-WEST": {"release_mode": "waves", "wave_times": ["09:00"]},
        }.items():
            assert c.patch(f"{base}/locations/{code}", json=fields, headers=headers).status_code == 200
        for i in range(40):
            r = c.post(f"{base}/orders", json=order_body([("A", 1)], NJ, external_order_id=f"R-{i}"), headers=headers)
            assert r.status_code == 201, r.text
        for i in range(40):
            r = c.post(f"{base}/orders", json=order_body([("A", 1)], CA, external_order_id=f"RW-{i}"), headers=headers)
            assert r.status_code == 201, r.text
    now = dt.datetime.combine(DAY, dt.time(9, 30), tzinfo=PT).astimezone(dt.UTC)
    barrier = threading.Barrier(4)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        own = Database(db.url)  # its own pool and connections, like a second worker process
        try:
            barrier.wait()
            counts.append(waves.release_due_waves(own, now))
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    fos = _fos(db)
    per_order: dict[tuple[int, int], int] = defaultdict(int)
    for f in fos:
        per_order[(f.order_id, f.location_id)] += 1
    assert all(n == 1 for n in per_order.values()), per_order
    assert sum(counts) == len(fos)
    east = [f for f in fos if f.released_by.startswith("automatic")]
    west = [f for f in fos if f.released_by.startswith("wave")]
    assert len(east) == 25  # automatic, within its capacity of 25 units
    assert len(west) >= 1 and len(east) + len(west) == len(fos)
    with db.read() as conn:
        runs = conn.execute(select(table(Wave).c.kind, func.count()).group_by(table(Wave).c.kind)).all()
    assert dict(runs) == {"automatic": 1, "wave": 1}  # the wave ran once; one automatic run kept
    assert run_check(db).ok


def test_the_worker_runs_due_waves_on_its_schedule(api: TestClient, db: Database) -> None:
    """`openoms worker` schedules release_due_waves: one pass releases an automatic location's work."""
    from openoms.config import Settings
    from openoms.worker import Worker, scheduled_jobs

    assert "release waves" in [j.name for j in scheduled_jobs()]
    seed(db, {("A", "WH-EAST"): 10})
    _policy(api, "WH-EAST", release_mode="automatic")
    ids = _place(api, 2, prefix="WK")
    result = Worker(db, Settings(database_url=db.url), consumers=[]).run_once()
    assert result.jobs["release waves"] == 2
    assert {f.order_id for f in _fos(db)} == set(ids)
