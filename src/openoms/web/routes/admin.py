"""Admin pages: users and roles, API keys, and the audit log.

Each page is gated by its own permission (``USERS_MANAGE``, ``API_KEYS_MANAGE``,
``AUDIT_VIEW``); the rules themselves (the last administrator stays, passwords are long
enough, keys are shown once) live in the services.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from openoms.domain.access import MIN_PASSWORD_LENGTH, ROLE_PERMISSIONS, Permission, Role
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import apikeys, inventory_views, users
from openoms.services.audit import AuditFilter, audit_facets, list_audit_entries
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import Errors, checked, domain_errors, form_data, int_param, page_links, strings
from openoms.web.routes.fulfilment import router as fulfilment_router
from openoms.web.routes.outbox_pages import router as outbox_router
from openoms.web.routes.routing_admin import router as routing_router
from openoms.web.routes.shipments import router as shipments_router

router = APIRouter(include_in_schema=False)
# Routing rules and carrier rates: set-up pages with their own module, served with these.
router.include_router(routing_router)
router.include_router(fulfilment_router)
router.include_router(outbox_router)
router.include_router(shipments_router)

AUDIT_PER_PAGE = 50

# --- users --------------------------------------------------------------------------------

USER_LABELS: Mapping[str, str] = {
    "name": "Name",
    "email": "E-mail",
    "role": "Role",
    "password": "Password",
    "active": "Can sign in",
}
ROLE_SUMMARIES: Mapping[Role, str] = {
    Role.ADMIN: "Everything, including users, API keys and the audit log.",
    Role.OPERATIONS: "Runs the flow: holds, cancellations, re-routing, stock corrections and the network's set-up.",
    Role.CUSTOMER_SERVICE: "Talks to customers: phone orders, cancellations on request, holds.",
    Role.WAREHOUSE: "Owns the physical stock: receipts, counts and lines a location cannot ship.",
    Role.FINANCE: "Watches the money: payment and credit holds, and the audit trail.",
}


def _role_options() -> dict[str, str]:
    return {r.value: r.label for r in Role}


def _role_matrix() -> dict[str, Any]:
    """Who may do what, straight from ``ROLE_PERMISSIONS``: the page can't disagree with the checks."""
    roles = list(Role)
    return {
        "roles": roles,
        "rows": [(p, [p in ROLE_PERMISSIONS[r] for r in roles]) for p in Permission],
        "summaries": ROLE_SUMMARIES,
    }


def _with_general(errors: Errors, exc: DomainError) -> Errors:
    """A refusal that is not about how a field was typed (already taken, last administrator)
    also gets its full sentence at the top."""
    if exc.code != ErrorCode.VALIDATION_ERROR and "" not in errors:
        return {"": exc.message, **errors}
    return errors


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, user: CurrentUser = Depends(permitted(Permission.USERS_MANAGE))) -> Any:
    people = users.list_users(request.app.state.db)
    return page(
        request,
        "admin/users.html",
        {
            "people": people,
            "active_count": sum(1 for p in people if p["active"]),
            "matrix": _role_matrix(),
            "me": user,
        },
        user=user,
        title="Users",
    )


def _new_user_page(
    request: Request,
    user: CurrentUser,
    values: Mapping[str, Any],
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "admin/user_new.html",
        {
            "values": values,
            "errors": errors or {},
            "labels": USER_LABELS,
            "role_options": _role_options(),
            "matrix": _role_matrix(),
            "min_password": MIN_PASSWORD_LENGTH,
        },
        user=user,
        status_code=status_code,
        title="New user",
    )


@router.get("/users/new", response_class=HTMLResponse)
def new_user(request: Request, user: CurrentUser = Depends(permitted(Permission.USERS_MANAGE))) -> Any:
    return _new_user_page(request, user, {"role": Role.CUSTOMER_SERVICE.value})


@router.post("/users/new", response_class=HTMLResponse)
def create_user(
    request: Request,
    user: CurrentUser = Depends(permitted(Permission.USERS_MANAGE)),
    form: FormData = Depends(form_data),
) -> Any:
    values = strings(form, ("name", "email", "role"))
    raw_password = form.get("password")
    password = raw_password if isinstance(raw_password, str) else ""
    try:
        created = users.create_user(
            request.app.state.db, values["email"], values["name"], values["role"], password, user.actor
        )
    except DomainError as exc:
        errors = _with_general(domain_errors(exc, USER_LABELS), exc)
        status = 409 if exc.code == ErrorCode.ALREADY_EXISTS else 422
        return _new_user_page(request, user, values, errors, status)
    return redirect(
        f"/users/{created['id']}",
        f"Added {created['name']} as {created['role'].label}. Give them their password privately; "
        "they can sign in now.",
    )


def _user_page(
    request: Request,
    user: CurrentUser,
    person: Mapping[str, Any],
    *,
    values: Mapping[str, Any] | None = None,
    errors: Errors | None = None,
    password_errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "admin/user_edit.html",
        {
            "person": person,
            "values": values
            or {"name": person["name"], "role": person["role"].value, "active": bool(person["active"])},
            "errors": errors or {},
            "password_errors": password_errors or {},
            "labels": USER_LABELS,
            "role_options": _role_options(),
            "is_me": person["id"] == user.id,
            "min_password": MIN_PASSWORD_LENGTH,
        },
        user=user,
        status_code=status_code,
        title=f"{person['name']} · Users",
    )


@router.get("/users/{user_id:int}", response_class=HTMLResponse)
def show_user(request: Request, user_id: int, user: CurrentUser = Depends(permitted(Permission.USERS_MANAGE))) -> Any:
    return _user_page(request, user, users.get_user(request.app.state.db, user_id))


@router.post("/users/{user_id:int}", response_class=HTMLResponse)
def update_user(
    request: Request,
    user_id: int,
    user: CurrentUser = Depends(permitted(Permission.USERS_MANAGE)),
    form: FormData = Depends(form_data),
) -> Response:
    db = request.app.state.db
    person = users.get_user(db, user_id)
    values: dict[str, Any] = {**strings(form, ("name", "role")), **checked(form, ("active",))}
    try:
        updated = users.update_user(
            db, user_id, user.actor, name=values["name"], role=values["role"], active=values["active"]
        )
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        errors = _with_general(domain_errors(exc, USER_LABELS), exc)
        status = 409 if exc.code == ErrorCode.ILLEGAL_TRANSITION else 422
        return _user_page(request, user, person, values=values, errors=errors, status_code=status)
    changed = [
        label
        for key, label in (("name", "name"), ("role", "role"), ("active", "access"))
        if updated[key] != person[key]
    ]
    if not changed:
        return redirect(f"/users/{user_id}", "Nothing changed.", "info")
    note = ""
    if "role" in changed or not updated["active"]:
        note = " They were signed out everywhere." if user_id != user.id else " You were signed out."
    return redirect(f"/users/{user_id}", f"Saved {updated['name']}: changed {', '.join(changed)}.{note}")


@router.post("/users/{user_id:int}/password", response_class=HTMLResponse)
def set_password(
    request: Request,
    user_id: int,
    user: CurrentUser = Depends(permitted(Permission.USERS_MANAGE)),
    form: FormData = Depends(form_data),
) -> Response:
    db = request.app.state.db
    person = users.get_user(db, user_id)
    raw = form.get("password")
    try:
        users.set_password(db, user_id, raw if isinstance(raw, str) else "", user.actor)
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise
        return _user_page(request, user, person, password_errors=domain_errors(exc, ("password",)), status_code=422)
    if user_id == user.id:
        return redirect("/login", "Your password was changed. Sign in with the new one.", "info")
    return redirect(f"/users/{user_id}", f"Set a new password for {person['name']}; they were signed out everywhere.")


# --- API keys -----------------------------------------------------------------------------

_SCOPE_TEXT = {
    "catalog": ("products, locations and channels", "Create and change products, locations and channels"),
    "inventory": ("stock levels, the inventory ledger and availability", "Receive, adjust and count stock"),
    "orders": ("orders, their lines, holds and timelines", "Capture, cancel and hold orders"),
    "customers": ("customers", "Create and change customers"),
    "returns": (
        "returns (RMAs), their refund quotes and return policies",
        "Create, approve, receive and refund returns",
    ),
}


def _scope_text(scope: str) -> str:
    """What a scope allows, in words; unknown resources fall back to their name."""
    if scope == "*":
        return "Full access to everything, including what later versions add. Only for fully trusted systems."
    resource, _, action = scope.partition(":")
    read, write = _SCOPE_TEXT.get(resource, (resource, f"Change {resource}"))
    return f"Read {read}." if action == "read" else f"{write} (includes read)."


def _scopes() -> list[dict[str, str]]:
    return [{"value": s, "text": _scope_text(s)} for s in apikeys.SCOPES]


@router.get("/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, user: CurrentUser = Depends(permitted(Permission.API_KEYS_MANAGE))) -> Any:
    keys = apikeys.list_api_keys(request.app.state.db)
    # Working keys first, newest first within each group.
    keys.sort(key=lambda k: (k["revoked_at"] is not None, -int(k["id"])))  # type: ignore[call-overload]
    return page(
        request,
        "admin/api_keys.html",
        {"keys": keys, "active_count": sum(1 for k in keys if k["revoked_at"] is None)},
        user=user,
        title="API keys",
    )


def _new_key_page(
    request: Request,
    user: CurrentUser,
    values: Mapping[str, Any],
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "admin/api_key_new.html",
        {
            "values": values,
            "errors": errors or {},
            "labels": {"name": "Name", "scopes": "Scopes", "location": "Location"},
            "scopes": _scopes(),
            "locations": {
                loc["code"]: f"{loc['code']} · {loc['name']} ({loc['kind']})"
                for loc in inventory_views.list_locations(request.app.state.db)
            },
        },
        user=user,
        status_code=status_code,
        title="New API key",
    )


@router.get("/api-keys/new", response_class=HTMLResponse)
def new_api_key(request: Request, user: CurrentUser = Depends(permitted(Permission.API_KEYS_MANAGE))) -> Any:
    return _new_key_page(request, user, {"name": "", "scopes": [], "location": ""})


@router.post("/api-keys/new", response_class=HTMLResponse)
def create_api_key(
    request: Request,
    user: CurrentUser = Depends(permitted(Permission.API_KEYS_MANAGE)),
    form: FormData = Depends(form_data),
) -> Any:
    fields = strings(form, ("name", "location"))
    name, location = fields["name"], fields["location"]
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
    try:
        principal, secret = apikeys.create_api_key(
            request.app.state.db, name, scopes, user.actor, location=location or None
        )
    except DomainError as exc:
        errors = domain_errors(exc, ("name", "scopes", "location"))
        return _new_key_page(request, user, {"name": name, "scopes": scopes, "location": location}, errors, 422)
    response = page(
        request,
        "admin/api_key_created.html",
        {
            "key": principal,
            "secret": secret,
            "prefix": secret.split("_")[1],
            "scopes": sorted(principal.scopes),
            "base_url": str(request.base_url).rstrip("/"),
        },
        user=user,
        status_code=201,
        title="API key created",
    )
    # The secret is in this response only: keep it out of every cache and the back button's copy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


_PREFIX = re.compile(r"^[0-9a-f]{8}$")


def _key_or_404(request: Request, prefix: str) -> dict[str, Any]:
    if not _PREFIX.match(prefix):
        raise DomainError(ErrorCode.NOT_FOUND, f"API key {prefix} does not exist")
    return apikeys.get_api_key(request.app.state.db, prefix)


@router.get("/api-keys/{prefix}/revoke", response_class=HTMLResponse)
def confirm_revoke(
    request: Request, prefix: str, user: CurrentUser = Depends(permitted(Permission.API_KEYS_MANAGE))
) -> Any:
    key = _key_or_404(request, prefix)
    if key["revoked_at"] is not None:
        return redirect("/api-keys", f"API key {key['name']} was already revoked.", "info")
    return page(request, "admin/api_key_revoke.html", {"key": key}, user=user, title="Revoke API key")


@router.post("/api-keys/{prefix}/revoke")
def revoke_api_key(
    request: Request, prefix: str, user: CurrentUser = Depends(permitted(Permission.API_KEYS_MANAGE))
) -> Response:
    _key_or_404(request, prefix)
    try:
        key = apikeys.revoke_api_key(request.app.state.db, prefix, user.actor)
    except DomainError as exc:
        if exc.code == ErrorCode.ILLEGAL_TRANSITION:
            return redirect("/api-keys", exc.message, "info")
        raise
    # This process forgets the key at once; other processes within the cache's 30 s.
    request.app.state.key_cache.clear()
    return redirect("/api-keys", f"Revoked API key {key['name']}. Requests using it are refused from now on.")


# --- audit log ----------------------------------------------------------------------------

_ACTOR = re.compile(r"^user:(?P<name>.*?)(?: <(?P<email>[^>]*)>)?$")
_SUBJECT_LABELS = {
    "api_key": "API key",
    "product": "Product",
    "location": "Location",
    "channel": "Channel",
    "user": "User",
    "sourcing_rules": "Routing rules",
    "carrier_rates": "Carrier rates",
}
_SUBJECT_PAGES = {
    "product": "/products/{}",
    "location": "/locations/{}",
    "channel": "/channels/{}",
    "user": "/users/{}",
    "sourcing_rules": "/routing/rules#v{}",
    "carrier_rates": "/routing/rates",
}


def _actor_view(actor: str) -> dict[str, str]:
    """``user:Alex Admin <a@x>`` → name and e-mail; keys and the system as they are."""
    m = _ACTOR.match(actor)
    if m:
        return {"kind": "user", "name": m["name"], "detail": m["email"] or ""}
    kind, sep, rest = actor.partition(":")
    if sep and kind == "api-key":
        return {"kind": "api-key", "name": rest, "detail": "API key"}
    return {"kind": "system", "name": actor, "detail": ""}


def _date(value: str | None, name: str, errors: Errors) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = "Use a date such as 2026-03-31."
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: CurrentUser = Depends(permitted(Permission.AUDIT_VIEW))) -> Any:
    db = request.app.state.db
    params = request.query_params
    errors: Errors = {}
    values = {k: params.get(k, "").strip() for k in ("actor", "action", "subject_type", "subject_id", "from", "to")}
    date_from = _date(values["from"], "from", errors)
    date_to = _date(values["to"], "to", errors)
    if date_from and date_to and date_from > date_to:
        errors["to"] = "Must be on or after the “From” date."
        date_to = None
    filters = AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        subject_type=values["subject_type"] or None,
        subject_id=values["subject_id"] or None,
        date_from=date_from,
        date_to=date_to,
    )
    result = list_audit_entries(db, filters, page=int_param(params.get("page")), per_page=AUDIT_PER_PAGE)
    people = {str(p["id"]): p["name"] for p in users.list_users(db)}  # a back office has tens of users
    entries = []
    for row in result.items:
        link = _SUBJECT_PAGES.get(row["subject_type"])
        subject_id = row["subject_id"]
        if row["subject_type"] == "user":
            shown = people.get(subject_id or "", f"#{subject_id}")
        elif row["subject_type"] == "api_key":
            shown = f"oms_{subject_id}_…"
        else:
            shown = subject_id
        entries.append(
            {
                **row,
                "who": _actor_view(row["actor"]),
                "subject_label": _SUBJECT_LABELS.get(
                    row["subject_type"], row["subject_type"].replace("_", " ").capitalize()
                ),
                "subject_shown": shown,
                "subject_url": link.format(quote(subject_id, safe="/")) if link and subject_id else None,
            }
        )
    return page(
        request,
        "admin/audit.html",
        {
            "entries": entries,
            "result": result,
            "links": page_links(request, result),
            "values": values,
            "errors": errors,
            "facets": audit_facets(db),
            "subject_labels": _SUBJECT_LABELS,
            "filtered": any(values.values()),
        },
        user=user,
        status_code=422 if errors else 200,
        title="Audit log",
    )
