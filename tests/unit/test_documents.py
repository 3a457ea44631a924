"""Fulfilment documents (``adapters.documents``): the PDFs are parsed back with pypdf and the
label's barcode is decoded from the bars drawn on the page; ZPL is checked field by field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.graphics.barcode.code128 import _patterns as CODE128_PATTERNS  # the ISO symbol table
from reportlab.pdfbase.pdfmetrics import stringWidth

from openoms.adapters.documents import (
    PackingSlip,
    PackingSlipLine,
    PaperSize,
    PickList,
    PickListLine,
    PostalAddress,
    ShippingLabel,
    label_pdf,
    label_zpl,
    packing_slip_pdf,
    pick_list_pdf,
    tracking_barcode,
)
from openoms.adapters.documents.text import FONT, FONT_BOLD, fit, printable, register_fonts, wrap
from openoms.domain.errors import DomainError, ErrorCode

UTC = dt.UTC
TRACKING = "1Z999AA10123456784"
LONG = "Extraordinarily " * 20 + "END-OF-TEXT"

SHIP_FROM = PostalAddress(
    name="OpenOMS Demo Warehouse",
    company="Acme Retail Ltd",
    line1="100 Industrial Way",
    city="Allentown",
    region="PA",
    postal_code="18109",
    country="US",
)
SHIP_TO = PostalAddress(
    name="José Núñez",
    line1="742 Evergreen Terrace",
    line2="Apt 3",
    city="Brooklyn",
    region="NY",
    postal_code="11201",
    country="US",
    phone="+1 718 555 0199",
)


def make_label(**changes: object) -> ShippingLabel:
    label = ShippingLabel(
        carrier="UPS",
        service_name="Ground",
        service_code="UPS-GROUND",
        tracking_number=TRACKING,
        ship_from=SHIP_FROM,
        ship_to=SHIP_TO,
        weight_grams=1200,
        order_number="SO-100234",
        ship_date=dt.date(2025, 3, 14),
        package_number=1,
        package_count=2,
        routing_code="NY 112 9-03",
    )
    return dataclasses.replace(label, **changes)


def make_slip(**changes: object) -> PackingSlip:
    slip = PackingSlip(
        order_number="SO-100234",
        channel="shopify",
        placed_at=dt.datetime(2025, 3, 13, 17, 5, tzinfo=UTC),
        ship_from=SHIP_FROM,
        ship_to=SHIP_TO,
        shipment_reference="SHP-000981",
        lines=(
            PackingSlipLine("SKU-TORCH", "Crème brûlée torch", 2, 2, 0),
            PackingSlipLine("SKU-PLUSH", "Señor Ñandú plush toy", 5, 3, 2),
        ),
        notes="Happy birthday, María!",
    )
    return dataclasses.replace(slip, **changes)


def make_pick_list(n_lines: int = 3, **changes: object) -> PickList:
    lines = tuple(
        PickListLine(
            sku=f"SKU-{i:05d}",
            name=f"Widget {i}",
            quantity=i % 5 + 1,
            order_numbers=(f"SO-{1000 + i}",),
            bin=f"A-{i // 10:02d}-{i % 10}",
        )
        for i in range(n_lines)
    )
    pick_list = PickList(
        reference="WAVE-0042",
        location_code="WH-ABE",
        location_name="Allentown DC",
        generated_at=dt.datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
        lines=lines,
        wave="W-0042",
        fulfillment_references=("FO-1", "FO-2"),
    )
    return dataclasses.replace(pick_list, **changes)


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def text_runs(pdf: bytes, page_number: int = 0) -> list[tuple[str, float, float, float]]:
    """(text, x, y, size) of every string drawn on the page."""
    runs: list[tuple[str, float, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            runs.append((text.strip(), cm[4] + tm[4], cm[5] + tm[5], size))

    PdfReader(io.BytesIO(pdf)).pages[page_number].extract_text(visitor_text=visit)
    return runs


def assert_text_inside_page(pdf: bytes, page_number: int = 0) -> None:
    """Every string starts on the page and, measured in the face it was drawn in, ends on it."""
    register_fonts()
    page = PdfReader(io.BytesIO(pdf)).pages[page_number]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    runs: list[tuple[str, float, float, float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: dict[str, object], size: float) -> None:
        if text.strip():
            face = FONT_BOLD if str(font.get("/BaseFont", "")).endswith("-Bold") else FONT
            runs.append((text.strip(), cm[4] + tm[4], cm[5] + tm[5], size, face))

    page.extract_text(visitor_text=visit)
    assert runs
    for text, x, y, size, face in runs:
        right = x + stringWidth(text, face, size)
        assert x >= 0 and right <= width + 0.01, (text, x, right, width)
        assert 0 <= y <= height, (text, y)


def table_rows(pdf: bytes, page_number: int = 0) -> list[str]:
    """The page's text as printed rows: strings whose baselines are within 3 pt, left to right."""
    rows: list[list[tuple[float, float, str]]] = []
    for text, x, y, _ in sorted(text_runs(pdf, page_number), key=lambda r: (-r[2], r[1])):
        if rows and abs(rows[-1][0][1] - y) <= 3:
            rows[-1].append((x, y, text))
        else:
            rows.append([(x, y, text)])
    return [" ".join(t for _, _, t in sorted(row)) for row in rows]


# --- Code 128 decoding from the drawn bars ----------------------------------------------------

PATTERN_TO_VALUE = {
    tuple(ord(c.lower()) - ord("a") + 1 for c in pattern): value for value, pattern in CODE128_PATTERNS.items()
}


def barcode_bars(pdf: bytes, bar_height: float) -> list[tuple[float, float]]:
    """(x, width) of the filled rectangles ``bar_height`` tall: the bars of the symbol."""
    reader = PdfReader(io.BytesIO(pdf))
    page = reader.pages[0]
    content = ContentStream(page.get_contents(), reader)
    bars = []
    for operands, operator in content.operations:
        if operator == b"re" and abs(float(operands[3]) - bar_height) < 0.01:
            bars.append((float(operands[0]), float(operands[2])))
    return sorted(bars)


def decode_code128(bars: list[tuple[float, float]]) -> str:
    """Read bars and spaces back into modules, symbols, code sets and text; checks the checksum."""
    module = min(w for _, w in bars)
    elements: list[int] = []
    for i, (x, w) in enumerate(bars):
        elements.append(round(w / module))
        if i + 1 < len(bars):
            elements.append(round((bars[i + 1][0] - x - w) / module))
    stop = PATTERN_TO_VALUE[tuple(elements[-7:])]
    assert stop == 106, "the symbol must end with the stop pattern"
    values = [PATTERN_TO_VALUE[tuple(elements[i : i + 6])] for i in range(0, len(elements) - 7, 6)]
    start, *data, check = values
    assert (start + sum(i * v for i, v in enumerate(data, 1))) % 103 == check, "checksum"
    code_set = {103: "A", 104: "B", 105: "C"}[start]
    out = []
    for v in data:
        if code_set == "C" and v < 100:
            out.append(f"{v:02d}")
        elif v == 99:
            code_set = "C"
        elif v == 100 and code_set != "B":
            code_set = "B"
        elif v == 101 and code_set != "A":
            code_set = "A"
        elif (code_set == "B" and v < 96) or (code_set == "A" and v < 64):
            out.append(chr(v + 32))
        elif code_set == "A" and v < 96:
            out.append(chr(v - 64))
        else:
            raise AssertionError(f"unexpected value {v} in set {code_set}")
    return "".join(out)


# --- Shipping label (PDF) -----------------------------------------------------------------------


def test_label_is_one_4x6_inch_page() -> None:
    reader = PdfReader(io.BytesIO(label_pdf(make_label())))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == (288.0, 432.0)


def test_label_shows_tracking_order_addresses_service_and_parcel() -> None:
    (text,) = pages_text(label_pdf(make_label()))
    for expected in (
        TRACKING,
        "SO-100234",
        "José Núñez",
        "742 Evergreen Terrace",
        "Brooklyn, NY 11201",
        "OpenOMS Demo Warehouse",
        "Allentown, PA 18109",
        "GROUND",
        "UPS-GROUND",
        "NY 112 9-03",
        "2025-03-14",
        "1 OF 2",
        "2.65 LB / 1.20 KG",
    ):
        assert expected in text


def test_label_barcode_decodes_to_the_tracking_number() -> None:
    label = make_label()
    bars = barcode_bars(label_pdf(label), tracking_barcode(label).barHeight)
    symbol = tracking_barcode(label)
    assert symbol.width > 0  # reportlab computes the symbol lazily
    assert len(bars) == sum(c.isupper() for c in symbol.decomposed)
    assert decode_code128(bars) == TRACKING


@pytest.mark.parametrize("tracking", ["9400111899223856931234", "JD014600003SE", "7", "ABC-123/45.6 X"])
def test_label_barcode_fits_the_page_for_short_and_long_numbers(tracking: str) -> None:
    label = make_label(tracking_number=tracking)
    symbol = tracking_barcode(label)
    assert symbol.width <= 288 - 2 * 9
    assert decode_code128(barcode_bars(label_pdf(label), symbol.barHeight)) == tracking


def test_label_without_routing_code_gives_the_space_to_the_address() -> None:
    (text,) = pages_text(label_pdf(make_label(routing_code=None)))
    assert "Brooklyn, NY 11201" in text
    assert "NY 112 9-03" not in text


def test_label_long_address_is_wrapped_or_cut_never_off_the_page() -> None:
    ship_to = dataclasses.replace(SHIP_TO, name=LONG, company=LONG, line1=LONG, line2=LONG, city=LONG)
    pdf = label_pdf(make_label(ship_to=ship_to, order_number="SO-" + "9" * 60, service_name=LONG))
    (text,) = pages_text(pdf)
    assert "END-OF-TEXT" not in text
    assert "\u2026" in text
    assert_text_inside_page(pdf)
    runs = text_runs(pdf)
    assert all(y >= 9 for _, _, y, _ in runs), "nothing below the bottom margin"


def test_label_unicode_prints_latin_and_marks_other_scripts() -> None:
    ship_to = dataclasses.replace(SHIP_TO, name="山田太郎 Łukasz Ōtani", line1="Calle Señor Ñú 5")
    (text,) = pages_text(label_pdf(make_label(ship_to=ship_to)))
    assert "???? Łukasz Otani" in text  # CJK has no glyph in Vera; Ō has none either but reduces to O
    assert "Calle Señor Ñú 5" in text


def test_same_label_gives_the_same_bytes() -> None:
    assert label_pdf(make_label()) == label_pdf(make_label())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tracking_number": ""}, "tracking_number"),
        ({"tracking_number": "   "}, "tracking_number"),
        ({"tracking_number": "1Z^XZ"}, "tracking_number"),
        ({"tracking_number": "1Z~JA"}, "tracking_number"),
        ({"tracking_number": "ÄBC123"}, "tracking_number"),
        ({"tracking_number": "1" * 41}, "tracking_number"),
        ({"weight_grams": 0}, "weight_grams"),
        ({"package_number": 3, "package_count": 2}, "package_number"),
        ({"package_count": 0}, "package_count"),
        ({"carrier": ""}, "carrier"),
        ({"ship_to": dataclasses.replace(SHIP_TO, line1=" ")}, "ship_to.line1"),
        ({"ship_to": dataclasses.replace(SHIP_TO, country="USA")}, "ship_to.country"),
    ],
)
def test_label_refuses_bad_input_in_pdf_and_zpl(changes: dict[str, object], field: str) -> None:
    label = make_label(**changes)
    for render in (label_pdf, label_zpl):
        with pytest.raises(DomainError) as caught:
            render(label)
        assert caught.value.code is ErrorCode.VALIDATION_ERROR
        assert field in [e.field for e in caught.value.errors]


def test_validation_lists_every_problem_at_once() -> None:
    with pytest.raises(DomainError) as caught:
        label_pdf(make_label(tracking_number="", weight_grams=-5, order_number=""))
    assert {e.field for e in caught.value.errors} == {"tracking_number", "weight_grams", "order_number"}
    assert "and 2 more" in caught.value.message


# --- Shipping label (ZPL) -----------------------------------------------------------------------


def field_data(zpl: str) -> list[str]:
    return re.findall(r"\^FD(.*?)\^FS", zpl, flags=re.S)


def test_zpl_is_one_label_with_a_code128_tracking_field() -> None:
    zpl = label_zpl(make_label())
    assert zpl.startswith("^XA")
    assert zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1
    assert "^PW812" in zpl and "^LL1218" in zpl
    assert re.search(rf"\^BY[1-4],3,\d+\^FO\d+,\d+\^BCN,\d+,N,N,N,A\^FD{TRACKING}\^FS", zpl)
    data = field_data(zpl)
    for expected in ("SO-100234", "Brooklyn, NY 11201", "GROUND", "NY 112 9-03", "1 OF 2", "2.65 LB / 1.20 KG"):
        assert expected in data


def test_zpl_fields_stay_on_the_203_dpi_4x6_label() -> None:
    ship_to = dataclasses.replace(SHIP_TO, name=LONG, company=LONG, line1=LONG, line2=LONG, city=LONG)
    zpl = label_zpl(make_label(ship_to=ship_to))
    for x, y in re.findall(r"\^FO(\d+),(\d+)", zpl):
        assert 0 <= int(x) < 812 and 0 <= int(y) < 1218
    for x, width in re.findall(r"\^FO(\d+),\d+(?:\^FR)?\^A0N,\d+,\d+\^FB(\d+)", zpl):
        assert int(x) + int(width) <= 812
    assert not any("END-OF-TEXT" in d for d in field_data(zpl))
    assert any(d.endswith("...") for d in field_data(zpl))
    module = int(re.search(r"\^BY(\d)", zpl).group(1))  # type: ignore[union-attr]
    symbol = tracking_barcode(make_label(), max_width=10_000)
    assert (symbol.width / symbol.barWidth) * module <= 812  # bars plus quiet zones at the chosen module


def test_zpl_escapes_caret_tilde_and_underscore_in_data() -> None:
    ship_to = dataclasses.replace(SHIP_TO, name="A^B~C_D", line1="^XZ~JA 12 \\& Main")
    zpl = label_zpl(make_label(ship_to=ship_to, order_number="SO^1"))
    for data in field_data(zpl):
        assert "^" not in data and "~" not in data
    assert "^FDA_5EB_7EC_5FD^FS" in zpl
    assert "_5EXZ_7EJA 12 _5C& Main" in zpl
    assert "SO_5E1" in zpl
    assert zpl.count("^XZ") == 1


def test_zpl_unicode_is_utf8_hex_and_unknown_scripts_become_question_marks() -> None:
    ship_to = dataclasses.replace(SHIP_TO, name="José 山田 Łódź — café")
    zpl = label_zpl(make_label(ship_to=ship_to))
    assert "^CI28" in zpl
    assert "Jos_C3_A9 ?? L_C3_B3dz - caf_C3_A9" in zpl  # ź is not Latin-1 but reduces to z; Ł maps to L
    zpl.encode("ascii")  # everything non-ASCII went through ^FH hex


# --- Packing slip -------------------------------------------------------------------------------


def test_packing_slip_shows_order_lines_quantities_and_addresses() -> None:
    pdf = packing_slip_pdf(make_slip())
    (text,) = pages_text(pdf)
    for expected in (
        "PACKING SLIP",
        "Order SO-100234",
        "Channel: shopify",
        "Shipment: SHP-000981",
        "Placed: 2025-03-13 17:05 UTC",
        "José Núñez",
        "742 Evergreen Terrace",
        "Brooklyn, NY 11201",
        "OpenOMS Demo Warehouse",
        "Allentown, PA 18109",
        "Tel. +1 718 555 0199",
        "Happy birthday, María!",
        "page 1 of 1",
    ):
        assert expected in text
    rows = [row for row in table_rows(pdf) if row.startswith("SKU-")]
    assert rows == ["SKU-TORCH Crème brûlée torch 2 2 0", "SKU-PLUSH Señor Ñandú plush toy 5 3 2"]
    assert "Units in this shipment: 5" in text
    assert "Backordered: 2" in text
    assert_text_inside_page(pdf)


def test_packing_slip_barcode_carries_the_order_number() -> None:
    assert decode_code128(barcode_bars(packing_slip_pdf(make_slip()), 34)) == "SO-100234"


def test_packing_slip_paper_sizes() -> None:
    letter = PdfReader(io.BytesIO(packing_slip_pdf(make_slip()))).pages[0].mediabox
    a4 = PdfReader(io.BytesIO(packing_slip_pdf(make_slip(), paper=PaperSize.A4))).pages[0].mediabox
    assert (float(letter.width), float(letter.height)) == (612.0, 792.0)
    assert (round(float(a4.width)), round(float(a4.height))) == (595, 842)


def test_packing_slip_long_text_is_wrapped_and_cut() -> None:
    lines = (PackingSlipLine("SKU-" + "X" * 80, LONG, 1, 1, 0),)
    ship_to = dataclasses.replace(SHIP_TO, company=LONG, line1=LONG)
    pdf = packing_slip_pdf(make_slip(lines=lines, ship_to=ship_to, notes="word " * 300 + "END-OF-TEXT"))
    text = "".join(pages_text(pdf))
    assert "END-OF-TEXT" not in text
    assert "\u2026" in text
    for page in range(len(pages_text(pdf))):
        assert_text_inside_page(pdf, page)


def test_packing_slip_many_lines_run_over_pages_with_totals_at_the_end() -> None:
    lines = tuple(PackingSlipLine(f"SKU-{i:03d}", f"Item {i}", 2, 1, 1) for i in range(80))
    pages = pages_text(packing_slip_pdf(make_slip(lines=lines)))
    assert len(pages) >= 2
    assert all(f"page {n} of {len(pages)}" in t for n, t in enumerate(pages, 1))
    assert all("Backordered" in t for t in pages if "SKU-" in t)  # column titles repeat
    assert "Units in this shipment: 80" in pages[-1]
    assert sum(t.count("SKU-") for t in pages) == 80


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (PackingSlipLine("SKU-1", "x", 1, -1, 0), "lines[0].quantity_shipped"),
        (PackingSlipLine("SKU-1", "x", -1, 0, 0), "lines[0].quantity_ordered"),
        (PackingSlipLine("SKU-1", "x", 2, 0, -1), "lines[0].quantity_backordered"),
        (PackingSlipLine("SKU-1", "x", 2, 2, 1), "lines[0].quantity_shipped"),
        (PackingSlipLine("", "x", 1, 1, 0), "lines[0].sku"),
    ],
)
def test_packing_slip_refuses_quantities_that_do_not_add_up(line: PackingSlipLine, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        packing_slip_pdf(make_slip(lines=(line,)))
    assert field in [e.field for e in caught.value.errors]


def test_packing_slip_refuses_naive_time_and_no_lines() -> None:
    with pytest.raises(DomainError) as caught:
        packing_slip_pdf(make_slip(placed_at=dt.datetime(2025, 3, 13, 17, 5), lines=()))
    assert {e.field for e in caught.value.errors} == {"placed_at", "lines"}


# --- Pick list ----------------------------------------------------------------------------------


def test_pick_list_of_120_lines_paginates_with_header_and_page_n_of_m() -> None:
    pdf = pick_list_pdf(make_pick_list(120))
    pages = pages_text(pdf)
    # A one-line row is 19.75 pt (the 11 pt quantity): 29 rows fit under the full header on page
    # 1 and 32 under the short header on each later Letter page, so 120 lines take 4 pages.
    assert len(pages) == 4
    assert "page 2 of 4" in pages[1]
    for n, text in enumerate(pages, 1):
        assert text.count(f"page {n} of 4") == 2  # top right and in the footer
        assert "PICK LIST" in text and "WAVE-0042" in text
        assert "Bin" in text and "SKU" in text and "Qty" in text and "Orders" in text
        assert_text_inside_page(pdf, n - 1)
    skus = re.findall(r"SKU-\d{5}", "".join(pages))
    assert sorted(skus) == [f"SKU-{i:05d}" for i in range(120)]
    assert "120 lines, 360 units, 120 orders" in pages[0]
    assert "Location: WH-ABE Allentown DC" in pages[0]
    assert "Wave: W-0042" in pages[0]
    assert "Generated: 2025-03-14 09:30 UTC" in pages[0]
    assert "Fulfilment orders (2): FO-1, FO-2" in pages[0]


def test_pick_list_rows_show_bin_sku_name_quantity_and_orders() -> None:
    rows = [row for row in table_rows(pick_list_pdf(make_pick_list(3))) if "SKU-0000" in row]
    assert rows == [
        "A-00-0 SKU-00000 Widget 0 1 SO-1000",
        "A-00-1 SKU-00001 Widget 1 2 SO-1001",
        "A-00-2 SKU-00002 Widget 2 3 SO-1002",
    ]


def test_pick_list_a4_fits_more_or_equal_pages_and_is_a4() -> None:
    pdf = pick_list_pdf(make_pick_list(120), paper=PaperSize.A4)
    reader = PdfReader(io.BytesIO(pdf))
    assert round(float(reader.pages[0].mediabox.height)) == 842
    assert f"page 1 of {len(reader.pages)}" in reader.pages[0].extract_text()


def test_pick_list_barcode_carries_the_reference() -> None:
    assert decode_code128(barcode_bars(pick_list_pdf(make_pick_list(2)), 34)) == "WAVE-0042"


def test_pick_list_long_and_unicode_names_do_not_overflow_or_crash() -> None:
    lines = (
        PickListLine("SKU-" + "Z" * 60, LONG, 1, tuple(f"SO-{i}" for i in range(40)), bin="B" * 40),
        PickListLine("SKU-CJK", "東京 T-shirt — crème, ñandú, Ærø", 2),
    )
    pdf = pick_list_pdf(make_pick_list(lines=lines, location_name="Ålesund Lager 倉庫"))
    (text,) = pages_text(pdf)
    assert "END-OF-TEXT" not in text and "\u2026" in text
    assert "?? T-shirt — crème, ñandú, Ærø" in text
    assert "Ålesund Lager ??" in text
    assert_text_inside_page(pdf)


def test_pick_list_without_bins_orders_or_wave_still_prints() -> None:
    lines = (PickListLine("SKU-1", "", 4),)
    pdf = pick_list_pdf(make_pick_list(lines=lines, wave=None, fulfillment_references=()))
    assert "SKU-1 4" in table_rows(pdf)
    assert "Wave:" not in pages_text(pdf)[0]


@pytest.mark.parametrize("quantity", [0, -3])
def test_pick_list_refuses_zero_and_negative_quantities(quantity: int) -> None:
    lines = (PickListLine("SKU-1", "x", 1), PickListLine("SKU-2", "y", quantity))
    with pytest.raises(DomainError) as caught:
        pick_list_pdf(make_pick_list(lines=lines))
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert [e.field for e in caught.value.errors] == ["lines[1].quantity"]


def test_pick_list_refuses_naive_time_and_empty_list() -> None:
    with pytest.raises(DomainError) as caught:
        pick_list_pdf(make_pick_list(generated_at=dt.datetime(2025, 1, 1), lines=()))
    assert {e.field for e in caught.value.errors} == {"generated_at", "lines"}


# --- Text fitting -------------------------------------------------------------------------------


@pytest.mark.parametrize("max_width", [20.0, 40.0, 120.0, 400.0])
def test_fit_and_wrap_never_exceed_the_width(max_width: float) -> None:
    register_fonts()
    text = "Señor " + "W" * 80 + " and a few more words to wrap"
    cut = fit(text, FONT_BOLD, 12, max_width)
    assert stringWidth(cut, FONT_BOLD, 12) <= max_width
    lines = wrap(text, FONT, 10, max_width, 3)
    assert len(lines) <= 3
    assert all(stringWidth(line, FONT, 10) <= max_width for line in lines)


def test_wrap_keeps_everything_when_it_fits() -> None:
    assert wrap("one two three", FONT, 10, 1000, 1) == ["one two three"]
    assert " ".join(wrap("one two three four", FONT, 10, 60, 5)) == "one two three four"


def test_printable_maps_controls_and_missing_glyphs() -> None:
    assert printable("a\tb\nc\x00d") == "a b c d"
    assert printable("Łódź 東京 ñ") == "Łódz ?? ñ"  # Vera has Ł and ó but not ź, which reduces to z
    assert printable(None) == ""
