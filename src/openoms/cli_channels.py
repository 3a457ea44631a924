"""`openoms edi ...` and `openoms inbox ...`: trading partners, X12 files and dead letters from a
terminal (a nightly SFTP sync drops files; an operator retries what failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openoms.domain.errors import DomainError
from openoms.services.common import Actor

edi_app = typer.Typer(help="EDI X12 trading partners: 850 orders in, 855 acknowledgments out.", no_args_is_help=True)
inbox_app = typer.Typer(help="Channel messages and dead letters.", no_args_is_help=True)
CLI = Actor("cli")


def register(app: typer.Typer) -> None:
    app.add_typer(edi_app, name="edi")
    app.add_typer(inbox_app, name="inbox")


@edi_app.command("partner")
def partner(
    channel: Annotated[str, typer.Argument(help="The channel's code")],
    ours: Annotated[str, typer.Option(help="Our id as QUALIFIER:ID, e.g. ZZ:OPENOMS")],
    theirs: Annotated[str, typer.Option(help="The partner's id as QUALIFIER:ID")],
    sku_qualifier: Annotated[
        list[str] | None, typer.Option("--sku-qualifier", help="PO1 qualifier carrying our SKU (repeat; first wins)")
    ] = None,
    country: Annotated[str, typer.Option(help="Country when N404 is empty")] = "US",
    test: Annotated[bool, typer.Option("--test", help="Send with ISA15 = T (test)")] = False,
    lenient: Annotated[bool, typer.Option("--lenient", help="Read envelopes whose counts disagree")] = False,
) -> None:
    """Set who is on the other side of a channel's X12 files."""
    from openoms.cli import _db, _fail, console
    from openoms.services import edi

    try:
        p = edi.set_partner(
            _db(), channel, ours=ours, theirs=theirs, sku_qualifiers=sku_qualifier, default_country=country,
            usage="T" if test else "P", strict=not lenient, actor=CLI,
        )  # fmt: skip
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    console.print(
        f"{channel}: us {p['ours']}, them {p['theirs']}, SKU from {'/'.join(p['sku_qualifiers'])}, "
        f"next ISA13 {p['next_interchange_control']}"
    )


@edi_app.command("import")
def import_files(
    channel: Annotated[str, typer.Argument(help="The channel's code")],
    path: Annotated[Path, typer.Argument(help="An X12 file, or a drop folder (files move to processed/ or failed/)")],
) -> None:
    """Read X12 files: each 850 becomes an order or a dead letter with its reason."""
    from openoms.cli import _db, _fail, _progress, console
    from openoms.services import edi

    db = _db()
    try:
        if path.is_dir():
            files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in edi.EDI_SUFFIXES]
            with _progress() as progress:
                task = progress.add_task("importing", total=len(files))
                totals = edi.import_folder(db, channel, path, actor=CLI, progress=lambda _p, _r: progress.advance(task))
            console.print(
                f"{totals['files']} file(s): {totals['orders']} new order(s), {totals['duplicates']} already "
                f"received, {totals['dead']} dead letter(s)"
            )
            if totals["dead"]:
                console.print("see them with `openoms inbox list --dead`; fix, then `openoms inbox retry ID`")
            return
        result = edi.receive_interchange(db, channel, path.read_text(encoding="latin-1"), source="file", actor=CLI)
    except (DomainError, OSError) as exc:
        _fail(getattr(exc, "message", str(exc)), 2)
        return
    if result["error"]:
        _fail(f"{path.name}: {result['error']} (kept as dead letter {result['dead_letter']})", 1)
        return
    for o in result["orders"]:
        what = f"order {o['order_id']}" if o["order_id"] else o["status"]
        note = " (already received)" if o["duplicate"] else ""
        reason = f": {o['reason']}" if o["reason"] else ""
        console.print(f"{o['set']} {o['po_number'] or o['control_number']}: {what}{note}{reason}")
    if any(o["status"] == "dead" for o in result["orders"]):
        raise typer.Exit(1)


@inbox_app.command("list")
def list_inbox(
    channel: Annotated[str | None, typer.Option(help="Only this channel")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Only dead letters")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Recent channel messages, newest first."""
    from openoms.cli import _db, console
    from openoms.services import channel_inbox

    page = channel_inbox.list_messages(_db(), channel=channel, status="dead" if dead else None, limit=limit)
    for m in page["items"]:
        reason = f"  {m['reason']}" if m["reason"] else ""
        order = f" order {m['order_id']}" if m["order_id"] else ""
        console.print(f"{m['id']:>6} {m['channel']:<10} {m['topic']:<16} {m['status']:<9}{order}{reason}")
    console.print(", ".join(f"{k} {v}" for k, v in page["counts"].items()))


@inbox_app.command("retry")
def retry(message_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1)]) -> None:
    """Map a dead letter again after the fix."""
    from openoms.cli import _db, _fail, console
    from openoms.services import channel_inbox

    try:
        m = channel_inbox.retry(_db(), message_id, CLI)
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    console.print(f"{m['id']}: {m['status']}" + (f" ({m['reason']})" if m["reason"] else ""))
    if m["status"] == "dead":
        raise typer.Exit(1)


imports_app = typer.Typer(help="Orders from CSV or Excel: check, then import.", no_args_is_help=True)


def register_imports(app: typer.Typer) -> None:
    app.add_typer(imports_app, name="order-import")


@imports_app.command("template")
def import_template() -> None:
    """Print a column mapping to fill in (JSON)."""
    import json

    from openoms.adapters.channels import spreadsheet

    typer.echo(json.dumps(spreadsheet.template(), indent=2))


def _run_import(channel: str, path: Path, mapping: Path, report: Path | None, *, dry_run: bool) -> None:
    from openoms.cli import _db, _fail, _progress, console
    from openoms.services import order_import

    try:
        data = path.read_bytes()
        mapping_text = mapping.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(str(exc), 2)
        return
    try:
        with _progress() as progress:
            task = progress.add_task("importing" if not dry_run else "checking", total=None)
            result = order_import.import_orders(
                _db(), channel, data, path.name, mapping_text, dry_run=dry_run, actor=CLI,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
    except DomainError as exc:
        _fail(exc.message, 2)
        return
    for e in result["errors"][:50]:
        console.print(f"row {e['row']}, {e['column']}: {e['reason']}")
    if len(result["errors"]) > 50:
        console.print(f"... and {len(result['errors']) - 50} more")
    dead = [o for o in result["orders"] if o.get("status") == "dead"]
    for o in dead:
        console.print(f"order {o['external_order_id']} not captured: {o['reason']} (inbox {o['inbox_id']})")
    if report is not None:
        report.write_text(order_import.error_report_csv(result), encoding="utf-8")
        console.print(f"problems written to {report}")
    if dry_run:
        console.print(
            f"{result['rows']} row(s): {result['orders_ready']} order(s) ready, {result['orders_left_out']} left out "
            f"({len(result['errors'])} problem(s)); nothing was written"
        )
    else:
        new = sum(1 for o in result["orders"] if o["status"] == "processed" and not o["already_imported"])
        console.print(
            f"{new} order(s) imported, {sum(1 for o in result['orders'] if o['already_imported'])} already there, "
            f"{len(dead)} dead letter(s), {result['orders_left_out']} left out for bad rows"
        )
    if result["errors"] or dead:
        raise typer.Exit(1)


@imports_app.command("check")
def import_check(
    channel: Annotated[str, typer.Argument(help="The channel the orders belong to")],
    path: Annotated[Path, typer.Argument(help="The .csv or .xlsx file")],
    mapping: Annotated[Path, typer.Option(help="The column mapping (JSON; see `openoms order-import template`)")],
    report: Annotated[Path | None, typer.Option(help="Write the problems to this CSV")] = None,
) -> None:
    """Dry run: every problem by row and column; nothing is written."""
    _run_import(channel, path, mapping, report, dry_run=True)


@imports_app.command("run")
def import_run(
    channel: Annotated[str, typer.Argument(help="The channel the orders belong to")],
    path: Annotated[Path, typer.Argument(help="The .csv or .xlsx file")],
    mapping: Annotated[Path, typer.Option(help="The column mapping (JSON)")],
    report: Annotated[Path | None, typer.Option(help="Write the problems to this CSV")] = None,
) -> None:
    """Import the good orders (orders with a bad row are left out whole); safe to run twice."""
    _run_import(channel, path, mapping, report, dry_run=False)
