"""`openoms simulate` against a migrated SQLite file with demo data, as an operator runs it.

The command is registered on a local Typer app (``cli_simulate.register``), the way the
main ``openoms`` app registers it. The demo database is built once for the module: the
command only reads, and each test checks that it wrote nothing.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from openoms import cli_simulate
from openoms.adapters.carriers.rate_csv import DEMO_NETWORK
from openoms.adapters.db.engine import Database
from openoms.config import get_settings
from openoms.services import demo
from openoms.services import simulation as sim
from tests.conftest import books

DEMO_ORDERS = 40


def make_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """A stand-in for the openoms app (several commands, so `simulate` is a subcommand)."""

    cli_simulate.register(app)
    return app


class Simulate:
    def __init__(self, url: str, var: Path, workdir: Path) -> None:
        self.url = url
        self.var = var
        self.dir = workdir
        self.app = make_app()
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        get_settings.cache_clear()
        return self.runner.invoke(
            self.app,
            ["simulate", *args],
            env={"OPENOMS_DATABASE_URL": self.url, "OPENOMS_VAR_DIR": str(self.var), "COLUMNS": "250"},
        )

    def file(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def demo_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("simulate")
    path = workdir / "oms.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    demo.load(db, order_count=DEMO_ORDERS)
    db.dispose()
    yield url, workdir


@pytest.fixture
def simulate(demo_db: tuple[str, Path], tmp_path: Path) -> Iterator[Simulate]:
    url, _ = demo_db
    db = Database(url)
    before = books(db)
    yield Simulate(url, tmp_path / "var", tmp_path)
    assert books(db) == before, "simulate must not write"
    db.dispose()
    get_settings.cache_clear()


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result.output


def failed(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return " ".join(result.output.split())  # the message, unwrapped


def table_rows(output: str) -> dict[str, list[str]]:
    """The side-by-side table as {metric: [current, alternative, change]}."""
    rows = {}
    for line in output.splitlines():
        if line[:1] in ("│", "┃"):
            cells = [c.strip() for c in line[1:-1].replace("┃", "│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def test_never_split_rules_show_no_splits_in_the_table_and_the_json(simulate: Simulate) -> None:
    rules = simulate.file("never.json", '{"split_policy": "never"}')
    out = ok(simulate("--rules", str(rules)))
    assert "orders from database, placed " in out
    assert "alternative: rules from never.json: split_policy=never" in out
    rows = table_rows(out)
    assert rows["metric"] == ["current", "alternative", "change"]
    assert rows["split orders"][1] == "0 (0.0%)"
    assert rows["shipments per order"][1] in ("1.000", "0.000")

    data: dict[str, Any] = json.loads(simulate("--rules", str(rules), "--json").stdout)
    cur, alt, diff = data["current"], data["alternative"], data["difference"]
    assert data["orders"] == cur["orders"] == alt["orders"] > 0
    for m in (cur, alt):
        assert m["routed"] + m["unroutable"] == m["orders"]
        assert sum(m["unroutable_by_reason"].values()) == m["unroutable"]
        assert sum(m["promise_days_histogram"].values()) == m["routed"]
        assert sum(m["units_by_location"].values()) == sum(c["units"] for c in m["capacity"])
    assert cur["split_orders"] > 0, "the demo orders split under the default rules"
    assert alt["split_orders"] == 0 and alt["shipments"] == alt["routed"]
    assert cur["rules"] == "routing/default@v1" and alt["rules"] == "routing/default@v2"
    assert diff["split_orders"] == -cur["split_orders"]
    assert diff["routed"] == alt["routed"] - cur["routed"]
    assert diff["carrier_cost_total"] == f"{float(alt['carrier_cost_total']) - float(cur['carrier_cost_total']):.2f}"
    # the table shows the same numbers
    assert rows["routed"][:2] == [str(cur["routed"]), str(alt["routed"])]
    assert rows["split orders"][0] == f"{cur['split_orders']} ({cur['split_rate_pct']:.1f}%)"
    assert rows["average promise (days)"] == [
        f"{cur['promise_days_avg']:.2f}",
        f"{alt['promise_days_avg']:.2f}",
        f"{diff['promise_days_avg']:+.2f}" if diff["promise_days_avg"] else "0",
    ]
    assert rows["orders routed differently"][2] == str(data["routed_differently"])
    # deterministic: the same answer again
    assert json.loads(simulate("--rules", str(rules), "--json").stdout) == data


def test_a_network_without_stores_ships_from_warehouses_only(simulate: Simulate) -> None:
    with DEMO_NETWORK.open(newline="") as fh:
        rows = [r for r in csv.reader(fh)]
    kept = [rows[0], *[r for r in rows[1:] if r[2] != "store"]]
    network = simulate.file("warehouses.csv", "".join(",".join(r) + "\n" for r in kept))
    chart = simulate.dir / "report.html"
    result = simulate("--network", str(network), "--json", "--chart", str(chart))
    data = json.loads(ok(result) and result.stdout)
    alt, cur = data["alternative"], data["current"]
    dropped = sorted(r[0] for r in rows[1:] if r[2] == "store")
    assert alt["changes"] == [f"network from warehouses.csv: 5 locations, drops {', '.join(dropped)}"]
    assert alt["units_by_location"] and all(code.startswith("WH-") for code in alt["units_by_location"])
    assert {c["location"] for c in alt["capacity"]} == {r[0] for r in kept[1:]}
    assert any(code.startswith("ST-") for code in cur["units_by_location"])  # the demo does ship from stores
    assert data["difference"]["units_by_location"][dropped[0]] == -cur["units_by_location"].get(dropped[0], 0)
    page = chart.read_text()
    assert "<svg" in page and "Units shipped per location" in page and "drops ST-" in page


def test_orders_from_a_csv_and_a_date_range(simulate: Simulate, demo_db: tuple[str, Path]) -> None:
    db = Database(demo_db[0])
    with db.read() as conn:
        orders = sim.load_orders(conn)
    db.dispose()
    path = simulate.file("orders.csv", sim.orders_csv_text(orders[:10]))
    rules = simulate.file("never.json", '{"split_policy": "never"}')
    data = json.loads(simulate("--orders-csv", str(path), "--rules", str(rules), "--json").stdout)
    assert data["orders"] == 10 and data["source"] == str(path)
    assert data["first_placed_at"] == orders[0].placed_at.isoformat()

    day = orders[-1].placed_at.date().isoformat()
    data = json.loads(simulate("--from", day, "--to", day, "--limit", "3", "--rules", str(rules), "--json").stdout)
    assert data["orders"] == min(3, sum(1 for o in orders if o.placed_at.date().isoformat() == day))
    assert data["last_placed_at"] == orders[-1].placed_at.isoformat()


def test_a_bad_orders_csv_exits_2_naming_the_file_row_and_column(simulate: Simulate) -> None:
    rules = simulate.file("never.json", '{"split_policy": "never"}')
    bad = simulate.file(
        "bad.csv",
        "order_ref,placed_at,channel,service_level,country,region,postal_code,sku,quantity\n"
        "A,2026-03-02T10:00:00+00:00,web,standard,US,TX,78701,TEE-BLK-S,1\n"
        "A,2026-03-02T10:00:00+00:00,web,standard,US,TX,78701,TEE-BLK-M,two\n",
    )
    out = failed(simulate("--orders-csv", str(bad), "--rules", str(rules)))
    assert f"{bad}: row 3, column quantity: 'two' is not a whole number of at least 1" in out
    assert "nothing simulated" in out

    unknown = simulate.file(
        "unknown.csv",
        "order_ref,placed_at,channel,service_level,country,sku,quantity\nA,2026-03-02T10:00Z,web,,US,NO-SUCH,1\n",
    )
    assert "row 2, column sku: no product with SKU 'NO-SUCH'" in failed(
        simulate("--orders-csv", str(unknown), "--rules", str(rules))
    )


def test_bad_alternatives_and_empty_ranges_exit_2(simulate: Simulate) -> None:
    network = simulate.file(
        "net.csv", "code,kind,latitude,longitude,timezone\nWH-X,warehouse,32.9,-96.9,Europe/Nowhere\n"
    )
    out = failed(simulate("--network", str(network)))
    assert f"{network}: row 2, column timezone: 'Europe/Nowhere' is not an IANA timezone" in out

    rules = simulate.file("rules.json", '{"split_policy": "sometimes"}')
    assert f"{rules}: split_policy: must be one of never, allowed, min_days_saved" in failed(
        simulate("--rules", str(rules))
    )
    assert "nothing to compare" in failed(simulate())
    never = simulate.file("never.json", '{"split_policy": "never"}')
    assert "no orders to replay in the --from/--to range" in failed(
        simulate("--rules", str(never), "--from", "2001-01-01", "--to", "2001-01-31")
    )
    assert "not a date" in failed(simulate("--rules", str(never), "--from", "last week"))
    assert "must be a .svg or .html file" in failed(simulate("--rules", str(never), "--chart", "out.png"))
