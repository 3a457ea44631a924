"""Order changes in a real browser: a customer-service user changes a line's quantity and the
shipping address from the order page; stock, totals and the timeline follow."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in

SHOTS = Path(os.environ.get("OPENOMS_SHOTS", "/tmp/shots-changes"))
NJ = {
    "name": "Dana Reyes",
    "line1": "1 Main St",
    "city": "Edison",
    "region": "NJ",
    "postal_code": "08817",
    "country": "US",
}


def _order(site: DemoSite) -> dict[str, Any]:
    with site.api() as api:
        r = api.post(
            "/api/v1/products",
            json={"sku": "CHG-KETTLE", "name": "Stovetop kettle", "list_price": "39.00", "weight_grams": 900},
        )
        assert r.status_code == 201, r.text
        location = next(loc["code"] for loc in api.get("/api/v1/locations").json()["items"] if loc["ships"])
        r = api.post(
            "/api/v1/stock/receipts",
            json={"sku": "CHG-KETTLE", "location": location, "quantity": 20, "reason": "browser test"},
        )
        assert r.status_code == 200, r.text
        channel = api.get("/api/v1/channels").json()["items"][0]["code"]
        r = api.post(
            "/api/v1/orders",
            json={
                "channel": channel,
                "currency": "USD",
                "external_order_id": "chg-browser-1",
                "shipping_address": NJ,
                "lines": [{"sku": "CHG-KETTLE", "quantity": 1, "unit_price": "39.00", "tax": "2.73"}],
            },
        )
        assert r.status_code == 201, r.text
        return dict(r.json())


def test_change_quantity_and_address_on_the_order_page(page: Page, site: DemoSite) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    order = _order(site)
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    card = page.locator("#change-order")
    expect(card).to_be_visible()

    page.locator("#change-quantity > summary").click()
    page.get_by_label("New quantity").fill("3")
    page.locator("#chg-qty-reason").fill("customer wants three for the cabin")
    page.screenshot(path=str(SHOTS / "1-quantity-form.png"), full_page=True)
    page.get_by_role("button", name="Change quantity").click()
    expect(page.locator(".flash, [role=status]").first).to_contain_text("1 → 3")
    row = page.locator("#line-1")
    expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\s*3"))
    expect(row.locator(".reserved-qty")).to_have_text("3")
    expect(page.locator("dl.totals dd.grand")).to_contain_text("125.19")  # 3 x 39.00 + 3 x 2.73 tax

    page.locator("#change-address > summary").click()
    page.locator("#addr-line1").fill("77 Harbor Rd")
    page.locator("#addr-city").fill("Portland")
    page.locator("#addr-region").fill("ME")
    page.locator("#addr-postal").fill("04101")
    page.locator("#addr-reason").fill("customer moved before it shipped")
    page.get_by_role("button", name="Change address").click()
    expect(page.locator(".addresses address").first).to_contain_text("Portland")
    timeline = page.locator(".order-timeline")
    expect(timeline).to_contain_text("Shipping address changed to Dana Reyes, 77 Harbor Rd, Portland, 04101, US")
    expect(timeline).to_contain_text("Change sent to channel")
    expect(timeline.locator(".ev-changed").first).to_contain_text("Sam Service")
    page.screenshot(path=str(SHOTS / "2-after-changes.png"), full_page=True)

    with site.api() as api:
        after = api.get(f"/api/v1/orders/{order['id']}").json()
    assert after["lines"][0]["quantity_reserved"] == 3
    assert after["shipping_address"]["city"] == "Portland"
    assert after["version"] > order["version"]
