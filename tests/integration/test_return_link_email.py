"""The shipped e-mail carries the customer's return link (English and German), and the link it
carries opens that order and no other."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from openoms.adapters.db.engine import Database
from openoms.services import return_links
from openoms.services.return_links import LinkRefusal, ReturnLinkRefused
from openoms.worker import Worker
from tests.integration.test_notifications import Inbox, _place, _ship, inbox, seed, settings_for

__all__ = ["inbox"]  # the fixture, imported for pytest


def test_the_shipped_email_links_to_the_return_page_in_the_customers_language(
    api: TestClient, db: Database, inbox: Inbox
) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    en = _place(api, "RL-1")
    de = _place(api, "RL-2", language="de")
    _ship(api, en, "UPS", "1Z1")
    _ship(api, de, "UPS", "1Z2")
    settings = settings_for(db, inbox, public_base_url="https://shop.example/", secret_key="return-test")
    Worker(db, settings).run_once()
    shipped = {m["Subject"]: m for m in inbox.messages if "versandt" in m["Subject"] or "shipped" in m["Subject"]}
    assert len(shipped) == 2

    en_msg = shipped[f"Your order {en['order_number']} has shipped"]
    text = inbox.text(en_msg)
    match = re.search(r"Return an item: (https://shop\.example/r/(\S+))", text)
    assert match, text
    url, token = match.group(1), match.group(2)
    assert f'<a href="{url}"' in inbox.html(en_msg) and ">Return an item</a>" in inbox.html(en_msg)
    now = dt.datetime.now(dt.UTC)
    link = return_links.verify_link(db, settings, token, now=now)
    assert link.order_id == en["id"]
    assert link.expires_on == now.date() + dt.timedelta(days=settings.return_link_days)

    de_msg = shipped[f"Ihre Bestellung {de['order_number']} wurde versandt"]
    de_match = re.search(r"Artikel zurücksenden: https://shop\.example/r/(\S+)", inbox.text(de_msg))
    assert de_match and ">Artikel zurücksenden</a>" in inbox.html(de_msg)
    assert return_links.verify_link(db, settings, de_match.group(1), now=now).order_id == de["id"]

    # Another installation's key, or the link past its last day, is refused.
    other = settings.model_copy(update={"secret_key": "another-install"})
    for s, when, reason in (
        (other, now, LinkRefusal.TAMPERED),
        (settings, now + dt.timedelta(days=settings.return_link_days + 1), LinkRefusal.EXPIRED),
    ):
        try:
            return_links.verify_link(db, s, token, now=when)
        except ReturnLinkRefused as exc:
            assert exc.reason is reason
        else:
            raise AssertionError("refused link accepted")


def test_only_the_shipped_email_carries_the_link(api: TestClient, db: Database, inbox: Inbox) -> None:
    seed(db, {("A", "WH-EAST"): 10})
    order = _place(api, "RL-3")
    settings = settings_for(db, inbox, public_base_url="https://shop.example", secret_key="return-test")
    Worker(db, settings).run_once()
    [confirmation] = inbox.messages
    assert "/r/" not in inbox.text(confirmation) and "/r/" not in inbox.html(confirmation)
    _ship(api, order, "UPS", "1Z3")
    Worker(db, settings).run_once()
    assert "https://shop.example/r/" in inbox.text(inbox.messages[-1])
