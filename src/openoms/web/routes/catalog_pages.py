"""Set-up pages: products, locations and channels.

Everyone with ``CATALOG_VIEW`` may list and open them; ``CATALOG_EDIT`` may add and change
them. Forms are validated with the API's own models (``api/schemas.py``), so a value the API
refuses is refused here with the same rule, and every change is written to the audit log.
Groups of checkboxes (a location's working days and channels) post several values; they
reach the model as the API takes them (``"mon tue wed"``, a list of codes or null).
"""

from __future__ import annotations

import datetime as dt
import typing
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import quote

from babel.numbers import list_currencies
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import FormData

from openoms.api.schemas import ChannelCreate, ChannelKind, LocationCreate, LocationKind, ProductCreate
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode
from openoms.domain.network import WEEKDAY_NAMES
from openoms.services import catalog, catalog_admin
from openoms.services.catalog_admin import Resource
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import (
    Errors,
    checked,
    domain_errors,
    form_data,
    int_param,
    page_links,
    strings,
    validate,
)

router = APIRouter(include_in_schema=False)

PER_PAGE = 50

_LOCATION_KIND_LABELS = {
    "warehouse": "Warehouse",
    "store": "Store",
    "3pl": "3PL (third-party logistics)",
    "dropship": "Drop-ship supplier",
}
_CHANNEL_KIND_LABELS = {
    "web": "Own web store",
    "shopify": "Shopify",
    "woocommerce": "WooCommerce",
    "amazon": "Amazon",
    "ebay": "eBay",
    "b2b": "B2B portal",
    "pos": "Point of sale (stores)",
    "phone": "Phone orders",
    "edi": "EDI (X12)",
    "csv": "CSV import",
    "api": "Custom API integration",
}
# The API's Literal types decide which kinds exist; the labels only say them in words.
LOCATION_KINDS: Mapping[str, str] = {k: _LOCATION_KIND_LABELS.get(k, k) for k in typing.get_args(LocationKind)}
CHANNEL_KINDS: Mapping[str, str] = {k: _CHANNEL_KIND_LABELS.get(k, k) for k in typing.get_args(ChannelKind)}
RELEASE_MODES: Mapping[str, str] = {
    "manual": "Manual",
    "automatic": "Automatic",
    "waves": "In waves",
}
# docs/backorders.md: what each policy does when the shelves cannot cover a line.
BACKORDER_POLICIES: Mapping[str, str] = {
    "none": "Refuse the order",
    "backorder": "Backorder: short units wait for inbound stock",
    "preorder": "Preorder: every unit waits for inbound stock",
}
WEEKDAYS: Mapping[str, str] = {d: d.capitalize() for d in WEEKDAY_NAMES}  # "mon" → "Mon"
DASH = "\u2013"  # en dash, for ranges of days


@dataclass(frozen=True)
class Section:
    """One kind of reference data and how its pages present it."""

    resource: Resource
    base: str  # URL of the list
    noun: str  # "product"
    title: str  # "Products"
    model: type[BaseModel]  # validates a whole form (create and edit alike)
    text_fields: tuple[str, ...]
    check_fields: tuple[str, ...]
    labels: Mapping[str, str]
    search: tuple[str, ...]
    search_hint: str
    upper: tuple[str, ...] = ()
    # Groups of checkboxes, posted as several values. Those in ``joined`` are stored as one
    # text of space-separated words; the others as a list, none ticked being null.
    list_fields: tuple[str, ...] = ()
    joined: tuple[str, ...] = ()
    pattern_messages: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.resource.key

    def url(self, key: str) -> str:
        return f"{self.base}/{quote(key, safe='/')}"


PRODUCTS = Section(
    resource=catalog.PRODUCTS,
    base="/products",
    noun="product",
    title="Products",
    model=ProductCreate,
    text_fields=(
        "sku",
        "name",
        "description",
        "list_price",
        "currency",
        "weight_grams",
        "length_mm",
        "width_mm",
        "height_mm",
        "backorder_policy",
    ),
    check_fields=("hazmat", "high_value", "active"),
    labels={
        "sku": "SKU",
        "name": "Name",
        "description": "Description",
        "weight_grams": "Weight (g)",
        "length_mm": "Length (mm)",
        "width_mm": "Width (mm)",
        "height_mm": "Height (mm)",
        "list_price": "List price",
        "currency": "Currency",
        "hazmat": "Hazardous material",
        "high_value": "High value",
        "active": "Active",
        "backorder_policy": "When the shelves are short",
    },
    search=("sku", "name"),
    search_hint="SKU or name",
    upper=("currency",),
    pattern_messages={"currency": "Use a three-letter ISO 4217 code, such as USD or EUR."},
    defaults={"currency": "USD", "active": True, "backorder_policy": "none"},
)

LOCATIONS = Section(
    resource=catalog.LOCATIONS,
    base="/locations",
    noun="location",
    title="Locations",
    model=LocationCreate,
    text_fields=(
        "code",
        "name",
        "kind",
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
        "latitude",
        "longitude",
        "timezone",
        "cutoff_time",
        "daily_capacity",
        "priority",
        "holiday_calendar",
        "handling_days",
        "release_mode",
        "wave_times",
    ),
    check_fields=("ships", "pickup", "accepts_returns", "active", "hazmat_licensed", "secure"),
    list_fields=("workdays", "channels"),
    joined=("workdays",),
    labels={
        "code": "Code",
        "name": "Name",
        "kind": "Kind",
        "address_line1": "Address line 1",
        "address_line2": "Address line 2",
        "city": "City",
        "region": "State or region",
        "postal_code": "Postal code",
        "country": "Country",
        "latitude": "Latitude",
        "longitude": "Longitude",
        "timezone": "Timezone",
        "daily_capacity": "Daily capacity",
        "cutoff_time": "Cut-off time",
        "priority": "Priority",
        "ships": "Ships orders",
        "pickup": "Customers can pick up",
        "accepts_returns": "Accepts returns",
        "active": "Active",
        "hazmat_licensed": "Licensed for hazardous material",
        "secure": "Secure for high-value goods",
        "workdays": "Working days",
        "holiday_calendar": "Holiday calendar",
        "handling_days": "Handling days",
        "channels": "Channels served",
        "release_mode": "Release",
        "wave_times": "Wave times",
    },
    search=("code", "name", "city"),
    search_hint="Code, name or city",
    upper=("country", "holiday_calendar"),
    pattern_messages={"country": "Use a two-letter ISO 3166 code, such as US or DE."},
    defaults={
        "kind": "warehouse",
        "country": "US",
        "priority": "100",
        "ships": True,
        "active": True,
        "workdays": ["mon", "tue", "wed", "thu", "fri"],
        "handling_days": "0",
        "release_mode": "manual",
    },
)

CHANNELS = Section(
    resource=catalog.CHANNELS,
    base="/channels",
    noun="channel",
    title="Channels",
    model=ChannelCreate,
    text_fields=("code", "name", "kind", "currency", "default_language"),
    check_fields=("active", "accepts_backorders"),
    labels={
        "code": "Code",
        "name": "Name",
        "kind": "Kind",
        "currency": "Currency",
        "default_language": "E-mail language",
        "active": "Active",
        "accepts_backorders": "Accepts backorders and preorders",
    },
    search=("code", "name"),
    search_hint="Code or name",
    upper=("currency",),
    pattern_messages={
        "currency": "Use a three-letter ISO 4217 code, such as USD or EUR.",
        "default_language": "Use a language code, such as en, de or fr-CA.",
    },
    defaults={"kind": "web", "currency": "USD", "active": True},
)


def _days_text(workdays: str | None) -> str:
    """Working days in few words, for the list: three or more days in a row as a range
    (Mon to Sat, with an en dash), the others one by one (``"Mon, Wed, Fri"``)."""
    days = sorted({WEEKDAY_NAMES.index(w) for w in (workdays or "").split() if w in WEEKDAY_NAMES})
    if len(days) == 7:
        return "Every day"
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    names = WEEKDAY_NAMES
    parts = [
        f"{names[r[0]].capitalize()}{DASH}{names[r[-1]].capitalize()}"
        if len(r) > 2
        else ", ".join(names[d].capitalize() for d in r)
        for r in runs
    ]
    return ", ".join(parts) or "—"


@cache
def _timezones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@cache
def _currencies() -> list[str]:
    return sorted(list_currencies())


def _as_text(value: Any) -> str:
    """A stored value as it goes into a form field."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        short = value.normalize()
        exponent = short.as_tuple().exponent
        if isinstance(exponent, int) and exponent > -2:
            short = short.quantize(Decimal("0.01"))
        return format(short, "f")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, list):  # wave times
        return " ".join(str(v) for v in value)
    return str(value)


def _values_of(section: Section, row: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {f: _as_text(row.get(f)) for f in section.text_fields}
    values.update({f: bool(row.get(f)) for f in section.check_fields})
    for f in section.list_fields:
        stored = row.get(f)
        values[f] = stored.split() if isinstance(stored, str) else list(stored or [])
    return values


def _posted(section: Section, form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = strings(form, section.text_fields)
    for f in section.upper:
        values[f] = values[f].upper()
    values.update(checked(form, section.check_fields))
    for f in section.list_fields:
        ticked = (v.strip() for v in form.getlist(f) if isinstance(v, str))
        values[f] = list(dict.fromkeys(v for v in ticked if v))
    return values


def _model_input(section: Section, values: Mapping[str, Any]) -> dict[str, Any]:
    """The form as the API model takes it."""
    data = dict(values)
    if "wave_times" in data:  # typed as "09:00 13:00"; the API takes a list
        text = str(data["wave_times"] or "").replace(",", " ").split()
        data["wave_times"] = text or None
    if data.get("release_mode") == "":  # a form from before release policies: the model's default
        del data["release_mode"]
    for f in section.list_fields:
        if f in section.joined:
            # " ", not "": an empty week must meet the model's rule rather than its default.
            data[f] = " ".join(values[f]) or " "
        else:
            data[f] = list(values[f]) or None
    return data


def _channel_states(request: Request) -> dict[str, dict[str, Any]]:
    """Each channel's connection and inbox figures (services/channel_connections.py)."""
    from openoms.services import channel_connections

    return {c["code"]: c for c in channel_connections.channel_states(request.app.state.db)}


def _channel_options(db: Any, record: Mapping[str, Any] | None) -> dict[str, str]:
    """The channels a location may be limited to: every channel, and any code it already has."""
    rows = catalog_admin.find(db, catalog.CHANNELS, page=1, per_page=1000).items
    options = {r["code"]: r["name"] if r["active"] else f"{r['name']} (inactive)" for r in rows}
    for code in (record or {}).get("channels") or []:
        options.setdefault(code, code)
    return options


def _unknown_choices(section: Section, db: Any, values: Mapping[str, Any], record: Mapping[str, Any] | None) -> Errors:
    """Channel codes that no channel has (only a hand-made post sends them)."""
    if section is not LOCATIONS:
        return {}
    known = _channel_options(db, record)
    unknown = [c for c in values["channels"] if c not in known]
    return {"channels": f"There is no channel {', '.join(unknown)}."} if unknown else {}


def _validate(
    section: Section, db: Any, values: Mapping[str, Any], record: Mapping[str, Any] | None = None
) -> tuple[BaseModel | None, Errors]:
    model, errors = validate(section.model, _model_input(section, values), section.pattern_messages)
    errors.update(_unknown_choices(section, db, values, record))
    return (None if errors else model), errors


def _form_page(
    request: Request,
    section: Section,
    user: CurrentUser,
    *,
    values: Mapping[str, Any],
    errors: Errors | None = None,
    record: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    creating = record is None
    heading = f"New {section.noun}" if creating else f"{record[section.key]}"  # type: ignore[index]
    return page(
        request,
        f"admin/{section.noun}_form.html",
        {
            "s": section,
            "values": values,
            "errors": errors or {},
            "record": record,
            "creating": creating,
            "can_edit": user.can(Permission.CATALOG_EDIT),
            "action": f"{section.base}/new" if creating else section.url(str(record[section.key])),  # type: ignore[index]
            "labels": section.labels,
            "timezones": _timezones() if section is LOCATIONS else [],
            "weekdays": WEEKDAYS,
            "channel_options": _channel_options(request.app.state.db, record) if section is LOCATIONS else {},
            "currencies": _currencies() if section is not LOCATIONS else [],
            "location_kinds": LOCATION_KINDS,
            "channel_kinds": CHANNEL_KINDS,
            "release_modes": RELEASE_MODES,
            "backorder_policies": BACKORDER_POLICIES,
        },
        user=user,
        status_code=status_code,
        title=heading if creating else f"{heading} · {section.title}",
    )


def _list(section: Section) -> Callable[..., Any]:
    def list_page(request: Request, user: CurrentUser = Depends(permitted(Permission.CATALOG_VIEW))) -> Any:
        params = request.query_params
        q = params.get("q", "").strip()
        status = params.get("status", "")
        active = {"active": True, "inactive": False}.get(status)
        result = catalog_admin.find(
            request.app.state.db,
            section.resource,
            q=q,
            search=section.search,
            active=active,
            page=int_param(params.get("page")),
            per_page=PER_PAGE,
        )
        return page(
            request,
            f"admin/{section.noun}_list.html",
            {
                "s": section,
                "result": result,
                "q": q,
                "status": status if active is not None else "",
                "links": page_links(request, result),
                "can_edit": user.can(Permission.CATALOG_EDIT),
                "location_kinds": LOCATION_KINDS,
                "channel_kinds": CHANNEL_KINDS,
                "backorder_policies": BACKORDER_POLICIES,
                "days_text": _days_text,
                "channel_states": _channel_states(request) if section.noun == "channel" else {},
            },
            user=user,
            title=section.title,
        )

    list_page.__name__ = f"list_{section.noun}s"
    return list_page


def _new(section: Section) -> Callable[..., Any]:
    def new_page(request: Request, user: CurrentUser = Depends(permitted(Permission.CATALOG_EDIT))) -> Any:
        values: dict[str, Any] = {f: "" for f in section.text_fields}
        values.update({f: False for f in section.check_fields})
        values.update({f: [] for f in section.list_fields})
        values.update(section.defaults)
        return _form_page(request, section, user, values=values)

    new_page.__name__ = f"new_{section.noun}"
    return new_page


def _create(section: Section) -> Callable[..., Any]:
    def create(
        request: Request,
        user: CurrentUser = Depends(permitted(Permission.CATALOG_EDIT)),
        form: FormData = Depends(form_data),
    ) -> Any:
        values = _posted(section, form)
        model, errors = _validate(section, request.app.state.db, values)
        if model is None:
            return _form_page(request, section, user, values=values, errors=errors, status_code=422)
        data = model.model_dump()
        try:
            row = catalog_admin.create_entry(request.app.state.db, section.resource, data, user.actor)
        except DomainError as exc:
            status = 409 if exc.code == ErrorCode.ALREADY_EXISTS else 422
            errors = domain_errors(exc, values)
            return _form_page(request, section, user, values=values, errors=errors, status_code=status)
        key = str(row[section.key])
        return redirect(section.url(key), f"Created {section.noun} {key}.")

    create.__name__ = f"create_{section.noun}"
    return create


def _show(section: Section) -> Callable[..., Any]:
    def show(request: Request, key: str, user: CurrentUser = Depends(permitted(Permission.CATALOG_VIEW))) -> Any:
        if not key:
            return RedirectResponse(section.base, status_code=303)
        row = section.resource.get(request.app.state.db, key)
        return _form_page(request, section, user, values=_values_of(section, row), record=row)

    show.__name__ = f"show_{section.noun}"
    return show


def _update(section: Section) -> Callable[..., Any]:
    def update(
        request: Request,
        key: str,
        user: CurrentUser = Depends(permitted(Permission.CATALOG_EDIT)),
        form: FormData = Depends(form_data),
    ) -> Response:
        db = request.app.state.db
        row = section.resource.get(db, key)
        values = _posted(section, form)
        values[section.key] = key  # the natural key is not editable
        model, errors = _validate(section, db, values, row)
        if model is None:
            return _form_page(request, section, user, values=values, errors=errors, record=row, status_code=422)
        dumped = model.model_dump(exclude={section.key})
        fields = (*section.text_fields, *section.check_fields, *section.list_fields)
        changes = {f: dumped[f] for f in fields if f in dumped}  # form order
        for f in section.list_fields:  # the same codes in another order are no change
            if isinstance(row.get(f), list) and sorted(row[f]) == sorted(changes.get(f) or []):
                changes[f] = row[f]
        try:
            _, diff = catalog_admin.update_entry(db, section.resource, key, changes, user.actor, labels=section.labels)
        except DomainError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise
            errors = domain_errors(exc, values)
            return _form_page(request, section, user, values=values, errors=errors, record=row, status_code=409)
        if not diff:
            return redirect(section.url(key), "Nothing changed.", "info")
        what = ", ".join(section.labels.get(f, f).lower() for f in diff)
        return redirect(section.url(key), f"Saved {section.noun} {key}: changed {what}.")

    update.__name__ = f"update_{section.noun}"
    return update


for _s in (PRODUCTS, LOCATIONS, CHANNELS):
    router.add_api_route(_s.base, _list(_s), methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"{_s.base}/new", _new(_s), methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"{_s.base}/new", _create(_s), methods=["POST"], response_class=HTMLResponse)
    router.add_api_route(_s.base + "/{key:path}", _show(_s), methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(_s.base + "/{key:path}", _update(_s), methods=["POST"], response_class=HTMLResponse)
