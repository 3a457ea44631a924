"""Release policies: wave schedules in the location's timezone, the cut-off wave, DST days,
holidays, and the capacity cut in order of urgency (domain.waves)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.network import LocationCalendar
from openoms.domain.waves import (
    Candidate,
    ReleaseMode,
    ReleasePolicy,
    day_bounds,
    due_wave,
    next_wave,
    parse_wave_number,
    parse_wave_times,
    plan_release,
    wave_number,
    waves_on,
)

UTC = dt.UTC


def policy(
    tz: str,
    times: tuple[str, ...] = ("09:00", "13:00"),
    *,
    cutoff: str | None = "14:00",
    mode: ReleaseMode = ReleaseMode.WAVES,
    holidays: frozenset[dt.date] = frozenset(),
    capacity: int | None = None,
) -> ReleasePolicy:
    return ReleasePolicy(
        code="WH",
        mode=mode,
        calendar=LocationCalendar(
            timezone=tz, cutoff=dt.time.fromisoformat(cutoff) if cutoff else None, holidays=holidays
        ),
        wave_times=tuple(dt.time.fromisoformat(t) for t in times),
        daily_capacity=capacity,
    )


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


# --- wave times ----------------------------------------------------------------------------------


def test_wave_times_are_parsed_sorted_and_distinct() -> None:
    assert parse_wave_times("13:00, 09:00 13:00") == ("09:00", "13:00")
    assert parse_wave_times(["17:30", "06:05"]) == ("06:05", "17:30")
    assert parse_wave_times([]) == ()


@pytest.mark.parametrize("bad", ["9:00", "24:00", "12:60", "noon", "12:00:00", "12h00"])
def test_bad_wave_times_are_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        parse_wave_times(["08:00", bad])


def test_at_most_24_wave_times() -> None:
    with pytest.raises(ValueError, match="at most 24"):
        parse_wave_times([f"{h:02d}:{m:02d}" for h in range(13) for m in (0, 30)])


def test_same_local_time_is_a_different_instant_in_los_angeles_and_berlin() -> None:
    day = dt.date(2026, 7, 15)  # a Wednesday, summer time on both sides
    la = waves_on(policy("America/Los_Angeles"), day)
    berlin = waves_on(policy("Europe/Berlin"), day)
    assert [w.at for w in la] == [at("2026-07-15T16:00Z"), at("2026-07-15T20:00Z"), at("2026-07-15T21:00Z")]
    assert [w.at for w in berlin] == [at("2026-07-15T07:00Z"), at("2026-07-15T11:00Z"), at("2026-07-15T12:00Z")]
    assert [w.label for w in la] == ["09:00", "13:00", "14:00 (cut-off)"]


def test_the_due_wave_is_the_latest_one_today_at_or_before_now() -> None:
    p = policy("America/Los_Angeles")
    assert due_wave(p, at("2026-07-15T15:59Z")) is None  # 08:59 local: nothing due yet
    w = due_wave(p, at("2026-07-15T16:00Z"))
    assert w is not None and w.label == "09:00"
    w = due_wave(p, at("2026-07-15T20:30Z"))  # 13:30 local; the 09:00 wave is covered by 13:00
    assert w is not None and w.label == "13:00"
    # 01:00 UTC on the 16th is still the 15th in Los Angeles (18:00): the cut-off wave is due.
    w = due_wave(p, at("2026-07-16T01:00Z"))
    assert w is not None and w.cutoff and w.local.date() == dt.date(2026, 7, 15)
    # ... but in Berlin it is 03:00 on the 16th: nothing due yet that day.
    assert due_wave(policy("Europe/Berlin"), at("2026-07-16T01:00Z")) is None


def test_a_wave_at_the_cutoff_is_the_cutoff_wave_not_a_second_one() -> None:
    waves = waves_on(policy("Europe/Berlin", ("09:00", "14:00")), dt.date(2026, 7, 15))
    assert [w.label for w in waves] == ["09:00", "14:00 (cut-off)"]


def test_without_a_cutoff_only_the_wave_times_run() -> None:
    waves = waves_on(policy("Europe/Berlin", ("09:00", "16:00"), cutoff=None), dt.date(2026, 7, 15))
    assert [w.label for w in waves] == ["09:00", "16:00"]


def test_manual_and_automatic_locations_have_no_waves() -> None:
    for mode in (ReleaseMode.MANUAL, ReleaseMode.AUTOMATIC):
        p = policy("Europe/Berlin", mode=mode)
        assert waves_on(p, dt.date(2026, 7, 15)) == ()
        assert next_wave(p, at("2026-07-15T08:00Z")) is None


def test_no_waves_on_weekends_or_holidays_next_wave_skips_them() -> None:
    christmas = dt.date(2026, 12, 25)  # a Friday
    p = policy("America/Los_Angeles", holidays=frozenset({christmas}))
    assert waves_on(p, christmas) == ()
    assert due_wave(p, at("2026-12-25T23:00Z")) is None  # 15:00 local on the holiday
    assert waves_on(p, dt.date(2026, 12, 26)) == ()  # Saturday
    after = next_wave(p, at("2026-12-24T23:00Z"))  # Thursday 15:00 local, past the cut-off
    assert after is not None
    assert after.local.date() == dt.date(2026, 12, 28) and after.label == "09:00"  # Monday


def test_wave_on_the_day_clocks_go_forward() -> None:
    day = dt.date(2026, 3, 8)  # US clocks go forward at 02:00 in Los Angeles, a Sunday
    p = policy("America/Los_Angeles", ("01:30", "02:30", "03:30", "09:00"), cutoff=None)
    p = ReleasePolicy(
        p.code, p.mode, LocationCalendar("America/Los_Angeles", workdays=frozenset(range(7))), p.wave_times
    )
    waves = waves_on(p, day)
    # 02:30 does not exist that day: read with winter time it is 03:30 summer time, the same
    # instant as the 03:30 wave, so it runs once.
    assert [w.local.strftime("%H:%M %Z") for w in waves] == ["01:30 PST", "03:30 PDT", "09:00 PDT"]
    assert [w.at for w in waves] == [at("2026-03-08T09:30Z"), at("2026-03-08T10:30Z"), at("2026-03-08T16:00Z")]
    start, end = day_bounds(day, "America/Los_Angeles")
    assert end - start == dt.timedelta(hours=23)


def test_wave_on_the_day_clocks_go_back_runs_once_in_the_repeated_hour() -> None:
    day = dt.date(2026, 10, 25)  # Berlin clocks go back from 03:00 CEST to 02:00 CET, a Sunday
    cal = LocationCalendar("Europe/Berlin", workdays=frozenset(range(7)), cutoff=dt.time(14))
    p = ReleasePolicy("WH", ReleaseMode.WAVES, cal, (dt.time(2, 30), dt.time(9)))
    waves = waves_on(p, day)
    assert [w.local.strftime("%H:%M %Z") for w in waves] == ["02:30 CEST", "09:00 CET", "14:00 CET"]
    assert waves[1].at == at("2026-10-25T08:00Z")  # 09:00 in winter time is 08:00 UTC
    assert due_wave(p, at("2026-10-25T00:45Z")) is not None  # 02:45 CEST, first pass
    start, end = day_bounds(day, "Europe/Berlin")
    assert end - start == dt.timedelta(hours=25)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_wave(policy("Europe/Berlin"), dt.datetime(2026, 7, 15, 9))


# --- the capacity cut ----------------------------------------------------------------------------

T0 = at("2026-07-15T08:00Z")
TODAY = dt.date(2026, 7, 15)


def cand(order_id: int, units: int, minutes: int, promised: dt.date | None) -> Candidate:
    return Candidate(order_id, units, T0 + dt.timedelta(minutes=minutes), promised)


def test_without_capacity_everything_captured_before_the_wave_goes() -> None:
    cs = [cand(1, 5, 0, TODAY), cand(2, 3, 90, TODAY), cand(3, 1, 30, None)]
    plan = plan_release(cs, daily_capacity=None, released_today=0, captured_before=T0 + dt.timedelta(minutes=60))
    assert [c.order_id for c in plan.release] == [1, 3]
    assert plan.units == 6 and plan.waiting == () and plan.reason is None


def test_capacity_goes_to_the_earliest_promise_then_the_oldest_capture() -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    cs = [
        cand(1, 4, 0, tomorrow),  # oldest, but promised tomorrow
        cand(2, 4, 10, TODAY),
        cand(3, 4, 5, TODAY),
        cand(4, 1, 1, None),  # no promise: last
        cand(5, 4, 2, TODAY - dt.timedelta(days=1)),  # overdue: first
    ]
    plan = plan_release(cs, daily_capacity=20, released_today=6)
    assert [c.order_id for c in plan.release] == [5, 3, 2]
    assert [c.order_id for c in plan.waiting] == [1, 4]  # 2 units left: order 1 (4) does not fit
    assert plan.capacity_left == 2 and plan.units == 12
    assert plan.reason is not None and "2 order(s) wait" in plan.reason and "4 unit(s) of the next order" in plan.reason


def test_capacity_already_used_up_releases_nothing() -> None:
    plan = plan_release([cand(1, 1, 0, TODAY)], daily_capacity=10, released_today=12)
    assert plan.release == () and plan.capacity_left == 0
    assert plan.reason is not None and "daily capacity 10 units reached" in plan.reason


def test_a_part_bigger_than_the_daily_capacity_goes_alone_first_thing_in_a_day() -> None:
    cs = [cand(1, 50, 0, TODAY), cand(2, 1, 1, TODAY)]
    first = plan_release(cs, daily_capacity=20, released_today=0)
    assert [c.order_id for c in first.release] == [1] and [c.order_id for c in first.waiting] == [2]
    later = plan_release(cs, daily_capacity=20, released_today=3)
    assert later.release == ()
    closed = plan_release(cs, daily_capacity=0, released_today=0)
    assert closed.release == ()


@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.integers(0, 500), st.one_of(st.none(), st.integers(-2, 3))),
        max_size=30,
    ),
    st.integers(0, 100),
    st.integers(0, 120),
)
def test_never_over_capacity_and_never_a_less_urgent_order_first(
    rows: list[tuple[int, int, int | None]], capacity: int, used: int
) -> None:
    cs = [
        cand(i + 1, units, minutes, None if d is None else TODAY + dt.timedelta(days=d))
        for i, (units, minutes, d) in enumerate(rows)
    ]
    plan = plan_release(cs, daily_capacity=capacity, released_today=used)
    released = [c.order_id for c in plan.release]
    assert sorted(released + [c.order_id for c in plan.waiting]) == [c.order_id for c in cs]
    oversize_alone = len(plan.release) == 1 and plan.release[0].units > capacity and used == 0
    if not oversize_alone:
        assert plan.units <= max(capacity - used, 0)
    if plan.release and plan.waiting:  # what went is at least as urgent as anything that waits
        from openoms.domain.waves import urgency

        assert max(urgency(c) for c in plan.release) < min(urgency(c) for c in plan.waiting)


def test_wave_numbers_round_trip() -> None:
    assert wave_number(42) == "W-0000042"
    assert parse_wave_number("w-0000042") == 42 and parse_wave_number("42") == 42
    assert parse_wave_number("W-abc") is None and parse_wave_number("W-0") is None
