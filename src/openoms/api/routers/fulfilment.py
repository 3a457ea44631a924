"""Release to fulfilment, fulfilment orders (the locations' work), shipments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field, StringConstraints

from openoms.adapters.documents import PaperSize
from openoms.api.deps import DB, actor_of, list_location, order_id_of, require
from openoms.api.schemas import COMMON_ERRORS, MAX_ORDER_LINES, Quantity, Reason, Strict, UtcDatetime, error_responses
from openoms.domain.errors import validation_error
from openoms.domain.fulfillment import (
    MAX_PACKAGES,
    MAX_TRACKING,
    FulfilmentStatus,
    PackageInput,
    fulfilment_number,
    parse_fulfilment_number,
)
from openoms.services import documents, fulfillment, pickup
from openoms.services.apikeys import Principal
from openoms.services.common import decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1", tags=["fulfilment"], responses=COMMON_ERRORS)
Worker = Annotated[Principal, Depends(require("fulfilment:write"))]
FoRef = Annotated[str, Path(description="Fulfilment order id (42) or number (FO-0000042)")]
OrderRef = Annotated[str, Path(description="Order id (123) or order number (SO-0000123)")]
ERRORS = error_responses(404, 409)


def _fo_id(ref: str) -> int:
    num = parse_fulfilment_number(ref)
    if num is None or num > 2**63 - 1:
        raise validation_error("fulfilment_order", f"{ref!r} is neither an id nor a number like FO-0000042")
    return num


class FulfilmentLineRead(BaseModel):
    line_number: int
    sku: str
    quantity: int
    quantity_shipped: int
    quantity_rejected: int
    quantity_cancelled: int
    quantity_open: int


class FulfilmentOrderRead(BaseModel):
    id: int
    number: str
    order_id: int
    order_number: str
    location: str
    status: FulfilmentStatus
    released_by: str
    released_at: dt.datetime
    accepted_at: dt.datetime | None
    picked_at: dt.datetime | None
    packed_at: dt.datetime | None
    closed_at: dt.datetime | None
    lines: list[FulfilmentLineRead]
    shipments: list[int] = Field(description="Shipment ids: GET /shipments/{id}")


class FulfilmentPage(BaseModel):
    items: list[FulfilmentOrderRead]
    next_cursor: str | None


class PackageLineIn(Strict):
    line_number: Annotated[int, Field(ge=1, le=MAX_ORDER_LINES)]
    quantity: Quantity


class PackageIn(Strict):
    tracking_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TRACKING)]
    weight_grams: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    lines: Annotated[list[PackageLineIn], Field(min_length=1, max_length=MAX_ORDER_LINES)]


class ShipmentCreate(Strict):
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = Field(
        examples=["UPS"]
    )
    service_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = Field(
        default=None, examples=["UPS-GROUND"]
    )
    shipped_at: UtcDatetime | None = Field(default=None, description="When it left; now when omitted")
    packages: Annotated[list[PackageIn], Field(min_length=1, max_length=MAX_PACKAGES)]


class PackageRead(BaseModel):
    tracking_number: str
    weight_grams: int | None
    label_cost: Decimal | None = Field(default=None, description="When OpenOMS bought the label")
    label_currency: str | None = None
    lines: list[dict[str, Any]]


class LabelPackageIn(Strict):
    weight_grams: Annotated[int, Field(ge=1, le=1_000_000)]
    lines: Annotated[list[PackageLineIn], Field(min_length=1, max_length=MAX_ORDER_LINES)]


class LabelsCreate(Strict):
    service_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = Field(
        default=None, description="A service of the rate table; the cheapest of the order's level when omitted"
    )
    packages: Annotated[list[LabelPackageIn], Field(min_length=1, max_length=MAX_PACKAGES)]


class ShipmentRead(BaseModel):
    id: int
    fulfilment_order: str
    order_id: int
    order_number: str
    location: str
    carrier: str
    service_code: str | None
    shipped_at: dt.datetime
    created_by: str
    packages: list[PackageRead]


class LineReject(Strict):
    reason: Reason


class RejectRead(BaseModel):
    fulfilment_order: FulfilmentOrderRead
    moved: list[dict[str, Any]]
    backordered: list[dict[str, Any]]
    message: str


@router.post("/orders/{order}/release", response_model=list[FulfilmentOrderRead], status_code=201, responses=ERRORS)
def release_order(
    db: DB, order: OrderRef, principal: Annotated[Principal, Depends(require("orders:write"))]
) -> list[dict[str, Any]]:
    """Hand the order to its locations: one fulfilment order per location holding its stock.
    Refused (409) while it is on hold or not allocated."""
    return fulfillment.release_order(db, order_id_of(order), actor_of(principal))


@router.get("/fulfilment-orders", response_model=FulfilmentPage)
def list_fulfilment_orders(
    db: DB,
    principal: Annotated[Principal, Depends(require("fulfilment:read"))],
    location: Annotated[str | None, Query(description="A location's queue")] = None,
    status: Annotated[list[FulfilmentStatus] | None, Query(description="Repeat for several")] = None,
    order: Annotated[str | None, Query(description="One order's fulfilment orders")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Oldest first, so a location works its queue in order. A location-bound key sees only
    its location's queue."""
    location, visible = list_location(principal, location)
    if not visible:
        return {"items": [], "next_cursor": None}
    items = fulfillment.list_fulfilment_orders(
        db,
        location=location,
        status=status or (),
        order_id=order_id_of(order) if order else None,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if len(items) == limit else None}


@router.get(
    "/fulfilment-orders/{fo}",
    response_model=FulfilmentOrderRead,
    dependencies=[Depends(require("fulfilment:read"))],
    responses=error_responses(404),
)
def get_fulfilment_order(db: DB, fo: FoRef) -> dict[str, Any]:
    return fulfillment.get_fulfilment_order(db, _fo_id(fo))


@router.post(
    "/fulfilment-orders/{fo}/shipments",
    response_model=ShipmentRead,
    status_code=201,
    responses=error_responses(404, 409),
)
def ship(db: DB, fo: FoRef, body: ShipmentCreate, principal: Worker) -> dict[str, Any]:
    """Record a shipment of some or all open units, in one or more packages. Shipping takes the
    units off the shelf and out of the reservation together (ledger `shipment` rows); the
    order's lines and status follow. 422 names every package line that does not fit."""
    return fulfillment.ship(
        db,
        _fo_id(fo),
        carrier=body.carrier,
        service_code=body.service_code,
        packages=[
            PackageInput(p.tracking_number, p.weight_grams, [(ln.line_number, ln.quantity) for ln in p.lines])
            for p in body.packages
        ],
        actor=actor_of(principal),
        shipped_at=body.shipped_at,
    )


@router.post("/fulfilment-orders/{fo}/lines/{line_number}/reject", response_model=RejectRead, responses=ERRORS)
def reject_line(
    db: DB,
    fo: FoRef,
    body: LineReject,
    principal: Worker,
    line_number: Annotated[int, Path(ge=1, le=MAX_ORDER_LINES)],
) -> dict[str, Any]:
    """The location will not ship this line: its open units are routed elsewhere (or
    backordered) in the same transaction, and the timeline says where they went."""
    return fulfillment.reject_line(db, _fo_id(fo), line_number, body.reason, actor_of(principal))


@router.get(
    "/orders/{order}/shipments",
    response_model=list[ShipmentRead],
    dependencies=[Depends(require("orders:read"))],
    responses=error_responses(404),
)
def order_shipments(db: DB, order: OrderRef) -> list[dict[str, Any]]:
    return fulfillment.list_shipments(db, order_id_of(order))


@router.get(
    "/shipments/{shipment_id}",
    response_model=ShipmentRead,
    dependencies=[Depends(require("fulfilment:read"))],
    responses=error_responses(404),
)
def get_shipment(db: DB, shipment_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict[str, Any]:
    return fulfillment.get_shipment(db, shipment_id)


@router.post(
    "/fulfilment-orders/{fo}/labels",
    response_model=ShipmentRead,
    status_code=201,
    responses=error_responses(404, 409),
)
def ship_with_labels(db: DB, fo: FoRef, body: LabelsCreate, principal: Worker) -> dict[str, Any]:
    """Buy a label per package and record the shipment with them. The built-in provider prices
    each parcel from the carrier rate tables and issues OpenOMS tracking references (`OO...`),
    for carriers without an API integration; print them from
    `/shipments/{id}/packages/{n}/label.pdf`."""
    return fulfillment.ship_with_labels(
        db,
        _fo_id(fo),
        packages=[(p.weight_grams, [(ln.line_number, ln.quantity) for ln in p.lines]) for p in body.packages],
        service_code=body.service_code,
        actor=actor_of(principal),
    )


# --- documents ----------------------------------------------------------------------------------

PDF = {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get(
    "/fulfilment-orders/{fo}/pick-list.pdf",
    response_class=Response,
    dependencies=[Depends(require("fulfilment:read"))],
    responses={200: PDF, **error_responses(404, 409)},
)
def pick_list(db: DB, fo: FoRef, paper: PaperSize = PaperSize.LETTER) -> Response:
    """The open lines of the fulfilment order as a printable pick list (PDF)."""
    fo_id = _fo_id(fo)
    return _pdf(documents.pick_list(db, fo_id, paper=paper), f"{fulfilment_number(fo_id)}-pick-list.pdf")


@router.get(
    "/shipments/{shipment_id}/packing-slip.pdf",
    response_class=Response,
    dependencies=[Depends(require("fulfilment:read"))],
    responses={200: PDF, **error_responses(404)},
)
def packing_slip(
    db: DB, shipment_id: Annotated[int, Path(ge=1, le=2**63 - 1)], paper: PaperSize = PaperSize.LETTER
) -> Response:
    """The paper in the box: this shipment's contents against the order (PDF)."""
    return _pdf(documents.packing_slip(db, shipment_id, paper=paper), f"SHP-{shipment_id:07d}-packing-slip.pdf")


@router.get(
    "/shipments/{shipment_id}/packages/{package_number}/label.{fmt}",
    response_class=Response,
    dependencies=[Depends(require("fulfilment:read"))],
    responses={
        200: {"content": {**PDF["content"], "text/plain": {"schema": {"type": "string"}}}},
        **error_responses(404),
    },
)
def shipping_label(
    db: DB,
    shipment_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    package_number: Annotated[int, Path(ge=1, le=MAX_PACKAGES)],
    fmt: Literal["pdf", "zpl"],
) -> Response:
    """A package's 4 x 6 label in the OpenOMS template, with the Code 128 tracking barcode:
    `label.pdf` to print on any printer, `label.zpl` for a 203 dpi thermal printer."""
    data = documents.shipping_label(db, shipment_id, package_number, zpl=fmt == "zpl")
    name = f"SHP-{shipment_id:07d}-{package_number}.{fmt}"
    if isinstance(data, str):
        return Response(
            data,
            media_type="text/plain; charset=us-ascii",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return _pdf(data, name)


# --- pickup (docs/pickup.md) --------------------------------------------------------------------


class PickupHandOver(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = Field(
        description="The pickup code the customer shows", examples=["042917"]
    )
    id_checked: bool = Field(default=False, description="Staff checked the customer's ID")


class CustomerArrived(Strict):
    vehicle: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = Field(
        default=None, examples=["blue Volvo XC60, TX ABC-1234"]
    )
    bay: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = Field(
        default=None, examples=["3"]
    )


@router.post("/fulfilment-orders/{fo}/ready", response_model=FulfilmentOrderRead, responses=ERRORS)
def mark_ready(db: DB, fo: FoRef, principal: Worker) -> dict[str, Any]:
    """A pickup order is at the counter: emits `order.ready_for_pickup` (with the pickup code,
    for the customer's e-mail) and starts the store's hold (`pickup_hold_days`)."""
    return pickup.mark_ready(db, _fo_id(fo), actor_of(principal))


@router.post("/fulfilment-orders/{fo}/pickup", response_model=FulfilmentOrderRead, responses=ERRORS)
def hand_over(db: DB, fo: FoRef, body: PickupHandOver, principal: Worker) -> dict[str, Any]:
    """The customer collects it: the right code takes the units off the shelf and the lines are
    delivered. A wrong code is a 422 on `code` and changes nothing; five in a row lock the
    hand-over for 15 minutes."""
    return pickup.hand_over(db, _fo_id(fo), body.code, actor_of(principal), id_checked=body.id_checked)


@router.post("/fulfilment-orders/{fo}/arrived", response_model=FulfilmentOrderRead, responses=ERRORS)
def customer_arrived(db: DB, fo: FoRef, body: CustomerArrived, principal: Worker) -> dict[str, Any]:
    """Curbside: the customer is outside (vehicle, bay); the store's queue shows them first."""
    return pickup.customer_arrived(db, _fo_id(fo), actor_of(principal), vehicle=body.vehicle, bay=body.bay)


# Declared last: its {step} would otherwise catch /shipments.
@router.post("/fulfilment-orders/{fo}/{step}", response_model=FulfilmentOrderRead, responses=ERRORS)
def report_progress(db: DB, fo: FoRef, step: Literal["accept", "pick", "pack"], principal: Worker) -> dict[str, Any]:
    """The location accepted, picked or packed it (in that order; each is optional before shipping)."""
    target = {"accept": FulfilmentStatus.ACCEPTED, "pick": FulfilmentStatus.PICKED, "pack": FulfilmentStatus.PACKED}
    return fulfillment.report_progress(db, _fo_id(fo), target[step], actor_of(principal))
