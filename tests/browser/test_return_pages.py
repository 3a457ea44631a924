"""Returns in a real browser: an in-store return started by the customer from the link in the
shipped e-mail, received and inspected by the store (restocked), refunded by finance; and an
exchange made by customer service, whose replacement order is reserved at once and whose return
is received to close the loop. Screenshots of every page go to /tmp/shots-returnpages/."""

from __future__ import annotations

import datetime as dt
import random
import re
import string
from decimal import Decimal
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from openoms.config import Settings
from openoms.services import payments, return_links
from openoms.services.common import Actor
from tests.browser.conftest import DemoSite, sign_in

SHOTS = Path("/tmp/shots-returnpages")
STORE = "ST-CHI"
TESTS = Actor("tests")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _stocked_skus(site: DemoSite, count: int, at_least: int = 3) -> list[str]:
    out: list[str] = []
    with site.api() as api:
        for product in api.get("/api/v1/products", params={"limit": 100}).json()["items"]:
            body = api.get(f"/api/v1/availability/{product['sku']}").json()
            if sum(loc["available"] for loc in body["locations"]) >= at_least:
                out.append(product["sku"])
            if len(out) == count:
                return out
    raise AssertionError("the demo holds too little stock")


def shipped_order(site: DemoSite, lines: list[tuple[str, int]]) -> dict[str, Any]:
    """A new order for a customer with an e-mail address, released and shipped in full."""
    tag = "".join(random.choices(string.ascii_lowercase, k=8))
    with site.api() as api:
        r = api.post(
            "/api/v1/orders",
            json={
                "channel": "web",
                "currency": "USD",
                "external_order_id": f"RET-{tag}",
                "customer": {"email": f"robin.{tag}@example.com", "name": "Robin Returner"},
                "shipping_address": {
                    "name": "Robin Returner",
                    "line1": "233 S Wacker Dr",
                    "city": "Chicago",
                    "region": "IL",
                    "postal_code": "60606",
                    "country": "US",
                },
                "lines": [{"sku": s, "quantity": q, "unit_price": "40.00"} for s, q in lines],
            },
        )
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()
        # Paid with the test provider: authorised now, captured when it ships.
        payments.authorize_payment(
            site.db, order["id"], provider="test", payment_method="test_ok", actor=TESTS, idempotency_key=f"pay-{tag}"
        )
        released = api.post(f"/api/v1/orders/{order['id']}/release")
        assert released.status_code == 201, released.text
        for fo in released.json():
            shipment = api.post(
                f"/api/v1/fulfilment-orders/{fo['number']}/shipments",
                json={
                    "carrier": "UPS",
                    "packages": [
                        {
                            "tracking_number": f"1Z{tag.upper()}{fo['id']}",
                            "weight_grams": 800,
                            "lines": [
                                {"line_number": ln["line_number"], "quantity": ln["quantity"]} for ln in fo["lines"]
                            ],
                        }
                    ],
                },
            )
            assert shipment.status_code == 201, shipment.text
        order["email"] = f"robin.{tag}@example.com"
    return order


def on_hand(site: DemoSite, sku: str, location: str) -> int:
    with site.api() as api:
        body = api.get(f"/api/v1/availability/{sku}").json()
    return int(next((loc["on_hand"] for loc in body["locations"] if loc["location"] == location), 0))


def customer_link(site: DemoSite, order: dict[str, Any]) -> str:
    """The link the shipped e-mail carries. The server keeps its key where these tests run
    (var/secret.key, or OPENOMS_SECRET_KEY), so the same settings sign the same link."""
    url = return_links.return_url(Settings(), int(order["id"]), order["email"], now=dt.datetime.now(dt.UTC))
    return site.url + url[url.index("/r/") :]


def test_an_in_store_return_from_the_customers_link_to_the_refund(browser: Browser, page: Page, site: DemoSite) -> None:
    [sku] = _stocked_skus(site, 1)
    order = shipped_order(site, [(sku, 2)])
    link = customer_link(site, order)

    # The customer, with no back-office session, opens the link from the e-mail.
    customer = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US")
    cpage = customer.new_page()
    cpage.goto(link)
    expect(cpage.get_by_role("heading", name=f"Return items from order {order['order_number']}")).to_be_visible()
    expect(cpage.locator("nav.sidebar")).to_have_count(0)  # the shop's page, not the back office
    shot(cpage, "01-customer-start")

    # A mistake first: an in-store return without a store, and no reason. Nothing is created.
    cpage.get_by_label("Quantity").select_option("1")
    cpage.get_by_text("In a store").click()
    cpage.get_by_role("button", name="Request return").click()
    expect(cpage.locator(".alert.bad")).to_be_visible()
    expect(cpage.locator("#location-error")).to_contain_text("Choose the store")
    expect(cpage.locator("#reason_1-error")).to_contain_text("Choose a reason")
    shot(cpage, "02-customer-refused")

    cpage.get_by_label("Reason").select_option("wrong_size")
    cpage.get_by_label("Store (for in-store returns)").select_option(STORE)
    cpage.get_by_role("button", name="Request return").click()
    expect(cpage.get_by_role("heading", name="Your return is confirmed")).to_be_visible()
    rma = cpage.get_by_test_id("rma").inner_text().strip()
    assert re.fullmatch(r"RMA-\d{7}", rma)
    expect(cpage.locator("ol.next")).to_contain_text("Bring the items to")
    shot(cpage, "03-customer-confirmation")

    # An edited link is refused with a reason.
    cpage.goto(link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB"))
    expect(cpage.get_by_role("heading", name="This link is not valid")).to_be_visible()
    shot(cpage, "04-customer-link-refused")
    customer.close()

    # The store receives and inspects: back on the shelf through the ledger.
    before = on_hand(site, sku, STORE)
    sign_in(page, site, "warehouse@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Returns").click()
    expect(page.get_by_role("heading", name="Returns", exact=True)).to_be_visible()
    page.get_by_label("RMA or order number").fill(rma)
    page.get_by_role("button", name="Search").click()
    shot(page, "05-queue-search")
    page.get_by_role("link", name=rma).click()
    expect(page.get_by_role("heading", name="Receive and inspect")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Issue refund"))).to_have_count(0)  # not the warehouse's
    shot(page, "06-return-to-receive")
    page.get_by_label(f"Units of {sku} in hand").fill("1")
    page.get_by_label(f"Disposition of {sku}").select_option("restock")
    expect(page.get_by_label("Received at")).to_have_value(STORE)
    page.get_by_role("button", name="Receive and inspect").click()
    expect(page.locator(".flash")).to_contain_text(f"Received 1 unit at {STORE}; 1 back in stock")
    expect(page.locator("#insp-title")).to_be_visible()
    shot(page, "07-return-received")
    assert on_hand(site, sku, STORE) == before + 1

    # Finance issues the refund that the quote explains.
    page.context.clear_cookies()
    sign_in(page, site, "finance@openoms.example")
    page.goto(f"{site.url}/returns?q={rma}&status=all")
    page.get_by_role("link", name=rma).click()
    expect(page.get_by_role("heading", name="Refund quote")).to_be_visible()
    total = page.get_by_test_id("refund-total").inner_text()
    assert total.startswith("40.00"), total  # one unit at 40.00, no tax, no fee, no shipping
    shot(page, "08-return-refund-quote")
    page.get_by_role("button", name=re.compile("Issue refund")).click()
    expect(page.locator(".flash")).to_contain_text("Refund of 40.00 USD issued")
    expect(page.locator(".page-head")).to_contain_text("refunded")
    shot(page, "09-return-refunded")
    assert payments.list_payments(site.db, order["id"])["refunded"] == Decimal("40.00")


def test_an_exchange_made_by_customer_service(page: Page, site: DemoSite) -> None:
    sku, other = _stocked_skus(site, 2)
    order = shipped_order(site, [(sku, 1)])
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/orders/{order['id']}")
    shot(page, "10-order-page-with-return-action")
    page.get_by_role("link", name="Return / exchange").click()
    expect(page.get_by_role("heading", name="Return or exchange")).to_be_visible()
    shot(page, "11-new-return-form")

    # Ask for more than shipped is not offered; an unknown exchange SKU is refused beside its field.
    page.locator("select[name=qty_1]").select_option("1")
    page.locator("select[name=reason_1]").select_option("wrong_size")
    page.get_by_label("Exchange SKU 1").fill("NO-SUCH-SKU")
    page.get_by_label("Exchange units 1").fill("1")
    page.get_by_role("button", name="Create return").click()
    expect(page.locator(".form-refused")).to_be_visible()
    shot(page, "12-new-return-refused")

    page.get_by_label("Exchange SKU 1").fill(other)
    page.get_by_role("button", name="Create return").click()
    expect(page.locator(".flash")).to_contain_text("replacement order")
    expect(page.locator(".page-head")).to_contain_text("exchange")
    shot(page, "13-exchange-return")
    replacement = page.locator(".stat", has_text="Replacement order")
    replacement.click()
    expect(page.locator(".order-title")).to_be_visible()
    expect(page.locator(".order-title")).to_contain_text(re.compile("allocated|released"))
    shot(page, "14-replacement-order")
    page.go_back()

    # The warehouse receives the original: the loop is closed.
    page.context.clear_cookies()
    sign_in(page, site, "warehouse@openoms.example")
    page.goto(f"{site.url}/returns?q={order['order_number']}&status=all")
    page.locator("#returns-table a", has_text="RMA-").first.click()
    page.get_by_label(f"Disposition of {sku}").select_option("restock")
    page.get_by_label("Received at").select_option(index=1)
    page.get_by_role("button", name="Receive and inspect").click()
    expect(page.locator(".flash")).to_contain_text("Received 1 unit")
    expect(page.locator(".page-head")).to_contain_text("received")
    expect(page.get_by_role("table", name="Refund breakdown")).to_contain_text("Replacement order")
    shot(page, "15-exchange-received")

    # Finance settles the difference: what the return is worth less the replacement, never below 0.
    due = page.get_by_test_id("refund-total").inner_text()
    page.context.clear_cookies()
    sign_in(page, site, "finance@openoms.example")
    page.goto(f"{site.url}/returns?q={order['order_number']}&status=all")
    page.locator("#returns-table a", has_text="RMA-").first.click()
    page.get_by_role("button", name=re.compile("Issue refund|Close with no refund")).click()
    expect(page.locator(".flash")).to_contain_text(
        f"Refund of {due} issued" if not due.startswith("0.00") else "nothing to pay back"
    )
    expect(page.locator(".page-head")).to_contain_text("refunded")
    shot(page, "15b-exchange-settled")


def test_the_queue_and_a_channels_return_policy(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/returns?status=all")
    rows = page.locator("#returns-table tbody tr")
    expect(rows.first).to_be_visible()  # the demo has returns in several states
    shot(page, "16-queue-all")
    page.get_by_role("navigation", name="Filter by status").get_by_role("link", name=re.compile("^Requested")).click()
    expect(page).to_have_url(re.compile(r"status=requested"))
    for badge in page.locator("#returns-table tbody td .badge").all():
        expect(badge).to_have_text("requested")

    with site.api() as api:
        before = api.get("/api/v1/channels/web/return-policy").json()
    page.goto(f"{site.url}/channels")
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_role("link", name="Return policy").click()
    expect(page.get_by_role("heading", name="Return policy · Own web store")).to_be_visible()
    page.get_by_label("Restocking fee (%)").fill("lots")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#pol-fee-error")).to_contain_text("Enter a percentage")
    page.get_by_label("Restocking fee (%)").fill("10")
    page.get_by_label("Return window (days)").fill("45")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".flash")).to_contain_text("Return policy saved")
    expect(page.get_by_label("Return window (days)")).to_have_value("45")
    shot(page, "17-return-policy")
    with site.api() as api:
        assert api.get("/api/v1/channels/web/return-policy").json()["window_days"] == 45
        keep = ("window_days", "restocking_fee_percent", "refund_shipping", "allowed_methods", "accepted_conditions")
        r = api.put("/api/v1/channels/web/return-policy", json={k: before[k] for k in keep})
        assert r.status_code == 200, r.text  # the other browser tests keep the demo's policy
