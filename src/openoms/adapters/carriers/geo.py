"""Coordinates for an address, offline: distance (and so zone and price) needs a point.

Fallback order, first that answers wins (docs/carriers.md):

1. the address's own ``point`` (a channel or the customer sent coordinates);
2. US postal code (ZIP, ZIP+4, leading zeros restored) through the ``zipcodes`` package, whose
   data ships with it: the ZIP's centroid; also for the territories that use US ZIP codes;
3. US state (``region``, as code or name): the mean of that state's ZIP centroids, computed
   once from the same data;
4. country: the centroid from ``COUNTRY_CENTROIDS`` below;
5. none: ``point`` is None and ``reason`` says why; such an address gets no carrier quote.

Every answer is cached: the same address costs a dictionary look-up the second time.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import zipcodes

from openoms.domain.network import Address, GeoPoint


class GeoSource(StrEnum):
    ADDRESS = "address"
    POSTAL_CODE = "postal_code"
    REGION = "region"
    COUNTRY = "country"
    NONE = "none"


@dataclass(frozen=True)
class GeoResolution:
    """A point and how it was found, for the routing explanation ("distance from ZIP 10012")."""

    point: GeoPoint | None
    source: GeoSource
    reason: str


# Countries whose addresses use US ZIP codes (the USPS serves the territories and freely
# associated states); ISO 3166-1 alpha-2.
US_POSTAL_COUNTRIES = frozenset({"US", "PR", "VI", "GU", "AS", "MP", "MH", "FM", "PW"})

# Country centroids (latitude, longitude), from Google's DSPL canonical "countries.csv"
# (https://developers.google.com/public-data/docs/canonical/countries_csv), rounded to 4
# decimals: the main markets for a US/EU/APAC merchant. A centroid is a last resort: it puts
# a parcel in the right country, which is as much as a rate band needs abroad.
COUNTRY_CENTROIDS: dict[str, tuple[float, float]] = {
    "AE": (23.4241, 53.8478),  # United Arab Emirates
    "AR": (-38.4161, -63.6167),  # Argentina
    "AT": (47.5162, 14.5501),  # Austria
    "AU": (-25.2744, 133.7751),  # Australia
    "BE": (50.5039, 4.4699),  # Belgium
    "BR": (-14.2350, -51.9253),  # Brazil
    "CA": (56.1304, -106.3468),  # Canada
    "CH": (46.8182, 8.2275),  # Switzerland
    "CL": (-35.6751, -71.5430),  # Chile
    "CN": (35.8617, 104.1954),  # China
    "CO": (4.5709, -74.2973),  # Colombia
    "CZ": (49.8175, 15.4730),  # Czech Republic
    "DE": (51.1657, 10.4515),  # Germany
    "DK": (56.2639, 9.5018),  # Denmark
    "EG": (26.8206, 30.8025),  # Egypt
    "ES": (40.4637, -3.7492),  # Spain
    "FI": (61.9241, 25.7482),  # Finland
    "FR": (46.2276, 2.2137),  # France
    "GB": (55.3781, -3.4360),  # United Kingdom
    "GR": (39.0742, 21.8243),  # Greece
    "HK": (22.3964, 114.1095),  # Hong Kong
    "HU": (47.1625, 19.5033),  # Hungary
    "ID": (-0.7893, 113.9213),  # Indonesia
    "IE": (53.4129, -8.2439),  # Ireland
    "IL": (31.0461, 34.8516),  # Israel
    "IN": (20.5937, 78.9629),  # India
    "IT": (41.8719, 12.5674),  # Italy
    "JP": (36.2048, 138.2529),  # Japan
    "KR": (35.9078, 127.7669),  # South Korea
    "MX": (23.6345, -102.5528),  # Mexico
    "MY": (4.2105, 101.9758),  # Malaysia
    "NG": (9.0820, 8.6753),  # Nigeria
    "NL": (52.1326, 5.2913),  # Netherlands
    "NO": (60.4720, 8.4689),  # Norway
    "NZ": (-40.9006, 174.8860),  # New Zealand
    "PE": (-9.1900, -75.0152),  # Peru
    "PH": (12.8797, 121.7740),  # Philippines
    "PL": (51.9194, 19.1451),  # Poland
    "PR": (18.2208, -66.5901),  # Puerto Rico
    "PT": (39.3999, -8.2245),  # Portugal
    "RO": (45.9432, 24.9668),  # Romania
    "SA": (23.8859, 45.0792),  # Saudi Arabia
    "SE": (60.1282, 18.6435),  # Sweden
    "SG": (1.3521, 103.8198),  # Singapore
    "TH": (15.8700, 100.9925),  # Thailand
    "TR": (38.9637, 35.2433),  # Turkey
    "TW": (23.6978, 120.9605),  # Taiwan
    "US": (37.0902, -95.7129),  # United States
    "VN": (14.0583, 108.2772),  # Vietnam
    "ZA": (-30.5595, 22.9375),  # South Africa
}

# US states, DC and the territories with ZIP codes: name -> USPS code, for a region written out.
US_STATE_NAMES: dict[str, str] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI", "minnesota": "MN",
    "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
    "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
    "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
    "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "puerto rico": "PR", "guam": "GU", "u.s. virgin islands": "VI", "virgin islands": "VI",
    "american samoa": "AS", "northern mariana islands": "MP",
}  # fmt: skip

_MILITARY_STATES = frozenset({"AA", "AE", "AP"})  # armed forces "states" of APO/FPO addresses
_ZIP_SEPARATORS = re.compile(r"[\s-]+")


@dataclass(frozen=True)
class ZipPlace:
    zip_code: str
    city: str
    state: str
    point: GeoPoint


def normalize_us_zip(raw: str) -> str | None:
    """The 5-digit ZIP in ``raw``, or None. Accepts ZIP+4 ("10012-1234", "10012 1234",
    "100121234") and restores the leading zeros that spreadsheets strip ("2134" -> "02134",
    "2134-0001" -> "02134")."""
    parts = [p for p in _ZIP_SEPARATORS.split(raw.strip()) if p]
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    if len(parts) == 1:
        digits = parts[0]
        if 3 <= len(digits) <= 5:
            return digits.zfill(5)
        if 8 <= len(digits) <= 9:  # ZIP+4 written without a separator
            return digits.zfill(9)[:5]
        return None
    if len(parts) == 2 and 3 <= len(parts[0]) <= 5 and len(parts[1]) == 4:
        return parts[0].zfill(5)
    return None


_build_lock = threading.RLock()


def _zip_index() -> dict[str, ZipPlace]:
    """The ZIP index, built once per process. Building takes most of a second; the lock makes
    the threads of a cold server wait for one build instead of each doing it (a stampede that
    took a 32-client benchmark seconds to get out of)."""
    with _build_lock:
        return _build_zip_index()


@lru_cache(maxsize=1)
def _build_zip_index() -> dict[str, ZipPlace]:
    """Every ZIP the package knows with real coordinates. Military APO/FPO/DPO codes are left
    out: they route through a mail hub, and their coordinates in the data are 0,0 or a base
    somewhere, not where the parcel goes."""
    index: dict[str, ZipPlace] = {}
    for z in zipcodes.list_all():
        if z.get("zip_code_type") == "MILITARY" or z.get("state") in _MILITARY_STATES:
            continue
        try:
            lat, lon = float(z["lat"]), float(z["long"])
        except (KeyError, TypeError, ValueError):
            continue
        if lat == 0.0 and lon == 0.0:
            continue
        index[z["zip_code"]] = ZipPlace(z["zip_code"], z["city"], z["state"], GeoPoint(lat, lon))
    return index


def _state_centroids() -> dict[str, GeoPoint]:
    with _build_lock:
        return _build_state_centroids()


@lru_cache(maxsize=1)
def _build_state_centroids() -> dict[str, GeoPoint]:
    """Per state, the mean of its ZIP centroids: weighted towards where people live, which is
    where parcels go, rather than the geometric middle of the map."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for place in _zip_index().values():
        s = sums[place.state]
        s[0] += place.point.latitude
        s[1] += place.point.longitude
        s[2] += 1
    return {state: GeoPoint(round(la / n, 4), round(lo / n, 4)) for state, (la, lo, n) in sums.items()}


def lookup_us_zip(raw: str) -> ZipPlace | None:
    """The place of a US ZIP (any of the forms ``normalize_us_zip`` accepts), or None."""
    zip5 = normalize_us_zip(raw)
    return None if zip5 is None else _zip_index().get(zip5)


def us_state_code(region: str) -> str | None:
    """ "NY", "ny", "New York" -> "NY"; None when it is no US state or territory."""
    text = region.strip()
    if len(text) == 2 and text.upper() in _state_centroids():
        return text.upper()
    return US_STATE_NAMES.get(" ".join(text.lower().split()))


def us_state_centroid(region: str) -> GeoPoint | None:
    code = us_state_code(region)
    return None if code is None else _state_centroids().get(code)


def country_centroid(country: str) -> GeoPoint | None:
    c = COUNTRY_CENTROIDS.get(country.strip().upper())
    return None if c is None else GeoPoint(*c)


@lru_cache(maxsize=65536)
def resolve(address: Address) -> GeoResolution:
    """The best point for ``address`` by the fallback order of this module, with the reason."""
    if address.point is not None:
        return GeoResolution(address.point, GeoSource.ADDRESS, "coordinates given with the address")
    country = (address.country or "").strip().upper()
    misses: list[str] = []
    if address.postal_code and country in US_POSTAL_COUNTRIES:
        place = lookup_us_zip(address.postal_code)
        if place is not None:
            return GeoResolution(
                place.point, GeoSource.POSTAL_CODE, f"ZIP {place.zip_code} ({place.city}, {place.state})"
            )
        zip5 = normalize_us_zip(address.postal_code)
        misses.append(
            f"postal code {address.postal_code!r} is not a US ZIP"
            if zip5 is None
            else f"ZIP {zip5} is not in the ZIP data"
        )
    elif address.postal_code:
        misses.append(f"no postal-code data for country {country or '?'}")
    if address.region and country in US_POSTAL_COUNTRIES:
        code = us_state_code(address.region)
        point = None if code is None else _state_centroids().get(code)
        if code is not None and point is not None:
            return GeoResolution(point, GeoSource.REGION, _with_misses(f"centre of state {code}", misses))
        misses.append(f"region {address.region!r} is not a US state")
    point = country_centroid(country)
    if point is not None:
        # A bare "US" lands in Kansas: right for a country-level band, wrong for a US zone.
        return GeoResolution(point, GeoSource.COUNTRY, _with_misses(f"centre of country {country}", misses))
    misses.append(f"no centroid for country {country or '(none)'}")
    return GeoResolution(None, GeoSource.NONE, "no coordinates: " + "; ".join(misses))


def _with_misses(found: str, misses: list[str]) -> str:
    return found if not misses else f"{found} ({'; '.join(misses)})"


def locate(address: Address) -> GeoPoint | None:
    """Just the point: what ``domain.carriers.make_quoter`` takes as ``locate``."""
    return resolve(address).point
