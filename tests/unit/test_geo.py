"""Coordinates for addresses (``adapters.carriers.geo``): the address's own point, then the US
ZIP code, then the US state, then the country, then nothing with a reason."""

from __future__ import annotations

import re
import string

import pytest
import zipcodes

from openoms.adapters.carriers import geo
from openoms.adapters.carriers.geo import (
    COUNTRY_CENTROIDS,
    GeoSource,
    country_centroid,
    locate,
    lookup_us_zip,
    normalize_us_zip,
    resolve,
    us_state_centroid,
    us_state_code,
)
from openoms.domain.carriers import great_circle_km
from openoms.domain.network import Address, GeoPoint

MANHATTAN = GeoPoint(40.7831, -73.9712)
STATES_AND_DC = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC",
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "zip5"),
    [
        ("10012", "10012"),
        (" 10012 ", "10012"),
        ("02134", "02134"),
        ("2134", "02134"),  # a spreadsheet ate the leading zero
        ("501", "00501"),
        ("10012-1234", "10012"),
        ("10012 1234", "10012"),
        ("100121234", "10012"),
        ("2134-0001", "02134"),
        ("21340001", "02134"),  # ZIP+4 without separator, leading zero lost
    ],
)
def test_normalize_us_zip_accepts_zip_plus_4_and_restores_leading_zeros(raw: str, zip5: str) -> None:
    assert normalize_us_zip(raw) == zip5


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "  ",
        "12",
        "123456",
        "ABCDE",
        "1001a",
        "10012-12",
        "10012-1234-5",
        "SW1A 1AA",
        "\uff11\uff10\uff10\uff11\uff12",
    ],  # full-width digits
)
def test_normalize_us_zip_refuses_what_is_no_zip(raw: str) -> None:
    assert normalize_us_zip(raw) is None


def test_zip_10012_is_new_york() -> None:
    place = lookup_us_zip("10012")
    assert place is not None
    assert (place.zip_code, place.city, place.state) == ("10012", "New York", "NY")
    assert great_circle_km(place.point, MANHATTAN) < 10


def test_zip_with_leading_zero_is_found_written_either_way() -> None:
    with_zero = lookup_us_zip("02134")
    assert with_zero is not None and with_zero.state == "MA"
    assert great_circle_km(with_zero.point, GeoPoint(42.3601, -71.0589)) < 10  # Boston
    assert lookup_us_zip("2134") == with_zero


def test_zip_plus_4_resolves_like_its_zip() -> None:
    r4 = resolve(Address("US", "10012-3456"))
    r5 = resolve(Address("US", "10012"))
    assert r4.point == r5.point and r4.source is GeoSource.POSTAL_CODE
    assert r4.reason == "ZIP 10012 (New York, NY)"


def test_zip_codes_of_territories_resolve_with_their_own_country_code() -> None:
    r = resolve(Address("PR", "00901"))
    assert r.source is GeoSource.POSTAL_CODE and "San Juan" in r.reason
    assert r.point is not None and great_circle_km(r.point, GeoPoint(18.4655, -66.1057)) < 15


def test_an_address_with_a_point_keeps_it() -> None:
    p = GeoPoint(1.5, 2.5)
    r = resolve(Address("US", "10012", point=p))
    assert (r.point, r.source) == (p, GeoSource.ADDRESS)


def test_unknown_zip_falls_back_to_the_state_and_says_why() -> None:
    r = resolve(Address("US", "99999", region="TX"))
    assert r.source is GeoSource.REGION
    assert r.reason == "centre of state TX (ZIP 99999 is not in the ZIP data)"
    assert r.point == us_state_centroid("TX")


def test_state_written_as_code_or_name_in_any_case() -> None:
    ny = us_state_centroid("NY")
    assert ny is not None
    assert us_state_centroid("ny") == us_state_centroid("New York") == us_state_centroid(" new  york ") == ny
    assert us_state_code("District of Columbia") == "DC"
    assert us_state_code("Narnia") is None and us_state_code("ZZ") is None
    assert resolve(Address("US", region="California")).point == us_state_centroid("CA")


@pytest.mark.parametrize(
    ("state", "south", "north", "west", "east"),
    [
        ("NY", 40.5, 45.0, -79.8, -71.8),
        ("TX", 25.8, 36.5, -106.7, -93.5),
        ("CA", 32.5, 42.0, -124.5, -114.1),
        ("FL", 24.5, 31.0, -87.6, -80.0),
        ("AK", 51.0, 71.5, -180.0, -129.9),
        ("HI", 18.9, 22.3, -160.3, -154.8),
    ],
)
def test_state_centroid_lies_inside_the_state(state: str, south: float, north: float, west: float, east: float) -> None:
    c = us_state_centroid(state)
    assert c is not None
    assert south <= c.latitude <= north and west <= c.longitude <= east


def test_every_state_and_dc_has_a_centroid_that_is_the_mean_of_its_zips() -> None:
    for state in STATES_AND_DC:
        assert us_state_centroid(state) is not None, state
    vermont = [
        (float(z["lat"]), float(z["long"]))
        for z in zipcodes.filter_by_state("VT")
        if float(z["lat"]) != 0 and z["zip_code_type"] != "MILITARY"
    ]
    c = us_state_centroid("VT")
    assert c is not None
    assert c.latitude == pytest.approx(sum(p[0] for p in vermont) / len(vermont), abs=1e-4)
    assert c.longitude == pytest.approx(sum(p[1] for p in vermont) / len(vermont), abs=1e-4)


def test_military_zips_have_no_place() -> None:
    assert lookup_us_zip("09001") is None  # APO AE: 0,0 in the data
    assert lookup_us_zip("96505") is None  # DPO AP: a base, not where the parcel goes
    assert us_state_centroid("AE") is None and us_state_centroid("AP") is None
    r = resolve(Address("US", "09001"))
    assert r.source is GeoSource.COUNTRY and "ZIP 09001 is not in the ZIP data" in r.reason


def test_other_countries_fall_back_to_the_country_centroid() -> None:
    r = resolve(Address("DE", "10115", city="Berlin"))
    assert r.source is GeoSource.COUNTRY
    assert r.reason == "centre of country DE (no postal-code data for country DE)"
    assert r.point is not None and great_circle_km(r.point, GeoPoint(51.1657, 10.4515)) < 1
    assert resolve(Address("gb")).point == country_centroid("GB")
    assert resolve(Address("CA", "M5V 2T6", region="ON")).source is GeoSource.COUNTRY  # no Canadian data


def test_us_address_without_zip_or_state_lands_on_the_us_centroid() -> None:
    r = resolve(Address("US", "not a zip"))
    assert r.source is GeoSource.COUNTRY and r.point == country_centroid("US")
    assert "'not a zip' is not a US ZIP" in r.reason
    r = resolve(Address("US", "99999", region="Narnia"))
    assert r.source is GeoSource.COUNTRY
    assert r.reason.startswith("centre of country US (ZIP 99999 is not in the ZIP data; ")
    assert r.reason.endswith("; region 'Narnia' is not a US state)")


def test_no_fallback_left_gives_none_with_a_reason() -> None:
    r = resolve(Address("XX", "123", region="Somewhere"))
    assert r.point is None and r.source is GeoSource.NONE
    assert r.reason == "no coordinates: no postal-code data for country XX; no centroid for country XX"
    assert locate(Address("")) is None
    assert "no centroid for country (none)" in resolve(Address("")).reason


def test_country_table_is_real_iso_codes_with_plausible_coordinates() -> None:
    assert len(COUNTRY_CENTROIDS) >= 40
    for code, (lat, lon) in COUNTRY_CENTROIDS.items():
        assert re.fullmatch(r"[A-Z]{2}", code) and set(code) <= set(string.ascii_uppercase)
        assert -90 <= lat <= 90 and -180 <= lon <= 180
    us = country_centroid("US")
    assert us is not None and 25 < us.latitude < 49 and -125 < us.longitude < -67  # the lower 48
    au = country_centroid("au")
    assert au is not None and au.latitude < 0 and au.longitude > 110


def test_distance_between_two_zips_matches_the_cities() -> None:
    nyc, la = locate(Address("US", "10012")), locate(Address("US", "90012"))
    assert nyc is not None and la is not None
    assert great_circle_km(nyc, la) == pytest.approx(3940, rel=0.01)


def test_answers_are_cached() -> None:
    address = Address("US", "30301-0001")
    first = resolve(address)
    hits = resolve.cache_info().hits
    assert resolve(Address("US", "30301-0001")) is first
    assert resolve.cache_info().hits == hits + 1
    misses = geo._build_zip_index.cache_info().misses
    lookup_us_zip("73301")
    us_state_centroid("OK")
    assert geo._build_zip_index.cache_info().misses == misses <= 1  # the ZIP data is read once


def test_a_cold_start_builds_the_zip_index_once_for_all_threads() -> None:
    """Sixteen threads asking at once wait for one build instead of each doing it."""
    import threading

    geo._build_zip_index.cache_clear()
    geo._build_state_centroids.cache_clear()
    barrier = threading.Barrier(16)

    def ask() -> None:
        barrier.wait()
        lookup_us_zip("10001")

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert geo._build_zip_index.cache_info().misses == 1
