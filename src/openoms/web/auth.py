"""Who is signed in, what they may do, and CSRF checks for the back-office pages.

Routes declare what they need with ``Depends(permitted(Permission.X))``; a request without a
session is sent to /login, one whose role lacks the permission gets the 403 page, and every
POST must carry the session's CSRF token (form field ``csrf_token`` or ``X-CSRF-Token``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import quote

from fastapi import Depends, Request

from openoms.domain.access import Permission
from openoms.domain.errors import DomainError, ErrorCode
from openoms.services import users
from openoms.services.users import CurrentUser

SESSION_COOKIE = "openoms_session"
LOGIN_CSRF_COOKIE = "openoms_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """Raised by a page dependency when nobody is signed in: answered with a redirect."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfRejected(DomainError):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.FORBIDDEN,
            "This form expired or did not come from OpenOMS. Go back, reload the page and send it again.",
        )


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def optional_user(request: Request) -> CurrentUser | None:
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = users.session_user(request.app.state.db, token)
    request.state.user = user
    return user


def signed_in(request: Request) -> CurrentUser:
    user = optional_user(request)
    if user is None:
        raise SignInRequired(login_url(request))
    return user


async def verify_csrf(request: Request, user: CurrentUser = Depends(signed_in)) -> CurrentUser:
    """Every state-changing request must echo the session's token (synchroniser pattern)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return user
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, user.csrf_token):
        raise CsrfRejected()
    return user


def permitted(permission: Permission) -> Callable[..., CurrentUser]:
    """A dependency: the signed-in user, if their role has ``permission`` (checked on every
    method; POSTs also have their CSRF token checked)."""

    def dependency(user: CurrentUser = Depends(verify_csrf)) -> CurrentUser:
        user.require(permission)
        return user

    dependency.__name__ = f"permitted_{permission.value.replace('.', '_')}"
    return dependency


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
