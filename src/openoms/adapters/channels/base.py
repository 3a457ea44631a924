"""What every channel adapter gives the OMS: a platform's message as canonical order changes.

An adapter is pure mapping: it reads the platform's own, documented payload and says "create
this order", "cancel that one" or "nothing for us here" in the OMS's vocabulary
(the order as the REST API's ``OrderCreate`` body takes it: one canonical form for every channel,
documented in the OpenAPI description), keeping the channel's ids. It never writes to the
database; ``services.channel_inbox`` stores the message first, asks the adapter, and turns
what comes back into orders, so that a message the adapter cannot map is kept as a dead letter
with the adapter's reason instead of being lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class ChangeKind(StrEnum):
    CREATE = "create"  # a new order (captured idempotently by its external id)
    CANCEL = "cancel"  # the channel cancelled it
    IGNORE = "ignore"  # understood, nothing to do (a test ping, a status we do not track)


@dataclass(frozen=True)
class ChannelOrderChange:
    kind: ChangeKind
    external_order_id: str
    order: Mapping[str, Any] | None = None  # for CREATE: an OrderCreate-shaped body
    reason: str | None = None  # for CANCEL and IGNORE: what the channel said
    #: Adapter-specific facts the service needs afterwards (an EDI line's PO101, ...).
    context: dict[str, Any] | None = None


class MappingError(ValueError):
    """The message cannot become an order; ``field`` names where in the payload, ``reason`` why.
    Shown on the dead-letter list, so it must tell an operator what to fix."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class InboundMessage:
    """One message as it arrived, before anything was made of it."""

    channel: str
    source: str  # webhook | poll | file | api
    topic: str
    dedupe_key: str
    body: str
    content_type: str = "application/json"
    external_order_id: str | None = None


class ChannelAdapter(Protocol):
    platform: str

    def map_message(self, message: InboundMessage, *, channel_currency: str) -> Sequence[ChannelOrderChange]: ...


class SignatureError(ValueError):
    """A webhook that is not from the platform (missing or wrong HMAC): refuse it, store nothing."""


def verify_base64_hmac(body: bytes, header_value: str | None, secrets: Iterable[str], *, header: str) -> None:
    """Base64(HMAC-SHA256(secret, raw body)) must equal the header, compared in constant time;
    any of several secrets passes (rotation). Shopify and WooCommerce both sign this way."""
    if not header_value:
        raise SignatureError(f"{header} is missing")
    try:
        given = base64.b64decode(header_value.strip(), validate=True)
    except ValueError:
        raise SignatureError(f"{header} is not base64") from None
    keys = [s for s in secrets if s]
    if not keys:
        raise SignatureError("no webhook secret is set for this channel")
    for key in keys:
        if hmac.compare_digest(hmac.new(key.encode(), body, hashlib.sha256).digest(), given):
            return
    raise SignatureError(f"{header} does not match the body")


def sign_base64_hmac(body: bytes, secret: str) -> str:
    """The header value a platform sends for ``body`` (tests and fake platforms use it)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
