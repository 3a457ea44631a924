"""Migrations run up and down on both engines, and the models match what they build."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from tests.conftest import PgServer

TABLES = {
    "products",
    "locations",
    "stock_levels",
    "inventory_ledger",
    "channels",
    "customers",
    "orders",
    "order_lines",
    "reservations",
    "order_holds",
    "order_events",
    "outbox",
    "api_keys",
    "idempotency_keys",
    "users",
    "user_sessions",
    "sign_in_attempts",
    "audit_log",
}


def _roundtrip(db: Database) -> None:
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision(db)
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == [], f"models and migrations differ: {diffs}"
    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    assert not TABLES & set(inspect(db.engine).get_table_names())
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision(db)


def test_migrations_up_down_up_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        _roundtrip(db)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_migrations_up_down_up_on_postgresql(pg_server: PgServer) -> None:
    db = Database(pg_server.create())
    try:
        _roundtrip(db)
    finally:
        db.dispose()
