"""Shipment and tracking pages: every shipment across orders (newest first, filters, keyset
pages), one shipment with its packages, documents and tracking history, and the open carrier
exceptions with the "Acknowledge" action that clears the dashboard alert.

The queries live in services/shipment_views.py; this module parses the query string and the
acknowledge form and renders. A bad filter is reported next to the filters and left out (the
page still lists shipments), as the orders list does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, NotFound
from openoms.domain.shipment_status import STAGE_LABELS, ShipmentStage
from openoms.services import catalog, documents, shipment_views
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import sentence
from openoms.web.routes.orders import actor_label

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
FILTER_STAGES = (
    ShipmentStage.LABEL_CREATED,
    ShipmentStage.IN_TRANSIT,
    ShipmentStage.OUT_FOR_DELIVERY,
    ShipmentStage.AVAILABLE_FOR_PICKUP,
    ShipmentStage.DELIVERED,
    ShipmentStage.EXCEPTION,
    ShipmentStage.RETURNED_TO_SENDER,
    ShipmentStage.CANCELLED,
)
FILTER_NAMES = ("q", "location", "carrier", "status", "shipped_from", "shipped_to")


def _id(value: int, what: str) -> int:
    """An id no database can hold is a record that does not exist (404, not a 500)."""
    if value > MAX_ID:
        raise NotFound(what, str(value))
    return value


@router.get("/shipments", response_class=HTMLResponse)
def shipments(request: Request, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))) -> Any:
    """Every shipment, newest first: filter by location, carrier, tracking status, shipped
    date or a tracking / order number; 50 a page."""
    db = request.app.state.db
    params = request.query_params
    filters, errors = shipment_views.parse_filters(params)
    before = (params.get("before") or "").strip()
    before_id = int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None
    result = shipment_views.list_shipments(db, filters, before_id=before_id)
    kept = {k: (params.get(k) or "").strip() for k in FILTER_NAMES if (params.get(k) or "").strip()}
    next_url = None
    if result["next_before"] is not None:
        next_url = "/shipments?" + urlencode({**kept, "before": result["next_before"]})
    return page(
        request,
        "shipments/list.html",
        {
            "result": result,
            "filters": filters,
            "values": kept,
            "errors": errors,
            "filtered": bool(kept),
            "paged": before_id is not None,
            "first_url": "/shipments" + ("?" + urlencode(kept) if kept else ""),
            "next_url": next_url,
            "locations": catalog.LOCATIONS.list(db, after_id=None, limit=10_000),
            "carriers": shipment_views.carriers_in_use(db),
            "stages": FILTER_STAGES,
            "stage_labels": STAGE_LABELS,
        },
        user=user,
        title="Shipments",
    )


@router.get("/shipments/{shipment_id:int}", response_class=HTMLResponse)
def shipment(
    request: Request, shipment_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))
) -> Any:
    """One shipment: packages, contents, labels and packing slip, tracking history, promise."""
    detail = shipment_views.shipment_detail(request.app.state.db, _id(shipment_id, "Shipment"))
    return page(
        request,
        "shipments/detail.html",
        {"s": detail, "stage_labels": STAGE_LABELS, "actor_label": actor_label},
        user=user,
        title=f"Shipment {detail['number']}",
    )


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/shipments/{shipment_id:int}/packing-slip.pdf")
def packing_slip(
    request: Request, shipment_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))
) -> Response:
    sid = _id(shipment_id, "Shipment")
    data = documents.packing_slip(request.app.state.db, sid)
    return _pdf(data, f"{shipment_views.shipment_number(sid)}-packing-slip.pdf")


@router.get("/shipments/{shipment_id:int}/packages/{package_number:int}/label.{fmt}")
def label(
    request: Request,
    shipment_id: int,
    package_number: int,
    fmt: Literal["pdf", "zpl"],
    user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW)),
) -> Response:
    """A package's 4 x 6 label: PDF for any printer, ZPL for a thermal printer."""
    sid = _id(shipment_id, "Shipment")
    if package_number > 10_000:
        raise NotFound("Package", str(package_number))
    data = documents.shipping_label(request.app.state.db, sid, package_number, zpl=fmt == "zpl")
    name = f"{shipment_views.shipment_number(sid)}-{package_number}.{fmt}"
    if isinstance(data, str):
        return Response(
            data,
            media_type="text/plain; charset=us-ascii",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return _pdf(data, name)


# --- tracking exceptions -----------------------------------------------------------------------


@router.get("/tracking/exceptions", response_class=HTMLResponse)
def exceptions(request: Request, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))) -> Any:
    """Parcels a carrier reported a problem with, oldest first, until someone acknowledges them
    or a later scan clears them; and the latest acknowledgements."""
    found = shipment_views.open_exceptions(request.app.state.db)
    return page(
        request,
        "shipments/exceptions.html",
        {"found": found, "actor_label": actor_label},
        user=user,
        title="Tracking exceptions",
    )


@router.post("/tracking/exceptions/{package_id:int}/acknowledge")
def acknowledge(
    request: Request,
    package_id: int,
    note: str = Form(""),
    exception_at: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.TRACKING_RESOLVE)),
) -> Response:
    """Take up one exception: it leaves the dashboard alert; who and the note go on the order's
    timeline. Refused (and nothing changed) if the carrier reported a newer exception since the
    page was loaded, or someone else acknowledged it first."""
    target = "/tracking/exceptions"
    try:
        seen = dt.datetime.fromisoformat(exception_at) if exception_at else None
        if seen is not None and seen.tzinfo is None:
            seen = None
    except ValueError:
        seen = None
    try:
        done = shipment_views.acknowledge_exception(
            request.app.state.db, _id(package_id, "Package"), exception_at=seen, note=note, actor=user.actor
        )
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        text = "; ".join(e.reason for e in exc.errors) if exc.code == ErrorCode.VALIDATION_ERROR else exc.message
        if exc.code == ErrorCode.VALIDATION_ERROR:
            text = f"Note {text}"
        return redirect(target, sentence(text[:1].upper() + text[1:]) + " Nothing changed.", "error")
    return redirect(
        target,
        f"Acknowledged the exception on {done['tracking_number']} ({done['order_number']}); "
        "it is off the dashboard and on the order's timeline.",
    )
