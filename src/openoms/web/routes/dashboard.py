"""The dashboard: what needs attention today, each number a link to the list behind it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from openoms.domain.access import Permission
from openoms.services.common import utcnow
from openoms.services.dashboard import load_dashboard
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.charts import stacked_bars
from openoms.web.render import page

router = APIRouter(include_in_schema=False)


def orders_link(**params: Any) -> str:
    """A link into the orders list with the same filters the figure was counted with."""
    return "/orders?" + urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser = Depends(permitted(Permission.DASHBOARD_VIEW))) -> Any:
    settings = request.app.state.settings
    board = load_dashboard(
        request.app.state.db,
        now=utcnow(),
        sla_hours=settings.release_sla_hours,
        low_stock_threshold=settings.low_stock_threshold,
    )
    today = board.today.isoformat()
    chart = stacked_bars(
        [
            (
                d.day.strftime("%d %b") if i % 2 == (len(board.per_day) - 1) % 2 else "",
                f"{d.day.strftime('%a %d %b')}: {d.total} order(s)"
                + "".join(f", {c} {n}" for c, n in sorted(d.by_channel.items())),
                orders_link(**{"from": d.day.isoformat(), "to": d.day.isoformat()}),
                d.by_channel,
            )
            for i, d in enumerate(board.per_day)
        ],
        board.channels,
    )
    return page(
        request,
        "dashboard.html",
        {
            "board": board,
            "chart": chart,
            "today": today,
            "link": orders_link,
            "low_threshold": settings.low_stock_threshold,
            "sla_hours": settings.release_sla_hours,
        },
        user=user,
        title="Dashboard",
    )
