"""The placeholder sourcing rule (``plan_allocation``) and the on-hand guard.

The hypothesis tests check the plan against an independent statement of the rule: given
any stock map, candidates and demand, either the network is short for some SKU and the
refusal names exactly those shortfalls, or every line is covered exactly from candidate
locations without taking more than is free anywhere.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.inventory import (
    MAX_ON_HAND,
    RULE_SINGLE,
    RULE_SPLIT,
    Allocation,
    AllocationPlan,
    Candidate,
    InsufficientStock,
    LineDemand,
    StockKey,
    StockPosition,
    check_on_hand_change,
    network_available,
    plan_allocation,
)

PRODUCTS = [1, 2, 3]
LOCATIONS = [10, 20, 30, 40]
SKU = {1: "A", 2: "B", 3: "C"}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[LineDemand], dict[StockKey, StockPosition], list[Candidate]]:
    stock: dict[StockKey, StockPosition] = {}
    for p in PRODUCTS:
        for loc in LOCATIONS:
            if draw(st.booleans()):
                on_hand = draw(st.integers(0, 12))
                # reserved may exceed on hand in a snapshot of corrupt books: the plan must
                # treat such a row as having nothing free, never as negative stock
                reserved = draw(st.integers(0, on_hand + 2))
                stock[(p, loc)] = StockPosition(on_hand, reserved)
    chosen = draw(st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=len(LOCATIONS)))
    candidates = [
        Candidate(loc, draw(st.sampled_from(["N", "S", "E", "W"])) + str(loc), draw(st.integers(0, 3)))
        for loc in chosen
    ]
    lines = [
        LineDemand(i, p, SKU[p], q)
        for i, (p, q) in enumerate(
            draw(st.lists(st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 15)), min_size=1, max_size=6))
        )
    ]
    return lines, stock, candidates


def _free(stock: dict[StockKey, StockPosition], p: int, loc: int) -> int:
    pos = stock.get((p, loc))
    return max(pos.on_hand - pos.reserved, 0) if pos else 0


@given(scenarios())
def test_plan_covers_every_line_exactly_or_names_every_shortfall(
    scenario: tuple[list[LineDemand], dict[StockKey, StockPosition], list[Candidate]],
) -> None:
    lines, stock, candidates = scenario
    snapshot = dict(stock)
    cand_ids = [c.location_id for c in candidates]
    demand: dict[int, int] = defaultdict(int)
    for ln in lines:
        demand[ln.product_id] += ln.quantity
    network = {p: sum(_free(stock, p, loc) for loc in cand_ids) for p in demand}
    short = {p for p in demand if demand[p] > network[p]}

    try:
        plan = plan_allocation(lines, stock, candidates)
    except InsufficientStock as exc:
        assert short, "refused although the network covers every SKU"
        assert exc.code == ErrorCode.INSUFFICIENT_STOCK
        named = {s.line_index for s in exc.shortages}
        by_line = {ln.line_index: ln for ln in lines}
        # only lines of short SKUs are named, and every short SKU is named
        assert {by_line[i].product_id for i in named} == short
        # per SKU the named shortfalls add up to exactly what the network lacks
        missing: dict[int, int] = defaultdict(int)
        for s in exc.shortages:
            ln = by_line[s.line_index]
            assert (s.sku, s.requested) == (ln.sku, ln.quantity)
            assert 0 <= s.available < s.requested
            missing[ln.product_id] += s.requested - s.available
        assert missing == {p: demand[p] - network[p] for p in short}
        assert [e.field for e in exc.errors] == [f"lines[{s.line_index}].quantity" for s in exc.shortages]
        assert sorted(exc.extra["shortages"], key=str) == sorted(  # type: ignore[arg-type]
            (
                {"sku": s.sku, "requested": s.requested, "available": s.available, "short": s.requested - s.available}
                for s in exc.shortages
            ),
            key=str,
        )
        assert stock == snapshot  # the caller's snapshot is not touched
        return

    assert not short, f"planned although {sorted(short)} cannot be covered"
    assert stock == snapshot
    taken: dict[int, int] = defaultdict(int)
    per_stock: dict[StockKey, int] = defaultdict(int)
    for a in plan.allocations:
        assert a.quantity > 0
        assert a.location_id in cand_ids, "allocated at a location that is not a candidate"
        assert a.product_id == lines[a.line_index].product_id
        taken[a.line_index] += a.quantity
        per_stock[(a.product_id, a.location_id)] += a.quantity
    assert taken == {ln.line_index: ln.quantity for ln in lines}
    for (p, loc), q in per_stock.items():
        assert q <= _free(stock, p, loc), f"took {q} of product {p} at {loc}"
    assert sorted(plan.stock_deltas()) == plan.stock_deltas()
    assert {(p, loc): q for p, loc, q in plan.stock_deltas()} == per_stock

    ordered = sorted(candidates, key=lambda c: (c.priority, c.code))
    single = [c for c in ordered if all(_free(stock, p, c.location_id) >= q for p, q in demand.items())]
    if single:
        assert plan.rule == RULE_SINGLE
        assert {a.location_id for a in plan.allocations} == {single[0].location_id}
        assert [a.line_index for a in plan.allocations] == [ln.line_index for ln in lines]
    else:
        assert plan.rule == RULE_SPLIT


@given(scenarios(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_whatever_the_input_order(
    scenario: tuple[list[LineDemand], dict[StockKey, StockPosition], list[Candidate]], rnd: random.Random
) -> None:
    lines, stock, candidates = scenario
    shuffled_candidates = list(candidates)
    rnd.shuffle(shuffled_candidates)
    items = list(stock.items())
    rnd.shuffle(items)

    def outcome(cands: list[Candidate], st_map: dict[StockKey, StockPosition]) -> object:
        try:
            return plan_allocation(lines, st_map, cands)
        except InsufficientStock as exc:
            return ("short", exc.shortages)

    first = outcome(candidates, stock)
    assert outcome(candidates, stock) == first
    assert outcome(shuffled_candidates, dict(items)) == first


# --- examples -----------------------------------------------------------------------------


def _stock(**levels: int) -> dict[StockKey, StockPosition]:
    """_stock(p1_l10=5) -> {(1, 10): StockPosition(5, 0)}."""
    out = {}
    for key, units in levels.items():
        p, loc = key.split("_")
        out[(int(p[1:]), int(loc[1:]))] = StockPosition(units, 0)
    return out


WH1 = Candidate(10, "WH1", 10)
WH2 = Candidate(20, "WH2", 20)
ST1 = Candidate(30, "ST1", 5)


def test_lowest_priority_number_that_covers_everything_wins() -> None:
    lines = [LineDemand(0, 1, "A", 2), LineDemand(1, 2, "B", 1)]
    stock = _stock(p1_l10=5, p2_l10=5, p1_l20=5, p2_l20=5, p1_l30=5)  # ST1 first by priority, but lacks B
    plan = plan_allocation(lines, stock, [WH2, ST1, WH1])
    assert plan.rule == RULE_SINGLE
    assert plan.allocations == (Allocation(0, 1, 10, 2), Allocation(1, 2, 10, 1))


def test_equal_priority_is_broken_by_location_code() -> None:
    a = Candidate(20, "ALPHA", 1)
    b = Candidate(10, "BRAVO", 1)
    plan = plan_allocation([LineDemand(0, 1, "A", 1)], _stock(p1_l10=5, p1_l20=5), [b, a])
    assert plan.allocations == (Allocation(0, 1, 20, 1),)


def test_a_single_location_is_preferred_to_a_split_even_at_lower_priority() -> None:
    lines = [LineDemand(0, 1, "A", 4)]
    stock = _stock(p1_l30=3, p1_l10=3, p1_l20=4)
    plan = plan_allocation(lines, stock, [ST1, WH1, WH2])
    assert plan.rule == RULE_SINGLE
    assert plan.allocations == (Allocation(0, 1, 20, 4),)


def test_split_takes_from_locations_in_priority_order_line_by_line() -> None:
    lines = [LineDemand(0, 1, "A", 6), LineDemand(1, 2, "B", 2), LineDemand(2, 1, "A", 1)]
    stock = _stock(p1_l30=2, p1_l10=3, p1_l20=9, p2_l10=2)
    plan = plan_allocation(lines, stock, [WH2, WH1, ST1])
    assert plan.rule == RULE_SPLIT
    assert plan.allocations == (
        Allocation(0, 1, 30, 2),
        Allocation(0, 1, 10, 3),
        Allocation(0, 1, 20, 1),
        Allocation(1, 2, 10, 2),
        Allocation(2, 1, 20, 1),
    )


def test_the_same_sku_on_two_lines_counts_against_one_stock_row() -> None:
    lines = [LineDemand(0, 1, "A", 3), LineDemand(1, 1, "A", 3)]
    # WH1 has 5: enough for either line, not for both, so no single location
    plan = plan_allocation(lines, _stock(p1_l10=5, p1_l20=1), [WH1, WH2])
    assert plan.rule == RULE_SPLIT
    assert plan.stock_deltas() == [(1, 10, 5), (1, 20, 1)]
    with pytest.raises(InsufficientStock) as info:
        plan_allocation(lines, _stock(p1_l10=5), [WH1, WH2])
    [shortage] = info.value.shortages
    assert (shortage.line_index, shortage.requested, shortage.available) == (1, 3, 2)
    assert info.value.message == "Not enough stock to cover the order: A short by 1"


def test_reserved_units_and_non_candidates_do_not_count() -> None:
    stock = {(1, 10): StockPosition(5, 4), (1, 20): StockPosition(50, 0), (1, 30): StockPosition(2, 9)}
    with pytest.raises(InsufficientStock) as info:
        plan_allocation([LineDemand(0, 1, "A", 2)], stock, [WH1, ST1])  # WH2 (location 20) is no candidate
    assert info.value.errors[0].reason == "2 of A requested, 1 available"
    assert network_available(1, stock, [10, 20, 30]) == 51
    assert network_available(1, stock, [10, 30, 99]) == 1


def test_no_candidates_means_every_line_is_short() -> None:
    with pytest.raises(InsufficientStock) as info:
        plan_allocation([LineDemand(0, 1, "A", 1), LineDemand(1, 2, "B", 2)], _stock(p1_l10=9), [])
    assert [(s.sku, s.available) for s in info.value.shortages] == [("A", 0), ("B", 0)]
    assert info.value.extra["shortages"] == [
        {"sku": "A", "requested": 1, "available": 0, "short": 1},
        {"sku": "B", "requested": 2, "available": 0, "short": 2},
    ]


def test_stock_deltas_sum_per_row_and_sort_by_product_then_location() -> None:
    plan = AllocationPlan(
        (
            Allocation(0, 2, 10, 1),
            Allocation(1, 1, 20, 2),
            Allocation(2, 1, 10, 3),
            Allocation(3, 2, 10, 4),
            Allocation(4, 1, 20, 5),
        ),
        RULE_SPLIT,
    )
    assert plan.stock_deltas() == [(1, 10, 3), (1, 20, 7), (2, 10, 5)]
    assert AllocationPlan((), RULE_SINGLE).stock_deltas() == []


# --- on hand may not fall below reserved --------------------------------------------------


@pytest.mark.parametrize(
    ("on_hand", "reserved", "delta"), [(10, 4, -6), (10, 4, 0), (10, 4, 5), (0, 0, 0), (5, 0, -5), (3, 3, 7)]
)
def test_on_hand_change_allowed(on_hand: int, reserved: int, delta: int) -> None:
    check_on_hand_change("A", "WH1", on_hand, reserved, delta)


@pytest.mark.parametrize(("on_hand", "reserved", "delta"), [(10, 4, -7), (10, 10, -1), (5, 0, -6), (0, 0, -1)])
def test_on_hand_change_refused(on_hand: int, reserved: int, delta: int) -> None:
    with pytest.raises(DomainError) as info:
        check_on_hand_change("A", "WH1", on_hand, reserved, delta)
    exc = info.value
    assert exc.code == ErrorCode.STOCK_CONFLICT
    assert exc.message.startswith(f"A at WH1: on hand would become {on_hand + delta}, but {reserved} unit(s)")
    assert [(e.field, e.reason) for e in exc.errors] == [
        ("delta", f"on hand {on_hand} + {delta} < reserved {reserved}")
    ]
    assert exc.extra == {"on_hand": on_hand, "reserved": reserved, "delta": delta}


def test_on_hand_may_not_grow_past_what_a_stock_row_holds() -> None:
    check_on_hand_change("A", "WH1", MAX_ON_HAND - 5, 0, 5)
    with pytest.raises(DomainError) as info:
        check_on_hand_change("A", "WH1", MAX_ON_HAND - 5, 3, 6)
    assert info.value.code == ErrorCode.STOCK_CONFLICT
    assert info.value.message == (
        f"A at WH1: on hand would become {MAX_ON_HAND + 1}, more than the {MAX_ON_HAND} units a stock row holds"
    )
    assert [e.field for e in info.value.errors] == ["delta"]
    assert MAX_ON_HAND == 2**31 - 1  # the stock_levels columns are 32-bit INTEGER


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(-2000, 2000))
def test_on_hand_change_property(on_hand: int, reserved: int, delta: int) -> None:
    ok = on_hand + delta >= max(reserved, 0)
    try:
        check_on_hand_change("A", "WH1", on_hand, reserved, delta)
    except DomainError:
        assert not ok
    else:
        assert ok
