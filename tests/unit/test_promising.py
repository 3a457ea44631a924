"""Promise dates: business days, cut-offs in the location's timezone, handling, inbound ETAs,
carrier transit over weekends and holidays, split orders.

Dates used below (2025): Thanksgiving Thu 27 Nov, Christmas Thu 25 Dec, New Year Thu 1 Jan
2026; Good Friday 18 Apr and Easter Monday 21 Apr in Germany; US clocks change on Sun 9 Mar
and Sun 2 Nov, German clocks on Sun 30 Mar and Sun 26 Oct. Every instant is written in UTC
with its local reading beside it, so a test fails if the code reads the wrong clock.

The hypothesis tests state each rule independently of the implementation (counting business
days one by one) and check the promised dates against it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openoms.domain.network import LocationCalendar, PromiseWindow, RateQuote, ServiceLevel
from openoms.domain.promising import (
    MON_FRI,
    CalendarError,
    CarrierCalendar,
    OrderPromise,
    PromiseRequest,
    add_business_days,
    carrier_calendar,
    combine_windows,
    delivery_dates,
    is_business_day,
    local_time,
    next_business_day,
    promise_order,
    promise_window,
    public_holidays,
    ship_date,
)

D = dt.date
UTC = dt.UTC

THANKSGIVING = D(2025, 11, 27)
CHRISTMAS = D(2025, 12, 25)
NEW_YEAR = D(2026, 1, 1)
# What a US warehouse closes for (it works on Veterans Day, carriers' calendars do not).
WAREHOUSE_HOLIDAYS = frozenset({D(2025, 7, 4), THANKSGIVING, CHRISTMAS, NEW_YEAR, D(2026, 11, 26), D(2026, 12, 25)})

DFW = LocationCalendar("America/Chicago", dt.time(14, 0), holidays=WAREHOUSE_HOLIDAYS)
LAX = LocationCalendar("America/Los_Angeles", dt.time(16, 0), holidays=WAREHOUSE_HOLIDAYS)
BER = LocationCalendar("Europe/Berlin", dt.time(14, 0), holidays=public_holidays("DE", 2024, 2027, subdivision="BE"))
US = carrier_calendar("US", first_year=2024, last_year=2027)
DE = carrier_calendar("DE", "BE", first_year=2024, last_year=2027)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, us, tzinfo=UTC)


def quote(
    lo: int = 2, hi: int = 4, location: str = "WH-DFW", carrier: str = "UPS", service: str = "UPS-GROUND"
) -> RateQuote:
    return RateQuote(location, carrier, service, ServiceLevel.STANDARD, Decimal("9.10"), "USD", lo, hi)


def calendar(base: LocationCalendar, **changes: object) -> LocationCalendar:
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --- business-day arithmetic -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 11, 21), True),  # Friday
        (D(2025, 11, 22), False),  # Saturday
        (D(2025, 11, 23), False),  # Sunday
        (THANKSGIVING, False),
        (D(2025, 11, 28), True),  # Black Friday works
    ],
)
def test_is_business_day(day: dt.date, expected: bool) -> None:
    assert is_business_day(day, DFW) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 11, 18), D(2025, 11, 18)),  # a business day is its own next business day
        (D(2025, 11, 22), D(2025, 11, 24)),  # Saturday -> Monday
        (D(2025, 11, 23), D(2025, 11, 24)),  # Sunday -> Monday
        (THANKSGIVING, D(2025, 11, 28)),
        (CHRISTMAS, D(2025, 12, 26)),
        (NEW_YEAR, D(2026, 1, 2)),
        (D(2026, 1, 3), D(2026, 1, 5)),
    ],
)
def test_next_business_day(day: dt.date, expected: dt.date) -> None:
    assert next_business_day(day, DFW) == expected


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (D(2025, 11, 18), 0, D(2025, 11, 18)),
        (D(2025, 11, 22), 0, D(2025, 11, 22)),  # 0 leaves even a Saturday alone
        (D(2025, 11, 21), 1, D(2025, 11, 24)),  # Friday + 1 = Monday
        (D(2025, 11, 22), 1, D(2025, 11, 24)),  # Saturday + 1 = Monday
        (D(2025, 11, 18), 5, D(2025, 11, 25)),  # a full week
        (D(2025, 11, 26), 1, D(2025, 11, 28)),  # over Thanksgiving
        (D(2025, 12, 24), 1, D(2025, 12, 26)),  # over Christmas
        (D(2025, 12, 31), 1, D(2026, 1, 2)),  # over New Year
        (D(2025, 12, 24), 3, D(2025, 12, 30)),  # Christmas and a weekend
    ],
)
def test_add_business_days(day: dt.date, count: int, expected: dt.date) -> None:
    assert add_business_days(day, count, DFW) == expected


def test_add_business_days_with_a_six_day_week() -> None:
    store = calendar(DFW, workdays=frozenset({0, 1, 2, 3, 4, 5}))
    assert add_business_days(D(2025, 11, 21), 1, store) == D(2025, 11, 22)  # Friday + 1 = Saturday
    assert add_business_days(D(2025, 11, 22), 1, store) == D(2025, 11, 24)  # Saturday + 1 = Monday


def test_negative_business_days_are_refused() -> None:
    with pytest.raises(CalendarError) as info:
        add_business_days(D(2025, 11, 18), -1, DFW)
    assert info.value.errors[0].field == "count"


def test_a_calendar_without_working_days_is_refused_not_looped_on() -> None:
    closed = calendar(DFW, workdays=frozenset())
    with pytest.raises(CalendarError) as info:
        next_business_day(D(2025, 11, 18), closed)
    assert info.value.errors[0].field == "workdays"
    with pytest.raises(CalendarError):
        ship_date(utc(2025, 11, 18, 15), calendar(DFW, workdays=frozenset({7})))  # no weekday 7


# --- public holidays -------------------------------------------------------------------------


def test_us_public_holidays() -> None:
    days = public_holidays("US", 2025, 2026)
    assert {D(2025, 1, 1), D(2025, 7, 4), THANKSGIVING, CHRISTMAS, NEW_YEAR} <= days
    assert D(2026, 7, 3) in days  # Independence Day on a Saturday is observed on the Friday
    assert D(2025, 11, 28) not in days  # the day after Thanksgiving is not a public holiday
    assert all(2025 <= d.year <= 2026 for d in days)
    assert public_holidays("US", 2025) == frozenset(d for d in days if d.year == 2025)


def test_german_holidays_national_and_by_state() -> None:
    national = public_holidays("DE", 2025)
    assert {D(2025, 4, 18), D(2025, 4, 21), D(2025, 10, 3), D(2025, 12, 25), D(2025, 12, 26)} <= national
    bavaria = public_holidays("DE", 2025, subdivision="BY")
    assert D(2025, 1, 6) in bavaria  # Epiphany: Bavaria only
    assert D(2025, 1, 6) not in national
    assert public_holidays("de", 2025, subdivision="by") == bavaria  # codes in any case


def test_public_holidays_are_cached() -> None:
    assert public_holidays("US", 2025, 2026) is public_holidays("US", 2025, 2026)
    assert carrier_calendar("US", first_year=2025, last_year=2026) is carrier_calendar(
        "US", first_year=2025, last_year=2026
    )


@pytest.mark.parametrize(
    ("country", "subdivision", "field"),
    [("XX", None, "country"), ("DE", "ZZ", "subdivision")],
)
def test_unknown_holiday_regions_are_refused(country: str, subdivision: str | None, field: str) -> None:
    with pytest.raises(CalendarError) as info:
        public_holidays(country, 2025, subdivision=subdivision)
    assert info.value.errors[0].field == field


def test_a_backwards_year_range_is_refused() -> None:
    with pytest.raises(CalendarError) as info:
        public_holidays("US", 2026, 2025)
    assert info.value.errors[0].field == "years"


def test_carrier_calendar_uses_the_destination_holidays() -> None:
    california = carrier_calendar("US", "CA", first_year=2025, last_year=2025)
    assert california.region == "US-CA"
    assert california.workdays == MON_FRI
    assert D(2025, 3, 31) in california.holidays  # César Chávez Day: California only
    assert D(2025, 3, 31) not in carrier_calendar("US", first_year=2025, last_year=2025).holidays
    assert carrier_calendar("us", "ca", first_year=2025, last_year=2025).holidays == california.holidays


def test_carrier_calendar_falls_back_instead_of_failing_on_an_address() -> None:
    spelt_out = carrier_calendar("US", "California", first_year=2025, last_year=2025)
    assert spelt_out.region == "US-California"  # the package knows names as well as codes
    assert D(2025, 3, 31) in spelt_out.holidays
    misspelt = carrier_calendar("US", "Califrnia", first_year=2025, last_year=2025)
    assert misspelt.region == "US"  # unknown subdivision: the national holidays
    assert THANKSGIVING in misspelt.holidays
    assert D(2025, 3, 31) not in misspelt.holidays
    unknown = carrier_calendar("XX", first_year=2025, last_year=2025)
    assert unknown.holidays == frozenset()
    assert unknown.years is None
    assert unknown.note == "no public-holiday data for XX"


# --- ship date: cut-off, weekends, holidays, handling ---------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2025, 11, 18, 15, 0), D(2025, 11, 18)),  # Tue 09:00 CST, well before 14:00
        (utc(2025, 11, 18, 19, 59, 59, 999999), D(2025, 11, 18)),  # 13:59:59.999999: before
        (utc(2025, 11, 18, 20, 0), D(2025, 11, 19)),  # 14:00:00 exactly: at the cut-off, next day
        (utc(2025, 11, 18, 23, 0), D(2025, 11, 19)),  # 17:00: after
        (utc(2025, 11, 19, 3, 0), D(2025, 11, 19)),  # Tue 21:00 CST, already Wednesday in UTC: Wednesday
    ],
)
def test_cutoff_before_at_and_after(now: dt.datetime, expected: dt.date) -> None:
    assert ship_date(now, DFW) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2025, 11, 21, 16, 0), D(2025, 11, 21)),  # Friday 10:00, before the cut-off
        (utc(2025, 11, 21, 21, 0), D(2025, 11, 24)),  # Friday 15:00, after: Monday
        (utc(2025, 11, 22, 16, 0), D(2025, 11, 24)),  # Saturday morning: Monday
        (utc(2025, 11, 23, 16, 0), D(2025, 11, 24)),  # Sunday morning: Monday
    ],
)
def test_weekends(now: dt.datetime, expected: dt.date) -> None:
    assert ship_date(now, DFW) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2025, 11, 26, 21, 0), D(2025, 11, 28)),  # Wed 15:00 before Thanksgiving: Friday
        (utc(2025, 11, 27, 15, 0), D(2025, 11, 28)),  # on Thanksgiving morning: Friday
        (utc(2025, 12, 24, 21, 0), D(2025, 12, 26)),  # Christmas Eve after the cut-off
        (utc(2025, 12, 25, 15, 0), D(2025, 12, 26)),  # Christmas Day
        (utc(2025, 12, 31, 21, 0), D(2026, 1, 2)),  # New Year's Eve after the cut-off
        (utc(2026, 1, 1, 15, 0), D(2026, 1, 2)),  # New Year's Day
    ],
)
def test_us_holidays_at_the_location(now: dt.datetime, expected: dt.date) -> None:
    assert ship_date(now, DFW) == expected


@pytest.mark.parametrize(
    ("handling", "now", "expected"),
    [
        (0, utc(2025, 11, 18, 15), D(2025, 11, 18)),
        (1, utc(2025, 11, 18, 15), D(2025, 11, 19)),
        (2, utc(2025, 11, 21, 15), D(2025, 11, 25)),  # Friday + 2 over the weekend: Tuesday
        (1, utc(2025, 11, 26, 15), D(2025, 11, 28)),  # Wed + 1 over Thanksgiving: Friday
        (2, utc(2025, 11, 26, 21), D(2025, 12, 2)),  # Wed after the cut-off: starts Fri, + 2 = Tue
        (3, utc(2025, 12, 23, 15), D(2025, 12, 29)),  # Tue + 3 over Christmas and a weekend
    ],
)
def test_handling_days(handling: int, now: dt.datetime, expected: dt.date) -> None:
    assert ship_date(now, calendar(DFW, handling_days=handling)) == expected


def test_no_cutoff_means_any_time_on_a_business_day() -> None:
    open_late = calendar(DFW, cutoff=None)
    assert ship_date(utc(2025, 11, 19, 5, 59), open_late) == D(2025, 11, 18)  # Tue 23:59 local
    assert ship_date(utc(2025, 11, 19, 6, 0), open_late) == D(2025, 11, 19)  # Wed 00:00 local


def test_negative_handling_days_are_refused() -> None:
    with pytest.raises(CalendarError):
        ship_date(utc(2025, 11, 18, 15), calendar(DFW, handling_days=-1))


# --- ship date: timezones and daylight saving ------------------------------------------------


def test_late_utc_evening_is_still_the_afternoon_in_los_angeles() -> None:
    # Fri 21 Nov 23:30 UTC is Fri 15:30 PST: before LAX's 16:00 cut-off.
    assert ship_date(utc(2025, 11, 21, 23, 30), LAX) == D(2025, 11, 21)
    # Sat 22 Nov 00:30 UTC is still Friday in Los Angeles (16:30): after the cut-off.
    assert ship_date(utc(2025, 11, 22, 0, 30), LAX) == D(2025, 11, 24)
    open_late = calendar(LAX, cutoff=None)
    assert ship_date(utc(2025, 11, 22, 0, 30), open_late) == D(2025, 11, 21)  # Saturday in UTC only


def test_early_utc_morning_is_already_tomorrow_in_berlin() -> None:
    # Fri 21 Nov 23:30 UTC is Sat 00:30 in Berlin: a store without cut-off ships Monday.
    open_late = calendar(BER, cutoff=None)
    assert ship_date(utc(2025, 11, 21, 23, 30), open_late) == D(2025, 11, 24)
    # Sun 23 Nov 23:30 UTC is Monday 00:30 in Berlin: before Monday's cut-off.
    assert ship_date(utc(2025, 11, 23, 23, 30), BER) == D(2025, 11, 24)
    # 13:30 UTC is 14:30 in Berlin: past a 14:00 cut-off although UTC says 13:30.
    assert ship_date(utc(2025, 11, 24, 13, 30), BER) == D(2025, 11, 25)
    assert ship_date(utc(2025, 11, 24, 12, 59), BER) == D(2025, 11, 24)
    assert local_time(utc(2025, 12, 31, 23, 30), "Europe/Berlin").date() == NEW_YEAR


def test_german_holidays_at_a_berlin_location() -> None:
    assert ship_date(utc(2025, 4, 17, 13, 0), BER) == D(2025, 4, 22)  # Thu 15:00: Good Friday, Easter Monday
    assert ship_date(utc(2025, 10, 2, 11, 0), BER) == D(2025, 10, 2)  # Thu 13:00 CEST: before
    assert ship_date(utc(2025, 10, 2, 12, 0), BER) == D(2025, 10, 6)  # 14:00 CEST; Fri 3 Oct Unity Day
    assert ship_date(utc(2025, 12, 23, 13, 30), BER) == D(2025, 12, 24)  # 14:30 CET: the 24th works
    assert ship_date(utc(2025, 12, 24, 13, 30), BER) == D(2025, 12, 29)  # 25th, 26th, weekend closed


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Los Angeles, cut-off 16:00; PST is UTC-8, PDT UTC-7.
        (utc(2025, 3, 7, 23, 30), D(2025, 3, 7)),  # Fri 15:30 PST: before
        (utc(2025, 3, 10, 23, 30), D(2025, 3, 11)),  # Mon 16:30 PDT: after (15:30 in PST)
        (utc(2025, 3, 10, 22, 30), D(2025, 3, 10)),  # Mon 15:30 PDT: before
        (utc(2025, 10, 31, 23, 30), D(2025, 11, 3)),  # Fri 16:30 PDT: after, Monday
        (utc(2025, 11, 3, 23, 30), D(2025, 11, 3)),  # Mon 15:30 PST: before (16:30 in PDT)
    ],
)
def test_cutoff_follows_daylight_saving_in_los_angeles(now: dt.datetime, expected: dt.date) -> None:
    assert ship_date(now, LAX) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Berlin, cut-off 14:00; CET is UTC+1, CEST UTC+2; clocks go forward Sun 30 Mar.
        (utc(2025, 3, 28, 12, 30), D(2025, 3, 28)),  # Fri 13:30 CET: before
        (utc(2025, 3, 31, 12, 30), D(2025, 4, 1)),  # Mon 14:30 CEST: after
        (utc(2025, 3, 31, 11, 59), D(2025, 3, 31)),  # Mon 13:59 CEST: before
        (utc(2025, 10, 27, 12, 30), D(2025, 10, 27)),  # Mon 13:30 CET, after clocks went back
    ],
)
def test_cutoff_follows_daylight_saving_in_berlin(now: dt.datetime, expected: dt.date) -> None:
    assert ship_date(now, BER) == expected


def test_cutoff_on_the_day_clocks_change() -> None:
    seven_days = calendar(LAX, workdays=frozenset(range(7)))
    # Sun 9 Mar 2025, clocks went forward at 02:00: 23:30 UTC is 16:30 PDT, past 16:00.
    assert ship_date(utc(2025, 3, 9, 23, 30), seven_days) == D(2025, 3, 10)
    assert ship_date(utc(2025, 3, 9, 22, 30), seven_days) == D(2025, 3, 9)
    # Sun 2 Nov 2025, clocks went back at 02:00: 23:30 UTC is 15:30 PST, before 16:00.
    assert ship_date(utc(2025, 11, 2, 23, 30), seven_days) == D(2025, 11, 2)
    assert ship_date(utc(2025, 11, 3, 0, 0), seven_days) == D(2025, 11, 3)  # 16:00 PST exactly


def test_cutoff_in_the_repeated_hour_counts_its_first_pass() -> None:
    night = calendar(LAX, cutoff=dt.time(1, 30), workdays=frozenset(range(7)))
    assert ship_date(utc(2025, 11, 2, 8, 20), night) == D(2025, 11, 2)  # 01:20 PDT: before
    assert ship_date(utc(2025, 11, 2, 8, 40), night) == D(2025, 11, 3)  # 01:40 PDT: after
    # 01:10 PST, the second pass through the hour: still after, a later order never ships earlier.
    assert ship_date(utc(2025, 11, 2, 9, 10), night) == D(2025, 11, 3)


def test_cutoff_in_the_skipped_hour_is_read_in_winter_time() -> None:
    night = calendar(LAX, cutoff=dt.time(2, 30), workdays=frozenset(range(7)))
    # 02:30 does not exist on 9 Mar 2025; read as 02:30 PST it is 03:30 PDT (10:30 UTC).
    assert ship_date(utc(2025, 3, 9, 10, 15), night) == D(2025, 3, 9)
    assert ship_date(utc(2025, 3, 9, 10, 30), night) == D(2025, 3, 10)


def test_clocks_must_be_timezone_aware() -> None:
    with pytest.raises(CalendarError) as info:
        ship_date(dt.datetime(2025, 11, 18, 15), DFW)
    assert info.value.errors[0].field == "now"
    with pytest.raises(CalendarError) as info:
        ship_date(utc(2025, 11, 18, 15), DFW, ready_at=dt.datetime(2025, 12, 1))
    assert info.value.errors[0].field == "ready_at"


def test_an_unknown_timezone_is_refused() -> None:
    with pytest.raises(CalendarError) as info:
        ship_date(utc(2025, 11, 18, 15), calendar(DFW, timezone="America/Chicgo"))
    assert info.value.errors[0].field == "timezone"


def test_a_cutoff_with_a_timezone_is_refused() -> None:
    with pytest.raises(CalendarError) as info:
        ship_date(utc(2025, 11, 18, 15), calendar(DFW, cutoff=dt.time(14, tzinfo=UTC)))
    assert info.value.errors[0].field == "cutoff"


# --- ship date: stock not on hand yet -------------------------------------------------------


@pytest.mark.parametrize(
    ("ready_at", "expected"),
    [
        (utc(2025, 12, 3, 15, 0), D(2025, 12, 3)),  # arrives Wed 09:00 CST: ships that day
        (utc(2025, 12, 3, 21, 0), D(2025, 12, 4)),  # arrives Wed 15:00: after the cut-off
        (utc(2025, 12, 6, 15, 0), D(2025, 12, 8)),  # arrives on a Saturday: Monday
        (utc(2025, 12, 24, 21, 0), D(2025, 12, 26)),  # Christmas Eve afternoon: Friday 26th
        (utc(2025, 11, 1, 15, 0), D(2025, 11, 18)),  # already arrived: as if on hand
        (utc(2025, 11, 18, 15, 0), D(2025, 11, 18)),  # arrives exactly now
    ],
)
def test_ready_at_in_the_future(ready_at: dt.datetime, expected: dt.date) -> None:
    assert ship_date(utc(2025, 11, 18, 15, 0), DFW, ready_at=ready_at) == expected


def test_ready_at_uses_its_own_local_time_whatever_its_offset() -> None:
    chicago = dt.timezone(dt.timedelta(hours=-6))
    assert ship_date(utc(2025, 11, 18), DFW, ready_at=dt.datetime(2025, 12, 3, 13, 59, tzinfo=chicago)) == D(
        2025, 12, 3
    )
    assert ship_date(utc(2025, 11, 18), DFW, ready_at=dt.datetime(2025, 12, 3, 14, 0, tzinfo=chicago)) == D(2025, 12, 4)


# --- delivery window -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shipped", "lo", "hi", "earliest", "latest"),
    [
        (D(2025, 11, 17), 2, 4, D(2025, 11, 19), D(2025, 11, 21)),  # Mon: Wed to Fri
        (D(2025, 11, 20), 1, 3, D(2025, 11, 21), D(2025, 11, 25)),  # Thu: Fri to Tue over the weekend
        (D(2025, 11, 26), 1, 2, D(2025, 11, 28), D(2025, 12, 1)),  # over Thanksgiving
        (D(2025, 12, 23), 2, 5, D(2025, 12, 26), D(2025, 12, 31)),  # over Christmas
        (D(2025, 12, 23), 3, 6, D(2025, 12, 29), D(2026, 1, 2)),  # and New Year
        (D(2025, 11, 10), 1, 1, D(2025, 11, 12), D(2025, 11, 12)),  # Veterans Day: carriers' calendar skips
        (D(2025, 11, 18), 0, 0, D(2025, 11, 18), D(2025, 11, 18)),  # same-day delivery
        (D(2025, 11, 22), 1, 1, D(2025, 11, 25), D(2025, 11, 25)),  # left Saturday: moves Monday, Tue
        (D(2025, 11, 22), 0, 1, D(2025, 11, 24), D(2025, 11, 25)),
    ],
)
def test_us_transit(shipped: dt.date, lo: int, hi: int, earliest: dt.date, latest: dt.date) -> None:
    assert delivery_dates(shipped, quote(lo, hi), US) == (earliest, latest)


def test_transit_in_germany_skips_easter() -> None:
    assert delivery_dates(D(2025, 4, 17), quote(1, 2), DE) == (D(2025, 4, 22), D(2025, 4, 23))
    assert delivery_dates(D(2025, 4, 17), quote(1, 2), US) == (D(2025, 4, 18), D(2025, 4, 21))


def test_transit_with_a_six_day_carrier() -> None:
    saturday_delivery = CarrierCalendar(workdays=frozenset(range(6)), holidays=US.holidays)
    assert delivery_dates(D(2025, 11, 20), quote(1, 2), saturday_delivery) == (D(2025, 11, 21), D(2025, 11, 22))


def test_transit_beyond_the_loaded_holiday_years_is_refused() -> None:
    short = carrier_calendar("US", first_year=2025, last_year=2025)
    assert delivery_dates(D(2025, 12, 23), quote(1, 2), short) == (D(2025, 12, 24), D(2025, 12, 26))
    with pytest.raises(CalendarError) as info:
        delivery_dates(D(2025, 12, 30), quote(1, 3), short)
    assert info.value.errors[0].field == "carrier_calendar"


@pytest.mark.parametrize(("lo", "hi"), [(3, 2), (-1, 2)])
def test_impossible_transit_times_are_refused(lo: int, hi: int) -> None:
    with pytest.raises(CalendarError) as info:
        delivery_dates(D(2025, 11, 18), quote(lo, hi), US)
    assert info.value.errors[0].field == "transit_days"


# --- the promise and its basis --------------------------------------------------------------


def test_worked_example_from_the_docs() -> None:
    """docs/promising.md walks through exactly this order."""
    dallas = calendar(DFW, handling_days=1)
    window = promise_window(utc(2025, 11, 26, 21, 12), dallas, quote(2, 4), US)
    assert window == PromiseWindow(
        ship_date=D(2025, 12, 1),
        earliest=D(2025, 12, 3),
        latest=D(2025, 12, 5),
        basis="WH-DFW (America/Chicago): ordered Wed 2025-11-26 at 15:12 local, at or after the 14:00 cut-off, "
        "so work starts Fri 2025-11-28; 1 handling day, skipping location holiday Thu 2025-11-27, "
        "ships Mon 2025-12-01; UPS-GROUND 2-4 business days in transit, delivery Wed 2025-12-03 to Fri 2025-12-05.",
    )


def test_inbound_example_from_the_docs() -> None:
    window = promise_window(
        utc(2025, 11, 26, 21, 12), calendar(DFW, handling_days=1), quote(1, 3), US, ready_at=utc(2025, 12, 23, 15, 5)
    )
    assert (window.ship_date, window.earliest, window.latest) == (D(2025, 12, 24), D(2025, 12, 26), D(2025, 12, 30))


def test_basis_for_inbound_stock_and_carrier_holidays() -> None:
    window = promise_window(
        utc(2025, 11, 18, 15),
        DFW,
        quote(1, 3, carrier="FedEx", service="GROUND"),
        US,
        ready_at=utc(2025, 12, 23, 15, 5),
    )
    assert (window.ship_date, window.earliest, window.latest) == (D(2025, 12, 23), D(2025, 12, 24), D(2025, 12, 29))
    assert window.basis == (
        "WH-DFW (America/Chicago): stock due Tue 2025-12-23 at 09:05 local, before the 14:00 cut-off, "
        "so work starts Tue 2025-12-23; 0 handling days, ships Tue 2025-12-23; FedEx GROUND 1-3 business days "
        "in transit, skipping US public holiday Thu 2025-12-25 (Christmas Day), "
        "delivery Wed 2025-12-24 to Mon 2025-12-29."
    )


@pytest.mark.parametrize(
    ("now", "location", "phrase"),
    [
        (utc(2025, 11, 18, 15), DFW, "at 09:00 local, before the 14:00 cut-off, so work starts Tue 2025-11-18"),
        (utc(2025, 11, 18, 20), DFW, "at 14:00 local, at or after the 14:00 cut-off, so work starts Wed 2025-11-19"),
        (utc(2025, 11, 22, 15), DFW, "ordered Sat 2025-11-22 at 09:00 local, not a working day, so work starts Mon"),
        (utc(2025, 11, 27, 15), DFW, "ordered Thu 2025-11-27 at 09:00 local, a location holiday, so work starts Fri"),
        (utc(2025, 11, 18, 23), calendar(DFW, cutoff=None), "at 17:00 local, no cut-off, so work starts Tue"),
        (utc(2025, 12, 31, 23, 30), BER, "ordered Thu 2026-01-01 at 00:30 local, a location holiday"),
        (utc(2025, 11, 22, 0, 30), LAX, "ordered Fri 2025-11-21 at 16:30 local, at or after the 16:00 cut-off"),
    ],
)
def test_basis_states_the_local_time_and_the_cutoff_rule(
    now: dt.datetime, location: LocationCalendar, phrase: str
) -> None:
    assert phrase in promise_window(now, location, quote(), US).basis


def test_basis_names_the_holidays_skipped() -> None:
    before_christmas = promise_window(utc(2025, 12, 23, 15), DFW, quote(3, 6), US)
    assert (before_christmas.earliest, before_christmas.latest) == (D(2025, 12, 29), D(2026, 1, 2))
    assert "skipping US public holidays Thu 2025-12-25 (Christmas Day), Thu 2026-01-01 (New Year's Day)," in (
        before_christmas.basis
    )
    assert "location holiday" not in before_christmas.basis


def test_basis_is_one_sentence_and_deterministic() -> None:
    args = (utc(2025, 12, 23, 21, 1), calendar(DFW, handling_days=1), quote(3, 6), US)
    first = promise_window(*args)
    assert first == promise_window(*args)
    assert first.basis.endswith(".") and first.basis.count(".") == 1
    assert "so work starts Wed 2025-12-24; 1 handling day, skipping location holiday Thu 2025-12-25, " in first.basis
    assert "ships Fri 2025-12-26;" in first.basis
    assert "skipping US public holiday Thu 2026-01-01 (New Year's Day), delivery Wed 2025-12-31 to " in first.basis
    # A minute later on the same day: same dates, the basis shows the new clock time.
    later = promise_window(utc(2025, 12, 23, 21, 2), *args[1:])
    assert (later.ship_date, later.earliest, later.latest) == (first.ship_date, first.earliest, first.latest)
    assert "at 15:02 local" in later.basis and "at 15:01 local" in first.basis


def test_basis_says_when_a_country_has_no_holiday_data() -> None:
    window = promise_window(
        utc(2025, 11, 18, 15), DFW, quote(), carrier_calendar("XX", first_year=2025, last_year=2025)
    )
    assert "(no public-holiday data for XX)" in window.basis


# --- split orders ----------------------------------------------------------------------------


NYC = LocationCalendar("America/New_York", dt.time(16, 0), holidays=WAREHOUSE_HOLIDAYS)


def split_order(ship_complete: bool) -> OrderPromise:
    return promise_order(
        utc(2025, 11, 26, 21, 12),  # Wed 15:12 in Dallas, after the cut-off; Thanksgiving next
        [
            PromiseRequest(calendar(DFW, handling_days=1), quote(2, 4), US),  # ships Mon 1 Dec
            PromiseRequest(
                NYC,
                quote(1, 1, location="ST-NYC", carrier="FedEx", service="GROUND"),
                US,
                ready_at=utc(2025, 12, 3, 15),  # inbound: ships Wed 3 Dec
            ),
        ],
        ship_complete=ship_complete,
    )


def test_ship_as_available_promises_when_the_last_parcel_arrives() -> None:
    order = split_order(ship_complete=False)
    dallas, nyc = order.shipments
    assert (dallas.ship_date, dallas.earliest, dallas.latest) == (D(2025, 12, 1), D(2025, 12, 3), D(2025, 12, 5))
    assert (nyc.ship_date, nyc.earliest, nyc.latest) == (D(2025, 12, 3), D(2025, 12, 4), D(2025, 12, 4))
    assert (order.window.ship_date, order.window.earliest, order.window.latest) == (
        D(2025, 12, 3),
        D(2025, 12, 4),  # not 3 Dec: on the 3rd only the Dallas parcel can have arrived
        D(2025, 12, 5),
    )
    assert order.first_arrival == D(2025, 12, 3)
    assert order.window.basis == (
        "2 shipments each leaving when ready (ship as available): the last leaves Wed 2025-12-03 and the order "
        "is complete Thu 2025-12-04 to Fri 2025-12-05, the first parcel from Wed 2025-12-03."
    )


def test_ship_complete_holds_every_parcel_until_the_last_is_ready() -> None:
    order = split_order(ship_complete=True)
    dallas, nyc = order.shipments
    assert (dallas.ship_date, dallas.earliest, dallas.latest) == (D(2025, 12, 3), D(2025, 12, 5), D(2025, 12, 9))
    assert "ready Mon 2025-12-01 but held to ship complete until Wed 2025-12-03" in dallas.basis
    assert nyc == split_order(ship_complete=False).shipments[1]
    assert (order.window.ship_date, order.window.earliest, order.window.latest) == (
        D(2025, 12, 3),
        D(2025, 12, 5),
        D(2025, 12, 9),
    )
    assert order.ship_complete is True
    assert "held to leave together (ship complete)" in order.window.basis


def test_ship_complete_hold_lands_on_each_locations_business_day() -> None:
    # Berlin is ready Tue 30 Sep; the Dallas parcel is ready Fri 3 Oct, German Unity Day.
    order = promise_order(
        utc(2025, 9, 30, 8),
        [
            PromiseRequest(BER, quote(1, 2, location="WH-BER"), DE),
            PromiseRequest(DFW, quote(1, 2), DE, ready_at=utc(2025, 10, 3, 14)),
        ],
        ship_complete=True,
    )
    berlin, dallas = order.shipments
    assert dallas.ship_date == D(2025, 10, 3)
    assert berlin.ship_date == D(2025, 10, 6)  # held to the 3rd, closed that day: Monday
    assert order.window.ship_date == D(2025, 10, 6)


def test_a_single_shipment_is_its_own_order_promise() -> None:
    request = PromiseRequest(DFW, quote(), US)
    now = utc(2025, 11, 18, 15)
    for ship_complete in (False, True):
        order = promise_order(now, [request], ship_complete=ship_complete)
        assert order.window == promise_window(now, DFW, quote(), US)
        assert order.shipments == (order.window,)


def test_an_order_without_shipments_is_refused() -> None:
    with pytest.raises(CalendarError):
        promise_order(utc(2025, 11, 18), [], ship_complete=False)
    with pytest.raises(CalendarError):
        combine_windows([])


def test_combine_windows_takes_the_latest_of_each_date() -> None:
    a = PromiseWindow(D(2025, 12, 1), D(2025, 12, 2), D(2025, 12, 9), "a")
    b = PromiseWindow(D(2025, 12, 3), D(2025, 12, 4), D(2025, 12, 5), "b")
    combined = combine_windows([a, b])
    assert (combined.ship_date, combined.earliest, combined.latest) == (D(2025, 12, 3), D(2025, 12, 4), D(2025, 12, 9))
    assert combine_windows([b, a]) == combined


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
]
HOLIDAY_SETS = [frozenset(), WAREHOUSE_HOLIDAYS, BER.holidays, US.holidays]
START = utc(2024, 1, 2)  # the carrier calendars start in 2024, everywhere
SPAN_SECONDS = int((utc(2026, 6, 30) - START).total_seconds())

instants = st.integers(0, SPAN_SECONDS).map(lambda s: START + dt.timedelta(seconds=s))
cutoffs = st.none() | st.builds(dt.time, st.integers(0, 23), st.sampled_from([0, 15, 30, 59]))
workdays = st.sets(st.integers(0, 6), min_size=1).map(frozenset)
locations = st.builds(
    LocationCalendar,
    timezone=st.sampled_from(ZONES),
    cutoff=cutoffs,
    workdays=workdays,
    holidays=st.sampled_from(HOLIDAY_SETS),
    handling_days=st.integers(0, 5),
)
carriers = st.sampled_from([US, DE, CarrierCalendar(workdays=frozenset(range(6)))])
quotes = st.tuples(st.integers(0, 6), st.integers(0, 5)).map(lambda t: quote(t[0], t[0] + t[1]))
ready_offsets = st.none() | st.integers(-30 * 86400, 90 * 86400).map(lambda s: dt.timedelta(seconds=s))


def business_days_in(first: dt.date, last: dt.date, workdays: frozenset[int], closed: frozenset[dt.date]) -> int:
    """Business days from ``first`` to ``last`` inclusive, counted one by one."""
    count, day = 0, first
    while day <= last:
        count += day.weekday() in workdays and day not in closed
        day += dt.timedelta(days=1)
    return count


@settings(deadline=None, max_examples=300)
@given(now=instants, location=locations, ready=ready_offsets)
def test_property_ship_date_obeys_the_rule(
    now: dt.datetime, location: LocationCalendar, ready: dt.timedelta | None
) -> None:
    ready_at = None if ready is None else now + ready
    shipped = ship_date(now, location, ready_at=ready_at)
    start_instant = now if ready_at is None or ready_at <= now else ready_at
    local = local_time(start_instant, location.timezone)
    midnight = dt.datetime.combine(local.date(), dt.time(), tzinfo=local.tzinfo)
    # Days whose clocks change are tested by name above: on them a wall-clock comparison is not
    # the rule (the repeated hour counts once), so this statement would not be independent.
    assume(midnight.utcoffset() == (midnight + dt.timedelta(days=1)).utcoffset())
    wd, closed = location.workdays, location.holidays
    assert shipped.weekday() in wd and shipped not in closed  # a business day
    assert shipped >= local_time(now, location.timezone).date()  # never before today, locally
    assert shipped >= local.date()  # never before the stock is there
    # Independent statement: work starts today if it is a business day before the cut-off,
    # else on the next business day; the parcel leaves handling_days business days later.
    today_counts = (
        local.weekday() in wd
        and local.date() not in closed
        and (location.cutoff is None or local.time() < location.cutoff)
    )
    first = local.date() if today_counts else local.date() + dt.timedelta(days=1)
    assert business_days_in(first, shipped, wd, closed) == location.handling_days + 1


@settings(deadline=None, max_examples=300)
@given(now=instants, location=locations, carrier=carriers, q=quotes, ready=ready_offsets)
def test_property_window_is_ordered_and_counts_transit_days(
    now: dt.datetime,
    location: LocationCalendar,
    carrier: CarrierCalendar,
    q: RateQuote,
    ready: dt.timedelta | None,
) -> None:
    window = promise_window(now, location, q, carrier, ready_at=None if ready is None else now + ready)
    assert window.ship_date <= window.earliest <= window.latest
    assert window.ship_date == ship_date(now, location, ready_at=None if ready is None else now + ready)
    for arrival in (window.earliest, window.latest):
        assert is_business_day(arrival, carrier)
    moving = next_business_day(window.ship_date, carrier)
    wd, closed = carrier.workdays, carrier.holidays
    assert business_days_in(moving, window.earliest, wd, closed) == q.transit_days_min + 1
    assert business_days_in(moving, window.latest, wd, closed) == q.transit_days_max + 1
    assert window.basis.startswith(f"{q.location_code} ({location.timezone}): ")


@settings(deadline=None, max_examples=300)
@given(
    first=instants,
    gap=st.integers(0, 20 * 86400),
    location=locations,
    carrier=carriers,
    q=quotes,
    ready=ready_offsets,
)
def test_property_a_later_order_never_gets_an_earlier_promise(
    first: dt.datetime,
    gap: int,
    location: LocationCalendar,
    carrier: CarrierCalendar,
    q: RateQuote,
    ready: dt.timedelta | None,
) -> None:
    ready_at = None if ready is None else first + ready
    later = first + dt.timedelta(seconds=gap)
    a = promise_window(first, location, q, carrier, ready_at=ready_at)
    b = promise_window(later, location, q, carrier, ready_at=ready_at)
    assert a.ship_date <= b.ship_date
    assert a.earliest <= b.earliest
    assert a.latest <= b.latest


@settings(deadline=None, max_examples=200)
@given(
    day=st.dates(D(2024, 1, 1), D(2026, 12, 31)),
    a=st.integers(0, 30),
    b=st.integers(0, 30),
    location=locations,
)
def test_property_business_days_add_up(day: dt.date, a: int, b: int, location: LocationCalendar) -> None:
    start = next_business_day(day, location)
    assert add_business_days(add_business_days(start, a, location), b, location) == add_business_days(
        start, a + b, location
    )
    assert business_days_in(start, add_business_days(start, a, location), location.workdays, location.holidays) == (
        a + 1
    )


@settings(deadline=None, max_examples=200)
@given(
    now=instants,
    parcels=st.lists(st.tuples(locations, carriers, quotes, ready_offsets), min_size=1, max_size=4),
)
def test_property_split_order_windows(
    now: dt.datetime, parcels: list[tuple[LocationCalendar, CarrierCalendar, RateQuote, dt.timedelta | None]]
) -> None:
    requests = [
        PromiseRequest(loc, q, carrier, None if ready is None else now + ready) for loc, carrier, q, ready in parcels
    ]
    as_available = promise_order(now, requests, ship_complete=False)
    complete = promise_order(now, requests, ship_complete=True)
    for order in (as_available, complete):
        w = order.window
        assert w.ship_date <= w.earliest <= w.latest
        assert order.first_arrival <= w.earliest
        for parcel in order.shipments:
            assert parcel.ship_date <= w.ship_date and parcel.earliest <= w.earliest and parcel.latest <= w.latest
        assert w.earliest == max(p.earliest for p in order.shipments)
        assert w.latest == max(p.latest for p in order.shipments)
    # Holding parcels back never makes anything arrive sooner.
    assert complete.window.earliest >= as_available.window.earliest
    assert complete.window.latest >= as_available.window.latest
    for held, free in zip(complete.shipments, as_available.shipments, strict=True):
        assert held.ship_date >= free.ship_date and held.earliest >= free.earliest
    # Ship complete: nothing leaves before the last parcel is ready.
    last_ready = max(p.ship_date for p in as_available.shipments)
    assert all(p.ship_date >= last_ready for p in complete.shipments)
