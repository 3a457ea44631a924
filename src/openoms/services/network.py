"""The fulfilment network as routing sees it, read from the database and kept in memory.

Routing needs the sourcing rules in force, the carrier rate table in force and every active
location's profile (capabilities, calendar, capacity). Those change rarely and are read on
every capture, so they are cached per process and re-read when a cheap fingerprint (highest
rules version, newest rate table, the locations' count and last change) moves: a change made
by any process is seen by the next capture. Today's backlog per location (units reserved and
not yet shipped) changes with every order; it only steers load and capacity, so it is cached
for ``BACKLOG_SECONDS`` (docs/adr/0014-routing-at-capture.md).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from openoms.adapters.carriers import geo
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import (
    CarrierRate,
    CarrierRateTable,
    Location,
    SourcingRuleSet,
    StockLevel,
    table,
)
from openoms.domain.carriers import RateRow, RateTable, make_quoter
from openoms.domain.errors import DomainError
from openoms.domain.network import (
    Address,
    GeoPoint,
    LocationCalendar,
    LocationProfile,
    PromiseWindow,
    RateQuote,
    ServiceLevel,
    parse_workdays,
)
from openoms.domain.promising import carrier_calendar, promise_window, public_holidays
from openoms.domain.routing import QuoteFn, SourcingRules

locations_t = table(Location)
rules_t = table(SourcingRuleSet)
rate_tables_t = table(CarrierRateTable)
rates_t = table(CarrierRate)
stock_t = table(StockLevel)

#: How long today's backlog per location is reused before it is summed again.
BACKLOG_SECONDS = 10.0


@dataclass(frozen=True)
class NetworkLocation:
    id: int
    profile: LocationProfile  # without today's load and capacity
    daily_capacity: int | None
    priority: int


@dataclass(frozen=True)
class Network:
    """Everything routing reads besides stock, as of ``fingerprint``."""

    rules: SourcingRules
    rate_table: RateTable | None
    rate_table_id: int | None
    locations: tuple[NetworkLocation, ...]  # active locations, by code
    fingerprint: tuple[Any, ...]

    @property
    def by_code(self) -> dict[str, NetworkLocation]:
        return {loc.profile.code: loc for loc in self.locations}

    def profiles(self, backlog: Mapping[int, int], *, capacity: bool = True) -> list[LocationProfile]:
        """Location profiles with today's load and capacity left from ``backlog`` (units
        reserved and not shipped, per location id). ``capacity=False`` lifts the limit, for
        when every location that could ship the order is full (routing then only prefers the
        less loaded ones)."""
        out = []
        for loc in self.locations:
            used = backlog.get(loc.id, 0)
            cap = loc.daily_capacity
            if cap is None:
                out.append(loc.profile)
                continue
            load = Decimal(1) if cap == 0 else min(Decimal(used) / Decimal(cap), Decimal(1))
            out.append(
                replace(
                    loc.profile,
                    capacity_left_today=max(cap - used, 0) if capacity else None,
                    load=float(round(load, 4)),
                )
            )
        return out

    def quoter(self) -> QuoteFn | None:
        if self.rate_table is None:
            return None
        return make_quoter(self.rate_table, geo.locate)


def _fingerprint(conn: Connection) -> tuple[Any, ...]:
    row = conn.execute(
        select(
            select(func.max(rules_t.c.version)).scalar_subquery(),
            select(func.max(rate_tables_t.c.id)).scalar_subquery(),
            select(func.count(locations_t.c.id)).scalar_subquery(),
            select(func.max(locations_t.c.updated_at)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def _calendar(row: Any, years: tuple[int, int]) -> LocationCalendar:
    holidays: frozenset[dt.date] = frozenset()
    if row.holiday_calendar:
        country, _, subdivision = row.holiday_calendar.partition("-")
        try:
            holidays = public_holidays(country, years[0], years[1], subdivision or None)
        except DomainError:
            holidays = public_holidays(country, years[0], years[1]) if country else frozenset()
    return LocationCalendar(
        timezone=row.timezone,
        cutoff=row.cutoff_time,
        workdays=parse_workdays(row.workdays),
        holidays=holidays,
        handling_days=row.handling_days,
    )


def load_network(conn: Connection, fingerprint: tuple[Any, ...] | None = None) -> Network:
    """Read the network (no cache)."""
    fingerprint = fingerprint or _fingerprint(conn)
    rules_row = conn.execute(select(rules_t.c.rules).order_by(rules_t.c.version.desc()).limit(1)).first()
    rules = SourcingRules.from_dict(rules_row.rules) if rules_row else SourcingRules(version=1)
    table_id = conn.execute(select(func.max(rate_tables_t.c.id))).scalar()
    rate_table = None
    if table_id is not None:
        rate_table = RateTable(
            RateRow(
                location=r.location,
                carrier=r.carrier,
                service_code=r.service_code,
                service_level=ServiceLevel(r.service_level),
                weight_up_to_grams=r.weight_up_to_grams,
                cost=Decimal(r.cost).normalize() if r.cost is not None else Decimal(0),
                currency=r.currency,
                transit_days_min=r.transit_days_min,
                transit_days_max=r.transit_days_max,
                zone=r.zone,
                from_km=None if r.from_km is None else float(r.from_km),
                to_km=None if r.to_km is None else float(r.to_km),
            )
            for r in conn.execute(select(rates_t).where(rates_t.c.rate_table_id == table_id).order_by(rates_t.c.id))
        )
    year = dt.date.today().year
    years = (year - 1, year + 2)
    locs = []
    for row in conn.execute(select(locations_t).where(locations_t.c.active).order_by(locations_t.c.code)):
        point = (
            GeoPoint(float(row.latitude), float(row.longitude))
            if row.latitude is not None and row.longitude is not None
            else None
        )
        profile = LocationProfile(
            code=row.code,
            kind=row.kind,
            point=point,
            ships=row.ships,
            pickup=row.pickup,
            hazmat_licensed=row.hazmat_licensed,
            secure=row.secure,
            channels=frozenset(row.channels) if row.channels is not None else None,
            calendar=_calendar(row, years),
        )
        locs.append(NetworkLocation(int(row.id), profile, row.daily_capacity, row.priority))
    return Network(rules, rate_table, table_id, tuple(locs), fingerprint)


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.load_lock = threading.Lock()
        self.network: Network | None = None
        self.backlog: dict[int, int] = {}
        self.backlog_at = -1e9


_caches: weakref.WeakKeyDictionary[Database, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache(db: Database) -> _Cache:
    with _caches_lock:
        c = _caches.get(db)
        if c is None:
            c = _caches[db] = _Cache()
        return c


def current_network(db: Database, conn: Connection) -> Network:
    """The network in force, re-read only when its fingerprint moved (one small query)."""
    c = _cache(db)
    fp = _fingerprint(conn)
    net = c.network
    if net is not None and net.fingerprint == fp:
        return net
    with c.load_lock:  # one thread loads, the others wait for it (no stampede on a cold start)
        net = c.network
        if net is None or net.fingerprint != fp:
            net = c.network = load_network(conn, fp)
    return net


def warm_up(db: Database) -> None:
    """Load what the first order would otherwise wait for: the network and the ZIP index."""
    with db.read() as conn:
        current_network(db, conn)
    geo.locate(Address("US", "10001"))


def backlog(db: Database, conn: Connection, *, fresh: bool = False) -> dict[int, int]:
    """Units reserved and not yet shipped, per location id: the work each location has in
    hand, which its ``daily_capacity`` is measured against."""
    c = _cache(db)
    now = time.monotonic()
    if not fresh and now - c.backlog_at < BACKLOG_SECONDS:
        return c.backlog
    rows = conn.execute(
        select(stock_t.c.location_id, func.sum(stock_t.c.reserved)).group_by(stock_t.c.location_id)
    ).all()
    value = {int(loc): int(units or 0) for loc, units in rows}
    with c.lock:
        c.backlog, c.backlog_at = value, now
    return value


# --- addresses and promises -------------------------------------------------------------------


def address_from(data: Mapping[str, Any] | None) -> Address | None:
    """An order's shipping address (as channels send it) as routing's ``Address``."""
    if not data:
        return None
    country = str(data.get("country") or data.get("country_code") or "").strip().upper()
    if not country:
        return None
    point = None
    lat, lon = data.get("latitude"), data.get("longitude")
    if isinstance(lat, int | float | str) and isinstance(lon, int | float | str):
        try:
            la, lo = float(lat), float(lon)
        except ValueError:
            la = lo = float("nan")
        if -90 <= la <= 90 and -180 <= lo <= 180:
            point = GeoPoint(la, lo)
    return Address(
        country=country,
        postal_code=_text(data.get("postal_code") or data.get("zip")),
        region=_text(data.get("region") or data.get("province_code") or data.get("state")),
        city=_text(data.get("city")),
        point=point,
    )


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def locate(address: Address) -> tuple[Address, str]:
    """The address with coordinates filled in where they can be found, and how."""
    found = geo.resolve(address)
    return (replace(address, point=found.point) if found.point else address), found.reason


PromiseFn = Callable[[LocationProfile, RateQuote], PromiseWindow]


def promiser(now: dt.datetime, destination: Address, ready_at: Mapping[str, dt.datetime] | None = None) -> PromiseFn:
    """Routing's ``promise`` callable for an order placed at ``now`` to ``destination``;
    ``ready_at`` holds, per location code, when its stock arrives if not on the shelf now."""
    region = destination.region
    last = max([now, *(ready_at or {}).values()])
    cal = carrier_calendar(destination.country, region, first_year=now.year - 1, last_year=last.year + 1)
    memo: dict[tuple[str, str, int, int], PromiseWindow] = {}
    ready = ready_at or {}

    def promise(location: LocationProfile, quote: RateQuote) -> PromiseWindow:
        key = (location.code, quote.service_code, quote.transit_days_min, quote.transit_days_max)
        found = memo.get(key)
        if found is None:
            found = memo[key] = promise_window(now, location.calendar, quote, cal, ready_at=ready.get(location.code))
        return found

    return promise
