"""The store's pick-pack-ship flow end to end in a real browser, then the shipments list and
the tracking exceptions page: a store associate opens the store's queue, the fulfilment order
and its pick list, accepts, picks, packs, ships part of the order in one package and the rest
in two, and sees the tracking numbers on the order; the shipments list filters to them; a
carrier exception posted through the signed webhook appears on the dashboard and the
exceptions page, and customer service acknowledging it clears the dashboard alert.

Screenshots of each page go to /tmp/pages-*.png (looked at by hand when the pages change)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from openoms.adapters.carriers.tracking_inbound import sign_webhook
from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.services import apikeys, demo
from tests.browser.conftest import DemoSite, sign_in
from tests.browser.test_fulfilment_pages import STORE, store_order
from tests.conftest import LiveServer

SECRET = "whsec_browser_tests"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """Its own server: the webhook needs a secret, which the shared demo server does not set."""
    path = tmp_path_factory.mktemp("shipments") / "openoms.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    migrate.upgrade(db)
    summary = demo.load(db, order_count=20)
    _, key = apikeys.create_api_key(db, "browser-tests", ["*"])
    saved = os.environ.get("OPENOMS_TRACKING_WEBHOOK_SECRETS")
    os.environ["OPENOMS_TRACKING_WEBHOOK_SECRETS"] = SECRET
    try:
        server = LiveServer(url, workers=1)
    finally:
        if saved is None:
            os.environ.pop("OPENOMS_TRACKING_WEBHOOK_SECRETS", None)
        else:
            os.environ["OPENOMS_TRACKING_WEBHOOK_SECRETS"] = saved
    try:
        yield DemoSite(server, db, summary["password"], key)
    finally:
        server.stop()
        db.dispose()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=f"/tmp/pages-{name}.png", full_page=True)


def test_store_pick_pack_ship_then_shipments_and_a_tracking_exception(page: Page, shop: DemoSite) -> None:
    order = store_order(shop)
    with shop.api() as api:
        released = api.post(f"/api/v1/orders/{order['id']}/release")
        assert released.status_code in (200, 201), released.text
        fo = next(f for f in released.json() if f["location"] == STORE)
    store_lines = [ln for ln in fo["lines"] if ln["quantity"]]
    assert store_lines, "the Chicago store holds nothing of this order"
    page.add_init_script("window.print = function () { window.__printed = (window.__printed || 0) + 1; };")

    # The store associate signs in and opens the store's queue, then the fulfilment order.
    sign_in(page, shop, "warehouse@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fulfilment").click()
    page.get_by_label("Location", exact=True).select_option(STORE)
    expect(page).to_have_url(re.compile(rf"/fulfilment\?location={STORE}"))
    row = page.locator("table.queue-table tbody tr", has_text=fo["number"])
    expect(row).to_contain_text("released")
    shot(page, "1-store-queue")
    row.get_by_role("link", name=fo["number"], exact=True).click()
    expect(page.get_by_role("heading", name=fo["number"])).to_be_visible()

    # The pick list: on screen, and printed from the page's button.
    for ln in store_lines:
        expect(page.locator(".pick-table")).to_contain_text(ln["sku"])
    page.get_by_role("button", name="Print pick list").click()
    assert page.evaluate("window.__printed") == 1
    for button in ("Accept", "Mark picked", "Mark packed"):
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.get_by_role("button", name=button, exact=True)).to_have_count(0)

    # A partial shipment first: one unit of the first line in one package.
    first = store_lines[0]
    page.get_by_label("Carrier").fill("UPS")
    page.get_by_label("Service code").fill("UPS-GROUND")
    for ln in store_lines:
        page.locator(f"#pkg0-line-{ln['line_number']}").fill("1" if ln is first else "0")
    page.locator("#pkg0-tracking_number").fill("1ZSTORE00000000001")
    page.locator("#pkg0-weight_grams").fill("800")
    page.get_by_role("button", name="Ship", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("tracking 1ZSTORE00000000001")
    expect(page.locator("h1 .badge")).to_have_text("partially shipped")
    shot(page, "2-fo-partially-shipped")

    # The rest in two packages: the first line's remaining units, then the other lines.
    rest = [(ln, ln["quantity"] - (1 if ln is first else 0)) for ln in store_lines]
    page.get_by_label("Carrier").fill("UPS")
    page.get_by_role("button", name="+ Add package").click()
    expect(page.locator("fieldset.package")).to_have_count(2)
    for i, (ln, units) in enumerate(rest):
        in_first = units if (ln is first or len(rest) == 1) else 0
        page.locator(f"#pkg0-line-{ln['line_number']}").fill(str(in_first))
        page.locator(f"#pkg1-line-{ln['line_number']}").fill(str(units - in_first) if i or len(rest) == 1 else "0")
    if len(rest) == 1:  # one line only: split its units over the two packages
        ln, units = rest[0]
        page.locator(f"#pkg0-line-{ln['line_number']}").fill(str(units - 1))
        page.locator(f"#pkg1-line-{ln['line_number']}").fill("1")
    page.locator("#pkg0-tracking_number").fill("1ZSTORE00000000002")
    page.locator("#pkg1-tracking_number").fill("1ZSTORE00000000003")
    page.get_by_role("button", name="Ship", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("1ZSTORE00000000002, 1ZSTORE00000000003")
    expect(page.locator("h1 .badge")).to_have_text("shipped")
    shot(page, "3-fo-shipped")

    # The order shows both shipments with their tracking numbers.
    page.get_by_role("link", name=order["order_number"]).first.click()
    for number in ("1ZSTORE00000000001", "1ZSTORE00000000002", "1ZSTORE00000000003"):
        expect(page.locator("#fulfilment")).to_contain_text(number)

    # The shipments list, filtered to the store, then to a tracking number.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Shipments").click()
    expect(page.get_by_role("heading", name="Shipments", level=1)).to_be_visible()
    page.get_by_label("Shipped from", exact=True).select_option(STORE)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"location={STORE}"))
    # The demo data has shipments from the store too (returns, pickups): ours are the 1ZSTORE ones.
    rows = page.locator("table.shipments-table tbody tr").filter(has_text="1ZSTORE")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("1ZSTORE00000000002")
    expect(rows.nth(1)).to_contain_text("1ZSTORE00000000001")
    expect(rows.first.get_by_test_id("stage")).to_have_text("Label created")
    shot(page, "4-shipments-filtered")
    page.get_by_label("Search", exact=True).fill("1zstore00000000003")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    rows.first.locator("a.ref").first.click()
    expect(page.locator(".package-card")).to_have_count(2)
    expect(page.locator("#package-2")).to_contain_text("1ZSTORE00000000003")

    # The carrier reports a failed delivery through the signed webhook.
    occurred = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = json.dumps(
        {
            "events": [
                {
                    "tracking_number": "1ZSTORE00000000003",
                    "carrier": "UPS",
                    "status": "exception",
                    "occurred_at": occurred.isoformat(),
                    "description": "Delivery attempted: business closed",
                    "location": "Chicago, IL, US",
                    "event_id": "browser-exc-1",
                }
            ]
        }
    ).encode()
    r = httpx.post(
        f"{shop.url}/api/v1/tracking/webhook",
        content=body,
        headers={"Content-Type": "application/json", "OpenOMS-Signature": sign_webhook(body, SECRET, int(time.time()))},
    )
    assert r.status_code == 200 and r.json()["packages"][0]["exception_open"] is True, r.text
    page.reload()
    expect(page.locator("#package-2 .exception-callout")).to_contain_text("business closed")
    expect(page.get_by_test_id("stage").first).to_have_text("Exception")
    shot(page, "5-shipment-detail")

    # Customer service sees it on the dashboard, follows the card, acknowledges it.
    page.context.clear_cookies()
    sign_in(page, shop, "cs@openoms.example")
    page.goto(f"{shop.url}/")
    card = page.get_by_test_id("tracking-exceptions-count")
    open_before = int(re.search(r"\d+", card.inner_text()).group())  # type: ignore[union-attr]
    assert open_before >= 1
    expect(page.locator("#tracking-title").locator("xpath=../..")).to_contain_text("1ZSTORE00000000003")
    card.click()
    expect(page.get_by_role("heading", name="Tracking exceptions", level=1)).to_be_visible()
    row = page.locator("table.exceptions-table tbody tr", has_text="1ZSTORE00000000003")
    expect(row).to_contain_text("business closed")
    expect(row).to_contain_text(order["order_number"])
    expect(row).to_contain_text("Pat Picker")
    shot(page, "6-exceptions")
    row.get_by_label("Note for 1ZSTORE00000000003").fill("Called Pat: redelivery tomorrow")
    row.get_by_role("button", name="Acknowledge 1ZSTORE00000000003").click()
    expect(page.locator(".flash-success")).to_contain_text("Acknowledged the exception on 1ZSTORE00000000003")
    expect(page.locator("table.exceptions-table tbody tr", has_text="1ZSTORE00000000003")).to_have_count(0)
    expect(page.locator("table.acked-table")).to_contain_text("Called Pat: redelivery tomorrow")
    shot(page, "7-exceptions-acknowledged")
    page.goto(f"{shop.url}/")
    expect(page.get_by_test_id("tracking-exceptions-count")).to_have_text(f"All {open_before - 1} open")
    expect(page.locator("#tracking-title").locator("xpath=../..")).not_to_contain_text("1ZSTORE00000000003")
    page.goto(f"{shop.url}/orders/{order['id']}")
    expect(page.locator("ol.timeline")).to_contain_text("acknowledged")


def test_screens_load_empty_and_with_bad_filters(page: Page, shop: DemoSite) -> None:
    sign_in(page, shop, "finance@openoms.example")
    page.goto(f"{shop.url}/shipments?status=lost&carrier=NOBODY")
    expect(page.locator(".orders-problems")).to_contain_text("unknown status 'lost'")
    expect(page.locator(".empty-state")).to_contain_text("No shipments match these filters.")
    shot(page, "8-shipments-empty")
    page.goto(f"{shop.url}/tracking/exceptions")
    expect(page.get_by_role("heading", name="Tracking exceptions", level=1)).to_be_visible()
    expect(page.locator(".ack-form")).to_have_count(0)  # finance may look, not acknowledge
