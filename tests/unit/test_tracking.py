"""Carrier tracking: the rules that turn events into a shipment's status (out of order, twice,
exceptions), promise accuracy in the destination's local date, the webhook signature, and the
parsers for the OpenOMS JSON format, EasyPost's real ``tracker.updated`` sample and CSV uploads.

The hypothesis tests state the status rule a second way (any returned_to_sender wins, then any
delivered, then the latest event) and check it against the fold for every order of arrival.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openoms.adapters.carriers.tracking_inbound import (
    CSV_COLUMNS,
    EASYPOST_STATUS,
    MAX_SIGNATURES,
    SIGNATURE_TOLERANCE_SECONDS,
    SignatureError,
    SignatureFailure,
    TrackingCsvError,
    TrackingPayloadError,
    easypost_location,
    parse_easypost_event,
    parse_openoms_tracking,
    parse_status,
    parse_timestamp,
    parse_tracking_csv,
    sign_webhook,
    verify_webhook_signature,
    webhook_signature,
)
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.tracking import (
    PromiseOutcome,
    ShipmentTracking,
    TrackingEffect,
    TrackingEvent,
    TrackingSource,
    TrackingStatus,
    next_shipment_status,
    promise_accuracy,
    replay_tracking,
)

S = TrackingStatus
UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
EASYPOST_SAMPLE = ROOT.parent / "shared" / "samples" / "easypost_tracker_updated_event.json"
DOCS = ROOT / "docs" / "tracking.md"
TN = "1Z999AA10123456784"


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


T0 = utc(2024, 8, 1, 12)


def ev(status: TrackingStatus, hours: float, external_id: str | None = None, description: str = "") -> TrackingEvent:
    return TrackingEvent(
        TN, "UPS", status, T0 + dt.timedelta(hours=hours), description=description, external_id=external_id
    )


# --------------------------------------------------------------------------- TrackingEvent


def test_event_is_stored_in_utc_and_trimmed() -> None:
    at = dt.datetime(2024, 8, 2, 15, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    e = TrackingEvent(f"  {TN} ", " UPS ", S.DELIVERED, at)
    assert e.occurred_at == utc(2024, 8, 2, 19, 4, 5)
    assert e.occurred_at.tzinfo is UTC
    assert (e.tracking_number, e.carrier, e.source, e.external_id) == (TN, "UPS", TrackingSource.API, None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"occurred_at": dt.datetime(2024, 8, 1, 12)}, "occurred_at"),
        ({"tracking_number": "  "}, "tracking_number"),
        ({"tracking_number": "X" * 65}, "tracking_number"),
        ({"carrier": ""}, "carrier"),
        ({"description": "d" * 2001}, "description"),
        ({"location": "l" * 501}, "location"),
        ({"carrier_status_code": "c" * 201}, "carrier_status_code"),
        ({"external_id": ""}, "external_id"),
        ({"status": "delivered"}, "status"),
    ],
)
def test_event_refuses_bad_fields(kwargs: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"tracking_number": TN, "carrier": "UPS", "status": S.IN_TRANSIT, "occurred_at": T0}
    with pytest.raises(DomainError) as info:
        TrackingEvent(**(base | kwargs))
    assert [e.field for e in info.value.errors] == [field]
    assert info.value.code is ErrorCode.VALIDATION_ERROR


# --------------------------------------------------------------------------- status rules

# (events in arrival order as (status, hours after T0[, external id]), final status,
#  delivered at (hours) or None, open exception at (hours) or None)
SEQUENCES: list[tuple[str, list[tuple[Any, ...]], TrackingStatus | None, float | None, float | None]] = [
    ("nothing yet", [], None, None, None),
    ("only unknown", [(S.UNKNOWN, 1)], None, None, None),
    (
        "happy path",
        [(S.PRE_TRANSIT, 0), (S.IN_TRANSIT, 1), (S.OUT_FOR_DELIVERY, 2), (S.DELIVERED, 3)],
        S.DELIVERED,
        3,
        None,
    ),
    (
        "reversed arrival",
        [(S.DELIVERED, 3), (S.OUT_FOR_DELIVERY, 2), (S.IN_TRANSIT, 1), (S.PRE_TRANSIT, 0)],
        S.DELIVERED,
        3,
        None,
    ),
    (
        "older event arrives late",
        [(S.IN_TRANSIT, 1), (S.OUT_FOR_DELIVERY, 3), (S.PRE_TRANSIT, 0)],
        S.OUT_FOR_DELIVERY,
        None,
        None,
    ),
    ("scan after delivery ignored", [(S.DELIVERED, 3), (S.IN_TRANSIT, 4)], S.DELIVERED, 3, None),
    ("late-reported delivery still wins", [(S.IN_TRANSIT, 4), (S.DELIVERED, 3)], S.DELIVERED, 3, None),
    ("first delivery counts", [(S.DELIVERED, 5), (S.DELIVERED, 3)], S.DELIVERED, 3, None),
    ("returned after delivery", [(S.DELIVERED, 3), (S.RETURNED_TO_SENDER, 9)], S.RETURNED_TO_SENDER, None, None),
    (
        "return is final",
        [(S.RETURNED_TO_SENDER, 3), (S.IN_TRANSIT, 4), (S.DELIVERED, 5)],
        S.RETURNED_TO_SENDER,
        None,
        None,
    ),
    ("exception open", [(S.IN_TRANSIT, 1), (S.EXCEPTION, 2)], S.EXCEPTION, None, 2),
    (
        "exception cleared",
        [(S.IN_TRANSIT, 1), (S.EXCEPTION, 2), (S.OUT_FOR_DELIVERY, 3)],
        S.OUT_FOR_DELIVERY,
        None,
        None,
    ),
    ("unknown does not clear", [(S.EXCEPTION, 2), (S.UNKNOWN, 3)], S.EXCEPTION, None, 2),
    (
        "old exception arrives late",
        [(S.IN_TRANSIT, 1), (S.OUT_FOR_DELIVERY, 3), (S.EXCEPTION, 2)],
        S.OUT_FOR_DELIVERY,
        None,
        None,
    ),
    ("exception after delivery flags", [(S.DELIVERED, 3), (S.EXCEPTION, 4)], S.DELIVERED, 3, 4),
    ("delivery clears exception", [(S.EXCEPTION, 2), (S.DELIVERED, 3)], S.DELIVERED, 3, None),
    ("cancelled then moving", [(S.PRE_TRANSIT, 0), (S.CANCELLED, 1), (S.IN_TRANSIT, 2)], S.IN_TRANSIT, None, None),
    ("cancelled", [(S.PRE_TRANSIT, 0), (S.CANCELLED, 1)], S.CANCELLED, None, None),
    ("pickup point", [(S.IN_TRANSIT, 0), (S.AVAILABLE_FOR_PICKUP, 1)], S.AVAILABLE_FOR_PICKUP, None, None),
    ("same instant: further along wins", [(S.DELIVERED, 2), (S.OUT_FOR_DELIVERY, 2)], S.DELIVERED, 2, None),
    ("same instant: exception before delivered", [(S.DELIVERED, 2), (S.EXCEPTION, 2)], S.DELIVERED, 2, None),
    ("same instant: in transit beats cancelled", [(S.IN_TRANSIT, 1), (S.CANCELLED, 1)], S.IN_TRANSIT, None, None),
]


@pytest.mark.parametrize(
    ("name", "arrivals", "status", "delivered", "exception"), SEQUENCES, ids=[s[0] for s in SEQUENCES]
)
def test_status_after_sequence(
    name: str,
    arrivals: list[tuple[Any, ...]],
    status: TrackingStatus | None,
    delivered: float | None,
    exception: float | None,
) -> None:
    tracking = replay_tracking(TN, [ev(*a) for a in arrivals])
    assert tracking.status is status
    assert tracking.delivered_at == (None if delivered is None else T0 + dt.timedelta(hours=delivered))
    if exception is None:
        assert tracking.open_exception is None and not tracking.needs_attention
    else:
        assert tracking.open_exception is not None and tracking.needs_attention
        assert tracking.open_exception.occurred_at == T0 + dt.timedelta(hours=exception)
    assert [e.occurred_at for e in tracking.events] == sorted(e.occurred_at for e in tracking.events)


# (state built from these, then this event arrives) -> effect, previous, new status, raised, cleared
UPDATES: list[tuple[str, list[tuple[Any, ...]], tuple[Any, ...], TrackingEffect, TrackingStatus | None, bool, bool]] = [
    ("first event", [], (S.IN_TRANSIT, 1), TrackingEffect.STATUS_CHANGED, S.IN_TRANSIT, False, False),
    ("same status again", [(S.IN_TRANSIT, 1)], (S.IN_TRANSIT, 2), TrackingEffect.RECORDED, S.IN_TRANSIT, False, False),
    (
        "older event",
        [(S.OUT_FOR_DELIVERY, 3)],
        (S.IN_TRANSIT, 1),
        TrackingEffect.RECORDED,
        S.OUT_FOR_DELIVERY,
        False,
        False,
    ),
    ("after delivery", [(S.DELIVERED, 3)], (S.IN_TRANSIT, 4), TrackingEffect.RECORDED, S.DELIVERED, False, False),
    ("unknown", [(S.IN_TRANSIT, 1)], (S.UNKNOWN, 2), TrackingEffect.RECORDED, S.IN_TRANSIT, False, False),
    (
        "exception raised",
        [(S.IN_TRANSIT, 1)],
        (S.EXCEPTION, 2),
        TrackingEffect.STATUS_CHANGED,
        S.EXCEPTION,
        True,
        False,
    ),
    (
        "exception cleared",
        [(S.EXCEPTION, 2)],
        (S.OUT_FOR_DELIVERY, 3),
        TrackingEffect.STATUS_CHANGED,
        S.OUT_FOR_DELIVERY,
        False,
        True,
    ),
    (
        "second exception stays raised",
        [(S.EXCEPTION, 2)],
        (S.EXCEPTION, 3),
        TrackingEffect.RECORDED,
        S.EXCEPTION,
        False,
        False,
    ),
    (
        "stale exception",
        [(S.EXCEPTION, 1), (S.IN_TRANSIT, 3)],
        (S.EXCEPTION, 2),
        TrackingEffect.RECORDED,
        S.IN_TRANSIT,
        False,
        False,
    ),
    (
        "late delivery report",
        [(S.IN_TRANSIT, 4)],
        (S.DELIVERED, 3),
        TrackingEffect.STATUS_CHANGED,
        S.DELIVERED,
        False,
        False,
    ),
    ("damage after delivery", [(S.DELIVERED, 3)], (S.EXCEPTION, 5), TrackingEffect.RECORDED, S.DELIVERED, True, False),
]


@pytest.mark.parametrize(
    ("name", "before", "arriving", "effect", "status", "raised", "cleared"), UPDATES, ids=[u[0] for u in UPDATES]
)
def test_what_one_event_does(
    name: str,
    before: list[tuple[Any, ...]],
    arriving: tuple[Any, ...],
    effect: TrackingEffect,
    status: TrackingStatus | None,
    raised: bool,
    cleared: bool,
) -> None:
    current = replay_tracking(TN, [ev(*b) for b in before])
    update = next_shipment_status(current, ev(*arriving))
    assert update.effect is effect
    assert update.previous_status is current.status
    assert update.status is status
    assert (update.exception_raised, update.exception_cleared) == (raised, cleared)
    assert len(update.tracking.events) == len(before) + 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (ev(S.IN_TRANSIT, 1, "a"), ev(S.IN_TRANSIT, 1, "a")),  # exact re-delivery
        (ev(S.IN_TRANSIT, 1, "a"), ev(S.IN_TRANSIT, 5, "a", "corrected")),  # same id, first one wins
        (ev(S.IN_TRANSIT, 1, "a"), ev(S.IN_TRANSIT, 1, "b", "other words")),  # same status and instant
        (ev(S.IN_TRANSIT, 1), ev(S.IN_TRANSIT, 1)),  # no ids, same status and instant
    ],
)
def test_duplicates_change_nothing(first: TrackingEvent, second: TrackingEvent) -> None:
    current = next_shipment_status(ShipmentTracking(TN), first).tracking
    update = next_shipment_status(current, second)
    assert update.effect is TrackingEffect.DUPLICATE
    assert update.tracking is current
    assert not update.exception_raised and not update.exception_cleared


def test_same_instant_different_status_is_not_a_duplicate() -> None:
    current = next_shipment_status(ShipmentTracking(TN), ev(S.OUT_FOR_DELIVERY, 2)).tracking
    update = next_shipment_status(current, ev(S.DELIVERED, 2))
    assert update.effect is TrackingEffect.STATUS_CHANGED
    assert len(update.tracking.events) == 2


def test_same_instant_in_another_offset_is_a_duplicate() -> None:
    berlin = dt.timezone(dt.timedelta(hours=2))
    current = next_shipment_status(ShipmentTracking(TN), ev(S.IN_TRANSIT, 0)).tracking
    again = TrackingEvent(TN, "UPS", S.IN_TRANSIT, T0.astimezone(berlin))
    assert next_shipment_status(current, again).effect is TrackingEffect.DUPLICATE


def test_event_for_another_parcel_is_refused() -> None:
    other = TrackingEvent("OTHER", "UPS", S.IN_TRANSIT, T0)
    with pytest.raises(DomainError) as info:
        next_shipment_status(ShipmentTracking(TN), other)
    assert info.value.errors[0].field == "tracking_number"


def _oracle(events: list[TrackingEvent]) -> tuple[TrackingStatus | None, dt.datetime | None, tuple[Any, ...] | None]:
    """The rule stated without a fold: any return wins, then any delivery (the first counts),
    else the latest classified event; an exception is open if it is the latest classified event."""
    distinct = {e.instant_key for e in events if e.status is not S.UNKNOWN}
    ordered = sorted(distinct, key=lambda k: (k[1], ORDER.index(k[0])))
    delivered = [t for s, t in ordered if s is S.DELIVERED]
    if any(s is S.RETURNED_TO_SENDER for s, _ in ordered):
        status: TrackingStatus | None = S.RETURNED_TO_SENDER
    elif delivered:
        status = S.DELIVERED
    else:
        status = ordered[-1][0] if ordered else None
    open_exception = ordered[-1] if ordered and ordered[-1][0] is S.EXCEPTION else None
    return status, (delivered[0] if status is S.DELIVERED else None), open_exception


ORDER = [S.UNKNOWN, S.PRE_TRANSIT, S.CANCELLED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY]
ORDER += [S.AVAILABLE_FOR_PICKUP, S.EXCEPTION, S.DELIVERED, S.RETURNED_TO_SENDER]


@st.composite
def event_batches(draw: st.DrawFn) -> tuple[list[TrackingEvent], list[TrackingEvent]]:
    """Distinct carrier events (few instants, so ties happen) plus re-deliveries of some of
    them: exact copies and same-status-same-instant copies under another id. Returns the
    events in sorted order and a shuffled arrival order with the duplicates mixed in."""
    keys = draw(st.lists(st.tuples(st.sampled_from(list(S)), st.integers(0, 6)), min_size=0, max_size=10, unique=True))
    base = [ev(status, hour, f"id-{i}", f"event {i}") for i, (status, hour) in enumerate(keys)]
    copies = []
    for i, e in enumerate(base):
        kind = draw(st.sampled_from(["none", "exact", "same-instant"]))
        if kind == "exact":
            copies.append(e)
        elif kind == "same-instant":
            copies.append(TrackingEvent(TN, "UPS", e.status, e.occurred_at, description="resent", external_id=f"x-{i}"))
    arrival = draw(st.permutations(base + copies))
    return sorted(base, key=TrackingEvent.sort_key), list(arrival)


@given(event_batches())
@settings(max_examples=400, deadline=None)
def test_any_arrival_order_gives_the_sorted_result(batch: tuple[list[TrackingEvent], list[TrackingEvent]]) -> None:
    in_order, arrival = batch
    expected = replay_tracking(TN, in_order)
    got = replay_tracking(TN, arrival)
    assert got.status is expected.status
    assert got.delivered_at == expected.delivered_at
    assert got.status_since == expected.status_since
    assert [e.instant_key for e in got.events] == [e.instant_key for e in expected.events]
    assert (got.open_exception and got.open_exception.instant_key) == (
        expected.open_exception and expected.open_exception.instant_key
    )
    status, delivered_at, open_exception = _oracle(arrival)
    assert got.status is status
    assert got.delivered_at == delivered_at
    assert (got.open_exception and got.open_exception.instant_key) == open_exception


@given(event_batches())
@settings(max_examples=200, deadline=None)
def test_replaying_twice_is_all_duplicates(batch: tuple[list[TrackingEvent], list[TrackingEvent]]) -> None:
    _, arrival = batch
    tracking = replay_tracking(TN, arrival)
    for e in arrival:
        update = next_shipment_status(tracking, e)
        assert update.effect is TrackingEffect.DUPLICATE
        assert update.tracking is tracking


# --------------------------------------------------------------------------- promise accuracy

D = dt.date


@pytest.mark.parametrize(
    ("earliest", "latest", "delivered_at", "zone", "outcome", "on", "late", "early"),
    [
        # Los Angeles, PDT (UTC-7) from 9 Mar 2025: 23:30 local on the last day is 06:30 UTC next day
        (
            D(2025, 3, 7),
            D(2025, 3, 10),
            utc(2025, 3, 11, 6, 30),
            "America/Los_Angeles",
            "on_time",
            D(2025, 3, 10),
            0,
            0,
        ),
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 11, 7, 30), "America/Los_Angeles", "late", D(2025, 3, 11), 1, 0),
        # the same UTC instants read in Tokyo (UTC+9) are a day later still
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 10, 14, 30), "Asia/Tokyo", "on_time", D(2025, 3, 10), 0, 0),
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 10, 15, 30), "Asia/Tokyo", "late", D(2025, 3, 11), 1, 0),
        # Berlin, the night the clocks go back (CEST to CET, 26 Oct 2025)
        (
            D(2025, 10, 24),
            D(2025, 10, 26),
            utc(2025, 10, 26, 22, 59),
            "Europe/Berlin",
            "on_time",
            D(2025, 10, 26),
            0,
            0,
        ),
        (D(2025, 10, 24), D(2025, 10, 26), utc(2025, 10, 26, 23, 0), "Europe/Berlin", "late", D(2025, 10, 27), 1, 0),
        # several days late, early, first day, one-day window
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 14, 18), "America/New_York", "late", D(2025, 3, 14), 4, 0),
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 6, 18), "America/New_York", "early", D(2025, 3, 6), 0, 1),
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 7, 5), "America/New_York", "on_time", D(2025, 3, 7), 0, 0),
        (D(2025, 3, 7), D(2025, 3, 10), utc(2025, 3, 7, 4, 59), "America/New_York", "early", D(2025, 3, 6), 0, 1),
        (D(2025, 3, 10), D(2025, 3, 10), utc(2025, 3, 10, 12), "UTC", "on_time", D(2025, 3, 10), 0, 0),
        (D(2025, 3, 10), D(2025, 3, 10), utc(2025, 3, 3, 12), "UTC", "early", D(2025, 3, 3), 0, 7),
    ],
)
def test_promise_accuracy(
    earliest: dt.date,
    latest: dt.date,
    delivered_at: dt.datetime,
    zone: str,
    outcome: str,
    on: dt.date,
    late: int,
    early: int,
) -> None:
    result = promise_accuracy(earliest, latest, delivered_at, zone)
    assert result.outcome is PromiseOutcome(outcome)
    assert (result.delivered_on, result.days_late, result.days_early) == (on, late, early)
    assert result.kept is (outcome != "late")


def test_promise_accuracy_reads_an_offset_time_correctly() -> None:
    local = dt.datetime(2025, 3, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert (
        promise_accuracy(D(2025, 3, 10), D(2025, 3, 10), local, "America/Los_Angeles").outcome is PromiseOutcome.ON_TIME
    )


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ((D(2025, 3, 11), D(2025, 3, 10), utc(2025, 3, 10), "UTC"), ["promised_earliest"]),
        ((D(2025, 3, 10), D(2025, 3, 10), dt.datetime(2025, 3, 10), "UTC"), ["delivered_at"]),
        ((D(2025, 3, 10), D(2025, 3, 10), utc(2025, 3, 10), "Mars/Olympus_Mons"), ["destination_timezone"]),
        ((D(2025, 3, 10), D(2025, 3, 10), utc(2025, 3, 10), "../etc/passwd"), ["destination_timezone"]),
    ],
)
def test_promise_accuracy_refuses_bad_input(args: tuple[Any, ...], fields: list[str]) -> None:
    with pytest.raises(DomainError) as info:
        promise_accuracy(*args)
    assert [e.field for e in info.value.errors] == fields


# --------------------------------------------------------------------------- webhook signature

SECRET = "oms_whsec_example"
NOW = utc(2024, 8, 2, 19, 30)
T_NOW = int(NOW.timestamp())
BODY = (
    b'{"events":[{"tracking_number":"1Z999AA10123456784","carrier":"UPS","status":"delivered",'
    b'"occurred_at":"2024-08-02T15:04:05-04:00","event_id":"ups-771"}]}'
)
DOC_SIGNATURE = "23f19e3e5dc8d429279bb5f5b2c4e09fe2fd6e4a5600b5dd50a1c4b59883158d"


def test_worked_example_from_the_docs() -> None:
    """The same vector docs/tracking.md shows, computed there with openssl."""
    assert T_NOW == 1722627000
    assert webhook_signature(BODY, SECRET, T_NOW) == DOC_SIGNATURE
    header = f"t={T_NOW},v1={DOC_SIGNATURE}"
    assert sign_webhook(BODY, SECRET, T_NOW) == header
    assert verify_webhook_signature(BODY, header, SECRET, now=NOW) == T_NOW
    docs = DOCS.read_text(encoding="utf-8")
    assert f"OpenOMS-Signature: {header}" in docs
    assert BODY.decode() in docs


@pytest.mark.parametrize(
    ("header", "now_offset"),
    [
        (sign_webhook(BODY, SECRET, T_NOW), 0),
        (sign_webhook(BODY, SECRET, T_NOW), SIGNATURE_TOLERANCE_SECONDS),  # exactly at the limit
        (sign_webhook(BODY, SECRET, T_NOW), -SIGNATURE_TOLERANCE_SECONDS),
        (f"v1={DOC_SIGNATURE},t={T_NOW}", 0),  # any order
        (f" t={T_NOW} , v1={DOC_SIGNATURE.upper()} ", 0),  # spaces, upper-case hex
        (sign_webhook(BODY, ["old-secret", SECRET], T_NOW), 0),  # sender rotating
        (f"t={T_NOW},v0=abc,v1={DOC_SIGNATURE},v2=future-scheme", 0),  # other schemes ignored
    ],
)
def test_signature_accepted(header: str, now_offset: int) -> None:
    now = NOW + dt.timedelta(seconds=now_offset)
    assert verify_webhook_signature(BODY, header, SECRET, now=now) == T_NOW


def test_receiver_with_two_secrets_accepts_either() -> None:
    for used in ("old-secret", "new-secret"):
        header = sign_webhook(BODY, used, T_NOW)
        assert verify_webhook_signature(BODY, header, ["new-secret", "old-secret"], now=NOW) == T_NOW
        assert verify_webhook_signature(BODY, header, [used.encode()], now=NOW) == T_NOW


@pytest.mark.parametrize(
    ("body", "header", "secrets", "now_offset", "reason"),
    [
        (BODY, None, SECRET, 0, SignatureFailure.MISSING_HEADER),
        (BODY, "", SECRET, 0, SignatureFailure.MISSING_HEADER),
        (BODY, "   ", SECRET, 0, SignatureFailure.MISSING_HEADER),
        (
            BODY.replace(b"delivered", b"exception"),
            f"t={T_NOW},v1={DOC_SIGNATURE}",
            SECRET,
            0,
            SignatureFailure.MISMATCH,
        ),
        (BODY + b"\n", f"t={T_NOW},v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MISMATCH),
        (BODY, f"t={T_NOW},v1={DOC_SIGNATURE}", "wrong-secret", 0, SignatureFailure.MISMATCH),
        (BODY, f"t={T_NOW + 1},v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MISMATCH),  # re-dated replay
        (BODY, sign_webhook(BODY, ["a", "b"], T_NOW), ["c", "d"], 0, SignatureFailure.MISMATCH),
        (
            BODY,
            f"t={T_NOW},v1={DOC_SIGNATURE}",
            SECRET,
            SIGNATURE_TOLERANCE_SECONDS + 1,
            SignatureFailure.STALE_TIMESTAMP,
        ),
        (BODY, f"t={T_NOW},v1={DOC_SIGNATURE}", SECRET, 86400, SignatureFailure.STALE_TIMESTAMP),
        (
            BODY,
            f"t={T_NOW},v1={DOC_SIGNATURE}",
            SECRET,
            -SIGNATURE_TOLERANCE_SECONDS - 1,
            SignatureFailure.FUTURE_TIMESTAMP,
        ),
        (BODY, f"t={T_NOW},v1={DOC_SIGNATURE}", SECRET, -86400, SignatureFailure.FUTURE_TIMESTAMP),
        (BODY, DOC_SIGNATURE, SECRET, 0, SignatureFailure.MALFORMED_HEADER),  # bare value
        (BODY, f"v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),  # no t
        (BODY, f"t={T_NOW}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),  # no v1
        (BODY, f"t=,v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t=-5,v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t=1722627000.5,v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t=2024-08-02T19:30:00Z,v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t={T_NOW},t={T_NOW},v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t={T_NOW},v1={DOC_SIGNATURE[:-2]}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t={T_NOW},v1={'z' * 64}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t={T_NOW},v1=", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t={T_NOW},,v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (BODY, f"t={T_NOW};v1={DOC_SIGNATURE}", SECRET, 0, SignatureFailure.MALFORMED_HEADER),
        (
            BODY,
            f"t={T_NOW}," + ",".join([f"v1={DOC_SIGNATURE}"] * (MAX_SIGNATURES + 1)),
            SECRET,
            0,
            SignatureFailure.MALFORMED_HEADER,
        ),
    ],
)
def test_signature_refused(
    body: bytes, header: str | None, secrets: str | list[str], now_offset: int, reason: SignatureFailure
) -> None:
    with pytest.raises(SignatureError) as info:
        verify_webhook_signature(body, header, secrets, now=NOW + dt.timedelta(seconds=now_offset))
    assert info.value.reason is reason
    assert info.value.detail and str(info.value).startswith(reason.value)


def test_stale_is_only_said_of_a_correct_signature() -> None:
    """A forged request that is also old is a mismatch: the time is checked after the MAC."""
    with pytest.raises(SignatureError) as info:
        verify_webhook_signature(BODY, f"t={T_NOW},v1={'0' * 64}", SECRET, now=NOW + dt.timedelta(days=1))
    assert info.value.reason is SignatureFailure.MISMATCH


@pytest.mark.parametrize("secrets", ["", [], [SECRET, ""], b""])
def test_no_secret_is_a_configuration_error(secrets: Any) -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_webhook_signature(BODY, sign_webhook(BODY, "x", T_NOW), secrets, now=NOW)


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        verify_webhook_signature(BODY, sign_webhook(BODY, SECRET, T_NOW), SECRET, now=dt.datetime(2024, 8, 2))


# --------------------------------------------------------------------------- OpenOMS JSON


def test_parse_openoms_json() -> None:
    payload = {
        "events": [
            {
                "tracking_number": TN,
                "carrier": "UPS",
                "status": "Out for delivery",
                "occurred_at": "2024-08-02T08:12:00-04:00",
                "description": "Out for delivery",
                "location": "BROOKLYN, NY 11201, US",
                "carrier_status_code": "OT",
                "carrier_status_detail": "out_for_delivery",
                "event_id": "ups-0042",
                "something_new": {"ignored": True},
            },
            {"tracking_number": TN, "carrier": "UPS", "status": "delivered", "occurred_at": "2024-08-02T19:04:05Z"},
        ]
    }
    first, second = parse_openoms_tracking(json.dumps(payload).encode())
    assert first == TrackingEvent(
        TN,
        "UPS",
        S.OUT_FOR_DELIVERY,
        utc(2024, 8, 2, 12, 12),
        "Out for delivery",
        "BROOKLYN, NY 11201, US",
        "OT",
        "out_for_delivery",
        TrackingSource.WEBHOOK,
        "ups-0042",
    )
    assert (second.status, second.occurred_at, second.external_id) == (S.DELIVERED, utc(2024, 8, 2, 19, 4, 5), None)
    assert parse_openoms_tracking(payload, source=TrackingSource.API)[0].source is TrackingSource.API
    assert replay_tracking(TN, [second, first]).status is S.DELIVERED


def test_docs_example_body_parses() -> None:
    (e,) = parse_openoms_tracking(BODY)
    assert (e.status, e.occurred_at, e.external_id) == (S.DELIVERED, utc(2024, 8, 2, 19, 4, 5), "ups-771")


GOOD = {"tracking_number": TN, "carrier": "UPS", "status": "in_transit", "occurred_at": "2024-08-01T12:00:00Z"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, [("events", "must be a non-empty list of events")]),
        ({"events": []}, [("events", "must be a non-empty list of events")]),
        ({"events": {"a": 1}}, [("events", "must be a non-empty list of events")]),
        ([GOOD], [("(body)", "must be an object")]),
        ({"events": [GOOD, "x"]}, [("events[1]", "must be an object")]),
        ({"events": [GOOD | {"occurred_at": "2024-08-01T12:00:00"}]}, [("events[0].occurred_at", "UTC offset")]),
        ({"events": [GOOD | {"occurred_at": "yesterday"}]}, [("events[0].occurred_at", "ISO 8601")]),
        ({"events": [GOOD | {"occurred_at": 1722600000}]}, [("events[0].occurred_at", "must be a string")]),
        ({"events": [GOOD | {"status": "lost"}]}, [("events[0].status", "unknown status 'lost'")]),
        ({"events": [GOOD, {k: v for k, v in GOOD.items() if k != "carrier"}]}, [("events[1].carrier", "is required")]),
        ({"events": [GOOD | {"tracking_number": " "}]}, [("events[0].tracking_number", "is required")]),
        ({"events": [GOOD | {"tracking_number": "X" * 65}]}, [("events[0].tracking_number", "longer than 64")]),
        ({"events": [GOOD | {"event_id": 7}]}, [("events[0].event_id", "must be a string")]),
        ({"events": [GOOD | {"description": None}]}, []),  # null optional field is absent
        (
            {"events": [{"status": "lost", "occurred_at": "soon"}]},
            [
                ("events[0].tracking_number", "is required"),
                ("events[0].carrier", "is required"),
                ("events[0].status", "unknown status"),
                ("events[0].occurred_at", "ISO 8601"),
            ],
        ),
        ({"events": [GOOD] * 1001}, [("events", "at most 1000")]),
    ],
)
def test_openoms_json_errors_name_the_field(payload: Any, expected: list[tuple[str, str]]) -> None:
    if not expected:
        assert len(parse_openoms_tracking(payload if isinstance(payload, dict) else json.dumps(payload))) == 1
        return
    with pytest.raises(TrackingPayloadError) as info:
        parse_openoms_tracking(json.dumps(payload))
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert [e.field for e in info.value.errors] == [f for f, _ in expected]
    for error, (_, reason) in zip(info.value.errors, expected, strict=True):
        assert reason in error.reason


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", "not json"])
def test_openoms_json_that_is_not_json(body: bytes | str) -> None:
    with pytest.raises(TrackingPayloadError) as info:
        parse_openoms_tracking(body)
    assert info.value.code is ErrorCode.MALFORMED_JSON


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("delivered", S.DELIVERED),
        (" Delivered ", S.DELIVERED),
        ("OUT-FOR-DELIVERY", S.OUT_FOR_DELIVERY),
        ("Returned to sender", S.RETURNED_TO_SENDER),
        ("available  for pickup", S.AVAILABLE_FOR_PICKUP),
        ("pre_transit", S.PRE_TRANSIT),
        ("return_to_sender", None),  # EasyPost's word, not ours
        ("label_created", None),
        ("", None),
    ],
)
def test_parse_status(text: str, status: TrackingStatus | None) -> None:
    assert parse_status(text) is status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-02T19:26:52.000Z", utc(2024, 8, 2, 19, 26, 52)),
        ("2024-08-02T15:26:52-04:00", utc(2024, 8, 2, 19, 26, 52)),
        ("2024-08-02 21:26:52+02:00", utc(2024, 8, 2, 19, 26, 52)),
        ("2024-08-02T19:26:52", None),
        ("2024-08-02", None),
        ("02/08/2024 19:26", None),
        ("", None),
    ],
)
def test_parse_timestamp(text: str, expected: dt.datetime | None) -> None:
    assert parse_timestamp(text) == expected


# --------------------------------------------------------------------------- EasyPost


def easypost_sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EASYPOST_SAMPLE.read_bytes())
    return data


def test_easypost_real_sample() -> None:
    events = parse_easypost_event(EASYPOST_SAMPLE.read_bytes())
    # 7 tracking details; the tracker's own status (in_transit) is what the newest detail says
    assert len(events) == 7
    assert {(e.tracking_number, e.carrier, e.source) for e in events} == {("1", "FedEx", TrackingSource.WEBHOOK)}
    assert [e.status for e in events] == [S.PRE_TRANSIT] + [S.IN_TRANSIT] * 6
    assert [e.occurred_at for e in events] == [
        utc(2024, 7, 31, 15, 0),
        utc(2024, 7, 31, 19, 27),
        utc(2024, 7, 31, 22, 35),
        utc(2024, 8, 1, 14, 42, 13),
        utc(2024, 8, 2, 2, 46, 19),
        utc(2024, 8, 2, 18, 35, 20),
        utc(2024, 8, 2, 18, 50),
    ]
    assert [e.location for e in events] == [
        "32837, US",
        "ORLANDO, FL 32809, US",
        "ORLANDO, FL 32809, US",
        "ORLANDO, FL 32809, US",
        "KENLY, NC 27542, US",
        "EDISON TWP, NJ 08817, US",
        "EDISON, NJ 08817, US",
    ]
    assert [e.carrier_status_code for e in events] == ["OC", "PU", "AR", "DP", "IT", "IT", "AR"]
    assert events[0].description == "Shipment information sent to FedEx"
    assert events[0].carrier_status_detail == "label_created"
    assert events[3].description == "Departed FedEx location"
    assert len({e.external_id for e in events}) == 7

    tracking = replay_tracking("1", events)
    assert tracking.status is S.IN_TRANSIT
    assert tracking.status_since == utc(2024, 7, 31, 19, 27)
    assert not tracking.needs_attention
    # EasyPost resends every detail with each update: the second delivery adds nothing
    again = parse_easypost_event(EASYPOST_SAMPLE.read_text(encoding="utf-8"))
    assert all(next_shipment_status(tracking, e).effect is TrackingEffect.DUPLICATE for e in again)


def test_easypost_delivered_update() -> None:
    data = easypost_sample()
    tracker = data["result"]
    tracker |= {"status": "delivered", "status_detail": "arrived_at_destination", "updated_at": "2024-08-05T17:02:11Z"}
    tracker["tracking_details"].append(
        copy.deepcopy(tracker["tracking_details"][-1])
        | {
            "message": "Delivered",
            "status": "delivered",
            "status_detail": "arrived_at_destination",
            "datetime": "2024-08-05T16:58:00Z",
            "carrier_code": "DL",
            "tracking_location": {"city": "BROOKLYN", "state": "NY", "country": "US", "zip": "11201"},
        }
    )
    events = parse_easypost_event(data)
    assert len(events) == 8  # the tracker's "delivered" is already the newest detail's
    tracking = replay_tracking("1", events)
    assert tracking.status is S.DELIVERED
    assert tracking.delivered_at == utc(2024, 8, 5, 16, 58)
    assert events[-1].location == "BROOKLYN, NY 11201, US"
    # promised 5 Aug (est_delivery_date_local in the sample), destination Brooklyn
    accuracy = promise_accuracy(D(2024, 8, 2), D(2024, 8, 5), tracking.delivered_at, "America/New_York")
    assert accuracy.outcome is PromiseOutcome.ON_TIME


def test_easypost_tracker_status_without_a_detail_becomes_an_event() -> None:
    data = easypost_sample()
    data["result"] |= {"status": "failure", "status_detail": "lost", "updated_at": "2024-08-04T10:00:00Z"}
    events = parse_easypost_event(data)
    assert len(events) == 8
    last = events[-1]
    assert (last.status, last.occurred_at, last.carrier_status_detail) == (S.EXCEPTION, utc(2024, 8, 4, 10), "lost")
    assert last.description == "EasyPost tracker status: failure (lost)"
    tracking = replay_tracking("1", events)
    assert tracking.status is S.EXCEPTION and tracking.needs_attention


def test_easypost_new_tracker_with_no_details() -> None:
    data = easypost_sample()
    data["description"] = "tracker.created"
    data["result"] |= {"status": "unknown", "status_detail": None, "tracking_details": []}
    (event,) = parse_easypost_event(data)
    assert (event.status, event.occurred_at) == (S.UNKNOWN, utc(2024, 8, 2, 19, 26, 51))
    assert replay_tracking("1", [event]).status is None


@pytest.mark.parametrize(("easypost", "ours"), sorted(EASYPOST_STATUS.items()))
def test_easypost_status_mapping(easypost: str, ours: TrackingStatus) -> None:
    data = easypost_sample()
    data["result"]["tracking_details"][-1]["status"] = easypost
    assert parse_easypost_event(data)[6].status is ours
    assert f"| `{easypost}` | `{ours.value}` |" in DOCS.read_text(encoding="utf-8")


def test_easypost_mapping_covers_the_documented_statuses() -> None:
    documented = {
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "return_to_sender",
        "failure",
        "unknown",
        "available_for_pickup",
        "cancelled",
        "error",
    }
    assert set(EASYPOST_STATUS) == documented


def test_easypost_status_added_later_is_unknown_not_refused() -> None:
    data = easypost_sample()
    data["result"]["tracking_details"][-1] |= {"status": "held_at_customs", "status_detail": "customs"}
    event = parse_easypost_event(data)[6]
    assert event.status is S.UNKNOWN
    assert event.carrier_status_detail == "held_at_customs: customs"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(description="shipment.invoice.created"), "description"),
        (lambda d: d.pop("description"), "description"),
        (lambda d: d.update(result=None), "result"),
        (lambda d: d["result"].update(object="Shipment"), "result"),
        (lambda d: d["result"].pop("tracking_code"), "result.tracking_code"),
        (lambda d: d["result"].update(carrier=7), "result.carrier"),
        (lambda d: d["result"].update(tracking_details="none"), "result.tracking_details"),
        (
            lambda d: d["result"]["tracking_details"][2].update(datetime="31/07/2024"),
            "result.tracking_details[2].datetime",
        ),
        (
            lambda d: d["result"]["tracking_details"][2].update(datetime="2024-07-31T22:35:00"),
            "result.tracking_details[2].datetime",
        ),
        (lambda d: d["result"]["tracking_details"][4].pop("status"), "result.tracking_details[4].status"),
        (lambda d: d["result"]["tracking_details"].__setitem__(1, "x"), "result.tracking_details[1]"),
        (lambda d: d["result"].update(tracking_code="9" * 65), "result.tracking_details[0].tracking_number"),
    ],
)
def test_easypost_errors_name_the_field(edit: Any, field: str) -> None:
    data = easypost_sample()
    edit(data)
    with pytest.raises(TrackingPayloadError) as info:
        parse_easypost_event(json.dumps(data))
    assert field in [e.field for e in info.value.errors]


@pytest.mark.parametrize(
    ("location", "text"),
    [
        ({"city": "ORLANDO", "state": "FL", "country": "US", "zip": "32809"}, "ORLANDO, FL 32809, US"),
        ({"city": None, "state": None, "country": "US", "zip": "32837"}, "32837, US"),
        ({"city": "Berlin", "state": None, "country": "DE", "zip": None}, "Berlin, DE"),
        ({}, ""),
        (None, ""),
    ],
)
def test_easypost_location(location: Any, text: str) -> None:
    assert easypost_location(location) == text


# --------------------------------------------------------------------------- CSV upload

CSV_OK = """tracking_number,carrier,status,occurred_at,description,location
1Z999AA10123456784,UPS,in_transit,2024-08-01T22:10:00-04:00,Departed facility,"Newark, NJ, US"
1Z999AA10123456784,UPS,Out for delivery,2024-08-02T08:12:00-04:00,,"Brooklyn, NY, US"
1Z999AA10123456784,UPS,delivered,2024-08-02T15:04:05-04:00,Front door,"Brooklyn, NY, US"
"""


def test_csv_upload() -> None:
    events = parse_tracking_csv(CSV_OK.encode())
    assert [e.status for e in events] == [S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED]
    assert [e.occurred_at for e in events] == [
        utc(2024, 8, 2, 2, 10),
        utc(2024, 8, 2, 12, 12),
        utc(2024, 8, 2, 19, 4, 5),
    ]
    assert events[0].location == "Newark, NJ, US"
    assert events[1].description == ""
    assert {e.source for e in events} == {TrackingSource.CSV}
    tracking = replay_tracking(TN, events)
    assert tracking.status is S.DELIVERED
    # uploading the same file again changes nothing
    again = parse_tracking_csv(CSV_OK)
    assert all(next_shipment_status(tracking, e).effect is TrackingEffect.DUPLICATE for e in again)


def test_csv_matches_the_docs_example() -> None:
    assert CSV_OK.strip() in DOCS.read_text(encoding="utf-8")
    assert ",".join(CSV_COLUMNS) == CSV_OK.splitlines()[0]


def test_csv_columns_in_any_order_and_optional_ones_left_out() -> None:
    text = "occurred_at,status,carrier,tracking_number\n2024-08-01T12:00:00Z,delivered,DHL,JD0001\n"
    (event,) = parse_tracking_csv(text)
    assert (event.tracking_number, event.carrier, event.status, event.location) == ("JD0001", "DHL", S.DELIVERED, "")


def test_csv_with_bom_blank_lines_and_multiline_cells() -> None:
    text = (
        "\ufefftracking_number,carrier,status,occurred_at,description\r\n"
        'A1,UPS,in_transit,2024-08-01T12:00:00Z,"two\nlines"\r\n'
        "\r\n"
        "A1,UPS,lost,2024-08-01T13:00:00Z,\r\n"
    )
    assert parse_tracking_csv(text.replace("lost", "delivered").encode("utf-8"))[0].description == "two\nlines"
    with pytest.raises(TrackingCsvError) as info:
        parse_tracking_csv(text.encode("utf-8"))
    # the multi-line record is row 2, the blank line row 3: the bad record is row 4
    assert [(p.row, p.column) for p in info.value.problems] == [(4, "status")]


def test_csv_errors_by_row_and_column_and_nothing_returned() -> None:
    text = (
        "location,tracking_number,carrier,status,occurred_at\n"
        "Newark,A1,UPS,in_transit,2024-08-01T12:00:00Z\n"  # row 2 fine
        ",A1,UPS,lost,2024-08-01T12:00:00\n"  # row 3: status and time
        ",,,delivered,2024-08-01T12:00:00Z\n"  # row 4: tracking number and carrier
        ",A1,UPS\n"  # row 5: too few cells
        f",{'X' * 65},UPS,in_transit,2024-08-01T12:00:00Z\n"  # row 6: too long
        ",,,,\n"  # row 7: empty cells only, skipped like a blank line
        ",A1,UPS,,\n"  # row 8: status and time required
    )
    with pytest.raises(TrackingCsvError) as info:
        parse_tracking_csv(text, source="ups-2024-08-02.csv")
    problems = [(p.row, p.column, p.reason.split(";")[0]) for p in info.value.problems]
    assert problems == [
        (3, "status", "unknown status 'lost'"),
        (3, "occurred_at", "is not an ISO 8601 time with a UTC offset, such as 2024-08-01T14:42:13-04:00 or ...Z"),
        (4, "tracking_number", "is required"),
        (4, "carrier", "is required"),
        (5, "(row)", "has 3 cells"),
        (6, "tracking_number", "is longer than 64 characters"),
        (8, "status", "is required"),
        (8, "occurred_at", "is required"),
    ]
    error = info.value
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert str(error).startswith("ups-2024-08-02.csv: 8 problem(s), nothing loaded: row 3 status:")
    assert error.errors[0].field == "rows[3].status"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "(header)")]),
        ("tracking_number,carrier,status\n", [(1, "occurred_at")]),
        ("tracking_number,carrier,status,occurred_at,weight\n", [(1, "weight")]),
        ("tracking_number,carrier,status,occurred_at,status\n", [(1, "status")]),
        ("tracking_number,carrier,status,occurred_at\n", [(1, "(rows)")]),
        ("tracking_number,carrier,status,occurred_at\n\n\n", [(1, "(rows)")]),
        (
            'tracking_number,carrier,status,occurred_at\n"A1,UPS,delivered,2024-08-01T12:00:00Z\n',
            [(2, "(row)")],
        ),  # an unclosed quote swallows the rest of the file
    ],
)
def test_csv_file_level_problems(text: str, expected: list[tuple[int, str]]) -> None:
    with pytest.raises(TrackingCsvError) as info:
        parse_tracking_csv(text)
    assert [(p.row, p.column) for p in info.value.problems] == expected


def test_csv_that_is_not_utf8() -> None:
    with pytest.raises(TrackingCsvError) as info:
        parse_tracking_csv(
            "tracking_number,carrier,status,occurred_at\nÄ1,UPS,delivered,2024-08-01T12:00:00Z\n".encode("latin-1")
        )
    assert [(p.row, p.column) for p in info.value.problems] == [(1, "(file)")]
    assert "UTF-8" in info.value.problems[0].reason


def test_docs_name_every_signature_failure() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for failure in SignatureFailure:
        assert re.search(rf"\| `{failure.value}` \|", docs), failure
