"""A shipment's one-word stage from its packages, and promised-vs-delivered for the lists."""

from __future__ import annotations

import datetime as dt

import pytest

from openoms.domain.shipment_status import (
    STAGE_RANK,
    STATUS_RANK,
    PromiseState,
    ShipmentStage,
    promise_view,
    shipment_stage,
)
from openoms.domain.tracking import TrackingStatus

S = ShipmentStage


@pytest.mark.parametrize(
    ("packages", "stage"),
    [
        ([], S.LABEL_CREATED),
        ([(None, False)], S.LABEL_CREATED),
        ([("pre_transit", False), ("in_transit", False)], S.LABEL_CREATED),
        ([("delivered", False), ("in_transit", False)], S.IN_TRANSIT),
        ([("delivered", False), ("out_for_delivery", False)], S.OUT_FOR_DELIVERY),
        ([("delivered", False), ("delivered", False)], S.DELIVERED),
        ([("delivered", True)], S.EXCEPTION),  # damage reported after delivery
        ([("exception", False), ("delivered", False)], S.EXCEPTION),  # acknowledged, not yet resolved
        ([("returned_to_sender", False), ("delivered", False)], S.RETURNED_TO_SENDER),
        ([("cancelled", False), ("in_transit", False)], S.CANCELLED),
        ([("available_for_pickup", False)], S.AVAILABLE_FOR_PICKUP),
    ],
)
def test_the_least_advanced_package_decides_and_any_exception_wins(
    packages: list[tuple[str | None, bool]], stage: ShipmentStage
) -> None:
    assert shipment_stage(packages) is stage


def test_every_stored_status_has_a_rank_except_exception() -> None:
    ranked = set(STATUS_RANK)
    assert ranked == {s.value for s in TrackingStatus} - {"exception"}
    assert set(STAGE_RANK) == set(ShipmentStage) - {ShipmentStage.EXCEPTION}


TODAY = dt.date(2030, 3, 10)


@pytest.mark.parametrize(
    ("latest", "outcome", "days_late", "delivered", "state", "days"),
    [
        (None, None, None, False, PromiseState.NO_PROMISE, 0),
        (None, None, None, True, PromiseState.NO_PROMISE, 0),
        (TODAY, "late", 2, True, PromiseState.LATE, 2),
        (TODAY, "on_time", 0, True, PromiseState.ON_TIME, 0),
        (TODAY, "early", 0, True, PromiseState.EARLY, 0),
        (TODAY - dt.timedelta(days=3), None, None, False, PromiseState.OVERDUE, 3),
        (TODAY, None, None, False, PromiseState.DUE, 0),
        (TODAY + dt.timedelta(days=1), None, None, False, PromiseState.DUE, 1),
        (TODAY + dt.timedelta(days=4), None, None, False, PromiseState.PENDING, 4),
    ],
)
def test_promise_view(
    latest: dt.date | None, outcome: str | None, days_late: int | None, delivered: bool, state: PromiseState, days: int
) -> None:
    view = promise_view(latest, outcome, days_late, delivered, TODAY)
    assert (view.state, view.days) == (state, days)
    assert view.at_risk == (state in (PromiseState.LATE, PromiseState.OVERDUE, PromiseState.DUE))
