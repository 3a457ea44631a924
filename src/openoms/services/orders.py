"""Order use cases: capture with reservation, cancellation, holds, notes, queries.

Each command is one unit of work: the order, its lines, reservations, ledger rows, timeline
entry and outbox message are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Channel,
    Customer,
    Location,
    Order,
    OrderEvent,
    OrderHold,
    OrderLine,
    Product,
    Reservation,
    StockLevel,
    table,
)
from openoms.domain import money
from openoms.domain import orders as rules
from openoms.domain.backorders import BackorderPolicy, LotRoom, may_wait, sellable_from_shelf, split_shelf_and_lots
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.domain.events import EventType
from openoms.domain.inventory import (
    Allocation,
    AllocationPlan,
    InboundLot,
    InsufficientStock,
    LedgerEntryType,
    Shortage,
    StockPosition,
    inbound_ready_at,
)
from openoms.domain.orders import HoldType, LineStatus, OrderStatus
from openoms.services import backorders, fulfillment, idempotency, pickup, sourcing
from openoms.services import network as network_service
from openoms.services.catalog import upsert_customer
from openoms.services.common import Actor, utcnow

orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
holds_t = table(OrderHold)
events_t = table(OrderEvent)
channels_t = table(Channel)
products_t = table(Product)
locations_t = table(Location)
stock_t = table(StockLevel)
customers_t = table(Customer)

MAX_RESERVE_ATTEMPTS = 5


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    external_line_id: str | None = None


@dataclass(frozen=True)
class CustomerInput:
    email: str
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class CaptureOrder:
    """An order as a channel sent it, already shape-checked at the edge."""

    channel: str
    lines: Sequence[LineInput]
    currency: str
    external_order_id: str | None = None
    customer: CustomerInput | None = None
    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    shipping_total: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    service_level: str = "standard"
    placed_at: dt.datetime | None = None
    notes: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    language: str | None = None  # BCP 47, for customer e-mails (docs/notifications.md)
    fulfilment_method: str = "ship"  # or "pickup" / "curbside" at ``pickup_location`` (services/pickup.py)
    pickup_location: str | None = None


@dataclass(frozen=True)
class CaptureResult:
    order_id: int
    created: bool  # False: an earlier capture of the same order was returned
    order: dict[str, Any] | None = None  # the new order, shaped like get_order's result


def _check_amounts(cmd: CaptureOrder) -> None:
    errors: list[FieldError] = []
    cur = cmd.currency
    if not money.is_currency(cur):
        raise validation_error("currency", f"{cur!r} is not an ISO 4217 currency code")

    def fits(path: str, amount: Decimal) -> None:
        if amount < 0:
            errors.append(FieldError(path, "must not be negative"))
        elif not money.fits_currency(amount, cur):
            errors.append(FieldError(path, f"{amount} has more decimals than {cur} allows ({money.minor_units(cur)})"))

    if not cmd.lines:
        errors.append(FieldError("lines", "an order needs at least one line"))
    for i, line in enumerate(cmd.lines):
        # The API checks this too; every other caller (phone orders, imports) gets it here.
        if line.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
        fits(f"lines[{i}].unit_price", line.unit_price)
        fits(f"lines[{i}].discount", line.discount)
        fits(f"lines[{i}].tax", line.tax)
        if line.discount > line.unit_price * line.quantity:
            errors.append(FieldError(f"lines[{i}].discount", "is larger than the line's price"))
    fits("shipping_total", cmd.shipping_total)
    fits("shipping_tax", cmd.shipping_tax)
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)


def _totals(cmd: CaptureOrder) -> dict[str, Decimal]:
    subtotal = sum((ln.unit_price * ln.quantity for ln in cmd.lines), Decimal(0))
    discount = sum((ln.discount for ln in cmd.lines), Decimal(0))
    tax = sum((ln.tax for ln in cmd.lines), Decimal(0)) + cmd.shipping_tax
    cur = cmd.currency
    return {
        "subtotal": money.quantize(subtotal, cur),
        "discount_total": money.quantize(discount, cur),
        "tax_total": money.quantize(tax, cur),
        "shipping_total": money.quantize(cmd.shipping_total, cur),
        "grand_total": money.quantize(subtotal - discount + tax + cmd.shipping_total, cur),
    }


#: Order amounts are NUMERIC(18, 4): anything from here up cannot be stored.
MAX_STORED_AMOUNT = Decimal(10) ** 14


def _check_totals(totals: dict[str, Decimal]) -> None:
    """Each amount fits its column on its own; their sums may not (a 500 on PostgreSQL)."""
    errors = [
        FieldError("lines", f"the order's {name} {value} is larger than OpenOMS stores (under {MAX_STORED_AMOUNT})")
        for name, value in totals.items()
        if value >= MAX_STORED_AMOUNT
    ]
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)


def _insert_fn(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _stock_snapshot(conn: Connection, skus: Sequence[str]) -> list[Any]:
    """Products by SKU with their stock at every active shipping location: one round trip."""
    loc_stock = (
        select(
            stock_t.c.product_id,
            stock_t.c.location_id,
            stock_t.c.on_hand,
            stock_t.c.reserved,
            stock_t.c.safety_stock,
            locations_t.c.code,
            locations_t.c.priority,
        )
        .join(locations_t, locations_t.c.id == stock_t.c.location_id)
        .where(locations_t.c.active, locations_t.c.ships)
        .subquery()
    )
    stmt = (
        select(
            products_t.c.id,
            products_t.c.sku,
            products_t.c.active,
            products_t.c.weight_grams,
            products_t.c.length_mm,
            products_t.c.width_mm,
            products_t.c.height_mm,
            products_t.c.hazmat,
            products_t.c.high_value,
            products_t.c.backorder_policy,
            loc_stock.c.location_id,
            loc_stock.c.on_hand,
            loc_stock.c.reserved,
            loc_stock.c.safety_stock,
            loc_stock.c.code,
            loc_stock.c.priority,
        )
        .select_from(products_t.outerjoin(loc_stock, loc_stock.c.product_id == products_t.c.id))
        .where(products_t.c.sku.in_(sorted(set(skus))))
    )
    return list(conn.execute(stmt).all())


def capture_order(
    db: Database,
    cmd: CaptureOrder,
    actor: Actor,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> CaptureResult:
    """Capture an order and reserve its stock, or refuse it and change nothing.

    Idempotent twice over: a second capture with the same ``(channel, external_order_id)``
    or the same ``Idempotency-Key`` returns the first order, even when both arrive at once
    (the unique index makes the second wait for the first to commit).
    """
    _check_amounts(cmd)
    totals = _totals(cmd)
    _check_totals(totals)
    skus = [ln.sku for ln in cmd.lines]
    for attempt in range(MAX_RESERVE_ATTEMPTS):
        try:
            with db.begin() as conn:
                return _capture_once(db, conn, cmd, actor, totals, skus, idempotency_key, request_hash)
        except stock_db.LostRace:
            if attempt == MAX_RESERVE_ATTEMPTS - 1:
                raise DomainError(
                    ErrorCode.STOCK_CONFLICT,
                    "Stock for this order kept changing while it was being reserved; "
                    "nothing was reserved, send the order again",
                ) from None
    raise AssertionError("unreachable")


def _capture_once(
    db: Database,
    conn: Connection,
    cmd: CaptureOrder,
    actor: Actor,
    totals: dict[str, Decimal],
    skus: list[str],
    idempotency_key: str | None,
    request_hash: str | None,
) -> CaptureResult:
    """One attempt, in as few round trips as it takes: claim the key, read stock and plan,
    insert the order (the unique index settles duplicates), reserve, then write lines,
    reservations, ledger, timeline and outbox."""
    now = utcnow()
    if idempotency_key:
        prior = idempotency.claim(conn, actor.name, idempotency_key, request_hash or "")
        if prior is not None:
            return CaptureResult(int(prior.resource_id or 0), created=False)

    channel = conn.execute(
        select(channels_t.c.id, channels_t.c.active, channels_t.c.accepts_backorders).where(
            channels_t.c.code == cmd.channel
        )
    ).first()
    if channel is None:
        raise validation_error("channel", f"unknown channel {cmd.channel!r}", ErrorCode.UNKNOWN_CHANNEL)
    if not channel.active:
        raise validation_error("channel", f"channel {cmd.channel!r} is inactive", ErrorCode.UNKNOWN_CHANNEL)

    waits: _BackorderPlan | None = None
    try:
        try:
            product_ids, codes, sourced = _plan(db, conn, cmd, skus, now)
        except InsufficientStock as short:
            if cmd.fulfilment_method != "ship" or cmd.pickup_location:
                raise  # a pickup order is collected at its store: never backordered elsewhere (docs/pickup.md)
            waits = _plan_backorder(db, conn, cmd, skus, now, short, bool(channel.accepts_backorders))
            product_ids, codes, sourced = waits.product_ids, waits.codes, waits.sourced
    except DomainError:
        # A repeat of an order that was captured must get that order back, even if the
        # stock it took is gone by now.
        existing = _existing_order_id(conn, channel.id, cmd.external_order_id)
        if existing is None:
            raise
        return _replayed(conn, actor, idempotency_key, existing)

    customer = None
    if cmd.customer is not None:
        customer = upsert_customer(conn, cmd.customer.email, cmd.customer.name, cmd.customer.phone)

    plan = sourced.plan if waits is None else waits.reserve
    promise = sourced.promise
    line_statuses = [
        LineStatus.BACKORDERED if waits is not None and waits.waiting.get(i) else LineStatus.ALLOCATED
        for i in range(len(cmd.lines))
    ]
    status = rules.rollup_status(line_statuses)
    order_id = conn.execute(
        _insert_fn(conn)(orders_t)
        .values(
            channel_id=channel.id,
            external_order_id=cmd.external_order_id,
            customer_id=customer["id"] if customer else None,
            status=status.value,
            currency=cmd.currency,
            service_level=cmd.service_level,
            shipping_address=cmd.shipping_address,
            billing_address=cmd.billing_address,
            placed_at=cmd.placed_at or now,
            sourcing_rule=plan.rule,
            captured_by=actor.name,
            notes=cmd.notes,
            language=cmd.language,
            created_at=now,
            updated_at=now,
            version=1,
            promised_ship_date=promise.ship_date if promise else None,
            promised_earliest=promise.earliest if promise else None,
            promised_latest=promise.latest if promise else None,
            **totals,
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "external_order_id"])
        .returning(orders_t.c.id)
    ).scalar()
    if order_id is None:
        existing = _existing_order_id(conn, channel.id, cmd.external_order_id)
        assert existing is not None  # the conflict that stopped the insert is this order
        return _replayed(conn, actor, idempotency_key, existing)
    ref = rules.order_number(order_id)
    rules.check_order_transition(ref, OrderStatus.CREATED, status)
    collect = None
    if cmd.fulfilment_method != "ship" and cmd.pickup_location:
        collect = pickup.record_pickup(conn, order_id, cmd.fulfilment_method, cmd.pickup_location)

    if waits is None:
        stock_db.reserve(conn, plan.stock_deltas(), now)
    else:
        _reserve_and_claim(conn, waits, codes, now)

    line_rows = [
        {
            "order_id": order_id,
            "line_number": i + 1,
            "external_line_id": ln.external_line_id,
            "product_id": product_ids[ln.sku],
            "sku": ln.sku,
            "quantity": ln.quantity,
            "quantity_cancelled": 0,
            "quantity_shipped": 0,
            "unit_price": ln.unit_price,
            "discount": ln.discount,
            "tax": ln.tax,
            "status": line_statuses[i].value,
        }
        for i, ln in enumerate(cmd.lines)
    ]
    line_ids = (
        conn.execute(insert(lines_t).returning(lines_t.c.id, sort_by_parameter_order=True), line_rows).scalars().all()
    )
    if plan.allocations:
        conn.execute(
            insert(res_t),
            [
                {
                    "order_id": order_id,
                    "order_line_id": line_ids[a.line_index],
                    "product_id": a.product_id,
                    "location_id": a.location_id,
                    "quantity": a.quantity,
                }
                for a in plan.allocations
            ],
        )
    waiting_where: list[dict[str, Any]] = []
    if waits is not None:
        backorders.record(
            conn,
            order_id,
            [
                backorders.NewBackorder(
                    line_ids[c.line_index], c.product_id, c.location_id, c.inbound_id, c.expected_at, c.quantity
                )
                for c in waits.claims
            ],
            now,
        )
        waiting_where = [
            {
                "line": c.line_index + 1,
                "sku": cmd.lines[c.line_index].sku,
                "location": codes[c.location_id],
                "quantity": c.quantity,
                "expected_at": c.expected_at.isoformat(),
                "inbound_reference": c.reference,
            }
            for c in waits.claims
        ]
    stock_db.append_ledger(
        conn,
        [
            stock_db.LedgerRow(
                a.product_id,
                a.location_id,
                LedgerEntryType.RESERVATION,
                0,
                a.quantity,
                actor.name,
                reference=ref,
                order_id=order_id,
                order_line_id=line_ids[a.line_index],
            )
            for a in plan.allocations
        ],
        now,
    )
    where: list[dict[str, Any]] = [
        {
            "line": a.line_index + 1,
            "sku": cmd.lines[a.line_index].sku,
            "location": codes[a.location_id],
            "quantity": a.quantity,
        }
        for a in plan.allocations
    ]
    message = (
        f"Captured from {cmd.channel}"
        + (f" ({cmd.external_order_id})" if cmd.external_order_id else "")
        + (f"; reserved at {', '.join(sorted({w['location'] for w in where}))}" if where else "")
        + f" by rule {plan.rule}"
        + (
            "; backordered "
            + ", ".join(
                f"line {w['line']} ({w['sku']}) x{w['quantity']} at {w['location']}, expected "
                f"{w['expected_at'][:10]}" + (f" ({w['inbound_reference']})" if w["inbound_reference"] else "")
                for w in waiting_where
            )
            if waiting_where
            else ""
        )
        + (f"; {sourcing.promise_phrase(promise)}" if promise else "")
    )
    event_data: dict[str, Any] = {"allocations": where, "rule": plan.rule, "promise": sourcing.promise_dict(promise)}
    if waiting_where:
        event_data["backordered"] = waiting_where
    if sourced.notes:
        event_data["notes"] = list(sourced.notes)
    sourcing.record_decision(conn, order_id, "capture", sourced, actor.name, now)
    record_order_event(
        conn,
        order_id=order_id,
        event_type=EventType.ORDER_PLACED,
        actor=actor.name,
        message=message,
        data=event_data,
        publish={
            "order": {
                "id": order_id,
                "order_number": ref,
                "channel": cmd.channel,
                "external_order_id": cmd.external_order_id,
                "status": status.value,
                "currency": cmd.currency,
                "grand_total": str(totals["grand_total"]),
                "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in cmd.lines],
                "allocations": where,
                "backordered": waiting_where,
            }
        },
        now=now,
    )
    if idempotency_key:
        idempotency.complete(conn, actor.name, idempotency_key, "order", str(order_id))

    # The new order as get_order would read it, built from what is in hand: no re-read.
    by_line: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for w in where:
        by_line[w["line"]].append({"location": w["location"], "quantity": w["quantity"]})
    order = {
        "id": order_id,
        "order_number": ref,
        "channel": cmd.channel,
        "external_order_id": cmd.external_order_id,
        "customer_id": customer["id"] if customer else None,
        "customer": customer,
        "status": status.value,
        "currency": cmd.currency,
        "service_level": cmd.service_level,
        "shipping_address": cmd.shipping_address,
        "billing_address": cmd.billing_address,
        "placed_at": (cmd.placed_at or now).astimezone(dt.UTC),  # as stored, and as get_order reads it
        "sourcing_rule": plan.rule,
        "promise": _promise_view(promise.ship_date, promise.earliest, promise.latest) if promise else None,
        "promised_ship_date": promise.ship_date if promise else None,
        "promised_earliest": promise.earliest if promise else None,
        "promised_latest": promise.latest if promise else None,
        "captured_by": actor.name,
        "notes": cmd.notes,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        **totals,
        "lines": [
            {
                **row,
                "id": line_ids[i],
                "reservations": by_line[i + 1],
                "quantity_open": row["quantity"],
                "quantity_reserved": row["quantity"] - (waits.waiting.get(i, 0) if waits else 0),
                "quantity_backordered": waits.waiting.get(i, 0) if waits else 0,
                "expected_at": waits.expected.get(i) if waits else None,
            }
            for i, row in enumerate(line_rows)
        ],
        "holds": [],
        "pickup": collect,
        "timeline": [
            {
                "event_type": EventType.ORDER_PLACED.value,
                "actor": actor.name,
                "message": message,
                "data": event_data,
                "created_at": now,
            }
        ],
    }
    return CaptureResult(order_id, created=True, order=_money_view(order))


def _snapshot(
    conn: Connection, skus: list[str]
) -> tuple[dict[str, sourcing.ProductFacts], dict[tuple[int, int], StockPosition], dict[int, str], dict[int, str]]:
    """Products by SKU and their stock positions, from one read; unknown or inactive SKUs
    refused. Also each product's backorder policy (by product id)."""
    rows = _stock_snapshot(conn, skus)
    facts: dict[str, sourcing.ProductFacts] = {}
    policies: dict[int, str] = {}
    inactive: set[str] = set()
    stock: dict[tuple[int, int], StockPosition] = {}
    codes: dict[int, str] = {}
    for r in rows:
        if r.sku not in facts:
            facts[r.sku] = sourcing.ProductFacts(
                int(r.id), r.sku, r.weight_grams, r.length_mm, r.width_mm, r.height_mm, r.hazmat, r.high_value
            )
            policies[int(r.id)] = r.backorder_policy
        if not r.active:
            inactive.add(r.sku)
        if r.location_id is not None:
            stock[(int(r.id), int(r.location_id))] = StockPosition(r.on_hand, r.reserved, r.safety_stock)
            codes[int(r.location_id)] = r.code
    bad = [
        FieldError(f"lines[{i}].sku", f"unknown SKU {s!r}" if s not in facts else f"SKU {s!r} is inactive")
        for i, s in enumerate(skus)
        if s not in facts or s in inactive
    ]
    if bad:
        raise DomainError(ErrorCode.UNKNOWN_SKU, "; ".join(f"{e.field}: {e.reason}" for e in bad), bad)
    return facts, stock, codes, policies


def _plan(
    db: Database, conn: Connection, cmd: CaptureOrder, skus: list[str], now: dt.datetime
) -> tuple[dict[str, int], dict[int, str], sourcing.SourcingPlan]:
    """Resolve SKUs and choose locations from one stock snapshot (no writes)."""
    facts, stock, codes, policies = _snapshot(conn, skus)
    preorders = [
        Shortage(i, ln.sku, ln.quantity, 0)
        for i, ln in enumerate(cmd.lines)
        if policies[facts[ln.sku].product_id] == BackorderPolicy.PREORDER
    ]
    if preorders:  # not sold from the shelf yet: only ever captured against inbound
        raise InsufficientStock(preorders)
    if cmd.fulfilment_method != "ship" or cmd.pickup_location:  # collected at a store: reserved there only
        lines = [(facts[ln.sku], ln.quantity) for ln in cmd.lines]
        return pickup.plan_pickup(
            db, conn, method=cmd.fulfilment_method, pickup_location=cmd.pickup_location, lines=lines, now=now
        )
    sourced = sourcing.plan_order(
        db,
        conn,
        lines=[(facts[ln.sku], ln.quantity) for ln in cmd.lines],
        stock=stock,
        shipping_address=cmd.shipping_address,
        channel=cmd.channel,
        service_level=cmd.service_level,
        now=now,
    )
    return {sku: f.product_id for sku, f in facts.items()}, codes, sourced


def _plan_from_inbound(
    db: Database, conn: Connection, cmd: CaptureOrder, skus: list[str], now: dt.datetime
) -> tuple[sourcing.SourcingPlan, list[str], set[str], dict[str, int]] | None:
    """The quote when the shelves are short: each location may also count the stock it
    expects (purchase orders, transfers), and ships once the last lot it needs has arrived."""
    facts, stock, _, policies = _snapshot(conn, skus)
    needed: dict[int, int] = defaultdict(int)
    for ln in cmd.lines:
        needed[facts[ln.sku].product_id] += ln.quantity
    # Units earlier backorders claimed are not promised twice.
    lots: dict[int, dict[int, list[InboundLot]]] = defaultdict(dict)
    for (pid, loc), rooms in backorders.lot_room(conn, needed).items():
        lots[loc][pid] = [InboundLot(r.expected_at, r.free, r.reference, r.inbound_id) for r in rooms]
    if not lots:
        return None
    net = network_service.current_network(db, conn)
    code_of = {loc.id: loc.profile.code for loc in net.locations}
    counted: dict[tuple[int, int], StockPosition] = dict(stock)
    ready_at: dict[str, dt.datetime] = {}
    notes: list[str] = []
    for loc_id, by_product in lots.items():
        if loc_id not in code_of:
            continue
        shelf = {
            pid: sellable_from_shelf(policies[pid], stock[(pid, loc_id)].available)
            for pid in needed
            if (pid, loc_id) in stock
        }
        units, ready, used = inbound_ready_at(needed, shelf, by_product)
        if ready is None:
            continue
        for pid, n in units.items():
            counted[(pid, loc_id)] = StockPosition(n, 0)
        ready_at[code_of[loc_id]] = max(ready, now)
        notes.append(
            f"{code_of[loc_id]} counts inbound: "
            + ", ".join(
                f"{lot.quantity} expected {lot.expected_at:%Y-%m-%d}" + (f" ({lot.reference})" if lot.reference else "")
                for lot in used
            )
        )
    sourced = sourcing.plan_order(
        db,
        conn,
        lines=[(facts[ln.sku], ln.quantity) for ln in cmd.lines],
        stock=counted,
        shipping_address=cmd.shipping_address,
        channel=cmd.channel,
        service_level=cmd.service_level,
        now=now,
        ready_at=ready_at,
    )
    chosen = {code_of[a.location_id] for a in sourced.plan.allocations}
    used_notes = [n for n in notes if n.split(" ", 1)[0] in chosen]
    return sourced, used_notes, chosen & set(ready_at), {f.sku: f.product_id for f in facts.values()}


@dataclass(frozen=True)
class _Claim:
    """Units of one order line waiting at a location for one inbound lot."""

    line_index: int
    product_id: int
    location_id: int
    inbound_id: int
    expected_at: dt.datetime
    quantity: int
    reference: str | None


@dataclass(frozen=True)
class _BackorderPlan:
    """A capture whose short units wait for inbound lots: what the shelves give now (``reserve``)
    and what each lot is claimed for."""

    product_ids: dict[str, int]
    codes: dict[int, str]
    sourced: sourcing.SourcingPlan
    reserve: AllocationPlan
    claims: list[_Claim]
    policies: dict[int, str]
    waiting: dict[int, int]  # line index -> units waiting
    expected: dict[int, dt.datetime]  # line index -> latest expected arrival of its units


def _refuse_backorder(
    cmd: CaptureOrder, short: InsufficientStock, policies: dict[int, str], facts: dict[str, Any], accepts: bool
) -> None:
    """The capture may only wait for inbound when every short line's product and the channel
    allow it; otherwise it is refused as before, with a line-by-line reason."""
    short_lines = {s.line_index for s in short.shortages}
    bad: list[FieldError] = []
    for i in sorted(short_lines):
        ln = cmd.lines[i]
        policy = policies[facts[ln.sku].product_id]
        if may_wait(policy, accepts):
            continue
        if policy == BackorderPolicy.NONE:
            continue  # the original shortage already names this line
        bad.append(
            FieldError(
                f"lines[{i}].sku",
                f"{ln.sku} is sold as a {policy} and channel {cmd.channel!r} does not accept backorders",
            )
        )
    if any(policies[facts[cmd.lines[i].sku].product_id] == BackorderPolicy.NONE for i in short_lines):
        raise short
    if bad:
        raise DomainError(
            ErrorCode.INSUFFICIENT_STOCK,
            "; ".join(f"{e.field}: {e.reason}" for e in bad),
            bad,
            extra=short.extra,
        )


def _plan_backorder(
    db: Database,
    conn: Connection,
    cmd: CaptureOrder,
    skus: list[str],
    now: dt.datetime,
    short: InsufficientStock,
    accepts: bool,
) -> _BackorderPlan:
    """Plan a capture whose short units wait for inbound lots, or re-raise the shortage.

    Each location counts its sellable shelf plus the lots no earlier backorder claimed, the
    routing engine chooses as usual (promising from the last lot's arrival), and each chosen
    quantity takes the shelf first and then claims lots earliest first. No writes."""
    facts, stock, codes, policies = _snapshot(conn, skus)
    _refuse_backorder(cmd, short, policies, facts, accepts)
    needed: dict[int, int] = defaultdict(int)
    for ln in cmd.lines:
        needed[facts[ln.sku].product_id] += ln.quantity
    rooms = backorders.lot_room(conn, needed)
    if not rooms:
        raise short
    net = network_service.current_network(db, conn)
    code_of = {loc.id: loc.profile.code for loc in net.locations}
    codes = {**codes, **code_of}
    shelf = {key: sellable_from_shelf(policies[key[0]], pos.available) for key, pos in stock.items()}
    counted = {key: StockPosition(n, 0) for key, n in shelf.items()}
    ready_at: dict[str, dt.datetime] = {}
    for loc_id in sorted({loc for _, loc in rooms}):
        if loc_id not in code_of:
            continue
        lots = {
            pid: [InboundLot(r.expected_at, r.free, r.reference, r.inbound_id) for r in rooms[(pid, loc_id)]]
            for pid in needed
            if (pid, loc_id) in rooms
        }
        units, ready, _ = inbound_ready_at(needed, {pid: shelf.get((pid, loc_id), 0) for pid in needed}, lots)
        if ready is None:
            continue
        for pid, n in units.items():
            counted[(pid, loc_id)] = StockPosition(n, 0)
        ready_at[code_of[loc_id]] = max(ready, now)
    sourced = sourcing.plan_order(
        db,
        conn,
        lines=[(facts[ln.sku], ln.quantity) for ln in cmd.lines],
        stock=counted,
        shipping_address=cmd.shipping_address,
        channel=cmd.channel,
        service_level=cmd.service_level,
        now=now,
        ready_at=ready_at,
    )
    shelf_left = dict(shelf)
    room_left = {key: list(v) for key, v in rooms.items()}
    reserve: list[Allocation] = []
    claims: list[_Claim] = []
    for a in sourced.plan.allocations:
        key = (a.product_id, a.location_id)
        split = split_shelf_and_lots(a.quantity, shelf_left.get(key, 0), room_left.get(key, []))
        if split is None:  # the plan counted these units; only a stale read gets here
            raise stock_db.LostRace(key)
        from_shelf, lot_claims = split
        if from_shelf:
            reserve.append(Allocation(a.line_index, a.product_id, a.location_id, from_shelf))
            shelf_left[key] -= from_shelf
        taken = {c.inbound_id: c.quantity for c in lot_claims}
        room_left[key] = [
            LotRoom(r.inbound_id, r.expected_at, r.free - taken.get(r.inbound_id, 0)) for r in room_left.get(key, [])
        ]
        ref_of = {r.inbound_id: r.reference for r in rooms[key]} if lot_claims else {}
        claims += [
            _Claim(a.line_index, *key, c.inbound_id, c.expected_at, c.quantity, ref_of[c.inbound_id])
            for c in lot_claims
        ]
    waiting: dict[int, int] = defaultdict(int)
    expected: dict[int, dt.datetime] = {}
    for c in claims:
        waiting[c.line_index] += c.quantity
        expected[c.line_index] = max(expected.get(c.line_index, c.expected_at), c.expected_at)
    return _BackorderPlan(
        {sku: f.product_id for sku, f in facts.items()},
        codes,
        sourced,
        AllocationPlan(tuple(reserve), sourced.plan.rule),
        claims,
        policies,
        dict(waiting),
        expected,
    )


def _reserve_and_claim(conn: Connection, waits: _BackorderPlan, codes: dict[int, str], now: dt.datetime) -> None:
    """Reserve the shelf units and lock the stock rows the backorders wait at, in one sorted
    pass (capture's lock order). Under those locks the queue is settled: if stock arrived since
    the snapshot, or the lots no longer have room for the plan by the promised date, the plan
    lost a race and capture re-plans (``LostRace``)."""
    deltas = {(p, loc): q for p, loc, q in waits.reserve.stock_deltas()}
    waiting_at = {(c.product_id, c.location_id) for c in waits.claims}
    for key in sorted(set(deltas) | waiting_at):
        if key in deltas:
            stock_db.reserve(conn, [(key[0], key[1], deltas[key])], now)
        if key in waiting_at:
            on_hand, reserved = stock_db.lock_stock_row(conn, key[0], key[1], now)
            safety = conn.execute(
                select(stock_t.c.safety_stock).where(stock_t.c.product_id == key[0], stock_t.c.location_id == key[1])
            ).scalar_one()
            if waits.policies[key[0]] != BackorderPolicy.PREORDER and on_hand - reserved - safety > 0:
                raise stock_db.LostRace(key)  # stock came in: it serves this order from the shelf
    rooms = backorders.lot_room(conn, {p for p, _ in waiting_at})
    room_of = {r.inbound_id: r.free for key in waiting_at for r in rooms.get(key, [])}
    for c in waits.claims:
        if room_of.get(c.inbound_id, 0) < c.quantity:
            raise stock_db.LostRace((c.product_id, c.location_id))
        room_of[c.inbound_id] -= c.quantity


def quote_promise(db: Database, cmd: CaptureOrder, *, explain: bool = False) -> dict[str, Any]:
    """Where a basket would ship from and when it would arrive, by the same code and stock
    snapshot capture uses, without reserving anything (``POST /api/v1/promise``)."""
    skus = [ln.sku for ln in cmd.lines]
    if not cmd.lines:
        raise validation_error("lines", "a quote needs at least one line")
    now = utcnow()
    with db.read() as conn:
        channel = conn.execute(select(channels_t.c.active).where(channels_t.c.code == cmd.channel)).first()
        if channel is None or not channel.active:
            reason = f"unknown channel {cmd.channel!r}" if channel is None else f"channel {cmd.channel!r} is inactive"
            raise validation_error("channel", reason, ErrorCode.UNKNOWN_CHANNEL)
        inbound_notes: list[str] = []
        from_inbound: set[str] = set()
        try:
            product_ids, _codes, sourced = _plan(db, conn, cmd, skus, now)
        except InsufficientStock:
            if cmd.fulfilment_method != "ship" or cmd.pickup_location:
                raise  # a pickup quote is for that store's shelf only
            found = _plan_from_inbound(db, conn, cmd, skus, now)
            if found is None:
                raise
            sourced, inbound_notes, from_inbound, product_ids = found
    facts = [(sourcing.ProductFacts(product_ids[ln.sku], ln.sku), ln.quantity) for ln in cmd.lines]
    promise = sourced.promise
    answer: dict[str, Any] = {
        "quoted_at": now,
        "availability": "inbound" if from_inbound else "in_stock",
        "sourcing_rule": sourced.plan.rule,
        "method": sourced.explanation["method"],
        "service_level": cmd.service_level,
        "promise": None
        if promise is None
        else {
            "ship_date": promise.ship_date,
            "earliest": promise.earliest,
            "latest": promise.latest,
            "basis": promise.basis,
        },
        "shipments": sourced.shipments(facts),
        "notes": list(sourced.notes) + inbound_notes,
    }
    if sourced.decision is not None:
        answer["carrier_cost"] = sourced.decision.chosen.breakdown.carrier_cost
        answer["currency"] = sourced.decision.chosen.breakdown.currency
    if explain:
        answer["explanation"] = sourced.explanation
    return answer


def _existing_order_id(conn: Connection, channel_id: int, external_order_id: str | None) -> int | None:
    if external_order_id is None:
        return None
    found = conn.execute(
        select(orders_t.c.id).where(
            orders_t.c.channel_id == channel_id, orders_t.c.external_order_id == external_order_id
        )
    ).scalar()
    return int(found) if found is not None else None


def _replayed(conn: Connection, actor: Actor, idempotency_key: str | None, order_id: int) -> CaptureResult:
    if idempotency_key:
        idempotency.complete(conn, actor.name, idempotency_key, "order", str(order_id))
    return CaptureResult(order_id, created=False)


# --- commands on an existing order ------------------------------------------------------


def _lock_order(conn: Connection, order_id: int) -> Any:
    """Lock the order row: commands on one order run one at a time."""
    row = conn.execute(select(orders_t).where(orders_t.c.id == order_id).with_for_update()).first()
    if row is None:
        raise NotFound("Order", rules.order_number(order_id))
    return row


def _active_holds(conn: Connection, order_id: int) -> list[HoldType]:
    return [
        HoldType(h)
        for h in conn.execute(
            select(holds_t.c.hold_type).where(holds_t.c.order_id == order_id, holds_t.c.released_at.is_(None))
        ).scalars()
    ]


Release = tuple[int, int, int, int]  # (product_id, location_id, quantity, order_line_id)


def _take_back_reservations(conn: Connection, line_id: int, units: int) -> list[Release]:
    """Reduce one line's reservations by ``units``, newest first; the stock rows are released
    later, all together and in sorted order (see ``_release_stock``)."""
    reservations = conn.execute(
        select(res_t.c.id, res_t.c.product_id, res_t.c.location_id, res_t.c.quantity)
        .where(res_t.c.order_line_id == line_id, res_t.c.quantity > 0)
        .order_by(res_t.c.id.desc())
    ).all()
    left = units
    freed: list[Release] = []
    taken: list[tuple[int, int]] = []
    for r in reservations:
        if left == 0:
            break
        take = min(left, int(r.quantity))
        conn.execute(update(res_t).where(res_t.c.id == r.id).values(quantity=res_t.c.quantity - take))
        freed.append((int(r.product_id), int(r.location_id), take, line_id))
        taken.append((int(r.id), take))
        left -= take
    if taken:  # released units no longer go to the location
        fulfillment.cancel_units(conn, taken, utcnow())
    return freed


def _release_stock(
    conn: Connection, order_id: int, freed: Sequence[Release], actor: Actor, reason: str, now: dt.datetime
) -> None:
    """Give reserved units back to available in one sorted pass: the same lock order as
    capture, so a cancel and a capture never deadlock."""
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for p, loc, q, _ in freed:
        totals[(p, loc)] += q
    stock_db.release(conn, [(p, loc, q) for (p, loc), q in totals.items()], now)
    stock_db.append_ledger(
        conn,
        [
            stock_db.LedgerRow(
                p, loc, LedgerEntryType.RELEASE, 0, -q, actor.name, reason, rules.order_number(order_id), order_id, line
            )
            for p, loc, q, line in freed
        ],
        now,
    )


def cancel_order(
    db: Database, order_id: int, reason: str, actor: Actor, *, expected_version: int | None = None
) -> None:
    """Cancel every open unit of the order and give its stock back; then the payment is
    reconciled (voided or refunded), outside the transaction."""
    from openoms.services import order_changes  # the change module builds on this one

    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        ref = rules.order_number(order_id)
        order_changes.check_version(ref, int(order.version), expected_version)
        status = OrderStatus(order.status)
        rules.check_cancellable(ref, status)
        before = order_changes.line_money(conn, order_id)
        lines = conn.execute(
            select(lines_t).where(lines_t.c.order_id == order_id).order_by(lines_t.c.line_number)
        ).all()
        cancelled = []
        freed: list[Release] = []
        now = utcnow()
        for ln in lines:
            if LineStatus(ln.status) == LineStatus.CANCELLED:
                continue
            state = _line_state(ln)
            plan = rules.plan_line_cancellation(ref, status, state, None)
            freed += _apply_line_cancellation(conn, ln, plan.quantity, plan.new_status)
            cancelled.append({"line": ln.line_number, "sku": ln.sku, "quantity": plan.quantity})
        _release_stock(conn, order_id, freed, actor, reason, now)
        new_status = _update_order_status(conn, order_id, ref, status, now)
        totals = order_changes.apply_totals(conn, order_id, before, str(order.currency), new_status)
        channel = _channel_code(conn, order.channel_id)
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.ORDER_CANCELLED,
            actor=actor.name,
            message=f"Order cancelled: {reason}",
            data={
                "reason": reason,
                "lines": cancelled,
                "channel": channel,
                "sent_to": _sent_to(channel, order.external_order_id),
                "totals": totals,
            },
            publish={
                "order": _channel_order(order, ref, new_status, channel, totals),
                "reason": reason,
                "lines": cancelled,
            },
            now=now,
        )
    order_changes.after_commit(db, order_id, reason, actor)


def cancel_lines(
    db: Database,
    order_id: int,
    items: Sequence[tuple[int, int | None]],
    reason: str,
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> None:
    """Cancel some units of some lines: ``items`` is (line_number, quantity or None for all).
    The order's totals drop by the cancelled units' share; the payment is reconciled after."""
    from openoms.services import order_changes  # the change module builds on this one

    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        ref = rules.order_number(order_id)
        order_changes.check_version(ref, int(order.version), expected_version)
        status = OrderStatus(order.status)
        before = order_changes.line_money(conn, order_id)
        by_number = {
            ln.line_number: ln for ln in conn.execute(select(lines_t).where(lines_t.c.order_id == order_id)).all()
        }
        seen: set[int] = set()
        errors = []
        for i, (number, _) in enumerate(items):
            if number not in by_number:
                errors.append(FieldError(f"lines[{i}].line_number", f"order {ref} has no line {number}"))
            elif number in seen:
                errors.append(FieldError(f"lines[{i}].line_number", f"line {number} is listed twice"))
            seen.add(number)
        if errors:
            raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
        now = utcnow()
        done = []
        freed: list[Release] = []
        for i, (number, qty) in enumerate(items):
            ln = by_number[number]
            try:
                plan = rules.plan_line_cancellation(ref, status, _line_state(ln), qty)
            except DomainError as exc:
                if exc.code == ErrorCode.VALIDATION_ERROR:
                    exc.errors = [FieldError(f"lines[{i}].quantity", e.reason) for e in exc.errors]
                raise
            freed += _apply_line_cancellation(conn, ln, plan.quantity, plan.new_status)
            done.append(
                {"line": number, "sku": ln.sku, "quantity": plan.quantity, "line_status": plan.new_status.value}
            )
        _release_stock(conn, order_id, freed, actor, reason, now)
        new_status = _update_order_status(conn, order_id, ref, status, now)
        totals = order_changes.apply_totals(conn, order_id, before, str(order.currency), new_status)
        channel = _channel_code(conn, order.channel_id)
        summary = ", ".join(f"line {d['line']} ({d['sku']}) x{d['quantity']}" for d in done)
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.ORDER_LINE_CANCELLED,
            actor=actor.name,
            message=f"Cancelled {summary}: {reason}",
            data={
                "reason": reason,
                "lines": done,
                "order_status": new_status.value,
                "channel": channel,
                "sent_to": _sent_to(channel, order.external_order_id),
                "totals": totals,
            },
            publish={
                "order": _channel_order(order, ref, new_status, channel, totals),
                "reason": reason,
                "lines": done,
            },
            now=now,
        )
    order_changes.after_commit(db, order_id, reason, actor)


def _channel_code(conn: Connection, channel_id: int) -> str:
    return str(conn.execute(select(channels_t.c.code).where(channels_t.c.id == channel_id)).scalar_one())


def _sent_to(channel: str, external_order_id: str | None) -> str:
    """The timeline's note that the originating channel is told (the worker delivers it)."""
    return (
        f"Change sent to channel {channel}"
        + (f" (order {external_order_id})" if external_order_id else "")
        + (" through the outbox")
    )


def _channel_order(order: Any, ref: str, status: OrderStatus, channel: str, totals: dict[str, str]) -> dict[str, Any]:
    """The order as an outbox event names it, so a channel adapter can find it on its platform."""
    return {
        "id": int(order.id),
        "order_number": ref,
        "status": status.value,
        "channel": channel,
        "external_order_id": order.external_order_id,
        "currency": order.currency,
        "grand_total": totals["grand_total"],
    }


def _line_state(ln: Any) -> rules.LineState:
    return rules.LineState(
        int(ln.id),
        int(ln.line_number),
        LineStatus(ln.status),
        int(ln.quantity),
        int(ln.quantity_cancelled),
        int(ln.quantity_shipped),
    )


def _apply_line_cancellation(conn: Connection, ln: Any, quantity: int, new_status: LineStatus) -> list[Release]:
    """Cancel units of one line; returns the reservations to give back to stock."""
    freed: list[Release] = []
    left = quantity
    if LineStatus(ln.status) == LineStatus.BACKORDERED:
        # Units not here yet go first: their lot claims are given back to later captures.
        dropped, still_waiting, had_backorders = backorders.drop_waiting(conn, int(ln.id), quantity)
        left -= dropped
        if had_backorders and still_waiting == 0 and new_status == LineStatus.BACKORDERED:
            new_status = LineStatus.ALLOCATED  # what is left of the line is all reserved
    if left and LineStatus(ln.status) in (LineStatus.ALLOCATED, LineStatus.RELEASED, LineStatus.BACKORDERED):
        freed = _take_back_reservations(conn, int(ln.id), left)
    conn.execute(
        update(lines_t)
        .where(lines_t.c.id == ln.id)
        .values(quantity_cancelled=lines_t.c.quantity_cancelled + quantity, status=new_status.value)
    )
    return freed


def _update_order_status(
    conn: Connection, order_id: int, ref: str, current: OrderStatus, now: dt.datetime
) -> OrderStatus:
    statuses = [
        LineStatus(s) for s in conn.execute(select(lines_t.c.status).where(lines_t.c.order_id == order_id)).scalars()
    ]
    new = rules.rollup_status(statuses)
    rules.check_order_transition(ref, current, new)
    conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_id)
        .values(status=new.value, updated_at=now, version=orders_t.c.version + 1)
    )
    return new


def place_hold(db: Database, order_id: int, hold: HoldType, reason: str, actor: Actor) -> None:
    """Stop the order from being released until someone releases the hold."""
    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        ref = rules.order_number(order_id)
        rules.check_can_place_hold(ref, OrderStatus(order.status), _active_holds(conn, order_id), hold)
        now = utcnow()
        conn.execute(
            insert(holds_t).values(
                order_id=order_id, hold_type=hold.value, reason=reason, placed_by=actor.name, placed_at=now
            )
        )
        _touch(conn, order_id, now)
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.ORDER_HOLD_PLACED,
            actor=actor.name,
            message=f"{hold.value.capitalize()} hold placed: {reason}",
            data={"hold": hold.value, "reason": reason},
            publish={"order": {"id": order_id, "order_number": ref}, "hold": hold.value, "reason": reason},
            now=now,
        )


def release_hold(db: Database, order_id: int, hold: HoldType, reason: str, actor: Actor) -> None:
    with db.begin() as conn:
        _lock_order(conn, order_id)
        ref = rules.order_number(order_id)
        rules.check_can_release_hold(ref, _active_holds(conn, order_id), hold)
        now = utcnow()
        conn.execute(
            update(holds_t)
            .where(holds_t.c.order_id == order_id, holds_t.c.hold_type == hold.value, holds_t.c.released_at.is_(None))
            .values(released_at=now, released_by=actor.name, release_reason=reason)
        )
        _touch(conn, order_id, now)
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.ORDER_HOLD_RELEASED,
            actor=actor.name,
            message=f"{hold.value.capitalize()} hold released: {reason}",
            data={"hold": hold.value, "reason": reason},
            publish={"order": {"id": order_id, "order_number": ref}, "hold": hold.value, "reason": reason},
            now=now,
        )


def add_note(db: Database, order_id: int, text: str, actor: Actor) -> None:
    with db.begin() as conn:
        _lock_order(conn, order_id)
        now = utcnow()
        _touch(conn, order_id, now)
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.ORDER_NOTE_ADDED,
            actor=actor.name,
            message=text,
            data=None,
            now=now,
        )


def _touch(conn: Connection, order_id: int, now: dt.datetime) -> None:
    conn.execute(
        update(orders_t).where(orders_t.c.id == order_id).values(updated_at=now, version=orders_t.c.version + 1)
    )


# --- queries ----------------------------------------------------------------------------


def get_order(db: Database, order_id: int) -> dict[str, Any]:
    """The order with lines, reservations per location, holds and its timeline."""
    with db.read() as conn:
        row = (
            conn.execute(
                select(orders_t, channels_t.c.code.label("channel"))
                .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
                .where(orders_t.c.id == order_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound("Order", rules.order_number(order_id))
        order = _order_dict(row)
        if row["customer_id"] is not None:
            cust = conn.execute(select(customers_t).where(customers_t.c.id == row["customer_id"])).mappings().first()
            order["customer"] = dict(cust) if cust else None
        else:
            order["customer"] = None
        lines = [
            dict(r)
            for r in conn.execute(
                select(lines_t).where(lines_t.c.order_id == order_id).order_by(lines_t.c.line_number)
            ).mappings()
        ]
        res = conn.execute(
            select(res_t.c.order_line_id, locations_t.c.code, res_t.c.quantity)
            .join(locations_t, locations_t.c.id == res_t.c.location_id)
            .where(res_t.c.order_id == order_id, res_t.c.quantity > 0)
            .order_by(res_t.c.id)
        ).all()
        by_line: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in res:
            by_line[int(r.order_line_id)].append({"location": r.code, "quantity": int(r.quantity)})
        waiting = backorders.waiting_by_line(conn, order_id)
        for ln in lines:
            ln["reservations"] = by_line.get(int(ln["id"]), [])
            ln["quantity_open"] = ln["quantity"] - ln["quantity_cancelled"] - ln["quantity_shipped"]
            ln["quantity_reserved"] = sum(r["quantity"] for r in ln["reservations"])
            ln["quantity_backordered"], ln["expected_at"] = waiting.get(int(ln["id"]), (0, None))
        order["lines"] = lines
        order["holds"] = [
            dict(h) | {"active": h["released_at"] is None}
            for h in conn.execute(
                select(holds_t).where(holds_t.c.order_id == order_id).order_by(holds_t.c.id)
            ).mappings()
        ]
        _money_view(order)
        order["pickup"] = pickup.pickup_of(conn, order_id)
        order["timeline"] = [
            dict(e)
            for e in conn.execute(
                select(events_t).where(events_t.c.order_id == order_id).order_by(events_t.c.id)
            ).mappings()
        ]
    return order


_ORDER_AMOUNTS = ("subtotal", "discount_total", "tax_total", "shipping_total", "grand_total")
_LINE_AMOUNTS = ("unit_price", "discount", "tax")


def _money_view(order: dict[str, Any]) -> dict[str, Any]:
    """Amounts in the order currency's minor units (34.95 USD, 1200 JPY), however stored."""
    cur = order["currency"]
    for k in _ORDER_AMOUNTS:
        if k in order:
            order[k] = money.quantize(Decimal(order[k]), cur)
    for line in order.get("lines", []):
        for k in _LINE_AMOUNTS:
            line[k] = money.quantize(Decimal(line[k]), cur)
    return order


def _order_dict(row: Any) -> dict[str, Any]:
    d = _money_view(dict(row))
    d["order_number"] = rules.order_number(int(d["id"]))
    d["promise"] = _promise_view(d.get("promised_ship_date"), d.get("promised_earliest"), d.get("promised_latest"))
    return d


def _promise_view(ship: dt.date | None, earliest: dt.date | None, latest: dt.date | None) -> dict[str, Any] | None:
    """The delivery promise as orders show it; the reasoning is in the routing explanation."""
    if earliest is None or latest is None:
        return None
    return {"ship_date": ship, "earliest": earliest, "latest": latest}


@dataclass(frozen=True)
class OrderFilter:
    channel: str | None = None
    status: Sequence[OrderStatus] = ()
    customer_email: str | None = None
    external_order_id: str | None = None
    sku: str | None = None
    on_hold: bool | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    q: str | None = None


def list_orders(db: Database, flt: OrderFilter, *, after_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated on id so deep pages cost the same as the first."""
    stmt = (
        select(
            orders_t,
            channels_t.c.code.label("channel"),
            customers_t.c.email.label("customer_email"),
            customers_t.c.name.label("customer_name"),
        )
        .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
        .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
        .order_by(orders_t.c.id.desc())
        .limit(limit)
    )
    if after_id is not None:
        stmt = stmt.where(orders_t.c.id < after_id)
    if flt.channel:
        stmt = stmt.where(channels_t.c.code == flt.channel)
    if flt.status:
        stmt = stmt.where(orders_t.c.status.in_([s.value for s in flt.status]))
    if flt.customer_email:
        stmt = stmt.where(customers_t.c.email == flt.customer_email.strip().lower())
    if flt.external_order_id:
        stmt = stmt.where(orders_t.c.external_order_id == flt.external_order_id)
    if flt.sku:
        stmt = stmt.where(exists().where(and_(lines_t.c.order_id == orders_t.c.id, lines_t.c.sku == flt.sku)))
    if flt.on_hold is not None:
        held = exists().where(and_(holds_t.c.order_id == orders_t.c.id, holds_t.c.released_at.is_(None)))
        stmt = stmt.where(held if flt.on_hold else ~held)
    if flt.created_from:
        stmt = stmt.where(orders_t.c.created_at >= flt.created_from)
    if flt.created_to:
        stmt = stmt.where(orders_t.c.created_at < flt.created_to)
    if flt.q:
        term = flt.q.strip()
        conds = [
            orders_t.c.external_order_id == term,
            func.lower(customers_t.c.email) == term.lower(),
            func.lower(customers_t.c.name).contains(term.lower()),
        ]
        num = rules.parse_order_number(term)
        if num is not None:
            conds.append(orders_t.c.id == num)
        stmt = stmt.where(or_(*conds))
    with db.read() as conn:
        return [_order_dict(r) for r in conn.execute(stmt).mappings()]
