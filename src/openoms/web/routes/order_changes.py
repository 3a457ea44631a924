"""The order page's "Change the order" forms: a line's quantity, a SKU swap, a new line, the
shipping address and the service level (docs/order-changes.md).

Each form posts the order version it was drawn from, so a change made on a page someone else
has changed since is refused (version conflict) rather than applied on top unseen. Every form
calls one service in services/order_changes.py and comes back to the order with a message.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from openoms.api.schemas import Address
from openoms.domain import order_changes as change_rules
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.orders import LineStatus, OrderStatus
from openoms.services import order_changes
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.routes.orders import MAX_REASON, FormProblem, _act, _required

router = APIRouter(include_in_schema=False)

SERVICE_LEVELS = ("standard", "expedited", "express", "next_day")
ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def change_actions(order: dict[str, Any], user: CurrentUser) -> dict[str, Any]:
    """Which change forms this person sees on this order now: their role and the order's
    status must both allow it (the services enforce the same rules)."""
    if not user.can(Permission.ORDERS_CHANGE):
        return {"any": False}
    status = OrderStatus(order["status"])
    pickup = order.get("pickup") is not None
    open_lines = [
        ln
        for ln in order["lines"]
        if status in change_rules.CHANGEABLE_ORDER
        and LineStatus(ln["status"]) in change_rules.LINE_ALLOWS[change_rules.ChangeKind.QUANTITY_DOWN]
    ]
    shipping = status in change_rules.ORDER_ALLOWS[change_rules.ChangeKind.ADDRESS]
    out = {
        "lines": open_lines,
        "add_line": status in change_rules.CHANGEABLE_ORDER,
        "address": shipping,
        "service_level": shipping and not pickup,
        "service_levels": SERVICE_LEVELS,
        "address_fields": ADDRESS_FIELDS,
        "max_reason": MAX_REASON,
    }
    out["any"] = bool(open_lines or out["add_line"] or out["address"])
    return out


def _int(text: str, label: str, *, required: bool = True) -> int | None:
    t = text.strip()
    if not t:
        if required:
            raise FormProblem(f"{label} is required.")
        return None
    if not (t.isascii() and t.isdigit()) or len(t) > 9:
        raise FormProblem(f"{label} must be a whole number, not {t!r}.")
    return int(t)


def _amount(text: str, label: str) -> Decimal | None:
    t = text.strip()
    if not t:
        return None
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise FormProblem(f"{label} must be an amount such as 19.99, not {t!r}.") from None
    if not value.is_finite() or value < 0 or value >= Decimal(10) ** 12:
        raise FormProblem(f"{label} must be an amount such as 19.99, not {t!r}.")
    return value


def _fields(exc: DomainError) -> FormProblem:
    labels = {"quantity": "Quantity", "sku": "SKU", "unit_price": "Unit price", "tax": "Tax", "discount": "Discount"}
    text = "; ".join(f"{labels.get(e.field, e.field.replace('_', ' ').capitalize())}: {e.reason}" for e in exc.errors)
    return FormProblem(text or exc.message)


def _call(run: Any) -> Any:
    """Field problems read as form problems; other refusals (status, stock, version) as is."""
    try:
        return run()
    except DomainError as exc:
        if exc.code in (ErrorCode.VALIDATION_ERROR, ErrorCode.UNKNOWN_SKU):
            raise _fields(exc) from None
        raise


@router.post("/orders/{order_id:int}/change/line")
def change_line(
    request: Request,
    order_id: int,
    line_number: str = Form(""),
    quantity: str = Form(""),
    sku: str = Form(""),
    unit_price: str = Form(""),
    reason: str = Form(""),
    version: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_CHANGE)),
) -> Response:
    def run() -> str:
        line = _int(line_number, "Line")
        assert line is not None
        qty = _int(quantity, "Quantity", required=False)
        new_sku = sku.strip() or None
        if qty is None and new_sku is None:
            raise FormProblem("Give a new quantity or a new SKU.")
        why = _required(reason, "Reason for the change")
        result = _call(
            lambda: order_changes.change_line(
                request.app.state.db,
                order_id,
                line,
                quantity=qty,
                sku=new_sku,
                unit_price=_amount(unit_price, "Unit price"),
                reason=why,
                actor=user.actor,
                expected_version=_int(version, "Version", required=False),
            )
        )
        return _said(result)

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/change/add-line")
def add_line(
    request: Request,
    order_id: int,
    sku: str = Form(""),
    quantity: str = Form(""),
    unit_price: str = Form(""),
    reason: str = Form(""),
    version: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_CHANGE)),
) -> Response:
    def run() -> str:
        new_sku = sku.strip()
        if not new_sku:
            raise FormProblem("SKU is required.")
        qty = _int(quantity, "Quantity")
        assert qty is not None
        why = _required(reason, "Reason for the change")
        result = _call(
            lambda: order_changes.add_line(
                request.app.state.db,
                order_id,
                sku=new_sku,
                quantity=qty,
                unit_price=_amount(unit_price, "Unit price"),
                reason=why,
                actor=user.actor,
                expected_version=_int(version, "Version", required=False),
            )
        )
        return _said(result)

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/change/shipping")
async def change_shipping(
    request: Request,
    order_id: int,
    user: CurrentUser = Depends(permitted(Permission.ORDERS_CHANGE)),
) -> Response:
    form = await request.form()
    text = {k: str(form.get(k, "")) for k in (*ADDRESS_FIELDS, "service_level", "reason", "version", "what")}

    def run() -> str:
        why = _required(text["reason"], "Reason for the change")
        address: Any = order_changes.UNSET
        level: str | None = None
        if text["what"] == "address":
            raw = {k: text[k].strip() for k in ADDRESS_FIELDS if text[k].strip()}
            raw["country"] = raw.get("country", "").upper()
            try:
                address = Address.model_validate(raw).model_dump(exclude_none=True)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{str(e['loc'][0]).replace('_', ' ').capitalize()}: {e['msg'].lower()}" for e in exc.errors()
                )
                raise FormProblem(f"The address is not complete. {problems}.") from None
        else:
            level = text["service_level"].strip()
            if level not in SERVICE_LEVELS:
                raise FormProblem("Service level is required: " + ", ".join(SERVICE_LEVELS) + ".")
        result = _call(
            lambda: order_changes.change_order(
                request.app.state.db,
                order_id,
                shipping_address=address,
                service_level=level,
                reason=why,
                actor=user.actor,
                expected_version=_int(text["version"], "Version", required=False),
            )
        )
        return _said(result)

    return _act(order_id, run)


def _said(result: order_changes.ChangeResult) -> str:
    done = "; ".join(c["summary"] for c in result.changes)
    return f"{done}. The channel is told, and the payment follows the new total."
