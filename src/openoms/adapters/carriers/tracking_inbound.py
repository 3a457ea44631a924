"""Tracking events coming in: the webhook signature check, and parsers that turn an OpenOMS
JSON payload, an EasyPost ``tracker.updated`` event or an uploaded CSV into ``TrackingEvent``s.

Every format is described in docs/tracking.md. The parsers check every field and report all
problems at once, naming the field (``events[2].occurred_at``) or the CSV row and column; a
payload with any problem yields no events at all, so a half-applied upload cannot happen.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.tracking import TrackingEvent, TrackingSource, TrackingStatus

# --------------------------------------------------------------------------- webhook signature

SIGNATURE_HEADER = "OpenOMS-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
"""How far the signed timestamp may be from our clock, either way: wide enough for clock skew
and a sender's retry queue, narrow enough that a captured request cannot be replayed later."""

MAX_SIGNATURES = 8
"""``v1`` values accepted in one header: one per secret the sender is rotating through."""

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class SignatureFailure(StrEnum):
    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    MISMATCH = "mismatch"  # no v1 value matches the body with any of our secrets
    STALE_TIMESTAMP = "stale_timestamp"  # signed correctly, but longer ago than the tolerance
    FUTURE_TIMESTAMP = "future_timestamp"  # signed correctly, but dated further ahead than the tolerance


class SignatureError(Exception):
    """The webhook was refused (answer 401); ``reason`` says why, ``detail`` in words."""

    def __init__(self, reason: SignatureFailure, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def webhook_signature(body: bytes, secret: str | bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``; binding the time into the MAC is
    what makes a replayed request with a fresh timestamp fail."""
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_webhook(body: bytes, secrets: str | bytes | Sequence[str | bytes], timestamp: int) -> str:
    """The ``OpenOMS-Signature`` header value for a body: one ``v1`` per secret, so a sender
    rotating its secret can sign with both until every receiver has the new one."""
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    return ",".join([f"t={timestamp}", *(f"v1={webhook_signature(body, k, timestamp)}" for k in keys)])


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not name:
            raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"{item.strip()!r} is not a key=value pair")
        value = value.strip()
        if name == "t":
            if timestamp is not None:
                raise SignatureError(SignatureFailure.MALFORMED_HEADER, "t appears more than once")
            if not _UNIX_SECONDS.fullmatch(value):
                raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"t={value!r} is not a time in unix seconds")
            timestamp = int(value)
        elif name == "v1":
            if not _HEX_SHA256.fullmatch(value):
                raise SignatureError(SignatureFailure.MALFORMED_HEADER, "v1 is not 64 hex digits (HMAC-SHA256)")
            signatures.append(value.lower())
        # other schemes (v0, v2, ...) are ignored, so senders can add one without breaking us
    if timestamp is None:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, "no t= timestamp")
    if not signatures:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, "no v1= signature")
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"more than {MAX_SIGNATURES} v1 signatures")
    return timestamp, signatures


def verify_webhook_signature(
    body: bytes,
    header: str | None,
    secrets: str | bytes | Sequence[str | bytes],
    *,
    now: dt.datetime,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
) -> int:
    """Accept the raw body only if some ``v1`` in the header is its MAC under one of our
    ``secrets`` (several while rotating) and the signed time is within the tolerance of ``now``.
    Returns the signed timestamp; raises ``SignatureError`` with the reason otherwise.

    The MAC is checked before the time, so ``stale_timestamp`` is only ever said of a request
    we really signed: a clock-skew problem, or a replay."""
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    if not keys or any(not k for k in keys):
        raise ValueError("no webhook secret configured")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if header is None or not header.strip():
        raise SignatureError(SignatureFailure.MISSING_HEADER, f"the {SIGNATURE_HEADER} header is missing")
    timestamp, signatures = _parse_signature_header(header)
    matched = False
    for key in keys:
        expected = webhook_signature(body, key, timestamp)
        for candidate in signatures:
            # compare every pair, so the time taken does not say which one (if any) matched
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(SignatureFailure.MISMATCH, "no v1 signature matches the body with the shared secret")
    age = int(now.timestamp()) - timestamp
    if age > tolerance_seconds:
        raise SignatureError(
            SignatureFailure.STALE_TIMESTAMP, f"signed {age} s ago; at most {tolerance_seconds} s is accepted"
        )
    if -age > tolerance_seconds:
        raise SignatureError(
            SignatureFailure.FUTURE_TIMESTAMP,
            f"signed {-age} s in the future; at most {tolerance_seconds} s of clock skew is accepted",
        )
    return timestamp


# --------------------------------------------------------------------------- EasyPost signature

EASYPOST_SIGNATURE_HEADER = "X-Hmac-Signature"
EASYPOST_SIGNATURE_PREFIX = "hmac-sha256-hex="


def easypost_signature(body: bytes, secret: str) -> str:
    """The ``X-Hmac-Signature`` value EasyPost sends: ``hmac-sha256-hex=`` and the hex
    HMAC-SHA256 of the raw body, keyed with the webhook secret normalised to Unicode NFKD and
    encoded as UTF-8 (as EasyPost's own client libraries compute it, so a secret typed with a
    composed or a decomposed accent gives the same key)."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return EASYPOST_SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_easypost_signature(body: bytes, header: str | None, secrets: str | Sequence[str]) -> None:
    """Accept the raw body only if ``X-Hmac-Signature`` is its EasyPost signature under one of
    ``secrets``; raises ``SignatureError`` otherwise. EasyPost signs no timestamp, so there is
    nothing to check for age: a replayed body carries tracking details already recorded, and
    those are duplicates (docs/adr/0023-easypost-webhook-signatures.md)."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys or any(not k for k in keys):
        raise ValueError("no EasyPost webhook secret configured")
    if header is None or not header.strip():
        raise SignatureError(SignatureFailure.MISSING_HEADER, f"the {EASYPOST_SIGNATURE_HEADER} header is missing")
    value = header.strip()
    digest = value[len(EASYPOST_SIGNATURE_PREFIX) :]
    if not value.startswith(EASYPOST_SIGNATURE_PREFIX) or not _HEX_SHA256.fullmatch(digest):
        raise SignatureError(
            SignatureFailure.MALFORMED_HEADER,
            f"{EASYPOST_SIGNATURE_HEADER} is not {EASYPOST_SIGNATURE_PREFIX}<64 hex digits>",
        )
    candidate = EASYPOST_SIGNATURE_PREFIX + digest.lower()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(easypost_signature(body, key), candidate)
    if not matched:
        raise SignatureError(SignatureFailure.MISMATCH, "the signature does not match the body with the webhook secret")


# --------------------------------------------------------------------------- shared parsing

MAX_EVENTS_PER_PAYLOAD = 1000
MAX_CSV_ROWS = 100_000


class TrackingPayloadError(DomainError):
    """A webhook or API payload was refused; ``errors`` names every bad field."""

    def __init__(self, message: str, errors: list[FieldError], code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> None:
        super().__init__(code, message, errors)


def _load_json(payload: bytes | str | Mapping[str, Any]) -> Any:
    if isinstance(payload, Mapping):
        return payload
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrackingPayloadError("the body is not valid JSON", [], ErrorCode.MALFORMED_JSON) from exc


def parse_timestamp(text: str) -> dt.datetime | None:
    """An ISO 8601 instant with a UTC offset (``Z`` or ``+02:00``), or None: a time without an
    offset is refused, because guessing its zone would misplace it by hours."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        return None
    return value


def parse_status(text: str) -> TrackingStatus | None:
    """Case, spaces and hyphens do not matter: ``Out for delivery`` is ``out_for_delivery``."""
    key = re.sub(r"[\s-]+", "_", text.strip().lower())
    try:
        return TrackingStatus(key)
    except ValueError:
        return None


_STATUS_NAMES = ", ".join(s.value for s in TrackingStatus)
_TIME_REASON = "is not an ISO 8601 time with a UTC offset, such as 2024-08-01T14:42:13-04:00 or ...Z"


def _build(path: str, errors: list[FieldError], **fields: Any) -> TrackingEvent | None:
    """A TrackingEvent, or None with its domain problems added under ``path``."""
    try:
        return TrackingEvent(**fields)
    except DomainError as exc:
        errors.extend(FieldError(f"{path}{e.field}", e.reason) for e in exc.errors)
        return None


# --------------------------------------------------------------------------- OpenOMS JSON

_JSON_REQUIRED = ("tracking_number", "carrier", "status", "occurred_at")
_JSON_OPTIONAL = ("description", "location", "carrier_status_code", "carrier_status_detail", "event_id")


def parse_openoms_tracking(
    payload: bytes | str | Mapping[str, Any], *, source: TrackingSource = TrackingSource.WEBHOOK
) -> list[TrackingEvent]:
    """Events from the OpenOMS tracking JSON (``{"events": [...]}``, docs/tracking.md): the
    format any carrier, 3PL or aggregator can be configured to send without code on our side."""
    data = _load_json(payload)
    if not isinstance(data, Mapping):
        raise TrackingPayloadError("the body must be a JSON object", [FieldError("(body)", "must be an object")])
    items = data.get("events")
    if not isinstance(items, list) or not items:
        raise TrackingPayloadError("no events", [FieldError("events", "must be a non-empty list of events")])
    if len(items) > MAX_EVENTS_PER_PAYLOAD:
        reason = f"has {len(items)} events; at most {MAX_EVENTS_PER_PAYLOAD} per payload"
        raise TrackingPayloadError("too many events", [FieldError("events", reason)])
    errors: list[FieldError] = []
    events: list[TrackingEvent] = []
    for i, item in enumerate(items):
        path = f"events[{i}]."
        if not isinstance(item, Mapping):
            errors.append(FieldError(f"events[{i}]", "must be an object"))
            continue
        text: dict[str, str] = {}
        for name in (*_JSON_REQUIRED, *_JSON_OPTIONAL):
            value = item.get(name)
            if value is None:
                if name in _JSON_REQUIRED:
                    errors.append(FieldError(path + name, "is required"))
                continue
            if not isinstance(value, str):
                errors.append(FieldError(path + name, "must be a string"))
                continue
            text[name] = value
        status = parse_status(text["status"]) if "status" in text else None
        if "status" in text and status is None:
            errors.append(FieldError(path + "status", f"unknown status {text['status']!r}; one of {_STATUS_NAMES}"))
        occurred_at = parse_timestamp(text["occurred_at"]) if "occurred_at" in text else None
        if "occurred_at" in text and occurred_at is None:
            errors.append(FieldError(path + "occurred_at", _TIME_REASON))
        if not all(name in text for name in _JSON_REQUIRED) or status is None or occurred_at is None:
            continue
        event = _build(
            path,
            errors,
            tracking_number=text["tracking_number"],
            carrier=text["carrier"],
            status=status,
            occurred_at=occurred_at,
            description=text.get("description", ""),
            location=text.get("location", ""),
            carrier_status_code=text.get("carrier_status_code", ""),
            carrier_status_detail=text.get("carrier_status_detail", ""),
            source=source,
            external_id=text.get("event_id"),
        )
        if event is not None:
            events.append(event)
    if errors:
        raise TrackingPayloadError(f"{len(errors)} problem(s) in the tracking payload", errors)
    return events


# --------------------------------------------------------------------------- EasyPost

EASYPOST_STATUS: dict[str, TrackingStatus] = {
    "pre_transit": TrackingStatus.PRE_TRANSIT,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "delivered": TrackingStatus.DELIVERED,
    "available_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "return_to_sender": TrackingStatus.RETURNED_TO_SENDER,
    "failure": TrackingStatus.EXCEPTION,
    "error": TrackingStatus.EXCEPTION,  # EasyPost cannot track it: a person must check the number
    "cancelled": TrackingStatus.CANCELLED,
    "unknown": TrackingStatus.UNKNOWN,
}
"""EasyPost tracker and tracking-detail statuses. A status EasyPost adds later maps to
``unknown`` (its name kept in ``carrier_status_detail``) rather than refusing the webhook."""

EASYPOST_TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})


def easypost_status(value: str) -> TrackingStatus:
    return EASYPOST_STATUS.get(value, TrackingStatus.UNKNOWN)


def _easypost_detail(status: str, detail: str) -> str:
    return detail if status in EASYPOST_STATUS else f"{status}: {detail}" if detail else status


def easypost_location(location: Any) -> str:
    """``ORLANDO, FL 32809, US`` from a TrackingLocation, skipping the parts that are null."""
    if not isinstance(location, Mapping):
        return ""

    def part(name: str) -> str:
        value = location.get(name)
        return value.strip() if isinstance(value, str) else ""

    region = " ".join(p for p in (part("state"), part("zip")) if p)
    return ", ".join(p for p in (part("city"), region, part("country")) if p)


def parse_easypost_event(payload: bytes | str | Mapping[str, Any]) -> list[TrackingEvent]:
    """Events from an EasyPost ``tracker.updated`` (or ``tracker.created``) webhook Event: one per
    tracking detail, plus the tracker's own current status when its newest detail does not
    already say it (EasyPost resends every detail each time, so the same status would
    otherwise be repeated on the timeline at every update).

    Tracking details carry no id, so each event's ``external_id`` is built from the tracker id
    and the detail's time, status and carrier code: a re-sent detail is then a duplicate."""
    data = _load_json(payload)
    errors: list[FieldError] = []

    def text(obj: Mapping[str, Any], name: str, path: str, *, required: bool = True) -> str:
        value = obj.get(name)
        if value is None:
            if required:
                errors.append(FieldError(path + name, "is required"))
            return ""
        if not isinstance(value, str):
            errors.append(FieldError(path + name, "must be a string"))
            return ""
        return value

    def instant(obj: Mapping[str, Any], name: str, path: str) -> dt.datetime | None:
        raw = text(obj, name, path)
        value = parse_timestamp(raw) if raw else None
        if raw and value is None:
            errors.append(FieldError(path + name, _TIME_REASON))
        return value

    if not isinstance(data, Mapping):
        raise TrackingPayloadError("the body must be a JSON object", [FieldError("(body)", "must be an object")])
    kind = data.get("description")
    if kind not in EASYPOST_TRACKER_EVENTS:
        reason = f"{kind!r} is not a tracker event; expected one of {', '.join(sorted(EASYPOST_TRACKER_EVENTS))}"
        raise TrackingPayloadError("not an EasyPost tracker event", [FieldError("description", reason)])
    tracker = data.get("result")
    if not isinstance(tracker, Mapping) or tracker.get("object") != "Tracker":
        raise TrackingPayloadError("no tracker", [FieldError("result", "must be a Tracker object")])
    tracker_id = text(tracker, "id", "result.")
    tracking_number = text(tracker, "tracking_code", "result.")
    carrier = text(tracker, "carrier", "result.")
    tracker_status = text(tracker, "status", "result.")
    tracker_detail = text(tracker, "status_detail", "result.", required=False)
    details = tracker.get("tracking_details") or []
    if not isinstance(details, list):
        errors.append(FieldError("result.tracking_details", "must be a list"))
        details = []
    if len(details) > MAX_EVENTS_PER_PAYLOAD:
        errors.append(FieldError("result.tracking_details", f"more than {MAX_EVENTS_PER_PAYLOAD} entries"))
        details = []

    parsed: list[tuple[str, dict[str, Any]]] = []
    for i, detail in enumerate(details):
        path = f"result.tracking_details[{i}]."
        if not isinstance(detail, Mapping):
            errors.append(FieldError(path[:-1], "must be an object"))
            continue
        occurred_at = instant(detail, "datetime", path)
        status = text(detail, "status", path)
        status_detail = text(detail, "status_detail", path, required=False)
        code = text(detail, "carrier_code", path, required=False)
        message = text(detail, "message", path, required=False) or text(detail, "description", path, required=False)
        if occurred_at is None or not status:
            continue
        parsed.append(
            (
                path,
                {
                    "status": easypost_status(status),
                    "occurred_at": occurred_at,
                    "description": message,
                    "location": easypost_location(detail.get("tracking_location")),
                    "carrier_status_code": code,
                    "carrier_status_detail": _easypost_detail(status, status_detail),
                    "external_id": f"easypost:{tracker_id}:{detail.get('datetime')}:{status}:{status_detail}:{code}",
                },
            )
        )
    newest = max(parsed, key=lambda p: p[1]["occurred_at"], default=None)
    if tracker_status and (newest is None or newest[1]["status"] is not easypost_status(tracker_status)):
        updated_at = instant(tracker, "updated_at", "result.")
        if updated_at is not None:
            said = f" ({tracker_detail})" if tracker_detail else ""
            parsed.append(
                (
                    "result.",
                    {
                        "status": easypost_status(tracker_status),
                        "occurred_at": updated_at,
                        "description": f"EasyPost tracker status: {tracker_status}{said}",
                        "location": "",
                        "carrier_status_code": "",
                        "carrier_status_detail": _easypost_detail(tracker_status, tracker_detail),
                        "external_id": f"easypost:{tracker_id}:status:{tracker_status}:{tracker.get('updated_at')}",
                    },
                )
            )
    if errors:
        raise TrackingPayloadError(f"{len(errors)} problem(s) in the EasyPost event", errors)
    events = []
    for path, fields in parsed:
        event = _build(
            path, errors, tracking_number=tracking_number, carrier=carrier, source=TrackingSource.WEBHOOK, **fields
        )
        if event is not None:
            events.append(event)
    if errors:
        raise TrackingPayloadError(f"{len(errors)} problem(s) in the EasyPost event", errors)
    return events


# --------------------------------------------------------------------------- CSV upload

CSV_REQUIRED_COLUMNS = ("tracking_number", "carrier", "status", "occurred_at")
CSV_COLUMNS = (*CSV_REQUIRED_COLUMNS, "description", "location")
"""The order docs/tracking.md shows; any order is accepted, description and location may be left out."""


@dataclass(frozen=True)
class TrackingCsvProblem:
    row: int  # record number in the file; the header is row 1, as a spreadsheet shows it
    column: str
    reason: str


class TrackingCsvError(DomainError):
    """The upload was refused and nothing from it applied; ``problems`` lists every bad cell."""

    def __init__(self, source: str, problems: list[TrackingCsvProblem]) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(f"row {p.row} {p.column}: {p.reason}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            ErrorCode.VALIDATION_ERROR,
            f"{source}: {len(problems)} problem(s), nothing loaded: {shown}{more}",
            [FieldError(f"rows[{p.row}].{p.column}", p.reason) for p in problems],
        )


def _check_csv_header(header: list[str]) -> list[TrackingCsvProblem]:
    if not any(header):
        return [TrackingCsvProblem(1, "(header)", "the file is empty; expected the header " + ",".join(CSV_COLUMNS))]
    problems: list[TrackingCsvProblem] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(TrackingCsvProblem(1, name, "column appears more than once"))
        seen.add(name)
        if name not in CSV_COLUMNS:
            problems.append(
                TrackingCsvProblem(1, name or "(blank)", f"unknown column; expected {', '.join(CSV_COLUMNS)}")
            )
    problems += [TrackingCsvProblem(1, n, "required column is missing") for n in CSV_REQUIRED_COLUMNS if n not in seen]
    return problems


def parse_tracking_csv(data: bytes | str, *, source: str = "upload") -> list[TrackingEvent]:
    """Events from an uploaded CSV (UTF-8, a spreadsheet's byte-order mark is fine). Every row
    is checked; any problem raises ``TrackingCsvError`` with all of them and returns nothing."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problem = TrackingCsvProblem(1, "(file)", f"is not UTF-8 text (bad byte at offset {exc.start})")
            raise TrackingCsvError(source, [problem]) from exc
    data = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        problems = _check_csv_header(header)
        if problems:
            raise TrackingCsvError(source, problems)
        events, problems = _parse_csv_rows(reader, header)
    except csv.Error as exc:
        raise TrackingCsvError(
            source, [TrackingCsvProblem(reader.line_num, "(file)", f"is not valid CSV: {exc}")]
        ) from exc
    if not problems and not events:
        problems.append(TrackingCsvProblem(1, "(rows)", "the file has a header but no rows"))
    if problems:
        order = {name: i for i, name in enumerate(header)}
        raise TrackingCsvError(source, sorted(problems, key=lambda p: (p.row, order.get(p.column, len(order)))))
    return events


def _parse_csv_rows(
    reader: Iterator[list[str]], header: list[str]
) -> tuple[list[TrackingEvent], list[TrackingCsvProblem]]:
    problems: list[TrackingCsvProblem] = []
    events: list[TrackingEvent] = []
    row_no = 1
    for cells in reader:
        row_no += 1
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        if row_no - 1 > MAX_CSV_ROWS:
            problems.append(TrackingCsvProblem(row_no, "(rows)", f"more than {MAX_CSV_ROWS} rows; split the file"))
            break
        if len(cells) != len(header):
            problems.append(
                TrackingCsvProblem(row_no, "(row)", f"has {len(cells)} cells; the header has {len(header)}")
            )
            continue
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        errors: list[FieldError] = []
        status = parse_status(row["status"])
        if status is None:
            reason = f"unknown status {row['status']!r}; one of {_STATUS_NAMES}" if row["status"] else "is required"
            errors.append(FieldError("status", reason))
        occurred_at = parse_timestamp(row["occurred_at"])
        if occurred_at is None:
            errors.append(FieldError("occurred_at", _TIME_REASON if row["occurred_at"] else "is required"))
        event = None
        if status is not None and occurred_at is not None:
            event = _build(
                "",
                errors,
                tracking_number=row["tracking_number"],
                carrier=row["carrier"],
                status=status,
                occurred_at=occurred_at,
                description=row.get("description", ""),
                location=row.get("location", ""),
                source=TrackingSource.CSV,
            )
        else:  # still report the text cells of a row whose status or time is bad
            errors += [FieldError(n, "is required") for n in ("tracking_number", "carrier") if not row[n]]
        problems += [TrackingCsvProblem(row_no, e.field, e.reason) for e in errors]
        if event is not None:
            events.append(event)
    return events, problems
