"""Reading the audit log: who changed users, keys and the catalogue, and when.

Rows are written by ``adapters.db.journal.record_audit`` inside each command's unit of work;
this module only reads them, newest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import AuditEntry, table
from openoms.domain.errors import validation_error
from openoms.services.catalog_admin import PageOf

audit_t = table(AuditEntry)


@dataclass(frozen=True)
class AuditFilter:
    """Every part is optional; dates are whole UTC days, both ends included."""

    actor: str | None = None  # text anywhere in the actor, case-insensitive
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise validation_error("date_to", "must be on or after the start date")

    def where(self) -> list[Any]:
        c = audit_t.c
        out: list[Any] = []
        if self.actor and self.actor.strip():
            out.append(func.lower(c.actor).contains(self.actor.strip().lower(), autoescape=True))
        if self.action:
            out.append(c.action == self.action)
        if self.subject_type:
            out.append(c.subject_type == self.subject_type)
        if self.subject_id:
            out.append(c.subject_id == self.subject_id)
        if self.date_from:
            out.append(c.created_at >= dt.datetime.combine(self.date_from, dt.time.min, dt.UTC))
        if self.date_to:
            out.append(c.created_at < dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, dt.UTC))
        return out


def list_audit_entries(db: Database, filters: AuditFilter, *, page: int = 1, per_page: int = 50) -> PageOf:
    """Newest first by when it happened (the created_at index), ties in the order written."""
    where = filters.where()
    page = max(1, page)
    with db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(audit_t).where(*where)).scalar_one())
        page = min(page, max(1, -(-total // per_page)))
        rows = conn.execute(
            select(audit_t)
            .where(*where)
            .order_by(audit_t.c.created_at.desc(), audit_t.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).mappings()
        items = [dict(r) for r in rows]
    return PageOf(items, total, page, per_page)


def audit_facets(db: Database) -> dict[str, list[str]]:
    """The actions and subject types present, for the filter menus."""
    with db.read() as conn:
        actions = [r[0] for r in conn.execute(select(audit_t.c.action).distinct().order_by(audit_t.c.action))]
        subjects = [
            r[0] for r in conn.execute(select(audit_t.c.subject_type).distinct().order_by(audit_t.c.subject_type))
        ]
    return {"actions": actions, "subject_types": subjects}
