"""Dependencies shared by routers: the database and the caller's API key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from openoms.adapters.db.engine import Database
from openoms.domain.errors import DomainError, ErrorCode, validation_error
from openoms.domain.orders import parse_order_number
from openoms.services import apikeys
from openoms.services.common import Actor

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer oms_...` API key")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key, as an alternative header")


def order_id_of(ref: str) -> int:
    """The order a path names, by id (123) or order number (SO-0000123); 422 otherwise."""
    num = int(ref) if ref.isascii() and ref.isdigit() else parse_order_number(ref)
    if num is None or num > 2**63 - 1:
        raise validation_error("order", f"{ref!r} is neither an order id nor an order number like SO-0000123")
    return num


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DB = Annotated[Database, Depends(get_db)]


def require(scope: str) -> Callable[..., apikeys.Principal]:
    """A dependency that authenticates the API key and checks it carries ``scope``."""

    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        header_key: Annotated[str | None, Security(_header)],
    ) -> apikeys.Principal:
        secret = bearer.credentials if bearer else header_key
        if not secret:
            raise DomainError(
                ErrorCode.UNAUTHORIZED,
                "An API key is required: send `Authorization: Bearer oms_...` "
                "(create one with `openoms create-api-key`)",
            )
        principal = apikeys.authenticate(request.app.state.db, secret, request.app.state.key_cache)
        if not principal.allows(scope):
            raise DomainError(
                ErrorCode.FORBIDDEN,
                f"API key {principal.name!r} lacks the {scope} scope",
            )
        request.state.principal = principal
        return principal

    return dependency


def actor_of(principal: apikeys.Principal) -> Actor:
    return Actor(principal.actor_name)
