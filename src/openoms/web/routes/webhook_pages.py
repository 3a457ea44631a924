"""The webhooks page (administrators): integrators' subscriptions, the signing secret shown
once, and the delivery log with the receivers' answers and a Re-send button (docs/webhooks.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from openoms.domain import webhooks as rules
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, FieldError
from openoms.domain.orders import order_number
from openoms.services import webhooks
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import Errors, checked, domain_errors, form_data, strings

router = APIRouter(include_in_schema=False)
Admin = Depends(permitted(Permission.WEBHOOKS_MANAGE))
BASE = "/admin/webhooks"
LABELS: Mapping[str, str] = {
    "name": "Name",
    "url": "Endpoint URL",
    "event_types": "Events",
    "active": "Active: send events to this endpoint",
}
STATUSES = [s.value for s in rules.DeliveryStatus]
PER_PAGE = 50


def _event_groups() -> list[dict[str, Any]]:
    """Event type choices grouped by what they are about (order., shipment., ...)."""
    groups: dict[str, list[str]] = {}
    for event_type in rules.EVENT_CHOICES:
        groups.setdefault(event_type.split(".", 1)[0], []).append(event_type)
    return [{"prefix": f"{k}.*", "title": k.replace("_", " ").capitalize(), "types": v} for k, v in groups.items()]


def _form_page(
    request: Request,
    user: CurrentUser,
    values: Mapping[str, Any],
    *,
    sub_id: int | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "admin/webhook_form.html",
        {
            "values": values,
            "errors": errors or {},
            "labels": LABELS,
            "groups": _event_groups(),
            "sub_id": sub_id,
            "action": f"{BASE}/{sub_id}/edit" if sub_id else f"{BASE}/new",
        },
        user=user,
        status_code=status_code,
        title="Edit webhook" if sub_id else "New webhook",
    )


def _secret_page(request: Request, user: CurrentUser, sub: dict[str, Any], secret: str, rotated: bool) -> Response:
    response = page(
        request,
        "admin/webhook_secret.html",
        {"sub": sub, "secret": secret, "rotated": rotated},
        user=user,
        status_code=200 if rotated else 201,
        title="Webhook signing secret",
    )
    # The secret is in this response only: keep it out of every cache and the back button's copy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.get(BASE, response_class=HTMLResponse)
def webhooks_page(
    request: Request,
    user: CurrentUser = Admin,
    subscription: str = "",
    status: str = "",
    cursor: str = "",
) -> Any:
    db = request.app.state.db
    subs = webhooks.list_subscriptions(db)
    sub_filter = int(subscription) if subscription.isdigit() and len(subscription) < 19 else None
    status_filter = status if status in STATUSES else None
    try:
        log = webhooks.list_deliveries(
            db, subscription_id=sub_filter, status=status_filter, cursor=cursor or None, limit=PER_PAGE
        )
    except DomainError:  # a cursor typed by hand: the first page
        log = webhooks.list_deliveries(db, subscription_id=sub_filter, status=status_filter, limit=PER_PAGE)
    for d in log["items"]:
        d["order_number"] = order_number(d["order_id"]) if d["order_id"] else None
    query = "&".join(f"{k}={v}" for k, v in (("subscription", sub_filter or ""), ("status", status_filter or "")) if v)
    return page(
        request,
        "admin/webhooks.html",
        {
            "subs": subs,
            "counts": webhooks.delivery_counts(db),
            "deliveries": log["items"],
            "next_url": f"{BASE}?{query}{'&' if query else ''}cursor={log['next_cursor']}#log"
            if log["next_cursor"]
            else None,
            "first_url": f"{BASE}?{query}#log" if cursor else None,
            "filters": {"subscription": sub_filter, "status": status_filter or ""},
            "statuses": STATUSES,
            "max_attempts": request.app.state.settings.webhook_max_attempts,
            "nats_on": bool(request.app.state.settings.nats_url.strip()),
        },
        user=user,
        title="Webhooks",
    )


@router.get(f"{BASE}/new", response_class=HTMLResponse)
def new_webhook(request: Request, user: CurrentUser = Admin) -> Any:
    return _form_page(request, user, {"name": "", "url": "", "event_types": [], "active": True})


def _submitted(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = dict(strings(form, ("name", "url")))
    values["event_types"] = [v for v in form.getlist("event_types") if isinstance(v, str)]
    values.update(checked(form, ("active",)))
    return values


@router.post(f"{BASE}/new", response_class=HTMLResponse)
def create_webhook(request: Request, user: CurrentUser = Admin, form: FormData = Depends(form_data)) -> Any:
    values = _submitted(form)
    try:
        sub, secret = webhooks.create_subscription(
            request.app.state.db,
            request.app.state.settings,
            name=values["name"],
            url=values["url"],
            event_types=values["event_types"],
            active=values["active"],
            actor=user.actor,
        )
    except DomainError as exc:
        errors = _errors(exc)
        return _form_page(request, user, values, errors=errors, status_code=422)
    return _secret_page(request, user, sub, secret, rotated=False)


def _errors(exc: DomainError) -> Errors:
    """``event_types[3]`` is one checkbox of the form's single "Events" group."""
    fields = [
        FieldError("event_types" if e.field.startswith("event_types[") else e.field, e.reason) for e in exc.errors
    ]
    return domain_errors(DomainError(exc.code, exc.message, fields), LABELS)


@router.get(f"{BASE}/{{sub_id:int}}/edit", response_class=HTMLResponse)
def edit_webhook(request: Request, sub_id: int, user: CurrentUser = Admin) -> Any:
    sub = webhooks.get_subscription(request.app.state.db, sub_id)
    return _form_page(request, user, sub, sub_id=sub_id)


@router.post(f"{BASE}/{{sub_id:int}}/edit", response_class=HTMLResponse)
def update_webhook(
    request: Request, sub_id: int, user: CurrentUser = Admin, form: FormData = Depends(form_data)
) -> Any:
    values = _submitted(form)
    try:
        sub = webhooks.update_subscription(
            request.app.state.db,
            sub_id,
            name=values["name"],
            url=values["url"],
            event_types=values["event_types"],
            active=values["active"],
            actor=user.actor,
        )
    except DomainError as exc:
        if not exc.errors:
            raise
        return _form_page(request, user, values, sub_id=sub_id, errors=_errors(exc), status_code=422)
    return redirect(BASE, f"Saved webhook {sub['name']}.")


@router.post(f"{BASE}/{{sub_id:int}}/rotate", response_class=HTMLResponse)
def rotate_webhook_secret(
    request: Request, sub_id: int, user: CurrentUser = Admin, form: FormData = Depends(form_data)
) -> Any:
    sub, secret = webhooks.rotate_secret(request.app.state.db, request.app.state.settings, sub_id, user.actor)
    return _secret_page(request, user, sub, secret, rotated=True)


@router.post(f"{BASE}/{{sub_id:int}}/delete")
def delete_webhook(
    request: Request, sub_id: int, user: CurrentUser = Admin, form: FormData = Depends(form_data)
) -> Response:
    sub = webhooks.get_subscription(request.app.state.db, sub_id)
    webhooks.delete_subscription(request.app.state.db, sub_id, user.actor)
    return redirect(BASE, f"Deleted webhook {sub['name']} and its delivery log.")


@router.post(f"{BASE}/deliveries/{{delivery_id:int}}/resend")
def resend_delivery(
    request: Request, delivery_id: int, user: CurrentUser = Admin, form: FormData = Depends(form_data)
) -> Response:
    d = webhooks.resend(request.app.state.db, delivery_id, user.actor)
    back = form.get("back")
    target = back if isinstance(back, str) and back.startswith(BASE) else BASE
    return redirect(
        target,
        f"Delivery {delivery_id} ({d['event_type']}) is queued again; the worker sends it on its next pass.",
    )
