"""Scoped API keys for integrations. The secret is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import ApiKey, table
from openoms.domain.errors import DomainError, ErrorCode, validation_error
from openoms.services.common import utcnow

_t = table(ApiKey)

RESOURCES = ("catalog", "inventory", "orders", "customers")
SCOPES = (*(f"{r}:{a}" for r in RESOURCES for a in ("read", "write")), "*")
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``x:write`` implies ``x:read``; ``*`` allows everything."""
        if "*" in self.scopes or scope in self.scopes:
            return True
        resource, _, action = scope.partition(":")
        return action == "read" and f"{resource}:write" in self.scopes

    @property
    def actor_name(self) -> str:
        return f"api-key:{self.name}"


def create_api_key(db: Database, name: str, scopes: list[str]) -> tuple[Principal, str]:
    """Return the principal and the secret key, which is never stored in clear."""
    name = name.strip()
    if not name:
        raise validation_error("name", "must not be empty")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise validation_error("scopes", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise validation_error("scopes", "give at least one scope")
    prefix = secrets.token_hex(4)
    secret = f"oms_{prefix}_{secrets.token_urlsafe(24)}"
    with db.begin() as conn:
        key_id = conn.execute(
            insert(_t)
            .values(name=name, prefix=prefix, key_hash=_hash(secret), scopes=sorted(set(scopes)), created_at=utcnow())
            .returning(_t.c.id)
        ).scalar_one()
    return Principal(int(key_id), name, frozenset(scopes)), secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyCache:
    """Verified keys for ``CACHE_SECONDS``: saves a round trip on every request; a revoked
    key stops working within that time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        with self._lock:
            hit = self._entries.get(digest)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            return None

    def put(self, digest: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + CACHE_SECONDS, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def authenticate(db: Database, secret: str, cache: KeyCache | None = None) -> Principal:
    digest = _hash(secret)
    if cache and (hit := cache.get(digest)):
        return hit
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "oms":
        raise DomainError(ErrorCode.UNAUTHORIZED, "API key is malformed; keys look like oms_xxxxxxxx_...")
    with db.read() as conn:
        row = conn.execute(select(_t).where(_t.c.prefix == parts[1])).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        raise DomainError(ErrorCode.UNAUTHORIZED, "API key is unknown or revoked")
    principal = Principal(int(row.id), row.name, frozenset(row.scopes))
    if cache:
        cache.put(digest, principal)
    return principal


def revoke_api_key(db: Database, prefix: str) -> None:
    with db.begin() as conn:
        n = conn.execute(
            update(_t).where(_t.c.prefix == prefix, _t.c.revoked_at.is_(None)).values(revoked_at=utcnow())
        ).rowcount
    if n != 1:
        raise DomainError(ErrorCode.NOT_FOUND, f"No active API key with prefix {prefix}")


def list_api_keys(db: Database) -> list[dict[str, object]]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(_t.c.id, _t.c.name, _t.c.prefix, _t.c.scopes, _t.c.created_at, _t.c.revoked_at).order_by(_t.c.id)
            ).mappings()
        ]
