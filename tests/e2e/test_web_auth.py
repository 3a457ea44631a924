"""Sign-in, sessions, CSRF and role gates as a browser-less client sees them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import AuditEntry, SignInAttempt, UserSession, table
from openoms.domain import access
from openoms.domain.access import Permission, Role
from openoms.domain.errors import DomainError
from openoms.services import users
from openoms.services.common import Actor

PASSWORD = "correct horse battery"


def _login_token(client: TestClient) -> str:
    html = client.get("/login").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/") -> object:
    token = _login_token(client)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_url},
        follow_redirects=False,
    )


def _csrf(client: TestClient) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert match
    return match.group(1)


@pytest.fixture
def staff(db: Database) -> dict[str, dict[str, object]]:
    made = {}
    for role in Role:
        made[role.value] = users.create_user(
            db, f"{role.value}@example.com", f"{role.label} Person", role, PASSWORD, Actor("tests")
        )
    return made


def test_signed_out_pages_redirect_to_login_with_next(app_client: TestClient) -> None:
    r = app_client.get("/?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2F%3Fx%3D1"


def test_sign_in_sets_a_hardened_cookie_and_opens_the_dashboard(app_client: TestClient, staff: object) -> None:
    r = sign_in(app_client, "Operations@Example.com", next_url="/")
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "openoms_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    page = app_client.get("/")
    assert page.status_code == 200
    assert "Operations Person" in page.text


def test_next_never_leaves_the_site(app_client: TestClient, staff: object) -> None:
    r = sign_in(app_client, "admin@example.com", next_url="//evil.example/")
    assert r.headers["location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(app_client: TestClient, staff: object) -> None:
    a = sign_in(app_client, "admin@example.com", "wrong password!")
    b = sign_in(app_client, "nobody@example.com", "wrong password!")
    assert a.status_code == b.status_code == 401
    assert "E-mail or password is wrong" in a.text and "E-mail or password is wrong" in b.text
    assert "openoms_session" not in a.headers.get("set-cookie", "")


def test_login_without_its_csrf_token_is_refused(app_client: TestClient, staff: object) -> None:
    r = app_client.post("/login", data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403
    assert "openoms_session" not in r.headers.get("set-cookie", "")


def test_failed_sign_ins_are_rate_limited_even_with_the_right_password(
    app_client: TestClient, staff: object, db: Database
) -> None:
    for _ in range(access.MAX_FAILED_SIGN_INS):
        assert sign_in(app_client, "finance@example.com", "not it at all").status_code == 401
    r = sign_in(app_client, "finance@example.com", PASSWORD)
    assert r.status_code == 429
    assert "Too many failed sign-ins" in r.text
    assert int(r.headers["retry-after"]) > 0
    # another user is not locked out by someone else's failures
    assert sign_in(app_client, "warehouse@example.com").status_code == 303
    with db.read() as conn:
        fails = conn.execute(select(func.count()).where(table(SignInAttempt).c.succeeded.is_(False))).scalar_one()
    assert fails == access.MAX_FAILED_SIGN_INS  # refused attempts do not extend the lockout


def test_post_without_the_session_csrf_token_is_refused(app_client: TestClient, staff: object, db: Database) -> None:
    sign_in(app_client, "admin@example.com")
    r = app_client.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert "did not come from OpenOMS" in r.text
    assert app_client.get("/").status_code == 200  # still signed in: nothing changed


def test_sign_out_revokes_the_session_server_side(app_client: TestClient, staff: object, db: Database) -> None:
    sign_in(app_client, "admin@example.com")
    cookie = app_client.cookies.get("openoms_session")
    assert cookie
    r = app_client.post("/logout", data={"csrf_token": _csrf(app_client)}, follow_redirects=False)
    assert r.status_code == 303
    app_client.cookies.set("openoms_session", cookie)  # replaying the old cookie does not work
    assert app_client.get("/", follow_redirects=False).status_code == 303
    with db.read() as conn:
        revoked = conn.execute(select(func.count()).where(table(UserSession).c.revoked_at.is_not(None))).scalar_one()
    assert revoked == 1


def test_disabling_a_user_ends_their_session_at_once(
    app_client: TestClient, staff: dict[str, dict[str, object]], db: Database
) -> None:
    sign_in(app_client, "customer_service@example.com")
    assert app_client.get("/").status_code == 200
    users.update_user(db, int(staff["customer_service"]["id"]), Actor("tests"), active=False)  # type: ignore[call-overload]
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_the_last_admin_cannot_be_demoted_or_disabled(db: Database, staff: dict[str, dict[str, object]]) -> None:
    admin_id = int(staff["admin"]["id"])  # type: ignore[call-overload]
    with pytest.raises(DomainError, match="last active administrator"):
        users.update_user(db, admin_id, Actor("tests"), role=Role.FINANCE)
    with pytest.raises(DomainError, match="last active administrator"):
        users.update_user(db, admin_id, Actor("tests"), active=False)
    assert users.get_user(db, admin_id)["role"] == Role.ADMIN
    with db.read() as conn:
        actions = set(conn.execute(select(table(AuditEntry).c.action)).scalars())
    assert actions == {"user.created"}


def test_user_validation_names_every_bad_field_and_creates_nothing(db: Database) -> None:
    with pytest.raises(DomainError) as err:
        users.create_user(db, "not-an-email", " ", "boss", "short", Actor("tests"))
    assert {e.field for e in err.value.errors} == {"email", "name", "role", "password"}
    assert users.list_users(db) == []


def test_duplicate_email_is_refused(db: Database, staff: object) -> None:
    with pytest.raises(DomainError, match="already exists"):
        users.create_user(db, "ADMIN@example.com", "Again", Role.ADMIN, PASSWORD, Actor("tests"))


def test_role_matrix_is_what_the_docs_say() -> None:
    assert access.can(Role.ADMIN, Permission.USERS_MANAGE)
    assert not access.can(Role.OPERATIONS, Permission.USERS_MANAGE)
    assert access.can(Role.CUSTOMER_SERVICE, Permission.ORDERS_CANCEL)
    assert not access.can(Role.CUSTOMER_SERVICE, Permission.INVENTORY_ADJUST)
    assert access.can(Role.WAREHOUSE, Permission.INVENTORY_ADJUST)
    assert not access.can(Role.WAREHOUSE, Permission.ORDERS_CANCEL)
    assert not access.can(Role.FINANCE, Permission.ORDERS_CANCEL)
    assert access.can(Role.FINANCE, Permission.ORDERS_HOLD)
    assert all(access.can(r, Permission.DASHBOARD_VIEW) for r in Role)


def test_password_is_stored_as_argon2id(db: Database, staff: object) -> None:
    from openoms.adapters.db.tables import User

    with db.read() as conn:
        hashes = list(conn.execute(select(table(User).c.password_hash)).scalars())
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
