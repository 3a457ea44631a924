"""`openoms returns list` and `openoms returns receive` against a SQLite file, as a returns
desk's script runs them."""

from __future__ import annotations

from openoms.services import returns as rs
from openoms.services.check import run_check
from tests.integration import test_cli
from tests.integration.test_cli import Cli, failed, ok
from tests.integration.test_returns import T, level, setup_network, shipped_order

cli = test_cli.cli  # the fixture, shared


def test_list_and_receive_from_the_command_line(cli: Cli) -> None:
    ok(cli("migrate"))
    db = cli.db
    setup_network(db)
    oid = shipped_order(db)
    ret = rs.request_return(
        db,
        oid,
        lines=[
            {"line_number": 1, "quantity": 2, "reason": "wrong_size"},
            {"line_number": 2, "quantity": 1, "reason": "damaged"},
        ],
        method="mail",
        location=None,
        source="api",
        actor=T,
        approve=True,
    )
    rma = ret["rma_number"]
    out = ok(cli("returns", "list", "--status", "open"))
    assert rma in out and "approved" in out
    assert "no returns" in ok(cli("returns", "list", "--status", "refunded"))
    failed(cli("returns", "list", "--status", "lost"), 2)

    before = level(db, "A", "WH-EAST")
    # a bad line changes nothing
    assert "LINE=QTY" in failed(cli("returns", "receive", rma, "--location", "WH-EAST", "--line", "1=two:restock"), 2)
    assert "still expected" in failed(
        cli("returns", "receive", rma, "--location", "WH-EAST", "--line", "1=3:restock"), 2
    )
    assert rs.get_return(db, ret["id"])["units_received"] == 0
    out = ok(
        cli(
            "returns", "receive", rma, "--location", "WH-EAST",
            "--line", "1=2:restock:unopened", "--line", "2=1:write_off:damaged",
        )
    )  # fmt: skip
    assert f"{rma} received: 3 of 3 unit(s) received; restock 2, write_off 1" in out
    assert level(db, "A", "WH-EAST") == (before[0] + 2, before[1])
    assert run_check(db).ok


def test_demo_data_has_returns_in_several_states(cli: Cli) -> None:
    ok(cli("migrate"))
    ok(cli("demo-data", "--orders", "40"))
    statuses = {r["status"] for r in rs.list_returns(cli.db, limit=50)["items"]}
    assert {"requested", "label_issued", "received"} <= statuses, statuses
    assert "RMA-" in ok(cli("returns", "list"))
    assert "OK" in ok(cli("check"))
