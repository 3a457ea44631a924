"""``openoms check``: prove that stock balances equal the ledger and that nothing is oversold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import (
    LedgerEntry,
    Location,
    Product,
    Reservation,
    StockLevel,
    Transfer,
    TransferLine,
    table,
)
from openoms.domain.inventory import LedgerEntryType

_stock = table(StockLevel)
_ledger = table(LedgerEntry)
_res = table(Reservation)
_products = table(Product)
_locations = table(Location)
_transfers = table(Transfer)
_transfer_lines = table(TransferLine)


@dataclass
class CheckReport:
    stock_rows: int = 0
    ledger_rows: int = 0
    transfers: int = 0
    units_in_transit: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_check(db: Database) -> CheckReport:
    """Four proofs, each a full scan: balances = ledger sums, 0 <= reserved <= on hand,
    reserved = open reservations, and per transfer and SKU the ledger's transfer_out minus
    transfer_in equals the units the transfer has in transit. Read in one snapshot so that live traffic cannot fake a
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
            _check_transfers(conn, report)
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


def _check_transfers(conn: Any, report: CheckReport) -> None:
    """Shipped = -sum(transfer_out), received = sum(transfer_in), per transfer number and SKU;
    in transit is their difference (drafts and cancelled transfers have moved nothing)."""
    moved: dict[tuple[str, int], tuple[int, int]] = {}
    for ref, p, etype, total in conn.execute(
        select(_ledger.c.reference, _ledger.c.product_id, _ledger.c.entry_type, func.sum(_ledger.c.on_hand_delta))
        .where(_ledger.c.entry_type.in_([LedgerEntryType.TRANSFER_OUT, LedgerEntryType.TRANSFER_IN]))
        .group_by(_ledger.c.reference, _ledger.c.product_id, _ledger.c.entry_type)
    ).all():
        out, inn = moved.get((str(ref), int(p)), (0, 0))
        if etype == LedgerEntryType.TRANSFER_OUT:
            out -= int(total or 0)
        else:
            inn += int(total or 0)
        moved[(str(ref), int(p))] = (out, inn)
    expected: dict[tuple[str, int], tuple[int, int]] = {}
    numbers = set()
    for number, status, p, qty, received in conn.execute(
        select(
            _transfers.c.number,
            _transfers.c.status,
            _transfer_lines.c.product_id,
            _transfer_lines.c.quantity,
            _transfer_lines.c.quantity_received,
        ).join(_transfer_lines, _transfer_lines.c.transfer_id == _transfers.c.id)
    ).all():
        numbers.add(number)
        shipped = int(qty) if status in ("in_transit", "received") else 0
        expected[(str(number), int(p))] = (shipped, int(received))
        report.units_in_transit += shipped - int(received)
    report.transfers = len(numbers)
    for key in sorted(set(expected) | {k for k in moved if k[0] in numbers}):
        shipped, received = expected.get(key, (0, 0))
        out, inn = moved.get(key, (0, 0))
        if (out, inn) != (shipped, received):
            report.problems.append(
                f"transfer {key[0]} product {key[1]}: shipped {shipped}, received {received}, in transit "
                f"{shipped - received}, but the ledger has transfer_out {out}, transfer_in {inn} "
                f"(in transit {out - inn})"
            )
