"""Backorders and preorders: which short lines may wait for inbound stock, how they claim
units of inbound lots, and the order in which received stock goes to them.

A product's ``backorder_policy`` says whether its lines may wait (``backorder``: only the
units the shelves lack; ``preorder``: every unit, the shelf is not sold yet) and the order's
channel must accept backorders. docs/adr/0020-backorders-and-preorders.md has the reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class BackorderPolicy(StrEnum):
    NONE = "none"  # a short line refuses the order (409), as always
    BACKORDER = "backorder"  # units the shelves lack wait for the earliest inbound lots
    PREORDER = "preorder"  # not on sale from the shelf yet: every unit waits for inbound


POLICIES = tuple(p.value for p in BackorderPolicy)


def may_wait(policy: str, channel_accepts: bool) -> bool:
    """Whether units of a line may be captured against inbound stock."""
    return channel_accepts and policy in (BackorderPolicy.BACKORDER, BackorderPolicy.PREORDER)


def sellable_from_shelf(policy: str, available: int) -> int:
    """What capture may take from a shelf: nothing of a preorder product (its stock, if any
    arrived early, goes to the preorders waiting for it when it is received)."""
    return 0 if policy == BackorderPolicy.PREORDER else max(available, 0)


@dataclass(frozen=True)
class LotRoom:
    """An open inbound lot and the units in it that no earlier backorder has claimed."""

    inbound_id: int
    expected_at: dt.datetime
    free: int
    reference: str | None = None


@dataclass(frozen=True)
class LotClaim:
    inbound_id: int
    expected_at: dt.datetime
    quantity: int


def claim_lots(quantity: int, lots: Sequence[LotRoom]) -> list[LotClaim] | None:
    """Claim ``quantity`` units from the lots, earliest arrival first (then lot id), never more
    than a lot's free units. None when the lots together cannot cover it."""
    claims: list[LotClaim] = []
    left = quantity
    for lot in sorted(lots, key=lambda lot: (lot.expected_at, lot.inbound_id)):
        if left == 0:
            break
        take = min(left, max(lot.free, 0))
        if take > 0:
            claims.append(LotClaim(lot.inbound_id, lot.expected_at, take))
            left -= take
    return claims if left == 0 else None


def split_shelf_and_lots(quantity: int, shelf_free: int, lots: Sequence[LotRoom]) -> tuple[int, list[LotClaim]] | None:
    """Units of one line at one location: from the shelf first, the rest claimed on lots."""
    from_shelf = min(quantity, max(shelf_free, 0))
    claims = claim_lots(quantity - from_shelf, lots)
    return None if claims is None else (from_shelf, claims)


@dataclass(frozen=True)
class Waiting:
    """Units of one backorder still waiting at a stock row; ``backorder_id`` is its place in
    the queue. ``blocked``: its order is busy with another command right now."""

    backorder_id: int
    quantity: int
    blocked: bool = False


def allocate_in_queue_order(available: int, queue: Sequence[Waiting]) -> list[tuple[int, int]]:
    """Give received units to the queue first come, first served: (backorder_id, units).

    Each backorder gets all it waits for before the next gets any; the last one served may
    get part. A blocked backorder stops the queue (nobody overtakes it), so the units stay
    available for the next allocation run.
    """
    out: list[tuple[int, int]] = []
    left = max(available, 0)
    for w in sorted(queue, key=lambda w: w.backorder_id):
        if left == 0 or w.blocked:
            break
        take = min(left, w.quantity)
        if take > 0:
            out.append((w.backorder_id, take))
            left -= take
    return out
