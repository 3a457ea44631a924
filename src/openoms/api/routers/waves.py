"""Release runs: scheduled waves, automatic releases and "release now" per location, and the
wave pick list (docs/fulfilment.md "Release: manual, automatic, waves")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from openoms.adapters.documents import PaperSize
from openoms.api.deps import DB, actor_of, list_location, require
from openoms.api.schemas import COMMON_ERRORS, error_responses
from openoms.domain.errors import validation_error
from openoms.domain.waves import parse_wave_number, wave_number
from openoms.services import waves
from openoms.services.apikeys import Principal
from openoms.services.common import decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1", tags=["fulfilment"], responses=COMMON_ERRORS)
Worker = Annotated[Principal, Depends(require("fulfilment:write"))]
WaveRef = Annotated[str, Path(description="Wave id (12) or number (W-0000012)")]
PDF = {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


def _wave_id(ref: str) -> int:
    num = parse_wave_number(ref)
    if num is None:
        raise validation_error("wave", f"{ref!r} is neither an id nor a number like W-0000012")
    return num


class WaveRead(BaseModel):
    id: int
    number: str
    location: str
    kind: str  # wave / automatic / manual
    scheduled_for: dt.datetime
    local_time: str
    started_at: dt.datetime
    started_by: str
    fulfilment_orders: int
    units: int
    skipped_for_capacity: int
    note: str | None


class WaveFulfilmentOrder(BaseModel):
    number: str
    order_number: str
    status: str


class WaveDetail(WaveRead):
    fulfilment_order_list: list[WaveFulfilmentOrder]


class WavePage(BaseModel):
    items: list[WaveRead]
    next_cursor: str | None


class RunRead(BaseModel):
    wave: str
    location: str
    kind: str
    scheduled_for: dt.datetime
    fulfilment_orders: int
    units: int
    skipped_for_capacity: int
    note: str | None


class RunsRead(BaseModel):
    fulfilment_orders: int
    runs: list[RunRead]


@router.get("/waves", response_model=WavePage)
def list_waves(
    db: DB,
    principal: Annotated[Principal, Depends(require("fulfilment:read"))],
    location: Annotated[str | None, Query(max_length=32, description="One location's runs")] = None,
    date: Annotated[dt.date | None, Query(description="Runs on this local date at their location")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Release runs, newest first; a location-bound key sees only its location's."""
    location, visible = list_location(principal, location)
    if not visible:
        return {"items": [], "next_cursor": None}
    items = waves.list_waves(db, location=location, day=date, before_id=decode_cursor(cursor), limit=limit)
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if len(items) == limit else None}


@router.post("/waves/run", response_model=RunsRead)
def run_due_waves(db: DB, principal: Worker) -> dict[str, Any]:
    """Run every due wave and every automatic location now (what the worker does on schedule).
    Safe to call at any time and from several clients: a wave runs once."""
    runs = waves.run_due(db, actor=actor_of(principal))
    return {"fulfilment_orders": sum(r.fulfilment_orders for r in runs), "runs": [r.to_dict() for r in runs]}


@router.post("/locations/{code}/release", response_model=RunsRead, responses=error_responses(404))
def release_location(
    db: DB, code: Annotated[str, Path(max_length=32, description="Location code")], principal: Worker
) -> dict[str, Any]:
    """Release everything eligible at the location now, within what is left of its daily
    capacity, whatever its release mode."""
    run = waves.release_location_now(db, code, actor_of(principal))
    runs = [run] if run else []
    return {"fulfilment_orders": sum(r.fulfilment_orders for r in runs), "runs": [r.to_dict() for r in runs]}


@router.get(
    "/waves/{wave}",
    response_model=WaveDetail,
    dependencies=[Depends(require("fulfilment:read"))],
    responses=error_responses(404),
)
def get_wave(db: DB, wave: WaveRef) -> dict[str, Any]:
    return waves.get_wave(db, _wave_id(wave))


@router.get(
    "/waves/{wave}/pick-list.pdf",
    response_class=Response,
    dependencies=[Depends(require("fulfilment:read"))],
    responses={200: PDF, **error_responses(404, 409)},
)
def wave_pick_list(db: DB, wave: WaveRef, paper: PaperSize = PaperSize.LETTER) -> Response:
    """Every open unit of the wave by SKU, with the fulfilment orders to sort them into (PDF)."""
    wave_id = _wave_id(wave)
    data = waves.wave_pick_list(db, wave_id, paper=paper)
    name = f"{wave_number(wave_id)}-pick-list.pdf"
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})
