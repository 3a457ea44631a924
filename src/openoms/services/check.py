"""``openoms check``: prove that stock balances equal the ledger and that nothing is oversold."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import LedgerEntry, Location, Product, Reservation, StockLevel, table

_stock = table(StockLevel)
_ledger = table(LedgerEntry)
_res = table(Reservation)
_products = table(Product)
_locations = table(Location)


@dataclass
class CheckReport:
    stock_rows: int = 0
    ledger_rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_check(db: Database) -> CheckReport:
    """Three proofs, each a full scan: balances = ledger sums, 0 <= reserved <= on hand,
    reserved = open reservations. Read in one snapshot so that live traffic cannot fake a
    mismatch (REPEATABLE READ on PostgreSQL; SQLite readers see one snapshot anyway)."""
    report = CheckReport()
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            names = {
                (p, loc): f"{sku}@{code}"
                for p, loc, sku, code in conn.execute(
                    select(_stock.c.product_id, _stock.c.location_id, _products.c.sku, _locations.c.code)
                    .join(_products, _products.c.id == _stock.c.product_id)
                    .join(_locations, _locations.c.id == _stock.c.location_id)
                ).all()
            }
            balances = {
                (int(p), int(loc)): (int(oh), int(rv))
                for p, loc, oh, rv in conn.execute(
                    select(_stock.c.product_id, _stock.c.location_id, _stock.c.on_hand, _stock.c.reserved)
                ).all()
            }
            report.stock_rows = len(balances)
            sums: dict[tuple[int, int], tuple[int, int]] = {}
            for p, loc, oh, rv, n in conn.execute(
                select(
                    _ledger.c.product_id,
                    _ledger.c.location_id,
                    func.sum(_ledger.c.on_hand_delta),
                    func.sum(_ledger.c.reserved_delta),
                    func.count(),
                ).group_by(_ledger.c.product_id, _ledger.c.location_id)
            ).all():
                sums[(int(p), int(loc))] = (int(oh or 0), int(rv or 0))
                report.ledger_rows += int(n)
            open_res = {
                (int(p), int(loc)): int(q or 0)
                for p, loc, q in conn.execute(
                    select(_res.c.product_id, _res.c.location_id, func.sum(_res.c.quantity)).group_by(
                        _res.c.product_id, _res.c.location_id
                    )
                ).all()
            }
    for key in sorted(set(balances) | set(sums)):
        name = names.get(key, f"product {key[0]} @ location {key[1]}")
        on_hand, reserved = balances.get(key, (0, 0))
        l_on_hand, l_reserved = sums.get(key, (0, 0))
        if (on_hand, reserved) != (l_on_hand, l_reserved):
            report.problems.append(
                f"{name}: balance on_hand={on_hand} reserved={reserved} but ledger sums to "
                f"on_hand={l_on_hand} reserved={l_reserved}"
            )
        if not 0 <= reserved <= on_hand:
            report.problems.append(f"{name}: reserved={reserved} outside 0..on_hand={on_hand} (oversold)")
        if open_res.get(key, 0) != reserved:
            report.problems.append(
                f"{name}: reserved={reserved} but open order reservations sum to {open_res.get(key, 0)}"
            )
    return report
