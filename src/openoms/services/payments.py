"""Payment use cases: authorise, capture (at shipment), void, refund, collect, reconcile, and the
provider's notifications (docs/payments.md, docs/adr/0025-payments.md).

Never call a provider inside a transaction. Every command that talks to a provider runs in
three steps:

1. a unit of work locks the order (then its payments, in id order), checks the rules, and writes
   the intent: a ``payment_transactions`` row in status ``pending`` with its idempotency key,
   money moved to "in flight" (``amount_refund_pending``, pending captures) so a concurrent
   command cannot promise the same money twice; it commits;
2. the provider is called with that idempotency key, outside any transaction;
3. a second unit of work records the answer (only if the transaction is still pending: a retry
   that raced it changes nothing), the timeline, the audit log and the outbox events.

A provider that cannot be reached (``GatewayUnavailable``) leaves the transaction pending: the
same call (same key) may be made again, by the user or by the worker (``PaymentConsumer``),
and the provider returns its first answer instead of charging twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import enqueue, record_audit, record_order_event
from openoms.adapters.db.tables import (
    Customer,
    FulfilmentLine,
    Order,
    OrderHold,
    OrderLine,
    PackageLine,
    Payment,
    PaymentEventRecord,
    PaymentTransaction,
    Refund,
    Shipment,
    ShipmentPackage,
    table,
)
from openoms.adapters.payments.base import (
    AuthorizeRequest,
    GatewayEvent,
    GatewayEventKind,
    GatewayResult,
    GatewayStatus,
    GatewayUnavailable,
)
from openoms.adapters.payments.manual import METHODS as MANUAL_METHODS
from openoms.adapters.payments.registry import get_gateway
from openoms.config import Settings, get_settings
from openoms.domain import money
from openoms.domain import orders as order_rules
from openoms.domain import payments as rules
from openoms.domain.errors import DomainError, ErrorCode, IllegalTransition, NotFound, validation_error
from openoms.domain.events import EventType
from openoms.domain.orders import HoldType, OrderStatus
from openoms.domain.payments import (
    PaymentAmounts,
    PaymentStatus,
    RefundKind,
    RefundStatus,
    TransactionKind,
    TransactionStatus,
)
from openoms.services.common import Actor, utcnow

log = logging.getLogger("openoms.payments")

orders_t = table(Order)
lines_t = table(OrderLine)
holds_t = table(OrderHold)
pay_t = table(Payment)
txn_t = table(PaymentTransaction)
refunds_t = table(Refund)
pevents_t = table(PaymentEventRecord)
ship_t = table(Shipment)
pkg_t = table(ShipmentPackage)
pl_t = table(PackageLine)
fl_t = table(FulfilmentLine)
customers_t = table(Customer)

ZERO = Decimal(0)
PS = PaymentStatus
MAX_REASON = 500


def _scoped(key: str, *, room: int = 0) -> str:
    """An idempotency key that fits its column (255): a longer one keeps its head and a digest
    of the whole, so two different long keys never collide. ``room``: characters kept free for
    a suffix."""
    limit = 255 - room
    if len(key) <= limit:
        return key
    return key[: limit - 65] + ":" + hashlib.sha256(key.encode()).hexdigest()


def _settings(settings: Settings | None) -> Settings:
    return settings or get_settings()


def unavailable(provider: str, exc: Exception) -> DomainError:
    return DomainError(
        ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,
        f"The payment provider {provider} could not be reached ({exc}); nothing was charged twice: "
        "try again with the same Idempotency-Key",
        extra={"provider": provider},
    )


# --- reading state ----------------------------------------------------------------------------


def _lock_order(conn: Connection, order_id: int) -> Any:
    """Lock the order row first: payment commands on one order run one at a time, and in the
    same lock order as every other order command (order, then its payments)."""
    row = conn.execute(select(orders_t).where(orders_t.c.id == order_id).with_for_update()).first()
    if row is None:
        raise NotFound("Order", order_rules.order_number(order_id))
    return row


def _payment_rows(conn: Connection, order_id: int, *, lock: bool = False) -> list[Any]:
    stmt = select(pay_t).where(pay_t.c.order_id == order_id).order_by(pay_t.c.id)
    if lock:
        stmt = stmt.with_for_update()
    return list(conn.execute(stmt).all())


def _lock_payment(conn: Connection, payment_id: int) -> tuple[Any, Any]:
    """(order, payment), locked in that order."""
    found = conn.execute(select(pay_t.c.order_id).where(pay_t.c.id == payment_id)).scalar()
    if found is None:
        raise NotFound("Payment", payment_id)
    order = _lock_order(conn, int(found))
    payment = conn.execute(select(pay_t).where(pay_t.c.id == payment_id).with_for_update()).one()
    return order, payment


def _capture_pending(conn: Connection, payment_ids: Sequence[int]) -> dict[int, Decimal]:
    if not payment_ids:
        return {}
    rows = conn.execute(
        select(txn_t.c.payment_id, func.sum(txn_t.c.amount))
        .where(
            txn_t.c.payment_id.in_(list(payment_ids)),
            txn_t.c.kind == TransactionKind.CAPTURE.value,
            txn_t.c.status == TransactionStatus.PENDING.value,
        )
        .group_by(txn_t.c.payment_id)
    ).all()
    return {int(r[0]): Decimal(r[1]) for r in rows}


def _amounts(row: Any, capture_pending: Decimal = ZERO) -> PaymentAmounts:
    return PaymentAmounts(
        payment_id=int(row.id),
        status=PaymentStatus(row.status),
        authorized=Decimal(row.amount_authorized),
        captured=Decimal(row.amount_captured),
        refunded=Decimal(row.amount_refunded),
        refund_pending=Decimal(row.amount_refund_pending),
        capture_closed=bool(row.capture_closed),
        capture_pending=capture_pending,
    )


def _all_amounts(conn: Connection, rows: Sequence[Any]) -> list[PaymentAmounts]:
    pending = _capture_pending(conn, [int(r.id) for r in rows])
    return [_amounts(r, pending.get(int(r.id), ZERO)) for r in rows]


def _order_lines(conn: Connection, order_id: int) -> list[rules.LineMoney]:
    rows = conn.execute(select(lines_t).where(lines_t.c.order_id == order_id).order_by(lines_t.c.line_number)).all()
    return [
        rules.LineMoney(
            int(r.id),
            int(r.quantity),
            Decimal(r.unit_price),
            Decimal(r.discount),
            Decimal(r.tax),
            int(r.quantity_cancelled),
        )
        for r in rows
    ]


def _shipping(order: Any, lines: Sequence[rules.LineMoney]) -> Decimal:
    """Shipping charged with its tax: the order's tax beyond its lines' tax is shipping's."""
    line_tax = sum((ln.tax for ln in lines), ZERO)
    return Decimal(order.shipping_total) + max(ZERO, Decimal(order.tax_total) - line_tax)


def _payable(conn: Connection, order: Any) -> Decimal:
    lines = _order_lines(conn, int(order.id))
    return rules.payable_total(lines, _shipping(order, lines), order.currency)


def _refresh_status(conn: Connection, order: Any, now: dt.datetime) -> rules.OrderPaymentStatus:
    """Recompute the order's payment status from its payments (caller holds the order lock)."""
    rows = _payment_rows(conn, int(order.id))
    status = rules.order_payment_status(_all_amounts(conn, rows), _payable(conn, order))
    conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order.id)
        .values(payment_status=status.value, updated_at=now, version=orders_t.c.version + 1)
    )
    return status


# --- holds ------------------------------------------------------------------------------------


def _active_payment_hold(conn: Connection, order_id: int) -> bool:
    return (
        conn.execute(
            select(holds_t.c.id).where(
                holds_t.c.order_id == order_id,
                holds_t.c.hold_type == HoldType.PAYMENT.value,
                holds_t.c.released_at.is_(None),
            )
        ).first()
        is not None
    )


def _place_payment_hold(conn: Connection, order: Any, reason: str, actor: Actor, now: dt.datetime) -> bool:
    """Hold the order for payment (it cannot be released); an order already with the warehouse
    cannot be held, and one already on payment hold keeps its hold."""
    order_id = int(order.id)
    if OrderStatus(order.status) not in order_rules.HOLDABLE_ORDER or _active_payment_hold(conn, order_id):
        return False
    reason = reason[:MAX_REASON]
    conn.execute(
        insert(holds_t).values(
            order_id=order_id, hold_type=HoldType.PAYMENT.value, reason=reason, placed_by=actor.name, placed_at=now
        )
    )
    ref = order_rules.order_number(order_id)
    record_order_event(
        conn,
        order_id=order_id,
        event_type=EventType.ORDER_HOLD_PLACED,
        actor=actor.name,
        message=f"Payment hold placed: {reason}",
        data={"hold": HoldType.PAYMENT.value, "reason": reason},
        publish={"order": {"id": order_id, "order_number": ref}, "hold": HoldType.PAYMENT.value, "reason": reason},
        now=now,
    )
    return True


def _release_payment_hold(conn: Connection, order_id: int, reason: str, actor: Actor, now: dt.datetime) -> bool:
    if not _active_payment_hold(conn, order_id):
        return False
    conn.execute(
        update(holds_t)
        .where(
            holds_t.c.order_id == order_id,
            holds_t.c.hold_type == HoldType.PAYMENT.value,
            holds_t.c.released_at.is_(None),
        )
        .values(released_at=now, released_by=actor.name, release_reason=reason)
    )
    ref = order_rules.order_number(order_id)
    record_order_event(
        conn,
        order_id=order_id,
        event_type=EventType.ORDER_HOLD_RELEASED,
        actor=actor.name,
        message=f"Payment hold released: {reason}",
        data={"hold": HoldType.PAYMENT.value, "reason": reason},
        publish={"order": {"id": order_id, "order_number": ref}, "hold": HoldType.PAYMENT.value, "reason": reason},
        now=now,
    )
    return True


# --- views ------------------------------------------------------------------------------------


def _q(amount: Any, currency: str) -> Decimal:
    return money.quantize(Decimal(amount), currency)


def _payment_dict(row: Any, capture_pending: Decimal = ZERO) -> dict[str, Any]:
    cur = row.currency
    a = _amounts(row, capture_pending)
    return {
        "id": int(row.id),
        "order_id": int(row.order_id),
        "order_number": order_rules.order_number(int(row.order_id)),
        "provider": row.provider,
        "method": row.method,
        "reference": row.reference,
        "currency": cur,
        "status": row.status,
        "amount_requested": _q(row.amount_requested, cur),
        "amount_authorized": _q(row.amount_authorized, cur),
        "amount_captured": _q(row.amount_captured, cur),
        "amount_refunded": _q(row.amount_refunded, cur),
        "amount_refund_pending": _q(row.amount_refund_pending, cur),
        "capturable": _q(a.capturable, cur),
        "refundable": _q(a.refundable, cur),
        "capture_closed": bool(row.capture_closed),
        "review_reason": row.review_reason,
        "flagged_at": row.flagged_at,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _txn_dict(row: Any, currency: str) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "payment_id": int(row.payment_id),
        "refund_id": row.refund_id,
        "kind": row.kind,
        "amount": _q(row.amount, currency),
        "final": bool(row.final),
        "status": row.status,
        "reference": row.reference,
        "error_code": row.error_code,
        "message": row.message,
        "actor": row.actor,
        "created_at": row.created_at,
        "completed_at": row.completed_at,
    }


def _refund_dict(conn: Connection, row: Any) -> dict[str, Any]:
    cur = row.currency
    parts = conn.execute(select(txn_t).where(txn_t.c.refund_id == row.id).order_by(txn_t.c.id)).all()
    return {
        "id": int(row.id),
        "order_id": int(row.order_id),
        "amount": _q(row.amount, cur),
        "amount_refunded": _q(row.amount_refunded, cur),
        "currency": cur,
        "kind": row.kind,
        "reason": row.reason,
        "status": row.status,
        "return_id": row.return_id,
        "requested_by": row.requested_by,
        "created_at": row.created_at,
        "completed_at": row.completed_at,
        "payments": [
            {
                "payment_id": int(t.payment_id),
                "amount": _q(t.amount, cur),
                "status": t.status,
                "reference": t.reference,
                "error_code": t.error_code,
                "message": t.message,
            }
            for t in parts
        ],
    }


def get_payment(db: Database, payment_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return _payment_view(conn, payment_id)


def _payment_view(conn: Connection, payment_id: int) -> dict[str, Any]:
    row = conn.execute(select(pay_t).where(pay_t.c.id == payment_id)).first()
    if row is None:
        raise NotFound("Payment", payment_id)
    out = _payment_dict(row, _capture_pending(conn, [payment_id]).get(payment_id, ZERO))
    out["transactions"] = [
        _txn_dict(t, row.currency)
        for t in conn.execute(select(txn_t).where(txn_t.c.payment_id == payment_id).order_by(txn_t.c.id)).all()
    ]
    return out


def get_refund(db: Database, refund_id: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(select(refunds_t).where(refunds_t.c.id == refund_id)).first()
        if row is None:
            raise NotFound("Refund", refund_id)
        return _refund_dict(conn, row)


def list_payments(db: Database, order_id: int) -> dict[str, Any]:
    """The order's money: its roll-up, each payment with its transactions, and its refunds."""
    with db.read() as conn:
        order = conn.execute(select(orders_t).where(orders_t.c.id == order_id)).first()
        if order is None:
            raise NotFound("Order", order_rules.order_number(order_id))
        cur = order.currency
        rows = _payment_rows(conn, order_id)
        amounts = _all_amounts(conn, rows)
        payable = _payable(conn, order)
        txns: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if rows:
            for t in conn.execute(
                select(txn_t).where(txn_t.c.payment_id.in_([int(r.id) for r in rows])).order_by(txn_t.c.id)
            ).all():
                txns[int(t.payment_id)].append(_txn_dict(t, cur))
        payments = []
        for r, a in zip(rows, amounts, strict=True):
            d = _payment_dict(r, a.capture_pending)
            d["transactions"] = txns[int(r.id)]
            payments.append(d)
        refunds = [
            _refund_dict(conn, r)
            for r in conn.execute(
                select(refunds_t).where(refunds_t.c.order_id == order_id).order_by(refunds_t.c.id)
            ).all()
        ]
        live = [a for a in amounts if a.status not in (PS.FAILED, PS.VOIDED)]
        captured = sum((a.captured for a in live), ZERO)
        refunded = sum((a.refunded for a in live), ZERO)
        return {
            "order_id": order_id,
            "order_number": order_rules.order_number(order_id),
            "currency": cur,
            "payment_status": order.payment_status,
            "payable_total": _q(payable, cur),
            "authorized": _q(sum((a.capturable for a in live), ZERO), cur),
            "captured": _q(captured, cur),
            "refunded": _q(refunded, cur),
            "net_paid": _q(captured - refunded, cur),
            "refundable": _q(sum((a.refundable for a in live), ZERO), cur),
            "balance_due": _q(max(ZERO, payable - (captured - refunded)), cur),
            "payments": payments,
            "refunds": refunds,
        }


def review_queue(db: Database, *, limit: int = 200) -> list[dict[str, Any]]:
    """Payments flagged for a person: declined, failed captures or refunds, disputes. Newest first."""
    with db.read() as conn:
        rows = conn.execute(
            select(pay_t).where(pay_t.c.flagged_at.is_not(None)).order_by(pay_t.c.flagged_at.desc()).limit(limit)
        ).all()
        pending = _capture_pending(conn, [int(r.id) for r in rows])
        out = []
        for r in rows:
            d = _payment_dict(r, pending.get(int(r.id), ZERO))
            d["order_status"] = conn.execute(select(orders_t.c.status).where(orders_t.c.id == r.order_id)).scalar()
            out.append(d)
        return out


def clear_review(db: Database, payment_id: int, *, note: str, actor: Actor) -> dict[str, Any]:
    """A person looked at a flagged payment: take it off the review queue, with why."""
    note = note.strip()
    if not note:
        raise validation_error("note", "say what was done about it")
    with db.begin() as conn:
        order, payment = _lock_payment(conn, payment_id)
        if payment.flagged_at is None:
            raise DomainError(ErrorCode.ILLEGAL_TRANSITION, f"Payment {payment_id} is not flagged for review")
        now = utcnow()
        conn.execute(update(pay_t).where(pay_t.c.id == payment_id).values(flagged_at=None, updated_at=now))
        _timeline(
            conn,
            order,
            EventType.PAYMENT_EVENT,
            actor,
            f"Payment {payment_id} reviewed: {note[:MAX_REASON]} (was: {payment.review_reason or 'flagged'})",
            {"payment_id": payment_id, "note": note[:MAX_REASON]},
            now,
            publish=False,
        )
    return get_payment(db, payment_id)


# --- timeline / outbox --------------------------------------------------------------------------


def _timeline(
    conn: Connection,
    order: Any,
    event: EventType,
    actor: Actor,
    message: str,
    data: dict[str, Any],
    now: dt.datetime,
    *,
    publish: bool = True,
    status: rules.OrderPaymentStatus | None = None,
) -> None:
    order_id = int(order.id)
    ref = order_rules.order_number(order_id)
    payload = None
    if publish:
        payload = {
            "order": {
                "id": order_id,
                "order_number": ref,
                "payment_status": (status.value if status else None) or order.payment_status,
            },
            **data,
        }
    record_order_event(
        conn,
        order_id=order_id,
        event_type=event,
        actor=actor.name,
        message=message,
        data=data,
        publish=payload,
        now=now,
    )


def _jsonable(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    out: dict[str, Any] = {}
    for k, v in raw.items():
        out[str(k)] = v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
    return out


def _flag(conn: Connection, payment_id: int, reason: str, now: dt.datetime) -> None:
    conn.execute(
        update(pay_t).where(pay_t.c.id == payment_id).values(review_reason=reason[:MAX_REASON], flagged_at=now)
    )


# --- authorise ----------------------------------------------------------------------------------


def _owed(conn: Connection, order: Any) -> Decimal:
    """What the order still needs beyond what is captured (net), held, or awaited."""
    rows = _payment_rows(conn, int(order.id))
    amounts = _all_amounts(conn, rows)
    covered = ZERO
    for r, a in zip(rows, amounts, strict=True):
        if a.status in (PS.PENDING, PS.REQUIRES_ACTION):
            covered += Decimal(r.amount_requested)
        elif a.status in rules.HOLDS_MONEY:
            covered += a.captured - a.refunded - a.refund_pending + a.capturable
    return _payable(conn, order) - covered


def _check_amount(amount: Decimal, currency: str, field: str = "amount") -> None:
    if amount <= 0:
        raise validation_error(field, "must be more than zero")
    if not money.fits_currency(amount, currency):
        raise validation_error(
            field, f"{amount} has more decimals than {currency} allows ({money.minor_units(currency)})"
        )
    if amount >= Decimal(10) ** 14:
        raise validation_error(field, "is larger than OpenOMS stores")


def authorize_payment(
    db: Database,
    order_id: int,
    *,
    provider: str,
    payment_method: str,
    amount: Decimal | None = None,
    actor: Actor,
    idempotency_key: str,
    settings: Settings | None = None,
    metadata: Mapping[str, str] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Authorise ``amount`` (None: what the order still needs) on a payment method.

    Declined: the payment is ``failed`` and flagged, the order goes on payment hold with the
    provider's message. ``requires_action``/``pending``: the hold stays until the answer comes
    (``apply_gateway_event``). Authorised: a payment hold on the order is released. The same
    ``idempotency_key`` returns the first payment; the provider is asked again only when its
    first answer never arrived."""
    cfg = _settings(settings)
    gateway = get_gateway(provider, cfg)
    method = (payment_method or "").strip()
    if not method:
        raise validation_error("payment_method", "is required")
    if len(method) > 128:
        raise validation_error("payment_method", "is longer than 128 characters")
    key = _scoped(f"o{order_id}:auth:{idempotency_key}")
    now = utcnow()
    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        cur = order.currency
        existing = conn.execute(select(pay_t).where(pay_t.c.idempotency_key == key)).first()
        if existing is not None:
            txn = conn.execute(select(txn_t).where(txn_t.c.idempotency_key == key)).one()
            if txn.status != TransactionStatus.PENDING.value:
                return _payment_view(conn, int(existing.id))
            payment_id, amount, method = int(existing.id), Decimal(existing.amount_requested), existing.method
        else:
            if amount is None:
                amount = money.quantize(_owed(conn, order), cur)
                if amount <= 0:
                    raise validation_error("amount", "the order owes nothing more; give an amount to authorise")
            else:
                _check_amount(amount, cur)
            payment_id = int(
                conn.execute(
                    insert(pay_t)
                    .values(
                        order_id=order_id,
                        provider=gateway.name,
                        method=method,
                        currency=cur,
                        amount_requested=amount,
                        status=PS.PENDING.value,
                        idempotency_key=key,
                        created_by=actor.name,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(pay_t.c.id)
                ).scalar_one()
            )
            conn.execute(
                insert(txn_t).values(
                    payment_id=payment_id,
                    kind=TransactionKind.AUTHORIZE.value,
                    amount=amount,
                    status=TransactionStatus.PENDING.value,
                    idempotency_key=key,
                    actor=actor.name,
                    created_at=now,
                )
            )
        email = None
        if order.customer_id is not None:
            email = conn.execute(select(customers_t.c.email).where(customers_t.c.id == order.customer_id)).scalar()
        request = AuthorizeRequest(
            amount=amount,
            currency=cur,
            idempotency_key=key,
            payment_method=method,
            order_reference=order_rules.order_number(order_id),
            customer_email=email,
            description=reason,
            metadata=dict(metadata or {}),
        )
    try:
        result = gateway.authorize(request)
    except GatewayUnavailable as exc:
        with db.begin() as conn:
            order = _lock_order(conn, order_id)
            now = utcnow()
            _place_payment_hold(
                conn, order, f"payment provider {provider} unavailable; authorisation pending", actor, now
            )
            _timeline(
                conn,
                order,
                EventType.PAYMENT_UNAVAILABLE,
                actor,
                f"Payment provider {provider} could not be reached to authorise {amount} {order.currency}: {exc}",
                {"payment_id": payment_id, "provider": provider},
                now,
                publish=False,
            )
        raise unavailable(provider, exc) from exc
    with db.begin() as conn:
        _record_authorization(conn, payment_id, result, actor, reason=reason)
        return _payment_view(conn, payment_id)


def _record_authorization(
    conn: Connection, payment_id: int, result: GatewayResult, actor: Actor, *, reason: str | None = None
) -> None:
    order, payment = _lock_payment(conn, payment_id)
    txn = conn.execute(
        select(txn_t).where(txn_t.c.payment_id == payment_id, txn_t.c.kind == TransactionKind.AUTHORIZE.value)
    ).one()
    if txn.status != TransactionStatus.PENDING.value:
        return  # a retry recorded it first
    now = utcnow()
    cur = order.currency
    amount = money.quantize(result.amount, cur)
    conn.execute(
        update(txn_t)
        .where(txn_t.c.id == txn.id)
        .values(
            status={
                GatewayStatus.SUCCEEDED: TransactionStatus.SUCCEEDED,
                GatewayStatus.FAILED: TransactionStatus.FAILED,
                GatewayStatus.REQUIRES_ACTION: TransactionStatus.REQUIRES_ACTION,
                GatewayStatus.PENDING: TransactionStatus.ACCEPTED,
            }[result.status].value,
            reference=result.reference,
            error_code=result.error_code,
            message=(result.message or "")[:MAX_REASON] or None,
            raw=_jsonable(result.raw),
            completed_at=now,
        )
    )
    data: dict[str, Any] = {
        "payment_id": payment_id,
        "provider": payment.provider,
        "method": payment.method,
        "amount": str(amount),
        "currency": cur,
        "reference": result.reference,
    }
    why = f" ({reason})" if reason else ""
    values: dict[str, Any] = {"reference": result.reference or payment.reference, "updated_at": now}
    if result.succeeded:
        values.update(status=PS.AUTHORIZED.value, amount_authorized=amount)
        conn.execute(update(pay_t).where(pay_t.c.id == payment_id).values(**values))
        # Earlier declines on this order are answered by this authorisation.
        conn.execute(
            update(pay_t)
            .where(pay_t.c.order_id == order.id, pay_t.c.status == PS.FAILED.value, pay_t.c.flagged_at.is_not(None))
            .values(flagged_at=None)
        )
        _release_payment_hold(conn, int(order.id), f"payment {payment_id} authorised", actor, now)
        status = _refresh_status(conn, order, now)
        _timeline(
            conn,
            order,
            EventType.PAYMENT_AUTHORIZED,
            actor,
            f"Payment authorised: {amount} {cur} by {payment.provider} ({payment.method}){why}",
            data,
            now,
            status=status,
        )
    elif result.status == GatewayStatus.FAILED:
        text = f"{result.error_code or 'failed'}: {result.message or 'declined'}"
        values.update(
            status=PS.FAILED.value, review_reason=f"authorisation failed - {text}"[:MAX_REASON], flagged_at=now
        )
        conn.execute(update(pay_t).where(pay_t.c.id == payment_id).values(**values))
        status = _refresh_status(conn, order, now)
        _timeline(
            conn,
            order,
            EventType.PAYMENT_FAILED,
            actor,
            f"Payment of {amount} {cur} by {payment.provider} ({payment.method}) declined: {text}{why}",
            {**data, "error_code": result.error_code, "message": result.message},
            now,
            status=status,
        )
        _place_payment_hold(conn, order, f"payment declined - {text}", actor, now)
    else:
        action = result.status == GatewayStatus.REQUIRES_ACTION
        target = PS.REQUIRES_ACTION if action else PS.PENDING
        values.update(status=target.value)
        conn.execute(update(pay_t).where(pay_t.c.id == payment_id).values(**values))
        status = _refresh_status(conn, order, now)
        what = "needs the customer's action" if action else "is pending"
        _timeline(
            conn,
            order,
            EventType.PAYMENT_ACTION_REQUIRED if action else EventType.PAYMENT_PENDING,
            actor,
            f"Payment of {amount} {cur} by {payment.provider} ({payment.method}) {what}"
            + (f": {result.message}" if result.message else "")
            + why,
            data,
            now,
            status=status,
        )
        _place_payment_hold(conn, order, f"payment {payment_id} {what}", actor, now)


def record_manual_payment(
    db: Database,
    order_id: int,
    *,
    method: str,
    amount: Decimal,
    reference: str | None,
    actor: Actor,
    idempotency_key: str,
    expected: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A user records money received by cash, cheque, bank transfer or another way: authorised
    and captured at once. ``expected``: not received yet; it stays pending (and the order on
    payment hold) until ``mark_received``."""
    if method not in MANUAL_METHODS:
        raise validation_error("method", f"must be one of {', '.join(MANUAL_METHODS)}")
    reference = (reference or "").strip() or None
    if reference and len(reference) > 255:
        raise validation_error("reference", "is longer than 255 characters")
    meta = {"expected": "true" if expected else "false"}
    if reference:
        meta["reference"] = reference
    payment = authorize_payment(
        db,
        order_id,
        provider="manual",
        payment_method=method,
        amount=amount,
        actor=actor,
        idempotency_key=f"manual:{idempotency_key}",
        settings=settings,
        metadata=meta,
        reason="recorded by hand",
    )
    if payment["status"] == PS.AUTHORIZED.value:
        return capture_payment(
            db,
            payment["id"],
            payment["amount_authorized"],
            actor=actor,
            idempotency_key=f"manual:{idempotency_key}",
            final=True,
            settings=settings,
        )
    return payment


def mark_received(db: Database, payment_id: int, *, actor: Actor, note: str | None = None) -> dict[str, Any]:
    """An expected manual payment arrived: it is captured in full and the payment hold released."""
    with db.begin() as conn:
        order, payment = _lock_payment(conn, payment_id)
        if payment.provider != "manual" or payment.status != PS.PENDING.value:
            raise IllegalTransition(
                f"Payment {payment_id} is {payment.status} ({payment.provider}); only an expected manual payment "
                "can be marked received",
                payment.status,
                "captured",
            )
        now = utcnow()
        amount = Decimal(payment.amount_requested)
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == payment_id)
            .values(
                status=PS.CAPTURED.value,
                amount_authorized=amount,
                amount_captured=amount,
                capture_closed=True,
                updated_at=now,
            )
        )
        conn.execute(
            insert(txn_t).values(
                payment_id=payment_id,
                kind=TransactionKind.CAPTURE.value,
                amount=amount,
                final=True,
                status=TransactionStatus.SUCCEEDED.value,
                idempotency_key=f"p{payment_id}:received",
                reference=payment.reference,
                message=(note or "marked received")[:MAX_REASON],
                actor=actor.name,
                created_at=now,
                completed_at=now,
            )
        )
        _release_payment_hold(conn, int(order.id), f"payment {payment_id} received", actor, now)
        status = _refresh_status(conn, order, now)
        _timeline(
            conn,
            order,
            EventType.PAYMENT_CAPTURED,
            actor,
            f"Payment received: {_q(amount, order.currency)} {order.currency} by {payment.method}"
            + (f" ({note})" if note else ""),
            {"payment_id": payment_id, "amount": str(amount), "currency": order.currency, "final": True},
            now,
            status=status,
        )
        return _payment_view(conn, payment_id)


# --- payment given with the order ---------------------------------------------------------------


@dataclass(frozen=True)
class CapturePayment:
    """The ``payment`` of an order capture: ``reference`` for an authorisation the channel took
    (recorded, no provider call), or ``payment_method`` to authorise right after the capture."""

    provider: str
    payment_method: str | None = None
    reference: str | None = None
    amount: Decimal | None = None
    status: str = "authorized"  # with reference: authorized or captured


def check_capture_payment(payment: CapturePayment, currency: str, settings: Settings | None = None) -> None:
    """Refuse a bad ``payment`` before the order is captured: nothing is written then."""
    if (payment.payment_method is None) == (payment.reference is None):
        raise validation_error(
            "payment", "give either payment_method (authorise now) or reference (already authorised), not both"
        )
    try:
        get_gateway(payment.provider, _settings(settings))
    except DomainError:
        raise validation_error("payment.provider", f"unknown payment provider {payment.provider!r}") from None
    if payment.amount is not None:
        if payment.amount <= 0:
            raise validation_error("payment.amount", "must be more than zero")
        if money.is_currency(currency) and not money.fits_currency(payment.amount, currency):
            raise validation_error("payment.amount", f"{payment.amount} has more decimals than {currency} allows")
    if payment.status not in ("authorized", "captured"):
        raise validation_error("payment.status", "must be authorized or captured")


def capture_order_with_payment(
    db: Database,
    cmd: Any,
    payment: CapturePayment | None,
    actor: Actor,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    settings: Settings | None = None,
) -> Any:
    """``orders.capture_order``, then the payment outside the capture's transaction (ADR 0025):
    the capture's hot path is untouched, and a replayed capture records the payment once (its
    key derives from the order). A provider that cannot be reached leaves the order on payment
    hold; it is not an error for the capture."""
    from openoms.services import orders  # orders → fulfillment → payments: imported late

    if payment is not None:
        check_capture_payment(payment, cmd.currency, settings)
    result = orders.capture_order(db, cmd, actor, idempotency_key=idempotency_key, request_hash=request_hash)
    if payment is None:
        return result
    if payment.reference is not None:
        record_channel_payment(
            db,
            result.order_id,
            provider=payment.provider,
            reference=payment.reference,
            amount=payment.amount,
            captured=payment.status == "captured",
            actor=actor,
        )
    else:
        try:
            authorize_payment(
                db,
                result.order_id,
                provider=payment.provider,
                payment_method=payment.payment_method or "",
                amount=payment.amount,
                actor=actor,
                idempotency_key="at-capture",
                settings=settings,
            )
        except DomainError as exc:
            if exc.code != ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE:
                raise
    return orders.CaptureResult(result.order_id, result.created, None)


def record_channel_payment(
    db: Database,
    order_id: int,
    *,
    provider: str,
    reference: str,
    amount: Decimal | None,
    captured: bool,
    actor: Actor,
) -> dict[str, Any]:
    """Record an authorisation (or a capture) the channel already took at the provider: no call."""
    key = _scoped(f"o{order_id}:channel:{provider}:{reference}", room=16)
    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        existing = conn.execute(select(pay_t.c.id).where(pay_t.c.idempotency_key == key)).scalar()
        if existing is not None:
            return _payment_view(conn, int(existing))
        cur = order.currency
        amount = money.quantize(amount if amount is not None else Decimal(order.grand_total), cur)
        now = utcnow()
        status = PS.CAPTURED if captured else PS.AUTHORIZED
        payment_id = int(
            conn.execute(
                insert(pay_t)
                .values(
                    order_id=order_id,
                    provider=provider,
                    method="channel",
                    reference=reference,
                    currency=cur,
                    amount_requested=amount,
                    amount_authorized=amount,
                    amount_captured=amount if captured else ZERO,
                    capture_closed=captured,
                    status=status.value,
                    idempotency_key=key,
                    created_by=actor.name,
                    created_at=now,
                    updated_at=now,
                )
                .returning(pay_t.c.id)
            ).scalar_one()
        )
        kinds = [TransactionKind.AUTHORIZE] + ([TransactionKind.CAPTURE] if captured else [])
        conn.execute(
            insert(txn_t),
            [
                {
                    "payment_id": payment_id,
                    "kind": k.value,
                    "amount": amount,
                    "final": k == TransactionKind.CAPTURE,
                    "status": TransactionStatus.SUCCEEDED.value,
                    "idempotency_key": f"{key}:{k.value}",
                    "reference": reference,
                    "message": "taken by the channel",
                    "actor": actor.name,
                    "created_at": now,
                    "completed_at": now,
                }
                for k in kinds
            ],
        )
        pay_status = _refresh_status(conn, order, now)
        _timeline(
            conn,
            order,
            EventType.PAYMENT_CAPTURED if captured else EventType.PAYMENT_AUTHORIZED,
            actor,
            f"Payment {'captured' if captured else 'authorised'} by the channel: {amount} {cur} at {provider} "
            f"({reference})",
            {"payment_id": payment_id, "provider": provider, "reference": reference, "amount": str(amount)},
            now,
            status=pay_status,
        )
        return _payment_view(conn, payment_id)


# --- capture / void: intent, call, record ----------------------------------------------------------


def _open_transaction(
    conn: Connection,
    payment: Any,
    kind: TransactionKind,
    amount: Decimal,
    key: str,
    actor: Actor,
    now: dt.datetime,
    *,
    final: bool = False,
    refund_id: int | None = None,
) -> int:
    return int(
        conn.execute(
            insert(txn_t)
            .values(
                payment_id=payment.id,
                refund_id=refund_id,
                kind=kind.value,
                amount=amount,
                final=final,
                status=TransactionStatus.PENDING.value,
                idempotency_key=key,
                actor=actor.name,
                created_at=now,
            )
            .returning(txn_t.c.id)
        ).scalar_one()
    )


def _call(txn: Any, payment: Any, settings: Settings, reason: str | None = None) -> GatewayResult:
    """One provider call for a pending transaction; raises ``GatewayUnavailable``."""
    gateway = get_gateway(payment.provider, settings)
    amount = Decimal(txn.amount)
    if txn.kind == TransactionKind.CAPTURE.value:
        return gateway.capture(
            payment.reference, amount, payment.currency, idempotency_key=txn.idempotency_key, final=bool(txn.final)
        )
    if txn.kind == TransactionKind.VOID.value:
        return gateway.void(payment.reference, idempotency_key=txn.idempotency_key)
    if txn.kind == TransactionKind.REFUND.value:
        return gateway.refund(
            payment.reference, amount, payment.currency, idempotency_key=txn.idempotency_key, reason=reason
        )
    raise ValueError(f"transaction {txn.id}: {txn.kind} is not called this way")


def _run(db: Database, txn_ids: Sequence[int], actor: Actor, settings: Settings) -> tuple[int, list[str]]:
    """Call the provider for each pending transaction, then record every answer in one unit of
    work. Returns (answers recorded, providers that could not be reached)."""
    if not txn_ids:
        return 0, []
    with db.read() as conn:
        txns = conn.execute(select(txn_t).where(txn_t.c.id.in_(list(txn_ids))).order_by(txn_t.c.id)).all()
        pays = {
            int(p.id): p
            for p in conn.execute(select(pay_t).where(pay_t.c.id.in_([int(t.payment_id) for t in txns]))).all()
        }
        reasons = {
            int(r.id): r.reason
            for r in conn.execute(
                select(refunds_t.c.id, refunds_t.c.reason).where(
                    refunds_t.c.id.in_([int(t.refund_id) for t in txns if t.refund_id is not None])
                )
            ).all()
        }
    results: list[tuple[int, GatewayResult]] = []
    down: list[str] = []
    for t in txns:
        if t.status != TransactionStatus.PENDING.value:
            continue
        p = pays[int(t.payment_id)]
        try:
            results.append((int(t.id), _call(t, p, settings, reasons.get(int(t.refund_id or 0)))))
        except GatewayUnavailable as exc:
            log.warning("payment %s: provider %s unavailable for %s: %s", p.id, p.provider, t.kind, exc)
            down.append(p.provider)
    if results:
        with db.begin() as conn:
            _record_results(conn, results, actor)
    return len(results), down


def _record_results(conn: Connection, results: Sequence[tuple[int, GatewayResult]], actor: Actor) -> None:
    txns = {int(t.id): t for t in conn.execute(select(txn_t).where(txn_t.c.id.in_([i for i, _ in results]))).all()}
    pay_ids = sorted({int(t.payment_id) for t in txns.values()})
    order_id = int(conn.execute(select(pay_t.c.order_id).where(pay_t.c.id == pay_ids[0])).scalar_one())
    order = _lock_order(conn, order_id)
    conn.execute(select(pay_t.c.id).where(pay_t.c.id.in_(pay_ids)).order_by(pay_t.c.id).with_for_update()).all()
    now = utcnow()
    refunds_touched: set[int] = set()
    for txn_id, result in results:
        txn = conn.execute(select(txn_t).where(txn_t.c.id == txn_id)).one()  # re-read under the lock
        if txn.status != TransactionStatus.PENDING.value:
            continue  # a concurrent retry recorded it
        payment = conn.execute(select(pay_t).where(pay_t.c.id == txn.payment_id)).one()
        # A refund the provider accepted but settles later counts as given; a failure comes as an event.
        ok = result.succeeded or (result.status == GatewayStatus.PENDING and txn.kind == TransactionKind.REFUND.value)
        conn.execute(
            update(txn_t)
            .where(txn_t.c.id == txn_id)
            .values(
                status=(TransactionStatus.SUCCEEDED if ok else TransactionStatus.FAILED).value,
                reference=result.reference,
                error_code=result.error_code,
                message=(result.message or "")[:MAX_REASON] or None,
                raw=_jsonable(result.raw),
                completed_at=now,
            )
        )
        amount = Decimal(txn.amount)
        if txn.kind == TransactionKind.CAPTURE.value:
            _apply_capture(conn, order, payment, txn, amount, ok, result, actor, now)
        elif txn.kind == TransactionKind.VOID.value:
            _apply_void(conn, order, payment, ok, result, actor, now)
        elif txn.kind == TransactionKind.REFUND.value:
            _apply_refund_part(conn, payment, amount, ok, result, now)
            refunds_touched.add(int(txn.refund_id))
    for refund_id in sorted(refunds_touched):
        _settle_refund(conn, order, refund_id, actor, now)
    _refresh_status(conn, order, now)


def _apply_capture(
    conn: Connection,
    order: Any,
    payment: Any,
    txn: Any,
    amount: Decimal,
    ok: bool,
    result: GatewayResult,
    actor: Actor,
    now: dt.datetime,
) -> None:
    cur = order.currency
    if ok:
        captured = Decimal(payment.amount_captured) + amount
        closed = bool(payment.capture_closed) or bool(txn.final) or captured >= Decimal(payment.amount_authorized)
        status = rules.status_from_amounts(
            Decimal(payment.amount_authorized), captured, Decimal(payment.amount_refunded), capture_closed=closed
        )
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == payment.id)
            .values(amount_captured=captured, capture_closed=closed, status=status.value, updated_at=now)
        )
        released = Decimal(payment.amount_authorized) - captured if txn.final else ZERO
        _timeline(
            conn,
            order,
            EventType.PAYMENT_CAPTURED,
            actor,
            f"Captured {_q(amount, cur)} {cur} of payment {payment.id} ({payment.provider})"
            + (f"; the rest ({_q(released, cur)} {cur}) released" if released > 0 else "")
            + (" - final capture" if txn.final else ""),
            {
                "payment_id": int(payment.id),
                "amount": str(_q(amount, cur)),
                "currency": cur,
                "final": bool(txn.final),
                "captured_total": str(_q(captured, cur)),
            },
            now,
        )
    else:
        text = f"{result.error_code or 'failed'}: {result.message or 'capture refused'}"
        _flag(conn, int(payment.id), f"capture of {_q(amount, cur)} {cur} failed - {text}", now)
        _timeline(
            conn,
            order,
            EventType.PAYMENT_CAPTURE_FAILED,
            actor,
            f"Capture of {_q(amount, cur)} {cur} on payment {payment.id} failed: {text}; flagged for review",
            {"payment_id": int(payment.id), "amount": str(_q(amount, cur)), "error_code": result.error_code},
            now,
        )


def _apply_void(
    conn: Connection, order: Any, payment: Any, ok: bool, result: GatewayResult, actor: Actor, now: dt.datetime
) -> None:
    if ok:
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == payment.id)
            .values(status=PS.VOIDED.value, capture_closed=True, updated_at=now)
        )
        _timeline(
            conn,
            order,
            EventType.PAYMENT_VOIDED,
            actor,
            f"Authorisation of payment {payment.id} ({payment.provider}) voided: "
            f"{_q(payment.amount_authorized, order.currency)} {order.currency} released",
            {"payment_id": int(payment.id)},
            now,
        )
    else:
        text = f"{result.error_code or 'failed'}: {result.message or 'void refused'}"
        _flag(conn, int(payment.id), f"void failed - {text}", now)
        _timeline(
            conn,
            order,
            EventType.PAYMENT_EVENT,
            actor,
            f"Void of payment {payment.id} failed: {text}; flagged for review",
            {"payment_id": int(payment.id), "error_code": result.error_code},
            now,
            publish=False,
        )


def capture_payment(
    db: Database,
    payment_id: int,
    amount: Decimal,
    *,
    actor: Actor,
    idempotency_key: str,
    final: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Capture ``amount`` of an authorisation; ``final`` releases what is left. Never more than
    is held (captures in flight count as taken). Same key: the first capture's result."""
    cfg = _settings(settings)
    key = _scoped(f"p{payment_id}:capture:{idempotency_key}")
    with db.begin() as conn:
        order, payment = _lock_payment(conn, payment_id)
        existing = conn.execute(select(txn_t).where(txn_t.c.idempotency_key == key)).first()
        if existing is not None:
            txn_id = int(existing.id)
            if existing.status != TransactionStatus.PENDING.value:
                return _payment_view(conn, payment_id)
        else:
            cur = order.currency
            if amount < 0 or (amount == 0 and not final):
                raise validation_error("amount", "must be more than zero")
            if not money.fits_currency(amount, cur):
                raise validation_error("amount", f"{amount} has more decimals than {cur} allows")
            a = _amounts(payment, _capture_pending(conn, [payment_id]).get(payment_id, ZERO))
            if a.status not in (PS.AUTHORIZED, PS.PARTIALLY_CAPTURED, PS.PARTIALLY_REFUNDED) or a.capture_closed:
                raise IllegalTransition(
                    f"Payment {payment_id} is {a.status.value}"
                    + ("; its authorisation is closed" if a.capture_closed else "")
                    + ": nothing to capture",
                    a.status.value,
                    PS.CAPTURED.value,
                )
            if amount > a.capturable:
                raise validation_error(
                    "amount", f"is more than the {_q(a.capturable, cur)} {cur} held and not captured"
                )
            txn_id = _open_transaction(
                conn, payment, TransactionKind.CAPTURE, amount, key, actor, utcnow(), final=final
            )
    _, down = _run(db, [txn_id], actor, cfg)
    if down:
        raise unavailable(down[0], GatewayUnavailable("unreachable"))
    return get_payment(db, payment_id)


def void_payment(
    db: Database, payment_id: int, *, actor: Actor, idempotency_key: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Release an authorisation nothing was captured from (a partly captured one is closed with a
    final capture instead)."""
    cfg = _settings(settings)
    key = _scoped(f"p{payment_id}:void:{idempotency_key}")
    with db.begin() as conn:
        order, payment = _lock_payment(conn, payment_id)
        existing = conn.execute(select(txn_t).where(txn_t.c.idempotency_key == key)).first()
        if existing is not None:
            txn_id = int(existing.id)
            if existing.status != TransactionStatus.PENDING.value:
                return _payment_view(conn, payment_id)
        else:
            status = PaymentStatus(payment.status)
            pending = _capture_pending(conn, [payment_id]).get(payment_id, ZERO)
            if status not in (PS.AUTHORIZED, PS.PENDING, PS.REQUIRES_ACTION) or Decimal(payment.amount_captured) > 0:
                raise IllegalTransition(
                    f"Payment {payment_id} is {status.value}; only an authorisation with nothing captured can be "
                    "voided (close a partly captured one with a final capture, give money back with a refund)",
                    status.value,
                    PS.VOIDED.value,
                )
            if pending > 0:
                raise DomainError(
                    ErrorCode.ILLEGAL_TRANSITION, f"Payment {payment_id} has a capture in progress; try again later"
                )
            if payment.reference is None:  # never reached the provider: nothing to release there
                now = utcnow()
                conn.execute(
                    update(pay_t)
                    .where(pay_t.c.id == payment_id)
                    .values(status=PS.VOIDED.value, capture_closed=True, updated_at=now)
                )
                _refresh_status(conn, order, now)
                return _payment_view(conn, payment_id)
            txn_id = _open_transaction(conn, payment, TransactionKind.VOID, ZERO, key, actor, utcnow())
    _, down = _run(db, [txn_id], actor, cfg)
    if down:
        raise unavailable(down[0], GatewayUnavailable("unreachable"))
    return get_payment(db, payment_id)


# --- capture at shipment ----------------------------------------------------------------------------


def _units_by_line(conn: Connection, where: Any) -> dict[int, int]:
    rows = conn.execute(
        select(fl_t.c.order_line_id, func.sum(pl_t.c.quantity))
        .select_from(
            pl_t.join(pkg_t, pkg_t.c.id == pl_t.c.package_id).join(fl_t, fl_t.c.id == pl_t.c.fulfilment_line_id)
        )
        .join(ship_t, ship_t.c.id == pkg_t.c.shipment_id)
        .where(where)
        .group_by(fl_t.c.order_line_id)
    ).all()
    return {int(r[0]): int(r[1]) for r in rows}


def order_has_open_authorisation(conn: Connection, order_id: int) -> bool:
    """True when a shipment of this order has money to capture (one indexed read)."""
    return (
        conn.execute(
            select(pay_t.c.id)
            .where(
                pay_t.c.order_id == order_id,
                pay_t.c.status.in_([PS.AUTHORIZED.value, PS.PARTIALLY_CAPTURED.value, PS.PARTIALLY_REFUNDED.value]),
                pay_t.c.capture_closed.is_(False),
            )
            .limit(1)
        ).first()
        is not None
    )


def request_capture_for_shipment(conn: Connection, order_id: int, shipment_id: int, now: dt.datetime) -> bool:
    """Inside the ship command's unit of work: queue ``payment.capture_requested`` for the worker
    when the order has money held, so the capture happens even if the inline call after the
    commit is never made (a crash) or the provider is down. Orders without payments: nothing."""
    if not order_has_open_authorisation(conn, order_id):
        return False
    enqueue(
        conn,
        EventType.PAYMENT_CAPTURE_REQUESTED,
        "order",
        str(order_id),
        {"order": {"id": order_id, "order_number": order_rules.order_number(order_id)}, "shipment_id": shipment_id},
        now=now,
    )
    return True


def capture_for_shipment(
    db: Database, shipment_id: int, *, actor: Actor, settings: Settings | None = None
) -> dict[str, Any]:
    """Capture what a shipment is worth (docs/payments.md "Capture at shipment"): the value of
    its units, plus shipping with the order's first shipment; when nothing is left to ship, a
    final capture takes what the order still owes and releases the rest. Idempotent per
    shipment: a second call returns the first result (or retries calls still pending)."""
    cfg = _settings(settings)
    prefix = f"ship:{shipment_id}:"
    with db.begin() as conn:
        sh = conn.execute(select(ship_t.c.order_id).where(ship_t.c.id == shipment_id)).first()
        if sh is None:
            raise NotFound("Shipment", shipment_id)
        order_id = int(sh.order_id)
        order = _lock_order(conn, order_id)
        rows = _payment_rows(conn, order_id, lock=True)
        cur = order.currency
        done = conn.execute(
            select(txn_t.c.id, txn_t.c.status).where(txn_t.c.idempotency_key.startswith(prefix, autoescape=True))
        ).all()
        if done:
            txn_ids = [int(t.id) for t in done if t.status == TransactionStatus.PENDING.value]
            planned = None
        else:
            amounts = _all_amounts(conn, rows)
            lines = _order_lines(conn, order_id)
            now_units = _units_by_line(conn, ship_t.c.id == shipment_id)
            before = _units_by_line(conn, (ship_t.c.order_id == order_id) & (ship_t.c.id < shipment_id))
            first = (
                conn.execute(
                    select(ship_t.c.id).where(ship_t.c.order_id == order_id, ship_t.c.id < shipment_id).limit(1)
                ).first()
                is None
            )
            later = (
                conn.execute(
                    select(ship_t.c.id).where(ship_t.c.order_id == order_id, ship_t.c.id > shipment_id).limit(1)
                ).first()
                is not None
            )
            open_units = int(
                conn.execute(
                    select(
                        func.coalesce(
                            func.sum(lines_t.c.quantity - lines_t.c.quantity_cancelled - lines_t.c.quantity_shipped), 0
                        )
                    ).where(lines_t.c.order_id == order_id)
                ).scalar_one()
            )
            final = open_units == 0 and not later
            value = rules.shipment_value(
                lines, before, now_units, shipping=_shipping(order, lines), first_shipment=first, currency=cur
            )
            if final:
                live = [a for a in amounts if a.status in rules.HOLDS_MONEY]
                taken = sum((a.captured + a.capture_pending for a in live), ZERO)
                value = max(
                    value, money.quantize(rules.payable_total(lines, _shipping(order, lines), cur) - taken, cur)
                )
            plan = dict(rules.plan_capture(value, amounts))
            txn_ids = []
            now = utcnow()
            by_id = {int(r.id): r for r in rows}
            for a in amounts:
                if a.capturable <= 0:
                    continue
                part = plan.get(a.payment_id, ZERO)
                p = by_id[a.payment_id]
                key = f"{prefix}p{a.payment_id}"
                if part > 0:
                    txn_ids.append(
                        _open_transaction(conn, p, TransactionKind.CAPTURE, part, key, actor, now, final=final)
                    )
                elif final and a.captured == 0:
                    txn_ids.append(_open_transaction(conn, p, TransactionKind.VOID, ZERO, key, actor, now))
                elif final:
                    txn_ids.append(
                        _open_transaction(conn, p, TransactionKind.CAPTURE, ZERO, key, actor, now, final=True)
                    )
            planned = {"value": str(value), "final": final, "first_shipment": first}
    _, down = _run(db, txn_ids, actor, cfg)
    with db.read() as conn:
        txns = conn.execute(
            select(txn_t).where(txn_t.c.idempotency_key.startswith(prefix, autoescape=True)).order_by(txn_t.c.id)
        ).all()
    captured = sum(
        (Decimal(t.amount) for t in txns if t.status == TransactionStatus.SUCCEEDED.value and t.kind == "capture"), ZERO
    )
    return {
        "shipment_id": shipment_id,
        "order_id": order_id,
        "currency": cur,
        "plan": planned,
        "captured": _q(captured, cur),
        "pending": any(t.status == TransactionStatus.PENDING.value for t in txns),
        "unavailable": sorted(set(down)),
        "transactions": [_txn_dict(t, cur) for t in txns],
    }


def capture_after_shipment(db: Database, shipment_id: int, actor: Actor, settings: Settings | None = None) -> None:
    """Called by the ship commands after they commit: capture now when the provider answers;
    otherwise the worker's ``payment.capture_requested`` message retries. Never fails the
    shipment, which is recorded already."""
    try:
        capture_for_shipment(db, shipment_id, actor=actor, settings=settings)
    except Exception:  # the shipment stands; the outbox message will retry the capture
        log.exception("capture for shipment %s failed; the worker will retry", shipment_id)


# --- refunds ------------------------------------------------------------------------------------


def refund(
    db: Database,
    order_id: int,
    amount: Decimal,
    *,
    reason: str,
    kind: str,
    actor: Actor,
    idempotency_key: str,
    return_id: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Give ``amount`` back on the order's payments, newest first, never more than captured and
    not yet refunded (refunds in flight count as given). The refund is committed as pending with
    the money set aside, the providers are called after the commit, and the answers recorded in
    a second unit of work (a refused part gives its room back). Same key: the first refund."""
    cfg = _settings(settings)
    try:
        kind_ = RefundKind(kind)
    except ValueError:
        raise validation_error("kind", f"must be one of {', '.join(k.value for k in RefundKind)}") from None
    reason = (reason or "").strip()
    if not reason:
        raise validation_error("reason", "is required: say why the money is given back")
    if len(reason) > MAX_REASON:
        raise validation_error("reason", f"is longer than {MAX_REASON} characters")
    key = _scoped(f"o{order_id}:refund:{idempotency_key}")
    with db.begin() as conn:
        order = _lock_order(conn, order_id)
        existing = conn.execute(select(refunds_t).where(refunds_t.c.idempotency_key == key)).first()
        if existing is not None:
            refund_id = int(existing.id)
            txn_ids = [
                int(i)
                for i in conn.execute(
                    select(txn_t.c.id).where(
                        txn_t.c.refund_id == refund_id, txn_t.c.status == TransactionStatus.PENDING.value
                    )
                ).scalars()
            ]
        else:
            cur = order.currency
            rows = _payment_rows(conn, order_id, lock=True)
            plan = rules.plan_refund(amount, _all_amounts(conn, rows), cur)
            now = utcnow()
            refund_id = int(
                conn.execute(
                    insert(refunds_t)
                    .values(
                        order_id=order_id,
                        amount=amount,
                        currency=cur,
                        kind=kind_.value,
                        reason=reason,
                        status=RefundStatus.PENDING.value,
                        return_id=return_id,
                        idempotency_key=key,
                        requested_by=actor.name,
                        created_at=now,
                    )
                    .returning(refunds_t.c.id)
                ).scalar_one()
            )
            by_id = {int(r.id): r for r in rows}
            txn_ids = []
            for pid, part in plan:
                conn.execute(
                    update(pay_t)
                    .where(pay_t.c.id == pid)
                    .values(amount_refund_pending=pay_t.c.amount_refund_pending + part, updated_at=now)
                )
                txn_ids.append(
                    _open_transaction(
                        conn,
                        by_id[pid],
                        TransactionKind.REFUND,
                        part,
                        f"refund:{refund_id}:p{pid}",
                        actor,
                        now,
                        refund_id=refund_id,
                    )
                )
            data = {
                "refund_id": refund_id,
                "amount": str(_q(amount, cur)),
                "currency": cur,
                "kind": kind_.value,
                "reason": reason,
                "return_id": return_id,
                "payments": [{"payment_id": pid, "amount": str(_q(part, cur))} for pid, part in plan],
            }
            _timeline(
                conn,
                order,
                EventType.REFUND_REQUESTED,
                actor,
                f"Refund of {_q(amount, cur)} {cur} requested ({kind_.value}): {reason}",
                data,
                now,
            )
            record_audit(
                conn,
                actor=actor.name,
                action="refund.requested",
                subject_type="order",
                subject_id=str(order_id),
                message=f"Refund {refund_id} of {_q(amount, cur)} {cur} on {order_rules.order_number(order_id)} "
                f"({kind_.value}): {reason}",
                data=data,
                now=now,
            )
    if txn_ids:
        _run(db, txn_ids, actor, cfg)
    return get_refund(db, refund_id)


def retry_refund(db: Database, refund_id: int, *, actor: Actor, settings: Settings | None = None) -> dict[str, Any]:
    """Call the providers again for a refund's parts still pending (the worker does this)."""
    with db.read() as conn:
        ids = [
            int(i)
            for i in conn.execute(
                select(txn_t.c.id).where(
                    txn_t.c.refund_id == refund_id, txn_t.c.status == TransactionStatus.PENDING.value
                )
            ).scalars()
        ]
    _run(db, ids, actor, _settings(settings))
    return get_refund(db, refund_id)


def _apply_refund_part(
    conn: Connection, payment: Any, amount: Decimal, ok: bool, result: GatewayResult, now: dt.datetime
) -> None:
    pending = Decimal(payment.amount_refund_pending) - amount
    refunded = Decimal(payment.amount_refunded) + (amount if ok else ZERO)
    values: dict[str, Any] = {"amount_refund_pending": pending, "amount_refunded": refunded, "updated_at": now}
    if ok:
        values["status"] = rules.status_from_amounts(
            Decimal(payment.amount_authorized),
            Decimal(payment.amount_captured),
            refunded,
            capture_closed=bool(payment.capture_closed),
        ).value
    else:
        text = f"{result.error_code or 'failed'}: {result.message or 'refund refused'}"
        values.update(review_reason=f"refund of {amount} failed - {text}"[:MAX_REASON], flagged_at=now)
    conn.execute(update(pay_t).where(pay_t.c.id == payment.id).values(**values))


def _settle_refund(conn: Connection, order: Any, refund_id: int, actor: Actor, now: dt.datetime) -> None:
    r = conn.execute(select(refunds_t).where(refunds_t.c.id == refund_id)).one()
    parts = conn.execute(select(txn_t).where(txn_t.c.refund_id == refund_id)).all()
    if r.status != RefundStatus.PENDING.value or any(p.status == TransactionStatus.PENDING.value for p in parts):
        return
    done = sum((Decimal(p.amount) for p in parts if p.status == TransactionStatus.SUCCEEDED.value), ZERO)
    ok = all(p.status == TransactionStatus.SUCCEEDED.value for p in parts)
    status = RefundStatus.SUCCEEDED if ok else RefundStatus.FAILED
    conn.execute(
        update(refunds_t)
        .where(refunds_t.c.id == refund_id)
        .values(status=status.value, amount_refunded=done, completed_at=now)
    )
    cur = r.currency
    errors = [f"{p.error_code or 'failed'}: {p.message or ''}".strip() for p in parts if p.status != "succeeded"]
    pay_status = _refresh_status(conn, order, now)
    _timeline(
        conn,
        order,
        EventType.REFUND_SUCCEEDED if ok else EventType.REFUND_FAILED,
        actor,
        (
            f"Refund of {_q(r.amount, cur)} {cur} paid ({r.kind}): {r.reason}"
            if ok
            else f"Refund of {_q(r.amount, cur)} {cur} failed ({'; '.join(errors)}); "
            f"{_q(done, cur)} {cur} of it went through; flagged for review"
        ),
        {
            "refund_id": refund_id,
            "amount": str(_q(r.amount, cur)),
            "amount_refunded": str(_q(done, cur)),
            "currency": cur,
            "kind": r.kind,
            "reason": r.reason,
            "return_id": r.return_id,
            "status": status.value,
        },
        now,
        status=pay_status,
    )


# --- collect / reconcile ------------------------------------------------------------------------------


def _latest_method(conn: Connection, order_id: int) -> Any | None:
    return conn.execute(
        select(pay_t)
        .where(pay_t.c.order_id == order_id, pay_t.c.status.not_in([PS.FAILED.value]))
        .order_by(pay_t.c.id.desc())
        .limit(1)
    ).first()


def collect(
    db: Database,
    order_id: int,
    amount: Decimal,
    *,
    reason: str,
    actor: Actor,
    idempotency_key: str,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Charge an extra amount on the order's latest payment method (an exchange's price
    difference, an order that grew): authorise and capture it at once. On the manual provider
    it becomes an expected payment a user marks received."""
    reason = (reason or "").strip()
    if not reason:
        raise validation_error("reason", "is required")
    with db.read() as conn:
        order = conn.execute(select(orders_t.c.currency).where(orders_t.c.id == order_id)).first()
        if order is None:
            raise NotFound("Order", order_rules.order_number(order_id))
        _check_amount(amount, order.currency)
        latest = _latest_method(conn, order_id)
    if latest is None:
        raise validation_error("amount", "the order has no payment method to charge; record a payment instead")
    manual = latest.provider == "manual"
    payment = authorize_payment(
        db,
        order_id,
        provider=latest.provider,
        payment_method=latest.method,
        amount=amount,
        actor=actor,
        idempotency_key=f"collect:{idempotency_key}",
        settings=settings,
        metadata={"expected": "true"} if manual else None,
        reason=reason,
    )
    if payment["status"] == PS.AUTHORIZED.value:
        return capture_payment(
            db,
            payment["id"],
            payment["amount_authorized"],
            actor=actor,
            idempotency_key=f"collect:{idempotency_key}",
            final=True,
            settings=settings,
        )
    return payment


def reconcile_order_payments(
    db: Database, order_id: int, *, reason: str, actor: Actor, settings: Settings | None = None
) -> dict[str, Any]:
    """Bring the payments in line with what the order is now worth (after a cancellation or a
    change): refund captured money above the payable total (kind ``cancellation``), void
    authorisations with nothing captured when nothing is owed, authorise what a grown order
    needs beyond what is held (a decline puts the order on payment hold). Idempotent: the keys
    are derived from the state, and a second call finds nothing to do."""
    with db.read() as conn:
        order = conn.execute(select(orders_t).where(orders_t.c.id == order_id)).first()
        if order is None:
            raise NotFound("Order", order_rules.order_number(order_id))
        rows = _payment_rows(conn, order_id)
        amounts = _all_amounts(conn, rows)
        payable = _payable(conn, order)
        plan = rules.reconcile(payable, amounts)
        latest = _latest_method(conn, order_id)
        captured = sum((a.captured for a in amounts), ZERO)
        refunded = sum((a.refunded + a.refund_pending for a in amounts), ZERO)
    state = f"{payable}:{captured}:{refunded}:{len(rows)}"
    out: dict[str, Any] = {"order_id": order_id, "payable_total": _q(payable, order.currency), "refund": None}
    if plan.refund > 0:
        out["refund"] = refund(
            db,
            order_id,
            money.quantize(plan.refund, order.currency),
            reason=reason,
            kind=RefundKind.CANCELLATION.value,
            actor=actor,
            idempotency_key=f"reconcile:{state}",
            settings=settings,
        )
    out["voided"] = [
        void_payment(db, pid, actor=actor, idempotency_key="reconcile", settings=settings)["id"] for pid in plan.void
    ]
    out["authorized"] = None
    if plan.authorize > 0 and latest is not None:
        out["authorized"] = authorize_payment(
            db,
            order_id,
            provider=latest.provider,
            payment_method=latest.method,
            amount=money.quantize(plan.authorize, order.currency),
            actor=actor,
            idempotency_key=f"reconcile:{state}",
            settings=settings,
            metadata={"expected": "true"} if latest.provider == "manual" else None,
            reason=reason,
        )
    out["changed"] = bool(out["refund"] or out["voided"] or out["authorized"])
    return out


# --- provider notifications ----------------------------------------------------------------------


def _insert_event(conn: Connection, provider: str, event: GatewayEvent, now: dt.datetime) -> int | None:
    """Keep the event once per (provider, id); None when it was seen before."""
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return conn.execute(
        ins(pevents_t)
        .values(
            provider=provider,
            event_id=event.id[:255],
            type=event.type[:128],
            kind=event.kind.value,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(pevents_t.c.id)
    ).scalar()


def apply_gateway_event(db: Database, provider: str, event: GatewayEvent) -> dict[str, Any]:
    """Apply a provider's verified notification once: de-duplicated by (provider, event id), the
    payment found by its reference. Amounts in ``captured``/``refunded`` events are the
    provider's totals for the payment (what Stripe reports), so a notification of what OpenOMS
    already recorded changes nothing."""
    actor = Actor(f"provider:{provider}")
    with db.begin() as conn:
        now = utcnow()
        event_row = _insert_event(conn, provider, event, now)
        if event_row is None:
            return {"duplicate": True, "applied": False, "event_id": event.id}
        found = None
        if event.reference:
            found = conn.execute(
                select(pay_t.c.id).where(pay_t.c.provider == provider, pay_t.c.reference == event.reference)
            ).scalar()
        if found is None:
            conn.execute(
                update(pevents_t).where(pevents_t.c.id == event_row).values(outcome="no payment with this reference")
            )
            return {"duplicate": False, "applied": False, "event_id": event.id, "outcome": "unknown reference"}
        order, payment = _lock_payment(conn, int(found))
        outcome = _apply_event(conn, order, payment, event, actor, now)
        conn.execute(
            update(pevents_t).where(pevents_t.c.id == event_row).values(payment_id=payment.id, outcome=outcome[:255])
        )
        _refresh_status(conn, order, now)
        return {
            "duplicate": False,
            "applied": True,
            "event_id": event.id,
            "payment_id": int(payment.id),
            "order_id": int(order.id),
            "outcome": outcome,
        }


def _apply_event(
    conn: Connection, order: Any, payment: Any, event: GatewayEvent, actor: Actor, now: dt.datetime
) -> str:
    cur = order.currency
    pid = int(payment.id)
    status = PaymentStatus(payment.status)
    data: dict[str, Any] = {"payment_id": pid, "event_id": event.id, "event_type": event.type}
    K = GatewayEventKind
    amount = money.quantize(event.amount, cur) if event.amount is not None else None
    if event.kind == K.AUTHORIZED:
        if status not in (PS.PENDING, PS.REQUIRES_ACTION):
            return f"already {status.value}"
        got = amount if amount is not None else Decimal(payment.amount_requested)
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == pid)
            .values(status=PS.AUTHORIZED.value, amount_authorized=got, updated_at=now)
        )
        conn.execute(
            update(txn_t)
            .where(
                txn_t.c.payment_id == pid,
                txn_t.c.kind == TransactionKind.AUTHORIZE.value,
                txn_t.c.status != TransactionStatus.SUCCEEDED.value,
            )
            .values(status=TransactionStatus.SUCCEEDED.value, completed_at=now)
        )
        _release_payment_hold(conn, int(order.id), f"payment {pid} authorised", actor, now)
        _timeline(conn, order, EventType.PAYMENT_AUTHORIZED, actor, f"Payment {pid} authorised: {got} {cur}", data, now)
        return "authorized"
    if event.kind == K.AUTHORIZATION_FAILED:
        if status not in (PS.PENDING, PS.REQUIRES_ACTION):
            return f"already {status.value}"
        text = str(event.raw.get("message") or event.type)
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == pid)
            .values(status=PS.FAILED.value, review_reason=f"authorisation failed - {text}"[:MAX_REASON], flagged_at=now)
        )
        _timeline(conn, order, EventType.PAYMENT_FAILED, actor, f"Payment {pid} failed: {text}", data, now)
        _place_payment_hold(conn, order, f"payment failed - {text}", actor, now)
        return "failed"
    if event.kind == K.CAPTURED:
        total = amount if amount is not None else Decimal(payment.amount_authorized)
        if total <= Decimal(payment.amount_captured):
            return "already recorded"
        closed = total >= Decimal(payment.amount_authorized) or bool(payment.capture_closed)
        authorized = max(Decimal(payment.amount_authorized), total)
        new = rules.status_from_amounts(authorized, total, Decimal(payment.amount_refunded), capture_closed=closed)
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == pid)
            .values(amount_captured=total, amount_authorized=authorized, capture_closed=closed, status=new.value)
        )
        _timeline(
            conn,
            order,
            EventType.PAYMENT_CAPTURED,
            actor,
            f"Provider reports {total} {cur} captured on payment {pid}",
            {**data, "captured_total": str(total)},
            now,
        )
        return "captured"
    if event.kind == K.REFUNDED:
        if amount is None:
            return "no amount"
        known = Decimal(payment.amount_refunded) + Decimal(payment.amount_refund_pending)
        extra = min(amount - known, Decimal(payment.amount_captured) - known)
        if extra <= 0:
            return "already recorded"
        extra = money.quantize(extra, cur)
        refunded = Decimal(payment.amount_refunded) + extra
        new = rules.status_from_amounts(
            Decimal(payment.amount_authorized),
            Decimal(payment.amount_captured),
            refunded,
            capture_closed=bool(payment.capture_closed),
        )
        conn.execute(update(pay_t).where(pay_t.c.id == pid).values(amount_refunded=refunded, status=new.value))
        _timeline(
            conn,
            order,
            EventType.REFUND_SUCCEEDED,
            actor,
            f"Provider reports a refund of {extra} {cur} on payment {pid} made outside OpenOMS",
            {**data, "amount": str(extra)},
            now,
        )
        return f"refunded {extra}"
    if event.kind == K.REFUND_FAILED:
        _flag(conn, pid, f"refund failed at the provider ({event.type})", now)
        _timeline(
            conn, order, EventType.REFUND_FAILED, actor, f"Provider reports a failed refund on payment {pid}", data, now
        )
        return "flagged: refund failed"
    if event.kind == K.VOIDED:
        if status in (PS.VOIDED, PS.FAILED) or Decimal(payment.amount_captured) > 0:
            if Decimal(payment.amount_captured) > 0 and not payment.capture_closed:
                conn.execute(
                    update(pay_t)
                    .where(pay_t.c.id == pid)
                    .values(
                        capture_closed=True,
                        status=PS.CAPTURED.value if Decimal(payment.amount_refunded) == 0 else payment.status,
                    )
                )
                return "rest released"
            return f"already {status.value}"
        conn.execute(update(pay_t).where(pay_t.c.id == pid).values(status=PS.VOIDED.value, capture_closed=True))
        _timeline(
            conn,
            order,
            EventType.PAYMENT_VOIDED,
            actor,
            f"Authorisation of payment {pid} cancelled by the provider",
            data,
            now,
        )
        return "voided"
    if event.kind == K.DISPUTED:
        why = str(event.raw.get("reason") or "chargeback")
        text = f"disputed ({why})" + (f": {amount} {cur}" if amount is not None else "")
        conn.execute(
            update(pay_t)
            .where(pay_t.c.id == pid)
            .values(review_reason=text[:MAX_REASON], flagged_at=now, updated_at=now)
        )
        _timeline(
            conn,
            order,
            EventType.PAYMENT_DISPUTED,
            actor,
            f"Payment {pid} {text}; flagged for review",
            {**data, "reason": why, "amount": str(amount) if amount is not None else None},
            now,
        )
        return "flagged: disputed"
    if event.kind == K.DISPUTE_CLOSED:
        outcome = str(event.raw.get("status") or "closed")
        conn.execute(update(pay_t).where(pay_t.c.id == pid).values(flagged_at=None, updated_at=now))
        _timeline(
            conn,
            order,
            EventType.PAYMENT_DISPUTE_CLOSED,
            actor,
            f"Dispute on payment {pid} closed: {outcome}",
            {**data, "status": outcome},
            now,
        )
        return f"dispute closed: {outcome}"
    _timeline(
        conn,
        order,
        EventType.PAYMENT_EVENT,
        actor,
        f"Provider event {event.type} on payment {pid}",
        data,
        now,
        publish=False,
    )
    return "recorded"


# --- the worker's side ----------------------------------------------------------------------------------


class PaymentConsumer:
    """Outbox consumer: captures for shipments (``payment.capture_requested``) and finishes
    refunds whose provider call never got an answer (``refund.requested``). Raises while the
    provider is unreachable, so the worker retries with back-off; both are idempotent."""

    name = "payments"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, event: Any, db: Database) -> None:
        payload = event.payload
        if event.event_type == EventType.PAYMENT_CAPTURE_REQUESTED.value:
            result = capture_for_shipment(
                db, int(payload["shipment_id"]), actor=Actor("worker"), settings=self.settings
            )
            if result["pending"]:
                raise RuntimeError(f"capture for shipment {payload['shipment_id']} still pending: provider unavailable")
        elif event.event_type == EventType.REFUND_REQUESTED.value:
            refund_id = int(payload["refund_id"])
            done = retry_refund(db, refund_id, actor=Actor("worker"), settings=self.settings)
            if done["status"] == RefundStatus.PENDING.value:
                raise RuntimeError(f"refund {refund_id} still pending: provider unavailable")
