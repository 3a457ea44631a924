"""Shipments and tracking exceptions for the back office: every shipment across orders (newest
first, keyset pages, filters), one shipment with its packages, contents and tracking history,
the open carrier exceptions with the customer and the promise at stake, acknowledging one, and
the per-location open-work counts of the fulfilment queue page.

Kept apart from services/fulfillment.py (the commands) and services/tracking.py (ingestion):
these are read models plus the one acknowledge command. A shipment's one-word stage comes from
``domain.shipment_status``; the filter computes the same rank in SQL (``_stage_rank``), so the
badge a row shows is the filter it matches.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, or_, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Customer,
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    Shipment,
    ShipmentPackage,
    TrackingExceptionAck,
    table,
)
from openoms.domain import orders as rules
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.domain.events import EventType
from openoms.domain.fulfillment import OPEN as OPEN_FO_STATUSES
from openoms.domain.fulfillment import FulfilmentStatus
from openoms.domain.shipment_status import (
    DEFAULT_RANK,
    STAGE_RANK,
    STATUS_RANK,
    PromiseView,
    ShipmentStage,
    promise_view,
    shipment_stage,
)
from openoms.domain.tracking import TrackingStatus
from openoms.services import fulfillment, tracking
from openoms.services.common import Actor, utcnow

ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
orders_t = table(Order)
customers_t = table(Customer)
fo_t = table(FulfilmentOrder)
fl_t = table(FulfilmentLine)
locations_t = table(Location)
acks_t = table(TrackingExceptionAck)

PER_PAGE = 50
MAX_QUERY = 100
MAX_NOTE = 1000
_SHIPMENT_REF = re.compile(r"^(?:SHP-?)0*(\d{1,18})$", re.IGNORECASE)
_ORDER_REF = re.compile(r"^(?:#|SO-?)?0*(\d{1,18})$", re.IGNORECASE)
_MAX_ID = 2**63 - 1


def shipment_number(shipment_id: int) -> str:
    """``SHP-0000007``: the name on packing slips and labels (adapters/documents)."""
    return f"SHP-{shipment_id:07d}"


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _promise(row: Any, now: dt.datetime) -> PromiseView:
    """Promised against delivered for a row carrying the shipment's delivery and the order's
    promise and address: "today" is the date at the destination."""
    today = now.astimezone(_zone(tracking.destination_timezone(row.shipping_address))).date()
    return promise_view(row.promised_latest, row.promise_outcome, row.days_late, row.delivered_at is not None, today)


# --------------------------------------------------------------------------- the shipments list


@dataclass(frozen=True)
class ShipmentFilters:
    location: str | None = None
    carrier: str | None = None
    stage: ShipmentStage | None = None
    shipped_from: dt.date | None = None
    shipped_to: dt.date | None = None
    query: str | None = None  # a tracking number, an order number or a shipment number


def parse_filters(params: Any) -> tuple[ShipmentFilters, list[FieldError]]:
    """Filters from a query string; a bad value is reported on its field and left out, so the
    page still lists shipments (the way the orders list treats a bad filter)."""
    errors: list[FieldError] = []

    def text(name: str, limit: int = 64) -> str | None:
        value = str(params.get(name) or "").strip()
        if len(value) > limit:
            errors.append(FieldError(name, f"is longer than {limit} characters"))
            return None
        return value or None

    def day(name: str) -> dt.date | None:
        value = text(name, 10)
        if value is None:
            return None
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        errors.append(FieldError(name, "is not a date (YYYY-MM-DD)"))
        return None

    stage: ShipmentStage | None = None
    raw_stage = text("status", 32)
    if raw_stage:
        try:
            stage = ShipmentStage(raw_stage)
        except ValueError:
            errors.append(FieldError("status", f"unknown status {raw_stage!r}"))
    shipped_from, shipped_to = day("shipped_from"), day("shipped_to")
    if shipped_from and shipped_to and shipped_to < shipped_from:
        errors.append(FieldError("shipped_to", "is before the from date"))
        shipped_to = None
    filters = ShipmentFilters(
        location=text("location", 32),
        carrier=text("carrier", 64),
        stage=stage,
        shipped_from=shipped_from,
        shipped_to=shipped_to,
        query=text("q", MAX_QUERY),
    )
    return filters, errors


def _stage_rank() -> Any:
    """The least advanced package's rank, per shipment (SQL twin of ``shipment_stage``)."""
    rank = case(STATUS_RANK, value=pkg_t.c.tracking_status, else_=DEFAULT_RANK)
    return select(func.min(rank)).where(pkg_t.c.shipment_id == ship_t.c.id).scalar_subquery()


def _has_exception() -> Any:
    return exists().where(
        pkg_t.c.shipment_id == ship_t.c.id,
        or_(pkg_t.c.exception_open.is_(True), pkg_t.c.tracking_status == TrackingStatus.EXCEPTION.value),
    )


def _conditions(f: ShipmentFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.location:
        where.append(locations_t.c.code == f.location)
    if f.carrier:
        where.append(func.lower(ship_t.c.carrier) == f.carrier.lower())
    if f.stage is ShipmentStage.EXCEPTION:
        where.append(_has_exception())
    elif f.stage is not None:
        where.append(and_(~_has_exception(), _stage_rank() == STAGE_RANK[f.stage]))
    if f.shipped_from:
        where.append(ship_t.c.shipped_at >= dt.datetime.combine(f.shipped_from, dt.time(), dt.UTC))
    if f.shipped_to:
        end = dt.datetime.combine(f.shipped_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        where.append(ship_t.c.shipped_at < end)
    if f.query:
        q = f.query.strip()
        matches: list[ColumnElement[bool]] = [
            ship_t.c.id.in_(select(pkg_t.c.shipment_id).where(pkg_t.c.tracking_number.in_({q, q.upper()})))
        ]
        order = _ORDER_REF.match(q)
        if order and int(order.group(1)) <= _MAX_ID:
            matches.append(ship_t.c.order_id == int(order.group(1)))
        shipment = _SHIPMENT_REF.match(q)
        if shipment and int(shipment.group(1)) <= _MAX_ID:
            matches.append(ship_t.c.id == int(shipment.group(1)))
        where.append(or_(*matches))
    return where


def list_shipments(
    db: Database,
    filters: ShipmentFilters = ShipmentFilters(),
    *,
    before_id: int | None = None,
    limit: int = PER_PAGE,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """One page of shipments, newest first, cut on the shipment id (keyset: a deep page costs
    what the first does). ``next_before`` is the id to pass for the next page, or None."""
    now = now or utcnow()
    stmt = (
        select(
            ship_t,
            locations_t.c.code.label("location"),
            orders_t.c.promised_latest,
            orders_t.c.promised_earliest,
            orders_t.c.shipping_address,
        )
        .join(fo_t, fo_t.c.id == ship_t.c.fulfilment_order_id)
        .join(locations_t, locations_t.c.id == fo_t.c.location_id)
        .join(orders_t, orders_t.c.id == ship_t.c.order_id)
        .where(*_conditions(filters))
        .order_by(ship_t.c.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        stmt = stmt.where(ship_t.c.id < before_id)
    with db.read() as conn:
        rows = conn.execute(stmt).all()
        more = len(rows) > limit
        rows = rows[:limit]
        packages = conn.execute(
            select(
                pkg_t.c.shipment_id,
                pkg_t.c.tracking_number,
                pkg_t.c.tracking_status,
                pkg_t.c.exception_open,
            )
            .where(pkg_t.c.shipment_id.in_([r.id for r in rows]))
            .order_by(pkg_t.c.id)
        ).all()
    by_shipment: dict[int, list[Any]] = defaultdict(list)
    for p in packages:
        by_shipment[int(p.shipment_id)].append(p)
    items = []
    for r in rows:
        pkgs = by_shipment[int(r.id)]
        items.append(
            {
                "id": int(r.id),
                "number": shipment_number(int(r.id)),
                "order_id": int(r.order_id),
                "order_number": rules.order_number(int(r.order_id)),
                "location": r.location,
                "carrier": r.carrier,
                "service_code": r.service_code,
                "packages": len(pkgs),
                "tracking_numbers": [p.tracking_number for p in pkgs],
                "stage": shipment_stage((p.tracking_status, bool(p.exception_open)) for p in pkgs),
                "shipped_at": r.shipped_at,
                "delivered_at": r.delivered_at,
                "promised_earliest": r.promised_earliest,
                "promised_latest": r.promised_latest,
                "promise": _promise(r, now),
            }
        )
    return {"items": items, "next_before": items[-1]["id"] if more else None}


def carriers_in_use(db: Database) -> list[str]:
    """The carriers shipments were sent with, for the filter's choices."""
    with db.read() as conn:
        return sorted(
            {str(c) for c in conn.execute(select(ship_t.c.carrier).distinct().limit(200)).scalars()}, key=str.lower
        )


# --------------------------------------------------------------------------- one shipment


def shipment_detail(db: Database, shipment_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A shipment's packages with their contents, weights and label cost, each package's
    tracking history (oldest first) and acknowledged exceptions, and the promise outcome."""
    if shipment_id > _MAX_ID:
        raise NotFound("Shipment", str(shipment_id))
    now = now or utcnow()
    base = fulfillment.get_shipment(db, shipment_id)
    tracked = tracking.get_tracking(db, shipment_id)
    with db.read() as conn:
        order = conn.execute(
            select(
                orders_t.c.status,
                orders_t.c.shipping_address,
                orders_t.c.promised_earliest,
                orders_t.c.promised_latest,
                customers_t.c.name.label("customer_name"),
                customers_t.c.email.label("customer_email"),
            )
            .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
            .where(orders_t.c.id == base["order_id"])
        ).one()
        package_ids = [
            int(i)
            for i in conn.execute(
                select(pkg_t.c.id).where(pkg_t.c.shipment_id == shipment_id).order_by(pkg_t.c.id)
            ).scalars()
        ]
        acks = conn.execute(
            select(acks_t).where(acks_t.c.package_id.in_(package_ids)).order_by(acks_t.c.acknowledged_at)
        ).all()
    acks_by_package: dict[int, list[Any]] = defaultdict(list)
    for a in acks:
        acks_by_package[int(a.package_id)].append(a)
    packages = []
    for number, (pkg_id, p, t) in enumerate(zip(package_ids, base["packages"], tracked["packages"], strict=True), 1):
        packages.append(
            {
                **p,
                **t,
                "id": pkg_id,
                "number": number,
                "acknowledgements": [
                    {
                        "exception_at": a.exception_at,
                        "reason": a.exception_reason,
                        "by": a.acknowledged_by,
                        "at": a.acknowledged_at,
                        "note": a.note,
                    }
                    for a in acks_by_package[pkg_id]
                ],
            }
        )
    promise_row = {
        "shipping_address": order.shipping_address,
        "promised_latest": order.promised_latest,
        "promise_outcome": tracked["promise_outcome"],
        "days_late": tracked["days_late"],
        "delivered_at": tracked["delivered_at"],
    }
    return {
        **base,
        "number": shipment_number(shipment_id),
        "fulfilment_order_id": int(base["fulfilment_order"].split("-")[-1]),
        "order_status": order.status,
        "customer_name": order.customer_name or (order.shipping_address or {}).get("name"),
        "customer_email": order.customer_email,
        "shipping_address": order.shipping_address,
        "delivered_at": tracked["delivered_at"],
        "promise_outcome": tracked["promise_outcome"],
        "days_late": tracked["days_late"],
        "promised_earliest": order.promised_earliest,
        "promised_latest": order.promised_latest,
        "destination_timezone": tracked["destination_timezone"],
        "promise": _promise(SimpleNamespace(**promise_row), now),
        "stage": shipment_stage((p["status"], p["exception_open"]) for p in packages),
        "packages": packages,
    }


# --------------------------------------------------------------------------- tracking exceptions


def open_exceptions(db: Database, *, now: dt.datetime | None = None, limit: int = 500) -> dict[str, Any]:
    """Packages with an open carrier exception, oldest first, with the order's customer and
    whether its promise is at risk; plus how many there are in all (the list stops at ``limit``)."""
    now = now or utcnow()
    stmt = (
        select(
            pkg_t.c.id.label("package_id"),
            pkg_t.c.tracking_number,
            pkg_t.c.tracking_status,
            pkg_t.c.exception_reason,
            pkg_t.c.exception_at,
            ship_t.c.id.label("shipment_id"),
            ship_t.c.carrier,
            ship_t.c.delivered_at,
            ship_t.c.promise_outcome,
            ship_t.c.days_late,
            ship_t.c.order_id,
            orders_t.c.shipping_address,
            orders_t.c.promised_latest,
            customers_t.c.name.label("customer_name"),
            customers_t.c.email.label("customer_email"),
        )
        .join(ship_t, ship_t.c.id == pkg_t.c.shipment_id)
        .join(orders_t, orders_t.c.id == ship_t.c.order_id)
        .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
        .where(pkg_t.c.exception_open.is_(True))
        .order_by(pkg_t.c.exception_at, pkg_t.c.id)
        .limit(limit)
    )
    with db.read() as conn:
        rows = conn.execute(stmt).all()
        total = int(
            conn.execute(select(func.count()).select_from(pkg_t).where(pkg_t.c.exception_open.is_(True))).scalar_one()
        )
        recent = conn.execute(
            select(acks_t, pkg_t.c.tracking_number, ship_t.c.id.label("shipment_id"), ship_t.c.order_id)
            .join(pkg_t, pkg_t.c.id == acks_t.c.package_id)
            .join(ship_t, ship_t.c.id == pkg_t.c.shipment_id)
            .order_by(acks_t.c.acknowledged_at.desc(), acks_t.c.id.desc())
            .limit(10)
        ).all()
    items = [
        {
            "package_id": int(r.package_id),
            "tracking_number": r.tracking_number,
            "status": r.tracking_status,
            "reason": r.exception_reason,
            "since": r.exception_at,
            "shipment_id": int(r.shipment_id),
            "shipment_number": shipment_number(int(r.shipment_id)),
            "carrier": r.carrier,
            "order_id": int(r.order_id),
            "order_number": rules.order_number(int(r.order_id)),
            "customer_name": r.customer_name or (r.shipping_address or {}).get("name"),
            "customer_email": r.customer_email,
            "promised_latest": r.promised_latest,
            "promise": _promise(r, now),
        }
        for r in rows
    ]
    acknowledged = [
        {
            "tracking_number": a.tracking_number,
            "shipment_id": int(a.shipment_id),
            "order_id": int(a.order_id),
            "order_number": rules.order_number(int(a.order_id)),
            "reason": a.exception_reason,
            "by": a.acknowledged_by,
            "at": a.acknowledged_at,
            "note": a.note,
        }
        for a in recent
    ]
    return {"items": items, "total": total, "acknowledged": acknowledged}


def acknowledge_exception(
    db: Database, package_id: int, *, exception_at: dt.datetime | None, note: str, actor: Actor
) -> dict[str, Any]:
    """A person has taken up a package's carrier exception: it leaves the dashboard alert, the
    acknowledgement is kept, and the order's timeline (and the outbox) says who and why.

    ``exception_at`` names the exception the person saw: if the carrier reported a newer one
    meanwhile, nothing changes and they are told, so nobody acknowledges a problem unread."""
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise validation_error("note", f"is longer than {MAX_NOTE} characters")
    if "\x00" in note:
        raise validation_error("note", "contains a NUL character")
    if package_id > _MAX_ID:
        raise NotFound("Package", str(package_id))
    now = utcnow()
    with db.begin() as conn:
        found = conn.execute(
            select(ship_t.c.order_id).join(pkg_t, pkg_t.c.shipment_id == ship_t.c.id).where(pkg_t.c.id == package_id)
        ).first()
        if found is None:
            raise NotFound("Package", str(package_id))
        order_id = int(found.order_id)
        # the house lock order: the order, then the package (as services/tracking.py takes them)
        conn.execute(select(orders_t.c.id).where(orders_t.c.id == order_id).with_for_update()).one()
        pkg = conn.execute(select(pkg_t).where(pkg_t.c.id == package_id).with_for_update()).one()
        if not pkg.exception_open or pkg.exception_at is None:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"package {pkg.tracking_number} has no open tracking exception: "
                "someone acknowledged it already, or a later scan cleared it",
            )
        if exception_at is not None and pkg.exception_at != exception_at:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"the carrier reported a newer exception on {pkg.tracking_number} "
                f"({pkg.exception_reason}); read it and acknowledge again",
                [FieldError("exception_at", "is not the package's open exception")],
            )
        ack = {"acknowledged_by": actor.name, "acknowledged_at": now, "note": note}
        same = and_(acks_t.c.package_id == package_id, acks_t.c.exception_at == pkg.exception_at)
        if conn.execute(select(acks_t.c.id).where(same)).first() is None:  # the package lock makes this safe
            conn.execute(
                insert(acks_t).values(
                    package_id=package_id, exception_at=pkg.exception_at, exception_reason=pkg.exception_reason, **ack
                )
            )
        else:
            conn.execute(update(acks_t).where(same).values(**ack))
        conn.execute(update(pkg_t).where(pkg_t.c.id == package_id).values(exception_open=False))
        ref = rules.order_number(order_id)
        data = {
            "shipment_id": int(pkg.shipment_id),
            "tracking_number": pkg.tracking_number,
            "exception_at": pkg.exception_at.isoformat(),
            "exception_reason": pkg.exception_reason,
            "note": note,
        }
        said = f": {note}" if note else ""
        record_order_event(
            conn,
            order_id=order_id,
            event_type=EventType.SHIPMENT_EXCEPTION_ACKNOWLEDGED,
            actor=actor.name,
            message=f"Tracking exception on {pkg.tracking_number} acknowledged ({pkg.exception_reason}){said}",
            data=data,
            publish={"order": {"id": order_id, "order_number": ref}, **data},
            now=now,
        )
    return {"order_id": order_id, "order_number": ref, **data}


# --------------------------------------------------------------------------- fulfilment queue counts


def open_work_counts(
    db: Database, location: str | None = None, *, old_before: dt.datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Per location code: open fulfilment orders by status, units still to ship, the oldest
    release and how many were released before ``old_before``, counted exactly with grouped
    COUNTs (the queue page lists at most 500 rows; its figures must not stop there)."""
    open_values = [s.value for s in OPEN_FO_STATUSES]
    loc_filter = [locations_t.c.code == location] if location else []
    with db.read() as conn:
        by_status = conn.execute(
            select(
                locations_t.c.code,
                fo_t.c.status,
                func.count().label("n"),
                func.min(fo_t.c.released_at).label("oldest"),
                func.sum(case((fo_t.c.released_at < old_before, 1), else_=0)).label("old")
                if old_before is not None
                else func.sum(0).label("old"),
            )
            .join(locations_t, locations_t.c.id == fo_t.c.location_id)
            .where(fo_t.c.status.in_(open_values), *loc_filter)
            .group_by(locations_t.c.code, fo_t.c.status)
        ).all()
        units = conn.execute(
            select(
                locations_t.c.code,
                func.sum(
                    fl_t.c.quantity - fl_t.c.quantity_shipped - fl_t.c.quantity_rejected - fl_t.c.quantity_cancelled
                ).label("units"),
            )
            .join(fo_t, fo_t.c.id == fl_t.c.fulfilment_order_id)
            .join(locations_t, locations_t.c.id == fo_t.c.location_id)
            .where(fo_t.c.status.in_(open_values), *loc_filter)
            .group_by(locations_t.c.code)
        ).all()
    out: dict[str, dict[str, Any]] = {}
    for r in by_status:
        entry = out.setdefault(str(r.code), {"open": 0, "units": 0, "old": 0, "by_status": {}, "oldest": None})
        entry["open"] += int(r.n)
        entry["old"] += int(r.old or 0)
        entry["by_status"][FulfilmentStatus(r.status).value] = int(r.n)
        oldest = r.oldest
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        if entry["oldest"] is None or (oldest is not None and oldest < entry["oldest"]):
            entry["oldest"] = oldest
    for r in units:
        if str(r.code) in out:
            out[str(r.code)]["units"] = int(r.units or 0)
    return out
