"""Inventory pages: stock by SKU or by location, one SKU across locations, the ledger of a SKU
at a location, and the receive / adjust / count forms.

SKUs may contain "/", so the SKU is a path parameter: ``/inventory/A/B`` is SKU "A/B" when
that product exists, otherwise SKU "A" at location "B" (location codes never contain "/").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from openoms.api.errors import STATUS
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.domain.stock_moves import ADJUSTMENT_REASONS, COUNT_REASONS, ManualMove, MoveKind
from openoms.services import backorders
from openoms.services import inventory_views as views
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect

router = APIRouter(include_in_schema=False)

#: How each ledger entry type is shown: (label, badge class).
ENTRY_STYLES = {
    "receipt": ("Receipt", "badge-ok"),
    "adjustment": ("Adjustment", "badge-warn"),
    "count": ("Count", "badge-info"),
    "reservation": ("Reserved", "badge-allocated"),
    "release": ("Released", "badge-created"),
    "shipment": ("Shipped", "badge-shipped"),
    "restock": ("Restock", "badge-ok"),
    "transfer_out": ("Transfer out", "badge-released"),
    "transfer_in": ("Transfer in", "badge-released"),
}


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _common(request: Request) -> dict[str, Any]:
    return {
        "low_threshold": request.app.state.settings.low_stock_threshold,
        "entry_styles": ENTRY_STYLES,
        "adjustment_reasons": ADJUSTMENT_REASONS,
        "count_reasons": COUNT_REASONS,
    }


@router.get("/inventory", response_class=HTMLResponse)
def inventory_list(request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))) -> Any:
    """Stock by SKU across the network, or the SKUs at one location."""
    db = request.app.state.db
    params = request.query_params
    threshold = request.app.state.settings.low_stock_threshold
    flt = views.InventoryFilter(
        q=(params.get("q") or "").strip() or None,
        location=(params.get("location") or "").strip() or None,
        low=params.get("low") in ("1", "on", "true"),
        low_threshold=threshold,
    )
    result = views.inventory_page(db, flt, page=_int(params.get("page"), 1) or 1)
    keep = {k: v for k, v in (("q", flt.q), ("location", flt.location), ("low", "1" if flt.low else None)) if v}

    def page_url(n: int) -> str:
        return "/inventory?" + urlencode({**keep, "page": n} if n > 1 else keep)

    return page(
        request,
        "inventory/list.html",
        {
            **_common(request),
            "flt": flt,
            "result": result,
            "totals": views.inventory_totals(db, threshold),
            "filtered": bool(keep),
            "prev_url": page_url(result.page - 1) if result.page > 1 else None,
            "next_url": page_url(result.page + 1) if result.page < result.pages else None,
        },
        user=user,
        title="Inventory",
    )


def _resolve(db: Any, path: str) -> tuple[str, str | None]:
    """(sku, location or None) for an /inventory/... path: the longest SKU that exists wins."""
    if views.product_exists(db, path):
        return path, None
    sku, sep, location = path.rpartition("/")
    if not sep or not sku:
        raise NotFound("Product", path)
    return sku, location


def _sku_page(
    request: Request,
    user: CurrentUser,
    sku: str,
    location: str | None,
    *,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The SKU overview, or with ``location`` its ledger there; ``form`` re-shows a refused
    stock form with what was typed and why it was refused."""
    db = request.app.state.db
    position = views.sku_position(db, sku)
    params = request.query_params
    ctx: dict[str, Any] = {
        **_common(request),
        "sku": sku,
        "position": position,
        "product": position["product"],
        "form": form or {},
        "can_receive": user.can(Permission.INVENTORY_RECEIVE),
        "can_adjust": user.can(Permission.INVENTORY_ADJUST),
        "can_plan": user.can(Permission.INVENTORY_PLAN),
        "locations": [loc for loc in position["locations"] if loc["active"]],
    }
    if location is None:
        ctx["movements"] = views.recent_movements(db, sku)
        return page(request, "inventory/sku.html", ctx, user=user, status_code=status_code, title=f"{sku} · Inventory")
    here = next((loc for loc in position["locations"] if loc["code"] == location), None)
    if here is None:
        raise NotFound("Location", location)
    ledger = views.ledger_page(db, sku, location, before=_int(params.get("before")), after=_int(params.get("after")))
    base = f"/inventory/{sku}/{location}"
    ctx.update(
        here=here,
        ledger=ledger,
        newest_url=base if (ledger.newer is not None or params.get("before")) else None,
        newer_url=f"{base}?after={ledger.newer}" if ledger.newer is not None else None,
        older_url=f"{base}?before={ledger.older}" if ledger.older is not None else None,
    )
    return page(
        request,
        "inventory/ledger.html",
        ctx,
        user=user,
        status_code=status_code,
        title=f"{sku} at {location} · Inventory",
    )


def _refusal(exc: DomainError, figure_field: str, location: str) -> dict[str, Any]:
    """Why a stock form was refused: a message for the top of the form and one per field."""
    errors: dict[str, str] = {}
    for e in exc.errors:
        name = figure_field if e.field in ("quantity", "delta", "on_hand", "counted") else e.field
        errors.setdefault(name, e.reason)
    if exc.code == ErrorCode.STOCK_CONFLICT and "on_hand" in exc.extra:
        on_hand, reserved, delta = (int(str(exc.extra[k])) for k in ("on_hand", "reserved", "delta"))
        message = (
            f"Nothing was changed: on hand at {location} would become {on_hand + delta:,}, but {reserved:,} "
            f"unit{'s are' if reserved != 1 else ' is'} reserved for open orders. On hand can't go below "
            "what is reserved; cancel or ship those orders first."
        )
        errors[figure_field] = f"on hand can be at least {reserved:,} here (it is {on_hand:,} now)"
    elif exc.code in (ErrorCode.UNKNOWN_LOCATION, ErrorCode.UNKNOWN_SKU):
        message = "Nothing was changed: " + "; ".join(e.reason for e in exc.errors)
    else:
        message = "Nothing was changed. Check the fields marked below."
    return {"errors": errors, "message": message}


async def _move(request: Request, user: CurrentUser, path: str, kind: MoveKind | None) -> Response:
    """Run one stock form: success goes to the ledger with a message; a refusal re-shows the
    page with the form filled in as sent and the reasons next to the fields."""
    db = request.app.state.db
    form = await request.form()
    sku = path
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    which = "receive" if kind is MoveKind.RECEIPT else "adjust"
    if kind is None:
        kind = MoveKind.COUNT if values.get("mode") == "count" else MoveKind.ADJUSTMENT
    location = values.get("location", "").strip()
    return_to = values.get("return_to") == "ledger"
    figure_field = "counted" if kind is MoveKind.COUNT else "quantity"
    raw = values.get(figure_field, "").strip().replace(",", "").replace("\u2212", "-")  # a pasted minus sign
    try:
        if not raw:
            raise validation_error(figure_field, "enter a number of units")
        try:
            quantity = int(raw)
        except ValueError:
            raise validation_error(figure_field, "enter a whole number of units, such as 12 or -3") from None
        move = ManualMove(kind, sku, location, quantity, values.get("reason"), values.get("reference"))
        level = await run_in_threadpool(views.move_stock, db, move, user.actor)
    except DomainError as exc:
        state = {"which": which, "values": values, **_refusal(exc, figure_field, location)}
        return await run_in_threadpool(
            _sku_page,
            request,
            user,
            sku,
            location if return_to and location else None,
            form=state,
            status_code=STATUS.get(exc.code, 400),
        )
    verb = {MoveKind.RECEIPT: "Received", MoveKind.ADJUSTMENT: "Adjusted", MoveKind.COUNT: "Counted"}[kind]
    delta = int(level["delta"])
    what = {
        MoveKind.RECEIPT: f"{verb} {delta:,} unit{'s' if delta != 1 else ''} of {sku} at {location}",
        MoveKind.ADJUSTMENT: f"{verb} {sku} at {location} by {delta:+,}",
        MoveKind.COUNT: f"{verb} {sku} at {location}: {level['on_hand']:,} on hand ({delta:+,})",
    }[kind]
    return redirect(
        f"/inventory/{sku}/{location}",
        f"{what}. On hand {level['on_hand']:,}, reserved {level['reserved']:,}, available {level['available']:,}.",
    )


@router.post("/inventory/{path:path}/receive")
async def receive(
    request: Request, path: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_RECEIVE))
) -> Any:
    return await _move(request, user, path, MoveKind.RECEIPT)


@router.post("/inventory/{path:path}/adjust")
async def adjust(
    request: Request, path: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_ADJUST))
) -> Any:
    return await _move(request, user, path, None)


@router.post("/inventory/{path:path}/policy")
async def stock_policy(
    request: Request, path: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_PLAN))
) -> Any:
    """Safety stock and reorder point of a SKU at a location (the form on its ledger page)."""
    from openoms.services import stock_ops

    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    location = values.get("location", "").strip()
    errors: dict[str, str] = {}
    figures: dict[str, int | None] = {}
    for name in ("safety_stock", "reorder_point"):
        raw = values.get(name, "").strip().replace(",", "")
        if not raw:
            if name == "safety_stock":
                figures[name] = 0
            else:
                figures[name] = None
        elif raw.isascii() and raw.isdigit() and len(raw) <= 9:
            figures[name] = int(raw)
        else:
            errors[name] = "enter a whole number of units, 0 or more"
    try:
        if errors:
            raise DomainError(ErrorCode.VALIDATION_ERROR, "invalid", [FieldError(k, v) for k, v in errors.items()])
        row = await run_in_threadpool(
            stock_ops.set_stock_policy,
            request.app.state.db,
            path,
            location,
            safety_stock=figures["safety_stock"] or 0,
            reorder_point=figures["reorder_point"],
            actor=user.actor,
        )
    except DomainError as exc:
        state = {
            "which": "policy",
            "values": values,
            "errors": {e.field: e.reason for e in exc.errors},
            "message": "Nothing was changed. Check the fields marked below.",
        }
        return await run_in_threadpool(
            _sku_page, request, user, path, location or None, form=state, status_code=STATUS.get(exc.code, 400)
        )
    rp = "no reorder point" if row["reorder_point"] is None else f"reorder point {row['reorder_point']:,}"
    return redirect(
        f"/inventory/{path}/{location}",
        f"Stock policy of {path} at {location} saved: safety stock {row['safety_stock']:,}, {rp}."
        + (" It is low now." if row["low"] else ""),
    )


@router.get("/inventory/{path:path}", response_class=HTMLResponse)
def sku_or_ledger(
    request: Request, path: str, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))
) -> Any:
    """``/inventory/{sku}``: the SKU at every location; ``/inventory/{sku}/{location}``: its
    ledger there, newest first."""
    sku, location = _resolve(request.app.state.db, path.strip("/"))
    return _sku_page(request, user, sku, location)


@router.get("/backorders", response_class=HTMLResponse)
def backorders_page(request: Request, user: CurrentUser = Depends(permitted(Permission.INVENTORY_VIEW))) -> Any:
    """Units waiting for inbound stock: a queue per SKU and location, first served first."""
    db = request.app.state.db
    params = request.query_params
    sku = (params.get("sku") or "").strip() or None
    location = (params.get("location") or "").strip() or None
    rows = backorders.list_backorders(db, sku=sku, location=location, limit=1000)
    queues: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        q = queues.setdefault(
            (r["sku"], r["location"]),
            {
                "sku": r["sku"],
                "product_name": r["product_name"],
                "policy": r["policy"],
                "location": r["location"],
                "waiting": 0,
                "orders": set(),
                "next_due": None,
                "rows": [],
            },
        )
        q["waiting"] += r["quantity_waiting"]
        q["orders"].add(r["order_number"])
        if r["expected_at"] is not None and (q["next_due"] is None or r["expected_at"] < q["next_due"]):
            q["next_due"] = r["expected_at"]
        q["rows"].append(r)
    totals = {
        "waiting": sum(q["waiting"] for q in queues.values()),
        "orders": len({r["order_number"] for r in rows}),
        "skus": len({q["sku"] for q in queues.values()}),
        "oldest": min((r["backordered_at"] for r in rows), default=None),
    }
    return page(
        request,
        "inventory/backorders.html",
        {"queues": list(queues.values()), "totals": totals, "flt": {"sku": sku, "location": location}},
        user=user,
        title="Backorders",
    )
