"""Order import page: upload a CSV or Excel sheet, check it (dry run), then import it
(docs/order-import.md). Registered before the orders pages so /orders/import is never an id."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from openoms.adapters.channels import spreadsheet
from openoms.adapters.db.tables import Channel, table
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError
from openoms.domain.orders import order_number
from openoms.services import order_import
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page
from openoms.web.routes.forms import form_data

router = APIRouter(include_in_schema=False)
channels_t = table(Channel)
MAX_FILE_BYTES = 10_000_000
SHOWN_ERRORS = 200


def _channels(request: Request) -> list[dict[str, str]]:
    with request.app.state.db.read() as conn:
        rows = conn.execute(
            select(channels_t.c.code, channels_t.c.name).where(channels_t.c.active).order_by(channels_t.c.name)
        ).all()
    return [{"code": r.code, "name": r.name} for r in rows]


def _page(
    request: Request,
    user: CurrentUser,
    *,
    channel: str = "",
    mapping: str | None = None,
    report: dict[str, Any] | None = None,
    error: str | None = None,
    filename: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if report is not None:
        for o in report["orders"]:
            o["order_number"] = order_number(o["order_id"]) if o.get("order_id") else None
    return page(
        request,
        "orders/import.html",
        {
            "channels": _channels(request),
            "channel": channel,
            "mapping": mapping if mapping is not None else json.dumps(spreadsheet.template(), indent=2),
            "report": report,
            "errors_shown": (report or {}).get("errors", [])[:SHOWN_ERRORS],
            "error": error,
            "filename": filename,
            "max_mb": MAX_FILE_BYTES // 1_000_000,
        },
        user=user,
        status_code=status_code,
        title="Import orders",
    )


@router.get("/orders/import", response_class=HTMLResponse)
def import_page(request: Request, user: CurrentUser = Depends(permitted(Permission.ORDERS_CREATE))) -> Any:
    return _page(request, user)


@router.post("/orders/import", response_class=HTMLResponse)
def import_upload(
    request: Request,
    user: CurrentUser = Depends(permitted(Permission.ORDERS_CREATE)),
    form: FormData = Depends(form_data),
) -> Response:
    channel = str(form.get("channel") or "")
    mapping = str(form.get("mapping") or "")
    dry_run = form.get("action") != "import"
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, user, channel=channel, mapping=mapping, error="Choose a .csv or .xlsx file.",
                     status_code=422)  # fmt: skip
    filename = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:200]
    data = upload.file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return _page(request, user, channel=channel, mapping=mapping, filename=filename, status_code=413,
                     error=f"{filename} is larger than {MAX_FILE_BYTES // 1_000_000} MB; split it or use "
                     "`openoms order-import run`.")  # fmt: skip
    try:
        report = order_import.import_orders(
            request.app.state.db, channel, data, filename, mapping, dry_run=dry_run, actor=user.actor
        )
    except DomainError as exc:
        return _page(request, user, channel=channel, mapping=mapping, filename=filename, error=exc.message,
                     status_code=422)  # fmt: skip
    return _page(request, user, channel=channel, mapping=mapping, report=report, filename=filename)
