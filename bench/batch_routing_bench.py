"""Batch re-optimisation (``domain.batch_routing.optimise``) on 10,000 orders over 50 locations.

Hand-run, never a test::

    .venv/bin/python bench/batch_routing_bench.py                      # 10,000 orders, 3 runs
    .venv/bin/python bench/batch_routing_bench.py --orders 2000 --repeat 1 --time-limit 20
    .venv/bin/python bench/batch_routing_bench.py --allow-later        # may complete later than promised

The network, the fake carriers and the orders are those of ``bench/routing_bench.py`` (50 US
locations, a zone/weight rate table, Zipf-skewed 3-line orders to ~2,000 postal codes), with
tighter shelves: each SKU has about 1.25 times its expected demand in the network, in lots of a
few units spread over the locations, and every location can ship only so many units today (the
network as a whole about 1.2 times the demand). Then:

1. **Greedy.** Every order is routed with ``route`` in arrival order against what the orders
   before it left (stock and capacity deplete): that is the plan each order holds (``current``).
2. **Options.** Every order is routed again against the stock and capacity available to the
   whole batch, and ``order_options`` keeps its current plan plus the best alternatives (at most
   8 in all; by default none completing later than the current plan's promise).
3. **Optimise.** ``optimise`` with the batch's stock and capacity, starting from the greedy plans.

Prints the model size, the time to build the options and to solve, HiGHS's status, the objective
against the greedy one, the saving, the MIP gap and the orders moved; with ``--repeat`` the
optimiser runs that many times on the same model and the median solve time is printed.
Target: the optimiser under 60 s for 10,000 orders x 50 locations.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from decimal import Decimal

from openoms.domain.batch_routing import BatchPlan, OrderOptions, SolveProgress, optimise, order_options
from openoms.domain.inventory import InsufficientStock
from openoms.domain.network import LocationProfile
from openoms.domain.routing import RoutingDecision, RoutingRequest, SourcingRules, SplitPolicy, route
from routing_bench import build_network, build_orders, fake_promise, fake_quote, zipf_weights

AVG_UNITS = 1.6  # mean of routing_bench's line quantities (1, 1, 1, 2, 3)


def tight_network(n_locations: int, seed: int, demand_units: float, capacity_share: float) -> list[LocationProfile]:
    """routing_bench's network with daily capacities that add up to ``capacity_share`` of the
    demand: warehouses take the bulk, stores a little each."""
    rng = random.Random(seed + 10)
    locations = build_network(n_locations, seed)
    weights = [rng.uniform(4, 10) if loc.kind == "warehouse" else rng.uniform(0.5, 1.5) for loc in locations]
    total = sum(weights)
    return [
        dataclasses.replace(loc, capacity_left_today=max(5, round(demand_units * capacity_share * w / total)))
        for loc, w in zip(locations, weights, strict=True)
    ]


def tight_stock(
    locations: Sequence[LocationProfile], skus: Sequence[str], demand_lines: int, seed: int, cover: float
) -> dict[tuple[str, str], int]:
    """About ``cover`` times each SKU's expected demand, in lots of 3 to 12 units (any one
    line fits a lot) at as many locations as the lots go round, warehouses twice as likely as
    stores: popular SKUs are everywhere, the long tail at one or two places, and the nearest
    or cheapest shelf often runs dry."""
    rng = random.Random(seed + 11)
    weights = zipf_weights(len(skus), 1.0)
    total_w = sum(weights)
    codes = [loc.code for loc in locations]
    pick = [2.0 if loc.kind == "warehouse" else 1.0 for loc in locations]
    stock: dict[tuple[str, str], int] = {}
    for sku, w in zip(skus, weights, strict=True):
        left = max(3, round(demand_lines * w / total_w * AVG_UNITS * cover))
        while left > 0:
            lot = min(left, rng.randint(3, 12))
            code = rng.choices(codes, pick)[0]
            stock[(sku, code)] = stock.get((sku, code), 0) + max(lot, 3)
            left -= lot
    return stock


def with_capacity(locations: Sequence[LocationProfile], capacity: dict[str, int]) -> list[LocationProfile]:
    return [dataclasses.replace(loc, capacity_left_today=capacity[loc.code]) for loc in locations]


def greedy(
    orders: Sequence[RoutingRequest],
    stock: dict[tuple[str, str], int],
    locations: Sequence[LocationProfile],
    rules: SourcingRules,
) -> list[tuple[int, RoutingDecision]]:
    """Route in arrival order against depleting stock and capacity: what each order holds."""
    left = dict(stock)
    cap = {loc.code: loc.capacity_left_today or 0 for loc in locations}
    by_code = {loc.code: loc for loc in locations}
    routed = []
    for n, req in enumerate(orders):
        current = [dataclasses.replace(by_code[c], capacity_left_today=cap[c]) for c in by_code]
        try:
            decision = route(req, left, current, rules, fake_quote, fake_promise)
        except InsufficientStock:
            continue
        for a in decision.allocations:
            left[(a.sku, a.location_code)] -= a.quantity
            cap[a.location_code] -= a.quantity
        routed.append((n, decision))
    return routed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=10_000, help="orders in the batch (default 10000)")
    p.add_argument("--lines", type=int, default=3, help="lines per order (default 3)")
    p.add_argument("--locations", type=int, default=50, help="candidate locations (default 50)")
    p.add_argument("--skus", type=int, default=500, help="SKUs in the catalogue (default 500)")
    p.add_argument("--options", type=int, default=8, help="candidate plans per order (default 8)")
    p.add_argument("--cover", type=float, default=1.25, help="stock per SKU / expected demand (default 1.25)")
    p.add_argument("--capacity", type=float, default=1.2, help="network capacity / demand (default 1.2)")
    p.add_argument("--time-limit", type=float, default=50.0, help="solver time limit, s (default 50)")
    p.add_argument("--gap", type=float, default=1e-4, help="relative MIP gap to stop at (default 1e-4)")
    p.add_argument("--split-penalty", default="0", help="extra penalty per additional shipment (default 0)")
    p.add_argument("--allow-later", action="store_true", help="alternatives may complete later than promised")
    p.add_argument("--repeat", type=int, default=3, help="optimiser runs; the median time is printed (default 3)")
    p.add_argument("--progress", action="store_true", help="print each better solution HiGHS finds")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)

    demand_lines = args.orders * args.lines
    locations = tight_network(args.locations, args.seed, demand_lines * AVG_UNITS, args.capacity)
    skus = [f"SKU-{i:05d}" for i in range(args.skus)]
    stock = tight_stock(locations, skus, demand_lines, args.seed, args.cover)
    orders = build_orders(args.orders, args.lines, skus, args.seed, premium_share=0.1)
    rules = SourcingRules(version=1, name="bench", split_policy=SplitPolicy.ALLOWED, max_shipments=3)
    print(
        f"batch routing bench: {args.orders} orders x {args.lines} lines, {args.locations} locations, "
        f"{args.skus} SKUs, stock {args.cover:.2f}x demand, capacity {args.capacity:.2f}x demand, "
        f"{args.options} options per order{', later completion allowed' if args.allow_later else ''}"
    )
    print(
        f"machine: {os.cpu_count()} CPU(s), {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )

    t0 = time.perf_counter()
    routed = greedy(orders, stock, locations, rules)
    t_greedy = time.perf_counter() - t0
    print(f"greedy: {len(routed)} orders routed in sequence, {args.orders - len(routed)} refused, {t_greedy:.1f} s")

    t0 = time.perf_counter()
    batch: list[OrderOptions] = []
    for n, decision in routed:
        alternatives = route(orders[n], stock, locations, rules, fake_quote, fake_promise)
        batch.append(
            order_options(
                f"O{n:06d}",
                decision,
                alternatives=alternatives,
                limit=args.options,
                keep_promise=not args.allow_later,
            )
        )
    t_options = time.perf_counter() - t0
    n_options = sum(len(o.options) for o in batch)
    print(f"options: {n_options} plans for {len(batch)} orders ({n_options / len(batch):.2f} each), {t_options:.1f} s")

    capacity: dict[str, int | None] = {loc.code: loc.capacity_left_today for loc in locations}

    def show(event: SolveProgress) -> None:
        print(f"  {event.seconds:7.2f} s  objective {event.objective:12.2f}  bound {event.dual_bound:12.2f}")

    results: list[BatchPlan] = []
    wall: list[float] = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        plan = optimise(
            batch,
            stock,
            capacity,
            extra_split_penalty=Decimal(args.split_penalty),
            time_limit_s=args.time_limit,
            mip_gap=args.gap,
            progress=show if args.progress else None,
        )
        wall.append(time.perf_counter() - t0)
        results.append(plan)
    plan = results[-1]
    same = all(r.choices == plan.choices for r in results)
    print(
        f"model: {plan.variables} variables, {plan.constraints} constraints, {plan.fixed_orders} orders fixed; "
        f"method {plan.method}, {plan.columns_searched} variables left to the 0/1 search"
    )
    print(
        f"optimise: build {statistics.median(r.build_seconds for r in results):.2f} s, "
        f"solve {statistics.median(r.solve_seconds for r in results):.2f} s, "
        f"total {statistics.median(wall):.2f} s (median of {len(results)}; "
        f"runs {', '.join(f'{w:.1f}' for w in wall)} s)"
        f"{'' if same else '; runs chose differently'}"
    )
    print(f"status: {plan.status}{' (kept the current plans)' if plan.kept_current else ''}")
    gap = "n/a" if plan.mip_gap is None else f"{plan.mip_gap:.2e}"
    to_bound = "n/a" if plan.gap_to_bound is None else f"{plan.gap_to_bound:.2%}"
    print(
        f"objective {plan.objective:.2f} vs greedy {plan.greedy_objective:.2f}: saving {plan.saving:.2f} "
        f"({plan.saving_pct}%); HiGHS MIP gap {gap}; dual bound (LP) {plan.dual_bound}, {to_bound} below"
    )
    print(f"saving % per run: {', '.join(str(r.saving_pct) for r in results)}")
    print(f"changed orders: {len(plan.moves)} of {len(batch)}")
    total = statistics.median(wall)
    print(f"target optimiser < 60 s: {'met' if total < 60 else 'NOT met'} ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
