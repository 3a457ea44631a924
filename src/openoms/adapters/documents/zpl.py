"""The same 4 x 6 label as ZPL II, for Zebra-compatible thermal printers at 203 dpi.

Printers that take ZPL print it at full speed and crisp, where a PDF would be rasterised by a
driver. The layout follows the PDF label (docs/documents.md has the field table); coordinates
are in dots, 812 wide by 1218 high.

Text goes through ``^FH`` so the data can never be read as a command: ``^``, ``~`` and the
escape character ``_`` itself are sent as hex (``_5E``, ``_7E``, ``_5F``), as is every
non-ASCII byte of the UTF-8 text (``^CI28``). The built-in scalable font 0 prints Latin-1;
other scripts become ``?`` like in the PDFs. The tracking number goes into ``^BC`` as it is,
after validation has refused anything but letters, digits, spaces, dots, dashes and slashes.
"""

from __future__ import annotations

import textwrap
import unicodedata

from reportlab.graphics.barcode.code128 import Code128

from openoms.adapters.documents.label import weight_text
from openoms.adapters.documents.model import ShippingLabel, validate_shipping_label
from openoms.adapters.documents.text import printable

DOTS_WIDE = 812  # 4 in at 203 dpi
DOTS_HIGH = 1218  # 6 in
EDGE = 25
LATIN_1 = frozenset(range(0x20, 0x7F)) | frozenset(range(0xA0, 0x100))
CHAR_WIDTH = 0.62  # font 0 advance as a share of its width setting, rounded up (it is condensed)
# Punctuation and letters outside Latin-1 that have no accent to strip, written the way a
# typewriter would, so a Polish or French name does not turn into question marks.
ZPL_FALLBACKS = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2022": "*",
        "\u20ac": "EUR",
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0131": "i",
        "\u0152": "OE",
        "\u0153": "oe",
    }
)


def zpl_text(text: str | None) -> str:
    """``text`` made safe for a ``^FH`` field: Latin-1 only, and ``^ ~ _`` plus every non-ASCII
    byte as ``_XX`` hex, so data can never start a command."""
    clean = printable((text or "").translate(ZPL_FALLBACKS), LATIN_1)
    out: list[str] = []
    for ch in clean:
        if ch in "^~_\\" or ord(ch) > 0x7E:  # backslash too: ``\&`` is a line break inside ^FB
            out.extend(f"_{byte:02X}" for byte in ch.encode("utf-8"))
        else:
            out.append(ch)
    return "".join(out)


def _max_chars(height: int, max_dots: int) -> int:
    return max(4, int(max_dots / (height * CHAR_WIDTH)))


def _lines(text: str | None, height: int, max_dots: int, max_lines: int = 1) -> list[str]:
    """Word-wrap ``text`` to at most ``max_lines`` lines that fit ``max_dots`` at font size
    ``height`` (estimated generously); what is left is cut with ``...``."""
    clean = unicodedata.normalize("NFC", printable((text or "").translate(ZPL_FALLBACKS), LATIN_1))
    width = _max_chars(height, max_dots)
    lines = textwrap.wrap(clean, width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        last = " ".join(lines[max_lines - 1 :])
        lines = [*lines[: max_lines - 1], last[: width - 3].rstrip() + "..."]
    return lines


def _field(x: int, y: int, height: int, line: str, max_dots: int, *, align: str = "L", reverse: bool = False) -> str:
    """One line of text in a one-line ``^FB``, so the printer clips it to ``max_dots`` even if
    the width estimate is off; ``reverse`` prints white on the black box under it."""
    fr = "^FR" if reverse else ""
    return f"^FO{x},{y}{fr}^A0N,{height},{height}^FB{max_dots},1,0,{align},0^FH_^FD{zpl_text(line)}^FS"


def _text(x: int, y: int, height: int, text: str | None, max_dots: int, *, reverse: bool = False) -> str:
    return _field(x, y, height, _lines(text, height, max_dots)[0], max_dots, reverse=reverse)


def _module_width(tracking: str, max_dots: int) -> int:
    """The widest bar module (2 to 4 dots) that fits with 10-module quiet zones; 1 if even 2 does not."""
    modules = int(Code128(tracking, barWidth=1.0, quiet=False).width) + 20
    for dots in (4, 3, 2):
        if modules * dots <= max_dots:
            return dots
    return 1


def label_zpl(label: ShippingLabel) -> str:
    """Render one parcel's label as a ZPL II program (``^XA`` ... ``^XZ``)."""
    validate_shipping_label(label)
    inner = DOTS_WIDE - 2 * EDGE
    cmds = ["^XA", "^CI28", f"^PW{DOTS_WIDE}", f"^LL{DOTS_HIGH}", "^LH0,0"]

    # Ship-from, left 58%: 6 lines of 22 dots from y=25; parcel facts on the right.
    from_width = int(inner * 0.58)
    cmds.append(_text(EDGE, 20, 18, "FROM", from_width))
    for n, line in enumerate(label.ship_from.lines()[:6]):
        cmds.append(_text(EDGE, 42 + n * 24, 22, line, from_width))
    facts_x = EDGE + from_width + 15
    facts_width = DOTS_WIDE - EDGE - facts_x
    facts = [
        ("SHIP DATE", label.ship_date.isoformat()),
        ("WEIGHT", weight_text(label.weight_grams)),
        ("PACKAGE", f"{label.package_number} OF {label.package_count}"),
    ]
    for n, (title, value) in enumerate(facts):
        cmds.append(_text(facts_x, 20 + n * 56, 18, title, facts_width))
        cmds.append(_text(facts_x, 40 + n * 56, 28, value, facts_width))
    cmds.append(f"^FO0,195^GB{DOTS_WIDE},4,4^FS")

    # Ship-to from y=205: name 44 dots, address 36 dots, city line 40 dots.
    cmds.append(_text(EDGE, 208, 20, "SHIP TO:", 300))
    if label.ship_to.phone:
        cmds.append(_text(DOTS_WIDE - EDGE - 400, 208, 20, f"TEL {label.ship_to.phone}", 400))
    address = label.ship_to
    ship_to: list[tuple[str | None, int, int]] = [  # text, font height, lines it may wrap to
        (address.name, 44, 2),
        (address.company, 34, 1),
        (address.line1, 36, 2),
        (address.line2, 36, 2),
        (address.city_line(), 44, 1),
        (address.country, 36, 1),
    ]
    y = 240
    limit = 600 if label.routing_code else 712
    for text, height, max_lines in ship_to:
        if not text:
            continue
        for line in _lines(text, height, inner - 15, max_lines):
            if y + height > limit - 4:
                break  # the block is full: later lines are dropped, never printed over the next block
            cmds.append(_field(EDGE + 15, y, height, line, inner - 15))
            y += height + 6
    if label.routing_code:
        cmds.append(f"^FO0,{limit}^GB{DOTS_WIDE},4,4^FS")
        cmds.append(_field(0, limit + 15, 84, _lines(label.routing_code, 84, inner)[0], DOTS_WIDE, align="C"))

    # Service banner: a filled black box and reversed (^FR) text, 112 dots high, at y=712.
    cmds.append(f"^FO0,712^GB{DOTS_WIDE},112,112^FS")
    cmds.append(_text(EDGE, 745, 60, label.service_name.upper(), int(inner * 0.62), reverse=True))
    service = f"{label.carrier} {label.service_code}"
    cmds.append(_text(EDGE + int(inner * 0.64), 760, 24, service, int(inner * 0.36), reverse=True))

    # Tracking: caption, Code 128 (^BC, automatic subset mode A) 220 dots high, number under it.
    cmds.append(_text(EDGE, 836, 20, "TRACKING #", 300))
    module = _module_width(label.tracking_number, DOTS_WIDE)
    symbol_dots = (int(Code128(label.tracking_number, barWidth=1.0, quiet=False).width)) * module
    x = max(0, (DOTS_WIDE - symbol_dots) // 2)
    cmds.append(f"^BY{module},3,220^FO{x},862^BCN,220,N,N,N,A^FD{label.tracking_number}^FS")
    cmds.append(f"^FO0,1092^A0N,34,34^FB{DOTS_WIDE},1,0,C,0^FD{label.tracking_number}^FS")
    cmds.append(f"^FO0,1134^GB{DOTS_WIDE},4,4^FS")

    # Order and carrier at the foot.
    cmds.append(_text(EDGE, 1146, 18, "ORDER", 300))
    cmds.append(_text(EDGE, 1168, 32, label.order_number, int(inner * 0.58)))
    cmds.append(_text(EDGE + int(inner * 0.6), 1146, 18, "CARRIER", 300))
    cmds.append(_text(EDGE + int(inner * 0.6), 1168, 32, label.carrier, int(inner * 0.4)))
    cmds.append("^PQ1")
    cmds.append("^XZ")
    return "\n".join(cmds) + "\n"
