"""Customer notifications: which event sends which message, in which language, and when a
failed delivery is tried again. Pure rules; the worker and the e-mail adapter do the I/O."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import quote

from openoms.domain.events import EventType

#: Sent by another feature (pickup in store); the template is ready for it.
ORDER_READY_FOR_PICKUP = "order.ready_for_pickup"


class Template(StrEnum):
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"
    ORDER_DELAYED = "order_delayed"
    READY_FOR_PICKUP = "ready_for_pickup"


class NotificationStatus(StrEnum):
    SENDING = "sending"  # handed to SMTP, outcome not yet recorded (a crash here resends)
    SENT = "sent"
    FAILED = "failed"  # will be tried again with the outbox message
    SKIPPED = "skipped"  # nothing to send: no address, or e-mail is off


#: The events that always tell the customer something. Re-routes and backorders tell them only
#: when the promise got later than what they were told (``is_delay``).
EVENT_TEMPLATES: Mapping[str, Template] = {
    EventType.ORDER_PLACED.value: Template.ORDER_CONFIRMED,
    EventType.SHIPMENT_CREATED.value: Template.ORDER_SHIPPED,
    EventType.SHIPMENT_DELIVERED.value: Template.ORDER_DELIVERED,
    EventType.SHIPMENT_EXCEPTION.value: Template.ORDER_DELAYED,
    ORDER_READY_FOR_PICKUP: Template.READY_FOR_PICKUP,
}
PROMISE_CHANGES = frozenset({EventType.ORDER_REROUTED.value, EventType.ORDER_BACKORDERED.value})

#: What the customer sees in the timeline entry: the template's name for people.
TEMPLATE_TITLES: Mapping[Template, str] = {
    Template.ORDER_CONFIRMED: "order confirmation",
    Template.ORDER_SHIPPED: "shipping confirmation",
    Template.ORDER_DELIVERED: "delivery confirmation",
    Template.ORDER_DELAYED: "delay notice",
    Template.READY_FOR_PICKUP: "ready for pickup",
}


def template_for(event_type: str) -> Template | None:
    """The message an event sends regardless of the order's state (None: none, or it depends)."""
    return EVENT_TEMPLATES.get(event_type)


def is_delay(told_latest: dt.date | None, now_latest: dt.date | None, backordered: bool) -> bool:
    """A re-route is news for the customer only when it breaks what they were told: the latest
    delivery date moved later, or units are backordered (no date can be promised)."""
    if backordered:
        return True
    return told_latest is not None and now_latest is not None and now_latest > told_latest


def dedupe_key(event_type: str, template: Template, event_id: str, payload: Mapping[str, object]) -> str:
    """One message per event, and one delivery confirmation per shipment even when a carrier's
    corrected delivery time publishes ``shipment.delivered`` again."""
    if template is Template.ORDER_DELIVERED and payload.get("shipment_id") is not None:
        return f"shipment:{payload['shipment_id']}:{template.value}"
    return f"event:{event_id}:{template.value}"


_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def normalise_language(tag: str | None) -> str | None:
    """A BCP 47 tag as templates are named: lower-case language, upper-case region (``fr-CA``);
    None for anything that is not a tag."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        return None
    parts = tag.split("-")
    out = [parts[0].lower()]
    for p in parts[1:]:
        out.append(p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower())
    return "-".join(out)


def language_chain(*tags: str | None) -> list[str]:
    """Languages to try, best first: each tag then its shorter forms (``fr-CA`` then ``fr``),
    then English, which every template has."""
    out: list[str] = []
    for tag in tags:
        norm = normalise_language(tag)
        if norm is None:
            continue
        parts = norm.split("-")
        for n in range(len(parts), 0, -1):
            candidate = "-".join(parts[:n])
            if candidate not in out:
                out.append(candidate)
    if "en" not in out:
        out.append("en")
    return out


def template_paths(name: str, part: str, languages: list[str], channel: str | None) -> list[str]:
    """Where to look for one part (``subject.txt``, ``txt``, ``html``) of a template, best first:
    per language, the channel's own version before the default one, so the customer's language
    wins over the channel's styling."""
    out: list[str] = []
    for lang in languages:
        if channel:
            out.append(f"channels/{channel}/{lang}/{name}.{part}")
        out.append(f"{lang}/{name}.{part}")
    return out


#: Tracking pages of the carriers most merchants use; settings add or override carriers.
DEFAULT_TRACKING_URLS: Mapping[str, str] = {
    "ups": "https://www.ups.com/track?tracknum={tracking_number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={tracking_number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={tracking_number}",
}


def carrier_key(name: str) -> str:
    """``UPS``, ``ups``, ``U.P.S.`` alike; ``FedEx Ground`` and ``fedex_ground`` are FedEx."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def tracking_link(
    carrier: str, tracking_number: str, overrides: Mapping[str, str] | None = None, fallback: str = ""
) -> str | None:
    """The customer's tracking link: the carrier's own page when known (configured first, then
    built in; a carrier name that starts with a known code counts), else the fallback page."""
    links = {carrier_key(k): v for k, v in DEFAULT_TRACKING_URLS.items()}
    links.update({carrier_key(k): v for k, v in (overrides or {}).items()})
    key = carrier_key(carrier)
    template = links.get(key)
    if template is None:
        starts = [k for k in links if k and key.startswith(k)]
        template = links[max(starts, key=len)] if starts else fallback
    if not template or not tracking_number:
        return None
    return template.replace("{tracking_number}", quote(tracking_number.strip(), safe=""))


#: Retries wait 1, 2, 4 ... minutes, never more than an hour.
FIRST_RETRY = dt.timedelta(minutes=1)
MAX_RETRY = dt.timedelta(hours=1)


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential back-off after the ``attempts``-th failure (1-based), capped."""
    exponent = max(0, min(attempts - 1, 20))
    return min(FIRST_RETRY * (2**exponent), MAX_RETRY)


def message_id(event_id: str, template: Template, domain: str) -> str:
    """The same Message-ID for every attempt of one notification, so a receiver that sees it
    twice (a crash between sending and recording) can drop the copy."""
    safe_domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "openoms.invalid"
    return f"<{event_id}.{template.value}@{safe_domain}>"
