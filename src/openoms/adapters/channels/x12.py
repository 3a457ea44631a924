"""ASC X12 interchanges: read any envelope, map an 850 purchase order, write 855, 856 and 810.

Trading partners differ in delimiters (``*``/``|`` elements, ``~``/``!``/newline segments,
``>``/``:``/``{`` components), versions (003010 … 005010) and how carefully they fill the
envelope. So the reader takes the delimiters from the ISA segment instead of assuming them,
and it checks the envelope counts and control numbers (IEA/GE/SE) against what it actually read.
A mismatch is an error in strict mode; a partner who is known to be sloppy can be read leniently
and the problems are kept as ``issues`` for the dead-letter view.

The writer never escapes: X12 has no escape character, so a value containing a delimiter is
refused with the element's name rather than sent as a broken file.

Segment and element numbers follow the X12 convention: ``seg[1]`` is the first element after the
tag (``BEG01``). Control numbers are chosen by the caller (they are per trading partner state
kept in the database, not in this pure module).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

ISA_LENGTH = 106  # fixed width: 105 characters and the segment terminator


class X12Error(ValueError):
    """The document cannot be read as X12 (or fails a check in strict mode)."""

    def __init__(self, message: str, *, segment: int | None = None, element: str | None = None) -> None:
        where = []
        if segment is not None:
            where.append(f"segment {segment}")
        if element:
            where.append(element)
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.reason = message
        self.segment = segment
        self.element = element


@dataclass(frozen=True)
class Delimiters:
    element: str = "*"
    component: str = ">"
    segment: str = "~"
    repetition: str | None = None

    def all(self) -> set[str]:
        return {d for d in (self.element, self.component, self.segment, self.repetition) if d}


@dataclass(frozen=True)
class Segment:
    tag: str
    elements: tuple[str, ...]  # elements[0] is X01
    position: int  # 1-based position in the interchange

    def __getitem__(self, n: int) -> str:
        """``seg[1]`` is element 01; absent elements read as ''."""
        return self.elements[n - 1] if 0 < n <= len(self.elements) else ""

    def name(self, n: int) -> str:
        return f"{self.tag}{n:02d}"


@dataclass
class TransactionSet:
    code: str  # ST01: 850, 855, 856, 810
    control_number: str  # ST02
    segments: list[Segment]  # ST … SE inclusive

    def body(self) -> list[Segment]:
        return self.segments[1:-1]


@dataclass
class FunctionalGroup:
    functional_id: str  # GS01: PO, PR, SH, IN
    sender: str
    receiver: str
    date: str
    control_number: str  # GS06
    version: str  # GS08
    time: str = ""  # GS05
    sets: list[TransactionSet] = field(default_factory=list)


@dataclass
class Interchange:
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    version: str  # ISA12
    control_number: str  # ISA13
    acknowledgment_requested: bool
    usage: str  # ISA15: P production, T test
    delimiters: Delimiters
    groups: list[FunctionalGroup] = field(default_factory=list)
    #: Problems found in lenient mode (strict mode raises the first instead).
    issues: list[str] = field(default_factory=list)

    def transaction_sets(self, code: str | None = None) -> Iterator[TransactionSet]:
        for g in self.groups:
            for ts in g.sets:
                if code is None or ts.code == code:
                    yield ts


# --------------------------------------------------------------------------- reading


def _detect(text: str, strict: bool) -> tuple[Delimiters, int]:
    """Delimiters from the ISA, and where the first segment after it starts."""
    if not text.startswith("ISA") or len(text) < 16:
        raise X12Error("not an X12 interchange: it must start with an ISA segment", segment=1)
    el = text[3]
    if el.isalnum() or el.isspace():
        raise X12Error(f"ISA has no usable element separator (found {el!r})", segment=1, element="ISA")
    # ISA16 follows the 16th element separator; the segment terminator follows ISA16.
    pos = -1
    for _ in range(16):
        pos = text.find(el, pos + 1)
        if pos < 0:
            raise X12Error("the ISA segment is cut short: fewer than 16 elements", segment=1, element="ISA")
    if pos + 2 >= len(text):
        raise X12Error("the ISA segment is cut short after ISA16", segment=1, element="ISA16")
    component, terminator = text[pos + 1], text[pos + 2]
    if pos != ISA_LENGTH - 3:
        message = f"the ISA segment is not fixed-width: ISA16 is at character {pos + 2}, not {ISA_LENGTH - 1}"
        if strict:
            raise X12Error(message, segment=1, element="ISA")
    elements = text[: pos + 2].split(el)
    repetition = elements[11] if elements[12] >= "00402" and not elements[11].isalnum() else None
    return Delimiters(el, component, terminator, repetition), pos + 3


def _segments(text: str, delims: Delimiters, start: int) -> Iterator[Segment]:
    isa_raw = text[: start - 1]
    yield Segment("ISA", tuple(isa_raw.split(delims.element)[1:]), 1)
    position = 1
    for raw in text[start:].split(delims.segment):
        raw = raw.strip("\r\n\t ") if delims.segment not in "\r\n" else raw.strip("\r\n")
        if not raw:
            continue
        position += 1
        parts = raw.split(delims.element)
        tag = parts[0]
        if not (2 <= len(tag) <= 3 and tag.isalnum() and tag == tag.upper()):
            raise X12Error(f"unreadable segment tag {tag[:10]!r}", segment=position)
        yield Segment(tag, tuple(parts[1:]), position)


def parse_interchange(data: bytes | str, *, strict: bool = True) -> Interchange:
    """Read one interchange. Strict mode raises ``X12Error`` on the first envelope problem;
    lenient mode reads what it can and lists the problems in ``issues``."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff \r\n\t")
    delims, start = _detect(text, strict)
    issues: list[str] = []

    def problem(message: str, seg: Segment | None, element: str | None = None) -> None:
        err = X12Error(message, segment=seg.position if seg else None, element=element)
        if strict:
            raise err
        issues.append(str(err))

    segs = list(_segments(text, delims, start))
    isa = segs[0]
    if len(isa.elements) != 16:
        problem(f"ISA has {len(isa.elements)} elements, expected 16", isa, "ISA")
    ic = Interchange(
        sender_qualifier=isa[5].strip(),
        sender_id=isa[6].strip(),
        receiver_qualifier=isa[7].strip(),
        receiver_id=isa[8].strip(),
        date=isa[9],
        time=isa[10],
        version=isa[12],
        control_number=isa[13].strip(),
        acknowledgment_requested=isa[14] == "1",
        usage=isa[15],
        delimiters=delims,
        issues=issues,
    )
    group: FunctionalGroup | None = None
    current: TransactionSet | None = None
    closed = False
    for seg in segs[1:]:
        if closed:
            problem(f"{seg.tag} after the IEA trailer", seg)
            break
        if seg.tag == "GS":
            if group is not None:
                problem("GS before the previous group's GE", seg)
            group = FunctionalGroup(seg[1], seg[2], seg[3], seg[4], seg[6], seg[8], seg[5])
            ic.groups.append(group)
        elif seg.tag == "ST":
            if group is None:
                raise X12Error("ST outside a functional group (no GS before it)", segment=seg.position)
            if current is not None:
                problem("ST before the previous set's SE", seg)
            current = TransactionSet(seg[1], seg[2], [seg])
            group.sets.append(current)
        elif seg.tag == "SE":
            if current is None:
                problem("SE without an ST", seg)
                continue
            current.segments.append(seg)
            if _int(seg[1]) != len(current.segments):
                problem(f"SE01 says {seg[1]} segments, the set has {len(current.segments)}", seg, "SE01")
            if seg[2] != current.control_number:
                problem(f"SE02 {seg[2]!r} does not match ST02 {current.control_number!r}", seg, "SE02")
            current = None
        elif seg.tag == "GE":
            if group is None:
                problem("GE without a GS", seg)
                continue
            if current is not None:
                problem("GE before the set's SE", seg)
                current = None
            if _int(seg[1]) != len(group.sets):
                problem(f"GE01 says {seg[1]} transaction sets, the group has {len(group.sets)}", seg, "GE01")
            if seg[2] != group.control_number:
                problem(f"GE02 {seg[2]!r} does not match GS06 {group.control_number!r}", seg, "GE02")
            group = None
        elif seg.tag == "IEA":
            if group is not None:
                problem("IEA before the group's GE", seg)
            if _int(seg[1]) != len(ic.groups):
                problem(f"IEA01 says {seg[1]} groups, the interchange has {len(ic.groups)}", seg, "IEA01")
            if seg[2].strip() != ic.control_number:
                problem(f"IEA02 {seg[2]!r} does not match ISA13 {ic.control_number!r}", seg, "IEA02")
            closed = True
        elif current is not None:
            current.segments.append(seg)
        else:
            problem(f"{seg.tag} outside a transaction set", seg)
    if not closed:
        problem("the interchange has no IEA trailer (file cut short?)", None)
    return ic


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _decimal(text: str, seg: Segment, n: int) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise X12Error(f"{text!r} is not a number", segment=seg.position, element=seg.name(n)) from None
    if not value.is_finite():
        raise X12Error(f"{text!r} is not a number", segment=seg.position, element=seg.name(n))
    return value


def parse_date(text: str) -> dt.date | None:
    """CCYYMMDD, or YYMMDD as used by versions before 004010 (taken as 20YY)."""
    text = text.strip()
    try:
        if len(text) == 8:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) == 6:
            return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None
    return None


# --------------------------------------------------------------------------- 850


@dataclass
class Party:
    role: str  # N101: ST ship-to, BT bill-to, BY buyer, SF ship-from, VN vendor, ...
    name: str
    id_qualifier: str = ""
    id: str = ""
    name2: str = ""
    address: list[str] = field(default_factory=list)
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass
class PurchaseOrderLine:
    line_id: str  # PO101, echoed back in 855/856/810
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    price_basis: str
    #: PO106/107, PO108/109, …: qualifier → id (VN vendor item, BP buyer part, UP UPC, EN EAN, SK SKU …)
    product_ids: dict[str, str]
    description: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class PurchaseOrder:
    purpose: str  # BEG01: 00 original, 01 cancellation, 05 replace, 06 confirmation
    order_type: str  # BEG02: SA stand-alone, BK blanket, DS drop-ship, …
    po_number: str
    release_number: str
    po_date: dt.date | None
    currency: str | None
    references: dict[str, str]
    dates: dict[str, dt.date]  # DTM01 → date: 002 delivery requested, 010 ship requested, 038 ship no later
    parties: dict[str, Party]
    carrier: str  # TD503 SCAC
    routing: str  # TD505
    lines: list[PurchaseOrderLine]
    total_amount: Decimal | None
    #: From the interchange, so replies go back to the right partner with the right ids.
    sender_qualifier: str = ""
    sender_id: str = ""
    receiver_qualifier: str = ""
    receiver_id: str = ""
    control_number: str = ""
    issues: list[str] = field(default_factory=list)


def _parties(body: Sequence[Segment]) -> dict[str, Party]:
    parties: dict[str, Party] = {}
    current: Party | None = None
    for seg in body:
        if seg.tag == "N1":
            current = Party(role=seg[1], name=seg[2], id_qualifier=seg[3], id=seg[4])
            parties.setdefault(seg[1], current)
        elif seg.tag == "PO1":
            current = None  # party loops at header level only
        elif current is not None:
            if seg.tag == "N2":
                current.name2 = seg[1]
            elif seg.tag == "N3":
                current.address.extend(v for v in (seg[1], seg[2]) if v)
            elif seg.tag == "N4":
                current.city, current.state, current.postal_code, current.country = seg[1], seg[2], seg[3], seg[4]
            elif seg.tag not in ("PER", "REF"):
                current = None
    return parties


def map_purchase_order(ts: TransactionSet, interchange: Interchange | None = None) -> PurchaseOrder:
    """An 850 as a purchase order; refuses one that has no BEG or no PO1 lines."""
    if ts.code != "850":
        raise X12Error(f"transaction set {ts.code} is not an 850 purchase order", segment=ts.segments[0].position)
    body = ts.body()
    beg = next((s for s in body if s.tag == "BEG"), None)
    if beg is None:
        raise X12Error("the 850 has no BEG segment", segment=ts.segments[0].position, element="BEG")
    if not beg[3]:
        raise X12Error("the purchase order number is empty", segment=beg.position, element="BEG03")
    issues: list[str] = []
    refs: dict[str, str] = {}
    dates: dict[str, dt.date] = {}
    currency: str | None = None
    carrier = routing = ""
    total: Decimal | None = None
    lines: list[PurchaseOrderLine] = []
    line: PurchaseOrderLine | None = None
    ctt: Segment | None = None
    for seg in body:
        if seg.tag == "PO1":
            if not seg[2]:
                raise X12Error("the line has no quantity", segment=seg.position, element="PO102")
            quantity = _decimal(seg[2], seg, 2)
            price = _decimal(seg[4], seg, 4) if seg[4] else None
            ids: dict[str, str] = {}
            for n in range(6, len(seg.elements) + 1, 2):
                if seg[n] and seg[n + 1]:
                    ids.setdefault(seg[n], seg[n + 1])
            line = PurchaseOrderLine(seg[1] or str(len(lines) + 1), quantity, seg[3], price, seg[5], ids)
            lines.append(line)
        elif seg.tag == "PID" and line is not None and seg[1] == "F":
            line.description = " ".join(v for v in (line.description, seg[5]) if v)
        elif seg.tag == "MSG" and line is not None:
            line.notes.append(seg[1])
        elif seg.tag == "REF" and line is None:
            refs.setdefault(seg[1], seg[2] or seg[3])
        elif seg.tag == "DTM" and line is None:
            if (d := parse_date(seg[2])) is not None:
                dates.setdefault(seg[1], d)
        elif seg.tag == "CUR" and seg[2]:
            currency = seg[2]
        elif seg.tag == "TD5" and line is None:
            carrier, routing = seg[3], seg[5]
        elif seg.tag == "CTT":
            ctt = seg
        elif seg.tag == "AMT" and seg[1] in ("TT", "1", "GV"):
            total = _decimal(seg[2], seg, 2)
    if not lines:
        raise X12Error("the 850 has no PO1 line items", segment=beg.position, element="PO1")
    if ctt is not None and _int(ctt[1]) != len(lines):
        issues.append(f"CTT01 says {ctt[1]} lines, the order has {len(lines)} (segment {ctt.position})")
    po = PurchaseOrder(
        purpose=beg[1],
        order_type=beg[2],
        po_number=beg[3],
        release_number=beg[4],
        po_date=parse_date(beg[5]),
        currency=currency,
        references=refs,
        dates=dates,
        parties=_parties(body),
        carrier=carrier,
        routing=routing,
        lines=lines,
        total_amount=total,
        control_number=ts.control_number,
        issues=issues,
    )
    if interchange is not None:
        po.sender_qualifier, po.sender_id = interchange.sender_qualifier, interchange.sender_id
        po.receiver_qualifier, po.receiver_id = interchange.receiver_qualifier, interchange.receiver_id
    return po


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class EnvelopeIds:
    """Who sends and who receives, as the partner agreement says (ISA05-08, GS02-03)."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    group_sender: str | None = None  # GS02; defaults to the ISA id
    group_receiver: str | None = None


class SegmentWriter:
    """Builds one transaction set's body; refuses values that contain a delimiter."""

    def __init__(self, delimiters: Delimiters) -> None:
        self.delimiters = delimiters
        self.segments: list[list[str]] = []

    def add(self, tag: str, *elements: object) -> None:
        values = ["" if e is None else _text(e) for e in elements]
        bad = self.delimiters.all()
        for n, v in enumerate(values, start=1):
            if any(d in v for d in bad):
                raise X12Error(f"the value {v!r} contains an X12 delimiter", element=f"{tag}{n:02d}")
        while values and values[-1] == "":
            values.pop()
        self.segments.append([tag, *values])

    def party(self, party: Party) -> None:
        self.add("N1", party.role, party.name[:60], party.id_qualifier or None, party.id or None)
        if party.name2:
            self.add("N2", party.name2[:60])
        for i in range(0, len(party.address), 2):
            self.add("N3", *[a[:55] for a in party.address[i : i + 2]])
        if party.city or party.postal_code:
            self.add("N4", party.city[:30], party.state, party.postal_code, party.country or None)


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    return str(value)


def _cents(amount: Decimal) -> str:
    """An implied-two-decimal number (N2), as TDS01 and SAC05 want: 144.00 → 14400."""
    return str(int((amount * 100).to_integral_value()))


def _product_pairs(ids: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for qualifier, value in ids.items():
        out += [qualifier, value]
    return out


def write_interchange(
    sets: Iterable[tuple[str, SegmentWriter]],
    *,
    ids: EnvelopeIds,
    functional_id: str,
    interchange_control: int,
    group_control: int,
    first_set_control: int = 1,
    at: dt.datetime,
    version: str = "004010",
    usage: str = "P",
    delimiters: Delimiters | None = None,
    newline: bool = True,
) -> str:
    """One interchange with one functional group holding the given sets (code, body)."""
    d = delimiters or Delimiters()
    if not 1 <= interchange_control <= 999_999_999 or not 1 <= group_control <= 999_999_999:
        raise X12Error("control numbers run from 1 to 999999999", element="ISA13")
    if usage not in ("P", "T"):
        raise X12Error("usage must be P (production) or T (test)", element="ISA15")
    isa = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        ids.sender_qualifier.ljust(2)[:2],
        ids.sender_id.ljust(15)[:15],
        ids.receiver_qualifier.ljust(2)[:2],
        ids.receiver_id.ljust(15)[:15],
        at.strftime("%y%m%d"),
        at.strftime("%H%M"),
        d.repetition or "U",
        version[:5],
        f"{interchange_control:09d}",
        "0",
        usage,
        d.component,
    ]
    lines = [d.element.join(isa)]
    lines.append(
        d.element.join(
            [
                "GS",
                functional_id,
                ids.group_sender or ids.sender_id,
                ids.group_receiver or ids.receiver_id,
                at.strftime("%Y%m%d"),
                at.strftime("%H%M"),
                str(group_control),
                "X",
                version,
            ]
        )
    )
    count = 0
    for n, (code, writer) in enumerate(sets):
        control = f"{first_set_control + n:04d}"
        body = [["ST", code, control], *writer.segments]
        lines += [d.element.join(s) for s in body]
        lines.append(d.element.join(["SE", str(len(body) + 1), control]))
        count += 1
    lines.append(d.element.join(["GE", str(count), str(group_control)]))
    lines.append(d.element.join(["IEA", "1", f"{interchange_control:09d}"]))
    sep = d.segment + ("\n" if newline else "")
    return sep.join(lines) + sep


# 855 ------------------------------------------------------------------------


@dataclass(frozen=True)
class LineAcknowledgment:
    line_id: str
    #: ACK01: IA accepted, IB backordered, IR rejected, IQ accepted with quantity changed.
    status: str
    quantity: Decimal
    unit: str
    expected_date: dt.date | None = None


def purchase_order_acknowledgment(
    po: PurchaseOrder, acks: Sequence[LineAcknowledgment], *, today: dt.date, delimiters: Delimiters | None = None
) -> SegmentWriter:
    """An 855 for ``po``: BAK02 AD when every line is taken as ordered, AC when any changed,
    RJ when every line is refused."""
    by_id = {a.line_id: a for a in acks}
    missing = [ln.line_id for ln in po.lines if ln.line_id not in by_id]
    if missing:
        raise X12Error(f"no acknowledgment for line(s) {', '.join(missing)}", element="ACK")
    statuses = {a.status for a in acks}
    if statuses == {"IR"}:
        ack_type = "RJ"
    elif statuses <= {"IA"} and all(by_id[ln.line_id].quantity == ln.quantity for ln in po.lines):
        ack_type = "AD"
    else:
        ack_type = "AC"
    w = SegmentWriter(delimiters or Delimiters())
    w.add("BAK", "00", ack_type, po.po_number, po.po_date or today, None, None, None, None, today)
    if po.currency:
        w.add("CUR", "BY", po.currency)
    for ln in po.lines:
        a = by_id[ln.line_id]
        w.add("PO1", ln.line_id, ln.quantity, ln.unit, ln.unit_price, ln.price_basis, *_product_pairs(ln.product_ids))
        w.add("ACK", a.status, a.quantity, a.unit, "068" if a.expected_date else None, a.expected_date)
    w.add("CTT", len(po.lines))
    return w


# 856 ------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedItem:
    line_id: str
    product_ids: Mapping[str, str]
    quantity: Decimal
    unit: str


@dataclass(frozen=True)
class ShippedPackage:
    #: MAN01 GM with an SSCC-18, or CP with the carrier's package (tracking) number.
    mark_qualifier: str
    mark: str
    items: Sequence[ShippedItem]


@dataclass(frozen=True)
class ShipNotice:
    shipment_id: str
    shipped_at: dt.datetime
    po_number: str
    po_date: dt.date | None
    carrier_scac: str
    tracking_number: str | None
    ship_to: Party | None
    ship_from: Party | None
    packages: Sequence[ShippedPackage]


def ship_notice(notice: ShipNotice, *, delimiters: Delimiters | None = None) -> SegmentWriter:
    """An 856 in the Shipment/Order/Pack/Item hierarchy (BSN05 0001)."""
    if not notice.packages or not all(p.items for p in notice.packages):
        raise X12Error("a ship notice needs at least one package with items", element="HL")
    w = SegmentWriter(delimiters or Delimiters())
    w.add("BSN", "00", notice.shipment_id, notice.shipped_at.date(), notice.shipped_at.strftime("%H%M"), "0001")
    hl = 1
    w.add("HL", hl, None, "S")
    w.add("TD1", "CTN", len(notice.packages))
    w.add("TD5", "B", "2", notice.carrier_scac)
    if notice.tracking_number:
        w.add("REF", "CN", notice.tracking_number)
    w.add("DTM", "011", notice.shipped_at.date())
    for party in (notice.ship_to, notice.ship_from):
        if party is not None:
            w.party(party)
    hl += 1
    order_hl = hl
    w.add("HL", order_hl, 1, "O")
    w.add("PRF", notice.po_number, None, None, notice.po_date)
    for package in notice.packages:
        hl += 1
        pack_hl = hl
        w.add("HL", pack_hl, order_hl, "P")
        w.add("MAN", package.mark_qualifier, package.mark)
        for item in package.items:
            hl += 1
            w.add("HL", hl, pack_hl, "I")
            w.add("LIN", item.line_id, *_product_pairs(item.product_ids))
            w.add("SN1", None, item.quantity, item.unit)
    w.add("CTT", hl)
    return w


# 810 ------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLine:
    line_id: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    product_ids: Mapping[str, str]


@dataclass(frozen=True)
class Invoice:
    number: str
    invoice_date: dt.date
    po_number: str
    po_date: dt.date | None
    currency: str
    bill_to: Party | None
    ship_to: Party | None
    lines: Sequence[InvoiceLine]
    tax: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)
    #: ITD: terms net days and an early-payment discount (2/10 net 30 → 2, 10, 30).
    net_days: int | None = None
    discount_percent: Decimal | None = None
    discount_days: int | None = None

    @property
    def total(self) -> Decimal:
        return sum((ln.quantity * ln.unit_price for ln in self.lines), Decimal(0)) + self.tax + self.shipping


def invoice(inv: Invoice, *, delimiters: Delimiters | None = None) -> SegmentWriter:
    """An 810; TDS01 is the invoice total in cents, as X12's implied decimal wants."""
    if not inv.lines:
        raise X12Error("an invoice needs at least one line", element="IT1")
    w = SegmentWriter(delimiters or Delimiters())
    w.add("BIG", inv.invoice_date, inv.number, inv.po_date, inv.po_number)
    w.add("CUR", "SE", inv.currency)
    for party in (inv.bill_to, inv.ship_to):
        if party is not None:
            w.party(party)
    if inv.net_days is not None:
        w.add(
            "ITD",
            "05" if inv.discount_percent else "01",
            "3",
            inv.discount_percent,
            None,
            inv.discount_days,
            None,
            inv.net_days,
        )
    for ln in inv.lines:
        w.add("IT1", ln.line_id, ln.quantity, ln.unit, ln.unit_price, None, *_product_pairs(ln.product_ids))
    w.add("TDS", _cents(inv.total))
    if inv.tax:
        w.add("TXI", "TX", inv.tax)
    if inv.shipping:
        w.add("SAC", "C", "G830", None, None, _cents(inv.shipping))
    w.add("CTT", len(inv.lines))
    return w


def invoice_total(ts: TransactionSet) -> Decimal | None:
    """TDS01 of an 810 read back as an amount (implied two decimals)."""
    for seg in ts.body():
        if seg.tag == "TDS" and seg[1]:
            return _decimal(seg[1], seg, 1) / 100
    return None
