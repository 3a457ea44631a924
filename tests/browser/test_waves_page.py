"""The Waves page in a real browser: a location set to release in waves shows its policy, the
capacity left today and its next wave in local time; operations press "Release now", the run
appears with its pick list; a warehouse user sees the page without the button.

Runs last among the browser tests (it releases a location's waiting work) and puts the
location's policy back afterwards."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in
from tests.browser.test_fulfilment_pages import STORE, store_order


def test_waves_page_release_now_and_pick_list(page: Page, site: DemoSite) -> None:
    order = store_order(site)
    with site.api() as api:
        held = {
            r["location"] for ln in api.get(f"/api/v1/orders/{order['id']}").json()["lines"] for r in ln["reservations"]
        }
        location = STORE if STORE in held else sorted(held)[0]
        before = api.get(f"/api/v1/locations/{location}").json()
        r = api.patch(
            f"/api/v1/locations/{location}",
            json={"release_mode": "waves", "wave_times": ["09:00", "13:00"], "daily_capacity": None},
        )
        assert r.status_code == 200, r.text
    try:
        sign_in(page, site, "ops@openoms.example")
        page.goto(f"{site.url}/fulfilment")
        page.get_by_role("link", name="Waves").click()
        expect(page.get_by_role("heading", name="Waves", level=1)).to_be_visible()
        card = page.locator(f"table.wave-locations tr[data-location='{location}']")
        expect(card.get_by_test_id("mode")).to_have_text("Waves")
        expect(card).to_contain_text(before["timezone"])
        expect(card.get_by_test_id("next-wave")).to_contain_text(re.compile(r"\w{3} \d{2} \w{3} \d{2}:\d{2} [A-Z]{3}"))
        waiting = int(card.get_by_test_id("waiting").inner_text().split()[0])
        assert waiting >= 1
        page.screenshot(path="/tmp/waves-page.png", full_page=True)

        card.get_by_role("button", name=f"Release now at {location}").click()
        expect(page.locator(".flash-success")).to_contain_text(re.compile(r"W-\d{7}: released \d+ fulfilment order"))
        card = page.locator(f"table.wave-locations tr[data-location='{location}']")
        expect(card.get_by_test_id("waiting")).to_contain_text("0 orders")
        row = page.locator(f"table.wave-table tbody tr[data-location='{location}']").first
        expect(row).to_contain_text("Manual")
        link = row.get_by_role("link", name=re.compile(r"Pick list of W-"))
        pdf = page.request.get(f"{site.url}{link.get_attribute('href')}")
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:4] == b"%PDF"
        expect(card.get_by_role("button", name=f"Release now at {location}")).to_be_disabled()
        page.screenshot(path="/tmp/waves-page-released.png", full_page=True)
        with site.api() as api:
            after = api.get(f"/api/v1/orders/{order['id']}").json()
            assert any(
                e["event_type"] == "order.released" and "release now W-" in e["actor"] for e in after["timeline"]
            )

        # A warehouse user sees the page, not the button (releasing is operations' call).
        page.context.clear_cookies()
        sign_in(page, site, "warehouse@openoms.example")
        page.goto(f"{site.url}/fulfilment/waves")
        expect(page.locator(f"table.wave-locations tr[data-location='{location}']")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("Release now"))).to_have_count(0)
    finally:
        with site.api() as api:
            api.patch(
                f"/api/v1/locations/{location}",
                json={"release_mode": "manual", "wave_times": None, "daily_capacity": before["daily_capacity"]},
            )
