"""Safety stock and transfers under real concurrent clients against a server on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import OutboxMessage, table
from openoms.domain.stock_ops import TransferLineRequest
from openoms.services import apikeys, stock_ops
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import LiveServer, order_body, seed_basics
from tests.integration.test_concurrency import _burst, _stock

pytestmark = pytest.mark.postgres


def _low_events(db: Database) -> int:
    o = table(OutboxMessage)
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(o).where(o.c.event_type == "stock.low")).scalar_one())


def test_forty_clients_never_eat_into_safety_stock(live_pg_server: tuple[LiveServer, Database]) -> None:
    server, db = live_pg_server
    seed_basics(db, stock={("A", "WH1"): 10})
    stock_ops.set_stock_policy(db, "A", "WH1", safety_stock=4, reorder_point=6, actor=Actor("test"))
    _, key = apikeys.create_api_key(db, "race", ["orders:write"])
    headers = {"Authorization": f"Bearer {key}"}

    responses = _burst(
        40,
        lambda c, i: c.post(
            f"{server.base_url}/api/v1/orders",
            json=order_body([("A", 1)], external_order_id=f"safety-{i}"),
            headers=headers,
        ),
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 6, 409: 34}, codes
    assert _stock(db, "A") == [("WH1", 10, 6)]  # the 4 units of safety stock untouched
    assert _low_events(db) == 1  # crossed into low once, however many orders raced
    report = run_check(db)
    assert report.ok, report.problems


def test_transfers_and_orders_race_for_the_same_units(live_pg_server: tuple[LiveServer, Database]) -> None:
    server, db = live_pg_server
    seed_basics(db, stock={("A", "WH1"): 10})
    _, key = apikeys.create_api_key(db, "race", ["orders:write", "inventory:write"])
    headers = {"Authorization": f"Bearer {key}"}
    eta = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    drafts = [
        stock_ops.create_transfer(
            db,
            from_location="WH1",
            to_location="WH2",
            lines=[TransferLineRequest("A", 2)],
            expected_at=eta,
            actor=Actor("test"),
        )["number"]
        for _ in range(6)
    ]

    def call(c: httpx.Client, i: int) -> httpx.Response:
        if i < len(drafts):
            return c.post(f"{server.base_url}/api/v1/transfers/{drafts[i]}/ship", headers=headers)
        return c.post(
            f"{server.base_url}/api/v1/orders",
            json=order_body([("A", 1)], external_order_id=f"mix-{i}"),
            headers=headers,
        )

    responses = _burst(26, call)
    shipped = sum(1 for r in responses[: len(drafts)] if r.status_code == 200)
    ordered = sum(1 for r in responses[len(drafts) :] if r.status_code == 201)
    assert all(r.status_code in (200, 409) for r in responses[: len(drafts)])
    assert all(r.status_code in (201, 409) for r in responses[len(drafts) :])
    # Every unit went exactly once: to an order or onto a truck, never both, never more.
    assert shipped * 2 + ordered <= 10
    (code, on_hand, reserved) = _stock(db, "A")[0]
    assert (code, on_hand, reserved) == ("WH1", 10 - shipped * 2, ordered)
    assert on_hand - reserved <= 1  # nothing left that a refused client could have taken
    report = run_check(db)
    assert report.ok, report.problems
    assert report.units_in_transit == shipped * 2
