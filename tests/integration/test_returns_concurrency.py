"""Receiving and requesting returns under real concurrency on PostgreSQL: threads released
together by a barrier, each running the service with its own connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import LedgerEntry, ReturnInspection, ReturnLine, table
from openoms.domain.errors import DomainError
from openoms.services import returns as rs
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.integration.test_returns import level, setup_network, shipped_order
from tests.integration.test_stock_ops_concurrency import _race

pytestmark = pytest.mark.postgres
ACTOR = Actor("race")


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=20)
    yield database
    database.dispose()


def test_two_desks_receiving_the_same_line_never_receive_more_than_requested(pg_db: Database) -> None:
    db = pg_db
    setup_network(db)
    oid = shipped_order(db)
    rid = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 2, "reason": "wrong_size"}],
        method="mail",
        location=None,
        source="api",
        actor=ACTOR,
        approve=True,
    )["id"]
    before = level(db, "A", "WH-EAST")
    n = 8

    def receive(i: int) -> object:
        return rs.receive_return(
            db,
            rid,
            location="WH-EAST",
            lines=[{"line_number": 1, "quantity": 1, "condition": "unopened", "disposition": "restock"}],
            actor=ACTOR,
        )

    results = _race(n, receive)
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(ok) == 2 and len(refused) == n - 2
    # once both units are in, the return is received: later desks are told so (409)
    assert {r.code.value for r in refused} <= {"validation_error", "illegal_transition"}
    rl, insp, led = table(ReturnLine), table(ReturnInspection), table(LedgerEntry)
    with db.read() as conn:
        assert conn.execute(select(rl.c.quantity_received).where(rl.c.return_id == rid)).scalar_one() == 2
        assert conn.execute(select(func.sum(insp.c.quantity))).scalar_one() == 2
        assert (
            conn.execute(select(func.sum(led.c.on_hand_delta)).where(led.c.entry_type == "restock")).scalar_one() == 2
        )
    assert level(db, "A", "WH-EAST") == (before[0] + 2, before[1])
    assert rs.get_return(db, rid)["status"] == "received"
    assert run_check(db).ok


def test_concurrent_requests_never_return_more_than_shipped(pg_db: Database) -> None:
    db = pg_db
    setup_network(db)
    oid = shipped_order(db)  # line 1: 3 units of A shipped

    def request(i: int) -> object:
        return rs.request_return(
            db,
            oid,
            lines=[{"line_number": 1, "quantity": 2, "reason": "other"}],
            method="mail",
            location=None,
            source="api",
            actor=ACTOR,
        )

    results = _race(6, request)
    ok = [r for r in results if isinstance(r, dict)]
    assert len(ok) == 1  # 2 of 3 units taken; the rest ask for 2 of the 1 left
    assert rs.check_eligibility(db, oid)["lines"][0]["returnable"] == 1


def test_two_returns_refunded_at_once_refund_shipping_once_and_never_more_than_captured(pg_db: Database) -> None:
    from decimal import Decimal

    from openoms.services import payments

    db = pg_db
    setup_network(db)
    oid = shipped_order(
        db, [("A", 3, "20.00", "6.00", "4.50"), ("B", 1, "50.00", "0", "4.00")], shipping_tax="0.50", pay="test_ok"
    )
    ids = []
    for line, qty in ((1, 3), (2, 1)):
        rid = rs.request_return(
            db,
            oid,
            lines=[{"line_number": line, "quantity": qty, "reason": "defective"}],
            method="mail",
            location=None,
            source="api",
            actor=ACTOR,
            approve=True,
        )["id"]
        rs.receive_return(
            db,
            rid,
            location="WH-EAST",
            lines=[{"line_number": line, "quantity": qty, "condition": "damaged", "disposition": "write_off"}],
            actor=ACTOR,
        )
        ids.append(rid)
    results = _race(4, lambda i: rs.issue_return_refund(db, ids[i % 2], actor=ACTOR, idempotency_key=f"k{i}"))
    assert all(isinstance(r, dict) for r in results), results
    money = payments.list_payments(db, oid)
    # 54 + 4.50 and 50 + 4, and the shipping 8.50 once: everything that was captured
    assert money["refunded"] == money["captured"] == Decimal("121.00")
    assert len(money["refunds"]) == 2
    shipping = [rs.get_return(db, r)["quote"]["components"]["shipping"] for r in ids]
    assert sorted(shipping) == ["0.00", "8.50"]
