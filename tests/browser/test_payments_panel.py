"""The order page's Payments panel in a real browser: finance records a cash payment, then
gives part of it back as an appeasement refund; a refund above what was captured is refused
on the page and changes nothing. The payment review page lists the demo's disputed card."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import exists, select

from openoms.adapters.db.tables import Order, Payment, table
from openoms.services import payments
from tests.browser.conftest import DemoSite, sign_in

orders_t = table(Order)
pay_t = table(Payment)


def _unpaid_order(site: DemoSite) -> int:
    with site.db.read() as conn:
        return int(
            conn.execute(
                select(orders_t.c.id)
                .where(
                    orders_t.c.external_order_id.like("AMAZON-%"),
                    orders_t.c.status != "cancelled",
                    ~exists().where(pay_t.c.order_id == orders_t.c.id),
                )
                .order_by(orders_t.c.id)
                .limit(1)
            ).scalar_one()
        )


def test_finance_records_a_cash_payment_and_refunds_part_of_it(page: Page, site: DemoSite) -> None:
    oid = _unpaid_order(site)
    sign_in(page, site, "finance@openoms.example")
    page.goto(f"{site.url}/orders/{oid}")
    panel = page.get_by_test_id("payments")
    expect(panel.get_by_test_id("payment-status")).to_have_text("unpaid")
    expect(panel).to_contain_text("No payment recorded")

    form = panel.locator("#record-payment")
    form.get_by_label("Method").select_option("cash")
    form.get_by_label("Amount (USD)").fill("10.00")
    form.get_by_label("Reference").fill("TILL-77")
    form.get_by_role("button", name="Record payment").click()
    expect(page.get_by_role("status").filter(has_text="Cash payment of 10.00 USD recorded")).to_be_visible()
    expect(panel.get_by_test_id("payment-status")).to_have_text("partially paid")
    expect(panel.get_by_test_id("pay-captured")).to_have_text("10.00")
    expect(panel.get_by_role("row", name="Manual cash").filter(has_text="TILL-77")).to_contain_text("captured")

    page.on("dialog", lambda d: d.accept())
    refund = panel.locator("#appeasement")
    refund.get_by_label("Amount (USD)").fill("25.00")
    refund.get_by_label("Reason").fill("too much")
    refund.get_by_role("button", name="Refund").click()
    expect(page.get_by_role("alert").or_(page.get_by_role("status")).filter(has_text="Nothing changed")).to_be_visible()
    assert payments.list_payments(site.db, oid)["refunded"] == 0

    refund = page.get_by_test_id("payments").locator("#appeasement")
    refund.get_by_label("Amount (USD)").fill("4.00")
    refund.get_by_label("Reason").fill("parcel arrived three days late")
    refund.get_by_role("button", name="Refund").click()
    expect(page.get_by_role("status").filter(has_text="Refunded 4.00 USD to the customer")).to_be_visible()
    panel = page.get_by_test_id("payments")
    expect(panel.get_by_test_id("pay-refunded")).to_have_text("4.00")
    expect(panel.get_by_test_id("payment-status")).to_have_text("partially refunded")
    row = panel.get_by_test_id("refunds").get_by_role("row").filter(has_text="parcel arrived three days late")
    expect(row).to_contain_text("Appeasement")
    expect(row).to_contain_text("succeeded")
    expect(page.locator(".order-timeline")).to_contain_text("Refund paid")
    panel.screenshot(path="/tmp/shots-payments/browser-panel.png")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payment review").click()
    expect(page.get_by_role("heading", name="Payment review")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="product_not_received")).to_be_visible()
