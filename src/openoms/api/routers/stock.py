"""Stock levels, counts, adjustments, receipts, the ledger and availability to promise."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, Field

from openoms.api.deps import DB, actor_of, require
from openoms.api.schemas import (
    COMMON_ERRORS,
    Availability,
    LedgerRead,
    StockAdjust,
    StockLevelRead,
    StockReceive,
    StockSet,
    Strict,
    error_responses,
)
from openoms.domain.inventory import LedgerEntryType
from openoms.services import inventory, stock_ops
from openoms.services.apikeys import Principal
from openoms.services.common import MAX_ID
from openoms.services.idempotency import request_fingerprint

router = APIRouter(prefix="/api/v1", tags=["stock"], responses={**COMMON_ERRORS, **error_responses(404, 409)})
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry-safe writes: a repeated key returns the first result",
    ),
]
Writer = Annotated[Principal, Depends(require("inventory:write"))]


def _run(
    db: Any, principal: Principal, change: inventory.StockChange, key: str | None, path: str, body: Any
) -> dict[str, Any]:
    return inventory.change_stock(
        db,
        [change],
        actor_of(principal),
        idempotency_key=key,
        request_hash=request_fingerprint("POST", path, body.model_dump_json().encode()),
    )[0]


@router.put("/stock", response_model=StockLevelRead)
def set_stock(db: DB, body: StockSet, principal: Writer, idempotency_key: IdemKey = None) -> dict[str, Any]:
    """Set on hand to a counted figure (a cycle count). Refused if it would fall below what
    is reserved for orders."""
    change = inventory.StockChange(body.sku, body.location, LedgerEntryType.COUNT, body.on_hand, body.reason)
    return _run(db, principal, change, idempotency_key, "/stock", body)


@router.post("/stock/adjustments", response_model=StockLevelRead)
def adjust_stock(db: DB, body: StockAdjust, principal: Writer, idempotency_key: IdemKey = None) -> dict[str, Any]:
    """Add or remove units with a reason (damage, found, shrinkage, ...)."""
    change = inventory.StockChange(body.sku, body.location, LedgerEntryType.ADJUSTMENT, body.delta, body.reason)
    return _run(db, principal, change, idempotency_key, "/stock/adjustments", body)


@router.post("/stock/receipts", response_model=StockLevelRead)
def receive_stock(db: DB, body: StockReceive, principal: Writer, idempotency_key: IdemKey = None) -> dict[str, Any]:
    """Book units received at a location against a reference (PO, ASN, transfer)."""
    change = inventory.StockChange(
        body.sku, body.location, LedgerEntryType.RECEIPT, body.quantity, body.reason, body.reference
    )
    return _run(db, principal, change, idempotency_key, "/stock/receipts", body)


@router.get("/stock/ledger", response_model=list[LedgerRead], dependencies=[Depends(require("inventory:read"))])
def stock_ledger(
    db: DB,
    sku: str,
    location: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Page back from this ledger id")] = None,
) -> list[dict[str, Any]]:
    """The movements of a SKU, newest first: every change of on hand or reserved."""
    return inventory.ledger(db, sku, location, limit=limit, before_id=before_id)


@router.get("/availability", response_model=list[Availability], dependencies=[Depends(require("inventory:read"))])
def availability(
    db: DB,
    sku: Annotated[list[str] | None, Query(max_length=500, description="Repeat for several SKUs")] = None,
    location: Annotated[str | None, Query(description="Only this location")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after_sku: Annotated[str | None, Query(description="Page on from this SKU when no sku is given")] = None,
) -> list[dict[str, Any]]:
    """Available to promise (on hand - reserved - safety stock) per location and across the network."""
    return inventory.availability(db, sku, location, limit=limit, after_sku=after_sku)


@router.get("/availability/{sku}", response_model=Availability, dependencies=[Depends(require("inventory:read"))])
def availability_of(db: DB, sku: str) -> dict[str, Any]:
    return inventory.availability(db, [sku])[0]


class StockPolicy(Strict):
    safety_stock: Annotated[int, Field(ge=0, le=100_000_000)] = Field(
        description="Units kept back: never reserved for orders"
    )
    reorder_point: Annotated[int, Field(ge=0, le=100_000_000)] | None = Field(
        description="Low stock when on hand - reserved + open inbound <= this; null for no alert"
    )


class StockPolicyRead(BaseModel):
    sku: str
    name: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int = Field(description="on hand - reserved - safety stock (never below 0)")
    inbound: int = Field(description="Units still expected on open inbound lots (incl. transfers in transit)")
    reorder_point: int | None
    low: bool = Field(description="on hand - reserved + inbound <= reorder point")
    low_since: dt.datetime | None
    shortfall: int = Field(description="How far below the reorder point (0 when at it or above)")


@router.put("/stock/{sku}/{location}/policy", response_model=StockPolicyRead, responses=error_responses(422))
def set_stock_policy(
    db: DB,
    sku: Annotated[str, Path(max_length=64)],
    location: Annotated[str, Path(max_length=64)],
    body: StockPolicy,
    principal: Writer,
) -> dict[str, Any]:
    """Set the safety stock and reorder point of a SKU at a location."""
    return stock_ops.set_stock_policy(
        db, sku, location, safety_stock=body.safety_stock, reorder_point=body.reorder_point, actor=actor_of(principal)
    )


@router.get("/stock/alerts", response_model=list[StockPolicyRead], dependencies=[Depends(require("inventory:read"))])
def low_stock_alerts(
    db: DB, location: Annotated[str | None, Query(max_length=64, description="Only this location")] = None
) -> list[dict[str, Any]]:
    """Stock rows at or below their reorder point now, furthest below first."""
    return stock_ops.low_stock(db, location=location)
