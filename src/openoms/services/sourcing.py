"""Where an order ships from: the routing engine applied to the database's network and stock.

Capture, the promise quote and re-routing all call ``plan_order``, so a quote and the order
placed right after it get the same answer from the same stock. The engine is used whenever it
can price the parcels: a carrier rate table is loaded and the shipping address can be placed
on the map. Otherwise (a fresh install without rates, a counter sale without an address) the
order is sourced by location priority, and the explanation says so and why
(docs/adr/0014-routing-at-capture.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Order, RoutingDecisionRecord, table
from openoms.domain.carriers import billable_weight_grams
from openoms.domain.errors import NotFound
from openoms.domain.inventory import (
    Allocation,
    AllocationPlan,
    Candidate,
    InsufficientStock,
    LineDemand,
    StockPosition,
    plan_allocation,
)
from openoms.domain.network import PromiseWindow, routing_service_level
from openoms.domain.orders import order_number
from openoms.domain.routing import (
    RoutingDecision,
    RoutingLine,
    RoutingRequest,
    route,
    split_oversized_lines,
)
from openoms.services import network as network_service

decisions_t = table(RoutingDecisionRecord)
orders_t = table(Order)

#: Weight assumed for a product without one, per unit (a small parcel); the explanation says so.
DEFAULT_UNIT_WEIGHT_GRAMS = 500


@dataclass(frozen=True)
class ProductFacts:
    """What routing needs of a product."""

    product_id: int
    sku: str
    weight_grams: int | None = None
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None
    hazmat: bool = False
    high_value: bool = False

    @property
    def billable_grams(self) -> int:
        dims = (
            (self.length_mm / 10, self.width_mm / 10, self.height_mm / 10)
            if self.length_mm and self.width_mm and self.height_mm
            else None
        )
        return billable_weight_grams(
            self.weight_grams if self.weight_grams is not None else DEFAULT_UNIT_WEIGHT_GRAMS, dims
        )


@dataclass(frozen=True)
class SourcingPlan:
    """Where each line is reserved, the promise, and the explanation to store."""

    plan: AllocationPlan
    explanation: dict[str, Any]
    decision: RoutingDecision | None = None
    promise: PromiseWindow | None = None
    rate_table_id: int | None = None
    notes: tuple[str, ...] = field(default=())
    origin: tuple[int, ...] = ()  # per routed line (piece), the order line index it came from

    def shipments(self, lines: Sequence[tuple[ProductFacts, int]]) -> list[dict[str, Any]]:
        """The chosen plan's parcels: from where, which lines, by which service, when."""
        if self.decision is None:  # by priority: no carrier service or dates
            by_loc: dict[str, list[dict[str, Any]]] = {}
            for a in self.explanation["allocations"]:
                by_loc.setdefault(a["location"], []).append(
                    {"line_number": a["line"], "sku": a["sku"], "quantity": a["quantity"]}
                )
            return [{"location": code, "lines": ls} for code, ls in sorted(by_loc.items())]
        out = []
        for s in self.decision.chosen.shipments:
            pieces = [p for p in self.decision.allocations if p.line_index in s.line_indexes]
            out.append(
                {
                    "location": s.location_code,
                    "lines": [
                        {"line_number": self.origin[p.line_index] + 1, "sku": p.sku, "quantity": p.quantity}
                        for p in pieces
                    ],
                    "carrier": s.quote.carrier,
                    "service_code": s.quote.service_code,
                    "service_level": s.quote.service_level.value,
                    "cost": s.quote.cost,
                    "currency": s.quote.currency,
                    "ship_date": s.window.ship_date,
                    "earliest": s.window.earliest,
                    "latest": s.window.latest,
                }
            )
        return out

    @property
    def chosen(self) -> str:
        return self.decision.chosen.label if self.decision else ", ".join(self.explanation.get("locations", []))


def plan_order(
    db: Database,
    conn: Connection,
    *,
    lines: Sequence[tuple[ProductFacts, int]],  # (product, quantity), in order line order
    stock: Mapping[tuple[int, int], StockPosition],  # (product_id, location_id)
    shipping_address: Mapping[str, Any] | None,
    channel: str,
    service_level: str,
    now: dt.datetime,
    exclude_locations: frozenset[str] = frozenset(),
    refused: frozenset[tuple[str, str]] = frozenset(),
    ready_at: Mapping[str, dt.datetime] | None = None,
) -> SourcingPlan:
    """Choose locations for ``lines`` from one stock snapshot, or raise ``InsufficientStock``
    (the engine's ``NoRoutingPlan`` when rules, not stock, stand in the way). No writes.
    ``refused`` holds (SKU, location code) pairs a location has rejected for this order: they
    count as out of stock there. ``ready_at`` gives, per location code, when its stock for
    this basket is there (inbound lots): its parcels ship from then."""
    net = network_service.current_network(db, conn)
    by_code = net.by_code
    code_of = {loc.id: code for code, loc in by_code.items()}
    usable = {loc.id: loc for loc in net.locations if loc.profile.ships and loc.profile.code not in exclude_locations}
    quoter = net.quoter()
    destination = network_service.address_from(shipping_address)
    why_not: str | None = None
    geo_note = None
    if quoter is None:
        why_not = "no carrier rate table is loaded (load one with `openoms rates import FILE.csv`)"
    elif destination is None:
        why_not = "the order has no shipping address with a country"
    else:
        destination, geo_note = network_service.locate(destination)
        if destination.point is None:
            why_not = f"the shipping address could not be placed on the map: {geo_note}"
    if why_not is not None or quoter is None or destination is None:
        if refused:
            sku_of = {f.product_id: f.sku for f, _ in lines}
            stock = {
                key: StockPosition(0, 0) if (sku_of.get(key[0]), code_of.get(key[1])) in refused else pos
                for key, pos in stock.items()
            }
        return _by_priority(lines, stock, usable, why_not or "")

    avail = {
        (facts.sku, code_of[loc_id]): pos.available
        for facts, _ in lines
        for (pid, loc_id), pos in stock.items()
        if pid == facts.product_id and loc_id in usable
    }
    for key in refused:
        if key in avail:
            avail[key] = 0
    routing_lines = tuple(
        RoutingLine(i, facts.sku, qty, facts.billable_grams, hazmat=facts.hazmat, high_value=facts.high_value)
        for i, (facts, qty) in enumerate(lines)
    )
    backlog = network_service.backlog(db, conn)
    profiles = [p for p in net.profiles(backlog) if p.code not in exclude_locations]
    pieces, origin = split_oversized_lines(routing_lines, avail, profiles)
    request = RoutingRequest(
        lines=pieces,
        destination=destination,
        channel=channel,
        order_date=now.date(),
        service_level=routing_service_level(service_level),
    )
    promise = network_service.promiser(now, destination, ready_at)
    notes: list[str] = []
    try:
        decision = route(request, avail, profiles, net.rules, quoter, promise)
    except InsufficientStock:
        if not any(p.capacity_left_today is not None for p in profiles):
            raise
        # Every location able to ship it may be full today: route on cost and load alone
        # rather than refuse an order the shelves can fill. Still short: refuse as before.
        relaxed = [p for p in net.profiles(backlog, capacity=False) if p.code not in exclude_locations]
        decision = route(request, avail, relaxed, net.rules, quoter, promise)
        notes.append("every location that could ship the order had used today's capacity; routed ignoring it")
    if len(pieces) > len(routing_lines):
        notes.append(
            "a line no single location could fill was cut into pieces routed separately: "
            + ", ".join(f"line {origin[p.line_index] + 1}: {p.quantity}" for p in pieces)
        )
    defaulted = sorted({f.sku for f, _ in lines if f.weight_grams is None})
    if defaulted:
        notes.append(f"no weight on {', '.join(defaulted)}: {DEFAULT_UNIT_WEIGHT_GRAMS} g a unit assumed")
    product_of = {i: facts.product_id for i, (facts, _) in enumerate(lines)}
    location_ids = {code: loc.id for code, loc in by_code.items()}
    plan = AllocationPlan(
        tuple(
            Allocation(
                origin[a.line_index], product_of[origin[a.line_index]], location_ids[a.location_code], a.quantity
            )
            for a in decision.allocations
        ),
        decision.rule_label,
    )
    explanation = {
        "method": "engine",
        "address": geo_note,
        "rate_table_id": net.rate_table_id,
        "notes": notes,
        "line_pieces": [origin[p.line_index] for p in pieces] if len(pieces) > len(routing_lines) else None,
        **_compact(decision.to_dict()),
    }
    return SourcingPlan(plan, explanation, decision, decision.promise, net.rate_table_id, tuple(notes), origin)


def _compact(explained: dict[str, Any]) -> dict[str, Any]:
    """The explanation as stored: the chosen plan keeps its promise's full reasoning (one
    sentence per parcel), the losers keep their dates and costs. Cuts a typical 3-line
    order's record from ~19 KB to a third, which matters at one record per order."""
    plans = explained.get("plans") or []
    for i, plan in enumerate(plans):
        shipments = plan.get("shipments", [])
        for ship in shipments:
            if i > 0 or len(shipments) == 1:
                ship.get("window", {}).pop("basis", None)
        if i > 0:
            plan.get("promise", {}).pop("basis", None)
    return explained


def _by_priority(
    lines: Sequence[tuple[ProductFacts, int]],
    stock: Mapping[tuple[int, int], StockPosition],
    usable: Mapping[int, network_service.NetworkLocation],
    why: str,
) -> SourcingPlan:
    """The fallback without carrier prices: one location if one can ship everything, else
    line by line, in ascending location priority."""
    demands = [LineDemand(i, facts.product_id, facts.sku, qty) for i, (facts, qty) in enumerate(lines)]
    cands = [Candidate(loc.id, loc.profile.code, loc.priority) for loc in usable.values()]
    plan = plan_allocation(demands, stock, cands)
    codes = sorted({usable[a.location_id].profile.code for a in plan.allocations})
    sentence = f"Sourced by location priority: {why}."
    explanation: dict[str, Any] = {
        "method": "priority",
        "why": sentence,
        "rule": plan.rule,
        "locations": codes,
        "allocations": [
            {
                "line": a.line_index + 1,
                "sku": lines[a.line_index][0].sku,
                "location": usable[a.location_id].profile.code,
                "quantity": a.quantity,
            }
            for a in plan.allocations
        ],
        "candidates": [
            {"location": c.code, "priority": c.priority} for c in sorted(cands, key=lambda c: (c.priority, c.code))
        ],
    }
    return SourcingPlan(plan, explanation, notes=(sentence,))


def promise_dict(promise: PromiseWindow | None) -> dict[str, str] | None:
    """The promise as the API shows it (ISO dates)."""
    if promise is None:
        return None
    return {
        "ship_date": promise.ship_date.isoformat(),
        "earliest": promise.earliest.isoformat(),
        "latest": promise.latest.isoformat(),
        "basis": promise.basis,
    }


def promise_phrase(promise: PromiseWindow) -> str:
    """ "ships Mon 30 Nov, promised Tue 1 Dec to Thu 3 Dec" for the timeline."""

    def day(d: dt.date) -> str:
        return f"{d:%a} {d.day} {d:%b}"

    span = day(promise.earliest)
    if promise.latest != promise.earliest:
        span += f" to {day(promise.latest)}"
    return f"ships {day(promise.ship_date)}, promised {span}"


def record_decision(
    conn: Connection, order_id: int, trigger: str, sourced: SourcingPlan, actor: str, now: dt.datetime
) -> None:
    """Keep the explanation of a decision (capture, re-route, batch re-plan) with the order."""
    p = sourced.promise
    conn.execute(
        insert(decisions_t).values(
            order_id=order_id,
            trigger=trigger,
            rule_label=sourced.plan.rule,
            rate_table_id=sourced.rate_table_id,
            chosen=sourced.chosen[:255],
            promised_ship_date=p.ship_date if p else None,
            promised_earliest=p.earliest if p else None,
            promised_latest=p.latest if p else None,
            explanation=sourced.explanation,
            actor=actor,
            created_at=now,
        )
    )


def list_decisions(db: Database, order_id: int) -> list[dict[str, Any]]:
    """Every routing decision of an order, newest first, with its explanation."""
    with db.read() as conn:
        if conn.execute(select(orders_t.c.id).where(orders_t.c.id == order_id)).first() is None:
            raise NotFound("Order", order_number(order_id))
        rows = conn.execute(
            select(decisions_t).where(decisions_t.c.order_id == order_id).order_by(decisions_t.c.id.desc())
        ).all()
    return [
        {
            "id": r.id,
            "trigger": r.trigger,
            "rule": r.rule_label,
            "rate_table_id": r.rate_table_id,
            "chosen": r.chosen,
            "promise": None
            if r.promised_earliest is None
            else {"ship_date": r.promised_ship_date, "earliest": r.promised_earliest, "latest": r.promised_latest},
            "actor": r.actor,
            "created_at": r.created_at,
            "explanation": r.explanation,
        }
        for r in rows
    ]
