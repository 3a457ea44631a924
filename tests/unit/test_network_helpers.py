"""The small pure pieces routing at capture relies on: working days, service-level mapping,
addresses as channels send them, and cutting lines no single shelf can fill."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.network import (
    GeoPoint,
    LocationProfile,
    ServiceLevel,
    format_workdays,
    parse_workdays,
    routing_service_level,
)
from openoms.domain.routing import RoutingLine, split_oversized_lines
from openoms.services.network import address_from


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon tue wed thu fri", {0, 1, 2, 3, 4}),
        ("Mon,Sat", {0, 5}),
        ("sunday", {6}),
        ("mon mon", {0}),
    ],
)
def test_workdays_read_as_weekday_numbers(text: str, days: set[int]) -> None:
    assert parse_workdays(text) == frozenset(days)


@pytest.mark.parametrize("text", ["", "   ", "mo", "monx", "weekdays", "1 2 3"])
def test_workdays_that_are_not_weekdays_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"weekday|working day"):
        parse_workdays(text)


@given(st.sets(st.integers(0, 6), min_size=1))
def test_workdays_round_trip(days: set[int]) -> None:
    assert parse_workdays(format_workdays(frozenset(days))) == frozenset(days)


def test_order_service_levels_map_to_carrier_tiers() -> None:
    assert routing_service_level("standard") == ServiceLevel.STANDARD
    assert routing_service_level("expedited") == ServiceLevel.EXPEDITED
    assert routing_service_level("express") == ServiceLevel.PREMIUM
    assert routing_service_level("next_day") == ServiceLevel.PREMIUM
    assert routing_service_level("carrier pigeon") == ServiceLevel.STANDARD


def test_addresses_as_channels_send_them() -> None:
    a = address_from({"country": "us", "postal_code": " 10001 ", "region": "NY", "city": "New York"})
    assert a is not None and (a.country, a.postal_code, a.region, a.point) == ("US", "10001", "NY", None)
    shopify = address_from(
        {"country_code": "US", "zip": "94105", "province_code": "CA", "latitude": 37.79, "longitude": -122.39}
    )
    assert shopify is not None and shopify.postal_code == "94105" and shopify.point == GeoPoint(37.79, -122.39)
    assert address_from({"country": "US", "latitude": 200, "longitude": 0}).point is None  # type: ignore[union-attr]
    assert address_from({"city": "Nowhere"}) is None
    assert address_from(None) is None


def _loc(code: str, ships: bool = True) -> LocationProfile:
    return LocationProfile(code=code, kind="warehouse", point=None, ships=ships)


def test_a_line_that_fits_one_shelf_is_left_whole() -> None:
    lines = (RoutingLine(0, "A", 4, 100), RoutingLine(1, "B", 2, 100))
    out, origin = split_oversized_lines(lines, {("A", "X"): 4, ("B", "Y"): 9}, [_loc("X"), _loc("Y")])
    assert out == lines and origin == (0, 1)


def test_a_line_too_big_for_any_shelf_is_cut_largest_shelf_first() -> None:
    lines = (RoutingLine(0, "A", 10, 100, hazmat=True),)
    stock = {("A", "X"): 4, ("A", "Y"): 7, ("A", "Z"): 9, ("A", "N"): 50}
    out, origin = split_oversized_lines(lines, stock, [_loc("X"), _loc("Y"), _loc("Z"), _loc("N", ships=False)])
    assert [(ln.line_index, ln.quantity) for ln in out] == [(0, 9), (1, 1)]
    assert all(ln.hazmat and ln.sku == "A" for ln in out) and origin == (0, 0)


def test_a_line_the_network_cannot_cover_is_left_for_routing_to_refuse() -> None:
    lines = (RoutingLine(0, "A", 10, 100),)
    out, origin = split_oversized_lines(lines, {("A", "X"): 4, ("A", "Y"): 5}, [_loc("X"), _loc("Y")])
    assert out == lines and origin == (0,)


@given(
    qty=st.integers(1, 60),
    shelves=st.lists(st.integers(0, 20), min_size=1, max_size=6),
)
def test_pieces_always_add_up_to_the_line(qty: int, shelves: list[int]) -> None:
    locs = [_loc(f"L{i}") for i in range(len(shelves))]
    stock = {("A", f"L{i}"): n for i, n in enumerate(shelves)}
    out, origin = split_oversized_lines((RoutingLine(3, "A", qty, 1),), stock, locs)
    assert sum(ln.quantity for ln in out) == qty
    assert all(ln.quantity >= 1 for ln in out) and set(origin) == {3}
    assert [ln.line_index for ln in out] == list(range(len(out)))
    if len(out) > 1:  # only cut when no shelf holds it and the shelves together do
        assert max(shelves) < qty <= sum(shelves)
        assert all(ln.quantity <= max(shelves) for ln in out)
