"""Buying shipping labels: the interface carrier integrations implement, and the built-in one.

A ``LabelProvider`` turns parcels (weights) from a location to an address at a service level
into labels: carrier, service, tracking number, price. A real carrier API (UPS, FedEx, a label
broker) is one class implementing ``buy``. The built-in provider prices every parcel from the
carrier rate tables that routing uses and issues OpenOMS tracking references, for carriers with
no API integration: local couriers, the merchant's own vans, or a carrier manifested by hand.
Its labels are printed with the OpenOMS template (docs/documents.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.network import Address, LocationProfile, ServiceLevel
from openoms.domain.routing import QuoteFn


@dataclass(frozen=True)
class LabelRequest:
    location: LocationProfile
    destination: Address
    service_level: ServiceLevel
    weights_grams: Sequence[int]  # one per parcel
    service_code: str | None = None  # a specific service; else the cheapest of the level


@dataclass(frozen=True)
class PurchasedLabel:
    carrier: str
    service_code: str
    tracking_number: str
    cost: Decimal
    currency: str


class LabelProvider(Protocol):
    name: str

    def buy(self, request: LabelRequest) -> list[PurchasedLabel]:
        """One label per parcel, in order, or ``DomainError`` saying why none can be bought."""
        ...


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ``digits``: a mistyped reference is caught at the scanner."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def issue_reference() -> str:
    """An OpenOMS tracking reference: ``OO`` + 15 random digits + a Luhn check digit."""
    body = "".join(str(secrets.randbelow(10)) for _ in range(15))
    return f"OO{body}{luhn_digit(body)}"


class RateTableLabels:
    """Labels priced from the rate tables; tracking references issued by OpenOMS."""

    name = "openoms"

    def __init__(self, quote: QuoteFn, issue: Callable[[], str] = issue_reference) -> None:
        self.quote = quote
        self.issue = issue

    def buy(self, request: LabelRequest) -> list[PurchasedLabel]:
        if not request.weights_grams:
            raise DomainError(
                ErrorCode.VALIDATION_ERROR, "packages: at least one", [FieldError("packages", "at least one")]
            )
        labels = []
        for i, weight in enumerate(request.weights_grams):
            quotes = self.quote(request.location, request.destination, weight, request.service_level)
            if request.service_code:
                quotes = [q for q in quotes if q.service_code == request.service_code]
            if not quotes:
                wanted = request.service_code or f"a {request.service_level.value} service"
                raise DomainError(
                    ErrorCode.VALIDATION_ERROR,
                    f"packages[{i}]: no rate for {wanted} from {request.location.code} for {weight} g "
                    "to this address; choose another service or load rates for it",
                    [FieldError(f"packages[{i}].weight_grams", f"no rate for {wanted} at {weight} g")],
                )
            best = quotes[0]  # cheapest first
            labels.append(PurchasedLabel(best.carrier, best.service_code, self.issue(), best.cost, best.currency))
        return labels
