"""HTML forms on the back-office pages: read the posted fields, validate them with the same
Pydantic models as the API, and turn refusals into a message next to each field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from openoms.domain.errors import DomainError

M = TypeVar("M", bound=BaseModel)

#: field name → the message shown next to it ("" is the form as a whole).
Errors = dict[str, str]


async def form_data(request: Request) -> FormData:
    """A dependency, so that handlers can stay synchronous (their database calls block)."""
    return await request.form()


def strings(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """The text fields as typed (trimmed), for validation and for showing the form again."""
    out: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        out[name] = value.strip() if isinstance(value, str) else ""
    return out


def checked(form: FormData, names: Iterable[str]) -> dict[str, bool]:
    """Checkboxes: a browser sends only the ticked ones."""
    return {name: form.get(name) not in (None, "", "0", "false") for name in names}


def sentence(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        return reason
    reason = reason[0].upper() + reason[1:]
    return reason if reason.endswith((".", "?", "!")) else reason + "."


def _reason(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind in ("missing", "string_too_short"):
        return "Required."
    if kind == "int_parsing" or kind == "int_from_float":
        return "Enter a whole number."
    if kind in ("decimal_parsing", "decimal_type", "float_parsing"):
        return "Enter a number, such as 19.99."
    if kind == "decimal_max_places":
        return f"Use at most {ctx.get('decimal_places')} decimal places."
    if kind == "decimal_max_digits":
        return "This number is too large."
    if kind in ("greater_than_equal", "greater_than"):
        return f"Must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"Must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind == "string_too_long":
        return f"Must be at most {ctx.get('max_length')} characters."
    if kind == "literal_error":
        return "Choose one of the options."
    if kind == "bool_parsing":
        return "Tick the box or leave it empty."
    msg = str(err.get("msg", "Is not valid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return sentence(msg)


def validate(
    model: type[M], values: Mapping[str, Any], messages: Mapping[str, str] | None = None
) -> tuple[M | None, Errors]:
    """Validate form input with an API model. Empty text fields are left out (the model's
    default or "required" applies); ``messages`` overrides the text for a field's pattern
    errors, which Pydantic words for programmers."""
    data = {k: v for k, v in values.items() if v != ""}
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: Errors = {}
        order = {name: i for i, name in enumerate(values)}  # as the form shows them
        for err in sorted(exc.errors(), key=lambda e: order.get(str(e["loc"][0]) if e["loc"] else "", -1)):
            name = str(err["loc"][0]) if err["loc"] else ""
            if name in errors:
                continue
            if messages and name in messages and err.get("type") == "string_pattern_mismatch":
                errors[name] = messages[name]
            else:
                errors[name] = _reason(err)
        return None, errors


def domain_errors(exc: DomainError, known: Iterable[str]) -> Errors:
    """A refused command's field errors; anything not on the form goes to the form as a whole."""
    fields = set(known)
    errors: Errors = {}
    for e in exc.errors:
        target = e.field if e.field in fields else ""
        errors.setdefault(target, sentence(e.reason) if target else exc.message)
    if not errors:
        errors[""] = exc.message
    return errors


def int_param(value: str | None, default: int = 1) -> int:
    """A page number from the query string; nonsense means the first page."""
    try:
        return max(1, int(value or default))
    except ValueError:
        return default


def page_links(request: Request, result: Any) -> dict[str, str | None]:
    """Previous and next page addresses that keep the current filters."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v != ""]

    def url(n: int) -> str:
        query = urlencode([*kept, ("page", str(n))] if n > 1 else kept)
        return request.url.path + (f"?{query}" if query else "")

    return {
        "prev": url(result.page - 1) if result.page > 1 else None,
        "next": url(result.page + 1) if result.page < result.pages else None,
    }
