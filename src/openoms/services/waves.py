"""Release by policy: scheduled waves, automatic release and "release now" per location.

``domain.waves`` decides what goes; this module runs it. One run is one unit of work for one
location: the location row is locked first (two runs at one location queue instead of both
spending its capacity), the run is recorded in ``waves`` (unique per location and instant: a
wave that another worker already ran inserts nothing and stops), then the orders to release are
locked in id order and read again, and each gets a fulfilment order for its units at the
location only. Other locations' parts of the same order are released by their own policies.
Every released order gets a timeline event and an ``order.released`` outbox message in the same
transaction. Docs: docs/fulfilment.md "Release: manual, automatic, waves"; ADR 22.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import OrderEventRow, record_order_events
from openoms.adapters.db.tables import (
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    OrderHold,
    OrderLine,
    Product,
    Reservation,
    Wave,
    table,
)
from openoms.adapters.documents import PaperSize, PickList, PickListLine, pick_list_pdf
from openoms.domain import orders as rules
from openoms.domain import waves as wv
from openoms.domain.errors import DomainError, ErrorCode, NotFound
from openoms.domain.events import EventType
from openoms.domain.fulfillment import FulfilmentStatus, fulfilment_number
from openoms.domain.network import LocationCalendar, parse_workdays
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.domain.promising import public_holidays
from openoms.services import fulfillment
from openoms.services.common import Actor, utcnow

locations_t = table(Location)
orders_t = table(Order)
lines_t = table(OrderLine)
res_t = table(Reservation)
holds_t = table(OrderHold)
fo_t = table(FulfilmentOrder)
fl_t = table(FulfilmentLine)
waves_t = table(Wave)
products_t = table(Product)

#: Order statuses whose unreleased reservations a run may release: allocated orders, and orders
#: with a part released already (by another location's policy, or after a re-route).
RELEASABLE = (OrderStatus.ALLOCATED.value, OrderStatus.RELEASED.value, OrderStatus.PARTIALLY_SHIPPED.value)

WORKER = Actor("worker")


@dataclass(frozen=True)
class RunResult:
    """What one run at one location did."""

    wave_id: int
    wave: str  # W-0000012
    location: str
    kind: wv.WaveKind
    scheduled_for: dt.datetime
    fulfilment_orders: int
    units: int
    waiting: int  # orders left for the next wave or day, for capacity
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "wave": self.wave,
            "location": self.location,
            "kind": self.kind.value,
            "scheduled_for": self.scheduled_for,
            "fulfilment_orders": self.fulfilment_orders,
            "units": self.units,
            "skipped_for_capacity": self.waiting,
            "note": self.note,
        }


# --- policy ---------------------------------------------------------------------------------------


def policy_of(row: Any) -> wv.ReleasePolicy:
    """A location row's release policy, with its public holidays around the current year."""
    holidays: frozenset[dt.date] = frozenset()
    if row.holiday_calendar:
        country, _, subdivision = row.holiday_calendar.partition("-")
        year = dt.date.today().year
        try:
            holidays = public_holidays(country, year - 1, year + 1, subdivision or None)
        except DomainError:
            holidays = frozenset()
    calendar = LocationCalendar(
        timezone=row.timezone,
        cutoff=row.cutoff_time,
        workdays=parse_workdays(row.workdays),
        holidays=holidays,
        handling_days=row.handling_days,
    )
    try:
        mode = wv.ReleaseMode(row.release_mode)
    except ValueError:
        mode = wv.ReleaseMode.MANUAL
    times = tuple(dt.time.fromisoformat(t) for t in wv.parse_wave_times(row.wave_times or []))
    return wv.ReleasePolicy(row.code, mode, calendar, times, row.daily_capacity)


def released_units_today(conn: Connection, location_id: int, day: dt.date, timezone: str) -> int:
    """Units handed to the location during its local ``day``, by any release (cancelled units no
    longer count): what its daily capacity has already been spent on."""
    start, end = wv.day_bounds(day, timezone)
    value = conn.execute(
        select(func.coalesce(func.sum(fl_t.c.quantity - fl_t.c.quantity_cancelled), 0))
        .select_from(fl_t.join(fo_t, fo_t.c.id == fl_t.c.fulfilment_order_id))
        .where(fo_t.c.location_id == location_id, fo_t.c.released_at >= start, fo_t.c.released_at < end)
    ).scalar_one()
    return int(value)


def _pending(location_id: int) -> Any:
    """Unreleased reservations at the location of orders that may be released (no active hold)."""
    held = exists().where(holds_t.c.order_id == orders_t.c.id, holds_t.c.released_at.is_(None))
    return (
        select(
            res_t.c.order_id,
            func.sum(res_t.c.quantity).label("units"),
            orders_t.c.created_at,
            orders_t.c.promised_ship_date,
        )
        .join(orders_t, orders_t.c.id == res_t.c.order_id)
        .outerjoin(fl_t, fl_t.c.reservation_id == res_t.c.id)
        .where(
            res_t.c.location_id == location_id,
            res_t.c.quantity > 0,
            fl_t.c.id.is_(None),
            orders_t.c.status.in_(RELEASABLE),
            ~held,
        )
        .group_by(res_t.c.order_id, orders_t.c.created_at, orders_t.c.promised_ship_date)
    )


def _candidates(conn: Connection, location_id: int, order_ids: Sequence[int] | None = None) -> list[wv.Candidate]:
    stmt = _pending(location_id)
    if order_ids is not None:
        stmt = stmt.where(res_t.c.order_id.in_(order_ids))
    return [wv.Candidate(int(r.order_id), int(r.units), r.created_at, r.promised_ship_date) for r in conn.execute(stmt)]


# --- one run --------------------------------------------------------------------------------------


def _claim(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert the run's row, or nothing when the location already has a run at that instant."""
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        ins(waves_t)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["location_id", "scheduled_for"])
        .returning(waves_t.c.id)
    )
    found = conn.execute(stmt).scalar()
    return None if found is None else int(found)


def _run(
    db: Database,
    location_id: int,
    kind: wv.WaveKind,
    scheduled_for: dt.datetime,
    actor: Actor,
    now: dt.datetime,
    *,
    captured_before: dt.datetime | None,
) -> RunResult | None:
    """One release run at one location, in one transaction; None when another run at the same
    instant got there first, or (automatic and manual runs) when there was nothing to release."""
    with db.begin() as conn:
        loc = conn.execute(select(locations_t).where(locations_t.c.id == location_id).with_for_update()).one()
        policy = policy_of(loc)
        wave_id = _claim(
            conn,
            {
                "location_id": location_id,
                "kind": kind.value,
                "scheduled_for": scheduled_for,
                "started_at": now,
                "started_by": actor.name,
            },
        )
        if wave_id is None:
            return None
        number = wv.wave_number(wave_id)
        today = wv.local_date(now, loc.timezone)
        used = released_units_today(conn, location_id, today, loc.timezone)
        first = wv.plan_release(
            _candidates(conn, location_id),
            daily_capacity=policy.daily_capacity,
            released_today=used,
            captured_before=captured_before,
        )
        chosen = sorted(c.order_id for c in first.release)
        made: list[tuple[int, int]] = []
        plan = first
        if chosen:
            # Lock the orders in id order (the house lock order), then read them again: one may
            # have been held, cancelled or released by hand since the first read.
            conn.execute(
                select(orders_t.c.id).where(orders_t.c.id.in_(chosen)).order_by(orders_t.c.id).with_for_update()
            )
            plan = wv.plan_release(
                _candidates(conn, location_id, chosen),
                daily_capacity=policy.daily_capacity,
                released_today=used,
                captured_before=captured_before,
            )
            label = {
                wv.WaveKind.WAVE: f"wave {number} at {loc.code}",
                wv.WaveKind.AUTOMATIC: f"automatic release {number} at {loc.code}",
                wv.WaveKind.MANUAL: f"{actor.name} (release now {number} at {loc.code})",
            }[kind]
            made = _release_parts(conn, location_id, loc.code, [c.order_id for c in plan.release], wave_id, label, now)
        waiting = len(first.waiting)
        units = sum(c.units for c in plan.release)
        if not made and kind != wv.WaveKind.WAVE:
            conn.execute(delete(waves_t).where(waves_t.c.id == wave_id))
            return None
        conn.execute(
            update(waves_t)
            .where(waves_t.c.id == wave_id)
            .values(fulfilment_orders=len(made), units=units, skipped_for_capacity=waiting, note=first.reason)
        )
    return RunResult(wave_id, number, loc.code, kind, scheduled_for, len(made), units, waiting, first.reason)


def _release_parts(
    conn: Connection,
    location_id: int,
    code: str,
    order_ids: Sequence[int],
    wave_id: int,
    actor: str,
    now: dt.datetime,
) -> list[tuple[int, int]]:
    """Hand each order's unreleased units at the location to it: one fulfilment order per order,
    one line per reservation (the shape ``fulfillment.release_order`` makes). A line becomes
    ``released`` once none of its units wait at another location; the order follows its lines."""
    if not order_ids:
        return []
    rows = conn.execute(
        select(
            res_t.c.id,
            res_t.c.order_id,
            res_t.c.order_line_id,
            res_t.c.product_id,
            res_t.c.quantity,
            lines_t.c.line_number,
            lines_t.c.sku,
        )
        .join(lines_t, lines_t.c.id == res_t.c.order_line_id)
        .outerjoin(fl_t, fl_t.c.reservation_id == res_t.c.id)
        .where(
            res_t.c.order_id.in_(order_ids),
            res_t.c.location_id == location_id,
            res_t.c.quantity > 0,
            fl_t.c.id.is_(None),
        )
        .order_by(res_t.c.order_id, lines_t.c.line_number, res_t.c.id)
    ).all()
    by_order: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        by_order[int(r.order_id)].append(r)
    ids = sorted(by_order)
    inserted = conn.execute(
        insert(fo_t).returning(fo_t.c.id, fo_t.c.order_id, sort_by_parameter_order=True),
        [
            {
                "order_id": order_id,
                "location_id": location_id,
                "status": FulfilmentStatus.RELEASED.value,
                "released_by": actor,
                "released_at": now,
                "updated_at": now,
                "version": 1,
                "wave_id": wave_id,
            }
            for order_id in ids
        ],
    ).all()
    made = [(int(r.order_id), int(r.id)) for r in inserted]
    fo_of = dict(made)
    conn.execute(insert(fl_t), [fulfillment.fulfilment_line_values(fo_of[int(r.order_id)], r) for r in rows])
    if conn.execute(select(locations_t.c.kind).where(locations_t.c.id == location_id)).scalar_one() == "dropship":
        # A supplier gets its work as an event, whichever way it was released (ADR 21).
        heads = conn.execute(
            select(orders_t.c.id, orders_t.c.service_level, orders_t.c.shipping_address).where(orders_t.c.id.in_(ids))
        ).all()
        order_of = {int(o.id): o for o in heads}
        for order_id, fo_id in made:
            fulfillment.dropship_requested(conn, order_of[order_id], fo_id, code, by_order[order_id], now)
    still_waiting = {
        int(x)
        for x in conn.execute(
            select(res_t.c.order_line_id)
            .outerjoin(fl_t, fl_t.c.reservation_id == res_t.c.id)
            .where(res_t.c.order_id.in_(ids), res_t.c.quantity > 0, fl_t.c.id.is_(None))
        ).scalars()
    }
    touched = sorted({int(r.order_line_id) for r in rows} - still_waiting)
    if touched:
        conn.execute(
            update(lines_t)
            .where(lines_t.c.id.in_(touched), lines_t.c.status == LineStatus.ALLOCATED.value)
            .values(status=LineStatus.RELEASED.value)
        )
    statuses: dict[int, list[LineStatus]] = defaultdict(list)
    for oid, status in conn.execute(select(lines_t.c.order_id, lines_t.c.status).where(lines_t.c.order_id.in_(ids))):
        statuses[int(oid)].append(LineStatus(status))
    current = dict(conn.execute(select(orders_t.c.id, orders_t.c.status).where(orders_t.c.id.in_(ids))).all())
    by_status: dict[OrderStatus, list[int]] = defaultdict(list)
    events: list[OrderEventRow] = []
    number = wv.wave_number(wave_id)
    for order_id in ids:
        ref = rules.order_number(order_id)
        before = OrderStatus(current[order_id])
        after = rules.rollup_status(statuses[order_id])
        if after != before:
            rules.check_order_transition(ref, before, after)
        by_status[after].append(order_id)
        fo = fulfilment_number(fo_of[order_id])
        lines = [{"line": r.line_number, "sku": r.sku, "quantity": r.quantity} for r in by_order[order_id]]
        summary = [{"fulfilment_order": fo, "location": code, "lines": lines}]
        events.append(
            OrderEventRow(
                order_id=order_id,
                event_type=EventType.ORDER_RELEASED,
                actor=actor,
                message=f"Released to {code} ({fo}: {len(lines)} line(s)) by {actor}",
                data={"fulfilment_orders": summary, "wave": number},
                publish={
                    "order": {"id": order_id, "order_number": ref, "status": after.value},
                    "released": summary,
                    "wave": number,
                },
            )
        )
    for status, order_ids in by_status.items():
        conn.execute(
            update(orders_t)
            .where(orders_t.c.id.in_(order_ids))
            .values(status=status.value, updated_at=now, version=orders_t.c.version + 1)
        )
    record_order_events(conn, events, now=now)
    return made


# --- commands -------------------------------------------------------------------------------------


def _policy_rows(conn: Connection, code: str | None = None) -> list[Any]:
    stmt = select(locations_t).where(locations_t.c.active).order_by(locations_t.c.code)
    if code is not None:
        stmt = stmt.where(locations_t.c.code == code)
    return list(conn.execute(stmt))


def run_due(
    db: Database,
    now: dt.datetime | None = None,
    *,
    actor: Actor = WORKER,
    progress: Callable[[str], None] | None = None,
) -> list[RunResult]:
    """Run every wave that is due and not yet run, and every automatic location, now. Safe to
    call from any number of workers at once: each wave runs once, each unit is released once."""
    now = now or utcnow()
    with db.read() as conn:
        rows = [r for r in _policy_rows(conn) if r.release_mode in (wv.ReleaseMode.AUTOMATIC, wv.ReleaseMode.WAVES)]
        done = {
            (int(loc), at)
            for loc, at in conn.execute(
                select(waves_t.c.location_id, waves_t.c.scheduled_for).where(
                    waves_t.c.scheduled_for >= now - dt.timedelta(days=2)
                )
            )
        }
    results: list[RunResult] = []
    for row in rows:
        if progress:
            progress(row.code)
        policy = policy_of(row)
        if policy.mode == wv.ReleaseMode.AUTOMATIC:
            result = _run(db, int(row.id), wv.WaveKind.AUTOMATIC, now, actor, now, captured_before=None)
        else:
            due = wv.due_wave(policy, now)
            if due is None or (int(row.id), due.at) in done:
                continue
            result = _run(db, int(row.id), wv.WaveKind.WAVE, due.at, actor, now, captured_before=due.at)
        if result is not None:
            results.append(result)
    return results


def release_due_waves(db: Database, now: dt.datetime) -> int:
    """The worker's scheduled job: run what is due (``run_due``); the number of fulfilment
    orders released."""
    return sum(r.fulfilment_orders for r in run_due(db, now))


def release_location_now(db: Database, code: str, actor: Actor, now: dt.datetime | None = None) -> RunResult | None:
    """Release everything eligible at one location now, whatever its mode, within what is left
    of its daily capacity ("release now"); None when there was nothing to release."""
    now = now or utcnow()
    with db.read() as conn:
        rows = _policy_rows(conn, code)
    if not rows:
        raise NotFound("Location", code)
    return _run(db, int(rows[0].id), wv.WaveKind.MANUAL, now, actor, now, captured_before=None)


# --- queries --------------------------------------------------------------------------------------


def _wave_select() -> Any:
    return select(waves_t, locations_t.c.code.label("location"), locations_t.c.timezone).join(
        locations_t, locations_t.c.id == waves_t.c.location_id
    )


def _wave_dict(w: Any) -> dict[str, Any]:
    local = w.scheduled_for.astimezone(ZoneInfo(w.timezone))
    return {
        "id": int(w.id),
        "number": wv.wave_number(int(w.id)),
        "location": w.location,
        "kind": w.kind,
        "scheduled_for": w.scheduled_for,
        "local_time": local.strftime("%Y-%m-%d %H:%M %Z"),
        "started_at": w.started_at,
        "started_by": w.started_by,
        "fulfilment_orders": w.fulfilment_orders,
        "units": w.units,
        "skipped_for_capacity": w.skipped_for_capacity,
        "note": w.note,
    }


def list_waves(
    db: Database,
    *,
    location: str | None = None,
    day: dt.date | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Runs newest first; ``day`` is a local date at each run's location."""
    stmt = _wave_select().order_by(waves_t.c.id.desc()).limit(limit)
    if location:
        stmt = stmt.where(locations_t.c.code == location)
    if before_id is not None:
        stmt = stmt.where(waves_t.c.id < before_id)
    if day is not None:  # widest UTC span of that local date anywhere, then exact per location
        stmt = stmt.where(
            and_(
                waves_t.c.scheduled_for >= dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) - dt.timedelta(hours=15),
                waves_t.c.scheduled_for < dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(hours=39),
            )
        )
    with db.read() as conn:
        found = list(conn.execute(stmt))
    out = [_wave_dict(w) for w in found]
    if day is not None:
        out = [w for w, r in zip(out, found, strict=True) if wv.local_date(r.scheduled_for, r.timezone) == day]
    return out


def get_wave(db: Database, wave_id: int) -> dict[str, Any]:
    with db.read() as conn:
        w = conn.execute(_wave_select().where(waves_t.c.id == wave_id)).first()
        if w is None:
            raise NotFound("Wave", wv.wave_number(wave_id))
        fos = conn.execute(
            select(fo_t.c.id, fo_t.c.order_id, fo_t.c.status).where(fo_t.c.wave_id == wave_id).order_by(fo_t.c.id)
        ).all()
    out = _wave_dict(w)
    out["fulfilment_order_list"] = [
        {
            "number": fulfilment_number(int(f.id)),
            "order_number": rules.order_number(int(f.order_id)),
            "status": f.status,
        }
        for f in fos
    ]
    return out


def wave_pick_list(db: Database, wave_id: int, *, paper: PaperSize = PaperSize.LETTER) -> bytes:
    """One pick list for a whole wave: every open unit by SKU, with the fulfilment orders to sort
    them into, so the wave is picked in one walk and sorted at the pack bench."""
    with db.read() as conn:
        w = conn.execute(
            select(waves_t, locations_t.c.code, locations_t.c.name, locations_t.c.timezone)
            .join(locations_t, locations_t.c.id == waves_t.c.location_id)
            .where(waves_t.c.id == wave_id)
        ).first()
        if w is None:
            raise NotFound("Wave", wv.wave_number(wave_id))
        rows = conn.execute(
            select(fl_t, products_t.c.name.label("name"))
            .join(fo_t, fo_t.c.id == fl_t.c.fulfilment_order_id)
            .join(products_t, products_t.c.id == fl_t.c.product_id)
            .where(fo_t.c.wave_id == wave_id)
            .order_by(fl_t.c.sku, fl_t.c.fulfilment_order_id)
        ).all()
    number = wv.wave_number(wave_id)
    units: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    sort_into: dict[str, list[str]] = defaultdict(list)
    fos: list[str] = []
    for r in rows:
        left = r.quantity - r.quantity_shipped - r.quantity_rejected - r.quantity_cancelled
        if left <= 0:
            continue
        fo = fulfilment_number(int(r.fulfilment_order_id))
        units[r.sku] += left
        names[r.sku] = r.name
        sort_into[r.sku].append(f"{fo} x{left}")
        if fo not in fos:
            fos.append(fo)
    if not units:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, f"Wave {number} has nothing left to pick")
    local = w.scheduled_for.astimezone(ZoneInfo(w.timezone))
    return pick_list_pdf(
        PickList(
            reference=number,
            location_code=w.code,
            location_name=w.name,
            generated_at=dt.datetime.now(ZoneInfo(w.timezone)),
            lines=[PickListLine(sku, names[sku], units[sku], tuple(sort_into[sku])) for sku in sorted(units)],
            wave=f"{number} ({w.kind}, {local.strftime('%Y-%m-%d %H:%M %Z')})",
            fulfillment_references=tuple(sorted(fos)),
        ),
        paper=paper,
    )


def overview(db: Database, now: dt.datetime | None = None, *, recent: int = 5) -> list[dict[str, Any]]:
    """Per active shipping location: its policy, capacity left today, units waiting, the next
    wave in local time and its latest runs (the back office's Waves page)."""
    now = now or utcnow()
    out = []
    with db.read() as conn:
        for row in _policy_rows(conn):
            if not row.ships:
                continue
            policy = policy_of(row)
            today = wv.local_date(now, row.timezone)
            used = released_units_today(conn, int(row.id), today, row.timezone)
            waiting = _candidates(conn, int(row.id))
            nxt = wv.next_wave(policy, now)
            runs = (
                conn.execute(
                    _wave_select().where(waves_t.c.location_id == row.id).order_by(waves_t.c.id.desc()).limit(recent)
                ).all()
                if recent
                else []
            )
            out.append(
                {
                    "location": row.code,
                    "name": row.name,
                    "timezone": row.timezone,
                    "mode": policy.mode.value,
                    "wave_times": [t.strftime("%H:%M") for t in policy.wave_times],
                    "cutoff_time": row.cutoff_time.strftime("%H:%M") if row.cutoff_time else None,
                    "today": [w.label for w in wv.waves_on(policy, today)],
                    "local_now": now.astimezone(ZoneInfo(row.timezone)),
                    "daily_capacity": row.daily_capacity,
                    "released_today": used,
                    "capacity_left": None if row.daily_capacity is None else max(row.daily_capacity - used, 0),
                    "waiting_orders": len(waiting),
                    "waiting_units": sum(c.units for c in waiting),
                    "next_wave": None
                    if nxt is None
                    else {"at": nxt.at, "local": nxt.local.strftime("%a %d %b %H:%M %Z"), "cutoff": nxt.cutoff},
                    "recent": [_wave_dict(w) for w in runs],
                }
            )
    return out
