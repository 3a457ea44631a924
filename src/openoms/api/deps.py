"""Dependencies shared by routers: the database and the caller's API key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from openoms.adapters.db.engine import Database
from openoms.domain.errors import DomainError, ErrorCode, NotFound, validation_error
from openoms.domain.fulfillment import fulfilment_number, parse_fulfilment_number
from openoms.domain.orders import parse_order_number
from openoms.domain.waves import parse_wave_number, wave_number
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
        if principal.location_id is not None:
            _confine(request, principal)
        request.state.principal = principal
        return principal

    return dependency


# Routes a location-bound key may call without a path parameter naming its work: the lists
# filter to its location themselves (``list_location``). Every other route is refused.
_BOUND_LISTS = frozenset({"/api/v1/fulfilment-orders", "/api/v1/waves"})
_BOUND_RELEASE = "/api/v1/locations/{code}/release"


def _confine(request: Request, principal: apikeys.Principal) -> None:
    """Deny by default: a location-bound key reaches a route only if the route names a
    fulfilment order, shipment, wave or location that is its own, or is a list that filters to
    it. Another location's work answers 404, exactly as if it did not exist."""
    route = request.scope.get("route")
    path = getattr(route, "path", "")
    params = request.path_params
    db = request.app.state.db
    if "fo" in params:
        num = parse_fulfilment_number(params["fo"])
        # A malformed reference keeps its 422: it names nobody's work.
        if num is not None and num <= 2**63 - 1 and apikeys.work_location_id(db, fo_id=num) != principal.location_id:
            raise NotFound("Fulfilment order", fulfilment_number(num))
        return
    if "shipment_id" in params:
        ref = params["shipment_id"]
        number = int(ref) if ref.isascii() and ref.isdigit() and int(ref) <= 2**63 - 1 else None
        if number is not None and apikeys.work_location_id(db, shipment_id=number) != principal.location_id:
            raise NotFound("Shipment", ref)
        return
    if "wave" in params:
        wave = parse_wave_number(params["wave"])
        if wave is not None and apikeys.work_location_id(db, wave_id=wave) != principal.location_id:
            raise NotFound("Wave", wave_number(wave))
        return
    if path == _BOUND_RELEASE:
        if params.get("code") != principal.location:
            raise NotFound("Location", params.get("code"))
        return
    if path in _BOUND_LISTS:
        return
    raise DomainError(
        ErrorCode.FORBIDDEN,
        f"API key {principal.name!r} is bound to location {principal.location}; this route spans locations",
    )


def list_location(principal: apikeys.Principal, asked: str | None) -> tuple[str | None, bool]:
    """The location filter a list applies for this key, and whether anything is visible: a
    bound key sees only its own location whatever it asks for."""
    if principal.location is None:
        return asked, True
    return principal.location, asked is None or asked == principal.location


def actor_of(principal: apikeys.Principal) -> Actor:
    return Actor(principal.actor_name)
