"""Routing wired into capture, the promise quote, explanations, re-routing and the routing setup,
on SQLite and PostgreSQL, through the API as a client sees it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import CarrierRateTable, RoutingDecisionRecord, table
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, inventory, routing_setup
from openoms.services.check import run_check
from openoms.services.common import Actor

T = Actor("tests")

# Allentown PA, Reno NV and a Manhattan store: real coordinates, as the demo network has them.
LOCATIONS = [
    dict(
        code="WH-EAST",
        name="East DC",
        kind="warehouse",
        country="US",
        region="PA",
        postal_code="18031",
        latitude=Decimal("40.5526"),
        longitude=Decimal("-75.6553"),
        timezone="America/New_York",
        cutoff_time=dt.time(17, 0),
        holiday_calendar="US-PA",
        hazmat_licensed=True,
        secure=False,
        priority=20,
    ),
    dict(
        code="WH-WEST",
        name="West DC",
        kind="warehouse",
        country="US",
        region="NV",
        postal_code="89437",
        latitude=Decimal("39.6269"),
        longitude=Decimal("-119.7081"),
        timezone="America/Los_Angeles",
        cutoff_time=dt.time(15, 0),
        holiday_calendar="US-NV",
        hazmat_licensed=True,
        secure=True,
        priority=10,
    ),
    dict(
        code="ST-NYC",
        name="NYC store",
        kind="store",
        country="US",
        region="NY",
        postal_code="10001",
        latitude=Decimal("40.7484"),
        longitude=Decimal("-73.9967"),
        timezone="America/New_York",
        cutoff_time=dt.time(13, 0),
        handling_days=1,
        pickup=True,
        hazmat_licensed=False,
        secure=True,
        priority=5,
    ),
]

RATES = (
    "location,carrier,service_code,service_level,zone,weight_up_to_grams,cost,currency,transit_days_min,transit_days_max\n"
    + "".join(
        f"*,UPS,UPS-GROUND,standard,{z},20000,{6 + z}.00,USD,{max(1, z - 3)},{max(1, z - 3) + 1}\n"
        f"*,UPS,UPS-NEXT-DAY,premium,{z},20000,{30 + 3 * z}.00,USD,1,1\n"
        for z in range(2, 9)
    )
)

NJ = {"line1": "1 Main St", "city": "Edison", "region": "NJ", "postal_code": "08817", "country": "US"}
CA = {"line1": "1 Market St", "city": "San Francisco", "region": "CA", "postal_code": "94105", "country": "US"}


def seed(db: Database, stock: dict[tuple[str, str], int], *, rates: bool = True) -> None:
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(conn, LOCATIONS)
        catalog.CHANNELS.upsert_many(conn, [dict(code="web", name="Web", kind="web", currency="USD")])
        catalog.PRODUCTS.upsert_many(
            conn,
            [
                dict(sku="A", name="Tee", weight_grams=300, list_price=Decimal("20"), currency="USD"),
                dict(sku="B", name="Lantern (Li-ion)", weight_grams=800, hazmat=True, currency="USD"),
                dict(sku="W", name="Watch", weight_grams=150, high_value=True, currency="USD"),
            ],
        )
    inventory.change_stock(
        db,
        [
            inventory.StockChange(sku, loc, LedgerEntryType.RECEIPT, q, "opening", "T")
            for (sku, loc), q in stock.items()
        ],
        T,
    )
    if rates:
        routing_setup.load_rates(db, RATES, "test rates", T)


def order_body(lines: list[tuple[str, int]], address: dict[str, str] | None = NJ, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "web",
        "currency": "USD",
        "lines": [{"sku": s, "quantity": q, "unit_price": "10.00"} for s, q in lines],
        **extra,
    }
    if address is not None:
        body["shipping_address"] = address
    return body


def reserved_at(order: dict[str, Any]) -> dict[str, list[tuple[str, int]]]:
    return {ln["sku"]: sorted((r["location"], r["quantity"]) for r in ln["reservations"]) for ln in order["lines"]}


def available(api: TestClient, sku: str) -> dict[str, int]:
    return {lv["location"]: lv["available"] for lv in api.get(f"/api/v1/availability/{sku}").json()["locations"]}


def test_capture_routes_by_cost_and_explains_every_candidate(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5, ("A", "WH-WEST"): 5, ("A", "ST-NYC"): 5})
    r = api.post("/api/v1/orders", json=order_body([("A", 2)]))
    assert r.status_code == 201, r.text
    order = r.json()
    # New Jersey: the store is nearest but its cut-off and handling day make it slower; the
    # East DC is as cheap (same zone) and faster; Reno is across the country.
    assert order["sourcing_rule"] == "routing/default@v1"
    assert reserved_at(order) == {"A": [("WH-EAST", 2)]}
    promise = order["promise"]
    assert promise is not None and promise["earliest"] <= promise["latest"]
    assert dt.date.fromisoformat(promise["ship_date"]) >= dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)

    decisions = api.get(f"/api/v1/orders/{order['order_number']}/routing").json()
    assert [d["trigger"] for d in decisions] == ["capture"]
    ex = decisions[0]["explanation"]
    assert ex["method"] == "engine" and ex["chosen"] == "WH-EAST"
    assert {c["location"] for c in ex["candidates"]} == {"WH-EAST", "WH-WEST", "ST-NYC"}
    plans = {p["label"]: p for p in ex["plans"]}
    assert plans["WH-EAST"]["outcome"] == "chosen"
    assert plans["WH-WEST"]["outcome"] != "chosen" and plans["WH-WEST"]["outcome"]  # says why it lost
    assert Decimal(plans["WH-WEST"]["score"]) > Decimal(plans["WH-EAST"]["score"])
    assert plans["WH-EAST"]["breakdown"]["terms"].keys() == {
        "carrier_cost",
        "transit_days",
        "distance",
        "split_penalty",
        "load",
    }
    # The order as read back carries the same promise as the capture answer.
    assert api.get(f"/api/v1/orders/{order['id']}").json()["promise"] == promise
    assert run_check(db).ok


def test_the_quote_promises_what_the_order_then_gets_and_reserves_nothing(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-WEST"): 4, ("B", "WH-EAST"): 3, ("A", "ST-NYC"): 1})
    before = {sku: available(api, sku) for sku in ("A", "B")}
    quote = api.post(
        "/api/v1/promise",
        json={
            "channel": "web",
            "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}],
            "shipping_address": CA,
        },
    )
    assert quote.status_code == 200, quote.text
    q = quote.json()
    assert {k: before[k] == available(api, k) for k in before} == {"A": True, "B": True}  # nothing reserved
    order = api.post("/api/v1/orders", json=order_body([("A", 2), ("B", 1)], CA)).json()
    assert order["sourcing_rule"] == q["sourcing_rule"]
    assert {k: q["promise"][k] for k in ("ship_date", "earliest", "latest")} == order["promise"]
    quoted = {(ln["sku"], s["location"], ln["quantity"]) for s in q["shipments"] for ln in s["lines"]}
    placed = {(ln["sku"], r["location"], r["quantity"]) for ln in order["lines"] for r in ln["reservations"]}
    assert quoted == placed == {("A", "WH-WEST", 2), ("B", "WH-EAST", 1)}
    assert len(q["shipments"]) == 2 and all(s["carrier"] == "UPS" for s in q["shipments"])


def test_quote_refusals_name_the_field(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 1})
    short = api.post(
        "/api/v1/promise", json={"channel": "web", "lines": [{"sku": "A", "quantity": 3}], "shipping_address": NJ}
    )
    assert short.status_code == 409 and short.json()["error"]["shortages"][0]["short"] == 2
    unknown = api.post(
        "/api/v1/promise", json={"channel": "web", "lines": [{"sku": "NOPE", "quantity": 1}], "shipping_address": NJ}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["errors"][0]["field"] == "lines[0].sku"
    channel = api.post(
        "/api/v1/promise", json={"channel": "nope", "lines": [{"sku": "A", "quantity": 1}], "shipping_address": NJ}
    )
    assert channel.status_code == 422 and channel.json()["error"]["errors"][0]["field"] == "channel"


def test_without_rates_or_address_orders_are_sourced_by_priority_and_say_why(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5, ("A", "WH-WEST"): 5}, rates=False)
    no_rates = api.post("/api/v1/orders", json=order_body([("A", 1)])).json()
    assert no_rates["sourcing_rule"] == "priority/single-location" and no_rates["promise"] is None
    assert reserved_at(no_rates) == {"A": [("WH-WEST", 1)]}  # priority 10 beats 20
    why = api.get(f"/api/v1/orders/{no_rates['id']}/routing").json()[0]["explanation"]
    assert why["method"] == "priority" and "no carrier rate table is loaded" in why["why"]

    routing_setup.load_rates(db, RATES, "test rates", T)
    no_address = api.post("/api/v1/orders", json=order_body([("A", 1)], None)).json()
    assert no_address["sourcing_rule"] == "priority/single-location"
    why = api.get(f"/api/v1/orders/{no_address['id']}/routing").json()[0]["explanation"]
    assert "no shipping address" in why["why"]


def test_hazmat_and_high_value_lines_go_only_where_they_may(api: TestClient, db: Database) -> None:
    seed(db, {("B", "ST-NYC"): 5, ("B", "WH-WEST"): 5, ("W", "ST-NYC"): 2, ("W", "WH-EAST"): 2})
    hazmat = api.post("/api/v1/orders", json=order_body([("B", 1)])).json()
    assert reserved_at(hazmat) == {"B": [("WH-WEST", 1)]}  # the store is nearer but not licensed
    cands = {
        c["location"]: c
        for c in api.get(f"/api/v1/orders/{hazmat['id']}/routing").json()[0]["explanation"]["candidates"]
    }
    assert cands["ST-NYC"]["ineligible_lines"][0]["reason"] == "not hazmat-licensed"
    valuable = api.post("/api/v1/orders", json=order_body([("W", 1)])).json()
    assert reserved_at(valuable) == {"W": [("ST-NYC", 1)]}  # East DC has it but is not secure

    # Only an unlicensed location holds it: refused, nothing reserved, the reason given.
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(conn, [{**LOCATIONS[1], "hazmat_licensed": False}])
    r = api.post("/api/v1/orders", json=order_body([("B", 1)]))
    assert r.status_code == 409, r.text
    assert available(api, "B") == {"ST-NYC": 5, "WH-WEST": 4}


def test_a_line_no_single_shelf_can_fill_is_cut_into_pieces(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 5, ("A", "WH-WEST"): 5})
    order = api.post("/api/v1/orders", json=order_body([("A", 8)])).json()
    assert sum(q for _, q in reserved_at(order)["A"]) == 8
    assert {loc for loc, _ in reserved_at(order)["A"]} == {"WH-EAST", "WH-WEST"}
    ex = api.get(f"/api/v1/orders/{order['id']}/routing").json()[0]["explanation"]
    assert any("cut into pieces" in n for n in ex["notes"])
    assert run_check(db).ok


def test_a_rejected_line_moves_elsewhere_then_backorders_and_never_returns(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 3, ("A", "WH-WEST"): 3})
    order = api.post("/api/v1/orders", json=order_body([("A", 2)])).json()
    ref = order["order_number"]
    assert reserved_at(order) == {"A": [("WH-EAST", 2)]}

    r = api.post(f"/api/v1/orders/{ref}/lines/1/reject", json={"location": "WH-EAST", "reason": "damaged on shelf"})
    assert r.status_code == 200, r.text
    assert r.json()["moved"] == [{"line": 1, "sku": "A", "quantity": 2, "from": ["WH-EAST"], "to": "WH-WEST"}]
    after = api.get(f"/api/v1/orders/{ref}").json()
    assert reserved_at(after) == {"A": [("WH-WEST", 2)]}
    assert after["timeline"][-1]["event_type"] == "order.rerouted"
    assert "rejected by WH-EAST: damaged on shelf" in after["timeline"][-1]["message"]
    assert available(api, "A") == {"WH-EAST": 3, "WH-WEST": 1}
    assert [d["trigger"] for d in api.get(f"/api/v1/orders/{ref}/routing").json()] == ["reject", "capture"]

    # Routing the whole order again never sends the line back to the location that refused it.
    again = api.post(f"/api/v1/orders/{ref}/reroute", json={"reason": "missed cut-off"})
    assert again.status_code == 200, again.text
    assert reserved_at(api.get(f"/api/v1/orders/{ref}").json()) == {"A": [("WH-WEST", 2)]}

    # The last location refuses too: nowhere else may ship it, so it waits for stock.
    r = api.post(f"/api/v1/orders/{ref}/lines/1/reject", json={"location": "WH-WEST", "reason": "not found"})
    assert r.status_code == 200, r.text
    assert r.json()["backordered"] == [{"line": 1, "sku": "A", "quantity": 2, "from": ["WH-WEST"]}]
    final = api.get(f"/api/v1/orders/{ref}").json()
    assert final["status"] == "backordered" and final["lines"][0]["status"] == "backordered"
    assert final["lines"][0]["reservations"] == []
    assert available(api, "A") == {"WH-EAST": 3, "WH-WEST": 3}
    assert final["timeline"][-1]["event_type"] == "order.backordered"
    assert run_check(db).ok


def test_rejections_that_do_not_apply_are_refused_and_change_nothing(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 3})
    order = api.post("/api/v1/orders", json=order_body([("A", 1)])).json()
    ref = order["order_number"]
    cases = [
        (2, {"location": "WH-EAST", "reason": "x"}, 422, "line_number"),
        (1, {"location": "WH-WEST", "reason": "x"}, 422, "location"),  # holds nothing there
        (1, {"location": "NOWHERE", "reason": "x"}, 422, "location"),
        (1, {"location": "WH-EAST", "reason": ""}, 422, "reason"),
    ]
    for line, body, status, field in cases:
        r = api.post(f"/api/v1/orders/{ref}/lines/{line}/reject", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["errors"][0]["field"] == field
    api.post(f"/api/v1/orders/{ref}/cancel", json={"reason": "customer asked"})
    r = api.post(f"/api/v1/orders/{ref}/lines/1/reject", json={"location": "WH-EAST", "reason": "x"})
    assert r.status_code == 409
    assert api.get(f"/api/v1/orders/{ref}").json()["timeline"][-1]["event_type"] == "order.cancelled"
    assert run_check(db).ok


def test_a_new_rules_version_takes_over_and_old_orders_keep_theirs(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 2, ("B", "WH-WEST"): 2, ("A", "WH-WEST"): 1})
    first = api.post("/api/v1/orders", json=order_body([("A", 1), ("B", 1)])).json()
    assert first["sourcing_rule"] == "routing/default@v1"

    bad = api.post("/api/v1/sourcing-rules", json={"rules": {"split_policy": "sometimes", "weights": {"load": "-1"}}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["error"]["errors"]} == {"split_policy", "weights.load"}
    assert api.post("/api/v1/sourcing-rules", json={"rules": {"version": 9}}).status_code == 422
    assert api.get("/api/v1/sourcing-rules/current").json()["version"] == 1

    new = api.post(
        "/api/v1/sourcing-rules", json={"rules": {"name": "no-splits", "split_policy": "never"}, "note": "one box"}
    )
    assert new.status_code == 201, new.text
    assert new.json()["label"] == "routing/no-splits@v2"
    assert [v["version"] for v in api.get("/api/v1/sourcing-rules").json()] == [2, 1]
    # A and B now sit at different places only: never splitting, nothing can ship it.
    routing_setup.load_rates(db, RATES, "again", T)
    r = api.post("/api/v1/orders", json=order_body([("A", 1), ("B", 1)], external_order_id="X-2"))
    assert r.status_code == 409 and "never split" in r.json()["error"]["message"]
    assert api.get(f"/api/v1/orders/{first['id']}/routing").json()[0]["rule"] == "routing/default@v1"
    assert api.get("/api/v1/sourcing-rules/1").json()["rules"]["split_policy"] == "allowed"
    assert api.get("/api/v1/sourcing-rules/7").status_code == 404


def test_rate_uploads_are_checked_whole_and_the_newest_is_in_force(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 1}, rates=False)
    assert api.get("/api/v1/carrier-rates").status_code == 404
    csv_headers = {"Content-Type": "text/csv"}
    bad = RATES.replace("*,UPS,UPS-GROUND,standard,4,20000,10.00", "*,UPS,UPS-GROUND,standard,4,20000,-3", 1)
    bad += "NOWHERE,UPS,UPS-GROUND,standard,2,20000,1.00,USD,1,2\n"
    r = api.post("/api/v1/carrier-rates", content=bad, headers=csv_headers)
    assert r.status_code == 422, r.text
    assert any(e["field"].startswith("row 6.") and "cost" in e["field"] for e in r.json()["error"]["errors"])
    unknown = api.post(
        "/api/v1/carrier-rates",
        content=RATES + "NOWHERE,UPS,UPS-GROUND,standard,2,20000,1.00,USD,1,2\n",
        headers=csv_headers,
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["errors"][0]["field"] == "row 16.location"
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(table(CarrierRateTable))).scalar() == 0
    ok = api.post("/api/v1/carrier-rates", content=RATES, headers=csv_headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["rows"] == 14 and {s["service_code"] for s in ok.json()["services"]} == {
        "UPS-GROUND",
        "UPS-NEXT-DAY",
    }
    assert api.get("/api/v1/carrier-rates").json()["id"] == ok.json()["id"]
    assert api.post("/api/v1/carrier-rates", json={"rows": []}).status_code == 415


def test_express_orders_take_the_fastest_service(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 2, ("A", "WH-WEST"): 2})
    order = api.post("/api/v1/orders", json=order_body([("A", 1)], CA, service_level="express")).json()
    ex = api.get(f"/api/v1/orders/{order['id']}/routing").json()[0]["explanation"]
    assert ex["service_level"] == "premium" and ex["ranking"] == "fastest"
    chosen = ex["plans"][0]
    assert chosen["shipments"][0]["service_code"] == "UPS-NEXT-DAY"


def test_every_decision_is_stored_once(api: TestClient, db: Database) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    for n in range(3):
        api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id=f"E-{n}"))
    api.post("/api/v1/orders", json=order_body([("A", 1)], external_order_id="E-0"))  # a repeat
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(table(RoutingDecisionRecord))).scalar() == 3


@pytest.mark.parametrize("ref", ["SO-0000099", "99"])
def test_routing_of_an_unknown_order_is_a_404(api: TestClient, db: Database, ref: str) -> None:
    seed(db, {})
    assert api.get(f"/api/v1/orders/{ref}/routing").status_code == 404


def test_locations_take_their_routing_facts_through_the_api(api: TestClient, db: Database) -> None:
    seed(db, {})
    r = api.patch(
        "/api/v1/locations/ST-NYC",
        json={"workdays": "Mon,Tue,Sat", "holiday_calendar": "us-ny", "handling_days": 2, "channels": ["web"]},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["workdays"], got["holiday_calendar"], got["handling_days"], got["channels"]) == (
        "mon tue sat",
        "US-NY",
        2,
        ["web"],
    )
    for patch, field in [
        ({"workdays": "someday"}, "workdays"),
        ({"workdays": ""}, "workdays"),
        ({"holiday_calendar": "XX-YY"}, "holiday_calendar"),
        ({"handling_days": -1}, "handling_days"),
        ({"hazmat_licensed": None}, "hazmat_licensed"),
    ]:
        bad = api.patch("/api/v1/locations/ST-NYC", json=patch)
        assert bad.status_code == 422, (patch, bad.text)
        assert bad.json()["error"]["errors"][0]["field"] == field
    assert api.get("/api/v1/locations/ST-NYC").json()["workdays"] == "mon tue sat"
