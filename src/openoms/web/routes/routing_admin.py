"""Routing set-up pages: the sourcing rules in force with their versions, and the carrier rate
table in force with a CSV upload.

Both are versioned by the services (``routing_setup``): saving rules makes a new version and
loading rates makes a new table, so decisions already taken keep naming what they used. These
pages only read forms, call one service function and show its refusals next to the fields (or,
for a rate file, every bad cell by row and column); a refusal stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from openoms.adapters.carriers.rate_csv import RateCsvError, RateCsvProblem
from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode, NotFound
from openoms.domain.network import ServiceLevel
from openoms.domain.routing import LOCATION_KINDS, FulfilmentMode, SplitPolicy
from openoms.services import routing_setup
from openoms.services.users import CurrentUser
from openoms.web.auth import permitted
from openoms.web.render import page, redirect
from openoms.web.routes.forms import Errors, form_data, sentence
from openoms.web.routes.orders import actor_label

router = APIRouter(include_in_schema=False)

WEIGHTS = ("carrier_cost", "transit_day", "per_100_km", "extra_shipment", "load")
FLAGS = ("hazmat_requires_license", "high_value_requires_secure")
LABELS: Mapping[str, str] = {
    "name": "Name",
    "split_policy": "Splitting an order",
    "split_min_days_saved": "Days a split must save",
    "fulfilment_mode": "When parcels leave",
    "max_shipments": "Most shipments per order",
    "weights_carrier_cost": "Per unit of carrier cost",
    "weights_transit_day": "Per day until delivered",
    "weights_per_100_km": "Per 100 km of distance",
    "weights_extra_shipment": "Per extra shipment",
    "weights_load": "Per fully loaded location",
    "weights": "Cost weights",
    "fastest_first": "Fastest first for",
    "hazmat_requires_license": "Hazmat lines only from licensed locations",
    "high_value_requires_secure": "High-value lines only from secure locations",
    "allowed_kinds": "Location kinds that may ship",
    "currency": "Currency",
    "note": "Note",
}
SPLIT_TEXT = {
    "never": "Never: one location ships the whole order",
    "allowed": "Allowed when it scores better",
    "min_days_saved": "Only when it delivers sooner by at least the days below",
}
MODE_TEXT = {
    "ship_as_available": "Each parcel leaves when it is ready",
    "ship_complete": "Parcels wait for the last one (ship complete)",
}
WEIGHT_TEXT = {
    "carrier_cost": "What the carrier charges counts this much per currency unit.",
    "transit_day": "Each day until the order is complete adds this.",
    "per_100_km": "Each 100 km between location and customer adds this.",
    "extra_shipment": "Each shipment beyond the first adds this (the split penalty).",
    "load": "A location at full load adds this per shipment, scaled by its load.",
}
KIND_TEXT = {"warehouse": "Warehouses", "store": "Stores", "3pl": "3PLs", "dropship": "Drop-ship suppliers"}
MAX_RATE_FILE_BYTES = 900_000  # under the request guard's 1 MiB, with room for the form
MAX_PROBLEMS_SHOWN = 500


# --- sourcing rules ------------------------------------------------------------------------


def _form_values(rules: Mapping[str, Any]) -> dict[str, Any]:
    """The rules in force as the form shows them (every field prefilled)."""
    weights = rules.get("weights") or {}
    values: dict[str, Any] = {
        "name": rules.get("name", ""),
        "split_policy": rules.get("split_policy", ""),
        "split_min_days_saved": str(rules.get("split_min_days_saved", 0)),
        "fulfilment_mode": rules.get("fulfilment_mode", ""),
        "max_shipments": str(rules.get("max_shipments", "")),
        "fastest_first": list(rules.get("fastest_first") or []),
        "allowed_kinds": list(rules.get("allowed_kinds") or []),
        "currency": rules.get("currency", ""),
        "note": "",
    }
    for w in WEIGHTS:
        values[f"weights_{w}"] = str(weights.get(w, ""))
    for f in FLAGS:
        values[f] = bool(rules.get(f))
    return values


def _posted(form: FormData) -> dict[str, Any]:
    def text(name: str) -> str:
        v = form.get(name)
        return v.strip() if isinstance(v, str) else ""

    values: dict[str, Any] = {
        name: text(name)
        for name in ("name", "split_policy", "split_min_days_saved", "fulfilment_mode", "max_shipments", "currency")
    }
    for w in WEIGHTS:
        values[f"weights_{w}"] = text(f"weights_{w}")
    values["fastest_first"] = [v for v in form.getlist("fastest_first") if isinstance(v, str)]
    values["allowed_kinds"] = [v for v in form.getlist("allowed_kinds") if isinstance(v, str)]
    for f in FLAGS:
        values[f] = form.get(f) not in (None, "", "0", "false")
    raw_note = form.get("note")
    values["note"] = raw_note.strip() if isinstance(raw_note, str) else ""
    return values


def _whole(text: str) -> int | str:
    """A whole number as typed, or the text itself for the rules to refuse with its field."""
    t = text.strip()
    return int(t) if t.lstrip("-").isascii() and t.lstrip("-").isdigit() and len(t) < 12 else t


def _changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form as the rules' fields. Numbers that do not parse are passed on as typed: the
    rules refuse them with the field's name, together with every other problem."""
    return {
        "name": values["name"],
        "split_policy": values["split_policy"],
        "split_min_days_saved": _whole(values["split_min_days_saved"]),
        "fulfilment_mode": values["fulfilment_mode"],
        "max_shipments": _whole(values["max_shipments"]),
        "weights": {w: values[f"weights_{w}"] for w in WEIGHTS},
        "fastest_first": list(values["fastest_first"]),
        "hazmat_requires_license": bool(values["hazmat_requires_license"]),
        "high_value_requires_secure": bool(values["high_value_requires_secure"]),
        "allowed_kinds": list(values["allowed_kinds"]),
        "currency": values["currency"],
    }


def _field_of(path: str) -> str:
    """``weights.transit_day`` → ``weights_transit_day``; ``allowed_kinds[1]`` → ``allowed_kinds``."""
    base = path.split("[")[0]
    return base.replace(".", "_") if base.startswith("weights.") else base


def _rule_errors(exc: DomainError) -> Errors:
    errors: Errors = {}
    for e in exc.errors:
        name = _field_of(e.field)
        target = name if name in LABELS else ""
        errors.setdefault(target, sentence(e.reason) if target else sentence(f"{e.field}: {e.reason}"))
    if not errors:
        errors[""] = exc.message
    return errors


def _who(actor: str | None) -> str:
    """A person's name rather than ``user:Name <e-mail>``; processes as they are."""
    return actor_label(actor or "")["name"] if actor else "—"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value).replace("_", " ")


def _diff(older: Mapping[str, Any] | None, newer: Mapping[str, Any]) -> list[dict[str, str]]:
    """What a version changed from the one before it, field by field, in words."""
    if older is None:
        return []
    out: list[dict[str, str]] = []
    for key, new in newer.items():
        if key == "version":
            continue
        old = older.get(key)
        if key == "weights" and isinstance(new, Mapping):
            for w, nv in new.items():
                ov = (old or {}).get(w)
                if not _same_number(ov, nv):
                    out.append({"field": LABELS.get(f"weights_{w}", w), "from": str(ov), "to": str(nv)})
            continue
        if isinstance(new, list) and isinstance(old, list) and sorted(map(str, new)) == sorted(map(str, old)):
            continue
        if new != old:
            out.append({"field": LABELS.get(key, key), "from": _show(old), "to": _show(new)})
    return out


def _same_number(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except InvalidOperation:
        return a == b


def _rules_page(
    request: Request,
    user: CurrentUser,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    db = request.app.state.db
    versions = routing_setup.list_rule_sets(db)
    current = versions[0] if versions else routing_setup.current_rule_set(db)
    history = [
        {
            **v,
            "created_by": _who(v["created_by"]),
            "changes": _diff(versions[i + 1]["rules"] if i + 1 < len(versions) else None, v["rules"]),
        }
        for i, v in enumerate(versions)
    ]
    return page(
        request,
        "admin/routing_rules.html",
        {
            "current": {**current, "created_by": _who(current["created_by"])},
            "rules": current["rules"],
            "history": history,
            "values": values or _form_values(current["rules"]),
            "errors": errors or {},
            "labels": LABELS,
            "split_options": {p.value: SPLIT_TEXT.get(p.value, p.value) for p in SplitPolicy},
            "mode_options": {m.value: MODE_TEXT.get(m.value, m.value) for m in FulfilmentMode},
            "split_text": SPLIT_TEXT,
            "mode_text": MODE_TEXT,
            "weights": [(w, LABELS[f"weights_{w}"], WEIGHT_TEXT[w]) for w in WEIGHTS],
            "service_levels": [s.value for s in ServiceLevel],
            "kinds": [(k, KIND_TEXT.get(k, k)) for k in sorted(LOCATION_KINDS)],
            "can_edit": user.can(Permission.ROUTING_EDIT),
            "max_note": routing_setup.MAX_NOTE,
        },
        user=user,
        status_code=status_code,
        title="Routing rules",
    )


@router.get("/routing/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: CurrentUser = Depends(permitted(Permission.ROUTING_VIEW))) -> Any:
    return _rules_page(request, user)


@router.post("/routing/rules", response_class=HTMLResponse)
def save_rules(
    request: Request,
    user: CurrentUser = Depends(permitted(Permission.ROUTING_EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    values = _posted(form)
    note = values["note"] or None
    try:
        saved = routing_setup.create_rule_set(request.app.state.db, _changes(values), note, user.actor)
    except DomainError as exc:
        errors = _rule_errors(exc)
        if exc.code != ErrorCode.VALIDATION_ERROR and "" not in errors:
            errors = {"": exc.message, **errors}
        return _rules_page(request, user, values=values, errors=errors, status_code=422)
    return redirect(
        "/routing/rules",
        f"Saved version {saved['version']} ({saved['label']}): it routes every order from now on. "
        "Orders already routed keep the version they used.",
    )


# --- carrier rates -----------------------------------------------------------------------------


def _rates_page(
    request: Request,
    user: CurrentUser,
    *,
    problems: list[RateCsvProblem] | None = None,
    source: str | None = None,
    upload_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        table = routing_setup.rate_table_summary(request.app.state.db)
    except NotFound:
        table = None
    if table is not None:
        table = {**table, "loaded_by": _who(table["loaded_by"])}
    shown = (problems or [])[:MAX_PROBLEMS_SHOWN]
    return page(
        request,
        "admin/carrier_rates.html",
        {
            "table": table,
            "problems": shown,
            "more_problems": len(problems or []) - len(shown),
            "problem_count": len(problems or []),
            "source": source,
            "upload_error": upload_error,
            "can_edit": user.can(Permission.ROUTING_EDIT),
            "max_kb": MAX_RATE_FILE_BYTES // 1000,
        },
        user=user,
        status_code=status_code,
        title="Carrier rates",
    )


@router.get("/routing/rates", response_class=HTMLResponse)
def rates_page(request: Request, user: CurrentUser = Depends(permitted(Permission.ROUTING_VIEW))) -> Any:
    return _rates_page(request, user)


@router.post("/routing/rates", response_class=HTMLResponse)
def upload_rates(
    request: Request,
    user: CurrentUser = Depends(permitted(Permission.ROUTING_EDIT)),
    form: FormData = Depends(form_data),
) -> Response:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _rates_page(request, user, upload_error="Choose a CSV file to upload.", status_code=422)
    source = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:200]
    data = upload.file.read(MAX_RATE_FILE_BYTES + 1)  # a synchronous handler: runs in a thread
    if len(data) > MAX_RATE_FILE_BYTES:
        return _rates_page(
            request,
            user,
            source=source,
            upload_error=f"{source} is larger than {MAX_RATE_FILE_BYTES // 1000} kB; split it or load it with "
            "`openoms rates import FILE.csv`.",
            status_code=413,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _rates_page(
            request,
            user,
            source=source,
            upload_error=f"{source} is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8” and upload again.",
            status_code=422,
        )
    if not text.strip():
        return _rates_page(request, user, source=source, upload_error=f"{source} is empty.", status_code=422)
    try:
        loaded = routing_setup.load_rates(request.app.state.db, text, source, user.actor)
    except RateCsvError as exc:
        return _rates_page(request, user, problems=list(exc.problems), source=source, status_code=422)
    except DomainError as exc:
        return _rates_page(request, user, source=source, upload_error=exc.message, status_code=422)
    return redirect(
        "/routing/rates",
        f"Loaded {source}: {loaded['rows']} rates for {len(loaded['services'])} services. "
        "It prices every order routed from now on.",
    )
