"""Transfers: stock moved between two locations, in transit until received."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, StringConstraints, field_validator

from openoms.api.deps import DB, actor_of, require
from openoms.api.schemas import COMMON_ERRORS, Code, Quantity, Sku, Strict, UtcDatetime, error_responses
from openoms.domain.stock_ops import MAX_TRANSFER_LINES, TransferLineRequest
from openoms.services import stock_ops
from openoms.services.apikeys import Principal

router = APIRouter(prefix="/api/v1", tags=["transfers"], responses=COMMON_ERRORS)
Writer = Annotated[Principal, Depends(require("inventory:write"))]
Number = Annotated[str, Path(min_length=1, max_length=32, description="The transfer number, e.g. TR-000012")]
Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_DAYS_AHEAD = 730


class TransferLineIn(Strict):
    sku: Sku
    quantity: Quantity


class TransferCreate(Strict):
    from_location: Code = Field(description="Where the units leave from")
    to_location: Code = Field(description="Where they go")
    lines: list[TransferLineIn] = Field(min_length=1, max_length=MAX_TRANSFER_LINES)
    expected_at: UtcDatetime = Field(description="Expected arrival at the destination (ISO 8601 with offset)")
    carrier: Text64 | None = None
    tracking_number: Text64 | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    ship: bool = Field(default=False, description="Ship at once (otherwise the transfer is a draft)")

    @field_validator("expected_at")
    @classmethod
    def _not_too_far(cls, v: dt.datetime) -> dt.datetime:
        if v > dt.datetime.now(dt.UTC) + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise ValueError(f"must be within {MAX_DAYS_AHEAD} days from now")
        return v


class TransferReceiptLine(Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=0, le=100_000_000)]


class TransferReceive(Strict):
    lines: list[TransferReceiptLine] = Field(min_length=1, max_length=MAX_TRANSFER_LINES)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class TransferCancel(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class TransferLineRead(BaseModel):
    sku: str
    name: str
    quantity: int = Field(description="Units on the transfer (shipped once it is in transit)")
    quantity_received: int
    in_transit: int = Field(description="Shipped and not yet received")
    inbound_id: int | None = Field(description="The inbound lot at the destination, once shipped")


class TransferRead(BaseModel):
    id: int
    number: str
    from_location: str
    to_location: str
    status: Literal["draft", "in_transit", "received", "cancelled"]
    expected_at: dt.datetime
    carrier: str | None
    tracking_number: str | None
    note: str | None
    created_by: str
    created_at: dt.datetime
    shipped_at: dt.datetime | None
    received_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    units: int
    units_received: int
    units_in_transit: int
    lines: list[TransferLineRead]


@router.post("/transfers", response_model=TransferRead, status_code=201, responses=error_responses(409, 422))
def create_transfer(db: DB, body: TransferCreate, principal: Writer) -> dict[str, Any]:
    """Plan a transfer between two locations (a draft), or plan and ship it at once with
    `ship: true`."""
    return stock_ops.create_transfer(
        db,
        from_location=body.from_location,
        to_location=body.to_location,
        lines=[TransferLineRequest(ln.sku, ln.quantity) for ln in body.lines],
        expected_at=body.expected_at,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        note=body.note,
        ship=body.ship,
        actor=actor_of(principal),
    )


@router.get("/transfers", response_model=list[TransferRead], dependencies=[Depends(require("inventory:read"))])
def list_transfers(
    db: DB,
    status: Literal["draft", "in_transit", "received", "cancelled"] | None = None,
    location: Annotated[str | None, Query(max_length=64, description="Either end")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[dict[str, Any]]:
    """Transfers, newest first."""
    return stock_ops.list_transfers(db, status=status, location=location, limit=limit)


@router.get(
    "/transfers/{number}",
    response_model=TransferRead,
    responses=error_responses(404),
    dependencies=[Depends(require("inventory:read"))],
)
def get_transfer(db: DB, number: Number) -> dict[str, Any]:
    return stock_ops.get_transfer(db, number)


@router.post("/transfers/{number}/ship", response_model=TransferRead, responses=error_responses(404, 409))
def ship_transfer(db: DB, number: Number, principal: Writer) -> dict[str, Any]:
    """Ship a draft: the units leave the source's on hand (refused, 409, if that would take
    units reserved for orders) and are in transit, counted as inbound at the destination."""
    return stock_ops.ship_transfer(db, number, actor_of(principal))


@router.post("/transfers/{number}/receipts", response_model=TransferRead, responses=error_responses(404, 409, 422))
def receive_transfer(db: DB, number: Number, body: TransferReceive, principal: Writer) -> dict[str, Any]:
    """Book units that arrived at the destination, partly or in full. More than is in
    transit for a SKU is refused (422)."""
    received: dict[str, int] = {}
    for ln in body.lines:
        received[ln.sku] = received.get(ln.sku, 0) + ln.quantity
    return stock_ops.receive_transfer(db, number, received, actor_of(principal), reason=body.reason)


@router.post("/transfers/{number}/cancel", response_model=TransferRead, responses=error_responses(404, 409))
def cancel_transfer(db: DB, number: Number, principal: Writer, body: TransferCancel | None = None) -> dict[str, Any]:
    """Cancel a draft (shipped transfers cannot be cancelled: receive them)."""
    return stock_ops.cancel_transfer(db, number, actor_of(principal), reason=body.reason if body else None)
