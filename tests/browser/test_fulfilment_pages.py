"""Fulfilment in a real browser: operations release an order from its page, the store finds it in
its queue, accepts, picks, packs and ships it with a tracking number (a bad shipment first), and
the order page shows it shipped with the tracking number on its timeline. The order is made
through the API near a store, so the test does not depend on the demo's random baskets.

Set OPENOMS_SCREENSHOTS=1 to keep a screenshot of each page in test-artifacts/."""

from __future__ import annotations

import os
import random
import re
import string
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, DemoSite, sign_in

STORE = "ST-CHI"
CHICAGO = {
    "name": "Pat Picker",
    "line1": "233 S Wacker Dr",
    "city": "Chicago",
    "region": "IL",
    "postal_code": "60606",
    "country": "US",
}


def snap(page: Page, name: str) -> None:
    if os.environ.get("OPENOMS_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"fulfilment-{name}.png"), full_page=True)


def store_order(site: DemoSite) -> dict[str, Any]:
    """An order to a Chicago address for two SKUs the Chicago store holds."""
    tag = "".join(random.choices(string.ascii_lowercase, k=8))
    with site.api() as api:
        skus: list[str] = []
        for product in api.get("/api/v1/products", params={"limit": 100}).json()["items"]:
            body = api.get(f"/api/v1/availability/{product['sku']}").json()
            if any(loc["location"] == STORE and loc["available"] >= 3 for loc in body["locations"]):
                skus.append(product["sku"])
            if len(skus) == 2:
                break
        assert len(skus) == 2, "the demo's Chicago store holds too little"
        r = api.post(
            "/api/v1/orders",
            json={
                "channel": "web",
                "currency": "USD",
                "external_order_id": f"FF-{tag}",
                "customer": {"email": f"pat.{tag}@example.com", "name": "Pat Picker"},
                "shipping_address": CHICAGO,
                "lines": [
                    {"sku": skus[0], "quantity": 2, "unit_price": "20.00"},
                    {"sku": skus[1], "quantity": 1, "unit_price": "15.00"},
                ],
            },
        )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order


def test_release_then_pick_pack_and_ship_at_the_store(page: Page, site: DemoSite) -> None:
    order = store_order(site)
    with site.api() as api:
        held = {
            r["location"] for ln in api.get(f"/api/v1/orders/{order['id']}").json()["lines"] for r in ln["reservations"]
        }
    location = STORE if STORE in held else sorted(held)[0]

    # Operations release it from the order page.
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    expect(page.locator("#fulfilment")).to_contain_text("Not released yet")
    page.get_by_role("button", name="Release to fulfilment").click()
    expect(page.locator(".flash-success")).to_contain_text("Released to fulfilment: FO-")
    section = page.locator("#fulfilment")
    expect(section.locator(".ff-order").first).to_contain_text("released")
    expect(page.get_by_role("button", name="Release to fulfilment")).to_have_count(0)
    snap(page, "1-order-released")
    fo_link = section.locator(".ff-order", has_text=f"({location})").locator("a.mono").first
    number = fo_link.inner_text()

    # The store finds it in its queue.
    page.context.clear_cookies()
    sign_in(page, site, "warehouse@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fulfilment").click()
    expect(page.get_by_role("heading", name="Fulfilment", level=1)).to_be_visible()
    snap(page, "2-overview")
    page.get_by_label("Location", exact=True).select_option(location)
    expect(page).to_have_url(re.compile(rf"/fulfilment\?location={location}"))
    row = page.locator("table.queue-table tbody tr", has_text=number)
    expect(row).to_contain_text(order["order_number"])
    expect(row).to_contain_text("released")
    snap(page, "3-queue")
    row.get_by_role("link", name=number, exact=True).click()

    # Accept, pick, pack: one button at a time.
    expect(page.get_by_role("heading", name=number)).to_be_visible()
    for line in order["lines"]:
        if any(r["location"] == location for r in line["reservations"]):
            expect(page.locator(".pick-table")).to_contain_text(line["sku"])
    snap(page, "4-fo-released")
    for button, said in (("Accept", "accepted"), ("Mark picked", "marked picked"), ("Mark packed", "marked packed")):
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator(".flash-success")).to_contain_text(f"{number} {said}")
        expect(page.get_by_role("button", name=button, exact=True)).to_have_count(0)

    # A shipment without a tracking number is refused next to the field, keeping what was typed.
    page.get_by_label("Carrier").fill("UPS")
    page.get_by_label("Service code").fill("UPS-GROUND")
    page.get_by_label("Weight (g)").first.fill("1500")
    page.get_by_role("button", name="Ship", exact=True).click()
    expect(page.locator(".error-summary")).to_contain_text("The shipment was not recorded")
    expect(page.locator("#pkg0-tracking_number-error")).to_contain_text("Is required")
    expect(page.get_by_label("Carrier")).to_have_value("UPS")
    expect(page.get_by_label("Weight (g)").first).to_have_value("1500")
    snap(page, "5-ship-refused")

    # A second package, added and removed again with the page's own script.
    page.get_by_role("button", name="+ Add package").click()
    expect(page.locator("fieldset.package")).to_have_count(2)
    expect(page.locator("fieldset.package").nth(1).locator("legend")).to_have_text("Package 2")
    snap(page, "6-two-packages")
    page.get_by_role("button", name="Remove package 2").click()
    expect(page.locator("fieldset.package")).to_have_count(1)

    page.get_by_label("Tracking number").fill("1Z999AA10123456784")
    page.get_by_role("button", name="Ship", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("tracking 1Z999AA10123456784")
    expect(page.locator(".flash-success")).to_contain_text(f"{number} is shipped")
    expect(page.locator("h1 .badge")).to_have_text("shipped")
    expect(page.get_by_test_id("tracking")).to_have_text("1Z999AA10123456784")
    expect(page.get_by_role("button", name="Ship", exact=True)).to_have_count(0)
    snap(page, "7-fo-shipped")

    # The order: shipped (when this store held everything), the tracking number on the timeline.
    page.get_by_role("link", name=order["order_number"]).first.click()
    expect(page.locator("#fulfilment")).to_contain_text("1Z999AA10123456784")
    first = page.locator("ol.timeline > li").first
    expect(first.locator(".what")).to_have_text("Shipped")
    expect(first).to_contain_text("tracking 1Z999AA10123456784")
    expect(first).to_contain_text("Wes Warehouse")
    if held == {location}:
        expect(page.locator("h1.order-title .badge").first).to_have_text("shipped")
    snap(page, "8-order-shipped")
