"""Polling marketplaces for orders, and telling them about shipments (docs/channels.md).

A poll asks for orders updated after the channel's cursor minus an overlap (clocks differ and
Amazon's index is eventually consistent), stores each order version in the channel inbox (key:
order id + LastUpdateDate, so an overlapping window stores nothing twice) and captures it. The
cursor only moves after a poll has read every page, so a poll cut short by throttling or a
network error is simply repeated: resumable without keeping a NextToken that would expire.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from openoms.adapters.channels import amazon
from openoms.adapters.channels.base import ChannelOrderChange, InboundMessage, MappingError
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Channel,
    ChannelConnection,
    FulfilmentLine,
    Order,
    OrderEvent,
    OrderLine,
    PackageLine,
    Shipment,
    ShipmentPackage,
    table,
)
from openoms.config import Settings
from openoms.domain.errors import validation_error
from openoms.services import channel_connections, channel_inbox
from openoms.services.channel_inbox import StoredMessage
from openoms.services.common import Actor, as_utc, utcnow

AMAZON_TOPIC = "amazon/order"
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
OVERLAP = dt.timedelta(minutes=10)
FIRST_LOOKBACK = dt.timedelta(days=7)
ClientFactory = Callable[[amazon.AmazonConfig], amazon.AmazonClient]

channels_t = table(Channel)
connections_t = table(ChannelConnection)
events_t = table(OrderEvent)


def amazon_config(db: Database, settings: Settings, channel: str) -> amazon.AmazonConfig:
    conn = channel_connections.get_connection(db, settings, channel)
    if conn["platform"] != "amazon":
        raise validation_error("channel", f"channel {channel} is connected to {conn['platform']}, not Amazon")
    creds = channel_connections.credentials(db, settings, channel)
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not creds.get(k)]
    marketplaces = conn["settings"].get("marketplace_ids") or []
    if missing or not marketplaces or not conn["base_url"]:
        need = [
            *missing,
            *([] if marketplaces else ["settings.marketplace_ids"]),
            *([] if conn["base_url"] else ["base_url"]),
        ]
        raise validation_error("connection", f"the Amazon connection of {channel} lacks {', '.join(need)}")
    return amazon.AmazonConfig(
        endpoint=str(conn["base_url"]),
        token_url=str(conn["settings"].get("token_url") or DEFAULT_TOKEN_URL),
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        refresh_token=creds["refresh_token"],
        marketplace_ids=[str(m) for m in marketplaces],
    )


def poll_amazon(
    db: Database,
    settings: Settings,
    channel: str,
    *,
    now: dt.datetime | None = None,
    client_factory: ClientFactory = amazon.AmazonClient,
) -> dict[str, Any]:
    """One poll: every order updated since the cursor (minus the overlap) into the inbox."""
    now = now or utcnow()
    config = amazon_config(db, settings, channel)
    options = channel_connections.options(db, channel)
    cursor = _parse(options.get("poll_cursor")) or now - FIRST_LOOKBACK
    since = cursor - OVERLAP
    seen = stored = 0
    newest = cursor
    actor = Actor(f"channel:{channel}")
    try:
        with client_factory(config) as client:
            token: str | None = None
            while True:
                page = client.orders_page(updated_after=since, next_token=token)
                for order in page.get("Orders") or []:
                    seen += 1
                    updated = _parse(order.get("LastUpdateDate")) or now
                    newest = max(newest, updated)
                    wants_items = order.get("FulfillmentChannel") != "AFN" and order.get("OrderStatus") not in (
                        "Pending", "PendingAvailability", "Canceled",
                    )  # fmt: skip
                    items = client.order_items(str(order["AmazonOrderId"])) if wants_items else []
                    message = InboundMessage(
                        channel, "poll", AMAZON_TOPIC,
                        f"amazon:{order['AmazonOrderId']}:{order.get('LastUpdateDate')}",
                        json.dumps({"order": order, "items": items}),
                        external_order_id=str(order["AmazonOrderId"]),
                    )  # fmt: skip
                    result = channel_inbox.receive(db, message)
                    if result["created"]:
                        stored += 1
                        channel_inbox.process(db, result["id"], actor)
                token = page.get("NextToken")
                if not token:
                    break
    except (amazon.ChannelUnavailable, amazon.ChannelRefused) as exc:
        channel_connections.record_contact(db, channel, error=f"poll: {exc}")
        return {"channel": channel, "orders_seen": seen, "stored": stored, "error": str(exc), "cursor": cursor}
    channel_connections.update_options(db, channel, poll_cursor=newest.isoformat())
    channel_connections.record_contact(db, channel, synced=True)
    return {"channel": channel, "orders_seen": seen, "stored": stored, "error": None, "cursor": newest}


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _map_amazon(_db: Database, msg: StoredMessage) -> Sequence[ChannelOrderChange]:
    try:
        body = json.loads(msg.body)
        return amazon.map_order(body["order"], body.get("items") or [], channel=msg.channel)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MappingError("body", f"not a stored Amazon order: {exc}") from None


channel_inbox.register(AMAZON_TOPIC, _map_amazon)


def poll_all(db: Database, now: dt.datetime, *, settings: Settings) -> int:
    """The worker's job: poll every Amazon channel that has credentials."""
    with db.read() as conn:
        codes = (
            conn.execute(
                select(channels_t.c.code)
                .join(connections_t, connections_t.c.channel_id == channels_t.c.id)
                .where(
                    connections_t.c.platform == "amazon",
                    connections_t.c.credentials_encrypted.is_not(None),
                    channels_t.c.active,
                )
            )
            .scalars()
            .all()
        )
    done = 0
    for code in codes:
        result = poll_amazon(db, settings, code, now=now)
        done += int(result["stored"])
    return done


# --------------------------------------------------------------------------- shipments back


def confirm_amazon_shipment(
    db: Database, settings: Settings, shipment_id: int, *, client_factory: ClientFactory = amazon.AmazonClient
) -> int:
    """Tell Amazon about one shipment, a confirmation per package; returns packages confirmed.
    Raises ``ChannelUnavailable`` so the outbox retries; a refusal is put on the timeline."""
    ship_t, pkg_t, pl_t, fl_t = table(Shipment), table(ShipmentPackage), table(PackageLine), table(FulfilmentLine)
    orders_t, lines_t = table(Order), table(OrderLine)
    with db.read() as conn:
        shipment = conn.execute(
            select(ship_t, orders_t.c.external_order_id, channels_t.c.code.label("channel"), connections_t.c.platform)
            .join(orders_t, orders_t.c.id == ship_t.c.order_id)
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .join(connections_t, connections_t.c.channel_id == channels_t.c.id)
            .where(ship_t.c.id == shipment_id)
        ).first()
        if shipment is None or shipment.platform != "amazon" or not shipment.external_order_id:
            return 0
        rows = conn.execute(
            select(pkg_t.c.id, pkg_t.c.tracking_number, pl_t.c.quantity, lines_t.c.external_line_id)
            .join(pl_t, pl_t.c.package_id == pkg_t.c.id)
            .join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
            .join(lines_t, lines_t.c.id == fl_t.c.order_line_id)
            .where(pkg_t.c.shipment_id == shipment_id)
            .order_by(pkg_t.c.id)
        ).all()
        already = {
            int((e.data or {}).get("shipment_id", 0))
            for e in conn.execute(
                select(events_t.c.data).where(
                    events_t.c.order_id == shipment.order_id, events_t.c.event_type == "channel.shipment_confirmed"
                )
            )
        }
    if shipment_id in already or not rows:
        return 0
    config = amazon_config(db, settings, shipment.channel)
    packages: dict[int, list[tuple[str, int]]] = {}
    tracking: dict[int, str] = {}
    for r in rows:
        tracking[r.id] = r.tracking_number
        packages.setdefault(r.id, []).append((str(r.external_line_id), int(r.quantity)))
    shipped_at = as_utc(shipment.shipped_at) or utcnow()
    try:
        with client_factory(config) as client:
            for package_id, items in packages.items():
                body = amazon.shipment_confirmation(
                    marketplace_id=config.marketplace_ids[0], package_reference=str(package_id),
                    carrier=str(shipment.carrier), service=shipment.service_code, tracking_number=tracking[package_id],
                    shipped_at=shipped_at, items=items,
                )  # fmt: skip
                client.confirm_shipment(str(shipment.external_order_id), body)
    except amazon.ChannelRefused as exc:
        message = f"Amazon refused the shipment confirmation: {exc}"
        _timeline(db, int(shipment.order_id), "channel.shipment_refused", message, {"shipment_id": shipment_id})
        channel_connections.record_contact(db, shipment.channel, error=f"confirm shipment: {exc}")
        return 0
    _timeline(
        db, int(shipment.order_id), "channel.shipment_confirmed",
        f"Shipment confirmed to Amazon: {len(packages)} package(s), tracking {', '.join(tracking.values())}",
        {"shipment_id": shipment_id, "packages": len(packages)},
    )  # fmt: skip
    return len(packages)


def _timeline(db: Database, order_id: int, event_type: str, message: str, data: dict[str, Any]) -> None:
    with db.begin() as conn:
        record_order_event(conn, order_id=order_id, event_type=event_type, actor="system", message=message, data=data)


class ChannelShipmentConfirmations:
    """The outbox consumer that tells marketplaces about shipments (Amazon today)."""

    name = "channel-shipments"

    def __init__(self, settings: Settings, client_factory: ClientFactory = amazon.AmazonClient) -> None:
        self.settings = settings
        self.client_factory = client_factory

    def __call__(self, event: Any, db: Database) -> None:
        if event.event_type == "shipment.created" and event.payload.get("shipment_id"):
            confirm_amazon_shipment(
                db, self.settings, int(event.payload["shipment_id"]), client_factory=self.client_factory
            )
