"""Order import from CSV or Excel: a dry run that reports every problem, then the real thing
through the channel inbox (docs/order-import.md).

The dry run checks what the sheet alone can tell (row by row) and what the catalogue knows
(unknown or inactive SKUs, an unknown channel), and writes nothing. The import stores each order
as a channel message (topic ``spreadsheet/order``, key = the order id) and captures it, so
importing the same file twice makes no second order, and an order that cannot be captured
(no stock, say) waits as a dead letter to be retried instead of being lost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from openoms.adapters.channels import spreadsheet
from openoms.adapters.channels.base import ChangeKind, ChannelOrderChange, InboundMessage, MappingError
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Channel, Product, table
from openoms.domain.errors import DomainError, ErrorCode, validation_error
from openoms.services import channel_inbox
from openoms.services.channel_inbox import StoredMessage
from openoms.services.common import Actor

TOPIC = "spreadsheet/order"
products_t = table(Product)
channels_t = table(Channel)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _catalogue_errors(db: Database, result: spreadsheet.SheetResult, mapping: spreadsheet.ColumnMapping) -> None:
    """Unknown and inactive SKUs as row errors; their orders are left out like any bad row."""
    skus = {ln["sku"] for o in result.orders for ln in o.order["lines"]}
    if not skus:
        return
    with db.read() as conn:
        known = {
            r.sku: bool(r.active)
            for r in conn.execute(select(products_t.c.sku, products_t.c.active).where(products_t.c.sku.in_(skus)))
        }
    column = mapping.columns["sku"]
    keep = []
    for o in result.orders:
        problems = []
        for n, ln in zip(o.rows, o.order["lines"], strict=True):
            if ln["sku"] not in known:
                problems.append(spreadsheet.RowError(n, column, f"unknown SKU {ln['sku']!r}"))
            elif not known[ln["sku"]]:
                problems.append(spreadsheet.RowError(n, column, f"SKU {ln['sku']!r} is inactive"))
        if problems:
            result.errors.extend(problems)
            bad_rows = {p.row for p in problems}
            result.errors.extend(
                spreadsheet.RowError(n, mapping.columns["order_id"], f"order {o.external_order_id} left out: "
                                     "another of its rows has errors")
                for n in o.rows if n not in bad_rows
            )  # fmt: skip
            result.skipped_orders.append(o.external_order_id)
        else:
            keep.append(o)
    result.orders = keep
    result.errors.sort(key=lambda e: e.row)


def import_orders(
    db: Database,
    channel: str,
    data: bytes,
    filename: str,
    mapping: spreadsheet.ColumnMapping | dict[str, Any] | str,
    *,
    dry_run: bool,
    actor: Actor,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Check (dry run) or import a sheet. Returns the per-row problems and, when importing, what
    became of each order."""
    if not isinstance(mapping, spreadsheet.ColumnMapping):
        try:
            mapping = spreadsheet.ColumnMapping.parse(mapping)
        except json.JSONDecodeError as exc:
            raise validation_error("mapping", f"is not JSON: {exc.msg} at line {exc.lineno}") from None
        except spreadsheet.SheetError as exc:
            raise validation_error(exc.field, exc.reason) from None
    with db.read() as conn:
        if conn.execute(select(channels_t.c.id).where(channels_t.c.code == channel)).first() is None:
            raise DomainError(ErrorCode.UNKNOWN_CHANNEL, f"Channel {channel} does not exist")
    try:
        headers, rows = spreadsheet.read_sheet(data, filename)
        result = spreadsheet.map_sheet(headers, rows, mapping, channel=channel)
    except spreadsheet.SheetError as exc:
        raise validation_error(exc.field, exc.reason) from None
    _catalogue_errors(db, result, mapping)
    report: dict[str, Any] = {
        "dry_run": dry_run,
        "rows": result.rows,
        "orders_ready": len(result.orders),
        "orders_left_out": len(result.skipped_orders),
        "errors": [{"row": e.row, "column": e.column, "reason": e.reason} for e in result.errors],
        "orders": [],
    }
    if dry_run:
        report["orders"] = [
            {"external_order_id": o.external_order_id, "rows": o.rows, "lines": len(o.order["lines"])}
            for o in result.orders
        ]
        return report
    for i, o in enumerate(result.orders, start=1):
        body = json.dumps(o.order, default=_json_default)
        stored = channel_inbox.receive(
            db,
            InboundMessage(channel, "file", TOPIC, f"sheet:{o.external_order_id}", body, "application/json",
                           external_order_id=o.external_order_id),
        )  # fmt: skip
        outcome = channel_inbox.process(db, stored["id"], actor) if stored["status"] in ("received", "dead") else None
        message = outcome or channel_inbox.get_message(db, stored["id"])
        report["orders"].append(
            {
                "external_order_id": o.external_order_id,
                "rows": o.rows,
                "inbox_id": stored["id"],
                "status": message["status"],
                "reason": message["reason"],
                "order_id": message["order_id"],
                "already_imported": not stored["created"],
            }
        )
        if progress is not None:
            progress(i, len(result.orders))
    return report


def error_report_csv(report: dict[str, Any]) -> str:
    """The problems as a CSV a person opens next to the sheet (row, column, reason)."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["row", "column", "reason"])
    for e in report["errors"]:
        w.writerow([e["row"], e["column"], e["reason"]])
    for o in report["orders"]:
        if o.get("status") == "dead":
            w.writerow([o["rows"][0], "order", f"order {o['external_order_id']} not captured: {o['reason']}"])
    return out.getvalue()


def _map_stored(_db: Database, msg: StoredMessage) -> Sequence[ChannelOrderChange]:
    try:
        order = json.loads(msg.body)
    except json.JSONDecodeError as exc:
        raise MappingError("body", f"not JSON: {exc.msg}") from None
    return [ChannelOrderChange(ChangeKind.CREATE, str(order.get("external_order_id")), order=order)]


channel_inbox.register("spreadsheet/", _map_stored)
