"""Routing in a real browser: read why an order ships from where it does, have a location reject
a line and watch it move, save a new routing rules version (a bad value first), and load a rate
table (a bad file first). Orders are made through the API so the tests do not depend on the
demo's random baskets; the rules and rates saved are the demo's own, so other tests route as
before."""

from __future__ import annotations

import random
import re
import string
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from openoms.services import routing_setup
from tests.browser.conftest import DemoSite, sign_in

DEMO_RATES = Path(__file__).resolve().parents[2] / "src/openoms/adapters/carriers/data/demo_rates.csv"
SKUS = ("TEE-BLK-M", "HOOD-GRY-M", "CAP-BLK", "TEE-NVY-S", "BOTL-STL", "TEE-WHT-L")


def routed_order(site: DemoSite, lines: int = 2) -> dict[str, Any]:
    """An order to a Chicago address on SKUs stocked in more than one location, so that a
    rejected line has somewhere else to go."""
    tag = "".join(random.choices(string.ascii_lowercase, k=8))
    with site.api() as api:
        skus = []
        for sku in SKUS:
            body = api.get(f"/api/v1/availability/{sku}").json()
            if sum(1 for loc in body["locations"] if loc["ships"] and loc["available"] >= 1) >= 3:
                skus.append(sku)
            if len(skus) == lines:
                break
        r = api.post(
            "/api/v1/orders",
            json={
                "channel": "web",
                "currency": "USD",
                "external_order_id": f"RT-{tag}",
                "customer": {"email": f"rory.{tag}@example.com", "name": "Rory Router"},
                "shipping_address": {
                    "name": "Rory Router",
                    "line1": "233 S Wacker Dr",
                    "city": "Chicago",
                    "region": "IL",
                    "postal_code": "60606",
                    "country": "US",
                },
                "lines": [{"sku": s, "quantity": 1, "unit_price": "20.00"} for s in skus],
            },
        )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order


def test_read_why_an_order_ships_from_where_it_does(page: Page, site: DemoSite) -> None:
    order = routed_order(site)
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    # The promise, by the status.
    expect(page.get_by_test_id("promise-ship")).to_be_visible()
    expect(page.get_by_test_id("promise-window")).to_contain_text(re.compile(r"\w{3} \d{1,2} \w{3}"))
    routing = page.locator("#routing")
    expect(routing.get_by_role("heading", name="Routing")).to_be_visible()
    expect(routing).to_contain_text("Chosen plan")
    expect(routing.locator(".shipments-table tbody tr").first).to_be_visible()
    expect(routing).to_contain_text("Why these dates")
    expect(routing.locator(".plans-table tbody tr.chosen")).to_contain_text("Chosen")
    # The candidates are folded away until asked for.
    candidates = routing.locator(".candidates-table")
    expect(candidates).to_be_hidden()
    routing.get_by_text(re.compile(r"^Locations looked at \(\d+\)")).click()
    expect(candidates).to_be_visible()
    expect(candidates.locator("tbody tr").first).to_contain_text("chosen")
    expect(candidates.locator("thead")).to_contain_text("Line 1")
    # Customer service reads; it is not offered re-routing.
    expect(page.get_by_text("Location rejects this line…")).to_have_count(0)
    expect(page.get_by_text("Route again…")).to_have_count(0)
    # "Why?" on the promise leads to the explanation.
    page.locator("a.promise-strip").click()
    expect(page).to_have_url(re.compile(r"#routing$"))


def test_a_location_rejects_a_line_and_it_moves(page: Page, site: DemoSite) -> None:
    order = routed_order(site)
    with site.api() as api:
        before = api.get(f"/api/v1/orders/{order['id']}").json()
    line = before["lines"][0]
    sign_in(page, site, "warehouse@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    held = page.locator(f"#held-line-{line['line_number']}")
    old = held.locator(".loc-chip .mono").first.inner_text()
    held.get_by_text("Location rejects this line…").click()
    held.get_by_label(f"Location that rejects line {line['line_number']}").select_option(old)
    held.get_by_label("Reason").fill("box crushed on the shelf")
    held.get_by_role("button", name="Reject and route again").click()
    expect(page.locator(".flash-success")).to_contain_text(
        f"Line {line['line_number']} rejected by {old}: box crushed on the shelf"
    )
    # The timeline says so, and the line is held somewhere else now.
    event = page.locator("ol.timeline > li").first
    expect(event.locator(".what")).to_have_text(re.compile("Routed again|Backordered"))
    expect(event).to_contain_text("Wes Warehouse")
    if "Routed again" in event.locator(".what").inner_text():
        expect(page.locator(f"#held-line-{line['line_number']} .loc-chip")).not_to_contain_text(old)
    # The decision in force is the rejection; the capture is listed among the earlier ones.
    expect(page.locator("#routing .routing-sub")).to_contain_text("Line rejected by a location")
    expect(page.locator("#routing .earlier-table")).to_contain_text("Order placed")


def test_save_a_new_rules_version_after_fixing_a_bad_value(page: Page, site: DemoSite) -> None:
    version = routing_setup.current_rule_set(site.db)["version"]
    sign_in(page, site)
    page.get_by_role("link", name="Routing rules").click()
    expect(page.get_by_role("heading", name="Routing rules", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=f"In force: routing/default@v{version}")).to_be_visible()
    shipments = page.get_by_label("Most shipments per order")
    expect(shipments).to_have_value("3")
    shipments.fill("40")
    page.get_by_label("Note").fill("testing the limit")
    page.get_by_role("button", name=f"Save as v{version + 1}").click()
    expect(page.locator(".error-summary")).to_contain_text("Please fix this to continue")
    expect(page.locator("#f-max_shipments-error")).to_contain_text("Must be a whole number from 1 to 20")
    expect(page.get_by_label("Most shipments per order")).to_have_value("40")  # kept as typed
    expect(page.get_by_label("Note")).to_have_value("testing the limit")
    assert routing_setup.current_rule_set(site.db)["version"] == version
    # Put it right: the same rules as before, with a note, become the next version.
    page.get_by_label("Most shipments per order").fill("3")
    page.get_by_label("Note").fill("re-affirmed after review")
    page.get_by_role("button", name=f"Save as v{version + 1}").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Saved version {version + 1}")
    expect(page.get_by_role("heading", name=f"In force: routing/default@v{version + 1}")).to_be_visible()
    row = page.locator(f"#v{version + 1}")
    expect(row).to_contain_text("re-affirmed after review")
    expect(row).to_contain_text("Alex Admin")
    expect(row).to_contain_text("No field changed")


def test_upload_a_bad_rate_file_then_a_good_one(page: Page, site: DemoSite, tmp_path: Path) -> None:
    table = routing_setup.rate_table_summary(site.db)["id"]
    bad = tmp_path / "bad-rates.csv"
    bad.write_text(
        "location,carrier,service_code,service_level,zone,distance_km_from,distance_km_to,weight_up_to_grams,"
        "cost,currency,transit_days_min,transit_days_max\n"
        "*,UPS,UPS-GROUND,standard,2,,,500,free,USD,2,3\n"
        "*,UPS,UPS-GROUND,warp,3,,,500,8.00,USD,2,3\n"
    )
    sign_in(page, site)
    page.goto(f"{site.url}/routing/rates")
    expect(page.get_by_role("heading", name=f"In force: table {table}")).to_be_visible()
    page.get_by_label("Rate file (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Check and load").click()
    expect(page.locator(".error-summary")).to_contain_text("bad-rates.csv was not loaded")
    problems = page.locator(".problems-table tbody tr")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("2cost'free' is not an amount")
    expect(problems.nth(1).locator("td").nth(0)).to_have_text("3")
    expect(problems.nth(1).locator("td").nth(1)).to_have_text("service_level")
    expect(page.get_by_role("heading", name=f"In force: table {table}")).to_be_visible()
    assert routing_setup.rate_table_summary(site.db)["id"] == table
    page.get_by_label("Rate file (CSV)").set_input_files(str(DEMO_RATES))
    page.get_by_role("button", name="Check and load").click()
    expect(page.locator(".flash-success")).to_contain_text("Loaded demo_rates.csv: 336 rates for 5 services")
    expect(page.get_by_role("heading", name=f"In force: table {table + 1}")).to_be_visible()
    expect(page.get_by_test_id("rate-source")).to_have_text("demo_rates.csv")
    expect(page.locator(".services-table")).to_contain_text("FEDEX-PRIORITY-OVERNIGHT")
