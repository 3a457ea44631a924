"""`openoms release --due` and `openoms release --location CODE` in-process (SQLite)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update

from openoms.adapters.db.tables import Location, table
from openoms.services import orders as order_service
from openoms.services.common import Actor
from tests.conftest import seed_basics
from tests.integration import test_cli
from tests.integration.test_cli import Cli, failed, ok

cli = test_cli.cli  # the fixtures, shared
migrated = test_cli.migrated


def _orders(c: Cli, n: int) -> None:
    for _ in range(n):
        order_service.capture_order(
            c.db,
            order_service.CaptureOrder(
                channel="web", currency="USD", lines=[order_service.LineInput("A", 1, Decimal(1))]
            ),
            Actor("tests"),
        )


def test_release_due_runs_the_wave_once_and_release_location_respects_capacity(migrated: Cli) -> None:
    seed_basics(migrated.db, stock={("A", "WH1"): 10})
    _orders(migrated, 3)
    loc = table(Location)
    with migrated.db.begin() as conn:  # WH1 is in Chicago: a 09:00 wave is 15:00 UTC in winter
        conn.execute(update(loc).where(loc.c.code == "WH1").values(release_mode="waves", wave_times=["09:00"]))
    assert "nothing to release" in ok(migrated("release", "--due", "--at", "2030-01-09T14:59Z"))  # 08:59 local
    out = ok(migrated("release", "--due", "--at", "2030-01-09T15:00Z"))
    assert "WH1" in out and "released 3 fulfilment order(s)" in out
    assert "nothing to release" in ok(migrated("release", "--due", "--at", "2030-01-09T15:30Z"))
    assert migrated.count("waves") == 1 and migrated.count("fulfilment_orders") == 3

    _orders(migrated, 2)
    with migrated.db.begin() as conn:
        conn.execute(update(loc).where(loc.c.code == "WH1").values(daily_capacity=4))
    out = ok(migrated("release", "--location", "WH1", "--at", "2030-01-09T16:00Z"))
    assert "released 1 fulfilment order(s)" in out and "daily capacity" in out  # 3 + 1 = 4 units that day
    assert migrated.count("fulfilment_orders") == 4

    failed(migrated("release"), 2)
    failed(migrated("release", "--due", "--location", "WH1"), 2)
    assert "--at" in failed(migrated("release", "--due", "--at", "yesterday"), 2)
    assert "NOPE" in failed(migrated("release", "--location", "NOPE"))


def test_import_locations_with_a_release_policy(migrated: Cli) -> None:
    header = ["code", "name", "kind", "country", "timezone", "release_mode", "wave_times"]
    bad = migrated.csv(
        "bad.csv",
        [header, ["WH-RNO", "Reno", "warehouse", "US", "America/Los_Angeles", "waves", "09:00 9:30"]],
    )
    failed(migrated("import", "locations", str(bad)))
    assert migrated.count("locations") == 0
    good = migrated.csv(
        "good.csv",
        [
            header,
            ["WH-RNO", "Reno", "warehouse", "US", "America/Los_Angeles", "waves", "13:00 09:00"],
            ["ST-NYC", "SoHo", "store", "US", "America/New_York", "automatic", ""],
        ],
    )
    ok(migrated("import", "locations", str(good)))
    loc = table(Location)
    with migrated.db.read() as conn:
        got = {r.code: (r.release_mode, r.wave_times) for r in conn.execute(select(loc))}
    assert got == {"WH-RNO": ("waves", ["09:00", "13:00"]), "ST-NYC": ("automatic", None)}
