"""A shipment's tracking in one word for lists and filters, and whether its promise is kept or
at risk. A shipment has several packages, each with its own tracking status; a person scanning a
list of shipments wants one badge, so the shipment is as far along as its *least* advanced
package, and any package with a carrier exception makes the whole shipment an exception.

Pure: the services compute the same thing in SQL for filters (``STAGE_RANK``) and in Python for
display (``shipment_stage``), from this one table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from openoms.domain.tracking import TrackingStatus

TS = TrackingStatus


class ShipmentStage(StrEnum):
    CANCELLED = "cancelled"  # every label voided
    LABEL_CREATED = "label_created"  # no carrier scan yet
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    RETURNED_TO_SENDER = "returned_to_sender"
    DELIVERED = "delivered"  # every package delivered
    EXCEPTION = "exception"  # a carrier reported a problem on some package

    @property
    def label(self) -> str:
        return STAGE_LABELS[self]


STAGE_LABELS: Mapping[ShipmentStage, str] = {
    ShipmentStage.CANCELLED: "Cancelled",
    ShipmentStage.LABEL_CREATED: "Label created",
    ShipmentStage.IN_TRANSIT: "In transit",
    ShipmentStage.OUT_FOR_DELIVERY: "Out for delivery",
    ShipmentStage.AVAILABLE_FOR_PICKUP: "Ready for pick-up",
    ShipmentStage.RETURNED_TO_SENDER: "Returned to sender",
    ShipmentStage.DELIVERED: "Delivered",
    ShipmentStage.EXCEPTION: "Exception",
}

#: A package's tracking status as a stage (no status yet is a label created).
STAGE_OF_STATUS: Mapping[TrackingStatus, ShipmentStage] = {
    TS.PRE_TRANSIT: ShipmentStage.LABEL_CREATED,
    TS.UNKNOWN: ShipmentStage.LABEL_CREATED,
    TS.CANCELLED: ShipmentStage.CANCELLED,
    TS.IN_TRANSIT: ShipmentStage.IN_TRANSIT,
    TS.OUT_FOR_DELIVERY: ShipmentStage.OUT_FOR_DELIVERY,
    TS.AVAILABLE_FOR_PICKUP: ShipmentStage.AVAILABLE_FOR_PICKUP,
    TS.RETURNED_TO_SENDER: ShipmentStage.RETURNED_TO_SENDER,
    TS.DELIVERED: ShipmentStage.DELIVERED,
}

#: Least advanced first: a shipment is at the stage of its lowest-ranked package.
STAGE_RANK: Mapping[ShipmentStage, int] = {
    ShipmentStage.CANCELLED: 0,
    ShipmentStage.LABEL_CREATED: 1,
    ShipmentStage.IN_TRANSIT: 2,
    ShipmentStage.OUT_FOR_DELIVERY: 3,
    ShipmentStage.AVAILABLE_FOR_PICKUP: 4,
    ShipmentStage.RETURNED_TO_SENDER: 5,
    ShipmentStage.DELIVERED: 6,
}
#: The rank of each stored package status; a status not listed (none yet) ranks as a label created.
STATUS_RANK: Mapping[str, int] = {s.value: STAGE_RANK[stage] for s, stage in STAGE_OF_STATUS.items()}
DEFAULT_RANK = STAGE_RANK[ShipmentStage.LABEL_CREATED]


def is_exception(status: str | None, exception_open: bool) -> bool:
    """An open alert, or a carrier status of exception that was acknowledged but not yet
    followed by a better scan: the badge stays honest about where the parcel is."""
    return exception_open or status == TS.EXCEPTION.value


def shipment_stage(packages: Iterable[tuple[str | None, bool]]) -> ShipmentStage:
    """The stage of a shipment from its packages' ``(tracking status, exception open)``."""
    ranks: list[int] = []
    for status, exception_open in packages:
        if is_exception(status, exception_open):
            return ShipmentStage.EXCEPTION
        ranks.append(STATUS_RANK.get(status or "", DEFAULT_RANK))
    lowest = min(ranks, default=DEFAULT_RANK)
    return next(stage for stage, rank in STAGE_RANK.items() if rank == lowest)


class PromiseState(StrEnum):
    NO_PROMISE = "no_promise"
    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"  # delivered after the last promised day
    OVERDUE = "overdue"  # not delivered, and the last promised day has passed at the destination
    DUE = "due"  # not delivered, the last promised day is today or tomorrow: at risk
    PENDING = "pending"  # not delivered, still ahead of the promise


@dataclass(frozen=True)
class PromiseView:
    state: PromiseState
    days: int = 0  # days late (late, overdue) or days left (due, pending)

    @property
    def at_risk(self) -> bool:
        return self.state in (PromiseState.OVERDUE, PromiseState.DUE, PromiseState.LATE)


def promise_view(
    latest: dt.date | None, outcome: str | None, days_late: int | None, delivered: bool, today: dt.date
) -> PromiseView:
    """Promised against delivered: the stored outcome once delivered, otherwise how the last
    promised day compares with ``today`` on the destination's calendar."""
    if delivered:
        if outcome is None:
            return PromiseView(PromiseState.NO_PROMISE)
        state = PromiseState(outcome)
        return PromiseView(state, days_late or 0 if state is PromiseState.LATE else 0)
    if latest is None:
        return PromiseView(PromiseState.NO_PROMISE)
    left = (latest - today).days
    if left < 0:
        return PromiseView(PromiseState.OVERDUE, -left)
    if left <= 1:
        return PromiseView(PromiseState.DUE, left)
    return PromiseView(PromiseState.PENDING, left)
