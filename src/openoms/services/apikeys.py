"""Scoped API keys for integrations. The secret is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import ApiKey, FulfilmentOrder, Location, Shipment, Wave, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.services.common import SYSTEM, Actor, utcnow

_t = table(ApiKey)
_loc = table(Location)
_fo = table(FulfilmentOrder)
_ship = table(Shipment)
_wave = table(Wave)

RESOURCES = ("catalog", "inventory", "orders", "customers", "routing", "fulfilment", "payments", "returns")
SCOPES = (*(f"{r}:{a}" for r in RESOURCES for a in ("read", "write")), "*")
CACHE_SECONDS = 30.0
MAX_NAME = 128  # the column's width
# A key bound to a location may only work that location's fulfilment orders: every other
# resource (orders, customers, stock) spans locations, so it is refused rather than filtered.
BOUND_SCOPES = ("fulfilment:read", "fulfilment:write")


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    scopes: frozenset[str]
    location_id: int | None = None
    location: str | None = None  # the bound location's code

    def allows(self, scope: str) -> bool:
        """``x:write`` implies ``x:read``; ``*`` allows everything."""
        if "*" in self.scopes or scope in self.scopes:
            return True
        resource, _, action = scope.partition(":")
        return action == "read" and f"{resource}:write" in self.scopes

    @property
    def actor_name(self) -> str:
        return f"api-key:{self.name}"


def create_api_key(
    db: Database, name: str, scopes: list[str], actor: Actor = SYSTEM, location: str | None = None
) -> tuple[Principal, str]:
    """Return the principal and the secret key, which is never stored in clear. The audit log
    records who issued it in the same unit of work, whichever door (page, CLI, demo) it came by.
    With ``location`` (a code) the key sees only that location's work and carries only
    ``BOUND_SCOPES``."""
    name = name.strip()
    location = (location or "").strip() or None
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", f"must be at most {MAX_NAME} characters"))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        errors.append(FieldError("scopes", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}"))
    elif not scopes:
        errors.append(FieldError("scopes", "choose at least one scope"))
    elif location and (wider := sorted(set(scopes) - set(BOUND_SCOPES))):
        errors.append(
            FieldError(
                "scopes",
                f"a key bound to a location may only carry {', '.join(BOUND_SCOPES)}; not {', '.join(wider)}",
            )
        )
    location_id: int | None = None
    if location:
        with db.read() as conn:
            location_id = conn.execute(select(_loc.c.id).where(_loc.c.code == location)).scalar_one_or_none()
        if location_id is None:
            errors.append(FieldError("location", f"no location with code {location!r}"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    chosen = sorted(set(scopes))
    prefix = secrets.token_hex(4)
    secret = f"oms_{prefix}_{secrets.token_urlsafe(24)}"
    now = utcnow()
    with db.begin() as conn:
        key_id = conn.execute(
            insert(_t)
            .values(
                name=name,
                prefix=prefix,
                key_hash=_hash(secret),
                scopes=chosen,
                location_id=location_id,
                created_at=now,
            )
            .returning(_t.c.id)
        ).scalar_one()
        record_audit(
            conn,
            actor=actor.name,
            action="api_key.created",
            subject_type="api_key",
            subject_id=prefix,
            message=f"Created API key {name} (oms_{prefix}_…) with scopes {', '.join(chosen)}"
            + (f", bound to location {location}" if location else ""),
            data={"name": name, "prefix": prefix, "scopes": chosen, "location": location},
            now=now,
        )
    return Principal(int(key_id), name, frozenset(chosen), location_id, location), secret


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
        row = conn.execute(
            select(_t, _loc.c.code.label("location"))
            .select_from(_t.outerjoin(_loc, _loc.c.id == _t.c.location_id))
            .where(_t.c.prefix == parts[1])
        ).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        raise DomainError(ErrorCode.UNAUTHORIZED, "API key is unknown or revoked")
    principal = Principal(int(row.id), row.name, frozenset(row.scopes), row.location_id, row.location)
    if cache:
        cache.put(digest, principal)
    return principal


def revoke_api_key(db: Database, prefix: str, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Revoke a key, with its audit row. Other server processes may accept it for up to the
    key cache's lifetime (30 s)."""
    now = utcnow()
    with db.begin() as conn:
        # Conditional, so two people revoking at once leave one revocation and one audit row.
        revoked = conn.execute(
            update(_t)
            .where(_t.c.prefix == prefix, _t.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(_t.c.name)
        ).first()
        if revoked is None:
            existing = conn.execute(select(_t.c.name).where(_t.c.prefix == prefix)).first()
            if existing is None:
                raise DomainError(ErrorCode.NOT_FOUND, f"No active API key with prefix {prefix}")
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"No active API key with prefix {prefix}: {existing.name} (oms_{prefix}_…) is already revoked",
            )
        record_audit(
            conn,
            actor=actor.name,
            action="api_key.revoked",
            subject_type="api_key",
            subject_id=prefix,
            message=f"Revoked API key {revoked.name} (oms_{prefix}_…)",
            data={"name": revoked.name, "prefix": prefix},
            now=now,
        )
    return get_api_key(db, prefix)


def _listing() -> Any:
    return select(
        _t.c.id, _t.c.name, _t.c.prefix, _t.c.scopes, _loc.c.code.label("location"), _t.c.created_at, _t.c.revoked_at
    ).select_from(_t.outerjoin(_loc, _loc.c.id == _t.c.location_id))


def get_api_key(db: Database, prefix: str) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(_listing().where(_t.c.prefix == prefix)).mappings().first()
    if row is None:
        raise NotFound("API key", prefix)
    return dict(row)


def list_api_keys(db: Database) -> list[dict[str, object]]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(_listing().order_by(_t.c.id)).mappings()]


def work_location_id(
    db: Database, *, fo_id: int | None = None, shipment_id: int | None = None, wave_id: int | None = None
) -> int | None:
    """The location whose work a fulfilment order, shipment or wave is (None if it does not
    exist), so a location-bound key can be confined to its own."""
    if fo_id is not None:
        stmt = select(_fo.c.location_id).where(_fo.c.id == fo_id)
    elif shipment_id is not None:
        stmt = (
            select(_fo.c.location_id)
            .join(_ship, _ship.c.fulfilment_order_id == _fo.c.id)
            .where(_ship.c.id == shipment_id)
        )
    elif wave_id is not None:
        stmt = select(_wave.c.location_id).where(_wave.c.id == wave_id)
    else:
        return None
    with db.read() as conn:
        found = conn.execute(stmt).scalar_one_or_none()
    return None if found is None else int(found)
