"""What every use case shares: who is acting, and the clock."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from openoms.domain.errors import validation_error


@dataclass(frozen=True)
class Actor:
    """Who or what did it; written to the timeline and the ledger."""

    name: str  # e.g. "api-key:shopify-prod", "cli", "user:ana@example.com"

    def __str__(self) -> str:
        return self.name


#: Largest id a BIGINT column holds; larger numbers in input are refused, never sent to SQL.
MAX_ID = 2**63 - 1

SYSTEM = Actor("system")
CLI = Actor("cli")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Opaque cursors keep clients from depending on how pages are cut."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        # only what encode_cursor makes: "id:" and digits, within a BIGINT id
        if kind != "id" or not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error("cursor", "is not a cursor this API returned") from exc


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
