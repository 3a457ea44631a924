"""Back-office pages for stock on the move: the inbound list (announce a purchase order, receive
against a lot, late lots highlighted), transfers (plan, ship, receive, cancel) and the low-stock
list. Every action is a POST form (CSRF checked by ``permitted``) calling one service; a refusal
re-shows the page with each problem next to its field and what was typed kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from openoms.api.errors import STATUS
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.stock_ops import TransferLineRequest, TransferStatus
from openoms.services import inbound, stock_ops
from openoms.services import inventory_views as views
from openoms.services.common import utcnow
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect

router = APIRouter(include_in_schema=False)

INBOUND_STATUSES = ("open", "received", "cancelled")
#: Line rows on the new-transfer form.
FORM_LINES = 6
MAX_DAYS_AHEAD = 730
STATUS_VALIDATION = ErrorCode.VALIDATION_ERROR


def _int(raw: str, field: str, errors: dict[str, str], *, minimum: int = 1, required: bool = True) -> int | None:
    raw = raw.strip().replace(",", "")
    if not raw:
        if required:
            errors[field] = "Enter a number of units."
        return None
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or len(raw) > 12:
        errors[field] = "Enter a whole number, such as 12."
        return None
    value = int(raw)
    if value < minimum:
        errors[field] = f"Must be at least {minimum}."
        return None
    return value


def _date(raw: str, field: str, errors: dict[str, str]) -> dt.datetime | None:
    """A date from the form: the end of that day in UTC (arrivals are planned by the day)."""
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        errors[field] = "Choose a date."
        return None
    when = dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC)
    if when > utcnow() + dt.timedelta(days=MAX_DAYS_AHEAD):
        errors[field] = f"Must be within {MAX_DAYS_AHEAD} days from today."
        return None
    return when


def _field_errors(exc: DomainError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e.field, e.reason[:1].upper() + e.reason[1:])
    return out


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


# --- inbound ----------------------------------------------------------------------------------


def _inbound_page(
    request: Request,
    user: CurrentUser,
    *,
    create: dict[str, Any] | None = None,
    receive: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    db = request.app.state.db
    params = request.query_params
    status = params.get("status", "open")
    status = status if status in (*INBOUND_STATUSES, "all") else "open"
    location = (params.get("location") or "").strip() or None
    sku = (params.get("sku") or "").strip()[:64] or None
    late_only = params.get("late") in ("1", "on", "true")
    now = utcnow()
    lots = inbound.list_inbound(db, sku=sku, location=location, status=None if status == "all" else status)
    transfers_by_lot = stock_ops.transfer_numbers_of_lots(db, [lot["id"] for lot in lots])
    for lot in lots:
        lot["late"] = lot["status"] == "open" and lot["expected_at"] < now
        lot["transfer"] = transfers_by_lot.get(lot["id"])
    if late_only:
        lots = [lot for lot in lots if lot["late"]]
    counts = stock_ops.inbound_counts(db, now)
    keep = {
        k: v
        for k, v in (("status", status), ("location", location), ("sku", sku), ("late", "1" if late_only else None))
        if v
    }
    return page(
        request,
        "stock_ops/inbound.html",
        {
            "lots": lots,
            "counts": counts,
            "status": status,
            "statuses": INBOUND_STATUSES,
            "location": location,
            "sku": sku,
            "late_only": late_only,
            "filtered": keep != {"status": "open"},
            "query": urlencode(keep),
            "locations": [loc for loc in views.list_locations(db) if loc["active"]],
            "can_receive": user.can(Permission.INVENTORY_RECEIVE),
            "can_plan": user.can(Permission.INVENTORY_PLAN),
            "create": create or {"values": {}, "errors": {}},
            "receive": receive or {},
            "today": now.date().isoformat(),
        },
        user=user,
        status_code=status_code,
        title="Inbound",
    )


@router.get("/inbound", response_class=HTMLResponse)
def inbound_list(request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))) -> Any:
    """Purchase orders and transfers on their way, earliest arrival first; late ones flagged."""
    return _inbound_page(request, user)


@router.post("/inbound")
async def inbound_create(request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_PLAN))) -> Any:
    values = await _form(request)
    errors: dict[str, str] = {}
    sku = values.get("sku", "").strip()
    location = values.get("location", "").strip()
    if not sku:
        errors["sku"] = "Enter a SKU."
    if not location:
        errors["location"] = "Choose a location."
    quantity = _int(values.get("quantity", ""), "quantity", errors)
    expected = _date(values.get("expected_on", ""), "expected_on", errors)
    reference = values.get("reference", "").strip()[:128] or None
    try:
        if errors or quantity is None or expected is None:
            raise DomainError(STATUS_VALIDATION, "invalid", [FieldError(k, v) for k, v in errors.items()])
        lot = await run_in_threadpool(
            inbound.expect_inbound,
            request.app.state.db,
            sku=sku,
            location=location,
            quantity=quantity,
            expected_at=expected,
            kind="purchase_order",
            reference=reference,
            actor=user.actor,
        )
    except DomainError as exc:
        fields = _field_errors(exc)
        fields = {("expected_on" if k == "expected_at" else k): v for k, v in fields.items()}
        return await run_in_threadpool(
            _inbound_page,
            request,
            user,
            create={"values": values, "errors": fields, "open": True},
            status_code=STATUS.get(exc.code, 400),
        )
    return redirect(
        "/inbound",
        f"Inbound {lot['id']} recorded: {quantity:,} x {sku} expected at {location} on {expected:%d %b %Y}.",
    )


@router.post("/inbound/{inbound_id}/receive")
async def inbound_receive(
    request: Request, inbound_id: int, user: CurrentUser = Depends(permitted(Permission.INVENTORY_RECEIVE))
) -> Any:
    values = await _form(request)
    errors: dict[str, str] = {}
    quantity = _int(values.get("quantity", ""), "quantity", errors)
    back = values.get("back", "")
    back_url = "/inbound" + ("?" + back if back and "//" not in back else "")
    try:
        if quantity is None or inbound_id > 2**63 - 1:
            raise DomainError(STATUS_VALIDATION, "invalid", [FieldError(k, v) for k, v in errors.items()])
        lot = await run_in_threadpool(
            stock_ops.receive_inbound,
            request.app.state.db,
            inbound_id,
            quantity,
            user.actor,
            allow_over_receipt=values.get("allow_over") in ("1", "on"),
            reason=values.get("reason"),
        )
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise
        fields = _field_errors(exc) or {"quantity": exc.message}
        return await run_in_threadpool(
            _inbound_page,
            request,
            user,
            receive={"id": inbound_id, "values": values, "errors": fields},
            status_code=STATUS.get(exc.code, 400),
        )
    left = lot["outstanding"]
    done = "the lot is complete" if lot["status"] == "received" else f"{left:,} still expected"
    return redirect(
        back_url,
        f"Received {quantity:,} x {lot['sku']} at {lot['location']} against inbound {inbound_id}: {done}. "
        f"On hand there is now {lot['stock']['on_hand']:,}.",
    )


# --- transfers --------------------------------------------------------------------------------


def _transfers_page(
    request: Request, user: CurrentUser, *, create: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    db = request.app.state.db
    params = request.query_params
    status = params.get("status") or None
    status = status if status in {s.value for s in TransferStatus} else None
    location = (params.get("location") or "").strip() or None
    transfers = stock_ops.list_transfers(db, status=status, location=location)
    return page(
        request,
        "stock_ops/transfers.html",
        {
            "transfers": transfers,
            "status": status,
            "statuses": [s.value for s in TransferStatus],
            "location": location,
            "filtered": bool(status or location),
            "locations": [loc for loc in views.list_locations(db) if loc["active"]],
            "can_transfer": user.can(Permission.INVENTORY_TRANSFER),
            "create": create or {"values": {}, "errors": {}},
            "form_lines": FORM_LINES,
            "today": utcnow().date().isoformat(),
            "default_eta": (utcnow() + dt.timedelta(days=3)).date().isoformat(),
            "in_transit": sum(t["units_in_transit"] for t in transfers if t["status"] == "in_transit"),
        },
        user=user,
        status_code=status_code,
        title="Transfers",
    )


@router.get("/transfers", response_class=HTMLResponse)
def transfers_list(request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))) -> Any:
    return _transfers_page(request, user)


@router.post("/transfers")
async def transfer_create(
    request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_TRANSFER))
) -> Any:
    values = await _form(request)
    errors: dict[str, str] = {}
    lines: list[TransferLineRequest] = []
    rows: list[int] = []  # form row of each line, to put the service's errors back on the row
    for i in range(FORM_LINES):
        sku = values.get(f"sku_{i}", "").strip()
        raw = values.get(f"qty_{i}", "").strip()
        if not sku and not raw:
            continue
        if not sku:
            errors[f"sku_{i}"] = "Enter a SKU."
        qty = _int(raw, f"qty_{i}", errors)
        if sku and qty is not None:
            lines.append(TransferLineRequest(sku, qty))
            rows.append(i)
    if not lines and not errors:
        errors["lines"] = "Add at least one SKU to transfer."
    expected = _date(values.get("expected_on", ""), "expected_on", errors)
    ship = values.get("action") == "ship"
    try:
        if errors or expected is None:
            raise DomainError(STATUS_VALIDATION, "invalid", [FieldError(k, v) for k, v in errors.items()])
        t = await run_in_threadpool(
            stock_ops.create_transfer,
            request.app.state.db,
            from_location=values.get("from_location", ""),
            to_location=values.get("to_location", ""),
            lines=lines,
            expected_at=expected,
            carrier=values.get("carrier"),
            tracking_number=values.get("tracking_number"),
            note=values.get("note"),
            ship=ship,
            actor=user.actor,
        )
    except DomainError as exc:
        fields: dict[str, str] = {}
        for k, v in _field_errors(exc).items():
            if k.startswith("lines[") and "]." in k:
                idx = int(k[6 : k.index("]")])
                part = "sku" if k.endswith(".sku") else "qty"
                fields[f"{part}_{rows[idx] if idx < len(rows) else 0}"] = v
            else:
                fields[k] = v
        message = exc.message if not fields or exc.code is ErrorCode.STOCK_CONFLICT else None
        return await run_in_threadpool(
            _transfers_page,
            request,
            user,
            create={"values": values, "errors": fields, "message": message},
            status_code=STATUS.get(exc.code, 400),
        )
    verb = "shipped: the units are in transit" if ship else "saved as a draft: ship it when the truck leaves"
    return redirect(f"/transfers/{t['number']}", f"Transfer {t['number']} {verb}.")


def _transfer_page(
    request: Request, user: CurrentUser, number: str, *, receive: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    t = stock_ops.get_transfer(request.app.state.db, number)
    now = utcnow()
    return page(
        request,
        "stock_ops/transfer.html",
        {
            "t": t,
            "late": t["status"] == "in_transit" and t["expected_at"] < now,
            "can_transfer": user.can(Permission.INVENTORY_TRANSFER),
            "receive": receive or {"values": {}, "errors": {}},
        },
        user=user,
        status_code=status_code,
        title=f"{number} · Transfers",
    )


@router.get("/transfers/{number}", response_class=HTMLResponse)
def transfer_detail(
    request: Request, number: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))
) -> Any:
    return _transfer_page(request, user, number[:32])


@router.post("/transfers/{number}/ship")
async def transfer_ship(
    request: Request, number: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_TRANSFER))
) -> Any:
    try:
        t = await run_in_threadpool(stock_ops.ship_transfer, request.app.state.db, number[:32], user.actor)
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise
        return redirect(f"/transfers/{number}", f"Nothing was shipped. {exc.message}", "error")
    return redirect(
        f"/transfers/{number}", f"Transfer {number} shipped: {t['units']:,} unit(s) in transit to {t['to_location']}."
    )


@router.post("/transfers/{number}/cancel")
async def transfer_cancel(
    request: Request, number: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_TRANSFER))
) -> Any:
    values = await _form(request)
    try:
        await run_in_threadpool(
            stock_ops.cancel_transfer, request.app.state.db, number[:32], user.actor, reason=values.get("reason")
        )
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise
        return redirect(f"/transfers/{number}", exc.message, "error")
    return redirect(f"/transfers/{number}", f"Transfer {number} cancelled; nothing had moved.")


@router.post("/transfers/{number}/receive")
async def transfer_receive(
    request: Request, number: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_TRANSFER))
) -> Any:
    values = await _form(request)
    db = request.app.state.db
    t = await run_in_threadpool(stock_ops.get_transfer, db, number[:32])
    errors: dict[str, str] = {}
    received: dict[str, int] = {}
    for i, ln in enumerate(t["lines"]):
        q = _int(values.get(f"qty_{i}", ""), f"qty_{i}", errors, minimum=0, required=False)
        if q:
            received[ln["sku"]] = q
    try:
        if errors:
            raise DomainError(STATUS_VALIDATION, "invalid", [FieldError(k, v) for k, v in errors.items()])
        after = await run_in_threadpool(
            stock_ops.receive_transfer, db, number[:32], received, user.actor, reason=values.get("reason")
        )
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise
        index = {ln["sku"]: i for i, ln in enumerate(t["lines"])}
        fields: dict[str, str] = {}
        for k, v in _field_errors(exc).items():
            if k.startswith("lines[") and "]" in k:
                fields[f"qty_{index.get(k[6 : k.index(']')], 0)}"] = v
            else:
                fields[k] = v
        if "lines" in fields:
            fields["form"] = fields.pop("lines")
        return await run_in_threadpool(
            _transfer_page,
            request,
            user,
            number[:32],
            receive={"values": values, "errors": fields},
            status_code=STATUS.get(exc.code, 400),
        )
    units = sum(received.values())
    left = after["units_in_transit"]
    tail = "the transfer is complete" if after["status"] == "received" else f"{left:,} still in transit"
    return redirect(f"/transfers/{number}", f"Received {units:,} unit(s) at {after['to_location']}: {tail}.")


# --- low stock --------------------------------------------------------------------------------


@router.get("/low-stock", response_class=HTMLResponse)
def low_stock(request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))) -> Any:
    """Stock rows at or below their reorder point: what to order (or transfer) next."""
    db = request.app.state.db
    location = (request.query_params.get("location") or "").strip() or None
    rows = stock_ops.low_stock(db, location=location)
    return page(
        request,
        "stock_ops/low_stock.html",
        {
            "rows": rows,
            "location": location,
            "locations": [loc for loc in views.list_locations(db) if loc["active"]],
        },
        user=user,
        title="Low stock",
    )
