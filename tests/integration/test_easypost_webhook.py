"""EasyPost's own ``X-Hmac-Signature`` on the tracking webhook, on SQLite and PostgreSQL: the
real EasyPost sample signed as EasyPost signs it is recorded; a missing, bad or wrong-secret
signature, or a body changed after signing, is a 401 that stores nothing; a relay's
OpenOMS-Signature still works beside it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openoms.adapters.carriers.tracking_inbound import easypost_signature, sign_webhook
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import TrackingEventRecord
from openoms.api.app import create_app
from openoms.config import Settings
from openoms.services import apikeys
from tests.integration.test_tracking_flow import SAMPLE, _count, _ship

EASYPOST_SECRET = "s\u00e9cret-easypost"  # a non-ASCII secret: the NFKD normalisation matters
OPENOMS_SECRET = "whsec_relay"
URL = "/api/v1/tracking/webhook?format=easypost"


def _client(db: Database, **settings: str) -> TestClient:
    return TestClient(create_app(Settings(database_url=db.url, **settings), db))


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with _client(
        db, easypost_webhook_secrets=f"old-one, {EASYPOST_SECRET}", tracking_webhook_secrets=OPENOMS_SECRET
    ) as c:
        _, key = apikeys.create_api_key(db, "tests", ["*"])
        c.headers["Authorization"] = f"Bearer {key}"
        yield c


def test_the_easypost_sample_signed_by_easypost_is_recorded(client: TestClient, db: Database) -> None:
    raw = SAMPLE.read_bytes()
    number = json.loads(raw)["result"]["tracking_code"]
    _, shipment = _ship(client, db, [number], ext="EP-1", carrier="FedEx")
    r = client.post(
        URL,
        content=raw,
        headers={"Content-Type": "application/json", "X-Hmac-Signature": easypost_signature(raw, EASYPOST_SECRET)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 7 and r.json()["packages"][0]["shipment_id"] == shipment["id"]
    # EasyPost signs no time: the same delivery again changes nothing (every detail is a duplicate)
    again = client.post(
        URL,
        content=raw,
        headers={"Content-Type": "application/json", "X-Hmac-Signature": easypost_signature(raw, EASYPOST_SECRET)},
    )
    assert again.status_code == 200 and again.json()["duplicates"] == 7 and _count(db, TrackingEventRecord) == 7


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_header"),
        ("hmac-sha256-hex=abc", "malformed_header"),
        ("WRONG-SECRET", "mismatch"),
        ("TAMPERED", "mismatch"),
        ("NOT-NFKD", "mismatch"),
    ],
)
def test_bad_easypost_signatures_are_refused_and_store_nothing(
    client: TestClient, db: Database, header: str | None, reason: str
) -> None:
    raw = SAMPLE.read_bytes()
    number = json.loads(raw)["result"]["tracking_code"]
    _ship(client, db, [number], ext="EP-2", carrier="FedEx")
    body = raw
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if header == "WRONG-SECRET":
        headers["X-Hmac-Signature"] = easypost_signature(raw, "not-our-secret")
    elif header == "TAMPERED":
        headers["X-Hmac-Signature"] = easypost_signature(raw, EASYPOST_SECRET)
        body = raw.replace(b'"in_transit"', b'"delivered"', 1)
        assert body != raw
    elif header == "NOT-NFKD":  # keyed with the secret's composed UTF-8 bytes, not NFKD
        import hashlib
        import hmac

        digest = hmac.new(EASYPOST_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers["X-Hmac-Signature"] = f"hmac-sha256-hex={digest}"
    elif header is not None:
        headers["X-Hmac-Signature"] = header
    r = client.post(URL, content=body, headers=headers)
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert error["reason"] == reason and error["errors"][0]["field"] == "X-Hmac-Signature"
    assert _count(db, TrackingEventRecord) == 0


def test_a_relay_signature_still_works_and_is_preferred(client: TestClient, db: Database) -> None:
    raw = SAMPLE.read_bytes()
    number = json.loads(raw)["result"]["tracking_code"]
    _ship(client, db, [number], ext="EP-3", carrier="FedEx")
    relay = sign_webhook(raw, OPENOMS_SECRET, int(time.time()))
    # both headers: the OpenOMS one (with its timestamp) is the one checked
    bad_easypost = {"X-Hmac-Signature": "hmac-sha256-hex=" + "0" * 64, "OpenOMS-Signature": relay}
    r = client.post(URL, content=raw, headers={"Content-Type": "application/json", **bad_easypost})
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 7


def test_the_easypost_header_is_only_for_easypost_events(client: TestClient) -> None:
    body = b'{"events": []}'
    r = client.post(
        "/api/v1/tracking/webhook",
        content=body,
        headers={"Content-Type": "application/json", "X-Hmac-Signature": easypost_signature(body, EASYPOST_SECRET)},
    )
    assert r.status_code == 401 and r.json()["error"]["errors"][0]["field"] == "OpenOMS-Signature"


def test_without_an_easypost_secret_the_header_is_not_configured(db: Database) -> None:
    raw = SAMPLE.read_bytes()
    with _client(db, tracking_webhook_secrets=OPENOMS_SECRET) as c:
        signed = {"Content-Type": "application/json", "X-Hmac-Signature": easypost_signature(raw, EASYPOST_SECRET)}
        r = c.post(URL, content=raw, headers=signed)
    assert r.status_code == 401
    assert (
        r.json()["error"]["reason"] == "not_configured"
        and "OPENOMS_EASYPOST_WEBHOOK_SECRETS" in r.json()["error"]["message"]
    )
    with _client(db, easypost_webhook_secrets=EASYPOST_SECRET) as c:  # only EasyPost's secret set
        r = c.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["errors"][0] == {
        "field": "X-Hmac-Signature",
        "reason": "missing_header",
    }
