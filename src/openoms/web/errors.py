"""Errors on pages get pages: a sign-in redirect, a clear 403, a 404 with a way back.
API paths keep their JSON errors (api/errors.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from openoms.api import errors as api_errors
from openoms.domain.errors import DomainError, ErrorCode
from openoms.web.auth import SignInRequired, optional_user
from openoms.web.render import page

_JSON_PREFIXES = ("/api/", "/openapi.json", "/docs", "/redoc", "/static/", "/healthz")

TITLES = {
    401: "Please sign in",
    403: "Not allowed for your role",
    404: "Page not found",
    409: "That can't be done right now",
    422: "Please check what you entered",
}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(_JSON_PREFIXES) or request.url.path == "/api"


def error_page(request: Request, status: int, message: str, details: list[str] | None = None) -> Response:
    user = optional_user(request)
    return page(
        request,
        "error.html",
        {
            "status": status,
            "heading": TITLES.get(status, "Something went wrong"),
            "message": message,
            "details": details or [],
        },
        user=user,
        status_code=status,
        title=TITLES.get(status, "Error"),
    )


def install(app: FastAPI) -> None:
    """Call after api.errors.install: these handlers take over and hand API paths back."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(exc.next_url, status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if wants_json(request):
            return await api_errors.domain_error_json(request, exc)
        status = api_errors.STATUS.get(exc.code, 400)
        if exc.code == ErrorCode.UNAUTHORIZED:
            status = 401
        return error_page(request, status, exc.message, [f"{e.field}: {e.reason}" for e in exc.errors])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request):
            return await api_errors.http_error_json(request, exc)
        message = (
            "There is no page at this address. Use the menu, or search the orders list."
            if exc.status_code == 404
            else str(exc.detail)
        )
        return error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            return await api_errors.validation_error_json(request, exc)
        details = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return error_page(request, 422, "Some of what was sent is not valid.", details)
