"""What-if simulation (``services.simulation``), the parts without a database: reading the
orders, network and rules files, the replay on a tiny network whose answers can be worked
out by hand, capacity counted per local day, the metrics and the chart.

The tiny network: the customer and three locations stand on the same point (no distance
cost). A and C each hold one of two SKUs and deliver next day; B holds both and takes 8
business days. Under the default weights B alone scores 5 + 10 days x 1.50 = 20.00, the
split A+C 10 + 1 day x 1.50 + 5 (split penalty) = 16.50, so routing splits; a never-split
policy must ship from B instead: fewer splits, later promises.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from openoms.adapters.carriers.rate_csv import parse_rate_table
from openoms.domain.network import Address, GeoPoint, LocationCalendar, LocationProfile
from openoms.domain.routing import SourcingRules, SplitPolicy
from openoms.services import simulation as sim
from openoms.services.simulation import (
    ReplayLine,
    ReplayOrder,
    Scenario,
    SimulationInputError,
    Site,
)
from openoms.services.sourcing import ProductFacts

POINT = GeoPoint(40.75, -73.99)
DEST = Address("US", "10001", "NY", point=POINT)
MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a plain week: no US holiday
FACTS = {sku: ProductFacts(i, sku, weight_grams=200) for i, sku in enumerate(("X", "Y"), start=1)}
RATES = parse_rate_table(
    "location,carrier,service_code,service_level,distance_km_from,distance_km_to,weight_up_to_grams,cost,"
    "currency,transit_days_min,transit_days_max\n"
    "A,UPS,UPS-NEXT,standard,0,,10000,5.00,USD,1,1\n"
    "B,UPS,UPS-SLOW,standard,0,,10000,5.00,USD,8,8\n"
    "C,UPS,UPS-NEXT,standard,0,,10000,5.00,USD,1,1\n"
)


def site(code: str, capacity: int | None = None, timezone: str = "UTC") -> Site:
    return Site(LocationProfile(code, "warehouse", POINT, calendar=LocationCalendar(timezone)), capacity)


def scenario(policy: SplitPolicy = SplitPolicy.ALLOWED, *sites: Site) -> Scenario:
    return Scenario(
        policy.value, SourcingRules(version=1, split_policy=policy), RATES, sites or (site("A"), site("B"), site("C"))
    )


def order(ref: str, at: dt.datetime, *lines: tuple[str, int]) -> ReplayOrder:
    return ReplayOrder(ref, at, "web", "standard", DEST, tuple(ReplayLine(s, q) for s, q in lines))


STOCK = {("X", "A"): 10, ("Y", "C"): 10, ("X", "B"): 10, ("Y", "B"): 10}


# --- replay and metrics -----------------------------------------------------------------------


def test_never_split_ships_from_one_location_with_fewer_splits_and_later_promises() -> None:
    orders = [order("O1", MONDAY, ("X", 1), ("Y", 1)), order("O2", MONDAY + dt.timedelta(hours=1), ("X", 2))]
    result = sim.compare(orders, scenario(SplitPolicy.ALLOWED), scenario(SplitPolicy.NEVER), STOCK, FACTS)
    cur, alt = result.current, result.alternative

    # allowed: O1 splits A+C (next day), O2 goes to A (next day)
    assert (cur.routed, cur.shipments, cur.split_orders, cur.split_rate_pct) == (2, 3, 1, 50.0)
    assert cur.promise_days_histogram == {1: 2}
    assert cur.units_by_location == {"A": 3, "C": 1}
    assert cur.carrier_cost_total == Decimal("15.00")
    assert cur.score_total == Decimal("16.50") + Decimal("6.50")  # O2: 5 + 1 day x 1.50
    # never: O1 from B (Mon 2 Mar + 8 business days = Thu 12 Mar, 10 days), O2 still from A
    assert (alt.routed, alt.shipments, alt.split_orders) == (2, 2, 0)
    assert alt.promise_days_histogram == {1: 1, 10: 1}
    assert alt.units_by_location == {"A": 2, "B": 2}
    assert (alt.promise_days_avg, alt.promise_days_p90) == (5.5, 10)
    assert alt.within_days_pct == {2: 50.0, 3: 50.0, 5: 50.0}

    assert alt.split_orders < cur.split_orders
    assert alt.promise_days_avg >= cur.promise_days_avg
    assert result.routed_differently == 1
    diff = result.difference()
    assert (diff["split_orders"], diff["shipments"], diff["promise_days_avg"]) == (-1, -1, 4.5)
    assert diff["units_by_location"] == {"A": -1, "B": 2, "C": -1}


def test_never_split_without_a_complete_location_counts_the_order_unroutable() -> None:
    stock = {("X", "A"): 5, ("Y", "C"): 5}  # no location has both
    orders = [order("O1", MONDAY, ("X", 1), ("Y", 1))]
    result = sim.compare(orders, scenario(SplitPolicy.ALLOWED), scenario(SplitPolicy.NEVER), stock, FACTS)
    assert (result.current.routed, result.current.unroutable) == (1, 0)
    assert (result.alternative.routed, result.alternative.unroutable) == (0, 1)
    assert result.alternative.unroutable_by_reason == {sim.SPLIT_NOT_ALLOWED: 1}
    assert result.alternative.promise_days_avg == 0.0  # over routed orders only


def test_each_scenario_depletes_its_own_stock_in_placement_order() -> None:
    stock = {("X", "A"): 3}
    orders = [
        order("late", MONDAY + dt.timedelta(hours=2), ("X", 2)),
        order("early", MONDAY, ("X", 2)),  # replayed first although listed second
    ]
    result = sim.compare(orders, scenario(), scenario(SplitPolicy.NEVER), stock, FACTS)
    for metrics in (result.current, result.alternative):  # both start from the same 3 units
        assert (metrics.routed, metrics.unroutable_by_reason) == (1, {sim.OUT_OF_STOCK: 1})
    run = sim.replay_scenario(sim.sort_orders(orders), scenario(), stock, FACTS)
    assert [(o.ref, o.routed) for o in run.outcomes] == [("early", True), ("late", False)]
    assert stock == {("X", "A"): 3}  # the caller's map is left alone


def test_capacity_is_counted_per_local_day_of_the_location() -> None:
    """Capacity 2 a day in Los Angeles: 06:00 UTC on 3 March is still 2 March there, so the
    first two orders fall on different local days and both fit; the third, on the same local
    day as the second, finds no capacity left and is routed over it, as capture does."""
    la = site("A", capacity=2, timezone="America/Los_Angeles")
    orders = [
        order("O1", dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC), ("X", 2)),  # Mon 2 Mar 22:00 local
        order("O2", dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC), ("X", 2)),  # Tue 3 Mar 01:00 local
        order("O3", dt.datetime(2026, 3, 3, 20, 0, tzinfo=dt.UTC), ("X", 1)),  # Tue 3 Mar 12:00 local
    ]
    run = sim.replay_scenario(orders, scenario(SplitPolicy.ALLOWED, la), {("X", "A"): 10}, FACTS)
    assert [o.over_capacity for o in run.outcomes] == [False, False, True]
    assert run.day_units == {("A", dt.date(2026, 3, 2)): 2, ("A", dt.date(2026, 3, 3)): 3}
    metrics = sim.scenario_metrics(run)
    assert metrics.routed_over_capacity == 1
    (use,) = metrics.capacity
    assert (use.location, use.daily_capacity, use.units, use.days) == ("A", 2, 5, 2)
    assert (use.average_pct, use.peak_pct, use.days_over) == (125.0, 150.0, 1)


def test_a_full_location_hands_the_order_to_one_with_capacity_left() -> None:
    busy = site("A", capacity=2)
    slow = site("B")  # no limit, but 10 days: scores 20.00 against A's 6.50 plus its load
    stock = {("X", "A"): 10, ("X", "B"): 10}
    orders = [order(f"O{i}", MONDAY + dt.timedelta(minutes=i), ("X", 1)) for i in range(4)]
    run = sim.replay_scenario(orders, scenario(SplitPolicy.ALLOWED, busy, slow), stock, FACTS)
    assert [o.label for o in run.outcomes] == ["A", "A", "B", "B"]
    assert not any(o.over_capacity for o in run.outcomes)
    # the next local day A has its capacity back
    tuesday = order("O9", MONDAY + dt.timedelta(days=1), ("X", 1))
    run = sim.replay_scenario([*orders, tuesday], scenario(SplitPolicy.ALLOWED, busy, slow), stock, FACTS)
    assert run.outcomes[-1].label == "A"


def test_results_are_deterministic_and_report_progress() -> None:
    orders = [order(f"O{i}", MONDAY + dt.timedelta(minutes=i), ("X", 1), ("Y", 1)) for i in range(5)]
    seen: list[tuple[int, int]] = []
    first = sim.compare(
        orders, scenario(), scenario(SplitPolicy.NEVER), STOCK, FACTS, progress=lambda d, t: seen.append((d, t))
    )
    second = sim.compare(list(reversed(orders)), scenario(), scenario(SplitPolicy.NEVER), STOCK, FACTS)
    assert first.to_dict() == second.to_dict()
    assert seen == [(i, 10) for i in range(1, 11)]
    json.dumps(first.to_dict())  # JSON-ready


def test_percentile_is_nearest_rank() -> None:
    assert sim.percentile([], 90) == 0
    assert sim.percentile([5], 90) == 5
    assert sim.percentile(list(range(1, 11)), 90) == 9
    assert sim.percentile([1, 1, 1, 1, 1, 1, 1, 1, 1, 7], 90) == 1
    assert sim.percentile([3, 1, 2], 50) == 2


def test_comparison_rows_and_chart() -> None:
    orders = [order("O1", MONDAY, ("X", 1), ("Y", 1))]
    result = sim.compare(orders, scenario(), scenario(SplitPolicy.NEVER), STOCK, FACTS)
    rows = {r[0]: r[1:] for r in sim.comparison_rows(result)}
    assert rows["split orders"] == ("1 (100.0%)", "0 (0.0%)", "-1 (-100.0 pts)")
    assert rows["average promise (days)"] == ("1.00", "10.00", "+9.00")
    assert rows["units from B"] == ("0", "2", "+2")
    svg = sim.chart_svg(result)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<title>B: alternative 2</title>" in svg and "10 d" in svg
    page = sim.report_html(result)
    assert "<table>" in page and "<svg" in page and "split orders" in page


# --- orders CSV -------------------------------------------------------------------------------

HEADER = "order_ref,placed_at,channel,service_level,country,region,postal_code,sku,quantity\n"


def parse(text: str) -> list[ReplayOrder]:
    return sim.parse_orders_csv(io.StringIO(text), "orders.csv")


def problems(exc: pytest.ExceptionInfo[SimulationInputError]) -> list[tuple[int | None, str]]:
    return [(p.row, p.column) for p in exc.value.problems]


def test_orders_csv_groups_lines_by_order_in_placement_order() -> None:
    orders = parse(
        HEADER + "B,2026-03-02T12:00:00+01:00,web,express,us,NY,10001,X,2\n"
        "A,2026-03-02T10:30:00Z,shopify,,US,,,Y,1\n"
        "B,2026-03-02T12:00:00+01:00,web,express,us,NY,10001,Y,1\n"
    )
    assert [o.ref for o in orders] == ["A", "B"]  # 10:30 UTC before 11:00 UTC
    b = orders[1]
    assert b.placed_at == dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)
    assert (b.channel, b.service_level, b.address) == ("web", "express", Address("US", "10001", "NY"))
    assert [(ln.sku, ln.quantity, ln.row) for ln in b.lines] == [("X", 2, 2), ("Y", 1, 4)]
    assert orders[0].service_level == "standard" and orders[0].address == Address("US")
    # region and postal_code may be left out altogether; the text round-trips
    again = parse(sim.orders_csv_text(orders))
    assert again == [
        ReplayOrder(
            o.ref,
            o.placed_at,
            o.channel,
            o.service_level,
            o.address,
            tuple(ReplayLine(ln.sku, ln.quantity, row) for ln, row in zip(o.lines, rows, strict=True)),
        )
        for o, rows in zip(orders, [[2], [3, 4]], strict=True)
    ]
    short = parse("order_ref,placed_at,channel,service_level,country,sku,quantity\nA,2026-03-02T10:00Z,web,,US,X,1\n")
    assert short[0].address == Address("US")


def test_orders_csv_reports_every_bad_cell_by_row_and_column() -> None:
    with pytest.raises(SimulationInputError) as exc:
        parse(
            HEADER + ",2026-03-02T10:00:00+00:00,web,standard,US,,,X,1\n"  # row 2: no ref
            "A,2026-03-02 10:00,web,standard,US,,,X,1\n"  # row 3: no offset
            "B,yesterday,web,overnight,USA,,,,0\n"  # row 4: five problems
            "C,2026-03-02T10:00:00+00:00,,standard,US,,,X,1.5\n"  # row 5
            "D,2026-03-02T10:00:00+00:00,web,standard,US,,,X,1,extra\n"  # row 6
            "E,2026-03-02T10:00:00+00:00,web,standard,US,,,X,1\n"
            "E,2026-03-02T11:00:00+00:00,pos,standard,US,,,Y,1\n"  # row 8: differs from row 7
        )
    assert problems(exc) == [
        (2, "order_ref"),
        (3, "placed_at"),
        (4, "placed_at"),
        (4, "service_level"),
        (4, "country"),
        (4, "sku"),
        (4, "quantity"),
        (5, "channel"),
        (5, "quantity"),
        (6, "(extra cells)"),
        (8, "placed_at"),
        (8, "channel"),
    ]
    reasons = {(p.row, p.column): p.reason for p in exc.value.problems}
    assert "no UTC offset" in reasons[(3, "placed_at")]
    assert "differs from row 7" in reasons[(8, "channel")]
    assert str(exc.value).startswith("orders.csv: 12 problem(s), nothing loaded: row 2 order_ref: required")


def test_orders_csv_header_problems() -> None:
    with pytest.raises(SimulationInputError) as exc:
        parse("order_ref,placed_at,chanel,service_level,country,sku,sku\n")
    assert problems(exc) == [(1, "chanel"), (1, "sku"), (1, "channel"), (1, "quantity")]
    with pytest.raises(SimulationInputError, match="file is empty"):
        parse("")
    with pytest.raises(SimulationInputError, match="no order rows"):
        parse(HEADER)


def test_unknown_skus_are_refused_with_their_rows() -> None:
    orders = parse(HEADER + "A,2026-03-02T10:00Z,web,,US,,,X,1\nA,2026-03-02T10:00Z,web,,US,,,NOPE,1\n")
    with pytest.raises(SimulationInputError) as exc:
        sim.check_skus(orders, FACTS, "orders.csv")
    assert problems(exc) == [(3, "sku")]
    assert "'NOPE'" in exc.value.problems[0].reason


# --- network CSV and rules --------------------------------------------------------------------

NETWORK_HEADER = (
    "code,name,kind,latitude,longitude,timezone,cutoff_time,workdays,holiday_calendar,handling_days,"
    "daily_capacity,ships,hazmat_licensed\n"
)


def test_network_csv_builds_profiles_with_calendars() -> None:
    sites = sim.parse_network_csv(
        io.StringIO(
            NETWORK_HEADER + "WH-2,Two,warehouse,32.9,-96.9,America/Chicago,16:00,mon tue wed thu fri sat,US-TX,1,"
            "500,true,yes\n"
            "WH-1,One,3pl,39.6,-119.7,America/Los_Angeles,,,,,,,\n"
        ),
        (2025, 2028),
    )
    one, two = sites  # sorted by code
    assert (one.profile.code, one.profile.kind, one.daily_capacity, one.profile.ships) == ("WH-1", "3pl", None, True)
    assert one.profile.calendar == LocationCalendar("America/Los_Angeles")
    cal = two.profile.calendar
    assert (cal.cutoff, cal.workdays, cal.handling_days) == (dt.time(16, 0), frozenset(range(6)), 1)
    assert dt.date(2026, 12, 25) in cal.holidays and dt.date(2026, 3, 2) in cal.holidays  # Texas Independence Day
    assert (two.daily_capacity, two.profile.hazmat_licensed, two.profile.point) == (500, True, GeoPoint(32.9, -96.9))


def test_network_csv_reports_every_bad_cell() -> None:
    with pytest.raises(SimulationInputError) as exc:
        sim.parse_network_csv(
            io.StringIO(
                NETWORK_HEADER + "WH-1,One,warehouse,91,-96.9,Mars/Olympus,25:00,mon funday,XX,-1,lots,maybe,\n"
                "WH-2,Two,shop,32.9,x,America/Chicago,,,,,,,\n"
                "WH-2,Again,warehouse,32.9,-96.9,America/Chicago,,,,,,,\n"
            ),
            (2025, 2028),
            "net.csv",
        )
    assert problems(exc) == [
        (2, "latitude"),
        (2, "timezone"),
        (2, "cutoff_time"),
        (2, "workdays"),
        (2, "holiday_calendar"),
        (2, "handling_days"),
        (2, "daily_capacity"),
        (2, "ships"),
        (3, "kind"),
        (3, "longitude"),
        (4, "code"),
    ]
    with pytest.raises(SimulationInputError) as missing:
        sim.parse_network_csv(io.StringIO("code,name,kind,latitude\n"), (2025, 2028))
    assert problems(missing) == [(1, "longitude"), (1, "timezone")]


def test_the_demo_network_file_reads_as_a_network() -> None:
    from openoms.adapters.carriers.rate_csv import DEMO_NETWORK

    sites = sim.read_network_file(DEMO_NETWORK, (2025, 2028))
    assert len(sites) == 15 and {s.profile.kind for s in sites} == {"warehouse", "store"}
    assert all(s.daily_capacity for s in sites)


def test_rules_file_merges_over_the_current_rules(tmp_path: Path) -> None:
    base = SourcingRules(version=4, name="spring", max_shipments=2)
    path = tmp_path / "rules.json"
    path.write_text('{"split_policy": "never", "weights": {"transit_day": "3"}}')
    rules = sim.read_rules_file(path, base)
    assert (rules.version, rules.name, rules.max_shipments, rules.split_policy) == (5, "spring", 2, SplitPolicy.NEVER)
    assert rules.weights.transit_day == Decimal(3)
    alt = sim.alternative_scenario(scenario(), rules=rules, sources={"rules": "rules.json"})
    assert alt.changes == (
        "rules from rules.json: split_policy=never, max_shipments=2, weights={carrier_cost: "
        "1, transit_day: 3, per_100_km: 0.20, extra_shipment: 5, load: 3}",
    )

    path.write_text('{"split_policy": "sometimes", "max_shipment": 2}')
    with pytest.raises(SimulationInputError) as exc:
        sim.read_rules_file(path, base)
    assert sorted(problems(exc)) == [(None, "max_shipment"), (None, "split_policy")]
    path.write_text('{\n  "split_policy": never\n}')
    with pytest.raises(SimulationInputError) as bad_json:
        sim.read_rules_file(path, base)
    assert problems(bad_json) == [(2, "(JSON, column 19)")]
    path.write_text("[]")
    with pytest.raises(SimulationInputError, match="must be an object"):
        sim.read_rules_file(path, base)
