"""Rendering for the back office: one template environment, the page frame's context
(navigation by role, the signed-in user, CSRF token, flash message) and redirects after POST."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from openoms import __version__
from openoms.domain.access import Permission
from openoms.services.users import CurrentUser
from openoms.web.routing_view import day, window

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
FLASH_COOKIE = "openoms_flash"


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: Permission
    section: str
    icon: str  # a name from static/icons.svg


NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", "/", Permission.DASHBOARD_VIEW, "Work", "gauge"),
    NavItem("Orders", "/orders", Permission.ORDERS_VIEW, "Work", "list"),
    NavItem("New phone order", "/orders/new", Permission.ORDERS_CREATE, "Work", "phone"),
    NavItem("Import orders", "/orders/import", Permission.ORDERS_CREATE, "Work", "upload"),
    NavItem("Fulfilment", "/fulfilment", Permission.FULFILMENT_VIEW, "Work", "package"),
    NavItem("Shipments", "/shipments", Permission.FULFILMENT_VIEW, "Work", "truck"),
    NavItem("Inventory", "/inventory", Permission.INVENTORY_VIEW, "Work", "boxes"),
    NavItem("Inbound", "/inbound", Permission.INVENTORY_VIEW, "Work", "truck"),
    NavItem("Transfers", "/transfers", Permission.INVENTORY_VIEW, "Work", "route"),
    NavItem("Backorders", "/backorders", Permission.INVENTORY_VIEW, "Work", "clock"),
    NavItem("Products", "/products", Permission.CATALOG_VIEW, "Set-up", "tag"),
    NavItem("Locations", "/locations", Permission.CATALOG_VIEW, "Set-up", "pin"),
    NavItem("Channels", "/channels", Permission.CATALOG_VIEW, "Set-up", "plug"),
    NavItem("Channel inbox", "/channel-inbox", Permission.ORDERS_VIEW, "Work", "inbox"),
    NavItem("Routing rules", "/routing/rules", Permission.ROUTING_VIEW, "Set-up", "route"),
    NavItem("Carrier rates", "/routing/rates", Permission.ROUTING_VIEW, "Set-up", "truck"),
    NavItem("Users", "/users", Permission.USERS_MANAGE, "Admin", "users"),
    NavItem("API keys", "/api-keys", Permission.API_KEYS_MANAGE, "Admin", "key"),
    NavItem("Audit log", "/audit", Permission.AUDIT_VIEW, "Admin", "scroll"),
    NavItem("Outbox", "/outbox", Permission.OUTBOX_MANAGE, "Admin", "mail"),
    NavItem("Payment review", "/payments/review", Permission.PAYMENTS_MANAGE, "Work", "card"),
    NavItem("Webhooks", "/admin/webhooks", Permission.WEBHOOKS_MANAGE, "Admin", "plug"),
    NavItem("Returns", "/returns", Permission.RETURNS_VIEW, "Work", "return"),
)


def nav_for(user: CurrentUser | None, path: str) -> list[dict[str, Any]]:
    """The sections and links this user may open, with the current one marked."""
    if user is None:
        return []
    sections: dict[str, list[dict[str, Any]]] = {}
    # The longest matching prefix is the current page ("/orders/new" beats "/orders").
    matches = [i for i in NAV if path == i.href or (i.href != "/" and path.startswith(i.href + "/"))]
    current = max(matches, key=lambda i: len(i.href), default=None)
    for item in NAV:
        if user.can(item.permission):
            sections.setdefault(item.section, []).append(
                {"label": item.label, "href": item.href, "icon": item.icon, "current": item is current}
            )
    return [{"title": title, "items": items} for title, items in sections.items()]


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: CurrentUser | None = None,
    status_code: int = 200,
    title: str | None = None,
) -> HTMLResponse:
    """Render a page inside the frame. Reads (and clears) the flash message."""
    user = user or getattr(request.state, "user", None)
    flash = _read_flash(request)
    ctx = {
        "user": user,
        "nav": nav_for(user, request.url.path),
        "csrf_token": user.csrf_token if user else "",
        "flash": flash,
        "version": __version__,
        "title": title,
        "P": Permission,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, message: str | None = None, level: str = "success") -> RedirectResponse:
    """Post/redirect/get, carrying a one-time message to the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(
            FLASH_COOKIE,
            quote(json.dumps({"level": level, "message": message})),
            path="/",
            httponly=True,
            samesite="lax",
            max_age=60,
        )
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
        if isinstance(data, dict) and data.get("level") in ("success", "error", "info"):
            return {"level": str(data["level"]), "message": str(data.get("message", ""))[:500]}
    except (ValueError, TypeError):
        pass
    return None


# --- filters -------------------------------------------------------------------------------


def fmt_money(amount: Decimal | int | float | str | None, currency: str | None = None) -> str:
    if amount is None:
        return "—"
    value = Decimal(str(amount))
    text = f"{value:,.2f}" if currency != "JPY" else f"{value:,.0f}"
    return f"{text} {currency}" if currency else text


def fmt_datetime(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """UTC, labelled: people in several timezones read the same page."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime(fmt) + " UTC"


def fmt_ago(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    secs = int((dt.datetime.now(dt.UTC) - value).total_seconds())
    if secs < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if secs >= size:
            n = secs // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def status_badge(status: str | None) -> Markup:
    """A coloured pill whose text is the status, so colour is never the only cue."""
    if not status:
        return Markup("")
    label = str(status).replace("_", " ")
    return Markup('<span class="badge badge-{0}">{1}</span>').format(str(status), label)


def humanise(value: str | None) -> str:
    return (value or "").replace("_", " ").capitalize()


templates.env.filters["money"] = fmt_money
templates.env.filters["datetime"] = fmt_datetime
templates.env.filters["ago"] = fmt_ago
templates.env.filters["badge"] = status_badge
templates.env.filters["humanise"] = humanise
templates.env.filters["day"] = day
templates.env.filters["window"] = window
