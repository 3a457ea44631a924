"""The 4 x 6 inch shipping label in the OpenOMS carrier-label template, as PDF.

This is OpenOMS's own layout for own-fleet couriers, local carriers and carriers that accept a
shipper-printed label with a Code 128 tracking barcode. A carrier that certifies its labels
(UPS, FedEx with MaxiCode or PDF417) returns its own label from its API; print that instead.

Layout, top to bottom on a 288 x 432 pt page with a 9 pt margin:
ship-from and parcel facts | SHIP TO, large | routing code | service banner (white on black)
| tracking barcode with the number under it | order number and carrier.
"""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal

from reportlab.graphics.barcode.code128 import Code128
from reportlab.pdfgen.canvas import Canvas

from openoms.adapters.documents.layout import new_canvas
from openoms.adapters.documents.model import ShippingLabel, validate_shipping_label
from openoms.adapters.documents.text import FONT, FONT_BOLD, fit, printable, shrink, wrap

LABEL_SIZE = (288.0, 432.0)  # 4 x 6 inch at 72 pt per inch
EDGE = 9.0
GRAMS_PER_POUND = Decimal("453.59237")
MAX_MODULE = 1.44  # 20 mil, plenty for any scanner; narrower only when the number is long


def weight_text(grams: int) -> str:
    """Pounds first (what US carriers read), kilograms after, both rounded to 0.01."""
    pounds = (Decimal(grams) / GRAMS_PER_POUND).quantize(Decimal("0.01"), ROUND_HALF_UP)
    kilos = (Decimal(grams) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{pounds} LB / {kilos} KG"


def tracking_barcode(label: ShippingLabel, max_width: float = LABEL_SIZE[0] - 2 * EDGE) -> Code128:
    """The Code 128 symbol the label draws, with quiet zones of 10 modules inside ``max_width``.
    Public so tests and previews can check what the label encodes."""
    probe = Code128(label.tracking_number, barWidth=1.0, quiet=False)
    module = min(MAX_MODULE, max_width / (probe.width + 20))
    return Code128(
        label.tracking_number,
        barWidth=module,
        barHeight=78.0,
        quiet=True,
        lquiet=10 * module,
        rquiet=10 * module,
        humanReadable=False,
    )


def label_pdf(label: ShippingLabel) -> bytes:
    """Render one parcel's label on a single 4 x 6 inch page."""
    validate_shipping_label(label)
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, LABEL_SIZE, f"Label {label.tracking_number}", f"Order {printable(label.order_number)}")
    _draw(canvas, label)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _rule(canvas: Canvas, y: float, weight: float = 1.0) -> None:
    canvas.setLineWidth(weight)
    canvas.line(0, y, LABEL_SIZE[0], y)


def _draw(canvas: Canvas, label: ShippingLabel) -> None:
    page_width, page_height = LABEL_SIZE
    inner = page_width - 2 * EDGE
    top = page_height - EDGE

    # Ship-from (left) and parcel facts (right): 64 pt.
    from_width = inner * 0.58
    canvas.setFont(FONT_BOLD, 6.5)
    canvas.drawString(EDGE, top - 6.5, "FROM")
    y = top - 7
    sender = [printable(line) for line in label.ship_from.lines()]
    for n, line in enumerate(sender[:6]):
        font = FONT_BOLD if n == 0 else FONT
        canvas.setFont(font, 7.5)
        y -= 8.6
        canvas.drawString(EDGE, y, fit(line, font, 7.5, from_width))
    facts_x = EDGE + from_width + 6
    facts_width = inner - from_width - 6
    facts = [
        ("SHIP DATE", label.ship_date.isoformat()),
        ("WEIGHT", weight_text(label.weight_grams)),
        ("PACKAGE", f"{label.package_number} OF {label.package_count}"),
    ]
    y = top
    for title, value in facts:
        canvas.setFont(FONT, 6)
        canvas.drawString(facts_x, y - 6, title)
        canvas.setFont(FONT_BOLD, 9)
        canvas.drawString(facts_x, y - 16, fit(value, FONT_BOLD, 9, facts_width))
        y -= 20
    section = top - 64
    _rule(canvas, section, 1.5)

    # Ship-to: as large as fits, 128 pt (168 pt without a routing code).
    ship_to_height = 128.0 if label.routing_code else 168.0
    _draw_ship_to(canvas, label, section, ship_to_height, inner)
    section -= ship_to_height

    if label.routing_code:
        _rule(canvas, section, 1.5)
        code, size = shrink(printable(label.routing_code), FONT_BOLD, 30, 14, inner)
        canvas.setFont(FONT_BOLD, size)
        canvas.drawCentredString(page_width / 2, section - 20 - size * 0.35, code)
        section -= 40
    # Service banner: white on black, 40 pt.
    canvas.setFillGray(0)
    canvas.rect(0, section - 40, page_width, 40, stroke=0, fill=1)
    canvas.setFillGray(1)
    right = fit(printable(f"{label.carrier} {label.service_code}"), FONT, 8, inner * 0.34)
    canvas.setFont(FONT, 8)
    canvas.drawRightString(page_width - EDGE, section - 24, right)
    service, size = shrink(printable(label.service_name).upper(), FONT_BOLD, 22, 10, inner * 0.62)
    canvas.setFont(FONT_BOLD, size)
    canvas.drawString(EDGE, section - 20 - size * 0.35, service)
    canvas.setFillGray(0)
    section -= 40

    # Tracking barcode, 100 pt: symbol centred, number under it.
    barcode = tracking_barcode(label)
    canvas.setFont(FONT_BOLD, 7)
    canvas.drawString(EDGE, section - 10, "TRACKING #")
    barcode.drawOn(canvas, (page_width - barcode.width) / 2, section - 92)
    number, size = shrink(label.tracking_number, FONT_BOLD, 12, 7, inner)
    canvas.setFont(FONT_BOLD, size)
    canvas.drawCentredString(page_width / 2, section - 104, number)
    section -= 110
    _rule(canvas, section, 1.5)

    # Order and carrier at the foot, whatever height is left (38 pt).
    canvas.setFont(FONT, 6)
    canvas.drawString(EDGE, section - 9, "ORDER")
    canvas.drawString(EDGE + inner * 0.6, section - 9, "CARRIER")
    canvas.setFont(FONT_BOLD, 10)
    canvas.drawString(EDGE, section - 21, fit(printable(label.order_number), FONT_BOLD, 10, inner * 0.58))
    canvas.drawString(EDGE + inner * 0.6, section - 21, fit(printable(label.carrier), FONT_BOLD, 10, inner * 0.4))


def _draw_ship_to(canvas: Canvas, label: ShippingLabel, top: float, height: float, inner: float) -> None:
    """Name, company and street wrap to two lines each; everything shrinks together until it fits."""
    address = label.ship_to
    canvas.setFont(FONT_BOLD, 7)
    canvas.drawString(EDGE, top - 10, "SHIP TO:")
    body_top = top - 13
    available = height - 17
    x = EDGE + 6
    usable = inner - 6
    parts: list[tuple[str, bool, int]] = [
        (printable(address.name), True, 2),
        (printable(address.company), False, 1),
        (printable(address.line1), False, 2),
        (printable(address.line2), False, 2),
        (printable(address.city_line()), True, 2),
        (printable(address.country), True, 1),
    ]
    for size in (15.0, 14.0, 13.0, 12.0, 11.0, 10.0, 9.0):
        laid = [
            (line, bold)
            for text, bold, max_lines in parts
            if text
            for line in wrap(text, FONT_BOLD if bold else FONT, size, usable, max_lines)
        ]
        if len(laid) * size * 1.15 <= available or size == 9.0:
            break
    y = body_top
    for line, bold in laid:
        if y - size * 1.15 < top - height + 2:
            break  # at the smallest size, lines beyond the box are dropped rather than overprinted
        y -= size * 1.15
        canvas.setFont(FONT_BOLD if bold else FONT, size)
        canvas.drawString(x, y + size * 0.2, line)
    if address.phone:
        canvas.setFont(FONT, 7)
        canvas.drawRightString(EDGE + inner, top - 10, fit(f"TEL {printable(address.phone)}", FONT, 7, inner * 0.6))
