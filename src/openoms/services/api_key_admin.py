"""API keys issued and revoked by people in the back office, each recorded in the audit log.

``apikeys.create_api_key``/``revoke_api_key`` serve the CLI and tests and write no audit row;
these do the same work and the audit row in one unit of work, so a key never exists without
the record of who issued it.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import insert, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.services import apikeys
from openoms.services.apikeys import SCOPES, Principal
from openoms.services.common import Actor, utcnow

keys_t = apikeys._t
MAX_NAME = 128  # the column's width


def issue_api_key(db: Database, name: str, scopes: list[str], actor: Actor) -> tuple[Principal, str]:
    """Create a key and return it with its secret, which is shown once and never stored."""
    name = name.strip()
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", f"must be at most {MAX_NAME} characters"))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        errors.append(FieldError("scopes", f"unknown scope(s) {', '.join(unknown)}"))
    elif not scopes:
        errors.append(FieldError("scopes", "choose at least one scope"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    chosen = sorted(set(scopes))
    prefix = secrets.token_hex(4)
    secret = f"oms_{prefix}_{secrets.token_urlsafe(24)}"
    now = utcnow()
    with db.begin() as conn:
        key_id = conn.execute(
            insert(keys_t)
            .values(name=name, prefix=prefix, key_hash=apikeys._hash(secret), scopes=chosen, created_at=now)
            .returning(keys_t.c.id)
        ).scalar_one()
        record_audit(
            conn,
            actor=actor.name,
            action="api_key.created",
            subject_type="api_key",
            subject_id=prefix,
            message=f"Created API key {name} (oms_{prefix}_…) with scopes {', '.join(chosen)}",
            data={"name": name, "prefix": prefix, "scopes": chosen},
            now=now,
        )
    return Principal(int(key_id), name, frozenset(chosen)), secret


def get_api_key(db: Database, prefix: str) -> dict[str, Any]:
    with db.read() as conn:
        row = (
            conn.execute(
                select(
                    keys_t.c.id,
                    keys_t.c.name,
                    keys_t.c.prefix,
                    keys_t.c.scopes,
                    keys_t.c.created_at,
                    keys_t.c.revoked_at,
                ).where(keys_t.c.prefix == prefix)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("API key", prefix)
    return dict(row)


def revoke_key(db: Database, prefix: str, actor: Actor) -> dict[str, Any]:
    """Revoke a key. Other server processes may accept it for up to the key cache's lifetime
    (30 s); the caller clears its own process's cache so that it is refused there at once."""
    now = utcnow()
    with db.begin() as conn:
        # Conditional, so two people revoking at once leave one revocation and one audit row.
        revoked = conn.execute(
            update(keys_t)
            .where(keys_t.c.prefix == prefix, keys_t.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(keys_t.c.name)
        ).first()
        if revoked is None:
            existing = conn.execute(select(keys_t.c.name).where(keys_t.c.prefix == prefix)).first()
            if existing is None:
                raise NotFound("API key", prefix)
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION, f"API key {existing.name} (oms_{prefix}_…) is already revoked"
            )
        row = revoked
        record_audit(
            conn,
            actor=actor.name,
            action="api_key.revoked",
            subject_type="api_key",
            subject_id=prefix,
            message=f"Revoked API key {row.name} (oms_{prefix}_…)",
            data={"name": row.name, "prefix": prefix},
            now=now,
        )
    return get_api_key(db, prefix)
