"""Inventory as the back office reads it: stock per SKU across the network or at one location,
a SKU's position per location, its ledger with running balances, and stock moved by hand.

Stock moves go through ``services.inventory.change_stock`` (the one path that writes the
ledger); this module adds the back office's rules (a reason, a reference) and the read models.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import LedgerEntry, Location, Product, StockLevel, table
from openoms.domain.errors import NotFound
from openoms.domain.orders import order_number
from openoms.domain.stock_moves import ManualMove, check_manual_move
from openoms.services import inventory
from openoms.services.common import Actor

_products = table(Product)
_locations = table(Location)
_stock = table(StockLevel)
_ledger = table(LedgerEntry)

PER_PAGE = 50
LEDGER_PER_PAGE = 50
MAX_QUERY = 64


# --- who did it -----------------------------------------------------------------------------


def describe_actor(actor: str) -> tuple[str, str | None]:
    """A person-friendly label for a ledger or timeline actor, and the raw value as detail.

    ``user:Wes Warehouse <wes@example.com>`` reads as "Wes Warehouse"; keys and jobs keep
    their names ("api-key:shopify", "demo-data")."""
    if actor.startswith("user:"):
        rest = actor[5:]
        name, _, email = rest.partition(" <")
        return name.strip() or rest, email.rstrip(">") or None
    if actor.startswith("api-key:"):
        return f"API key {actor[8:]}", None
    return actor, None


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryFilter:
    q: str | None = None
    location: str | None = None  # a location code: rows are that location's stock
    low: bool = False
    low_threshold: int = 10


@dataclass
class InventoryPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    location: dict[str, Any] | None = None  # the location viewed, when filtered
    locations: list[dict[str, Any]] = field(default_factory=list)  # every location, for filters

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _ships() -> Any:
    return and_(_locations.c.active, _locations.c.ships)


def _network_subquery() -> Any:
    """Per product: on hand, reserved and available summed over active shipping locations."""
    ships = _ships()
    on_hand = func.sum(case((ships, _stock.c.on_hand), else_=0))
    reserved = func.sum(case((ships, _stock.c.reserved), else_=0))
    safety = func.sum(case((ships, _stock.c.safety_stock), else_=0))
    return (
        select(
            _stock.c.product_id,
            on_hand.label("on_hand"),
            reserved.label("reserved"),
            safety.label("safety"),
            func.sum(_stock.c.on_hand).label("on_hand_everywhere"),
        )
        .join(_locations, _locations.c.id == _stock.c.location_id)
        .group_by(_stock.c.product_id)
        .subquery("network")
    )


def _search(stmt: Select[Any], q: str | None) -> Select[Any]:
    term = (q or "").strip()[:MAX_QUERY].lower()
    if not term:
        return stmt
    return stmt.where(
        or_(
            func.lower(_products.c.sku).startswith(term, autoescape=True),
            func.lower(_products.c.name).contains(term, autoescape=True),
        )
    )


def list_locations(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(
                    _locations.c.id,
                    _locations.c.code,
                    _locations.c.name,
                    _locations.c.kind,
                    _locations.c.ships,
                    _locations.c.active,
                    _locations.c.priority,
                ).order_by(_locations.c.priority, _locations.c.code)
            ).mappings()
        ]


def inventory_page(db: Database, flt: InventoryFilter, *, page: int = 1, per_page: int = PER_PAGE) -> InventoryPage:
    """One page of SKUs, in SKU order.

    Without a location: one row per SKU with network figures (active shipping locations) and
    a per-location breakdown; ``low`` keeps SKUs whose network available is at or below the
    threshold. With a location: one row per SKU stocked there, with that location's figures
    (``low`` then means low at that location) and the network available beside them.
    """
    page = max(1, page)
    locations = list_locations(db)
    by_code = {loc["code"]: loc for loc in locations}
    location = None
    if flt.location:
        location = by_code.get(flt.location)
        if location is None:
            raise NotFound("Location", flt.location)
    net = _network_subquery()
    net_on_hand = func.coalesce(net.c.on_hand, 0)
    net_reserved = func.coalesce(net.c.reserved, 0)
    net_available = net_on_hand - net_reserved - func.coalesce(net.c.safety, 0)
    if location is None:
        base = select(
            _products.c.id,
            _products.c.sku,
            _products.c.name,
            _products.c.active,
            net_on_hand.label("on_hand"),
            net_reserved.label("reserved"),
            net_available.label("available"),
            net_available.label("network_available"),
            func.coalesce(net.c.on_hand_everywhere, 0).label("on_hand_everywhere"),
        ).select_from(_products.outerjoin(net, net.c.product_id == _products.c.id))
        if flt.low:
            base = base.where(net_available <= flt.low_threshold)
    else:
        available_here = _stock.c.on_hand - _stock.c.reserved - _stock.c.safety_stock
        base = select(
            _products.c.id,
            _products.c.sku,
            _products.c.name,
            _products.c.active,
            _stock.c.on_hand,
            _stock.c.reserved,
            available_here.label("available"),
            net_available.label("network_available"),
            literal(0).label("on_hand_everywhere"),
        ).select_from(
            _stock.join(_products, _products.c.id == _stock.c.product_id).outerjoin(
                net, net.c.product_id == _products.c.id
            )
        )
        base = base.where(_stock.c.location_id == location["id"])
        if flt.low:
            base = base.where(available_here <= flt.low_threshold)
    base = _search(base, flt.q)
    with db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar_one())
        rows = [
            dict(r)
            for r in conn.execute(
                base.order_by(_products.c.sku).limit(per_page).offset((page - 1) * per_page)
            ).mappings()
        ]
        breakdown: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if rows and location is None:
            for s in conn.execute(
                select(
                    _stock.c.product_id,
                    _locations.c.code,
                    _locations.c.ships,
                    _locations.c.active,
                    _stock.c.on_hand,
                    _stock.c.reserved,
                    _stock.c.safety_stock,
                )
                .join(_locations, _locations.c.id == _stock.c.location_id)
                .where(_stock.c.product_id.in_([r["id"] for r in rows]))
                .order_by(_locations.c.priority, _locations.c.code)
            ).mappings():
                breakdown[int(s["product_id"])].append(
                    {
                        "location": s["code"],
                        "on_hand": int(s["on_hand"]),
                        "reserved": int(s["reserved"]),
                        "available": int(s["on_hand"]) - int(s["reserved"]) - int(s["safety_stock"]),
                        "ships": bool(s["ships"] and s["active"]),
                    }
                )
    for r in rows:
        for k in ("on_hand", "reserved", "available", "network_available", "on_hand_everywhere"):
            r[k] = int(r[k] or 0)
        r["locations"] = breakdown.get(int(r["id"]), [])
        r["low"] = r["available"] <= flt.low_threshold
    return InventoryPage(rows, total, page, per_page, location, locations)


def inventory_totals(db: Database, low_threshold: int) -> dict[str, int]:
    """Headline figures for the inventory page: SKUs, how many are low, units on the network."""
    net = _network_subquery()
    available = func.coalesce(net.c.on_hand, 0) - func.coalesce(net.c.reserved, 0) - func.coalesce(net.c.safety, 0)
    stmt = select(
        func.count(),
        func.coalesce(func.sum(case((available <= low_threshold, 1), else_=0)), 0),
        func.coalesce(func.sum(net.c.on_hand), 0),
        func.coalesce(func.sum(net.c.reserved), 0),
        func.coalesce(func.sum(net.c.safety), 0),
    ).select_from(_products.outerjoin(net, net.c.product_id == _products.c.id))
    with db.read() as conn:
        skus, low, on_hand, reserved, safety = conn.execute(stmt).one()
    return {
        "skus": int(skus),
        "low": int(low),
        "on_hand": int(on_hand),
        "reserved": int(reserved),
        "available": int(on_hand) - int(reserved) - int(safety),
    }


# --- one SKU --------------------------------------------------------------------------------


def product_exists(db: Database, sku: str) -> bool:
    with db.read() as conn:
        return conn.execute(select(_products.c.id).where(_products.c.sku == sku)).first() is not None


def sku_position(db: Database, sku: str) -> dict[str, Any]:
    """The product and its stock at every location (locations never stocked show zeros, so
    stock can be received there), with network figures over active shipping locations."""
    with db.read() as conn:
        product = conn.execute(select(_products).where(_products.c.sku == sku)).mappings().first()
        if product is None:
            raise NotFound("Product", sku)
        rows = conn.execute(
            select(
                _locations.c.code,
                _locations.c.name,
                _locations.c.kind,
                _locations.c.ships,
                _locations.c.active,
                func.coalesce(_stock.c.on_hand, 0).label("on_hand"),
                func.coalesce(_stock.c.reserved, 0).label("reserved"),
                func.coalesce(_stock.c.safety_stock, 0).label("safety_stock"),
                _stock.c.reorder_point,
                _stock.c.updated_at,
            )
            .select_from(
                _locations.outerjoin(
                    _stock, and_(_stock.c.location_id == _locations.c.id, _stock.c.product_id == product["id"])
                )
            )
            .order_by(_locations.c.priority, _locations.c.code)
        ).mappings()
        locations = []
        for r in rows:
            loc = dict(r)
            loc["on_hand"], loc["reserved"] = int(loc["on_hand"]), int(loc["reserved"])
            loc["safety_stock"] = int(loc["safety_stock"])
            # Available to promise: safety stock is kept back from orders (docs/inventory.md).
            loc["available"] = max(loc["on_hand"] - loc["reserved"] - loc["safety_stock"], 0)
            loc["ships"] = bool(loc["ships"] and loc["active"])
            locations.append(loc)
    shipping = [loc for loc in locations if loc["ships"]]
    on_hand = sum(loc["on_hand"] for loc in shipping)
    reserved = sum(loc["reserved"] for loc in shipping)
    return {
        "product": dict(product),
        "locations": locations,
        "network": {"on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved},
        "on_hand_everywhere": sum(loc["on_hand"] for loc in locations),
    }


@dataclass
class LedgerPage:
    rows: list[dict[str, Any]]
    newer: int | None  # pass as ``after`` to see the next newer page
    older: int | None  # pass as ``before`` to see the next older page


def ledger_page(
    db: Database,
    sku: str,
    location: str,
    *,
    before: int | None = None,
    after: int | None = None,
    per_page: int = LEDGER_PER_PAGE,
) -> LedgerPage:
    """Movements of a SKU at one location, newest first, each with the balances after it.

    Keyset-paginated on the ledger id (``before`` pages back, ``after`` forward), so old pages
    cost the same as the first; the running balance is one indexed sum per page."""
    with db.read() as conn:
        product_id = conn.execute(select(_products.c.id).where(_products.c.sku == sku)).scalar()
        if product_id is None:
            raise NotFound("Product", sku)
        location_id = conn.execute(select(_locations.c.id).where(_locations.c.code == location)).scalar()
        if location_id is None:
            raise NotFound("Location", location)
        mine = and_(_ledger.c.product_id == product_id, _ledger.c.location_id == location_id)
        cols = [
            _ledger.c.id,
            _ledger.c.entry_type,
            _ledger.c.on_hand_delta,
            _ledger.c.reserved_delta,
            _ledger.c.reason,
            _ledger.c.reference,
            _ledger.c.order_id,
            _ledger.c.actor,
            _ledger.c.created_at,
        ]
        if after is not None:
            stmt = select(*cols).where(mine, _ledger.c.id > after).order_by(_ledger.c.id).limit(per_page + 1)
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            has_more_newer = len(rows) > per_page
            rows = list(reversed(rows[:per_page]))
        else:
            stmt = select(*cols).where(mine).order_by(_ledger.c.id.desc()).limit(per_page + 1)
            if before is not None:
                stmt = stmt.where(_ledger.c.id < before)
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
            has_more_older = len(rows) > per_page
            rows = rows[:per_page]
        if not rows:
            return LedgerPage([], None, None)
        top = rows[0]["id"]
        on_hand, reserved = conn.execute(
            select(
                func.coalesce(func.sum(_ledger.c.on_hand_delta), 0),
                func.coalesce(func.sum(_ledger.c.reserved_delta), 0),
            ).where(mine, _ledger.c.id <= top)
        ).one()
        bottom = rows[-1]["id"]
        if after is not None:
            newer = top if has_more_newer else None
            older_exists = conn.execute(select(_ledger.c.id).where(mine, _ledger.c.id < bottom).limit(1)).first()
            older = bottom if older_exists else None
        else:
            older = bottom if has_more_older else None
            newer = top if before is not None else None
    on_hand, reserved = int(on_hand), int(reserved)
    for r in rows:
        r["on_hand_after"], r["reserved_after"] = on_hand, reserved
        r["available_after"] = on_hand - reserved
        on_hand -= int(r["on_hand_delta"])
        reserved -= int(r["reserved_delta"])
        r["actor_label"], r["actor_detail"] = describe_actor(r["actor"])
        r["order_number"] = order_number(int(r["order_id"])) if r["order_id"] is not None else None
    return LedgerPage(rows, newer, older)


def recent_movements(db: Database, sku: str, limit: int = 8) -> list[dict[str, Any]]:
    """The latest ledger rows of a SKU at every location, for its overview page."""
    rows = inventory.ledger(db, sku, None, limit=limit)
    for r in rows:
        r["actor_label"], r["actor_detail"] = describe_actor(r["actor"])
        r["order_number"] = order_number(int(r["order_id"])) if r["order_id"] is not None else None
    return rows


# --- moving stock by hand -------------------------------------------------------------------


def move_stock(db: Database, move: ManualMove, actor: Actor) -> dict[str, Any]:
    """Receive, adjust or count one SKU at one location for a person, with the ledger row
    naming them; refused (and nothing changed) when a rule says no."""
    move = check_manual_move(move)
    change = inventory.StockChange(move.sku, move.location, move.kind.value, move.quantity, move.reason, move.reference)
    return inventory.change_stock(db, [change], actor)[0]
