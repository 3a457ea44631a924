"""Carrier rates and transit times: what a parcel of a given weight costs, and how many days
it takes, from one location to one destination, for every carrier service the location offers.

How a quote is found (see docs/carriers.md and docs/adr/0012-carrier-rates-and-geo.md):

1. The distance is the great-circle (haversine) distance between the location's and the
   destination's coordinates, in km.
2. A rate row names its distance band either by zone id (resolved through a zone table:
   by default the US-style zones 2-8 of ``US_DISTANCE_ZONES``) or by an explicit
   ``[from_km, to_km)`` band. Bands are half-open: a parcel at exactly ``to_km`` is in the
   next band.
3. Weight bands are "up to and including ``weight_up_to_grams``": a parcel takes the lightest
   band that holds it. The caller passes the *billable* weight (``billable_weight_grams``).
4. A location's services are its own rows; for a service code it has no rows of its own, the
   rows of location ``*`` apply. A service without a band for that distance, or without a
   weight band that holds the parcel, is left out: prices are never guessed.
5. Asked for a service level, the services of that level answer; if the location has none
   for this parcel, the next faster level that has some (standard -> expedited -> premium),
   never a slower one.
6. Quotes come back cheapest first (then fastest, then by service code).

``RateTable`` validates its rows once and compiles them into sorted arrays, so that a quote
is a couple of ``bisect`` calls per service: microseconds, for routing's 50 candidates per order.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.money import fits_currency, is_currency
from openoms.domain.network import Address, GeoPoint, LocationProfile, RateQuote, ServiceLevel

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG). Haversine on a sphere is within about 0.5% of the ellipsoid distance,
far below what separates one rate band from the next."""

ANY_LOCATION = "*"
"""The location code of rate rows that apply to every location without rows of its own."""

DIM_DIVISOR_CM3_PER_KG = 5000
"""Dimensional-weight divisor: cm³ per kg. 5000 is the international (IATA) figure used by most
express carriers; US domestic ground uses 139 in³/lb, which is 5016 cm³/kg, so 5000 is within
0.3% of it and errs on the carrier's side."""

_LEVEL_RANK = {ServiceLevel.STANDARD: 0, ServiceLevel.EXPEDITED: 1, ServiceLevel.PREMIUM: 2}


def service_level_rank(level: ServiceLevel) -> int:
    """Standard < expedited < premium: a faster service satisfies every slower level."""
    return _LEVEL_RANK[level]


# --------------------------------------------------------------------------- distance


def great_circle_km(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance in km: what zone charts approximate, without needing a road network."""
    lat1 = math.radians(a.latitude)
    lat2 = math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))


# --------------------------------------------------------------------------- weight


def dimensional_weight_grams(
    length_cm: float, width_cm: float, height_cm: float, divisor: int = DIM_DIVISOR_CM3_PER_KG
) -> int:
    """Carriers charge light, bulky parcels by volume: each side rounded up to a whole cm, the
    volume divided by ``divisor`` cm³/kg, rounded up to a whole gram."""
    if min(length_cm, width_cm, height_cm) < 0:
        raise ValueError("parcel dimensions cannot be negative")
    if divisor <= 0:
        raise ValueError("the dimensional divisor must be positive")
    volume_cm3 = math.ceil(length_cm) * math.ceil(width_cm) * math.ceil(height_cm)
    return -(-volume_cm3 * 1000 // divisor)  # integer ceiling: no float rounding at band edges


def billable_weight_grams(
    actual_grams: int,
    dimensions_cm: tuple[float, float, float] | None = None,
    divisor: int = DIM_DIVISOR_CM3_PER_KG,
) -> int:
    """The weight a carrier bills: the greater of the actual and the dimensional weight."""
    if actual_grams < 0:
        raise ValueError("a parcel cannot weigh less than nothing")
    if dimensions_cm is None:
        return actual_grams
    return max(actual_grams, dimensional_weight_grams(*dimensions_cm, divisor=divisor))


# --------------------------------------------------------------------------- zones


@dataclass(frozen=True)
class DistanceZone:
    """A named distance band ``[from_km, to_km)``; ``to_km`` None has no upper limit."""

    zone: str
    from_km: float
    to_km: float | None


_MI = 1.609344
US_DISTANCE_ZONES: tuple[DistanceZone, ...] = (
    DistanceZone("2", 0.0, round(150 * _MI, 1)),
    DistanceZone("3", round(150 * _MI, 1), round(300 * _MI, 1)),
    DistanceZone("4", round(300 * _MI, 1), round(600 * _MI, 1)),
    DistanceZone("5", round(600 * _MI, 1), round(1000 * _MI, 1)),
    DistanceZone("6", round(1000 * _MI, 1), round(1400 * _MI, 1)),
    DistanceZone("7", round(1400 * _MI, 1), round(1800 * _MI, 1)),
    DistanceZone("8", round(1800 * _MI, 1), None),
)
"""US parcel zones 2-8 by distance: 0-150, 150-300, 300-600, 600-1000, 1000-1400, 1400-1800 and
1800+ miles (241.4 / 482.8 / 965.6 / 1609.3 / 2253.1 / 2896.8 km). These are the USPS zone-chart
mileages; UPS and FedEx ground zones follow the same distances from the origin's ZIP3, and
their zone 1 (local) is folded into zone 2 as it is on their ground charts. Zones 9+ (Alaska,
Hawaii, territories) are surcharges, not distances, and are not modelled: distance puts them
in zone 8."""


def zone_for_distance(distance_km: float, zones: Sequence[DistanceZone] = US_DISTANCE_ZONES) -> DistanceZone | None:
    """The zone whose half-open band holds ``distance_km``; None when no zone does."""
    for z in zones:
        if distance_km >= z.from_km and (z.to_km is None or distance_km < z.to_km):
            return z
    return None


def check_zones(zones: Sequence[DistanceZone]) -> list[str]:
    """Problems with a zone table: duplicate ids, empty or negative bands, overlaps."""
    problems: list[str] = []
    seen: set[str] = set()
    for z in zones:
        if not z.zone:
            problems.append("a zone has no id")
        if z.zone in seen:
            problems.append(f"zone {z.zone} is defined twice")
        seen.add(z.zone)
        if z.from_km < 0 or (z.to_km is not None and z.to_km <= z.from_km):
            problems.append(f"zone {z.zone}: the band {_band_label(z.from_km, z.to_km)} is empty or negative")
    ordered = sorted(zones, key=lambda z: z.from_km)
    for prev, cur in pairwise(ordered):
        if prev.to_km is None or cur.from_km < prev.to_km:
            problems.append(f"zone {cur.zone} overlaps zone {prev.zone}")
    return problems


# --------------------------------------------------------------------------- rate rows


@dataclass(frozen=True)
class CarrierService:
    """A carrier product a location can ship with, e.g. ("UPS", "UPS-GROUND", standard)."""

    carrier: str
    service_code: str
    service_level: ServiceLevel


@dataclass(frozen=True)
class RateRow:
    """One price: for ``service_code`` from ``location`` (a code, or ``*``), in one distance band
    (``zone``, or ``from_km``/``to_km``), for parcels up to ``weight_up_to_grams``."""

    location: str
    carrier: str
    service_code: str
    service_level: ServiceLevel
    weight_up_to_grams: int
    cost: Decimal
    currency: str
    transit_days_min: int
    transit_days_max: int
    zone: str | None = None
    from_km: float | None = None
    to_km: float | None = None  # None with from_km set: no upper limit

    @property
    def service(self) -> CarrierService:
        return CarrierService(self.carrier, self.service_code, self.service_level)


@dataclass(frozen=True)
class RateProblem:
    """Why one row (0-based index into the rows given) cannot be used."""

    row: int
    field: str
    reason: str


class InvalidRateTable(DomainError):
    """A rate table with any bad row is refused whole: a half-loaded tariff quotes wrong prices."""

    def __init__(self, problems: Sequence[RateProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        summary = f"; first: rows[{first.row}].{first.field}: {first.reason}" if first else ""
        super().__init__(
            ErrorCode.VALIDATION_ERROR,
            f"the rate table has {len(self.problems)} problem(s){summary}",
            [FieldError(f"rows[{p.row}].{p.field}", p.reason) for p in self.problems],
        )


def _band_label(from_km: float, to_km: float | None) -> str:
    return f"{from_km:g}-{to_km:g} km" if to_km is not None else f"{from_km:g}+ km"


def _resolve_band(row: RateRow, zones: dict[str, DistanceZone]) -> tuple[str, float, float] | RateProblem:
    """(label, from_km, to_km) of a row's band, an open end as +inf; or why it has none (the
    problem's row is filled in by the caller)."""
    if row.zone is not None:
        if row.from_km is not None or row.to_km is not None:
            return RateProblem(-1, "zone", "give a zone or a distance band, not both")
        z = zones.get(row.zone)
        if z is None:
            return RateProblem(-1, "zone", f"unknown zone {row.zone!r}; known: {', '.join(zones) or 'none'}")
        return (f"zone {z.zone}", z.from_km, math.inf if z.to_km is None else z.to_km)
    if row.from_km is None:
        if row.to_km is not None:
            return RateProblem(-1, "distance_km_from", "a distance band needs its lower bound")
        return RateProblem(-1, "zone", "give a zone or a distance band (distance_km_from, distance_km_to)")
    if not math.isfinite(row.from_km) or row.from_km < 0:
        return RateProblem(-1, "distance_km_from", f"{row.from_km:g} is not a distance (0 or more km)")
    if row.to_km is not None and (not math.isfinite(row.to_km) or row.to_km <= row.from_km):
        return RateProblem(-1, "distance_km_to", f"{row.to_km:g} must be above distance_km_from {row.from_km:g}")
    return (_band_label(row.from_km, row.to_km), row.from_km, math.inf if row.to_km is None else row.to_km)


def check_rate_rows(rows: Sequence[RateRow], zones: Sequence[DistanceZone] = US_DISTANCE_ZONES) -> list[RateProblem]:
    """Every problem with every row, so that a whole file can be fixed in one pass.

    One row at a time: names present, weight above 0, cost 0 or more in a real currency's minor
    units, transit 0 <= min <= max, a known zone or a valid distance band. Across rows: one
    currency per table (costs are compared across services and locations), a service code
    always names the same carrier and level, and for one location and service the distance
    bands do not overlap, no weight band repeats, and a heavier band never costs less.
    """
    zone_map = {z.zone: z for z in zones}
    problems: list[RateProblem] = []
    bands: list[tuple[str, float, float] | None] = []
    currency: str | None = None
    services: dict[str, CarrierService] = {}
    for i, r in enumerate(rows):
        for name, value in (("location", r.location), ("carrier", r.carrier), ("service_code", r.service_code)):
            if not value or value != value.strip():
                problems.append(RateProblem(i, name, "required, without leading or trailing spaces"))
        if not isinstance(r.service_level, ServiceLevel):
            problems.append(RateProblem(i, "service_level", f"unknown service level {r.service_level!r}"))
        if r.weight_up_to_grams <= 0:
            problems.append(RateProblem(i, "weight_up_to_grams", "must be above 0 grams"))
        if not r.cost.is_finite() or r.cost < 0:
            problems.append(RateProblem(i, "cost", f"{r.cost} is negative or not a number"))
        if not is_currency(r.currency):
            problems.append(RateProblem(i, "currency", f"{r.currency!r} is not an ISO 4217 currency code"))
        else:
            if r.cost.is_finite() and not fits_currency(r.cost, r.currency):
                problems.append(RateProblem(i, "cost", f"{r.cost} has more decimals than {r.currency} allows"))
            if currency is None:
                currency = r.currency
            elif r.currency != currency:
                problems.append(
                    RateProblem(i, "currency", f"{r.currency} differs from the table's currency {currency}")
                )
        if r.transit_days_min < 0:
            problems.append(RateProblem(i, "transit_days_min", "must be 0 or more"))
        if r.transit_days_max < r.transit_days_min:
            problems.append(
                RateProblem(
                    i, "transit_days_max", f"{r.transit_days_max} is below transit_days_min {r.transit_days_min}"
                )
            )
        if r.service_code and isinstance(r.service_level, ServiceLevel):
            known = services.setdefault(r.service_code, r.service)
            if known.carrier != r.carrier:
                problems.append(
                    RateProblem(i, "carrier", f"{r.service_code} is a {known.carrier} service elsewhere in the table")
                )
            if known.service_level != r.service_level:
                problems.append(
                    RateProblem(
                        i,
                        "service_level",
                        f"{r.service_code} is {known.service_level.value} elsewhere in the table",
                    )
                )
        band = _resolve_band(r, zone_map)
        if isinstance(band, RateProblem):
            problems.append(RateProblem(i, band.field, band.reason))
            bands.append(None)
        else:
            bands.append(band)
    problems.extend(_check_groups(rows, bands))
    return sorted(problems, key=lambda p: (p.row, p.field))


def _check_groups(rows: Sequence[RateRow], bands: Sequence[tuple[str, float, float] | None]) -> list[RateProblem]:
    """Overlapping bands, repeated weight bands and cheaper heavier parcels, per location and service."""
    problems: list[RateProblem] = []
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if bands[i] is not None:
            groups[(r.location, r.service_code)].append(i)
    for (location, service_code), members in groups.items():
        by_band: dict[tuple[str, float, float], list[int]] = defaultdict(list)
        for i in members:
            band = bands[i]
            assert band is not None
            by_band[band].append(i)
        # The band that appears later in the table is the one reported; a location has a few
        # bands per service, so comparing every pair is cheap and simplest.
        earlier: list[tuple[str, float, float]] = []
        for band in by_band:  # insertion order: the order of each band's first row
            clash = next((e for e in earlier if band[1] < e[2] and e[1] < band[2]), None)
            if clash is not None:
                first = by_band[band][0]
                problems.append(
                    RateProblem(
                        first,
                        "zone" if rows[first].zone is not None else "distance_km_from",
                        f"{band[0]} overlaps {clash[0]} for {service_code} from {location}",
                    )
                )
            earlier.append(band)
        for band, idx in by_band.items():
            seen: dict[int, int] = {}
            for i in idx:
                w = rows[i].weight_up_to_grams
                if w in seen:
                    problems.append(
                        RateProblem(i, "weight_up_to_grams", f"{band[0]} up to {w} g appears more than once")
                    )
                seen.setdefault(w, i)
            priced = sorted((rows[i].weight_up_to_grams, rows[i].cost, i) for i in idx if rows[i].cost.is_finite())
            for (w_light, c_light, _), (w_heavy, c_heavy, i_heavy) in pairwise(priced):
                if w_heavy > w_light and c_heavy < c_light:
                    problems.append(
                        RateProblem(
                            i_heavy,
                            "cost",
                            f"{c_heavy} for up to {w_heavy} g is below {c_light} for up to {w_light} g ({band[0]})",
                        )
                    )
    return problems


# --------------------------------------------------------------------------- compiled table


_Entry = tuple[tuple[Decimal, int, int, str], dict[str, object]]  # (sort key, quote fields)


def _quote_fields(service: CarrierService, row: RateRow, label: str, currency: str) -> dict[str, object]:
    """The fields of a quote for this row, taken from a real ``RateQuote`` so that every field
    and default of the contract is present; location and distance are filled in per call."""
    q = RateQuote(
        location_code="",
        carrier=service.carrier,
        service_code=service.service_code,
        service_level=service.service_level,
        cost=row.cost,
        currency=currency,
        transit_days_min=row.transit_days_min,
        transit_days_max=row.transit_days_max,
        zone=label,
        distance_km=None,
    )
    return dict(vars(q))


_new = object.__new__


def _make_quote(fields: dict[str, object], location_code: str, distance_km: float) -> RateQuote:
    # Routing asks for 50 locations per order. A frozen dataclass's __init__ costs ~1.2 us for
    # ten fields; filling the instance dict from the precomputed fields costs ~0.2 us and gives
    # an equal object (tests/unit/test_carriers.py compares the two for the whole demo table).
    q: RateQuote = _new(RateQuote)
    d = q.__dict__
    d.update(fields)
    d["location_code"] = location_code
    d["distance_km"] = distance_km
    return q


class _Band:
    __slots__ = ("entries", "from_km", "to_km", "weights")

    def __init__(self, from_km: float, to_km: float) -> None:
        self.from_km = from_km
        self.to_km = to_km
        self.weights: list[int] = []  # ascending weight_up_to_grams
        self.entries: list[_Entry] = []  # one per weight


class _Service:
    __slots__ = ("bands", "rank", "service", "starts")

    def __init__(self, service: CarrierService, bands: list[_Band]) -> None:
        self.service = service
        self.rank = _LEVEL_RANK[service.service_level]
        self.bands = sorted(bands, key=lambda b: b.from_km)
        self.starts = [b.from_km for b in self.bands]


class RateTable:
    """Validated rate rows, compiled for fast quoting; immutable once built.

    Compiled form: per location code (and ``*``), its services sorted by code; per service its
    distance bands sorted by lower bound (a ``bisect`` finds the band), per band its weight
    bands sorted by upper bound (a second ``bisect`` finds the price). The bands of one service
    never overlap (``check_rate_rows``), so the band found is the only one that can match.
    """

    def __init__(self, rows: Iterable[RateRow], zones: Sequence[DistanceZone] = US_DISTANCE_ZONES) -> None:
        self.rows: tuple[RateRow, ...] = tuple(rows)
        self.zones: tuple[DistanceZone, ...] = tuple(zones)
        zone_problems = check_zones(self.zones)
        if zone_problems:
            raise ValueError("bad zone table: " + "; ".join(zone_problems))
        problems = check_rate_rows(self.rows, self.zones)
        if problems:
            raise InvalidRateTable(problems)
        self.currency: str | None = self.rows[0].currency if self.rows else None
        zone_map = {z.zone: z for z in self.zones}
        grouped: dict[str, dict[str, dict[tuple[str, float, float], list[RateRow]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        for r in self.rows:
            band = _resolve_band(r, zone_map)
            assert isinstance(band, tuple)
            grouped[r.location][r.service_code][band].append(r)
        compiled: dict[str, dict[str, _Service]] = {}
        for location, by_service in grouped.items():
            compiled[location] = {}
            for code, by_band in by_service.items():
                service = next(iter(by_band.values()))[0].service
                bands = []
                for (label, lo, hi), band_rows in by_band.items():
                    b = _Band(lo, hi)
                    for r in sorted(band_rows, key=lambda r: r.weight_up_to_grams):
                        key = (r.cost, r.transit_days_max, r.transit_days_min, code)
                        b.weights.append(r.weight_up_to_grams)
                        b.entries.append((key, _quote_fields(service, r, r.zone or label, r.currency)))
                    bands.append(b)
                compiled[location][code] = _Service(service, bands)
        defaults = compiled.get(ANY_LOCATION, {})
        self._default: tuple[_Service, ...] = tuple(defaults[c] for c in sorted(defaults))
        self._by_location: dict[str, tuple[_Service, ...]] = {}
        for location, own in compiled.items():
            if location == ANY_LOCATION:
                continue
            merged = {**defaults, **own}  # a location's own rows replace the ``*`` rows of that service
            self._by_location[location] = tuple(merged[c] for c in sorted(merged))

    def services_for(self, location_code: str) -> tuple[CarrierService, ...]:
        """The services ``location_code`` offers: its own, and the ``*`` ones it does not override."""
        return tuple(s.service for s in self._by_location.get(location_code, self._default))

    def quote_distance(
        self,
        location_code: str,
        distance_km: float,
        weight_grams: int,
        service_level: ServiceLevel | None = None,
    ) -> list[RateQuote]:
        """Every service of the location with a price for this distance and billable weight,
        cheapest first (then fastest, then by service code).

        With ``service_level``, the services of that level; when the location has none for
        this parcel, those of the next faster level that has some (an upgrade the merchant
        pays for), never a slower one. Without it, every service of every level.
        """
        if weight_grams < 0:
            raise ValueError("weight_grams cannot be negative")
        if not distance_km >= 0:  # also refuses NaN
            raise ValueError("distance_km must be 0 or more")
        min_rank = 0 if service_level is None else _LEVEL_RANK[service_level]
        found: list[_Entry] = []
        ranks: list[int] = []
        for s in self._by_location.get(location_code, self._default):
            if s.rank < min_rank:
                continue
            i = bisect_right(s.starts, distance_km) - 1
            if i < 0:
                continue
            band = s.bands[i]
            if distance_km >= band.to_km:
                continue
            j = bisect_left(band.weights, weight_grams)
            if j < len(band.weights):
                found.append(band.entries[j])
                ranks.append(s.rank)
        if service_level is not None and found:
            level = min(ranks)  # the requested level if it has quotes, else the next faster one
            found = [e for e, r in zip(found, ranks, strict=True) if r == level]
        if len(found) > 1:
            found.sort(key=_sort_key)  # keys are unique: the service code is part of them
        return [_make_quote(fields, location_code, distance_km) for _, fields in found]


def _sort_key(entry: _Entry) -> tuple[Decimal, int, int, str]:
    return entry[0]


def quote_services(
    table: RateTable,
    location: LocationProfile,
    destination: Address,
    weight_grams: int,
    service_level: ServiceLevel | None = None,
) -> list[RateQuote]:
    """Every service ``location`` offers to ``destination`` for a parcel of ``weight_grams``
    (billable), cheapest first. Without coordinates at both ends there is no distance and so
    no quote: resolve the address first (``adapters.carriers.geo``) or use ``make_quoter``."""
    if location.point is None or destination.point is None:
        return []
    distance = great_circle_km(location.point, destination.point)
    return table.quote_distance(location.code, distance, weight_grams, service_level)


Quoter = Callable[[LocationProfile, Address, int, ServiceLevel], list[RateQuote]]
"""What routing calls: ``quote(location, destination, weight_grams, service_level)``."""


def make_quoter(table: RateTable, locate: Callable[[Address], GeoPoint | None] | None = None) -> Quoter:
    """A ``Quoter`` over ``table``; ``locate`` fills in an address's coordinates when it has none
    (the geo adapter's ``locate``), and is called only for such addresses."""

    def quote(
        location: LocationProfile, destination: Address, weight_grams: int, service_level: ServiceLevel
    ) -> list[RateQuote]:
        point = destination.point
        if point is None and locate is not None:
            point = locate(destination)
        if point is None or location.point is None:
            return []
        distance = great_circle_km(location.point, point)
        return table.quote_distance(location.code, distance, weight_grams, service_level)

    return quote
