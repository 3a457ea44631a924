"""The customer's self-service return page: ``/r/<token>`` from the shipped e-mail, no account.

The token (services/return_links.py) is the only credential: it opens one order, is checked on
every request, and is refused with a reason when edited or expired. Forms carry a CSRF token
that must match a cookie set with the page (double submit; ``SameSite=Strict``, path ``/r/``).
A request that passes the channel's return policy is approved at once, so a mail return's label
can be printed straight away (ADR 0028). The page is the shop's, not the back office's: its own
frame, the channel's name, no staff navigation.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from openoms.api.errors import STATUS
from openoms.domain import returns as rules
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import return_links, return_views, returns
from openoms.services.common import Actor, utcnow
from openoms.services.return_links import LinkRefusal, ReturnLink, ReturnLinkRefused
from openoms.web.render import templates
from openoms.web.routes.forms import form_data, sentence
from openoms.web.routes.returns_pages import (
    CONDITIONS,
    REASON_LABELS,
    eligibility_view,
    line_errors,
    read_request_form,
)
from openoms.web.routes.session import cookie_secure

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "openoms_return_csrf"
CONDITION_LABELS = {"unopened": "Unopened", "opened": "Opened, as new", "damaged": "Damaged"}
REFUSAL_STATUS = {LinkRefusal.MALFORMED: 400, LinkRefusal.TAMPERED: 403, LinkRefusal.EXPIRED: 410}
REFUSAL_HEADINGS = {
    LinkRefusal.MALFORMED: "This link is incomplete",
    LinkRefusal.TAMPERED: "This link is not valid",
    LinkRefusal.EXPIRED: "This return link has expired",
}
STATUS_TEXT = {
    "requested": "Waiting for approval",
    "approved": "Approved",
    "label_issued": "Label printed",
    "partially_received": "Partly received",
    "received": "Received, refund on its way",
    "refunded": "Refunded",
    "closed": "Closed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
}
_KEY = re.compile(r"^[0-9a-f]{32}$")


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _refused(request: Request, exc: ReturnLinkRefused) -> HTMLResponse:
    return _render(
        request,
        "returns/customer/error.html",
        {"heading": REFUSAL_HEADINGS[exc.reason], "message": exc.message, "shop": None},
        REFUSAL_STATUS[exc.reason],
    )


def _not_found(request: Request, shop: str | None) -> HTMLResponse:
    return _render(
        request,
        "returns/customer/error.html",
        {"heading": "Return not found", "message": "This return does not belong to this order.", "shop": shop},
        404,
    )


def _link(request: Request, token: str) -> ReturnLink:
    return return_links.verify_link(request.app.state.db, request.app.state.settings, token, now=utcnow())


def _customer(summary: dict[str, Any]) -> Actor:
    return Actor(f"customer:{summary.get('email') or 'return link'}"[:128])


def _start_page(
    request: Request,
    token: str,
    link: ReturnLink,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    db = request.app.state.db
    view = eligibility_view(db, link.order_id)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    existing = returns.list_returns(db, order_id=link.order_id, limit=20)["items"]
    response = _render(
        request,
        "returns/customer/start.html",
        {
            "token": token,
            "view": view,
            "order": view["order"],
            "shop": view["order"].get("shop"),
            "stores": return_views.return_locations(db, stores_only=True),
            "existing": existing,
            "reasons": REASON_LABELS,
            "conditions": CONDITIONS,
            "condition_labels": CONDITION_LABELS,
            "values": values or {},
            "errors": errors or {},
            "csrf": csrf,
            "idempotency_key": (values or {}).get("idempotency_key") or uuid.uuid4().hex,
        },
        status_code,
    )
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=cookie_secure(request), path="/r/")
    return response


@router.get("/r/{token}", response_class=HTMLResponse)
def customer_return_start(request: Request, token: str) -> Any:
    """What of the order can be returned, and the form to do it."""
    try:
        link = _link(request, token)
    except ReturnLinkRefused as exc:
        return _refused(request, exc)
    return _start_page(request, token, link)


@router.post("/r/{token}")
def customer_return_request(request: Request, token: str, form: FormData = Depends(form_data)) -> Any:
    try:
        link = _link(request, token)
    except ReturnLinkRefused as exc:
        return _refused(request, exc)
    sent_csrf = form.get("csrf_token")
    expected = request.cookies.get(CSRF_COOKIE, "")
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if not expected or not isinstance(sent_csrf, str) or not hmac.compare_digest(expected, sent_csrf):
        return _start_page(
            request,
            token,
            link,
            values=values,
            errors={"": "This page was open too long. Please check your choices and send them again."},
            status_code=403,
        )
    db = request.app.state.db
    view = eligibility_view(db, link.order_id)
    wanted, errors, sent = read_request_form(form, view["eligible"], allow_exchange=False)
    stores = {s["code"] for s in return_views.return_locations(db, stores_only=True)}
    if (
        wanted["method"] == rules.ReturnMethod.IN_STORE.value
        and wanted["location"]
        and wanted["location"] not in stores
    ):
        errors["location"] = "Choose one of the stores listed."
    key = values.get("idempotency_key", "")
    if not _KEY.match(key):
        errors.setdefault("", "This page was open too long. Please check your choices and send them again.")
    if errors:
        return _start_page(request, token, link, values=values, errors=errors, status_code=422)
    try:
        created = returns.request_return(
            db,
            link.order_id,
            lines=wanted["lines"],
            method=wanted["method"],
            location=wanted["location"],
            source=rules.ReturnSource.CUSTOMER.value,
            actor=_customer(view["order"]),
            idempotency_key=f"return-link:{key}",
            approve=True,
        )
    except DomainError as exc:  # the order exists (the link was verified): a refusal of the input
        found = line_errors(exc, sent, ("method", "location"))
        return _start_page(
            request,
            token,
            link,
            values=values,
            errors={k: sentence(v) for k, v in found.items()},
            status_code=STATUS.get(exc.code, 422),
        )
    return RedirectResponse(f"/r/{token}/returns/{created['id']}?new=1", status_code=303)


def _own_return(request: Request, link: ReturnLink, return_id: int) -> dict[str, Any] | None:
    if return_id > 2**63 - 1:
        return None
    try:
        r = returns.get_return(request.app.state.db, return_id)
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            return None
        raise
    return r if int(r["order_id"]) == link.order_id else None


@router.get("/r/{token}/returns/{return_id:int}", response_class=HTMLResponse)
def customer_return_done(request: Request, token: str, return_id: int) -> Any:
    """The confirmation: the RMA number and what happens next (label or store)."""
    try:
        link = _link(request, token)
    except ReturnLinkRefused as exc:
        return _refused(request, exc)
    db = request.app.state.db
    summary = return_views.order_summary(db, link.order_id) or {}
    r = _own_return(request, link, return_id)
    if r is None:
        return _not_found(request, summary.get("shop"))
    stores = {s["code"]: s for s in return_views.return_locations(db)}
    return _render(
        request,
        "returns/customer/done.html",
        {
            "token": token,
            "r": r,
            "shop": summary.get("shop"),
            "fresh": request.query_params.get("new") == "1",
            "status_text": STATUS_TEXT.get(str(r["status"]), str(r["status"])),
            "label_ready": r["method"] == "mail" and r["status"] in ("approved", "label_issued", "partially_received"),
            "store": stores.get(str(r["location"])) if r.get("location") else None,
            "reasons": REASON_LABELS,
        },
    )


@router.get("/r/{token}/returns/{return_id:int}/label.pdf")
def customer_return_label(request: Request, token: str, return_id: int) -> Response:
    try:
        link = _link(request, token)
    except ReturnLinkRefused as exc:
        return _refused(request, exc)
    r = _own_return(request, link, return_id)
    if r is None:
        return _not_found(request, None)
    summary = return_views.order_summary(request.app.state.db, link.order_id) or {}
    try:
        pdf = returns.return_label_pdf(request.app.state.db, return_id, actor=_customer(summary))
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        return _render(
            request,
            "returns/customer/error.html",
            {"heading": "No label for this return", "message": sentence(exc.message), "shop": summary.get("shop")},
            409,
        )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{r["rma_number"]}-return-label.pdf"',
            "Cache-Control": "no-store",
        },
    )
