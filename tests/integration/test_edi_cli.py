"""`openoms edi` and `openoms inbox` as an operator runs them after a nightly file sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openoms.config import get_settings
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, inventory
from openoms.services.common import Actor
from tests.integration.test_cli import Cli
from tests.integration.test_edi_channel import VICS, VN


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    yield runner
    runner.close()
    get_settings.cache_clear()


def test_partner_import_folder_dead_letter_and_retry(cli: Cli, tmp_path: Path) -> None:
    assert cli("migrate").exit_code == 0
    with cli.db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn, [dict(code="WH1", name="W1", kind="warehouse", country="US", timezone="UTC", ships=True)]
        )
        catalog.CHANNELS.upsert_many(conn, [dict(code="xyz", name="XYZ", kind="edi")])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=s, name=s, list_price=1, currency="USD") for s in VN])
    inventory.change_stock(
        cli.db, [inventory.StockChange(s, "WH1", LedgerEntryType.RECEIPT, 1000, "seed") for s in VN], Actor("t")
    )

    bad = cli("edi", "partner", "xyz", "--ours", "nope", "--theirs", "12:4405197800")
    assert bad.exit_code == 2 and "QUALIFIER:ID" in bad.output
    ok = cli("edi", "partner", "xyz", "--ours", "01:999999999", "--theirs", "12:4405197800", "--sku-qualifier", "SK")
    assert ok.exit_code == 0, ok.output
    assert "SKU from SK" in ok.output

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "po.edi").write_text(VICS)
    run = cli("edi", "import", "xyz", str(drop))
    assert run.exit_code == 0, run.output
    assert "0 new order(s)" in run.output and "1 dead letter(s)" in run.output and "openoms inbox retry" in run.output
    assert (drop / "failed" / "po.edi").exists()

    listed = cli("inbox", "list", "--dead")
    assert (
        listed.exit_code == 0 and "x12/850" in listed.output and "no product id with a qualifier of SK" in listed.output
    )
    message_id = listed.output.split()[0]

    still = cli("inbox", "retry", message_id)
    assert still.exit_code == 1 and "dead" in still.output
    cli("edi", "partner", "xyz", "--ours", "01:999999999", "--theirs", "12:4405197800", "--sku-qualifier", "VN")
    fixed = cli("inbox", "retry", message_id)
    assert fixed.exit_code == 0 and "processed" in fixed.output

    one = cli("edi", "import", "xyz", str(drop / "failed" / "po.edi"))
    assert one.exit_code == 0 and "(already received)" in one.output


def test_order_import_check_then_run(cli: Cli, tmp_path: Path) -> None:
    import json

    from tests.integration.test_order_import import setup as import_setup
    from tests.unit.test_spreadsheet_orders import UCI, UCI_MAPPING

    assert cli("migrate").exit_code == 0
    import_setup(cli.db)
    template = cli("order-import", "template")
    assert template.exit_code == 0 and '"order_id"' in template.output
    sheet = tmp_path / "retail.csv"
    sheet.write_bytes(UCI)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(UCI_MAPPING))
    report = tmp_path / "problems.csv"
    check = cli("order-import", "check", "uk-shop", str(sheet), "--mapping", str(mapping), "--report", str(report))
    assert check.exit_code == 1, check.output  # the two credit notes
    assert "11 order(s) ready, 2 left out" in check.output and "nothing was written" in check.output
    assert report.read_text().count("credit note") == 12
    assert cli.count("orders") == 0
    run = cli("order-import", "run", "uk-shop", str(sheet), "--mapping", str(mapping))
    assert "11 order(s) imported" in run.output and cli.count("orders") == 11
    again = cli("order-import", "run", "uk-shop", str(sheet), "--mapping", str(mapping))
    assert "0 order(s) imported, 11 already there" in again.output and cli.count("orders") == 11
