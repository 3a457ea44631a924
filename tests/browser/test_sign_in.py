"""Signing in and out, and what a role may not do."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import DemoSite, sign_in


def test_sign_in_shows_the_dashboard_and_sign_out_ends_the_session(page: Page, site: DemoSite) -> None:
    page.goto(f"{site.url}/orders")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Forders$"))
    page.get_by_label("E-mail").fill("admin@openoms.example")
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site.url}/orders")
    expect(page.get_by_text("Alex Admin")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto(f"{site.url}/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_wrong_password_is_refused_with_a_clear_message(page: Page, site: DemoSite) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("E-mail").fill("finance@openoms.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("E-mail or password is wrong")
    expect(page.get_by_label("E-mail")).to_have_value("finance@openoms.example")


def test_a_role_is_refused_a_page_it_may_not_open(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "warehouse@openoms.example")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    response = page.goto(f"{site.url}/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed for your role")).to_be_visible()
    expect(page.get_by_text("Your role (Warehouse) may not manage users")).to_be_visible()


def test_a_role_is_refused_an_action_it_may_not_take(page: Page, site: DemoSite) -> None:
    sign_in(page, site, "warehouse@openoms.example")
    page.goto(f"{site.url}/channels/web")
    expect(page.get_by_role("status")).to_contain_text("Your role (Warehouse) may look at channels but not change them")
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
    # Sending the form anyway (with a valid session and CSRF token) is refused and changes nothing.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    response = page.request.post(
        f"{site.url}/channels/web",
        form={"csrf_token": csrf, "name": "Hijacked", "kind": "web", "currency": "USD", "active": "1"},
    )
    assert response.status == 403
    assert "Your role (Warehouse) may not edit products, locations and channels" in response.text()
    page.reload()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Own web store")
