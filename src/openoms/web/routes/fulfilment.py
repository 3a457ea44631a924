"""Fulfilment pages: a location's queue and one fulfilment order worked through accept, pick,
pack and ship (or a line rejected), as a store or warehouse does it.

Every action is a POST form (CSRF checked by ``permitted``) that calls one fulfilment service
with the signed-in person as the actor and redirects back with a message. The ship form is the
one exception to "redirect with a message": a refused shipment comes back as the same page with
each problem next to its field (``packages[0].lines[0].quantity`` is the units box of that
line in package 1) and everything typed kept. A refusal changes nothing: the service raised
before committing. Releasing an order lives on the order page (routes/orders.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from openoms.domain import fulfillment as fx
from openoms.domain import pickup as px
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, NotFound
from openoms.domain.fulfillment import FulfilmentStatus, PackageInput, fulfilment_number
from openoms.services import catalog, fulfillment, order_search, pickup, shipment_views, sourcing
from openoms.services.common import utcnow
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import Errors, form_data, sentence
from openoms.web.routes.orders import actor_label
from openoms.web.routing_view import routing_view

router = APIRouter(include_in_schema=False)

FS = FulfilmentStatus
#: The open statuses in the order work moves through them: the queue's filter chips.
OPEN_STATUSES: tuple[FulfilmentStatus, ...] = (
    FS.RELEASED,
    FS.ACCEPTED,
    FS.PICKED,
    FS.PACKED,
    FS.PARTIALLY_SHIPPED,
    FS.READY_FOR_PICKUP,
)
CLOSED_STATUSES: tuple[FulfilmentStatus, ...] = (FS.SHIPPED, FS.PICKED_UP, FS.REJECTED, FS.CANCELLED)
#: The next step a location reports, its address and its button.
STEPS: Mapping[FulfilmentStatus, tuple[str, FulfilmentStatus, str]] = {
    FS.RELEASED: ("accept", FS.ACCEPTED, "Accept"),
    FS.ACCEPTED: ("pick", FS.PICKED, "Mark picked"),
    FS.PICKED: ("pack", FS.PACKED, "Mark packed"),
}
STEP_DONE = {
    FS.ACCEPTED: "accepted: pick its lines next",
    FS.PICKED: "marked picked: pack the units next",
    FS.PACKED: "marked packed: record the shipment below when the carrier has it",
}
#: Open work older than this is flagged in the queue.
OLD_HOURS = 24
OPEN_QUEUE_LIMIT = 500  # a location's open work, shown in full (and counted) up to this
CLOSED_PAGE = 50
MAX_FORM_PACKAGES = 50  # packages read from one form; the service allows more through the API
MAX_REASON = 500
MAX_CARRIER = 64
MAX_ID = 2**63 - 1
COMMON_CARRIERS = ("UPS", "FedEx", "USPS", "DHL", "OnTrac", "Local courier")

_PACKAGE_FIELD = re.compile(r"^packages\[(\d{1,4})\]\.")
_OVER_LINE = re.compile(r"^line (\d+) ")
_SERVICE_FIELD = re.compile(r"^packages\[(\d+)\](?:\.(tracking_number|weight_grams|lines)(?:\[(\d+)\]\.\w+)?)?$")


# --- helpers -----------------------------------------------------------------------------------


def _fo_id(number: int) -> int:
    """An id no database can hold is a fulfilment order that does not exist (not a 500)."""
    if number > MAX_ID:
        raise NotFound("Fulfilment order", fulfilment_number(number))
    return number


def age_text(since: dt.datetime | None, now: dt.datetime) -> str:
    """How long work has waited, short enough for a table cell: 25 min, 3 h, 2 d 4 h."""
    if since is None:
        return "—"
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h"
    days, rest = divmod(hours, 24)
    return f"{days} d {rest} h" if rest else f"{days} d"


def _hours(since: dt.datetime | None, now: dt.datetime) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return (now - since).total_seconds() / 3600


def _locations(request: Request) -> list[dict[str, Any]]:
    return catalog.LOCATIONS.list(request.app.state.db, after_id=None, limit=10_000)


def _queue_row(fo: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    lines = fo["lines"]
    return {
        **fo,
        "age": age_text(fo["released_at"], now),
        "old": fo["status"] in fx.OPEN and _hours(fo["released_at"], now) >= OLD_HOURS,
        "line_count": len(lines),
        "units": sum(ln["quantity"] for ln in lines),
        "units_open": sum(ln["quantity_open"] for ln in lines),
    }


def _refusal(exc: DomainError) -> str:
    """A refused command in words, ending with "Nothing changed." A missing record stays a 404."""
    if exc.code == ErrorCode.NOT_FOUND:
        raise exc
    if exc.errors and exc.code == ErrorCode.VALIDATION_ERROR:
        text = "; ".join(sentence(e.reason).rstrip(".") for e in exc.errors)
    else:
        text = exc.message
    return sentence(text[:1].upper() + text[1:]) + " Nothing changed."


def _act(fo_id: int, run: Callable[[], str]) -> Response:
    """Run one action and come back to the fulfilment order with its message or refusal."""
    target = f"/fulfilment/{_fo_id(fo_id)}"
    try:
        message = run()
    except DomainError as exc:
        return redirect(target, _refusal(exc), "error")
    return redirect(target, message)


# --- the queue ---------------------------------------------------------------------------------


@router.get("/fulfilment", response_class=HTMLResponse)
def queue(request: Request, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))) -> Any:
    """Without a location: every location with its open work. With one: its fulfilment orders,
    oldest first, filtered by status (open work by default)."""
    db = request.app.state.db
    now = utcnow()
    code = (request.query_params.get("location") or "").strip()
    wanted = (request.query_params.get("status") or "open").strip()
    locations = _locations(request)
    by_code = {str(loc["code"]): loc for loc in locations}
    if code and code not in by_code:
        raise NotFound("Location", code)
    # Exact figures from grouped counts; the rows themselves stop at OPEN_QUEUE_LIMIT.
    totals = shipment_views.open_work_counts(db, code or None, old_before=now - dt.timedelta(hours=OLD_HOURS))
    context: dict[str, Any] = {
        "locations": locations,
        "location": by_code.get(code),
        "open_statuses": OPEN_STATUSES,
        "closed_statuses": CLOSED_STATUSES,
        "old_hours": OLD_HOURS,
        "limit": OPEN_QUEUE_LIMIT,
    }
    if not code:
        overview = []
        for loc in locations:
            t = totals.get(str(loc["code"]), {"open": 0, "units": 0, "old": 0, "by_status": {}, "oldest": None})
            if not t["open"] and not loc.get("active", True):
                continue
            overview.append(
                {
                    "location": loc,
                    "open": t["open"],
                    "units": t["units"],
                    "counts": [(s, t["by_status"][s.value]) for s in OPEN_STATUSES if t["by_status"].get(s.value)],
                    "oldest": {"age": age_text(t["oldest"], now)} if t["oldest"] else None,
                    "old": t["old"],
                }
            )
        overview.sort(key=lambda o: (-o["open"], str(o["location"]["code"])))
        context["overview"] = overview
        return page(request, "fulfilment/queue.html", context, user=user, title="Fulfilment")

    open_work = [
        _queue_row(fo, now)
        for fo in fulfillment.list_fulfilment_orders(db, location=code, status=OPEN_STATUSES, limit=OPEN_QUEUE_LIMIT)
    ]
    here = totals.get(code, {"open": 0, "units": 0, "old": 0, "by_status": {}})
    context["capped"] = here["open"] > len(open_work)
    try:
        status = None if wanted == "open" else FulfilmentStatus(wanted)
    except ValueError:
        status = None
        wanted = "open"
    counts = Counter(here["by_status"])
    after = request.query_params.get("after")
    after_id = int(after) if after and after.isascii() and after.isdigit() and len(after) < 19 else None
    next_url = None
    if status is None:
        rows = open_work
    elif status in fx.OPEN:
        rows = [r for r in open_work if r["status"] == status.value]
    else:
        found = fulfillment.list_fulfilment_orders(
            db, location=code, status=[status], after_id=after_id, limit=CLOSED_PAGE
        )
        rows = [_queue_row(fo, now) for fo in found]
        if len(found) == CLOSED_PAGE:
            next_url = "/fulfilment?" + urlencode({"location": code, "status": status.value, "after": found[-1]["id"]})
    context.update(
        {
            "pickups": [_pickup_row(p, now) for p in pickup.awaiting_collection(db, code, now)],
            "rows": rows,
            "status": wanted,
            "counts": counts,
            "open_total": here["open"],
            "units_open": here["units"],
            "old_count": here["old"],
            "shown": len(open_work),
            "next_url": next_url,
            "paged": after_id is not None,
        }
    )
    return page(request, "fulfilment/queue.html", context, user=user, title=f"Fulfilment · {code}")


# --- one fulfilment order ------------------------------------------------------------------------


def _default_form(fo: Mapping[str, Any], suggestion: Mapping[str, Any] | None) -> dict[str, Any]:
    """One package holding every open unit: the usual case, typed in one go."""
    return {
        "carrier": str((suggestion or {}).get("carrier") or ""),
        "service_code": str((suggestion or {}).get("service_code") or ""),
        "packages": [
            {
                "tracking_number": "",
                "weight_grams": "",
                "lines": {ln["line_number"]: str(ln["quantity_open"]) for ln in fo["lines"] if ln["quantity_open"]},
            }
        ],
    }


def _fo_page(
    request: Request,
    fo_id: int,
    user: CurrentUser,
    *,
    form: dict[str, Any] | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
    handover_error: str | None = None,
    handover_form: dict[str, Any] | None = None,
) -> Response:
    db = request.app.state.db
    settings = request.app.state.settings
    fo = fulfillment.get_fulfilment_order(db, _fo_id(fo_id))
    order = order_search.order_page(db, int(fo["order_id"]), now=utcnow(), sla_hours=settings.release_sla_hours)
    names = {int(ln["line_number"]): ln.get("product_name") for ln in order["lines"]}
    for ln in fo["lines"]:
        ln["product_name"] = names.get(int(ln["line_number"]))
    shipments = [fulfillment.get_shipment(db, sid) for sid in fo["shipments"]]
    locations = {str(loc["code"]): loc for loc in _locations(request)}
    location = locations.get(str(fo["location"]), {"code": fo["location"], "name": fo["location"]})
    location_names = {code: str(loc["name"]) for code, loc in locations.items()}
    routing = routing_view(
        sourcing.list_decisions(db, int(fo["order_id"])), order["lines"], location_names, order["currency"]
    )
    suggestion = None
    if routing and routing["current"]:
        suggestion = next(
            (s for s in routing["current"].get("shipments") or [] if s["location"] == fo["location"]), None
        )
    status = FulfilmentStatus(fo["status"])
    can_work = user.can(Permission.FULFILMENT_WORK)
    units_open = sum(ln["quantity_open"] for ln in fo["lines"])
    collect = pickup.pickup_by_fo(db, _fo_id(fo_id))
    steps = [
        ("Released", fo["released_at"], True),
        ("Accepted", fo["accepted_at"], fo["accepted_at"] is not None),
        ("Picked", fo["picked_at"], fo["picked_at"] is not None),
        ("Packed", fo["packed_at"], fo["packed_at"] is not None),
        (
            "Shipped" if status != FS.PARTIALLY_SHIPPED else "Partly shipped",
            shipments[-1]["shipped_at"] if shipments else None,
            bool(shipments),
        ),
    ]
    if collect is not None:  # collected at the store: ready, then handed over
        steps[-1:] = [
            ("Ready for pickup", collect["ready_at"], collect["ready_at"] is not None),
            ("Picked up", collect["collected_at"], collect["collected_at"] is not None),
        ]
    if status in (FS.REJECTED, FS.CANCELLED):
        steps[-1] = (status.value.capitalize(), fo["closed_at"], True)
    return page(
        request,
        "fulfilment/detail.html",
        {
            "fo": fo,
            "order": order,
            "location": location,
            "shipments": shipments,
            "steps": steps,
            "next_step": STEPS.get(status) if can_work else None,
            "can_ship": can_work and collect is None and status in fx.SHIPPABLE and units_open > 0,
            "pickup": collect,
            "pickup_view": _pickup_detail(collect, now=utcnow()) if collect else None,
            "can_ready": can_work and collect is not None and status in px.READYABLE and units_open > 0,
            "can_hand_over": can_work and collect is not None and status == FS.READY_FOR_PICKUP,
            "can_arrive": can_work
            and collect is not None
            and collect["method"] == px.FulfilmentMethod.CURBSIDE.value
            and collect["arrived_at"] is None
            and status in fx.OPEN,
            "handover_error": handover_error,
            "handover_form": handover_form or {},
            "can_reject": can_work and status in fx.OPEN and collect is None,  # pickups stay at their store
            "is_open": status in fx.OPEN,
            "units_open": units_open,
            "form": form or _default_form(fo, suggestion),
            "errors": errors or {},
            "error_labels": error_labels(errors or {}, fo["lines"]),
            "suggestion": suggestion,
            "carriers": COMMON_CARRIERS,
            "actor_label": actor_label,
            "max_reason": MAX_REASON,
            "max_tracking": fx.MAX_TRACKING,
            "max_carrier": MAX_CARRIER,
            "max_packages": MAX_FORM_PACKAGES,
        },
        user=user,
        title=fo["number"],
        status_code=status_code,
    )


def error_labels(errors: Errors, lines: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What the error summary calls each field: "Package 2, line 1 (TEE-BLK-M)"."""
    skus = {int(ln["line_number"]): ln["sku"] for ln in lines}
    out: dict[str, str] = {}
    for key in errors:
        m = re.match(r"^packages\[(\d+)\](?:\.(tracking_number|weight_grams|line\.(\d+)))?$", key)
        if key == "carrier":
            out[key] = "Carrier"
        elif key == "service_code":
            out[key] = "Service code"
        elif m:
            box = f"Package {int(m.group(1)) + 1}"
            if m.group(2) == "tracking_number":
                box += ", tracking number"
            elif m.group(2) == "weight_grams":
                box += ", weight"
            elif m.group(3):
                n = int(m.group(3))
                box += f", line {n} ({skus.get(n, '?')})"
            out[key] = box
    return out


@router.get("/fulfilment/{fo_id:int}", response_class=HTMLResponse)
def fulfilment_order(
    request: Request, fo_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))
) -> Any:
    return _fo_page(request, fo_id, user)


@router.get("/fulfilment/FO-{number:int}", response_class=HTMLResponse)
def fulfilment_order_by_number(
    request: Request, number: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))
) -> Any:
    """Fulfilment order numbers work as addresses too: /fulfilment/FO-0000042."""
    return _fo_page(request, number, user)


# --- progress and rejections --------------------------------------------------------------------


def _progress(request: Request, fo_id: int, target: FulfilmentStatus, user: CurrentUser) -> Response:
    def run() -> str:
        fo = fulfillment.report_progress(request.app.state.db, fo_id, target, user.actor)
        return f"{fo['number']} {STEP_DONE[target]}."

    return _act(fo_id, run)


@router.post("/fulfilment/{fo_id:int}/accept")
def accept(
    request: Request, fo_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK))
) -> Response:
    return _progress(request, fo_id, FS.ACCEPTED, user)


@router.post("/fulfilment/{fo_id:int}/pick")
def pick(request: Request, fo_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK))) -> Response:
    return _progress(request, fo_id, FS.PICKED, user)


@router.post("/fulfilment/{fo_id:int}/pack")
def pack(request: Request, fo_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK))) -> Response:
    return _progress(request, fo_id, FS.PACKED, user)


@router.post("/fulfilment/{fo_id:int}/lines/{line_number:int}/reject")
def reject_line(
    request: Request,
    fo_id: int,
    line_number: int,
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK)),
) -> Response:
    """The location will not ship the line (not found, damaged): routing moves its open units
    to another location or backorders them."""

    def run() -> str:
        why = reason.strip()
        if not why:
            raise _Problem(ErrorCode.VALIDATION_ERROR, "Reason for rejecting the line is required")
        if len(why) > MAX_REASON:
            raise _Problem(ErrorCode.VALIDATION_ERROR, f"Reason is too long: at most {MAX_REASON} characters")
        if line_number > 10**6:
            raise NotFound("Fulfilment line", str(line_number))
        result = fulfillment.reject_line(request.app.state.db, fo_id, line_number, why, user.actor)
        return f"Line {line_number} rejected. " + sentence(str(result["message"]))

    return _act(fo_id, run)


class _Problem(DomainError):
    """Input the form should not have sent: reported like a refusal, nothing is called."""


# --- shipping ----------------------------------------------------------------------------------


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _read_ship_form(
    form: FormData, lines: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[int, PackageInput, list[int]]], Errors]:
    """The ship form as typed (to show again), the packages to send the service (with the form
    index of each and the line number behind each of its ``lines[i]``), and what cannot even be
    sent (not a number, too long)."""
    errors: Errors = {}
    values: dict[str, Any] = {"carrier": _text(form, "carrier"), "service_code": _text(form, "service_code")}
    if not values["carrier"]:
        errors["carrier"] = "Required: the carrier taking the parcels, such as UPS."
    elif len(values["carrier"]) > MAX_CARRIER:
        errors["carrier"] = f"At most {MAX_CARRIER} characters."
    if len(values["service_code"]) > MAX_CARRIER:
        errors["service_code"] = f"At most {MAX_CARRIER} characters."
    indices = sorted({int(m.group(1)) for key in form if (m := _PACKAGE_FIELD.match(key))} | {0})
    numbers = [int(ln["line_number"]) for ln in lines]
    typed: list[dict[str, Any]] = []
    for i in indices[:MAX_FORM_PACKAGES]:
        pkg: dict[str, Any] = {
            "tracking_number": _text(form, f"packages[{i}].tracking_number"),
            "weight_grams": _text(form, f"packages[{i}].weight_grams"),
            "lines": {n: _text(form, f"packages[{i}].line.{n}") for n in numbers},
        }
        blank = not pkg["tracking_number"] and not pkg["weight_grams"] and not any(pkg["lines"].values())
        if blank and typed:  # an extra package added and left empty
            continue
        typed.append(pkg)
    if len(indices) > MAX_FORM_PACKAGES:
        errors[""] = f"At most {MAX_FORM_PACKAGES} packages in one shipment here; send more in a second shipment."
    values["packages"] = typed
    packages: list[tuple[int, PackageInput, list[int]]] = []
    for p, pkg in enumerate(typed):
        weight: int | None = None
        w = pkg["weight_grams"]
        if w:
            if w.isascii() and w.isdigit() and len(w) <= 9:
                weight = int(w)
            else:
                errors[f"packages[{p}].weight_grams"] = "Enter the weight in whole grams, such as 1200."
        contents: list[tuple[int, int]] = []
        behind: list[int] = []
        for n, q in pkg["lines"].items():
            if not q:
                continue
            if not (q.isascii() and q.isdigit()) or len(q) > 9:
                errors[f"packages[{p}].line.{n}"] = "Enter a whole number of units."
                continue
            if int(q) == 0:
                continue  # not in this package
            contents.append((n, int(q)))
            behind.append(n)
        packages.append((p, PackageInput(pkg["tracking_number"], weight, contents), behind))
    return values, packages, errors


def _service_errors(exc: DomainError, behind: Mapping[int, list[int]]) -> Errors:
    """The service's field errors on the form's fields: ``packages[0].lines[1].quantity`` is the
    units box of the second line put in package 1; the rest goes to the form as a whole."""
    errors: Errors = {}
    for e in exc.errors:
        target = ""
        m = _SERVICE_FIELD.match(e.field)
        if m:
            p = int(m.group(1))
            part = m.group(2)
            if part in ("tracking_number", "weight_grams"):
                target = f"packages[{p}].{part}"
            elif part == "lines" and m.group(3) is not None:
                lines = behind.get(p, [])
                i = int(m.group(3))
                target = f"packages[{p}].line.{lines[i]}" if i < len(lines) else f"packages[{p}]"
            else:
                target = f"packages[{p}]"
        elif e.field == "packages" and (over := _OVER_LINE.match(e.reason)):
            # More units than are open: marked on the first package that holds the line.
            n = int(over.group(1))
            target = next((f"packages[{p}].line.{n}" for p, lines in sorted(behind.items()) if n in lines), "")
        if target in errors or (not target and "" in errors):
            if not target:
                errors[""] += " " + sentence(e.reason)
            continue
        errors[target] = sentence(e.reason)
    if not errors:
        errors[""] = sentence(exc.message)
    return errors


@router.post("/fulfilment/{fo_id:int}/shipments")
def ship(
    request: Request,
    fo_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK)),
) -> Response:
    """Record a shipment: carrier, service and one or more packages with their units."""
    db = request.app.state.db
    fo = fulfillment.get_fulfilment_order(db, _fo_id(fo_id))
    values, packages, errors = _read_ship_form(form, fo["lines"])
    if not errors:
        try:
            shipment = fulfillment.ship(
                db,
                fo_id,
                carrier=values["carrier"],
                service_code=values["service_code"] or None,
                packages=[pkg for _, pkg, _ in packages],
                actor=user.actor,
            )
        except DomainError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise
            if exc.code != ErrorCode.VALIDATION_ERROR:
                return redirect(f"/fulfilment/{fo_id}", _refusal(exc), "error")
            errors = _service_errors(exc, {p: behind for p, _, behind in packages})
        else:
            after = fulfillment.get_fulfilment_order(db, fo_id)
            units = sum(ln["quantity"] for p in shipment["packages"] for ln in p["lines"])
            tracking = ", ".join(p["tracking_number"] for p in shipment["packages"])
            n = len(shipment["packages"])
            state = (
                "is shipped: nothing left to send"
                if after["status"] == FS.SHIPPED.value
                else f"is {after['status'].replace('_', ' ')}: "
                f"{sum(ln['quantity_open'] for ln in after['lines'])} unit(s) still open"
            )
            return redirect(
                f"/fulfilment/{fo_id}",
                f"Shipped {units} unit{'s' if units != 1 else ''} in {n} package{'s' if n != 1 else ''} "
                f"by {shipment['carrier']}, tracking {tracking}. {after['number']} {state}.",
            )
    return _fo_page(request, fo_id, user, form=values, errors=errors, status_code=422)


# --- pickup: ready, hand-over with the code, curbside arrival (docs/pickup.md) -------------------


def _pickup_row(p: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    expires = p["expires_at"]
    return {
        **p,
        "waiting": age_text(p["ready_at"], now) if p["ready_at"] else None,
        "expires_soon": expires is not None and (expires - now) <= dt.timedelta(days=1),
        "expired": expires is not None and expires <= now,
    }


def _pickup_detail(p: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The hold as the store reads it: the last day, in the store's own timezone."""
    expires = p["expires_at"]
    last_day = (expires - dt.timedelta(seconds=1)).astimezone(ZoneInfo(p["timezone"])) if expires else None
    return {
        "held_until": f"{last_day:%a} {last_day.day} {last_day:%b}, end of day" if last_day else None,
        "waiting": age_text(p["ready_at"], now) if p["ready_at"] else None,
        "locked": p["locked_until"] is not None and p["locked_until"] > now,
        "expires_soon": expires is not None and (expires - now) <= dt.timedelta(days=1),
    }


@router.post("/fulfilment/{fo_id:int}/ready")
def ready_for_pickup(
    request: Request, fo_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK))
) -> Response:
    """The order is at the counter: the customer is told to come with their code."""

    def run() -> str:
        fo = pickup.mark_ready(request.app.state.db, _fo_id(fo_id), user.actor)
        return f"{fo['number']} is ready for pickup: the customer is told to come with their pickup code."

    return _act(fo_id, run)


@router.post("/fulfilment/{fo_id:int}/pickup")
def hand_over(
    request: Request,
    fo_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK)),
) -> Response:
    """Hand the order to the customer who shows the right code; a wrong one comes back on the
    same page with the error next to the code box."""
    raw = form.get("code")
    code = raw.strip() if isinstance(raw, str) else ""
    id_checked = form.get("id_checked") == "yes"
    problem = None
    if not code:
        problem = "Enter the pickup code the customer shows (6 digits)."
    elif len(code) > 32:
        problem = "That is not a pickup code: it has 6 digits."
    else:
        try:
            fo = pickup.hand_over(request.app.state.db, _fo_id(fo_id), code, user.actor, id_checked=id_checked)
        except DomainError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise
            if not any(e.field == "code" for e in exc.errors):
                return redirect(f"/fulfilment/{fo_id}", _refusal(exc), "error")
            problem = sentence(exc.errors[0].reason[:1].upper() + exc.errors[0].reason[1:])
        else:
            units = sum(ln["quantity_shipped"] for ln in fo["lines"])
            return redirect(
                f"/fulfilment/{fo_id}",
                f"Handed over: {units} unit{'s' if units != 1 else ''} collected by the customer. "
                f"{fo['number']} is picked up and the order is delivered.",
            )
    return _fo_page(
        request,
        fo_id,
        user,
        status_code=422,
        handover_error=problem,
        handover_form={"code": code[:32], "id_checked": id_checked},
    )


@router.post("/fulfilment/{fo_id:int}/arrived")
def customer_arrived(
    request: Request,
    fo_id: int,
    vehicle: str = Form(""),
    bay: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.FULFILMENT_WORK)),
) -> Response:
    """Curbside: the customer is outside; the queue shows them first."""

    def run() -> str:
        if len(vehicle) > 120 or len(bay) > 20:
            raise _Problem(ErrorCode.VALIDATION_ERROR, "Vehicle (120) or bay (20 characters) is too long")
        fo = pickup.customer_arrived(request.app.state.db, _fo_id(fo_id), user.actor, vehicle=vehicle, bay=bay)
        return f"Customer for {fo['number']} is outside: bring the order out."

    return _act(fo_id, run)
