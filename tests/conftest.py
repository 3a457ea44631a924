"""Shared fixtures: migrated SQLite and PostgreSQL databases, an API client, a live server.

PostgreSQL tests run when OPENOMS_TEST_DATABASE_URL points at a server (the tests create and
drop their own databases there). Without it they are skipped locally, and fail under CI=true:
CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.api.app import create_app
from openoms.config import Settings, normalise_database_url
from openoms.services import apikeys

PG_ENV = "OPENOMS_TEST_DATABASE_URL"


def pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    return normalise_database_url(url) if url else None


def _require_pg() -> str:
    url = pg_admin_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set; CI must run the PostgreSQL tests")
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql://postgres@127.0.0.1:5432/postgres")
    return url


class PgServer:
    """Creates throw-away databases on the test server and drops them afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with self.engine.connect() as conn:
                conn.execute(text("select 1"))
        except Exception as exc:
            pytest.fail(f"cannot reach PostgreSQL at {PG_ENV}={admin_url}: {exc}")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"openoms_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer(_require_pg())
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_template_url(pg_server: PgServer) -> str:
    url = pg_server.create()
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "openoms.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


def _truncate_pg(url: str) -> None:
    eng = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database on each engine."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "openoms.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_template_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def pg_url(pg_template_url: str) -> str:
    """PostgreSQL only (concurrency tests)."""
    _truncate_pg(pg_template_url)
    return pg_template_url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, pool_size=5)
    yield database
    database.dispose()


@pytest.fixture
def app_client(db: Database) -> Iterator[TestClient]:
    settings = Settings(database_url=db.url)
    with TestClient(create_app(settings, db)) as client:
        yield client


@pytest.fixture
def api(app_client: TestClient, db: Database) -> TestClient:
    """A client that sends an all-scopes API key."""
    _, secret = apikeys.create_api_key(db, "tests", ["*"])
    app_client.headers["Authorization"] = f"Bearer {secret}"
    return app_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """`openoms serve` in a child process, as a user runs it."""

    def __init__(self, database_url: str, workers: int = 2) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPENOMS_DATABASE_URL": database_url, "OPENOMS_LOG_LEVEL": "warning"}
        self.log_file = tempfile.NamedTemporaryFile(prefix="openoms-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openoms", "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start within 60 s")

    def log(self) -> str:
        """What the server printed: shown when a test against it fails."""
        return Path(self.log_file.name).read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def live_pg_server(pg_url: str) -> Iterator[tuple[LiveServer, Database]]:
    server = LiveServer(pg_url)
    database = Database(pg_url, pool_size=5)
    try:
        yield server, database
    finally:
        server.stop()
        database.dispose()


def seed_basics(db: Database, *, stock: dict[tuple[str, str], int] | None = None) -> None:
    """Two locations, two channels, a few products; ``stock`` maps (sku, location) to units."""
    from openoms.domain.inventory import LedgerEntryType
    from openoms.services import catalog, inventory
    from openoms.services.common import Actor

    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(
            conn,
            [
                dict(
                    code="WH1",
                    name="Warehouse 1",
                    kind="warehouse",
                    country="US",
                    timezone="America/Chicago",
                    ships=True,
                    priority=10,
                ),
                dict(
                    code="WH2",
                    name="Warehouse 2",
                    kind="warehouse",
                    country="US",
                    timezone="America/New_York",
                    ships=True,
                    priority=20,
                ),
                dict(
                    code="ST1",
                    name="Store 1",
                    kind="store",
                    country="US",
                    timezone="America/New_York",
                    ships=False,
                    pickup=True,
                    priority=5,
                ),
            ],
        )
        catalog.CHANNELS.upsert_many(
            conn,
            [dict(code="web", name="Web", kind="web"), dict(code="shopify", name="Shopify", kind="shopify")],
        )
        catalog.PRODUCTS.upsert_many(
            conn,
            [dict(sku=s, name=f"Product {s}", list_price=10, currency="USD") for s in ("A", "B", "C", "D")],
        )
    if stock:
        inventory.change_stock(
            db,
            [inventory.StockChange(s, loc, LedgerEntryType.RECEIPT, q, "seed") for (s, loc), q in stock.items()],
            Actor("tests"),
        )


def order_body(lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    return {
        "channel": "web",
        "currency": "USD",
        "lines": [{"sku": s, "quantity": q, "unit_price": "10.00"} for s, q in lines],
        **extra,
    }


#: Tables a refused command must leave exactly as they were.
BOOK_TABLES = (
    "orders",
    "order_lines",
    "reservations",
    "inventory_ledger",
    "order_holds",
    "order_events",
    "outbox",
    "customers",
    "idempotency_keys",
    "products",
    "locations",
    "channels",
)


def books(db: Database) -> dict[str, Any]:
    """Row counts of every table a command writes, and every stock balance: take one before
    and one after a refused request and compare them."""
    from sqlalchemy import func, select

    stock = Base.metadata.tables["stock_levels"]
    with db.read() as conn:
        out: dict[str, Any] = {
            name: int(conn.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one())
            for name in BOOK_TABLES
        }
        out["stock_levels"] = sorted(
            (int(p), int(loc), int(oh), int(rv))
            for p, loc, oh, rv in conn.execute(
                select(stock.c.product_id, stock.c.location_id, stock.c.on_hand, stock.c.reserved)
            ).all()
        )
    return out
