"""Finding orders for people: the back-office list's search box, filters, sorting and pages,
the order page's extra facts, and the "at risk" rule that the dashboard counts with.

Written for lists of 100,000+ orders on SQLite and PostgreSQL alike (bench/orders_list_bench.py
measures it):

- the count and the page share one WHERE clause, and every filter is either a predicate on
  an indexed ``orders`` column or a semi-join (``id IN (...)``) into a table indexed by what
  the filter names (SKU, e-mail, hold, location);
- the page is cut on order ids first (a narrow scan of an index that matches the sort), and
  only those 50 ids are then joined to channels, customers, lines and holds, so a deep page
  does not join 100,000 rows to throw them away.

See docs/adr/0008-orders-at-risk.md for the at-risk rule.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select, union
from sqlalchemy.sql.elements import UnaryExpression

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import (
    Channel,
    Customer,
    Location,
    Order,
    OrderHold,
    OrderLine,
    Product,
    Reservation,
    table,
)
from openoms.domain import money
from openoms.domain.errors import FieldError
from openoms.domain.orders import HoldType, OrderStatus, order_number
from openoms.services import orders as order_service

orders_t = table(Order)
lines_t = table(OrderLine)
holds_t = table(OrderHold)
res_t = table(Reservation)
channels_t = table(Channel)
customers_t = table(Customer)
locations_t = table(Location)
products_t = table(Product)

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
MAX_QUERY_LENGTH = 200
SORT_FIELDS = ("number", "placed", "total", "customer", "status")
SORTS = tuple(s for f in SORT_FIELDS for s in (f, f"-{f}"))
DEFAULT_SORT = "-placed"
HOLD_FILTERS = ("any", "none", *(h.value for h in HoldType))
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ORDER_REF = re.compile(r"^(?:#|SO-?)?0*(\d{1,18})$", re.IGNORECASE)

# --- at risk -------------------------------------------------------------------------------

#: Not yet handed to fulfilment: the release clock is running.
AWAITING_RELEASE = (OrderStatus.CREATED, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED)
#: At risk whatever its age: it waits for stock nobody has promised.
ALWAYS_AT_RISK = (OrderStatus.BACKORDERED,)


def at_risk_condition(now: dt.datetime, sla_hours: int) -> ColumnElement[bool]:
    """Orders at risk of missing their promise, as a WHERE clause on ``orders``.

    Until promise dates exist (routing issue): not released within ``sla_hours`` of being
    placed, or backordered at any age. The orders list (``at_risk=1``) and the dashboard's
    count both use this one expression, so the figure and the list behind it always agree.
    """
    cutoff = now - dt.timedelta(hours=sla_hours)
    return or_(
        orders_t.c.status.in_([s.value for s in ALWAYS_AT_RISK]),
        and_(orders_t.c.status.in_([s.value for s in AWAITING_RELEASE]), orders_t.c.placed_at < cutoff),
    )


# --- the search as the query string gives it ----------------------------------------------


@dataclass(frozen=True)
class OrderSearch:
    """What a person asked the orders list for; the query-string names are the contract
    (the dashboard links into it): q, channel, status, hold, from, to, location, at_risk,
    sort, page, per_page."""

    q: str = ""
    channel: str = ""
    statuses: tuple[OrderStatus, ...] = ()
    hold: str = ""
    placed_from: dt.date | None = None
    placed_to: dt.date | None = None
    location: str = ""
    at_risk: bool = False
    sort: str = DEFAULT_SORT
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def filtered(self) -> bool:
        """Any filter or search term (sorting and paging do not count)."""
        return bool(
            self.q
            or self.channel
            or self.statuses
            or self.hold
            or self.placed_from
            or self.placed_to
            or self.location
            or self.at_risk
        )

    @property
    def sort_field(self) -> str:
        return self.sort.lstrip("-")

    @property
    def sort_descending(self) -> bool:
        return self.sort.startswith("-")

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query string that asks for this search again (defaults left out), with
        ``changes`` applied: ``params(page=2)``, ``params(sort="total")``."""
        s = replace(self, **changes)
        out: list[tuple[str, str]] = []
        if s.q:
            out.append(("q", s.q))
        if s.channel:
            out.append(("channel", s.channel))
        out += [("status", st.value) for st in s.statuses]
        if s.hold:
            out.append(("hold", s.hold))
        if s.placed_from:
            out.append(("from", s.placed_from.isoformat()))
        if s.placed_to:
            out.append(("to", s.placed_to.isoformat()))
        if s.location:
            out.append(("location", s.location))
        if s.at_risk:
            out.append(("at_risk", "1"))
        if s.sort != DEFAULT_SORT:
            out.append(("sort", s.sort))
        if s.page != 1:
            out.append(("page", str(s.page)))
        if s.per_page != DEFAULT_PER_PAGE:
            out.append(("per_page", str(s.per_page)))
        return out


def _parse_date(name: str, raw: str, errors: list[FieldError]) -> dt.date | None:
    if not raw:
        return None
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(name, f"{raw!r} is not a date; use YYYY-MM-DD, for example 2026-11-24"))
        return None


def _parse_int(name: str, raw: str, errors: list[FieldError]) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= 12:
        return int(raw)
    errors.append(FieldError(name, f"{raw!r} is not a whole number"))
    return None


def parse_search(items: Iterable[tuple[str, str]]) -> tuple[OrderSearch, list[FieldError]]:
    """Read the list's query string. A bad value never fails the page: it is left out of the
    search and reported, so the person sees what was ignored and why."""
    values: dict[str, list[str]] = defaultdict(list)
    for key, value in items:
        values[key].append(value.strip())

    def one(name: str) -> str:
        given = [v for v in values.get(name, []) if v]
        return given[-1] if given else ""

    errors: list[FieldError] = []
    q = " ".join(one("q").split())
    if len(q) > MAX_QUERY_LENGTH:
        errors.append(FieldError("q", f"is longer than {MAX_QUERY_LENGTH} characters; only the start was searched"))
        q = q[:MAX_QUERY_LENGTH].strip()

    statuses: list[OrderStatus] = []
    for raw in values.get("status", []):
        if not raw:
            continue
        try:
            st = OrderStatus(raw.lower())
        except ValueError:
            known = ", ".join(s.value for s in OrderStatus)
            errors.append(FieldError("status", f"{raw!r} is not an order status (one of {known}); it was ignored"))
            continue
        if st not in statuses:
            statuses.append(st)

    hold = one("hold").lower()
    if hold and hold not in HOLD_FILTERS:
        errors.append(FieldError("hold", f"{one('hold')!r} is not one of {', '.join(HOLD_FILTERS)}; it was ignored"))
        hold = ""

    placed_from = _parse_date("from", one("from"), errors)
    placed_to = _parse_date("to", one("to"), errors)
    if placed_from and placed_to and placed_from > placed_to:
        errors.append(
            FieldError("to", f"{placed_to.isoformat()} is before from ({placed_from.isoformat()}); dates ignored")
        )
        placed_from = placed_to = None

    at_risk = False
    raw_risk = one("at_risk").lower()
    if raw_risk in _TRUE:
        at_risk = True
    elif raw_risk and raw_risk not in _FALSE:
        errors.append(FieldError("at_risk", f"{one('at_risk')!r} is not 1 or 0; it was ignored"))

    sort = one("sort") or DEFAULT_SORT
    if sort not in SORTS:
        errors.append(FieldError("sort", f"{sort!r} is not one of {', '.join(SORTS)}; sorted by newest first"))
        sort = DEFAULT_SORT

    page = _parse_int("page", one("page"), errors) or 1
    if page < 1 or page > MAX_PAGE:
        errors.append(FieldError("page", f"must be between 1 and {MAX_PAGE:,}; showing page 1"))
        page = 1

    per_page = _parse_int("per_page", one("per_page"), errors) or DEFAULT_PER_PAGE
    if per_page > MAX_PER_PAGE:
        errors.append(FieldError("per_page", f"at most {MAX_PER_PAGE} orders fit on a page; showing {MAX_PER_PAGE}"))
        per_page = MAX_PER_PAGE

    search = OrderSearch(
        q=q,
        channel=one("channel"),
        statuses=tuple(statuses),
        hold=hold,
        placed_from=placed_from,
        placed_to=placed_to,
        location=one("location"),
        at_risk=at_risk,
        sort=sort,
        page=page,
        per_page=per_page,
    )
    return search, errors


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A channel or location for a filter's options."""

    id: int
    code: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class OrderListRow:
    id: int
    number: str
    placed_at: dt.datetime
    channel: str
    external_order_id: str | None
    customer_name: str | None
    customer_email: str | None
    status: str
    holds: tuple[str, ...]
    lines: int
    units: int  # ordered minus cancelled
    grand_total: Decimal
    currency: str
    at_risk: bool


@dataclass(frozen=True)
class OrderResults:
    search: OrderSearch  # as applied: values that could not be used are left out
    rows: list[OrderListRow]
    total: int
    errors: list[FieldError] = field(default_factory=list)
    channels: list[Choice] = field(default_factory=list)
    locations: list[Choice] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.search.per_page))

    @property
    def first(self) -> int:
        return self.search.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.search.offset + len(self.rows)


def order_ref_number(term: str) -> int | None:
    """``SO-0000123``, ``so-123``, ``#123`` or ``123`` as an order id."""
    m = _ORDER_REF.match(term.strip())
    return int(m.group(1)) if m else None


def _like_pattern(term: str) -> str:
    """``%term%`` with LIKE's wildcards in the term taken literally (escape character ``\\``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_condition(term: str) -> ColumnElement[bool]:
    """One box for everything a person might paste: order number, external order id, customer
    e-mail (exact, any case) or name (part of it, any case), or SKU.

    Written as ``id IN (a UNION b UNION ...)`` rather than ``a OR b OR ...`` so that each arm
    uses its own index (orders.id, orders.external_order_id, customers.email, order_lines.sku)
    and the planner joins a short list of ids instead of testing every order. Only the name
    arm has to read every customer (a substring has no index on either engine), so it is left
    out for terms that cannot be part of a name: those with a digit or an ``@``.
    """
    t = term.strip()
    variants = sorted({t, t.upper()})
    arms: list[Any] = [
        select(orders_t.c.id).where(orders_t.c.external_order_id.in_(variants)),
        select(lines_t.c.order_id).where(lines_t.c.sku.in_(variants)),
    ]
    number = order_ref_number(t)
    if number is not None:
        arms.insert(0, select(orders_t.c.id).where(orders_t.c.id == number))
    customer: ColumnElement[bool] | None = None
    if "@" in t:
        customer = customers_t.c.email == t.lower()
    elif not any(ch.isdigit() for ch in t):
        # lower() on both sides in SQL: the same folding of the column and the term on each
        # engine (SQLite folds ASCII only), and faster than ILIKE on PostgreSQL.
        customer = func.lower(customers_t.c.name).like(func.lower(_like_pattern(t)), escape="\\")
    if customer is not None:
        arms.append(select(orders_t.c.id).where(orders_t.c.customer_id.in_(select(customers_t.c.id).where(customer))))
    return orders_t.c.id.in_(union(*arms))


def _hold_condition(hold: str) -> ColumnElement[bool]:
    active = holds_t.c.released_at.is_(None)
    held = select(holds_t.c.order_id).where(active)
    if hold == "none":
        # NOT IN over the short list of held orders: one hashed list on both engines, where
        # NOT EXISTS would probe the holds index once per order on SQLite.
        return orders_t.c.id.not_in(held)
    if hold != "any":
        held = held.where(holds_t.c.hold_type == hold)
    return orders_t.c.id.in_(held)


def _conditions(
    s: OrderSearch, channel_id: int | None, location_id: int | None, now: dt.datetime, sla_hours: int
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if s.q:
        where.append(search_condition(s.q))
    if channel_id is not None:
        where.append(orders_t.c.channel_id == channel_id)
    if s.statuses:
        where.append(orders_t.c.status.in_([st.value for st in s.statuses]))
    if s.hold:
        where.append(_hold_condition(s.hold))
    if s.placed_from:
        where.append(orders_t.c.placed_at >= dt.datetime.combine(s.placed_from, dt.time(), dt.UTC))
    if s.placed_to:
        end = dt.datetime.combine(s.placed_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        where.append(orders_t.c.placed_at < end)
    if location_id is not None:
        where.append(
            orders_t.c.id.in_(select(res_t.c.order_id).where(res_t.c.location_id == location_id, res_t.c.quantity > 0))
        )
    if s.at_risk:
        where.append(at_risk_condition(now, sla_hours))
    return where


#: Lifecycle order, so "status" sorts created before shipped rather than alphabetically.
_STATUS_RANK = case({st.value: i for i, st in enumerate(OrderStatus)}, value=orders_t.c.status, else_=99)


def _order_by(s: OrderSearch) -> list[UnaryExpression[Any]]:
    """Sort keys, always ending in the id so that pages never overlap or skip an order."""

    def way(col: Any) -> UnaryExpression[Any]:
        return col.desc() if s.sort_descending else col.asc()

    # Ties under a customer or a status go newest first by order number: the id is in every
    # index, where placed_at would cost SQLite a table read per order (10x on 100k orders).
    newest = [orders_t.c.id.desc()]
    match s.sort_field:
        case "number":
            return [way(orders_t.c.id)]
        case "placed":
            return [way(orders_t.c.placed_at), way(orders_t.c.id)]
        case "total":
            return [way(orders_t.c.grand_total), way(orders_t.c.id)]
        case "status":
            return [way(_STATUS_RANK), *newest]
        case "customer":
            who = func.lower(func.coalesce(customers_t.c.name, customers_t.c.email))
            return [way(who).nulls_last(), *newest]
    raise ValueError(s.sort)


def _choices(conn: Connection, t: Any) -> list[Choice]:
    return [
        Choice(int(r.id), r.code, r.name, bool(r.active))
        for r in conn.execute(select(t.c.id, t.c.code, t.c.name, t.c.active).order_by(t.c.code)).all()
    ]


def _pick(choices: Sequence[Choice], code: str) -> Choice | None:
    exact = [c for c in choices if c.code == code]
    folded = [c for c in choices if c.code.casefold() == code.casefold()]
    found = exact or folded
    return found[0] if found else None


def search_orders(db: Database, search: OrderSearch, *, now: dt.datetime, sla_hours: int) -> OrderResults:
    """One page of the orders list, the number of orders that match, and the channels and
    locations to filter by. Unknown channel or location codes are reported and left out."""
    errors: list[FieldError] = []
    with db.read() as conn:
        channels = _choices(conn, channels_t)
        locations = _choices(conn, locations_t)
        channel = _pick(channels, search.channel) if search.channel else None
        if search.channel and channel is None:
            errors.append(FieldError("channel", f"there is no channel {search.channel!r}; it was ignored"))
        location = _pick(locations, search.location) if search.location else None
        if search.location and location is None:
            errors.append(FieldError("location", f"there is no location {search.location!r}; it was ignored"))
        search = replace(search, channel=channel.code if channel else "", location=location.code if location else "")
        where = _conditions(search, channel.id if channel else None, location.id if location else None, now, sla_hours)
        total = int(conn.execute(select(func.count()).select_from(orders_t).where(*where)).scalar_one())
        rows: list[OrderListRow] = []
        if search.offset < total:
            ids_stmt = select(orders_t.c.id).where(*where)
            if search.sort_field == "customer":
                ids_stmt = ids_stmt.outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
            ids = [
                int(i)
                for i in conn.execute(
                    ids_stmt.order_by(*_order_by(search)).limit(search.per_page).offset(search.offset)
                ).scalars()
            ]
            rows = _rows(conn, ids, now, sla_hours)
    return OrderResults(search, rows, total, errors, channels, locations)


def _rows(conn: Connection, ids: list[int], now: dt.datetime, sla_hours: int) -> list[OrderListRow]:
    """What the list shows for these orders, in the order of ``ids``: three short indexed reads."""
    if not ids:
        return []
    details = {
        int(r.id): r
        for r in conn.execute(
            select(
                orders_t.c.id,
                orders_t.c.placed_at,
                orders_t.c.status,
                orders_t.c.currency,
                orders_t.c.grand_total,
                orders_t.c.external_order_id,
                channels_t.c.code.label("channel"),
                customers_t.c.name.label("customer_name"),
                customers_t.c.email.label("customer_email"),
                at_risk_condition(now, sla_hours).label("at_risk"),
            )
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .outerjoin(customers_t, customers_t.c.id == orders_t.c.customer_id)
            .where(orders_t.c.id.in_(ids))
        ).all()
    }
    counts = {
        int(r.order_id): (int(r.lines), int(r.units or 0))
        for r in conn.execute(
            select(
                lines_t.c.order_id,
                func.count().label("lines"),
                func.sum(lines_t.c.quantity - lines_t.c.quantity_cancelled).label("units"),
            )
            .where(lines_t.c.order_id.in_(ids))
            .group_by(lines_t.c.order_id)
        ).all()
    }
    holds: dict[int, list[str]] = defaultdict(list)
    for r in conn.execute(
        select(holds_t.c.order_id, holds_t.c.hold_type)
        .where(holds_t.c.order_id.in_(ids), holds_t.c.released_at.is_(None))
        .order_by(holds_t.c.order_id, holds_t.c.hold_type)
    ).all():
        holds[int(r.order_id)].append(str(r.hold_type))
    out = []
    for oid in ids:
        d = details[oid]
        n_lines, units = counts.get(oid, (0, 0))
        out.append(
            OrderListRow(
                id=oid,
                number=order_number(oid),
                placed_at=d.placed_at,
                channel=d.channel,
                external_order_id=d.external_order_id,
                customer_name=d.customer_name,
                customer_email=d.customer_email,
                status=d.status,
                holds=tuple(holds.get(oid, ())),
                lines=n_lines,
                units=units,
                grand_total=money.quantize(Decimal(d.grand_total), d.currency),
                currency=d.currency,
                at_risk=bool(d.at_risk),
            )
        )
    return out


# --- one order, for its page ---------------------------------------------------------------


def order_page(db: Database, order_id: int, *, now: dt.datetime, sla_hours: int) -> dict[str, Any]:
    """The order as ``orders.get_order`` reads it, plus what its page shows beside that: product
    names, location names, whether it is at risk, and the timeline newest first."""
    order = order_service.get_order(db, order_id)
    product_ids = {int(ln["product_id"]) for ln in order["lines"]}
    with db.read() as conn:
        names = {
            int(pid): str(name)
            for pid, name in conn.execute(
                select(products_t.c.id, products_t.c.name).where(products_t.c.id.in_(product_ids))
            ).all()
        }
        location_names = {
            str(code): str(name) for code, name in conn.execute(select(locations_t.c.code, locations_t.c.name)).all()
        }
        at_risk = conn.execute(
            select(at_risk_condition(now, sla_hours)).select_from(orders_t).where(orders_t.c.id == order_id)
        ).scalar()
    for ln in order["lines"]:
        ln["product_name"] = names.get(int(ln["product_id"]))
        ln["line_total"] = money.quantize(
            ln["unit_price"] * ln["quantity"] - ln["discount"] + ln["tax"], order["currency"]
        )
        for r in ln["reservations"]:
            r["location_name"] = location_names.get(r["location"], r["location"])
    order["at_risk"] = bool(at_risk)
    order["active_holds"] = [h for h in order["holds"] if h["active"]]
    order["timeline"] = list(reversed(order["timeline"]))
    return order
