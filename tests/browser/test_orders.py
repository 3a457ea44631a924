"""The orders pages in a real browser: find an order, open it, hold it, release it, cancel some
of it, and see that a role is offered only what it may do. Every test makes its own orders
through the API, so the tests do not depend on each other or on the demo's random baskets."""

from __future__ import annotations

import random
import re
import string
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in

CANDIDATE_SKUS = ("TEE-BLK-M", "TEE-WHT-L", "CAP-BLK", "BOTL-STL", "HOOD-GRY-M", "TEE-NVY-S", "CAP-OLV")


def _reserved(site: DemoSite, sku: str, location: str) -> int:
    with site.api() as api:
        body = api.get(f"/api/v1/availability/{sku}").json()
    return next(int(loc["reserved"]) for loc in body["locations"] if loc["location"] == location)


def new_order(site: DemoSite, units: int = 1, lines: int = 1) -> dict[str, Any]:
    """An order for a customer nobody else has, on SKUs that have the stock for it."""
    # Letters only: a search term with a digit is not looked for in names.
    tag = "".join(random.choices(string.ascii_lowercase, k=10))
    with site.api() as api:
        skus = []
        for sku in CANDIDATE_SKUS:
            body = api.get(f"/api/v1/availability/{sku}").json()
            if max(loc["available"] for loc in body["locations"] if loc["ships"]) >= units:
                skus.append(sku)
            if len(skus) == lines:
                break
        r = api.post(
            "/api/v1/orders",
            json={
                "channel": "web",
                "currency": "USD",
                "external_order_id": f"BT-{tag}",
                "customer": {"email": f"quinn.{tag}@example.com", "name": f"Quinn Tester{tag}"},
                "shipping_address": {"line1": "9 Elm St", "city": "Portland", "region": "OR", "country": "US"},
                "lines": [{"sku": s, "quantity": units, "unit_price": "24.00", "tax": "1.98"} for s in skus],
            },
        )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    order["tag"] = tag
    return order


def timeline_entry(page: Page, title: str) -> Any:
    return page.locator("ol.timeline > li").filter(has=page.locator(".what", has_text=title))


def test_find_an_order_with_the_search_box_and_open_it(page: Page, site: DemoSite) -> None:
    order = new_order(site)
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    page.get_by_label("Search", exact=True).fill(f"tester{order['tag']}")  # part of the name, any case
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name="1 order match")).to_be_visible()
    expect(page.locator("table.orders-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name=order["order_number"]).click()
    expect(page).to_have_url(f"{site.url}/orders/{order['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(order["order_number"])
    expect(page.get_by_text(f"BT-{order['tag']}", exact=True)).to_be_visible()
    expect(page.locator("ol.timeline > li").first).to_contain_text("Order placed")
    # the order number works as an address, and the list sorts by a header click
    page.goto(f"{site.url}/orders/{order['order_number']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(order["order_number"])
    page.goto(f"{site.url}/orders")
    page.get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=-total"))
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")
    expect(page.locator("th[aria-sort]")).to_contain_text("Total")


def test_filters_combine_and_survive_paging(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders?per_page=5")
    page.locator("label.chip", has_text="Allocated").click()
    page.get_by_label("Channel").select_option("web")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/orders\?channel=web&status=allocated&per_page=5$"))  # no empty fields
    for row in page.locator("table.orders-table tbody tr").all():
        expect(row).to_contain_text("allocated", ignore_case=True)
    page.get_by_role("link", name="Next \u203a").click()
    expect(page).to_have_url(re.compile(r"channel=web.*status=allocated.*page=2"))
    expect(page.get_by_role("checkbox", name="Allocated")).to_be_checked()


def test_place_and_release_a_hold_both_on_the_timeline_with_the_name(page: Page, site: DemoSite) -> None:
    order = new_order(site)
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    page.get_by_text("Place a hold…").click()
    page.get_by_label("Hold type").select_option("manual")
    page.get_by_label("Reason for the hold").fill("Customer asked us to wait until Friday")
    page.get_by_role("button", name="Place hold").click()
    expect(page.get_by_role("status").first).to_contain_text("Manual hold placed")
    expect(page.get_by_role("heading", level=1)).to_contain_text("manual hold")
    placed = timeline_entry(page, "Hold placed")
    expect(placed).to_contain_text("Customer asked us to wait until Friday")
    expect(placed).to_contain_text("Sam Service")

    page.get_by_label("Reason for releasing the manual hold").fill("Customer confirmed by phone")
    page.get_by_role("button", name="Release manual hold").click()
    expect(page.get_by_role("status").first).to_contain_text("Manual hold released")
    released = timeline_entry(page, "Hold released")
    expect(released).to_contain_text("Customer confirmed by phone")
    expect(released).to_contain_text("Sam Service")
    expect(timeline_entry(page, "Hold placed")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).not_to_contain_text("manual hold")
    # newest first: the release is above the placement
    titles = page.locator("ol.timeline > li .what").all_inner_texts()
    assert titles[:3] == ["Hold released", "Hold placed", "Order placed"]


def test_cancel_some_units_of_a_line_releases_the_stock(page: Page, site: DemoSite) -> None:
    order = new_order(site, units=3)
    line = order["lines"][0]
    location = line["reservations"][0]["location"]
    before = _reserved(site, line["sku"], location)
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    expect(page.get_by_test_id("reserved-total")).to_have_text("3")
    page.get_by_text("Cancel units of a line…").click()
    page.get_by_label("Line", exact=True).select_option("1")
    page.get_by_label("Units to cancel").fill("2")
    page.get_by_label("Reason for cancelling").first.fill("Customer wants only one")
    page.get_by_role("button", name="Cancel units").click()
    expect(page.get_by_role("status").first).to_contain_text("Cancelled 2 units of line 1")
    expect(page.get_by_test_id("reserved-total")).to_have_text("1")
    entry = timeline_entry(page, "Units cancelled")
    expect(entry).to_contain_text(f"line 1 ({line['sku']}) x2: Customer wants only one")
    expect(entry).to_contain_text("Olivia Operations")
    assert _reserved(site, line["sku"], location) == before - 2


def test_a_refused_action_explains_and_changes_nothing(page: Page, site: DemoSite) -> None:
    order = new_order(site, units=1)
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    page.get_by_text("Cancel units of a line…").click()
    page.get_by_label("Units to cancel").fill("5")
    page.get_by_label("Reason for cancelling").first.fill("too many")
    page.get_by_role("button", name="Cancel units").click()
    expect(page.get_by_role("alert")).to_contain_text("has 1 open unit(s); cannot cancel 5")
    expect(page.get_by_test_id("reserved-total")).to_have_text("1")
    expect(timeline_entry(page, "Units cancelled")).to_have_count(0)


def test_cancel_the_order_asks_first(page: Page, site: DemoSite) -> None:
    order = new_order(site, units=2)
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    page.get_by_text("Cancel the order…").click()
    page.get_by_label("Reason for cancelling").last.fill("Customer called to cancel")
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="Cancel order").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("allocated", ignore_case=True)
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Cancel order").click()
    expect(page.get_by_role("status").first).to_contain_text("Order cancelled")
    expect(page.get_by_role("heading", level=1)).to_contain_text("cancelled", ignore_case=True)
    expect(page.get_by_test_id("reserved-total")).to_have_text("0")
    expect(page.get_by_text("Cancel the order…")).to_have_count(0)


def test_finance_sees_no_cancel_and_posting_one_anyway_is_refused(page: Page, site: DemoSite) -> None:
    order = new_order(site)
    sign_in(page, site, "finance@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    expect(page.get_by_text("Place a hold…")).to_be_visible()  # finance may hold
    expect(page.get_by_text("Cancel the order…")).to_have_count(0)
    expect(page.get_by_text("Cancel units of a line…")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    r = page.request.post(
        f"{site.url}/orders/{order['id']}/cancel", form={"csrf_token": csrf, "reason": "sneaky"}, max_redirects=0
    )
    assert r.status == 403
    assert "may not cancel orders and lines" in r.text()
    with site.api() as api:
        assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "allocated"
