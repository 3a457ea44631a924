"""Routing under real concurrency on PostgreSQL: captures routed by the engine, line rejections
that release and re-reserve, all at once against the same shelves. Nothing may be oversold and
the books must balance."""

from __future__ import annotations

from collections import Counter

import pytest

from openoms.adapters.db.engine import Database
from openoms.services import apikeys
from openoms.services.check import run_check
from tests.conftest import LiveServer
from tests.integration.test_concurrency import _burst, _stock
from tests.integration.test_routing_capture import NJ, order_body, seed

pytestmark = pytest.mark.postgres


def test_captures_and_rejections_race_for_the_same_shelves(live_pg_server: tuple[LiveServer, Database]) -> None:
    server, db = live_pg_server
    seed(db, {("A", "WH-EAST"): 10, ("A", "WH-WEST"): 6, ("A", "ST-NYC"): 4})
    _, key = apikeys.create_api_key(db, "race", ["orders:write", "routing:read"])
    headers = {"Authorization": f"Bearer {key}"}
    api = f"{server.base_url}/api/v1"

    # Ten orders first, each reserving 1 unit (the East DC is the cheapest for New Jersey).
    placed = _burst(
        10,
        lambda c, i: c.post(
            f"{api}/orders", json=order_body([("A", 1)], NJ, external_order_id=f"first-{i}"), headers=headers
        ),
    )
    assert Counter(r.status_code for r in placed) == {201: 10}
    refs = [r.json()["order_number"] for r in placed]
    first_home = {r.json()["lines"][0]["reservations"][0]["location"] for r in placed}

    # Now 10 rejections of those orders' lines and 20 new one-unit orders all at once: 20 units
    # are on the shelves in all, 10 held; every rejection moves its unit to another location.
    def call(c, i):  # type: ignore[no-untyped-def]
        if i < 10:
            loc = next(iter(first_home)) if len(first_home) == 1 else "WH-EAST"
            return c.post(
                f"{api}/orders/{refs[i]}/lines/1/reject", json={"location": loc, "reason": "race"}, headers=headers
            )
        return c.post(
            f"{api}/orders", json=order_body([("A", 1)], NJ, external_order_id=f"second-{i}"), headers=headers
        )

    results = _burst(30, call)
    rejects, captures = results[:10], results[10:]
    assert all(r.status_code == 200 for r in rejects), [r.text for r in rejects if r.status_code != 200][:3]
    codes = Counter(r.status_code for r in captures)
    assert codes[201] + codes[409] == 20 and codes[201] >= 10, codes  # 10 units were free, more if lines backordered
    # Each rejected line is either somewhere else now or backordered; never back where it was refused.
    for r in rejects:
        body = r.json()
        assert all(m["to"] not in m["from"] for m in body["moved"]), body
    rows = _stock(db, "A")
    assert all(0 <= reserved <= on_hand for _, on_hand, reserved in rows), rows
    backordered = sum(len(r.json()["backordered"]) for r in rejects)
    assert sum(reserved for _, _, reserved in rows) == 10 - backordered + codes[201] <= 20
    report = run_check(db)
    assert report.ok, report.problems
