"""Set-up and admin pages in a real browser: users, products, locations, API keys, the audit log,
with the keyboard alone where it matters."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Browser, Page, expect

from openoms.domain.access import Role
from openoms.services import users
from openoms.services.common import Actor
from tests.browser.conftest import DemoSite, sign_in


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


def _new_product(site: DemoSite) -> str:
    """A product of this test's own, so that other tests' demo data stays as it was."""
    sku = _unique("BRW")
    with site.api() as api:
        r = api.post("/api/v1/products", json={"sku": sku, "name": "Browser test mug", "list_price": "12.00"})
        assert r.status_code == 201, r.text
    return sku


def test_admin_creates_a_user_who_then_signs_in(page: Page, site: DemoSite, browser: Browser) -> None:
    email = f"{_unique('nia').lower()}@openoms.example"
    sign_in(page, site, "admin@openoms.example")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="What each role may do")).to_be_visible()
    page.get_by_role("link", name="New user").click()
    page.get_by_label("Name", exact=True).fill("Nia Newcomer")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Role", exact=True).select_option(label="Finance")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create user").click()
    # Refused: the message is next to the field, which has the focus, and nothing was created.
    password = page.get_by_label("Password")
    expect(password).to_be_focused()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(re.compile("Must be at least 10 characters"))
    expect(page.get_by_label("E-mail")).to_have_value(email)
    password.fill("a long enough passphrase")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text("Added Nia Newcomer as Finance")
    page.get_by_role("link", name="Users", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("Finance")
    expect(row).to_contain_text("never")

    other = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        nia = other.new_page()
        nia.goto(f"{site.url}/login")
        nia.get_by_label("E-mail").fill(email)
        nia.get_by_label("Password").fill("a long enough passphrase")
        nia.get_by_role("button", name="Sign in").click()
        expect(nia.get_by_text("Nia Newcomer")).to_be_visible()
        nav = nia.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
        expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    finally:
        other.close()
    page.reload()
    expect(page.get_by_role("row").filter(has_text=email)).not_to_contain_text("never")


def test_admin_edits_a_product_and_the_audit_log_shows_who(page: Page, site: DemoSite) -> None:
    sku = _new_product(site)
    sign_in(page, site, "admin@openoms.example")
    page.goto(f"{site.url}/products")
    page.get_by_role("searchbox", name="Search products").fill(sku)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=sku).click()
    expect(page.get_by_role("heading", name="Browser test mug")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Browser test mug, enamel")
    page.get_by_label("List price").fill("14.50")
    page.get_by_label("High value").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved product {sku}: changed name, list price, high value")
    expect(page.get_by_label("List price")).to_have_value("14.50")
    with site.api() as api:
        product = api.get(f"/api/v1/products/{sku}").json()
    assert product["name"] == "Browser test mug, enamel" and product["high_value"] is True
    page.get_by_role("link", name="History").click()
    entry = page.get_by_role("row").filter(has_text="product.updated").first
    expect(entry).to_contain_text("Alex Admin")
    expect(entry).to_contain_text("list price 12.00 → 14.50")


def test_a_location_form_with_errors_keeps_what_was_typed(page: Page, site: DemoSite) -> None:
    code = _unique("DC")
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/locations/new")
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_label("Name", exact=True).fill("Test DC")
    page.get_by_label("Kind").select_option(label="3PL (third-party logistics)")
    page.get_by_label(re.compile(r"^City")).fill("Memphis")
    page.get_by_label("Timezone").fill("America/Memphis")
    page.get_by_label("Cut-off time").fill("16:45")
    page.get_by_role("button", name="Create location").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Timezone: 'America/Memphis' is not an IANA timezone")
    timezone = page.get_by_label("Timezone")
    expect(timezone).to_be_focused()
    expect(timezone).to_have_accessible_description(re.compile("not an IANA timezone"))
    expect(page.get_by_label(re.compile(r"^City"))).to_have_value("Memphis")
    expect(page.get_by_label("Kind")).to_have_value("3pl")
    expect(page.get_by_label("Cut-off time")).to_have_value("16:45")
    timezone.fill("America/Chicago")
    page.get_by_role("button", name="Create location").click()
    expect(page.get_by_role("status")).to_contain_text(f"Created location {code}")
    page.get_by_role("link", name="Locations").first.click()
    row = page.get_by_role("row").filter(has_text=code)
    expect(row).to_contain_text("16:45")
    expect(row).to_contain_text("Memphis")
    expect(row).to_contain_text("Mon\u2013Fri")  # the default week

    # Routing: work Saturdays too, close on Texas holidays; a wrong calendar is explained first.
    row.get_by_role("link", name=code).click()
    days = page.get_by_role("group", name="Working days")
    expect(days.get_by_role("checkbox", name="Mon")).to_be_checked()
    expect(days.get_by_role("checkbox", name="Sat")).not_to_be_checked()
    days.get_by_role("checkbox", name="Sat").check()
    days.get_by_role("checkbox", name="Wed").uncheck()
    calendar = page.get_by_label("Holiday calendar")
    expect(calendar).to_have_accessible_description(re.compile("US or US-TX; empty for none"))
    calendar.fill("us-zz")
    page.get_by_label("Licensed for hazardous material").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("Holiday calendar: 'US-ZZ': no public-holiday data")
    expect(calendar).to_be_focused()
    expect(calendar).to_have_value("US-ZZ")
    expect(days.get_by_role("checkbox", name="Sat")).to_be_checked()  # what was ticked is kept
    expect(days.get_by_role("checkbox", name="Wed")).not_to_be_checked()
    expect(page.get_by_label("Licensed for hazardous material")).to_be_checked()
    calendar.fill("US-TX")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved location {code}: changed")
    expect(page.get_by_role("status")).to_contain_text(
        "holiday calendar, licensed for hazardous material, working days"
    )
    location = site.api().get(f"/api/v1/locations/{code}").json()
    assert location["workdays"] == "mon tue thu fri sat" and location["holiday_calendar"] == "US-TX"
    assert location["hazmat_licensed"] is True
    page.get_by_role("link", name="Locations").first.click()
    row = page.get_by_role("row").filter(has_text=code)
    expect(row).to_contain_text("Mon, Tue, Thu\u2013Sat · US-TX")
    expect(row).to_contain_text("Hazmat")


def test_the_product_form_works_with_the_keyboard_alone(page: Page, site: DemoSite) -> None:
    sku = _unique("KBD")
    sign_in(page, site, "ops@openoms.example")
    page.goto(f"{site.url}/products/new")
    page.get_by_label("SKU", exact=True).focus()
    page.keyboard.type(sku)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.keyboard.type("Keyboard-made tote")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Description")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("List price")).to_be_focused()
    page.keyboard.type("19.90")
    # Focus is visible: the house outline, not the browser's faint default.
    outline = page.get_by_label("List price").evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    for _ in range(6):  # currency, four dimensions, then the first check box
        page.keyboard.press("Tab")
    expect(page.get_by_label("Hazardous material")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.get_by_label("Hazardous material")).to_be_checked()
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_role("status")).to_contain_text(f"Created product {sku}")
    expect(page.get_by_label("Hazardous material")).to_be_checked()


def test_an_api_key_is_shown_once_and_can_be_revoked(page: Page, site: DemoSite) -> None:
    name = _unique("erp")
    sign_in(page, site, "admin@openoms.example")
    page.goto(f"{site.url}/api-keys")
    page.get_by_role("link", name="New API key").click()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose at least one scope")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("catalog:read").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("This is the only time the key is shown")).to_be_visible()
    secret = page.get_by_label("Secret key").input_value()
    assert re.fullmatch(r"oms_[0-9a-f]{8}_[\w-]+", secret)
    prefix = secret.split("_")[1]
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get("/api/v1/products?limit=1").status_code == 200
        assert api.get("/api/v1/orders?limit=1").status_code == 403
    page.get_by_role("link", name=re.compile("back to API keys")).click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text(f"oms_{prefix}_")
    assert secret not in page.content()
    row.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", name=f"Revoke {name}?")).to_be_visible()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status")).to_contain_text(f"Revoked API key {name}")
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("revoked")
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get("/api/v1/products?limit=1").status_code == 401
    page.goto(f"{site.url}/audit?subject_type=api_key&subject_id={prefix}")
    expect(page.get_by_role("row").filter(has_text="api_key.revoked")).to_contain_text("Alex Admin")
    expect(page.get_by_role("row").filter(has_text="api_key.created")).to_contain_text("catalog:read")


def test_customer_service_may_look_at_products_but_not_change_them(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "cs@openoms.example")
    page.goto(f"{site.url}/products")
    expect(page.get_by_role("link", name="New product")).to_have_count(0)
    page.get_by_role("link", name="TEE-BLK-M").click()
    expect(page.get_by_role("status")).to_contain_text("may look at products but not change them")
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
    response = page.goto(f"{site.url}/products/new")
    assert response is not None and response.status == 403
    expect(page.get_by_text("may not edit products, locations and channels")).to_be_visible()


def test_disabling_a_user_signs_them_out_at_once(page: Page, site: DemoSite, browser: Browser) -> None:
    email = f"{_unique('temp').lower()}@openoms.example"
    person = users.create_user(site.db, email, "Tess Temp", Role.WAREHOUSE, "temporary passphrase", Actor("tests"))
    other = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        tess = other.new_page()
        tess.goto(f"{site.url}/login")
        tess.get_by_label("E-mail").fill(email)
        tess.get_by_label("Password").fill("temporary passphrase")
        tess.get_by_role("button", name="Sign in").click()
        expect(tess.get_by_text("Tess Temp")).to_be_visible()

        sign_in(page, site, "admin@openoms.example")
        page.goto(f"{site.url}/users/{person['id']}")
        page.get_by_label("Can sign in").uncheck()
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_contain_text("changed access. They were signed out everywhere")

        tess.goto(f"{site.url}/inventory")
        expect(tess).to_have_url(re.compile(r"/login\?next=%2Finventory$"))
    finally:
        other.close()


def test_a_key_bound_to_one_location_sees_only_its_queue(page: Page, site: DemoSite) -> None:
    name = _unique("3pl")
    sign_in(page, site, "admin@openoms.example")
    page.goto(f"{site.url}/api-keys/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Location").select_option("WH-DFW")
    page.get_by_label("orders:read").check()
    page.get_by_label("fulfilment:write").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("alert")).to_contain_text("may only carry fulfilment:read, fulfilment:write")
    expect(page.get_by_label("Location")).to_have_value("WH-DFW")  # kept as chosen
    page.screenshot(path="/tmp/keyloc-new-key-error.png", full_page=True)
    page.get_by_label("orders:read").uncheck()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("This is the only time the key is shown")).to_be_visible()
    expect(page.get_by_text("WH-DFW only")).to_be_visible()
    secret = page.get_by_label("Secret key").input_value()
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {secret}"}) as api:
        items = api.get("/api/v1/fulfilment-orders?limit=200").json()["items"]
        assert {fo["location"] for fo in items} <= {"WH-DFW"}
        assert api.get("/api/v1/orders?limit=1").status_code == 403
    page.goto(f"{site.url}/api-keys")
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("WH-DFW")
    page.screenshot(path="/tmp/keyloc-api-keys.png", full_page=True)
