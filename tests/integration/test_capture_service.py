"""The capture service guards itself: callers other than the API (phone orders, imports,
channel adapters) get the same refusals, never a database error."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.domain.errors import DomainError
from openoms.services import orders
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import seed_basics


def test_zero_quantity_is_refused_by_the_service_itself(db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 5})
    cmd = orders.CaptureOrder(
        channel="web",
        currency="USD",
        lines=[
            orders.LineInput("A", 1, Decimal("10.00")),
            orders.LineInput("A", 0, Decimal("10.00")),
        ],
    )
    with pytest.raises(DomainError) as err:
        orders.capture_order(db, cmd, Actor("tests"))
    assert [e.field for e in err.value.errors] == ["lines[1].quantity"]
    assert orders.list_orders(db, orders.OrderFilter(), after_id=None, limit=10) == []
    assert run_check(db).ok


def test_an_order_without_lines_is_refused(db: Database) -> None:
    seed_basics(db)
    with pytest.raises(DomainError) as err:
        orders.capture_order(db, orders.CaptureOrder(channel="web", currency="USD", lines=[]), Actor("tests"))
    assert [e.field for e in err.value.errors] == ["lines"]


def test_a_reason_longer_than_the_ledger_keeps_is_a_422_not_a_500(api: TestClient, db: Database) -> None:
    seed_basics(db, stock={("A", "WH1"): 5})
    r = api.post("/api/v1/stock/adjustments", json={"sku": "A", "location": "WH1", "delta": 1, "reason": "x" * 300})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["errors"][0]["field"] == "reason"
    assert api.get("/api/v1/availability/A").json()["on_hand"] == 5
