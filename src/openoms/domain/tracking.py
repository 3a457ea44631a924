"""Carrier tracking: what a shipment's tracking events say about where the parcel is, and
whether it arrived when the customer was told it would.

Tracking events reach OpenOMS through a signed webhook, a CSV upload or the API (see
docs/tracking.md). They arrive late, twice and out of order, so a shipment's tracking state is
a function of the *set* of its events, never of the order they came in:

* **De-duplication.** An event is a duplicate, and changes nothing, when an event with the same
  ``external_id`` or with the same status at the same instant was already seen. The first one
  in wins.
* **Status.** The events are read oldest first (``occurred_at``; at the same instant, the one
  further along the parcel's life counts as later, see ``_STATUS_ORDER``) and the latest one
  decides, except that ``delivered`` is terminal unless a later ``returned_to_sender`` follows
  it, and ``returned_to_sender`` is terminal. ``unknown`` events go on the timeline and decide
  nothing.
* **Exceptions.** An ``exception`` event is flagged for the back-office dashboard until a
  later non-exception event (other than ``unknown``) clears it, even when the status is
  terminal: a damage report after delivery still needs a person.
* **Promise accuracy.** A delivery is early, on time or late against the promised window,
  judged on the calendar date at the destination (``promise_accuracy``).

Everything here is pure: the state is rebuilt from the events it holds, so a service can load
a shipment's events, apply the new one with ``next_shipment_status`` and store the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openoms.domain.errors import DomainError, ErrorCode, FieldError, validation_error


class TrackingStatus(StrEnum):
    """Where the parcel is, in the carrier-neutral words the order timeline uses."""

    PRE_TRANSIT = "pre_transit"  # label created, the carrier has the data but not yet the parcel
    IN_TRANSIT = "in_transit"  # the carrier has it and is moving it
    OUT_FOR_DELIVERY = "out_for_delivery"  # on the vehicle for the last mile today
    AVAILABLE_FOR_PICKUP = "available_for_pickup"  # waiting at a pick-up point or locker
    DELIVERED = "delivered"  # handed over at the destination
    EXCEPTION = "exception"  # delay, failed attempt, damage, address problem: someone should look
    RETURNED_TO_SENDER = "returned_to_sender"  # on its way back, or back, to the shipper
    CANCELLED = "cancelled"  # label voided or tracker cancelled before the carrier had the parcel
    UNKNOWN = "unknown"  # the carrier said something that maps to none of the above


class TrackingSource(StrEnum):
    WEBHOOK = "webhook"
    CSV = "csv"
    API = "api"


# Tie-break for events at the same instant (CSV uploads often carry whole minutes): the status
# further along the parcel's life is taken as the later event.
_STATUS_ORDER: dict[TrackingStatus, int] = {
    TrackingStatus.UNKNOWN: 0,
    TrackingStatus.PRE_TRANSIT: 1,
    TrackingStatus.CANCELLED: 2,
    TrackingStatus.IN_TRANSIT: 3,
    TrackingStatus.OUT_FOR_DELIVERY: 4,
    TrackingStatus.AVAILABLE_FOR_PICKUP: 5,
    TrackingStatus.EXCEPTION: 6,
    TrackingStatus.DELIVERED: 7,
    TrackingStatus.RETURNED_TO_SENDER: 8,
}

MAX_TRACKING_NUMBER = 64
MAX_CARRIER = 64
MAX_DESCRIPTION = 2000
MAX_LOCATION = 500
MAX_CODE = 200
"""Longest accepted texts. Real tracking numbers stay under 40 characters; the limits stop a
bad upload from filling the timeline, not a real carrier."""


def _text_problems(name: str, value: str, limit: int, *, required: bool) -> list[FieldError]:
    if required and not value.strip():
        return [FieldError(name, "is required")]
    if len(value) > limit:
        return [FieldError(name, f"is longer than {limit} characters")]
    return []


@dataclass(frozen=True)
class TrackingEvent:
    """One thing a carrier said about one parcel. ``occurred_at`` is when it happened (not when
    we heard of it), stored in UTC; ``external_id`` is the sender's id for de-duplication."""

    tracking_number: str
    carrier: str
    status: TrackingStatus
    occurred_at: dt.datetime
    description: str = ""
    location: str = ""
    carrier_status_code: str = ""
    carrier_status_detail: str = ""
    source: TrackingSource = TrackingSource.API
    external_id: str | None = None

    def __post_init__(self) -> None:
        problems = [
            *_text_problems("tracking_number", self.tracking_number, MAX_TRACKING_NUMBER, required=True),
            *_text_problems("carrier", self.carrier, MAX_CARRIER, required=True),
            *_text_problems("description", self.description, MAX_DESCRIPTION, required=False),
            *_text_problems("location", self.location, MAX_LOCATION, required=False),
            *_text_problems("carrier_status_code", self.carrier_status_code, MAX_CODE, required=False),
            *_text_problems("carrier_status_detail", self.carrier_status_detail, MAX_CODE, required=False),
        ]
        if self.external_id is not None:
            problems += _text_problems("external_id", self.external_id, MAX_CODE, required=True)
        if not isinstance(self.status, TrackingStatus):
            problems.append(FieldError("status", f"{self.status!r} is not a tracking status"))
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            problems.append(FieldError("occurred_at", "needs a UTC offset (a timezone-aware time)"))
        if problems:
            raise DomainError(ErrorCode.VALIDATION_ERROR, "invalid tracking event", problems)
        object.__setattr__(self, "tracking_number", self.tracking_number.strip())
        object.__setattr__(self, "carrier", self.carrier.strip())
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(dt.UTC))

    @property
    def instant_key(self) -> tuple[TrackingStatus, dt.datetime]:
        """Two events saying the same status at the same instant are one event."""
        return (self.status, self.occurred_at)

    def sort_key(self) -> tuple[dt.datetime, int, str, str, str]:
        """Oldest first; a total order, so replaying a set of events is deterministic."""
        return (
            self.occurred_at,
            _STATUS_ORDER[self.status],
            self.external_id or "",
            self.description,
            self.location,
        )


# --------------------------------------------------------------------------- shipment state


@dataclass(frozen=True)
class ShipmentTracking:
    """A shipment's tracking as its events decide it. ``status`` is None until an event other
    than ``unknown`` arrives; ``open_exception`` is the event the dashboard alert is about."""

    tracking_number: str
    events: tuple[TrackingEvent, ...] = ()  # distinct events, oldest first
    status: TrackingStatus | None = None
    status_since: dt.datetime | None = None  # when the deciding event happened
    delivered_at: dt.datetime | None = None  # first delivery, None if returned to sender
    open_exception: TrackingEvent | None = None
    seen_event_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def needs_attention(self) -> bool:
        return self.open_exception is not None

    @property
    def is_final(self) -> bool:
        """No later event can change the status any more (returned to sender); a delivered
        parcel can still be returned to sender."""
        return self.status is TrackingStatus.RETURNED_TO_SENDER

    def is_duplicate(self, event: TrackingEvent) -> bool:
        if event.external_id is not None and event.external_id in self.seen_event_ids:
            return True
        return any(e.instant_key == event.instant_key for e in self.events)


class TrackingEffect(StrEnum):
    DUPLICATE = "duplicate"  # seen before: nothing changes, nothing goes on the timeline
    STATUS_CHANGED = "status_changed"  # a new fact that moved the shipment's status
    RECORDED = "recorded"  # a new fact for the timeline that leaves the status as it was


@dataclass(frozen=True)
class TrackingUpdate:
    """What one incoming event did, so the service knows what to write: the shipment's status,
    a timeline entry (unless a duplicate), and whether to raise or clear the dashboard alert."""

    tracking: ShipmentTracking
    event: TrackingEvent
    effect: TrackingEffect
    previous_status: TrackingStatus | None
    exception_raised: bool
    exception_cleared: bool

    @property
    def status(self) -> TrackingStatus | None:
        return self.tracking.status


def _decide(tracking_number: str, events: tuple[TrackingEvent, ...], seen: frozenset[str]) -> ShipmentTracking:
    status: TrackingStatus | None = None
    since: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    open_exception: TrackingEvent | None = None
    for event in events:
        if event.status is TrackingStatus.UNKNOWN:
            continue
        open_exception = event if event.status is TrackingStatus.EXCEPTION else None
        if status is TrackingStatus.RETURNED_TO_SENDER:
            continue
        if status is TrackingStatus.DELIVERED and event.status is not TrackingStatus.RETURNED_TO_SENDER:
            continue
        if event.status is not status:
            status, since = event.status, event.occurred_at
        if event.status is TrackingStatus.DELIVERED:
            delivered_at = event.occurred_at
        elif event.status is TrackingStatus.RETURNED_TO_SENDER:
            delivered_at = None
    return ShipmentTracking(tracking_number, events, status, since, delivered_at, open_exception, seen)


def next_shipment_status(current: ShipmentTracking, event: TrackingEvent) -> TrackingUpdate:
    """Apply one event, whenever it happened: the state is re-decided from all distinct events,
    so a late or repeated delivery of a carrier's message gives the same answer as a punctual one."""
    if event.tracking_number != current.tracking_number:
        raise validation_error(
            "tracking_number",
            f"event for {event.tracking_number!r} applied to shipment tracking {current.tracking_number!r}",
        )
    if current.is_duplicate(event):
        return TrackingUpdate(current, event, TrackingEffect.DUPLICATE, current.status, False, False)
    events = tuple(sorted((*current.events, event), key=TrackingEvent.sort_key))
    seen = current.seen_event_ids | ({event.external_id} if event.external_id else set())
    after = _decide(current.tracking_number, events, frozenset(seen))
    changed = after.status is not current.status
    return TrackingUpdate(
        tracking=after,
        event=event,
        effect=TrackingEffect.STATUS_CHANGED if changed else TrackingEffect.RECORDED,
        previous_status=current.status,
        exception_raised=current.open_exception is None and after.open_exception is not None,
        exception_cleared=current.open_exception is not None and after.open_exception is None,
    )


def replay_tracking(tracking_number: str, events: Iterable[TrackingEvent]) -> ShipmentTracking:
    """A shipment's tracking from its stored events, in whatever order they were stored."""
    tracking = ShipmentTracking(tracking_number.strip())
    for event in events:
        tracking = next_shipment_status(tracking, event).tracking
    return tracking


# --------------------------------------------------------------------------- promise accuracy


class PromiseOutcome(StrEnum):
    EARLY = "early"  # before the first promised day
    ON_TIME = "on_time"  # within the promised window
    LATE = "late"  # after the last promised day


@dataclass(frozen=True)
class PromiseAccuracy:
    """Delivered-vs-promised for one shipment. ``days_late`` and ``days_early`` are calendar
    days at the destination (0 unless late or early respectively)."""

    outcome: PromiseOutcome
    delivered_on: dt.date  # local calendar date at the destination
    days_late: int
    days_early: int

    @property
    def kept(self) -> bool:
        """The customer was not let down: early counts as kept, late does not."""
        return self.outcome is not PromiseOutcome.LATE


def promise_accuracy(
    promised_earliest: dt.date,
    promised_latest: dt.date,
    delivered_at: dt.datetime,
    destination_timezone: str,
) -> PromiseAccuracy:
    """Judge a delivery on the date the customer saw it happen: 23:30 local on the last
    promised day is on time even if it is already tomorrow in UTC."""
    problems: list[FieldError] = []
    if promised_earliest > promised_latest:
        problems.append(FieldError("promised_earliest", "is after promised_latest"))
    if delivered_at.tzinfo is None or delivered_at.utcoffset() is None:
        problems.append(FieldError("delivered_at", "needs a UTC offset (a timezone-aware time)"))
    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(destination_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(FieldError("destination_timezone", f"{destination_timezone!r} is not an IANA timezone"))
    if problems or zone is None:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "cannot judge promise accuracy", problems)
    delivered_on = delivered_at.astimezone(zone).date()
    if delivered_on > promised_latest:
        return PromiseAccuracy(PromiseOutcome.LATE, delivered_on, (delivered_on - promised_latest).days, 0)
    if delivered_on < promised_earliest:
        return PromiseAccuracy(PromiseOutcome.EARLY, delivered_on, 0, (promised_earliest - delivered_on).days)
    return PromiseAccuracy(PromiseOutcome.ON_TIME, delivered_on, 0, 0)
