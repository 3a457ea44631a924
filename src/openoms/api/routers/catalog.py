"""Products, locations, channels and customers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from openoms.api.deps import DB, require
from openoms.api.schemas import (
    COMMON_ERRORS,
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    CustomerCreate,
    CustomerRead,
    LocationCreate,
    LocationRead,
    LocationUpdate,
    Page,
    ProductCreate,
    ProductRead,
    ProductUpdate,
    error_responses,
)
from openoms.services import catalog
from openoms.services.common import decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1", responses={**COMMON_ERRORS, **error_responses(404, 409)})
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page")]


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {
        "items": items,
        "next_cursor": encode_cursor(items[-1]["id"]) if len(items) == limit else None,
    }


@router.get(
    "/products", response_model=Page[ProductRead], tags=["catalogue"], dependencies=[Depends(require("catalog:read"))]
)
def list_products(db: DB, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    """Products in id order, cursor-paginated."""
    return _page(catalog.PRODUCTS.list(db, after_id=decode_cursor(cursor), limit=limit), limit)


@router.post(
    "/products",
    response_model=ProductRead,
    status_code=status.HTTP_201_CREATED,
    tags=["catalogue"],
    dependencies=[Depends(require("catalog:write"))],
    responses={409: {"description": "The SKU already exists"}},
)
def create_product(db: DB, body: ProductCreate) -> dict[str, Any]:
    return catalog.PRODUCTS.create(db, body.model_dump())


@router.get(
    "/products/{sku}", response_model=ProductRead, tags=["catalogue"], dependencies=[Depends(require("catalog:read"))]
)
def get_product(db: DB, sku: str) -> dict[str, Any]:
    return catalog.PRODUCTS.get(db, sku)


@router.patch(
    "/products/{sku}", response_model=ProductRead, tags=["catalogue"], dependencies=[Depends(require("catalog:write"))]
)
def update_product(db: DB, sku: str, body: ProductUpdate) -> dict[str, Any]:
    """Change only the fields sent."""
    return catalog.PRODUCTS.update(db, sku, body.model_dump(exclude_unset=True))


@router.get(
    "/locations", response_model=Page[LocationRead], tags=["locations"], dependencies=[Depends(require("catalog:read"))]
)
def list_locations(db: DB, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    return _page(catalog.LOCATIONS.list(db, after_id=decode_cursor(cursor), limit=limit), limit)


@router.post(
    "/locations",
    response_model=LocationRead,
    status_code=status.HTTP_201_CREATED,
    tags=["locations"],
    dependencies=[Depends(require("catalog:write"))],
)
def create_location(db: DB, body: LocationCreate) -> dict[str, Any]:
    """A warehouse, store, 3PL or drop-ship supplier that holds or ships stock."""
    return catalog.LOCATIONS.create(db, body.model_dump())


@router.get(
    "/locations/{code}",
    response_model=LocationRead,
    tags=["locations"],
    dependencies=[Depends(require("catalog:read"))],
)
def get_location(db: DB, code: str) -> dict[str, Any]:
    return catalog.LOCATIONS.get(db, code)


@router.patch(
    "/locations/{code}",
    response_model=LocationRead,
    tags=["locations"],
    dependencies=[Depends(require("catalog:write"))],
)
def update_location(db: DB, code: str, body: LocationUpdate) -> dict[str, Any]:
    return catalog.LOCATIONS.update(db, code, body.model_dump(exclude_unset=True))


@router.get(
    "/channels", response_model=Page[ChannelRead], tags=["channels"], dependencies=[Depends(require("catalog:read"))]
)
def list_channels(db: DB, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    return _page(catalog.CHANNELS.list(db, after_id=decode_cursor(cursor), limit=limit), limit)


@router.post(
    "/channels",
    response_model=ChannelRead,
    status_code=status.HTTP_201_CREATED,
    tags=["channels"],
    dependencies=[Depends(require("catalog:write"))],
)
def create_channel(db: DB, body: ChannelCreate) -> dict[str, Any]:
    """A sales channel orders are captured from (web store, marketplace, B2B, POS, ...)."""
    return catalog.CHANNELS.create(db, body.model_dump())


@router.get(
    "/channels/{code}", response_model=ChannelRead, tags=["channels"], dependencies=[Depends(require("catalog:read"))]
)
def get_channel(db: DB, code: str) -> dict[str, Any]:
    return catalog.CHANNELS.get(db, code)


@router.patch(
    "/channels/{code}", response_model=ChannelRead, tags=["channels"], dependencies=[Depends(require("catalog:write"))]
)
def update_channel(db: DB, code: str, body: ChannelUpdate) -> dict[str, Any]:
    return catalog.CHANNELS.update(db, code, body.model_dump(exclude_unset=True))


@router.get(
    "/customers",
    response_model=Page[CustomerRead],
    tags=["customers"],
    dependencies=[Depends(require("customers:read"))],
)
def list_customers(db: DB, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    return _page(catalog.CUSTOMERS.list(db, after_id=decode_cursor(cursor), limit=limit), limit)


@router.post(
    "/customers",
    response_model=CustomerRead,
    status_code=status.HTTP_201_CREATED,
    tags=["customers"],
    dependencies=[Depends(require("customers:write"))],
)
def create_customer(db: DB, body: CustomerCreate) -> dict[str, Any]:
    """Customers are also created or updated by e-mail when an order names them."""
    return catalog.CUSTOMERS.create(db, {**body.model_dump(), "email": str(body.email).lower()})


@router.get(
    "/customers/{email}",
    response_model=CustomerRead,
    tags=["customers"],
    dependencies=[Depends(require("customers:read"))],
)
def get_customer(db: DB, email: str) -> dict[str, Any]:
    return catalog.CUSTOMERS.get(db, email.strip().lower())
