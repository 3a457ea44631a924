"""CSV import of products, locations and stock: validate every row, then import all or none."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import StockLevel, table
from openoms.api.schemas import LocationCreate, ProductCreate, StockSet
from openoms.domain.errors import DomainError, FieldError
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, inventory
from openoms.services.common import CLI

BATCH = 500


@dataclass(frozen=True)
class Spec:
    model: type[BaseModel]
    key: tuple[str, ...]


SPECS = {
    "products": Spec(ProductCreate, ("sku",)),
    "locations": Spec(LocationCreate, ("code",)),
    "stock": Spec(StockSet, ("sku", "location")),
}


def clean_row(raw: dict[str | None, Any], spec: Spec) -> dict[str, Any]:
    """Trim cells and drop empty ones so that optional columns may be left blank."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k is None:  # more cells than header columns
            out["(extra cells)"] = v
            continue
        key = k.strip()
        if isinstance(v, str):
            v = v.strip()
        if v not in (None, ""):
            out[key] = v
    return out


def duplicate_keys(
    models: Sequence[BaseModel], spec: Spec, rows: Sequence[int] | None = None
) -> list[tuple[int, str, str]]:
    """(row, field, reason) for every row whose key repeats; ``rows`` are the file's row
    numbers of ``models`` (rows that failed validation are not among the models)."""
    numbers = list(rows) if rows is not None else [i + 2 for i in range(len(models))]
    keys = [tuple(getattr(m, k) for k in spec.key) for m in models]
    dupes = {k for k, n in Counter(keys).items() if n > 1}
    return [
        (numbers[i], "/".join(spec.key), f"{'/'.join(map(str, k))} appears more than once in the file")
        for i, k in enumerate(keys)
        if k in dupes
    ]


def check_references(db: Database, kind: str, models: Sequence[BaseModel]) -> list[tuple[int, str, str]]:
    """(row, field, reason) for stock rows that name an unknown SKU or location, or would
    count on hand below what is reserved for orders; ``models`` are every row of the file."""
    if kind != "stock":
        return []
    stock = [m for m in models if isinstance(m, StockSet)]
    with db.read() as conn:
        try:
            keys = inventory.resolve_stock_keys(conn, [(m.sku, m.location) for m in stock], "rows")
        except DomainError as exc:
            return [_to_row(e) for e in exc.errors]
        levels = table(StockLevel)
        reserved = {
            (int(p), int(loc)): int(r)
            for p, loc, r in conn.execute(
                select(levels.c.product_id, levels.c.location_id, levels.c.reserved).where(
                    levels.c.product_id.in_(sorted({p for p, _ in keys.values()})), levels.c.reserved > 0
                )
            ).all()
        }
    problems = []
    for i, m in enumerate(stock):
        held = reserved.get(keys[(m.sku, m.location)], 0)
        if m.on_hand < held:
            problems.append((i + 2, "on_hand", f"{m.on_hand} is below the {held} unit(s) reserved for orders"))
    return problems


def _to_row(e: FieldError) -> tuple[int, str, str]:
    # "rows[3].sku" -> row number 5 in the file (header is row 1, index 0 is row 2)
    idx = int(e.field.split("[")[1].split("]")[0])
    return (idx + 2, e.field.split(".", 1)[1], e.reason)


def import_rows(db: Database, kind: str, models: Sequence[BaseModel], advance: Callable[[int], None]) -> int:
    """Import in one unit of work: a failure part-way leaves the database as it was."""
    with db.begin() as conn:
        for start in range(0, len(models), BATCH):
            batch = models[start : start + BATCH]
            if kind == "products":
                catalog.PRODUCTS.upsert_many(conn, [m.model_dump() for m in batch])
            elif kind == "locations":
                catalog.LOCATIONS.upsert_many(conn, [m.model_dump() for m in batch])
            else:
                inventory.apply_stock_changes(
                    conn,
                    [
                        inventory.StockChange(m.sku, m.location, LedgerEntryType.COUNT, m.on_hand, m.reason)
                        for m in batch
                        if isinstance(m, StockSet)
                    ],
                    CLI,
                )
            advance(len(batch))
    return len(models)
