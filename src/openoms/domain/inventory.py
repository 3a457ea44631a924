"""Available-to-promise and the placeholder sourcing rule used at capture.

The rule (until the routing engine replaces it, see docs/adr/0004-placeholder-sourcing.md):

1. Candidates are active locations that ship, in ascending ``priority`` then ``code``.
2. If one candidate can cover every line in full, the whole order goes there (one shipment).
3. Otherwise each line, in line order, takes what it can from each candidate in turn,
   splitting across locations when it must.
4. If the network cannot cover a line, nothing is allocated and the shortages are reported.

The plan is computed from a snapshot; the database applies it with conditional updates, so a
plan that lost a race is simply re-planned, never applied partly.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openoms.domain.errors import DomainError, ErrorCode, FieldError

StockKey = tuple[int, int]  # (product_id, location_id)


@dataclass(frozen=True)
class StockPosition:
    on_hand: int
    reserved: int
    safety: int = 0  # safety stock: kept back, never offered to orders

    @property
    def available(self) -> int:
        """Available to promise: what is on the shelf, not yet promised to anyone and not
        kept back as safety stock."""
        return self.on_hand - self.reserved - self.safety


@dataclass(frozen=True)
class Candidate:
    location_id: int
    code: str
    priority: int


@dataclass(frozen=True)
class LineDemand:
    line_index: int  # position in the order as sent, 0-based
    product_id: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Allocation:
    line_index: int
    product_id: int
    location_id: int
    quantity: int


@dataclass(frozen=True)
class Shortage:
    line_index: int
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class AllocationPlan:
    allocations: tuple[Allocation, ...]
    rule: str

    def stock_deltas(self) -> list[tuple[int, int, int]]:
        """(product_id, location_id, quantity) summed per stock row, sorted so that rows are
        always locked in the same order (no deadlocks between concurrent orders)."""
        totals: dict[StockKey, int] = defaultdict(int)
        for a in self.allocations:
            totals[(a.product_id, a.location_id)] += a.quantity
        return [(p, loc, q) for (p, loc), q in sorted(totals.items())]


class InsufficientStock(DomainError):
    def __init__(self, shortages: Sequence[Shortage]) -> None:
        parts = [f"{s.sku} short by {s.requested - s.available}" for s in shortages]
        super().__init__(
            ErrorCode.INSUFFICIENT_STOCK,
            "Not enough stock to cover the order: " + "; ".join(parts),
            [
                FieldError(
                    f"lines[{s.line_index}].quantity",
                    f"{s.requested} of {s.sku} requested, {s.available} available",
                )
                for s in shortages
            ],
            extra={
                "shortages": [
                    {
                        "sku": s.sku,
                        "requested": s.requested,
                        "available": s.available,
                        "short": s.requested - s.available,
                    }
                    for s in shortages
                ]
            },
        )
        self.shortages = list(shortages)


RULE_SINGLE = "priority/single-location"
RULE_SPLIT = "priority/split-by-priority"


def plan_allocation(
    lines: Sequence[LineDemand],
    stock: Mapping[StockKey, StockPosition],
    candidates: Sequence[Candidate],
) -> AllocationPlan:
    """Choose where each line is reserved, or raise ``InsufficientStock`` naming every short
    SKU. Pure: the same inputs always give the same plan."""
    ordered = sorted(candidates, key=lambda c: (c.priority, c.code))
    avail: dict[StockKey, int] = {key: max(pos.available, 0) for key, pos in stock.items()}

    def free(product_id: int, location_id: int) -> int:
        return avail.get((product_id, location_id), 0)

    demand_per_product: dict[int, int] = defaultdict(int)
    for line in lines:
        demand_per_product[line.product_id] += line.quantity

    for cand in ordered:
        if all(free(p, cand.location_id) >= q for p, q in demand_per_product.items()):
            return AllocationPlan(
                tuple(Allocation(line.line_index, line.product_id, cand.location_id, line.quantity) for line in lines),
                RULE_SINGLE,
            )

    allocations: list[Allocation] = []
    shortages: list[Shortage] = []
    for line in lines:
        needed = line.quantity
        taken: list[Allocation] = []
        for cand in ordered:
            if needed == 0:
                break
            can = min(needed, free(line.product_id, cand.location_id))
            if can > 0:
                taken.append(Allocation(line.line_index, line.product_id, cand.location_id, can))
                avail[(line.product_id, cand.location_id)] -= can
                needed -= can
        if needed:
            shortages.append(Shortage(line.line_index, line.sku, line.quantity, line.quantity - needed))
        allocations.extend(taken)
    if shortages:
        raise InsufficientStock(shortages)
    return AllocationPlan(tuple(allocations), RULE_SPLIT)


def network_available(product_id: int, stock: Mapping[StockKey, StockPosition], location_ids: Sequence[int]) -> int:
    return sum(max(stock[(product_id, loc)].available, 0) for loc in location_ids if (product_id, loc) in stock)


class LedgerEntryType:
    """Why a stock balance moved; every movement appends one ledger row of these types."""

    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    COUNT = "count"  # on hand set to a counted figure
    RESERVATION = "reservation"
    RELEASE = "release"
    SHIPMENT = "shipment"
    RESTOCK = "restock"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"

    ALL = (RECEIPT, ADJUSTMENT, COUNT, RESERVATION, RELEASE, SHIPMENT, RESTOCK, TRANSFER_OUT, TRANSFER_IN)


#: Most units one stock row holds (its columns are 32-bit INTEGER).
MAX_ON_HAND = 2**31 - 1


def check_on_hand_change(sku: str, location: str, on_hand: int, reserved: int, delta: int) -> None:
    """On hand may never drop below what is already promised to orders (or below zero), nor
    grow past what a stock row can hold."""
    new = on_hand + delta
    if new > MAX_ON_HAND:
        raise DomainError(
            ErrorCode.STOCK_CONFLICT,
            f"{sku} at {location}: on hand would become {new}, more than the {MAX_ON_HAND} units a stock row holds",
            [FieldError("delta", f"on hand {on_hand} + {delta} > {MAX_ON_HAND}")],
            extra={"on_hand": on_hand, "reserved": reserved, "delta": delta},
        )
    if new < 0 or new < reserved:
        raise DomainError(
            ErrorCode.STOCK_CONFLICT,
            f"{sku} at {location}: on hand would become {new}, but {reserved} unit(s) are "
            f"reserved for orders; cancel or ship those first, or adjust by at least "
            f"{reserved - on_hand}",
            [FieldError("delta", f"on hand {on_hand} + {delta} < reserved {reserved}")],
            extra={"on_hand": on_hand, "reserved": reserved, "delta": delta},
        )


@dataclass(frozen=True)
class InboundLot:
    """Units expected at a location (a purchase order or a transfer) and when they arrive."""

    expected_at: dt.datetime
    quantity: int
    reference: str | None = None
    inbound_id: int | None = None  # the inbound_stock row, when backorders claim units of it


def inbound_ready_at(
    needed: Mapping[int, int],
    available: Mapping[int, int],
    inbound: Mapping[int, Sequence[InboundLot]],
) -> tuple[dict[int, int], dt.datetime | None, list[InboundLot]]:
    """When one location could ship ``needed`` (units per product) counting what it expects.

    Stock on the shelf goes first; each product short of it takes its inbound lots earliest
    first until covered. Returns the units per product the location can count on (shelf plus
    the lots used, or everything it has when even that falls short), the moment the last lot
    used arrives (None: the shelf covers it all), and the lots used.
    """
    units: dict[int, int] = {}
    ready: dt.datetime | None = None
    used: list[InboundLot] = []
    for product_id, qty in needed.items():
        have = max(available.get(product_id, 0), 0)
        for lot in sorted(inbound.get(product_id, ()), key=lambda lot: lot.expected_at):
            if have >= qty:
                break
            have += lot.quantity
            used.append(lot)
            ready = lot.expected_at if ready is None else max(ready, lot.expected_at)
        units[product_id] = have
    return units, ready, used
