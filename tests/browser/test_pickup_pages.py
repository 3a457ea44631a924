"""A BOPIS pickup in a real browser: a customer orders online for pickup at the Chicago store,
the store associate finds it under Pickups, accepts, picks and packs it, marks it ready for
pickup, types a wrong code (refused next to the box, nothing changes), then the right one: the
order is delivered. Customer service sees the code on the order page.

Screenshots of each page go to /tmp/pickup-*.png."""

from __future__ import annotations

import random
import string
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in

STORE = "ST-CHI"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=f"/tmp/pickup-{name}.png", full_page=True)


def pickup_order(site: DemoSite, method: str = "pickup") -> dict[str, Any]:
    tag = "".join(random.choices(string.ascii_lowercase, k=8))
    with site.api() as api:
        sku = None
        for product in api.get("/api/v1/products", params={"limit": 100}).json()["items"]:
            body = api.get(f"/api/v1/availability/{product['sku']}").json()
            if any(loc["location"] == STORE and loc["available"] >= 4 for loc in body["locations"]):
                sku = product["sku"]
                break
        assert sku, "the demo's Chicago store holds too little"
        r = api.post(
            "/api/v1/orders",
            json={
                "channel": "web",
                "currency": "USD",
                "external_order_id": f"BOPIS-{tag}",
                "customer": {"email": f"casey.{tag}@example.com", "name": "Casey Collector"},
                "fulfilment_method": method,
                "pickup_location": STORE,
                "lines": [{"sku": sku, "quantity": 2, "unit_price": "24.00"}],
            },
        )
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()
        released = api.post(f"/api/v1/orders/{order['id']}/release")
        assert released.status_code == 201, released.text
        order["fo"] = released.json()[0]
    return order


def test_a_bopis_pickup_from_queue_to_hand_over(page: Page, site: DemoSite) -> None:
    order = pickup_order(site)
    number = order["fo"]["number"]
    code = order["pickup"]["code"]

    # Customer service sees where and how it is collected, and the code.
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    expect(page.get_by_test_id("pickup")).to_contain_text("Pickup in store")
    expect(page.get_by_test_id("pickup-code")).to_have_text(code)
    shot(page, "order")

    # The store associate finds it under Pickups at the store.
    page.context.clear_cookies()
    sign_in(page, site, "warehouse@openoms.example")
    page.goto(f"{site.url}/fulfilment?location={STORE}")
    row = page.locator("table.pickup-table tbody tr", has_text=number)
    expect(row).to_contain_text("Pickup")
    expect(row).to_contain_text("not ready yet")
    shot(page, "queue")
    row.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_role("heading", name=number)).to_be_visible()
    expect(page.get_by_role("heading", name="Pickup in store")).to_be_visible()
    expect(page.get_by_role("heading", name="Ship", exact=True)).to_have_count(0)  # collected, not shipped

    for button, said in (("Accept", "accepted"), ("Mark picked", "marked picked"), ("Mark packed", "marked packed")):
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator(".flash-success")).to_contain_text(f"{number} {said}")
    page.get_by_role("button", name="Ready for pickup").click()
    expect(page.locator(".flash-success")).to_contain_text(f"{number} is ready for pickup")
    expect(page.locator("h1 .badge")).to_have_text("ready for pickup")
    shot(page, "ready")

    # A wrong code is refused next to the box; nothing changes.
    wrong = "000000" if code != "000000" else "111111"
    page.get_by_label("Pickup code").fill(wrong)
    page.get_by_role("button", name="Hand over 2 units").click()
    expect(page.locator(".error-summary")).to_contain_text("The order was not handed over")
    expect(page.locator("#pickup-code-error")).to_contain_text("Does not match this order's pickup code")
    expect(page.get_by_label("Pickup code")).to_have_value(wrong)
    expect(page.locator("h1 .badge")).to_have_text("ready for pickup")
    shot(page, "wrong-code")

    # The right code hands it over: the order is delivered.
    page.get_by_label("Pickup code").fill(code)
    page.get_by_label("I checked the customer's ID").check()
    page.get_by_role("button", name="Hand over 2 units").click()
    expect(page.locator(".flash-success")).to_contain_text("Handed over: 2 units collected by the customer")
    expect(page.locator("h1 .badge")).to_have_text("picked up")
    expect(page.get_by_role("button", name="Hand over 2 units")).to_have_count(0)
    expect(page.locator(".collect-card")).to_contain_text("ID checked")
    shot(page, "picked-up")
    page.get_by_role("link", name=order["order_number"]).first.click()
    expect(page.locator("h1 .badge").first).to_have_text("delivered")


def test_curbside_arrivals_are_on_top_of_the_pickups_list(page: Page, site: DemoSite) -> None:
    counter = pickup_order(site)
    curb = pickup_order(site, method="curbside")
    with site.api() as api:
        assert api.post(f"/api/v1/fulfilment-orders/{curb['fo']['number']}/ready").status_code == 200
        r = api.post(
            f"/api/v1/fulfilment-orders/{curb['fo']['number']}/arrived",
            json={"vehicle": "blue Volvo XC60", "bay": "3"},
        )
        assert r.status_code == 200, r.text
    sign_in(page, site, "warehouse@openoms.example")
    page.goto(f"{site.url}/fulfilment?location={STORE}")
    rows = page.locator("table.pickup-table tbody tr")
    expect(rows.first).to_contain_text(curb["fo"]["number"])
    expect(rows.first).to_have_class("arrived")
    expect(rows.first).to_contain_text("outside: blue Volvo XC60, bay 3")
    expect(page.locator("table.pickup-table")).to_contain_text(counter["fo"]["number"])
    shot(page, "curbside-queue")
    rows.first.get_by_role("link", name=curb["fo"]["number"], exact=True).click()
    expect(page.get_by_test_id("arrived")).to_contain_text("Customer is outside")
    expect(page.get_by_role("heading", name="Curbside pickup")).to_be_visible()
    shot(page, "curbside-fo")
