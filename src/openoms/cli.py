"""The `openoms` command line: serve, migrate, load data, keys, and the books check."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from openoms.adapters.db import migrate as migrations
from openoms.adapters.db.engine import Database
from openoms.config import get_settings
from openoms.domain.errors import DomainError
from openoms.services.common import Actor

app = typer.Typer(
    help="OpenOMS: order management for every sales channel.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _db() -> Database:
    return Database(get_settings().database_url, pool_size=4)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "",
    port: Annotated[int, typer.Option(help="TCP port")] = 0,
    workers: Annotated[int, typer.Option(help="Worker processes (use 2+ on PostgreSQL)")] = 0,
) -> None:
    """Serve the API and web pages."""
    import uvicorn

    s = get_settings()
    host = host or s.host
    port = port or s.port
    workers = workers or s.workers
    console.print(f"OpenOMS on [bold]http://{host}:{port}/[/]  (API reference: http://{host}:{port}/docs)")
    uvicorn.run(
        "openoms.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=s.log_level,
        access_log=False,
    )


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION instead")] = False,
) -> None:
    """Bring the database schema up to date (or down with --down)."""
    db = _db()
    before = migrations.current_revision(db)
    if down:
        migrations.downgrade(db, revision)
    else:
        migrations.upgrade(db, revision)
    console.print(f"schema: {before or 'empty'} -> {migrations.current_revision(db) or 'empty'}")


@app.command("demo-data")
def demo_data(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing when products exist")] = False,
    orders: Annotated[int, typer.Option(help="Demo orders to capture")] = 200,
) -> None:
    """Load a demo network: locations, channels, products, stock, orders and an API key."""
    from openoms.services import demo

    db = _db()
    if if_empty and not demo.is_empty(db):
        console.print("demo data: database already has data, left as it is")
        return
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        summary = demo.load(db, order_count=orders, progress=report)
    key_file = get_settings().var_dir / "demo-api-key.txt"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(summary["api_key"] + "\n")
    key_file.chmod(0o600)
    console.print(
        f"demo data: {summary['products']} products, {summary['locations']} locations, "
        f"{summary['channels']} channels, {summary['orders']} orders"
    )
    console.print(f"demo API key (all scopes, saved in {key_file}): [bold]{summary['api_key']}[/]")
    users_file = get_settings().var_dir / "demo-users.txt"
    users_file.write_text(
        "".join(f"{email}  {role}\n" for email, role in summary["users"]) + f"password: {summary['password']}\n"
    )
    users_file.chmod(0o600)
    console.print(
        f"demo sign-in (saved in {users_file}): [bold]{summary['users'][0][0]}[/] / [bold]{summary['password']}[/]"
        " (other roles: " + ", ".join(e for e, _ in summary["users"][1:]) + ", same password)"
    )


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Sign-in e-mail")],
    name: Annotated[str, typer.Option(help="Full name, shown on timelines")],
    role: Annotated[str, typer.Option(help="admin, operations, customer_service, warehouse or finance")] = "operations",
    password: Annotated[
        str | None,
        typer.Option(help="At least 10 characters; asked for (hidden) when not given", show_default=False),
    ] = None,
) -> None:
    """Create a back-office user who signs in at /login."""
    from openoms.services import users

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(_db(), email, name, role, password, Actor("cli"))
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    console.print(f"created {user['name']} <{user['email']}> as {user['role'].label}; sign in at /login")


@app.command("create-api-key")
def create_api_key(
    name: Annotated[str, typer.Option(help="Who uses it, e.g. shopify-prod")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Repeat: orders:write, inventory:read, ... or * (default: *)"),
    ] = None,
    location: Annotated[
        str | None,
        typer.Option(help="Bind to one location (a drop-ship supplier or 3PL): it sees only that location's work"),
    ] = None,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    from openoms.services import apikeys

    default = list(apikeys.BOUND_SCOPES) if location else ["*"]
    try:
        principal, secret = apikeys.create_api_key(_db(), name, scope or default, Actor("cli"), location=location)
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    bound = f", location {principal.location}" if principal.location else ""
    console.print(f"API key for {principal.name} ({', '.join(sorted(principal.scopes))}{bound}):")
    print(secret)


@app.command("revoke-api-key")
def revoke_api_key(prefix: Annotated[str, typer.Argument(help="The 8 characters after oms_")]) -> None:
    """Revoke an API key (effective within 30 seconds on running servers)."""
    from openoms.services import apikeys

    try:
        apikeys.revoke_api_key(_db(), prefix, Actor("cli"))
    except DomainError as exc:
        _fail(exc.message, 2)
    console.print(f"revoked {prefix}")


@app.command()
def check() -> None:
    """Prove every stock balance equals its ledger and nothing is oversold; exit 1 if not."""
    from openoms.services.check import run_check

    report = run_check(_db())
    if report.ok:
        console.print(
            f"[green]OK[/]: {report.stock_rows} stock rows match {report.ledger_rows} ledger rows; "
            "0 <= reserved <= on hand everywhere; "
            f"{report.transfers} transfer(s) match the ledger ({report.units_in_transit} unit(s) in transit)"
        )
        return
    for p in report.problems[:200]:
        err.print(f"[red]✗[/] {p}")
    _fail(f"{len(report.problems)} problem(s) found in {report.stock_rows} stock rows")


@app.command("allocate-backorders")
def allocate_backorders() -> None:
    """Give free stock to units waiting for it now. Receipts do this by themselves; run it to
    catch up units a receipt left for later (their order was busy at that moment)."""
    from openoms.services import backorders

    served = backorders.allocate_waiting_view(_db(), Actor("cli"))
    for s in served:
        console.print(f"{s['order_number']}: reserved {s['quantity']} x {s['sku']} at {s['location']}")
    orders = {s["order_number"] for s in served}
    console.print(f"reserved {sum(s['quantity'] for s in served)} unit(s) for {len(orders)} order(s)")


class ImportKind(StrEnum):
    products = "products"
    locations = "locations"
    stock = "stock"


@app.command("import")
def import_csv(
    kind: Annotated[ImportKind, typer.Argument(help="What the file holds")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only")] = False,
) -> None:
    """Import products, locations or stock from CSV. A file with any bad row imports nothing;
    the per-row error report is printed and written beside the file."""
    from openoms import importer

    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        _fail(f"{path} has no data rows; the first row must name the columns")
    spec = importer.SPECS[kind.value]
    models: list[BaseModel] = []
    model_rows: list[int] = []  # the file's row number of each model
    problems: list[tuple[int, str, str]] = []
    with _progress() as progress:
        task = progress.add_task(f"validating {path.name}", total=len(rows))
        for n, raw in enumerate(rows, start=2):  # row 1 is the header
            try:
                models.append(spec.model.model_validate(importer.clean_row(raw, spec)))
                model_rows.append(n)
            except ValidationError as exc:
                for e in exc.errors():
                    field = ".".join(str(p) for p in e["loc"]) or "row"
                    problems.append((n, field, e["msg"]))
            progress.advance(task)
    problems.extend(importer.duplicate_keys(models, spec, model_rows))
    if not problems:
        problems.extend(importer.check_references(_db(), kind.value, models))
    if problems:
        report = path.with_suffix(path.suffix + ".errors.csv")
        with report.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["row", "field", "reason"])
            w.writerows(problems)
        table = Table("row", "field", "reason", title=f"{len(problems)} problem(s) in {path.name}")
        for n, field, reason in problems[:50]:
            table.add_row(str(n) if n else "-", field, reason)
        err.print(table)
        _fail(f"nothing imported; fix the rows above (full report: {report}) and run again")
    if dry_run:
        console.print(f"dry run: {len(models)} {kind.value} rows are valid; nothing imported")
        return
    with _progress() as progress:
        task = progress.add_task(f"importing {kind.value}", total=len(models))
        try:
            count = importer.import_rows(_db(), kind.value, models, lambda k: progress.advance(task, k))
        except DomainError as exc:  # stock reserved since the check above: the import rolled back
            _fail(f"nothing imported: {exc.message}")
            return
    console.print(f"imported {count} {kind.value} rows from {path}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=not sys.stderr.isatty(),
    )


from openoms import cli_pickup, cli_routing, cli_simulate, cli_stock, cli_waves, cli_worker  # noqa: E402  (their commands use the helpers above)

cli_routing.register(app)
cli_simulate.register(app)
cli_stock.register(app)
cli_waves.register(app)
cli_pickup.register(app)
cli_worker.register(app)

from openoms.cli_returns import register as register_returns  # noqa: E402

register_returns(app)


def main() -> Any:  # pragma: no cover
    return app()
