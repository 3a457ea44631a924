"""Customer e-mail from outbox events (docs/notifications.md).

The worker hands every outbox message to ``EmailConsumer``. It sends at most what is not yet
recorded as sent in ``notifications`` (unique per ``dedupe_key``), so re-running a message never
e-mails twice; the one window left is a crash after the SMTP server took the message and before
``sent`` is committed, which resends with the same Message-ID (at least once).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval
from babel.numbers import format_currency
from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_order_event
from openoms.adapters.db.tables import (
    Channel,
    Customer,
    FulfilmentLine,
    Notification,
    Order,
    OrderLine,
    PackageLine,
    Product,
    Shipment,
    ShipmentPackage,
    table,
)
from openoms.adapters.notify import email
from openoms.adapters.notify.templates import Templates
from openoms.config import Settings
from openoms.domain import notifications as rules
from openoms.domain.events import EventType
from openoms.domain.notifications import NotificationStatus, Template
from openoms.domain.orders import order_number
from openoms.services import return_links
from openoms.services.common import utcnow

log = logging.getLogger("openoms.notifications")

notes_t = table(Notification)
orders_t = table(Order)
lines_t = table(OrderLine)
channels_t = table(Channel)
customers_t = table(Customer)
products_t = table(Product)
ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
pl_t = table(PackageLine)
fl_t = table(FulfilmentLine)

ACTOR = "worker:email"
SKIP_NO_ADDRESS = "skipped: the order has no customer e-mail address"
SKIP_NOT_CONFIGURED = "skipped: SMTP not configured (set OPENOMS_SMTP_HOST)"


class NotificationFailed(Exception):
    """The SMTP server refused or could not be reached; the outbox message is retried."""


@dataclass(frozen=True)
class OutboxEvent:
    """What a consumer needs from one outbox row."""

    id: int
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: Mapping[str, Any]
    attempts: int


def _order_id(event: OutboxEvent) -> int | None:
    order = event.payload.get("order")
    if isinstance(order, Mapping) and isinstance(order.get("id"), int):
        return int(order["id"])
    if event.aggregate_type == "order" and event.aggregate_id.isdigit():
        return int(event.aggregate_id)
    return None


# --------------------------------------------------------------------------- context


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _long_date(value: dt.date | None, language: str) -> str | None:
    return format_date(value, format="long", locale=_locale(language)) if value else None


def _window(earliest: dt.date | None, latest: dt.date | None, language: str) -> str | None:
    if latest is None:
        return None
    if earliest is None or earliest == latest:
        return _long_date(latest, language)
    return str(format_interval(earliest, latest, skeleton="yMMMMd", locale=_locale(language)))


ADDRESS_KEYS = ("line1", "line2", "address_line1", "address_line2", "city", "region", "postal_code", "country")


def _address(value: Any) -> str | None:
    """One line for an address given as a mapping (order and location shapes) or as text."""
    if not value:
        return None
    if isinstance(value, Mapping):
        parts = [str(value[k]).strip() for k in ADDRESS_KEYS if value.get(k) and str(value[k]).strip()]
        return ", ".join(parts) or None
    return str(value)


def _order_facts(conn: Connection, order_id: int) -> Any:
    return conn.execute(
        select(
            orders_t.c.id,
            orders_t.c.status,
            orders_t.c.currency,
            orders_t.c.grand_total,
            orders_t.c.language,
            orders_t.c.shipping_address,
            orders_t.c.promised_earliest,
            orders_t.c.promised_latest,
            channels_t.c.code.label("channel_code"),
            channels_t.c.name.label("channel_name"),
            channels_t.c.default_language,
            customers_t.c.email,
            customers_t.c.name.label("customer_name"),
        )
        .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
        .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
        .where(orders_t.c.id == order_id)
    ).first()


def _order_lines(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(lines_t.c.sku, lines_t.c.quantity, lines_t.c.quantity_cancelled, products_t.c.name)
        .join(products_t, products_t.c.id == lines_t.c.product_id)
        .where(lines_t.c.order_id == order_id)
        .order_by(lines_t.c.line_number)
    ).all()
    return [
        {"sku": r.sku, "name": r.name, "quantity": r.quantity - r.quantity_cancelled}
        for r in rows
        if r.quantity > r.quantity_cancelled
    ]


def _shipment(conn: Connection, shipment_id: int, links: Mapping[str, str], fallback: str) -> dict[str, Any] | None:
    s = conn.execute(select(ship_t).where(ship_t.c.id == shipment_id)).first()
    if s is None:
        return None
    packages = conn.execute(
        select(pkg_t.c.tracking_number).where(pkg_t.c.shipment_id == shipment_id).order_by(pkg_t.c.id)
    ).all()
    lines = conn.execute(
        select(fl_t.c.line_number, fl_t.c.sku, products_t.c.name, func.sum(pl_t.c.quantity).label("quantity"))
        .select_from(pl_t)
        .join(pkg_t, pkg_t.c.id == pl_t.c.package_id)
        .join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
        .join(products_t, products_t.c.id == fl_t.c.product_id)
        .where(pkg_t.c.shipment_id == shipment_id)
        .group_by(fl_t.c.line_number, fl_t.c.sku, products_t.c.name)
        .order_by(fl_t.c.line_number)
    ).all()
    return {
        "id": shipment_id,
        "carrier": s.carrier,
        "service_code": s.service_code,
        "packages": [
            {
                "tracking_number": p.tracking_number,
                "tracking_link": rules.tracking_link(s.carrier, p.tracking_number, links, fallback),
            }
            for p in packages
        ],
        "lines": [{"sku": r.sku, "name": r.name, "quantity": int(r.quantity)} for r in lines],
        "partial": False,
        "delivered_on": None,
    }


def _context(
    conn: Connection,
    template: Template,
    event: OutboxEvent,
    order: Any,
    language: str,
    settings: Settings,
) -> dict[str, Any]:
    links = settings.tracking_url_map
    fallback = settings.tracking_url_fallback
    payload = event.payload
    order_lines = _order_lines(conn, int(order.id))
    ctx: dict[str, Any] = {
        "order": {
            "number": order_number(int(order.id)),
            "grand_total": format_currency(Decimal(order.grand_total), order.currency, locale=_locale(language)),
            "lines": order_lines,
            "shipping_address": _address(order.shipping_address),
            "delivery_window": _window(order.promised_earliest, order.promised_latest, language),
        },
        "customer": {"name": order.customer_name, "email": order.email},
        "store": {"name": order.channel_name},
        "lines": order_lines,
        "shipment": None,
        "delay": None,
        "pickup": None,
        "return_link": None,
    }
    if template in (Template.ORDER_SHIPPED, Template.ORDER_DELIVERED):
        sid = payload.get("shipment_id")
        shipment = _shipment(conn, int(sid), links, fallback) if isinstance(sid, int) else None
        if shipment is None:
            raise NotificationFailed(f"shipment {sid!r} of event {event.event_id} is not in the database")
        status = (payload.get("order") or {}).get("status")
        shipment["partial"] = status == "partially_shipped"
        delivered_at = payload.get("delivered_at")
        if template is Template.ORDER_DELIVERED and isinstance(delivered_at, str):
            zone = ZoneInfo(str(payload.get("destination_timezone") or "UTC"))
            local = dt.datetime.fromisoformat(delivered_at).astimezone(zone).date()
            shipment["delivered_on"] = _long_date(local, language)
        ctx["shipment"] = shipment
        ctx["lines"] = shipment["lines"]
        if template is Template.ORDER_SHIPPED and order.email:
            ctx["return_link"] = return_links.return_url(settings, int(order.id), str(order.email), now=utcnow())
    elif template is Template.ORDER_DELAYED:
        number = payload.get("tracking_number")
        carrier = str(payload.get("carrier") or "")
        detail = payload.get("event") if isinstance(payload.get("event"), Mapping) else {}
        ctx["delay"] = {
            "backordered": event.event_type == EventType.ORDER_BACKORDERED.value,
            "tracking_number": number,
            "reason": (detail or {}).get("description") or None,
            "tracking_link": rules.tracking_link(carrier, str(number), links, fallback) if number else None,
        }
    elif template is Template.READY_FOR_PICKUP:
        location = payload.get("pickup_location") if isinstance(payload.get("pickup_location"), Mapping) else {}
        ctx["pickup"] = {
            "code": payload.get("pickup_code") or "",
            "location": {
                "code": (location or {}).get("code"),
                "name": (location or {}).get("name") or (location or {}).get("code") or "",
                "address": _address((location or {}).get("address")),
            },
        }
    return ctx


# --------------------------------------------------------------------------- the record


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _told_latest(conn: Connection, order_id: int) -> dt.date | None:
    """The latest delivery date the customer was last told (by any e-mail that went out)."""
    return conn.execute(
        select(notes_t.c.promised_latest)
        .where(notes_t.c.order_id == order_id, notes_t.c.status == NotificationStatus.SENT.value)
        .order_by(notes_t.c.id.desc())
        .limit(1)
    ).scalar()


def _settle(conn: Connection, key: str, **values: Any) -> None:
    conn.execute(update(notes_t).where(notes_t.c.dedupe_key == key).values(updated_at=utcnow(), **values))


def _record_skip(db: Database, key: str, event: OutboxEvent, order_id: int, template: Template, why: str) -> None:
    """A notification that cannot go out is kept once, as ``skipped``, with the reason."""
    now = utcnow()
    with db.begin() as conn:
        conn.execute(
            _insert(conn)(notes_t)
            .values(
                dedupe_key=key,
                event_id=event.event_id,
                order_id=order_id,
                template=template.value,
                status=NotificationStatus.SKIPPED.value,
                attempts=0,
                error=why,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
    log.info("notification %s for event %s %s", template.value, event.event_id, why)


class EmailConsumer:
    """The outbox consumer that e-mails customers: ``consumer(event, db)`` returns when there
    is nothing (more) to send, raises ``NotificationFailed`` when the outbox should retry."""

    name = "email"

    def __init__(self, settings: Settings, templates: Templates | None = None) -> None:
        self.settings = settings
        self.smtp = email.SmtpSettings.from_settings(settings)
        self.templates = templates or Templates(settings.mail_templates_dir)

    def __call__(self, event: OutboxEvent, db: Database) -> None:
        template = rules.template_for(event.event_type)
        if template is None and event.event_type not in rules.PROMISE_CHANGES:
            return
        order_id = _order_id(event)
        if order_id is None:
            return
        with db.read() as conn:
            order = _order_facts(conn, order_id)
            if order is None:
                return
            if template is None:
                backordered = event.event_type == EventType.ORDER_BACKORDERED.value
                if not rules.is_delay(_told_latest(conn, order_id), order.promised_latest, backordered):
                    return
                template = Template.ORDER_DELAYED
            key = rules.dedupe_key(event.event_type, template, event.event_id, event.payload)
            done = conn.execute(select(notes_t.c.status).where(notes_t.c.dedupe_key == key)).scalar()
            if done in (NotificationStatus.SENT.value, NotificationStatus.SKIPPED.value):
                return
            skip = SKIP_NO_ADDRESS if not order.email else None if self.smtp.enabled else SKIP_NOT_CONFIGURED
            if skip is None:
                languages = rules.language_chain(
                    order.language, order.default_language, self.settings.mail_default_language
                )
                language = self.templates.language_of(template, languages, order.channel_code)
                context = _context(conn, template, event, order, language, self.settings)
        if skip is not None:
            _record_skip(db, key, event, order_id, template, skip)
            return
        rendered = self.templates.render(template, [language], order.channel_code, context)
        mail = email.OutgoingEmail(
            to=str(order.email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=rules.message_id(event.event_id, template, self.smtp.sender_domain),
            language=rendered.language,
        )
        attempt = self._claim(db, key, event, order_id, template, mail)
        if attempt is None:
            return  # another worker recorded it sent in the meantime
        try:
            email.send(mail, self.smtp)
        except Exception as exc:
            self._failed(db, key, order_id, mail, attempt, exc)
            raise NotificationFailed(f"{template.value} to {mail.to}: {exc}") from exc
        self._sent(db, key, order_id, template, mail, order.promised_latest)

    def _claim(
        self, db: Database, key: str, event: OutboxEvent, order_id: int, template: Template, mail: email.OutgoingEmail
    ) -> int | None:
        """Mark the notification ``sending`` before the SMTP call: if the worker dies after
        the server took the message, the row says so (and the retry reuses the Message-ID)."""
        now = utcnow()
        with db.begin() as conn:
            conn.execute(
                _insert(conn)(notes_t)
                .values(
                    dedupe_key=key,
                    event_id=event.event_id,
                    order_id=order_id,
                    template=template.value,
                    status=NotificationStatus.SENDING.value,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
            )
            row = conn.execute(
                select(notes_t.c.status, notes_t.c.attempts).where(notes_t.c.dedupe_key == key).with_for_update()
            ).one()
            if row.status in (NotificationStatus.SENT.value, NotificationStatus.SKIPPED.value):
                return None
            attempt = int(row.attempts) + 1
            _settle(
                conn,
                key,
                status=NotificationStatus.SENDING.value,
                attempts=attempt,
                language=mail.language,
                recipient=mail.to,
                subject=mail.subject,
                message_id=mail.message_id,
            )
        return attempt

    def _sent(
        self,
        db: Database,
        key: str,
        order_id: int,
        template: Template,
        mail: email.OutgoingEmail,
        promised_latest: dt.date | None,
    ) -> None:
        now = utcnow()
        with db.begin() as conn:
            sent = NotificationStatus.SENT.value
            _settle(conn, key, status=sent, sent_at=now, error=None, promised_latest=promised_latest)
            record_order_event(
                conn,
                order_id=order_id,
                event_type=EventType.NOTIFICATION_SENT,
                actor=ACTOR,
                message=f"E-mail '{mail.subject}' sent to {mail.to} "
                f"({rules.TEMPLATE_TITLES[template]}, {mail.language})",
                data={
                    "template": template.value,
                    "recipient": mail.to,
                    "language": mail.language,
                    "message_id": mail.message_id,
                },
                now=now,
            )
        log.info("e-mail %s sent to %s for order %s", template.value, mail.to, order_number(order_id))

    def _failed(
        self, db: Database, key: str, order_id: int, mail: email.OutgoingEmail, attempt: int, exc: Exception
    ) -> None:
        """Record the failure; the timeline hears about the first one only (the retries are the
        worker's business until they run out, and ``openoms outbox`` shows them)."""
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        with db.begin() as conn:
            _settle(conn, key, status=NotificationStatus.FAILED.value, error=reason)
            if attempt == 1:
                record_order_event(
                    conn,
                    order_id=order_id,
                    event_type=EventType.NOTIFICATION_FAILED,
                    actor=ACTOR,
                    message=f"E-mail '{mail.subject}' to {mail.to} could not be sent ({reason}); the worker "
                    "retries it with back-off. If it keeps failing, check the SMTP settings and see "
                    "`openoms outbox`.",
                    data={"recipient": mail.to, "error": reason, "attempt": attempt},
                )
        log.warning("e-mail to %s failed (attempt %d): %s", mail.to, attempt, reason)


def list_notifications(db: Database, order_id: int) -> list[dict[str, Any]]:
    """An order's notifications, oldest first (for the back office and tests)."""
    with db.read() as conn:
        rows = conn.execute(select(notes_t).where(notes_t.c.order_id == order_id).order_by(notes_t.c.id)).all()
    return [dict(r._mapping) for r in rows]
