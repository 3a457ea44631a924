"""`openoms release`: run the release policies now (due waves and automatic locations), or
release one location now. Registered on the main app by ``register(app)``; the work is
``services.waves`` (docs/fulfilment.md "Release: manual, automatic, waves")."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from openoms.adapters.db.engine import Database
from openoms.config import get_settings
from openoms.domain.errors import DomainError
from openoms.services.common import Actor

console = Console()
err = Console(stderr=True)
EXIT_BAD_INPUT = 2


def release(
    due: Annotated[bool, typer.Option("--due", help="Run every due wave and every automatic location")] = False,
    location: Annotated[
        str | None, typer.Option("--location", help="Release everything eligible at this location now")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Run as of this ISO date-time with offset (default: now)")
    ] = None,
) -> None:
    """Release fulfilment work by the locations' policies, within their daily capacity."""
    from openoms.services import waves

    if due == (location is not None):
        err.print("[bold red]error:[/] give either --due or --location CODE")
        raise typer.Exit(EXIT_BAD_INPUT)
    now = dt.datetime.now(dt.UTC)
    if at is not None:
        try:
            now = dt.datetime.fromisoformat(at)
        except ValueError:
            now = None  # type: ignore[assignment]
        if now is None or now.tzinfo is None:
            err.print(
                f"[bold red]error:[/] --at: {at!r} is not an ISO date-time with an offset, e.g. 2026-12-02T09:00Z"
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        now = now.astimezone(dt.UTC)
    db = Database(get_settings().database_url, pool_size=4)
    actor = Actor("cli")
    try:
        if location is not None:
            run = waves.release_location_now(db, location, actor, now)
            runs = [run] if run else []
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err,
                transient=not sys.stderr.isatty(),
            ) as progress:
                task = progress.add_task("locations", total=None)

                def step(code: str) -> None:
                    progress.update(task, description=f"releasing {code}", advance=1)

                runs = waves.run_due(db, now, actor=actor, progress=step)
    except DomainError as exc:
        err.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    if not runs:
        console.print("nothing to release")
        return
    table = Table("wave", "location", "kind", "fulfilment orders", "units", "waiting (capacity)", "note")
    for r in runs:
        table.add_row(
            r.wave, r.location, r.kind.value, str(r.fulfilment_orders), str(r.units), str(r.waiting), r.note or ""
        )
    console.print(table)
    console.print(f"released {sum(r.fulfilment_orders for r in runs)} fulfilment order(s)")


def register(app: typer.Typer) -> None:
    """Add ``release`` to the ``openoms`` command line."""
    app.command("release")(release)
