"""EDI X12 as a channel: an 850 purchase order becomes a canonical order.

The trading partner names items by its own qualifiers (VN vendor item, BP buyer part, UP UPC,
SK SKU, ...); which of them carries our SKU is partner configuration (``sku_qualifiers``,
first match wins), because the same PO1 often carries three ids and only one is ours.
The PO number is the external order id: a partner who sends the same PO again, in a new
interchange with new control numbers, gets the first order back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openoms.adapters.channels import x12
from openoms.adapters.channels.base import ChangeKind, ChannelOrderChange, MappingError

DEFAULT_SKU_QUALIFIERS = ("SK", "VN", "VP", "BP", "IN", "UP", "EN")

#: BEG01 purposes we act on; others (replace 05, confirmation 06, ...) wait for a person.
PURPOSE_ORIGINAL = "00"
PURPOSE_CANCELLATION = "01"


@dataclass(frozen=True)
class PartnerRules:
    sku_qualifiers: Sequence[str] = DEFAULT_SKU_QUALIFIERS
    default_country: str = "US"


def _address(party: x12.Party | None, default_country: str) -> dict[str, Any] | None:
    if party is None or not party.address:
        return None
    country = (party.country or default_country).upper()
    if len(country) != 2:  # N404 may be a 3-letter code; the order wants ISO 3166 alpha-2
        raise MappingError(f"N1*{party.role} N404", f"{party.country!r} is not a two-letter country code")
    out = {
        "name": party.name or None,
        "company": party.name2 or None,
        "line1": party.address[0],
        "line2": ", ".join(party.address[1:]) or None,
        "city": party.city,
        "region": party.state or None,
        "postal_code": party.postal_code or None,
        "country": country,
    }
    if not out["city"]:
        raise MappingError(f"N1*{party.role} N401", "the ship-to address has no city")
    return {k: v for k, v in out.items() if v is not None}


def _quantity(line: x12.PurchaseOrderLine) -> int:
    q = line.quantity
    if q != q.to_integral_value() or q < 1:
        raise MappingError(f"PO1 {line.line_id} PO102", f"{q} is not a whole number of units of at least 1")
    return int(q)


def purchase_order_to_order(
    po: x12.PurchaseOrder, *, channel: str, channel_currency: str, rules: PartnerRules
) -> ChannelOrderChange:
    """One 850 as an order change: create for an original, cancel for a cancellation."""
    if po.purpose == PURPOSE_CANCELLATION:
        return ChannelOrderChange(ChangeKind.CANCEL, po.po_number, reason=f"EDI 850 cancellation of PO {po.po_number}")
    if po.purpose != PURPOSE_ORIGINAL:
        raise MappingError(
            "BEG01",
            f"purpose {po.purpose!r} is not handled automatically (only 00 original and 01 cancellation); "
            "apply the change to the order by hand, then mark this message ignored",
        )
    lines: list[dict[str, Any]] = []
    for ln in po.lines:
        sku = next((ln.product_ids[q] for q in rules.sku_qualifiers if ln.product_ids.get(q)), None)
        if sku is None:
            given = ", ".join(f"{q}={v}" for q, v in ln.product_ids.items()) or "none"
            raise MappingError(
                f"PO1 {ln.line_id}",
                f"no product id with a qualifier of {'/'.join(rules.sku_qualifiers)} (ids given: {given}); "
                "set the partner's SKU qualifiers",
            )
        if ln.unit_price is None:
            raise MappingError(f"PO1 {ln.line_id} PO104", "the line has no unit price")
        lines.append(
            {
                "sku": sku,
                "quantity": _quantity(ln),
                "unit_price": ln.unit_price,
                "external_line_id": ln.line_id,
            }
        )
    ship_to = po.parties.get("ST")
    bill_to = po.parties.get("BT")
    placed_at = (
        dt.datetime.combine(po.po_date, dt.time(), tzinfo=dt.UTC) if po.po_date is not None else None
    )  # the PO says a day, not a time
    notes = [f"PO {po.po_number}"]
    if po.carrier or po.routing:
        notes.append(f"routing: {' '.join(v for v in (po.carrier, po.routing) if v)}")
    if (requested := po.dates.get("002")) is not None:
        notes.append(f"delivery requested {requested.isoformat()}")
    order: dict[str, Any] = {
        "channel": channel,
        "external_order_id": po.po_number,
        "currency": po.currency or channel_currency,
        "lines": lines,
        "shipping_address": _address(ship_to, rules.default_country),
        "billing_address": _address(bill_to, rules.default_country),
        "placed_at": placed_at,
        "notes": "; ".join(notes),
    }
    total = sum((Decimal(ln["quantity"]) * ln["unit_price"] for ln in lines), Decimal(0))
    return ChannelOrderChange(
        ChangeKind.CREATE,
        po.po_number,
        order=order,
        context={"po_total": str(total), "stated_total": str(po.total_amount) if po.total_amount is not None else None},
    )
