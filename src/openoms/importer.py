"""CSV import of products, locations and stock: validate every row, then import all or none."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from openoms.adapters.db.engine import Database
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


def duplicate_keys(models: Sequence[BaseModel], spec: Spec) -> list[tuple[int, str, str]]:
    keys = [tuple(getattr(m, k) for k in spec.key) for m in models]
    dupes = {k for k, n in Counter(keys).items() if n > 1}
    return [
        (i + 2, "/".join(spec.key), f"{'/'.join(map(str, k))} appears more than once in the file")
        for i, k in enumerate(keys)
        if k in dupes
    ]


def check_references(db: Database, kind: str, models: Sequence[BaseModel]) -> None:
    """Stock rows must name existing SKUs and locations; errors carry CSV row numbers."""
    if kind != "stock":
        return
    with db.read() as conn:
        try:
            inventory.resolve_stock_keys(conn, [(m.sku, m.location) for m in models if isinstance(m, StockSet)], "rows")
        except DomainError as exc:
            exc.errors = [_to_row(e) for e in exc.errors]
            raise


def _to_row(e: FieldError) -> FieldError:
    # "rows[3].sku" -> row number 5 in the file (header is row 1, index 0 is row 2)
    idx = int(e.field.split("[")[1].split("]")[0])
    return FieldError(f"row {idx + 2}: {e.field.split('.', 1)[1]}", e.reason)


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
