"""Orders the customer collects at a store: buy online, pick up in store (BOPIS) and curbside.

The order is reserved at the chosen store only. The store works its fulfilment order as usual
(accepted, picked, packed), then marks it **ready for pickup**, which starts the hold: the
store keeps it ``hold_days`` days (counted in the store's own calendar, up to local midnight),
after which it is cancelled and its stock goes back on sale. The customer proves who they are
with a short **pickup code**; a few wrong codes in a row lock the hand-over for a while so the
code cannot be guessed at the counter. docs/pickup.md has the flow; the rules are here.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from openoms.domain.errors import DomainError, ErrorCode, FieldError, IllegalTransition, validation_error
from openoms.domain.fulfillment import FulfilmentStatus


class FulfilmentMethod(StrEnum):
    SHIP = "ship"  # delivered by a carrier (the default)
    PICKUP = "pickup"  # collected at the store counter
    CURBSIDE = "curbside"  # collected at the store, brought out to the customer's car


PICKUP_METHODS = frozenset({FulfilmentMethod.PICKUP, FulfilmentMethod.CURBSIDE})

CODE_DIGITS = 6
#: Wrong codes in a row before the hand-over is locked, and for how long.
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
DEFAULT_HOLD_DAYS = 7
MAX_HOLD_DAYS = 90

#: Statuses a fulfilment order may be marked ready from (the progress steps are optional).
READYABLE = frozenset(
    {FulfilmentStatus.RELEASED, FulfilmentStatus.ACCEPTED, FulfilmentStatus.PICKED, FulfilmentStatus.PACKED}
)


def new_pickup_code() -> str:
    """Six random digits from the OS's secure generator: short enough to read out at a counter,
    and a guess has a one-in-a-million chance (five guesses before a lock-out)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def check_method(method: str, pickup_location: str | None) -> FulfilmentMethod:
    """A pickup or curbside order names its store; a shipped order names none."""
    try:
        m = FulfilmentMethod(method)
    except ValueError:
        raise validation_error(
            "fulfilment_method", f"{method!r} is not one of {', '.join(x.value for x in FulfilmentMethod)}"
        ) from None
    if m in PICKUP_METHODS and not (pickup_location or "").strip():
        raise validation_error("pickup_location", f"is required for {m.value} orders: the store's location code")
    if m == FulfilmentMethod.SHIP and pickup_location:
        raise validation_error("pickup_location", "only pickup and curbside orders are collected at a store")
    return m


def check_pickup_store(code: str, *, found: bool, active: bool, pickup: bool) -> None:
    if not found:
        raise validation_error("pickup_location", f"unknown location {code!r}", ErrorCode.UNKNOWN_LOCATION)
    if not active:
        raise validation_error("pickup_location", f"location {code} is inactive")
    if not pickup:
        raise validation_error("pickup_location", f"location {code} does not offer pickup")


def expires_at(ready_at: dt.datetime, hold_days: int, timezone: str) -> dt.datetime:
    """The end of the hold: local midnight at the end of the ``hold_days``-th day after the day
    the order became ready, in the store's timezone (ready Tue 10:00 with 7 days: held to the
    end of the next Tuesday). Returned in UTC."""
    if ready_at.tzinfo is None:
        raise validation_error("ready_at", "must be a timezone-aware datetime")
    zone = ZoneInfo(timezone)
    local_day = ready_at.astimezone(zone).date()
    last = local_day + dt.timedelta(days=max(hold_days, 0) + 1)
    return dt.datetime.combine(last, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def check_ready(ref: str, status: FulfilmentStatus) -> None:
    if status not in READYABLE:
        raise IllegalTransition(
            f"Fulfilment order {ref} is {status.value}: only an open fulfilment order that has not been "
            "handed over can be marked ready for pickup",
            status.value,
            FulfilmentStatus.READY_FOR_PICKUP.value,
        )


def check_collectable(ref: str, status: FulfilmentStatus) -> None:
    if status != FulfilmentStatus.READY_FOR_PICKUP:
        raise IllegalTransition(
            f"Fulfilment order {ref} is {status.value}; it is handed over once it is ready for pickup",
            status.value,
            FulfilmentStatus.PICKED_UP.value,
        )


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a code entered at the counter, and the counters to store."""

    ok: bool
    failed_attempts: int
    locked_until: dt.datetime | None


def check_code(
    expected: str, given: str, *, failed_attempts: int, locked_until: dt.datetime | None, now: dt.datetime
) -> CodeCheck:
    """Compare in constant time; the ``MAX_FAILED_ATTEMPTS``-th wrong code in a row locks the
    hand-over for ``LOCKOUT``. A locked hand-over refuses even the right code until it opens."""
    if locked_until is not None and now < locked_until:
        raise locked_error(locked_until)
    if locked_until is not None:  # the lock ran out: a fresh start
        failed_attempts = 0
    entered = given.strip().replace(" ", "")
    if secrets.compare_digest(entered.encode(), expected.encode()):
        return CodeCheck(True, 0, None)
    failed = failed_attempts + 1
    return CodeCheck(False, failed, now + LOCKOUT if failed >= MAX_FAILED_ATTEMPTS else None)


def locked_error(locked_until: dt.datetime) -> DomainError:
    reason = (
        f"too many wrong codes; hand-over is locked until {locked_until.astimezone(dt.UTC):%H:%M} UTC, "
        "check the customer's order confirmation or call customer service"
    )
    return DomainError(ErrorCode.VALIDATION_ERROR, f"code: {reason}", [FieldError("code", reason)])


def wrong_code_error(check: CodeCheck) -> DomainError:
    left = MAX_FAILED_ATTEMPTS - check.failed_attempts
    if check.locked_until is not None:
        return locked_error(check.locked_until)
    reason = (
        f"does not match this order's pickup code ({left} more {'try' if left == 1 else 'tries'} before a lock-out)"
    )
    return DomainError(ErrorCode.VALIDATION_ERROR, f"code: {reason}", [FieldError("code", reason)])
