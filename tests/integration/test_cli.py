"""The `openoms` command line against a temporary SQLite file, as an operator runs it.

Commands run in-process through Typer's CliRunner (fast); one test runs `python -m openoms`
in a child process to check the exit code a shell script would see.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner, Result

from openoms.adapters.db import migrate as migrations
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Base
from openoms.cli import app
from openoms.config import get_settings
from openoms.domain.errors import DomainError
from openoms.services import apikeys, demo
from openoms.services import orders as order_service
from openoms.services.common import Actor
from tests.conftest import seed_basics


class Cli:
    """Runs commands against one database file; ``db`` looks at it directly."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.path = tmp_path / "oms.db"
        self.url = f"sqlite:///{self.path}"
        self.var = tmp_path / "var"
        self.runner = CliRunner()
        self._db: Database | None = None

    def __call__(self, *args: str) -> Result:
        get_settings.cache_clear()  # the settings are read once per process otherwise
        return self.runner.invoke(
            app, list(args), env={"OPENOMS_DATABASE_URL": self.url, "OPENOMS_VAR_DIR": str(self.var), "COLUMNS": "250"}
        )

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.url)
        return self._db

    def count(self, table: str) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one())

    def csv(self, name: str, rows: list[list[str]], bom: bool = False) -> Path:
        path = self.dir / name
        with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
            csv.writer(fh).writerows(rows)
        return path

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    yield runner
    runner.close()
    get_settings.cache_clear()


@pytest.fixture
def migrated(cli: Cli, sqlite_template: Path) -> Cli:
    """A migrated, empty database (a copy of the session's template: faster than migrating)."""
    shutil.copy(sqlite_template, cli.path)
    return cli


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result.output


def failed(result: Result, code: int = 1) -> str:
    """A clean failure: the expected exit code and a message, never a traceback."""
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def error_report(path: Path) -> list[tuple[int, str, str]]:
    with Path(f"{path}.errors.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "field", "reason"]
    return [(int(r[0]), r[1], r[2]) for r in rows[1:]]


# --- migrate ------------------------------------------------------------------------------


def test_migrate_up_is_idempotent_and_down_removes_everything(cli: Cli) -> None:
    head = migrations.head_revision(cli.db)
    assert f"schema: empty -> {head}" in ok(cli("migrate"))
    assert {"orders", "stock_levels", "inventory_ledger"} <= set(inspect(cli.db.engine).get_table_names())
    assert f"schema: {head} -> {head}" in ok(cli("migrate"))
    assert f"schema: {head} -> empty" in ok(cli("migrate", "base", "--down"))
    assert not {"orders", "stock_levels"} & set(inspect(cli.db.engine).get_table_names())
    assert f"schema: empty -> {head}" in ok(cli("migrate"))


# --- demo data and keys -------------------------------------------------------------------


def test_demo_data_if_empty_loads_once(migrated: Cli) -> None:
    out = ok(migrated("demo-data", "--if-empty", "--orders", "4"))
    products = len(demo.products())
    assert f"demo data: {products} products, 15 locations, 6 channels" in out
    key = (migrated.var / "demo-api-key.txt").read_text().strip()
    assert key in out
    assert oct((migrated.var / "demo-api-key.txt").stat().st_mode & 0o777) == "0o600"
    assert apikeys.authenticate(migrated.db, key).scopes == frozenset({"*"})
    counts = {t: migrated.count(t) for t in ("products", "locations", "orders", "inventory_ledger", "api_keys")}
    assert counts["products"] == products and counts["orders"] >= 1

    again = ok(migrated("demo-data", "--if-empty", "--orders", "4"))
    assert "already has data, left as it is" in again
    assert {t: migrated.count(t) for t in counts} == counts
    assert (migrated.var / "demo-api-key.txt").read_text().strip() == key
    assert "OK" in ok(migrated("check"))


def test_create_and_revoke_api_keys(migrated: Cli) -> None:
    result = migrated(
        "create-api-key", "--name", "shopify-prod", "--scope", "orders:write", "--scope", "inventory:read"
    )
    out = ok(result)
    assert "API key for shopify-prod (inventory:read, orders:write)" in out
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("oms_")
    principal = apikeys.authenticate(migrated.db, secret)
    assert (principal.name, principal.scopes) == ("shopify-prod", frozenset({"orders:write", "inventory:read"}))
    assert principal.allows("orders:read") and not principal.allows("catalog:write")

    all_scopes = migrated("create-api-key", "--name", "ops")
    assert apikeys.authenticate(migrated.db, all_scopes.stdout.strip().splitlines()[-1]).scopes == frozenset({"*"})

    assert "unknown scope(s) orders:delete" in failed(
        migrated("create-api-key", "--name", "x", "--scope", "orders:delete"), 2
    )
    assert "must not be empty" in failed(migrated("create-api-key", "--name", "  "), 2)
    assert "no location with code 'NOPE'" in failed(migrated("create-api-key", "--name", "x", "--location", "NOPE"), 2)
    assert migrated.count("api_keys") == 2

    prefix = secret.split("_")[1]
    assert f"revoked {prefix}" in ok(migrated("revoke-api-key", prefix))
    with pytest.raises(DomainError, match="unknown or revoked"):
        apikeys.authenticate(migrated.db, secret)
    assert "No active API key" in failed(migrated("revoke-api-key", prefix), 2)


# --- imports ------------------------------------------------------------------------------

PRODUCTS = [
    ["sku", "name", "list_price", "weight_grams", "hazmat"],
    ["TEE-1", "Tee one", "24.00", "180", "false"],
    ["TEE-2", "Tee two", "", "", ""],  # blank optional cells are left out
    ["LAMP-1", "Lantern", "59.00", "520", "true"],
]


def test_import_products_all_or_nothing_with_a_per_row_report(migrated: Cli) -> None:
    bad = migrated.csv(
        "bad.csv",
        [
            PRODUCTS[0],
            PRODUCTS[1],
            ["bad sku", "Spaces are not allowed", "1.00", "", ""],
            ["TEE-3", "", "1.00", "", ""],
            ["TEE-4", "Heavy", "1.00", "a lot", ""],
            ["TEE-5", "Cheap", "-2", "", "maybe"],
        ],
    )
    out = failed(migrated("import", "products", str(bad)))
    assert "nothing imported" in out
    report = error_report(bad)
    assert sorted((row, field) for row, field, _ in report) == [
        (3, "sku"),
        (4, "name"),
        (5, "weight_grams"),
        (6, "hazmat"),
        (6, "list_price"),
    ]
    assert "1-64 characters" in dict(((r, f), why) for r, f, why in report)[(3, "sku")]
    for row, field, _ in report:
        assert str(row) in out and field in out
    assert migrated.count("products") == 0

    dupes = migrated.csv("dupes.csv", [PRODUCTS[0], PRODUCTS[1], PRODUCTS[2], PRODUCTS[1]])
    failed(migrated("import", "products", str(dupes)))
    assert [(r, f) for r, f, _ in error_report(dupes)] == [(2, "sku"), (4, "sku")]
    assert "TEE-1 appears more than once" in error_report(dupes)[0][2]

    typo = migrated.csv("typo.csv", [["sku", "nmae"], ["TEE-1", "Tee"]])
    failed(migrated("import", "products", str(typo)))
    assert {(r, f) for r, f, _ in error_report(typo)} == {(2, "name"), (2, "nmae")}

    extra = migrated.csv("extra.csv", [["sku", "name"], ["TEE-1", "Tee", "surplus"]])
    failed(migrated("import", "products", str(extra)))
    assert [(r, f) for r, f, _ in error_report(extra)] == [(2, "(extra cells)")]

    empty = migrated.csv("empty.csv", [PRODUCTS[0]])
    assert "has no data rows" in failed(migrated("import", "products", str(empty)))
    assert migrated.count("products") == 0


def test_import_products_dry_run_then_for_real_then_update(migrated: Cli) -> None:
    good = migrated.csv("products.csv", PRODUCTS, bom=True)  # as Excel saves it
    assert "dry run: 3 products rows are valid; nothing imported" in ok(
        migrated("import", "products", str(good), "--dry-run")
    )
    assert migrated.count("products") == 0
    assert not Path(f"{good}.errors.csv").exists()

    assert "imported 3 products rows" in ok(migrated("import", "products", str(good)))
    with migrated.db.read() as conn:
        t = Base.metadata.tables["products"]
        rows = {r.sku: r for r in conn.execute(select(t)).all()}
    assert set(rows) == {"TEE-1", "TEE-2", "LAMP-1"}
    assert (rows["TEE-1"].name, rows["TEE-1"].list_price, rows["TEE-1"].weight_grams) == ("Tee one", Decimal(24), 180)
    assert (rows["TEE-2"].list_price, rows["LAMP-1"].hazmat, rows["TEE-1"].currency) == (None, True, "USD")

    changed = migrated.csv("changed.csv", [["sku", "name"], ["TEE-1", "Tee, organic"], ["NEW-1", "New"]])
    assert "imported 2 products rows" in ok(migrated("import", "products", str(changed)))
    assert migrated.count("products") == 4
    with migrated.db.read() as conn:
        t = Base.metadata.tables["products"]
        assert conn.execute(select(t.c.name).where(t.c.sku == "TEE-1")).scalar_one() == "Tee, organic"


def test_import_locations(migrated: Cli) -> None:
    header = ["code", "name", "kind", "country", "timezone", "cutoff_time", "priority", "ships"]
    bad = migrated.csv(
        "locations.csv",
        [
            header,
            ["WH-RNO", "Reno", "warehouse", "US", "America/Los_Angeles", "15:00", "10", "true"],
            ["WH-XXX", "Nowhere", "warehouse", "US", "Mars/Olympus", "15:00", "10", "true"],
            ["ST-NYC", "SoHo", "shop", "US", "America/New_York", "14:00", "60", "yes"],
            ["ST-SFO", "Union Sq", "store", "USA", "America/Los_Angeles", "3pm", "60", "true"],
        ],
    )
    failed(migrated("import", "locations", str(bad)))
    assert sorted((r, f) for r, f, _ in error_report(bad)) == [
        (3, "timezone"),
        (4, "kind"),
        (5, "country"),
        (5, "cutoff_time"),
    ]
    assert migrated.count("locations") == 0

    good = migrated.csv(
        "good.csv",
        [
            header,
            ["WH-RNO", "Reno", "warehouse", "US", "America/Los_Angeles", "15:00", "10", "true"],
            ["ST-NYC", "SoHo", "store", "US", "America/New_York", "14:00", "60", "no"],
        ],
    )
    assert "imported 2 locations rows" in ok(migrated("import", "locations", str(good)))
    with migrated.db.read() as conn:
        t = Base.metadata.tables["locations"]
        got = {r.code: (r.kind, r.priority, r.ships, r.cutoff_time.strftime("%H:%M")) for r in conn.execute(select(t))}
    assert got == {"WH-RNO": ("warehouse", 10, True, "15:00"), "ST-NYC": ("store", 60, False, "14:00")}


def test_import_stock(migrated: Cli) -> None:
    seed_basics(migrated.db, stock={("A", "WH1"): 5})
    order_service.capture_order(
        migrated.db,
        order_service.CaptureOrder(channel="web", currency="USD", lines=[order_service.LineInput("A", 3, Decimal(1))]),
        Actor("tests"),
    )
    ledger_before = migrated.count("inventory_ledger")

    unknown = migrated.csv(
        "unknown.csv",
        [["sku", "location", "on_hand"], ["B", "WH1", "4"], ["NOPE", "WH1", "4"], ["C", "NOWHERE", "1"]],
    )
    failed(migrated("import", "stock", str(unknown)))
    assert error_report(unknown) == [(3, "sku", "unknown SKU 'NOPE'"), (4, "location", "unknown location 'NOWHERE'")]

    # row numbers stay those of the file when rows before a duplicate pair are bad
    shape = migrated.csv(
        "shape.csv",
        [
            ["sku", "location", "on_hand"],
            ["B", "WH1", "-1"],
            ["C", "WH1", "many"],
            ["B", "WH2", "2"],
            ["B", "WH2", "3"],
        ],
    )
    failed(migrated("import", "stock", str(shape)))
    assert [(r, f) for r, f, _ in error_report(shape)] == [
        (2, "on_hand"),
        (3, "on_hand"),
        (4, "sku/location"),
        (5, "sku/location"),
    ]

    # A has 3 units reserved at WH1: a count of 2 would oversell, found before anything is written
    below = migrated.csv("below.csv", [["sku", "location", "on_hand"], ["B", "WH1", "4"], ["A", "WH1", "2"]])
    for extra in (["--dry-run"], []):
        out = failed(migrated("import", "stock", str(below), *extra))
        assert "nothing imported" in out
        [(row, field, reason)] = error_report(below)
        assert (row, field) == (3, "on_hand")
        assert "reserved" in reason
    assert migrated.count("inventory_ledger") == ledger_before

    good = migrated.csv(
        "stock.csv",
        [["sku", "location", "on_hand", "reason"], ["A", "WH1", "3", ""], ["B", "WH2", "7", "opening count"]],
    )
    assert "dry run: 2 stock rows are valid" in ok(migrated("import", "stock", str(good), "--dry-run"))
    assert migrated.count("inventory_ledger") == ledger_before
    assert "imported 2 stock rows" in ok(migrated("import", "stock", str(good)))
    with migrated.db.read() as conn:
        t = Base.metadata.tables["inventory_ledger"]
        new = conn.execute(
            select(t.c.entry_type, t.c.on_hand_delta, t.c.reason, t.c.actor).where(t.c.id > ledger_before)
        ).all()
    assert sorted(tuple(r) for r in new) == [("count", -2, "count", "cli"), ("count", 7, "opening count", "cli")]
    assert "OK" in ok(migrated("check"))


# --- check --------------------------------------------------------------------------------


def _books_with_an_order(cli: Cli) -> None:
    seed_basics(cli.db, stock={("A", "WH1"): 5, ("B", "WH2"): 2})
    order_service.capture_order(
        cli.db,
        order_service.CaptureOrder(channel="web", currency="USD", lines=[order_service.LineInput("A", 3, Decimal(1))]),
        Actor("tests"),
    )


def _raw_sql(cli: Cli, *statements: str) -> None:
    """Write behind the application's back, past the CHECK constraint that stops oversells."""
    conn = sqlite3.connect(cli.path)
    try:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


A_AT_WH1 = (
    "product_id = (SELECT id FROM products WHERE sku = 'A') "
    "AND location_id = (SELECT id FROM locations WHERE code = 'WH1')"
)


def test_check_passes_on_good_books(migrated: Cli) -> None:
    _books_with_an_order(migrated)
    out = ok(migrated("check"))
    assert "OK: 2 stock rows match 3 ledger rows" in out


def test_check_fails_when_a_balance_disagrees_with_the_ledger(migrated: Cli) -> None:
    _books_with_an_order(migrated)
    _raw_sql(migrated, f"UPDATE stock_levels SET on_hand = on_hand + 1 WHERE {A_AT_WH1}")
    out = failed(migrated("check"))
    assert "A@WH1: balance on_hand=6 reserved=3 but ledger sums to on_hand=5 reserved=3" in out
    assert "1 problem(s) found in 2 stock rows" in out


def test_check_fails_on_an_oversell_even_when_the_ledger_agrees(migrated: Cli) -> None:
    _books_with_an_order(migrated)
    # on hand drops to 2 under 3 reserved, with a matching ledger row: only the oversell is wrong
    _raw_sql(
        migrated,
        f"UPDATE stock_levels SET on_hand = 2 WHERE {A_AT_WH1}",
        "INSERT INTO inventory_ledger (product_id, location_id, entry_type, on_hand_delta, reserved_delta, actor, "
        "created_at) SELECT p.id, l.id, 'adjustment', -3, 0, 'sql', '2025-01-01 00:00:00' "
        "FROM products p, locations l WHERE p.sku = 'A' AND l.code = 'WH1'",
    )
    out = failed(migrated("check"))
    assert "A@WH1: reserved=3 outside 0..on_hand=2 (oversold)" in out
    assert "ledger sums" not in out
    assert "1 problem(s) found" in out


def test_check_fails_when_reservations_disagree_with_reserved(migrated: Cli) -> None:
    _books_with_an_order(migrated)
    _raw_sql(migrated, "DELETE FROM reservations")
    out = failed(migrated("check"))
    assert "A@WH1: reserved=3 but open order reservations sum to 0" in out


def test_check_exit_code_in_a_real_process(migrated: Cli) -> None:
    _books_with_an_order(migrated)
    env = {**os.environ, "OPENOMS_DATABASE_URL": migrated.url, "COLUMNS": "200"}
    good = subprocess.run([sys.executable, "-m", "openoms", "check"], env=env, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    _raw_sql(migrated, f"UPDATE stock_levels SET reserved = 0 WHERE {A_AT_WH1}")
    bad = subprocess.run([sys.executable, "-m", "openoms", "check"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "A@WH1: balance on_hand=5 reserved=0 but ledger sums to on_hand=5 reserved=3" in bad.stderr
    assert "A@WH1: reserved=0 but open order reservations sum to 3" in bad.stderr


def test_inbound_receive_books_a_receipt_against_the_lot(cli: Cli) -> None:
    import datetime as dt

    from openoms.services import inbound

    migrations.upgrade(cli.db)
    seed_basics(cli.db)
    lot = inbound.expect_inbound(
        cli.db,
        sku="A",
        location="WH1",
        quantity=5,
        expected_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2),
        kind="purchase_order",
        reference="PO-CLI",
        actor=Actor("tests"),
    )
    r = cli("inbound", "receive", str(lot["id"]), "3")
    assert r.exit_code == 0, r.output
    assert "3 x A at WH1" in r.output and "2 still expected" in r.output
    over = cli("inbound", "receive", str(lot["id"]), "3")
    assert over.exit_code == 2 and "still expected" in over.output
    done = cli("inbound", "receive", str(lot["id"]), "3", "--allow-over")
    assert done.exit_code == 0 and "complete" in done.output
    assert cli("check").exit_code == 0
