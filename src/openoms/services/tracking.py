"""Carrier tracking use cases: record tracking events, read a shipment's tracking, list the open
exceptions for the dashboard (docs/tracking.md).

Events are matched to packages by tracking number. Each package is one unit of work: the order
is locked first (the house lock order), then the package; the package's stored events are
replayed with the pure rules of ``domain.tracking``, the new ones applied, and the package,
shipment, order lines and order updated together with their timeline entries and outbox rows.
Numbers that match no package are reported back, not refused, so one stray parcel does not
make a carrier resend a whole batch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    FulfilmentLine,
    Order,
    OrderLine,
    PackageLine,
    Shipment,
    ShipmentPackage,
    TrackingEventRecord,
    TrackingExceptionAck,
    table,
)
from openoms.domain import orders as rules
from openoms.domain.errors import NotFound
from openoms.domain.events import EventType
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.domain.tracking import (
    ShipmentTracking,
    TrackingEffect,
    TrackingEvent,
    TrackingSource,
    TrackingStatus,
    TrackingUpdate,
    next_shipment_status,
    promise_accuracy,
    replay_tracking,
)
from openoms.services.common import Actor, utcnow

orders_t = table(Order)
lines_t = table(OrderLine)
ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
pl_t = table(PackageLine)
fl_t = table(FulfilmentLine)
events_t = table(TrackingEventRecord)
acks_t = table(TrackingExceptionAck)

# --------------------------------------------------------------------------- destination timezone

# The main IANA zone of each US state and territory: the zone most of its people live in. A few
# states span two zones (the Florida panhandle, west Texas, eastern Oregon...); for them a
# delivery near midnight may be judged one day off. Postal codes would settle it; a table of
# them is not worth it for a figure that is about days.
US_STATE_TIMEZONES: dict[str, tuple[str, str]] = {
    "AL": ("Alabama", "America/Chicago"),
    "AK": ("Alaska", "America/Anchorage"),
    "AZ": ("Arizona", "America/Phoenix"),
    "AR": ("Arkansas", "America/Chicago"),
    "CA": ("California", "America/Los_Angeles"),
    "CO": ("Colorado", "America/Denver"),
    "CT": ("Connecticut", "America/New_York"),
    "DE": ("Delaware", "America/New_York"),
    "DC": ("District of Columbia", "America/New_York"),
    "FL": ("Florida", "America/New_York"),
    "GA": ("Georgia", "America/New_York"),
    "HI": ("Hawaii", "Pacific/Honolulu"),
    "ID": ("Idaho", "America/Boise"),
    "IL": ("Illinois", "America/Chicago"),
    "IN": ("Indiana", "America/Indiana/Indianapolis"),
    "IA": ("Iowa", "America/Chicago"),
    "KS": ("Kansas", "America/Chicago"),
    "KY": ("Kentucky", "America/New_York"),
    "LA": ("Louisiana", "America/Chicago"),
    "ME": ("Maine", "America/New_York"),
    "MD": ("Maryland", "America/New_York"),
    "MA": ("Massachusetts", "America/New_York"),
    "MI": ("Michigan", "America/Detroit"),
    "MN": ("Minnesota", "America/Chicago"),
    "MS": ("Mississippi", "America/Chicago"),
    "MO": ("Missouri", "America/Chicago"),
    "MT": ("Montana", "America/Denver"),
    "NE": ("Nebraska", "America/Chicago"),
    "NV": ("Nevada", "America/Los_Angeles"),
    "NH": ("New Hampshire", "America/New_York"),
    "NJ": ("New Jersey", "America/New_York"),
    "NM": ("New Mexico", "America/Denver"),
    "NY": ("New York", "America/New_York"),
    "NC": ("North Carolina", "America/New_York"),
    "ND": ("North Dakota", "America/Chicago"),
    "OH": ("Ohio", "America/New_York"),
    "OK": ("Oklahoma", "America/Chicago"),
    "OR": ("Oregon", "America/Los_Angeles"),
    "PA": ("Pennsylvania", "America/New_York"),
    "RI": ("Rhode Island", "America/New_York"),
    "SC": ("South Carolina", "America/New_York"),
    "SD": ("South Dakota", "America/Chicago"),
    "TN": ("Tennessee", "America/Chicago"),
    "TX": ("Texas", "America/Chicago"),
    "UT": ("Utah", "America/Denver"),
    "VT": ("Vermont", "America/New_York"),
    "VA": ("Virginia", "America/New_York"),
    "WA": ("Washington", "America/Los_Angeles"),
    "WV": ("West Virginia", "America/New_York"),
    "WI": ("Wisconsin", "America/Chicago"),
    "WY": ("Wyoming", "America/Denver"),
    "PR": ("Puerto Rico", "America/Puerto_Rico"),
    "GU": ("Guam", "Pacific/Guam"),
    "VI": ("U.S. Virgin Islands", "America/St_Thomas"),
    "AS": ("American Samoa", "Pacific/Pago_Pago"),
    "MP": ("Northern Mariana Islands", "Pacific/Saipan"),
}
_US_STATE_BY_NAME = {name.casefold(): code for code, (name, _) in US_STATE_TIMEZONES.items()}

# Countries with one timezone for (nearly) everyone; any other country is judged in UTC.
COUNTRY_TIMEZONES: dict[str, str] = {
    "PR": "America/Puerto_Rico",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "LU": "Europe/Luxembourg",
    "IT": "Europe/Rome",
    "AT": "Europe/Vienna",
    "CH": "Europe/Zurich",
    "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "SG": "Asia/Singapore",
    "HK": "Asia/Hong_Kong",
    "IN": "Asia/Kolkata",
}


def destination_timezone(address: Mapping[str, Any] | None) -> str:
    """The IANA zone the customer's calendar runs in: a US state's main zone, a single-zone
    country's zone, else UTC (an honest default rather than a guess; docs/tracking.md)."""
    if not address:
        return "UTC"
    country = str(address.get("country") or "").strip().upper()
    if country == "US":
        region = str(address.get("region") or "").strip()
        code = region.upper().removeprefix("US-")
        code = code if code in US_STATE_TIMEZONES else _US_STATE_BY_NAME.get(region.casefold(), "")
        return US_STATE_TIMEZONES[code][1] if code else "UTC"
    return COUNTRY_TIMEZONES.get(country, "UTC")


# --------------------------------------------------------------------------- recording events


@dataclass
class _Package:
    id: int
    shipment_id: int
    order_id: int
    tracking_number: str
    carrier: str


@dataclass
class PackageOutcome:
    """What one package's events did, for the caller's summary."""

    package: _Package
    received: int
    recorded: int = 0
    duplicates: int = 0
    status: str | None = None
    exception_open: bool = False
    delivered_at: dt.datetime | None = None
    shipment_delivered_at: dt.datetime | None = None
    promise_outcome: str | None = None
    order_status: str | None = None
    timeline: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracking_number": self.package.tracking_number,
            "shipment_id": self.package.shipment_id,
            "order_id": self.package.order_id,
            "order_number": rules.order_number(self.package.order_id),
            "received": self.received,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "status": self.status,
            "exception_open": self.exception_open,
            "delivered_at": self.delivered_at,
            "shipment_delivered_at": self.shipment_delivered_at,
            "promise_outcome": self.promise_outcome,
            "order_status": self.order_status,
        }


def _carrier_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def _find_packages(db: Database, numbers: Sequence[str]) -> dict[str, list[_Package]]:
    found: dict[str, list[_Package]] = {}
    with db.read() as conn:
        for start in range(0, len(numbers), 500):
            chunk = numbers[start : start + 500]
            rows = conn.execute(
                select(pkg_t.c.id, pkg_t.c.shipment_id, pkg_t.c.tracking_number, ship_t.c.order_id, ship_t.c.carrier)
                .join(ship_t, ship_t.c.id == pkg_t.c.shipment_id)
                .where(pkg_t.c.tracking_number.in_(chunk))
                .order_by(pkg_t.c.id.desc())
            ).all()
            for r in rows:
                found.setdefault(r.tracking_number, []).append(
                    _Package(int(r.id), int(r.shipment_id), int(r.order_id), r.tracking_number, r.carrier)
                )
    return found


def _pick(candidates: list[_Package], carriers: Iterable[str]) -> _Package:
    """A tracking number on several packages (carriers recycle numbers): the newest package of
    the same carrier, else the newest package."""
    wanted = {_carrier_key(c) for c in carriers}
    same = [p for p in candidates if _carrier_key(p.carrier) in wanted]
    return (same or candidates)[0]


def record_events(db: Database, events: Sequence[TrackingEvent], actor: Actor) -> dict[str, Any]:
    """Apply carrier tracking events, whatever order and however often they arrive. Returns
    what happened per package, and the tracking numbers that match no package."""
    by_number: dict[str, list[TrackingEvent]] = {}
    for event in events:
        by_number.setdefault(event.tracking_number, []).append(event)
    found = _find_packages(db, list(by_number))
    outcomes: list[PackageOutcome] = []
    unknown: list[dict[str, Any]] = []
    for number, batch in by_number.items():
        candidates = found.get(number)
        if not candidates:
            unknown.append({"tracking_number": number, "events": len(batch)})
            continue
        outcomes.append(_apply(db, _pick(candidates, {e.carrier for e in batch}), batch, actor))
    return {
        "received": len(events),
        "recorded": sum(o.recorded for o in outcomes),
        "duplicates": sum(o.duplicates for o in outcomes),
        "packages": [o.as_dict() for o in outcomes],
        "unknown_tracking_numbers": unknown,
    }


def _event_of(r: Any) -> TrackingEvent:
    return TrackingEvent(
        tracking_number=r.tracking_number,
        carrier=r.carrier,
        status=TrackingStatus(r.status),
        occurred_at=r.occurred_at,
        description=r.description or "",
        location=r.location or "",
        carrier_status_code=r.carrier_status_code or "",
        carrier_status_detail=r.carrier_status_detail or "",
        source=TrackingSource(r.source),
        external_id=r.external_id,
    )


def _stored_tracking(conn: Connection, package_id: int, tracking_number: str) -> ShipmentTracking:
    rows = conn.execute(select(events_t).where(events_t.c.package_id == package_id).order_by(events_t.c.id)).all()
    return replay_tracking(tracking_number, (_event_of(r) for r in rows))


def _exception_reason(event: TrackingEvent | None) -> str | None:
    if event is None:
        return None
    reason = event.description or event.carrier_status_detail or event.carrier_status_code or "carrier exception"
    return reason[:500]


def _describe(event: TrackingEvent) -> str:
    text = f"{event.status.value.replace('_', ' ')} at {event.occurred_at.isoformat()}"
    if event.description:
        text += f": {event.description}"
    if event.location:
        text += f" ({event.location})"
    return text


def is_acknowledged(conn: Connection, package_id: int, exception_at: dt.datetime) -> bool:
    """Whether a person already acknowledged this exception (services/shipment_views.py): then
    replaying the package's events, which still end in it, must not raise the alert again."""
    found = conn.execute(
        select(acks_t.c.id).where(acks_t.c.package_id == package_id, acks_t.c.exception_at == exception_at)
    ).first()
    return found is not None


def _apply(db: Database, package: _Package, batch: Sequence[TrackingEvent], actor: Actor) -> PackageOutcome:
    out = PackageOutcome(package, received=len(batch))
    with db.begin() as conn:
        order = conn.execute(select(orders_t).where(orders_t.c.id == package.order_id).with_for_update()).one()
        pkg = conn.execute(select(pkg_t).where(pkg_t.c.id == package.id).with_for_update()).one()
        tracking = _stored_tracking(conn, package.id, pkg.tracking_number)
        applied: list[TrackingUpdate] = []
        for event in batch:
            update_ = next_shipment_status(tracking, event)
            if update_.effect is TrackingEffect.DUPLICATE:
                out.duplicates += 1
                continue
            tracking = update_.tracking
            applied.append(update_)
        out.recorded = len(applied)
        out.status = tracking.status.value if tracking.status else None
        out.exception_open = bool(pkg.exception_open)  # as stored (an acknowledged alert stays closed)
        out.delivered_at = tracking.delivered_at
        if not applied:
            out.order_status = order.status
            ship = conn.execute(
                select(ship_t.c.delivered_at, ship_t.c.promise_outcome).where(ship_t.c.id == package.shipment_id)
            ).one()
            out.shipment_delivered_at, out.promise_outcome = ship.delivered_at, ship.promise_outcome
            return out  # nothing new: nothing written, nothing on the timeline
        now = utcnow()
        conn.execute(
            insert(events_t),
            [
                {
                    "package_id": package.id,
                    "tracking_number": u.event.tracking_number,
                    "carrier": u.event.carrier,
                    "status": u.event.status.value,
                    "occurred_at": u.event.occurred_at,
                    "description": u.event.description,
                    "location": u.event.location,
                    "carrier_status_code": u.event.carrier_status_code,
                    "carrier_status_detail": u.event.carrier_status_detail,
                    "source": u.event.source.value,
                    "external_id": u.event.external_id,
                    "received_at": now,
                }
                for u in applied
            ],
        )
        exception = tracking.open_exception
        acknowledged = exception is not None and is_acknowledged(conn, package.id, exception.occurred_at)
        out.exception_open = exception is not None and not acknowledged
        conn.execute(
            update(pkg_t)
            .where(pkg_t.c.id == package.id)
            .values(
                tracking_status=out.status,
                status_since=tracking.status_since,
                delivered_at=tracking.delivered_at,
                exception_open=out.exception_open,
                exception_reason=_exception_reason(exception),
                exception_at=exception.occurred_at if exception else None,
            )
        )
        delivery = _settle_shipment(conn, package.shipment_id, order)
        out.shipment_delivered_at, out.promise_outcome = delivery["delivered_at"], delivery["promise_outcome"]
        before = OrderStatus(order.status)
        after = _deliver_lines(conn, package.id, int(order.id), before, now)
        out.order_status = after.value
        _write_timeline(conn, out, applied, delivery, before, after, actor, now)
    return out


def _settle_shipment(conn: Connection, shipment_id: int, order: Any) -> dict[str, Any]:
    """A shipment is delivered when all its packages are: at the last one's delivery, judged
    against the order's promise on the destination's calendar."""
    ship = conn.execute(
        select(ship_t.c.delivered_at, ship_t.c.promise_outcome, ship_t.c.days_late).where(ship_t.c.id == shipment_id)
    ).one()
    packages = conn.execute(
        select(pkg_t.c.tracking_status, pkg_t.c.delivered_at).where(pkg_t.c.shipment_id == shipment_id)
    ).all()
    delivered = [p.delivered_at for p in packages if p.tracking_status == TrackingStatus.DELIVERED.value]
    delivered_at = max(delivered) if packages and len(delivered) == len(packages) else None
    outcome: str | None = None
    days_late: int | None = None
    timezone = destination_timezone(order.shipping_address)
    if delivered_at is not None and order.promised_earliest is not None and order.promised_latest is not None:
        accuracy = promise_accuracy(order.promised_earliest, order.promised_latest, delivered_at, timezone)
        outcome, days_late = accuracy.outcome.value, accuracy.days_late
    result = {
        "delivered_at": delivered_at,
        "promise_outcome": outcome,
        "days_late": days_late,
        "timezone": timezone,
        "was_delivered_at": ship.delivered_at,
        "changed": (ship.delivered_at, ship.promise_outcome, ship.days_late) != (delivered_at, outcome, days_late),
    }
    if result["changed"]:
        conn.execute(
            update(ship_t)
            .where(ship_t.c.id == shipment_id)
            .values(delivered_at=delivered_at, promise_outcome=outcome, days_late=days_late)
        )
    return result


def _deliver_lines(
    conn: Connection, package_id: int, order_id: int, current: OrderStatus, now: dt.datetime
) -> OrderStatus:
    """Order lines whose every shipped unit is in a delivered package become delivered; the
    order follows its lines. A line never goes back (returns handle a parcel sent back later)."""
    line_ids = (
        select(fl_t.c.order_line_id)
        .join(pl_t, pl_t.c.fulfilment_line_id == fl_t.c.id)
        .where(pl_t.c.package_id == package_id)
    )
    delivered_units = dict(
        conn.execute(
            select(fl_t.c.order_line_id, func.sum(pl_t.c.quantity))
            .join(pl_t, pl_t.c.fulfilment_line_id == fl_t.c.id)
            .join(pkg_t, pkg_t.c.id == pl_t.c.package_id)
            .where(fl_t.c.order_line_id.in_(line_ids), pkg_t.c.tracking_status == TrackingStatus.DELIVERED.value)
            .group_by(fl_t.c.order_line_id)
        ).all()
    )
    ref = rules.order_number(order_id)
    changed = False
    for line in conn.execute(select(lines_t).where(lines_t.c.id.in_(line_ids)).order_by(lines_t.c.line_number)):
        units = int(delivered_units.get(line.id) or 0)
        if LineStatus(line.status) != LineStatus.SHIPPED or units < line.quantity - line.quantity_cancelled:
            continue
        rules.check_line_transition(f"{ref}/{line.line_number}", LineStatus.SHIPPED, LineStatus.DELIVERED)
        conn.execute(update(lines_t).where(lines_t.c.id == line.id).values(status=LineStatus.DELIVERED.value))
        changed = True
    if not changed:
        return current
    statuses = [
        LineStatus(s) for s in conn.execute(select(lines_t.c.status).where(lines_t.c.order_id == order_id)).scalars()
    ]
    new = rules.rollup_status(statuses)
    if new == current:
        return current
    rules.check_order_transition(ref, current, new)
    conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_id)
        .values(status=new.value, updated_at=now, version=orders_t.c.version + 1)
    )
    return new


def _write_timeline(
    conn: Connection,
    out: PackageOutcome,
    applied: Sequence[TrackingUpdate],
    delivery: dict[str, Any],
    before: OrderStatus,
    after: OrderStatus,
    actor: Actor,
    now: dt.datetime,
) -> None:
    """One entry per status change, raised or cleared exception (each published to the outbox);
    events that changed nothing are summed up in one entry; duplicates are left out."""
    package = out.package
    ref = rules.order_number(package.order_id)
    order_info = {"id": package.order_id, "order_number": ref, "status": after.value}
    quiet: list[TrackingEvent] = []
    for u in applied:
        event = u.event
        if u.exception_raised:
            kind, what = EventType.SHIPMENT_EXCEPTION, "exception"
        elif u.effect is TrackingEffect.STATUS_CHANGED or u.exception_cleared:
            kind, what = EventType.SHIPMENT_TRACKING, "tracking"
        else:
            quiet.append(event)
            continue
        data = {
            "shipment_id": package.shipment_id,
            "tracking_number": package.tracking_number,
            "carrier": event.carrier,
            "status": u.status.value if u.status else None,
            "previous_status": u.previous_status.value if u.previous_status else None,
            "event": {
                "status": event.status.value,
                "occurred_at": event.occurred_at.isoformat(),
                "description": event.description,
                "location": event.location,
                "carrier_status_code": event.carrier_status_code,
                "carrier_status_detail": event.carrier_status_detail,
                "source": event.source.value,
                "event_id": event.external_id,
            },
            "exception_raised": u.exception_raised,
            "exception_cleared": u.exception_cleared,
        }
        message = f"Tracking {package.tracking_number} ({event.carrier}): {_describe(event)}"
        if u.exception_raised:
            message = f"Tracking exception on {package.tracking_number} ({event.carrier}): {_describe(event)}"
        elif u.effect is not TrackingEffect.STATUS_CHANGED:
            message += f"; exception cleared, status stays {u.status.value if u.status else 'unknown'}"
        elif u.exception_cleared:
            message += "; exception cleared"
        record_order_event(
            conn,
            order_id=package.order_id,
            event_type=kind,
            actor=actor.name,
            message=message,
            data=data,
            publish={"order": order_info, **data},
            now=now,
        )
        out.timeline.append(what)
    if quiet:
        status = out.status or "none yet"
        record_order_event(
            conn,
            order_id=package.order_id,
            event_type=EventType.SHIPMENT_TRACKING,
            actor=actor.name,
            message=f"Tracking {package.tracking_number}: {len(quiet)} event(s) that leave the status "
            f"{status}; latest {_describe(max(quiet, key=TrackingEvent.sort_key))}",
            data={
                "shipment_id": package.shipment_id,
                "tracking_number": package.tracking_number,
                "status": out.status,
                "events": [
                    {"status": e.status.value, "occurred_at": e.occurred_at.isoformat(), "description": e.description}
                    for e in quiet
                ],
            },
            now=now,
        )
    order_note = f"; order {ref} is now {after.value}" if after != before else ""
    if delivery["changed"] and delivery["delivered_at"] is not None:
        outcome = delivery["promise_outcome"]
        verdict = {
            None: "no promise to compare with",
            "early": "early",
            "on_time": "on time",
            "late": f"{delivery['days_late']} day(s) late",
        }[outcome]
        again = " (delivery time corrected)" if delivery["was_delivered_at"] is not None else ""
        data = {
            "shipment_id": package.shipment_id,
            "delivered_at": delivery["delivered_at"].isoformat(),
            "promise_outcome": outcome,
            "days_late": delivery["days_late"],
            "destination_timezone": delivery["timezone"],
        }
        record_order_event(
            conn,
            order_id=package.order_id,
            event_type=EventType.SHIPMENT_DELIVERED,
            actor=actor.name,
            message=f"Shipment {package.shipment_id} delivered at {delivery['delivered_at'].isoformat()}: "
            f"{verdict} (judged in {delivery['timezone']}){again}{order_note}",
            data=data,
            publish={"order": order_info, **data},
            now=now,
        )
    elif order_note:
        record_order_event(
            conn,
            order_id=package.order_id,
            event_type=EventType.SHIPMENT_TRACKING,
            actor=actor.name,
            message=f"Tracking {package.tracking_number}{order_note}",
            data={"shipment_id": package.shipment_id, "order_status": after.value},
            publish={"order": order_info, "shipment_id": package.shipment_id},
            now=now,
        )
    elif delivery["changed"]:  # no longer delivered: returned to sender after a delivery scan
        record_order_event(
            conn,
            order_id=package.order_id,
            event_type=EventType.SHIPMENT_TRACKING,
            actor=actor.name,
            message=f"Shipment {package.shipment_id} is no longer counted as delivered",
            data={"shipment_id": package.shipment_id, "delivered_at": None},
            publish={"order": order_info, "shipment_id": package.shipment_id, "delivered_at": None},
            now=now,
        )


# --------------------------------------------------------------------------- queries


def get_tracking(db: Database, shipment_id: int) -> dict[str, Any]:
    """A shipment's tracking: per package its state and its events, oldest first."""
    with db.read() as conn:
        s = conn.execute(
            select(
                ship_t,
                orders_t.c.promised_earliest,
                orders_t.c.promised_latest,
                orders_t.c.shipping_address,
            )
            .join(orders_t, orders_t.c.id == ship_t.c.order_id)
            .where(ship_t.c.id == shipment_id)
        ).first()
        if s is None:
            raise NotFound("Shipment", str(shipment_id))
        packages = conn.execute(select(pkg_t).where(pkg_t.c.shipment_id == shipment_id).order_by(pkg_t.c.id)).all()
        rows = conn.execute(select(events_t).where(events_t.c.package_id.in_([p.id for p in packages]))).all()
    by_package: dict[int, list[Any]] = {}
    for r in rows:
        by_package.setdefault(int(r.package_id), []).append(r)
    return {
        "shipment_id": s.id,
        "order_id": s.order_id,
        "order_number": rules.order_number(int(s.order_id)),
        "carrier": s.carrier,
        "shipped_at": s.shipped_at,
        "delivered_at": s.delivered_at,
        "promise_outcome": s.promise_outcome,
        "days_late": s.days_late,
        "promised_earliest": s.promised_earliest,
        "promised_latest": s.promised_latest,
        "destination_timezone": destination_timezone(s.shipping_address),
        "packages": [
            {
                "tracking_number": p.tracking_number,
                "status": p.tracking_status,
                "status_since": p.status_since,
                "delivered_at": p.delivered_at,
                "exception_open": bool(p.exception_open),
                "exception_reason": p.exception_reason,
                "exception_at": p.exception_at,
                "events": [
                    {
                        "status": e.status,
                        "occurred_at": e.occurred_at,
                        "description": e.description,
                        "location": e.location,
                        "carrier": e.carrier,
                        "carrier_status_code": e.carrier_status_code,
                        "carrier_status_detail": e.carrier_status_detail,
                        "source": e.source,
                        "event_id": e.external_id,
                        "received_at": e.received_at,
                    }
                    for e in sorted(by_package.get(int(p.id), []), key=lambda e: _event_of(e).sort_key())
                ],
            }
            for p in packages
        ],
    }


def open_exceptions(db: Database, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Packages whose carrier reported a problem that no later event has cleared: the
    dashboard's tracking alert, oldest first."""
    stmt = (
        select(
            pkg_t.c.tracking_number,
            pkg_t.c.tracking_status,
            pkg_t.c.exception_reason,
            pkg_t.c.exception_at,
            ship_t.c.id.label("shipment_id"),
            ship_t.c.order_id,
            ship_t.c.carrier,
        )
        .join(ship_t, ship_t.c.id == pkg_t.c.shipment_id)
        .where(pkg_t.c.exception_open.is_(True))
        .order_by(pkg_t.c.exception_at, pkg_t.c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.read() as conn:
        return [
            {
                "order_id": int(r.order_id),
                "order_number": rules.order_number(int(r.order_id)),
                "shipment_id": int(r.shipment_id),
                "tracking_number": r.tracking_number,
                "carrier": r.carrier,
                "status": r.tracking_status,
                "reason": r.exception_reason,
                "since": r.exception_at,
            }
            for r in conn.execute(stmt).all()
        ]


def count_open_exceptions(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(select(func.count()).select_from(pkg_t).where(pkg_t.c.exception_open.is_(True))).scalar_one()
        )
