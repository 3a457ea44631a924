"""Importing orders from a sheet in a real browser: check first, read the problems, import."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from openoms.adapters.db.tables import Product, StockLevel, table
from tests.browser.conftest import DemoSite, sign_in

MAPPING = {
    "columns": {"order_id": "Order", "sku": "SKU", "quantity": "Qty", "unit_price": "Price",
                "customer_email": "Email", "ship_line1": "Street", "ship_city": "City",
                "ship_region": "State", "ship_postal_code": "ZIP"},
    "defaults": {"currency": "USD", "ship_country": "US"},
}  # fmt: skip


def test_check_then_import_a_sheet(page: Page, site: DemoSite, tmp_path: Path) -> None:
    products, stock = table(Product), table(StockLevel)
    with site.db.read() as conn:
        skus = (
            conn.execute(
                select(products.c.sku)
                .join(stock, stock.c.product_id == products.c.id)
                .where(stock.c.on_hand - stock.c.reserved > 20, products.c.hazmat.is_(False))
                .order_by(products.c.sku)
                .distinct()
                .limit(2)
            )
            .scalars()
            .all()
        )
    sheet = tmp_path / "marketplace-export.csv"
    sheet.write_text(
        "Order,SKU,Qty,Price,Email,Street,City,State,ZIP\n"
        f"MP-1001,{skus[0]},2,19.90,ann@example.com,1 Main St,Dallas,TX,75201\n"
        f"MP-1001,{skus[1]},1,5.00,,,,,\n"
        f"MP-1002,{skus[0]},-1,19.90,bob@example.com,2 Elm St,Austin,TX,78701\n"
    )
    sign_in(page, site, "ops@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import orders").click()
    expect(page.get_by_role("heading", name="Import orders")).to_be_visible()
    page.get_by_label("Channel").select_option("web")
    page.get_by_label("Sheet (.csv or .xlsx)").set_input_files(str(sheet))
    page.get_by_label("Column mapping").fill(json.dumps(MAPPING, indent=2))
    page.get_by_role("button", name="Check").click()

    problems = page.get_by_role("region", name="Problems")
    expect(problems.get_by_role("row").filter(has_text="credit note")).to_contain_text("Qty")
    expect(page.get_by_role("region", name="Orders that would be imported")).to_contain_text("MP-1001")
    page.screenshot(path="/tmp/order-import-check.png", full_page=True)

    page.get_by_label("Sheet (.csv or .xlsx)").set_input_files(str(sheet))
    page.get_by_role("button", name="Import").click()
    orders = page.get_by_role("region", name="Orders")
    row = orders.get_by_role("row").filter(has_text="MP-1001")
    expect(row).to_contain_text("processed")
    page.screenshot(path="/tmp/order-import-done.png", full_page=True)
    row.get_by_role("link", name=re.compile(r"SO-\d{7}")).click()
    expect(page.get_by_text("MP-1001").first).to_be_visible()
