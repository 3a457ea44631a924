"""Batch re-optimisation (``domain.batch_routing``): hand-checked swaps, stock and capacity,
never worse than the plans the orders hold, validation, options from real routing decisions,
and the optimum checked against a brute force on small instances."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openoms.domain.batch_routing import (
    OrderOptions,
    PlanOption,
    optimise,
    option_from_plan,
    options_from_decision,
    order_options,
)
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.network import Address, GeoPoint, LocationProfile, PromiseWindow, RateQuote, ServiceLevel
from openoms.domain.routing import (
    CostWeights,
    RoutingDecision,
    RoutingLine,
    RoutingRequest,
    SourcingRules,
    SplitPolicy,
    route,
)

D = Decimal
T = dt.date(2026, 12, 1)


def opt(label: str, score: str | int | Decimal, units: Mapping[tuple[str, str], int], shipments: int = 1) -> PlanOption:
    return PlanOption(label, D(score), shipments, units)


def at(loc: str, units: int = 1, sku: str = "S") -> dict[tuple[str, str], int]:
    return {(sku, loc): units}


def usage(orders: Sequence[OrderOptions], choices: Sequence[int]) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    stock: dict[tuple[str, str], int] = {}
    cap: dict[str, int] = {}
    for o, p in zip(orders, choices, strict=True):
        for r, n in o.options[p].units.items():
            stock[r] = stock.get(r, 0) + n
            cap[r[1]] = cap.get(r[1], 0) + n
    return stock, cap


# --- hand-checked cases -----------------------------------------------------------------------


def first_come() -> tuple[list[OrderOptions], dict[tuple[str, str], int]]:
    """A came first and took X's only unit (10 against 11 at Y); B, which can only go to X
    (10) or Z (30), got Z. Swapping costs A 1 and saves B 20."""
    a = OrderOptions("A", (opt("X", 10, at("X")), opt("Y", 11, at("Y"))), current=0)
    b = OrderOptions("B", (opt("Z", 30, at("Z")), opt("X", 10, at("X"))), current=0)
    return [a, b], {("S", "X"): 1, ("S", "Y"): 1, ("S", "Z"): 1}


@pytest.mark.parametrize("restrict", [True, False])
def test_swaps_the_first_come_plans_for_a_lower_total(restrict: bool) -> None:
    orders, free = first_come()
    plan = optimise(orders, free, {}, restrict_to_lp_support=restrict)
    assert plan.greedy_objective == D(40)
    assert plan.objective == D(21)
    assert (plan.saving, plan.saving_pct) == (D(19), D("47.50"))
    assert plan.choices == (1, 1)
    assert plan.changed == ("A", "B")
    assert [(m.order_ref, m.before.label, m.after.label, m.saving) for m in plan.moves] == [
        ("A", "X", "Y", D(-1)),
        ("B", "Z", "X", D(20)),
    ]
    assert not plan.kept_current
    assert plan.status == "Optimal"
    assert plan.dual_bound == D(21)
    assert plan.mip_gap == pytest.approx(0, abs=1e-9)
    assert (plan.variables, plan.constraints) == (4, 3)  # X's row only; Y and Z cannot run short


def test_two_units_at_x_leave_the_swap_unneeded() -> None:
    orders, free = first_come()
    plan = optimise(orders, {**free, ("S", "X"): 2}, {})
    assert plan.choices == (0, 1)
    assert plan.objective == D(20)
    assert plan.changed == ("B",)


def test_capacity_goes_to_the_orders_that_save_most() -> None:
    """Every order prefers X (10); X ships 4 more units today, 2 per order. At Y they cost
    12, 20 and 15: B and C get X, A stays at Y."""
    orders = [
        OrderOptions(ref, (opt("Y", y, at("Y", 2)), opt("X", 10, at("X", 2))), current=0)
        for ref, y in (("A", 12), ("B", 20), ("C", 15))
    ]
    free = {("S", "X"): 100, ("S", "Y"): 100}
    plan = optimise(orders, free, {"X": 4, "Y": None})
    assert plan.choices == (0, 1, 1)
    assert plan.objective == D(32)
    assert usage(orders, plan.choices)[1]["X"] == 4


def test_capacity_counts_every_sku_of_a_location() -> None:
    """Capacity is in units over all SKUs: two SKUs with stock enough at X still share it."""
    orders = [
        OrderOptions("A", (opt("Y", 20, at("Y", 1, "S1")), opt("X", 10, at("X", 1, "S1"))), current=0),
        OrderOptions("B", (opt("Y", 30, at("Y", 1, "S2")), opt("X", 10, at("X", 1, "S2"))), current=0),
    ]
    free = {("S1", "X"): 5, ("S2", "X"): 5, ("S1", "Y"): 5, ("S2", "Y"): 5}
    plan = optimise(orders, free, {"X": 1})
    assert plan.choices == (0, 1)
    assert plan.objective == D(30)


def test_stock_of_one_unit_goes_to_one_order_only() -> None:
    orders = [
        OrderOptions(ref, (opt("Y", y, at("Y")), opt("X", 1, at("X"))), current=0)
        for ref, y in (("A", 5), ("B", 9), ("C", 7))
    ]
    plan = optimise(orders, {("S", "X"): 1, ("S", "Y"): 3}, {})
    assert plan.choices == (0, 1, 0)
    assert usage(orders, plan.choices)[0][("S", "X")] == 1
    assert plan.objective == D(13)


def test_keeps_the_current_plans_when_nothing_is_better() -> None:
    orders = [
        OrderOptions("A", (opt("X", 10, at("X")), opt("Y", 12, at("Y")))),
        OrderOptions("B", (opt("Y", 11, at("Y")), opt("X", 11, at("X")))),  # a tie: no reason to move
    ]
    plan = optimise(orders, {("S", "X"): 2, ("S", "Y"): 2}, {})
    assert plan.choices == (0, 0)
    assert plan.moves == ()
    assert plan.kept_current
    assert plan.objective == plan.greedy_objective == D(21)
    assert plan.saving == 0


def test_orders_with_a_single_plan_are_fixed_and_their_stock_is_taken() -> None:
    """C holds X's only unit and has no alternative: A cannot have it."""
    orders = [
        OrderOptions("A", (opt("Y", 30, at("Y")), opt("X", 10, at("X")))),
        OrderOptions("C", (opt("X", 50, at("X")),)),
    ]
    plan = optimise(orders, {("S", "X"): 1, ("S", "Y"): 1}, {})
    assert plan.choices == (0, 0)
    assert plan.fixed_orders == 2  # A's X plan cannot fit once C is fixed: A is fixed too
    assert plan.variables == 0
    assert plan.status == "Nothing to optimise"
    assert plan.objective == D(80)


def test_extra_split_penalty_tips_the_choice_to_one_shipment() -> None:
    split = opt("split X+Y", 10, {("S", "X"): 1, ("T", "Y"): 1}, shipments=2)
    single = opt("Z", 12, {("S", "Z"): 1, ("T", "Z"): 1})
    orders = [OrderOptions("A", (split, single))]
    free = {("S", "X"): 1, ("T", "Y"): 1, ("S", "Z"): 1, ("T", "Z"): 1}
    assert optimise(orders, free, {}).choices == (0,)
    plan = optimise(orders, free, {}, extra_split_penalty=D(5))
    assert plan.choices == (1,)
    assert (plan.greedy_objective, plan.objective) == (D(15), D(12))


def test_move_cost_keeps_orders_that_would_save_less() -> None:
    orders = [
        OrderOptions("A", (opt("Y", "10.50", at("Y")), opt("X", 10, at("X")))),  # saves 0.50
        OrderOptions("B", (opt("Y", 14, at("Y")), opt("X", 10, at("X")))),  # saves 4
    ]
    free = {("S", "X"): 5, ("S", "Y"): 5}
    assert optimise(orders, free, {}).choices == (1, 1)
    plan = optimise(orders, free, {}, move_cost=D(1))
    assert plan.choices == (0, 1)
    assert plan.objective == D("20.50")


def test_the_same_input_gives_the_same_plan() -> None:
    orders, free, capacity = random_instance(11, orders=40, options=5)
    first = optimise(orders, free, capacity)
    assert all(optimise(orders, free, capacity).choices == first.choices for _ in range(3))


def test_progress_is_reported() -> None:
    orders, free = first_come()
    seen: list[float] = []
    optimise(orders, free, {}, progress=lambda p: seen.append(p.objective))
    assert seen and min(seen) == pytest.approx(21)


# --- never worse, always within stock and capacity --------------------------------------------


def random_instance(
    seed: int, orders: int, options: int
) -> tuple[list[OrderOptions], dict[tuple[str, str], int], dict[str, int | None]]:
    """Orders of 1-2 SKUs over 6 locations, stock and capacity a little above what the
    current (first) plans use, so that the cheap plans compete."""
    import random

    rng = random.Random(seed)
    locs = [f"L{i}" for i in range(6)]
    skus = [f"S{i}" for i in range(4)]
    out = []
    for n in range(orders):
        picked = rng.sample(skus, rng.randint(1, 2))
        opts = []
        for k in range(options):
            units = {(s, rng.choice(locs)): rng.randint(1, 3) for s in picked}
            opts.append(opt(f"P{k}", rng.randint(5, 40), units, shipments=len({c for _, c in units})))
        out.append(OrderOptions(f"O{n}", tuple(opts), current=rng.randrange(options)))
    stock, cap = usage(out, [o.current for o in out])
    free = {(s, c): stock.get((s, c), 0) + rng.randint(0, 2) for s in skus for c in locs}
    capacity: dict[str, int | None] = {c: cap.get(c, 0) + rng.randint(0, 3) for c in locs}
    capacity["L5"] = None
    return out, free, capacity


@pytest.mark.parametrize("seed", range(5))
def test_never_worse_than_greedy_even_when_cut_short(seed: int) -> None:
    orders, free, capacity = random_instance(seed, orders=300, options=6)
    for time_limit in (1e-3, 5.0):
        plan = optimise(orders, free, capacity, time_limit_s=time_limit)
        assert plan.objective <= plan.greedy_objective
        stock, cap = usage(orders, plan.choices)
        assert all(n <= free.get(r, 0) for r, n in stock.items())
        assert all(capacity.get(c) is None or n <= (capacity.get(c) or 0) for c, n in cap.items())
        assert plan.dual_bound is None or plan.dual_bound <= plan.objective


# --- against a brute force --------------------------------------------------------------------

LOCS = ("X", "Y", "Z")


@st.composite
def small_batches(draw: st.DrawFn) -> tuple[list[OrderOptions], dict[tuple[str, str], int], dict[str, int | None]]:
    n_orders = draw(st.integers(1, 4))
    orders = []
    for n in range(n_orders):
        options = []
        for k in range(draw(st.integers(1, 3))):
            units = draw(
                st.dictionaries(
                    st.tuples(st.sampled_from("ab"), st.sampled_from(LOCS)), st.integers(1, 3), min_size=1, max_size=2
                )
            )
            score = D(draw(st.integers(100, 4000))) / 100
            options.append(opt(f"P{k}", score, units, shipments=len({c for _, c in units})))
        orders.append(OrderOptions(f"O{n}", tuple(options), draw(st.integers(0, len(options) - 1))))
    stock, cap = usage(orders, [o.current for o in orders])
    free = {r: n + draw(st.integers(0, 3)) for r, n in stock.items()}
    for sku, code in itertools.product("ab", LOCS):
        free.setdefault((sku, code), draw(st.integers(0, 3)))
    capacity: dict[str, int | None] = {
        c: draw(st.one_of(st.none(), st.integers(cap.get(c, 0), cap.get(c, 0) + 4))) for c in LOCS
    }
    return orders, free, capacity


def brute_force(
    orders: Sequence[OrderOptions],
    free: Mapping[tuple[str, str], int],
    capacity: Mapping[str, int | None],
    penalty: Decimal,
) -> Decimal:
    best: Decimal | None = None
    for choice in itertools.product(*(range(len(o.options)) for o in orders)):
        stock, cap = usage(orders, choice)
        if any(n > free.get(r, 0) for r, n in stock.items()):
            continue
        if any(capacity.get(c) is not None and n > (capacity.get(c) or 0) for c, n in cap.items()):
            continue
        total = sum(
            (o.options[p].score + penalty * (o.options[p].shipments - 1) for o, p in zip(orders, choice, strict=True)),
            D(0),
        )
        best = total if best is None else min(best, total)
    assert best is not None  # the current plans always fit
    return best


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_batches(), st.sampled_from([D(0), D("2.5")]))
def test_optimum_matches_brute_force(
    batch: tuple[list[OrderOptions], dict[tuple[str, str], int], dict[str, int | None]], penalty: Decimal
) -> None:
    orders, free, capacity = batch
    expected = brute_force(orders, free, capacity, penalty)
    exact = optimise(orders, free, capacity, extra_split_penalty=penalty, mip_gap=0, restrict_to_lp_support=False)
    assert exact.objective == expected
    # the default (the program over the LP's plans) may miss the optimum, never feasibility
    quick = optimise(orders, free, capacity, extra_split_penalty=penalty)
    assert expected <= quick.objective <= quick.greedy_objective
    for plan in (exact, quick):
        stock, cap = usage(orders, plan.choices)
        assert all(n <= free.get(r, 0) for r, n in stock.items())
        assert all(capacity.get(c) is None or n <= (capacity.get(c) or 0) for c, n in cap.items())


# --- options from real routing decisions ------------------------------------------------------

DEST = Address("US", "10001", "NY", "New York", GeoPoint(40.75, -73.99))
LANES = {"A": (D(5), 2), "B": (D(20), 2), "C": (D(4), 4)}  # cost per parcel, transit days


def quote(location: LocationProfile, destination: Address, weight: int, level: ServiceLevel) -> list[RateQuote]:
    cost, days = LANES[location.code]
    return [RateQuote(location.code, "UPS", "UPS-GROUND", level, cost, "USD", days, days, "5", 100.0)]


def promise(location: LocationProfile, q: RateQuote) -> PromiseWindow:
    return PromiseWindow(
        T, T + dt.timedelta(days=q.transit_days_min), T + dt.timedelta(days=q.transit_days_max), "test"
    )


LOCATIONS = [LocationProfile(code, "warehouse", None) for code in LANES]
RULES = SourcingRules(
    version=1,
    weights=CostWeights(carrier_cost=D(1), transit_day=D(1), per_100_km=D(0), extra_shipment=D(2), load=D(0)),
)


def order(*lines: tuple[str, int]) -> RoutingRequest:
    return RoutingRequest(tuple(RoutingLine(i, sku, qty, 500) for i, (sku, qty) in enumerate(lines)), DEST, "web", T)


def decide(
    request: RoutingRequest, stock: Mapping[tuple[str, str], int], rules: SourcingRules = RULES
) -> RoutingDecision:
    return route(request, stock, LOCATIONS, rules, quote, promise)


def test_options_from_a_routing_decision() -> None:
    """s1 at A and B, s2 at B and C: A+C (5 + 4 + 4 days + 2 split penalty = 15) beats
    B alone (20 + 2 days = 22)."""
    stock = {("s1", "A"): 5, ("s1", "B"): 5, ("s2", "B"): 5, ("s2", "C"): 5}
    decision = decide(order(("s1", 2), ("s2", 1)), stock)
    options = options_from_decision(decision)
    admissible = [p for p in decision.plans if p.admissible]
    assert [o.label for o in options] == [p.label for p in admissible][:8]
    assert [o.score for o in options] == [p.score for p in admissible][:8]
    split, single = options[0], options[-1]
    assert (split.label, split.score, split.shipments) == ("split A+C", D(15), 2)
    assert dict(split.units) == {("s1", "A"): 2, ("s2", "C"): 1}
    assert dict(split.location_units) == {"A": 2, "C": 1}
    assert split.allocations == decision.allocations
    assert split.complete_by == T + dt.timedelta(days=4)
    assert (single.label, single.score, single.shipments) == ("B", D(22), 1)
    assert dict(single.units) == {("s1", "B"): 2, ("s2", "B"): 1}
    assert dict(single.location_units) == {"B": 3}
    assert [a.location_code for a in single.allocations] == ["B", "B"]
    assert [o.label for o in options_from_decision(decision, limit=1)] == ["split A+C"]
    assert [o.label for o in options_from_decision(decision, not_after=T + dt.timedelta(days=2))] == ["B"]


def test_option_from_plan_sums_lines_of_the_same_sku() -> None:
    stock = {("s1", c): 9 for c in LANES}
    decision = decide(order(("s1", 2), ("s1", 3)), stock)
    option = option_from_plan(decision.chosen, {a.line_index: (a.sku, a.quantity) for a in decision.allocations})
    assert dict(option.units) == {("s1", "A"): 5}


def test_first_come_routing_then_the_batch_swaps_the_orders() -> None:
    """Order 1 (s1) is routed first and takes A's only unit (7), though C would do for it at
    8; order 2 (s1 + s2) then has only B (22). Together, order 1 moves to C and order 2 to A."""
    stock = {("s1", "A"): 1, ("s1", "C"): 1, ("s1", "B"): 1, ("s2", "A"): 1, ("s2", "B"): 1}
    never = SourcingRules(version=1, weights=RULES.weights, split_policy=SplitPolicy.NEVER)
    first, second = order(("s1", 1)), order(("s1", 1), ("s2", 1))
    held1 = decide(first, stock, never)
    left = dict(stock)
    for a in held1.allocations:
        left[(a.sku, a.location_code)] -= a.quantity
    held2 = decide(second, left, never)
    assert (held1.chosen.label, held2.chosen.label) == ("A", "B")
    batch = [
        order_options("1", held1, alternatives=decide(first, stock, never), keep_promise=False),
        order_options("2", held2, alternatives=decide(second, stock, never)),
    ]
    assert all(o.current == 0 for o in batch)
    assert [o.label for o in batch[0].options] == ["A", "C", "B"]
    assert [o.label for o in batch[1].options] == ["B", "A"]
    plan = optimise(batch, stock, {})
    assert [batch[i].options[p].label for i, p in enumerate(plan.choices)] == ["C", "A"]
    assert plan.greedy_objective == D(7) + D(22)
    assert plan.objective == D(8) + D(7)
    assert plan.saving == D(14)


def test_order_options_keep_the_promise_by_default() -> None:
    stock = {("s1", c): 1 for c in LANES}
    decision = decide(order(("s1", 1)), stock)
    assert [o.label for o in order_options("1", decision).options] == ["A", "B"]  # C takes 4 days
    assert [o.label for o in order_options("1", decision, keep_promise=False).options] == ["A", "C", "B"]
    assert len(order_options("1", decision, limit=1).options) == 1


# --- validation -------------------------------------------------------------------------------


def field_of(exc: pytest.ExceptionInfo[DomainError]) -> list[str]:
    assert exc.value.code == ErrorCode.VALIDATION_ERROR
    return [e.field for e in exc.value.errors]


@pytest.mark.parametrize(
    ("orders", "free", "capacity", "field_name"),
    [
        ([OrderOptions("A", (opt("X", 1, at("X")),))], {("S", "X"): -1}, {}, "free[S@X]"),
        ([OrderOptions("A", (opt("X", 1, at("X")),), current=1)], {("S", "X"): 1}, {}, "orders[0].current"),
        ([OrderOptions("A", (opt("X", 1, at("X")),), current=-1)], {("S", "X"): 1}, {}, "orders[0].current"),
        ([OrderOptions("A", ())], {}, {}, "orders[0].options"),
        ([OrderOptions("A", (opt("X", 1, at("X")),))], {("S", "X"): 1}, {"X": -2}, "capacity[X]"),
        (
            [OrderOptions("A", (opt("X", 1, at("X")),)), OrderOptions("A", (opt("X", 1, at("X")),))],
            {("S", "X"): 2},
            {},
            "orders[1].order_ref",
        ),
        ([OrderOptions("A", (opt("X", 1, at("X", 0)),))], {("S", "X"): 1}, {}, "orders[0].options[0].units"),
        (
            [OrderOptions("A", (opt("X", 1, at("X"), shipments=0),))],
            {("S", "X"): 1},
            {},
            "orders[0].options[0].shipments",
        ),
        ([OrderOptions("A", (opt("X", "NaN", at("X")),))], {("S", "X"): 1}, {}, "orders[0].options[0].score"),
        ([OrderOptions("A", (opt("X", 1, at("X", 2)),))], {("S", "X"): 1}, {}, "free[S@X]"),  # current plan short
        ([OrderOptions("A", (opt("X", 1, at("X", 2)),))], {("S", "X"): 2}, {"X": 1}, "capacity[X]"),
    ],
)
def test_bad_input_names_the_field(
    orders: list[OrderOptions],
    free: dict[tuple[str, str], int],
    capacity: dict[str, int | None],
    field_name: str,
) -> None:
    with pytest.raises(DomainError) as exc:
        optimise(orders, free, capacity)
    assert field_name in field_of(exc)


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"extra_split_penalty": D(-1)}, "extra_split_penalty"),
        ({"move_cost": D(-1)}, "move_cost"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"mip_gap": 1.5}, "mip_gap"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], field_name: str) -> None:
    orders, free = first_come()
    with pytest.raises(DomainError) as exc:
        optimise(orders, free, {}, **kwargs)
    assert field_name in field_of(exc)


def test_options_limit_must_be_positive() -> None:
    decision = decide(order(("s1", 1)), {("s1", "A"): 1})
    with pytest.raises(DomainError) as exc:
        options_from_decision(decision, limit=0)
    assert field_of(exc) == ["limit"]
