"""Back-office users: accounts, sign-in with a rate limit, server-side sessions.

Passwords are argon2id hashes (argon2-cffi's defaults, RFC 9106). A session is a random token
in an HttpOnly cookie; the database keeps only its SHA-256 and the session's CSRF token, so
signing out or disabling a user ends the session at once, on every server process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, and_, func, insert, select, update

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import SignInAttempt, User, UserSession, table
from openoms.domain import access
from openoms.domain.access import Role
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound, validation_error
from openoms.services.common import Actor, utcnow

users_t = table(User)
sessions_t = table(UserSession)
attempts_t = table(SignInAttempt)

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("openoms-no-such-user")

SESSION_IDLE = dt.timedelta(hours=12)
SESSION_TOUCH_EVERY = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in person, as the pages need them."""

    id: int
    email: str
    name: str
    role: Role
    session_id: int
    csrf_token: str

    @property
    def actor(self) -> Actor:
        return actor_for(self.name, self.email)

    def can(self, permission: access.Permission) -> bool:
        return access.can(self.role, permission)

    def require(self, permission: access.Permission) -> None:
        access.require(self.role, permission)


def actor_for(name: str, email: str) -> Actor:
    """How a person appears on timelines, in the ledger and the audit log."""
    return Actor(f"user:{name} <{email}>"[:128])


def normalise_email(email: str, field: str = "email") -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise validation_error(field, str(exc)) from None


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise validation_error("role", f"unknown role {value!r}; one of {', '.join(r.value for r in Role)}") from None


def _check_password(password: str) -> None:
    reason = access.check_password_strength(password)
    if reason:
        raise validation_error("password", reason)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(db: Database, email: str, name: str, role: str | Role, password: str, actor: Actor) -> dict[str, Any]:
    """Add a back-office user; e-mail is the sign-in name and unique."""
    errors: list[FieldError] = []
    try:
        email = normalise_email(email)
    except DomainError as exc:
        errors += exc.errors
    name = name.strip()
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    try:
        role = _role(role)
    except DomainError as exc:
        errors += exc.errors
    if reason := access.check_password_strength(password):
        errors.append(FieldError("password", reason))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    role = Role(role)
    now = utcnow()
    with db.begin() as conn:
        if conn.execute(select(users_t.c.id).where(users_t.c.email == email)).first():
            raise DomainError(
                ErrorCode.ALREADY_EXISTS,
                f"A user with e-mail {email} already exists",
                [FieldError("email", "is already taken")],
            )
        user_id = conn.execute(
            insert(users_t)
            .values(
                email=email,
                name=name,
                role=role.value,
                password_hash=_hasher.hash(password),
                active=True,
                created_at=now,
                updated_at=now,
            )
            .returning(users_t.c.id)
        ).scalar_one()
        record_audit(
            conn,
            actor=actor.name,
            action="user.created",
            subject_type="user",
            subject_id=str(user_id),
            message=f"Created user {name} <{email}> as {role.label}",
            data={"email": email, "role": role.value},
            now=now,
        )
    return get_user(db, int(user_id))


def get_user(db: Database, user_id: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(select(users_t).where(users_t.c.id == user_id)).mappings().first()
    if row is None:
        raise NotFound("User", user_id)
    return _public(row)


def _public(row: Any) -> dict[str, Any]:
    d = dict(row)
    d.pop("password_hash", None)
    d["role"] = Role(d["role"])
    return d


def list_users(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_public(r) for r in conn.execute(select(users_t).order_by(users_t.c.name)).mappings()]


def _active_admins(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).where(users_t.c.role == Role.ADMIN.value, users_t.c.active.is_(True))
        ).scalar_one()
    )


def update_user(
    db: Database,
    user_id: int,
    actor: Actor,
    *,
    name: str | None = None,
    role: str | Role | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Change a user's name, role or access. The last active administrator cannot be demoted
    or disabled, so nobody can lock everyone out of user management."""
    with db.begin() as conn:
        row = conn.execute(select(users_t).where(users_t.c.id == user_id).with_for_update()).mappings().first()
        if row is None:
            raise NotFound("User", user_id)
        values: dict[str, Any] = {}
        changes: list[str] = []
        if name is not None and name.strip() != row["name"]:
            if not name.strip():
                raise validation_error("name", "must not be empty")
            values["name"] = name.strip()
            changes.append(f"name → {values['name']}")
        if role is not None and _role(role).value != row["role"]:
            values["role"] = _role(role).value
            changes.append(f"role → {Role(values['role']).label}")
        if active is not None and active != row["active"]:
            values["active"] = active
            changes.append("enabled" if active else "disabled")
        if not values:
            return _public(row)
        losing_admin = row["role"] == Role.ADMIN.value and (
            values.get("role", Role.ADMIN.value) != Role.ADMIN.value or values.get("active") is False
        )
        if losing_admin and row["active"] and _active_admins(conn) <= 1:
            raise DomainError(
                ErrorCode.ILLEGAL_TRANSITION,
                f"{row['name']} is the last active administrator; make someone else an administrator first",
                [FieldError("role" if "role" in values else "active", "the last administrator must stay")],
            )
        now = utcnow()
        conn.execute(update(users_t).where(users_t.c.id == user_id).values(**values, updated_at=now))
        if values.get("active") is False or "role" in values:
            # A new role takes effect at the next sign-in; a disabled user is out at once.
            _revoke_sessions(conn, user_id, now)
        record_audit(
            conn,
            actor=actor.name,
            action="user.updated",
            subject_type="user",
            subject_id=str(user_id),
            message=f"Changed user {row['email']}: {', '.join(changes)}",
            data={k: (v.value if isinstance(v, Role) else v) for k, v in values.items()},
            now=now,
        )
    return get_user(db, user_id)


def set_password(db: Database, user_id: int, password: str, actor: Actor) -> None:
    """Set a new password and sign the user out everywhere."""
    _check_password(password)
    now = utcnow()
    with db.begin() as conn:
        row = conn.execute(select(users_t.c.email).where(users_t.c.id == user_id)).first()
        if row is None:
            raise NotFound("User", user_id)
        conn.execute(
            update(users_t).where(users_t.c.id == user_id).values(password_hash=_hasher.hash(password), updated_at=now)
        )
        _revoke_sessions(conn, user_id, now)
        record_audit(
            conn,
            actor=actor.name,
            action="user.password_set",
            subject_type="user",
            subject_id=str(user_id),
            message=f"Set a new password for {row.email}; their sessions were ended",
            now=now,
        )


def _revoke_sessions(conn: Connection, user_id: int, now: dt.datetime) -> None:
    conn.execute(
        update(sessions_t)
        .where(sessions_t.c.user_id == user_id, sessions_t.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


class SignInRefused(DomainError):
    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, message, extra={"retry_after": retry_after} if retry_after else {})
        self.retry_after = retry_after


def sign_in(
    db: Database, email: str, password: str, *, client_ip: str | None = None, user_agent: str | None = None
) -> tuple[CurrentUser, str]:
    """Check the password and open a session; returns the user and the cookie token.

    Refused after ``MAX_FAILED_SIGN_INS`` failures for one e-mail (or four times that from one
    client address) within the window, whether or not the password is then right.
    """
    email = email.strip().lower()
    now = utcnow()
    since = now - dt.timedelta(seconds=access.SIGN_IN_WINDOW_SECONDS)
    with db.read() as conn:
        failures_email = int(
            conn.execute(
                select(func.count()).where(
                    attempts_t.c.email == email, attempts_t.c.created_at >= since, attempts_t.c.succeeded.is_(False)
                )
            ).scalar_one()
        )
        failures_ip = (
            int(
                conn.execute(
                    select(func.count()).where(
                        attempts_t.c.client_ip == client_ip,
                        attempts_t.c.created_at >= since,
                        attempts_t.c.succeeded.is_(False),
                    )
                ).scalar_one()
            )
            if client_ip
            else 0
        )
        row = conn.execute(select(users_t).where(users_t.c.email == email)).mappings().first()
    if failures_email >= access.MAX_FAILED_SIGN_INS or failures_ip >= 4 * access.MAX_FAILED_SIGN_INS:
        minutes = access.SIGN_IN_WINDOW_SECONDS // 60
        raise SignInRefused(
            f"Too many failed sign-ins. Wait {minutes} minutes and try again, or ask an administrator "
            "to set a new password.",
            retry_after=access.SIGN_IN_WINDOW_SECONDS,
        )
    ok = _verify(row["password_hash"] if row else _DUMMY_HASH, password) and row is not None and bool(row["active"])
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    if not ok or row is None:
        # The failure must be kept (it feeds the rate limit): its own small commit.
        with db.begin() as conn:
            conn.execute(
                insert(attempts_t).values(email=email[:254], client_ip=client_ip, succeeded=False, created_at=now)
            )
        raise SignInRefused("E-mail or password is wrong (or the account is disabled).")
    with db.begin() as conn:
        conn.execute(insert(attempts_t).values(email=email[:254], client_ip=client_ip, succeeded=True, created_at=now))
        session_id = conn.execute(
            insert(sessions_t)
            .values(
                token_hash=_token_hash(token),
                user_id=row["id"],
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_IDLE,
                user_agent=(user_agent or "")[:255] or None,
                client_ip=client_ip,
            )
            .returning(sessions_t.c.id)
        ).scalar_one()
        conn.execute(update(users_t).where(users_t.c.id == row["id"]).values(last_sign_in_at=now))
        if _hasher.check_needs_rehash(row["password_hash"]):
            conn.execute(update(users_t).where(users_t.c.id == row["id"]).values(password_hash=_hasher.hash(password)))
    user = CurrentUser(int(row["id"]), row["email"], row["name"], Role(row["role"]), int(session_id), csrf)
    return user, token


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_user(db: Database, token: str) -> CurrentUser | None:
    """The user behind a session cookie, or None when it is unknown, expired, revoked or the
    user is disabled. Slides the idle expiry forward at most every few minutes."""
    now = utcnow()
    with db.read() as conn:
        row = conn.execute(
            select(
                sessions_t.c.id.label("session_id"),
                sessions_t.c.csrf_token,
                sessions_t.c.last_seen_at,
                users_t.c.id,
                users_t.c.email,
                users_t.c.name,
                users_t.c.role,
            )
            .join(users_t, users_t.c.id == sessions_t.c.user_id)
            .where(
                and_(
                    sessions_t.c.token_hash == _token_hash(token),
                    sessions_t.c.revoked_at.is_(None),
                    sessions_t.c.expires_at > now,
                    users_t.c.active.is_(True),
                )
            )
        ).first()
    if row is None:
        return None
    if now - row.last_seen_at > SESSION_TOUCH_EVERY:
        with db.begin() as conn:
            conn.execute(
                update(sessions_t)
                .where(sessions_t.c.id == row.session_id)
                .values(last_seen_at=now, expires_at=now + SESSION_IDLE)
            )
    return CurrentUser(int(row.id), row.email, row.name, Role(row.role), int(row.session_id), row.csrf_token)


def sign_out(db: Database, token: str) -> None:
    with db.begin() as conn:
        conn.execute(
            update(sessions_t)
            .where(sessions_t.c.token_hash == _token_hash(token), sessions_t.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
