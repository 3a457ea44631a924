"""The pure backorder rules: who may wait, lot claims, and the queue order on receipt."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.backorders import (
    LotRoom,
    Waiting,
    allocate_in_queue_order,
    claim_lots,
    may_wait,
    sellable_from_shelf,
    split_shelf_and_lots,
)

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_only_a_product_that_allows_it_on_a_channel_that_accepts_it_may_wait() -> None:
    assert may_wait("backorder", True) and may_wait("preorder", True)
    assert not may_wait("none", True)
    assert not may_wait("backorder", False) and not may_wait("preorder", False)
    assert not may_wait("something else", True)


def test_a_preorder_product_is_not_sold_from_the_shelf() -> None:
    assert sellable_from_shelf("preorder", 7) == 0
    assert sellable_from_shelf("backorder", 7) == 7 and sellable_from_shelf("none", 7) == 7
    assert sellable_from_shelf("none", -2) == 0


def test_lots_are_claimed_earliest_first_and_never_beyond_their_room() -> None:
    late, early, same_day = LotRoom(1, T0 + dt.timedelta(days=9), 5), LotRoom(2, T0, 2), LotRoom(3, T0, 1)
    claims = claim_lots(6, [late, early, same_day])
    assert claims is not None
    assert [(c.inbound_id, c.quantity) for c in claims] == [(2, 2), (3, 1), (1, 3)]
    assert claim_lots(9, [late, early, same_day]) is None  # 8 units of room in all
    assert claim_lots(0, [late]) == []
    assert claim_lots(1, [LotRoom(4, T0, 0), LotRoom(5, T0, -3)]) is None


def test_a_line_takes_the_shelf_first_then_the_lots() -> None:
    assert split_shelf_and_lots(3, 5, []) == (3, [])
    split = split_shelf_and_lots(4, 1, [LotRoom(1, T0, 10)])
    assert split is not None and split[0] == 1 and [(c.inbound_id, c.quantity) for c in split[1]] == [(1, 3)]
    assert split_shelf_and_lots(4, 1, [LotRoom(1, T0, 2)]) is None


def test_received_units_go_first_come_first_served_and_a_busy_order_stops_the_queue() -> None:
    queue = [Waiting(7, 3), Waiting(3, 2), Waiting(9, 4)]
    assert allocate_in_queue_order(4, queue) == [(3, 2), (7, 2)]  # by queue position, the last one partly
    assert allocate_in_queue_order(20, queue) == [(3, 2), (7, 3), (9, 4)]
    assert allocate_in_queue_order(0, queue) == []
    blocked = [Waiting(1, 1), Waiting(2, 5, blocked=True), Waiting(3, 1)]
    assert allocate_in_queue_order(10, blocked) == [(1, 1)]  # nobody overtakes order 2


@given(
    st.lists(st.integers(min_value=0, max_value=20), max_size=6),
    st.integers(min_value=0, max_value=60),
)
def test_claims_cover_exactly_the_need_within_each_lot(rooms: list[int], need: int) -> None:
    lots = [LotRoom(i + 1, T0 + dt.timedelta(days=(i * 5) % 7), r) for i, r in enumerate(rooms)]
    claims = claim_lots(need, lots)
    if need > sum(rooms):
        assert claims is None
        return
    assert claims is not None and sum(c.quantity for c in claims) == need
    room = {lot.inbound_id: lot.free for lot in lots}
    for c in claims:
        assert 0 < c.quantity <= room[c.inbound_id]
    # Earliest first: a lot is used only if every earlier lot is used up.
    used = {c.inbound_id: c.quantity for c in claims}
    order = sorted(lots, key=lambda lot: (lot.expected_at, lot.inbound_id))
    for i, lot in enumerate(order):
        if lot.inbound_id in used:
            assert all(used.get(e.inbound_id, 0) == e.free for e in order[:i])


@given(
    st.integers(min_value=0, max_value=50),
    st.lists(st.tuples(st.integers(min_value=1, max_value=10), st.booleans()), max_size=8),
)
def test_the_queue_is_served_as_a_prefix_and_never_beyond_what_arrived(
    available: int, items: list[tuple[int, bool]]
) -> None:
    queue = [Waiting(i + 1, q, b) for i, (q, b) in enumerate(items)]
    plan = allocate_in_queue_order(available, queue)
    assert sum(n for _, n in plan) <= available
    ids = [bid for bid, _ in plan]
    assert ids == list(range(1, len(ids) + 1))  # a prefix of the queue
    for bid, n in plan[:-1]:
        assert n == queue[bid - 1].quantity  # everyone but the last served is served whole
    assert not any(queue[bid - 1].blocked for bid in ids)
