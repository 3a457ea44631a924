"""Fonts and fitting text into boxes, shared by every PDF document.

The PDFs embed Bitstream Vera, the TrueType font that ships inside reportlab, so no system
font is needed and Latin-1 (é, ñ, ß, ø) plus a few Latin Extended-A letters (Ł, œ, Š, Ž) and
the usual punctuation print as themselves. A character Vera has no glyph for is first reduced
to its base letter (ő → o, ā → a); one with no such reduction (CJK, Cyrillic, Greek, emoji)
prints as ``?``. That keeps every document readable and never crashes; a merchant who ships
to those scripts needs a font with the glyphs (see docs/documents.md).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from functools import lru_cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT = "OpenOMS-Vera"
FONT_BOLD = "OpenOMS-Vera-Bold"
ELLIPSIS = "\u2026"
REPLACEMENT = "?"


@lru_cache(maxsize=1)
def register_fonts() -> frozenset[int]:
    """Register the embedded fonts once and return the code points they can draw."""
    regular = TTFont(FONT, "Vera.ttf")
    bold = TTFont(FONT_BOLD, "VeraBd.ttf")
    pdfmetrics.registerFont(regular)
    pdfmetrics.registerFont(bold)
    return frozenset(regular.face.charToGlyph) & frozenset(bold.face.charToGlyph)


def printable(text: str | None, covered: frozenset[int] | None = None) -> str:
    """``text`` with only characters the font can draw: controls become spaces, accented letters
    outside the font lose their accent, anything else becomes ``?``."""
    if not text:
        return ""
    glyphs = covered if covered is not None else register_fonts()
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in "\r\n\t" or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif unicodedata.category(ch) in ("Cf", "Mn"):
            continue  # zero-width joiners, stray combining marks
        elif ord(ch) in glyphs:
            out.append(ch)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(ord(c) in glyphs for c in base) else REPLACEMENT)
    return " ".join("".join(out).split())


def width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def _longest_prefix(text: str, font: str, size: float, max_width: float, suffix: str = "") -> int:
    """How many leading characters of ``text`` fit ``max_width`` with ``suffix`` after them."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if width(text[:mid].rstrip() + suffix, font, size) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def fit(text: str, font: str, size: float, max_width: float) -> str:
    """Cut ``text`` so it fits ``max_width``, ending in an ellipsis when something was cut."""
    if width(text, font, size) <= max_width:
        return text
    keep = _longest_prefix(text, font, size, max_width, ELLIPSIS)
    return text[:keep].rstrip() + ELLIPSIS if keep else ""


def wrap(text: str, font: str, size: float, max_width: float, max_lines: int) -> list[str]:
    """Break ``text`` into at most ``max_lines`` lines of ``max_width``; a word longer than a
    line is broken inside, and text beyond the last line is cut with an ellipsis."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if width(candidate, font, size) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        while width(word, font, size) > max_width:  # a SKU or URL with no spaces
            cut = max(_longest_prefix(word, font, size, max_width), 1)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        rest = " ".join(lines[max_lines - 1 :])
        lines = [*lines[: max_lines - 1], fit(rest + ELLIPSIS, font, size, max_width)]
    return lines


def shrink(text: str, font: str, max_size: float, min_size: float, max_width: float) -> tuple[str, float]:
    """The largest size from ``max_size`` down to ``min_size`` at which ``text`` fits on one
    line; at ``min_size`` it is cut. For the few big fields (ship-to name, service banner)."""
    size = max_size
    while size > min_size and width(text, font, size) > max_width:
        size -= 0.5
    return fit(text, font, size, max_width), size


def timestamp(value: dt.datetime) -> str:
    """``2025-03-14 09:30 UTC``: in the zone the caller chose, never silently converted."""
    return value.strftime("%Y-%m-%d %H:%M ") + (value.tzname() or value.strftime("%z"))
