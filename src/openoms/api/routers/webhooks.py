"""Outgoing webhooks: subscriptions, the delivery log and re-sending (docs/webhooks.md).

Every route needs the ``webhooks:manage`` scope. A subscription's signing secret is in the
answer to its creation and to a rotation, and never again.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from openoms.api.deps import DB, actor_of, require
from openoms.api.schemas import COMMON_ERRORS, Strict, error_responses
from openoms.config import Settings
from openoms.domain import webhooks as rules
from openoms.services import webhooks
from openoms.services.apikeys import Principal
from openoms.services.common import MAX_ID

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=COMMON_ERRORS)
Manager = Annotated[Principal, Depends(require("webhooks:manage"))]
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The subscription's id")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="The delivery's id")]
Status = Literal["pending", "delivered", "failed", "dead"]

EVENT_TYPES_HELP = (
    "Event types to receive: exact types (`order.placed`), prefixes (`order.*`: every `order.` type) "
    "or `*` for every event. `GET /api/v1/webhooks/event-types` lists them."
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(_settings)]


class SubscriptionCreate(Strict):
    name: str = Field(max_length=rules.MAX_NAME, description="What the receiver is, e.g. 'ERP (production)'")
    url: str = Field(max_length=rules.MAX_URL, description="http:// or https:// URL the events are POSTed to")
    event_types: list[Annotated[str, Field(max_length=rules.MAX_EVENT_TYPE)]] = Field(
        min_length=1, max_length=rules.MAX_EVENT_TYPES, description=EVENT_TYPES_HELP
    )
    active: bool = Field(default=True, description="Paused subscriptions get no new events; queued ones wait")


class SubscriptionUpdate(Strict):
    name: str | None = Field(default=None, max_length=rules.MAX_NAME)
    url: str | None = Field(default=None, max_length=rules.MAX_URL)
    event_types: list[Annotated[str, Field(max_length=rules.MAX_EVENT_TYPE)]] | None = Field(
        default=None, min_length=1, max_length=rules.MAX_EVENT_TYPES, description=EVENT_TYPES_HELP
    )
    active: bool | None = None


class SubscriptionRead(BaseModel):
    id: int
    name: str
    url: str
    event_types: list[str]
    active: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SubscriptionWithSecret(SubscriptionRead):
    secret: str = Field(
        description="The signing secret (HMAC-SHA256 key of the OpenOMS-Signature header). Shown only now: "
        "store it in the receiver."
    )


class DeliveryRead(BaseModel):
    id: int
    subscription_id: int
    subscription_name: str
    url: str = Field(description="The subscription's URL now")
    event_id: str = Field(description="The event's id, the OpenOMS-Event-Id header: receivers de-duplicate on it")
    event_type: str
    order_id: int | None = Field(description="The order the event is about; deliveries for one order go in order")
    status: Status
    attempts: int = Field(description="Tries since it was queued (or re-sent)")
    next_attempt_at: dt.datetime | None = Field(description="When the next try is due (pending and failed only)")
    last_attempt_at: dt.datetime | None
    last_response_code: int | None = Field(description="The receiver's HTTP status; null: no answer")
    last_error: str | None
    response_excerpt: str | None = Field(
        description=f"The start of the answer, at most {rules.RESPONSE_EXCERPT_CHARS} characters"
    )
    duration_ms: int | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null: no more")


class EventTypeChoices(BaseModel):
    event_types: list[str]
    prefixes: list[str]


@router.get("/event-types", response_model=EventTypeChoices)
def event_types(_: Manager) -> dict[str, Any]:
    """The event types OpenOMS sends, and the prefixes they share."""
    return {"event_types": list(rules.EVENT_CHOICES), "prefixes": list(rules.PREFIX_CHOICES)}


@router.post("/subscriptions", response_model=SubscriptionWithSecret, status_code=201, responses=error_responses(422))
def create_subscription(db: DB, settings: AppSettings, body: SubscriptionCreate, principal: Manager) -> dict[str, Any]:
    """Subscribe a URL to events. The answer holds the signing secret, shown this once."""
    sub, secret = webhooks.create_subscription(
        db,
        settings,
        name=body.name,
        url=body.url,
        event_types=body.event_types,
        active=body.active,
        actor=actor_of(principal),
    )
    return {**sub, "secret": secret}


@router.get("/subscriptions", response_model=list[SubscriptionRead])
def list_subscriptions(db: DB, _: Manager) -> list[dict[str, Any]]:
    """Every subscription, oldest first (no secrets)."""
    return webhooks.list_subscriptions(db)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead, responses=error_responses(404))
def get_subscription(db: DB, subscription_id: SubscriptionId, _: Manager) -> dict[str, Any]:
    return webhooks.get_subscription(db, subscription_id)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionRead, responses=error_responses(404, 422))
def update_subscription(
    db: DB, subscription_id: SubscriptionId, body: SubscriptionUpdate, principal: Manager
) -> dict[str, Any]:
    """Change the name, URL, event types or pause it (`active: false`); fields left out stay."""
    return webhooks.update_subscription(
        db,
        subscription_id,
        name=body.name,
        url=body.url,
        event_types=body.event_types,
        active=body.active,
        actor=actor_of(principal),
    )


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses=error_responses(404))
def delete_subscription(db: DB, subscription_id: SubscriptionId, principal: Manager) -> Response:
    """Delete it with its delivery log; nothing more is sent."""
    webhooks.delete_subscription(db, subscription_id, actor_of(principal))
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    response_model=SubscriptionWithSecret,
    responses=error_responses(404),
)
def rotate_secret(db: DB, settings: AppSettings, subscription_id: SubscriptionId, principal: Manager) -> dict[str, Any]:
    """A new signing secret, used from the next request on; shown this once."""
    sub, secret = webhooks.rotate_secret(db, settings, subscription_id, actor_of(principal))
    return {**sub, "secret": secret}


@router.get("/deliveries", response_model=DeliveryPage, responses=error_responses(422))
def list_deliveries(
    db: DB,
    _: Manager,
    subscription_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this subscription's")] = None,
    status: Annotated[Status | None, Query(description="Only deliveries in this status")] = None,
    event_type: Annotated[str | None, Query(max_length=rules.MAX_EVENT_TYPE, description="Only this type")] = None,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The delivery log, newest first, with the receiver's answers."""
    return webhooks.list_deliveries(
        db, subscription_id=subscription_id, status=status, event_type=event_type, cursor=cursor, limit=limit
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead, responses=error_responses(404))
def get_delivery(db: DB, delivery_id: DeliveryId, _: Manager) -> dict[str, Any]:
    return webhooks.get_delivery(db, delivery_id)


@router.post("/deliveries/{delivery_id}/resend", response_model=DeliveryRead, responses=error_responses(404))
def resend_delivery(db: DB, delivery_id: DeliveryId, principal: Manager) -> dict[str, Any]:
    """Queue the delivery again, whatever its status: the worker sends the same event (same event
    id) on its next pass, after any earlier undelivered event of the same order."""
    return webhooks.resend(db, delivery_id, actor_of(principal))
