"""Safety stock and transfers under real concurrency on PostgreSQL: threads released together
by a barrier, each running the service with its own database connection (the same code the
API and the back office call)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import OutboxMessage, table
from openoms.domain.errors import DomainError
from openoms.domain.stock_ops import TransferLineRequest
from openoms.services import orders, stock_ops
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import seed_basics
from tests.integration.test_concurrency import _stock

pytestmark = pytest.mark.postgres
ACTOR = Actor("race")


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=45)
    yield database
    database.dispose()


def _race(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``n`` threads started together; each result or the DomainError raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except DomainError as exc:
            results[i] = exc
        except Exception as exc:  # surfaced by the assertion below
            results[i] = RuntimeError(repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    crashed = [r for r in results if isinstance(r, RuntimeError)]
    assert not crashed, crashed[:3]
    return results


def _order(i: int, prefix: str) -> orders.CaptureOrder:
    return orders.CaptureOrder(
        channel="web",
        currency="USD",
        external_order_id=f"{prefix}-{i}",
        lines=[orders.LineInput("A", 1, Decimal("10.00"))],
    )


def _low_events(db: Database) -> int:
    o = table(OutboxMessage)
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(o).where(o.c.event_type == "stock.low")).scalar_one())


def test_forty_concurrent_captures_never_eat_into_safety_stock(pg_db: Database) -> None:
    db = pg_db
    seed_basics(db, stock={("A", "WH1"): 10})
    stock_ops.set_stock_policy(db, "A", "WH1", safety_stock=4, reorder_point=6, actor=ACTOR)

    results = _race(40, lambda i: orders.capture_order(db, _order(i, "safety"), ACTOR))
    outcome = Counter("placed" if isinstance(r, orders.CaptureResult) else r.code.value for r in results)
    assert outcome["placed"] == 6, outcome
    assert set(outcome) <= {"placed", "insufficient_stock", "stock_conflict"}, outcome
    assert _stock(db, "A") == [("WH1", 10, 6)]  # the 4 units of safety stock untouched
    assert _low_events(db) == 1  # crossed into low once, however many orders raced
    report = run_check(db)
    assert report.ok, report.problems


def test_transfers_and_orders_race_for_the_same_units(pg_db: Database) -> None:
    db = pg_db
    seed_basics(db, stock={("A", "WH1"): 10})
    eta = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    drafts = [
        stock_ops.create_transfer(
            db,
            from_location="WH1",
            to_location="WH2",
            lines=[TransferLineRequest("A", 2)],
            expected_at=eta,
            actor=ACTOR,
        )["number"]
        for _ in range(6)
    ]

    def call(i: int) -> Any:
        if i < len(drafts):
            return stock_ops.ship_transfer(db, drafts[i], ACTOR)
        return orders.capture_order(db, _order(i, "mix"), ACTOR)

    results = _race(30, call)
    shipped = sum(1 for r in results[: len(drafts)] if isinstance(r, dict))
    ordered = sum(1 for r in results[len(drafts) :] if isinstance(r, orders.CaptureResult))
    refusals = {r.code.value for r in results if isinstance(r, DomainError)}
    assert refusals <= {"stock_conflict", "insufficient_stock"}, refusals
    # Every unit went exactly once: to an order or onto a truck, never both, never more.
    code, on_hand, reserved = _stock(db, "A")[0]
    assert (code, on_hand, reserved) == ("WH1", 10 - shipped * 2, ordered)
    assert shipped * 2 + ordered <= 10
    report = run_check(db)
    assert report.ok, report.problems
    assert report.units_in_transit == shipped * 2
