"""Request and response shapes at the HTTP edge (also used to validate CSV imports)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from openoms.domain import money
from openoms.domain.orders import MAX_LINE_QUANTITY, MAX_ORDER_LINES, HoldType, LineStatus, OrderStatus

T = TypeVar("T")

MAX_STOCK = 100_000_000

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$"

_SKU_RE = re.compile(SKU_PATTERN)
_CODE_RE = re.compile(CODE_PATTERN)


def _sku(v: str) -> str:
    if not _SKU_RE.match(v):
        raise ValueError("must be 1-64 characters: letters, digits and . _ - /, starting with a letter or digit")
    return v


def _code(v: str) -> str:
    if not _CODE_RE.match(v):
        raise ValueError("must be 1-32 characters: letters, digits, _ and -, starting with a letter or digit")
    return v


Sku = Annotated[str, AfterValidator(_sku), Field(examples=["TSHIRT-BLK-M"], json_schema_extra={"pattern": SKU_PATTERN})]
Code = Annotated[str, AfterValidator(_code), Field(json_schema_extra={"pattern": CODE_PATTERN})]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
# 255: the inventory ledger keeps the reason of every stock movement (cancellations included).
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=255)]


def _currency(v: str) -> str:
    if not money.is_currency(v):
        raise ValueError(f"{v!r} is not an ISO 4217 currency code")
    return v


def _timezone(v: str) -> str:
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{v!r} is not an IANA timezone such as America/Chicago") from exc
    return v


def _workdays(v: str) -> str:
    from openoms.domain.network import format_workdays, parse_workdays

    return format_workdays(parse_workdays(v))  # ValueError says which word is wrong


def _holiday_calendar(v: str) -> str:
    from openoms.domain.errors import DomainError
    from openoms.domain.promising import public_holidays

    country, _, subdivision = v.strip().upper().partition("-")
    try:
        public_holidays(country, dt.date.today().year, subdivision=subdivision or None)
    except DomainError as exc:
        raise ValueError(f"{v!r}: {exc.errors[0].reason}; use a country (US) or country-subdivision (US-TX)") from None
    return f"{country}-{subdivision}" if subdivision else country


def _wave_times(v: list[str]) -> list[str]:
    from openoms.domain.waves import parse_wave_times

    return list(parse_wave_times(v))  # ValueError names the time that is wrong


def _wave_times_text(v: Any) -> Any:
    """A CSV cell or form field types them as one text: "09:00 13:00"."""
    return v.replace(",", " ").split() if isinstance(v, str) else v


_LOCAL_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(:([0-5]\d))?$")


def _local_time(v: Any) -> Any:
    if isinstance(v, dt.time):
        if v.tzinfo is not None:
            raise ValueError("is a local time in the location's timezone; give it without an offset, e.g. 15:00")
        return v
    if not isinstance(v, str) or not _LOCAL_TIME_RE.match(v):
        raise ValueError("must be a local time HH:MM (24 h) in the location's timezone, e.g. 15:00")
    return dt.time.fromisoformat(v)


LocalTime = Annotated[
    dt.time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "examples": ["15:00"]}),
]


def _utc_representable(v: dt.datetime) -> dt.datetime:
    """An offset can push a date past year 1 or 9999 once stored as UTC: refuse it here."""
    try:
        v.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc
    return v


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency), Field(examples=["USD"])]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(examples=["US"])]
#: A BCP 47 language tag (``de``, ``fr-CA``): the language of customer e-mails (docs/notifications.md).
LanguageTag = Annotated[
    str, StringConstraints(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"), Field(examples=["de"])
]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4, examples=["19.99"])]
Quantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]


def _no_nul(v: Any) -> Any:
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError("must not contain NUL characters")
    elif isinstance(v, list | tuple | set | frozenset):
        for item in v:
            _no_nul(item)
    elif isinstance(v, dict):
        for key, item in v.items():
            _no_nul(key)
            _no_nul(item)
    return v


class Strict(BaseModel):
    """Unknown fields are refused: a typo should not silently drop data. NUL characters are
    refused too: PostgreSQL text cannot hold them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul_characters = field_validator("*")(_no_nul)


# --- products -----------------------------------------------------------------------------


BackorderPolicyName = Literal["none", "backorder", "preorder"]


class ProductFields(Strict):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    weight_grams: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    length_mm: Annotated[int, Field(ge=0, le=100_000)] | None = None
    width_mm: Annotated[int, Field(ge=0, le=100_000)] | None = None
    height_mm: Annotated[int, Field(ge=0, le=100_000)] | None = None
    hazmat: bool | None = None
    high_value: bool | None = None
    list_price: Amount | None = None
    currency: Currency | None = None
    active: bool | None = None
    backorder_policy: BackorderPolicyName | None = Field(
        None, description="none: a short line is refused; backorder: short units wait for inbound; preorder: all do"
    )
    final_sale: bool | None = Field(None, description="Never returnable (docs/returns.md)")
    return_window_days: Annotated[int, Field(ge=0, le=3650)] | None = Field(
        None, description="Days to return it, overriding the channel's return policy; null: the policy's"
    )


class ProductCreate(ProductFields):
    sku: Sku
    name: Name
    hazmat: bool = False
    high_value: bool = False
    currency: Currency = "USD"
    active: bool = True
    backorder_policy: BackorderPolicyName = "none"
    final_sale: bool = False


def _not_null(v: Any) -> Any:
    """Runs only for fields a client sent: null would blank a column that must have a value."""
    if v is None:
        raise ValueError("must not be null; leave the field out to keep its value")
    return v


class ProductUpdate(ProductFields):
    _keep = field_validator("name", "hazmat", "high_value", "currency", "active", "backorder_policy", "final_sale")(
        _not_null
    )


class ProductRead(BaseModel):
    id: int
    sku: str
    name: str
    description: str | None
    weight_grams: int | None
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    hazmat: bool
    high_value: bool
    list_price: Decimal | None
    currency: str
    active: bool
    backorder_policy: BackorderPolicyName
    final_sale: bool = False
    return_window_days: int | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


# --- locations ----------------------------------------------------------------------------

LocationKind = Literal["warehouse", "store", "3pl", "dropship"]


class LocationFields(Strict):
    name: Name | None = None
    kind: LocationKind | None = None
    address_line1: Text | None = None
    address_line2: Text | None = None
    city: Text | None = None
    region: Text | None = None
    postal_code: Annotated[str, StringConstraints(max_length=32)] | None = None
    country: Country | None = None
    latitude: Annotated[Decimal, Field(ge=-90, le=90, decimal_places=6)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, decimal_places=6)] | None = None
    timezone: Annotated[str, AfterValidator(_timezone)] | None = Field(default=None, examples=["America/Chicago"])
    ships: bool | None = None
    pickup: bool | None = None
    accepts_returns: bool | None = None
    daily_capacity: Annotated[int, Field(ge=0, le=10_000_000)] | None = Field(
        default=None, description="Most units the location can ship per local day"
    )
    cutoff_time: LocalTime | None = Field(
        default=None, description="Local time (the location's timezone) after which orders ship the next business day"
    )
    priority: Annotated[int, Field(ge=0, le=10_000)] | None = Field(
        default=None,
        description="Lower is preferred when an order is sourced by priority (no carrier rates or no address)",
    )
    active: bool | None = None
    hazmat_licensed: bool | None = Field(default=None, description="May ship hazmat products")
    secure: bool | None = Field(default=None, description="May ship high-value products")
    workdays: Annotated[str, AfterValidator(_workdays)] | None = Field(
        default=None, description="Days it ships, e.g. 'mon tue wed thu fri'", examples=["mon tue wed thu fri sat"]
    )
    holiday_calendar: Annotated[str, AfterValidator(_holiday_calendar)] | None = Field(
        default=None, description="Public holidays it closes on: a country or country-subdivision", examples=["US-TX"]
    )
    handling_days: Annotated[int, Field(ge=0, le=30)] | None = Field(
        default=None, description="Business days to pick and pack before the carrier collects"
    )
    channels: Annotated[list[Code], Field(max_length=100)] | None = Field(
        default=None, description="Channel codes it serves; null: every channel"
    )
    release_mode: Literal["manual", "automatic", "waves"] | None = Field(
        default=None,
        description="How its work is released: manual (order by order), automatic (as soon as allocated) "
        "or waves (at wave_times and the cut-off), always within daily_capacity",
    )
    wave_times: (
        Annotated[list[str], BeforeValidator(_wave_times_text), Field(max_length=24), AfterValidator(_wave_times)]
        | None
    ) = Field(
        default=None,
        description="Local times of day (HH:MM) its waves run, in waves mode",
        examples=[["09:00", "13:00"]],
    )
    pickup_hold_days: Annotated[int, Field(ge=0, le=90)] | None = Field(
        default=None, description="Days a ready pickup order is held before it is cancelled (docs/pickup.md)"
    )


class LocationCreate(LocationFields):
    code: Code
    name: Name
    kind: LocationKind
    country: Country
    timezone: Annotated[str, AfterValidator(_timezone)] = Field(examples=["America/Chicago"])
    ships: bool = True
    pickup: bool = False
    accepts_returns: bool = False
    priority: Annotated[int, Field(ge=0, le=10_000)] = 100
    active: bool = True
    hazmat_licensed: bool = False
    secure: bool = False
    workdays: Annotated[str, AfterValidator(_workdays)] = "mon tue wed thu fri"
    handling_days: Annotated[int, Field(ge=0, le=30)] = 0
    release_mode: Literal["manual", "automatic", "waves"] = "manual"
    pickup_hold_days: Annotated[int, Field(ge=0, le=90)] = 7


class LocationUpdate(LocationFields):
    _keep = field_validator(
        "name",
        "kind",
        "country",
        "timezone",
        "ships",
        "pickup",
        "accepts_returns",
        "priority",
        "active",
        "hazmat_licensed",
        "secure",
        "workdays",
        "handling_days",
        "release_mode",
        "pickup_hold_days",
    )(_not_null)


class LocationRead(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    address_line1: str | None
    address_line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str
    latitude: Decimal | None
    longitude: Decimal | None
    timezone: str
    ships: bool
    pickup: bool
    accepts_returns: bool
    daily_capacity: int | None
    cutoff_time: LocalTime | None
    priority: int
    active: bool
    hazmat_licensed: bool
    secure: bool
    workdays: str
    holiday_calendar: str | None
    handling_days: int
    channels: list[str] | None
    release_mode: str
    wave_times: list[str] | None
    pickup_hold_days: int = Field(default=7, description="Days a ready pickup order is held (docs/pickup.md)")
    created_at: dt.datetime
    updated_at: dt.datetime


# --- channels and customers ---------------------------------------------------------------

ChannelKind = Literal["web", "shopify", "woocommerce", "amazon", "ebay", "b2b", "pos", "phone", "edi", "csv", "api"]


class ChannelCreate(Strict):
    code: Code
    name: Name
    kind: ChannelKind
    currency: Currency = "USD"
    active: bool = True
    default_language: LanguageTag | None = Field(default=None, description="E-mails to its customers; default: en")
    accepts_backorders: bool = Field(False, description="Orders may wait for inbound stock (backorders, preorders)")


class ChannelUpdate(Strict):
    name: Name | None = None
    kind: ChannelKind | None = None
    currency: Currency | None = None
    active: bool | None = None
    default_language: LanguageTag | None = None
    accepts_backorders: bool | None = None

    _keep = field_validator("name", "kind", "currency", "active", "accepts_backorders")(_not_null)


class ChannelRead(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    currency: str
    active: bool
    default_language: str | None = None
    accepts_backorders: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerCreate(Strict):
    email: EmailStr
    name: Name | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None


class CustomerRead(BaseModel):
    id: int
    email: str
    name: str | None
    phone: str | None
    created_at: dt.datetime


# --- stock --------------------------------------------------------------------------------


class StockSet(Strict):
    """A count: on hand becomes exactly this figure."""

    sku: Sku
    location: Code
    on_hand: Annotated[int, Field(ge=0, le=MAX_STOCK)]
    reason: Reason = "count"


class StockAdjust(Strict):
    sku: Sku
    location: Code
    delta: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK)] = Field(
        description="Units to add (positive) or remove (negative); never 0"
    )
    reason: Reason

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("must not be 0")
        return v


class StockReceive(Strict):
    sku: Sku
    location: Code
    quantity: Annotated[int, Field(ge=1, le=MAX_STOCK)]
    reference: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="Purchase order, ASN or transfer number"
    )
    reason: Reason = "receipt"


class StockLevelRead(BaseModel):
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int
    delta: int = Field(description="How much on hand changed with this command")


class LocationAvailability(BaseModel):
    location: str
    on_hand: int
    reserved: int
    safety_stock: int = Field(default=0, description="Units kept back from orders")
    available: int = Field(description="Available to promise: on hand - reserved - safety stock (never below 0)")
    ships: bool = Field(description="Counts towards network availability")


class Availability(BaseModel):
    sku: str
    network_available: int = Field(description="Available to promise across active shipping locations")
    on_hand: int
    reserved: int
    locations: list[LocationAvailability]


class LedgerRead(BaseModel):
    id: int
    location: str
    entry_type: str
    on_hand_delta: int
    reserved_delta: int
    reason: str | None
    reference: str | None
    order_id: int | None
    actor: str
    created_at: dt.datetime


# --- orders -------------------------------------------------------------------------------


class Address(Strict):
    name: Text | None = None
    company: Text | None = None
    line1: Text
    line2: Text | None = None
    city: Text
    region: Text | None = None
    postal_code: Annotated[str, StringConstraints(max_length=32)] | None = None
    country: Country
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None


class CustomerIn(Strict):
    email: EmailStr
    name: Name | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None


class OrderLineCreate(Strict):
    sku: Sku
    quantity: Quantity
    unit_price: Amount
    discount: Amount = Field(default=Decimal(0), description="Total discount on the line")
    tax: Amount = Field(default=Decimal(0), description="Total tax on the line")
    external_line_id: Annotated[str, StringConstraints(max_length=128)] | None = None


class OrderPaymentIn(Strict):
    """How the order is paid, given with the order (docs/payments.md "Payment at capture")."""

    provider: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="The payment provider: stripe, test, manual, ...", examples=["stripe"]
    )
    payment_method: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = (
        Field(default=None, description="A method to authorise now, after the order is captured (pm_..., test_ok)")
    )
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None = Field(
        default=None, description="An authorisation the channel already took: its reference at the provider"
    )
    amount: Amount | None = Field(default=None, description="Default: the order's grand total")
    status: Literal["authorized", "captured"] = Field(
        default="authorized", description="With reference: whether the channel only authorised or also captured"
    )


class OrderCreate(Strict):
    channel: Code = Field(description="Code of a configured sales channel", examples=["web"])
    external_order_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="The channel's own order id; (channel, external_order_id) is unique"
    )
    currency: Currency
    customer: CustomerIn | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    lines: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=MAX_ORDER_LINES)]
    shipping_total: Amount = Decimal(0)
    shipping_tax: Amount = Decimal(0)
    service_level: Literal["standard", "expedited", "express", "next_day"] = "standard"
    placed_at: UtcDatetime | None = Field(default=None, description="When the customer placed it (channel time)")
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    language: LanguageTag | None = Field(
        default=None, description="The customer's language for e-mails (BCP 47: de, fr-CA); default: the channel's"
    )
    fulfilment_method: Literal["ship", "pickup", "curbside"] = Field(
        default="ship", description="ship: by carrier; pickup or curbside: the customer collects it at pickup_location"
    )
    pickup_location: Code | None = Field(
        default=None,
        description="Required for pickup and curbside: an active location with pickup enabled; "
        "the order is reserved there only",
        examples=["ST-AUS"],
    )
    payment: OrderPaymentIn | None = Field(
        default=None,
        description="How it is paid: an authorisation the channel took (recorded, no call) or a method to "
        "authorise right after capture; a decline puts the order on payment hold",
    )


class PickupRead(BaseModel):
    method: Literal["pickup", "curbside"]
    location: str
    location_name: str
    code: str = Field(description="The code the customer shows at hand-over (for customer service)")
    ready_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(description="Cancelled when not collected by then")
    arrived_at: dt.datetime | None = Field(description="Curbside: when the customer said they were outside")
    arrival_note: str | None
    collected_at: dt.datetime | None
    collected_by: str | None
    id_checked: bool


class ReservationRead(BaseModel):
    location: str
    quantity: int


class OrderLineRead(BaseModel):
    line_number: int
    sku: str
    status: LineStatus
    quantity: int
    quantity_open: int
    quantity_reserved: int
    quantity_cancelled: int
    quantity_shipped: int
    unit_price: Decimal
    discount: Decimal
    tax: Decimal
    external_line_id: str | None
    reservations: list[ReservationRead]
    quantity_backordered: int = Field(0, description="Units waiting for inbound stock (backorder or preorder)")
    expected_at: dt.datetime | None = Field(None, description="When the last waiting unit is expected to arrive")


class HoldRead(BaseModel):
    hold_type: HoldType
    reason: str
    placed_by: str
    placed_at: dt.datetime
    active: bool
    released_at: dt.datetime | None
    released_by: str | None
    release_reason: str | None


class TimelineEntry(BaseModel):
    event_type: str
    actor: str
    message: str
    data: dict[str, Any] | None
    created_at: dt.datetime


class OrderSummary(BaseModel):
    id: int
    order_number: str
    channel: str
    external_order_id: str | None
    status: OrderStatus
    currency: str
    grand_total: Decimal
    customer_email: str | None = None
    customer_name: str | None = None
    placed_at: dt.datetime
    created_at: dt.datetime


class PromiseRead(BaseModel):
    """When the customer was told the order arrives (local dates at the destination)."""

    ship_date: dt.date | None = Field(description="When the last parcel leaves")
    earliest: dt.date = Field(description="The order is complete no earlier than this")
    latest: dt.date = Field(description="... and no later than this")


class OrderRead(BaseModel):
    id: int
    order_number: str
    channel: str
    external_order_id: str | None
    status: OrderStatus
    on_hold: bool
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    shipping_total: Decimal
    grand_total: Decimal
    service_level: str
    customer: CustomerRead | None
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    sourcing_rule: str | None = Field(
        description="How the order was sourced: routing/<rules>@v<version>, or priority/... when the engine "
        "could not price parcels (no rate table or no usable address); GET /orders/{order}/routing explains it"
    )
    promise: PromiseRead | None = Field(
        description="The delivery promise from routing; null when the order was sourced by priority"
    )
    captured_by: str
    notes: str | None
    placed_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: list[OrderLineRead]
    holds: list[HoldRead]
    timeline: list[TimelineEntry]
    pickup: PickupRead | None = Field(default=None, description="How a pickup or curbside order is collected")
    payment_status: str = Field(
        default="unpaid",
        description="unpaid, pending, authorized, partially_paid, paid, partially_refunded, refunded or failed; "
        "GET /orders/{order}/payments has the payments",
    )


class CancelOrder(Strict):
    reason: Reason


class LineCancel(Strict):
    line_number: Annotated[int, Field(ge=1)]
    quantity: Quantity | None = Field(default=None, description="Units to cancel; all open units when omitted")


class CancelLines(Strict):
    reason: Reason
    lines: Annotated[list[LineCancel], Field(min_length=1, max_length=MAX_ORDER_LINES)]


class HoldCreate(Strict):
    type: HoldType
    reason: Reason


class HoldRelease(Strict):
    reason: Reason


class NoteCreate(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page; null on the last page")


class ApiKeyCreate(Strict):
    name: Name
    scopes: list[str]


class FieldProblem(BaseModel):
    field: str = Field(description="Path of the offending input, e.g. lines[2].sku")
    reason: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable machine-readable code, e.g. insufficient_stock")
    message: str = Field(description="What went wrong and what to do next")
    errors: list[FieldProblem]


class ErrorResponse(BaseModel):
    """The body of every 4xx response."""

    error: ErrorDetail


_ERROR_TEXT = {
    400: "Malformed JSON",
    401: "Missing, unknown or revoked API key",
    403: "The API key lacks the scope",
    404: "Not found",
    409: "Refused in the current state (illegal transition, not enough stock, conflict)",
    413: "Request body too large",
    415: "Body is not application/json",
    422: "Invalid input; `error.errors` names each field and reason",
    503: "A payment provider could not be reached; retry with the same Idempotency-Key",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all with the ErrorResponse body."""
    return {s: {"model": ErrorResponse, "description": _ERROR_TEXT[s]} for s in statuses}


COMMON_ERRORS = error_responses(400, 401, 403, 413, 415, 422)


def field_path(loc: tuple[int | str, ...]) -> str:
    """('body', 'lines', 2, 'sku') -> 'lines[2].sku'."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"
