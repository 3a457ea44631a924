"""The orders pages: the list (search, filters, sorting, pages) and one order with its actions.

Every action is a POST form (CSRF checked by ``permitted``) that calls one order service with
the signed-in person as the actor and redirects back to the order with a message. A refusal
(an illegal transition, a hold conflict, a bad quantity, a missing reason) comes back as an
error message on the order page and changes nothing: the service raised before committing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from openoms.domain import orders as rules
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, NotFound
from openoms.domain.inventory import InsufficientStock
from openoms.domain.orders import HoldType, LineStatus, OrderStatus, order_number
from openoms.services import catalog, fulfillment, order_search, rerouting, sourcing
from openoms.services import orders as order_service
from openoms.services import payments as payment_service
from openoms.services.common import utcnow
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routing_view import routing_view

router = APIRouter(include_in_schema=False)

MAX_REASON = 500  # order_holds.reason, as the API's Reason
MAX_NOTE = 2000
MAX_ORDER_ID = 2**63 - 1

SORT_LABELS = {
    "number": "Order",
    "placed": "Placed",
    "customer": "Customer",
    "status": "Status",
    "total": "Total",
}
#: The way a column sorts first when its header is clicked: newest, largest, A to Z.
FIRST_DIRECTION = {"number": "-", "placed": "-", "total": "-", "customer": "", "status": ""}
#: Timeline headings; the message under each says the rest.
EVENT_TITLES = {
    "order.placed": "Order placed",
    "order.cancelled": "Order cancelled",
    "order.line_cancelled": "Units cancelled",
    "order.hold_placed": "Hold placed",
    "order.hold_released": "Hold released",
    "order.note_added": "Note",
    "order.rerouted": "Routed again",
    "order.backordered": "Backordered",
    "order.backorder_allocated": "Backorder reserved from received stock",
    "order.released": "Released to fulfilment",
    "fulfilment_order.progress": "Fulfilment progress",
    "shipment.created": "Shipped",
    "notification.sent": "E-mail sent to customer",
    "notification.failed": "E-mail to customer failed",
    "payment.authorized": "Payment authorised",
    "payment.failed": "Payment declined",
    "payment.action_required": "Payment needs the customer",
    "payment.pending": "Payment pending",
    "payment.provider_unavailable": "Payment provider unreachable",
    "payment.captured": "Payment captured",
    "payment.capture_failed": "Capture failed",
    "payment.voided": "Authorisation voided",
    "payment.disputed": "Payment disputed",
    "payment.dispute_closed": "Dispute closed",
    "payment.event": "Payment",
    "refund.requested": "Refund requested",
    "refund.succeeded": "Refund paid",
    "refund.failed": "Refund failed",
    "order.changed": "Order changed",
    "return.requested": "Return requested",
    "return.approved": "Return approved",
    "return.rejected": "Return rejected",
    "return.cancelled": "Return cancelled",
    "return.label_issued": "Return label issued",
    "return.received": "Returned units received",
    "return.refunded": "Return refunded",
    "return.refund_failed": "Return refund failed",
    "return.closed": "Return closed",
    "return.exchange_created": "Exchange order created",
    "edi.acknowledged": "855 acknowledgment sent",
    "edi.ship_notice": "856 ship notice sent",
    "channel.shipment_confirmed": "Shipment confirmed to the channel",
    "channel.shipment_refused": "Channel refused the shipment confirmation",
}
HOLD_LABELS = {
    "any": "On any hold",
    "none": "Not on hold",
    **{h.value: f"{h.value.capitalize()} hold" for h in HoldType},
}


# --- the list ------------------------------------------------------------------------------


def _list_url(params: list[tuple[str, str]]) -> str:
    return "/orders" + (f"?{urlencode(params)}" if params else "")


def _page_numbers(current: int, last: int) -> list[int | None]:
    """1 … 4 5 [6] 7 8 … 20: the first, the last and two either side; None is a gap."""
    wanted = {1, last, *range(current - 2, current + 3)}
    out: list[int | None] = []
    prev = 0
    for n in sorted(p for p in wanted if 1 <= p <= last):
        if n - prev > 1:
            out.append(None)
        out.append(n)
        prev = n
    return out


@router.get("/orders", response_class=HTMLResponse)
def orders_list(request: Request, user: CurrentUser = Depends(permitted(Permission.ORDERS_VIEW))) -> Any:
    search, errors = order_search.parse_search(request.query_params.multi_items())
    settings = request.app.state.settings
    result = order_search.search_orders(
        request.app.state.db, search, now=utcnow(), sla_hours=settings.release_sla_hours
    )
    applied = result.search

    def url(**changes: Any) -> str:
        return _list_url(applied.params(**changes))

    def sort_link(field_name: str) -> dict[str, Any]:
        """Where a column header leads, and its aria-sort value when the list is sorted by it."""
        if applied.sort_field == field_name:
            target = field_name if applied.sort_descending else f"-{field_name}"
            aria = "descending" if applied.sort_descending else "ascending"
        else:
            target = FIRST_DIRECTION[field_name] + field_name
            aria = None
        return {"href": url(sort=target, page=1), "aria": aria, "label": SORT_LABELS[field_name]}

    return page(
        request,
        "orders/list.html",
        {
            "result": result,
            "search": applied,
            "errors": errors + result.errors,
            "url": url,
            "sort_link": sort_link,
            "page_numbers": _page_numbers(applied.page, result.pages),
            "statuses": list(OrderStatus),
            "hold_labels": HOLD_LABELS,
            "sla_hours": settings.release_sla_hours,
            "per_page_options": (25, 50, 100, 200),
        },
        user=user,
        title="Orders",
    )


# --- one order -------------------------------------------------------------------------------


def actor_label(actor: str) -> dict[str, str]:
    """How a timeline names who did it: a person's name, an API key, or a system process."""
    if actor.startswith("user:"):
        name, _, rest = actor[len("user:") :].partition(" <")
        return {"name": name.strip(), "kind": "person", "detail": rest.rstrip(">")}
    if actor.startswith("api-key:"):
        return {"name": actor[len("api-key:") :], "kind": "API key", "detail": ""}
    return {"name": actor, "kind": "system", "detail": ""}


def _actions(order: dict[str, Any], user: CurrentUser) -> dict[str, Any]:
    """What this person may do to this order now: their role AND the order's state must allow
    it (the same rules the services enforce, so a shown button is one that will work)."""
    status = OrderStatus(order["status"])
    active = {HoldType(h["hold_type"]) for h in order["active_holds"]}
    cancellable_lines = [
        ln
        for ln in order["lines"]
        if status in rules.CANCELLABLE_ORDER
        and LineStatus(ln["status"]) in rules.CANCELLABLE_LINE
        and ln["quantity_open"] > 0
    ]
    hold_types = [h for h in HoldType if h not in active] if status in rules.HOLDABLE_ORDER else []
    reroutable = status in rerouting.REROUTABLE
    # Allocated lines are reserved and not yet handed over (after a partial shipment, the
    # re-routed rest of a rejected line); the service refuses anything else.
    releasable = status == OrderStatus.ALLOCATED or (
        status == OrderStatus.PARTIALLY_SHIPPED
        and any(LineStatus(ln["status"]) == LineStatus.ALLOCATED for ln in order["lines"])
    )
    return {
        "release": user.can(Permission.ORDERS_RELEASE) and releasable,
        "release_blocked": bool(active),
        "reroute": user.can(Permission.ORDERS_REROUTE) and reroutable and order["summary_reserved"] > 0,
        "reject_lines": user.can(Permission.ORDERS_REJECT_LINE) and reroutable,
        "reroutable": reroutable,
        "place_hold": user.can(Permission.ORDERS_HOLD) and bool(hold_types),
        "hold_types": hold_types,
        "release_hold": user.can(Permission.ORDERS_HOLD),
        "cancel_order": user.can(Permission.ORDERS_CANCEL) and status in rules.CANCELLABLE_ORDER,
        "cancel_lines": cancellable_lines if user.can(Permission.ORDERS_CANCEL) else [],
        "note": user.can(Permission.ORDERS_NOTE),
    }


def _change_actions(order: dict[str, Any], user: CurrentUser) -> dict[str, Any]:
    from openoms.web.routes.order_changes import change_actions  # that module builds on this one

    return change_actions(order, user)


def _existing_id(order_id: int) -> int:
    """An id no database can hold is an order that does not exist (not a 500 on the driver)."""
    if order_id > MAX_ORDER_ID:
        raise NotFound("Order", order_number(order_id))
    return order_id


def _order_page(request: Request, order_id: int, user: CurrentUser) -> Response:
    settings = request.app.state.settings
    db = request.app.state.db
    order_id = _existing_id(order_id)
    order = order_search.order_page(db, order_id, now=utcnow(), sla_hours=settings.release_sla_hours)
    for event in order["timeline"]:
        event["who"] = actor_label(event["actor"])
        event["title"] = EVENT_TITLES.get(event["event_type"], event["event_type"])
    lines = order["lines"]
    summary = {
        "lines": len(lines),
        "ordered": sum(ln["quantity"] for ln in lines),
        "cancelled": sum(ln["quantity_cancelled"] for ln in lines),
        "shipped": sum(ln["quantity_shipped"] for ln in lines),
        "open": sum(ln["quantity_open"] for ln in lines),
        "reserved": sum(ln["quantity_reserved"] for ln in lines),
        "waiting": sum(ln.get("quantity_backordered", 0) for ln in lines),
        "waiting_due": max((ln["expected_at"] for ln in lines if ln.get("expected_at")), default=None),
    }
    order["summary_reserved"] = summary["reserved"]
    location_names = {
        str(loc["code"]): str(loc["name"]) for loc in catalog.LOCATIONS.list(db, after_id=None, limit=10_000)
    }
    routing = routing_view(sourcing.list_decisions(db, order_id), lines, location_names, order["currency"])
    fulfilment_orders = fulfillment.list_fulfilment_orders(db, order_id=order_id, limit=200)
    shipments = fulfillment.list_shipments(db, order_id)
    return page(
        request,
        "orders/detail.html",
        {
            "order": order,
            "summary": summary,
            "actions": _actions(order, user),
            "routing": routing,
            "fulfilment_orders": fulfilment_orders,
            "shipments": shipments,
            "location_names": location_names,
            "actor_label": actor_label,
            "sla_hours": settings.release_sla_hours,
            "max_reason": MAX_REASON,
            "max_note": MAX_NOTE,
            "pay": payment_service.list_payments(db, order_id),
            "form_key": uuid.uuid4().hex,  # one per page view: a double submit is one payment
            "changes": _change_actions(order, user),
        },
        user=user,
        title=order["order_number"],
    )


@router.get("/orders/{order_id:int}", response_class=HTMLResponse)
def order_detail(
    request: Request, order_id: int, user: CurrentUser = Depends(permitted(Permission.ORDERS_VIEW))
) -> Any:
    return _order_page(request, order_id, user)


@router.get("/orders/SO-{number:int}", response_class=HTMLResponse)
def order_detail_by_number(
    request: Request, number: int, user: CurrentUser = Depends(permitted(Permission.ORDERS_VIEW))
) -> Any:
    """Order numbers work as addresses too: /orders/SO-0000123."""
    return _order_page(request, number, user)


# --- actions ---------------------------------------------------------------------------------


class FormProblem(Exception):
    """Input the form should not have sent: reported on the order page, nothing is called."""


def _required(value: str, label: str, limit: int = MAX_REASON) -> str:
    text = value.strip()
    if not text:
        raise FormProblem(f"{label} is required.")
    if len(text) > limit:
        raise FormProblem(f"{label} is too long: at most {limit} characters, {len(text)} given.")
    return text


def _act(order_id: int, run: Callable[[], str]) -> Response:
    """Run one action and come back to the order: its success message, or why it was refused.
    An order that does not exist is a 404 page rather than a redirect to one."""
    target = f"/orders/{_existing_id(order_id)}"
    try:
        message = run()
    except FormProblem as exc:
        return redirect(target, str(exc), "error")
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        return redirect(target, exc.message, "error")
    return redirect(target, message)


@router.post("/orders/{order_id:int}/holds")
def place_hold(
    request: Request,
    order_id: int,
    hold_type: str = Form(""),
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_HOLD)),
) -> Response:
    def run() -> str:
        try:
            hold = HoldType(hold_type)
        except ValueError:
            raise FormProblem("Hold type is required: payment, fraud, credit or manual.") from None
        why = _required(reason, "Reason for the hold")
        order_service.place_hold(request.app.state.db, order_id, hold, why, user.actor)
        return (
            f"{hold.value.capitalize()} hold placed: the order will not be released to fulfilment until it is lifted."
        )

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/holds/{hold_type}/release")
def release_hold(
    request: Request,
    order_id: int,
    hold_type: str,
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_HOLD)),
) -> Response:
    def run() -> str:
        try:
            hold = HoldType(hold_type)
        except ValueError:
            raise FormProblem(f"There is no hold type {hold_type!r}.") from None
        why = _required(reason, "Reason for releasing the hold")
        order_service.release_hold(request.app.state.db, order_id, hold, why, user.actor)
        return f"{hold.value.capitalize()} hold released."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/cancel")
def cancel_order(
    request: Request,
    order_id: int,
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_CANCEL)),
) -> Response:
    def run() -> str:
        why = _required(reason, "Reason for cancelling")
        order_service.cancel_order(request.app.state.db, order_id, why, user.actor)
        return "Order cancelled. Its reserved stock is available again."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/lines/cancel")
def cancel_line(
    request: Request,
    order_id: int,
    line_number: str = Form(""),
    quantity: str = Form(""),
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_CANCEL)),
) -> Response:
    def run() -> str:
        line = line_number.strip()
        if not (line.isascii() and line.isdigit()) or len(line) > 9:
            raise FormProblem("Line is required: choose the line to cancel units of.")
        qty_text = quantity.strip()
        qty: int | None = None
        if qty_text:
            if not (qty_text.isascii() and qty_text.isdigit()) or len(qty_text) > 9:
                raise FormProblem(f"Quantity must be a whole number of units, not {qty_text!r}.")
            qty = int(qty_text)
        why = _required(reason, "Reason for cancelling")
        try:
            order_service.cancel_lines(request.app.state.db, order_id, [(int(line), qty)], why, user.actor)
        except DomainError as exc:
            if exc.code != ErrorCode.VALIDATION_ERROR:
                raise
            # One line at a time here: "lines[0].quantity: ..." reads better as "Quantity: ...".
            labels = {"quantity": "Quantity", "line_number": "Line"}
            fields = "; ".join(f"{labels.get(e.field.split('.')[-1], e.field)}: {e.reason}" for e in exc.errors)
            raise FormProblem(fields or exc.message) from None
        units = "every open unit" if qty is None else f"{qty} unit{'s' if qty != 1 else ''}"
        return f"Cancelled {units} of line {int(line)}. The reserved stock is available again."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/notes")
def add_note(
    request: Request,
    order_id: int,
    text: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_NOTE)),
) -> Response:
    def run() -> str:
        body = _required(text, "Note", MAX_NOTE)
        order_service.add_note(request.app.state.db, order_id, body, user.actor)
        return "Note added to the timeline."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/release")
def release_order(
    request: Request, order_id: int, user: CurrentUser = Depends(permitted(Permission.ORDERS_RELEASE))
) -> Response:
    """Hand the order to the locations holding its stock: one fulfilment order each. Refused
    while the order is on hold or has nothing allocated left to hand over."""

    def run() -> str:
        try:
            made = fulfillment.release_order(request.app.state.db, order_id, user.actor)
        except DomainError as exc:
            raise FormProblem(_refusal(exc)) from None
        where = ", ".join(f"{fo['number']} to {fo['location']}" for fo in made)
        return f"Released to fulfilment: {where}. The locations see it in their queues now."

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/reroute")
def reroute_order(
    request: Request,
    order_id: int,
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_REROUTE)),
) -> Response:
    """Route every reserved line again from today's stock: a promised date was missed, stock
    arrived somewhere closer, the rules changed."""

    def run() -> str:
        why = _required(reason, "Reason for routing again")
        try:
            result = rerouting.reroute_order(request.app.state.db, order_id, why, user.actor)
        except InsufficientStock as exc:
            raise FormProblem(
                f"No plan can ship the order from today's stock ({exc.message}); it stays where it is. Nothing changed."
            ) from None
        except DomainError as exc:
            raise FormProblem(_refusal(exc)) from None
        return _sentence(result.message)

    return _act(order_id, run)


@router.post("/orders/{order_id:int}/lines/{line_number:int}/reject")
def reject_line(
    request: Request,
    order_id: int,
    line_number: int,
    location: str = Form(""),
    reason: str = Form(""),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_REJECT_LINE)),
) -> Response:
    """A location will not ship a line (damaged, not found, no capacity): its units are routed
    anywhere else, or backordered when nowhere else has them."""

    def run() -> str:
        code = location.strip()
        if not code:
            raise FormProblem("Location is required: choose the location that rejects the line.")
        why = _required(reason, "Reason for the rejection")
        try:
            result = rerouting.reject_line(request.app.state.db, order_id, line_number, code, why, user.actor)
        except DomainError as exc:
            raise FormProblem(_refusal(exc)) from None
        return _sentence(result.message)

    return _act(order_id, run)


def _sentence(message: str) -> str:
    return message if message.endswith(".") else message + "."


def _refusal(exc: DomainError) -> str:
    """A refused re-route in words: which field, why, and that nothing moved. An order that
    does not exist stays a 404."""
    if exc.code == ErrorCode.NOT_FOUND:
        raise exc
    labels = {"location": "Location", "line_number": "Line"}
    if exc.errors and exc.code in (ErrorCode.VALIDATION_ERROR, ErrorCode.UNKNOWN_LOCATION):
        text = "; ".join(f"{labels.get(e.field, e.field)}: {e.reason}" for e in exc.errors)
    else:
        text = exc.message
    return _sentence(text[:1].upper() + text[1:]) + " Nothing changed."
