"""Routing decision time per order: ``domain.routing.route`` alone, no database, no web stack.

Hand-run, never a test::

    .venv/bin/python bench/routing_bench.py                 # 20,000 orders, 3 lines, 50 locations
    .venv/bin/python bench/routing_bench.py --orders 5000 --lines 5 --repeat 5

The network is 50 US locations (10 warehouses, 40 stores) with real city coordinates, stores
stocking a third of the catalogue and warehouses most of it; orders are 3 lines of Zipf-skewed
SKUs to one of about 100 US metro destinations. Every location is a candidate (it ships, serves
the channel and has capacity), so the engine looks at all 50 for every order. The quote and
promise callables are fakes with the costs the real ones will have: a rate table (zone from
the distance, weight band) and a date calculation, both memoised on plain keys, so after the
first orders nearly every call is a cache hit, as in production.

Prints p50/p99/mean per decision (``route``) and per decision plus its JSON explanation
(``route`` + ``to_dict``), the medians of ``--repeat`` runs, the search statistics and the
machine's CPU count. Target (issue 4): p50 under 1 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import math
import os
import platform
import random
import statistics
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache

from openoms.domain.carriers import great_circle_km
from openoms.domain.network import Address, GeoPoint, LocationProfile, PromiseWindow, RateQuote, ServiceLevel
from openoms.domain.routing import (
    FulfilmentMode,
    RoutingDecision,
    RoutingLine,
    RoutingRequest,
    SourcingRules,
    SplitPolicy,
    route,
)

ORDER_DATE = dt.date(2026, 12, 1)  # a Tuesday

CITIES = [
    ("Dallas", 32.78, -96.80),
    ("Reno", 39.53, -119.81),
    ("Columbus", 39.96, -83.00),
    ("Atlanta", 33.75, -84.39),
    ("Allentown", 40.61, -75.49),
    ("Ontario", 34.06, -117.65),
    ("Memphis", 35.15, -90.05),
    ("Kansas City", 39.10, -94.58),
    ("Indianapolis", 39.77, -86.16),
    ("Seattle", 47.61, -122.33),
    ("New York", 40.71, -74.01),
    ("Los Angeles", 34.05, -118.24),
    ("Chicago", 41.88, -87.63),
    ("Houston", 29.76, -95.37),
    ("Phoenix", 33.45, -112.07),
    ("Philadelphia", 39.95, -75.17),
    ("San Antonio", 29.42, -98.49),
    ("San Diego", 32.72, -117.16),
    ("San Jose", 37.34, -121.89),
    ("Austin", 30.27, -97.74),
    ("Jacksonville", 30.33, -81.66),
    ("Fort Worth", 32.76, -97.33),
    ("Charlotte", 35.23, -80.84),
    ("San Francisco", 37.77, -122.42),
    ("Denver", 39.74, -104.99),
    ("Washington", 38.91, -77.04),
    ("Boston", 42.36, -71.06),
    ("El Paso", 31.76, -106.49),
    ("Nashville", 36.16, -86.78),
    ("Detroit", 42.33, -83.05),
    ("Oklahoma City", 35.47, -97.52),
    ("Portland", 45.52, -122.68),
    ("Las Vegas", 36.17, -115.14),
    ("Louisville", 38.25, -85.76),
    ("Baltimore", 39.29, -76.61),
    ("Milwaukee", 43.04, -87.91),
    ("Albuquerque", 35.08, -106.65),
    ("Tucson", 32.22, -110.97),
    ("Fresno", 36.74, -119.79),
    ("Sacramento", 38.58, -121.49),
    ("Omaha", 41.26, -95.93),
    ("Miami", 25.76, -80.19),
    ("Raleigh", 35.78, -78.64),
    ("Minneapolis", 44.98, -93.27),
    ("Tulsa", 36.15, -95.99),
    ("Cleveland", 41.50, -81.69),
    ("Tampa", 27.95, -82.46),
    ("New Orleans", 29.95, -90.07),
    ("Pittsburgh", 40.44, -79.99),
    ("Cincinnati", 39.10, -84.51),
]


def build_network(n_locations: int, seed: int) -> list[LocationProfile]:
    rng = random.Random(seed)
    warehouses = max(1, n_locations // 5)
    out = []
    for i in range(n_locations):
        name, lat, lon = CITIES[i % len(CITIES)]
        kind = "warehouse" if i < warehouses else "store"
        prefix = "WH" if kind == "warehouse" else "ST"
        out.append(
            LocationProfile(
                code=f"{prefix}-{i:02d}-{name[:3].upper()}",
                kind=kind,
                point=GeoPoint(lat + rng.uniform(-0.2, 0.2), lon + rng.uniform(-0.2, 0.2)),
                hazmat_licensed=kind == "warehouse",
                secure=kind == "warehouse" or rng.random() < 0.3,
                capacity_left_today=rng.randint(200, 5000) if kind == "warehouse" else rng.randint(20, 200),
                load=round(rng.uniform(0.1, 0.95), 2),
            )
        )
    return out


def build_stock(
    locations: Sequence[LocationProfile], skus: Sequence[str], seed: int, sparse: bool = False
) -> dict[tuple[str, str], int]:
    rng = random.Random(seed + 1)
    stock: dict[tuple[str, str], int] = {}
    for loc in locations:
        shares = (0.3, 0.1) if sparse else (0.85, 0.33)  # warehouses, stores
        share = shares[0] if loc.kind == "warehouse" else shares[1]
        for sku in skus:
            if rng.random() < share:
                stock[(sku, loc.code)] = rng.randint(1, 60 if loc.kind == "warehouse" else 8)
    return stock


# --- fake carriers and promising, memoised like the real modules ------------------------------

SERVICES = (
    # service code, level, base, per kg, per zone, transit min/max by zone (add)
    ("GROUND", ServiceLevel.STANDARD, Decimal("6.20"), Decimal("0.55"), Decimal("0.85"), 1),
    ("2DAY", ServiceLevel.EXPEDITED, Decimal("11.90"), Decimal("1.10"), Decimal("1.60"), 0),
    ("OVERNIGHT", ServiceLevel.PREMIUM, Decimal("24.50"), Decimal("2.05"), Decimal("2.40"), 0),
)
LEVEL_RANK = {ServiceLevel.STANDARD: 0, ServiceLevel.EXPEDITED: 1, ServiceLevel.PREMIUM: 2}


def zone_of(km: float) -> int:
    """UPS-like zones 2..8 from the distance."""
    for zone, limit in enumerate((240, 480, 960, 1440, 2240, 2880), start=2):
        if km <= limit:
            return zone
    return 8


_DISTANCES: dict[tuple[str, str | None], float] = {}


def _distance(location: LocationProfile, destination: Address) -> float:
    """Distance per (location, postal code), as the carrier module's postal look-up gives it."""
    key = (location.code, destination.postal_code)
    km = _DISTANCES.get(key)
    if km is None:
        assert location.point is not None and destination.point is not None
        km = _DISTANCES[key] = round(great_circle_km(location.point, destination.point), 1)
    return km


@lru_cache(maxsize=1 << 20)
def _rates(code: str, postal_code: str | None, km: float, band: int, level: ServiceLevel) -> tuple[RateQuote, ...]:
    zone = zone_of(km)
    quotes = []
    for service, service_level, base, per_kg, per_zone, slow in SERVICES:
        if LEVEL_RANK[service_level] < LEVEL_RANK[level]:
            continue
        if service == "GROUND":
            days = (1, 1) if zone <= 2 else (zone - 2, zone - 1)
        elif service == "2DAY":
            days = (2, 2) if zone > 2 else (1, 2)
        else:
            days = (1, 1)
        quotes.append(
            RateQuote(
                location_code=code,
                carrier="UPS",
                service_code=f"UPS-{service}",
                service_level=service_level,
                cost=base + per_kg * band + per_zone * (zone - 2),
                currency="USD",
                transit_days_min=days[0],
                transit_days_max=days[1] + slow - 1 if service == "GROUND" else days[1],
                zone=str(zone),
                distance_km=round(km, 1),
            )
        )
    return tuple(quotes)


def fake_quote(
    location: LocationProfile, destination: Address, weight_grams: int, level: ServiceLevel
) -> tuple[RateQuote, ...]:
    """A rate table by zone and 1 kg weight band, memoised on plain keys."""
    band = -(-weight_grams // 1000) or 1
    return _rates(location.code, destination.postal_code, _distance(location, destination), band, level)


@lru_cache(maxsize=1 << 16)
def _window(code: str, late: bool, days_min: int, days_max: int, service: str) -> PromiseWindow:
    ship = ORDER_DATE + dt.timedelta(days=1 if late else 0)

    def add_business(day: dt.date, n: int) -> dt.date:
        while n:
            day += dt.timedelta(days=1)
            if day.weekday() < 5:
                n -= 1
        return day

    return PromiseWindow(
        ship_date=ship,
        earliest=add_business(ship, days_min),
        latest=add_business(ship, days_max),
        basis=f"in stock at {code}; {'cut-off passed, ' if late else ''}leaves {ship:%a %d %b} by {service}",
    )


def fake_promise(location: LocationProfile, quote: RateQuote) -> PromiseWindow:
    # stores pick the next morning; about a third of the warehouses are past their cut-off
    late = location.kind == "store" or zlib.crc32(location.code.encode()) % 3 == 0
    return _window(location.code, late, quote.transit_days_min, quote.transit_days_max, quote.service_code)


# --- the run ----------------------------------------------------------------------------------


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def build_orders(
    n_orders: int, n_lines: int, skus: Sequence[str], seed: int, premium_share: float
) -> list[RoutingRequest]:
    rng = random.Random(seed + 2)
    weights = zipf_weights(len(skus), 1.0)
    # about 2,000 delivery postal codes around the metros, each with its own point
    destinations = []
    for i in range(2000):
        _, lat, lon = CITIES[i % len(CITIES)]
        point = GeoPoint(round(lat + rng.uniform(-0.6, 0.6), 3), round(lon + rng.uniform(-0.6, 0.6), 3))
        destinations.append(Address("US", f"{10000 + i * 37 % 89999:05d}", point=point))
    orders = []
    for _ in range(n_orders):
        picked: list[str] = []
        while len(picked) < n_lines:
            sku = rng.choices(skus, weights)[0]
            if sku not in picked:
                picked.append(sku)
        dest = rng.choice(destinations)
        level = ServiceLevel.PREMIUM if rng.random() < premium_share else ServiceLevel.STANDARD
        lines = tuple(
            RoutingLine(i, sku, rng.choice((1, 1, 1, 2, 3)), rng.choice((250, 600, 1200, 3000)), hazmat=False)
            for i, sku in enumerate(picked)
        )
        orders.append(RoutingRequest(lines, dest, "web", ORDER_DATE, level))
    return orders


def percentile(sorted_values: Sequence[float], q: float) -> float:
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]


def run_once(
    orders: Sequence[RoutingRequest],
    stock: dict[tuple[str, str], int],
    locations: Sequence[LocationProfile],
    rules: SourcingRules,
    explain: bool,
) -> tuple[list[float], Counter[str], int]:
    timings: list[float] = []
    outcome: Counter[str] = Counter()
    refused = 0
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for req in orders:
            t0 = clock()
            try:
                decision: RoutingDecision = route(req, stock, locations, rules, fake_quote, fake_promise)
                if explain:
                    decision.to_dict()
            except Exception:  # InsufficientStock: timed like any other decision
                refused += 1
                timings.append((clock() - t0) / 1e6)
                continue
            timings.append((clock() - t0) / 1e6)
            outcome[f"{len(decision.chosen.shipments)} shipment(s)"] += 1
            outcome[f"search {decision.search.method}"] += 1
            outcome["_quoted"] += decision.search.options_quoted
            outcome["_scored"] += decision.search.plans_scored
            outcome["_skipped"] += decision.search.partitions_skipped
    finally:
        gc.enable()
    return timings, outcome, refused


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=20_000, help="orders per run (default 20000)")
    p.add_argument("--lines", type=int, default=3, help="lines per order (default 3)")
    p.add_argument("--locations", type=int, default=50, help="candidate locations (default 50)")
    p.add_argument("--skus", type=int, default=2_000, help="SKUs in the catalogue (default 2000)")
    p.add_argument("--repeat", type=int, default=3, help="runs; medians are printed (default 3)")
    p.add_argument("--premium", type=float, default=0.1, help="share of premium orders (default 0.1)")
    p.add_argument(
        "--policy", choices=[s.value for s in SplitPolicy], default="allowed", help="split policy (default allowed)"
    )
    p.add_argument("--ship-complete", action="store_true", help="ship-complete instead of ship-as-available")
    p.add_argument(
        "--sparse",
        action="store_true",
        help="thin stock (warehouses 30%% of SKUs, stores 10%%): many orders must split or are refused",
    )
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)

    locations = build_network(args.locations, args.seed)
    skus = [f"SKU-{i:05d}" for i in range(args.skus)]
    stock = build_stock(locations, skus, args.seed, args.sparse)
    orders = build_orders(args.orders, args.lines, skus, args.seed, args.premium)
    policy = SplitPolicy(args.policy)
    rules = SourcingRules(
        version=1,
        name="bench",
        split_policy=policy,
        split_min_days_saved=1 if policy == SplitPolicy.MIN_DAYS_SAVED else 0,
        fulfilment_mode=FulfilmentMode.SHIP_COMPLETE if args.ship_complete else FulfilmentMode.SHIP_AS_AVAILABLE,
        max_shipments=3,
    )
    print(
        f"routing bench: {args.orders} orders x {args.lines} lines over {args.locations} locations, "
        f"{args.skus} SKUs (Zipf 1.0){', sparse stock' if args.sparse else ''}, policy {policy.value}, "
        f"{'ship complete' if args.ship_complete else 'ship as available'}, {args.premium:.0%} premium"
    )
    print(
        f"machine: {os.cpu_count()} CPU(s), {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    # warm the fakes' caches and the interpreter, as a running server would be
    run_once(orders[: min(len(orders), 2000)], stock, locations, rules, explain=True)

    results: dict[str, list[tuple[float, float, float, float]]] = {"route": [], "route + to_dict": []}
    last: Counter[str] = Counter()
    refused = 0
    for _ in range(args.repeat):
        for label, explain in (("route", False), ("route + to_dict", True)):
            timings, outcome, refused = run_once(orders, stock, locations, rules, explain)
            timings.sort()
            results[label].append(
                (
                    percentile(timings, 0.50),
                    percentile(timings, 0.99),
                    statistics.fmean(timings),
                    timings[-1],
                )
            )
            last = outcome
    print(f"{'':18}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'max ms':>9}   (median of {args.repeat} runs)")
    for label, rows in results.items():
        cols = [statistics.median(r[i] for r in rows) for i in range(4)]
        print(f"{label:18}" + "".join(f"{c:9.3f}" for c in cols))
    decided = args.orders - refused
    print(
        f"decisions: {decided} routed, {refused} refused (insufficient stock); "
        + ", ".join(f"{k} {v}" for k, v in sorted(last.items()) if not k.startswith("_"))
    )
    if decided:
        print(
            f"per decision: {last['_quoted'] / decided:.1f} options priced, {last['_scored'] / decided:.1f} plans "
            f"scored, {last['_skipped'] / decided:.2f} split shapes skipped by their lower bound"
        )
    p50 = statistics.median(r[0] for r in results["route"])
    print(f"target p50 < 1 ms: {'met' if p50 < 1.0 else 'NOT met'} ({p50:.3f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
