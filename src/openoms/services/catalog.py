"""Products, locations, channels and customers: the reference data orders point at."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Channel, Customer, Location, Product, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.services.common import Actor, utcnow

products = table(Product)
locations = table(Location)
channels = table(Channel)
customers = table(Customer)


class _Resource:
    """A reference-data table addressed by a unique natural key (SKU, location code, ...)."""

    def __init__(self, table: Table, key: str, label: str) -> None:
        self.table = table
        self.key = key
        self.label = label

    @property
    def key_col(self) -> Any:
        return self.table.c[self.key]

    def get(self, db: Database, key: str) -> dict[str, Any]:
        with db.read() as conn:
            row = conn.execute(select(self.table).where(self.key_col == key)).mappings().first()
        if row is None:
            raise NotFound(self.label, key)
        return dict(row)

    def list(
        self, db: Database, *, after_id: int | None, limit: int, where: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        stmt = select(self.table).where(*where).order_by(self.table.c.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(self.table.c.id > after_id)
        with db.read() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def create(self, db: Database, values: Mapping[str, Any]) -> dict[str, Any]:
        with db.begin() as conn:
            exists = conn.execute(select(self.table.c.id).where(self.key_col == values[self.key])).first()
            if exists:
                raise self._exists(values[self.key])
            now = utcnow()
            try:
                with conn.begin_nested():
                    row = (
                        conn.execute(
                            insert(self.table).values(**values, created_at=now, updated_at=now).returning(*self.table.c)
                        )
                        .mappings()
                        .one()
                    )
            except IntegrityError as exc:  # a concurrent create of the same key won
                raise self._exists(values[self.key]) from exc
            return dict(row)

    def _exists(self, key: object) -> DomainError:
        return DomainError(
            ErrorCode.ALREADY_EXISTS,
            f"{self.label} {key} already exists; use PATCH to change it",
            [FieldError(self.key, "already exists")],
        )

    def update(self, db: Database, key: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        with db.begin() as conn:
            stmt = update(self.table).where(self.key_col == key)
            row = conn.execute(stmt.values(**changes, updated_at=utcnow()).returning(*self.table.c)).mappings().first()
            if row is None:
                raise NotFound(self.label, key)
            return dict(row)

    def upsert_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert or overwrite by natural key; used by imports inside one unit of work."""
        ins_fn: Callable[..., Any] = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        count = 0
        now = utcnow()
        for values in rows:
            stmt = ins_fn(self.table).values(**values, created_at=now, updated_at=now)
            changes = {k: stmt.excluded[k] for k in values if k != self.key}
            changes["updated_at"] = now
            conn.execute(stmt.on_conflict_do_update(index_elements=[self.key], set_=changes))
            count += 1
        return count

    def ids_by_key(self, conn: Connection, keys: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        return {
            k: int(i)
            for k, i in conn.execute(select(self.key_col, self.table.c.id).where(self.key_col.in_(wanted))).all()
        }


PRODUCTS = _Resource(products, "sku", "Product")
LOCATIONS = _Resource(locations, "code", "Location")
CHANNELS = _Resource(channels, "code", "Channel")
CUSTOMERS = _Resource(customers, "email", "Customer")


def upsert_customer(conn: Connection, email: str, name: str | None, phone: str | None) -> dict[str, Any]:
    """Find or create the customer by e-mail (case-insensitive), keeping the newest name."""
    ins_fn: Callable[..., Any] = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = ins_fn(customers).values(email=email.strip().lower(), name=name, phone=phone, created_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["email"],
        set_={
            "name": func.coalesce(stmt.excluded.name, customers.c.name),
            "phone": func.coalesce(stmt.excluded.phone, customers.c.phone),
        },
    ).returning(*customers.c)
    return dict(conn.execute(stmt).mappings().one())


def create_customer(db: Database, values: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
    return CUSTOMERS.create(db, {**values, "email": str(values["email"]).strip().lower()})
