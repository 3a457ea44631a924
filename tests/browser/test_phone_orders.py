"""Taking a phone order in a real browser: find the caller, type SKUs and see stock per
location appear, create the order and land on it; a refusal keeps everything typed."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in


def _phone_orders(site: DemoSite) -> list[dict[str, object]]:
    with site.api() as api:
        return list(api.get("/api/v1/orders", params={"channel": "phone", "limit": 200}).json()["items"])


def test_customer_service_takes_a_phone_order_end_to_end(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "cs@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New phone order").click()
    expect(page.get_by_role("heading", name="New phone order")).to_be_visible()

    # The caller is a known customer: find them by name, pick them, their address comes along.
    page.get_by_label("Find customer").fill("julia")
    page.get_by_role("option", name=re.compile("Julia Costa")).click()
    expect(page.get_by_label("Find customer")).to_have_value("julia.costa@example.com")
    expect(page.locator("#customer-card")).to_contain_text("Julia Costa")
    expect(page.get_by_label("City", exact=True)).to_have_value("Miami")
    expect(page.get_by_label("Recipient")).to_have_value("Julia Costa")

    # Typing an exact SKU shows its stock at every location, as the API reports it.
    with site.api() as api:
        stock = api.get("/api/v1/availability/CAP-OLV").json()
    page.get_by_label("Line 1 SKU").fill("CAP-OLV")
    panel = page.locator("#lines-0-avail")
    expect(panel.get_by_role("table")).to_be_visible()
    expect(panel).to_contain_text("Six-panel cap, olv")
    expect(panel).to_contain_text(f"{stock['network_available']:,} available to ship")
    for loc in stock["locations"]:
        expect(panel.get_by_role("columnheader", name=loc["location"])).to_be_visible()
    expect(page.get_by_label("Line 1 unit price (USD)")).to_have_attribute("placeholder", "28.00")
    page.get_by_label("Line 1 quantity").fill("2")
    expect(page.locator('[data-total="subtotal"]')).to_have_text("56.00 USD")

    # A second line, chosen from the suggestions with the keyboard only.
    page.get_by_role("button", name="Add line").click()
    line2 = page.get_by_label("Line 2 SKU")
    expect(line2).to_be_focused()
    line2.type("hood-gry-m", delay=20)
    expect(page.get_by_role("option", name=re.compile("HOOD-GRY-M"))).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(line2).to_have_value("HOOD-GRY-M")
    expect(page.get_by_label("Line 2 quantity")).to_be_focused()
    expect(page.locator("#lines-1-avail")).to_contain_text("Fleece hoodie, gry, M")
    page.get_by_label("Line 2 quantity").fill("1")
    page.get_by_label("Line 2 unit price (USD)").fill("60.00")
    page.get_by_label("Service level").select_option("expedited")
    page.get_by_label("Shipping charge (USD)").fill("9.95")
    expect(page.locator('[data-total="grand"]')).to_have_text("125.95 USD")

    before = len(_phone_orders(site))
    page.get_by_role("button", name="Create order").click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    order_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_text(f"Order SO-{order_id:07d} created")).to_be_visible()

    with site.api() as api:
        order = api.get(f"/api/v1/orders/{order_id}").json()
    assert order["channel"] == "phone"
    assert re.fullmatch(r"PH-[0-9A-F]{12}", order["external_order_id"])
    assert order["captured_by"] == "user:Sam Service <cs@openoms.example>"
    assert order["customer"]["email"] == "julia.costa@example.com"
    assert order["shipping_address"]["city"] == "Miami"
    assert order["service_level"] == "expedited"
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in order["lines"]] == [
        ("CAP-OLV", 2, "28.00"),
        ("HOOD-GRY-M", 1, "60.00"),
    ]
    assert order["grand_total"] == "125.95"
    assert len(_phone_orders(site)) == before + 1

    # Back to the form and send it again. Depending on the browser's cache the form comes back
    # as it was (same one-time token: the first order is returned) or empty with a new token
    # (refused: nothing to order). Either way there is never a second order.
    page.go_back()
    expect(page.get_by_role("button", name="Create order")).to_be_enabled()
    page.get_by_role("button", name="Create order").click()
    page.wait_for_load_state()
    expect(
        page.get_by_text(re.compile(f"already sent|SO-{order_id:07d}|The order was not created")).first
    ).to_be_visible()
    assert len(_phone_orders(site)) == before + 1


def test_a_refused_phone_order_keeps_the_form_and_points_at_each_problem(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/orders/new")
    page.get_by_role("radio", name="New customer").check()
    expect(page.get_by_label("Find customer")).to_be_hidden()
    page.get_by_label("Name", exact=True).fill("Kim Lee")
    page.get_by_label("E-mail", exact=True).fill("kim.lee@example.com")
    page.get_by_label("Recipient").fill("Kim Lee")
    page.get_by_label("Address line 1").fill("9 Elm St")
    page.get_by_label("City", exact=True).fill("Portland")
    page.get_by_label("Line 1 SKU").fill("WTCH-STL")
    page.get_by_label("Line 1 quantity").fill("5000")
    expect(page.locator("#lines-0-avail")).to_contain_text("short by")
    page.get_by_role("button", name="Add line").click()
    page.get_by_label("Line 2 SKU").fill("NO-SUCH-SKU")
    page.get_by_label("Line 2 quantity").fill("1")
    page.keyboard.press("Escape")
    before = len(_phone_orders(site))

    page.get_by_role("button", name="Create order").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The order was not created")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Line 1 quantity: not enough stock")
    expect(summary).to_contain_text("Line 2 SKU: there is no product with SKU 'NO-SUCH-SKU'")
    # What was typed is all still there, and the summary links to the field.
    expect(page.get_by_role("radio", name="New customer")).to_be_checked()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Kim Lee")
    expect(page.get_by_label("City", exact=True)).to_have_value("Portland")
    expect(page.get_by_label("Line 1 quantity")).to_have_value("5000")
    expect(page.get_by_label("Line 2 SKU")).to_have_value("NO-SUCH-SKU")
    quantity = page.get_by_label("Line 1 quantity")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(quantity).to_have_accessible_description(re.compile("not enough stock"))
    summary.get_by_role("link", name=re.compile("Line 2 SKU")).click()
    expect(page.get_by_label("Line 2 SKU")).to_be_focused()
    assert len(_phone_orders(site)) == before


def test_warehouse_staff_cannot_take_phone_orders(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "warehouse@openoms.example")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="New phone order")).to_have_count(0)
    response = page.goto(f"{site.url}/orders/new")
    assert response is not None and response.status == 403
