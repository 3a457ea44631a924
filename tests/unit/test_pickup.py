"""The pickup rules: methods and stores, codes and lock-outs, the hold in the store's timezone."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain import pickup as px
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.fulfillment import OPEN, FulfilmentStatus

FS = FulfilmentStatus
NOW = dt.datetime(2026, 11, 24, 18, 0, tzinfo=dt.UTC)


def test_codes_are_six_random_digits() -> None:
    codes = {px.new_pickup_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190  # random, not a counter or a constant


@pytest.mark.parametrize(
    ("method", "store", "field"),
    [
        ("pickup", None, "pickup_location"),
        ("curbside", "  ", "pickup_location"),
        ("ship", "ST-NYC", "pickup_location"),
        ("drone", "ST-NYC", "fulfilment_method"),
    ],
)
def test_method_and_store_go_together(method: str, store: str | None, field: str) -> None:
    with pytest.raises(DomainError) as err:
        px.check_method(method, store)
    assert err.value.errors[0].field == field


def test_good_methods() -> None:
    assert px.check_method("ship", None) == px.FulfilmentMethod.SHIP
    assert px.check_method("curbside", "ST-NYC") == px.FulfilmentMethod.CURBSIDE


@pytest.mark.parametrize(
    ("found", "active", "pickup", "code"),
    [
        (False, False, False, ErrorCode.UNKNOWN_LOCATION),
        (True, False, True, ErrorCode.VALIDATION_ERROR),
        (True, True, False, ErrorCode.VALIDATION_ERROR),
    ],
)
def test_only_an_active_pickup_store(found: bool, active: bool, pickup: bool, code: ErrorCode) -> None:
    with pytest.raises(DomainError) as err:
        px.check_pickup_store("X", found=found, active=active, pickup=pickup)
    assert err.value.code == code and err.value.errors[0].field == "pickup_location"
    px.check_pickup_store("X", found=True, active=True, pickup=True)


def test_the_hold_ends_at_local_midnight_in_the_stores_timezone() -> None:
    # 23:30 on Mon 30 Nov in Chicago is already Tuesday in UTC: the local day counts.
    ready = dt.datetime(2026, 12, 1, 5, 30, tzinfo=dt.UTC)
    end = px.expires_at(ready, 7, "America/Chicago")
    assert end == dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.UTC)  # midnight 7/8 Dec, Chicago (UTC-6)
    assert px.expires_at(ready, 7, "Europe/Berlin") == dt.datetime(2026, 12, 8, 23, 0, tzinfo=dt.UTC)
    # Across the clocks going forward (New York, 8 Mar 2026): midnight is then UTC-4.
    assert px.expires_at(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC), 7, "America/New_York") == dt.datetime(
        2026, 3, 10, 4, 0, tzinfo=dt.UTC
    )
    assert px.expires_at(ready, 0, "America/Chicago") == dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
    with pytest.raises(DomainError):
        px.expires_at(dt.datetime(2026, 12, 1, 5, 30), 7, "America/Chicago")


@given(st.datetimes(timezones=st.just(dt.UTC)), st.integers(0, px.MAX_HOLD_DAYS))
def test_the_hold_is_at_least_the_days_promised(ready: dt.datetime, days: int) -> None:
    end = px.expires_at(ready, days, "America/Los_Angeles")
    assert end > ready + dt.timedelta(days=days)
    assert end <= ready + dt.timedelta(days=days + 1, hours=1)


def test_right_code_passes_and_resets_the_count() -> None:
    check = px.check_code("042917", " 042 917", failed_attempts=3, locked_until=None, now=NOW)
    assert check == px.CodeCheck(True, 0, None)


def test_wrong_codes_count_then_lock() -> None:
    failed = 0
    for i in range(px.MAX_FAILED_ATTEMPTS):
        check = px.check_code("042917", "111111", failed_attempts=failed, locked_until=None, now=NOW)
        assert not check.ok and check.failed_attempts == i + 1
        failed = check.failed_attempts
    assert check.locked_until == NOW + px.LOCKOUT
    assert "locked" in px.wrong_code_error(check).errors[0].reason
    with pytest.raises(DomainError) as err:  # the right code too, while locked
        px.check_code("042917", "042917", failed_attempts=failed, locked_until=check.locked_until, now=NOW)
    assert err.value.errors[0].field == "code"
    later = NOW + px.LOCKOUT
    wrong_again = px.check_code("042917", "222222", failed_attempts=failed, locked_until=check.locked_until, now=later)
    assert wrong_again.failed_attempts == 1 and wrong_again.locked_until is None  # a fresh start


def test_a_wrong_code_says_how_many_tries_are_left() -> None:
    check = px.check_code("042917", "1", failed_attempts=0, locked_until=None, now=NOW)
    reason = px.wrong_code_error(check).errors[0].reason
    assert "4 more tries" in reason


@pytest.mark.parametrize("status", list(FS))
def test_ready_and_collect_statuses(status: FS) -> None:
    if status in {FS.RELEASED, FS.ACCEPTED, FS.PICKED, FS.PACKED}:
        px.check_ready("FO-1", status)
    else:
        with pytest.raises(DomainError) as err:
            px.check_ready("FO-1", status)
        assert err.value.code == ErrorCode.ILLEGAL_TRANSITION
    if status == FS.READY_FOR_PICKUP:
        px.check_collectable("FO-1", status)
    else:
        with pytest.raises(DomainError):
            px.check_collectable("FO-1", status)
    assert (status in OPEN) != (status in {FS.SHIPPED, FS.REJECTED, FS.CANCELLED, FS.PICKED_UP})
