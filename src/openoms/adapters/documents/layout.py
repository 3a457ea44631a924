"""Page layout shared by the office-paper documents: a header on every page, a table that
breaks across pages with its column titles repeated, a block after the table, and
"page n of m" in the footer.

Pages are planned before anything is drawn (row heights come from the wrapped text), so the
page count is known when the first footer is printed; no second pass over the PDF is needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfgen.canvas import Canvas

from openoms.adapters.documents.model import PaperSize
from openoms.adapters.documents.text import FONT, FONT_BOLD, fit, printable, register_fonts, wrap

MARGIN = 36.0  # half an inch: inside every office printer's unprintable edge
FOOTER_HEIGHT = 24.0
CELL_PAD = 3.0
PAGE_SIZES: dict[PaperSize, tuple[float, float]] = {PaperSize.LETTER: LETTER, PaperSize.A4: A4}


def new_canvas(buffer: io.BytesIO, size: tuple[float, float], title: str, subject: str) -> Canvas:
    """A canvas with fonts registered; ``invariant`` drops the creation time and random file id
    so the same document data always gives the same bytes."""
    register_fonts()
    canvas = Canvas(buffer, pagesize=size, invariant=True, pageCompression=1)
    canvas.setTitle(title)
    canvas.setSubject(subject)
    canvas.setAuthor("OpenOMS")
    canvas.setCreator("OpenOMS")
    return canvas


def code128(value: str, bar_width: float, bar_height: float) -> Code128 | None:
    """A Code 128 symbol for ``value``, or None when the value has characters Code 128 cannot
    carry (beyond ASCII); the text is printed next to it either way."""
    if not value or any(not 32 <= ord(c) < 127 for c in value):
        return None
    return Code128(value, barWidth=bar_width, barHeight=bar_height, quiet=False, humanReadable=False)


def draw_code128_fitted(canvas: Canvas, value: str, x: float, y: float, max_width: float, height: float) -> float:
    """Draw ``value`` as Code 128 right-aligned in ``max_width`` from ``x`` (module up to 1.2 pt);
    returns the width used, 0 when the value cannot be encoded."""
    probe = code128(value, 1.0, height)
    if probe is None:
        return 0.0
    module = min(1.2, max_width / probe.width)
    symbol = code128(value, module, height)
    assert symbol is not None
    symbol.drawOn(canvas, x + max_width - symbol.width, y)
    return float(symbol.width)


@dataclass(frozen=True)
class Column:
    """One table column: its share of the width, alignment and how many lines a cell may wrap to."""

    title: str
    share: float
    align: Literal["left", "right", "center"] = "left"
    max_lines: int = 1
    bold: bool = False
    size: float = 9.0
    checkbox: bool = False  # draws an empty square to tick, ignores the cell text


@dataclass(frozen=True)
class _Row:
    cells: list[list[str]]
    height: float


LINE_GAP = 1.25  # line height as a multiple of the font size


def _layout_rows(columns: Sequence[Column], widths: Sequence[float], rows: Sequence[Sequence[str]]) -> list[_Row]:
    laid: list[_Row] = []
    for row in rows:
        cells: list[list[str]] = []
        height = 0.0
        for column, col_width, raw in zip(columns, widths, row, strict=True):
            font = FONT_BOLD if column.bold else FONT
            lines = (
                []
                if column.checkbox
                else wrap(printable(raw), font, column.size, col_width - 2 * CELL_PAD, column.max_lines)
            )
            cells.append(lines)
            height = max(height, max(len(lines), 1) * column.size * LINE_GAP)
        laid.append(_Row(cells, height + 2 * CELL_PAD))
    return laid


@dataclass(frozen=True)
class TableDocument:
    """What a paginated document supplies; ``draw_header`` draws the page's header in the band of
    ``first_header_height`` (page 1) or ``header_height`` (later pages) below the top margin."""

    size: tuple[float, float]
    columns: Sequence[Column]
    rows: Sequence[Sequence[str]]
    first_header_height: float
    header_height: float
    draw_header: Callable[[Canvas, int, int, float, float], None]  # canvas, page, pages, top y, width
    footer_left: str
    trailer_height: float = 0.0
    draw_trailer: Callable[[Canvas, float, float], None] | None = None  # canvas, top y, width


def render_table_document(doc: TableDocument, canvas: Canvas) -> None:
    """Plan the pages, then draw each with its header, the rows that fit, and the footer."""
    page_width, page_height = doc.size
    content_width = page_width - 2 * MARGIN
    total_share = sum(c.share for c in doc.columns)
    widths = [content_width * c.share / total_share for c in doc.columns]
    title_height = max(c.size for c in doc.columns) * LINE_GAP + 2 * CELL_PAD
    rows = _layout_rows(doc.columns, widths, doc.rows)

    def space(page: int) -> float:
        header = doc.first_header_height if page == 0 else doc.header_height
        return page_height - 2 * MARGIN - FOOTER_HEIGHT - header - title_height

    pages: list[list[_Row]] = [[]]
    used = 0.0
    for row in rows:
        if pages[-1] and used + row.height > space(len(pages) - 1):
            pages.append([])
            used = 0.0
        pages[-1].append(row)
        used += row.height
    trailer_on_new_page = doc.trailer_height > 0 and used + 8 + doc.trailer_height > space(len(pages) - 1)
    page_count = len(pages) + (1 if trailer_on_new_page else 0)

    for index in range(page_count):
        top = page_height - MARGIN
        header = doc.first_header_height if index == 0 else doc.header_height
        doc.draw_header(canvas, index + 1, page_count, top, content_width)
        y = top - header
        if index < len(pages):
            y = _draw_title_row(canvas, doc.columns, widths, y, title_height)
            for row in pages[index]:
                y = _draw_row(canvas, doc.columns, widths, row, y)
        if index == page_count - 1 and doc.draw_trailer is not None:
            doc.draw_trailer(canvas, y - 8, content_width)
        _draw_footer(canvas, doc.footer_left, index + 1, page_count, page_width)
        canvas.showPage()


def _draw_title_row(
    canvas: Canvas, columns: Sequence[Column], widths: Sequence[float], y: float, height: float
) -> float:
    canvas.setFillGray(0.88)
    canvas.rect(MARGIN, y - height, sum(widths), height, stroke=0, fill=1)
    canvas.setFillGray(0)
    x = MARGIN
    for column, col_width in zip(columns, widths, strict=True):
        title = fit(column.title, FONT_BOLD, 8, col_width - 2 * CELL_PAD)
        _aligned(canvas, title, FONT_BOLD, 8, x, col_width, y - CELL_PAD - 8, column.align)
        x += col_width
    return y - height


def _draw_row(canvas: Canvas, columns: Sequence[Column], widths: Sequence[float], row: _Row, y: float) -> float:
    x = MARGIN
    for column, col_width, lines in zip(columns, widths, row.cells, strict=True):
        if column.checkbox:
            box = min(10.0, col_width - 2 * CELL_PAD)
            canvas.setLineWidth(0.8)
            canvas.rect(x + (col_width - box) / 2, y - CELL_PAD - box - 1, box, box, stroke=1, fill=0)
        font = FONT_BOLD if column.bold else FONT
        for n, line in enumerate(lines):
            baseline = y - CELL_PAD - column.size - n * column.size * LINE_GAP + 1
            _aligned(canvas, line, font, column.size, x, col_width, baseline, column.align)
        x += col_width
    canvas.setLineWidth(0.4)
    canvas.setStrokeGray(0.6)
    canvas.line(MARGIN, y - row.height, MARGIN + sum(widths), y - row.height)
    canvas.setStrokeGray(0)
    return y - row.height


def _aligned(
    canvas: Canvas, text: str, font: str, size: float, x: float, col_width: float, y: float, align: str
) -> None:
    canvas.setFont(font, size)
    if align == "right":
        canvas.drawRightString(x + col_width - CELL_PAD, y, text)
    elif align == "center":
        canvas.drawCentredString(x + col_width / 2, y, text)
    else:
        canvas.drawString(x + CELL_PAD, y, text)


def _draw_footer(canvas: Canvas, left: str, page: int, pages: int, page_width: float) -> None:
    y = MARGIN - 4
    canvas.setLineWidth(0.4)
    canvas.line(MARGIN, MARGIN + FOOTER_HEIGHT - 10, page_width - MARGIN, MARGIN + FOOTER_HEIGHT - 10)
    canvas.setFont(FONT, 8)
    right = f"page {page} of {pages}"
    canvas.drawRightString(page_width - MARGIN, y, right)
    canvas.drawString(MARGIN, y, fit(printable(left), FONT, 8, page_width - 2 * MARGIN - 80))


def draw_lines(
    canvas: Canvas, lines: Sequence[str], x: float, y: float, max_width: float, *, font: str = FONT, size: float = 9.0
) -> float:
    """Draw already-printable lines top-down from ``y`` (each cut to ``max_width``); returns the y below them."""
    canvas.setFont(font, size)
    for line in lines:
        y -= size * LINE_GAP
        canvas.drawString(x, y, fit(line, font, size, max_width))
    return y
