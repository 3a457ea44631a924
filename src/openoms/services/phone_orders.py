"""Phone orders: customer service keys in an order for a caller.

The form is checked field by field (so every problem can be shown next to its field), then
the order goes through ``services.orders.capture_order`` like every other channel's, on the
``phone`` channel. The form carries a one-time token used as the external order id: sending
the same form twice (back button, double click) returns the first order instead of a second.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Channel, Customer, Location, Order, Product, StockLevel, table
from openoms.domain import money
from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.orders import order_number
from openoms.services import orders as order_service
from openoms.services.common import Actor
from openoms.services.users import normalise_email

_products = table(Product)
_locations = table(Location)
_stock = table(StockLevel)
_customers = table(Customer)
_orders = table(Order)
_channels = table(Channel)

PHONE_CHANNEL = "phone"
SERVICE_LEVELS: tuple[tuple[str, str], ...] = (
    ("standard", "Standard"),
    ("expedited", "Expedited"),
    ("express", "Express"),
    ("next_day", "Next day"),
)
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")
REQUIRED_ADDRESS = {"name": "the recipient's name", "line1": "the street address", "city": "the city"}
MAX_LOOKUP = 10
MAX_QUERY = 64
_TOKEN_RE = re.compile(r"^PH-[0-9A-F]{12}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def new_order_token() -> str:
    """A one-time id for one phone-order form; it becomes the order's external id."""
    return f"PH-{uuid.uuid4().hex[:12].upper()}"


def valid_token(token: str) -> bool:
    return bool(_TOKEN_RE.match(token))


# --- the form as typed ----------------------------------------------------------------------


@dataclass
class LineDraft:
    row: int  # the row on the form, kept so errors land next to the right inputs
    sku: str = ""
    quantity: str = ""
    unit_price: str = ""

    @property
    def blank(self) -> bool:
        return not (self.sku.strip() or self.quantity.strip() or self.unit_price.strip())


@dataclass
class PhoneOrderDraft:
    """Everything on the phone-order form, as strings, exactly as the person typed it."""

    token: str = ""
    customer_mode: str = "existing"  # existing | new
    customer_email: str = ""  # existing customer: their e-mail
    new_name: str = ""
    new_email: str = ""
    new_phone: str = ""
    address: dict[str, str] = field(default_factory=dict)
    lines: list[LineDraft] = field(default_factory=list)
    service_level: str = "standard"
    shipping_total: str = ""
    notes: str = ""

    def field_value(self, name: str) -> str:
        return self.address.get(name, "")


@dataclass(frozen=True)
class PhoneOrderResult:
    order_id: int
    order_number: str
    created: bool  # False: this form was sent before and created the order already


def _error(errors: list[FieldError], message: str, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> DomainError:
    return DomainError(code, message, errors)


def _parse_quantity(text: str, path: str, errors: list[FieldError], max_quantity: int) -> int | None:
    t = text.strip().replace(",", "")
    if not t:
        errors.append(FieldError(path, "enter a quantity"))
        return None
    if not re.fullmatch(r"[+-]?\d+", t):
        errors.append(FieldError(path, "must be a whole number of units"))
        return None
    qty = int(t)
    if qty < 1:
        errors.append(FieldError(path, "must be at least 1"))
        return None
    if qty > max_quantity:
        errors.append(FieldError(path, f"must be at most {max_quantity:,}"))
        return None
    return qty


def _parse_amount(text: str, path: str, errors: list[FieldError], currency: str) -> Decimal | None:
    t = text.strip().replace(",", "").removeprefix("$")
    try:
        amount = Decimal(t)
    except InvalidOperation:
        errors.append(FieldError(path, "must be an amount such as 24.00"))
        return None
    if not amount.is_finite():
        errors.append(FieldError(path, "must be an amount such as 24.00"))
        return None
    if amount < 0:
        errors.append(FieldError(path, "must not be negative"))
        return None
    if amount >= Decimal(10) ** 12:
        errors.append(FieldError(path, "is too large"))
        return None
    if not money.fits_currency(amount, currency):
        errors.append(FieldError(path, f"has more decimals than {currency} allows ({money.minor_units(currency)})"))
        return None
    return amount


def _channel(db: Database) -> tuple[str, bool]:
    with db.read() as conn:
        row = conn.execute(
            select(_channels.c.currency, _channels.c.active).where(_channels.c.code == PHONE_CHANNEL)
        ).first()
    if row is None:
        raise _error(
            [FieldError("channel", "there is no 'phone' sales channel")],
            "Phone orders need a sales channel with the code 'phone'; an administrator can add it on the "
            "Channels page.",
            ErrorCode.UNKNOWN_CHANNEL,
        )
    return str(row.currency), bool(row.active)


def phone_currency(db: Database) -> str:
    try:
        return _channel(db)[0]
    except DomainError:
        return "USD"


def _existing_order(db: Database, token: str) -> int | None:
    with db.read() as conn:
        found = conn.execute(
            select(_orders.c.id)
            .join(_channels, _channels.c.id == _orders.c.channel_id)
            .where(_channels.c.code == PHONE_CHANNEL, _orders.c.external_order_id == token)
        ).scalar()
    return int(found) if found is not None else None


def _customer_by_email(db: Database, email: str) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(select(_customers).where(_customers.c.email == email)).mappings().first()
    return dict(row) if row else None


def _products_by_sku(db: Database, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not skus:
        return {}
    with db.read() as conn:
        return {
            r["sku"]: dict(r)
            for r in conn.execute(
                select(
                    _products.c.sku, _products.c.name, _products.c.list_price, _products.c.currency, _products.c.active
                ).where(_products.c.sku.in_(sorted(set(skus))))
            ).mappings()
        }


def _check_customer(db: Database, draft: PhoneOrderDraft, errors: list[FieldError]) -> order_service.CustomerInput:
    if draft.customer_mode == "new":
        name = draft.new_name.strip()
        phone = draft.new_phone.strip() or None
        if not name:
            errors.append(FieldError("new_name", "enter the customer's name"))
        elif len(name) > 255:
            errors.append(FieldError("new_name", "must be at most 255 characters"))
        if phone and len(phone) > 64:
            errors.append(FieldError("new_phone", "must be at most 64 characters"))
        email = ""
        if not draft.new_email.strip():
            errors.append(FieldError("new_email", "enter the customer's e-mail"))
        else:
            try:
                email = normalise_email(draft.new_email, "new_email")
            except DomainError as exc:
                errors.extend(FieldError("new_email", e.reason) for e in exc.errors)
        if email and (known := _customer_by_email(db, email)) is not None:
            errors.append(
                FieldError(
                    "new_email",
                    f"{known['name'] or 'a customer'} already has this e-mail; choose Existing customer instead",
                )
            )
        return order_service.CustomerInput(email, name or None, phone)
    typed = draft.customer_email.strip()
    if not typed:
        errors.append(FieldError("customer_email", "find the customer by e-mail or name, or choose New customer"))
        return order_service.CustomerInput("")
    customer = _customer_by_email(db, typed.lower())
    if customer is None:
        matches = find_customers(db, typed, limit=2)
        if len(matches) == 1:
            customer = matches[0]
        else:
            reason = (
                "several customers match; pick one from the list or type their full e-mail"
                if matches
                else "no customer has this e-mail; check it, or choose New customer"
            )
            errors.append(FieldError("customer_email", reason))
            return order_service.CustomerInput(typed)
    # An existing customer keeps their name and phone: pass None so nothing is overwritten.
    return order_service.CustomerInput(str(customer["email"]))


def _check_address(draft: PhoneOrderDraft, errors: list[FieldError]) -> dict[str, str]:
    address: dict[str, str] = {}
    for name in ADDRESS_FIELDS:
        value = draft.address.get(name, "").strip()
        if name == "country":
            value = value.upper()
        limit = 32 if name == "postal_code" else 255
        if len(value) > limit:
            errors.append(FieldError(f"ship_{name}", f"must be at most {limit} characters"))
        if value:
            address[name] = value
    for name, what in REQUIRED_ADDRESS.items():
        if name not in address:
            errors.append(FieldError(f"ship_{name}", f"enter {what}"))
    if "country" not in address:
        errors.append(FieldError("ship_country", "enter the two-letter country code, such as US"))
    elif not _COUNTRY_RE.match(address["country"]):
        errors.append(FieldError("ship_country", "must be a two-letter country code, such as US"))
    return address


def build_capture(
    db: Database, draft: PhoneOrderDraft, *, max_quantity: int, max_lines: int
) -> tuple[order_service.CaptureOrder, list[int]]:
    """The capture command for a draft, and the form row of each of its lines; or a refusal
    listing every field that is wrong (nothing is written either way)."""
    currency, active = _channel(db)
    errors: list[FieldError] = []
    if not active:
        errors.append(FieldError("channel", "the phone channel is inactive; an administrator can enable it"))
    customer = _check_customer(db, draft, errors)
    address = _check_address(draft, errors)
    if draft.service_level not in dict(SERVICE_LEVELS):
        errors.append(FieldError("service_level", "choose a service level from the list"))
    shipping = Decimal(0)
    if draft.shipping_total.strip():
        shipping = _parse_amount(draft.shipping_total, "shipping_total", errors, currency) or Decimal(0)
    notes = draft.notes.strip() or None
    if notes and len(notes) > 2000:
        errors.append(FieldError("notes", "must be at most 2,000 characters"))

    lines = [ln for ln in draft.lines if not ln.blank]
    if not lines:
        errors.append(FieldError("lines", "add at least one line: a SKU and a quantity"))
    if len(lines) > max_lines:
        errors.append(FieldError("lines", f"an order can have at most {max_lines} lines"))
    products = _products_by_sku(db, [ln.sku.strip() for ln in lines])
    inputs: list[order_service.LineInput] = []
    rows: list[int] = []
    for ln in lines:
        path = f"lines[{ln.row}]"
        sku = ln.sku.strip()
        product = products.get(sku)
        if not sku:
            errors.append(FieldError(f"{path}.sku", "enter a SKU"))
        elif product is None:
            errors.append(FieldError(f"{path}.sku", f"there is no product with SKU {sku!r}"))
        elif not product["active"]:
            errors.append(FieldError(f"{path}.sku", f"{sku} is inactive and cannot be ordered"))
        qty = _parse_quantity(ln.quantity, f"{path}.quantity", errors, max_quantity)
        price: Decimal | None = None
        if ln.unit_price.strip():
            price = _parse_amount(ln.unit_price, f"{path}.unit_price", errors, currency)
        elif product is not None:
            if product["list_price"] is None:
                errors.append(FieldError(f"{path}.unit_price", "this product has no list price; enter a price"))
            elif product["currency"] != currency:
                errors.append(
                    FieldError(
                        f"{path}.unit_price", f"the list price is in {product['currency']}; enter a {currency} price"
                    )
                )
            else:
                price = money.quantize(Decimal(product["list_price"]), currency)
        if product is not None and qty is not None and price is not None:
            inputs.append(order_service.LineInput(sku, qty, price))
            rows.append(ln.row)
    _check_stock(db, lines, errors)
    if errors:
        code = (
            ErrorCode.INSUFFICIENT_STOCK
            if all(e.reason.startswith(_SHORT) for e in errors)
            else ErrorCode.VALIDATION_ERROR
        )
        raise _error(errors, f"{len(errors)} problem{'s' if len(errors) != 1 else ''} with this order", code)
    cmd = order_service.CaptureOrder(
        channel=PHONE_CHANNEL,
        lines=inputs,
        currency=currency,
        external_order_id=draft.token,
        customer=customer,
        shipping_address=address,
        shipping_total=shipping,
        service_level=draft.service_level,
        notes=notes,
    )
    return cmd, rows


_SHORT = "not enough stock"


def _check_stock(db: Database, lines: Sequence[LineDraft], errors: list[FieldError]) -> None:
    """Name every line the network cannot cover now, alongside the other problems, so the
    person fixes everything in one go. Advisory only: capture decides under its row locks."""
    wanted: dict[str, int] = {}
    for ln in lines:
        qty = ln.quantity.strip()
        if qty.isascii() and qty.isdigit() and int(qty) > 0:
            wanted[ln.sku.strip()] = wanted.get(ln.sku.strip(), 0) + int(qty)
    if not wanted:
        return
    stock = products_for_skus(db, list(wanted))
    for ln in lines:
        item = stock.get(ln.sku.strip())
        path = f"lines[{ln.row}].quantity"
        if item is None or any(e.field == path for e in errors) or not item["active"]:
            continue
        if wanted[item["sku"]] > item["network_available"]:
            errors.append(
                FieldError(
                    path,
                    f"{_SHORT} ({wanted[item['sku']]:,} of {item['sku']} wanted, "
                    f"{item['network_available']:,} available across the network)",
                )
            )


def _to_form_paths(exc: DomainError, rows: Sequence[int]) -> DomainError:
    """Capture names lines by their place in the order; the form names them by their row."""
    fixed = []
    for e in exc.errors:
        m = re.match(r"^lines\[(\d+)\]\.(\w+)$", e.field)
        if m and int(m.group(1)) < len(rows):
            fixed.append(FieldError(f"lines[{rows[int(m.group(1))]}].{m.group(2)}", e.reason))
        else:
            fixed.append(e)
    exc.errors = fixed
    return exc


def place_phone_order(
    db: Database, draft: PhoneOrderDraft, actor: Actor, *, max_quantity: int, max_lines: int
) -> PhoneOrderResult:
    """Check the form and capture the order on the phone channel, or refuse it whole.

    A form sent again (same token) returns the order it created the first time."""
    if not valid_token(draft.token):
        raise _error(
            [FieldError("token", "the form is missing its order token")],
            "This form is out of date. Start a new phone order.",
        )
    existing = _existing_order(db, draft.token)
    if existing is not None:
        return PhoneOrderResult(existing, order_number(existing), created=False)
    try:
        cmd, rows = build_capture(db, draft, max_quantity=max_quantity, max_lines=max_lines)
        try:
            result = order_service.capture_order(db, cmd, actor)
        except DomainError as exc:
            raise _to_form_paths(exc, rows) from None
    except DomainError:
        # The same form sent twice at once: the copy that lost may see the first one's new
        # customer (or its reserved stock) and be refused; it must get the first order instead.
        existing = _existing_order(db, draft.token)
        if existing is not None:
            return PhoneOrderResult(existing, order_number(existing), created=False)
        raise
    return PhoneOrderResult(result.order_id, order_number(result.order_id), result.created)


# --- look-ups for the form ------------------------------------------------------------------


def find_customers(db: Database, q: str, *, limit: int = MAX_LOOKUP) -> list[dict[str, Any]]:
    """Customers whose e-mail starts with, or whose name contains, ``q``; each with the
    shipping address of their latest order, so a repeat caller's address is one click away."""
    term = q.strip()[:MAX_QUERY].lower()
    if len(term) < 2:
        return []
    stmt = (
        select(_customers.c.id, _customers.c.email, _customers.c.name, _customers.c.phone)
        .where(
            or_(
                _customers.c.email.startswith(term, autoescape=True),
                func.lower(_customers.c.name).contains(term, autoescape=True),
            )
        )
        .order_by(func.lower(_customers.c.name), _customers.c.email)
        .limit(limit)
    )
    with db.read() as conn:
        found = [dict(r) for r in conn.execute(stmt).mappings()]
        ids = [c["id"] for c in found]
        latest = (
            select(
                _orders.c.customer_id,
                func.max(_orders.c.id).label("order_id"),
                func.count().label("orders"),
            )
            .where(_orders.c.customer_id.in_(ids))
            .group_by(_orders.c.customer_id)
            .subquery()
        )
        addresses = {
            int(r.customer_id): (r.shipping_address, int(r.order_id), int(r.orders))
            for r in conn.execute(
                select(latest.c.customer_id, latest.c.order_id, latest.c.orders, _orders.c.shipping_address).join(
                    _orders, _orders.c.id == latest.c.order_id
                )
            )
        }
    out = []
    for c in found:
        address, last_order, count = addresses.get(int(c["id"]), (None, None, 0))
        out.append(
            {
                "email": c["email"],
                "name": c["name"],
                "phone": c["phone"],
                "orders": count,
                "last_order": order_number(last_order) if last_order else None,
                "last_address": {k: v for k, v in (address or {}).items() if k in ADDRESS_FIELDS and v} or None,
            }
        )
    return out


_PRODUCT_COLS = (
    _products.c.id,
    _products.c.sku,
    _products.c.name,
    _products.c.list_price,
    _products.c.currency,
    _products.c.active,
)


def _product_items(conn: Any, found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    stock = availability_by_product(conn, [int(p["id"]) for p in found])
    return [
        {
            "sku": p["sku"],
            "name": p["name"],
            "list_price": None
            if p["list_price"] is None
            else str(money.quantize(Decimal(p["list_price"]), p["currency"])),
            "currency": p["currency"],
            "active": bool(p["active"]),
            **stock[int(p["id"])],
        }
        for p in found
    ]


def find_products(db: Database, q: str, *, limit: int = MAX_LOOKUP) -> list[dict[str, Any]]:
    """Products whose SKU starts with (or whose name contains) ``q``: the exact SKU first,
    then SKU matches, then name matches; each with its stock per active location and what the
    network can promise (active locations that ship)."""
    term = q.strip()[:MAX_QUERY].lower()
    if not term:
        return []
    sku_l = func.lower(_products.c.sku)
    by_sku = select(*_PRODUCT_COLS).where(sku_l.startswith(term, autoescape=True)).order_by(_products.c.sku)
    by_name = (
        select(*_PRODUCT_COLS)
        .where(func.lower(_products.c.name).contains(term, autoescape=True))
        .order_by(_products.c.sku)
    )
    with db.read() as conn:
        found = [dict(r) for r in conn.execute(by_sku.limit(limit)).mappings()]
        if len(found) < limit:
            seen = {p["id"] for p in found}
            found += [dict(r) for r in conn.execute(by_name.limit(limit * 2)).mappings() if r["id"] not in seen]
        found.sort(key=lambda p: 0 if str(p["sku"]).lower() == term else 1)  # stable: keeps the rest in order
        return _product_items(conn, found[:limit])


def availability_by_product(conn: Any, product_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per product: stock at every active location (zeros where none was ever booked, so every
    product shows the same columns), and the network available over the ones that ship."""
    out: dict[int, dict[str, Any]] = {pid: {"network_available": 0, "locations": []} for pid in product_ids}
    if not product_ids:
        return out
    locations = conn.execute(
        select(_locations.c.id, _locations.c.code, _locations.c.name, _locations.c.ships)
        .where(_locations.c.active)
        .order_by(_locations.c.priority, _locations.c.code)
    ).all()
    levels = {
        (int(r.product_id), int(r.location_id)): (int(r.on_hand), int(r.reserved), int(r.safety_stock))
        for r in conn.execute(
            select(
                _stock.c.product_id, _stock.c.location_id, _stock.c.on_hand, _stock.c.reserved, _stock.c.safety_stock
            ).where(_stock.c.product_id.in_(list(product_ids)))
        )
    }
    for pid, item in out.items():
        for loc in locations:
            on_hand, reserved, safety = levels.get((pid, int(loc.id)), (0, 0, 0))
            available = on_hand - reserved - safety
            item["locations"].append(
                {
                    "location": loc.code,
                    "name": loc.name,
                    "on_hand": on_hand,
                    "reserved": reserved,
                    "available": available,
                    "ships": bool(loc.ships),
                }
            )
            if loc.ships:
                item["network_available"] += max(available, 0)
    return out


def products_for_skus(db: Database, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The SKUs typed on a form, as ``find_products`` shows them: lets a re-shown form show
    each line's product and stock without JavaScript."""
    wanted = sorted({s.strip() for s in skus if s.strip()})
    if not wanted:
        return {}
    with db.read() as conn:
        found = [dict(r) for r in conn.execute(select(*_PRODUCT_COLS).where(_products.c.sku.in_(wanted))).mappings()]
        return {item["sku"]: item for item in _product_items(conn, found)}


def customer_summary(db: Database, email: str) -> dict[str, Any] | None:
    """The customer an e-mail on the form names, for the form's customer card."""
    email = email.strip().lower()
    if not email:
        return None
    return _customer_by_email(db, email)
