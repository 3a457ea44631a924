"""Channel intake: the inbox with its dead letters, and EDI X12 files from trading partners."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from openoms.api.deps import DB, actor_of, require
from openoms.api.schemas import COMMON_ERRORS, Code, Strict
from openoms.domain.errors import DomainError, ErrorCode, validation_error
from openoms.services import channel_inbox, edi
from openoms.services.apikeys import Principal

router = APIRouter(prefix="/api/v1", tags=["channels"], responses=COMMON_ERRORS)
Reader = Annotated[Principal, Depends(require("orders:read"))]
Writer = Annotated[Principal, Depends(require("orders:write"))]
CatalogWriter = Annotated[Principal, Depends(require("catalog:write"))]
ChannelCode = Annotated[str, Path(min_length=1, max_length=32, description="The channel's code")]
MessageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The inbox message's id")]
Status = Literal["received", "processed", "dead", "ignored"]


class InboxMessageRead(BaseModel):
    id: int
    channel: str
    source: str = Field(description="webhook, poll, file or api")
    topic: str = Field(description="What the channel sent, e.g. orders/create or x12/850")
    dedupe_key: str = Field(description="A second message with the same key is stored once")
    external_order_id: str | None
    status: Status = Field(description="dead: could not become an order; `reason` says why")
    reason: str | None
    order_id: int | None
    attempts: int
    received_at: dt.datetime
    processed_at: dt.datetime | None
    content_type: str | None = None
    body: str | None = Field(default=None, description="The message as received (single message only)")


class InboxPage(BaseModel):
    items: list[InboxMessageRead]
    next_cursor: str | None
    counts: dict[str, int] = Field(description="Messages per status, all channels")


class IgnoreRequest(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class EdiPartnerWrite(Strict):
    ours: str = Field(
        description="Our interchange id as QUALIFIER:ID (ISA05/06 on what we send)", examples=["ZZ:OPENOMS"]
    )
    theirs: str = Field(
        description="The partner's as QUALIFIER:ID (ISA05/06 on what they send)", examples=["12:4405197800"]
    )
    sku_qualifiers: list[Annotated[str, StringConstraints(min_length=2, max_length=2)]] | None = Field(
        default=None,
        max_length=10,
        description="PO1 product id qualifiers that carry our SKU, first match wins "
        "(default SK, VN, VP, BP, IN, UP, EN)",
    )
    default_country: Annotated[str, StringConstraints(min_length=2, max_length=2)] = "US"
    usage: Literal["P", "T"] = Field(default="P", description="ISA15 on what we send: production or test")
    strict: bool = Field(
        default=True, description="Refuse interchanges whose envelope counts or control numbers disagree"
    )


class EdiPartnerRead(BaseModel):
    channel: str
    ours: str
    theirs: str
    sku_qualifiers: list[str]
    default_country: str
    usage: str
    strict: bool
    next_interchange_control: int
    next_group_control: int


class EdiSetResult(BaseModel):
    set: str = Field(description="The transaction set, e.g. 850")
    control_number: str
    po_number: str | None
    inbox_id: int
    duplicate: bool = Field(description="This set (sender, ISA13, ST02) was received before: nothing changed")
    status: Status
    reason: str | None
    order_id: int | None


class EdiReceipt(BaseModel):
    interchange: dict[str, Any] | None
    error: str | None = Field(description="The envelope could not be read; the file is kept as a dead letter")
    dead_letter: int | None = None
    orders: list[EdiSetResult]


class EdiDocumentRead(BaseModel):
    id: int
    direction: Literal["in", "out"]
    set: str
    interchange_control: str
    set_control: str
    po_number: str | None
    order_id: int | None
    created_at: dt.datetime
    body: str | None = None


@router.get("/channel-inbox", response_model=InboxPage, summary="Channel messages and dead letters")
def list_inbox(
    db: DB,
    _: Reader,
    channel: Code | None = None,
    status: Status | None = Query(default=None, description="dead: the dead-letter list"),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=64),
) -> dict[str, Any]:
    return channel_inbox.list_messages(db, channel=channel, status=status, limit=limit, cursor=cursor)


@router.get("/channel-inbox/{message_id}", response_model=InboxMessageRead, summary="One channel message")
def get_inbox_message(db: DB, _: Reader, message_id: MessageId) -> dict[str, Any]:
    return channel_inbox.get_message(db, message_id)


@router.post("/channel-inbox/{message_id}/retry", response_model=InboxMessageRead, summary="Retry a dead letter")
def retry_inbox_message(db: DB, principal: Writer, message_id: MessageId) -> dict[str, Any]:
    """Map the stored message again (after creating the SKU, fixing the partner setting, ...).
    Capture is idempotent, so a retry never makes a second order."""
    return channel_inbox.retry(db, message_id, actor_of(principal))


@router.post("/channel-inbox/{message_id}/ignore", response_model=InboxMessageRead, summary="Give up on a dead letter")
def ignore_inbox_message(db: DB, principal: Writer, message_id: MessageId, body: IgnoreRequest) -> dict[str, Any]:
    return channel_inbox.ignore(db, message_id, body.reason, actor_of(principal))


@router.put("/channels/{code}/edi-partner", response_model=EdiPartnerRead, summary="Set the channel's X12 partner")
def put_edi_partner(db: DB, principal: CatalogWriter, code: ChannelCode, body: EdiPartnerWrite) -> dict[str, Any]:
    return edi.set_partner(
        db,
        code,
        ours=body.ours,
        theirs=body.theirs,
        sku_qualifiers=body.sku_qualifiers,
        default_country=body.default_country,
        usage=body.usage,
        strict=body.strict,
        actor=actor_of(principal),
    )


@router.get("/channels/{code}/edi-partner", response_model=EdiPartnerRead, summary="The channel's X12 partner")
def get_edi_partner(db: DB, _: Reader, code: ChannelCode) -> dict[str, Any]:
    return edi.get_partner(db, code)


@router.post(
    "/channels/{code}/edi",
    response_model=EdiReceipt,
    summary="Send an X12 interchange (850 purchase orders)",
    openapi_extra={
        "requestBody": {"content": {"application/edi-x12": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def post_edi(request: Request, db: DB, principal: Writer, code: ChannelCode) -> dict[str, Any]:
    """One interchange as the partner sent it (`Content-Type: application/edi-x12`). Each 850
    becomes an order, or a dead letter with the reason; the same file again changes nothing.
    The 855 acknowledgments are listed under `/channels/{code}/edi/documents`."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in edi.EDI_CONTENT_TYPES:
        raise DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the interchange as Content-Type: application/edi-x12")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        raise validation_error("body", "the interchange is empty")
    return await run_in_threadpool(edi.receive_interchange, db, code, text, source="api", actor=actor_of(principal))


@router.get("/channels/{code}/edi/documents", response_model=list[EdiDocumentRead], summary="X12 documents")
def list_edi_documents(
    db: DB,
    _: Reader,
    code: ChannelCode,
    direction: Literal["in", "out"] | None = None,
    limit: int = Query(default=50, ge=1, le=200),
) -> list[dict[str, Any]]:
    return edi.list_documents(db, code, direction=direction, limit=limit)


@router.get("/edi/documents/{document_id}", response_model=EdiDocumentRead, summary="One X12 document with its text")
def get_edi_document(db: DB, _: Reader, document_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict[str, Any]:
    return edi.get_document(db, document_id)


class OrderImportRequest(Strict):
    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="The file's name; .xlsx is read as Excel, anything else as CSV", examples=["orders.csv"]
    )
    content_base64: Annotated[str, StringConstraints(min_length=1)] = Field(description="The file, base64-encoded")
    mapping: dict[str, Any] = Field(
        description='{"columns": {field: header}, "defaults": {field: value}}; see GET /order-imports/template'
    )
    dry_run: bool = Field(default=True, description="Only check: report every problem and write nothing")


class ImportRowError(BaseModel):
    row: int = Field(description="Row number as in the sheet (the header is row 1)")
    column: str
    reason: str


class ImportedOrder(BaseModel):
    external_order_id: str
    rows: list[int]
    lines: int | None = None
    inbox_id: int | None = None
    status: Status | None = None
    reason: str | None = None
    order_id: int | None = None
    already_imported: bool | None = None


class OrderImportReport(BaseModel):
    dry_run: bool
    rows: int
    orders_ready: int = Field(description="Orders whose rows are all good")
    orders_left_out: int = Field(description="Orders with at least one bad row: none of their rows is imported")
    errors: list[ImportRowError]
    orders: list[ImportedOrder]


@router.get("/order-imports/template", summary="A column mapping to fill in")
def order_import_template(_: Reader) -> dict[str, Any]:
    from openoms.adapters.channels import spreadsheet

    return spreadsheet.template()


@router.post(
    "/channels/{code}/order-imports",
    response_model=OrderImportReport,
    summary="Import orders from CSV or Excel (dry run first)",
)
def post_order_import(db: DB, principal: Writer, code: ChannelCode, body: OrderImportRequest) -> dict[str, Any]:
    """One row per order line, grouped into orders by the mapped order id. With `dry_run`
    (the default) every problem is reported by row and column and nothing is written; without
    it each good order is captured through the channel inbox, so importing a file twice makes
    no second order and an order that cannot be captured waits as a dead letter."""
    import base64
    import binascii

    from openoms.services import order_import

    try:
        data = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise validation_error("content_base64", "is not base64") from None
    return order_import.import_orders(
        db, code, data, body.filename, body.mapping, dry_run=body.dry_run, actor=actor_of(principal)
    )


class ConnectionWrite(Strict):
    platform: Literal["shopify", "woocommerce", "amazon", "ebay"]
    base_url: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="The shop or API address, e.g. https://my-shop.myshopify.com"
    )
    webhook_secrets: list[Annotated[str, StringConstraints(max_length=500)]] | None = Field(
        default=None,
        max_length=3,
        description="Secrets the platform signs webhooks with (several while rotating); write-only, "
        "stored encrypted; omit to keep the stored ones",
    )
    credentials: dict[str, Annotated[str, StringConstraints(max_length=4000)]] | None = Field(
        default=None, description="API credentials for calls back to the platform; write-only, stored encrypted"
    )
    settings: dict[str, Any] | None = Field(default=None, description="Platform options (location ids, ...)")


class SecretFingerprint(BaseModel):
    fingerprint: str = Field(description="First 8 hex digits of the secret's SHA-256, to compare, not to use")


class ConnectionRead(BaseModel):
    channel: str
    platform: str
    base_url: str | None
    webhook_secrets: list[SecretFingerprint]
    credentials: list[str] = Field(description="Names of the stored credentials (never their values)")
    settings: dict[str, Any]
    last_received_at: dt.datetime | None
    last_synced_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None


class WebhookAccepted(BaseModel):
    inbox_id: int
    status: Status
    duplicate: bool = Field(description="Delivered before: nothing changed")
    order_id: int | None = None


@router.put("/channels/{code}/connection", response_model=ConnectionRead, summary="Connect a channel to its platform")
def put_connection(
    request: Request, db: DB, principal: CatalogWriter, code: ChannelCode, body: ConnectionWrite
) -> dict[str, Any]:
    from openoms.services import channel_connections

    return channel_connections.set_connection(
        db,
        request.app.state.settings,
        code,
        platform=body.platform,
        base_url=body.base_url,
        webhook_secrets=body.webhook_secrets,
        credentials=body.credentials,
        options=body.settings,
        actor=actor_of(principal),
    )


@router.get("/channels/{code}/connection", response_model=ConnectionRead, summary="A channel's connection")
def get_connection(request: Request, db: DB, _: Reader, code: ChannelCode) -> dict[str, Any]:
    from openoms.services import channel_connections

    return channel_connections.get_connection(db, request.app.state.settings, code)


@router.post(
    "/channels/{code}/webhooks/shopify",
    response_model=WebhookAccepted,
    summary="Shopify order webhooks (orders/create, orders/updated, orders/cancelled)",
    openapi_extra={
        "parameters": [
            {"name": "X-Shopify-Hmac-Sha256", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-Shopify-Topic", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-Shopify-Webhook-Id", "in": "header", "required": False, "schema": {"type": "string"}},
        ]
    },
)
async def shopify_webhook(request: Request, db: DB, code: ChannelCode) -> dict[str, Any]:
    """No API key: the `X-Shopify-Hmac-Sha256` signature of the raw body, with the channel's
    webhook secret, is the authentication (401 and nothing stored when it fails). A delivery
    seen before (same `X-Shopify-Webhook-Id`) changes nothing."""
    from openoms.services import channel_webhooks

    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run_in_threadpool(
        channel_webhooks.receive_shopify, db, request.app.state.settings, code, headers, body
    )


@router.post(
    "/channels/{code}/webhooks/woocommerce",
    response_model=WebhookAccepted | dict[str, Any],
    summary="WooCommerce order webhooks (order.created, order.updated, order.deleted)",
    openapi_extra={
        "parameters": [
            {"name": "X-WC-Webhook-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-WC-Webhook-Topic", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-WC-Webhook-Delivery-ID", "in": "header", "required": False, "schema": {"type": "string"}},
        ]
    },
)
async def woocommerce_webhook(request: Request, db: DB, code: ChannelCode) -> dict[str, Any]:
    """No API key: `X-WC-Webhook-Signature` (Base64 HMAC-SHA256 of the raw body with the
    webhook's secret) is the authentication. WooCommerce's creation ping is answered 200."""
    from openoms.services import channel_webhooks

    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run_in_threadpool(
        channel_webhooks.receive_woocommerce, db, request.app.state.settings, code, headers, body
    )
