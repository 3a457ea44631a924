"""Spreadsheet order import: the real UCI Online Retail rows, xlsx, and every kind of bad cell."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from openoms.adapters.channels import spreadsheet as sheet

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")
UCI = (SAMPLES / "uci_online_retail_sample.csv").read_bytes()
UCI_MAPPING = {
    "columns": {
        "order_id": "InvoiceNo",
        "sku": "StockCode",
        "quantity": "Quantity",
        "unit_price": "UnitPrice",
        "placed_at": "InvoiceDate",
    },
    "defaults": {"currency": "GBP"},
}


def test_uci_rows_become_orders_and_credit_notes_are_refused_row_by_row() -> None:
    headers, rows = sheet.read_sheet(UCI, "online_retail.csv")
    assert headers[:4] == ["InvoiceNo", "StockCode", "Description", "Quantity"] and len(rows) == 134
    result = sheet.map_sheet(headers, rows, sheet.ColumnMapping.parse(UCI_MAPPING), channel="web")
    assert len(result.orders) == 11 and result.skipped_orders == ["48", "C536548"]
    assert len(result.errors) == 12 and all("credit note" in e.reason for e in result.errors)
    assert {e.row for e in result.errors} == set(range(2, 14))  # the first 12 data rows
    assert result.errors[0].column == "Quantity"
    big = next(o for o in result.orders if o.external_order_id == "536557")
    assert len(big.order["lines"]) == 65 and big.rows[0] < big.rows[-1]
    assert big.order["currency"] == "GBP" and big.order["placed_at"].isoformat().startswith("2010-12-01T14:")
    free = next(o for o in result.orders if o.external_order_id == "536549")
    assert free.order["lines"][0]["unit_price"] == Decimal("0.0")  # a free item is a line, not an error
    rows_total = sum(len(o.order["lines"]) for o in result.orders) + len(result.errors)
    assert rows_total == 134


def test_xlsx_reads_like_csv() -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["Order", "Item", "Qty", "Price", "Email", "Street", "Town", "Country", "Shipping"])
    ws.append(["A-1", "SKU-1", 2, 9.5, "ann@example.com", "1 Main St", "Austin", "us", 4.95])
    ws.append(["A-1", "SKU-2", 1, 20, None, None, None, None, None])
    ws.append([None, None, None, None, None, None, None, None, None])  # blank rows are skipped
    ws.append(["A-2", "SKU-1", 1.0, "3,50", None, None, None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    headers, rows = sheet.read_sheet(buf.getvalue(), "orders.xlsx")
    mapping = sheet.ColumnMapping.parse(
        {
            "columns": {
                "order_id": "Order", "sku": "Item", "quantity": "Qty", "unit_price": "Price",
                "customer_email": "Email", "ship_line1": "Street", "ship_city": "Town", "ship_country": "Country",
                "shipping_total": "Shipping",
            },
            "defaults": {"currency": "usd"},
        }
    )  # fmt: skip
    result = sheet.map_sheet(headers, rows, mapping, channel="web")
    assert result.errors == []
    a1, a2 = result.orders
    assert a1.order["customer"]["email"] == "ann@example.com" and a1.order["currency"] == "USD"
    assert a1.order["shipping_address"] == {"line1": "1 Main St", "city": "Austin", "country": "US"}
    assert a1.order["shipping_total"] == Decimal("4.95") and len(a1.order["lines"]) == 2
    assert a2.order["lines"][0] == {
        "sku": "SKU-1",
        "quantity": 1,
        "unit_price": Decimal("3.50"),
        "external_line_id": "1",
    }


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ({"Qty": "1.5"}, "Qty", "not a whole number"),
        ({"Qty": "0"}, "Qty", "from 1 to 100000"),
        ({"Qty": "lots"}, "Qty", "not a number"),
        ({"Price": "-1"}, "Price", "negative"),
        ({"Price": "abc"}, "Price", "not an amount"),
        ({"Item": ""}, "Item", "is empty"),
        ({"Date": "31.12.2025"}, "Date", "not a date"),
        ({"Cur": "EURO"}, "Cur", "three-letter currency"),
        ({"Level": "overnight"}, "Level", "not one of standard"),
    ],
)
def test_each_bad_cell_is_named_and_its_order_left_out(cells: dict[str, str], column: str, reason: str) -> None:
    headers = ["Order", "Item", "Qty", "Price", "Date", "Cur", "Level"]
    good = {"Order": "X", "Item": "SKU-1", "Qty": "1", "Price": "2.00", "Date": "2025-12-31", "Cur": "USD",
            "Level": "standard"}  # fmt: skip
    rows = [[good[h] for h in headers], [{**good, **cells}[h] for h in headers]]
    mapping = sheet.ColumnMapping.parse(
        {"columns": {"order_id": "Order", "sku": "Item", "quantity": "Qty", "unit_price": "Price",
                     "placed_at": "Date", "currency": "Cur", "service_level": "Level"}}
    )  # fmt: skip
    result = sheet.map_sheet(headers, rows, mapping, channel="web")
    assert result.orders == [] and result.skipped_orders == ["X"]
    (bad, left_out) = (
        sorted(result.errors, key=lambda e: (e.row, e.column != column))[::-1][:2][::-1]
        if False
        else (
            next(e for e in result.errors if e.row == 3),
            next(e for e in result.errors if e.row == 2),
        )
    )
    assert bad.column == column and reason in bad.reason
    assert "left out" in left_out.reason


def test_mapping_and_file_problems() -> None:
    with pytest.raises(sheet.SheetError, match="map a column to quantity"):
        sheet.ColumnMapping.parse({"columns": {"order_id": "A", "sku": "B", "unit_price": "C"}})
    with pytest.raises(sheet.SheetError, match="unknown field"):
        sheet.ColumnMapping.parse({"columns": {**UCI_MAPPING["columns"], "colour": "X"}})
    mapping = sheet.ColumnMapping.parse({**UCI_MAPPING, "columns": {**UCI_MAPPING["columns"], "sku": "Code"}})
    headers, rows = sheet.read_sheet(UCI, "x.csv")
    with pytest.raises(sheet.SheetError, match="no column for sku -> 'Code'"):
        sheet.map_sheet(headers, rows, mapping, channel="web")
    with pytest.raises(sheet.SheetError, match="empty"):
        sheet.read_sheet(b"  \n", "x.csv")
    with pytest.raises(sheet.SheetError, match=r"\.xls"):
        sheet.read_sheet(b"\xd0\xcf\x11\xe0", "old.xls")
    with pytest.raises(sheet.SheetError, match=r"not a readable \.xlsx"):
        sheet.read_sheet(b"PK\x03\x04garbage", "x.xlsx")
    assert set(sheet.template()["columns"]) >= {"order_id", "sku", "quantity", "unit_price", "ship_country"}


def test_semicolon_csv_with_decimal_commas_and_thousands() -> None:
    data = b"Order;SKU;Qty;Price\nO1;A;1,000;2,95\nO1;B;2;1.234,50\n"
    headers, rows = sheet.read_sheet(data, "de.csv")
    mapping = sheet.ColumnMapping.parse(
        {"columns": {"order_id": "Order", "sku": "SKU", "quantity": "Qty", "unit_price": "Price"},
         "defaults": {"currency": "EUR"}}
    )  # fmt: skip
    (order,) = sheet.map_sheet(headers, rows, mapping, channel="web").orders
    assert [(ln["quantity"], ln["unit_price"]) for ln in order.order["lines"]] == [
        (1000, Decimal("2.95")),
        (2, Decimal("1234.50")),
    ]
