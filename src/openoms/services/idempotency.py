"""``Idempotency-Key`` handling: the first result of a write is the only result.

The key row is inserted inside the command's own unit of work, so it commits with the
command or not at all; a concurrent duplicate blocks on the primary key until the first
request finishes and then reads its result.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db.tables import IdempotencyRecord, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.services.common import utcnow

_t = table(IdempotencyRecord)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(conn: Connection, principal: str, key: str, request_hash: str) -> Any | None:
    """Claim ``key`` for this request; return the earlier record if it was used before."""
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    inserted = conn.execute(
        ins(_t)
        .values(principal=principal, key=key, request_hash=request_hash, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(_t.c.key)
    ).first()
    if inserted is not None:
        return None
    prior = conn.execute(select(_t).where(_t.c.principal == principal, _t.c.key == key)).one()
    if prior.request_hash != request_hash:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was already used for a different request; use a new key for a new request",
            [FieldError("Idempotency-Key", "already used with a different request body")],
        )
    return prior


def complete(
    conn: Connection,
    principal: str,
    key: str,
    resource_type: str,
    resource_id: str,
    response: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        update(_t)
        .where(_t.c.principal == principal, _t.c.key == key)
        .values(resource_type=resource_type, resource_id=resource_id, response=response)
    )
