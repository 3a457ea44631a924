"""The Waves page: each location's release policy, what is left of its capacity today, its next
wave in local time, its latest runs, a "Release now" button and the wave pick lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, NotFound
from openoms.domain.waves import wave_number
from openoms.services import waves
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
RECENT_RUNS = 30


@router.get("/fulfilment/waves", response_class=HTMLResponse)
def waves_page(request: Request, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))) -> Any:
    db = request.app.state.db
    context = {"locations": waves.overview(db, recent=0), "runs": waves.list_waves(db, limit=RECENT_RUNS)}
    return page(request, "fulfilment/waves.html", context, user=user, title="Waves")


@router.post("/fulfilment/waves/release/{code}")
def release_now(request: Request, code: str, user: CurrentUser = Depends(permitted(Permission.ORDERS_RELEASE))) -> Any:
    """Release everything eligible at the location now, within what is left of its capacity."""
    try:
        run = waves.release_location_now(request.app.state.db, code, user.actor)
    except NotFound:
        raise
    except DomainError as exc:
        return redirect("/fulfilment/waves", f"{exc.message} Nothing changed.", "error")
    if run is None:
        return redirect(
            "/fulfilment/waves", f"Nothing to release at {code}: no eligible orders, or no capacity left today.", "info"
        )
    message = f"{run.wave}: released {run.fulfilment_orders} fulfilment order(s), {run.units} unit(s) at {code}."
    if run.waiting:
        message += f" {run.waiting} order(s) wait: {run.note}."
    return redirect("/fulfilment/waves", message)


@router.get("/fulfilment/waves/{wave_id:int}/pick-list.pdf")
def pick_list(
    request: Request, wave_id: int, user: CurrentUser = Depends(permitted(Permission.FULFILMENT_VIEW))
) -> Response:
    if wave_id > MAX_ID or wave_id < 1:
        raise NotFound("Wave", str(wave_id))
    try:
        data = waves.wave_pick_list(request.app.state.db, wave_id)
    except NotFound:
        raise
    except DomainError as exc:
        return redirect("/fulfilment/waves", f"{exc.message}.", "error")
    name = f"{wave_number(wave_id)}-pick-list.pdf"
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})
