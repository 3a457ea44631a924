"""`openoms simulate`: replay past orders against another policy or network, side by side.

Registered on the main app by ``register(app)``. The work is ``services.simulation``; this
module parses options, shows a progress bar and prints the comparison (docs/simulation.md).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from openoms.adapters.db.engine import Database
from openoms.config import get_settings

if TYPE_CHECKING:
    from openoms.services.simulation import SimulationInputError, SimulationResult

console = Console()
err = Console(stderr=True)

#: Exit code for bad input (a file, an option, nothing to replay), as the other commands use.
EXIT_BAD_INPUT = 2


def _parse_when(text: str, option: str, *, end: bool) -> dt.datetime:
    """``2026-03-01`` (a UTC day: ``--to`` includes the whole day) or an ISO date-time with
    an offset."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            return start + dt.timedelta(days=1) if end else start
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (2026-03-01) or date-time with offset (2026-03-01T12:00:00+00:00)",
            param_hint=option,
        ) from None
    if value.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a UTC offset, e.g. +00:00", param_hint=option)
    return value.astimezone(dt.UTC)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=not sys.stderr.isatty(),
    )


def simulate(
    orders_csv: Annotated[
        Path | None,
        typer.Option("--orders-csv", help="Replay orders from this CSV instead of the database", show_default=False),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="Orders placed on or after (YYYY-MM-DD, UTC)", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Orders placed up to and including (YYYY-MM-DD)", show_default=False)
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the N most recent orders", min=1, show_default=False)
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help='JSON of rule fields to change, e.g. {"split_policy": "never"}'),
    ] = None,
    network: Annotated[
        Path | None, typer.Option("--network", help="Locations CSV (us_network.csv format) replacing the network")
    ] = None,
    rates: Annotated[Path | None, typer.Option("--rates", help="Carrier rate CSV replacing the rate table")] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write a chart (.svg) or a report with the chart (.html)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """What-if: replay past orders against other rules, network or rates, and compare cost,
    splits, promise dates and capacity use with the network in force. Writes nothing."""
    from openoms.services import simulation

    start = _parse_when(since, "--from", end=False) if since else None
    end = _parse_when(until, "--to", end=True) if until else None
    if chart is not None and chart.suffix.lower() not in (".svg", ".html", ".htm"):
        _fail(f"--chart {chart}: the chart must be a .svg or .html file")
    db = Database(get_settings().database_url, pool_size=4)
    try:
        prepared = simulation.prepare(
            db, orders_csv=orders_csv, since=start, until=end, limit=limit, rules=rules, network=network, rates=rates
        )
        with _progress() as progress:
            task = progress.add_task("replaying orders", total=2 * len(prepared.orders))

            step = max(len(prepared.orders) // 100, 1)  # a redraw per order would cost more than routing

            def report(done: int, total: int) -> None:
                if done % step == 0 or done == total:
                    progress.update(task, completed=done, total=total)

            result = prepared.run(report)
    except simulation.SimulationInputError as exc:
        _report_problems(exc)
        return
    finally:
        db.dispose()
    if chart is not None:
        written = simulation.write_chart(result, chart)
        err.print(f"chart written to {written}")
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=False))
        return
    _print_table(result)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(EXIT_BAD_INPUT)


def _report_problems(exc: SimulationInputError) -> None:
    if len(exc.problems) > 1:
        table = Table("row", "column", "reason", title=f"{len(exc.problems)} problem(s) in {exc.source}")
        for p in exc.problems[:50]:
            table.add_row("-" if p.row is None else str(p.row), p.column, p.reason)
        err.print(table)
    first = exc.problems[0]
    where = f"row {first.row}, column {first.column}" if first.row is not None else first.column
    hint = "fix the file and run again" if exc.source not in ("options", "database") else "see openoms simulate --help"
    _fail(
        f"{exc.source}: {where}: {first.reason}"
        + (f" (and {len(exc.problems) - 1} more problem(s) above)" if len(exc.problems) > 1 else "")
        + f"; nothing simulated, {hint}"
    )


def _print_table(result: SimulationResult) -> None:
    from openoms.services.simulation import STOCK_NOTE, comparison_rows

    span = ""
    if result.first_placed and result.last_placed:
        span = f", placed {result.first_placed:%Y-%m-%d} to {result.last_placed:%Y-%m-%d}"
    console.print(f"What-if over {result.orders} orders from {result.source}{span}")
    console.print(f"  current: {result.current.rules_label}, network and rates in force")
    for change in result.alternative.changes:
        console.print(f"  alternative: {change}")
    table = Table("metric", "current", "alternative", "change")
    for col in table.columns[1:]:
        col.justify = "right"
    for row in comparison_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(f"[dim]{STOCK_NOTE}[/]")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``openoms`` command line."""
    app.command("simulate")(simulate)
