"""Outgoing webhooks' rules: which events a subscription wants, where it may point, how long a
failed delivery waits before the next try, and when the sender gives up (docs/webhooks.md).

Pure: no I/O. The services and the worker decide when; this says what.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from openoms.domain.errors import FieldError
from openoms.domain.events import EventType

MAX_NAME = 100
MAX_URL = 2000
MAX_EVENT_TYPES = 200  # more than every choice together: a subscriber may tick them all
MAX_EVENT_TYPE = 64
RESPONSE_EXCERPT_CHARS = 1000
"""How much of a receiver's answer the delivery log keeps: enough to read an error page's
first lines, not so much that a misbehaving receiver fills the database."""

FIRST_RETRY = dt.timedelta(minutes=1)
LAST_RETRY = dt.timedelta(hours=1)
JITTER = 0.1
"""Each wait is the doubled base ±10 %, so many deliveries failing at the same moment (a
receiver down) do not come back at the same moment either."""

ALL_EVENTS = "*"
_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_PREFIX = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*")


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not tried yet (or queued again by hand)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # the last try failed; tried again at next_attempt_at
    DEAD = "dead"  # failed max_attempts times; waits for a person to re-send it


#: Timeline-only types: never written to the outbox, so never sent.
TIMELINE_ONLY = frozenset({EventType.NOTIFICATION_SENT.value, EventType.NOTIFICATION_FAILED.value})

#: Event types a subscriber can choose from (the outbox's types), and the prefixes they share.
EVENT_CHOICES: tuple[str, ...] = tuple(e.value for e in EventType if e.value not in TIMELINE_ONLY)
PREFIX_CHOICES: tuple[str, ...] = tuple(sorted({e.split(".", 1)[0] + ".*" for e in EVENT_CHOICES}))


def validate_event_types(values: Sequence[str], field: str = "event_types") -> tuple[list[str], list[FieldError]]:
    """Normalised patterns (lower case, de-duplicated, order kept) and the problems: each is an
    exact type (``order.placed``), a prefix (``order.*``) or ``*`` for every event."""
    out: list[str] = []
    errors: list[FieldError] = []
    if not values:
        errors.append(FieldError(field, "choose at least one event type, a prefix such as order.* or *"))
    if len(values) > MAX_EVENT_TYPES:
        errors.append(FieldError(field, f"at most {MAX_EVENT_TYPES} event types"))
    for i, raw in enumerate(values):
        value = str(raw).strip().lower()
        if not value:
            errors.append(FieldError(f"{field}[{i}]", "must not be empty"))
        elif len(value) > MAX_EVENT_TYPE:
            errors.append(FieldError(f"{field}[{i}]", f"must be at most {MAX_EVENT_TYPE} characters"))
        elif value != ALL_EVENTS and not _TYPE.fullmatch(value) and not _PREFIX.fullmatch(value):
            errors.append(
                FieldError(
                    f"{field}[{i}]",
                    f"{raw!r} is not an event type (order.placed), a prefix (order.*) or * for every event",
                )
            )
        elif value not in out:
            out.append(value)
    return out, errors


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a subscription with these patterns wants an event: ``*`` all, ``order.*`` every
    type under ``order.`` (``order.placed``, not ``orders.x`` nor ``order`` itself), or equal."""
    for pattern in patterns:
        if pattern in (ALL_EVENTS, event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def validate_url(value: str, field: str = "url") -> tuple[str, list[FieldError]]:
    """An absolute http(s) URL with a host; anything else is refused with the reason."""
    url = (value or "").strip()
    if not url:
        return url, [FieldError(field, "must not be empty")]
    if len(url) > MAX_URL:
        return url, [FieldError(field, f"must be at most {MAX_URL} characters")]
    if any(c.isspace() for c in url):
        return url, [FieldError(field, "must not contain spaces")]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return url, [FieldError(field, f"is not a valid URL ({exc})")]
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return url, [FieldError(field, f"must start with http:// or https:// ({shown} given)")]
    if not parts.hostname:
        return url, [FieldError(field, "has no host name")]
    if port == 0:
        return url, [FieldError(field, "port 0 is not a port")]
    if parts.username or parts.password:
        return url, [FieldError(field, "must not carry a user name or password; the signature authenticates us")]
    if parts.fragment:
        return url, [FieldError(field, "must not have a #fragment (it is never sent)")]
    return url, []


def is_loopback(url: str) -> bool:
    """For the page's hint: a receiver on this machine only."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_name(value: str, field: str = "name") -> tuple[str, list[FieldError]]:
    name = (value or "").strip()
    if not name:
        return name, [FieldError(field, "must not be empty")]
    if len(name) > MAX_NAME:
        return name, [FieldError(field, f"must be at most {MAX_NAME} characters")]
    return name, []


def retry_delay(attempts: int, rand: float) -> dt.timedelta:
    """The wait after the ``attempts``-th failed try: 1 min, 2, 4, ... doubling up to 1 h, each
    ±10 % by ``rand`` in [0, 1)."""
    if attempts < 1:
        raise ValueError("attempts starts at 1")
    base = min(FIRST_RETRY.total_seconds() * 2 ** min(attempts - 1, 30), LAST_RETRY.total_seconds())
    return dt.timedelta(seconds=base * (1 - JITTER + 2 * JITTER * rand))


def after_failure(attempts: int, max_attempts: int) -> DeliveryStatus:
    """The status after the ``attempts``-th failed try."""
    return DeliveryStatus.DEAD if attempts >= max_attempts else DeliveryStatus.FAILED


def is_success(status_code: int) -> bool:
    return 200 <= status_code < 300


def order_id_of(aggregate_type: str, aggregate_id: str, payload: Mapping[str, Any]) -> int | None:
    """The order an event is about, for ordering per order; None: the event is unordered."""
    order = payload.get("order")
    if isinstance(order, Mapping) and isinstance(order.get("id"), int) and not isinstance(order.get("id"), bool):
        return int(order["id"])
    if isinstance(payload.get("order_id"), int) and not isinstance(payload.get("order_id"), bool):
        return int(payload["order_id"])
    if aggregate_type == "order" and aggregate_id.isascii() and aggregate_id.isdigit() and len(aggregate_id) < 19:
        return int(aggregate_id)
    return None


def excerpt(text: str, limit: int = RESPONSE_EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
