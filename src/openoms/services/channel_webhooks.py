"""Order webhooks from platforms: verify the signature, store the message, make the order.

The signature is the only authentication (platforms cannot send an API key), so it is checked
on the raw bytes before anything is parsed or stored: a request that fails it changes nothing.
A signed body that is not usable JSON is kept as a dead letter and answered 200, because a
platform retries every non-2xx answer for days and the retry would be just as broken.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from openoms.adapters.channels import shopify, woocommerce
from openoms.adapters.channels.base import ChannelOrderChange, InboundMessage, MappingError, SignatureError
from openoms.adapters.db.engine import Database
from openoms.config import Settings
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import channel_connections, channel_inbox
from openoms.services.channel_inbox import StoredMessage
from openoms.services.common import Actor

SHOPIFY_PREFIX = "shopify/"
WOO_PREFIX = "woocommerce/"


def receive_shopify(
    db: Database, settings: Settings, channel: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """One Shopify webhook delivery (headers lower-cased)."""
    secrets = channel_connections.webhook_secrets(db, settings, channel, "shopify")
    try:
        shopify.verify_webhook(body, headers.get("x-shopify-hmac-sha256"), secrets)
    except SignatureError as exc:
        _refuse(db, channel, exc)
    topic = (headers.get("x-shopify-topic") or "").strip() or "unknown"
    webhook_id = (headers.get("x-shopify-webhook-id") or "").strip()
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
        external = str(payload.get("id")) if isinstance(payload, dict) and payload.get("id") else None
    except json.JSONDecodeError:
        payload, external = None, None
    # Shopify's delivery id when sent; otherwise the order's own version (id + updated_at).
    key = f"shopify:{webhook_id}" if webhook_id else f"shopify:{topic}:{external}:{_version(payload, body)}"
    message = InboundMessage(channel, "webhook", SHOPIFY_PREFIX + topic, key[:255], text, external_order_id=external)
    return _store_and_process(db, channel, message, payload)


def receive_woocommerce(
    db: Database, settings: Settings, channel: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """One WooCommerce webhook delivery (headers lower-cased). WooCommerce pings a new webhook
    with a form body ``webhook_id=N`` and no topic: answered, not stored."""
    topic = (headers.get("x-wc-webhook-topic") or "").strip()
    if not topic and body.startswith(b"webhook_id="):
        return {"inbox_id": None, "status": "ignored", "duplicate": False}
    secrets = channel_connections.webhook_secrets(db, settings, channel, "woocommerce")
    try:
        woocommerce.verify_webhook(body, headers.get("x-wc-webhook-signature"), secrets)
    except SignatureError as exc:
        _refuse(db, channel, exc)
    delivery = (headers.get("x-wc-webhook-delivery-id") or "").strip()
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
        external = str(payload.get("id")) if isinstance(payload, dict) and payload.get("id") else None
    except json.JSONDecodeError:
        payload, external = None, None
    version = payload.get("date_modified_gmt") if isinstance(payload, dict) else None
    key = f"woo:{delivery}" if delivery else f"woo:{topic}:{external}:{version or _version(payload, body)}"
    message = InboundMessage(channel, "webhook", WOO_PREFIX + (topic or "unknown"), key[:255], text,
                             external_order_id=external)  # fmt: skip
    return _store_and_process(db, channel, message, payload)


def _refuse(db: Database, channel: str, exc: SignatureError) -> NoReturn:
    channel_connections.record_contact(db, channel, error=f"webhook refused: {exc}")
    raise DomainError(ErrorCode.UNAUTHORIZED, f"Webhook signature refused: {exc}") from None


def _store_and_process(db: Database, channel: str, message: InboundMessage, payload: Any) -> dict[str, Any]:
    """Store a verified delivery once and make its order; an unreadable body is a dead letter."""
    channel_connections.record_contact(db, channel)
    if not isinstance(payload, dict):
        stored = channel_inbox.record_dead(db, message, "body: not a JSON object")
        return {"inbox_id": stored["id"], "status": "dead", "duplicate": not stored["created"]}
    stored = channel_inbox.receive(db, message)
    if not stored["created"]:
        return {"inbox_id": stored["id"], "status": stored["status"], "duplicate": True}
    result = channel_inbox.process(db, stored["id"], Actor(f"channel:{channel}"))
    return {"inbox_id": stored["id"], "status": result["status"], "duplicate": False, "order_id": result["order_id"]}


def _version(payload: Any, body: bytes) -> str:
    if isinstance(payload, dict) and payload.get("updated_at"):
        return str(payload["updated_at"])
    return hashlib.sha256(body).hexdigest()[:16]


def _map_shopify(_db: Database, msg: StoredMessage) -> Sequence[ChannelOrderChange]:
    try:
        payload = json.loads(msg.body)
    except json.JSONDecodeError as exc:
        raise MappingError("body", f"not JSON: {exc.msg}") from None
    return shopify.map_webhook(msg.topic.removeprefix(SHOPIFY_PREFIX), payload, channel=msg.channel)


def _map_woocommerce(db: Database, msg: StoredMessage) -> Sequence[ChannelOrderChange]:
    try:
        payload = json.loads(msg.body)
    except json.JSONDecodeError as exc:
        raise MappingError("body", f"not JSON: {exc.msg}") from None
    options = channel_connections.options(db, msg.channel)
    return woocommerce.map_webhook(
        msg.topic.removeprefix(WOO_PREFIX), payload, channel=msg.channel,
        missing_sku=str(options.get("missing_sku", "refuse")),
    )  # fmt: skip


channel_inbox.register(SHOPIFY_PREFIX, _map_shopify)
channel_inbox.register(WOO_PREFIX, _map_woocommerce)
