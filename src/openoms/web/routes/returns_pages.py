"""Back-office return pages: the returns queue, one return (approve or reject, receive and inspect,
the refund quote explained and the refund), a return or exchange started from the order page, and
each channel's return policy. Every action is a POST form (CSRF checked by ``permitted``) calling
one ``services.returns`` command; a refusal re-shows the form with each problem beside its field
and nothing changed. The customer's own page is ``web/routes/customer_returns.py``.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from openoms.api.errors import STATUS
from openoms.domain import returns as rules
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, NotFound
from openoms.domain.orders import order_number
from openoms.services import return_views, returns
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import fmt_money, page, redirect
from openoms.web.routes.forms import form_data, sentence

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
MAX_ID = 2**63 - 1
MAX_NOTE = 500
MAX_EXCHANGE_LINES = 3
STATUSES = tuple(s.value for s in rules.ReturnStatus)
REASONS = tuple(r.value for r in rules.ReasonCode)
CONDITIONS = tuple(c.value for c in rules.Condition)
DISPOSITIONS = tuple(d.value for d in rules.Disposition)
REASON_LABELS = {
    "no_longer_needed": "No longer needed",
    "wrong_size": "Wrong size or fit",
    "not_as_described": "Not as described",
    "changed_mind": "Changed my mind",
    "damaged": "Arrived damaged",
    "defective": "Defective or doesn't work",
    "wrong_item": "Wrong item sent",
    "other": "Other",
}
#: Issuing a return's refund: the same permission as the API's POST /returns/{ref}/refund.
REFUND_PERMISSION = Permission.RETURNS_REFUND
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")


def who(actor: str | None) -> str:
    """How an actor reads on the page: a person's name, the customer, or the system."""
    text = str(actor or "")
    if text.startswith("user:"):
        return text[5:].split(" <", 1)[0]
    if text.startswith("customer:"):
        return "the customer (return link)"
    if text.startswith("api-key:"):
        return "API key " + text[8:]
    return text or "—"


def _id(value: int) -> int:
    if value > MAX_ID:
        raise NotFound("Return", str(value))
    return value


def line_errors(exc: DomainError, sent: list[int], known: tuple[str, ...] = ()) -> dict[str, str]:
    """A refused command's field errors keyed for the form: ``lines[i].quantity`` becomes
    ``qty_<line number>`` (``sent`` maps i to the line number), other known fields keep their
    name, the rest go to the form as a whole (``""``)."""
    out: dict[str, str] = {}
    names = {
        "quantity": "qty",
        "line_number": "qty",
        "condition": "condition",
        "disposition": "disposition",
        "reason": "reason",
        "reason_code": "reason",
    }
    for e in exc.errors:
        m = _LINE_FIELD.match(e.field)
        if m and int(m.group(1)) < len(sent):
            key = f"{names.get(m.group(2), 'qty')}_{sent[int(m.group(1))]}"
        elif e.field in known:
            key = e.field
        else:
            key = ""
        out.setdefault(key, sentence(e.reason))
    if not out:
        out[""] = sentence(exc.message)
    return out


def _qty(raw: str, key: str, errors: dict[str, str], most: int) -> int:
    raw = raw.strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        errors[key] = "Enter a whole number of units."
        return 0
    value = int(raw)
    if value > most:
        errors[key] = f"At most {most}."
    return value


def _choice(raw: str, options: tuple[str, ...], key: str, errors: dict[str, str], label: str) -> str:
    if raw not in options:
        errors[key] = f"Choose {label}."
    return raw


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- the request form (order page → return / exchange) -----------------------------------------


def read_request_form(
    form: FormData, eligible: list[dict[str, Any]], *, allow_exchange: bool
) -> tuple[dict[str, Any], dict[str, str], list[int]]:
    """The lines, method, store and exchange the form asks for, plus its field errors; shared
    by the back-office form and the customer's page. ``sent`` lists the line numbers in the
    order they are sent, to put the service's refusals back beside the right line."""
    errors: dict[str, str] = {}
    lines: list[dict[str, Any]] = []
    for ln in eligible:
        n = int(ln["line_number"])
        qty = _qty(_text(form, f"qty_{n}"), f"qty_{n}", errors, int(ln["returnable"]))
        if qty <= 0:
            continue
        reason = _choice(_text(form, f"reason_{n}"), REASONS, f"reason_{n}", errors, "a reason")
        line: dict[str, Any] = {"line_number": n, "quantity": qty, "reason": reason}
        condition = _text(form, f"condition_{n}")
        if condition:
            line["condition"] = _choice(condition, CONDITIONS, f"condition_{n}", errors, "a condition")
        lines.append(line)
    if not lines and not errors:
        errors[""] = "Choose at least one item and how many to return."
    method = _choice(_text(form, "method"), tuple(m.value for m in rules.ReturnMethod), "method", errors, "how")
    location = _text(form, "location") or None
    if method == rules.ReturnMethod.IN_STORE.value and not location:
        errors["location"] = "Choose the store."
    note = _text(form, "note")
    if len(note) > MAX_NOTE:
        errors["note"] = f"At most {MAX_NOTE} characters."
    exchange: list[dict[str, Any]] = []
    if allow_exchange:
        for i in range(MAX_EXCHANGE_LINES):
            sku = _text(form, f"exchange_sku_{i}")
            raw = _text(form, f"exchange_qty_{i}")
            if not sku and not raw:
                continue
            if not sku:
                errors[f"exchange_sku_{i}"] = "Enter the SKU to send instead."
            qty = _qty(raw or "1", f"exchange_qty_{i}", errors, 999)
            if qty < 1 and f"exchange_qty_{i}" not in errors:
                errors[f"exchange_qty_{i}"] = "At least 1."
            exchange.append({"sku": sku[:64], "quantity": qty})
    request = {
        "lines": lines,
        "method": method,
        "location": location if method == rules.ReturnMethod.IN_STORE.value else None,
        "note": note or None,
        "exchange": exchange or None,
    }
    return request, errors, [ln["line_number"] for ln in lines]


def exchange_errors(exc: DomainError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        if e.field == "exchange":
            out.setdefault("exchange_sku_0", sentence(e.reason))
        m = re.match(r"^exchange\[(\d+)\]\.(\w+)$", e.field)
        if m:
            out.setdefault(f"exchange_{'qty' if m.group(2) == 'quantity' else 'sku'}_{m.group(1)}", sentence(e.reason))
    return out


def eligibility_view(db: Any, order_id: int) -> dict[str, Any]:
    """The eligibility answer with product names, split into what may come back and what not."""
    result = returns.check_eligibility(db, order_id)
    summary = return_views.order_summary(db, order_id) or {"lines": {}}
    lines = []
    for ln in result["lines"]:
        info = summary["lines"].get(int(ln["line_number"]), {})
        lines.append({**info, **ln, "name": ln.get("name") or info.get("name") or ln.get("sku")})
    return {
        **result,
        "lines": lines,
        "eligible": [ln for ln in lines if ln.get("returnable", 0) > 0],
        "refused": [ln for ln in lines if not ln.get("returnable", 0)],
        "order": summary,
    }


def _new_return_page(
    request: Request,
    user: CurrentUser,
    order_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    db = request.app.state.db
    view = eligibility_view(db, order_id)
    return page(
        request,
        "returns/new.html",
        {
            "view": view,
            "order_id": order_id,
            "number": order_number(order_id),
            "stores": return_views.return_locations(db),
            "reasons": REASON_LABELS,
            "conditions": CONDITIONS,
            "values": values or {},
            "errors": errors or {},
            "exchange_rows": MAX_EXCHANGE_LINES,
            "idempotency_key": (values or {}).get("idempotency_key") or uuid.uuid4().hex,
        },
        user=user,
        status_code=status_code,
        title=f"Return or exchange · {order_number(order_id)}",
    )


@router.get("/orders/{order_id:int}/returns/new", response_class=HTMLResponse)
def new_return(
    request: Request, order_id: int, user: CurrentUser = Depends(permitted(Permission.RETURNS_MANAGE))
) -> Any:
    """What of the order may come back (and why not the rest), and the return/exchange form."""
    return _new_return_page(request, user, _id(order_id))


@router.post("/orders/{order_id:int}/returns")
def create_return(
    request: Request,
    order_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.RETURNS_MANAGE)),
) -> Any:
    db = request.app.state.db
    order_id = _id(order_id)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    view = eligibility_view(db, order_id)
    wanted, errors, sent = read_request_form(form, view["eligible"], allow_exchange=True)
    if errors:
        return _new_return_page(request, user, order_id, values=values, errors=errors, status_code=422)
    try:
        created = returns.request_return(
            db,
            order_id,
            lines=wanted["lines"],
            method=wanted["method"],
            location=wanted["location"],
            source=rules.ReturnSource.CUSTOMER_SERVICE.value,
            actor=user.actor,
            note=wanted["note"],
            exchange=wanted["exchange"],
            idempotency_key=f"web:{values.get('idempotency_key', '')[:64]}" if values.get("idempotency_key") else None,
            approve=form.get("approve") not in (None, "", "0"),
        )
    except DomainError as exc:  # the order exists (eligibility read it): a refusal of the input
        found = {**line_errors(exc, sent, ("method", "location", "note", "lines")), **exchange_errors(exc)}
        if "lines" in found:
            found.setdefault("", found.pop("lines"))
        return _new_return_page(
            request, user, order_id, values=values, errors=found, status_code=STATUS.get(exc.code, 422)
        )
    message = f"Return {created['rma_number']} created"
    if created.get("exchange_order_id"):
        message += f"; replacement order {order_number(int(created['exchange_order_id']))} is reserved"
    return redirect(f"/returns/{created['id']}", message + ".")


# --- the queue ---------------------------------------------------------------------------------


@router.get("/returns", response_class=HTMLResponse)
def returns_queue(request: Request, user: CurrentUser = Depends(permitted(Permission.RETURNS_VIEW))) -> Any:
    """Returns to work on, newest first: by status and location, or found by RMA or order number."""
    db = request.app.state.db
    params = request.query_params
    status = params.get("status") or "open"
    status = status if status in (*STATUSES, "open", "all") else "open"
    location = (params.get("location") or "").strip()[:32] or None
    q = (params.get("q") or "").strip()[:64] or None
    cursor = (params.get("cursor") or "").strip()[:200] or None
    try:
        result = returns.list_returns(
            db,
            status=None if status == "all" else status,
            location=location,
            q=q,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
    except DomainError as exc:
        if exc.code != ErrorCode.VALIDATION_ERROR:
            raise
        result = returns.list_returns(db, status=None, location=None, q=None, limit=PAGE_SIZE, cursor=None)
        status, location, q = "all", None, None
    counts = return_views.status_counts(db, location=location)
    kept = {k: v for k, v in (("status", status), ("location", location), ("q", q)) if v}
    next_cursor = result.get("next_cursor")
    return page(
        request,
        "returns/queue.html",
        {
            "items": result["items"],
            "counts": counts,
            "open_count": sum(n for s, n in counts.items() if s in {x.value for x in rules.OPEN}),
            "total": sum(counts.values()),
            "status": status,
            "statuses": STATUSES,
            "location": location,
            "q": q,
            "locations": return_views.return_locations(db),
            "next_url": "/returns?" + urlencode({**kept, "cursor": next_cursor}) if next_cursor else None,
            "first_url": "/returns?" + urlencode(kept) if cursor else None,
            "filtered": bool(location or q) or status not in ("open",),
            "chip_query": urlencode({k: v for k, v in kept.items() if k != "status"}),
        },
        user=user,
        title="Returns",
    )


# --- one return --------------------------------------------------------------------------------


def _return_page(
    request: Request,
    user: CurrentUser,
    return_id: int,
    *,
    receive: dict[str, Any] | None = None,
    reject: dict[str, Any] | None = None,
    refund_error: str | None = None,
    status_code: int = 200,
) -> Response:
    db = request.app.state.db
    r = returns.get_return(db, _id(return_id))
    status = rules.ReturnStatus(r["status"])
    quote: dict[str, Any] | None = None
    quote_error: str | None = None
    if status in rules.REFUNDABLE or status in (rules.ReturnStatus.REFUNDED, rules.ReturnStatus.CLOSED):
        quote = r.get("quote")
        if quote is None and status in rules.REFUNDABLE:
            try:
                quote = returns.refund_quote(db, return_id)
            except DomainError as exc:
                quote_error = exc.message
    summary = return_views.order_summary(db, int(r["order_id"])) or {"lines": {}}
    for ln in r["lines"]:
        info = summary["lines"].get(int(ln["line_number"]), {})
        ln.setdefault("name", info.get("name"))
        ln["outstanding"] = int(ln["quantity"]) - int(ln.get("quantity_received", 0))
    can = {
        "manage": user.can(Permission.RETURNS_MANAGE),
        "receive": user.can(Permission.RETURNS_RECEIVE),
        "refund": user.can(REFUND_PERMISSION),
    }
    return page(
        request,
        "returns/detail.html",
        {
            "r": r,
            "order": summary,
            "quote": quote,
            "quote_error": quote_error,
            "can": can,
            "status": status,
            "receivable": status in rules.RECEIVABLE,
            "refundable": status in rules.REFUNDABLE,
            "decidable": status == rules.ReturnStatus.REQUESTED,
            "cancellable": rules.can_transition(status, rules.ReturnStatus.CANCELLED),
            "receive_locations": return_views.return_locations(db),
            "receive": receive or {"values": {}, "errors": {}},
            "reject": reject or {"values": {}, "errors": {}},
            "refund_error": refund_error,
            "refund_key": uuid.uuid4().hex,
            "reasons": REASON_LABELS,
            "conditions": CONDITIONS,
            "dispositions": DISPOSITIONS,
            "who": who,
        },
        user=user,
        status_code=status_code,
        title=str(r["rma_number"]),
    )


@router.get("/returns/{return_id:int}", response_class=HTMLResponse)
def return_detail(
    request: Request, return_id: int, user: CurrentUser = Depends(permitted(Permission.RETURNS_VIEW))
) -> Any:
    return _return_page(request, user, return_id)


@router.get("/returns/RMA-{number:int}", response_class=HTMLResponse)
def return_detail_by_number(
    request: Request, number: int, user: CurrentUser = Depends(permitted(Permission.RETURNS_VIEW))
) -> Any:
    """RMA numbers work as addresses too: /returns/RMA-0000012."""
    return _return_page(request, user, number)


@router.get("/returns/{return_id:int}/label.pdf")
def return_label(
    request: Request, return_id: int, user: CurrentUser = Depends(permitted(Permission.RETURNS_VIEW))
) -> Response:
    pdf = returns.return_label_pdf(request.app.state.db, _id(return_id))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{rules.rma_number(return_id)}-label.pdf"'},
    )


def _decide(return_id: int, run: Any, done: str) -> Response:
    target = f"/returns/{_id(return_id)}"
    try:
        run()
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        return redirect(target, sentence(exc.message) + " Nothing changed.", "error")
    return redirect(target, done)


@router.post("/returns/{return_id:int}/approve")
def approve(request: Request, return_id: int, user: CurrentUser = Depends(permitted(Permission.RETURNS_MANAGE))) -> Any:
    db = request.app.state.db
    return _decide(
        return_id,
        lambda: returns.approve_return(db, return_id, actor=user.actor),
        f"Return {rules.rma_number(return_id)} approved: the customer may send or bring the items.",
    )


@router.post("/returns/{return_id:int}/reject")
def reject(
    request: Request,
    return_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.RETURNS_MANAGE)),
) -> Any:
    reason = _text(form, "reason")
    if not reason or len(reason) > MAX_NOTE:
        problem = "Say why the return is rejected." if not reason else f"At most {MAX_NOTE} characters."
        return _return_page(
            request,
            user,
            _id(return_id),
            reject={"values": {"reason": reason}, "errors": {"reason": problem}},
            status_code=422,
        )
    db = request.app.state.db
    return _decide(
        return_id,
        lambda: returns.reject_return(db, return_id, reason=reason, actor=user.actor),
        f"Return {rules.rma_number(return_id)} rejected.",
    )


@router.post("/returns/{return_id:int}/cancel")
def cancel(
    request: Request,
    return_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.RETURNS_MANAGE)),
) -> Any:
    db = request.app.state.db
    reason = _text(form, "reason")[:MAX_NOTE] or "cancelled in the back office"
    return _decide(
        return_id,
        lambda: returns.cancel_return(db, return_id, reason=reason, actor=user.actor),
        f"Return {rules.rma_number(return_id)} cancelled.",
    )


@router.post("/returns/{return_id:int}/receive")
def receive(
    request: Request,
    return_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.RETURNS_RECEIVE)),
) -> Any:
    """Receive and inspect: per line, units in hand, their condition and what becomes of them."""
    db = request.app.state.db
    return_id = _id(return_id)
    r = returns.get_return(db, return_id)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    errors: dict[str, str] = {}
    lines: list[dict[str, Any]] = []
    for ln in r["lines"]:
        n = int(ln["line_number"])
        outstanding = int(ln["quantity"]) - int(ln.get("quantity_received", 0))
        qty = _qty(_text(form, f"qty_{n}"), f"qty_{n}", errors, outstanding)
        if qty <= 0:
            continue
        condition = _choice(_text(form, f"condition_{n}"), CONDITIONS, f"condition_{n}", errors, "a condition")
        disposition = _choice(
            _text(form, f"disposition_{n}"), DISPOSITIONS, f"disposition_{n}", errors, "what happens to it"
        )
        lines.append({"line_number": n, "quantity": qty, "condition": condition, "disposition": disposition})
    location = _text(form, "location")
    if not location:
        errors["location"] = "Choose where the items are."
    if not lines and not errors:
        errors[""] = "Enter how many units of at least one line are in hand."
    if not errors:
        try:
            returns.receive_return(db, return_id, location=location, lines=lines, actor=user.actor)
        except DomainError as exc:  # the return exists (read above): a refusal of the input
            errors = line_errors(exc, [ln["line_number"] for ln in lines], ("location",))
            return _return_page(
                request,
                user,
                return_id,
                receive={"values": values, "errors": errors},
                status_code=STATUS.get(exc.code, 422),
            )
        units = sum(ln["quantity"] for ln in lines)
        restocked = sum(ln["quantity"] for ln in lines if ln["disposition"] == "restock")
        return redirect(
            f"/returns/{return_id}",
            f"Received {units} unit{'s' if units != 1 else ''} at {location}"
            + (f"; {restocked} back in stock" if restocked else "")
            + ".",
        )
    return _return_page(request, user, return_id, receive={"values": values, "errors": errors}, status_code=422)


@router.post("/returns/{return_id:int}/refund")
def refund(
    request: Request,
    return_id: int,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(REFUND_PERMISSION)),
) -> Any:
    """Issue the quoted refund. The form carries an idempotency key made when the page was
    drawn, so a second click (or a retry after a time-out) never refunds twice."""
    db = request.app.state.db
    return_id = _id(return_id)
    key = _text(form, "idempotency_key")[:64]
    if not re.fullmatch(r"[0-9a-f]{32}", key):
        return _return_page(
            request, user, return_id, refund_error="The form expired: reload the page.", status_code=422
        )
    try:
        result = returns.issue_return_refund(db, return_id, actor=user.actor, idempotency_key=f"web-refund:{key}")
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        return _return_page(
            request,
            user,
            return_id,
            refund_error=sentence(exc.message) + " Nothing was refunded.",
            status_code=STATUS.get(exc.code, 422),
        )
    amount = result.get("refund_amount")
    if amount is None or Decimal(amount) == 0:
        text = f"{result['rma_number']} closed with nothing to pay back"
    else:
        text = f"Refund of {fmt_money(amount, result.get('currency'))} issued for {result['rma_number']}"
    return redirect(f"/returns/{return_id}", text + ".")


# --- return policy per channel -----------------------------------------------------------------


def _policy_page(
    request: Request,
    user: CurrentUser,
    code: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    db = request.app.state.db
    channels = {c["code"]: c for c in return_views.channel_names(db)}
    if code not in channels:
        raise NotFound("Channel", code)
    policy = returns.get_return_policy(db, code)
    return page(
        request,
        "returns/policy.html",
        {
            "channel": channels[code],
            "channels": list(channels.values()),
            "policy": policy,
            "values": values,
            "errors": errors or {},
            "methods": tuple(m.value for m in rules.ReturnMethod),
            "conditions": CONDITIONS,
            "shipping_rules": tuple(s.value for s in rules.ShippingRefund),
            "can_edit": user.can(Permission.RETURNS_MANAGE),
        },
        user=user,
        status_code=status_code,
        title=f"Return policy · {channels[code]['name']}",
    )


@router.get("/return-policies/{code}", response_class=HTMLResponse)
def policy_form(request: Request, code: str, user: CurrentUser = Depends(permitted(Permission.RETURNS_VIEW))) -> Any:
    return _policy_page(request, user, code[:32])


@router.post("/return-policies/{code}")
def policy_save(
    request: Request,
    code: str,
    form: FormData = Depends(form_data),
    user: CurrentUser = Depends(permitted(Permission.RETURNS_MANAGE)),
) -> Any:
    code = code[:32]
    values: dict[str, Any] = {
        "window_days": _text(form, "window_days"),
        "restocking_fee_percent": _text(form, "restocking_fee_percent"),
        "refund_shipping": _text(form, "refund_shipping"),
        "allowed_methods": [v for v in form.getlist("allowed_methods") if isinstance(v, str)],
        "accepted_conditions": [v for v in form.getlist("accepted_conditions") if isinstance(v, str)],
    }
    errors: dict[str, str] = {}
    window = values["window_days"]
    if not (window.isascii() and window.isdigit()) or len(window) > 5:
        errors["window_days"] = "Enter a whole number of days, such as 30."
    try:
        fee = Decimal(values["restocking_fee_percent"] or "0")
        if not fee.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        errors["restocking_fee_percent"] = "Enter a percentage, such as 10 or 12.5."
        fee = Decimal(0)
    if not errors:
        try:
            returns.set_return_policy(
                request.app.state.db,
                code,
                window_days=int(window),
                restocking_fee_percent=fee,
                refund_shipping=values["refund_shipping"],
                allowed_methods=values["allowed_methods"],
                accepted_conditions=values["accepted_conditions"],
                actor=user.actor,
            )
        except DomainError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise
            errors = {e.field if e.field in values else "": sentence(e.reason) for e in exc.errors} or {
                "": sentence(exc.message)
            }
    if errors:
        return _policy_page(request, user, code, values=values, errors=errors, status_code=422)
    return redirect(f"/return-policies/{code}", "Return policy saved. It applies to new return requests.")
