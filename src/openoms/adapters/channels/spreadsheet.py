"""Orders from a spreadsheet (CSV or Excel xlsx): one row per order line, mapped by a template.

Every marketplace export, ERP report and hand-kept sheet names its columns differently, so the
columns are not guessed: a *column mapping* says which header holds which order field
(``template()`` gives one to fill in). Rows with the same order id form one order. Each row is
checked on its own and every problem is reported with its row number and column, so a person
can fix the sheet in one go; an order with any bad row is left out whole (never half an order).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

#: Order fields a column can feed. Line fields vary per row; order fields are taken from the
#: order's first row that has them.
LINE_FIELDS = ("sku", "quantity", "unit_price", "discount", "tax", "line_id")
ORDER_FIELDS = (
    "order_id",
    "placed_at",
    "currency",
    "customer_email",
    "customer_name",
    "customer_phone",
    "ship_name",
    "ship_company",
    "ship_line1",
    "ship_line2",
    "ship_city",
    "ship_region",
    "ship_postal_code",
    "ship_country",
    "shipping_total",
    "service_level",
    "notes",
)
REQUIRED = ("order_id", "sku", "quantity", "unit_price")
SERVICE_LEVELS = ("standard", "expedited", "express", "next_day")
MAX_ROWS = 50_000
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%d/%m/%Y")


class SheetError(ValueError):
    """The file or the mapping as a whole cannot be used (not a row's problem)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class RowError:
    row: int  # as the person sees it: the header is row 1
    column: str  # the sheet's header, or the field when no column feeds it
    reason: str


@dataclass
class ColumnMapping:
    columns: dict[str, str]  # order field -> the sheet's header
    defaults: dict[str, str] = field(default_factory=dict)  # order field -> value when no column/empty

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str) -> ColumnMapping:
        raw = json.loads(data) if isinstance(data, str) else data
        if not isinstance(raw, Mapping) or not isinstance(raw.get("columns"), Mapping):
            raise SheetError("mapping", 'must be {"columns": {field: header}, "defaults": {field: value}}')
        known = set(LINE_FIELDS) | set(ORDER_FIELDS)
        columns = {str(k): str(v) for k, v in raw["columns"].items() if v not in (None, "")}
        defaults = {str(k): str(v) for k, v in (raw.get("defaults") or {}).items() if v not in (None, "")}
        unknown = sorted((set(columns) | set(defaults)) - known)
        if unknown:
            raise SheetError("mapping", f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        missing = [f for f in REQUIRED if f not in columns]
        if missing:
            raise SheetError("mapping", f"map a column to {', '.join(missing)}")
        return cls(columns, defaults)


def template() -> dict[str, Any]:
    """A mapping to fill in: every field, the required ones set to typical headers."""
    columns = dict.fromkeys((*ORDER_FIELDS, *LINE_FIELDS), "")
    columns.update(order_id="Order ID", sku="SKU", quantity="Quantity", unit_price="Unit price")
    return {
        "columns": columns,
        "defaults": {"currency": "USD", "ship_country": "US", "service_level": "standard"},
        "_help": "columns: field -> the header in your sheet (leave empty if you have none); "
        "defaults: the value when a row has none. Required: order_id, sku, quantity, unit_price.",
    }


# --------------------------------------------------------------------------- reading


def read_sheet(data: bytes, filename: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a CSV (UTF-8, with or without BOM; comma, semicolon or tab) or of the
    first worksheet of an xlsx. Cells come back as text."""
    name = filename.lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        return _read_xlsx(data)
    if name.endswith(".xls"):
        raise SheetError("file", "old .xls files are not read; save the sheet as .xlsx or CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    if not text.strip():
        raise SheetError("file", "the file is empty")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    return _split(rows)


def _read_xlsx(data: bytes) -> tuple[list[str], list[list[str]]]:
    from openpyxl import load_workbook  # imported here: only imports need it

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise SheetError("file", f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return _split(rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _split(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    rows = [r for r in rows if any(str(c).strip() for c in r)]
    if not rows:
        raise SheetError("file", "the sheet has no header row")
    if len(rows) - 1 > MAX_ROWS:
        raise SheetError("file", f"{len(rows) - 1} rows; import at most {MAX_ROWS} at a time")
    headers = [h.strip() for h in rows[0]]
    return headers, rows[1:]


# --------------------------------------------------------------------------- mapping


@dataclass
class SheetOrder:
    external_order_id: str
    rows: list[int]
    order: dict[str, Any]  # the canonical OrderCreate-shaped body


@dataclass
class SheetResult:
    orders: list[SheetOrder]
    errors: list[RowError]
    rows: int
    skipped_orders: list[str]  # order ids left out because a row of theirs is bad


def _decimal(text: str) -> Decimal:
    """1234.5, 1,234.50, and with a decimal comma 2,95 and 1.234,50 (the last separator is the
    decimal one); a lone comma before three digits (1,000) is a thousands separator."""
    t = text.replace(" ", "")
    if "," in t and "." in t:
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
    elif t.count(",") == 1:
        whole, frac = t.split(",")
        t = whole + frac if len(frac) == 3 else f"{whole}.{frac}"
    value = Decimal(t)
    if not value.is_finite():
        raise InvalidOperation
    return value


def _date(text: str) -> dt.datetime:
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD HH:MM:SS)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def map_sheet(
    headers: Sequence[str], rows: Sequence[Sequence[str]], mapping: ColumnMapping, *, channel: str
) -> SheetResult:
    """Rows to orders; every bad cell reported, orders with a bad row left out whole."""
    index = {h: i for i, h in enumerate(headers)}
    absent = [f"{f} -> {h!r}" for f, h in mapping.columns.items() if h not in index]
    if absent:
        raise SheetError("mapping", f"the sheet has no column for {', '.join(absent)} (headers: {', '.join(headers)})")
    errors: list[RowError] = []
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = {}
    bad_orders: set[str] = set()

    for n, raw in enumerate(rows, start=2):
        values = {f: (raw[index[h]].strip() if index[h] < len(raw) else "") for f, h in mapping.columns.items()}
        for f, v in mapping.defaults.items():
            if not values.get(f):
                values[f] = v
        row_errors = list(_check_row(n, values, mapping))
        order_id = values.get("order_id", "")
        if row_errors:
            errors.extend(row_errors)
            if order_id:
                bad_orders.add(order_id)
            continue
        grouped.setdefault(order_id, []).append((n, values))

    orders: list[SheetOrder] = []
    for order_id, items in grouped.items():
        if order_id in bad_orders:
            errors.extend(
                RowError(n, mapping.columns["order_id"], f"order {order_id} left out: another of its rows has errors")
                for n, _ in items
            )
            continue
        orders.append(_order(order_id, items, channel))
    errors.sort(key=lambda e: e.row)
    return SheetResult(orders, errors, len(rows), sorted(bad_orders))


def _check_row(n: int, v: dict[str, str], mapping: ColumnMapping) -> Iterator[RowError]:
    def col(f: str) -> str:
        return mapping.columns.get(f, f)

    for f in REQUIRED:
        if not v.get(f):
            yield RowError(n, col(f), "is empty")
    if len(v.get("order_id", "")) > 128:
        yield RowError(n, col("order_id"), "is longer than 128 characters")
    if len(v.get("sku", "")) > 64:
        yield RowError(n, col("sku"), "is longer than 64 characters")
    if q := v.get("quantity"):
        try:
            qd = _decimal(q)
            if qd != qd.to_integral_value():
                yield RowError(n, col("quantity"), f"{q} is not a whole number of units")
            elif qd < 0:
                yield RowError(n, col("quantity"), f"{q} is negative: a credit note or return, not an order line")
            elif qd == 0 or qd > 100_000:
                yield RowError(n, col("quantity"), f"{q} must be from 1 to 100000")
        except InvalidOperation:
            yield RowError(n, col("quantity"), f"{q!r} is not a number")
    for f in ("unit_price", "discount", "tax", "shipping_total"):
        if text := v.get(f):
            try:
                if _decimal(text) < 0:
                    yield RowError(n, col(f), f"{text} is negative")
            except InvalidOperation:
                yield RowError(n, col(f), f"{text!r} is not an amount")
    if text := v.get("placed_at"):
        try:
            _date(text)
        except ValueError as exc:
            yield RowError(n, col("placed_at"), str(exc))
    if (c := v.get("currency")) and (len(c) != 3 or not c.isalpha()):
        yield RowError(n, col("currency"), f"{c!r} is not a three-letter currency code")
    if (c := v.get("ship_country")) and (len(c) != 2 or not c.isalpha()):
        yield RowError(n, col("ship_country"), f"{c!r} is not a two-letter country code (ISO 3166)")
    if (s := v.get("service_level")) and s not in SERVICE_LEVELS:
        yield RowError(n, col("service_level"), f"{s!r} is not one of {', '.join(SERVICE_LEVELS)}")
    if not v.get("currency"):
        yield RowError(n, col("currency"), "is empty and the mapping has no default currency")
    if (e := v.get("customer_email")) and "@" not in e:
        yield RowError(n, col("customer_email"), f"{e!r} is not an e-mail address")


def _order(order_id: str, items: list[tuple[int, dict[str, str]]], channel: str) -> SheetOrder:
    def first(f: str) -> str | None:
        return next((v[f] for _, v in items if v.get(f)), None)

    lines = []
    for i, (_, v) in enumerate(items, start=1):
        line: dict[str, Any] = {
            "sku": v["sku"],
            "quantity": int(_decimal(v["quantity"])),
            "unit_price": _decimal(v["unit_price"]),
            "external_line_id": v.get("line_id") or str(i),
        }
        if v.get("discount"):
            line["discount"] = _decimal(v["discount"])
        if v.get("tax"):
            line["tax"] = _decimal(v["tax"])
        lines.append(line)
    order: dict[str, Any] = {
        "channel": channel,
        "external_order_id": order_id,
        "currency": (first("currency") or "").upper(),
        "lines": lines,
    }
    if placed := first("placed_at"):
        order["placed_at"] = _date(placed)
    if email := first("customer_email"):
        order["customer"] = {"email": email, "name": first("customer_name"), "phone": first("customer_phone")}
    if first("ship_line1") and first("ship_city"):
        address = {
            "name": first("ship_name"),
            "company": first("ship_company"),
            "line1": first("ship_line1"),
            "line2": first("ship_line2"),
            "city": first("ship_city"),
            "region": first("ship_region"),
            "postal_code": first("ship_postal_code"),
            "country": (first("ship_country") or "").upper(),
        }
        order["shipping_address"] = {k: v for k, v in address.items() if v}
    if shipping := first("shipping_total"):
        order["shipping_total"] = _decimal(shipping)
    if level := first("service_level"):
        order["service_level"] = level
    if notes := first("notes"):
        order["notes"] = notes[:2000]
    return SheetOrder(order_id, [n for n, _ in items], order)
