"""The phone-order form: /orders/new, with JSON look-ups for customers and SKUs.

Registered before the orders pages so that /orders/new is never read as an order id.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from openoms.api.errors import STATUS
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, FieldError
from openoms.domain.orders import MAX_LINE_QUANTITY, MAX_ORDER_LINES
from openoms.services import phone_orders as service
from openoms.services.phone_orders import ADDRESS_FIELDS, LineDraft, PhoneOrderDraft
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect

router = APIRouter(include_in_schema=False)

BLANK_ROWS = 5  # rows shown without JavaScript; with it, rows are added and removed in place
_LINE_FIELD = re.compile(r"^lines-(\d{1,4})-(sku|quantity|unit_price)$")

#: The order fields appear in on the page, so the error summary reads top to bottom.
_PAGE_ORDER = [
    "token",
    "channel",
    "customer_email",
    "new_name",
    "new_email",
    "new_phone",
    *(f"ship_{f}" for f in ADDRESS_FIELDS),
    "lines",
    "service_level",
    "shipping_total",
    "notes",
]
_LABELS = {
    "customer_email": "Customer",
    "new_name": "Name",
    "new_email": "E-mail",
    "new_phone": "Phone",
    "ship_name": "Recipient",
    "ship_line1": "Address line 1",
    "ship_line2": "Address line 2",
    "ship_city": "City",
    "ship_region": "State / region",
    "ship_postal_code": "Postal code",
    "ship_country": "Country",
    "lines": "Lines",
    "service_level": "Service level",
    "shipping_total": "Shipping charge",
    "notes": "Notes",
}


def field_id(path: str) -> str:
    """The id of the input an error path names: ``lines[2].sku`` -> ``lines-2-sku``."""
    m = re.match(r"^lines\[(\d+)\]\.(\w+)$", path)
    return f"lines-{m.group(1)}-{m.group(2)}" if m else path


def _sort_key(path: str) -> tuple[int, int, int]:
    m = re.match(r"^lines\[(\d+)\]\.(\w+)$", path)
    if m:
        col = (
            ("sku", "quantity", "unit_price").index(m.group(2))
            if m.group(2) in ("sku", "quantity", "unit_price")
            else 3
        )
        return (_PAGE_ORDER.index("lines"), int(m.group(1)) + 1, col)
    return (_PAGE_ORDER.index(path) if path in _PAGE_ORDER else -1, 0, 0)


def _summary(errors: list[FieldError]) -> list[dict[str, str]]:
    items = []
    for e in sorted(errors, key=lambda e: _sort_key(e.field)):
        m = re.match(r"^lines\[(\d+)\]\.(\w+)$", e.field)
        if m:
            what = {"sku": "SKU", "quantity": "quantity", "unit_price": "unit price"}.get(m.group(2), m.group(2))
            label = f"Line {int(m.group(1)) + 1} {what}"
        else:
            label = _LABELS.get(e.field, "")
        anchor = field_id(e.field) if (e.field in _LABELS or m) else ""
        items.append({"label": label, "reason": e.reason, "anchor": anchor})
    return items


def _draft(form: FormData) -> PhoneOrderDraft:
    def text(name: str, default: str = "") -> str:
        value = form.get(name)
        return value if isinstance(value, str) else default

    rows: dict[int, LineDraft] = {}
    for key, value in form.multi_items():
        m = _LINE_FIELD.match(key)
        if m and isinstance(value, str):
            row = int(m.group(1))
            setattr(rows.setdefault(row, LineDraft(row)), m.group(2), value)
    return PhoneOrderDraft(
        token=text("order_token"),
        customer_mode="new" if text("customer_mode") == "new" else "existing",
        customer_email=text("customer_email"),
        new_name=text("new_name"),
        new_email=text("new_email"),
        new_phone=text("new_phone"),
        address={f: text(f"ship_{f}") for f in ADDRESS_FIELDS},
        # Rows are renumbered 0..n-1 in page order: a line removed in the browser leaves a gap
        # in the names, and errors must name the line by the number the person sees.
        lines=[LineDraft(i, rows[r].sku, rows[r].quantity, rows[r].unit_price) for i, r in enumerate(sorted(rows))],
        service_level=text("service_level", "standard"),
        shipping_total=text("shipping_total"),
        notes=text("notes"),
    )


def _form_page(
    request: Request,
    user: CurrentUser,
    draft: PhoneOrderDraft,
    *,
    error: DomainError | None = None,
    checked: bool = False,
    status_code: int = 200,
) -> Response:
    db = request.app.state.db
    lines = list(draft.lines)
    # Without JavaScript the only way to add a line is a blank row: keep at least one.
    next_row = max((ln.row for ln in lines), default=-1) + 1
    while len(lines) < BLANK_ROWS or not lines[-1].blank:
        lines.append(LineDraft(next_row))
        next_row += 1
    errors = {field_id(e.field): e.reason for e in error.errors} if error else {}
    customer = None
    if draft.customer_mode == "existing" and draft.customer_email.strip() and "customer_email" not in errors:
        customer = service.customer_summary(db, draft.customer_email)
    return page(
        request,
        "phone_orders/new.html",
        {
            "draft": draft,
            "lines": lines,
            "next_row": next_row,
            "errors": errors,
            "summary": _summary(error.errors) if error else [],
            "error_message": error.message if error else None,
            "products": service.products_for_skus(db, [ln.sku for ln in lines]) if (error or checked) else {},
            "checked": checked,
            "customer": customer,
            "currency": service.phone_currency(db),
            "service_levels": service.SERVICE_LEVELS,
        },
        user=user,
        status_code=status_code,
        title="New phone order",
    )


@router.get("/orders/new", response_class=HTMLResponse)
def new_phone_order(request: Request, user: CurrentUser = Depends(permitted(Permission.ORDERS_CREATE))) -> Any:
    draft = PhoneOrderDraft(token=service.new_order_token(), address={"country": "US"})
    return _form_page(request, user, draft)


@router.post("/orders/new", response_class=HTMLResponse)
async def create_phone_order(request: Request, user: CurrentUser = Depends(permitted(Permission.ORDERS_CREATE))) -> Any:
    """Capture the order, or show the form again with everything typed and every problem."""
    form = await request.form()
    draft = _draft(form)
    if form.get("action") == "check":
        return await run_in_threadpool(_form_page, request, user, draft, checked=True)
    try:
        result = await run_in_threadpool(
            service.place_phone_order,
            request.app.state.db,
            draft,
            user.actor,
            max_quantity=MAX_LINE_QUANTITY,
            max_lines=MAX_ORDER_LINES,
        )
    except DomainError as exc:
        if not service.valid_token(draft.token):
            draft.token = service.new_order_token()
        return await run_in_threadpool(
            _form_page, request, user, draft, error=exc, status_code=STATUS.get(exc.code, 400)
        )
    if not result.created:
        return redirect(
            f"/orders/{result.order_id}",
            f"This form was already sent: order {result.order_number} was created then, and no second order was made.",
            "info",
        )
    return redirect(f"/orders/{result.order_id}", f"Order {result.order_number} created")


@router.get("/orders/new/customers")
def customer_lookup(
    request: Request, q: str = "", user: CurrentUser = Depends(permitted(Permission.ORDERS_CREATE))
) -> JSONResponse:
    """Type-ahead: customers by e-mail prefix or name, with their latest shipping address."""
    items = service.find_customers(request.app.state.db, q)
    return JSONResponse({"query": q, "items": items}, headers={"Cache-Control": "no-store"})


@router.get("/orders/new/sku")
def sku_lookup(
    request: Request, q: str = "", user: CurrentUser = Depends(permitted(Permission.ORDERS_CREATE))
) -> JSONResponse:
    """Type-ahead: products by SKU prefix or name, with live stock per location."""
    items = service.find_products(request.app.state.db, q)
    return JSONResponse({"query": q, "items": items}, headers={"Cache-Control": "no-store"})
