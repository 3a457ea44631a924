"""``openoms reoptimize`` on both engines: a first-come-first-served pair of orders that a joint
plan swaps, the moves applied atomically and recorded, and a second run that finds nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openoms.adapters.db.engine import Database
from openoms.services import catalog, reoptimize, routing_setup
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.integration.test_routing_capture import LOCATIONS, NJ, order_body, reserved_at, seed

T = Actor("tests")
CHICAGO = {"line1": "1 W Madison St", "city": "Chicago", "region": "IL", "postal_code": "60607", "country": "US"}
# Every zone takes 3 days, so plans differ in cost only and no move changes a promise date.
FLAT = (
    "location,carrier,service_code,service_level,zone,weight_up_to_grams,cost,currency,transit_days_min,transit_days_max\n"
    + "".join(f"*,UPS,UPS-GROUND,standard,{z},20000,{5 + 2 * z}.00,USD,3,3\n" for z in range(2, 9))
)


def _flat_network(db: Database) -> None:
    """Same working days, no cut-off and no holidays at the two DCs: the same ship date."""
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn, [{**loc, "cutoff_time": None, "holiday_calendar": None, "handling_days": 0} for loc in LOCATIONS[:2]]
        )
    routing_setup.load_rates(db, FLAT, "flat", T)


@pytest.fixture
def swapped(api: TestClient, db: Database) -> tuple[dict, dict]:  # type: ignore[type-arg]
    seed(db, {("A", "WH-EAST"): 1, ("A", "WH-WEST"): 1})
    _flat_network(db)
    # Chicago comes first and takes the East DC's only unit (nearer); New Jersey, next door
    # to it, is left with Reno across the country.
    chicago = api.post("/api/v1/orders", json=order_body([("A", 1)], CHICAGO, external_order_id="C-1")).json()
    jersey = api.post("/api/v1/orders", json=order_body([("A", 1)], NJ, external_order_id="N-1")).json()
    assert reserved_at(chicago) == {"A": [("WH-EAST", 1)]} and reserved_at(jersey) == {"A": [("WH-WEST", 1)]}
    return chicago, jersey


def test_a_dry_run_finds_the_swap_and_moves_nothing(api: TestClient, db: Database, swapped: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    chicago, jersey = swapped
    report = reoptimize.reoptimize(db, T, apply=False, time_limit_s=10)
    plan = report.plan
    assert plan is not None and not report.applied
    assert report.considered == 2 and report.skipped == {}
    assert sorted(m.order_ref for m in plan.moves) == sorted([chicago["order_number"], jersey["order_number"]])
    assert plan.saving > 0 and plan.objective < plan.greedy_objective
    assert plan.status == "Optimal"
    assert reserved_at(api.get(f"/api/v1/orders/{chicago['id']}").json()) == {"A": [("WH-EAST", 1)]}


def test_the_swap_is_applied_recorded_and_a_second_run_finds_nothing(
    api: TestClient,
    db: Database,
    swapped: tuple[dict, dict],  # type: ignore[type-arg]
) -> None:
    chicago, jersey = swapped
    report = reoptimize.reoptimize(db, T, time_limit_s=10)
    assert report.applied and report.plan is not None and len(report.plan.moves) == 2
    c = api.get(f"/api/v1/orders/{chicago['id']}").json()
    j = api.get(f"/api/v1/orders/{jersey['id']}").json()
    assert reserved_at(c) == {"A": [("WH-WEST", 1)]} and reserved_at(j) == {"A": [("WH-EAST", 1)]}
    assert c["promise"] == chicago["promise"] and j["promise"] == jersey["promise"]  # never later
    for order in (c, j):
        assert order["timeline"][-1]["message"].startswith("Re-planned by the batch optimiser")
        decisions = api.get(f"/api/v1/orders/{order['id']}/routing").json()
        assert [d["trigger"] for d in decisions] == ["reoptimize", "capture"]
        assert decisions[0]["explanation"]["method"] == "batch"
    assert run_check(db).ok
    again = reoptimize.reoptimize(db, T, time_limit_s=10)
    assert again.plan is not None and again.plan.moves == () and again.plan.saving == Decimal(0)


def test_orders_that_change_while_the_batch_is_planned_stop_it_whole(
    api: TestClient,
    db: Database,
    swapped: tuple[dict, dict],  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chicago, _ = swapped
    real = reoptimize._apply

    def cancel_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        api.post(f"/api/v1/orders/{chicago['id']}/cancel", json={"reason": "customer asked"})
        return real(*args, **kwargs)

    monkeypatch.setattr(reoptimize, "_apply", cancel_first)
    with pytest.raises(Exception, match="changed while the batch was being planned; nothing moved"):
        reoptimize.reoptimize(db, T, time_limit_s=10)
    assert run_check(db).ok


def test_the_command_prints_the_saving(db: Database, swapped: tuple[dict, dict], db_url: str) -> None:  # type: ignore[type-arg]
    from openoms.cli import app

    env = {"OPENOMS_DATABASE_URL": db_url}
    from openoms.config import get_settings

    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["reoptimize", "--dry-run"], env=env)
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "orders moved" in out.output and "2 (dry run)" in out.output and "saving" in out.output
