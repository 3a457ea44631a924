"""Channel connections: where a channel's platform is and the secrets to talk to it.

Secrets are write-only from the outside: they are stored encrypted (adapters/crypto.py) and
every read of a connection says only whether they are set, with a short fingerprint so two
people can check they configured the same one. Adapters decrypt them at the moment of use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Connection, func, insert, select, update

from openoms.adapters import crypto
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import Channel, ChannelConnection, ChannelInboxMessage, EdiPartner, table
from openoms.config import Settings
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.services.common import Actor, as_utc, utcnow

connections_t = table(ChannelConnection)
channels_t = table(Channel)
inbox_t = table(ChannelInboxMessage)
partners_t = table(EdiPartner)

PLATFORMS = ("shopify", "woocommerce", "amazon", "ebay")
MAX_SECRETS = 3  # current, next, and one more while rotating


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def _channel_id(conn: Connection, code: str) -> int:
    got = conn.execute(select(channels_t.c.id).where(channels_t.c.code == code)).scalar()
    if got is None:
        raise DomainError(ErrorCode.UNKNOWN_CHANNEL, f"Channel {code} does not exist")
    return int(got)


def set_connection(
    db: Database,
    settings: Settings,
    channel: str,
    *,
    platform: str,
    base_url: str | None = None,
    webhook_secrets: Sequence[str] | None = None,
    credentials: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    actor: Actor,
) -> dict[str, Any]:
    """Create or change a connection; ``None`` keeps what is stored (secrets are never echoed)."""
    errors: list[FieldError] = []
    if platform not in PLATFORMS:
        errors.append(FieldError("platform", f"must be one of {', '.join(PLATFORMS)}"))
    if base_url is not None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(FieldError("base_url", "must be an http(s) URL such as https://my-shop.myshopify.com"))
    if webhook_secrets is not None:
        cleaned = [s.strip() for s in webhook_secrets if s.strip()]
        if len(cleaned) > MAX_SECRETS:
            errors.append(FieldError("webhook_secrets", f"at most {MAX_SECRETS} (the current and the next)"))
        if any(len(s) < 8 for s in cleaned):
            errors.append(FieldError("webhook_secrets", "a secret shorter than 8 characters is not a secret"))
        webhook_secrets = cleaned
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    now = utcnow()
    values: dict[str, Any] = {"platform": platform, "updated_at": now}
    if base_url is not None:
        values["base_url"] = base_url.rstrip("/")
    if webhook_secrets is not None:
        values["webhook_secrets_encrypted"] = crypto.encrypt(settings, json.dumps(list(webhook_secrets)))
    if credentials is not None:
        values["credentials_encrypted"] = crypto.encrypt(settings, json.dumps(dict(credentials)))
    if options is not None:
        values["settings"] = dict(options)
    with db.begin() as conn:
        channel_id = _channel_id(conn, channel)
        exists = conn.execute(
            select(connections_t.c.channel_id).where(connections_t.c.channel_id == channel_id)
        ).first()
        if exists:
            conn.execute(update(connections_t).where(connections_t.c.channel_id == channel_id).values(**values))
        else:
            values.setdefault("settings", {})
            conn.execute(insert(connections_t).values(channel_id=channel_id, **values))
        record_audit(
            conn,
            actor=str(actor),
            action="channel.connection_set",
            subject_type="channel",
            subject_id=channel,
            message=f"Connection of {channel} to {platform} set"
            + (" (webhook secrets changed)" if webhook_secrets is not None else "")
            + (" (credentials changed)" if credentials is not None else ""),
            data={"platform": platform, "base_url": values.get("base_url")},
            now=now,
        )
    return get_connection(db, settings, channel)


def _row(conn: Connection, channel: str) -> Any:
    return conn.execute(
        select(connections_t, channels_t.c.code)
        .join(channels_t, channels_t.c.id == connections_t.c.channel_id)
        .where(channels_t.c.code == channel)
    ).first()


def get_connection(db: Database, settings: Settings, channel: str) -> dict[str, Any]:
    with db.read() as conn:
        row = _row(conn, channel)
    if row is None:
        raise NotFound("Connection for channel", channel)
    secrets = _decrypt_list(settings, row.webhook_secrets_encrypted)
    creds = _decrypt_dict(settings, row.credentials_encrypted)
    return {
        "channel": channel,
        "platform": row.platform,
        "base_url": row.base_url,
        "webhook_secrets": [{"fingerprint": _fingerprint(s)} for s in secrets],
        "credentials": sorted(creds),
        "settings": row.settings or {},
        "last_received_at": as_utc(row.last_received_at),
        "last_synced_at": as_utc(row.last_synced_at),
        "last_error": row.last_error,
        "last_error_at": as_utc(row.last_error_at),
    }


def _decrypt_list(settings: Settings, token: str | None) -> list[str]:
    return [str(s) for s in json.loads(crypto.decrypt(settings, token))] if token else []


def _decrypt_dict(settings: Settings, token: str | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(crypto.decrypt(settings, token)).items()} if token else {}


def webhook_secrets(db: Database, settings: Settings, channel: str, platform: str) -> list[str]:
    """The secrets a webhook for ``channel`` may be signed with; refuses a channel connected to
    another platform (a Shopify webhook posted to a WooCommerce channel)."""
    with db.read() as conn:
        row = _row(conn, channel)
    if row is None or row.platform != platform:
        raise DomainError(
            ErrorCode.NOT_FOUND, f"Channel {channel} has no {platform} connection; set one before sending webhooks"
        )
    return _decrypt_list(settings, row.webhook_secrets_encrypted)


def options(db: Database, channel: str) -> dict[str, Any]:
    """The connection's non-secret settings ({} without a connection)."""
    with db.read() as conn:
        row = _row(conn, channel)
    return dict(row.settings or {}) if row is not None else {}


def update_options(db: Database, channel: str, **changes: Any) -> None:
    """Merge ``changes`` into the connection's settings (a poll's cursor, say)."""
    with db.begin() as conn:
        channel_id = _channel_id(conn, channel)
        current = conn.execute(
            select(connections_t.c.settings).where(connections_t.c.channel_id == channel_id).with_for_update()
        ).scalar()
        merged = {**(current or {}), **changes}
        conn.execute(update(connections_t).where(connections_t.c.channel_id == channel_id).values(settings=merged))


def credentials(db: Database, settings: Settings, channel: str) -> dict[str, str]:
    with db.read() as conn:
        row = _row(conn, channel)
    if row is None:
        raise NotFound("Connection for channel", channel)
    return _decrypt_dict(settings, row.credentials_encrypted)


#: A busy channel's "last message" is written at most this often (one row every webhook would
#: serialise all of a channel's deliveries on that row).
CONTACT_EVERY = dt.timedelta(seconds=30)


def record_contact(db: Database, channel: str, *, error: str | None = None, synced: bool = False) -> None:
    """A sign of life (or of trouble) for the channels page."""
    now = utcnow()
    values: dict[str, Any] = {"last_error": error, "last_error_at": now} if error else {"last_received_at": now}
    if synced and not error:
        values = {"last_synced_at": now, "last_error": None}
    with db.begin() as conn:
        channel_id = _channel_id(conn, channel)
        stmt = update(connections_t).where(connections_t.c.channel_id == channel_id)
        if not error and not synced:
            stale = now - CONTACT_EVERY
            stmt = stmt.where((connections_t.c.last_received_at.is_(None)) | (connections_t.c.last_received_at < stale))
        conn.execute(stmt.values(**values))


def channel_states(db: Database, *, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every channel with its connection and inbox figures, for the channels overview."""
    since = since or utcnow() - dt.timedelta(days=1)
    with db.read() as conn:
        channels = conn.execute(
            select(
                channels_t.c.id, channels_t.c.code, channels_t.c.name, channels_t.c.kind, channels_t.c.active
            ).order_by(channels_t.c.name)
        ).all()
        connections = {r.channel_id: r for r in conn.execute(select(connections_t))}
        edi_partners = set(conn.execute(select(partners_t.c.channel_id)).scalars())
        dead: dict[int, int] = dict(
            conn.execute(
                select(inbox_t.c.channel_id, func.count())
                .where(inbox_t.c.status == "dead")
                .group_by(inbox_t.c.channel_id)
            ).all()
        )
        recent: dict[int, int] = dict(
            conn.execute(
                select(inbox_t.c.channel_id, func.count())
                .where(inbox_t.c.received_at >= since)
                .group_by(inbox_t.c.channel_id)
            ).all()
        )
        last = dict(
            conn.execute(
                select(inbox_t.c.channel_id, func.max(inbox_t.c.received_at)).group_by(inbox_t.c.channel_id)
            ).all()
        )
    out = []
    for ch in channels:
        c = connections.get(ch.id)
        out.append(
            {
                "code": ch.code,
                "name": ch.name,
                "kind": ch.kind,
                "active": bool(ch.active),
                "platform": c.platform if c else ("edi" if ch.id in edi_partners else None),
                "base_url": c.base_url if c else None,
                "connected": bool(c and (c.webhook_secrets_encrypted or c.credentials_encrypted))
                or ch.id in edi_partners,
                "last_message_at": as_utc(last.get(ch.id)),
                "last_synced_at": as_utc(c.last_synced_at) if c else None,
                "last_error": c.last_error if c else None,
                "last_error_at": as_utc(c.last_error_at) if c else None,
                "dead_letters": int(dead.get(ch.id, 0)),
                "messages_24h": int(recent.get(ch.id, 0)),
            }
        )
    return out
