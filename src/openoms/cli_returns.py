"""`openoms returns`: the returns queue and receiving returned units from a terminal (a returns
desk's scanner script)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.table import Table

from openoms.domain.errors import DomainError, validation_error
from openoms.services.common import Actor

returns_app = typer.Typer(help="Returns (RMA): list them, receive returned units.", no_args_is_help=True)

LINE = re.compile(r"^(\d{1,6})=(\d{1,9}):(restock|refurbish|write_off)(?::(unopened|opened|damaged))?$")


def register(app: typer.Typer) -> None:
    app.add_typer(returns_app, name="returns")


def parse_line(text: str, condition: str) -> dict[str, Any]:
    """``n=qty:disposition[:condition]``, e.g. ``1=2:restock`` or ``2=1:write_off:damaged``."""
    m = LINE.match(text.strip())
    if m is None:
        raise validation_error(
            "--line", f"{text!r} is not LINE=QTY:DISPOSITION[:CONDITION], e.g. 1=2:restock or 2=1:write_off:damaged"
        )
    return {
        "line_number": int(m.group(1)),
        "quantity": int(m.group(2)),
        "disposition": m.group(3),
        "condition": m.group(4) or condition,
    }


@returns_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="A status, or 'open' for every return still being worked")] = None,
    location: Annotated[str | None, typer.Option(help="Receiving location code")] = None,
    q: Annotated[str | None, typer.Option("--q", help="RMA number, order number or customer e-mail")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Returns, newest first."""
    from openoms.cli import _db, _fail, console
    from openoms.services import returns

    try:
        page = returns.list_returns(_db(), status=status, location=location, q=q, limit=limit)
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    table = Table("RMA", "order", "status", "method", "location", "units", "received", "refund", "created")
    for r in page["items"]:
        table.add_row(
            r["rma_number"],
            r["order_number"],
            r["status"],
            r["method"],
            r["location"] or "",
            str(r["units"]),
            str(r["units_received"]),
            f"{r['refund_amount']} {r['currency']}" if r["refund_amount"] is not None else "",
            f"{r['created_at']:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    if not page["items"]:
        console.print("no returns")


@returns_app.command("receive")
def receive_cmd(
    rma: Annotated[str, typer.Argument(help="The RMA number (RMA-0000012) or id")],
    location: Annotated[str, typer.Option(help="Where the units were received")],
    line: Annotated[
        list[str], typer.Option("--line", help="LINE=QTY:DISPOSITION[:CONDITION], repeat for several lines")
    ],
    condition: Annotated[str, typer.Option(help="Condition for lines that do not say")] = "opened",
) -> None:
    """Receive returned units with their disposition: restock (back to available through the
    ledger), refurbish or write_off."""
    from openoms.cli import _db, _fail, console
    from openoms.services import returns

    try:
        lines = [parse_line(x, condition) for x in line]
        out = returns.receive_return(
            _db(), returns.return_id_of(rma), location=location, lines=lines, actor=Actor("cli")
        )
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    console.print(
        f"{out['rma_number']} {out['status']}: {out['units_received']} of {out['units']} unit(s) received; "
        + ", ".join(f"{k} {v}" for k, v in sorted(out["dispositions"].items()))
    )
