"""`openoms pickups expire`: cancel the pickup orders nobody collected in time.

Registered on the main app by ``register(app)``; the work is ``services.pickup.expire_pickups``
(the worker runs it on a schedule too). docs/pickup.md.
"""

from __future__ import annotations

import typer

pickups_app = typer.Typer(help="Buy online, pick up in store: orders waiting at the stores", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the pickup commands to the ``openoms`` app."""
    from openoms import cli

    app.add_typer(pickups_app, name="pickups")

    @pickups_app.command("expire")
    def expire() -> None:
        """Cancel pickups past their hold (each store's pickup_hold_days); their stock goes back on sale."""
        from openoms.services.common import utcnow
        from openoms.services.pickup import expire_pickups

        count = expire_pickups(cli._db(), utcnow())
        cli.console.print(f"{count} uncollected pickup order(s) cancelled")
