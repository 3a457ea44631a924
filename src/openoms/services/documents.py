"""Fulfilment paperwork from the database: pick lists, packing slips and shipping labels.

The renderers (``adapters.documents``) are pure; this module gathers what they print. Nothing is
stored: a document is rendered again from the order, fulfilment order and shipment whenever it
is asked for, so a reprint always shows the current facts (docs/documents.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import (
    Channel,
    FulfilmentLine,
    FulfilmentOrder,
    Location,
    Order,
    OrderLine,
    PackageLine,
    Product,
    Shipment,
    ShipmentPackage,
    table,
)
from openoms.adapters.documents import (
    PackingSlip,
    PackingSlipLine,
    PaperSize,
    PickList,
    PickListLine,
    PostalAddress,
    ShippingLabel,
    label_pdf,
    label_zpl,
    packing_slip_pdf,
    pick_list_pdf,
)
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.domain.fulfillment import fulfilment_number
from openoms.domain.orders import order_number

fo_t = table(FulfilmentOrder)
fl_t = table(FulfilmentLine)
ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
pl_t = table(PackageLine)
orders_t = table(Order)
lines_t = table(OrderLine)
locations_t = table(Location)
products_t = table(Product)
channels_t = table(Channel)


def _ship_from(loc: Any) -> PostalAddress:
    if not loc.address_line1 or not loc.city:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"Location {loc.code} has no street address and city to print as the sender; "
            "add them on the location's page",
            [FieldError("location.address_line1", f"{loc.code} has no street address")],
        )
    return PostalAddress(
        name=loc.name,
        line1=loc.address_line1,
        line2=loc.address_line2,
        city=loc.city,
        region=loc.region,
        postal_code=loc.postal_code,
        country=loc.country,
    )


def _ship_to(address: Mapping[str, Any] | None, ref: str) -> PostalAddress:
    if not address or not address.get("line1") or not address.get("city") or not address.get("country"):
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"Order {ref} has no complete shipping address to print",
            [FieldError("shipping_address", "needs line1, city and country")],
        )
    return PostalAddress(
        name=str(address.get("name") or address.get("company") or "Customer"),
        company=address.get("company"),
        line1=str(address["line1"]),
        line2=address.get("line2"),
        city=str(address["city"]),
        region=address.get("region"),
        postal_code=address.get("postal_code"),
        country=str(address["country"]).upper(),
        phone=address.get("phone"),
    )


def _names(conn: Connection, product_ids: set[int]) -> dict[int, str]:
    if not product_ids:
        return {}
    return dict(conn.execute(select(products_t.c.id, products_t.c.name).where(products_t.c.id.in_(product_ids))).all())


def pick_list(db: Database, fo_id: int, *, paper: PaperSize = PaperSize.LETTER) -> bytes:
    """The open lines of one fulfilment order, to pick in one walk."""
    with db.read() as conn:
        fo = conn.execute(
            select(fo_t, locations_t.c.code, locations_t.c.name, locations_t.c.timezone)
            .join(locations_t, locations_t.c.id == fo_t.c.location_id)
            .where(fo_t.c.id == fo_id)
        ).first()
        if fo is None:
            raise NotFound("Fulfilment order", fulfilment_number(fo_id))
        lines = conn.execute(select(fl_t).where(fl_t.c.fulfilment_order_id == fo_id).order_by(fl_t.c.line_number)).all()
        names = _names(conn, {int(r.product_id) for r in lines})
    number = fulfilment_number(fo_id)
    ref = order_number(int(fo.order_id))
    open_lines = [
        PickListLine(
            sku=r.sku,
            name=names.get(int(r.product_id), r.sku),
            quantity=r.quantity - r.quantity_shipped - r.quantity_rejected - r.quantity_cancelled,
            order_numbers=(ref,),
        )
        for r in lines
    ]
    open_lines = [ln for ln in open_lines if ln.quantity > 0]
    if not open_lines:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, f"Fulfilment order {number} has nothing left to pick")
    return pick_list_pdf(
        PickList(
            reference=number,
            location_code=fo.code,
            location_name=fo.name,
            generated_at=dt.datetime.now(ZoneInfo(fo.timezone)),
            lines=open_lines,
            fulfillment_references=(number,),
        ),
        paper=paper,
    )


def _shipment(conn: Connection, shipment_id: int) -> Any:
    s = conn.execute(
        select(ship_t, fo_t.c.location_id)
        .join(fo_t, fo_t.c.id == ship_t.c.fulfilment_order_id)
        .where(ship_t.c.id == shipment_id)
    ).first()
    if s is None:
        raise NotFound("Shipment", str(shipment_id))
    return s


def packing_slip(db: Database, shipment_id: int, *, paper: PaperSize = PaperSize.LETTER) -> bytes:
    """What is in this shipment against what the customer ordered."""
    with db.read() as conn:
        s = _shipment(conn, shipment_id)
        order = conn.execute(
            select(orders_t, channels_t.c.code.label("channel"))
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .where(orders_t.c.id == s.order_id)
        ).one()
        loc = conn.execute(select(locations_t).where(locations_t.c.id == s.location_id)).one()
        shipped: dict[int, int] = defaultdict(int)
        for r in conn.execute(
            select(fl_t.c.order_line_id, pl_t.c.quantity)
            .join(pkg_t, pkg_t.c.id == pl_t.c.package_id)
            .join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
            .where(pkg_t.c.shipment_id == shipment_id)
        ):
            shipped[int(r.order_line_id)] += int(r.quantity)
        lines = conn.execute(
            select(lines_t).where(lines_t.c.id.in_(list(shipped))).order_by(lines_t.c.line_number)
        ).all()
        names = _names(conn, {int(r.product_id) for r in lines})
    ref = order_number(int(order.id))
    slip_lines = [
        PackingSlipLine(
            sku=r.sku,
            name=names.get(int(r.product_id), r.sku),
            quantity_ordered=r.quantity - r.quantity_cancelled,
            quantity_shipped=shipped[int(r.id)],
            quantity_backordered=r.quantity - r.quantity_cancelled - r.quantity_shipped
            if r.status == "backordered"
            else 0,
        )
        for r in lines
    ]
    return packing_slip_pdf(
        PackingSlip(
            order_number=ref,
            channel=order.channel,
            placed_at=order.placed_at,
            ship_from=_ship_from(loc),
            ship_to=_ship_to(order.shipping_address, ref),
            shipment_reference=f"SHP-{shipment_id:07d}",
            lines=slip_lines,
            notes=order.notes,
        ),
        paper=paper,
    )


def shipping_label(db: Database, shipment_id: int, package_number: int, *, zpl: bool = False) -> bytes | str:
    """The 4 x 6 label of one package (``package_number`` counts from 1), as PDF or ZPL."""
    with db.read() as conn:
        s = _shipment(conn, shipment_id)
        packages = conn.execute(select(pkg_t).where(pkg_t.c.shipment_id == shipment_id).order_by(pkg_t.c.id)).all()
        if not 1 <= package_number <= len(packages):
            raise NotFound("Package", f"{package_number} of shipment {shipment_id}")
        pkg = packages[package_number - 1]
        order = conn.execute(select(orders_t).where(orders_t.c.id == s.order_id)).one()
        loc = conn.execute(select(locations_t).where(locations_t.c.id == s.location_id)).one()
    ref = order_number(int(order.id))
    if pkg.weight_grams is None:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"Package {package_number} of shipment {shipment_id} has no weight to print on its label",
            [FieldError("weight_grams", "record the package weight with the shipment")],
        )
    service = s.service_code or s.carrier
    label = ShippingLabel(
        carrier=s.carrier,
        service_name=service.split("-", 1)[-1].replace("-", " ").title() if "-" in service else service,
        service_code=service,
        tracking_number=pkg.tracking_number,
        ship_from=_ship_from(loc),
        ship_to=_ship_to(order.shipping_address, ref),
        weight_grams=pkg.weight_grams,
        order_number=ref,
        ship_date=s.shipped_at.astimezone(ZoneInfo(loc.timezone)).date(),
        package_number=package_number,
        package_count=len(packages),
    )
    return label_zpl(label) if zpl else label_pdf(label)
