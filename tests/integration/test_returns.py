"""Returns on SQLite and PostgreSQL through the services: request, approve, the label PDF,
receipts with restock / refurbish / write-off through the ledger, the refund quote, refusals that
change nothing, policies per channel and product, and exchanges."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import (
    AuditEntry,
    LedgerEntry,
    Location,
    OutboxMessage,
    Product,
    Return,
    ReturnInspection,
    ReturnLine,
    StockLevel,
    table,
)
from openoms.domain import fulfillment as fx
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import fulfillment, orders, payments
from openoms.services import returns as rs
from openoms.services.check import run_check
from openoms.services.common import Actor
from tests.conftest import books
from tests.integration.test_routing_capture import seed

T = Actor("tests")
ADDRESS = {
    "name": "Ana Example",
    "line1": "1 Main St",
    "city": "Edison",
    "region": "NJ",
    "postal_code": "08817",
    "country": "US",
}
RETURN_TABLES = ("returns", "return_lines", "return_inspections")


def setup_network(db: Database, stock: dict[tuple[str, str], int] | None = None) -> None:
    seed(db, stock or {("A", "WH-EAST"): 10, ("B", "WH-EAST"): 5}, rates=True)
    loc = table(Location)
    with db.begin() as conn:
        conn.execute(
            update(loc)
            .where(loc.c.code == "WH-EAST")
            .values(address_line1="100 Return Way", city="Allentown", accepts_returns=True)
        )
        conn.execute(
            update(loc)
            .where(loc.c.code == "ST-NYC")
            .values(address_line1="5 W 34th St", city="New York", accepts_returns=True)
        )


def shipped_order(
    db: Database,
    lines: list[tuple[str, int, str, str, str]] | None = None,
    *,
    ext: str = "R-1",
    shipping: str = "8.00",
    shipping_tax: str = "0.64",
    shipped_at: dt.datetime | None = None,
    pay: str | None = None,
) -> int:
    """An order captured, released and shipped in full from WH-EAST. Lines: sku, quantity,
    unit price, discount, tax."""
    lines = lines or [("A", 3, "20.00", "6.00", "4.32"), ("B", 1, "50.00", "0", "4.00")]
    res = orders.capture_order(
        db,
        orders.CaptureOrder(
            channel="web",
            currency="USD",
            external_order_id=ext,
            lines=[
                orders.LineInput(sku=s, quantity=q, unit_price=Decimal(p), discount=Decimal(d), tax=Decimal(t))
                for s, q, p, d, t in lines
            ],
            customer=orders.CustomerInput(email="ana@example.com", name="Ana Example"),
            shipping_address=ADDRESS,
            shipping_total=Decimal(shipping),
            shipping_tax=Decimal(shipping_tax),
        ),
        T,
    )
    if pay:  # authorised with the test provider; captured at shipment
        payments.authorize_payment(
            db, res.order_id, provider="test", payment_method=pay, actor=T, idempotency_key=f"pay-{ext}"
        )
    for fo in fulfillment.release_order(db, res.order_id, T):
        fulfillment.ship(
            db,
            fo["id"],
            carrier="UPS",
            service_code="UPS-GROUND",
            packages=[
                fx.PackageInput(
                    f"1Z{ext}{fo['id']}", 500, [(ln["line_number"], ln["quantity_open"]) for ln in fo["lines"]]
                )
            ],
            actor=T,
            shipped_at=shipped_at,
        )
    return res.order_id


def level(db: Database, sku: str, location: str) -> tuple[int, int]:
    s, p, lo = table(StockLevel), table(Product), table(Location)
    with db.read() as conn:
        row = conn.execute(
            select(s.c.on_hand, s.c.reserved)
            .join(p, p.c.id == s.c.product_id)
            .join(lo, lo.c.id == s.c.location_id)
            .where(p.c.sku == sku, lo.c.code == location)
        ).one()
    return int(row.on_hand), int(row.reserved)


def outbox_types(db: Database) -> list[str]:
    o = table(OutboxMessage)
    with db.read() as conn:
        return [
            r
            for r in conn.execute(
                select(o.c.event_type).where(o.c.event_type.like("return.%")).order_by(o.c.id)
            ).scalars()
        ]


def everything(db: Database) -> dict[str, Any]:
    out = books(db)
    with db.read() as conn:
        for name in (*RETURN_TABLES, "audit_log"):
            t = {
                "returns": Return,
                "return_lines": ReturnLine,
                "return_inspections": ReturnInspection,
                "audit_log": AuditEntry,
            }[name]
            out[name] = int(conn.execute(select(func.count()).select_from(table(t))).scalar_one())
        out["returned"] = sorted(
            (int(r.id), int(r.quantity_returned))
            for r in conn.execute(select(orders.lines_t.c.id, orders.lines_t.c.quantity_returned))
        )
    return out


def test_mail_return_request_approve_label_receive_and_quote(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    el = rs.check_eligibility(db, oid)
    assert el["returnable"] and [(ln["sku"], ln["returnable"]) for ln in el["lines"]] == [("A", 3), ("B", 1)]
    assert el["policy"]["source"] == "built_in" and el["policy"]["window_days"] == 30

    ret = rs.request_return(
        db,
        oid,
        lines=[
            {"line_number": 1, "quantity": 2, "reason": "changed_mind", "condition": "opened"},
            {"line_number": 2, "quantity": 1, "reason": "defective"},
        ],
        method="mail",
        location=None,
        source="customer_service",
        actor=T,
        note="customer called",
    )
    rid, rma = ret["id"], ret["rma_number"]
    assert ret["status"] == "requested" and ret["location"] == "WH-EAST" and ret["units"] == 3
    assert rma == f"RMA-{rid:07d}"
    after = rs.check_eligibility(db, oid)
    assert [ln["returnable"] for ln in after["lines"]] == [1, 0]
    assert "already returned or requested" in after["lines"][1]["reason"]

    with pytest.raises(DomainError) as exc:  # a label before approval
        rs.return_label_pdf(db, rid)
    assert exc.value.code == ErrorCode.ILLEGAL_TRANSITION
    assert rs.approve_return(db, rid, actor=T)["status"] == "approved"
    pdf = rs.return_label_pdf(db, rid, actor=T)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert rma in text and "Ana Example" in text and "100 Return Way" in text.replace("\n", " ")
    got = rs.get_return(db, rid)
    assert got["status"] == "label_issued" and got["label_tracking_number"] == rma
    assert rs.return_label_pdf(db, rid).startswith(b"%PDF")  # a reprint changes nothing
    assert rs.get_return(db, rid)["status"] == "label_issued"

    before = level(db, "A", "WH-EAST")
    part = rs.receive_return(
        db,
        rid,
        location="WH-EAST",
        lines=[{"line_number": 1, "quantity": 1, "condition": "unopened", "disposition": "restock"}],
        actor=T,
    )
    assert part["status"] == "partially_received" and part["units_received"] == 1
    assert level(db, "A", "WH-EAST") == (before[0] + 1, before[1])
    full = rs.receive_return(
        db,
        rid,
        location="WH-EAST",
        lines=[
            {"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "refurbish"},
            {"line_number": 2, "quantity": 1, "condition": "damaged", "disposition": "write_off"},
        ],
        actor=T,
    )
    assert full["status"] == "received"
    assert full["dispositions"] == {"restock": 1, "refurbish": 1, "write_off": 1}
    assert level(db, "A", "WH-EAST") == (before[0] + 1, before[1])  # refurbished: not back on hand
    led = table(LedgerEntry)
    with db.read() as conn:
        restocks = conn.execute(
            select(led.c.entry_type, led.c.on_hand_delta, led.c.reference).where(led.c.entry_type == "restock")
        ).all()
    assert [(r.on_hand_delta, r.reference) for r in restocks] == [(1, rma)]
    assert run_check(db).ok

    quote = rs.refund_quote(db, rid)
    # line 1: 2 x (20 - 2) = 36.00 item, tax 2.88; line 2: 50.00 item, tax 4.00; defective: shipping
    # 8.00 + 0.64 back, and no restocking fee (the default policy has none anyway)
    assert quote["components"] == {
        "items": Decimal("86.00"),
        "tax": Decimal("6.88"),
        "shipping": Decimal("8.64"),
        "restocking_fee": Decimal("0.00"),
        "cap": Decimal("0.00"),
    }
    assert quote["total"] == Decimal("101.52")
    assert [ln["total"] for ln in quote["lines"]] == [Decimal("38.88"), Decimal("54.00")]
    assert outbox_types(db) == [
        "return.requested",
        "return.approved",
        "return.label_issued",
        "return.received",
        "return.received",
    ]
    timeline = [e["event_type"] for e in rs.get_return(db, rid)["timeline"]]
    assert timeline == outbox_types(db)

    listed = rs.list_returns(db, status="open")
    assert [r["rma_number"] for r in listed["items"]] == [rma] and listed["items"][0]["units_received"] == 3
    assert rs.list_returns(db, q=rma)["items"][0]["id"] == rid
    assert rs.list_returns(db, q="ana@EXAMPLE")["items"][0]["id"] == rid
    assert rs.list_returns(db, status="cancelled")["items"] == []


def test_refusals_change_nothing(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    unshipped = orders.capture_order(
        db,
        orders.CaptureOrder(
            channel="web",
            currency="USD",
            external_order_id="R-2",
            lines=[orders.LineInput(sku="A", quantity=1, unit_price=Decimal("20"))],
            shipping_address=ADDRESS,
        ),
        T,
    ).order_id
    ok_line = {"line_number": 1, "quantity": 1, "reason": "wrong_size"}
    snapshot = everything(db)
    bad: list[tuple[int, dict[str, Any], str]] = [
        (oid, {"lines": [{**ok_line, "quantity": 4}]}, "lines[0].quantity"),
        (oid, {"lines": [{**ok_line, "line_number": 7}]}, "lines[0].line_number"),
        (oid, {"lines": [{**ok_line, "reason": "bored"}]}, "lines[0].reason"),
        (oid, {"lines": [{**ok_line, "condition": "soggy"}]}, "lines[0].condition"),
        (oid, {"lines": []}, "lines"),
        (oid, {"method": "pigeon"}, "method"),
        (oid, {"source": "psychic"}, "source"),
        (oid, {"method": "in_store", "location": None}, "location"),
        (oid, {"method": "in_store", "location": "WH-WEST"}, "location"),  # does not accept returns
        (oid, {"location": "NOPE"}, "location"),
        (unshipped, {}, "lines[0].line_number"),
        (oid, {"exchange": [{"sku": "ZZZ", "quantity": 1}]}, "exchange[0].sku"),
        (oid, {"exchange": [{"sku": "A", "quantity": 0}]}, "exchange[0].quantity"),
    ]
    for order_id, override, field in bad:
        kw: dict[str, Any] = {"lines": [ok_line], "method": "mail", "location": None, "source": "api", **override}
        with pytest.raises(DomainError) as exc:
            rs.request_return(db, order_id, actor=T, **kw)
        assert field in [e.field for e in exc.value.errors], (override, exc.value)
        assert everything(db) == snapshot, override
    with pytest.raises(DomainError) as exc:
        rs.request_return(db, 999999, lines=[ok_line], method="mail", location=None, source="api", actor=T)
    assert exc.value.code == ErrorCode.NOT_FOUND

    rid = rs.request_return(
        db, oid, lines=[{**ok_line, "quantity": 2}], method="mail", location=None, source="api", actor=T
    )["id"]
    snapshot = everything(db)
    for call in (
        lambda: rs.receive_return(
            db,
            rid,
            location="WH-EAST",
            lines=[{"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "restock"}],
            actor=T,
        ),
        lambda: rs.reject_return(db, rid, reason="  ", actor=T),
        lambda: rs.issue_return_refund(db, rid, actor=T, idempotency_key="k1"),
        lambda: rs.close_return(db, rid, actor=T, reason="x"),
    ):
        with pytest.raises(DomainError):
            call()
        assert everything(db) == snapshot
    rs.approve_return(db, rid, actor=T)
    snapshot = everything(db)
    for lines, field in [
        ([{"line_number": 1, "quantity": 3, "condition": "opened", "disposition": "restock"}], "lines[0].quantity"),
        ([{"line_number": 2, "quantity": 1, "condition": "opened", "disposition": "restock"}], "lines[0].line_number"),
        ([{"line_number": 1, "quantity": 1, "condition": "damaged", "disposition": "restock"}], "lines[0].disposition"),
        ([{"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "sell"}], "lines[0].disposition"),
        ([], "lines"),
    ]:
        with pytest.raises(DomainError) as exc:
            rs.receive_return(db, rid, location="WH-EAST", lines=lines, actor=T)
        assert field in [e.field for e in exc.value.errors]
        assert everything(db) == snapshot
    with pytest.raises(DomainError):
        rs.receive_return(
            db,
            rid,
            location="NOPE",
            lines=[{"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "restock"}],
            actor=T,
        )
    assert everything(db) == snapshot


def test_reject_and_cancel_free_the_units_and_in_store_returns_are_approved_at_the_counter(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    line = {"line_number": 1, "quantity": 3, "reason": "changed_mind"}
    r1 = rs.request_return(db, oid, lines=[line], method="mail", location=None, source="customer", actor=T)
    assert rs.check_eligibility(db, oid)["lines"][0]["returnable"] == 0
    rejected = rs.reject_return(db, r1["id"], reason="worn", actor=T)
    assert rejected["status"] == "rejected" and rejected["reason"] == "worn"
    assert rs.check_eligibility(db, oid)["lines"][0]["returnable"] == 3
    with pytest.raises(DomainError):
        rs.approve_return(db, r1["id"], actor=T)
    r2 = rs.request_return(db, oid, lines=[line], method="mail", location=None, source="api", actor=T)
    rs.approve_return(db, r2["id"], actor=T)
    assert rs.cancel_return(db, r2["id"], actor=T, reason="kept it")["status"] == "cancelled"
    assert rs.check_eligibility(db, oid)["lines"][0]["returnable"] == 3

    r3 = rs.request_return(
        db, oid, lines=[line], method="in_store", location="ST-NYC", source="customer_service", actor=T, approve=True
    )
    assert r3["status"] == "approved" and r3["location"] == "ST-NYC"
    with pytest.raises(DomainError):  # no label for a return brought to a store
        rs.return_label_pdf(db, r3["id"])
    before = level(db, "A", "ST-NYC") if _has_level(db, "A", "ST-NYC") else (0, 0)
    done = rs.receive_return(
        db,
        r3["id"],
        location="ST-NYC",
        lines=[{"line_number": 1, "quantity": 3, "condition": "unopened", "disposition": "restock"}],
        actor=T,
    )
    assert done["status"] == "received" and level(db, "A", "ST-NYC") == (before[0] + 3, before[1])
    assert run_check(db).ok


def _has_level(db: Database, sku: str, location: str) -> bool:
    try:
        level(db, sku, location)
    except Exception:
        return False
    return True


def test_policy_per_channel_and_product_window_and_final_sale(db: Database) -> None:
    setup_network(db)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    oid = shipped_order(db, shipped_at=long_ago)
    assert rs.check_eligibility(db, oid)["lines"][0]["returnable"] == 3  # 30 days by default
    rs.set_return_policy(
        db,
        None,
        window_days=45,
        restocking_fee_percent=Decimal("10"),
        refund_shipping="never",
        allowed_methods=["mail"],
        accepted_conditions=["unopened", "opened"],
        actor=T,
    )
    assert rs.get_return_policy(db, "web")["source"] == "default"
    set_ = rs.set_return_policy(
        db,
        "web",
        window_days=14,
        restocking_fee_percent=Decimal("15"),
        refund_shipping="full_return",
        allowed_methods=["mail", "in_store"],
        accepted_conditions=["unopened"],
        actor=T,
    )
    assert set_["source"] == "channel" and rs.get_return_policy(db, "web")["window_days"] == 14
    el = rs.check_eligibility(db, oid)
    assert el["lines"][0]["returnable"] == 0 and "14-day return window ended" in el["lines"][0]["reason"]
    p = table(Product)
    with db.begin() as conn:
        conn.execute(update(p).where(p.c.sku == "A").values(return_window_days=60))
        conn.execute(update(p).where(p.c.sku == "B").values(final_sale=True))
    el = rs.check_eligibility(db, oid)
    assert el["lines"][0]["returnable"] == 3
    assert el["lines"][1]["returnable"] == 0 and "final-sale" in el["lines"][1]["reason"]
    with pytest.raises(DomainError) as exc:
        rs.request_return(
            db,
            oid,
            lines=[{"line_number": 1, "quantity": 1, "reason": "other", "condition": "opened"}],
            method="mail",
            location=None,
            source="api",
            actor=T,
        )
    assert [e.field for e in exc.value.errors] == ["lines[0].condition"]
    rid = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 1, "reason": "other"}],
        method="mail",
        location=None,
        source="api",
        actor=T,
        approve=True,
    )["id"]
    rs.receive_return(
        db,
        rid,
        location="WH-EAST",
        lines=[{"line_number": 1, "quantity": 1, "condition": "unopened", "disposition": "restock"}],
        actor=T,
    )
    q = rs.refund_quote(db, rid)
    assert q["components"]["items"] == Decimal("18.00") and q["components"]["restocking_fee"] == Decimal("-2.70")
    with pytest.raises(DomainError) as exc:
        rs.set_return_policy(
            db,
            "nope",
            window_days=1,
            restocking_fee_percent=Decimal(0),
            refund_shipping="never",
            allowed_methods=["mail"],
            accepted_conditions=["opened"],
            actor=T,
        )
    assert exc.value.code == ErrorCode.UNKNOWN_CHANNEL


def test_idempotent_request(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    kw: dict[str, Any] = dict(
        lines=[{"line_number": 1, "quantity": 1, "reason": "other"}],
        method="mail",
        location=None,
        source="api",
        actor=T,
    )
    a = rs.request_return(db, oid, idempotency_key="k-1", request_hash="h", **kw)
    b = rs.request_return(db, oid, idempotency_key="k-1", request_hash="h", **kw)
    assert a["id"] == b["id"] and len(rs.list_returns(db)["items"]) == 1
    with pytest.raises(DomainError) as exc:
        rs.request_return(db, oid, idempotency_key="k-1", request_hash="other", **kw)
    assert exc.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED


# --- refunds through payments, and exchanges ---------------------------------------------------


def _received(db: Database, oid: int, lines: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    ret = rs.request_return(
        db, oid, lines=lines, method="mail", location=None, source="api", actor=T, approve=True, **kw
    )
    return rs.receive_return(
        db,
        ret["id"],
        location="WH-EAST",
        lines=[
            {
                "line_number": ln["line_number"],
                "quantity": ln["quantity"],
                "condition": "opened",
                "disposition": "restock",
            }
            for ln in lines
        ],
        actor=T,
    )


def test_refunds_go_back_through_payments_once_and_never_exceed_what_was_captured(db: Database) -> None:
    setup_network(db)
    # Amounts exact in binary: the payments CHECK compares sums of REALs on SQLite, where
    # 38.88 + 82.08 > 120.96 (reported to the payments engineer).
    oid = shipped_order(
        db, [("A", 3, "20.00", "6.00", "4.50"), ("B", 1, "50.00", "0", "4.00")], shipping_tax="0.50", pay="test_ok"
    )
    money = payments.list_payments(db, oid)
    assert money["captured"] == Decimal("121.00")  # 54 + 4.50 + 50 + 4 + 8 + 0.50
    first = _received(db, oid, [{"line_number": 1, "quantity": 2, "reason": "changed_mind"}])
    assert first["quote"]["total"] == Decimal("39.00")
    done = rs.issue_return_refund(db, first["id"], actor=T, idempotency_key="r1")
    assert done["status"] == "refunded" and done["refund_amount"] == Decimal("39.00") and done["refund_id"]
    assert payments.get_refund(db, int(done["refund_id"]))["status"] == "succeeded"
    again = rs.issue_return_refund(db, first["id"], actor=T, idempotency_key="r2")  # another key: still once
    assert again["refund_id"] == done["refund_id"]
    assert payments.list_payments(db, oid)["refunded"] == Decimal("39.00")
    assert len(payments.list_payments(db, oid)["refunds"]) == 1

    # the rest comes back (line 2 defective): the whole order is back, shipping is refunded
    second = _received(
        db,
        oid,
        [
            {"line_number": 1, "quantity": 1, "reason": "changed_mind"},
            {"line_number": 2, "quantity": 1, "reason": "defective"},
        ],
    )
    q = rs.refund_quote(db, second["id"])
    assert q["components"]["shipping"] == Decimal("8.50") and q["total"] == Decimal("82.00")
    rs.issue_return_refund(db, second["id"], actor=T, idempotency_key="r3")
    money = payments.list_payments(db, oid)
    assert money["refunded"] == money["captured"] == Decimal("121.00") and money["refundable"] == 0
    assert [e for e in outbox_types(db) if e == "return.refunded"] == ["return.refunded"] * 2
    assert run_check(db).ok
    with pytest.raises(DomainError):  # nothing left to return
        rs.request_return(
            db, oid, lines=[{"line_number": 1, "quantity": 1}], method="mail", location=None, source="api", actor=T
        )


def test_a_refused_refund_leaves_the_return_received(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db, pay="test_refund_fails")
    ret = _received(db, oid, [{"line_number": 1, "quantity": 1, "reason": "wrong_size"}])
    with pytest.raises(DomainError) as exc:
        rs.issue_return_refund(db, ret["id"], actor=T, idempotency_key="r1")
    assert exc.value.code == ErrorCode.ILLEGAL_TRANSITION and "refused" in exc.value.message
    after = rs.get_return(db, ret["id"])
    assert after["status"] == "received" and after["refund_amount"] is None
    assert after["timeline"][-1]["event_type"] == "return.refund_failed"
    assert after["quote"]["total"] == Decimal("19.44")


def test_exchange_for_a_cheaper_item_refunds_the_difference_when_received(db: Database) -> None:
    setup_network(db)
    p = table(Product)
    with db.begin() as conn:
        conn.execute(update(p).where(p.c.sku == "B").values(list_price=Decimal("10.00")))
    oid = shipped_order(db, [("A", 3, "20.00", "6.00", "4.32")], pay="test_ok")
    ret = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 1, "reason": "wrong_size"}],
        method="mail",
        location=None,
        source="customer_service",
        actor=T,
        exchange=[{"sku": "B", "quantity": 1}],
        idempotency_key="ex-1",
        request_hash="h",
    )
    ex = ret["exchange"]
    # credit 18.00 + 1.44 tax; replacement 10.00 + 0.80 tax (the returned units' 8% rate)
    assert ex["grand_total"] == Decimal("10.80") and ret["exchange_difference"] == Decimal("-8.64")
    replacement = orders.get_order(db, ex["order_id"])
    assert replacement["status"] == "allocated" and replacement["external_order_id"] == f"{ret['rma_number']}-X"
    assert replacement["shipping_address"] == ADDRESS and replacement["customer"]["email"] == "ana@example.com"
    assert "return.exchange_created" in [e["event_type"] for e in replacement["timeline"]]
    assert "return.exchange_created" in [e["event_type"] for e in orders.get_order(db, oid)["timeline"]]
    again = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 1, "reason": "wrong_size"}],
        method="mail",
        location=None,
        source="customer_service",
        actor=T,
        exchange=[{"sku": "B", "quantity": 1}],
        idempotency_key="ex-1",
        request_hash="h",
    )
    assert again["id"] == ret["id"] and again["exchange_order_id"] == ex["order_id"]
    assert rs.list_returns(db, q=ex["order_number"])["items"][0]["id"] == ret["id"]
    rs.approve_return(db, ret["id"], actor=T)
    rs.receive_return(
        db,
        ret["id"],
        location="WH-EAST",
        lines=[{"line_number": 1, "quantity": 1, "condition": "unopened", "disposition": "restock"}],
        actor=T,
    )
    q = rs.refund_quote(db, ret["id"])
    assert q["total"] == Decimal("19.44") and q["refund_due"] == Decimal("8.64")
    done = rs.issue_return_refund(db, ret["id"], actor=T, idempotency_key="x")
    assert done["refund_amount"] == Decimal("8.64")
    assert payments.get_refund(db, int(done["refund_id"]))["kind"] == "exchange"
    assert run_check(db).ok


def test_exchange_for_a_dearer_item_collects_the_difference_at_once(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db, [("A", 3, "20.00", "6.00", "4.32")], pay="test_ok")
    captured = payments.list_payments(db, oid)["captured"]
    ret = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 1, "reason": "wrong_size"}],
        method="mail",
        location=None,
        source="api",
        actor=T,
        exchange=[{"sku": "A", "quantity": 2}],  # two of the same at the price paid: 2 x 19.44
    )
    assert ret["exchange_difference"] == Decimal("19.44")
    assert payments.list_payments(db, oid)["captured"] == captured + Decimal("19.44")
    rs.approve_return(db, ret["id"], actor=T)
    rs.receive_return(
        db,
        ret["id"],
        location="WH-EAST",
        lines=[{"line_number": 1, "quantity": 1, "condition": "opened", "disposition": "refurbish"}],
        actor=T,
    )
    assert rs.refund_quote(db, ret["id"])["refund_due"] == Decimal("0.00")
    done = rs.issue_return_refund(db, ret["id"], actor=T, idempotency_key="x")
    assert done["status"] == "refunded" and done["refund_amount"] == Decimal("0.00") and done["refund_id"] is None
    assert payments.list_payments(db, oid)["refunded"] == Decimal("0.00")


def test_an_exchange_that_cannot_be_reserved_changes_nothing(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    snapshot = everything(db)
    with pytest.raises(DomainError) as exc:
        rs.request_return(
            db,
            oid,
            lines=[{"line_number": 1, "quantity": 1, "reason": "wrong_size"}],
            method="mail",
            location=None,
            source="api",
            actor=T,
            exchange=[{"sku": "A", "quantity": 500}],
        )
    assert exc.value.code == ErrorCode.INSUFFICIENT_STOCK
    assert everything(db) == snapshot


def test_rejecting_an_exchange_cancels_its_unshipped_replacement(db: Database) -> None:
    setup_network(db)
    oid = shipped_order(db)
    before = level(db, "A", "WH-EAST")
    ret = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 1, "reason": "wrong_size"}],
        method="mail",
        location=None,
        source="api",
        actor=T,
        exchange=[{"sku": "A", "quantity": 1}],
    )
    assert level(db, "A", "WH-EAST") == (before[0], before[1] + 1)  # the replacement is reserved
    rs.reject_return(db, ret["id"], reason="outside the policy", actor=T)
    replacement = orders.get_order(db, ret["exchange_order_id"])
    assert replacement["status"] == "cancelled"
    assert level(db, "A", "WH-EAST") == before
    assert run_check(db).ok
