"""Demo data: a small US network, several channels, a catalogue, stock and orders.

Everything goes through the same services as real traffic, so the ledger balances and
`openoms check` passes on a fresh demo database.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import random
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from openoms.adapters.carriers.rate_csv import DEMO_NETWORK, DEMO_RATES
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Product, table
from openoms.domain.access import Role
from openoms.domain.errors import DomainError
from openoms.domain.inventory import LedgerEntryType
from openoms.domain.orders import HoldType
from openoms.services import apikeys, catalog, inventory, routing_setup, users
from openoms.services import orders as order_service
from openoms.services.common import Actor

DEMO = Actor("demo-data")


#: Street addresses for the demo network's senders (labels and packing slips print them).
DEMO_STREETS = {
    "WH-RNO": "1200 Waltham Way",
    "WH-DFW": "800 Freeport Pkwy",
    "WH-CMH": "6800 Alum Creek Dr",
    "WH-ATL": "200 Greenwood Industrial Pkwy",
    "WH-ABE": "705 Boulder Dr",
    "ST-NYC": "151 W 34th St",
    "ST-LAX": "735 S Figueroa St",
    "ST-CHI": "520 N Michigan Ave",
    "ST-HOU": "5085 Westheimer Rd",
    "ST-PHX": "2 E Jefferson St",
    "ST-PHL": "1001 Market St",
    "ST-SFO": "170 O'Farrell St",
    "ST-SEA": "400 Pine St",
    "ST-MIA": "701 S Miami Ave",
    "ST-DEN": "1701 Wynkoop St",
}


def demo_locations() -> list[dict[str, Any]]:
    """The demo network: 5 US warehouses and 10 stores with real coordinates, cut-offs in
    their own timezones, working days, holiday calendars and capacities (us_network.csv)."""
    out = []
    with DEMO_NETWORK.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            hh, mm = row["cutoff_time"].split(":")
            out.append(
                dict(
                    code=row["code"],
                    name=row["name"],
                    kind=row["kind"],
                    address_line1=DEMO_STREETS.get(row["code"]),
                    city=row["city"],
                    region=row["region"],
                    postal_code=row["postal_code"],
                    country=row["country"],
                    latitude=Decimal(row["latitude"]),
                    longitude=Decimal(row["longitude"]),
                    timezone=row["timezone"],
                    cutoff_time=dt.time(int(hh), int(mm)),
                    workdays=row["workdays"],
                    holiday_calendar=row["holiday_calendar"],
                    handling_days=int(row["handling_days"]),
                    daily_capacity=int(row["daily_capacity"]),
                    ships=row["ships"] == "true",
                    pickup=row["pickup"] == "true",
                    hazmat_licensed=row["hazmat_licensed"] == "true",
                    secure=row["secure"] == "true",
                    accepts_returns=True,
                    priority=int(row["priority"]),
                )
            )
    return out


LOCATIONS: list[dict[str, Any]] = demo_locations()

CHANNELS = [
    dict(code="web", name="Own web store", kind="web", currency="USD"),
    dict(code="shopify", name="Shopify US", kind="shopify", currency="USD"),
    dict(code="amazon", name="Amazon US", kind="amazon", currency="USD"),
    dict(code="b2b", name="Wholesale portal", kind="b2b", currency="USD"),
    dict(code="phone", name="Phone orders", kind="phone", currency="USD"),
    dict(code="pos", name="Stores (POS)", kind="pos", currency="USD"),
]

_FAMILIES = [
    ("TEE", "Organic cotton tee", Decimal("24.00"), 180, ["BLK", "WHT", "NVY"], ["S", "M", "L", "XL"]),
    ("HOOD", "Fleece hoodie", Decimal("68.00"), 620, ["GRY", "BLK"], ["S", "M", "L", "XL"]),
    ("JEAN", "Slim selvedge jeans", Decimal("98.00"), 750, ["IND"], ["30", "32", "34", "36"]),
    ("CAP", "Six-panel cap", Decimal("28.00"), 110, ["BLK", "OLV", "SND"], ["OS"]),
    ("BOTL", "Insulated bottle 750 ml", Decimal("32.00"), 390, ["STL", "BLU"], ["OS"]),
    ("PACK", "Commuter backpack 22 l", Decimal("129.00"), 1150, ["BLK", "GRY"], ["OS"]),
    ("WTCH", "Field watch", Decimal("349.00"), 140, ["STL"], ["OS"]),
    ("LAMP", "Camping lantern (Li-ion)", Decimal("59.00"), 520, ["BLK"], ["OS"]),
]

CITIES = [
    ("Ana Rivera", "Austin", "TX", "78701"),
    ("Ben Okafor", "Chicago", "IL", "60607"),
    ("Chloe Martin", "Seattle", "WA", "98101"),
    ("Dev Patel", "Edison", "NJ", "08817"),
    ("Emma Schultz", "Denver", "CO", "80202"),
    ("Farah Haddad", "Dearborn", "MI", "48126"),
    ("Gus Lindqvist", "Minneapolis", "MN", "55401"),
    ("Hana Sato", "San Jose", "CA", "95113"),
    ("Ivan Petrov", "Brooklyn", "NY", "11201"),
    ("Julia Costa", "Miami", "FL", "33130"),
]


ProgressFn = Callable[[str, int, int], None]  # (stage, done so far, total)


def is_empty(db: Database) -> bool:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table(Product))).scalar_one()) == 0


def products() -> list[dict[str, Any]]:
    out = []
    for code, name, price, grams, colours, sizes in _FAMILIES:
        for colour in colours:
            for size in sizes:
                sku = f"{code}-{colour}" + (f"-{size}" if size != "OS" else "")
                out.append(
                    dict(
                        sku=sku,
                        name=f"{name}, {colour.lower()}" + (f", {size}" if size != "OS" else ""),
                        weight_grams=grams,
                        length_mm=300,
                        width_mm=220,
                        height_mm=40 if grams < 500 else 120,
                        hazmat=code == "LAMP",
                        high_value=code == "WTCH",
                        list_price=price,
                        currency="USD",
                    )
                )
    return out


DEMO_SPAN_MINUTES = 14 * 24 * 60
DEMO_USERS = (
    ("admin@openoms.example", "Alex Admin", Role.ADMIN),
    ("ops@openoms.example", "Olivia Operations", Role.OPERATIONS),
    ("cs@openoms.example", "Sam Service", Role.CUSTOMER_SERVICE),
    ("warehouse@openoms.example", "Wes Warehouse", Role.WAREHOUSE),
    ("finance@openoms.example", "Fiona Finance", Role.FINANCE),
)


def load(db: Database, *, order_count: int = 200, progress: ProgressFn | None = None, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(conn, LOCATIONS)
        catalog.CHANNELS.upsert_many(conn, CHANNELS)
        catalog.PRODUCTS.upsert_many(conn, products())
    routing_setup.load_rates(db, DEMO_RATES.read_text(encoding="utf-8"), "demo_rates.csv", DEMO)
    prods = products()
    changes = []
    for idx, p in enumerate(prods):
        scarce = idx % 10 == 4  # a few SKUs run low, so low stock and shortages show up
        for loc in LOCATIONS:
            is_store = loc["kind"] == "store"
            qty = rng.choice([0, 2, 5, 8, 12]) if is_store else rng.randint(20, 400)
            if scarce and not is_store:
                qty = rng.choice([0, 3, 6])
            if rng.random() < 0.08:
                qty = 0  # some gaps so that splits and shortages happen
            if qty:
                changes.append(
                    inventory.StockChange(
                        p["sku"], loc["code"], LedgerEntryType.RECEIPT, qty, "opening stock", "DEMO-OPEN"
                    )
                )
    step = 200
    for i in range(0, len(changes), step):
        inventory.change_stock(db, changes[i : i + step], DEMO)
        if progress:
            progress("stock", min(i + step, len(changes)), len(changes))
    channels = ["web", "web", "web", "shopify", "shopify", "amazon", "amazon", "b2b", "phone"]
    placed = 0
    now = dt.datetime.now(dt.UTC)
    for n in range(order_count):
        who, city, region, postal = CITIES[n % len(CITIES)]
        chosen = rng.sample(prods, rng.randint(1, 4))
        channel = channels[n % len(channels)]
        # Spread over the last two weeks, so the dashboard has history to draw.
        placed_at = now - dt.timedelta(minutes=int(DEMO_SPAN_MINUTES * (order_count - n) / order_count))
        cmd = orders_cmd(channel, n, who, city, region, postal, chosen, rng, placed_at)
        try:
            res = order_service.capture_order(db, cmd, DEMO)
            placed += 1
            if n % 11 == 5:
                order_service.cancel_order(db, res.order_id, "customer changed their mind", DEMO)
            elif n % 13 == 3:
                order_service.place_hold(
                    db, res.order_id, HoldType.FRAUD, "billing and shipping countries differ", DEMO
                )
            elif n % 17 == 8:
                order_service.place_hold(
                    db, res.order_id, HoldType.PAYMENT, "card authorisation declined (insufficient funds)", DEMO
                )
        except DomainError:
            pass  # a demo basket the network cannot cover is simply not placed
        if progress:
            progress("orders", n + 1, order_count)
    _stock_operations(db, prods, now)
    _payments(db)
    _returns(db)
    _, secret = apikeys.create_api_key(db, "demo", ["*"], DEMO)
    password = secrets.token_urlsafe(9)
    for email, name, role in DEMO_USERS:
        users.create_user(db, email, name, role, password, DEMO)
    return {
        "users": [(email, role.label) for email, _, role in DEMO_USERS],
        "password": password,
        "products": len(prods),
        "locations": len(LOCATIONS),
        "channels": len(CHANNELS),
        "orders": placed,
        "api_key": secret,
    }


def orders_cmd(
    channel: str,
    n: int,
    who: str,
    city: str,
    region: str,
    postal: str,
    chosen: list[dict[str, Any]],
    rng: random.Random,
    placed_at: dt.datetime,
) -> order_service.CaptureOrder:
    email = who.lower().replace(" ", ".") + "@example.com"
    lines = [
        order_service.LineInput(
            sku=p["sku"],
            quantity=rng.choice([1, 1, 1, 2, 3]),
            unit_price=p["list_price"],
            discount=Decimal("5.00") if rng.random() < 0.2 else Decimal(0),
            tax=(p["list_price"] * Decimal("0.0825")).quantize(Decimal("0.01")),
        )
        for p in chosen
    ]
    return order_service.CaptureOrder(
        channel=channel,
        external_order_id=f"{channel.upper()}-{10_000 + n}",
        currency="USD",
        customer=order_service.CustomerInput(email, who),
        shipping_address={
            "name": who,
            "line1": f"{100 + n} Main St",
            "city": city,
            "region": region,
            "postal_code": postal,
            "country": "US",
        },
        lines=lines,
        shipping_total=Decimal("7.95"),
        placed_at=placed_at,
    )


def _stock_operations(db: Database, prods: list[dict[str, Any]], now: dt.datetime) -> None:
    """A few purchase orders on their way (one late), reorder points on the scarce SKUs, and
    one transfer in transit plus one draft, so the inbound, transfers and low-stock pages
    have something to show. Anything the demo stock cannot cover is skipped."""
    from openoms.domain.stock_ops import TransferLineRequest
    from openoms.services import inbound, stock_ops

    lots = [
        (prods[4]["sku"], "WH-CMH", 120, -2, "PO-20418"),  # late
        (prods[14]["sku"], "WH-DFW", 80, 3, "PO-20431"),
        (prods[1]["sku"], "WH-ABE", 240, 6, "PO-20433"),
        (prods[24 % len(prods)]["sku"], "WH-RNO", 60, 9, "PO-20440"),
    ]
    for sku, loc, qty, days, ref in lots:
        inbound.expect_inbound(
            db,
            sku=sku,
            location=loc,
            quantity=qty,
            expected_at=now + dt.timedelta(days=days),
            kind="purchase_order",
            reference=ref,
            actor=DEMO,
        )
    for idx in range(4, len(prods), 10):
        for loc in ("WH-CMH", "WH-DFW", "WH-ATL"):
            with contextlib.suppress(DomainError):
                stock_ops.set_stock_policy(db, prods[idx]["sku"], loc, safety_stock=1, reorder_point=8, actor=DEMO)
    for lines, ship in (([(prods[0]["sku"], 12), (prods[2]["sku"], 6)], True), ([(prods[3]["sku"], 10)], False)):
        with contextlib.suppress(DomainError):
            stock_ops.create_transfer(
                db,
                from_location="WH-ABE",
                to_location="WH-ATL",
                lines=[TransferLineRequest(s, q) for s, q in lines],
                expected_at=now + dt.timedelta(days=2),
                carrier="Local courier",
                actor=DEMO,
                ship=ship,
            )


def _payments(db: Database) -> None:
    """Payments on the demo orders (docs/payments.md): web and Shopify orders carry a card
    authorised at the test provider (captured when they ship), phone orders a cash payment
    recorded by hand, and one card is disputed so the payment review page has an entry."""
    from sqlalchemy import select

    from openoms.adapters.db.tables import Order, table
    from openoms.adapters.payments.base import GatewayEvent, GatewayEventKind
    from openoms.services import payments

    orders_t = table(Order)
    with db.read() as conn:
        rows = conn.execute(
            select(orders_t.c.id, orders_t.c.external_order_id, orders_t.c.grand_total)
            .where(orders_t.c.status != "cancelled")
            .order_by(orders_t.c.id)
        ).all()
    disputed = False
    for r in rows:
        ext = str(r.external_order_id or "")
        with contextlib.suppress(DomainError):
            if ext.startswith(("WEB-", "SHOPIFY-")):
                p = payments.authorize_payment(
                    db, int(r.id), provider="test", payment_method="test_ok", actor=DEMO, idempotency_key="demo"
                )
                if not disputed and ext.startswith("SHOPIFY-"):
                    disputed = True
                    payments.capture_payment(db, p["id"], p["amount_authorized"], actor=DEMO, idempotency_key="demo")
                    payments.apply_gateway_event(
                        db,
                        "test",
                        GatewayEvent(
                            "evt_demo_dispute",
                            "charge.dispute.created",
                            GatewayEventKind.DISPUTED,
                            p["reference"],
                            p["amount_authorized"],
                            "USD",
                            {"reason": "product_not_received"},
                        ),
                    )
            elif ext.startswith("PHONE-"):
                payments.record_manual_payment(
                    db,
                    int(r.id),
                    method="cash",
                    amount=Decimal(r.grand_total),
                    reference=f"TILL-{r.id}",
                    actor=DEMO,
                    idempotency_key="demo",
                )


def _returns(db: Database) -> None:
    """A few shipped orders with returns in different states (requested, approved with a
    label, received with a restock and a write-off, in store), so the returns pages have a
    queue to show. Anything the demo cannot do (a held order, a short store) is skipped."""
    from openoms.adapters.db.tables import Order
    from openoms.domain import fulfillment as fx
    from openoms.services import fulfillment
    from openoms.services import returns as returns_service

    orders_t = table(Order)
    with db.read() as conn:
        candidates = [
            int(i)
            for i in conn.execute(
                select(orders_t.c.id).where(orders_t.c.status == "allocated").order_by(orders_t.c.id).limit(12)
            ).scalars()
        ]
    shipped: list[int] = []
    for oid in candidates:
        if len(shipped) == 4:
            break
        try:
            for fo in fulfillment.release_order(db, oid, DEMO):
                units = [(ln["line_number"], ln["quantity_open"]) for ln in fo["lines"] if ln["quantity_open"] > 0]
                fulfillment.ship(
                    db,
                    fo["id"],
                    carrier="UPS",
                    service_code="UPS-GROUND",
                    packages=[fx.PackageInput(f"1ZDEMO{fo['id']:06d}", 900, units)],
                    actor=DEMO,
                )
            shipped.append(oid)
        except DomainError:
            continue
    plans: list[tuple[str, str | None, str, bool, list[tuple[str, str]] | None]] = [
        ("mail", None, "wrong_size", False, None),
        ("mail", None, "changed_mind", True, None),
        ("mail", None, "defective", True, [("restock", "unopened"), ("write_off", "damaged")]),
        ("in_store", "ST-CHI", "no_longer_needed", True, [("restock", "opened")]),
    ]
    for oid, (method, store, reason, approve, receipts) in zip(shipped, plans, strict=False):
        with contextlib.suppress(DomainError):
            el = returns_service.check_eligibility(db, oid)
            line = next((ln for ln in el["lines"] if ln["returnable"] > 0), None)
            if line is None:
                continue
            qty = min(line["returnable"], 2 if receipts and len(receipts) == 2 else 1)
            ret = returns_service.request_return(
                db,
                oid,
                lines=[{"line_number": line["line_number"], "quantity": qty, "reason": reason}],
                method=method,
                location=store,
                source="customer_service",
                actor=DEMO,
                approve=approve,
            )
            if method == "mail" and approve:
                returns_service.return_label_pdf(db, ret["id"], actor=DEMO)
            for i, (disposition, condition) in enumerate(receipts or []):
                if i >= qty:
                    break
                returns_service.receive_return(
                    db,
                    ret["id"],
                    location=store or ret["location"],
                    lines=[
                        {
                            "line_number": line["line_number"],
                            "quantity": 1,
                            "condition": condition,
                            "disposition": disposition,
                        }
                    ],
                    actor=DEMO,
                )
            if receipts and method == "in_store":  # paid at the test provider: refunded at the counter
                returns_service.issue_return_refund(db, ret["id"], actor=DEMO, idempotency_key="demo")
