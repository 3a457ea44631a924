"""Inbound and transfers in a real browser: receive part of a purchase order and then the rest,
an over-receipt refused next to its field; plan a transfer (a mistake first), ship it, receive
it in two parts; announce a purchase order. Screenshots of each page go to /tmp for review."""

from __future__ import annotations

import datetime as dt
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in


def _level(site: DemoSite, sku: str, location: str) -> dict[str, Any]:
    with site.api() as api:
        body = api.get(f"/api/v1/availability/{sku}").json()
    return next(
        (loc for loc in body["locations"] if loc["location"] == location),
        {"on_hand": 0, "reserved": 0, "available": 0},
    )


def _new_lot(site: DemoSite, sku: str, location: str, qty: int, ref: str) -> dict[str, Any]:
    eta = (dt.datetime.now(dt.UTC) + dt.timedelta(days=4)).isoformat()
    with site.api() as api:
        r = api.post(
            "/api/v1/inbound",
            json={"sku": sku, "location": location, "quantity": qty, "expected_at": eta, "reference": ref},
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_warehouse_receives_a_purchase_order_in_two_parts(page: Page, site: DemoSite) -> None:
    lot = _new_lot(site, "CAP-BLK", "WH-RNO", 10, "PO-BROWSER-1")
    before = _level(site, "CAP-BLK", "WH-RNO")["on_hand"]
    sign_in(page, site, "warehouse@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbound").click()
    expect(page.get_by_role("heading", name="Inbound", exact=True)).to_be_visible()
    page.screenshot(path="/tmp/stockops-inbound-page.png", full_page=True)
    row = page.locator(f"#lot-{lot['id']}")
    expect(row).to_contain_text("PO-BROWSER-1")

    # More than the lot expects, without "allow over": refused next to the field, nothing moves.
    row.get_by_label(f"Units received for lot {lot['id']}").fill("12")
    row.get_by_role("button", name="Receive").click()
    row = page.locator(f"#lot-{lot['id']}")
    expect(row.locator(".field-error")).to_contain_text("At most 10 unit(s) still expected")
    page.screenshot(path="/tmp/stockops-inbound-refused.png", full_page=True)
    assert _level(site, "CAP-BLK", "WH-RNO")["on_hand"] == before

    row.get_by_label(f"Units received for lot {lot['id']}").fill("4")
    row.get_by_role("button", name="Receive").click()
    expect(page.locator(".flash")).to_contain_text("Received 4 x CAP-BLK at WH-RNO")
    expect(page.locator(".flash")).to_contain_text("6 still expected")
    row = page.locator(f"#lot-{lot['id']}")
    expect(row).to_contain_text("6 to come")
    row.get_by_role("button", name="Receive").click()  # the box offers the 6 still to come
    expect(page.locator(".flash")).to_contain_text("the lot is complete")
    expect(page.locator(f"#lot-{lot['id']}")).to_have_count(0)  # open lots only
    assert _level(site, "CAP-BLK", "WH-RNO")["on_hand"] == before + 10

    page.get_by_label("Status").select_option("received")
    expect(page.locator(f"#lot-{lot['id']}")).to_contain_text("received")
    # The warehouse may receive but not announce purchase orders.
    expect(page.get_by_role("heading", name="Announce a purchase order")).to_have_count(0)


def test_operations_announce_a_purchase_order_with_field_errors_first(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/inbound")
    form = page.get_by_role("region", name="Announce a purchase order")
    form.get_by_label("SKU").fill("CAP-BLK")
    form.get_by_label("Units").fill("0")
    form.get_by_role("button", name="Record inbound").click()
    form = page.get_by_role("region", name="Announce a purchase order")
    expect(form.get_by_role("alert")).to_contain_text("Nothing was recorded")
    expect(form).to_contain_text("Choose a location.")
    expect(form).to_contain_text("Must be at least 1.")
    expect(form).to_contain_text("Choose a date.")
    expect(form.get_by_label("SKU")).to_have_value("CAP-BLK")

    form.get_by_label("Location").select_option("WH-DFW")
    form.get_by_label("Units").fill("36")
    form.get_by_label("Expected on").fill((dt.date.today() + dt.timedelta(days=5)).isoformat())
    form.get_by_label("PO number").fill("PO-BROWSER-2")
    form.get_by_role("button", name="Record inbound").click()
    expect(page.locator(".flash")).to_contain_text("36 x CAP-BLK expected at WH-DFW")
    expect(page.locator("#inbound-table")).to_contain_text("PO-BROWSER-2")


def test_plan_ship_and_receive_a_transfer(page: Page, site: DemoSite) -> None:
    sku = "TEE-BLK-M"
    src_before = _level(site, sku, "WH-DFW")
    dst_before = _level(site, sku, "WH-RNO")
    assert src_before["on_hand"] - src_before["reserved"] >= 5
    sign_in(page, site, "warehouse@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Transfers").click()
    expect(page.get_by_role("heading", name="Transfers", exact=True)).to_be_visible()

    form = page.get_by_role("region", name="New transfer")
    form.get_by_label("From").select_option("WH-DFW")
    form.get_by_label("To", exact=True).select_option("WH-DFW")
    form.get_by_label("SKU, line 1").fill(sku)
    form.get_by_label("Units, line 1").fill("5")
    form.get_by_label("SKU, line 2").fill("NO-SUCH-SKU")
    form.get_by_label("Units, line 2").fill("1")
    form.get_by_role("button", name="Save as draft").click()
    form = page.get_by_role("region", name="New transfer")
    expect(form.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(form).to_contain_text("Must differ from the location the units leave from")
    page.screenshot(path="/tmp/stockops-transfer-refused.png", full_page=True)
    form.get_by_label("To", exact=True).select_option("WH-RNO")
    form.get_by_label("SKU, line 2").fill("")
    form.get_by_label("Units, line 2").fill("")
    form.get_by_label("Carrier").fill("Local courier")
    form.get_by_role("button", name="Save as draft").click()

    expect(page.locator(".flash")).to_contain_text("saved as a draft")
    number = page.locator("h1").inner_text().strip()
    assert number.startswith("TR-")
    assert _level(site, sku, "WH-DFW")["on_hand"] == src_before["on_hand"]  # a draft moves nothing
    page.get_by_role("button", name="Ship transfer").click()
    expect(page.locator(".flash")).to_contain_text("5 unit(s) in transit to WH-RNO")
    assert _level(site, sku, "WH-DFW")["on_hand"] == src_before["on_hand"] - 5

    page.get_by_label(f"Units of {sku} received").fill("3")
    page.get_by_role("button", name="Receive at WH-RNO").click()
    expect(page.locator(".flash")).to_contain_text("Received 3 unit(s) at WH-RNO: 2 still in transit")
    page.screenshot(path="/tmp/stockops-transfer-page.png", full_page=True)
    page.get_by_label(f"Units of {sku} received").fill("4")
    page.get_by_role("button", name="Receive at WH-RNO").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was received")
    expect(page.locator(".field-error")).to_contain_text("4 received but only 2 still in transit")
    page.get_by_label(f"Units of {sku} received").fill("2")
    page.get_by_role("button", name="Receive at WH-RNO").click()
    expect(page.locator(".flash")).to_contain_text("the transfer is complete")
    expect(page.locator(".page-head")).to_contain_text("received")
    assert _level(site, sku, "WH-RNO")["on_hand"] == dst_before["on_hand"] + 5

    page.goto(f"{site.url}/transfers?status=received")
    expect(page.locator("#transfers-table")).to_contain_text(number)
    page.screenshot(path="/tmp/stockops-transfers-page.png", full_page=True)


def test_a_role_without_transfer_rights_sees_no_forms(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/transfers")
    expect(page.get_by_role("heading", name="Transfers", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="New transfer")).to_have_count(0)
    page.goto(f"{site.url}/inbound")
    expect(page.get_by_role("button", name="Receive")).to_have_count(0)
    page.goto(f"{site.url}/low-stock")
    expect(page.get_by_role("heading", name="Low stock")).to_be_visible()
