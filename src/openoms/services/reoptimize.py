"""``openoms reoptimize``: re-plan every routed but unreleased order together.

Capture routes one order at a time against what is left, first come first served. While the
orders are still allocated (nothing handed to a location) their plans can be swapped. This
command gathers them, prices each one's current plan and its alternatives under today's rules,
rates and dates, lets HiGHS pick one plan per order within stock and capacity
(``domain.batch_routing``), and applies the moves in one transaction
(docs/adr/0016-batch-reoptimisation.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Channel,
    Location,
    Order,
    OrderLine,
    OrderPickup,
    Product,
    Reservation,
    StockLevel,
    table,
)
from openoms.domain import batch_routing as batch
from openoms.domain import orders as rules
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.events import EventType
from openoms.domain.inventory import InsufficientStock, LedgerEntryType, StockPosition
from openoms.domain.orders import OrderStatus
from openoms.domain.routing import PlanEvaluation
from openoms.services import network as network_service
from openoms.services import sourcing
from openoms.services.common import Actor, utcnow

orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
stock_t = table(StockLevel)
products_t = table(Product)
locations_t = table(Location)
channels_t = table(Channel)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class _Candidate:
    """One order in the batch: its lines, what it holds, and its priced options."""

    order_id: int
    ref: str
    held: dict[tuple[int, int], int]  # (product_id, location_id) -> units reserved
    line_ids: list[int]  # order line ids of the routed lines, in routing order
    facts: list[tuple[sourcing.ProductFacts, int]]
    address: dict[str, Any]
    channel: str
    service_level: str
    options: list[batch.PlanOption] = field(default_factory=list)
    sources: list[tuple[sourcing.SourcingPlan, PlanEvaluation]] = field(default_factory=list)


@dataclass(frozen=True)
class ReoptimizeReport:
    considered: int
    skipped: dict[str, int]  # why orders were left out, with counts
    plan: batch.BatchPlan | None
    applied: bool
    build_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "skipped": self.skipped,
            "applied": self.applied,
            "build_seconds": round(self.build_seconds, 3),
            **(self.plan.to_dict() if self.plan else {}),
        }


def reoptimize(
    db: Database,
    actor: Actor,
    *,
    apply: bool = True,
    limit: int | None = None,
    options_per_order: int = batch.DEFAULT_OPTIONS,
    time_limit_s: float = 50.0,
    move_cost: Decimal = Decimal("0.50"),
    progress: Progress | None = None,
    solver_progress: Callable[[batch.SolveProgress], None] | None = None,
) -> ReoptimizeReport:
    """Re-plan allocated orders together; with ``apply`` move the ones whose plan changes.

    ``move_cost`` is charged per moved order in the objective, so a batch never re-picks an
    order for a few cents. Orders on hold are included (a hold blocks release, not routing);
    orders sourced by priority, with a line cut into pieces, or whose current plan today's
    rules no longer allow are left as they are and counted in ``skipped``.
    """
    import time

    started = time.perf_counter()
    now = utcnow()
    skipped: dict[str, int] = defaultdict(int)
    with db.read() as conn:
        cands = _gather(conn, limit)
        if not cands:
            return ReoptimizeReport(0, {}, None, False, time.perf_counter() - started)
        free, codes, ids = _free_stock(conn, cands)
        net = network_service.current_network(db, conn)
        backlog = network_service.backlog(db, conn, fresh=True)
        by_sku: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for (sku, loc_id), q in free.items():
            by_sku[sku].append((loc_id, q))
        for n, cand in enumerate(cands, 1):
            why = _price(db, conn, cand, by_sku, options_per_order, now)
            if why:
                skipped[why] += 1
            if progress:
                progress("pricing plans", n, len(cands))
    batch_orders = [c for c in cands if c.options]
    # Capacity: what each location can still take today, with the batch's own units handed back.
    held_by_loc: dict[str, int] = defaultdict(int)
    for c in batch_orders:
        for (_, loc_id), q in c.held.items():
            held_by_loc[codes[loc_id]] += q
    capacity: dict[str, int | None] = {}
    for loc in net.locations:
        if loc.daily_capacity is not None:
            capacity[loc.profile.code] = max(loc.daily_capacity - backlog.get(loc.id, 0), 0) + held_by_loc.get(
                loc.profile.code, 0
            )
    # The solver's stock: free units plus what the orders in the batch hold. Orders left out
    # keep theirs, so their units are not offered (pricing offered them, harmlessly).
    sku_of = {f.product_id: f.sku for c in cands for f, _ in c.facts}
    left_out: dict[tuple[str, int], int] = defaultdict(int)
    for c in cands:
        if not c.options:
            for (pid, loc_id), q in c.held.items():
                left_out[(sku_of[pid], loc_id)] += q
    free_by_code = {(sku, codes[loc_id]): q - left_out.get((sku, loc_id), 0) for (sku, loc_id), q in free.items()}
    build_seconds = time.perf_counter() - started
    if not batch_orders:
        return ReoptimizeReport(len(cands), dict(skipped), None, False, build_seconds)
    plan = batch.optimise(
        [batch.OrderOptions(c.ref, tuple(c.options), 0) for c in batch_orders],
        free_by_code,
        capacity,
        move_cost=move_cost,
        time_limit_s=time_limit_s,
        progress=solver_progress,
    )
    applied = False
    if apply and plan.moves:
        _apply(db, batch_orders, plan, ids, actor)
        applied = True
    return ReoptimizeReport(len(cands), dict(skipped), plan, applied, build_seconds)


def _gather(conn: Connection, limit: int | None) -> list[_Candidate]:
    """Allocated orders with a shipping address, oldest first, with their reservations."""
    stmt = (
        select(
            orders_t.c.id,
            orders_t.c.shipping_address,
            orders_t.c.service_level,
            channels_t.c.code.label("channel"),
        )
        .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
        .where(
            orders_t.c.status == OrderStatus.ALLOCATED.value,
            orders_t.c.shipping_address.is_not(None),
            orders_t.c.id.not_in(select(table(OrderPickup).c.order_id)),  # pickups stay at their store
        )
        .order_by(orders_t.c.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    heads = conn.execute(stmt).all()
    by_id: dict[int, _Candidate] = {}
    for h in heads:
        by_id[h.id] = _Candidate(
            h.id, rules.order_number(h.id), {}, [], [], dict(h.shipping_address), h.channel, h.service_level
        )
    if not by_id:
        return []
    ids = list(by_id)
    rows: list[Any] = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows += conn.execute(
            select(
                res_t.c.order_id,
                res_t.c.order_line_id,
                res_t.c.product_id,
                res_t.c.location_id,
                res_t.c.quantity,
                lines_t.c.line_number,
                products_t,
            )
            .join(lines_t, lines_t.c.id == res_t.c.order_line_id)
            .join(products_t, products_t.c.id == res_t.c.product_id)
            .where(res_t.c.order_id.in_(chunk), res_t.c.quantity > 0)
            .order_by(res_t.c.order_id, lines_t.c.line_number)
        ).all()
    per_line: dict[int, dict[int, tuple[sourcing.ProductFacts, int, int]]] = defaultdict(dict)
    for r in rows:
        cand = by_id[r.order_id]
        key = (int(r.product_id), int(r.location_id))
        cand.held[key] = cand.held.get(key, 0) + int(r.quantity)
        facts = sourcing.ProductFacts(
            int(r.product_id), r.sku, r.weight_grams, r.length_mm, r.width_mm, r.height_mm, r.hazmat, r.high_value
        )
        prev = per_line[r.order_id].get(r.order_line_id)
        per_line[r.order_id][r.order_line_id] = (facts, (prev[1] if prev else 0) + int(r.quantity), r.line_number)
    out = []
    for oid, cand in by_id.items():
        lines = sorted(per_line[oid].items(), key=lambda kv: kv[1][2])
        cand.line_ids = [line_id for line_id, _ in lines]
        cand.facts = [(facts, qty) for _, (facts, qty, _) in lines]
        if cand.facts:
            out.append(cand)
    return out


def _free_stock(
    conn: Connection, cands: list[_Candidate]
) -> tuple[dict[tuple[str, int], int], dict[int, str], dict[str, int]]:
    """Units available to the batch per (SKU, location id): available now plus what the
    batch's own orders hold (they give it back if they move)."""
    codes = dict(conn.execute(select(locations_t.c.id, locations_t.c.code)).all())
    skus = {f.product_id: f.sku for c in cands for f, _ in c.facts}
    free: dict[tuple[str, int], int] = defaultdict(int)
    pids = list(skus)
    for start in range(0, len(pids), 1000):
        for s in conn.execute(
            select(
                stock_t.c.product_id,
                stock_t.c.location_id,
                stock_t.c.on_hand,
                stock_t.c.reserved,
                stock_t.c.safety_stock,
            ).where(stock_t.c.product_id.in_(pids[start : start + 1000]))
        ):
            free_here = int(s.on_hand) - int(s.reserved) - int(s.safety_stock)
            free[(skus[s.product_id], int(s.location_id))] += max(free_here, 0)
    for c in cands:
        for (pid, loc), q in c.held.items():
            free[(skus[pid], loc)] += q
    return dict(free), codes, {code: i for i, code in codes.items()}


def _price(
    db: Database,
    conn: Connection,
    cand: _Candidate,
    free: dict[str, list[tuple[int, int]]],
    limit: int,
    now: dt.datetime,
) -> str | None:
    """Fill ``cand.options``: the plan it holds, priced today, then the alternatives routing
    finds in the batch's free stock. Returns why the order is left out, if it is."""
    own = {key: StockPosition(q, 0) for key, q in cand.held.items()}
    try:
        current = _route(db, conn, cand, own, now)
    except InsufficientStock:
        return "current plan not allowed by today's rules"
    if current.decision is None:
        return "sourced by priority (no rates or no usable address)"
    if len(current.origin) != len(cand.facts):
        return "a line is split across locations"
    pool = {(f.product_id, loc_id): StockPosition(q, 0) for f, _ in cand.facts for loc_id, q in free.get(f.sku, ())}
    try:
        alternatives = _route(db, conn, cand, pool, now)
    except InsufficientStock:
        alternatives = None
    lines = {a.line_index: (a.sku, a.quantity) for a in current.decision.allocations}
    held = batch.option_from_plan(current.decision.chosen, lines)
    cand.options = [held]
    cand.sources = [(current, current.decision.chosen)]
    if alternatives is None or alternatives.decision is None or len(alternatives.origin) != len(cand.facts):
        return None
    alt_lines = {a.line_index: (a.sku, a.quantity) for a in alternatives.decision.allocations}
    seen = {held.key}
    for p in alternatives.decision.plans:
        if len(cand.options) >= limit:
            break
        if not p.admissible or (held.complete_by is not None and p.promise.latest > held.complete_by):
            continue  # never promise the customer a later date than they were given
        option = batch.option_from_plan(p, alt_lines)
        if option.key in seen:
            continue
        seen.add(option.key)
        cand.options.append(option)
        cand.sources.append((alternatives, p))
    return None


def _route(
    db: Database, conn: Connection, cand: _Candidate, stock: dict[tuple[int, int], StockPosition], now: dt.datetime
) -> sourcing.SourcingPlan:
    return sourcing.plan_order(
        db,
        conn,
        lines=cand.facts,
        stock=stock,
        shipping_address=cand.address,
        channel=cand.channel,
        service_level=cand.service_level,
        now=now,
    )


def _apply(db: Database, cands: list[_Candidate], plan: batch.BatchPlan, ids: dict[str, int], actor: Actor) -> None:
    """Move every changed order in one transaction: release all their reservations and take
    the new ones in one sorted pass over the stock rows (a concurrent capture that took the
    units first makes it fail whole: nothing moves, run it again)."""
    by_ref = {c.ref: (i, c) for i, c in enumerate(cands)}
    now = utcnow()
    try:
        with db.begin() as conn:
            deltas: dict[tuple[int, int], int] = defaultdict(int)
            ledger: list[stock_db.LedgerRow] = []
            for move in plan.moves:
                i, cand = by_ref[move.order_ref]
                choice = plan.choices[i]
                sourced, evaluation = cand.sources[choice]
                order = conn.execute(
                    select(orders_t.c.status, orders_t.c.sourcing_rule)
                    .where(orders_t.c.id == cand.order_id)
                    .with_for_update()
                ).one()
                held_now = conn.execute(
                    select(
                        res_t.c.id, res_t.c.order_line_id, res_t.c.product_id, res_t.c.location_id, res_t.c.quantity
                    ).where(res_t.c.order_id == cand.order_id, res_t.c.quantity > 0)
                ).all()
                snapshot: dict[tuple[int, int], int] = defaultdict(int)
                for r in held_now:
                    snapshot[(int(r.product_id), int(r.location_id))] += int(r.quantity)
                if order.status != OrderStatus.ALLOCATED.value or dict(snapshot) != cand.held:
                    raise _Changed(cand.ref)
                for r in held_now:
                    conn.execute(update(res_t).where(res_t.c.id == r.id).values(quantity=0))
                    deltas[(int(r.product_id), int(r.location_id))] -= int(r.quantity)
                    ledger.append(
                        stock_db.LedgerRow(
                            int(r.product_id),
                            int(r.location_id),
                            LedgerEntryType.RELEASE,
                            0,
                            -int(r.quantity),
                            actor.name,
                            "batch re-plan",
                            cand.ref,
                            cand.order_id,
                            int(r.order_line_id),
                        )
                    )
                new_rows = []
                moved = []
                for a in move.after.allocations:
                    line_index = sourced.origin[a.line_index]
                    line_id = cand.line_ids[line_index]
                    product_id = cand.facts[line_index][0].product_id
                    loc_id = ids[a.location_code]
                    deltas[(product_id, loc_id)] += a.quantity
                    new_rows.append(
                        {
                            "order_id": cand.order_id,
                            "order_line_id": line_id,
                            "product_id": product_id,
                            "location_id": loc_id,
                            "quantity": a.quantity,
                        }
                    )
                    ledger.append(
                        stock_db.LedgerRow(
                            product_id,
                            loc_id,
                            LedgerEntryType.RESERVATION,
                            0,
                            a.quantity,
                            actor.name,
                            "batch re-plan",
                            cand.ref,
                            cand.order_id,
                            line_id,
                        )
                    )
                    moved.append({"sku": a.sku, "quantity": a.quantity, "to": a.location_code})
                conn.execute(insert(res_t), new_rows)
                promise = evaluation.promise
                conn.execute(
                    update(orders_t)
                    .where(orders_t.c.id == cand.order_id)
                    .values(
                        updated_at=now,
                        version=orders_t.c.version + 1,
                        sourcing_rule=sourced.plan.rule,
                        promised_ship_date=promise.ship_date,
                        promised_earliest=promise.earliest,
                        promised_latest=promise.latest,
                    )
                )
                explanation = {
                    "method": "batch",
                    "why": f"Re-planned with {len(plan.choices)} other allocated orders by the batch optimiser "
                    f"({plan.method}, HiGHS {plan.status}); this order's cost {move.before.score} -> "
                    f"{move.after.score}, the batch saves {plan.saving} ({plan.saving_pct}%).",
                    "previous": move.before.label,
                    "chosen": move.after.label,
                    "plan": evaluation.to_dict(),
                    "batch": {k: v for k, v in plan.to_dict().items() if k != "moves"},
                }
                sourcing.record_decision(
                    conn,
                    cand.order_id,
                    "reoptimize",
                    sourcing.SourcingPlan(sourced.plan, explanation, None, promise, sourced.rate_table_id),
                    actor.name,
                    now,
                )
                message = (
                    f"Re-planned by the batch optimiser: {move.before.label} to {move.after.label} "
                    f"(cost {move.before.score} to {move.after.score}); {sourcing.promise_phrase(promise)}"
                )
                data = {"trigger": "reoptimize", "from": move.before.label, "to": move.after.label, "moved": moved}
                record_order_event(
                    conn,
                    order_id=cand.order_id,
                    event_type=EventType.ORDER_REROUTED,
                    actor=actor.name,
                    message=message,
                    data=data,
                    publish={"order": {"id": cand.order_id, "order_number": cand.ref, "status": order.status}, **data},
                    now=now,
                )
            stock_db.move(conn, [(p, loc, q) for (p, loc), q in deltas.items() if q], now)
            stock_db.append_ledger(conn, ledger, now)
    except stock_db.LostRace:
        raise DomainError(
            ErrorCode.STOCK_CONFLICT,
            "Stock changed while the batch was being applied; nothing moved. Run `openoms reoptimize` again.",
        ) from None
    except _Changed as exc:
        raise DomainError(
            ErrorCode.STOCK_CONFLICT,
            f"Order {exc.args[0]} changed while the batch was being planned; nothing moved. "
            "Run `openoms reoptimize` again.",
        ) from None


class _Changed(Exception):
    """An order in the batch was changed by someone else between planning and applying."""
