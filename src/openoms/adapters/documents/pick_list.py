"""The pick list: one location's work for a wave or a set of fulfilment orders, printed for
the person walking the shelves. Lines print in the order given (the caller sorts them into a
pick path); every page repeats the header and says "page n of m" so a dropped page is noticed.
"""

from __future__ import annotations

import io

from reportlab.pdfgen.canvas import Canvas

from openoms.adapters.documents.layout import (
    PAGE_SIZES,
    Column,
    TableDocument,
    draw_code128_fitted,
    new_canvas,
    render_table_document,
)
from openoms.adapters.documents.model import PaperSize, PickList, validate_pick_list
from openoms.adapters.documents.text import FONT, FONT_BOLD, fit, printable, timestamp, wrap

COLUMNS = (
    Column("", 0.05, "center", checkbox=True),
    Column("Bin", 0.12, max_lines=2),
    Column("SKU", 0.20, max_lines=2, bold=True),
    Column("Item", 0.37, max_lines=2),
    Column("Qty", 0.08, "right", bold=True, size=11),
    Column("Orders", 0.18, max_lines=2, size=8),
)
FIRST_HEADER = 96.0
LATER_HEADER = 44.0


def pick_list_pdf(pick_list: PickList, *, paper: PaperSize = PaperSize.LETTER) -> bytes:
    """Render the pick list; long lists run over as many pages as they need."""
    validate_pick_list(pick_list)
    size = PAGE_SIZES[paper]
    units = sum(line.quantity for line in pick_list.lines)
    orders = {number for line in pick_list.lines for number in line.order_numbers}
    location = printable(f"{pick_list.location_code} {pick_list.location_name or ''}".strip())
    refs = ", ".join(printable(r) for r in pick_list.fulfillment_references)
    summary = f"{len(pick_list.lines)} lines, {units} units" + (f", {len(orders)} orders" if orders else "")
    reference = printable(pick_list.reference)

    def header(canvas: Canvas, page: int, pages: int, top: float, width: float) -> None:
        x = 36.0
        canvas.setFont(FONT_BOLD, 16)
        canvas.drawString(x, top - 16, "PICK LIST")
        canvas.setFont(FONT, 9)
        canvas.drawRightString(x + width, top - 10, f"page {page} of {pages}")
        left_width = width * 0.58
        canvas.setFont(FONT_BOLD, 10)
        canvas.drawString(x + 100, top - 15, fit(reference, FONT_BOLD, 10, left_width - 100))
        if page > 1:
            canvas.setFont(FONT, 9)
            canvas.drawString(x, top - 32, fit(f"{location} (continued)", FONT, 9, width - 90))
            return
        info = [
            f"Location: {location}",
            *([f"Wave: {printable(pick_list.wave)}"] if pick_list.wave else []),
            f"Generated: {timestamp(pick_list.generated_at)}",
            summary,
        ]
        y = top - 32
        canvas.setFont(FONT, 9)
        for line in info:
            canvas.drawString(x, y, fit(line, FONT, 9, left_width))
            y -= 11.5
        if refs:
            for line in wrap(f"Fulfilment orders ({len(pick_list.fulfillment_references)}): {refs}", FONT, 8, width, 1):
                canvas.setFont(FONT, 8)
                canvas.drawString(x, y, line)
        bar_width = width - left_width - 10
        used = draw_code128_fitted(canvas, reference, x + width - bar_width, top - 54, bar_width, 34)
        if used:
            canvas.setFont(FONT, 7)
            canvas.drawRightString(x + width, top - 63, fit(reference, FONT, 7, bar_width))

    rows = [
        [
            "",
            line.bin or "",
            line.sku,
            line.name,
            str(line.quantity),
            ", ".join(line.order_numbers),
        ]
        for line in pick_list.lines
    ]
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, size, f"Pick list {reference}", f"Pick list for {location}")
    render_table_document(
        TableDocument(
            size=size,
            columns=COLUMNS,
            rows=rows,
            first_header_height=FIRST_HEADER,
            header_height=LATER_HEADER,
            draw_header=header,
            footer_left=f"Pick list {reference} · {location} · {summary}",
        ),
        canvas,
    )
    canvas.save()
    return buffer.getvalue()
