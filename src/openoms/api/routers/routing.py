"""Routing and promise dates: quotes, explanations, re-routing, sourcing rules, carrier rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from openoms.adapters.carriers.rate_csv import RateCsvError
from openoms.api.deps import DB, actor_of, order_id_of, require
from openoms.api.schemas import (
    COMMON_ERRORS,
    MAX_ORDER_LINES,
    Address,
    Code,
    PromiseRead,
    Quantity,
    Reason,
    Sku,
    Strict,
    error_responses,
)
from openoms.domain.errors import DomainError, ErrorCode, FieldError, validation_error
from openoms.services import orders, rerouting, routing_setup, sourcing
from openoms.services.apikeys import Principal

router = APIRouter(prefix="/api/v1", tags=["routing"], responses=COMMON_ERRORS)
Writer = Annotated[Principal, Depends(require("routing:write"))]
OrderRef = Annotated[str, Path(description="Order id (123) or order number (SO-0000123)")]
MAX_RATE_CSV_BYTES = 5_000_000


# --- promise quote ----------------------------------------------------------------------------


class QuoteLine(Strict):
    sku: Sku
    quantity: Quantity


class PromiseQuoteRequest(Strict):
    channel: Code = Field(description="The sales channel asking (channel restrictions apply)", examples=["web"])
    lines: Annotated[list[QuoteLine], Field(min_length=1, max_length=MAX_ORDER_LINES)]
    shipping_address: Address
    service_level: Literal["standard", "expedited", "express", "next_day"] = "standard"


class QuoteLineRef(BaseModel):
    line_number: int
    sku: str
    quantity: int


class QuotedShipment(BaseModel):
    location: str | None
    lines: list[QuoteLineRef]
    carrier: str | None = None
    service_code: str | None = None
    service_level: str | None = None
    cost: Decimal | None = None
    currency: str | None = None
    ship_date: dt.date | None = None
    earliest: dt.date | None = None
    latest: dt.date | None = None


class QuotedPromise(PromiseRead):
    basis: str = Field(description="Why these dates, in words: cut-off, handling, transit, holidays")


class PromiseQuote(BaseModel):
    quoted_at: dt.datetime
    availability: Literal["in_stock", "inbound"] = Field(
        description="in_stock: the shelves cover the basket; inbound: it counts stock on its way "
        "(POST /inbound), and the promise starts from its expected arrival"
    )
    sourcing_rule: str
    method: Literal["engine", "priority"]
    service_level: str
    promise: QuotedPromise | None = Field(description="Null when no carrier rate could price the parcels")
    shipments: list[QuotedShipment]
    carrier_cost: Decimal | None = None
    currency: str | None = None
    notes: list[str]
    explanation: dict[str, Any] | None = None


@router.post(
    "/promise",
    response_model=PromiseQuote,
    response_model_exclude_none=False,
    dependencies=[Depends(require("routing:read"))],
    responses=error_responses(409),
)
def quote_promise(
    db: DB,
    body: PromiseQuoteRequest,
    explain: Annotated[bool, Query(description="Include the full routing explanation")] = False,
) -> dict[str, Any]:
    """Where a basket would ship from and when it would arrive, without reserving anything.

    The same engine, rules and stock as order capture: an order placed right after with the
    same basket and address gets the same locations and dates unless stock moved in between.
    When the shelves are short, stock on its way (`POST /inbound`) counts and the promise starts
    from its expected arrival (`availability: inbound`); orders cannot yet be captured against
    it (backorders come with fulfilment). 409 `insufficient_stock` when neither covers a line.
    """
    cmd = orders.CaptureOrder(
        channel=body.channel,
        currency="USD",
        lines=[orders.LineInput(ln.sku, ln.quantity, Decimal(0)) for ln in body.lines],
        shipping_address=body.shipping_address.model_dump(exclude_none=True),
        service_level=body.service_level,
    )
    return orders.quote_promise(db, cmd, explain=explain)


# --- explanations and re-routing --------------------------------------------------------------


class DecisionRead(BaseModel):
    id: int
    trigger: str = Field(description="capture, reject, reroute or reoptimize")
    rule: str
    rate_table_id: int | None
    chosen: str
    promise: PromiseRead | None
    actor: str
    created_at: dt.datetime
    explanation: dict[str, Any] = Field(
        description="Candidates with each one's eligibility per line, every plan scored with its cost "
        "breakdown and why it lost, the rules version and the search statistics (docs/routing.md)"
    )


@router.get(
    "/orders/{order}/routing",
    response_model=list[DecisionRead],
    dependencies=[Depends(require("orders:read"))],
    responses=error_responses(404),
)
def order_routing(db: DB, order: OrderRef) -> list[dict[str, Any]]:
    """Why the order ships from where it does: every routing decision, newest first."""
    return sourcing.list_decisions(db, order_id_of(order))


class LineRejection(Strict):
    location: Code = Field(description="The location that will not ship the line")
    reason: Reason


class RerouteRequest(Strict):
    reason: Reason


class RerouteRead(BaseModel):
    order_id: int
    moved: list[dict[str, Any]]
    backordered: list[dict[str, Any]]
    promise: PromiseRead | None
    message: str


@router.post(
    "/orders/{order}/lines/{line_number}/reject",
    response_model=RerouteRead,
    responses=error_responses(404, 409),
)
def reject_line(
    db: DB,
    order: OrderRef,
    body: LineRejection,
    principal: Annotated[Principal, Depends(require("orders:write"))],
    line_number: Annotated[int, Path(ge=1, le=MAX_ORDER_LINES)],
) -> Any:
    """A location will not ship a line (not found, damaged, no capacity): its units there are
    released and the line is routed again elsewhere in one transaction, or backordered when
    no other location can ship it. Recorded on the timeline with the new explanation."""
    return rerouting.reject_line(db, order_id_of(order), line_number, body.location, body.reason, actor_of(principal))


@router.post("/orders/{order}/reroute", response_model=RerouteRead, responses=error_responses(404, 409))
def reroute_order(
    db: DB,
    order: OrderRef,
    body: RerouteRequest,
    principal: Annotated[Principal, Depends(require("orders:write"))],
) -> Any:
    """Route every reserved line of the order again from current stock (for example after a
    missed cut-off); its own reservations count as free. 409 when nothing can ship it now."""
    return rerouting.reroute_order(db, order_id_of(order), body.reason, actor_of(principal))


# --- sourcing rules ---------------------------------------------------------------------------


class RuleSetRead(BaseModel):
    version: int
    name: str
    label: str = Field(description="What orders routed by it carry as sourcing_rule")
    rules: dict[str, Any]
    note: str | None
    created_by: str
    created_at: dt.datetime | None


class RuleSetCreate(Strict):
    rules: dict[str, Any] = Field(
        description="Fields to change from the version in force: name, split_policy (never | allowed | "
        "min_days_saved), split_min_days_saved, fulfilment_mode (ship_as_available | ship_complete), "
        "max_shipments, weights {carrier_cost, transit_day, per_100_km, extra_shipment, load}, "
        "fastest_first, hazmat_requires_license, high_value_requires_secure, allowed_kinds, currency",
        examples=[{"split_policy": "min_days_saved", "split_min_days_saved": 2}],
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


@router.get("/sourcing-rules", response_model=list[RuleSetRead], dependencies=[Depends(require("routing:read"))])
def list_rule_sets(db: DB) -> list[dict[str, Any]]:
    """Every version of the sourcing rules, the one in force first."""
    return routing_setup.list_rule_sets(db)


@router.get("/sourcing-rules/current", response_model=RuleSetRead, dependencies=[Depends(require("routing:read"))])
def current_rule_set(db: DB) -> dict[str, Any]:
    return routing_setup.current_rule_set(db)


@router.get(
    "/sourcing-rules/{version}",
    response_model=RuleSetRead,
    dependencies=[Depends(require("routing:read"))],
    responses=error_responses(404),
)
def get_rule_set(db: DB, version: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
    return routing_setup.get_rule_set(db, version)


@router.post("/sourcing-rules", response_model=RuleSetRead, status_code=201)
def create_rule_set(db: DB, body: RuleSetCreate, principal: Writer) -> dict[str, Any]:
    """A new version of the rules, from the one in force with `rules` applied; it takes over
    for the next order. Versions are never edited: to go back, post the old values."""
    return routing_setup.create_rule_set(db, body.rules, body.note, actor_of(principal))


# --- carrier rates ----------------------------------------------------------------------------


class RateServiceRead(BaseModel):
    carrier: str
    service_code: str
    service_level: str
    cost_min: Decimal
    cost_max: Decimal
    transit_days: list[int]
    rates: int
    locations: list[str]


class RateTableRead(BaseModel):
    id: int
    source: str
    rows: int
    currency: str
    loaded_by: str
    loaded_at: dt.datetime
    services: list[RateServiceRead]


@router.get(
    "/carrier-rates",
    response_model=RateTableRead,
    dependencies=[Depends(require("routing:read"))],
    responses=error_responses(404),
)
def rate_table(db: DB) -> dict[str, Any]:
    """The carrier rate table in force: its services, locations, prices and transit days."""
    return routing_setup.rate_table_summary(db)


@router.post(
    "/carrier-rates",
    response_model=RateTableRead,
    status_code=201,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def load_rates(request: Request, db: DB, principal: Writer) -> dict[str, Any]:
    """Load a rate table from CSV (`Content-Type: text/csv`, format in docs/carriers.md). The
    whole file is checked first: any bad row and nothing is loaded, with every problem's row
    and column in `errors`."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "text/csv":
        raise DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the rate table as Content-Type: text/csv")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise validation_error("body", "the file is not UTF-8 text") from None
    try:
        return routing_setup.load_rates(db, text, "api upload", actor_of(principal))
    except RateCsvError as exc:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            str(exc),
            [FieldError(f"row {p.row}.{p.field}", p.reason) for p in exc.problems[:200]],
        ) from None
