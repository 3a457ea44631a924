"""The return pages over HTTP: who may do what (the warehouse receives but never refunds or
creates; finance and customer service cannot receive), bad input refused beside its field with
nothing changed, and the customer's link: tampered, expired, cut-off or foreign links refused and
nothing created; a good one creates exactly one approved return, even when sent twice."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.domain.access import Role
from openoms.services import return_links
from openoms.services import returns as rs
from openoms.services.common import utcnow
from openoms.web.routes.returns_pages import REFUND_PERMISSION
from tests.e2e.test_web_fulfilment import Person, text
from tests.integration.test_returns import T, everything, level, setup_network, shipped_order


@pytest.fixture
def shop(app_client: TestClient, db: Database) -> dict[str, Any]:
    setup_network(db)
    people = {role: Person(app_client, db, role) for role in Role}
    return {"db": db, "people": people, "client": app_client, "settings": app_client.app.state.settings}  # type: ignore[attr-defined]


def request_form(**extra: str) -> dict[str, str]:
    return {"qty_1": "1", "reason_1": "wrong_size", "condition_1": "unopened", "method": "mail", **extra}


def test_who_may_do_what(shop: dict[str, Any]) -> None:
    db, people = shop["db"], shop["people"]
    oid = shipped_order(db)
    cs, wh, fin = people[Role.CUSTOMER_SERVICE], people[Role.WAREHOUSE], people[Role.FINANCE]

    # Only those who manage returns see the action and the form.
    assert 'id="start-return"' in text(cs.get(f"/orders/{oid}"))
    assert 'id="start-return"' not in text(wh.get(f"/orders/{oid}"))
    for person in (wh, fin):
        assert person.get(f"/orders/{oid}/returns/new").status_code == 403
        before = everything(db)
        assert person.post(f"/orders/{oid}/returns", request_form(approve="1")).status_code == 403
        assert everything(db) == before

    page = cs.follow(cs.post(f"/orders/{oid}/returns", request_form(approve="1")))
    rma = re.search(r"Return (RMA-\d{7}) created", page)
    assert rma, page
    rid = int(rma.group(1)[4:])
    assert "Receive and inspect" not in page  # customer service does not receive

    # The warehouse sees the queue and receives; customer service and finance cannot receive.
    assert rma.group(1) in text(wh.get("/returns"))
    for person in (cs, fin):
        before = everything(db)
        r = person.post(
            f"/returns/{rid}/receive",
            {"qty_1": "1", "condition_1": "unopened", "disposition_1": "restock", "location": "WH-EAST"},
        )
        assert r.status_code == 403 and everything(db) == before
    page = wh.follow(
        wh.post(
            f"/returns/{rid}/receive",
            {"qty_1": "1", "condition_1": "unopened", "disposition_1": "restock", "location": "WH-EAST"},
        )
    )
    assert "Received 1 unit at WH-EAST; 1 back in stock" in page
    assert "Refund quote" in page and "Issue refund" not in page  # the warehouse never refunds

    before = everything(db)
    assert wh.post(f"/returns/{rid}/refund", {"idempotency_key": "a" * 32}).status_code == 403
    assert everything(db) == before
    refunders = [role for role in Role if people[role].user.can(REFUND_PERMISSION)]
    assert Role.WAREHOUSE not in refunders and Role.ADMIN in refunders

    # Nobody signed in: sent to sign in.
    client = shop["client"]
    client.cookies.clear()
    r = client.get("/returns", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_bad_input_is_refused_beside_its_field_and_changes_nothing(shop: dict[str, Any]) -> None:
    db, cs, wh = shop["db"], shop["people"][Role.CUSTOMER_SERVICE], shop["people"][Role.WAREHOUSE]
    oid = shipped_order(db)
    page = text(cs.get(f"/orders/{oid}/returns/new"))
    assert "Items to return" in page and "A" in page

    before = everything(db)
    cases = [
        ({"method": "mail"}, "Choose at least one item"),
        (request_form(qty_1="4"), "At most 3"),
        (request_form(qty_1="x"), "Enter a whole number of units"),
        (request_form(reason_1=""), "Choose a reason"),
        (request_form(method="in_store"), "Choose the store"),
        (request_form(method="in_store", location="NOPE"), ""),
        (request_form(exchange_sku_0="NO-SUCH-SKU", exchange_qty_0="1"), ""),
        (request_form(note="x" * 501), "At most 500 characters"),
    ]
    for form, message in cases:
        r = cs.post(f"/orders/{oid}/returns", form)
        assert r.status_code in (404, 409, 422), (form, r.status_code)
        assert "Nothing was created" in text(r) or r.status_code == 404, form
        if message:
            assert message in text(r), (form, text(r)[-1500:])
        assert everything(db) == before, form

    ret = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 1, "quantity": 2, "reason": "wrong_size"}],
        method="mail",
        location=None,
        source="customer_service",
        actor=T,
        approve=True,
    )
    rid = int(ret["id"])
    before, stock = everything(db), level(db, "A", "WH-EAST")
    receipts = [
        ({"qty_1": "3", "condition_1": "unopened", "disposition_1": "restock", "location": "WH-EAST"}, "At most 2"),
        (
            {"qty_1": "1", "condition_1": "damaged", "disposition_1": "restock", "location": "WH-EAST"},
            "cannot be restocked",
        ),
        (
            {"qty_1": "1", "condition_1": "unopened", "disposition_1": "burn", "location": "WH-EAST"},
            "Choose what happens to it",
        ),
        (
            {"qty_1": "1", "condition_1": "unopened", "disposition_1": "restock", "location": ""},
            "Choose where the items are",
        ),
        (
            {"qty_1": "0", "condition_1": "unopened", "disposition_1": "restock", "location": "WH-EAST"},
            "at least one line",
        ),
    ]
    for form, message in receipts:
        r = wh.post(f"/returns/{rid}/receive", form)
        assert r.status_code in (404, 409, 422), form
        assert message in text(r), (form, text(r)[-1500:])
        assert everything(db) == before and level(db, "A", "WH-EAST") == stock, form

    admin = shop["people"][Role.ADMIN]
    waiting = rs.request_return(
        db,
        oid,
        lines=[{"line_number": 2, "quantity": 1, "reason": "defective"}],
        method="mail",
        location=None,
        source="customer_service",
        actor=T,
    )
    before = everything(db)
    r = admin.post(f"/returns/{waiting['id']}/reject", {"reason": ""})
    assert r.status_code == 422 and "Say why the return is rejected" in text(r)
    assert everything(db) == before
    page = admin.follow(admin.post(f"/returns/{waiting['id']}/reject", {"reason": "outside the window"}))
    assert "rejected" in page and "outside the window" in page
    before = everything(db)
    r = admin.post(f"/returns/{rid}/refund", {"idempotency_key": "not-a-key"})
    assert r.status_code == 422 and everything(db) == before
    assert admin.get("/returns/99999999").status_code == 404
    assert admin.get(f"/returns/{2**64}").status_code == 404
    assert admin.get("/returns?status=bogus&cursor=zzz").status_code == 200


def _token(shop: dict[str, Any], order_id: int, *, days: int = 30, email: str = "ana@example.com") -> str:
    key = return_links.link_key(shop["settings"])
    return return_links.make_token(key, order_id, email, utcnow().date() + dt.timedelta(days=days))


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_customer_link_refuses_edited_expired_and_foreign_links_and_creates_one_return(
    shop: dict[str, Any],
) -> None:
    db, client = shop["db"], shop["client"]
    oid = shipped_order(db)
    other = shipped_order(db, ext="R-2")
    client.cookies.clear()
    token = _token(shop, oid)

    page = client.get(f"/r/{token}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    body = text(page)
    assert "Return items from order" in body and 'nav class="sidebar"' not in body and "Tee" in body
    csrf = _csrf(body)
    form = {"csrf_token": csrf, "idempotency_key": "c" * 32, **request_form()}

    before = everything(db)
    order_part, expiry, signature = token.split(".")
    foreign = _token(shop, other).split(".")[0]
    refused = {
        f"{order_part}.{expiry}.{signature[:-1]}{'B' if signature[-1] != 'B' else 'C'}": 403,
        f"{foreign}.{expiry}.{signature}": 403,
        _token(shop, oid, email="mallory@example.com"): 403,
        _token(shop, oid, days=-1): 410,
        token[:12]: 400,
        "not-a-token": 400,
    }
    for bad, status in refused.items():
        assert client.get(f"/r/{bad}").status_code == status, bad
        r = client.post(f"/r/{bad}", data=form)
        assert r.status_code == status, bad
        assert everything(db) == before, bad
    assert "expired" in text(client.get(f"/r/{_token(shop, oid, days=-1)}"))

    # No CSRF token, a wrong one, or bad fields: the page again, nothing created.
    for data, status in (
        ({k: v for k, v in form.items() if k != "csrf_token"}, 403),
        ({**form, "csrf_token": "forged"}, 403),
        ({**form, "reason_1": ""}, 422),
        ({**form, "method": "in_store"}, 422),
        ({**form, "method": "in_store", "location": "WH-EAST"}, 422),  # not a store
        ({**form, "qty_1": "9"}, 422),
    ):
        r = client.post(f"/r/{token}", data=data, follow_redirects=False)
        assert r.status_code == status, data
        assert everything(db) == before, data

    r = client.post(f"/r/{token}", data=form, follow_redirects=False)
    assert r.status_code == 303, text(r)[-1500:]
    again = client.post(f"/r/{token}", data=form, follow_redirects=False)  # a double click
    assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
    done = text(client.get(r.headers["location"]))
    assert "Your return is confirmed" in done and "Download return label (PDF)" in done
    rid = int(re.search(r"/returns/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
    ret = rs.get_return(db, rid)
    assert (ret["source"], ret["status"], ret["method"]) == ("customer", "approved", "mail")
    assert rs.list_returns(db, order_id=oid)["items"] == [rs.list_returns(db, order_id=oid)["items"][0]]

    label = client.get(f"/r/{token}/returns/{rid}/label.pdf")
    assert label.status_code == 200 and label.content.startswith(b"%PDF")
    # The link of another order cannot see or print this return.
    other_token = _token(shop, other)
    assert client.get(f"/r/{other_token}/returns/{rid}").status_code == 404
    assert client.get(f"/r/{other_token}/returns/{rid}/label.pdf").status_code == 404
