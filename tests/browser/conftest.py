"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, never a downloaded
browser) against `openoms serve` on a demo database. A failing test leaves a screenshot in
test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.services import apikeys, demo
from tests.conftest import LiveServer

CHROMIUM = os.environ.get("OPENOMS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class DemoSite:
    """The live server, its database, and what a tester needs to sign in and set things up."""

    def __init__(self, server: LiveServer, db: Database, password: str, api_key: str) -> None:
        self.server = server
        self.db = db
        self.password = password
        self.api_key = api_key

    @property
    def url(self) -> str:
        return self.server.base_url

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install -y chromium)")
    path = tmp_path_factory.mktemp("browser") / "openoms.db"
    url = f"sqlite:///{path}"
    db = Database(url)
    migrate.upgrade(db)
    summary = demo.load(db, order_count=60)
    _, key = apikeys.create_api_key(db, "browser-tests", ["*"])
    server = LiveServer(url, workers=1)
    try:
        yield DemoSite(server, db, summary["password"], key)
    finally:
        server.stop()
        db.dispose()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def sign_in(page: Page, site: DemoSite, email: str = "admin@openoms.example") -> None:
    """Sign in through the form, as a person does."""
    page.goto(f"{site.url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


def clean_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
