"""The channel inbox in a real browser: operations finds an EDI order that did not come in,
reads why, fixes the partner setting and retries it into an order."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from openoms.services import catalog, edi
from openoms.services.common import Actor
from tests.browser.conftest import DemoSite, sign_in
from tests.integration.test_edi_channel import VICS, VN

ACTOR = Actor("browser-tests")
#: The demo's carrier rates are for parcels: the same PO with two of each widget.
PO = re.sub(r"(PO1\*\d+\*)\d+\*", r"\g<1>2*", VICS)


def test_operations_retries_an_edi_dead_letter_after_the_fix(page: Page, site: DemoSite) -> None:
    with site.db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="xyz-edi", name="XYZ Retail (EDI)", kind="edi")])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=s, name=f"Widget {s}", list_price=10, currency="USD") for s in VN])
    with site.api() as api:
        for sku in VN:
            api.post(
                "/api/v1/stock/receipts", json={"sku": sku, "location": "WH-DFW", "quantity": 1000}
            ).raise_for_status()
    edi.set_partner(site.db, "xyz-edi", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["SK"],
                    actor=ACTOR)  # fmt: skip
    (po,) = edi.receive_interchange(site.db, "xyz-edi", PO, source="file", actor=ACTOR)["orders"]
    assert po["status"] == "dead"

    sign_in(page, site, "ops@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Channel inbox").click()
    expect(page.get_by_role("heading", name="Channel inbox")).to_be_visible()
    page.get_by_role("link", name=re.compile("Dead letters")).click()
    row = page.get_by_role("row").filter(has_text="08292233294")
    expect(row).to_contain_text("EDI 850 purchase order")
    expect(row).to_contain_text("no product id with a qualifier of SK")
    page.screenshot(path="/tmp/channel-inbox-dead.png", full_page=True)
    row.get_by_role("link", name="EDI 850 purchase order").click()
    expect(page.get_by_role("alert")).to_contain_text("VN=AB3542")
    expect(page.locator("pre.raw")).to_contain_text("BEG*00*SA*08292233294")
    page.screenshot(path="/tmp/channel-inbox-message.png", full_page=True)

    # The fix: the partner's SKU is its vendor item number.
    edi.set_partner(site.db, "xyz-edi", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["VN"],
                    actor=ACTOR)  # fmt: skip
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_role("status").filter(has_text="Message")).to_contain_text("became order")
    expect(page.get_by_role("heading", name=re.compile("processed"))).to_be_visible()
    page.get_by_role("link", name=re.compile(r"SO-\d{7}")).first.click()
    expect(page.get_by_text("08292233294").first).to_be_visible()


def test_channels_page_shows_connections_and_dead_letters(page: Page, site: DemoSite, tmp_path: Path) -> None:
    from openoms.config import Settings
    from openoms.services import channel_connections

    settings = Settings(database_url=site.db.url, var_dir=tmp_path)
    channel_connections.set_connection(
        site.db, settings, "shopify", platform="shopify", base_url="https://demo.myshopify.com",
        webhook_secrets=["shpss_browser_test"], actor=ACTOR,
    )  # fmt: skip
    channel_connections.set_connection(site.db, settings, "amazon", platform="amazon", actor=ACTOR)
    with site.db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="edi-late", name="Late EDI partner", kind="edi")])
    edi.set_partner(site.db, "edi-late", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["SK"],
                    actor=ACTOR)  # fmt: skip
    edi.receive_interchange(site.db, "edi-late", PO.replace("000003438", "000007777"), source="file", actor=ACTOR)

    sign_in(page, site, "ops@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Channels", exact=True).click()
    shop = page.get_by_role("row").filter(has_text="Shopify US")
    expect(shop).to_contain_text("Shopify")
    expect(shop.locator(".badge-connected")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Amazon US")).to_contain_text("no secrets or credentials yet")
    expect(page.get_by_role("row").filter(has_text="Late EDI partner")).to_contain_text("Edi")
    late = page.get_by_role("row").filter(has_text="Late EDI partner")
    expect(late.get_by_role("link", name="1")).to_have_attribute("href", "/channel-inbox?status=dead&channel=edi-late")
    page.screenshot(path="/tmp/channels-overview.png", full_page=True)
