"""Every door that issues or revokes an API key (page, CLI, demo) leaves an audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import AuditEntry, table
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import apikeys
from openoms.services.common import Actor


def _audit(db: Database) -> list[tuple[str, str, str | None]]:
    t = table(AuditEntry)
    with db.read() as conn:
        return [(r.actor, r.action, r.subject_id) for r in conn.execute(select(t).order_by(t.c.id))]


def test_create_and_revoke_write_audit_rows_with_the_actor(db: Database) -> None:
    _, secret = apikeys.create_api_key(db, "erp", ["orders:read"], Actor("cli"))
    prefix = secret.split("_")[1]
    key = apikeys.revoke_api_key(db, prefix, Actor("cli"))
    assert key["revoked_at"] is not None
    assert _audit(db) == [("cli", "api_key.created", prefix), ("cli", "api_key.revoked", prefix)]


def test_revoking_twice_is_refused_and_audits_once(db: Database) -> None:
    _, secret = apikeys.create_api_key(db, "erp", ["*"])
    prefix = secret.split("_")[1]
    apikeys.revoke_api_key(db, prefix)
    with pytest.raises(DomainError) as err:
        apikeys.revoke_api_key(db, prefix)
    assert err.value.code == ErrorCode.ILLEGAL_TRANSITION
    with pytest.raises(DomainError) as missing:
        apikeys.revoke_api_key(db, "00000000")
    assert missing.value.code == ErrorCode.NOT_FOUND
    assert [a for _, a, _ in _audit(db)] == ["api_key.created", "api_key.revoked"]


def test_a_refused_key_writes_nothing(db: Database) -> None:
    with pytest.raises(DomainError) as err:
        apikeys.create_api_key(db, " ", [])
    assert {e.field for e in err.value.errors} == {"name", "scopes"}
    assert apikeys.list_api_keys(db) == [] and _audit(db) == []
