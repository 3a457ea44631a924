"""Backorders in a real browser: the queue per SKU with expected dates, the waiting units on the
order page, and the policy fields on the product and channel forms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in

NJ = {"line1": "1 Main St", "city": "Edison", "region": "NJ", "postal_code": "08817", "country": "US"}


def _setup(site: DemoSite) -> dict[str, Any]:
    """A preorder product and a backorder product sold on a channel that accepts them, each
    with a purchase order on its way, and three orders waiting for them."""
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=21)).replace(microsecond=0)
    with site.api() as api:
        for sku, name, policy in (("PRE-LAMP", "Lantern 2027", "preorder"), ("BO-MUG", "Enamel mug", "backorder")):
            r = api.post(
                "/api/v1/products",
                json={"sku": sku, "name": name, "list_price": "24.00", "weight_grams": 400, "backorder_policy": policy},
            )
            assert r.status_code == 201, r.text
        r = api.post(
            "/api/v1/channels",
            json={"code": "launch", "name": "Launch shop", "kind": "web", "accepts_backorders": True},
        )
        assert r.status_code == 201, r.text
        location = next(loc["code"] for loc in api.get("/api/v1/locations").json()["items"] if loc["ships"])
        for sku, qty, ref in (("PRE-LAMP", 10, "PO-LAUNCH-1"), ("BO-MUG", 6, "PO-MUGS")):
            r = api.post(
                "/api/v1/inbound",
                json={
                    "sku": sku,
                    "location": location,
                    "quantity": qty,
                    "expected_at": due.isoformat(),
                    "reference": ref,
                },
            )
            assert r.status_code == 201, r.text
        numbers = []
        for i, (sku, qty) in enumerate((("PRE-LAMP", 2), ("PRE-LAMP", 3), ("BO-MUG", 1))):
            r = api.post(
                "/api/v1/orders",
                json={
                    "channel": "launch",
                    "currency": "USD",
                    "external_order_id": f"launch-{i}",
                    "shipping_address": NJ,
                    "lines": [{"sku": sku, "quantity": qty, "unit_price": "24.00"}],
                },
            )
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "backordered"
            numbers.append(r.json()["order_number"])
    return {"location": location, "due": due, "orders": numbers}


def test_the_backorders_page_queues_waiting_units_and_the_order_shows_them(page: Page, site: DemoSite) -> None:
    setup = _setup(site)
    loc = setup["location"]
    sign_in(page, site, "ops@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Backorders").click()
    expect(page.get_by_role("heading", name="Backorders", exact=True)).to_be_visible()

    lamp = page.get_by_test_id(f"queue-PRE-LAMP-{loc}")
    expect(lamp).to_contain_text("5 units waiting for 2 orders")
    expect(lamp).to_contain_text("preorder")
    rows = lamp.get_by_role("row")
    expect(rows.nth(1)).to_contain_text("#1")
    expect(rows.nth(1)).to_contain_text(setup["orders"][0])
    expect(rows.nth(1)).to_contain_text("PO-LAUNCH-1")
    expect(rows.nth(2)).to_contain_text("#2")
    expect(rows.nth(2)).to_contain_text(setup["orders"][1])
    due = setup["due"]
    expect(lamp).to_contain_text(f"{due:%a} {due.day} {due:%b}")
    expect(page.get_by_test_id(f"queue-BO-MUG-{loc}")).to_contain_text("1 unit waiting for 1 order")
    page.screenshot(path="/tmp/backorders-page.png", full_page=True)

    # Filtering to a SKU with nothing waiting shows a clear empty state.
    page.get_by_label("SKU").fill("NOPE")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("no-backorders")).to_contain_text("No units wait for stock with these filters")

    # The order page says how many units wait and when they are due.
    page.goto(f"{site.url}/backorders?sku=PRE-LAMP")
    page.get_by_role("link", name=setup["orders"][1]).click()
    expect(page.get_by_test_id("waiting-1")).to_contain_text(f"3 waiting · due {due:%a} {due.day} {due:%b}")
    expect(page.get_by_test_id("waiting-total")).to_have_text("3")
    page.screenshot(path="/tmp/backorders-order.png", full_page=True)
    page.locator("section[aria-labelledby=lines-title]").screenshot(path="/tmp/backorders-order-lines.png")


def test_product_and_channel_forms_show_and_save_the_backorder_settings(page: Page, site: DemoSite) -> None:
    with site.api() as api:
        r = api.post("/api/v1/products", json={"sku": "BO-FORM", "name": "Form test", "list_price": "5.00"})
        assert r.status_code == 201, r.text
    sign_in(page, site, "admin@openoms.example")
    page.goto(f"{site.url}/products/BO-FORM")
    policy = page.get_by_label("When the shelves are short")
    expect(policy).to_have_value("none")
    policy.select_option("backorder")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"{site.url}/products/BO-FORM*")
    expect(page.get_by_label("When the shelves are short")).to_have_value("backorder")
    page.screenshot(path="/tmp/backorders-product-form.png", full_page=True)
    with site.api() as api:
        assert api.get("/api/v1/products/BO-FORM").json()["backorder_policy"] == "backorder"

    with site.api() as api:
        r = api.post("/api/v1/channels", json={"code": "bo-form", "name": "Form channel", "kind": "web"})
        assert r.status_code == 201 and r.json()["accepts_backorders"] is False, r.text
    page.goto(f"{site.url}/channels/bo-form")
    box = page.get_by_label("Accepts backorders and preorders")
    expect(box).not_to_be_checked()
    box.check()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"{site.url}/channels/bo-form*")
    expect(page.get_by_label("Accepts backorders and preorders")).to_be_checked()
    page.screenshot(path="/tmp/backorders-channel-form.png", full_page=True)
    with site.api() as api:
        assert api.get("/api/v1/channels/bo-form").json()["accepts_backorders"] is True
