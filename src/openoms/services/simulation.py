"""What-if simulation: replay past orders against another policy or network, side by side.

``openoms simulate`` (docs/simulation.md) answers "what would these orders have cost, how
often would they have split and when would they have arrived, under other sourcing rules,
another set of locations or another rate table?". Two scenarios replay the same orders:

* **current**: the network in force (``services.network.load_network``): rules, rate table,
  active locations with their calendars and daily capacities;
* **alternative**: the same with any of a rules JSON (fields merged over the current rules,
  as ``routing_setup.create_rule_set`` does), a network CSV in the ``us_network.csv`` format
  (replaces the locations), a rate CSV (replaces the rate table).

Both start from the **same stock: what the shelves hold now** (``stock_levels.on_hand``, units
reserved for open orders included, since those orders are among the ones replayed). Past
stock positions are not recorded, so a replay of old orders is "these orders against today's
shelves", not a reconstruction of the past. Stock follows the location code: a location the
network CSV adds has no stock, one it drops takes its stock with it.

Orders replay in ``placed_at`` order (then by reference), each routed by
``domain.routing.route`` at its own ``placed_at`` (cut-offs and promise dates are computed from
then), exactly as capture would: oversized lines cut into pieces, and when every location
able to ship the order has used its capacity, routed again ignoring it (counted as *routed
over capacity*). Each scenario depletes its own copy of the stock and counts the units it
routes to each location per **local calendar day of the order** (the location's timezone);
``capacity_left_today`` and ``load`` come from that counter and the location's
``daily_capacity``. Nothing is written to the database. The result is deterministic.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, select

from openoms.adapters.carriers import geo
from openoms.adapters.carriers.rate_csv import RateCsvError, parse_rate_rows, read_rate_table
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Channel, Location, Order, OrderLine, Product, StockLevel, table
from openoms.domain.carriers import RateTable, make_quoter
from openoms.domain.errors import DomainError
from openoms.domain.inventory import InsufficientStock
from openoms.domain.network import (
    ORDER_SERVICE_LEVELS,
    Address,
    GeoPoint,
    LocationCalendar,
    LocationProfile,
    parse_workdays,
    routing_service_level,
)
from openoms.domain.promising import public_holidays
from openoms.domain.routing import (
    LOCATION_KINDS,
    NoRoutingPlan,
    RoutingLine,
    RoutingRequest,
    SourcingRules,
    route,
    split_oversized_lines,
)
from openoms.services import network as network_service
from openoms.services.sourcing import ProductFacts
from openoms.web.charts import PALETTE, nice_max  # pure layout helpers, no web framework

orders_t = table(Order)
lines_t = table(OrderLine)
channels_t = table(Channel)
products_t = table(Product)
locations_t = table(Location)
stock_t = table(StockLevel)

ProgressFn = Callable[[int, int], None]  # (orders replayed so far, total over both scenarios)

#: Promise thresholds reported as "delivered within N days".
WITHIN_DAYS = (2, 3, 5)
STOCK_NOTE = (
    "Both scenarios start from today's on-hand stock per SKU and location (past stock is not "
    "recorded); stock follows the location code, new locations start empty."
)

# Why a scenario could not route an order (``OrderOutcome.reason``).
NO_ADDRESS = "no_address"
OUT_OF_STOCK = "out_of_stock"
SPLIT_NOT_ALLOWED = "split_not_allowed"
TOO_MANY_SHIPMENTS = "too_many_shipments"
NO_CARRIER_SERVICE = "no_carrier_service"
UNKNOWN_SKU = "unknown_sku"
INVALID = "invalid"
REASON_LABELS = {
    NO_ADDRESS: "address not on the map",
    OUT_OF_STOCK: "out of stock",
    SPLIT_NOT_ALLOWED: "split refused by rules",
    TOO_MANY_SHIPMENTS: "over max shipments",
    NO_CARRIER_SERVICE: "no carrier service",
    UNKNOWN_SKU: "unknown SKU",
    INVALID: "other error",
}


# --- input problems ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputProblem:
    row: int | None  # the file's row (the CSV header is row 1; JSON: the line); None: whole file
    column: str  # CSV column, JSON field
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row} " if self.row is not None else ""
        return f"{where}{self.column}: {self.reason}"


class SimulationInputError(Exception):
    """A file (or the database) cannot feed a simulation; ``problems`` lists every one found,
    and nothing was loaded."""

    def __init__(self, source: str, problems: Sequence[InputProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s), nothing loaded: {shown}{more}")


def _fail(source: str, column: str, reason: str, row: int | None = None) -> SimulationInputError:
    return SimulationInputError(source, [InputProblem(row, column, reason)])


# --- orders to replay -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayLine:
    sku: str
    quantity: int
    row: int | None = None  # CSV row, for problems found later (an unknown SKU)


@dataclass(frozen=True)
class ReplayOrder:
    ref: str
    placed_at: dt.datetime  # UTC
    channel: str
    service_level: str  # as orders carry it: standard, expedited, express, next_day
    address: Address
    lines: tuple[ReplayLine, ...]


ORDER_COLUMNS = (
    "order_ref",
    "placed_at",
    "channel",
    "service_level",
    "country",
    "region",
    "postal_code",
    "sku",
    "quantity",
)
_OPTIONAL_ORDER_COLUMNS = frozenset({"region", "postal_code"})
_ORDER_HEADER_FIELDS = ("placed_at", "channel", "service_level", "country", "region", "postal_code")
_WHOLE = re.compile(r"[0-9]+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")


def _check_header(header: list[str], known: Sequence[str], optional: frozenset[str]) -> list[InputProblem]:
    if not header or header == [""]:
        return [InputProblem(1, "(header)", "the file is empty; expected the header " + ",".join(known))]
    problems = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(InputProblem(1, name, "column appears more than once"))
        seen.add(name)
        if name not in known:
            problems.append(InputProblem(1, name or "(blank)", f"unknown column; expected {', '.join(known)}"))
    problems.extend(
        InputProblem(1, name, "required column is missing") for name in known if name not in seen | optional
    )
    return problems


def parse_orders_csv(lines: Iterable[str], source: str = "orders") -> list[ReplayOrder]:
    """Orders from CSV, one row per order line (columns ``ORDER_COLUMNS``; ``region`` and
    ``postal_code`` may be left out or blank). Every row is checked; rows of one order must
    agree on its placement, channel, service level and address. ``SimulationInputError``
    lists every problem, by row and column, and nothing is returned."""
    reader = csv.DictReader(lines)
    header = [(h or "").strip() for h in (reader.fieldnames or [])]
    problems = _check_header(header, ORDER_COLUMNS, _OPTIONAL_ORDER_COLUMNS)
    if problems:
        raise SimulationInputError(source, problems)
    reader.fieldnames = header
    heads: dict[str, tuple[int, dict[str, Any]]] = {}  # ref -> (first row, parsed order fields)
    order_lines: dict[str, list[ReplayLine]] = defaultdict(list)
    levels = ", ".join(ORDER_SERVICE_LEVELS)
    for raw in reader:
        row = reader.line_num
        cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        errors: list[InputProblem] = []

        def bad(column: str, reason: str, row: int = row, errors: list[InputProblem] = errors) -> None:
            errors.append(InputProblem(row, column, reason))

        if None in raw:
            bad("(extra cells)", f"{len(raw[None])} cell(s) beyond the header")
        ref = cells.get("order_ref", "")
        if not ref:
            bad("order_ref", "required")
        placed_text = cells.get("placed_at", "")
        placed: dt.datetime | None = None
        try:
            placed = dt.datetime.fromisoformat(placed_text)
        except ValueError:
            bad("placed_at", f"{placed_text!r} is not an ISO 8601 date and time (2026-03-02T14:05:00+01:00)")
        if placed is not None and (placed.tzinfo is None or placed.utcoffset() is None):
            bad("placed_at", f"{placed_text!r} has no UTC offset; add one, e.g. +00:00 or Z")
            placed = None
        channel = cells.get("channel", "")
        if not channel:
            bad("channel", "required")
        level = cells.get("service_level", "").lower() or "standard"
        if level not in ORDER_SERVICE_LEVELS:
            bad("service_level", f"unknown service level {cells['service_level']!r}; one of {levels}")
        country = cells.get("country", "")
        if not _COUNTRY.fullmatch(country):
            bad("country", f"{country!r} is not a two-letter ISO country code")
        sku = cells.get("sku", "")
        if not sku:
            bad("sku", "required")
        qty_text = cells.get("quantity", "")
        quantity = int(qty_text) if _WHOLE.fullmatch(qty_text) else 0
        if quantity < 1:
            bad("quantity", f"{qty_text!r} is not a whole number of at least 1")
        if errors:
            problems.extend(errors)
            continue
        assert placed is not None
        fields = {
            "placed_at": placed.astimezone(dt.UTC),
            "channel": channel,
            "service_level": level,
            "country": country.upper(),
            "region": cells.get("region") or None,
            "postal_code": cells.get("postal_code") or None,
        }
        first = heads.get(ref)
        if first is None:
            heads[ref] = (row, fields)
        else:
            diff = [name for name in _ORDER_HEADER_FIELDS if fields[name] != first[1][name]]
            if diff:
                problems.extend(
                    InputProblem(row, name, f"differs from row {first[0]}, the first row of order {ref}")
                    for name in diff
                )
                continue
        order_lines[ref].append(ReplayLine(sku, quantity, row))
    if not heads and not problems:
        problems.append(InputProblem(1, "(rows)", "the file has a header but no order rows"))
    if problems:
        raise SimulationInputError(source, problems)
    orders = []
    for ref, (_, f) in heads.items():
        address = Address(country=f["country"], postal_code=f["postal_code"], region=f["region"])
        orders.append(
            ReplayOrder(ref, f["placed_at"], f["channel"], f["service_level"], address, tuple(order_lines[ref]))
        )
    return sort_orders(orders)


def read_orders_csv(path: str | Path) -> list[ReplayOrder]:
    p = Path(path)
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            return parse_orders_csv(f, str(p))
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(p), "(file)", f"cannot read it: {exc}") from None


def sort_orders(orders: Iterable[ReplayOrder]) -> list[ReplayOrder]:
    """Replay order: by placement time, then reference (deterministic for equal times)."""
    return sorted(orders, key=lambda o: (o.placed_at, o.ref))


def load_orders(
    conn: Connection,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = None,
) -> list[ReplayOrder]:
    """Orders with a shipping address placed in ``[since, until)``, the ``limit`` most recent
    of them, with their lines as ordered (cancelled orders too: they were demand)."""
    q = (
        select(
            orders_t.c.id,
            orders_t.c.external_order_id,
            orders_t.c.placed_at,
            orders_t.c.service_level,
            orders_t.c.shipping_address,
            channels_t.c.code,
        )
        .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
        .where(orders_t.c.shipping_address.is_not(None))
        .order_by(orders_t.c.placed_at.desc(), orders_t.c.id.desc())
    )
    if since is not None:
        q = q.where(orders_t.c.placed_at >= since)
    if until is not None:
        q = q.where(orders_t.c.placed_at < until)
    if limit is not None:
        q = q.limit(limit)
    heads = conn.execute(q).all()
    by_id: dict[int, list[ReplayLine]] = defaultdict(list)
    ids = [int(h.id) for h in heads]
    for chunk in _chunks(ids, 500):
        for r in conn.execute(
            select(lines_t.c.order_id, lines_t.c.sku, lines_t.c.quantity)
            .where(lines_t.c.order_id.in_(chunk))
            .order_by(lines_t.c.order_id, lines_t.c.line_number)
        ):
            by_id[int(r.order_id)].append(ReplayLine(r.sku, int(r.quantity)))
    out = []
    for h in heads:
        address = network_service.address_from(h.shipping_address)
        if address is None or not by_id.get(int(h.id)):
            continue
        ref = f"{h.code}:{h.external_order_id}" if h.external_order_id else f"#{h.id}"
        out.append(ReplayOrder(ref, h.placed_at, h.code, h.service_level, address, tuple(by_id[int(h.id)])))
    return sort_orders(out)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def product_facts(conn: Connection, skus: Iterable[str]) -> dict[str, ProductFacts]:
    """Weight, size and handling flags of the SKUs the catalogue knows."""
    wanted = sorted(set(skus))
    out: dict[str, ProductFacts] = {}
    for chunk in _chunks(wanted, 500):
        for r in conn.execute(select(products_t).where(products_t.c.sku.in_(chunk))):
            out[r.sku] = ProductFacts(
                int(r.id), r.sku, r.weight_grams, r.length_mm, r.width_mm, r.height_mm, r.hazmat, r.high_value
            )
    return out


def check_skus(orders: Sequence[ReplayOrder], known: Mapping[str, ProductFacts], source: str) -> None:
    """Every SKU of the CSV must be in the catalogue: routing needs its weight."""
    problems = [
        InputProblem(line.row, "sku", f"no product with SKU {line.sku!r} in the catalogue")
        for o in orders
        for line in o.lines
        if line.sku not in known
    ]
    if problems:
        raise SimulationInputError(source, sorted(problems, key=lambda p: p.row or 0))


def current_stock(conn: Connection) -> dict[tuple[str, str], int]:
    """On-hand units per (SKU, location code) now: the shelves both scenarios start from."""
    rows = conn.execute(
        select(products_t.c.sku, locations_t.c.code, stock_t.c.on_hand)
        .join(products_t, products_t.c.id == stock_t.c.product_id)
        .join(locations_t, locations_t.c.id == stock_t.c.location_id)
    ).all()
    return {(sku, code): int(units) for sku, code, units in rows if units > 0}


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A location in a scenario: its profile (without today's load) and daily capacity."""

    profile: LocationProfile
    daily_capacity: int | None


@dataclass(frozen=True)
class Scenario:
    name: str
    rules: SourcingRules
    rate_table: RateTable
    sites: tuple[Site, ...]
    changes: tuple[str, ...] = ()  # what differs from the network in force, in words


def _holidays(calendar_code: str | None, years: tuple[int, int]) -> frozenset[dt.date]:
    """Public holidays of a ``holiday_calendar`` ("US", "US-TX") as ``services.network`` reads
    them; raises ``DomainError`` for a country the holiday data does not know."""
    if not calendar_code:
        return frozenset()
    country, _, subdivision = calendar_code.partition("-")
    try:
        return public_holidays(country, years[0], years[1], subdivision or None)
    except DomainError:
        if not subdivision:
            raise
        return public_holidays(country, years[0], years[1])


def replay_years(orders: Sequence[ReplayOrder], today: dt.date | None = None) -> tuple[int, int]:
    """The years location holidays must cover: every order's promise and today's."""
    year = (today or dt.date.today()).year
    placed = [o.placed_at.year for o in orders] or [year]
    return min(*placed, year) - 1, max(*placed, year) + 2


def baseline_scenario(conn: Connection, years: tuple[int, int]) -> Scenario:
    """The network in force, with location holidays loaded for ``years``."""
    net = network_service.load_network(conn)
    if net.rate_table is None:
        raise _fail(
            "database",
            "rate table",
            "no carrier rate table is loaded, so routing cannot price parcels; "
            "load one with `openoms rates import FILE.csv` first",
        )
    calendars = dict(conn.execute(select(locations_t.c.code, locations_t.c.holiday_calendar)).all())
    sites = []
    for loc in net.locations:
        cal = loc.profile.calendar
        try:
            holidays = _holidays(calendars.get(loc.profile.code), years)
        except DomainError:
            holidays = cal.holidays
        sites.append(Site(replace(loc.profile, calendar=replace(cal, holidays=holidays)), loc.daily_capacity))
    return Scenario("current", net.rules, net.rate_table, tuple(sites))


def read_rules_file(path: str | Path, base: SourcingRules) -> SourcingRules:
    """Rules from a JSON object whose fields replace those of ``base`` (any field of
    ``SourcingRules``; ``version`` defaults to the next one). Every problem names its field."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(p), "(file)", f"cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _fail(str(p), f"(JSON, column {exc.colno})", f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(data, dict):
        raise _fail(str(p), "(JSON)", 'must be an object of rule fields, e.g. {"split_policy": "never"}')
    merged = {**base.to_dict(), "version": base.version + 1, **data}
    try:
        return SourcingRules.from_dict(merged)
    except DomainError as exc:
        raise SimulationInputError(str(p), [InputProblem(None, e.field, e.reason) for e in exc.errors]) from None


NETWORK_COLUMNS = (
    "code",
    "name",
    "kind",
    "city",
    "region",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "timezone",
    "cutoff_time",
    "workdays",
    "holiday_calendar",
    "handling_days",
    "daily_capacity",
    "ships",
    "pickup",
    "hazmat_licensed",
    "secure",
    "priority",
    "channels",  # optional: channel codes the location serves, space-separated; blank: every one
)
_REQUIRED_NETWORK_COLUMNS = ("code", "kind", "latitude", "longitude", "timezone")
_CUTOFF = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_TRUE, _FALSE = frozenset({"true", "yes", "1", "y"}), frozenset({"false", "no", "0", "n", ""})


def parse_network_csv(lines: Iterable[str], years: tuple[int, int], source: str = "network") -> tuple[Site, ...]:
    """Locations in the ``us_network.csv`` format (docs/simulation.md): code, kind, latitude,
    longitude and timezone are required, the rest default (Monday to Friday, no cut-off, no
    holidays, no handling days, no capacity limit, ships). Every row is checked; any problem
    refuses the file."""
    reader = csv.DictReader(lines)
    header = [(h or "").strip() for h in (reader.fieldnames or [])]
    optional = frozenset(NETWORK_COLUMNS) - frozenset(_REQUIRED_NETWORK_COLUMNS)
    problems = _check_header(header, NETWORK_COLUMNS, optional)
    if problems:
        raise SimulationInputError(source, problems)
    reader.fieldnames = header
    sites: list[Site] = []
    seen: dict[str, int] = {}
    for raw in reader:
        row = reader.line_num
        cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        errors: list[InputProblem] = []

        def bad(column: str, reason: str, row: int = row, errors: list[InputProblem] = errors) -> None:
            errors.append(InputProblem(row, column, reason))

        def whole(column: str, default: int | None, cells: dict[str, str] = cells) -> int | None:
            text = cells.get(column, "")
            if not text:
                return default
            if not _WHOLE.fullmatch(text):
                bad(column, f"{text!r} is not a whole number (0 or more)")
                return default
            return int(text)

        def flag(column: str, default: bool, cells: dict[str, str] = cells) -> bool:
            text = cells.get(column, "").lower()
            if column not in cells or not text:
                return default
            if text in _TRUE:
                return True
            if text not in _FALSE:
                bad(column, f"{cells[column]!r} is not true or false")
            return False

        def degrees(column: str, limit: float, cells: dict[str, str] = cells) -> float | None:
            text = cells.get(column, "")
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or abs(value) > limit:
                bad(column, f"{text!r} is not a {column} in degrees (-{limit:g} to {limit:g})")
                return None
            return value

        if None in raw:
            bad("(extra cells)", f"{len(raw[None])} cell(s) beyond the header")
        code = cells.get("code", "")
        if not code:
            bad("code", "required")
        elif code in seen:
            bad("code", f"{code!r} already appears on row {seen[code]}")
        else:
            seen[code] = row
        kind = cells.get("kind", "").lower()
        if kind not in LOCATION_KINDS:
            bad("kind", f"{cells.get('kind', '')!r} is not a location kind; one of {', '.join(sorted(LOCATION_KINDS))}")
        lat = degrees("latitude", 90)
        lon = degrees("longitude", 180)
        tz = cells.get("timezone", "")
        if not _timezone_ok(tz):
            bad("timezone", f"{tz!r} is not an IANA timezone such as America/Chicago")
        cutoff = None
        cutoff_text = cells.get("cutoff_time", "")
        if cutoff_text:
            m = _CUTOFF.fullmatch(cutoff_text)
            if m is None:
                bad("cutoff_time", f"{cutoff_text!r} is not a time of day HH:MM")
            else:
                cutoff = dt.time(int(m.group(1)), int(m.group(2)))
        workdays = frozenset({0, 1, 2, 3, 4})
        if cells.get("workdays"):
            try:
                workdays = parse_workdays(cells["workdays"])
            except ValueError as exc:
                bad("workdays", str(exc))
        holidays: frozenset[dt.date] = frozenset()
        try:
            holidays = _holidays(cells.get("holiday_calendar") or None, years)
        except DomainError as exc:
            bad("holiday_calendar", f"{cells['holiday_calendar']!r}: {exc.message}")
        handling = whole("handling_days", 0)
        capacity = whole("daily_capacity", None)
        ships = flag("ships", True)
        pickup = flag("pickup", False)
        hazmat = flag("hazmat_licensed", False)
        secure = flag("secure", False)
        whole("priority", 100)
        channels = frozenset(cells.get("channels", "").replace(",", " ").split()) or None
        if errors:
            problems.extend(errors)
            continue
        assert lat is not None and lon is not None and handling is not None
        calendar = LocationCalendar(tz, cutoff, workdays, holidays, handling)
        profile = LocationProfile(
            code=code,
            kind=kind,
            point=GeoPoint(lat, lon),
            ships=ships,
            pickup=pickup,
            hazmat_licensed=hazmat,
            secure=secure,
            channels=channels,
            calendar=calendar,
        )
        sites.append(Site(profile, capacity))
    if not sites and not problems:
        problems.append(InputProblem(1, "(rows)", "the file has a header but no locations"))
    if problems:
        raise SimulationInputError(source, problems)
    return tuple(sorted(sites, key=lambda s: s.profile.code))


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _timezone_ok(name: str) -> bool:
    if not name:
        return False
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def read_network_file(path: str | Path, years: tuple[int, int]) -> tuple[Site, ...]:
    p = Path(path)
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            return parse_network_csv(f, years, str(p))
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(p), "(file)", f"cannot read it: {exc}") from None


def read_rates_file(path: str | Path, sites: Sequence[Site]) -> RateTable:
    """A rate CSV (docs/carriers.md); rows for a location the scenario does not have are
    refused, as ``openoms rates import`` refuses them."""
    p = Path(path)
    try:
        rates = read_rate_table(p)
    except RateCsvError as exc:
        raise SimulationInputError(str(p), [InputProblem(q.row, q.field, q.reason) for q in exc.problems]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(p), "(file)", f"cannot read it: {exc}") from None
    codes = {s.profile.code for s in sites}
    with p.open(encoding="utf-8-sig", newline="") as f:
        rows, numbers, _ = parse_rate_rows(f)
    unknown = [
        InputProblem(n, "location", f"no location with code {r.location!r} in the scenario's network")
        for r, n in zip(rows, numbers, strict=True)
        if r.location != "*" and r.location not in codes
    ]
    if unknown:
        raise SimulationInputError(str(p), unknown)
    return rates


def alternative_scenario(
    base: Scenario,
    *,
    rules: SourcingRules | None = None,
    sites: tuple[Site, ...] | None = None,
    rate_table: RateTable | None = None,
    sources: Mapping[str, str] | None = None,
) -> Scenario:
    """``base`` with the parts given replaced; ``changes`` says which, for the report."""
    names = sources or {}
    changes = []
    if rules is not None:
        before, after = base.rules.to_dict(), rules.to_dict()
        diff = [k for k in after if k not in ("version", "name") and after[k] != before.get(k)]
        text = ", ".join(f"{k}={_short(after[k])}" for k in diff) or "no field changed"
        changes.append(f"rules from {names.get('rules', 'file')}: {text}")
    if sites is not None:
        old, new = {s.profile.code for s in base.sites}, {s.profile.code for s in sites}
        changes.append(
            f"network from {names.get('network', 'file')}: {len(new)} locations"
            + (f", drops {', '.join(sorted(old - new))}" if old - new else "")
            + (f", adds {', '.join(sorted(new - old))}" if new - old else "")
        )
    if rate_table is not None:
        changes.append(f"rates from {names.get('rates', 'file')}: {len(rate_table.rows)} rates")
    return Scenario(
        "alternative",
        rules or base.rules,
        rate_table or base.rate_table,
        sites if sites is not None else base.sites,
        tuple(changes),
    )


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


# --- replay -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderOutcome:
    ref: str
    routed: bool
    reason: str | None = None  # why not, one of the ``REASON_LABELS`` keys
    label: str | None = None  # the chosen plan: "WH-DFW" or "split WH-DFW+ST-NYC"
    carrier_cost: Decimal = Decimal(0)
    score: Decimal = Decimal(0)
    shipments: int = 0
    promise_days: int = 0  # latest delivery date - order date
    over_capacity: bool = False  # routed ignoring capacity: every able location was full
    units: tuple[tuple[str, int], ...] = ()  # (location code, units)


@dataclass
class ScenarioRun:
    scenario: Scenario
    outcomes: list[OrderOutcome] = field(default_factory=list)
    day_units: dict[tuple[str, dt.date], int] = field(default_factory=dict)  # (code, local day) -> units
    span: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)  # code -> first, last local day


def _local_day(instant: dt.datetime, timezone: str) -> dt.date:
    return instant.astimezone(_zone(timezone)).date()


def _reason(exc: DomainError) -> str:
    if isinstance(exc, NoRoutingPlan):
        if exc.why.startswith("No location can ship the order to"):
            return NO_CARRIER_SERVICE
        if exc.why.startswith("No single location can ship the whole order"):
            return SPLIT_NOT_ALLOWED
        return TOO_MANY_SHIPMENTS
    if isinstance(exc, InsufficientStock):
        return OUT_OF_STOCK
    return INVALID


def replay_scenario(
    orders: Sequence[ReplayOrder],
    scenario: Scenario,
    stock: Mapping[tuple[str, str], int],
    facts: Mapping[str, ProductFacts],
    progress: Callable[[int], None] | None = None,
) -> ScenarioRun:
    """Route ``orders`` (in the order given) one after the other against ``scenario``,
    depleting a copy of ``stock`` and counting each location's units per local day."""
    run = ScenarioRun(scenario)
    shelves = dict(stock)
    quote = make_quoter(scenario.rate_table, geo.locate)
    capped = [(s, s.daily_capacity) for s in scenario.sites if s.daily_capacity is not None]
    used = run.day_units
    located: dict[Address, Address | None] = {}
    shaped: dict[tuple[str, int, bool], LocationProfile] = {}  # (code, units used, capped) -> profile
    for n, order in enumerate(orders, start=1):
        days = {s.profile.code: _local_day(order.placed_at, s.profile.calendar.timezone) for s, _ in capped}
        for code, day in days.items():
            first, last = run.span.get(code, (day, day))
            run.span[code] = (min(first, day), max(last, day))
        run.outcomes.append(_route_one(order, scenario, shelves, facts, quote, used, days, located, shaped))
        if progress is not None:
            progress(n)
    return run


def _route_one(
    order: ReplayOrder,
    scenario: Scenario,
    shelves: dict[tuple[str, str], int],
    facts: Mapping[str, ProductFacts],
    quote: Any,
    used: dict[tuple[str, dt.date], int],
    days: Mapping[str, dt.date],
    located: dict[Address, Address | None],
    shaped: dict[tuple[str, int, bool], LocationProfile],
) -> OrderOutcome:
    if any(line.sku not in facts for line in order.lines):
        return OrderOutcome(order.ref, False, UNKNOWN_SKU)
    if order.address not in located:
        dest, _ = network_service.locate(order.address)
        located[order.address] = dest if dest.point is not None else None
    destination = located[order.address]
    if destination is None:
        return OrderOutcome(order.ref, False, NO_ADDRESS)
    lines = tuple(
        RoutingLine(
            i,
            line.sku,
            line.quantity,
            facts[line.sku].billable_grams,
            hazmat=facts[line.sku].hazmat,
            high_value=facts[line.sku].high_value,
        )
        for i, line in enumerate(order.lines)
    )

    def profiles(capacity: bool) -> list[LocationProfile]:
        out = []
        for site in scenario.sites:
            cap = site.daily_capacity
            if cap is None:
                out.append(site.profile)
                continue
            units = used.get((site.profile.code, days[site.profile.code]), 0)
            key = (site.profile.code, units, capacity)
            profile = shaped.get(key)
            if profile is None:
                load = 1.0 if cap == 0 else min(units / cap, 1.0)
                left = max(cap - units, 0) if capacity else None
                profile = shaped[key] = replace(site.profile, capacity_left_today=left, load=round(load, 4))
            out.append(profile)
        return out

    capped = profiles(True)
    pieces, _ = split_oversized_lines(lines, shelves, capped)
    request = RoutingRequest(
        pieces, destination, order.channel, order.placed_at.date(), routing_service_level(order.service_level)
    )
    promise = network_service.promiser(order.placed_at, destination)
    over = False
    try:
        try:
            decision = route(request, shelves, capped, scenario.rules, quote, promise)
        except InsufficientStock:
            if not any(s.daily_capacity is not None for s in scenario.sites):
                raise
            # As capture does: every location able to ship it is full today, so route on cost
            # and load alone rather than refuse an order the shelves can fill.
            decision = route(request, shelves, profiles(False), scenario.rules, quote, promise)
            over = True
    except DomainError as exc:
        return OrderOutcome(order.ref, False, _reason(exc))
    units: Counter[str] = Counter()
    for a in decision.allocations:
        shelves[(a.sku, a.location_code)] = shelves.get((a.sku, a.location_code), 0) - a.quantity
        units[a.location_code] += a.quantity
    for code, qty in units.items():
        if code in days:
            used[(code, days[code])] = used.get((code, days[code]), 0) + qty
    chosen = decision.chosen
    return OrderOutcome(
        order.ref,
        True,
        label=chosen.label,
        carrier_cost=chosen.breakdown.carrier_cost,
        score=chosen.score,
        shipments=len(chosen.shipments),
        promise_days=(chosen.promise.latest - request.order_date).days,
        over_capacity=over,
        units=tuple(sorted(units.items())),
    )


# --- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityUse:
    """Units a location was given per local day against its daily capacity, over every day
    from the replay's first order to its last (days without orders count as 0)."""

    location: str
    daily_capacity: int
    units: int
    days: int
    average_pct: float | None  # None for a capacity of 0
    peak_pct: float | None
    days_over: int  # days with more units than the capacity

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "daily_capacity": self.daily_capacity,
            "units": self.units,
            "days": self.days,
            "average_pct": self.average_pct,
            "peak_pct": self.peak_pct,
            "days_over": self.days_over,
        }


@dataclass(frozen=True)
class ScenarioMetrics:
    name: str
    changes: tuple[str, ...]
    rules_label: str
    orders: int
    routed: int
    unroutable: int
    unroutable_by_reason: dict[str, int]
    routed_over_capacity: int
    carrier_cost_total: Decimal
    carrier_cost_per_order: Decimal
    currency: str
    score_total: Decimal
    shipments: int
    shipments_per_order: float
    split_orders: int
    split_rate_pct: float
    promise_days_avg: float
    promise_days_p90: int
    within_days_pct: dict[int, float]  # N -> share of routed orders complete within N days
    promise_days_histogram: dict[int, int]
    units_by_location: dict[str, int]
    capacity: tuple[CapacityUse, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "changes": list(self.changes),
            "rules": self.rules_label,
            "orders": self.orders,
            "routed": self.routed,
            "unroutable": self.unroutable,
            "unroutable_by_reason": dict(self.unroutable_by_reason),
            "routed_over_capacity": self.routed_over_capacity,
            "currency": self.currency,
            "carrier_cost_total": str(self.carrier_cost_total),
            "carrier_cost_per_order": str(self.carrier_cost_per_order),
            "score_total": str(self.score_total),
            "shipments": self.shipments,
            "shipments_per_order": self.shipments_per_order,
            "split_orders": self.split_orders,
            "split_rate_pct": self.split_rate_pct,
            "promise_days_avg": self.promise_days_avg,
            "promise_days_p90": self.promise_days_p90,
            "within_days_pct": {str(k): v for k, v in self.within_days_pct.items()},
            "promise_days_histogram": {str(k): v for k, v in sorted(self.promise_days_histogram.items())},
            "units_by_location": dict(self.units_by_location),
            "capacity": [c.to_dict() for c in self.capacity],
        }


def _pct(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def percentile(values: Sequence[int], pct: int) -> int:
    """Nearest-rank percentile (a value that occurred); 0 for no values."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)) - 1, 0)]


def scenario_metrics(run: ScenarioRun) -> ScenarioMetrics:
    routed = [o for o in run.outcomes if o.routed]
    n = len(routed)
    cost = sum((o.carrier_cost for o in routed), Decimal(0))
    days = [o.promise_days for o in routed]
    shipments = sum(o.shipments for o in routed)
    splits = sum(1 for o in routed if o.shipments > 1)
    units: Counter[str] = Counter()
    for o in routed:
        for code, qty in o.units:
            units[code] += qty
    capacity = []
    for site in run.scenario.sites:
        cap = site.daily_capacity
        code = site.profile.code
        if cap is None or code not in run.span:
            continue
        first, last = run.span[code]
        span = (last - first).days + 1
        per_day = [run.day_units.get((code, first + dt.timedelta(days=i)), 0) for i in range(span)]
        capacity.append(
            CapacityUse(
                code,
                cap,
                sum(per_day),
                span,
                None if cap == 0 else _pct(sum(per_day), span * cap),
                None if cap == 0 else _pct(max(per_day), cap),
                sum(1 for u in per_day if u > cap),
            )
        )
    reasons = Counter(o.reason for o in run.outcomes if not o.routed and o.reason)
    return ScenarioMetrics(
        name=run.scenario.name,
        changes=run.scenario.changes,
        rules_label=run.scenario.rules.rule_label,
        orders=len(run.outcomes),
        routed=n,
        unroutable=len(run.outcomes) - n,
        unroutable_by_reason=dict(sorted(reasons.items())),
        routed_over_capacity=sum(1 for o in routed if o.over_capacity),
        carrier_cost_total=cost,
        carrier_cost_per_order=(cost / n).quantize(Decimal("0.01")) if n else Decimal("0.00"),
        currency=run.scenario.rules.currency,
        score_total=sum((o.score for o in routed), Decimal(0)).quantize(Decimal("0.01")),
        shipments=shipments,
        shipments_per_order=round(shipments / n, 3) if n else 0.0,
        split_orders=splits,
        split_rate_pct=_pct(splits, n),
        promise_days_avg=round(sum(days) / n, 2) if n else 0.0,
        promise_days_p90=percentile(days, 90),
        within_days_pct={k: _pct(sum(1 for d in days if d <= k), n) for k in WITHIN_DAYS},
        promise_days_histogram=dict(sorted(Counter(days).items())),
        units_by_location=dict(sorted(units.items())),
        capacity=tuple(capacity),
    )


# --- the comparison ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationResult:
    orders: int
    source: str  # where the orders came from, in words
    current: ScenarioMetrics
    alternative: ScenarioMetrics
    routed_differently: int  # orders whose chosen plan (or routability) differs
    first_placed: dt.datetime | None
    last_placed: dt.datetime | None

    def difference(self) -> dict[str, Any]:
        """alternative - current, for every number that has one."""
        a, c = self.alternative, self.current
        codes = sorted(set(a.units_by_location) | set(c.units_by_location))
        return {
            "routed": a.routed - c.routed,
            "unroutable": a.unroutable - c.unroutable,
            "routed_over_capacity": a.routed_over_capacity - c.routed_over_capacity,
            "carrier_cost_total": str(a.carrier_cost_total - c.carrier_cost_total),
            "carrier_cost_per_order": str(a.carrier_cost_per_order - c.carrier_cost_per_order),
            "score_total": str(a.score_total - c.score_total),
            "shipments": a.shipments - c.shipments,
            "shipments_per_order": round(a.shipments_per_order - c.shipments_per_order, 3),
            "split_orders": a.split_orders - c.split_orders,
            "split_rate_pct": round(a.split_rate_pct - c.split_rate_pct, 2),
            "promise_days_avg": round(a.promise_days_avg - c.promise_days_avg, 2),
            "promise_days_p90": a.promise_days_p90 - c.promise_days_p90,
            "within_days_pct": {str(k): round(a.within_days_pct[k] - c.within_days_pct[k], 2) for k in WITHIN_DAYS},
            "units_by_location": {
                code: a.units_by_location.get(code, 0) - c.units_by_location.get(code, 0) for code in codes
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "source": self.source,
            "first_placed_at": self.first_placed.isoformat() if self.first_placed else None,
            "last_placed_at": self.last_placed.isoformat() if self.last_placed else None,
            "stock": STOCK_NOTE,
            "routed_differently": self.routed_differently,
            "current": self.current.to_dict(),
            "alternative": self.alternative.to_dict(),
            "difference": self.difference(),
        }


def compare(
    orders: Sequence[ReplayOrder],
    current: Scenario,
    alternative: Scenario,
    stock: Mapping[tuple[str, str], int],
    facts: Mapping[str, ProductFacts],
    *,
    source: str = "orders",
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Replay ``orders`` against both scenarios from the same ``stock``. Pure: no I/O.
    ``progress`` gets (done, total) with total = 2 x orders (one pass per scenario)."""
    ordered = sort_orders(orders)
    total = 2 * len(ordered)

    def step(offset: int) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda done: progress(offset + done, total)

    runs = [
        replay_scenario(ordered, s, stock, facts, step(i * len(ordered))) for i, s in enumerate((current, alternative))
    ]
    differ = sum(
        1 for x, y in zip(runs[0].outcomes, runs[1].outcomes, strict=True) if (x.label, x.reason) != (y.label, y.reason)
    )
    return SimulationResult(
        len(ordered),
        source,
        scenario_metrics(runs[0]),
        scenario_metrics(runs[1]),
        differ,
        ordered[0].placed_at if ordered else None,
        ordered[-1].placed_at if ordered else None,
    )


@dataclass(frozen=True)
class PreparedSimulation:
    """Everything a replay needs, read and checked; ``run`` does the work."""

    orders: list[ReplayOrder]
    source: str
    current: Scenario
    alternative: Scenario
    stock: dict[tuple[str, str], int]
    facts: dict[str, ProductFacts]

    def run(self, progress: ProgressFn | None = None) -> SimulationResult:
        return compare(
            self.orders, self.current, self.alternative, self.stock, self.facts, source=self.source, progress=progress
        )


def prepare(
    db: Database,
    *,
    orders_csv: str | Path | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = None,
    rules: str | Path | None = None,
    network: str | Path | None = None,
    rates: str | Path | None = None,
    today: dt.date | None = None,
) -> PreparedSimulation:
    """Read the orders, the stock, the network in force and the alternative's files, checking
    each; ``SimulationInputError`` names the file, row and column of every problem. Reads
    only: nothing is written."""
    if rules is None and network is None and rates is None:
        raise _fail("options", "--rules/--network/--rates", "nothing to compare: give a rules, network or rates file")
    if limit is not None and limit < 1:
        raise _fail("options", "--limit", "must be at least 1")
    with db.read() as conn:
        if orders_csv is not None:
            orders = read_orders_csv(orders_csv)
            if since is not None or until is not None:
                orders = [o for o in orders if (since is None or o.placed_at >= since)]
                orders = [o for o in orders if (until is None or o.placed_at < until)]
            if limit is not None:
                orders = orders[-limit:]
            source = str(orders_csv)
        else:
            orders = load_orders(conn, since=since, until=until, limit=limit)
            source = "database"
        if not orders:
            raise _fail(
                source,
                "(orders)",
                "no orders to replay"
                + (" in the --from/--to range" if since or until else "")
                + (": only orders with a shipping address can be routed" if orders_csv is None else ""),
            )
        facts = product_facts(conn, (line.sku for o in orders for line in o.lines))
        if orders_csv is not None:
            check_skus(orders, facts, str(orders_csv))
        years = replay_years(orders, today)
        current = baseline_scenario(conn, years)
        stock = current_stock(conn)
    new_rules = read_rules_file(rules, current.rules) if rules is not None else None
    sites = read_network_file(network, years) if network is not None else None
    rate_table = read_rates_file(rates, sites or current.sites) if rates is not None else None
    names = {k: Path(v).name for k, v in (("rules", rules), ("network", network), ("rates", rates)) if v is not None}
    alternative = alternative_scenario(current, rules=new_rules, sites=sites, rate_table=rate_table, sources=names)
    return PreparedSimulation(orders, source, current, alternative, stock, facts)


# --- the report -------------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _signed(value: float | Decimal | int, fmt: str = "{:+,}", zero: str = "0") -> str:
    return zero if value == 0 else fmt.format(value)


def comparison_rows(result: SimulationResult) -> list[tuple[str, str, str, str]]:
    """(metric, current, alternative, change) rows for the side-by-side table."""
    c, a = result.current, result.alternative
    cur = c.currency
    rows: list[tuple[str, str, str, str]] = [
        ("orders replayed", str(c.orders), str(a.orders), ""),
        ("routed", str(c.routed), str(a.routed), _signed(a.routed - c.routed)),
        ("unroutable", str(c.unroutable), str(a.unroutable), _signed(a.unroutable - c.unroutable)),
    ]
    for reason in sorted(set(c.unroutable_by_reason) | set(a.unroutable_by_reason)):
        x, y = c.unroutable_by_reason.get(reason, 0), a.unroutable_by_reason.get(reason, 0)
        rows.append((f"  {REASON_LABELS.get(reason, reason)}", str(x), str(y), _signed(y - x)))
    rows += [
        (
            "routed over capacity",
            str(c.routed_over_capacity),
            str(a.routed_over_capacity),
            _signed(a.routed_over_capacity - c.routed_over_capacity),
        ),
        (
            f"carrier cost ({cur})",
            _money(c.carrier_cost_total),
            _money(a.carrier_cost_total),
            _signed(a.carrier_cost_total - c.carrier_cost_total, "{:+,.2f}"),
        ),
        (
            f"carrier cost per order ({cur})",
            _money(c.carrier_cost_per_order),
            _money(a.carrier_cost_per_order),
            _signed(a.carrier_cost_per_order - c.carrier_cost_per_order, "{:+,.2f}"),
        ),
        (
            "total score",
            _money(c.score_total),
            _money(a.score_total),
            _signed(a.score_total - c.score_total, "{:+,.2f}"),
        ),
        (
            "shipments per order",
            f"{c.shipments_per_order:.3f}",
            f"{a.shipments_per_order:.3f}",
            _signed(round(a.shipments_per_order - c.shipments_per_order, 3), "{:+.3f}"),
        ),
        (
            "split orders",
            f"{c.split_orders} ({c.split_rate_pct:.1f}%)",
            f"{a.split_orders} ({a.split_rate_pct:.1f}%)",
            _signed(a.split_orders - c.split_orders)
            + (f" ({a.split_rate_pct - c.split_rate_pct:+.1f} pts)" if a.split_rate_pct != c.split_rate_pct else ""),
        ),
        (
            "average promise (days)",
            f"{c.promise_days_avg:.2f}",
            f"{a.promise_days_avg:.2f}",
            _signed(round(a.promise_days_avg - c.promise_days_avg, 2), "{:+.2f}"),
        ),
        (
            "p90 promise (days)",
            str(c.promise_days_p90),
            str(a.promise_days_p90),
            _signed(a.promise_days_p90 - c.promise_days_p90),
        ),
    ]
    for k in WITHIN_DAYS:
        before, after = c.within_days_pct[k], a.within_days_pct[k]
        rows.append(
            (
                f"complete within {k} days",
                f"{before:.1f}%",
                f"{after:.1f}%",
                _signed(round(after - before, 2), "{:+.1f} pts"),
            )
        )
    for code in sorted(set(c.units_by_location) | set(a.units_by_location)):
        x, y = c.units_by_location.get(code, 0), a.units_by_location.get(code, 0)
        rows.append((f"units from {code}", str(x), str(y), _signed(y - x)))
    cap_c = {u.location: u for u in c.capacity}
    cap_a = {u.location: u for u in a.capacity}
    for code in sorted(set(cap_c) | set(cap_a)):
        x_use, y_use = cap_c.get(code), cap_a.get(code)
        change = ""
        if x_use and y_use and x_use.peak_pct is not None and y_use.peak_pct is not None:
            change = _signed(round(y_use.peak_pct - x_use.peak_pct, 1), "{:+.1f} pts peak")
        rows.append((f"{code} load avg / peak", _capacity(x_use), _capacity(y_use), change))
    rows.append(("orders routed differently", "", "", str(result.routed_differently)))
    return rows


def _capacity(use: CapacityUse | None) -> str:
    if use is None:
        return "-"
    if use.average_pct is None or use.peak_pct is None:
        return f"capacity 0, {use.units} units"
    over = f", {use.days_over} d over" if use.days_over else ""
    return f"{use.average_pct:.1f}% / {use.peak_pct:.1f}%{over}"


# --- the chart --------------------------------------------------------------------------------


def _grouped_bars(
    x0: float,
    y0: float,
    width: float,
    height: float,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[int], str]],
) -> list[str]:
    """One panel: a bar per series in each category, an axis with 0, half and the top."""
    left, bottom, top = 44.0, 34.0, 22.0
    plot_w, plot_h = width - left - 8, height - top - bottom
    top_value = nice_max(max((v for _, values, _ in series for v in values), default=0))
    base = y0 + top + plot_h
    out = [
        f'<text x="{x0 + left}" y="{y0 + 14}" font-size="13" font-weight="600">{html.escape(title)}</text>',
        f'<line x1="{x0 + left}" y1="{base}" x2="{x0 + left + plot_w}" y2="{base}" stroke="#9ca3af"/>',
    ]
    for f in (0, 0.5, 1):
        y = round(base - plot_h * f, 2)
        out.append(
            f'<text x="{x0 + left - 4}" y="{y + 4}" font-size="10" text-anchor="end" fill="#4b5563">'
            f"{round(top_value * f):,}</text>"
        )
        if f:
            out.append(f'<line x1="{x0 + left}" y1="{y}" x2="{x0 + left + plot_w}" y2="{y}" stroke="#e5e7eb"/>')
    slot = plot_w / max(len(categories), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    for i, cat in enumerate(categories):
        sx = x0 + left + i * slot + slot * 0.1
        for j, (name, values, colour) in enumerate(series):
            v = values[i]
            h = round(plot_h * v / top_value, 2)
            out.append(
                f'<rect x="{round(sx + j * bar_w, 2)}" y="{round(base - h, 2)}" width="{round(bar_w, 2)}" '
                f'height="{h}" fill="{colour}"><title>{html.escape(f"{cat}: {name} {v:,}")}</title></rect>'
            )
        out.append(
            f'<text x="{round(sx + slot * 0.4, 2)}" y="{base + 13}" font-size="10" text-anchor="middle">'
            f"{html.escape(cat)}</text>"
        )
    return out


def chart_svg(result: SimulationResult) -> str:
    """Two panels, current against alternative: units shipped per location, and how many
    orders were promised in each number of days. Plain SVG, no script."""
    c, a = result.current, result.alternative
    colours = {"current": PALETTE[0], "alternative": PALETTE[1]}
    codes = sorted(set(c.units_by_location) | set(a.units_by_location))
    days = sorted(set(c.promise_days_histogram) | set(a.promise_days_histogram))
    days = list(range(days[0], days[-1] + 1)) if days else []
    width = max(760, 56 * len(codes) + 60)
    panel = 260
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{2 * panel + 40}" '
        f'viewBox="0 0 {width} {2 * panel + 40}" font-family="system-ui, sans-serif" role="img">',
        f"<title>What-if simulation: {result.orders} orders, current against alternative</title>",
        f'<rect width="{width}" height="{2 * panel + 40}" fill="#fff"/>',
    ]
    for i, (name, colour) in enumerate(colours.items()):
        x = 44 + i * 130
        parts.append(f'<rect x="{x}" y="10" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 17}" y="20" font-size="12">{name}</text>')
    parts += _grouped_bars(
        0,
        30,
        width,
        panel,
        "Units shipped per location",
        codes,
        [
            ("current", [c.units_by_location.get(k, 0) for k in codes], colours["current"]),
            ("alternative", [a.units_by_location.get(k, 0) for k in codes], colours["alternative"]),
        ],
    )
    parts += _grouped_bars(
        0,
        30 + panel,
        width,
        panel,
        "Orders by promised days (order date to latest delivery)",
        [f"{d} d" for d in days],
        [
            ("current", [c.promise_days_histogram.get(d, 0) for d in days], colours["current"]),
            ("alternative", [a.promise_days_histogram.get(d, 0) for d in days], colours["alternative"]),
        ],
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def report_html(result: SimulationResult) -> str:
    """A self-contained page: the side-by-side table and the chart."""
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in comparison_rows(result)
    )
    changes = "".join(f"<li>{html.escape(t)}</li>" for t in result.alternative.changes)
    span = ""
    if result.first_placed and result.last_placed:
        span = f", placed {result.first_placed:%Y-%m-%d %H:%M} to {result.last_placed:%Y-%m-%d %H:%M} UTC"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenOMS what-if simulation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #111827; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border-bottom: 1px solid #e5e7eb; padding: .3rem .8rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
</style></head><body>
<h1>What-if simulation</h1>
<p>{result.orders} orders from {html.escape(result.source)}{span}.
Current: {html.escape(result.current.rules_label)}. Alternative:</p>
<ul>{changes}</ul>
<p>{html.escape(STOCK_NOTE)}</p>
<table><thead><tr><th>metric</th><th>current</th><th>alternative</th><th>change</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{chart_svg(result)}
</body></html>
"""


def write_chart(result: SimulationResult, path: str | Path) -> Path:
    """The chart as ``.svg``, or the whole report as ``.html``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".svg", ".html", ".htm"):
        raise _fail(str(p), "(file name)", "the chart must be a .svg or .html file")
    text = chart_svg(result) if suffix == ".svg" else report_html(result)
    p.write_text(text, encoding="utf-8")
    return p


def orders_csv_text(orders: Sequence[ReplayOrder]) -> str:
    """Orders in the CSV format ``parse_orders_csv`` reads (tests, benchmarks, exports)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ORDER_COLUMNS)
    for o in orders:
        for line in o.lines:
            w.writerow(
                [
                    o.ref,
                    o.placed_at.isoformat(),
                    o.channel,
                    o.service_level,
                    o.address.country,
                    o.address.region or "",
                    o.address.postal_code or "",
                    line.sku,
                    line.quantity,
                ]
            )
    return buf.getvalue()
