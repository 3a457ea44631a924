"""Catalogue changes made by people in the back office (products, locations, channels).

The API's create/update (``catalog._Resource``) do not write the audit log; changes made from
the back office do, in the same unit of work as the change, with who did it and what changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.services.catalog import CHANNELS, LOCATIONS, PRODUCTS, _Resource
from openoms.services.common import Actor, utcnow

Resource = _Resource

#: The audit log's subject type for each resource.
SUBJECT_TYPES: Mapping[str, str] = {PRODUCTS.label: "product", LOCATIONS.label: "location", CHANNELS.label: "channel"}

_MESSAGE_VALUE_CHARS = 60
_DATA_VALUE_CHARS = 500


@dataclass(frozen=True)
class PageOf:
    """One page of a list, with what a pager needs."""

    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def subject_type(resource: Resource) -> str:
    return SUBJECT_TYPES.get(resource.label, resource.label.lower())


def find(
    db: Database,
    resource: Resource,
    *,
    q: str | None = None,
    search: Sequence[str] = (),
    active: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> PageOf:
    """A page of rows in natural-key order, optionally filtered by text (case-insensitive, in any
    of the ``search`` columns) and by active flag."""
    t = resource.table
    where: list[Any] = []
    if q and q.strip():
        needle = q.strip().lower()
        where.append(or_(*(func.lower(t.c[c]).contains(needle, autoescape=True) for c in search)))
    if active is not None:
        where.append(t.c.active.is_(active))
    page = max(1, page)
    with db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
        pages = max(1, -(-total // per_page))
        page = min(page, pages)
        rows = conn.execute(
            select(t).where(*where).order_by(resource.key_col).limit(per_page).offset((page - 1) * per_page)
        ).mappings()
        items = [dict(r) for r in rows]
    return PageOf(items, total, page, per_page)


def _exists(resource: Resource, key: object) -> DomainError:
    return DomainError(
        ErrorCode.ALREADY_EXISTS,
        f"{resource.label} {key} already exists; open it to change it",
        [FieldError(resource.key, "already exists")],
    )


def create_entry(db: Database, resource: Resource, values: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
    """Add a product, location or channel and record who added it."""
    key = values[resource.key]
    kind = subject_type(resource)
    now = utcnow()
    with db.begin() as conn:
        if conn.execute(select(resource.table.c.id).where(resource.key_col == key)).first():
            raise _exists(resource, key)
        try:
            with conn.begin_nested():
                row = (
                    conn.execute(
                        insert(resource.table)
                        .values(**values, created_at=now, updated_at=now)
                        .returning(*resource.table.c)
                    )
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:  # a concurrent create of the same key won
            raise _exists(resource, key) from exc
        record_audit(
            conn,
            actor=actor.name,
            action=f"{kind}.created",
            subject_type=kind,
            subject_id=str(key),
            message=f"Created {kind} {key} ({values.get('name', key)})",
            data={"values": {k: _plain(v, _DATA_VALUE_CHARS) for k, v in values.items() if v is not None}},
            now=now,
        )
    return dict(row)


def update_entry(
    db: Database,
    resource: Resource,
    key: str,
    changes: Mapping[str, Any],
    actor: Actor,
    *,
    labels: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """Apply the fields that differ from what is stored; returns the row and what changed
    (field → (before, after)). Nothing changed means no write and no audit row. ``labels``
    name the fields in the audit message as the person saw them."""
    kind = subject_type(resource)
    with db.begin() as conn:
        row = _locked(conn, resource, key)
        diff = {k: (row[k], v) for k, v in changes.items() if not _same(row[k], v)}
        if not diff:
            return row, {}
        now = utcnow()
        new = (
            conn.execute(
                update(resource.table)
                .where(resource.key_col == key)
                .values(**{k: after for k, (_, after) in diff.items()}, updated_at=now)
                .returning(*resource.table.c)
            )
            .mappings()
            .one()
        )
        record_audit(
            conn,
            actor=actor.name,
            action=f"{kind}.updated",
            subject_type=kind,
            subject_id=key,
            message=f"Changed {kind} {key}: "
            + "; ".join(_describe((labels or {}).get(k, k), b, a) for k, (b, a) in diff.items()),
            data={
                "changes": {
                    k: {"from": _plain(b, _DATA_VALUE_CHARS), "to": _plain(a, _DATA_VALUE_CHARS)}
                    for k, (b, a) in diff.items()
                }
            },
            now=now,
        )
    return dict(new), diff


def _locked(conn: Connection, resource: Resource, key: str) -> dict[str, Any]:
    row = conn.execute(select(resource.table).where(resource.key_col == key).with_for_update()).mappings().first()
    if row is None:
        raise NotFound(resource.label, key)
    return dict(row)


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, Decimal) or isinstance(after, Decimal):
        if before is None or after is None:
            return before is after
        return Decimal(str(before)) == Decimal(str(after))
    return bool(before == after)


def _plain(value: Any, limit: int) -> Any:
    """A JSON-friendly, bounded copy of a column value for the audit log."""
    if isinstance(value, Decimal):
        # 24.0000 → "24.00", 39.529600 → "39.5296": no storage padding, money still reads as money.
        short = value.normalize()
        exponent = short.as_tuple().exponent
        if isinstance(exponent, int) and exponent > -2:
            short = short.quantize(Decimal("0.01"))
        return format(short, "f")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


def _describe(field: str, before: Any, after: Any) -> str:
    label = field.replace("_", " ").lower()

    def show(v: Any) -> str:
        if v is None or v == "":
            return "(empty)"
        if isinstance(v, bool):
            return "yes" if v else "no"
        return str(_plain(v, _MESSAGE_VALUE_CHARS))

    return f"{label} {show(before)} → {show(after)}"
