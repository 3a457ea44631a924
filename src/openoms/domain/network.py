"""The fulfilment network as routing and promising see it: where things are, what each
location can do, and what a carrier charges and takes to get a parcel from A to B.

Plain values shared by ``carriers`` (rates and transit), ``promising`` (dates) and
``routing`` (which location ships what), so that each can be tested alone and the three
compose without knowing each other's internals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class ServiceLevel(StrEnum):
    """What the customer bought: premium takes the fastest path even when it costs more."""

    STANDARD = "standard"
    EXPEDITED = "expedited"
    PREMIUM = "premium"


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Address:
    """Where a parcel goes; ``point`` is filled from the postal code when the channel sent none."""

    country: str  # ISO 3166-1 alpha-2
    postal_code: str | None = None
    region: str | None = None
    city: str | None = None
    point: GeoPoint | None = None


@dataclass(frozen=True)
class RateQuote:
    """One carrier service's price and transit time for one parcel from one location."""

    location_code: str
    carrier: str  # e.g. "UPS"
    service_code: str  # e.g. "UPS-GROUND"
    service_level: ServiceLevel
    cost: Decimal  # in ``currency``, for the whole parcel
    currency: str
    transit_days_min: int  # business days in transit, after the parcel leaves
    transit_days_max: int
    zone: str | None = None  # the rate table's zone or distance band, for the explanation
    distance_km: float | None = None


@dataclass(frozen=True)
class LocationCalendar:
    """When a location works: its timezone, order cut-off, working weekdays, holidays and
    how many business days it needs to pick and pack."""

    timezone: str  # IANA, e.g. "America/Chicago"
    cutoff: dt.time | None = None  # orders after this local time start the next business day
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    holidays: frozenset[dt.date] = frozenset()
    handling_days: int = 0  # business days between the start of work and hand-over to the carrier


@dataclass(frozen=True)
class PromiseWindow:
    """What the customer is told: the parcel leaves on ``ship_date`` and arrives between
    ``earliest`` and ``latest`` (local calendar dates at the destination)."""

    ship_date: dt.date
    earliest: dt.date
    latest: dt.date
    basis: str  # why, in a sentence: "in stock at WH-DFW; cut-off 14:00 America/Chicago passed; ..."


@dataclass(frozen=True)
class LocationProfile:
    """What routing needs to know of a location besides its stock."""

    code: str
    kind: str  # warehouse / store / 3pl / dropship
    point: GeoPoint | None
    ships: bool = True
    pickup: bool = False
    hazmat_licensed: bool = False  # may ship hazmat products
    secure: bool = False  # may ship high-value products
    channels: frozenset[str] | None = None  # None: serves every channel
    capacity_left_today: int | None = None  # units it can still ship today; None: no limit
    load: float = 0.0  # share of today's capacity already used, 0..1
    calendar: LocationCalendar = field(default_factory=lambda: LocationCalendar("UTC"))


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_workdays(text: str) -> frozenset[int]:
    """``"mon tue wed thu fri"`` (as stored on a location) as weekday numbers, Monday = 0.
    Raises ``ValueError`` naming the word it does not know, and for an empty week (a location
    that never works can never ship)."""
    days = set()
    for word in text.replace(",", " ").lower().split():
        if word in WEEKDAY_NAMES:
            days.add(WEEKDAY_NAMES.index(word))
        elif word in _FULL_NAMES:
            days.add(_FULL_NAMES.index(word))
        else:
            raise ValueError(f"{word!r} is not a weekday; use mon tue wed thu fri sat sun")
    if not days:
        raise ValueError("a location needs at least one working day")
    return frozenset(days)


def format_workdays(days: frozenset[int]) -> str:
    return " ".join(WEEKDAY_NAMES[d] for d in sorted(days))


#: The service levels orders carry (what channels and the API accept) and the carrier tier
#: routing looks for: express and next-day orders need the fastest (premium) services.
ORDER_SERVICE_LEVELS: dict[str, ServiceLevel] = {
    "standard": ServiceLevel.STANDARD,
    "expedited": ServiceLevel.EXPEDITED,
    "express": ServiceLevel.PREMIUM,
    "next_day": ServiceLevel.PREMIUM,
}


def routing_service_level(order_level: str) -> ServiceLevel:
    """The carrier tier for an order's service level; unknown levels ship standard."""
    return ORDER_SERVICE_LEVELS.get(order_level, ServiceLevel.STANDARD)
