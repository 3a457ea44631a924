"""Carrier tracking in: the signed webhook (OpenOMS JSON or EasyPost), the API and CSV upload,
and a shipment's tracking read back (docs/tracking.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from openoms.adapters.carriers.tracking_inbound import (
    EASYPOST_SIGNATURE_HEADER,
    MAX_EVENTS_PER_PAYLOAD,
    SIGNATURE_HEADER,
    SignatureError,
    TrackingCsvError,
    parse_easypost_event,
    parse_openoms_tracking,
    parse_tracking_csv,
    verify_easypost_signature,
    verify_webhook_signature,
)
from openoms.api.deps import DB, actor_of, require
from openoms.api.schemas import COMMON_ERRORS, error_responses
from openoms.domain.errors import DomainError, ErrorCode, FieldError, validation_error
from openoms.domain.tracking import TrackingEvent, TrackingSource, TrackingStatus
from openoms.services import tracking
from openoms.services.apikeys import Principal
from openoms.services.common import Actor, utcnow

router = APIRouter(prefix="/api/v1", tags=["tracking"], responses=COMMON_ERRORS)
Writer = Annotated[Principal, Depends(require("fulfilment:write"))]

WEBHOOK_ACTOR = "tracking-webhook"
MAX_CSV_PROBLEMS_SHOWN = 200

_TEXT = {"type": "string"}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tracking_number", "carrier", "status", "occurred_at"],
    "properties": {
        "tracking_number": {**_TEXT, "maxLength": 64, "examples": ["1Z999AA10123456784"]},
        "carrier": {**_TEXT, "maxLength": 64, "examples": ["UPS"]},
        "status": {**_TEXT, "examples": [s.value for s in TrackingStatus]},
        "occurred_at": {**_TEXT, "examples": ["2024-08-02T08:12:00-04:00"], "description": "ISO 8601 with offset"},
        "description": {**_TEXT, "maxLength": 2000},
        "location": {**_TEXT, "maxLength": 500},
        "carrier_status_code": {**_TEXT, "maxLength": 200},
        "carrier_status_detail": {**_TEXT, "maxLength": 200},
        "event_id": {**_TEXT, "maxLength": 200},
    },
}
PAYLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": MAX_EVENTS_PER_PAYLOAD, "items": EVENT_SCHEMA}
    },
}


class PackageResult(BaseModel):
    tracking_number: str
    shipment_id: int
    order_id: int
    order_number: str
    received: int
    recorded: int
    duplicates: int
    status: str | None
    exception_open: bool
    delivered_at: dt.datetime | None
    shipment_delivered_at: dt.datetime | None
    promise_outcome: str | None
    order_status: str | None


class UnknownNumber(BaseModel):
    tracking_number: str
    events: int


class TrackingResult(BaseModel):
    received: int
    recorded: int
    duplicates: int
    packages: list[PackageResult]
    unknown_tracking_numbers: list[UnknownNumber]


class TrackingEventRead(BaseModel):
    status: str
    occurred_at: dt.datetime
    description: str
    location: str
    carrier: str
    carrier_status_code: str
    carrier_status_detail: str
    source: str
    event_id: str | None
    received_at: dt.datetime


class PackageTrackingRead(BaseModel):
    tracking_number: str
    status: str | None
    status_since: dt.datetime | None
    delivered_at: dt.datetime | None
    exception_open: bool
    exception_reason: str | None
    exception_at: dt.datetime | None
    events: list[TrackingEventRead]


class ShipmentTrackingRead(BaseModel):
    shipment_id: int
    order_id: int
    order_number: str
    carrier: str
    shipped_at: dt.datetime
    delivered_at: dt.datetime | None
    promise_outcome: str | None
    days_late: int | None
    promised_earliest: dt.date | None
    promised_latest: dt.date | None
    destination_timezone: str
    packages: list[PackageTrackingRead]


def _refuse_nul(raw: bytes) -> None:
    """PostgreSQL text cannot hold NUL: refuse it as bad input, raw or JSON-escaped."""
    if b"\x00" in raw or b"\\u0000" in raw.lower():
        raise validation_error("body", "contains a NUL character")


def _easypost_signed(request: Request, settings: Any) -> bool:
    """Which signature an EasyPost event is checked with. An ``OpenOMS-Signature`` (a relay
    that signs with a timestamp) always wins; without one, EasyPost's own ``X-Hmac-Signature``
    when it is sent, when an EasyPost secret is set, or when no OpenOMS secret is."""
    if request.headers.get(SIGNATURE_HEADER) is not None:
        return False
    return (
        request.headers.get(EASYPOST_SIGNATURE_HEADER) is not None
        or bool(settings.easypost_webhook_secret_list)
        or not settings.tracking_webhook_secret_list
    )


async def _record(events: list[TrackingEvent], db: Any, actor: Actor) -> dict[str, Any]:
    return await run_in_threadpool(tracking.record_events, db, events, actor)


@router.post(
    "/tracking/webhook",
    response_model=TrackingResult,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>",
            },
            {
                "name": EASYPOST_SIGNATURE_HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "format=easypost only: hmac-sha256-hex=<hex HMAC-SHA256 of the raw body>",
            },
        ],
    },
)
async def webhook(
    request: Request,
    db: DB,
    fmt: Annotated[
        Literal["openoms", "easypost"],
        Query(alias="format", description="openoms: the OpenOMS JSON; easypost: a tracker.updated Event"),
    ] = "openoms",
) -> dict[str, Any]:
    """Tracking events from a carrier, 3PL or aggregator. No API key: the body must be signed
    with a shared secret (`OpenOMS-Signature`, docs/tracking.md), or for `format=easypost` with
    EasyPost's own `X-Hmac-Signature`; 401 says why it was refused.
    Tracking numbers that match no package are listed in the answer, not refused."""
    raw = await request.body()
    settings = request.app.state.settings
    easypost = fmt == "easypost" and _easypost_signed(request, settings)
    header = EASYPOST_SIGNATURE_HEADER if easypost else SIGNATURE_HEADER
    setting = "OPENOMS_EASYPOST_WEBHOOK_SECRETS" if easypost else "OPENOMS_TRACKING_WEBHOOK_SECRETS"
    secrets = settings.easypost_webhook_secret_list if easypost else settings.tracking_webhook_secret_list
    if not secrets:
        raise DomainError(
            ErrorCode.UNAUTHORIZED,
            f"the tracking webhook is not configured: set {setting}",
            [FieldError(header, "not_configured")],
            extra={"reason": "not_configured"},
        )
    try:
        if easypost:
            verify_easypost_signature(raw, request.headers.get(header), secrets)
        else:
            verify_webhook_signature(raw, request.headers.get(header), secrets, now=utcnow())
    except SignatureError as exc:
        raise DomainError(
            ErrorCode.UNAUTHORIZED,
            f"webhook signature refused ({exc.reason.value}): {exc.detail}",
            [FieldError(header, exc.reason.value)],
            extra={"reason": exc.reason.value},
        ) from None
    _refuse_nul(raw)
    events = parse_easypost_event(raw) if fmt == "easypost" else parse_openoms_tracking(raw)
    actor = Actor(f"{WEBHOOK_ACTOR}:{fmt}")
    return await _record(events, db, actor)


@router.post(
    "/tracking/events",
    response_model=TrackingResult,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": PAYLOAD_SCHEMA}}, "required": True}},
)
async def post_events(request: Request, db: DB, principal: Writer) -> dict[str, Any]:
    """Tracking events in the OpenOMS JSON format, with an API key (`fulfilment:write`). Any bad
    event refuses the whole payload (422, every bad field named) and nothing is stored."""
    raw = await request.body()
    _refuse_nul(raw)
    events = parse_openoms_tracking(raw, source=TrackingSource.API)
    return await _record(events, db, actor_of(principal))


@router.post(
    "/tracking/upload",
    response_model=TrackingResult,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def upload_csv(request: Request, db: DB, principal: Writer) -> dict[str, Any]:
    """Tracking events from a carrier's spreadsheet (`Content-Type: text/csv`, columns in
    docs/tracking.md). Every row is checked first: any bad cell and nothing is stored, with each
    problem's row and column in `errors`."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the tracking file as Content-Type: text/csv")
    raw = await request.body()
    _refuse_nul(raw)
    try:
        events = parse_tracking_csv(raw, source="upload")
    except TrackingCsvError as exc:
        raise DomainError(exc.code, exc.message, exc.errors[:MAX_CSV_PROBLEMS_SHOWN]) from None
    return await _record(events, db, actor_of(principal))


@router.get(
    "/shipments/{shipment_id}/tracking",
    response_model=ShipmentTrackingRead,
    dependencies=[Depends(require("fulfilment:read"))],
    responses=error_responses(404),
)
def shipment_tracking(db: DB, shipment_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict[str, Any]:
    """Each package's tracking status, open exception and events (oldest first), and whether
    the shipment arrived early, on time or late against the order's promise."""
    return tracking.get_tracking(db, shipment_id)
