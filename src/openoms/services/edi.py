"""EDI X12 trading partners: 850 purchase orders in, 855 acknowledgments out (docs/edi.md).

An interchange is read with the partner's strictness; a broken envelope becomes one dead
letter holding the whole file, and every 850 inside a good one becomes its own inbox message
(deduplicated on sender + ISA13 + ST02, so a partner re-sending a file changes nothing), which
the inbox turns into an order idempotently on the PO number. Once an order exists, the 855
goes back: IA for lines reserved as ordered, IB with the expected date for backordered ones.

Our outbound control numbers come from the partner row, taken with a row-locking UPDATE in the
same transaction that stores the document, so two acknowledgments never share a number and a
rolled-back one never burns one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openoms.adapters.channels import edi as edi_adapter
from openoms.adapters.channels import x12
from openoms.adapters.channels.base import ChangeKind, ChannelOrderChange, InboundMessage, MappingError
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue, record_audit, record_order_event
from openoms.adapters.db.tables import Channel, EdiDocument, EdiPartner, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.services import channel_inbox
from openoms.services.channel_inbox import StoredMessage
from openoms.services.common import MAX_ID, Actor, as_utc, utcnow

partners_t = table(EdiPartner)
documents_t = table(EdiDocument)
channels_t = table(Channel)

TOPIC_850 = "x12/850"
EDI_CONTENT_TYPES = frozenset({"application/edi-x12", "text/plain"})


# --------------------------------------------------------------------------- partners


def _channel_id(conn: Connection, code: str) -> int:
    got = conn.execute(select(channels_t.c.id).where(channels_t.c.code == code)).scalar()
    if got is None:
        raise DomainError(ErrorCode.UNKNOWN_CHANNEL, f"Channel {code} does not exist")
    return int(got)


def _id_pair(field: str, value: str) -> tuple[str, str]:
    qualifier, sep, ident = value.partition(":")
    if not sep or not (1 <= len(qualifier) <= 2) or not (1 <= len(ident) <= 15):
        raise validation_error(field, "write it as QUALIFIER:ID, e.g. ZZ:OPENOMS (qualifier 2, id up to 15 characters)")
    if any(c in ident + qualifier for c in "*~|>^:\n\r"):
        raise validation_error(field, "must not contain X12 delimiters")
    return qualifier.strip(), ident.strip()


def set_partner(
    db: Database,
    channel: str,
    *,
    ours: str,
    theirs: str,
    sku_qualifiers: Sequence[str] | None = None,
    default_country: str = "US",
    usage: str = "P",
    strict: bool = True,
    actor: Actor,
) -> dict[str, Any]:
    """Create or change the partner behind ``channel`` (control numbers are kept)."""
    errors: list[FieldError] = []
    our_q, our_id = _id_pair("ours", ours)
    their_q, their_id = _id_pair("theirs", theirs)
    qualifiers = [q.strip().upper() for q in (sku_qualifiers or edi_adapter.DEFAULT_SKU_QUALIFIERS) if q.strip()]
    if not qualifiers or any(len(q) != 2 or not q.isalnum() for q in qualifiers):
        errors.append(FieldError("sku_qualifiers", "give two-character product id qualifiers such as VN, BP, SK"))
    if len(default_country) != 2 or not default_country.isalpha():
        errors.append(FieldError("default_country", "must be a two-letter ISO 3166 code"))
    if usage not in ("P", "T"):
        errors.append(FieldError("usage", "must be P (production) or T (test)"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    values = {
        "our_qualifier": our_q,
        "our_id": our_id,
        "their_qualifier": their_q,
        "their_id": their_id,
        "sku_qualifiers": qualifiers,
        "default_country": default_country.upper(),
        "usage": usage,
        "strict": strict,
    }
    with db.begin() as conn:
        channel_id = _channel_id(conn, channel)
        exists = conn.execute(select(partners_t.c.channel_id).where(partners_t.c.channel_id == channel_id)).first()
        if exists:
            conn.execute(update(partners_t).where(partners_t.c.channel_id == channel_id).values(**values))
        else:
            conn.execute(insert(partners_t).values(channel_id=channel_id, **values))
        record_audit(
            conn,
            actor=str(actor),
            action="edi.partner_set",
            subject_type="channel",
            subject_id=channel,
            message=f"EDI partner of {channel}: us {our_q}:{our_id}, them {their_q}:{their_id}",
            data={**values, "sku_qualifiers": qualifiers},
        )
    return get_partner(db, channel)


def get_partner(db: Database, channel: str) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(
            select(partners_t)
            .join(channels_t, channels_t.c.id == partners_t.c.channel_id)
            .where(channels_t.c.code == channel)
        ).first()
    if row is None:
        raise NotFound("EDI partner for channel", channel)
    return {
        "channel": channel,
        "ours": f"{row.our_qualifier}:{row.our_id}",
        "theirs": f"{row.their_qualifier}:{row.their_id}",
        "sku_qualifiers": list(row.sku_qualifiers),
        "default_country": row.default_country,
        "usage": row.usage,
        "strict": bool(row.strict),
        "next_interchange_control": int(row.next_interchange_control),
        "next_group_control": int(row.next_group_control),
    }


def _partner_row(conn: Connection, channel: str) -> Any:
    row = conn.execute(
        select(partners_t)
        .join(channels_t, channels_t.c.id == partners_t.c.channel_id)
        .where(channels_t.c.code == channel)
    ).first()
    if row is None:
        raise validation_error("channel", f"channel {channel} has no EDI partner; set one with `openoms edi partner`")
    return row


# --------------------------------------------------------------------------- inbound


def receive_interchange(db: Database, channel: str, text: str, *, source: str, actor: Actor) -> dict[str, Any]:
    """Read one X12 file: each 850 becomes an order (or a dead letter with its reason)."""
    if not text.strip():
        raise validation_error("body", "the file is empty")
    with db.read() as conn:
        partner = _partner_row(conn, channel)
    try:
        ic = x12.parse_interchange(text, strict=bool(partner.strict))
    except x12.X12Error as exc:
        digest = hashlib.sha256(text.encode()).hexdigest()
        stored = channel_inbox.record_dead(
            db,
            InboundMessage(channel, source, "x12/interchange", f"x12:sha256:{digest}", text, "application/edi-x12"),
            f"envelope: {exc}",
        )
        return {"interchange": None, "error": str(exc), "dead_letter": stored["id"], "orders": []}
    if ic.sender_id != partner.their_id:
        raise validation_error(
            "body", f"the interchange is from {ic.sender_qualifier}:{ic.sender_id}, not this channel's partner "
            f"{partner.their_qualifier}:{partner.their_id}",
        )  # fmt: skip
    results = []
    for group in ic.groups:
        for ts in group.sets:
            key = f"x12:{ic.sender_id}:{ic.control_number}:{ts.control_number}"
            po_number = next((s[3] for s in ts.body() if s.tag == "BEG"), None)
            stored = channel_inbox.receive(
                db,
                InboundMessage(
                    channel,
                    source,
                    f"x12/{ts.code}",
                    key,
                    _single_set(ic, group, ts),
                    "application/edi-x12",
                    external_order_id=po_number,
                ),
            )
            if stored["created"]:
                _store_document(db, channel, "in", ts.code, ic.control_number, ts.control_number, po_number, text)
            outcome = channel_inbox.process(db, stored["id"], actor) if stored["status"] == "received" else None
            results.append(
                {
                    "set": ts.code,
                    "control_number": ts.control_number,
                    "po_number": po_number,
                    "inbox_id": stored["id"],
                    "duplicate": not stored["created"],
                    "status": outcome["status"] if outcome else stored["status"],
                    "reason": outcome["reason"] if outcome else None,
                    "order_id": outcome["order_id"] if outcome else None,
                }
            )
    return {
        "interchange": {"control_number": ic.control_number, "sender": ic.sender_id, "issues": ic.issues},
        "error": None,
        "orders": results,
    }


def _single_set(ic: x12.Interchange, group: x12.FunctionalGroup, ts: x12.TransactionSet) -> str:
    """The one set re-wrapped in its original envelope, so a dead letter reads on its own."""
    d = ic.delimiters
    isa = ["ISA", "00", " " * 10, "00", " " * 10, ic.sender_qualifier.ljust(2), ic.sender_id.ljust(15)]
    isa += [ic.receiver_qualifier.ljust(2), ic.receiver_id.ljust(15), ic.date, ic.time, d.repetition or "U"]
    isa += [ic.version, ic.control_number.rjust(9, "0"), "0", ic.usage, d.component]
    gs = ["GS", group.functional_id, group.sender, group.receiver, group.date, group.time, group.control_number, "X"]
    gs.append(group.version)
    segs = [isa, gs] + [[s.tag, *s.elements] for s in ts.segments]
    segs += [["GE", "1", group.control_number], ["IEA", "1", ic.control_number.rjust(9, "0")]]
    return "".join(d.element.join(s) + d.segment + "\n" for s in segs)


def _map_850(db: Database, msg: StoredMessage) -> Sequence[ChannelOrderChange]:
    with db.read() as conn:
        partner = _partner_row(conn, msg.channel)
    try:
        ic = x12.parse_interchange(msg.body, strict=False)
        ts = next(ic.transaction_sets("850"))
        po = x12.map_purchase_order(ts, ic)
    except (x12.X12Error, StopIteration) as exc:
        raise MappingError("850", str(exc) or "no 850 in the message") from exc
    rules = edi_adapter.PartnerRules(tuple(partner.sku_qualifiers), partner.default_country)
    change = edi_adapter.purchase_order_to_order(
        po, channel=msg.channel, channel_currency=msg.channel_currency, rules=rules
    )
    return [ChannelOrderChange(change.kind, change.external_order_id, change.order, change.reason, {"po": po})]


def _not_for_us(db: Database, msg: StoredMessage) -> Sequence[ChannelOrderChange]:
    code = msg.topic.removeprefix("x12/")
    return [ChannelOrderChange(ChangeKind.IGNORE, "", reason=f"X12 {code} is not an order; kept for the record")]


# --------------------------------------------------------------------------- outbound


def _take_controls(conn: Connection, channel: str) -> tuple[Any, int, int]:
    """Lock the partner row (FOR UPDATE: concurrent acknowledgments queue here) and take the
    next interchange and group control numbers. Call before deciding whether to send, so the
    decision is made under the lock."""
    partner = conn.execute(
        select(partners_t)
        .join(channels_t, channels_t.c.id == partners_t.c.channel_id)
        .where(channels_t.c.code == channel)
        .with_for_update(of=partners_t)
    ).first()
    if partner is None:
        raise validation_error("channel", f"channel {channel} has no EDI partner; set one with `openoms edi partner`")
    isa, gs = int(partner.next_interchange_control), int(partner.next_group_control)
    return partner, isa, gs


def _use_controls(conn: Connection, partner: Any) -> None:
    conn.execute(
        update(partners_t)
        .where(partners_t.c.channel_id == partner.channel_id)
        .values(
            next_interchange_control=partners_t.c.next_interchange_control + 1,
            next_group_control=partners_t.c.next_group_control + 1,
        )
    )


def _store_document(
    db: Database,
    channel: str,
    direction: str,
    set_code: str,
    interchange_control: str,
    set_control: str,
    po_number: str | None,
    body: str,
    order_id: int | None = None,
) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(documents_t).values(
                channel_id=_channel_id(conn, channel),
                direction=direction,
                set_code=set_code,
                interchange_control=interchange_control[-9:],
                set_control=set_control[-9:],
                po_number=po_number,
                order_id=order_id,
                body=body,
                created_at=utcnow(),
            )
        )


def _acknowledge(db: Database, msg: StoredMessage, change: ChannelOrderChange, result: dict[str, Any] | None) -> None:
    """After an 850 became an order: the 855, once per order (a replay sends none)."""
    if change.kind != ChangeKind.CREATE or result is None or change.context is None:
        return
    po: x12.PurchaseOrder = change.context["po"]
    order_id = int(result["order_id"])
    order = result["order"] or _order(db, order_id)
    by_line = {ln.get("external_line_id"): ln for ln in order["lines"]}
    acks = []
    for ln in po.lines:
        line = by_line.get(ln.line_id)
        waiting = int(line.get("quantity_backordered") or 0) if line else 0
        expected = line.get("expected_at") if line else None
        if waiting:
            when = expected.date() if isinstance(expected, dt.datetime) else None
            acks.append(x12.LineAcknowledgment(ln.line_id, "IB", ln.quantity, ln.unit, when))
        else:
            acks.append(x12.LineAcknowledgment(ln.line_id, "IA", ln.quantity, ln.unit))
    now = utcnow()
    with db.begin() as conn:
        partner, isa_control, gs_control = _take_controls(conn, msg.channel)
        already = conn.execute(
            select(documents_t.c.id).where(
                documents_t.c.order_id == order_id, documents_t.c.direction == "out", documents_t.c.set_code == "855"
            )
        ).first()
        if already is not None:
            return
        _use_controls(conn, partner)
        text = x12.write_interchange(
            [("855", x12.purchase_order_acknowledgment(po, acks, today=now.date()))],
            ids=x12.EnvelopeIds(partner.our_qualifier, partner.our_id, partner.their_qualifier, partner.their_id),
            functional_id="PR",
            interchange_control=isa_control,
            group_control=gs_control,
            at=now,
            usage=partner.usage,
        )
        document_id = conn.execute(
            insert(documents_t)
            .returning(documents_t.c.id)
            .values(
                channel_id=partner.channel_id,
                direction="out",
                set_code="855",
                interchange_control=f"{isa_control:09d}",
                set_control="0001",
                po_number=po.po_number,
                order_id=order_id,
                body=text,
                created_at=now,
            )
        ).scalar_one()
        record_order_event(
            conn,
            order_id=order_id,
            event_type="edi.acknowledged",
            actor="system",
            message=f"855 acknowledgment for PO {po.po_number} ready for {msg.channel} (ISA13 {isa_control:09d})",
            data={"interchange_control": isa_control, "lines": {a.line_id: a.status for a in acks}},
            now=now,
        )
        enqueue(
            conn,
            "edi.document_ready",
            "order",
            str(order_id),
            {
                "channel": msg.channel,
                "set": "855",
                "document_id": int(document_id),
                "po_number": po.po_number,
                "interchange_control": isa_control,
            },
            now=now,
        )


def _order(db: Database, order_id: int) -> dict[str, Any]:
    from openoms.services import orders

    return orders.get_order(db, order_id)


def list_documents(
    db: Database, channel: str, *, direction: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    if direction not in (None, "in", "out"):
        raise validation_error("direction", "must be in or out")
    q = (
        select(documents_t)
        .join(channels_t, channels_t.c.id == documents_t.c.channel_id)
        .where(channels_t.c.code == channel)
        .order_by(documents_t.c.id.desc())
        .limit(limit)
    )
    if direction:
        q = q.where(documents_t.c.direction == direction)
    with db.read() as conn:
        rows = conn.execute(q).all()
    return [_doc(r, body=False) for r in rows]


def get_document(db: Database, document_id: int) -> dict[str, Any]:
    if not 0 < document_id <= MAX_ID:
        raise NotFound("EDI document", document_id)
    with db.read() as conn:
        row = conn.execute(select(documents_t).where(documents_t.c.id == document_id)).first()
    if row is None:
        raise NotFound("EDI document", document_id)
    return _doc(row, body=True)


def _doc(row: Any, *, body: bool) -> dict[str, Any]:
    out = {
        "id": int(row.id),
        "direction": row.direction,
        "set": row.set_code,
        "interchange_control": row.interchange_control,
        "set_control": row.set_control,
        "po_number": row.po_number,
        "order_id": row.order_id,
        "created_at": as_utc(row.created_at),
    }
    if body:
        out["body"] = row.body
    return out


# --------------------------------------------------------------------------- drop folder

EDI_SUFFIXES = {".edi", ".x12", ".txt", ".850"}


def import_folder(
    db: Database,
    channel: str,
    folder: Path,
    *,
    actor: Actor,
    progress: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, int]:
    """Read every file in ``folder`` (oldest first); move each to ``processed/`` or, when any
    of its orders is a dead letter or the envelope is broken, to ``failed/``."""
    if not folder.is_dir():
        raise validation_error("folder", f"{folder} is not a folder")
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EDI_SUFFIXES),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    totals = {"files": 0, "orders": 0, "dead": 0, "duplicates": 0}
    for path in files:
        result = receive_interchange(db, channel, path.read_text(encoding="latin-1"), source="file", actor=actor)
        failed = result["error"] is not None or any(o["status"] == "dead" for o in result["orders"])
        target = folder / ("failed" if failed else "processed")
        target.mkdir(exist_ok=True)
        shutil.move(str(path), target / path.name)
        totals["files"] += 1
        totals["orders"] += sum(1 for o in result["orders"] if o["order_id"] and not o["duplicate"])
        totals["dead"] += sum(1 for o in result["orders"] if o["status"] == "dead") + (1 if result["error"] else 0)
        totals["duplicates"] += sum(1 for o in result["orders"] if o["duplicate"])
        if progress is not None:
            progress(path, result)
    return totals


channel_inbox.register(TOPIC_850, _map_850, _acknowledge)
channel_inbox.register("x12/", _not_for_us)


# --------------------------------------------------------------------------- 856 at shipment

#: SCAC codes of the carriers the demo and most shops use; others go as their name (max 4).
SCAC = {"ups": "UPSN", "fedex": "FDEG", "usps": "USPS", "dhl": "DHLC", "ontrac": "ONTC"}


def send_ship_notice(db: Database, shipment_id: int) -> dict[str, Any] | None:
    """The 856 for one shipment of an order that came by EDI, once. None when the order's
    channel has no partner or the order did not come from an 850."""
    from openoms.adapters.db.tables import (
        FulfilmentLine,
        Order,
        OrderLine,
        PackageLine,
        Shipment,
        ShipmentPackage,
    )

    ship_t, pkg_t, pl_t, fl_t = table(Shipment), table(ShipmentPackage), table(PackageLine), table(FulfilmentLine)
    orders_t, lines_t = table(Order), table(OrderLine)
    with db.read() as conn:
        shipment = conn.execute(
            select(ship_t, orders_t.c.external_order_id, orders_t.c.placed_at, orders_t.c.shipping_address,
                   channels_t.c.code.label("channel"))
            .join(orders_t, orders_t.c.id == ship_t.c.order_id)
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .where(ship_t.c.id == shipment_id)
        ).first()  # fmt: skip
        if shipment is None or not shipment.external_order_id:
            return None
        partner = conn.execute(
            select(partners_t).join(channels_t, channels_t.c.id == partners_t.c.channel_id)
            .where(channels_t.c.code == shipment.channel)
        ).first()  # fmt: skip
        if partner is None:
            return None
        rows = conn.execute(
            select(pkg_t.c.id, pkg_t.c.tracking_number, pl_t.c.quantity, lines_t.c.external_line_id,
                   lines_t.c.line_number, lines_t.c.sku)
            .join(pl_t, pl_t.c.package_id == pkg_t.c.id)
            .join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
            .join(lines_t, lines_t.c.id == fl_t.c.order_line_id)
            .where(pkg_t.c.shipment_id == shipment_id)
            .order_by(pkg_t.c.id, lines_t.c.line_number)
        ).all()  # fmt: skip
    if not rows:
        return None
    qualifier = next(iter(partner.sku_qualifiers))
    packages: dict[int, list[x12.ShippedItem]] = {}
    tracking: dict[int, str] = {}
    for r in rows:
        tracking[r.id] = r.tracking_number
        packages.setdefault(r.id, []).append(
            x12.ShippedItem(r.external_line_id or str(r.line_number), {qualifier: r.sku}, Decimal(r.quantity), "EA")
        )
    address = shipment.shipping_address or {}
    ship_to = x12.Party(
        "ST", str(address.get("name") or address.get("company") or "SHIP TO"),
        address=[a for a in (address.get("line1"), address.get("line2")) if a], city=str(address.get("city") or ""),
        state=str(address.get("region") or ""), postal_code=str(address.get("postal_code") or ""),
        country=str(address.get("country") or ""),
    )  # fmt: skip
    shipped_at = as_utc(shipment.shipped_at) or utcnow()
    carrier = str(shipment.carrier)
    notice = x12.ShipNotice(
        shipment_id=f"SH{shipment_id}",
        shipped_at=shipped_at,
        po_number=shipment.external_order_id,
        po_date=placed.date() if (placed := as_utc(shipment.placed_at)) else None,
        carrier_scac=SCAC.get(carrier.lower(), carrier.upper().replace(" ", "")[:4]),
        tracking_number=next(iter(tracking.values()), None),
        ship_to=ship_to,
        ship_from=None,
        packages=[x12.ShippedPackage("CP", tracking[pid], items) for pid, items in packages.items()],
    )
    now = utcnow()
    with db.begin() as conn:
        partner, isa_control, gs_control = _take_controls(conn, shipment.channel)
        done = conn.execute(select(documents_t.c.id).where(documents_t.c.shipment_id == shipment_id)).first()
        if done is not None:
            return None
        _use_controls(conn, partner)
        text = x12.write_interchange(
            [("856", x12.ship_notice(notice))],
            ids=x12.EnvelopeIds(partner.our_qualifier, partner.our_id, partner.their_qualifier, partner.their_id),
            functional_id="SH",
            interchange_control=isa_control,
            group_control=gs_control,
            at=now,
            usage=partner.usage,
        )
        document_id = conn.execute(
            insert(documents_t)
            .returning(documents_t.c.id)
            .values(
                channel_id=partner.channel_id, direction="out", set_code="856",
                interchange_control=f"{isa_control:09d}", set_control="0001", po_number=notice.po_number,
                order_id=int(shipment.order_id), shipment_id=shipment_id, body=text, created_at=now,
            )
        ).scalar_one()  # fmt: skip
        record_order_event(
            conn,
            order_id=int(shipment.order_id),
            event_type="edi.ship_notice",
            actor="system",
            message=f"856 ship notice for PO {notice.po_number} ready for {shipment.channel} "
            f"(ISA13 {isa_control:09d}, {len(packages)} package(s))",
            data={"shipment_id": shipment_id, "interchange_control": isa_control},
            now=now,
        )
        enqueue(
            conn, "edi.document_ready", "order", str(shipment.order_id),
            {"channel": shipment.channel, "set": "856", "document_id": int(document_id),
             "po_number": notice.po_number, "interchange_control": isa_control},
            now=now,
        )  # fmt: skip
    return {"document_id": int(document_id), "interchange_control": isa_control}


class ShipNoticeSender:
    """The outbox consumer that answers a shipment of an EDI order with its 856."""

    name = "edi-ship-notices"

    def __call__(self, event: Any, db: Database) -> None:
        if event.event_type == "shipment.created" and event.payload.get("shipment_id"):
            send_ship_notice(db, int(event.payload["shipment_id"]))


# --------------------------------------------------------------------------- worker


def import_drop_folders(db: Database, now: dt.datetime, *, root: Path) -> int:
    """The worker's job: read ``<root>/<channel>/in/`` for every channel with a partner."""
    if not root.is_dir():
        return 0
    with db.read() as conn:
        codes = (
            conn.execute(select(channels_t.c.code).join(partners_t, partners_t.c.channel_id == channels_t.c.id))
            .scalars()
            .all()
        )
    done = 0
    for code in codes:
        inbox = root / code / "in"
        if inbox.is_dir():
            done += import_folder(db, code, inbox, actor=Actor("worker"))["files"]
    return done


class DropFolderWriter:
    """The outbox consumer that puts each outbound X12 document in ``<root>/<channel>/out/``
    for the partner's SFTP or VAN sync to pick up. Idempotent: the file name is the document's
    id, written atomically (temp file, then rename)."""

    name = "edi-drop-folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, event: Any, db: Database) -> None:
        if event.event_type != "edi.document_ready":
            return
        channel = str(event.payload.get("channel", ""))
        folder = self.root / channel
        if not channel or not folder.is_dir():  # no drop folder for this partner: API only
            return
        doc = get_document(db, int(event.payload["document_id"]))
        out = folder / "out"
        out.mkdir(exist_ok=True)
        name = f"{doc['id']:08d}-{doc['set']}-{doc['interchange_control']}.edi"
        tmp = out / f".{name}.tmp"
        tmp.write_text(doc["body"], encoding="latin-1")
        tmp.replace(out / name)
