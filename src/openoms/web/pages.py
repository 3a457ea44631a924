"""Pages for people. The back office proper is a later issue; this is the start page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from openoms import __version__
from openoms.adapters.db.tables import Channel, Location, Order, OrderHold, Product, StockLevel, table
from openoms.domain.access import Permission
from openoms.domain.orders import order_number
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser = Depends(permitted(Permission.DASHBOARD_VIEW))) -> Any:
    db = request.app.state.db
    o, s, h = table(Order), table(StockLevel), table(OrderHold)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with db.read() as conn:
        counts = {
            "products": conn.execute(select(func.count()).select_from(table(Product))).scalar_one(),
            "locations": conn.execute(select(func.count()).select_from(table(Location))).scalar_one(),
            "channels": conn.execute(select(func.count()).select_from(table(Channel))).scalar_one(),
            "orders": conn.execute(select(func.count()).select_from(o)).scalar_one(),
            "orders_24h": conn.execute(select(func.count()).select_from(o).where(o.c.created_at >= since)).scalar_one(),
            "on_hold": conn.execute(
                select(func.count(func.distinct(h.c.order_id))).where(h.c.released_at.is_(None))
            ).scalar_one(),
        }
        totals = conn.execute(
            select(func.coalesce(func.sum(s.c.on_hand), 0), func.coalesce(func.sum(s.c.reserved), 0))
        ).one()
        by_status = conn.execute(select(o.c.status, func.count()).group_by(o.c.status).order_by(o.c.status)).all()
        recent = conn.execute(
            select(o.c.id, o.c.status, o.c.grand_total, o.c.currency, o.c.created_at, table(Channel).c.code)
            .join(table(Channel), table(Channel).c.id == o.c.channel_id)
            .order_by(o.c.id.desc())
            .limit(10)
        ).all()
    return page(
        request,
        "home.html",
        {
            "version": __version__,
            "counts": counts,
            "on_hand": int(totals[0]),
            "reserved": int(totals[1]),
            "by_status": by_status,
            "recent": [
                {
                    "number": order_number(r.id),
                    "id": r.id,
                    "status": r.status,
                    "channel": r.code,
                    "total": f"{r.grand_total:,.2f} {r.currency}",
                    "created": r.created_at,
                }
                for r in recent
            ],
        },
        user=user,
        title="Dashboard",
    )


@router.get("/healthz")
def healthz(request: Request) -> dict[str, str]:
    """Liveness and database reachability for load balancers."""
    with request.app.state.db.read() as conn:
        conn.execute(select(1))
    return {"status": "ok"}
