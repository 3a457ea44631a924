"""The outbox page: what the worker has not delivered and which customer e-mails failed, with
a retry button (administrators; docs/notifications.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from openoms.domain.access import Permission
from openoms.domain.orders import order_number
from openoms.services import outbox
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import form_data

router = APIRouter(include_in_schema=False)

#: What an outbox event is, for people.
EVENT_LABELS = {
    "order.placed": "Order placed",
    "shipment.created": "Shipped",
    "shipment.delivered": "Delivered",
    "shipment.exception": "Carrier exception",
    "order.rerouted": "Routed again",
    "order.backordered": "Backordered",
    "order.ready_for_pickup": "Ready for pickup",
}
SKIP_LABELS = {
    "skipped: SMTP not configured (set OPENOMS_SMTP_HOST)": "E-mail is off (no SMTP server set)",
    "skipped: the order has no customer e-mail address": "The order has no customer e-mail address",
}


def _subject(aggregate: str) -> dict[str, Any]:
    kind, _, ident = aggregate.partition(":")
    if kind == "order" and ident.isdigit():
        return {"label": order_number(int(ident)), "url": f"/orders/{ident}"}
    return {"label": ident, "url": None, "kind": kind}


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, user: CurrentUser = Depends(permitted(Permission.OUTBOX_MANAGE))) -> Any:
    db = request.app.state.db
    settings = request.app.state.settings
    queue = outbox.undelivered(db, max_attempts=settings.outbox_max_attempts, limit=200)
    messages = [
        {**m, "subject": _subject(m["aggregate"]), "label": EVENT_LABELS.get(m["event_type"], m["event_type"])}
        for m in queue["messages"]
    ]
    return page(
        request,
        "admin/outbox.html",
        {
            "queue": queue,
            "messages": messages,
            "mail": outbox.email_problems(db),
            "skip_labels": SKIP_LABELS,
            "smtp_on": bool(settings.smtp_host.strip()),
            "max_attempts": settings.outbox_max_attempts,
        },
        user=user,
        title="Outbox",
    )


@router.post("/outbox/{message_id:int}/retry")
def retry_message(
    request: Request,
    message_id: int,
    user: CurrentUser = Depends(permitted(Permission.OUTBOX_MANAGE)),
    form: FormData = Depends(form_data),
) -> Response:
    done = outbox.retry(request.app.state.db, [message_id], user.actor)
    if not done:
        return redirect("/outbox", f"Message {message_id} is not waiting any more: nothing to retry.", "info")
    return redirect("/outbox", f"Message {message_id} is queued again; the worker sends it on its next pass.")


@router.post("/outbox/retry-dead")
def retry_dead(
    request: Request,
    user: CurrentUser = Depends(permitted(Permission.OUTBOX_MANAGE)),
    form: FormData = Depends(form_data),
) -> Response:
    db = request.app.state.db
    ids = outbox.dead_ids(db, max_attempts=request.app.state.settings.outbox_max_attempts)
    if not ids:
        return redirect("/outbox", "No message has run out of retries.", "info")
    done = outbox.retry(db, ids, user.actor)
    return redirect("/outbox", f"{len(done)} message(s) queued again; the worker sends them on its next pass.")
