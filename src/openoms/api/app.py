"""The application: REST API under /api/v1, OpenAPI at /docs, pages for people at /."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from openoms import __version__
from openoms.adapters.db.engine import Database
from openoms.api import errors
from openoms.api.middleware import RequestGuard
from openoms.api.routers import catalog, fulfilment, inbound, orders, routing, stock, transfers, waves
from openoms.api.routers import channel_inbox as channel_inbox_api
from openoms.api.routers import order_changes as order_changes_api
from openoms.api.routers import payment_webhooks as payment_webhooks_api
from openoms.api.routers import payments as payments_api
from openoms.api.routers import returns as returns_api
from openoms.api.routers import tracking as tracking_api
from openoms.api.routers import webhooks as webhooks_api
from openoms.config import Settings, get_settings
from openoms.services import network
from openoms.services.apikeys import KeyCache
from openoms.web import errors as web_errors
from openoms.web import pages
from openoms.web.routes import (
    admin,
    catalog_pages,
    channel_inbox_pages,
    customer_returns,
    dashboard,
    order_import_pages,
    returns_pages,
    session,
    webhook_pages,
)
from openoms.web.routes import inventory as inventory_pages
from openoms.web.routes import order_changes as order_change_pages
from openoms.web.routes import orders as order_pages
from openoms.web.routes import payments_pages as payment_pages
from openoms.web.routes import phone_orders as phone_order_pages
from openoms.web.routes import stock_ops as stock_ops_pages
from openoms.web.routes import waves as wave_pages

DESCRIPTION = """
OpenOMS captures orders from every sales channel, reserves stock so that no unit is ever sold
twice, and keeps every change on the order's timeline and in the inventory ledger.

**Authentication**: every `/api/v1` call needs an API key with the right scope, sent as
`Authorization: Bearer oms_...` (or `X-API-Key`). Create one with `openoms create-api-key`.

**Errors**: every 4xx has the body
`{"error": {"code": "...", "message": "...", "errors": [{"field": "lines[0].sku", "reason": "..."}]}}`
and changes nothing.

**Retries**: writes accept an `Idempotency-Key` header; orders are also unique per
`(channel, external_order_id)`. A repeat returns the first result.
"""


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = db or Database(settings.database_url, pool_size=settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Not migrated yet, say: the first order loads the network instead.
        with suppress(Exception):
            await asyncio.to_thread(network.warm_up, database)
        yield
        if db is None:
            database.dispose()

    app = FastAPI(
        title="OpenOMS",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "orders", "description": "Capture, query, cancel and hold orders"},
            {"name": "stock", "description": "On hand, reserved, ledger and availability to promise"},
            {"name": "catalogue", "description": "Products (SKUs)"},
            {"name": "locations", "description": "Warehouses, stores, 3PLs and drop-ship suppliers"},
            {"name": "channels", "description": "Sales channels orders come from"},
            {"name": "customers", "description": "Customers, found or created by e-mail"},
            {"name": "returns", "description": "Returns (RMA), their refunds and exchanges, return policies"},
            {"name": "webhooks", "description": "Outgoing webhooks: subscriptions, delivery log, re-send"},
        ],
    )
    app.state.db = database
    app.state.settings = settings
    app.state.key_cache = KeyCache()
    errors.install(app)
    web_errors.install(app)
    app.include_router(orders.router)
    app.include_router(stock.router)
    app.include_router(routing.router)
    app.include_router(inbound.router)
    app.include_router(transfers.router)
    app.include_router(fulfilment.router)
    app.include_router(waves.router)
    app.include_router(tracking_api.router)
    app.include_router(catalog.router)
    app.include_router(channel_inbox_api.router)
    app.include_router(session.router)
    # /orders/new (phone orders) must come before any /orders/{id} page route.
    app.include_router(phone_order_pages.router)
    app.include_router(order_import_pages.router)
    app.include_router(order_pages.router)
    app.include_router(wave_pages.router)
    app.include_router(inventory_pages.router)
    app.include_router(stock_ops_pages.router)
    app.include_router(dashboard.router)
    app.include_router(pages.router)
    app.include_router(catalog_pages.router)
    app.include_router(admin.router)
    app.include_router(payment_webhooks_api.router)  # before /payments/{id}/... routes
    app.include_router(payments_api.router)
    app.include_router(payment_pages.router)
    app.include_router(returns_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(webhook_pages.router)
    app.include_router(channel_inbox_pages.router)
    app.include_router(order_changes_api.router)
    app.include_router(order_change_pages.router)
    app.include_router(returns_pages.router)
    app.include_router(customer_returns.router)
    app.mount("/static", StaticFiles(directory=str(Path(pages.__file__).parent / "static")), name="static")
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    return app
