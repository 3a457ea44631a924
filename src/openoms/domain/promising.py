"""Promise dates: when a parcel leaves a location and when it reaches the customer.

The model (docs/adr/0011-promise-dates.md, user guide in docs/promising.md):

* **Business days.** A day is a business day of a calendar when its weekday is one of the
  calendar's ``workdays`` and it is not one of its ``holidays``. A location has its own
  calendar (``LocationCalendar``: IANA timezone, cut-off, workdays, holidays, handling days);
  the carrier has a delivery calendar (``CarrierCalendar``: Monday to Friday and the
  destination country's public holidays unless told otherwise).
* **Ship date.** Work starts at ``now``, or at ``ready_at`` when stock is not on hand yet and
  arrives later. That instant is read in the location's own timezone. If its local date is a
  business day and the local time is before the cut-off (or the location has no cut-off),
  work starts that day; otherwise on the next business day. The parcel leaves
  ``handling_days`` business days after work starts (the same day for 0).
* **Delivery window.** The carrier moves parcels on its own business days: the parcel starts
  moving on the first carrier business day on or after the ship date and arrives
  ``transit_days_min`` to ``transit_days_max`` carrier business days later. The window is
  ``earliest``..``latest``; every date is a plain calendar date.
* **Split orders.** An order that ships as several parcels is promised as *when the customer
  has everything*: ``ship_date`` is the last parcel's ship date, ``earliest`` the latest of the
  parcels' earliest dates and ``latest`` the latest of their latest dates (the date the last
  parcel arrives lies in exactly that range). Ship-as-available sends each parcel when it is
  ready; ship-complete holds every parcel until the last one is ready, so each leaves on that
  date (or its location's next business day) and its transit is counted from there, which
  can make the order later than ship-as-available, never earlier. The first parcel's
  earliest date is kept apart (``OrderPromise.first_arrival``) for "arrives in several
  parcels" messages.

Everything here is deterministic: the clock is an argument, holiday data ships with the
``holidays`` package, and ``basis`` says in one sentence which facts gave the dates.

Performance: routing asks for a promise for every candidate location. The date arithmetic
only depends on (calendar, local date, before/after cut-off) and (carrier calendar, ship
date, transit days), so both are memoised; a promise on a warm cache costs a timezone
conversion, three cache look-ups (zone, cut-off instant, window) and joining ``basis``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_data

from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.network import LocationCalendar, PromiseWindow, RateQuote

MON_FRI: frozenset[int] = frozenset({0, 1, 2, 3, 4})

# Longest run of non-business days searched before a calendar is declared unusable (a year
# and a bit: no real calendar closes that long, an empty ``workdays`` always would).
MAX_CLOSED_DAYS = 400

_CACHE_SIZE = 1 << 16
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ONE_DAY = dt.timedelta(days=1)


class CalendarError(DomainError):
    """A calendar or clock that cannot give a promise: unknown timezone, naive datetime,
    no working day, a year the holiday data was not loaded for."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(ErrorCode.VALIDATION_ERROR, f"{field_name}: {reason}", [FieldError(field_name, reason)])


class BusinessCalendar(Protocol):
    """Anything with working weekdays and holidays: a location's or a carrier's calendar."""

    @property
    def workdays(self) -> frozenset[int]: ...

    @property
    def holidays(self) -> frozenset[dt.date]: ...


@dataclass(frozen=True)
class CarrierCalendar:
    """The days a carrier moves and delivers parcels.

    Built by ``carrier_calendar`` from the destination's public holidays. ``years`` is the
    range the holidays were loaded for, so that a promise reaching past it fails loudly
    instead of silently ignoring next year's Christmas. ``region`` and ``note`` (why there
    are no holidays, when there is no data) and ``holiday_names`` only feed ``basis``.
    """

    workdays: frozenset[int] = MON_FRI
    holidays: frozenset[dt.date] = frozenset()
    region: str | None = None  # whose public holidays: "US", "DE-BY"
    years: tuple[int, int] | None = None  # first and last year ``holidays`` covers; None: any
    note: str | None = None
    holiday_names: Mapping[dt.date, str] = field(default_factory=lambda: MappingProxyType({}), compare=False)


@dataclass(frozen=True)
class PromiseRequest:
    """One parcel to promise: from which location, by which carrier service, to where
    (``carrier_calendar`` is the destination's), and when its stock is ready if not now."""

    calendar: LocationCalendar
    quote: RateQuote
    carrier_calendar: CarrierCalendar
    ready_at: dt.datetime | None = None


@dataclass(frozen=True)
class OrderPromise:
    """What an order is promised: ``window`` is when the customer has everything (stamp it on
    the order); ``shipments`` are the parcels' own windows, in the order asked, after any
    ship-complete hold; ``first_arrival`` is the earliest date the first parcel can arrive."""

    window: PromiseWindow
    shipments: tuple[PromiseWindow, ...]
    first_arrival: dt.date
    ship_complete: bool


# --- public holidays -------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _holiday_table(country: str, subdivision: str | None, first_year: int, last_year: int) -> Mapping[dt.date, str]:
    if first_year > last_year:
        raise CalendarError("years", f"first year {first_year} is after last year {last_year}")
    try:
        table = holidays_data.country_holidays(
            country, subdiv=subdivision, years=range(first_year, last_year + 1), language="en_US"
        )
    except NotImplementedError as exc:  # the package's "no such country / subdivision"
        field_name = "country" if subdivision is None else "subdivision"
        raise CalendarError(field_name, f"no public-holiday data: {exc}") from None
    return MappingProxyType({day: str(name) for day, name in sorted(table.items())})


def public_holidays(
    country: str, first_year: int, last_year: int | None = None, subdivision: str | None = None
) -> frozenset[dt.date]:
    """Public holidays (observed days included) of a country, or one of its subdivisions
    ("US", "CA" for California; "DE", "BY" for Bavaria), from ``first_year`` to ``last_year``.

    Data ships with the ``holidays`` package, so this never touches the network; results are
    cached. Raises ``CalendarError`` for a country or subdivision the package does not know.
    """
    code, last = country.strip().upper(), first_year if last_year is None else last_year
    if subdivision is not None and subdivision != subdivision.upper():
        try:
            return _public_holidays(code, subdivision, first_year, last)
        except CalendarError as exc:  # "ca" for "CA": codes are upper case, a few names are not
            if exc.errors[0].field != "subdivision":
                raise
            subdivision = subdivision.upper()
    return _public_holidays(code, subdivision, first_year, last)


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str | None, first_year: int, last_year: int) -> frozenset[dt.date]:
    return frozenset(_holiday_table(country, subdivision, first_year, last_year))


@lru_cache(maxsize=512)
def carrier_calendar(
    country: str,
    subdivision: str | None = None,
    *,
    first_year: int,
    last_year: int,
    workdays: frozenset[int] = MON_FRI,
) -> CarrierCalendar:
    """The delivery calendar for parcels going to ``country`` (and ``subdivision``): carriers
    deliver Monday to Friday, not on the destination's public holidays.

    Never fails on an address: an unknown subdivision (say a region spelt out in full) falls
    back to the country's national holidays, and a country without holiday data to weekdays
    only; ``region`` and ``note`` say which, and so does every ``basis`` built with it. Cover the
    years a promise can reach: ``first_year=now.year``, ``last_year`` the year of ``ready_at``
    (or of ``now``) plus one.
    """
    code = country.strip().upper()
    region = (subdivision or "").strip() or None
    attempts: list[str | None] = [None]
    if region:
        attempts[:0] = [region] if region == region.upper() else [region, region.upper()]
    for subdiv in attempts:
        try:
            names = _holiday_table(code, subdiv, first_year, last_year)
        except CalendarError as exc:
            if exc.errors[0].field == "years":
                raise
            continue
        return CarrierCalendar(
            workdays=workdays,
            holidays=frozenset(names),
            region=f"{code}-{subdiv}" if subdiv else code,
            years=(first_year, last_year),
            holiday_names=names,
        )
    return CarrierCalendar(workdays=workdays, region=code, note=f"no public-holiday data for {code}")


# --- business-day arithmetic -----------------------------------------------------------------


def is_business_day(day: dt.date, calendar: BusinessCalendar) -> bool:
    return day.weekday() in calendar.workdays and day not in calendar.holidays


def next_business_day(day: dt.date, calendar: BusinessCalendar) -> dt.date:
    """``day`` itself if it is a business day, else the first business day after it."""
    workdays, closed = calendar.workdays, calendar.holidays
    first = day
    for _ in range(MAX_CLOSED_DAYS):
        if day.weekday() in workdays and day not in closed:
            return day
        day += _ONE_DAY
    raise CalendarError("workdays", f"no business day in the {MAX_CLOSED_DAYS} days from {first.isoformat()}")


def add_business_days(day: dt.date, count: int, calendar: BusinessCalendar) -> dt.date:
    """The ``count``-th business day after ``day`` (``day`` itself for 0): Friday + 1 is
    Monday for a Monday-to-Friday calendar."""
    if count < 0:
        raise CalendarError("count", f"business days to add must be 0 or more, not {count}")
    for _ in range(count):
        day = next_business_day(day + _ONE_DAY, calendar)
    return day


def _closed_workdays(start: dt.date, end: dt.date, calendar: BusinessCalendar) -> tuple[dt.date, ...]:
    """Holidays that fell on working weekdays from ``start`` to ``end`` inclusive: the days the
    calendar skipped that a plain weekday count would not have."""
    if not calendar.holidays:
        return ()
    return tuple(
        sorted(d for d in calendar.holidays if start <= d <= end and d.weekday() in calendar.workdays),
    )


# --- clocks and cut-offs ---------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError("timezone", f"unknown IANA timezone {timezone!r}") from None


def _require_aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(name, "must be a timezone-aware datetime")


@lru_cache(maxsize=_CACHE_SIZE)
def _cutoff_instant(timezone: str, day: dt.date, cutoff: dt.time) -> dt.datetime:
    """The instant the cut-off falls on a local date. On the day clocks go back, a cut-off in
    the repeated hour is its first pass; on the day they go forward, a cut-off in the skipped
    hour is read with winter time (02:30 becomes 03:30 summer time)."""
    if cutoff.tzinfo is not None:
        raise CalendarError("cutoff", "a cut-off is a local wall-clock time, without a timezone")
    return dt.datetime.combine(day, cutoff, tzinfo=_zone(timezone)).astimezone(dt.UTC)


def local_time(instant: dt.datetime, timezone: str) -> dt.datetime:
    """``instant`` (timezone-aware) as the wall clock of ``timezone`` shows it."""
    _require_aware("now", instant)
    return instant.astimezone(_zone(timezone))


def _before_cutoff(instant: dt.datetime, local_date: dt.date, calendar: LocationCalendar) -> bool:
    cutoff = calendar.cutoff
    return cutoff is None or instant < _cutoff_instant(calendar.timezone, local_date, cutoff)


@dataclass(frozen=True)
class _ShipPlan:
    start: dt.date  # the business day work starts
    ship_date: dt.date
    skipped: tuple[dt.date, ...]  # location holidays skipped after the order day, up to ship_date


@lru_cache(maxsize=_CACHE_SIZE)
def _ship_plan(calendar: LocationCalendar, local_date: dt.date, before_cutoff: bool) -> _ShipPlan:
    if calendar.handling_days < 0:
        raise CalendarError("handling_days", "must be 0 or more")
    if before_cutoff and is_business_day(local_date, calendar):
        start = local_date
    else:
        start = next_business_day(local_date + _ONE_DAY, calendar)
    ship = add_business_days(start, calendar.handling_days, calendar)
    return _ShipPlan(start, ship, _closed_workdays(local_date + _ONE_DAY, ship, calendar))


def _work_instant(now: dt.datetime, ready_at: dt.datetime | None) -> dt.datetime:
    _require_aware("now", now)
    if ready_at is None:
        return now
    _require_aware("ready_at", ready_at)
    return ready_at if ready_at > now else now


def ship_date(now: dt.datetime, calendar: LocationCalendar, *, ready_at: dt.datetime | None = None) -> dt.date:
    """The date a parcel leaves the location, for an order placed at ``now`` whose stock is on
    hand, or arrives at ``ready_at`` (inbound ETA of a backorder or preorder)."""
    instant = _work_instant(now, ready_at)
    local = instant.astimezone(_zone(calendar.timezone))
    day = local.date()
    return _ship_plan(calendar, day, _before_cutoff(instant, day, calendar)).ship_date


# --- carrier transit -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Transit:
    earliest: dt.date
    latest: dt.date
    skipped: tuple[tuple[dt.date, str | None], ...]  # carrier holidays between ship and latest


@lru_cache(maxsize=_CACHE_SIZE)
def _transit(calendar: CarrierCalendar, shipped: dt.date, days_min: int, days_max: int) -> _Transit:
    if not 0 <= days_min <= days_max:
        raise CalendarError("transit_days", f"need 0 <= min <= max, got {days_min}..{days_max}")
    moving = next_business_day(shipped, calendar)
    earliest = add_business_days(moving, days_min, calendar)
    latest = add_business_days(earliest, days_max - days_min, calendar)
    if calendar.years is not None:
        first, last = calendar.years
        if shipped.year < first or latest.year > last:
            raise CalendarError(
                "carrier_calendar",
                f"{calendar.region} holidays are loaded for {first}-{last}, the promise runs "
                f"{shipped.isoformat()} to {latest.isoformat()}",
            )
    skipped = tuple((d, calendar.holiday_names.get(d)) for d in _closed_workdays(shipped, latest, calendar))
    return _Transit(earliest, latest, skipped)


def delivery_dates(shipped: dt.date, quote: RateQuote, calendar: CarrierCalendar) -> tuple[dt.date, dt.date]:
    """Earliest and latest delivery for a parcel that leaves on ``shipped``."""
    transit = _transit(calendar, shipped, quote.transit_days_min, quote.transit_days_max)
    return transit.earliest, transit.latest


# --- the promise -----------------------------------------------------------------------------


def _day(day: dt.date) -> str:
    return f"{_DAY_NAMES[day.weekday()]} {day.isoformat()}"


def _clock(value: dt.time | dt.datetime) -> str:
    text = f"{value.hour:02d}:{value.minute:02d}"
    return f"{text}:{value.second:02d}" if value.second else text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# What a promise needs of a rate quote: (location code, carrier, service code, transit min,
# transit max). Not the quote itself, whose cost changes with every parcel's weight: keying the
# cache on it would miss for every new price.
_Service = tuple[str, str, str, int, int]


def _service_name(carrier: str, service_code: str) -> str:
    if service_code.upper().startswith(carrier.upper()):
        return service_code
    return f"{carrier} {service_code}"


def _basis(
    service: _Service,
    calendar: LocationCalendar,
    carrier: CarrierCalendar,
    day: dt.date,
    stock_due: bool,
    before_cutoff: bool,
    plan: _ShipPlan,
    shipped: dt.date,
    transit: _Transit,
) -> tuple[str, str]:
    """One sentence with every fact that moved the dates, in the order they were applied,
    cut where the local clock time goes (the only part that changes minute by minute)."""
    if day.weekday() not in calendar.workdays:
        reason = "not a working day"
    elif day in calendar.holidays:
        reason = "a location holiday"
    elif calendar.cutoff is None:
        reason = "no cut-off"
    elif before_cutoff:
        reason = f"before the {_clock(calendar.cutoff)} cut-off"
    else:
        reason = f"at or after the {_clock(calendar.cutoff)} cut-off"
    location_code, carrier_name, service_code, lo, hi = service
    head = f"{location_code} ({calendar.timezone}): {'stock due' if stock_due else 'ordered'} {_day(day)} at "
    parts = [
        f" local, {reason}, so work starts {_day(plan.start)}; {_plural(calendar.handling_days, 'handling day')}",
    ]
    if plan.skipped:
        parts.append(f", skipping location {'holiday' if len(plan.skipped) == 1 else 'holidays'} ")
        parts.append(", ".join(_day(d) for d in plan.skipped))
    if shipped != plan.ship_date:
        parts.append(f", ready {_day(plan.ship_date)} but held to ship complete until {_day(shipped)}")
    else:
        parts.append(f", ships {_day(shipped)}")
    span = str(lo) if lo == hi else f"{lo}-{hi}"
    days = "day" if hi == 1 else "days"
    parts.append(f"; {_service_name(carrier_name, service_code)} {span} business {days} in transit")
    if transit.skipped:
        label = "public holiday" if len(transit.skipped) == 1 else "public holidays"
        names = ", ".join(_day(d) + (f" ({name})" if name else "") for d, name in transit.skipped)
        parts.append(f", skipping {carrier.region} {label} {names}" if carrier.region else f", skipping {names}")
    if carrier.note:
        parts.append(f" ({carrier.note})")
    if transit.earliest == transit.latest:
        parts.append(f", delivery {_day(transit.earliest)}.")
    else:
        parts.append(f", delivery {_day(transit.earliest)} to {_day(transit.latest)}.")
    return head, "".join(parts)


@dataclass(frozen=True)
class _Window:
    ship_date: dt.date
    earliest: dt.date
    latest: dt.date
    basis_head: str  # the basis up to the local clock time
    basis_tail: str  # and after it


@lru_cache(maxsize=_CACHE_SIZE)
def _window(
    calendar: LocationCalendar,
    service: _Service,
    carrier: CarrierCalendar,
    day: dt.date,
    before_cutoff: bool,
    stock_due: bool,
    hold_until: dt.date | None,
) -> _Window:
    """Everything in a promise that depends on the local date, not the time of day."""
    plan = _ship_plan(calendar, day, before_cutoff)
    shipped = plan.ship_date
    if hold_until is not None and hold_until > shipped:
        shipped = next_business_day(hold_until, calendar)
    transit = _transit(carrier, shipped, service[3], service[4])
    head, tail = _basis(service, calendar, carrier, day, stock_due, before_cutoff, plan, shipped, transit)
    return _Window(shipped, transit.earliest, transit.latest, head, tail)


def _promise(
    now: dt.datetime,
    calendar: LocationCalendar,
    quote: RateQuote,
    carrier: CarrierCalendar,
    ready_at: dt.datetime | None,
    hold_until: dt.date | None,
) -> PromiseWindow:
    instant = _work_instant(now, ready_at)
    local = instant.astimezone(_zone(calendar.timezone))
    day = local.date()
    before_cutoff = _before_cutoff(instant, day, calendar)
    service = (quote.location_code, quote.carrier, quote.service_code, quote.transit_days_min, quote.transit_days_max)
    w = _window(calendar, service, carrier, day, before_cutoff, instant is not now, hold_until)
    return PromiseWindow(w.ship_date, w.earliest, w.latest, w.basis_head + _clock(local) + w.basis_tail)


def promise_window(
    now: dt.datetime,
    calendar: LocationCalendar,
    quote: RateQuote,
    carrier_calendar: CarrierCalendar,
    *,
    ready_at: dt.datetime | None = None,
) -> PromiseWindow:
    """The promise for one parcel from ``quote.location_code`` by ``quote``'s service, for an
    order placed at ``now`` (stock on hand, or arriving at ``ready_at``). ``carrier_calendar``
    is the destination's delivery calendar (see ``carrier_calendar``)."""
    return _promise(now, calendar, quote, carrier_calendar, ready_at, None)


def combine_windows(windows: Sequence[PromiseWindow], *, ship_complete: bool = False) -> PromiseWindow:
    """The window of an order shipped as ``windows``: when the customer has everything.

    The last parcel arrives between the latest ``earliest`` and the latest ``latest`` of the
    parcels (each parcel's arrival lies in its own window, so the maximum lies there), and
    the order has fully left when the last parcel leaves.
    """
    if not windows:
        raise CalendarError("shipments", "an order promise needs at least one shipment")
    if len(windows) == 1:
        return windows[0]
    shipped = max(w.ship_date for w in windows)
    earliest = max(w.earliest for w in windows)
    latest = max(w.latest for w in windows)
    first = min(w.earliest for w in windows)
    how = "held to leave together (ship complete)" if ship_complete else "each leaving when ready (ship as available)"
    arrive = _day(earliest) if earliest == latest else f"{_day(earliest)} to {_day(latest)}"
    first_note = f", the first parcel from {_day(first)}" if first < earliest else ""
    return PromiseWindow(
        ship_date=shipped,
        earliest=earliest,
        latest=latest,
        basis=f"{len(windows)} shipments {how}: the last leaves {_day(shipped)} and the order is complete "
        f"{arrive}{first_note}.",
    )


def promise_order(now: dt.datetime, shipments: Sequence[PromiseRequest], *, ship_complete: bool) -> OrderPromise:
    """The promise for an order that ships as ``shipments`` (one per location and ready date).

    Ship as available: each parcel leaves when ready. Ship complete: every parcel is held
    until the last one is ready and leaves that day (or its location's next business day),
    with its transit counted from there.
    """
    if not shipments:
        raise CalendarError("shipments", "an order promise needs at least one shipment")
    windows = [_promise(now, r.calendar, r.quote, r.carrier_calendar, r.ready_at, None) for r in shipments]
    if ship_complete and len(windows) > 1:
        hold = max(w.ship_date for w in windows)
        windows = [_promise(now, r.calendar, r.quote, r.carrier_calendar, r.ready_at, hold) for r in shipments]
    return OrderPromise(
        window=combine_windows(windows, ship_complete=ship_complete),
        shipments=tuple(windows),
        first_arrival=min(w.earliest for w in windows),
        ship_complete=ship_complete,
    )
