"""Order capture as plain psycopg: the statements ``services.orders.capture_order`` issues, in the
same order and the same transaction, with no web framework and no SQLAlchemy.

It is the benchmark's floor for "what the database itself allows": one connection per client,
statements prepared by psycopg after a few uses, the same pure allocation rule
(``openoms.domain.inventory.plan_allocation``) so that orders land where the service puts them.
Covers what the benchmark sends (a known channel, active SKUs, a customer, no idempotency
key); it is not a second implementation of capture.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy.engine import make_url

from openoms.domain.inventory import (
    Candidate,
    InsufficientStock,
    LineDemand,
    StockPosition,
    plan_allocation,
)

CHANNEL = "SELECT id, active FROM channels WHERE code = %s"
SNAPSHOT = """
SELECT p.id, p.sku, p.active, s.location_id, s.on_hand, s.reserved, s.code, s.priority
FROM products p LEFT OUTER JOIN (
    SELECT sl.product_id, sl.location_id, sl.on_hand, sl.reserved, l.code, l.priority
    FROM stock_levels sl JOIN locations l ON l.id = sl.location_id
    WHERE l.active AND l.ships
) s ON s.product_id = p.id
WHERE p.sku = ANY(%s)
"""
CUSTOMER = """
INSERT INTO customers (email, name, phone, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (email) DO UPDATE SET name = coalesce(excluded.name, customers.name),
    phone = coalesce(excluded.phone, customers.phone)
RETURNING id, email, name, phone, created_at, updated_at
"""
ORDER = """
INSERT INTO orders (channel_id, external_order_id, customer_id, status, currency, subtotal, discount_total,
    tax_total, shipping_total, grand_total, service_level, shipping_address, billing_address, placed_at,
    sourcing_rule, captured_by, notes, version, created_at, updated_at)
VALUES (%s, %s, %s, 'allocated', %s, %s, %s, %s, %s, %s, 'standard', %s, NULL, %s, %s, %s, NULL, 1, %s, %s)
ON CONFLICT (channel_id, external_order_id) DO NOTHING
RETURNING id
"""
RESERVE = """
UPDATE stock_levels SET reserved = reserved + %(q)s, updated_at = %(now)s
WHERE product_id = %(p)s AND location_id = %(l)s AND on_hand - reserved - safety_stock >= %(q)s
RETURNING reorder_point, low_since
"""
LINE_COLUMNS = (
    "(order_id, line_number, external_line_id, product_id, sku, quantity, quantity_cancelled, "
    "quantity_shipped, unit_price, discount, tax, status)"
)
LINE_VALUES = "(%s, %s, NULL, %s, %s, %s, 0, 0, %s, %s, %s, 'allocated')"
RESERVATION = (
    "INSERT INTO reservations (order_id, order_line_id, product_id, location_id, quantity) VALUES (%s, %s, %s, %s, %s)"
)
LEDGER = """
INSERT INTO inventory_ledger (product_id, location_id, entry_type, on_hand_delta, reserved_delta, reason, reference,
    order_id, order_line_id, actor, created_at)
VALUES (%s, %s, 'reservation', 0, %s, NULL, %s, %s, %s, %s, %s)
"""
EVENT = """
INSERT INTO order_events (order_id, event_type, actor, message, data, created_at)
VALUES (%s, 'order.placed', %s, %s, %s, %s)
"""
OUTBOX = """
INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload, created_at, available_at, attempts)
VALUES (%s, 'order.placed', 'order', %s, %s, %s, %s, 0)
"""

OK, REJECTED, ERROR = 0, 1, 2
CENT = Decimal("0.01")


class _LostRace(Exception):
    pass


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


class BareCapture:
    """One client: one connection, one transaction per order."""

    def __init__(self, database_url: str, actor: str) -> None:
        url = make_url(database_url)
        self.conn = psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
        )
        self.actor = actor

    def close(self) -> None:
        self.conn.close()

    def send(self, order: dict[str, Any]) -> tuple[int, str]:
        for _ in range(5):
            try:
                with self.conn.transaction():
                    return self._capture(order)
            except _LostRace:
                continue
            except InsufficientStock:
                return REJECTED, "409 insufficient_stock"
        return REJECTED, "409 stock_conflict"

    def _capture(self, order: dict[str, Any]) -> tuple[int, str]:
        cur = self.conn.cursor()
        now = dt.datetime.now(dt.UTC)
        lines = order["lines"]
        channel = cur.execute(CHANNEL, (order["channel"],)).fetchone()
        if channel is None or not channel[1]:
            return ERROR, "unknown channel"
        skus = sorted({ln["sku"] for ln in lines})
        product_ids: dict[str, int] = {}
        stock: dict[tuple[int, int], StockPosition] = {}
        cands: dict[int, Candidate] = {}
        for pid, sku, active, loc, on_hand, reserved, code, priority in cur.execute(SNAPSHOT, (skus,)):
            if not active:
                return ERROR, f"inactive SKU {sku}"
            product_ids[sku] = pid
            if loc is not None:
                stock[(pid, loc)] = StockPosition(on_hand, reserved)
                cands[loc] = Candidate(loc, code, priority)
        if len(product_ids) != len(skus):
            return ERROR, "unknown SKU"
        demands = [LineDemand(i, product_ids[ln["sku"]], ln["sku"], ln["quantity"]) for i, ln in enumerate(lines)]
        plan = plan_allocation(demands, stock, list(cands.values()))

        cust = order["customer"]
        customer = cur.execute(CUSTOMER, (cust["email"].strip().lower(), cust["name"], None, now, now)).fetchone()
        assert customer is not None  # an upsert with RETURNING always returns the row
        customer_id = customer[0]
        prices = [(Decimal(ln["unit_price"]), Decimal(ln.get("discount", 0)), Decimal(ln["tax"])) for ln in lines]
        subtotal = sum((p * ln["quantity"] for (p, _, _), ln in zip(prices, lines, strict=True)), Decimal(0))
        discount = sum((d for _, d, _ in prices), Decimal(0))
        shipping = Decimal(order.get("shipping_total", 0))
        tax = sum((t for _, _, t in prices), Decimal(0))
        grand = subtotal - discount + tax + shipping
        row = cur.execute(
            ORDER,
            (
                channel[0],
                order["external_order_id"],
                customer_id,
                order["currency"],
                subtotal.quantize(CENT),
                discount.quantize(CENT),
                tax.quantize(CENT),
                shipping.quantize(CENT),
                grand.quantize(CENT),
                Json(order.get("shipping_address"), dumps=_dumps),
                now,
                plan.rule,
                self.actor,
                now,
                now,
            ),
        ).fetchone()
        if row is None:
            return OK, "200 replayed"
        order_id = row[0]
        ref = f"SO-{order_id:07d}"
        for p, loc, q in plan.stock_deltas():
            cur.execute(RESERVE, {"q": q, "now": now, "p": p, "l": loc})
            if cur.rowcount != 1:
                raise _LostRace
        values = ", ".join([LINE_VALUES] * len(lines))
        params: list[Any] = []
        for i, (ln, (price, disc, t)) in enumerate(zip(lines, prices, strict=True)):
            params += [order_id, i + 1, product_ids[ln["sku"]], ln["sku"], ln["quantity"], price, disc, t]
        line_ids = {
            number: lid
            for lid, number in cur.execute(
                f"INSERT INTO order_lines {LINE_COLUMNS} VALUES {values} RETURNING id, line_number", params
            ).fetchall()
        }
        cur.executemany(
            RESERVATION,
            [(order_id, line_ids[a.line_index + 1], a.product_id, a.location_id, a.quantity) for a in plan.allocations],
        )
        cur.executemany(
            LEDGER,
            [
                (a.product_id, a.location_id, a.quantity, ref, order_id, line_ids[a.line_index + 1], self.actor, now)
                for a in plan.allocations
            ],
        )
        where = [
            {
                "line": a.line_index + 1,
                "sku": lines[a.line_index]["sku"],
                "location": cands[a.location_id].code,
                "quantity": a.quantity,
            }
            for a in plan.allocations
        ]
        message = (
            f"Captured from {order['channel']} ({order['external_order_id']}); reserved at "
            f"{', '.join(sorted({w['location'] for w in where}))} by rule {plan.rule}"
        )
        cur.execute(EVENT, (order_id, self.actor, message, Json({"allocations": where, "rule": plan.rule}), now))
        event_id = str(uuid.uuid4())
        payload = {
            "event_id": event_id,
            "type": "order.placed",
            "occurred_at": now.isoformat(),
            "order": {
                "id": order_id,
                "order_number": ref,
                "channel": order["channel"],
                "external_order_id": order["external_order_id"],
                "status": "allocated",
                "currency": order["currency"],
                "grand_total": str(grand.quantize(CENT)),
                "lines": [{"sku": ln["sku"], "quantity": ln["quantity"]} for ln in lines],
                "allocations": where,
            },
        }
        cur.execute(OUTBOX, (event_id, str(order_id), Json(payload), now, now))
        return OK, "201"
