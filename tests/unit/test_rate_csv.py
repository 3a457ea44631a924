"""Rate tables from CSV (``adapters.carriers.rate_csv``): each bad cell reported with its row
and column and nothing loaded; the demo tariff and the demo network are sound."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from openoms.adapters.carriers.geo import lookup_us_zip, us_state_centroid
from openoms.adapters.carriers.rate_csv import (
    COLUMNS,
    DEMO_NETWORK,
    DEMO_RATES,
    REQUIRED_COLUMNS,
    RateCsvError,
    load_demo_rates,
    parse_rate_rows,
    parse_rate_table,
    read_rate_table,
)
from openoms.domain.carriers import great_circle_km, quote_services
from openoms.domain.network import Address, GeoPoint, LocationProfile, ServiceLevel

HEADER = ",".join(COLUMNS)
STATES_AND_DC = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC",
]  # fmt: skip
GOOD = [
    "*,UPS,UPS-GROUND,standard,2,,,1000,10.85,USD,1,2",
    "*,UPS,UPS-GROUND,standard,2,,,2000,12.10,USD,1,2",
    "*,UPS,UPS-GROUND,standard,3,,,1000,11.40,USD,2,3",
    "ST-1,METRO,METRO-NEXT-DAY,standard,,0,80,5000,7.95,USD,1,1",
]


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def refusal(text: str) -> list[tuple[int, str]]:
    with pytest.raises(RateCsvError) as caught:
        parse_rate_table(text, "rates.csv")
    return [(p.row, p.field) for p in caught.value.problems]


def test_a_good_file_loads_into_a_rate_table() -> None:
    table = parse_rate_table(csv_text(*GOOD))
    assert len(table.rows) == 4 and table.currency == "USD"
    first = table.rows[0]
    assert (first.location, first.service_code, first.service_level, first.zone) == ("*", "UPS-GROUND", "standard", "2")
    assert (first.weight_up_to_grams, first.cost, first.transit_days_min, first.transit_days_max) == (
        1000,
        Decimal("10.85"),
        1,
        2,
    )
    courier = table.rows[3]
    assert (courier.zone, courier.from_km, courier.to_km) == (None, 0.0, 80.0)
    assert [s.service_code for s in table.services_for("ST-1")] == ["METRO-NEXT-DAY", "UPS-GROUND"]


def test_cells_are_trimmed_level_and_currency_case_insensitive_columns_in_any_order() -> None:
    header = ",".join(
        ("currency", "cost", *REQUIRED_COLUMNS[:4], "zone", *REQUIRED_COLUMNS[4:5], *REQUIRED_COLUMNS[7:])
    )
    table = parse_rate_table(csv_text(" usd , 9.99 ,*, UPS ,G, Standard ,2,500,1,2", header=header))
    r = table.rows[0]
    assert (r.currency, r.cost, r.carrier, r.service_level) == ("USD", Decimal("9.99"), "UPS", ServiceLevel.STANDARD)


def test_each_bad_row_is_reported_with_row_field_and_reason_and_nothing_loads() -> None:
    text = csv_text(
        GOOD[0],  # row 2 fine
        "*,UPS,UPS-GROUND,overnight,3,,,1000,11.00,USD,1,2",  # row 3: unknown level
        "*,UPS,UPS-GROUND,standard,4,,,1000,-1.00,USD,1,2",  # row 4: negative cost
        "*,UPS,UPS-GROUND,standard,5,,,1000,11.00,US$,1,2",  # row 5: bad currency
        "*,UPS,UPS-GROUND,standard,6,,,1000,11.00,USD,4,2",  # row 6: transit min > max
        "*,UPS,UPS-GROUND,standard,,0,300,1000,11.00,USD,1,2",  # row 7: overlaps zone 2 (0-241.4 km)
        "*,UPS,UPS-GROUND,standard,7,,,1kg,11.00,USD,1,2",  # row 8: weight not a number
        ",UPS,UPS-GROUND,standard,8,,,1000,11.00,USD,1,2",  # row 9: no location
        "*,UPS,UPS-GROUND,standard,9,,,1000,11.00,USD,1,2",  # row 10: no zone 9
        "*,UPS,UPS-GROUND,standard,8,,,1000,11.00,XYZ,1,2",  # row 11: not an ISO 4217 code
        "*,UPS,UPS-GROUND,standard,8,,,2000,11.005,USD,1,2",  # row 12: a tenth of a cent
        "*,UPS,UPS-GROUND,standard,8,,,3000,eleven,USD,1,2",  # row 13: not an amount
        "*,UPS,UPS-GROUND,standard,8,,,4000,12.00,EUR,1,2",  # row 14: another currency
        "*,UPS,UPS-GROUND,standard,8,,,5000,13.00,USD,-1,2",  # row 15: negative days
    )
    with pytest.raises(RateCsvError) as caught:
        parse_rate_table(text, "rates.csv")
    problems = caught.value.problems
    assert [(p.row, p.field) for p in problems] == [
        (3, "service_level"),
        (4, "cost"),
        (5, "currency"),
        (6, "transit_days_max"),
        (7, "distance_km_from"),
        (8, "weight_up_to_grams"),
        (9, "location"),
        (10, "zone"),
        (11, "currency"),
        (12, "cost"),
        (13, "cost"),
        (14, "currency"),
        (15, "transit_days_min"),
    ]
    reasons = {p.row: p.reason for p in problems}
    assert reasons[3] == "unknown service level 'overnight'; one of standard, expedited, premium"
    assert reasons[4] == "-1.00 is negative or not a number"
    assert reasons[6] == "2 is below transit_days_min 4"
    assert "overlaps zone 2" in reasons[7]
    assert reasons[14] == "EUR differs from the table's currency USD"
    assert str(caught.value).startswith("rates.csv: 13 problem(s), nothing loaded: row 3 service_level")


def test_one_bad_row_among_good_ones_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(csv_text(*GOOD, "*,UPS,UPS-GROUND,standard,3,,,2000,12.00,USD,3,2"), encoding="utf-8")
    with pytest.raises(RateCsvError) as caught:
        read_rate_table(path)
    assert [(p.row, p.field) for p in caught.value.problems] == [(6, "transit_days_max")]
    assert caught.value.source == str(path)


def test_row_numbers_are_file_rows_even_with_blank_lines() -> None:
    text = HEADER + "\n" + GOOD[0] + "\n\n\n" + "*,UPS,UPS-GROUND,standard,3,,,1000,-5,USD,1,2\n"
    assert refusal(text) == [(5, "cost")]


def test_header_problems_are_reported_on_row_1() -> None:
    assert refusal(csv_text(GOOD[0], header=HEADER.replace("cost", "price"))) == [(1, "cost"), (1, "price")]
    no_band = ",".join(REQUIRED_COLUMNS)
    assert refusal(csv_text("*,UPS,G,standard,1000,1.00,USD,1,2", header=no_band)) == [(1, "zone")]
    assert refusal(csv_text(GOOD[0], header=HEADER + ",zone")) == [(1, "zone")]
    assert refusal("") == [(1, "(header)")]
    assert refusal(csv_text()) == [(1, "(rows)")]


def test_extra_cells_and_band_cell_problems() -> None:
    assert refusal(csv_text(GOOD[0] + ",surplus")) == [(2, "(extra cells)")]
    assert refusal(csv_text("*,M,M-1,standard,,0,inf,1000,5.00,USD,1,1")) == [(2, "distance_km_to")]
    assert refusal(csv_text("*,M,M-1,standard,,-3,10,1000,5.00,USD,1,1")) == [(2, "distance_km_from")]
    assert refusal(csv_text("*,M,M-1,standard,,50,10,1000,5.00,USD,1,1")) == [(2, "distance_km_to")]
    assert refusal(csv_text("*,M,M-1,standard,2,0,10,1000,5.00,USD,1,1")) == [(2, "zone")]
    assert refusal(csv_text("*,M,M-1,standard,,,,1000,5.00,USD,1,1")) == [(2, "zone")]


def test_a_service_code_names_one_carrier_and_level() -> None:
    text = csv_text(GOOD[0], "*,FEDEX,UPS-GROUND,premium,3,,,1000,11.40,USD,2,3")
    assert refusal(text) == [(3, "carrier"), (3, "service_level")]


def test_parse_rate_rows_keeps_good_rows_with_their_numbers() -> None:
    rows, numbers, problems = parse_rate_rows(csv_text(GOOD[0], "bad,row", GOOD[1]).splitlines())
    assert numbers == [2, 4] and len(rows) == 2
    assert {p.row for p in problems} == {3}


def test_a_byte_order_mark_from_a_spreadsheet_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(csv_text(*GOOD), encoding="utf-8-sig")
    assert len(read_rate_table(path).rows) == 4
    assert len(parse_rate_table("\ufeff" + csv_text(*GOOD)).rows) == 4


# --------------------------------------------------------------------------- the demo tariff


def read_network() -> list[dict[str, str]]:
    with DEMO_NETWORK.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def profile(row: dict[str, str]) -> LocationProfile:
    return LocationProfile(row["code"], row["kind"], GeoPoint(float(row["latitude"]), float(row["longitude"])))


def test_demo_rates_load_cleanly() -> None:
    table = read_rate_table(DEMO_RATES)
    assert table.currency == "USD" and len(table.rows) > 300
    codes = {r.service_code for r in table.rows}
    assert codes == {"USPS-GROUND-ADVANTAGE", "UPS-GROUND", "FEDEX-2DAY", "FEDEX-PRIORITY-OVERNIGHT", "METRO-NEXT-DAY"}
    assert {r.weight_up_to_grams for r in table.rows} >= {500, 10_000}
    ground_days = {(r.transit_days_min, r.transit_days_max) for r in table.rows if r.service_code == "UPS-GROUND"}
    assert min(d[0] for d in ground_days) == 1 and max(d[1] for d in ground_days) == 5


def test_demo_rates_quote_every_warehouse_to_every_state_centroid() -> None:
    table = load_demo_rates()
    warehouses = [profile(r) for r in read_network() if r["kind"] == "warehouse"]
    assert len(warehouses) == 5
    for wh, state in itertools.product(warehouses, [*STATES_AND_DC, "PR"]):
        point = us_state_centroid(state)
        assert point is not None, state
        destination = Address("US", region=state, point=point)
        for grams in (1, 500, 10_000):
            for level in ServiceLevel:
                quotes = quote_services(table, wh, destination, grams, level)
                assert quotes, (wh.code, state, grams, level)
                assert [q.cost for q in quotes] == sorted(q.cost for q in quotes)


def test_demo_prices_rise_with_weight_and_with_zone() -> None:
    table = load_demo_rates()
    for code in ("USPS-GROUND-ADVANTAGE", "UPS-GROUND", "FEDEX-2DAY", "FEDEX-PRIORITY-OVERNIGHT"):
        cost = {(r.zone, r.weight_up_to_grams): r.cost for r in table.rows if r.service_code == code}
        zones = sorted({z for z, _ in cost}, key=lambda z: int(z or 0))
        weights = sorted({w for _, w in cost})
        for z in zones:
            assert [cost[(z, w)] for w in weights] == sorted(cost[(z, w)] for w in weights), (code, z)
        for w in weights:
            assert [cost[(z, w)] for z in zones] == sorted(cost[(z, w)] for z in zones), (code, w)


def test_demo_courier_wins_locally_and_overnight_costs_most() -> None:
    table = load_demo_rates()
    store = profile(next(r for r in read_network() if r["code"] == "ST-NYC"))
    soho = Address("US", "10012", point=GeoPoint(40.7255, -73.9983))
    quotes = quote_services(table, store, soho, 1000)
    assert quotes[0].service_code == "METRO-NEXT-DAY" and quotes[0].zone == "0-80 km"
    assert quotes[-1].service_code == "FEDEX-PRIORITY-OVERNIGHT"
    reno = LocationProfile("WH-RNO", "warehouse", GeoPoint(39.6269, -119.7081))
    far = quote_services(table, reno, soho, 1000)
    assert "METRO-NEXT-DAY" not in {q.service_code for q in far}
    assert all(q.zone == "8" for q in far)


def test_demo_network_is_five_warehouses_and_ten_stores_where_their_zips_are() -> None:
    rows = read_network()
    assert [r["kind"] for r in rows].count("warehouse") == 5
    assert [r["kind"] for r in rows].count("store") == 10
    assert len({r["code"] for r in rows}) == 15
    for r in rows:
        place = lookup_us_zip(r["postal_code"])
        assert place is not None, r["code"]
        assert place.state == r["region"]
        point = GeoPoint(float(r["latitude"]), float(r["longitude"]))
        assert great_circle_km(point, place.point) < 25, r["code"]
        ZoneInfo(r["timezone"])  # a real IANA zone
        assert dt.time.fromisoformat(r["cutoff_time"]) < dt.time(18)
        assert int(r["daily_capacity"]) > 0 and int(r["handling_days"]) >= 0
        assert r["holiday_calendar"] == f"US-{r['region']}"
        assert set(r["workdays"].split()) <= {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
        for flag in ("ships", "pickup", "hazmat_licensed", "secure"):
            assert r[flag] in {"true", "false"}
        assert r["ships"] == "true" and r["pickup"] == ("true" if r["kind"] == "store" else "false")
    assert any(r["hazmat_licensed"] == "true" for r in rows) and any(r["hazmat_licensed"] == "false" for r in rows)
    assert any(r["secure"] == "true" for r in rows) and any(r["secure"] == "false" for r in rows)


def test_demo_network_timezones_match_the_zip_data() -> None:
    import zipcodes

    for r in read_network():
        assert zipcodes.matching(r["postal_code"])[0]["timezone"] == r["timezone"], r["code"]


def test_the_example_in_the_user_guide_loads() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "carriers.md").read_text(encoding="utf-8")
    example = guide.split("```csv\n", 1)[1].split("```", 1)[0]
    table = parse_rate_table(example, "docs/carriers.md")
    assert example.splitlines()[0] == HEADER
    abe = {q.service_code: q.cost for q in table.quote_distance("WH-ABE", 100.0, 1000)}
    assert abe == {"UPS-GROUND": Decimal("9.75"), "FEDEX-PRIORITY-OVERNIGHT": Decimal("48.80")}
    assert [q.service_code for q in table.quote_distance("ST-NYC", 80.0, 1000)] == [
        "METRO-NEXT-DAY",
        "UPS-GROUND",
        "FEDEX-PRIORITY-OVERNIGHT",
    ]
