"""Release policies: when a location is handed its work, and how much of it (docs/fulfilment.md,
ADR 22).

A location releases ``manual``-ly (a person or a call releases each order), ``automatic``-ally
(everything eligible as soon as the worker sees it) or in ``waves`` at local times of day. In
waves mode the location's order cut-off is always a wave too, so every order captured before
the cut-off (the orders promised to ship today) is released by the cut-off, however the wave
times were chosen. A run never releases more units than are left of the location's
``daily_capacity`` for its local day (units already released that day count), most urgent first:
promised ship date, then capture time. A part that does not fit waits, and so does everything
behind it (no queue jumping), for the next wave or day. Times are wall-clock times in the
location's IANA timezone: a wave in the hour skipped when clocks go forward runs at the same
instant as an hour later, a wave in the repeated hour runs once (the first pass).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openoms.domain.network import LocationCalendar
from openoms.domain.promising import is_business_day

#: Most wave times a location may have in a day.
MAX_WAVE_TIMES = 24
#: How far ahead ``next_wave`` looks for a working day.
_LOOKAHEAD_DAYS = 60

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ReleaseMode(StrEnum):
    MANUAL = "manual"  # released order by order, by a person or an API call
    AUTOMATIC = "automatic"  # released as soon as the worker sees it, within capacity
    WAVES = "waves"  # released at the wave times (and the cut-off), within capacity


class WaveKind(StrEnum):
    WAVE = "wave"  # a scheduled wave
    AUTOMATIC = "automatic"  # a run of an automatic location
    MANUAL = "manual"  # "release now" for one location


def parse_wave_times(values: str | Iterable[str]) -> tuple[str, ...]:
    """Wave times as given (``"09:00 13:00"`` or ``["09:00", "13:00"]``) as sorted, distinct
    ``"HH:MM"`` strings. Raises ``ValueError`` naming the value that is not a 24-hour time."""
    items = values.replace(",", " ").split() if isinstance(values, str) else list(values)
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not _TIME_RE.match(item.strip()):
            raise ValueError(f"{item!r} is not a local time HH:MM (24 h), e.g. 09:00")
        seen.add(item.strip())
    if len(seen) > MAX_WAVE_TIMES:
        raise ValueError(f"at most {MAX_WAVE_TIMES} wave times a day")
    return tuple(sorted(seen))


@dataclass(frozen=True)
class ReleasePolicy:
    """What decides a location's releases: its mode, wave times, calendar and capacity."""

    code: str
    mode: ReleaseMode
    calendar: LocationCalendar
    wave_times: tuple[dt.time, ...] = ()
    daily_capacity: int | None = None  # units per local day; None: no limit


@dataclass(frozen=True)
class ScheduledWave:
    at: dt.datetime  # the instant, UTC
    local: dt.datetime  # the same instant on the location's wall clock
    cutoff: bool  # the cut-off wave (the cut-off itself, or a wave time equal to it)

    @property
    def label(self) -> str:
        return self.local.strftime("%H:%M") + (" (cut-off)" if self.cutoff else "")


def zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {timezone!r}") from None


def _aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def local_date(now: dt.datetime, timezone: str) -> dt.date:
    _aware(now)
    return now.astimezone(zone(timezone)).date()


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants a local day starts and ends (23 or 25 hours on DST days)."""
    tz = zone(timezone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    return start, end


def waves_on(policy: ReleasePolicy, day: dt.date) -> tuple[ScheduledWave, ...]:
    """The waves of a local day, earliest first: none in manual or automatic mode or on a day the
    location does not work; else the wave times plus the cut-off."""
    if policy.mode != ReleaseMode.WAVES or not is_business_day(day, policy.calendar):
        return ()
    tz = zone(policy.calendar.timezone)
    cutoff = policy.calendar.cutoff
    times = set(policy.wave_times) | ({cutoff.replace(tzinfo=None)} if cutoff else set())
    by_instant: dict[dt.datetime, ScheduledWave] = {}
    for t in sorted(times):
        at = dt.datetime.combine(day, t, tzinfo=tz).astimezone(dt.UTC)  # fold=0: the first pass
        if at in by_instant:  # a skipped-hour time landing on a later one
            continue
        wall = at.astimezone(tz)
        by_instant[at] = ScheduledWave(at, wall, cutoff is not None and t == cutoff.replace(tzinfo=None))
    return tuple(by_instant[k] for k in sorted(by_instant))


def due_wave(policy: ReleasePolicy, now: dt.datetime) -> ScheduledWave | None:
    """The latest wave of the location's local today that is at or before ``now`` (a wave
    missed earlier in the day is covered by it: it releases everything captured before it)."""
    _aware(now)
    due = [w for w in waves_on(policy, local_date(now, policy.calendar.timezone)) if w.at <= now]
    return due[-1] if due else None


def next_wave(policy: ReleasePolicy, now: dt.datetime) -> ScheduledWave | None:
    """The first wave after ``now``, on a later working day if today has none left."""
    _aware(now)
    if policy.mode != ReleaseMode.WAVES:
        return None
    day = local_date(now, policy.calendar.timezone)
    for offset in range(_LOOKAHEAD_DAYS):
        for w in waves_on(policy, day + dt.timedelta(days=offset)):
            if w.at > now:
                return w
    return None


# --- what a run releases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One order's unreleased units at the location."""

    order_id: int
    units: int
    captured_at: dt.datetime
    promised_ship_date: dt.date | None


@dataclass(frozen=True)
class ReleasePlan:
    release: tuple[Candidate, ...]
    waiting: tuple[Candidate, ...]  # left for the next wave or day, for capacity
    units: int
    capacity_left: int | None  # after this run; None: no limit
    reason: str | None  # why some wait, in a sentence

    @property
    def waiting_units(self) -> int:
        return sum(c.units for c in self.waiting)


def urgency(c: Candidate) -> tuple[dt.date, dt.datetime, int]:
    """Most urgent first: the earliest promised ship date (none: last), then the oldest capture."""
    return (c.promised_ship_date or dt.date.max, c.captured_at, c.order_id)


def plan_release(
    candidates: Sequence[Candidate],
    *,
    daily_capacity: int | None,
    released_today: int,
    captured_before: dt.datetime | None = None,
) -> ReleasePlan:
    """What one run releases: the candidates captured before ``captured_before`` (a wave's
    instant; None: all), most urgent first, while their units fit in what is left of the day's
    capacity. A part bigger than the whole daily capacity goes alone as the first release of a
    day, or it would never go."""
    eligible = sorted(
        (c for c in candidates if captured_before is None or c.captured_at < captured_before), key=urgency
    )
    if daily_capacity is None:
        units = sum(c.units for c in eligible)
        return ReleasePlan(tuple(eligible), (), units, None, None)
    left = max(daily_capacity - released_today, 0)
    release: list[Candidate] = []
    for i, c in enumerate(eligible):
        oversize = c.units > daily_capacity > 0 and released_today == 0 and not release
        if c.units <= left or oversize:
            release.append(c)
            left = max(left - c.units, 0)
            continue
        waiting = tuple(eligible[i:])
        units = sum(r.units for r in release)
        reason = (
            f"daily capacity {daily_capacity} units reached: {len(waiting)} order(s), "
            f"{sum(w.units for w in waiting)} unit(s) wait for the next wave or day"
            if left == 0
            else f"{c.units} unit(s) of the next order do not fit in the {left} unit(s) left of the daily capacity "
            f"{daily_capacity}: {len(waiting)} order(s) wait for the next wave or day"
        )
        return ReleasePlan(tuple(release), waiting, units, left, reason)
    return ReleasePlan(tuple(release), (), sum(r.units for r in release), left, None)


def wave_number(wave_id: int) -> str:
    return f"W-{wave_id:07d}"


def parse_wave_number(text: str) -> int | None:
    t = text.strip().upper()
    t = t[2:] if t.startswith("W-") else t
    return int(t) if t.isascii() and t.isdigit() and 0 < int(t) < 2**63 else None
