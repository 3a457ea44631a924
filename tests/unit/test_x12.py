"""X12 reading and writing against the trading-partner samples in ../shared/samples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from openoms.adapters.channels import x12

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():  # a worktree beside main
    SAMPLES = Path("/work/shared/samples")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


GOOD = [
    "edi_850_vics_retail_node-x12.edi",
    "edi_850_x357_aerospace_taxexempt.edi",
    "edi_855.edi",
    "edi_855_shrader_004010.edi",
    "edi_855_x358_aerospace_ship_details.edi",
    "edi_810.edi",
    "edi_810_books_pipe_delimited.edi",
    "edi_810_x348_aerospace_basic.edi",
]


@pytest.mark.parametrize("name", GOOD)
def test_consistent_samples_read_strictly(name: str) -> None:
    ic = x12.parse_interchange(sample(name))
    assert ic.issues == []
    sets = list(ic.transaction_sets())
    assert len(sets) == 1
    assert sets[0].code == name.split("_")[1].removesuffix(".edi")
    assert sets[0].segments[0].tag == "ST" and sets[0].segments[-1].tag == "SE"


def test_delimiters_come_from_the_isa() -> None:
    assert x12.parse_interchange(sample("edi_810_books_pipe_delimited.edi")).delimiters == x12.Delimiters("|", ">", "~")
    shrader = x12.parse_interchange(sample("edi_855_shrader_004010.edi"))
    assert shrader.delimiters.component == "{"
    assert shrader.sender_id == "208781609-SHRAA" and shrader.control_number == "000002419"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("edi_810_ghx_healthcare_supply.edi", "SE01 says 47 segments, the set has 46"),
        ("edi_856.edi", "GE01 says 2 transaction sets, the group has 1"),
        ("edi_855_kohls_edifabric.edi", "GE01 says 2 transaction sets, the group has 1"),
        ("edi_850_nissan_003010_nonfixed_isa.edi", "not fixed-width"),
    ],
)
def test_broken_envelopes_are_refused_with_the_reason(name: str, message: str) -> None:
    with pytest.raises(x12.X12Error, match=message) as err:
        x12.parse_interchange(sample(name))
    assert err.value.segment is not None


def test_lenient_mode_reads_a_sloppy_partner_and_keeps_the_problems() -> None:
    ic = x12.parse_interchange(sample("edi_856.edi"), strict=False)
    assert len(ic.issues) == 1 and "GE01" in ic.issues[0]
    (asn,) = ic.transaction_sets("856")
    assert sum(1 for s in asn.body() if s.tag == "HL") == 9

    nissan = x12.parse_interchange(sample("edi_850_nissan_003010_nonfixed_isa.edi"), strict=False)
    assert nissan.delimiters.segment == "!" and nissan.version == "00200"
    po = x12.map_purchase_order(next(nissan.transaction_sets("850")), nissan)
    assert po.po_number == "PR12345678"
    assert po.po_date == dt.date(2007, 1, 2)  # YYMMDD before 004010
    assert [ln.product_ids["BP"] for ln in po.lines] == ["50241 01G00", "50241 05G00"]
    assert po.lines[0].notes == ["ANY FREE FORM COMMENTS THAT NEED TO GO WITH THE PO LINE ITEM."]
    assert po.parties["BT"].city == "SMYRNA" and po.parties["BT"].name2 == "BIN 14U"


def test_vics_purchase_order_maps_every_line() -> None:
    ic = x12.parse_interchange(sample("edi_850_vics_retail_node-x12.edi"))
    po = x12.map_purchase_order(next(ic.transaction_sets("850")), ic)
    assert (po.purpose, po.order_type, po.po_number) == ("00", "SA", "08292233294")
    assert po.po_date == dt.date(2010, 11, 27)
    assert po.dates["002"] == dt.date(2010, 12, 14)
    assert po.references == {"DP": "038", "PS": "R"}
    ship_to = po.parties["ST"]
    assert (ship_to.name, ship_to.address, ship_to.city, ship_to.state, ship_to.postal_code) == (
        "XYZ RETAIL",
        ["31875 SOLON RD"],
        "SOLON",
        "OH",
        "44139",
    )
    assert len(po.lines) == 6 and po.issues == []
    first = po.lines[0]
    assert (first.line_id, first.quantity, first.unit, first.unit_price) == ("1", 120, "EA", Decimal("9.25"))
    assert first.product_ids == {"CB": "065322-117", "PR": "RO", "VN": "AB3542"}
    assert first.description == "SMALL WIDGET"
    assert sum(ln.quantity * (ln.unit_price or 0) for ln in po.lines) == po.total_amount == Decimal("13045.94")
    assert (po.sender_id, po.receiver_id) == ("4405197800", "999999999")


def test_one_line_sets_on_one_line_are_read() -> None:
    ic = x12.parse_interchange(sample("edi_850_x357_aerospace_taxexempt.edi"))
    po = x12.map_purchase_order(next(ic.transaction_sets()), ic)
    assert po.po_number == "XX-1234" and po.lines[0].product_ids == {"MG": "XYZ-1234"}
    assert po.total_amount == Decimal(900) == po.lines[0].quantity * (po.lines[0].unit_price or 0)
    assert po.parties["BY"].address == ["2000 JET BLVD"]


def test_an_850_without_lines_or_number_is_refused() -> None:
    ids = x12.EnvelopeIds("ZZ", "ME", "ZZ", "YOU")
    w = x12.SegmentWriter(x12.Delimiters())
    w.add("BEG", "00", "SA", "PO-1", None, "20261125")
    text = x12.write_interchange(
        [("850", w)], ids=ids, functional_id="PO", interchange_control=1, group_control=1, at=dt.datetime(2026, 11, 25)
    )
    with pytest.raises(x12.X12Error, match="no PO1 line items"):
        x12.map_purchase_order(next(x12.parse_interchange(text).transaction_sets()))
    w2 = x12.SegmentWriter(x12.Delimiters())
    w2.add("BEG", "00", "SA", "", None, "20261125")
    w2.add("PO1", "1", "2", "EA", "3")
    text = x12.write_interchange(
        [("850", w2)], ids=ids, functional_id="PO", interchange_control=1, group_control=1, at=dt.datetime(2026, 11, 25)
    )
    with pytest.raises(x12.X12Error, match="purchase order number is empty") as err:
        x12.map_purchase_order(next(x12.parse_interchange(text).transaction_sets()))
    assert err.value.element == "BEG03"


def test_bad_quantity_names_the_element() -> None:
    text = sample("edi_850_vics_retail_node-x12.edi").decode().replace("PO1*2*220*", "PO1*2*2X0*")
    ic = x12.parse_interchange(text)
    with pytest.raises(x12.X12Error, match="not a number") as err:
        x12.map_purchase_order(next(ic.transaction_sets()))
    assert err.value.element == "PO102"


def test_cut_short_and_garbage() -> None:
    text = sample("edi_855.edi").decode()
    with pytest.raises(x12.X12Error, match="no IEA trailer"):
        x12.parse_interchange(text[: text.index("GE*")])
    with pytest.raises(x12.X12Error, match="must start with an ISA"):
        x12.parse_interchange(b"hello")
    with pytest.raises(x12.X12Error, match="cut short"):
        x12.parse_interchange("ISA*00*x*00*y*ZZ*z")


PO_TEXT = "edi_850_vics_retail_node-x12.edi"


def _po() -> x12.PurchaseOrder:
    ic = x12.parse_interchange(sample(PO_TEXT))
    return x12.map_purchase_order(next(ic.transaction_sets()), ic)


def _ids(po: x12.PurchaseOrder) -> x12.EnvelopeIds:
    """A reply goes back: our id is the PO's receiver, theirs its sender."""
    return x12.EnvelopeIds(po.receiver_qualifier, po.receiver_id, po.sender_qualifier, po.sender_id)


AT = dt.datetime(2026, 11, 25, 9, 30)


def test_855_round_trips_and_reports_changes() -> None:
    po = _po()
    acks = [x12.LineAcknowledgment(ln.line_id, "IA", ln.quantity, ln.unit) for ln in po.lines]
    acks[1] = x12.LineAcknowledgment("2", "IB", Decimal(220), "EA", dt.date(2026, 12, 10))
    text = x12.write_interchange(
        [("855", x12.purchase_order_acknowledgment(po, acks, today=AT.date()))],
        ids=_ids(po),
        functional_id="PR",
        interchange_control=42,
        group_control=7,
        at=AT,
    )
    ic = x12.parse_interchange(text)  # strict: the counts and control numbers we wrote agree
    assert ic.control_number == "000000042" and ic.sender_id == "999999999" and ic.receiver_id == "4405197800"
    (ts,) = ic.transaction_sets("855")
    bak = ts.body()[0]
    assert (bak.tag, bak[2], bak[3]) == ("BAK", "AC", "08292233294")
    acks_read = [s for s in ts.body() if s.tag == "ACK"]
    assert [a[1] for a in acks_read] == ["IA", "IB", "IA", "IA", "IA", "IA"]
    assert (acks_read[1][4], acks_read[1][5]) == ("068", "20261210")
    assert len(text.split("~\n")[0]) == x12.ISA_LENGTH - 1  # fixed-width ISA

    all_ok = [x12.LineAcknowledgment(ln.line_id, "IA", ln.quantity, ln.unit) for ln in po.lines]
    assert x12.purchase_order_acknowledgment(po, all_ok, today=AT.date()).segments[0][2] == "AD"
    rejected = [x12.LineAcknowledgment(ln.line_id, "IR", Decimal(0), ln.unit) for ln in po.lines]
    assert x12.purchase_order_acknowledgment(po, rejected, today=AT.date()).segments[0][2] == "RJ"
    with pytest.raises(x12.X12Error, match="no acknowledgment for line"):
        x12.purchase_order_acknowledgment(po, all_ok[:-1], today=AT.date())


def test_856_hierarchy_and_counts() -> None:
    po = _po()
    notice = x12.ShipNotice(
        shipment_id="SHP-9",
        shipped_at=AT,
        po_number=po.po_number,
        po_date=po.po_date,
        carrier_scac="UPSN",
        tracking_number="1Z999AA10123456784",
        ship_to=po.parties["ST"],
        ship_from=x12.Party("SF", "OPENOMS DC", address=["1 DOCK RD"], city="AUSTIN", state="TX", postal_code="78701"),
        packages=[
            x12.ShippedPackage(
                "GM",
                "00000010012345614785",
                [x12.ShippedItem("1", {"VN": "AB3542"}, Decimal(120), "EA")],
            ),
            x12.ShippedPackage(
                "CP",
                "1Z999AA10123456784",
                [
                    x12.ShippedItem("2", {"VN": "RD5322"}, Decimal(200), "EA"),
                    x12.ShippedItem("3", {"VN": "XY5266"}, Decimal(126), "EA"),
                ],
            ),
        ],
    )
    text = x12.write_interchange(
        [("856", x12.ship_notice(notice))],
        ids=_ids(po),
        functional_id="SH",
        interchange_control=43,
        group_control=8,
        at=AT,
    )
    (ts,) = x12.parse_interchange(text).transaction_sets("856")
    hls = [s for s in ts.body() if s.tag == "HL"]
    assert [(h[1], h[2], h[3]) for h in hls] == [
        ("1", "", "S"),
        ("2", "1", "O"),
        ("3", "2", "P"),
        ("4", "3", "I"),
        ("5", "2", "P"),
        ("6", "5", "I"),
        ("7", "5", "I"),
    ]
    ctt = next(s for s in ts.body() if s.tag == "CTT")
    assert ctt[1] == "7"
    assert [s[2] for s in ts.body() if s.tag == "SN1"] == ["120", "200", "126"]
    with pytest.raises(x12.X12Error, match="at least one package"):
        x12.ship_notice(
            x12.ShipNotice("S", AT, "P", None, "UPSN", None, None, None, [x12.ShippedPackage("CP", "1", [])])
        )


def test_810_total_in_implied_cents_and_terms() -> None:
    inv = x12.Invoice(
        number="INV-1001",
        invoice_date=dt.date(2026, 11, 25),
        po_number="08292233294",
        po_date=dt.date(2010, 11, 27),
        currency="USD",
        bill_to=x12.Party("BT", "XYZ RETAIL"),
        ship_to=None,
        lines=[
            x12.InvoiceLine("1", Decimal(120), "EA", Decimal("9.25"), {"VN": "AB3542"}),
            x12.InvoiceLine("2", Decimal(3), "EA", Decimal("13.79"), {"VN": "RD5322"}),
        ],
        tax=Decimal("12.50"),
        shipping=Decimal("20"),
        net_days=30,
        discount_percent=Decimal(2),
        discount_days=10,
    )
    text = x12.write_interchange(
        [("810", x12.invoice(inv))],
        ids=x12.EnvelopeIds("ZZ", "OPENOMS", "12", "4405197800"),
        functional_id="IN",
        interchange_control=44,
        group_control=9,
        at=AT,
    )
    (ts,) = x12.parse_interchange(text).transaction_sets("810")
    assert x12.invoice_total(ts) == inv.total == Decimal("1183.87")
    itd = next(s for s in ts.body() if s.tag == "ITD")
    assert (itd[1], itd[3], itd[5], itd[7]) == ("05", "2", "10", "30")
    # The samples' own TDS reads back the same way: 48 x 3.00 = 144.00.
    (sample_set,) = x12.parse_interchange(sample("edi_810.edi")).transaction_sets("810")
    assert x12.invoice_total(sample_set) == Decimal("144.00")


def test_writer_refuses_delimiters_in_values_and_bad_controls() -> None:
    w = x12.SegmentWriter(x12.Delimiters())
    with pytest.raises(x12.X12Error, match="contains an X12 delimiter") as err:
        w.add("N1", "ST", "ACME*WIDGETS")
    assert err.value.element == "N102"
    with pytest.raises(x12.X12Error, match="control numbers"):
        x12.write_interchange(
            [], ids=x12.EnvelopeIds("ZZ", "A", "ZZ", "B"), functional_id="IN", interchange_control=0,
            group_control=1, at=AT,
        )  # fmt: skip


def test_other_delimiters_round_trip() -> None:
    po = _po()
    d = x12.Delimiters("|", "^", "\n")
    acks = [x12.LineAcknowledgment(ln.line_id, "IA", ln.quantity, ln.unit) for ln in po.lines]
    text = x12.write_interchange(
        [("855", x12.purchase_order_acknowledgment(po, acks, today=AT.date(), delimiters=d))],
        ids=_ids(po),
        functional_id="PR",
        interchange_control=5,
        group_control=5,
        at=AT,
        delimiters=d,
        newline=False,
    )
    ic = x12.parse_interchange(text)
    assert ic.delimiters.element == "|" and ic.delimiters.segment == "\n"
    assert len(next(ic.transaction_sets()).segments) == 1 + 1 + 12 + 1 + 1  # ST, BAK, PO1+ACK x 6, CTT, SE
