"""Sign in and sign out."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openoms.services import users
from openoms.services.users import CurrentUser, SignInRefused
from openoms.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, client_ip, optional_user, verify_csrf
from openoms.web.render import page, redirect

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link must not bounce people to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def cookie_secure(request: Request) -> bool:
    """Secure cookies over HTTPS and on loopback (browsers accept them on http://127.0.0.1);
    OPENOMS_COOKIE_SECURE forces either way."""
    setting = request.app.state.settings.cookie_secure
    if setting is not None:
        return bool(setting)
    return request.url.scheme == "https" or request.url.hostname in ("127.0.0.1", "localhost", "::1")


def _login_page(request: Request, *, error: str | None = None, email: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "email": email,
            "next": _safe_next(request.query_params.get("next")),
        },
        status_code=status,
        title="Sign in",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure(request), path="/login"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Any:
    if optional_user(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Any:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(request, error="The sign-in form expired. Please try again.", email=email, status=403)
    if not email.strip() or not password:
        return _login_page(request, error="Enter your e-mail and password.", email=email, status=422)
    try:
        _user, token = users.sign_in(
            request.app.state.db,
            email,
            password,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except SignInRefused as exc:
        response = _login_page(request, error=exc.message, email=email, status=429 if exc.retry_after else 401)
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
        max_age=int(users.SESSION_IDLE.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, user: CurrentUser = Depends(verify_csrf)) -> Any:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        users.sign_out(request.app.state.db, token)
    response = redirect("/login", "You are signed out.", "info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
