"""One error shape for every 4xx: ``{"error": {"code", "message", "errors": [{"field", "reason"}]}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openoms.api.schemas import field_path
from openoms.domain.errors import DomainError, ErrorCode

STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_SKU: 422,
    ErrorCode.UNKNOWN_CHANNEL: 422,
    ErrorCode.UNKNOWN_LOCATION: 422,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.INSUFFICIENT_STOCK: 409,
    ErrorCode.ILLEGAL_TRANSITION: 409,
    ErrorCode.HOLD_CONFLICT: 409,
    ErrorCode.STOCK_CONFLICT: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE: 503,
}


def error_body(
    code: ErrorCode | str, message: str, errors: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "errors": errors or [], **extra}}


def error_response(exc: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == ErrorCode.UNAUTHORIZED else None
    return JSONResponse(
        error_body(
            exc.code,
            exc.message,
            [{"field": e.field, "reason": e.reason} for e in exc.errors],
            **exc.extra,
        ),
        status_code=STATUS.get(exc.code, 400),
        headers=headers,
    )


def _reason(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "is invalid"))
    if err.get("type") == "missing":
        return "is required"
    if err.get("type") == "extra_forbidden":
        return "is not a known field"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg[0].lower() + msg[1:] if msg else msg


async def domain_error_json(_: Request, exc: DomainError) -> JSONResponse:
    return error_response(exc)


async def http_error_json(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: ErrorCode.NOT_FOUND, 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_json)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_json)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error_json)  # type: ignore[arg-type]


async def validation_error_json(_: Request, exc: RequestValidationError) -> JSONResponse:
    """Pydantic errors as the API's error body, with field paths such as ``lines[0].sku``."""
    errs = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errs):
        e = next(e for e in errs if e.get("type") == "json_invalid")
        detail = (e.get("ctx") or {}).get("error", "")
        return JSONResponse(
            error_body(
                ErrorCode.MALFORMED_JSON,
                f"The request body is not valid JSON ({detail}); send a JSON object",
                [{"field": "body", "reason": f"invalid JSON: {detail}"}],
            ),
            status_code=400,
        )
    fields = [{"field": field_path(tuple(e["loc"])), "reason": _reason(e)} for e in errs]
    message = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
    return JSONResponse(error_body(ErrorCode.VALIDATION_ERROR, message, fields), status_code=422)
