"""Spreadsheet order import: the dry run writes nothing, the import goes through the channel
inbox (idempotent, dead letters for what cannot be captured)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from openoms.adapters.db.engine import Database
from openoms.domain.errors import DomainError
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, channel_inbox, check, inventory, order_import
from openoms.services.common import Actor
from tests.conftest import books, seed_basics
from tests.unit.test_spreadsheet_orders import UCI, UCI_MAPPING

ACTOR = Actor("tests")


def uci_skus() -> set[str]:
    rows = csv.DictReader(io.StringIO(UCI.decode()))
    return {r["StockCode"] for r in rows if float(r["Quantity"]) > 0}


def setup(db: Database, *, skip: set[str] = frozenset(), short: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    seed_basics(db)
    skus = uci_skus() - skip
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="uk-shop", name="UK shop", kind="web", currency="GBP")])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=s, name=s, list_price=1, currency="GBP") for s in skus])
    inventory.change_stock(
        db,
        [inventory.StockChange(s, "WH1", LedgerEntryType.RECEIPT, 100, "seed") for s in sorted(skus - short)],
        ACTOR,
    )


def test_dry_run_reports_every_row_and_writes_nothing(db: Database) -> None:
    setup(db, skip={"85044"})
    before = books(db)
    report = order_import.import_orders(db, "uk-shop", UCI, "retail.csv", UCI_MAPPING, dry_run=True, actor=ACTOR)
    assert books(db) == before
    assert report["rows"] == 134 and report["dry_run"] is True
    unknown = [e for e in report["errors"] if "unknown SKU '85044'" in e["reason"]]
    assert unknown and unknown[0]["column"] == "StockCode"
    assert report["orders_ready"] == 10 and report["orders_left_out"] == 3  # two credit notes, one unknown SKU
    assert sum(1 for e in report["errors"] if "credit note" in e["reason"]) == 12
    text = order_import.error_report_csv(report)
    assert text.splitlines()[0] == "row,column,reason" and "85044" in text


def test_import_twice_makes_each_order_once_and_keeps_the_books(db: Database) -> None:
    setup(db)
    first = order_import.import_orders(db, "uk-shop", UCI, "retail.csv", UCI_MAPPING, dry_run=False, actor=ACTOR)
    assert [o["status"] for o in first["orders"]] == ["processed"] * 11
    assert all(o["order_id"] for o in first["orders"])
    again = order_import.import_orders(db, "uk-shop", UCI, "retail.csv", UCI_MAPPING, dry_run=False, actor=ACTOR)
    assert all(o["already_imported"] for o in again["orders"])
    assert [o["order_id"] for o in again["orders"]] == [o["order_id"] for o in first["orders"]]
    assert books(db)["orders"] == 11
    assert check.run_check(db).ok


def test_an_order_without_stock_waits_as_a_dead_letter(db: Database) -> None:
    setup(db, short={"85044"})
    report = order_import.import_orders(db, "uk-shop", UCI, "retail.csv", UCI_MAPPING, dry_run=False, actor=ACTOR)
    dead = [o for o in report["orders"] if o["status"] == "dead"]
    assert len(dead) == 1 and dead[0]["reason"].startswith("insufficient_stock")
    assert "not captured" in order_import.error_report_csv(report)
    inventory.change_stock(db, [inventory.StockChange("85044", "WH1", LedgerEntryType.RECEIPT, 50, "po")], ACTOR)
    # Importing the file again retries the dead one and leaves the others alone.
    again = order_import.import_orders(db, "uk-shop", UCI, "retail.csv", UCI_MAPPING, dry_run=False, actor=ACTOR)
    assert [o["status"] for o in again["orders"]] == ["processed"] * 11
    assert channel_inbox.list_messages(db, status="dead")["counts"]["dead"] == 0


def test_refusals(db: Database, tmp_path: Path) -> None:
    setup(db)
    with pytest.raises(DomainError, match="Channel nope does not exist"):
        order_import.import_orders(db, "nope", UCI, "x.csv", UCI_MAPPING, dry_run=True, actor=ACTOR)
    with pytest.raises(DomainError) as err:
        order_import.import_orders(db, "uk-shop", UCI, "x.csv", "{not json", dry_run=True, actor=ACTOR)
    assert err.value.errors[0].field == "mapping"
    with pytest.raises(DomainError, match="no column for sku"):
        bad = {**UCI_MAPPING, "columns": {**UCI_MAPPING["columns"], "sku": "Item"}}
        order_import.import_orders(db, "uk-shop", UCI, "x.csv", bad, dry_run=True, actor=ACTOR)
