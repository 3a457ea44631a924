"""Set-up and admin pages as a browser-less client sees them: role gates, forms that refuse
bad input and change nothing, audit rows with the person's name, API keys shown once."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import AuditEntry, table
from openoms.domain.access import ROLE_PERMISSIONS, Permission, Role
from openoms.services import catalog, users
from openoms.services.common import Actor
from openoms.web.auth import SESSION_COOKIE
from tests.conftest import seed_basics

PASSWORD = "correct horse battery"
audit_t = table(AuditEntry)


class Person:
    """A signed-in browser: the session cookie and the CSRF token its forms carry."""

    def __init__(self, client: TestClient, db: Database, email: str, password: str = PASSWORD) -> None:
        self.client = client
        self.user, self.token = users.sign_in(db, email, password)

    def _use(self) -> None:
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.token)

    def get(self, path: str) -> Response:
        self._use()
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> Response:
        self._use()
        body = {"csrf_token": self.user.csrf_token} if csrf else {}
        return self.client.post(path, data={**body, **(data or {})}, follow_redirects=False)


@pytest.fixture
def staff(db: Database) -> dict[Role, dict[str, Any]]:
    """One user per role; e-mail ``<role>@example.com``."""
    seed_basics(db)
    return {
        role: users.create_user(db, f"{role.value}@example.com", f"{role.label} Person", role, PASSWORD, Actor("tests"))
        for role in Role
    }


def as_role(app_client: TestClient, db: Database, role: Role) -> Person:
    return Person(app_client, db, f"{role.value}@example.com")


def audit_rows(db: Database, **where: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        stmt = select(audit_t).where(*(audit_t.c[k] == v for k, v in where.items())).order_by(audit_t.c.id)
        return [dict(r) for r in conn.execute(stmt).mappings()]


def audit_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_t)).scalar_one())


def field_error(html: str, field: str) -> str:
    """The message shown next to a field, which the field names in aria-describedby."""
    tag = re.search(rf'<(?:input|select|textarea)[^>]*\bid="f-{field}"[^>]*>', html)
    assert tag, f"no field {field}"
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    assert f"f-{field}-error" in tag.group(0), "the message is not tied to the field"
    msg = re.search(rf'<p class="error" id="f-{field}-error">(.*?)</p>', html, re.S)
    assert msg, f"no message for {field}"
    return html_lib.unescape(re.sub(r"<[^>]+>", "", msg.group(1)).replace("Error: ", "").strip())


PRODUCT_FORM = {
    "name": "Product A",
    "description": "",
    "list_price": "10.00",
    "currency": "USD",
    "weight_grams": "",
    "length_mm": "",
    "width_mm": "",
    "height_mm": "",
    "active": "1",
}


# --- role gates -------------------------------------------------------------------------------

PAGES = [
    ("/products", Permission.CATALOG_VIEW),
    ("/products/A", Permission.CATALOG_VIEW),
    ("/products/new", Permission.CATALOG_EDIT),
    ("/locations", Permission.CATALOG_VIEW),
    ("/locations/WH1", Permission.CATALOG_VIEW),
    ("/locations/new", Permission.CATALOG_EDIT),
    ("/channels", Permission.CATALOG_VIEW),
    ("/channels/web", Permission.CATALOG_VIEW),
    ("/channels/new", Permission.CATALOG_EDIT),
    ("/users", Permission.USERS_MANAGE),
    ("/users/new", Permission.USERS_MANAGE),
    ("/api-keys", Permission.API_KEYS_MANAGE),
    ("/api-keys/new", Permission.API_KEYS_MANAGE),
    ("/audit", Permission.AUDIT_VIEW),
]


def test_each_page_opens_for_the_roles_that_may_and_refuses_the_others(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    for role in Role:
        person = as_role(app_client, db, role)
        for path, permission in PAGES:
            r = person.get(path)
            expected = 200 if permission in ROLE_PERMISSIONS[role] else 403
            assert r.status_code == expected, (role, path, r.status_code)
            if expected == 403:
                assert f"Your role ({role.label}) may not" in r.text


def test_the_gates_match_what_the_issue_asks(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    cs = as_role(app_client, db, Role.CUSTOMER_SERVICE)
    assert cs.get("/users").status_code == 403
    r = cs.post("/products/new", {**PRODUCT_FORM, "sku": "CS-1", "name": "Not allowed"})
    assert r.status_code == 403
    assert "may not edit products, locations and channels" in r.text
    with pytest.raises(Exception, match="does not exist"):
        catalog.PRODUCTS.get(db, "CS-1")
    r = cs.post("/products/A", {**PRODUCT_FORM, "name": "Renamed by CS"})
    assert r.status_code == 403
    assert catalog.PRODUCTS.get(db, "A")["name"] == "Product A"
    # Customer service may look: the form is shown read-only, without a save button.
    page = cs.get("/products/A").text
    assert "may look at products but not change them" in page
    assert "Save changes" not in page and "<fieldset" in page and "disabled" in page
    warehouse = as_role(app_client, db, Role.WAREHOUSE)
    r = warehouse.get("/users")
    assert r.status_code == 403 and "Your role (Warehouse) may not manage users" in r.text


def test_signed_out_pages_go_to_sign_in_and_posts_need_the_csrf_token(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    app_client.cookies.clear()
    r = app_client.get("/products?q=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fproducts%3Fq%3Dx"
    admin = as_role(app_client, db, Role.ADMIN)
    r = admin.post("/products/A", {**PRODUCT_FORM, "name": "Forged"}, csrf=False)
    assert r.status_code == 403
    assert catalog.PRODUCTS.get(db, "A")["name"] == "Product A"


# --- products ---------------------------------------------------------------------------------


def test_operations_edits_a_product_and_the_audit_log_names_them(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    ops = as_role(app_client, db, Role.OPERATIONS)
    form = {
        **PRODUCT_FORM,
        "name": "Product A, relaunched",
        "list_price": "12.50",
        "weight_grams": "250",
        "hazmat": "1",
        "description": "Now in recycled packaging",
    }
    r = ops.post("/products/A", form)
    assert r.status_code == 303 and r.headers["location"] == "/products/A"
    row = catalog.PRODUCTS.get(db, "A")
    assert row["name"] == "Product A, relaunched"
    assert str(row["list_price"]).startswith("12.5")
    assert row["weight_grams"] == 250 and row["hazmat"] is True and row["active"] is True
    [entry] = audit_rows(db, action="product.updated")
    assert entry["actor"] == "user:Operations Person <operations@example.com>"
    assert entry["subject_type"] == "product" and entry["subject_id"] == "A"
    assert "list price 10.00 → 12.50" in entry["message"]
    assert "hazardous material no → yes" in entry["message"]
    assert entry["data"]["changes"]["name"] == {"from": "Product A", "to": "Product A, relaunched"}
    # The flash on the next page says what changed.
    page = ops.get("/products/A")
    assert "Product A, relaunched" in page.text
    # Saving the same values again changes nothing and writes no audit row.
    r = ops.post("/products/A", form)
    assert r.status_code == 303
    assert len(audit_rows(db, action="product.updated")) == 1


def test_invalid_product_input_is_shown_next_to_each_field_and_changes_nothing(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    before = catalog.PRODUCTS.get(db, "A")
    audits = audit_count(db)
    bad = {**PRODUCT_FORM, "name": "", "list_price": "12.345678", "currency": "xyz", "weight_grams": "-3"}
    r = admin.post("/products/A", bad)
    assert r.status_code == 422
    assert field_error(r.text, "name") == "Required."
    assert field_error(r.text, "list_price") == "Use at most 4 decimal places."
    assert "is not an ISO 4217 currency code" in field_error(r.text, "currency")
    assert field_error(r.text, "weight_grams") == "Must be at least 0."
    # What was typed is shown again (currency upper-cased), so nothing has to be retyped.
    assert 'value="12.345678"' in r.text and 'value="XYZ"' in r.text and 'value="-3"' in r.text
    assert 'role="alert"' in r.text and "Please fix these 4 things" in r.text
    assert catalog.PRODUCTS.get(db, "A") == before
    assert audit_count(db) == audits


def test_a_new_product_is_created_once_and_a_duplicate_sku_is_refused(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    form = {**PRODUCT_FORM, "sku": "MUG-01", "name": "Enamel mug", "list_price": "14", "length_mm": "90"}
    r = admin.post("/products/new", form)
    assert r.status_code == 303 and r.headers["location"] == "/products/MUG-01"
    assert catalog.PRODUCTS.get(db, "MUG-01")["length_mm"] == 90
    [entry] = audit_rows(db, action="product.created")
    assert entry["actor"].startswith("user:Administrator Person") and entry["subject_id"] == "MUG-01"
    r = admin.post("/products/new", {**form, "name": "Another mug"})
    assert r.status_code == 409
    assert field_error(r.text, "sku") == "Already exists."
    assert catalog.PRODUCTS.get(db, "MUG-01")["name"] == "Enamel mug"
    assert len(audit_rows(db, action="product.created")) == 1
    r = admin.post("/products/new", {**form, "sku": "has space"})
    assert r.status_code == 422 and "letters, digits" in field_error(r.text, "sku")


def test_the_product_list_searches_and_pages(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    with db.begin() as conn:
        catalog.PRODUCTS.upsert_many(
            conn, [dict(sku=f"BULK-{i:03d}", name=f"Bulk item {i}", currency="USD") for i in range(120)]
        )
    wh = as_role(app_client, db, Role.WAREHOUSE)
    first = wh.get("/products").text
    assert "Showing <strong>1\N{EN DASH}50</strong> of <strong>124</strong>" in first
    assert 'rel="next"' in first and "New product" not in first  # warehouse may not add products
    r = wh.get("/products?q=bulk item 11&page=1")
    skus = re.findall(r'class="mono">(BULK-\d+)</a>', r.text)
    assert skus == ["BULK-011", *(f"BULK-{i}" for i in range(110, 120))]
    third = wh.get("/products?q=bulk&page=3").text
    assert "Showing <strong>101\N{EN DASH}120</strong> of <strong>120</strong>" in third
    assert 'href="/products?q=bulk&amp;page=2"' in third
    inactive = wh.get("/products?status=inactive").text
    assert "No products match" in inactive


# --- locations and channels -------------------------------------------------------------------

LOCATION_FORM = {
    "code": "DC-EAST",
    "name": "East DC",
    "kind": "warehouse",
    "address_line1": "1 Dock St",
    "city": "Newark",
    "region": "NJ",
    "postal_code": "07105",
    "country": "us",
    "latitude": "40.7357",
    "longitude": "-74.1724",
    "timezone": "America/New_York",
    "cutoff_time": "15:30",
    "daily_capacity": "2500",
    "priority": "15",
    "ships": "1",
    "accepts_returns": "1",
    "active": "1",
    "workdays": ["mon", "tue", "wed", "thu", "fri"],  # a browser posts every ticked box
    "handling_days": "0",
}


def test_a_location_is_created_and_edited_with_timezone_and_cut_off(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    ops = as_role(app_client, db, Role.OPERATIONS)
    r = ops.post("/locations/new", LOCATION_FORM)
    assert r.status_code == 303 and r.headers["location"] == "/locations/DC-EAST"
    row = catalog.LOCATIONS.get(db, "DC-EAST")
    assert row["country"] == "US" and row["cutoff_time"] == dt.time(15, 30) and row["pickup"] is False
    assert row["daily_capacity"] == 2500 and row["priority"] == 15 and row["ships"] and row["accepts_returns"]
    page = ops.get("/locations/DC-EAST").text
    assert 'value="15:30"' in page and 'value="40.7357"' in page
    r = ops.post("/locations/DC-EAST", {**LOCATION_FORM, "timezone": "America/Chicago", "pickup": "1"})
    assert r.status_code == 303
    [entry] = audit_rows(db, action="location.updated")
    assert "timezone America/New_York → America/Chicago" in entry["message"]
    assert "customers can pick up no → yes" in entry["message"]
    assert entry["actor"].startswith("user:Operations Person")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "'Mars/Olympus' is not an IANA timezone such as America/Chicago."),
        ("timezone", "", "Required."),
        ("latitude", "91", "Must be at most 90."),
        ("cutoff_time", "25:00", "Must be a local time HH:MM (24 h) in the location's timezone, e.g. 15:00."),
        ("daily_capacity", "lots", "Enter a whole number."),
        ("kind", "moon", "Choose one of the options."),
        ("country", "USA", "Use a two-letter ISO 3166 code, such as US or DE."),
    ],
)
def test_invalid_location_input_is_refused_next_to_the_field(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]], field: str, value: str, message: str
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    before = catalog.LOCATIONS.get(db, "WH1")
    form = {**LOCATION_FORM, "code": "WH1", field: value}
    r = admin.post("/locations/WH1", form)
    assert r.status_code == 422
    assert field_error(r.text, field) == message
    assert catalog.LOCATIONS.get(db, "WH1") == before
    assert audit_rows(db, action="location.updated") == []


def test_a_location_is_created_and_edited_with_its_routing_facts(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    ops = as_role(app_client, db, Role.OPERATIONS)
    page = ops.get("/locations/new").text
    assert page.count('name="workdays"') == 7 and page.count('name="workdays" value="mon" checked') == 1
    assert 'name="workdays" value="sat" checked' not in page  # Monday to Friday unless changed
    assert 'name="channels" value="shopify"' in page and 'name="channels" value="web"' in page
    routing = {
        "hazmat_licensed": "1",
        "secure": "1",
        "workdays": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "holiday_calendar": "us-tx",
        "handling_days": "2",
        "channels": ["web"],
    }
    r = ops.post("/locations/new", {**LOCATION_FORM, **routing})
    assert r.status_code == 303 and r.headers["location"] == "/locations/DC-EAST"
    row = catalog.LOCATIONS.get(db, "DC-EAST")
    assert row["hazmat_licensed"] is True and row["secure"] is True
    assert row["workdays"] == "mon tue wed thu fri sat" and row["holiday_calendar"] == "US-TX"
    assert row["handling_days"] == 2 and row["channels"] == ["web"]
    page = ops.get("/locations/DC-EAST").text
    assert 'name="workdays" value="sat" checked' in page and 'name="workdays" value="sun" checked' not in page
    assert 'name="channels" value="web" checked' in page and 'name="channels" value="shopify" checked' not in page
    assert 'value="US-TX"' in page and re.search(r'id="f-hazmat_licensed"[^>]*checked', page)

    # Saving what is shown changes nothing; then fewer days, no calendar, every channel.
    r = ops.post("/locations/DC-EAST", {**LOCATION_FORM, **routing})
    assert r.status_code == 303 and audit_rows(db, action="location.updated") == []
    edit = {**routing, "workdays": ["mon", "wed", "fri"], "holiday_calendar": "", "channels": [], "secure": ""}
    r = ops.post("/locations/DC-EAST", {**LOCATION_FORM, **edit})
    assert r.status_code == 303
    row = catalog.LOCATIONS.get(db, "DC-EAST")
    assert row["workdays"] == "mon wed fri" and row["holiday_calendar"] is None
    assert row["channels"] is None and row["secure"] is False and row["hazmat_licensed"] is True
    [entry] = audit_rows(db, action="location.updated")
    assert "working days mon tue wed thu fri sat → mon wed fri" in entry["message"]
    assert "holiday calendar US-TX → (empty)" in entry["message"]
    assert "secure for high-value goods yes → no" in entry["message"]

    listing = ops.get("/locations?q=DC-EAST").text
    assert "Mon, Wed, Fri" in listing and ">Hazmat<" in listing and ">Secure<" not in listing
    assert "Mon\u2013Fri" in ops.get("/locations?q=WH1").text  # the default week


def test_channels_set_through_the_api_in_another_order_are_not_a_change(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    catalog.LOCATIONS.update(db, "WH1", {"channels": ["web", "shopify"]})
    admin = as_role(app_client, db, Role.ADMIN)
    form = {**LOCATION_FORM, "code": "WH1", "name": "Warehouse 1", "channels": ["shopify", "web"]}
    form.update(_form_of(catalog.LOCATIONS.get(db, "WH1")))
    r = admin.post("/locations/WH1", form)
    assert r.status_code == 303 and audit_rows(db, action="location.updated") == []
    assert catalog.LOCATIONS.get(db, "WH1")["channels"] == ["web", "shopify"]


def _form_of(row: dict[str, Any]) -> dict[str, Any]:
    """The text fields and boxes of a stored location as its form posts them."""
    texts = ("name", "kind", "country", "timezone", "priority", "handling_days")
    form: dict[str, Any] = {f: str(row[f]) for f in texts}
    for f in ("address_line1", "address_line2", "city", "region", "postal_code", "latitude", "longitude"):
        form[f] = "" if row[f] is None else str(row[f])
    form["cutoff_time"] = row["cutoff_time"].strftime("%H:%M") if row["cutoff_time"] else ""
    form["daily_capacity"] = "" if row["daily_capacity"] is None else str(row["daily_capacity"])
    form["holiday_calendar"] = row["holiday_calendar"] or ""
    form["workdays"] = row["workdays"].split()
    for f in ("ships", "pickup", "accepts_returns", "active", "hazmat_licensed", "secure"):
        form[f] = "1" if row[f] else ""
    return form


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"workdays": ["mon", "funday"]}, "workdays", "'funday' is not a weekday; use mon tue wed thu fri sat sun."),
        ({"workdays": []}, "workdays", "A location needs at least one working day."),
        (
            {"holiday_calendar": "US-ZZ"},
            "holiday_calendar",
            "'US-ZZ': no public-holiday data: Entity `US` does not have subdivision ZZ; "
            "use a country (US) or country-subdivision (US-TX).",
        ),
        ({"handling_days": "31"}, "handling_days", "Must be at most 30."),
        ({"handling_days": "two"}, "handling_days", "Enter a whole number."),
        ({"channels": ["web", "nope"]}, "channels", "There is no channel nope."),
    ],
)
def test_bad_routing_facts_are_refused_next_to_the_field_and_change_nothing(
    app_client: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    before = catalog.LOCATIONS.get(db, "WH1")
    typed = {"hazmat_licensed": "1", "workdays": ["tue", "sat"], "holiday_calendar": "us", "handling_days": "3"}
    r = admin.post("/locations/WH1", {**_form_of(before), **typed, **changes})
    assert r.status_code == 422
    assert field_error(r.text, field) == message
    label = {"workdays": "Working days", "holiday_calendar": "Holiday calendar", "handling_days": "Handling days"}
    assert f"{label.get(field, 'Channels served')}: {message}" in html_lib.unescape(r.text)  # the summary names it
    assert catalog.LOCATIONS.get(db, "WH1") == before
    assert audit_rows(db, action="location.updated") == []
    # What was typed is shown again.
    if field != "workdays":
        assert 'name="workdays" value="tue" checked' in r.text and 'name="workdays" value="sat" checked' in r.text
        assert 'name="workdays" value="mon" checked' not in r.text
    if field != "holiday_calendar":
        assert 'id="f-holiday_calendar" name="holiday_calendar" type="text" value="US"' in r.text
    assert re.search(r'id="f-hazmat_licensed"[^>]*checked', r.text)
    # A new location with the same mistake is not created either.
    r = admin.post("/locations/new", {**_form_of(before), **typed, **changes, "code": "DC-NEW"})
    assert r.status_code == 422 and field_error(r.text, field) == message
    assert admin.get("/locations/DC-NEW").status_code == 404


def test_channels_are_created_edited_and_validated(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    r = admin.post("/channels/new", {"code": "eu-web", "name": "EU web store", "kind": "web", "currency": "eur"})
    assert r.status_code == 303
    row = catalog.CHANNELS.get(db, "eu-web")
    assert row["currency"] == "EUR" and row["active"] is False  # the box was not ticked
    r = admin.post("/channels/eu-web", {"name": "EU web store", "kind": "shopify", "currency": "EUR", "active": "1"})
    assert r.status_code == 303
    assert catalog.CHANNELS.get(db, "eu-web")["kind"] == "shopify"
    r = admin.post("/channels/eu-web", {"name": "EU web store", "kind": "web", "currency": "EUX", "active": "1"})
    assert r.status_code == 422 and "'EUX' is not an ISO 4217 currency code" in field_error(r.text, "currency")
    assert catalog.CHANNELS.get(db, "eu-web")["kind"] == "shopify"
    actions = [e["action"] for e in audit_rows(db, subject_type="channel")]
    assert actions == ["channel.created", "channel.updated"]
    assert admin.get("/channels/nope").status_code == 404


# --- users ------------------------------------------------------------------------------------


def test_an_admin_adds_a_user_who_can_then_sign_in(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    r = admin.post(
        "/users/new",
        {"name": "Nia New", "email": "Nia@Example.com", "role": "finance", "password": "a long passphrase"},
    )
    assert r.status_code == 303
    user_id = int(r.headers["location"].rsplit("/", 1)[1])
    created = users.get_user(db, user_id)
    assert created["email"] == "nia@example.com" and created["role"] == Role.FINANCE
    nia = Person(app_client, db, "nia@example.com", "a long passphrase")
    assert nia.get("/audit").status_code == 200  # finance reads the audit log
    assert nia.get("/users").status_code == 403
    [entry] = audit_rows(db, action="user.created", subject_id=str(user_id))
    assert entry["actor"] == "user:Administrator Person <admin@example.com>"
    listing = admin.get("/users").text
    assert "Nia New" in listing and "nia@example.com" in listing
    # The role table comes from ROLE_PERMISSIONS.
    assert listing.count('<th scope="row">') == len(Permission)


@pytest.mark.parametrize(
    ("form", "status", "field", "message"),
    [
        ({"email": "admin@example.com"}, 409, "email", "Is already taken."),
        ({"password": "short"}, 422, "password", "Must be at least 10 characters."),
        ({"email": "not-an-address"}, 422, "email", None),
        ({"name": "  "}, 422, "name", "Must not be empty."),
    ],
)
def test_refused_new_users_are_explained_and_nothing_is_created(
    app_client: TestClient,
    db: Database,
    staff: dict[Role, dict[str, Any]],
    form: dict[str, str],
    status: int,
    field: str,
    message: str | None,
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    before = len(users.list_users(db))
    audits = audit_count(db)
    base = {"name": "Pat", "email": "pat@example.com", "role": "warehouse", "password": "long enough password"}
    r = admin.post("/users/new", {**base, **form})
    assert r.status_code == status
    shown = field_error(r.text, field)
    if message:
        assert shown == message
    assert 'name="password"' in r.text and "long enough password" not in r.text  # never echoed
    assert len(users.list_users(db)) == before
    assert audit_count(db) == audits


def test_the_last_admin_cannot_be_demoted_or_disabled(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    admin_id = staff[Role.ADMIN]["id"]
    audits = audit_count(db)
    r = admin.post(f"/users/{admin_id}", {"name": "Administrator Person", "role": "finance", "active": "1"})
    assert r.status_code == 409
    assert "is the last active administrator" in r.text
    assert field_error(r.text, "role") == "The last administrator must stay."
    r = admin.post(f"/users/{admin_id}", {"name": "Administrator Person", "role": "admin"})  # unticked: disable
    assert r.status_code == 409
    assert field_error(r.text, "active") == "The last administrator must stay."
    assert users.get_user(db, admin_id)["role"] == Role.ADMIN and users.get_user(db, admin_id)["active"]
    assert audit_count(db) == audits
    assert admin.get("/users").status_code == 200  # still signed in


def test_a_disabled_users_session_stops_working_at_once(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    cs = as_role(app_client, db, Role.CUSTOMER_SERVICE)
    assert cs.get("/products").status_code == 200
    admin = as_role(app_client, db, Role.ADMIN)
    cs_id = staff[Role.CUSTOMER_SERVICE]["id"]
    r = admin.post(f"/users/{cs_id}", {"name": "Customer service Person", "role": "customer_service"})
    assert r.status_code == 303
    assert users.get_user(db, cs_id)["active"] is False
    r = cs.get("/products")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with pytest.raises(users.SignInRefused):
        users.sign_in(db, "customer_service@example.com", PASSWORD)
    [entry] = audit_rows(db, action="user.updated", subject_id=str(cs_id))
    assert "disabled" in entry["message"] and entry["actor"].startswith("user:Administrator Person")


def test_changing_a_role_and_setting_a_password(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    wh_id = staff[Role.WAREHOUSE]["id"]
    wh = as_role(app_client, db, Role.WAREHOUSE)
    r = admin.post(f"/users/{wh_id}", {"name": "Wes Warehouse", "role": "operations", "active": "1"})
    assert r.status_code == 303
    assert users.get_user(db, wh_id)["role"] == Role.OPERATIONS
    assert wh.get("/products/new").status_code == 303  # signed out by the role change
    assert as_role(app_client, db, Role.WAREHOUSE).get("/products/new").status_code == 200
    r = admin.post(f"/users/{wh_id}/password", {"password": "short"})
    assert r.status_code == 422 and field_error(r.text, "password") == "Must be at least 10 characters."
    r = admin.post(f"/users/{wh_id}/password", {"password": "a brand new passphrase"})
    assert r.status_code == 303
    users.sign_in(db, "warehouse@example.com", "a brand new passphrase")
    with pytest.raises(users.SignInRefused):
        users.sign_in(db, "warehouse@example.com", PASSWORD)
    assert [e["action"] for e in audit_rows(db, subject_type="user", subject_id=str(wh_id))][-2:] == [
        "user.updated",
        "user.password_set",
    ]


# --- API keys ---------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    r = admin.post("/api-keys/new", {"name": "erp-export", "scopes": ["catalog:read"]})
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    secret_match = re.search(r'id="secret" type="text" value="(oms_([0-9a-f]{8})_[^"]+)"', r.text)
    assert secret_match, r.text
    secret, prefix = secret_match.groups()
    assert "only time the key is shown" in r.text
    listing = admin.get("/api-keys").text
    assert f"oms_{prefix}_" in listing and secret not in listing
    api = {"Authorization": f"Bearer {secret}"}
    app_client.cookies.clear()
    assert app_client.get("/api/v1/products", headers=api).status_code == 200
    denied = app_client.post("/api/v1/products", headers=api, json={"sku": "X1", "name": "x"})
    assert denied.status_code == 403  # catalog:read only
    [created] = audit_rows(db, action="api_key.created")
    assert created["subject_id"] == prefix and created["actor"].startswith("user:Administrator Person")
    assert secret not in str(created["data"]) and secret not in created["message"]
    confirm = admin.get(f"/api-keys/{prefix}/revoke")
    assert confirm.status_code == 200 and "Revoke erp-export?" in confirm.text
    r = admin.post(f"/api-keys/{prefix}/revoke")
    assert r.status_code == 303
    app_client.cookies.clear()
    refused = app_client.get("/api/v1/products", headers=api)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    [revoked] = audit_rows(db, action="api_key.revoked")
    assert revoked["subject_id"] == prefix
    again = admin.post(f"/api-keys/{prefix}/revoke")
    assert again.status_code == 303 and len(audit_rows(db, action="api_key.revoked")) == 1
    assert admin.get("/api-keys/ffffffff/revoke").status_code == 404


def test_a_key_needs_a_name_and_a_known_scope(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    r = admin.post("/api-keys/new", {"name": ""})
    assert r.status_code == 422
    assert field_error(r.text, "name") == "Must not be empty."
    assert "Choose at least one scope." in r.text
    r = admin.post("/api-keys/new", {"name": "x", "scopes": ["orders:delete"]})
    assert r.status_code == 422 and "Unknown scope(s) orders:delete" in r.text
    assert "oms_" not in r.text
    assert audit_rows(db, subject_type="api_key") == []
    ops = as_role(app_client, db, Role.OPERATIONS)
    assert ops.post("/api-keys/new", {"name": "sneaky", "scopes": ["*"]}).status_code == 403


# --- audit log --------------------------------------------------------------------------------


def test_the_audit_log_is_newest_first_filtered_and_paged(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    old = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    with db.begin() as conn:
        for i in range(60):
            record_audit(
                conn,
                actor="api-key:importer",
                action="product.updated",
                subject_type="product",
                subject_id=f"P{i}",
                message=f"bulk change {i}",
                now=old + dt.timedelta(minutes=i),
            )
    finance = as_role(app_client, db, Role.FINANCE)
    page1 = finance.get("/audit").text
    messages = re.findall(r'<span class="text">(.*?)</span></td>', page1)
    assert len(messages) == 50
    assert messages[0].startswith("Created user")  # the staff were added after January
    assert "Showing <strong>1\N{EN DASH}50</strong> of <strong>65</strong>" in page1
    page2 = finance.get("/audit?page=2").text
    assert re.findall(r'<span class="text">(.*?)</span></td>', page2)[-1] == "bulk change 0"
    by_actor = finance.get("/audit?actor=IMPORTER").text
    assert "of <strong>60</strong>" in by_actor
    by_action = finance.get("/audit?action=user.created").text
    assert "of <strong>5</strong>" in by_action and "bulk change" not in by_action
    by_subject = finance.get("/audit?subject_type=user").text
    assert "of <strong>5</strong>" in by_subject
    one_day = finance.get("/audit?from=2026-01-15&to=2026-01-15&actor=importer").text
    assert "of <strong>60</strong>" in one_day
    assert "No entries" in finance.get("/audit?from=2026-01-16&to=2026-01-16").text
    one = finance.get("/audit?subject_type=product&subject_id=P7").text
    assert re.findall(r'<span class="text">(.*?)</span></td>', one) == ["bulk change 7"]
    bad = finance.get("/audit?from=yesterday")
    assert bad.status_code == 422 and "Use a date such as" in bad.text
    backwards = finance.get("/audit?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 422 and "on or after" in backwards.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"wave_times": "09:00 9:30"}, "'9:30' is not a local time HH:MM (24 h), e.g. 09:00."),
        ({"wave_times": "noon"}, "'noon' is not a local time HH:MM (24 h), e.g. 09:00."),
    ],
)
def test_bad_wave_times_are_refused_next_to_the_field_and_change_nothing(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]], changes: dict[str, Any], message: str
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    before = catalog.LOCATIONS.get(db, "WH1")
    r = admin.post("/locations/WH1", {**_form_of(before), "release_mode": "waves", **changes})
    assert r.status_code == 422
    assert field_error(r.text, "wave_times") == message
    assert f"Wave times: {message}" in html_lib.unescape(r.text)
    assert catalog.LOCATIONS.get(db, "WH1") == before
    assert 'value="waves" selected' in r.text  # what was chosen is shown again


def test_release_policy_is_saved_from_the_form(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    before = catalog.LOCATIONS.get(db, "WH1")
    r = admin.post("/locations/WH1", {**_form_of(before), "release_mode": "waves", "wave_times": "13:00, 09:00"})
    assert r.status_code == 303, r.text
    row = catalog.LOCATIONS.get(db, "WH1")
    assert row["release_mode"] == "waves" and row["wave_times"] == ["09:00", "13:00"]
    assert 'value="09:00 13:00"' in admin.get("/locations/WH1").text
    r = admin.post("/locations/WH1", {**_form_of(before), "release_mode": "sometimes"})
    assert r.status_code == 422 and catalog.LOCATIONS.get(db, "WH1")["release_mode"] == "waves"


def test_a_key_bound_to_a_location_is_listed_with_it_and_wide_scopes_are_refused(
    app_client: TestClient, db: Database, staff: dict[Role, dict[str, Any]]
) -> None:
    admin = as_role(app_client, db, Role.ADMIN)
    assert 'name="location"' in admin.get("/api-keys/new").text
    r = admin.post("/api-keys/new", {"name": "acme", "scopes": ["fulfilment:write"], "location": "NOPE"})
    assert r.status_code == 422 and "No location with code" in field_error(r.text, "location")
    r = admin.post("/api-keys/new", {"name": "acme", "scopes": ["orders:read"], "location": "WH1"})
    assert r.status_code == 422 and "may only carry fulfilment:read, fulfilment:write" in r.text
    assert audit_rows(db, subject_type="api_key") == []
    r = admin.post("/api-keys/new", {"name": "acme", "scopes": ["fulfilment:write"], "location": "WH1"})
    assert r.status_code == 201 and "WH1</code> only" in r.text
    assert "<code>WH1</code>" in admin.get("/api-keys").text
    [created] = audit_rows(db, action="api_key.created")
    assert created["data"]["location"] == "WH1" and "bound to location WH1" in created["message"]
