"""The packing slip: the paper in the box that lets the customer check what arrived against
what they ordered, and see what is still to come (backordered) instead of calling support."""

from __future__ import annotations

import io

from reportlab.pdfgen.canvas import Canvas

from openoms.adapters.documents.layout import (
    PAGE_SIZES,
    Column,
    TableDocument,
    draw_code128_fitted,
    draw_lines,
    new_canvas,
    render_table_document,
)
from openoms.adapters.documents.model import PackingSlip, PaperSize, PostalAddress, validate_packing_slip
from openoms.adapters.documents.text import FONT, FONT_BOLD, fit, printable, timestamp, wrap

COLUMNS = (
    Column("SKU", 0.19, max_lines=2, bold=True),
    Column("Item", 0.42, max_lines=3),
    Column("Ordered", 0.12, "right"),
    Column("Shipped", 0.12, "right", bold=True),
    Column("Backordered", 0.15, "right"),
)
FIRST_HEADER = 200.0
LATER_HEADER = 44.0
NOTE_LINES = 8
ADDRESS_LINES = 7  # below the name; more (long company and street lines) are dropped, never overprinted


def address_lines(address: PostalAddress) -> list[str]:
    """The address as printable lines, phone last."""
    lines = [printable(line) for line in address.lines()]
    if address.phone:
        lines.append(f"Tel. {printable(address.phone)}")
    return lines


def packing_slip_pdf(slip: PackingSlip, *, paper: PaperSize = PaperSize.LETTER) -> bytes:
    """Render the packing slip for one shipment of one order."""
    validate_packing_slip(slip)
    size = PAGE_SIZES[paper]
    order = printable(slip.order_number)
    shipped = sum(line.quantity_shipped for line in slip.lines)
    backordered = sum(line.quantity_backordered for line in slip.lines)
    notes = printable(slip.notes)

    def header(canvas: Canvas, page: int, pages: int, top: float, width: float) -> None:
        x = 36.0
        canvas.setFont(FONT_BOLD, 16)
        canvas.drawString(x, top - 16, "PACKING SLIP")
        canvas.setFont(FONT, 9)
        canvas.drawRightString(x + width, top - 10, f"page {page} of {pages}")
        if page > 1:
            canvas.drawString(x, top - 32, fit(f"Order {order} (continued)", FONT, 9, width - 90))
            return
        half = width / 2 - 10
        canvas.setFont(FONT_BOLD, 13)
        canvas.drawString(x, top - 38, fit(f"Order {order}", FONT_BOLD, 13, half))
        facts = [
            f"Placed: {timestamp(slip.placed_at)}",
            f"Channel: {printable(slip.channel)}",
            f"Shipment: {printable(slip.shipment_reference)}",
        ]
        draw_lines(canvas, facts, x, top - 42, half)
        used = draw_code128_fitted(canvas, slip.order_number, x + width - half * 0.8, top - 70, half * 0.8, 34)
        if used:
            canvas.setFont(FONT, 7)
            canvas.drawRightString(x + width, top - 79, fit(order, FONT, 7, half))
        block_top = top - 96
        for column, (title, address) in enumerate((("Ship from", slip.ship_from), ("Ship to", slip.ship_to))):
            left = x + column * (half + 20)
            canvas.setFont(FONT_BOLD, 8)
            canvas.drawString(left, block_top, title.upper())
            lines = address_lines(address)
            draw_lines(canvas, lines[:1], left, block_top - 2, half, font=FONT_BOLD, size=10)
            wrapped = [part for line in lines[1:] for part in wrap(line, FONT, 9, half, 2)]
            draw_lines(canvas, wrapped[:ADDRESS_LINES], left, block_top - 15, half, size=9)

    def trailer(canvas: Canvas, top: float, width: float) -> None:
        x = 36.0
        summary = f"Units in this shipment: {shipped}"
        if backordered:
            summary += f"    Backordered: {backordered} (ships separately when back in stock)"
        y = draw_lines(canvas, [summary], x, top, width, font=FONT_BOLD, size=10)
        if notes:
            canvas.setFont(FONT_BOLD, 8)
            canvas.drawString(x, y - 14, "NOTES")
            draw_lines(canvas, wrap(notes, FONT, 9, width, NOTE_LINES), x, y - 16, width)

    trailer_height = 20 + (18 + NOTE_LINES * 9 * 1.25 if notes else 0)
    rows = [
        [line.sku, line.name, str(line.quantity_ordered), str(line.quantity_shipped), str(line.quantity_backordered)]
        for line in slip.lines
    ]
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, size, f"Packing slip {order}", f"Shipment {printable(slip.shipment_reference)}")
    render_table_document(
        TableDocument(
            size=size,
            columns=COLUMNS,
            rows=rows,
            first_header_height=FIRST_HEADER,
            header_height=LATER_HEADER,
            draw_header=header,
            footer_left=f"Order {order} · shipment {printable(slip.shipment_reference)} · thank you for your order",
            trailer_height=trailer_height,
            draw_trailer=trailer,
        ),
        canvas,
    )
    canvas.save()
    return buffer.getvalue()
