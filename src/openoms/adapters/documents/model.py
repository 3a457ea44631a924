"""What the fulfilment documents print, as plain values.

The renderers take these and nothing else, so a document is a pure function of its data: the
service that gathers an order, a shipment or a wave builds one of these, and the same input
always gives the same bytes. ``validate_*`` refuses data a person could not act on (a label
without a tracking number, a negative quantity) before anything is drawn.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from openoms.domain.errors import DomainError, ErrorCode, FieldError


class PaperSize(StrEnum):
    """Office paper for pick lists and packing slips; labels are always 4 x 6 inch."""

    LETTER = "letter"
    A4 = "a4"


@dataclass(frozen=True)
class PostalAddress:
    """A ship-from or ship-to address as it is printed, line by line."""

    name: str
    line1: str
    city: str
    country: str  # ISO 3166-1 alpha-2, e.g. "US"
    company: str | None = None
    line2: str | None = None
    region: str | None = None  # state, province or county
    postal_code: str | None = None
    phone: str | None = None

    def city_line(self) -> str:
        """``City, ST 12345``: the line a sorter reads first."""
        tail = " ".join(p for p in (self.region, self.postal_code) if p)
        return f"{self.city}, {tail}" if tail else self.city

    def lines(self) -> list[str]:
        """The printed lines, name first, empty parts left out."""
        parts = [self.name, self.company, self.line1, self.line2, self.city_line(), self.country]
        return [p for p in parts if p]


@dataclass(frozen=True)
class PickListLine:
    """One SKU to take from the shelf, with the orders it is for."""

    sku: str
    name: str
    quantity: int
    order_numbers: Sequence[str] = ()
    bin: str | None = None  # a bin or aisle hint; OpenOMS is not a WMS, so it is optional


@dataclass(frozen=True)
class PickList:
    """The work for one location: one wave, or a set of fulfilment orders, to pick in one walk."""

    reference: str  # the pick list's own id (a wave id when picking by wave), printed as a barcode
    location_code: str
    location_name: str
    generated_at: dt.datetime  # timezone-aware; pass it in the location's own zone to print local time
    lines: Sequence[PickListLine]
    wave: str | None = None
    fulfillment_references: Sequence[str] = ()


@dataclass(frozen=True)
class PackingSlipLine:
    """What the customer ordered of one SKU and what is in this box."""

    sku: str
    name: str
    quantity_ordered: int
    quantity_shipped: int
    quantity_backordered: int = 0


@dataclass(frozen=True)
class PackingSlip:
    """The paper in the box: lets the customer check the shipment against the order."""

    order_number: str
    channel: str
    placed_at: dt.datetime  # timezone-aware
    ship_from: PostalAddress
    ship_to: PostalAddress
    shipment_reference: str
    lines: Sequence[PackingSlipLine]
    notes: str | None = None  # gift message or merchant note, wrapped and cut to a few lines


@dataclass(frozen=True)
class ShippingLabel:
    """One parcel's 4 x 6 label in the OpenOMS carrier-label template."""

    carrier: str  # e.g. "UPS"
    service_name: str  # e.g. "Ground"
    service_code: str  # e.g. "UPS-GROUND"
    tracking_number: str
    ship_from: PostalAddress
    ship_to: PostalAddress
    weight_grams: int
    order_number: str
    ship_date: dt.date
    package_number: int = 1
    package_count: int = 1
    routing_code: str | None = None  # a sort, hub or zone code from the carrier, printed large


# Carriers' tracking numbers are letters and digits, some with dashes or dots. Keeping to this
# set means Code 128 encodes them in every subset and ZPL needs no escaping in the barcode field.
TRACKING_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/]{0,38}[A-Za-z0-9]|[A-Za-z0-9]")
MAX_TEXT = 500  # longer fields are refused: they are data errors, not something to print


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _text(errors: list[FieldError], path: str, value: str | None, *, required: bool = True) -> None:
    if value is None or not value.strip():
        if required:
            errors.append(FieldError(path, "is required"))
        return
    if len(value) > MAX_TEXT:
        errors.append(FieldError(path, f"is longer than {MAX_TEXT} characters"))


def _aware(errors: list[FieldError], path: str, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        errors.append(FieldError(path, "must be timezone-aware"))


def _address(errors: list[FieldError], path: str, address: PostalAddress) -> None:
    _text(errors, f"{path}.name", address.name)
    _text(errors, f"{path}.line1", address.line1)
    _text(errors, f"{path}.city", address.city)
    if not re.fullmatch(r"[A-Z]{2}", address.country or ""):
        errors.append(FieldError(f"{path}.country", "must be an ISO 3166-1 alpha-2 code such as US"))
    for name in ("company", "line2", "region", "postal_code", "phone"):
        _text(errors, f"{path}.{name}", getattr(address, name), required=False)


def _raise(errors: list[FieldError], what: str) -> None:
    if errors:
        first = errors[0]
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"cannot print the {what}: {first.field} {first.reason}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors,
        )


def validate_pick_list(pick_list: PickList) -> None:
    """Refuse a pick list that would send a picker for nothing or for a negative count."""
    errors: list[FieldError] = []
    _text(errors, "reference", pick_list.reference)
    _text(errors, "location_code", pick_list.location_code)
    _text(errors, "location_name", pick_list.location_name, required=False)
    _text(errors, "wave", pick_list.wave, required=False)
    _aware(errors, "generated_at", pick_list.generated_at)
    if not pick_list.lines:
        errors.append(FieldError("lines", "must have at least one line"))
    for i, line in enumerate(pick_list.lines):
        _text(errors, f"lines[{i}].sku", line.sku)
        _text(errors, f"lines[{i}].name", line.name, required=False)
        _text(errors, f"lines[{i}].bin", line.bin, required=False)
        if line.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be 1 or more"))
    _raise(errors, "pick list")


def validate_packing_slip(slip: PackingSlip) -> None:
    """Refuse a slip whose quantities cannot add up, so the customer is never told a wrong count."""
    errors: list[FieldError] = []
    _text(errors, "order_number", slip.order_number)
    _text(errors, "channel", slip.channel)
    _text(errors, "shipment_reference", slip.shipment_reference)
    _aware(errors, "placed_at", slip.placed_at)
    _address(errors, "ship_from", slip.ship_from)
    _address(errors, "ship_to", slip.ship_to)
    if slip.notes is not None and len(slip.notes) > 4 * MAX_TEXT:
        errors.append(FieldError("notes", f"is longer than {4 * MAX_TEXT} characters"))
    if not slip.lines:
        errors.append(FieldError("lines", "must have at least one line"))
    for i, line in enumerate(slip.lines):
        _text(errors, f"lines[{i}].sku", line.sku)
        _text(errors, f"lines[{i}].name", line.name, required=False)
        for name in ("quantity_ordered", "quantity_shipped", "quantity_backordered"):
            if getattr(line, name) < 0:
                errors.append(FieldError(f"lines[{i}].{name}", "must not be negative"))
        if line.quantity_shipped + line.quantity_backordered > line.quantity_ordered:
            errors.append(
                FieldError(f"lines[{i}].quantity_shipped", "shipped plus backordered is more than was ordered")
            )
    _raise(errors, "packing slip")


def validate_shipping_label(label: ShippingLabel) -> None:
    """Refuse a label a carrier could not scan or deliver: no tracking number, no address, no weight."""
    errors: list[FieldError] = []
    _text(errors, "carrier", label.carrier)
    _text(errors, "service_name", label.service_name)
    _text(errors, "service_code", label.service_code)
    _text(errors, "order_number", label.order_number)
    _text(errors, "routing_code", label.routing_code, required=False)
    if _blank(label.tracking_number):
        errors.append(FieldError("tracking_number", "is required"))
    elif not TRACKING_NUMBER.fullmatch(label.tracking_number):
        errors.append(
            FieldError(
                "tracking_number",
                "must be 1 to 40 letters, digits, spaces, dots, dashes or slashes, starting and ending "
                "with a letter or digit",
            )
        )
    _address(errors, "ship_from", label.ship_from)
    _address(errors, "ship_to", label.ship_to)
    if label.weight_grams <= 0:
        errors.append(FieldError("weight_grams", "must be more than 0"))
    if label.package_count < 1:
        errors.append(FieldError("package_count", "must be 1 or more"))
    if not 1 <= label.package_number <= max(label.package_count, 1):
        errors.append(FieldError("package_number", "must be between 1 and package_count"))
    _raise(errors, "shipping label")
