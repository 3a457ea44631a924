"""The channel inbox page: what channels sent, and the dead letters an operator fixes and retries
(docs/channels.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from openoms.domain.access import Permission
from openoms.domain.errors import DomainError
from openoms.domain.orders import order_number
from openoms.services import channel_inbox
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import form_data

router = APIRouter(include_in_schema=False)

TOPIC_LABELS = {
    "x12/850": "EDI 850 purchase order",
    "x12/interchange": "EDI file (envelope unreadable)",
    "x12/855": "EDI 855 acknowledgment",
    "x12/856": "EDI 856 ship notice",
    "x12/810": "EDI 810 invoice",
}


def _view(m: dict[str, Any]) -> dict[str, Any]:
    return {
        **m,
        "label": TOPIC_LABELS.get(m["topic"], m["topic"]),
        "order_number": order_number(m["order_id"]) if m["order_id"] else None,
    }


@router.get("/channel-inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    status: str | None = Query(default=None, max_length=16),
    channel: str | None = Query(default=None, max_length=32),
    cursor: str | None = Query(default=None, max_length=64),
    user: CurrentUser = Depends(permitted(Permission.ORDERS_VIEW)),
) -> Any:
    db = request.app.state.db
    status = status if status in channel_inbox.STATUSES else None
    result = channel_inbox.list_messages(db, channel=channel or None, status=status, limit=50, cursor=cursor)
    return page(
        request,
        "channels/inbox.html",
        {
            "result": result,
            "messages": [_view(m) for m in result["items"]],
            "status": status,
            "channel": channel or "",
            "can_manage": user.can(Permission.CHANNEL_INBOX_MANAGE),
        },
        user=user,
        title="Channel inbox",
    )


@router.get("/channel-inbox/{message_id:int}", response_class=HTMLResponse)
def message_page(
    request: Request, message_id: int, user: CurrentUser = Depends(permitted(Permission.ORDERS_VIEW))
) -> Any:
    message = _view(channel_inbox.get_message(request.app.state.db, message_id))
    return page(
        request,
        "channels/inbox_message.html",
        {"m": message, "can_manage": user.can(Permission.CHANNEL_INBOX_MANAGE)},
        user=user,
        title=f"Inbox message {message_id}",
    )


@router.post("/channel-inbox/{message_id:int}/retry")
def retry(
    request: Request,
    message_id: int,
    user: CurrentUser = Depends(permitted(Permission.CHANNEL_INBOX_MANAGE)),
    form: FormData = Depends(form_data),
) -> Response:
    back = f"/channel-inbox/{message_id}"
    try:
        m = channel_inbox.retry(request.app.state.db, message_id, user.actor)
    except DomainError as exc:
        return redirect(back, exc.message, "error")
    if m["status"] == "processed":
        return redirect(back, f"Message {message_id} became order {order_number(m['order_id'])}.")
    return redirect(back, f"Still failing: {m['reason']}", "error")


@router.post("/channel-inbox/{message_id:int}/ignore")
def ignore(
    request: Request,
    message_id: int,
    user: CurrentUser = Depends(permitted(Permission.CHANNEL_INBOX_MANAGE)),
    form: FormData = Depends(form_data),
) -> Response:
    back = f"/channel-inbox/{message_id}"
    try:
        channel_inbox.ignore(request.app.state.db, message_id, str(form.get("reason", "")), user.actor)
    except DomainError as exc:
        return redirect(back, exc.message, "error")
    return redirect(back, f"Message {message_id} closed; it stays on record as ignored.")
