"""Inbound stock: purchase orders and transfers on their way to a location, with their ETA."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, Field, StringConstraints, field_validator

from openoms.api.deps import DB, actor_of, require
from openoms.api.schemas import COMMON_ERRORS, Code, Quantity, Sku, StockLevelRead, Strict, UtcDatetime, error_responses
from openoms.services import backorders, inbound, stock_ops
from openoms.services.apikeys import Principal
from openoms.services.idempotency import request_fingerprint

router = APIRouter(prefix="/api/v1", tags=["stock"], responses=COMMON_ERRORS)

#: Furthest ahead an arrival may be announced: promise calendars are loaded that far.
MAX_DAYS_AHEAD = 730


class InboundCreate(Strict):
    sku: Sku
    location: Code = Field(description="The location the units are going to")
    quantity: Quantity
    expected_at: UtcDatetime = Field(description="When the units are expected at the location (ISO 8601 with offset)")
    kind: Literal["purchase_order", "transfer"] = "purchase_order"
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = Field(
        default=None, description="The purchase order or transfer number", examples=["PO-10452"]
    )

    @field_validator("expected_at")
    @classmethod
    def _not_too_far(cls, v: dt.datetime) -> dt.datetime:
        if v > dt.datetime.now(dt.UTC) + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise ValueError(f"must be within {MAX_DAYS_AHEAD} days from now")
        return v


class InboundRead(BaseModel):
    id: int
    sku: str
    location: str
    quantity: int
    quantity_received: int = Field(description="Units received against the lot so far")
    outstanding: int = Field(description="Units still expected (0 once received or cancelled)")
    expected_at: dt.datetime
    kind: str
    reference: str | None
    status: Literal["open", "received", "cancelled"]
    created_by: str
    created_at: dt.datetime


@router.post("/inbound", response_model=InboundRead, status_code=201, responses=error_responses(422))
def expect_inbound(
    db: DB, body: InboundCreate, principal: Annotated[Principal, Depends(require("inventory:write"))]
) -> dict[str, Any]:
    """Announce units on their way to a location. `POST /promise` counts them when the
    shelves cannot cover a basket, and promises from their expected arrival."""
    return inbound.expect_inbound(
        db,
        sku=body.sku,
        location=body.location,
        quantity=body.quantity,
        expected_at=body.expected_at,
        kind=body.kind,
        reference=body.reference,
        actor=actor_of(principal),
    )


@router.get("/inbound", response_model=list[InboundRead], dependencies=[Depends(require("inventory:read"))])
def list_inbound(
    db: DB,
    sku: str | None = None,
    location: str | None = None,
    status: Annotated[Literal["open", "received", "cancelled"] | None, Query(description="Default: open")] = "open",
) -> list[dict[str, Any]]:
    """Inbound stock, earliest arrival first (at most 1,000)."""
    return inbound.list_inbound(db, sku=sku, location=location, status=status)


@router.post("/inbound/{inbound_id}/cancel", response_model=InboundRead, responses=error_responses(404, 409))
def cancel_inbound(
    db: DB,
    inbound_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    principal: Annotated[Principal, Depends(require("inventory:write"))],
) -> dict[str, Any]:
    """The units will not come (the purchase order or transfer was cancelled)."""
    return inbound.cancel_inbound(db, inbound_id, actor_of(principal))


class InboundReceive(Strict):
    quantity: Quantity = Field(description="Units received now (part of the lot or all of it)")
    allow_over_receipt: bool = Field(
        default=False, description="Accept more units than the lot still expects (refused otherwise)"
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None


class InboundReceiptRead(InboundRead):
    stock: StockLevelRead = Field(description="The stock row at the lot's location after the receipt")


@router.post(
    "/inbound/{inbound_id}/receipts",
    response_model=InboundReceiptRead,
    responses=error_responses(404, 409, 422),
)
def receive_inbound(
    db: DB,
    inbound_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: InboundReceive,
    principal: Annotated[Principal, Depends(require("inventory:write"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> dict[str, Any]:
    """Receive units against an open purchase-order lot, fully or partly: a receipt in the
    ledger at the lot's location, and the lot `received` once complete. More than the lot
    still expects is refused (422) unless `allow_over_receipt` is true. Lots a transfer
    created are received on the transfer (409)."""
    return stock_ops.receive_inbound(
        db,
        inbound_id,
        body.quantity,
        actor_of(principal),
        allow_over_receipt=body.allow_over_receipt,
        reason=body.reason,
        idempotency_key=idempotency_key,
        request_hash=request_fingerprint("POST", f"/inbound/{inbound_id}/receipts", body.model_dump_json().encode()),
    )


class BackorderRead(BaseModel):
    position: int = Field(description="Place in the queue at its SKU and location: 1 is served first")
    order_number: str
    line_number: int
    sku: str
    product_name: str
    policy: Literal["none", "backorder", "preorder"]
    location: str
    quantity_waiting: int
    expected_at: dt.datetime | None = Field(description="When the inbound lot it was promised from is due")
    inbound_reference: str | None
    inbound_kind: Literal["purchase_order", "transfer"] | None
    placed_at: dt.datetime
    backordered_at: dt.datetime


class AllocatedRead(BaseModel):
    order_number: str
    order_line_id: int
    sku: str
    location: str
    quantity: int


@router.get("/backorders", response_model=list[BackorderRead], dependencies=[Depends(require("inventory:read"))])
def list_backorders(
    db: DB,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    location: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[dict[str, Any]]:
    """Units waiting for inbound stock, per SKU and location in the order received stock
    goes to them (first captured, first served)."""
    return backorders.list_backorders(db, sku=sku, location=location, limit=limit)


@router.post("/backorders/allocate", response_model=list[AllocatedRead])
def allocate_backorders(
    db: DB, principal: Annotated[Principal, Depends(require("inventory:write"))]
) -> list[dict[str, Any]]:
    """Give free stock to waiting units now. Receipts do this by themselves; this catches up
    units a receipt left for later (their order was busy with another command at the time)."""
    return backorders.allocate_waiting_view(db, actor_of(principal))
