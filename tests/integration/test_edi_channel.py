"""EDI X12 as a channel: 850s become orders once, bad ones wait as dead letters, 855s go back."""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openoms.adapters.channels import x12
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.domain.errors import DomainError
from openoms.domain.inventory import LedgerEntryType
from openoms.services import catalog, channel_inbox, check, edi, inventory, orders
from openoms.services.common import Actor
from tests.conftest import seed_basics

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/samples")
VICS = (SAMPLES / "edi_850_vics_retail_node-x12.edi").read_text()
ACTOR = Actor("tests")
# The VICS sample's vendor item numbers (PO1 VN) and quantities.
VN = {"AB3542": 120, "RD5322": 220, "XY5266": 126, "VX2332": 76, "RV0524": 72, "DX1875": 696}


def count(db: Database, name: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one())


def setup(db: Database, *, stock: int = 1000, strict: bool = True) -> None:
    seed_basics(db)
    with db.begin() as conn:
        catalog.CHANNELS.upsert_many(conn, [dict(code="xyz", name="XYZ Retail (EDI)", kind="edi")])
        catalog.PRODUCTS.upsert_many(conn, [dict(sku=s, name=f"Widget {s}", list_price=10, currency="USD") for s in VN])
    if stock:
        inventory.change_stock(
            db, [inventory.StockChange(s, "WH1", LedgerEntryType.RECEIPT, stock, "seed") for s in VN], ACTOR
        )
    edi.set_partner(db, "xyz", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["VN"], strict=strict,
                    actor=ACTOR)  # fmt: skip


def with_control(text: str, isa13: str) -> str:
    return text.replace("000003438", isa13)


def test_a_purchase_order_becomes_one_order_and_an_855_goes_back(db: Database) -> None:
    setup(db)
    result = edi.receive_interchange(db, "xyz", VICS, source="api", actor=ACTOR)
    assert result["error"] is None
    (po,) = result["orders"]
    assert (po["po_number"], po["status"], po["duplicate"]) == ("08292233294", "processed", False)
    order = orders.get_order(db, po["order_id"])
    assert order["external_order_id"] == "08292233294" and order["channel"] == "xyz"
    assert {ln["sku"]: ln["quantity"] for ln in order["lines"]} == VN
    assert [ln["external_line_id"] for ln in order["lines"]] == ["1", "2", "3", "4", "5", "6"]
    assert order["shipping_address"]["city"] == "SOLON" and order["shipping_address"]["country"] == "US"
    assert order["grand_total"] == Decimal("13045.94")  # the partner's AMT total

    docs = edi.list_documents(db, "xyz")
    assert [(d["direction"], d["set"]) for d in docs] == [("out", "855"), ("in", "850")]
    ack = edi.get_document(db, docs[0]["id"])
    ic = x12.parse_interchange(ack["body"])  # strict: our envelope is consistent
    assert (ic.sender_id, ic.receiver_id, ic.control_number) == ("999999999", "4405197800", "000000001")
    bak = next(ic.transaction_sets("855")).body()[0]
    assert (bak[2], bak[3]) == ("AD", "08292233294")
    assert edi.get_partner(db, "xyz")["next_interchange_control"] == 2
    assert any(e["event_type"] == "edi.acknowledged" for e in order["timeline"])

    # The same file again: stored once, nothing new.
    again = edi.receive_interchange(db, "xyz", VICS, source="api", actor=ACTOR)
    assert again["orders"][0]["duplicate"] is True
    # The same PO in a new interchange: a new message, the same order, no second 855.
    resent = edi.receive_interchange(db, "xyz", with_control(VICS, "000003439"), source="file", actor=ACTOR)
    assert resent["orders"][0]["order_id"] == po["order_id"] and resent["orders"][0]["duplicate"] is False
    assert count(db, "orders") == 1 and count(db, "channel_inbox") == 2
    assert [d["set"] for d in edi.list_documents(db, "xyz", direction="out")] == ["855"]
    assert check.run_check(db).ok


def test_unmappable_lines_wait_as_dead_letters_and_retry_after_the_fix(db: Database) -> None:
    setup(db)
    edi.set_partner(db, "xyz", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["SK"], actor=ACTOR)
    result = edi.receive_interchange(db, "xyz", VICS, source="api", actor=ACTOR)
    (po,) = result["orders"]
    assert po["status"] == "dead" and po["order_id"] is None
    assert "PO1 1" in po["reason"] and "VN=AB3542" in po["reason"] and "SKU qualifiers" in po["reason"]
    assert count(db, "orders") == 0 and count(db, "edi_documents") == 1  # the 850 we received, no 855
    dead = channel_inbox.list_messages(db, status="dead")
    assert [m["id"] for m in dead["items"]] == [po["inbox_id"]] and dead["counts"]["dead"] == 1

    edi.set_partner(db, "xyz", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["VN"], actor=ACTOR)
    retried = channel_inbox.retry(db, po["inbox_id"], ACTOR)
    assert retried["status"] == "processed" and retried["attempts"] == 2 and retried["order_id"]
    with pytest.raises(DomainError, match="only dead letters are retried"):
        channel_inbox.retry(db, po["inbox_id"], ACTOR)


def test_out_of_stock_is_a_dead_letter_until_stock_arrives(db: Database) -> None:
    setup(db, stock=0)
    (po,) = edi.receive_interchange(db, "xyz", VICS, source="api", actor=ACTOR)["orders"]
    assert po["status"] == "dead" and po["reason"].startswith("insufficient_stock")
    inventory.change_stock(
        db, [inventory.StockChange(s, "WH2", LedgerEntryType.RECEIPT, 1000, "po") for s in VN], ACTOR
    )
    assert channel_inbox.retry(db, po["inbox_id"], ACTOR)["status"] == "processed"


def test_a_broken_envelope_is_kept_whole_and_a_lenient_partner_is_read(db: Database) -> None:
    setup(db)
    broken = VICS.replace("GE*1*1421", "GE*2*1421")
    result = edi.receive_interchange(db, "xyz", broken, source="file", actor=ACTOR)
    assert result["orders"] == [] and "GE01 says 2" in result["error"]
    msg = channel_inbox.get_message(db, result["dead_letter"])
    assert msg["status"] == "dead" and msg["body"] == broken and msg["topic"] == "x12/interchange"
    assert count(db, "orders") == 0
    # A second copy of the same broken file is the same dead letter.
    assert edi.receive_interchange(db, "xyz", broken, source="file", actor=ACTOR)["dead_letter"] == msg["id"]

    edi.set_partner(db, "xyz", ours="01:999999999", theirs="12:4405197800", sku_qualifiers=["VN"], strict=False,
                    actor=ACTOR)  # fmt: skip
    lenient = edi.receive_interchange(db, "xyz", with_control(broken, "000003440"), source="file", actor=ACTOR)
    assert lenient["orders"][0]["status"] == "processed" and lenient["interchange"]["issues"]


def test_a_cancellation_850_cancels_the_order(db: Database) -> None:
    setup(db)
    (po,) = edi.receive_interchange(db, "xyz", VICS, source="api", actor=ACTOR)["orders"]
    cancel = with_control(VICS, "000003441").replace("BEG*00*SA*", "BEG*01*SA*")
    (c,) = edi.receive_interchange(db, "xyz", cancel, source="api", actor=ACTOR)["orders"]
    assert c["status"] == "processed" and c["order_id"] == po["order_id"]
    assert orders.get_order(db, po["order_id"])["status"] == "cancelled"
    replace = with_control(VICS, "000003442").replace("BEG*00*SA*", "BEG*05*SA*")
    (r,) = edi.receive_interchange(db, "xyz", replace, source="api", actor=ACTOR)["orders"]
    assert r["status"] == "dead" and r["reason"].startswith("BEG01")
    assert channel_inbox.ignore(db, r["inbox_id"], "replacement applied by hand", ACTOR)["status"] == "ignored"


def test_refusals_change_nothing(db: Database) -> None:
    setup(db)
    with pytest.raises(DomainError, match="not this channel's partner"):
        edi.receive_interchange(db, "xyz", VICS.replace("*12*4405197800   ", "*12*4405197801   "), source="api",
                                actor=ACTOR)  # fmt: skip
    with pytest.raises(DomainError, match="has no EDI partner"):
        edi.receive_interchange(db, "web", VICS, source="api", actor=ACTOR)
    with pytest.raises(DomainError) as err:
        edi.set_partner(db, "xyz", ours="nocolon", theirs="12:X", sku_qualifiers=["V"], usage="Q", actor=ACTOR)
    assert {e.field for e in err.value.errors} >= {"ours"}
    assert count(db, "channel_inbox") == 0 and count(db, "orders") == 0


def test_drop_folder(db: Database, tmp_path: Path) -> None:
    setup(db)
    (tmp_path / "a.edi").write_text(VICS)
    (tmp_path / "b.edi").write_text(with_control(VICS, "000003443").replace("GE*1*1421", "GE*3*1421"))
    (tmp_path / "notes.md").write_text("not edi")
    seen = []
    totals = edi.import_folder(db, "xyz", tmp_path, actor=ACTOR, progress=lambda p, _r: seen.append(p.name))
    assert totals == {"files": 2, "orders": 1, "dead": 1, "duplicates": 0}
    assert seen == ["a.edi", "b.edi"]
    assert (tmp_path / "processed" / "a.edi").exists() and (tmp_path / "failed" / "b.edi").exists()
    assert (tmp_path / "notes.md").exists()


@pytest.mark.postgres
def test_the_same_file_from_four_clients_at_once_makes_one_order_and_one_855(pg_url: str) -> None:
    db = Database(pg_url, pool_size=8)
    try:
        setup(db)
        barrier = threading.Barrier(4)
        results: list[dict] = []
        errors: list[BaseException] = []

        def send(isa13: str) -> None:
            try:
                barrier.wait()
                results.append(edi.receive_interchange(db, "xyz", with_control(VICS, isa13), source="api", actor=ACTOR))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [
            threading.Thread(target=send, args=(c,)) for c in ("000000501", "000000501", "000000502", "000000503")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert count(db, "orders") == 1
        assert count(db, "channel_inbox") == 3  # three distinct interchanges, one of them sent twice
        assert len(edi.list_documents(db, "xyz", direction="out")) == 1
        assert {r["orders"][0]["order_id"] for r in results} == {results[0]["orders"][0]["order_id"]}
    finally:
        db.dispose()


def test_worker_reads_drop_folders_and_drops_the_855(db: Database, tmp_path: Path) -> None:
    from openoms.config import Settings
    from openoms.worker import Worker

    setup(db)
    (tmp_path / "xyz" / "in").mkdir(parents=True)
    (tmp_path / "xyz" / "in" / "po-4711.edi").write_text(VICS)
    worker = Worker(db, Settings(database_url=db.url, edi_dir=tmp_path))
    assert worker.run_due_jobs(force=True)["import EDI drop folders"] == 1
    assert (tmp_path / "xyz" / "in" / "processed" / "po-4711.edi").exists()
    worker.drain()
    (out,) = (tmp_path / "xyz" / "out").glob("*.edi")
    assert "855" in out.name
    (ack,) = x12.parse_interchange(out.read_text()).transaction_sets("855")
    assert ack.body()[0][3] == "08292233294"
    worker.drain()  # nothing new, the file is not written twice
    assert len(list((tmp_path / "xyz" / "out").glob("*.edi"))) == 1


def test_shipping_an_edi_order_sends_one_856_per_shipment(db: Database, tmp_path: Path) -> None:
    from openoms.config import Settings
    from openoms.domain.fulfillment import FulfilmentStatus, PackageInput
    from openoms.services import fulfillment
    from openoms.worker import Worker

    setup(db)
    small = re.sub(r"(PO1\*\d+\*)\d+\*", r"\g<1>2*", VICS)  # two of each widget
    (po,) = edi.receive_interchange(db, "xyz", small, source="api", actor=ACTOR)["orders"]
    (fo,) = fulfillment.release_order(db, po["order_id"], ACTOR)
    for step in (FulfilmentStatus.ACCEPTED, FulfilmentStatus.PICKED, FulfilmentStatus.PACKED):
        fulfillment.report_progress(db, fo["id"], step, ACTOR)
    shipment = fulfillment.ship(
        db, fo["id"], carrier="UPS", service_code="GND", actor=ACTOR,
        packages=[PackageInput("1Z999AA10123456784", 1200, [(1, 2), (2, 2), (3, 2)]),
                  PackageInput("1Z999AA10123456785", 1500, [(4, 2), (5, 2), (6, 2)])],
    )  # fmt: skip
    (tmp_path / "xyz").mkdir()
    worker = Worker(db, Settings(database_url=db.url, edi_dir=tmp_path))
    worker.drain()
    notices = [d for d in edi.list_documents(db, "xyz", direction="out") if d["set"] == "856"]
    assert len(notices) == 1
    (asn,) = x12.parse_interchange(edi.get_document(db, notices[0]["id"])["body"]).transaction_sets("856")
    body = asn.body()
    assert next(s for s in body if s.tag == "PRF")[1] == "08292233294"
    assert next(s for s in body if s.tag == "TD5")[3] == "UPSN"
    assert [s[2] for s in body if s.tag == "MAN"] == ["1Z999AA10123456784", "1Z999AA10123456785"]
    assert [(s[1], s[3]) for s in body if s.tag == "LIN"][:2] == [("1", "AB3542"), ("2", "RD5322")]
    assert [s[2] for s in body if s.tag == "SN1"] == ["2"] * 6
    worker.drain()
    assert len([p for p in (tmp_path / "xyz" / "out").glob("*856*.edi")]) == 1
    assert edi.send_ship_notice(db, shipment["id"]) is None  # once per shipment
    assert len([d for d in edi.list_documents(db, "xyz", direction="out") if d["set"] == "856"]) == 1
    order = orders.get_order(db, po["order_id"])
    assert any(e["event_type"] == "edi.ship_notice" for e in order["timeline"])
