"""`openoms inbound receive`: receive units against an inbound lot from a terminal (a dock
scanner's script, a nightly ASN import)."""

from __future__ import annotations

from typing import Annotated

import typer

from openoms.domain.errors import DomainError
from openoms.services.common import Actor

inbound_app = typer.Typer(help="Inbound stock: receive against purchase-order lots.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(inbound_app, name="inbound")


@inbound_app.command("receive")
def receive(
    inbound_id: Annotated[int, typer.Argument(help="The inbound lot id", min=1, max=2**63 - 1)],
    quantity: Annotated[int, typer.Argument(help="Units received now", min=1, max=100_000_000)],
    allow_over: Annotated[bool, typer.Option("--allow-over", help="Accept more than the lot still expects")] = False,
    reason: Annotated[str | None, typer.Option(help="A note for the ledger")] = None,
) -> None:
    """Receive units against an open lot: a receipt in the ledger, the lot closed when complete."""
    from openoms.cli import _db, _fail, console
    from openoms.services import stock_ops

    try:
        lot = stock_ops.receive_inbound(
            _db(), inbound_id, quantity, Actor("cli"), allow_over_receipt=allow_over, reason=reason
        )
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    left = "complete" if lot["status"] == "received" else f"{lot['outstanding']} still expected"
    console.print(
        f"received {quantity} x {lot['sku']} at {lot['location']} against inbound {inbound_id}: {left}; "
        f"on hand {lot['stock']['on_hand']}"
    )
