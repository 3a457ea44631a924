"""Carrier rates (``domain.carriers``): distance, zones, billable weight, rate-table rules and
quoting. The compiled table is checked against a brute-force reading of the rows, on hand-made
tables, on hypothesis-made tables and on the demo tariff."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.adapters.carriers.rate_csv import load_demo_rates
from openoms.domain.carriers import (
    ANY_LOCATION,
    DIM_DIVISOR_CM3_PER_KG,
    EARTH_RADIUS_KM,
    US_DISTANCE_ZONES,
    CarrierService,
    DistanceZone,
    InvalidRateTable,
    RateRow,
    RateTable,
    billable_weight_grams,
    check_rate_rows,
    check_zones,
    dimensional_weight_grams,
    great_circle_km,
    make_quoter,
    quote_services,
    service_level_rank,
    zone_for_distance,
)
from openoms.domain.errors import ErrorCode
from openoms.domain.network import Address, GeoPoint, LocationProfile, RateQuote, ServiceLevel

STD, EXP, PREM = ServiceLevel.STANDARD, ServiceLevel.EXPEDITED, ServiceLevel.PREMIUM

# --------------------------------------------------------------------------- distance

KM_PER_MI = 1.609344


@pytest.mark.parametrize(
    ("a", "b", "published_km"),
    [
        # airport pairs with their published great-circle distances (statute miles)
        (GeoPoint(40.6413, -73.7781), GeoPoint(33.9416, -118.4085), 2475 * KM_PER_MI),  # JFK-LAX
        (GeoPoint(51.4700, -0.4543), GeoPoint(49.0097, 2.5479), 216 * KM_PER_MI),  # LHR-CDG
        (GeoPoint(-33.9399, 151.1753), GeoPoint(-37.6690, 144.8410), 439 * KM_PER_MI),  # SYD-MEL
        (GeoPoint(41.9742, -87.9073), GeoPoint(33.6407, -84.4277), 606 * KM_PER_MI),  # ORD-ATL
        (GeoPoint(90.0, 0.0), GeoPoint(0.0, 0.0), 10_001.966),  # pole to equator, the meridian quadrant
        (GeoPoint(0.0, 0.0), GeoPoint(0.0, 1.0), 111.32),  # one degree along the equator
        (GeoPoint(0.0, 179.5), GeoPoint(0.0, -179.5), 111.32),  # across the antimeridian
    ],
)
def test_distance_between_known_places_within_one_percent(a: GeoPoint, b: GeoPoint, published_km: float) -> None:
    assert great_circle_km(a, b) == pytest.approx(published_km, rel=0.01)


def test_distance_to_itself_is_zero_and_antipodes_are_half_the_circumference() -> None:
    p = GeoPoint(37.7749, -122.4194)
    assert great_circle_km(p, p) == 0.0
    assert great_circle_km(GeoPoint(10, 20), GeoPoint(-10, -160)) == pytest.approx(math.pi * EARTH_RADIUS_KM)


points = st.builds(
    GeoPoint,
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)


@given(points, points)
def test_distance_is_symmetric_non_negative_and_bounded(a: GeoPoint, b: GeoPoint) -> None:
    d = great_circle_km(a, b)
    assert d == pytest.approx(great_circle_km(b, a), abs=1e-6)
    assert 0.0 <= d <= math.pi * EARTH_RADIUS_KM + 1e-6


@given(points, points, points)
def test_distance_obeys_the_triangle_inequality(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> None:
    assert great_circle_km(a, c) <= great_circle_km(a, b) + great_circle_km(b, c) + 1e-6


# --------------------------------------------------------------------------- weight


def test_dimensional_weight_uses_5000_cm3_per_kg() -> None:
    assert DIM_DIVISOR_CM3_PER_KG == 5000
    assert dimensional_weight_grams(40, 30, 20) == 4800  # 24,000 cm3 / 5000 = 4.8 kg
    assert dimensional_weight_grams(10, 10, 10) == 200


def test_dimensional_weight_rounds_sides_up_to_whole_cm_and_grams_up() -> None:
    assert dimensional_weight_grams(39.1, 29.5, 19.01) == 4800  # sides become 40 x 30 x 20
    assert dimensional_weight_grams(1, 1, 1) == 1  # 0.2 g is billed as 1 g
    assert dimensional_weight_grams(3, 3, 3) == 6  # 27 cm3 -> 5.4 g -> 6 g
    assert dimensional_weight_grams(40, 30, 20, divisor=6000) == 4000


def test_dimensional_weight_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        dimensional_weight_grams(-1, 10, 10)
    with pytest.raises(ValueError):
        dimensional_weight_grams(1, 1, 1, divisor=0)
    with pytest.raises(ValueError):
        billable_weight_grams(-5)


def test_billable_weight_is_the_greater_of_actual_and_dimensional() -> None:
    assert billable_weight_grams(1200) == 1200  # no dimensions: actual
    assert billable_weight_grams(1200, (40, 30, 20)) == 4800  # light and bulky: volume
    assert billable_weight_grams(9000, (40, 30, 20)) == 9000  # dense: actual
    assert billable_weight_grams(4800, (40, 30, 20)) == 4800


# --------------------------------------------------------------------------- zones


def test_us_zones_are_the_usps_mileages_in_km() -> None:
    assert [z.zone for z in US_DISTANCE_ZONES] == ["2", "3", "4", "5", "6", "7", "8"]
    edges_mi = [150, 300, 600, 1000, 1400, 1800]
    assert [z.to_km for z in US_DISTANCE_ZONES[:-1]] == [round(m * KM_PER_MI, 1) for m in edges_mi]
    assert US_DISTANCE_ZONES[-1].to_km is None
    assert check_zones(US_DISTANCE_ZONES) == []


@pytest.mark.parametrize(
    ("km", "zone"),
    [(0.0, "2"), (241.39, "2"), (241.4, "3"), (482.8, "4"), (1609.29, "5"), (1609.3, "6"), (2896.8, "8"), (2e4, "8")],
)
def test_zone_for_distance_band_edges(km: float, zone: str) -> None:
    found = zone_for_distance(km)
    assert found is not None and found.zone == zone


def test_zone_for_distance_outside_every_zone_is_none() -> None:
    assert zone_for_distance(-1.0) is None
    assert zone_for_distance(500.0, [DistanceZone("A", 0, 100)]) is None


def test_bad_zone_tables_are_reported_and_refused() -> None:
    overlapping = [DistanceZone("A", 0, 100), DistanceZone("B", 50, 200)]
    assert check_zones(overlapping) == ["zone B overlaps zone A"]
    assert check_zones([DistanceZone("A", 0, None), DistanceZone("B", 100, 200)]) == ["zone B overlaps zone A"]
    assert "defined twice" in check_zones([DistanceZone("A", 0, 10), DistanceZone("A", 10, 20)])[0]
    assert "empty or negative" in check_zones([DistanceZone("A", 10, 10)])[0]
    with pytest.raises(ValueError, match="bad zone table"):
        RateTable([], overlapping)


def test_service_levels_rank_standard_below_expedited_below_premium() -> None:
    assert service_level_rank(STD) < service_level_rank(EXP) < service_level_rank(PREM)


# --------------------------------------------------------------------------- a small table

ZONES = (DistanceZone("1", 0, 100), DistanceZone("2", 100, 500), DistanceZone("3", 500, None))


def row(
    service: str = "GROUND",
    *,
    location: str = ANY_LOCATION,
    carrier: str | None = None,
    level: ServiceLevel = STD,
    zone: str | None = "1",
    km: tuple[float, float | None] | None = None,
    up_to: int = 1000,
    cost: str = "10.00",
    currency: str = "USD",
    days: tuple[int, int] = (2, 3),
) -> RateRow:
    return RateRow(
        location=location,
        carrier=carrier or service.split("-")[0],
        service_code=service,
        service_level=level,
        weight_up_to_grams=up_to,
        cost=Decimal(cost),
        currency=currency,
        transit_days_min=days[0],
        transit_days_max=days[1],
        zone=zone if km is None else None,  # a distance band replaces the default zone
        from_km=None if km is None else km[0],
        to_km=None if km is None else km[1],
    )


def small_table() -> RateTable:
    rows = [
        # GROUND by zone, two weight bands
        row("GROUND", zone="1", up_to=1000, cost="8.00", days=(1, 2)),
        row("GROUND", zone="1", up_to=2000, cost="9.50", days=(1, 2)),
        row("GROUND", zone="2", up_to=1000, cost="11.00", days=(2, 3)),
        row("GROUND", zone="2", up_to=2000, cost="13.00", days=(2, 3)),
        # COURIER by distance, a gap between 150 and 200 km, nothing beyond 300 km
        row("COURIER", km=(0, 150), up_to=5000, cost="7.00", days=(1, 1)),
        row("COURIER", km=(200, 300), up_to=5000, cost="12.00", days=(1, 2)),
        # AIR, expedited and premium, everywhere
        row("AIR-2DAY", carrier="AIR", level=EXP, km=(0, None), up_to=5000, cost="25.00", days=(2, 2)),
        row("AIR-1DAY", carrier="AIR", level=PREM, km=(0, None), up_to=5000, cost="45.00", days=(1, 1)),
        # location L1 has its own GROUND price (and only zone 1)
        row("GROUND", location="L1", zone="1", up_to=2000, cost="6.00", days=(1, 1)),
        # only L2 offers LOCAL
        row("LOCAL", location="L2", km=(0, 50), up_to=3000, cost="5.00", days=(0, 1)),
    ]
    return RateTable(rows, ZONES)


def codes(quotes: list[RateQuote]) -> list[str]:
    return [q.service_code for q in quotes]


def test_weight_band_edges_pick_the_lightest_band_that_holds_the_parcel() -> None:
    t = small_table()

    def ground(w: int) -> Decimal | None:
        found = [q.cost for q in t.quote_distance("X", 50.0, w) if q.service_code == "GROUND"]
        return found[0] if found else None

    assert ground(0) == Decimal("8.00")
    assert ground(1000) == Decimal("8.00")  # "up to" includes the bound
    assert ground(1001) == Decimal("9.50")
    assert ground(2000) == Decimal("9.50")
    assert ground(2001) is None  # heavier than any band: left out, not guessed


def test_distance_band_edges_are_half_open() -> None:
    t = small_table()

    def courier(km: float) -> str | None:
        found = [q.zone for q in t.quote_distance("X", km, 1000) if q.service_code == "COURIER"]
        return found[0] if found else None

    assert courier(0.0) == "0-150 km"
    assert courier(149.999) == "0-150 km"
    assert courier(150.0) is None  # the gap between bands: no price
    assert courier(199.99) is None
    assert courier(200.0) == "200-300 km"
    assert courier(300.0) is None  # the upper bound belongs to no band


def test_zone_rows_resolve_through_the_zone_table() -> None:
    t = small_table()
    ground = {km: [q for q in t.quote_distance("X", km, 500) if q.service_code == "GROUND"] for km in (99.9, 100, 600)}
    assert [q.zone for q in ground[99.9]] == ["1"]
    assert [q.zone for q in ground[100]] == ["2"]
    assert ground[600] == []  # zone 3 exists, but GROUND has no zone-3 prices


def test_quotes_come_cheapest_first_with_zone_distance_and_currency() -> None:
    t = small_table()
    quotes = t.quote_distance("X", 120.0, 1500)
    assert codes(quotes) == ["COURIER", "GROUND", "AIR-2DAY", "AIR-1DAY"]
    assert [q.cost for q in quotes] == sorted(q.cost for q in quotes)
    assert all(q.currency == "USD" and q.distance_km == 120.0 and q.location_code == "X" for q in quotes)
    ground = quotes[1]
    assert (ground.carrier, ground.service_level, ground.zone) == ("GROUND", STD, "2")
    assert (ground.transit_days_min, ground.transit_days_max) == (2, 3)


def test_equal_prices_break_ties_by_speed_then_service_code() -> None:
    rows = [
        row("B-SLOW", km=(0, None), cost="10.00", days=(3, 5)),
        row("C-FAST", km=(0, None), cost="10.00", days=(1, 2)),
        row("A-FAST", km=(0, None), cost="10.00", days=(1, 2)),
        row("D-CHEAP", km=(0, None), cost="9.99", days=(5, 7)),
    ]
    quotes = RateTable(rows).quote_distance("X", 10.0, 500)
    assert codes(quotes) == ["D-CHEAP", "A-FAST", "C-FAST", "B-SLOW"]


def test_a_service_level_gets_the_services_of_that_level() -> None:
    t = small_table()
    assert codes(t.quote_distance("X", 50.0, 500, None)) == ["COURIER", "GROUND", "AIR-2DAY", "AIR-1DAY"]
    assert codes(t.quote_distance("X", 50.0, 500, STD)) == ["COURIER", "GROUND"]
    assert codes(t.quote_distance("X", 50.0, 500, EXP)) == ["AIR-2DAY"]
    assert codes(t.quote_distance("X", 50.0, 500, PREM)) == ["AIR-1DAY"]


def test_a_missing_level_is_filled_by_the_next_faster_one_never_a_slower_one() -> None:
    t = small_table()
    # 4 kg: GROUND stops at 2 kg and COURIER has no band at 170 km, so standard is upgraded
    assert codes(t.quote_distance("X", 170.0, 4000, STD)) == ["AIR-2DAY"]
    no_two_day = RateTable([r for r in t.rows if r.service_code != "AIR-2DAY"], ZONES)
    assert codes(no_two_day.quote_distance("X", 50.0, 500, EXP)) == ["AIR-1DAY"]
    no_overnight = RateTable([r for r in t.rows if r.service_code != "AIR-1DAY"], ZONES)
    assert no_overnight.quote_distance("X", 50.0, 500, PREM) == []
    assert codes(no_overnight.quote_distance("X", 50.0, 500, EXP)) == ["AIR-2DAY"]


def test_a_locations_own_rows_replace_the_star_rows_of_that_service_only() -> None:
    t = small_table()
    l1 = {q.service_code: q for q in t.quote_distance("L1", 50.0, 1500)}
    assert l1["GROUND"].cost == Decimal("6.00")  # its own price, not the * 9.50
    assert {"COURIER", "AIR-2DAY", "AIR-1DAY"} <= set(l1)  # the other * services still apply
    assert "GROUND" not in codes(t.quote_distance("L1", 150.0, 500))  # its own table has no zone 2
    assert "GROUND" in codes(t.quote_distance("X", 150.0, 500))


def test_a_service_with_location_rows_only_is_offered_by_that_location_only() -> None:
    t = small_table()
    assert codes(t.quote_distance("L2", 10.0, 500))[0] == "LOCAL"
    assert "LOCAL" not in codes(t.quote_distance("L1", 10.0, 500))
    assert "LOCAL" not in codes(t.quote_distance("ELSEWHERE", 10.0, 500))
    assert [s.service_code for s in t.services_for("L2")] == ["AIR-1DAY", "AIR-2DAY", "COURIER", "GROUND", "LOCAL"]
    assert CarrierService("LOCAL", "LOCAL", STD) in t.services_for("L2")
    assert [s.service_code for s in t.services_for("UNKNOWN")] == ["AIR-1DAY", "AIR-2DAY", "COURIER", "GROUND"]


def test_nothing_matches_means_no_quote() -> None:
    t = small_table()
    assert t.quote_distance("X", 50.0, 6000) == []  # heavier than every service's bands
    assert RateTable([]).quote_distance("X", 10.0, 100) == []


def test_quote_refuses_negative_weight_and_nonsense_distance() -> None:
    t = small_table()
    with pytest.raises(ValueError):
        t.quote_distance("X", 10.0, -1)
    with pytest.raises(ValueError):
        t.quote_distance("X", math.nan, 100)
    with pytest.raises(ValueError):
        t.quote_distance("X", -0.5, 100)


def test_quote_services_measures_the_distance_between_location_and_destination() -> None:
    t = small_table()
    here = GeoPoint(40.0, -75.0)
    there = GeoPoint(40.5, -75.0)  # about 55.6 km north
    loc = LocationProfile("X", "warehouse", here)
    quotes = quote_services(t, loc, Address("US", point=there), 500)
    assert quotes and all(q.distance_km == pytest.approx(great_circle_km(here, there)) for q in quotes)
    assert quotes[0].distance_km == pytest.approx(55.6, rel=0.01)
    assert quote_services(t, loc, Address("US", "10012"), 500) == []  # no point: no distance, no quote
    assert quote_services(t, LocationProfile("X", "warehouse", None), Address("US", point=there), 500) == []


def test_make_quoter_locates_only_addresses_without_a_point() -> None:
    t = small_table()
    calls: list[Address] = []

    def locate(a: Address) -> GeoPoint | None:
        calls.append(a)
        return GeoPoint(40.5, -75.0) if a.postal_code == "KNOWN" else None

    quote = make_quoter(t, locate)
    loc = LocationProfile("X", "warehouse", GeoPoint(40.0, -75.0))
    assert codes(quote(loc, Address("US", "KNOWN"), 500, PREM)) == ["AIR-1DAY"]
    assert codes(quote(loc, Address("US", "KNOWN"), 500, EXP)) == ["AIR-2DAY"]
    assert quote(loc, Address("US", "UNKNOWN"), 500, STD) == []
    assert quote(loc, Address("US", point=GeoPoint(40.1, -75.0)), 500, STD) != []
    assert [a.postal_code for a in calls] == ["KNOWN", "KNOWN", "UNKNOWN"]
    assert make_quoter(t)(loc, Address("US", "KNOWN"), 500, STD) == []  # no locate: no point


def test_fast_built_quotes_equal_normally_built_ones_for_the_whole_demo_table() -> None:
    table = load_demo_rates()
    field_names = {f.name for f in dataclasses.fields(RateQuote)}
    seen = 0
    for code in ("WH-RNO", "ST-NYC", "ELSEWHERE"):
        for km in (10.0, 100.0, 300.0, 1000.0, 5000.0):
            for q in table.quote_distance(code, km, 2500):
                assert set(vars(q)) == field_names
                normal = RateQuote(**{name: getattr(q, name) for name in field_names})
                assert q == normal and hash(q) == hash(normal) and repr(q) == repr(normal)
                assert dataclasses.replace(q, cost=Decimal(1)).cost == Decimal(1)
                with pytest.raises(dataclasses.FrozenInstanceError):
                    q.cost = Decimal(0)  # type: ignore[misc]
                seen += 1
    assert seen > 40


# --------------------------------------------------------------------------- table rules


def problems_of(rows: list[RateRow], zones: tuple[DistanceZone, ...] = ZONES) -> set[tuple[int, str]]:
    return {(p.row, p.field) for p in check_rate_rows(rows, zones)}


def test_a_valid_table_has_no_problems_and_adjacent_bands_do_not_overlap() -> None:
    rows = [
        row("G", km=(0, 100), up_to=1000, cost="5.00"),
        row("G", km=(100, 200), up_to=1000, cost="6.00"),
        row("G", km=(200, None), up_to=1000, cost="7.00"),
        row("G", km=(0, 100), up_to=2000, cost="5.00"),  # a heavier band may cost the same
        row("G", location="L1", km=(50, 150), up_to=1000, cost="4.00"),  # another location: no overlap
    ]
    assert check_rate_rows(rows, ZONES) == []
    assert check_rate_rows(small_table().rows, ZONES) == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (row(cost="-0.01"), "cost"),
        (row(cost="NaN"), "cost"),
        (row(cost="10.555"), "cost"),  # more decimals than USD has
        (row(currency="XYZ"), "currency"),
        (row(currency="usd"), "currency"),
        (row(days=(3, 2)), "transit_days_max"),
        (row(days=(-1, 2)), "transit_days_min"),
        (row(up_to=0), "weight_up_to_grams"),
        (row(location=""), "location"),
        (row(carrier=" UPS"), "carrier"),
        (row(service="", carrier="X"), "service_code"),
        (row(zone="9"), "zone"),  # unknown zone
        (dataclasses.replace(row(zone="1"), from_km=0.0), "zone"),  # both a zone and a distance band
        (dataclasses.replace(row(), zone=None), "zone"),  # neither
        (row(km=(100, 100)), "distance_km_to"),
        (row(km=(-5, 100)), "distance_km_from"),
        (dataclasses.replace(row(), zone=None, to_km=100.0), "distance_km_from"),  # upper bound without a lower one
        (dataclasses.replace(row(zone="1"), service_level="overnight"), "service_level"),  # type: ignore[arg-type]
    ],
)
def test_each_bad_row_is_named_with_its_field(bad: RateRow, field: str) -> None:
    good = row("OTHER", zone="1")
    assert problems_of([good, bad]) == {(1, field)}


def test_overlapping_bands_of_one_service_and_location_are_refused() -> None:
    rows = [
        row("G", km=(0, 150)),
        row("G", km=(100, 300)),  # overlaps 0-150
        row("G", zone="1"),  # zone 1 is 0-100 km: overlaps too
        row("G", km=(300, None)),
        row("G", km=(400, 500)),  # inside the open-ended band above
    ]
    assert problems_of(rows) == {(1, "distance_km_from"), (2, "zone"), (4, "distance_km_from")}
    reasons = [p.reason for p in check_rate_rows(rows, ZONES)]
    assert "100-300 km overlaps 0-150 km for G from *" in reasons


def test_repeated_weight_band_and_cheaper_heavier_parcel_are_refused() -> None:
    rows = [
        row("G", zone="1", up_to=1000, cost="5.00"),
        row("G", zone="1", up_to=1000, cost="5.00"),  # the same band twice
        row("G", zone="1", up_to=2000, cost="4.99"),  # cheaper than the lighter band
        row("G", zone="2", up_to=2000, cost="4.00"),  # another band: its own ladder
    ]
    assert problems_of(rows) == {(1, "weight_up_to_grams"), (2, "cost")}


def test_one_currency_per_table_and_one_carrier_and_level_per_service_code() -> None:
    rows = [
        row("G", carrier="UPS", zone="1"),
        row("G", carrier="UPS", zone="2", currency="EUR", cost="12.00"),
        row("G", carrier="FEDEX", zone="3", cost="13.00"),
        row("G", carrier="UPS", level=PREM, location="L1", zone="1"),
    ]
    assert problems_of(rows) == {(1, "currency"), (2, "carrier"), (3, "service_level")}


def test_rate_table_refuses_a_bad_row_whole_with_field_paths() -> None:
    rows = [row("G", zone="1"), row("G", zone="2", cost="-1.00"), row("G", zone="3", days=(5, 1))]
    with pytest.raises(InvalidRateTable) as caught:
        RateTable(rows, ZONES)
    err = caught.value
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert [e.field for e in err.errors] == ["rows[1].cost", "rows[2].transit_days_max"]
    assert [p.row for p in err.problems] == [1, 2]
    assert "2 problem(s)" in err.message


# --------------------------------------------------------------------------- compiled vs brute force


def brute_force(table: RateTable, location: str, km: float, grams: int) -> dict[str, Decimal]:
    """The rule read straight off the rows: own rows replace ``*`` rows per service; the band
    holds the distance; the lightest weight band that holds the parcel."""
    zones = {z.zone: z for z in table.zones}
    own = {r.service_code for r in table.rows if r.location == location}
    best: dict[str, tuple[int, Decimal]] = {}
    for r in table.rows:
        if r.location != location and not (r.location == ANY_LOCATION and r.service_code not in own):
            continue
        if r.zone is not None:
            lo, hi = zones[r.zone].from_km, zones[r.zone].to_km
        else:
            assert r.from_km is not None
            lo, hi = r.from_km, r.to_km
        if not (lo <= km and (hi is None or km < hi)) or grams > r.weight_up_to_grams:
            continue
        if r.service_code not in best or r.weight_up_to_grams < best[r.service_code][0]:
            best[r.service_code] = (r.weight_up_to_grams, r.cost)
    return {code: cost for code, (_, cost) in best.items()}


@st.composite
def valid_tables(draw: st.DrawFn) -> RateTable:
    """Random valid tables: per service and location scope, disjoint distance bands and an
    increasing weight ladder whose prices never fall."""
    rows: list[RateRow] = []
    for s in range(draw(st.integers(1, 4))):
        level = draw(st.sampled_from(list(ServiceLevel)))
        for location in draw(st.lists(st.sampled_from([ANY_LOCATION, "L1", "L2"]), min_size=1, unique=True)):
            cuts = sorted(draw(st.sets(st.integers(0, 3000), min_size=2, max_size=5)))
            open_end = draw(st.booleans())
            for k, (lo, hi) in enumerate(zip(cuts, [*cuts[1:], None], strict=True)):
                if hi is None and not open_end:
                    break
                if draw(st.booleans()) and k > 0:
                    continue  # leave a gap
                weights = sorted(draw(st.sets(st.integers(1, 20_000), min_size=1, max_size=4)))
                cost = Decimal(draw(st.integers(0, 5000))) / 100
                for w in weights:
                    cost += Decimal(draw(st.integers(0, 2000))) / 100
                    rows.append(
                        row(
                            f"S{s}",
                            carrier="C",
                            level=level,
                            location=location,
                            km=(float(lo), None if hi is None else float(hi)),
                            up_to=w,
                            cost=str(cost),
                        )
                    )
    return RateTable(rows)


@settings(max_examples=150, deadline=None)
@given(
    valid_tables(),
    st.sampled_from(["L1", "L2", "L3"]),
    st.floats(0, 3500, allow_nan=False),
    st.integers(0, 21_000),
)
def test_compiled_table_agrees_with_the_rows_read_by_hand(
    table: RateTable, location: str, km: float, grams: int
) -> None:
    quotes = table.quote_distance(location, km, grams)
    assert {q.service_code: q.cost for q in quotes} == brute_force(table, location, km, grams)
    keys = [(q.cost, q.transit_days_max, q.transit_days_min, q.service_code) for q in quotes]
    assert keys == sorted(keys)


@settings(max_examples=150, deadline=None)
@given(
    valid_tables(),
    st.sampled_from(["L1", "L3"]),
    st.floats(0, 3500, allow_nan=False),
    st.integers(0, 21_000),
    st.integers(0, 21_000),
)
def test_quotes_never_fall_as_weight_rises_within_a_service(
    table: RateTable, location: str, km: float, w1: int, w2: int
) -> None:
    light, heavy = sorted((w1, w2))
    lighter = {q.service_code: q.cost for q in table.quote_distance(location, km, light)}
    heavier = {q.service_code: q.cost for q in table.quote_distance(location, km, heavy)}
    assert set(heavier) <= set(lighter)  # a heavier parcel never opens a service
    for code, cost in heavier.items():
        assert lighter[code] <= cost


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["WH-RNO", "WH-DFW", "ST-NYC", "ST-SEA", "UNKNOWN"]),
    st.floats(0, 6000, allow_nan=False),
    st.integers(0, 12_000),
)
def test_demo_table_agrees_with_the_rows_read_by_hand(location: str, km: float, grams: int) -> None:
    table = load_demo_rates()
    quotes = table.quote_distance(location, km, grams)
    assert {q.service_code: q.cost for q in quotes} == brute_force(table, location, km, grams)
