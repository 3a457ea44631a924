"""Inventory in a real browser: find a SKU, adjust its stock with a reason and see the ledger
row with your name; a refusal changes nothing; who sees which forms."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in


def _level(site: DemoSite, sku: str, location: str) -> dict[str, int]:
    with site.api() as api:
        body = api.get(f"/api/v1/availability/{sku}").json()
    return next(
        (loc for loc in body["locations"] if loc["location"] == location),
        {"on_hand": 0, "reserved": 0, "available": 0},
    )


def test_warehouse_adjusts_stock_and_sees_the_ledger_row_with_their_name(page: Page, site: DemoSite) -> None:
    before = _level(site, "BOTL-BLU", "WH-CMH")
    sign_in(page, site, "warehouse@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    page.get_by_label("SKU or product name").fill("botl-blu")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="BOTL-BLU", exact=True).click()
    expect(page.get_by_role("heading", name="BOTL-BLU")).to_be_visible()

    form = page.get_by_role("region", name="Adjust or count")
    form.get_by_label("Location").select_option("WH-CMH")
    form.get_by_label("Change on hand by").fill("-1")
    form.get_by_label("Reason").fill("Dented in aisle 4")
    form.get_by_role("button", name="Save change").click()

    page.wait_for_url(f"{site.url}/inventory/BOTL-BLU/WH-CMH")
    expect(page.get_by_role("status")).to_contain_text("Adjusted BOTL-BLU at WH-CMH by -1")
    newest = page.get_by_role("table", name="Ledger of BOTL-BLU at WH-CMH").get_by_role("row").nth(1)
    expect(newest).to_contain_text("Adjustment")
    expect(newest).to_contain_text("Dented in aisle 4")
    expect(newest).to_contain_text("\u22121 on hand")  # a real minus sign
    expect(newest).to_contain_text(f"{before['on_hand'] - 1:,} on hand")
    expect(newest.get_by_role("cell", name="Wes Warehouse")).to_be_visible()
    assert _level(site, "BOTL-BLU", "WH-CMH")["on_hand"] == before["on_hand"] - 1


def test_a_count_below_what_is_reserved_is_refused_and_changes_nothing(page: Page, site: DemoSite) -> None:
    with site.api() as api:
        levels = api.get("/api/v1/availability", params={"limit": 500}).json()
    sku, loc = next(
        (item["sku"], stock["location"])
        for item in levels
        for stock in item["locations"]
        if stock["reserved"] > 0 and stock["on_hand"] > 0
    )
    before = _level(site, sku, loc)
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/inventory/{sku}/{loc}")
    form = page.get_by_role("region", name="Adjust or count")
    form.get_by_text("Set counted").click()
    form.get_by_label("Counted on hand").fill(str(before["reserved"] - 1))
    form.get_by_label("Reason").fill("Cycle count")
    form.get_by_role("button", name="Save change").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Nothing was changed")
    expect(alert).to_contain_text("reserved for open orders")
    counted = page.get_by_role("region", name="Adjust or count").get_by_label("Counted on hand")
    expect(counted).to_have_value(str(before["reserved"] - 1))
    expect(counted).to_have_attribute("aria-invalid", "true")
    expect(counted).to_have_accessible_description(re.compile(f"at least {before['reserved']}"))
    assert _level(site, sku, loc) == before


def test_warehouse_sees_receive_and_adjust_but_finance_does_not(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "warehouse@openoms.example")
    page.goto(f"{site.url}/inventory/CAP-SND")
    expect(page.get_by_role("heading", name="Receive stock")).to_be_visible()
    expect(page.get_by_role("heading", name="Adjust or count")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, site, "finance@openoms.example")
    page.goto(f"{site.url}/inventory/CAP-SND")
    expect(page.get_by_role("heading", name="Stock by location")).to_be_visible()
    expect(page.get_by_role("heading", name="Receive stock")).to_have_count(0)
    expect(page.get_by_role("heading", name="Adjust or count")).to_have_count(0)
    expect(page.get_by_text("can see stock but not change it")).to_be_visible()


def test_low_stock_and_location_filters(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/inventory")
    page.get_by_label("Low stock only").check()  # submits by itself
    page.wait_for_url(re.compile(r"low=1"))
    rows = page.locator("table.data tbody tr")
    expect(rows.first).to_be_visible()
    for i in range(rows.count()):
        cell = rows.nth(i).locator("td.avail-cell")
        if cell.count():
            expect(cell.locator(".badge")).to_have_text(re.compile("low|out", re.I))
    page.get_by_label("Location", exact=True).select_option("ST-NYC")
    page.wait_for_url(re.compile(r"location=ST-NYC"))
    expect(page.get_by_role("status")).to_contain_text("stocked at ST-NYC")
    expect(page.get_by_role("columnheader", name="Available here")).to_be_visible()
