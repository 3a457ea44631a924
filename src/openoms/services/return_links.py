"""Customer return links: ``/r/<token>`` opens an order's self-service return page with no account.

The token names the order and when it expires; it is signed (HMAC-SHA256 with the installation's
``return-links`` key, adapters/secrets.py) over the order id, the expiry *and the customer's
e-mail address*, which is not in the token. So a link cannot be edited to open another order, an
old link stops working when the order's address is changed, and the address never appears in a
URL (logs, referrers). Expiry is a ceiling, not the return policy: eligibility is checked again on
every use by the returns service (ADR 0028).

Format: ``<order id base36>.<expiry day base36>.<signature, 16 bytes base64url>``, e.g.
``2n.k3x.3y0v...`` — short enough for a text e-mail line and safe in a path segment.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Customer, Order, table
from openoms.adapters.secrets import derived_key
from openoms.config import Settings

PURPOSE = "return-links"
#: How long a link works. Long enough for any return window the policy is likely to have, counted
#: from when the shipped e-mail was written; the policy's own window still applies on top.
DEFAULT_VALID_DAYS = 60
SIGNATURE_BYTES = 16
MAX_TOKEN_LENGTH = 96
EPOCH = dt.date(1970, 1, 1)

orders_t = table(Order)
customers_t = table(Customer)


class LinkRefusal(StrEnum):
    """Why a link was refused; the customer page words each one."""

    MALFORMED = "malformed"  # not a token at all (cut off in the mail client, typed by hand)
    TAMPERED = "tampered"  # the signature does not match: edited, or the address has changed
    EXPIRED = "expired"


REFUSAL_MESSAGES: dict[LinkRefusal, str] = {
    LinkRefusal.MALFORMED: "This return link is incomplete. Open it again from your shipping e-mail, "
    "or copy the whole address into your browser.",
    LinkRefusal.TAMPERED: "This return link is not valid. Open it again from your shipping e-mail; if it "
    "still does not work, contact customer service.",
    LinkRefusal.EXPIRED: "This return link has expired. Contact customer service if you still want to return "
    "something from this order.",
}


class ReturnLinkRefused(Exception):
    def __init__(self, reason: LinkRefusal) -> None:
        super().__init__(REFUSAL_MESSAGES[reason])
        self.reason = reason
        self.message = REFUSAL_MESSAGES[reason]


@dataclass(frozen=True)
class ReturnLink:
    order_id: int
    expires_on: dt.date  # the link works through this UTC day


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _from_b36(text: str) -> int:
    if not text or len(text) > 13 or not all(c in "0123456789abcdefghijklmnopqrstuvwxyz" for c in text):
        raise ValueError(text)
    return int(text, 36)


def _signature(key: bytes, order_id: int, expiry_day: int, email: str) -> bytes:
    message = f"v1|{order_id}|{expiry_day}|{email.strip().lower()}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(key: bytes, order_id: int, email: str, expires_on: dt.date) -> str:
    """A token for ``order_id`` bound to ``email``, valid through ``expires_on`` (UTC)."""
    if order_id <= 0:
        raise ValueError("order_id must be positive")
    day = (expires_on - EPOCH).days
    return f"{_b36(order_id)}.{_b36(day)}.{_b64(_signature(key, order_id, day, email))}"


def read_token(token: str) -> tuple[int, int, bytes]:
    """Order id, expiry day and signature of a well-formed token; ``ReturnLinkRefused(MALFORMED)``."""
    parts = token.split(".") if len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3:
        raise ReturnLinkRefused(LinkRefusal.MALFORMED)
    try:
        order_id, day = _from_b36(parts[0]), _from_b36(parts[1])
        if len(parts[2]) != 22 or not parts[2].replace("-", "a").replace("_", "a").isalnum():
            raise ValueError(parts[2])
        signature = base64.urlsafe_b64decode(parts[2] + "==")
    except ValueError:
        raise ReturnLinkRefused(LinkRefusal.MALFORMED) from None
    if order_id <= 0 or len(signature) != SIGNATURE_BYTES:
        raise ReturnLinkRefused(LinkRefusal.MALFORMED)
    return order_id, day, signature


def check_token(key: bytes, token: str, email: str | None, today: dt.date) -> ReturnLink:
    """Verify a token against the order's e-mail address. The signature is checked before the
    date, so an edited expiry reads as tampered, not as expired."""
    order_id, day, signature = read_token(token)
    # The last base64 character carries spare bits: another character can decode to the same
    # bytes. Only the exact text we issued is ours, so an edited token is refused either way.
    canonical = hmac.compare_digest(_b64(signature), token.rsplit(".", 1)[1])
    if not email or not canonical or not hmac.compare_digest(signature, _signature(key, order_id, day, email)):
        raise ReturnLinkRefused(LinkRefusal.TAMPERED)
    expires_on = EPOCH + dt.timedelta(days=day)
    if today > expires_on:
        raise ReturnLinkRefused(LinkRefusal.EXPIRED)
    return ReturnLink(order_id=order_id, expires_on=expires_on)


# --------------------------------------------------------------------------- with the database


def link_key(settings: Settings) -> bytes:
    return derived_key(settings, PURPOSE)


def _order_email(db: Database, order_id: int) -> tuple[bool, str | None]:
    with db.read() as conn:
        row = conn.execute(
            select(orders_t.c.id, customers_t.c.email)
            .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
            .where(orders_t.c.id == order_id)
        ).first()
    return (row is not None, row.email if row is not None else None)


def return_url(settings: Settings, order_id: int, email: str, *, now: dt.datetime, days: int | None = None) -> str:
    """The customer's return link for an order, as put in the shipped e-mail."""
    expires_on = now.astimezone(dt.UTC).date() + dt.timedelta(days=days or settings.return_link_days)
    token = make_token(link_key(settings), order_id, email, expires_on)
    return settings.public_base_url.rstrip("/") + "/r/" + token


def verify_link(db: Database, settings: Settings, token: str, *, now: dt.datetime) -> ReturnLink:
    """The order a customer's link opens, or ``ReturnLinkRefused`` with the reason."""
    order_id, _, _ = read_token(token)
    if order_id > 2**63 - 1:
        raise ReturnLinkRefused(LinkRefusal.MALFORMED)
    found, email = _order_email(db, order_id)
    if not found:
        # A valid signature can only come from us, so a missing order was deleted; without one,
        # say "not valid" rather than confirm which order ids exist.
        raise ReturnLinkRefused(LinkRefusal.TAMPERED)
    return check_token(link_key(settings), token, email, now.astimezone(dt.UTC).date())
