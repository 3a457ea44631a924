"""`openoms webhooks`: integrators' webhook subscriptions and their delivery log from the shell
(docs/webhooks.md). Registered on the main app by ``register(app)``; the work is
``services.webhooks``. Sending is the worker's (`openoms worker`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openoms.adapters.db.engine import Database
from openoms.config import get_settings
from openoms.domain.errors import DomainError
from openoms.domain.webhooks import DeliveryStatus
from openoms.services import webhooks
from openoms.services.common import Actor

console = Console()
err = Console(stderr=True)
EXIT_BAD_INPUT = 2
ACTOR = Actor("cli")

app = typer.Typer(help="Outgoing webhooks: subscriptions, the delivery log, re-sending.", no_args_is_help=True)


def _db() -> Database:
    return Database(get_settings().database_url, pool_size=2)


def _fail(exc: DomainError) -> None:
    for e in exc.errors or []:
        err.print(f"[bold red]error:[/] {e.field}: {e.reason}")
    if not exc.errors:
        err.print(f"[bold red]error:[/] {exc.message}")
    raise typer.Exit(EXIT_BAD_INPUT if exc.errors else 1)


@app.command("list")
def list_subscriptions() -> None:
    """Every subscription (secrets are never shown again)."""
    db = _db()
    try:
        subs = webhooks.list_subscriptions(db)
        counts = webhooks.delivery_counts(db)
    finally:
        db.dispose()
    if not subs:
        console.print("no webhook subscriptions; add one with `openoms webhooks add NAME URL --event order.*`")
        return
    table = Table("id", "name", "url", "events", "active")
    for s in subs:
        table.add_row(
            str(s["id"]), s["name"], s["url"], ", ".join(s["event_types"]), "yes" if s["active"] else "paused"
        )
    console.print(table)
    console.print(", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="What the receiver is, e.g. 'ERP (production)'")],
    url: Annotated[str, typer.Argument(help="http:// or https:// URL the events are POSTed to")],
    event: Annotated[
        list[str], typer.Option("--event", "-e", help="Event type, prefix (order.*) or *; repeat for several")
    ],
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused")] = False,
) -> None:
    """Subscribe a URL to events; prints the signing secret, which is shown this once."""
    db = _db()
    try:
        sub, secret = webhooks.create_subscription(
            db, get_settings(), name=name, url=url, event_types=event, active=not paused, actor=ACTOR
        )
    except DomainError as exc:
        _fail(exc)
        return
    finally:
        db.dispose()
    console.print(f"webhook {sub['id']} {sub['name']!r} -> {sub['url']} for {', '.join(sub['event_types'])}")
    console.print(f"signing secret (shown once): {secret}")


@app.command("deliveries")
def deliveries(
    subscription: Annotated[int | None, typer.Option("--subscription", "-s", help="Only this subscription's")] = None,
    status: Annotated[DeliveryStatus | None, typer.Option("--status", help="Only this status")] = None,
    event_type: Annotated[str | None, typer.Option("--event-type", help="Only this event type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """The delivery log, newest first, with the receivers' answers."""
    db = _db()
    try:
        page = webhooks.list_deliveries(
            db,
            subscription_id=subscription,
            status=status.value if status else None,
            event_type=event_type,
            limit=limit,
        )
    except DomainError as exc:
        _fail(exc)
        return
    finally:
        db.dispose()
    if not page["items"]:
        console.print("no deliveries")
        return
    table = Table("id", "event", "order", "to", "status", "tries", "code", "ms", "error")
    for d in page["items"]:
        table.add_row(
            str(d["id"]),
            d["event_type"],
            str(d["order_id"] or "—"),
            d["subscription_name"],
            d["status"],
            str(d["attempts"]),
            str(d["last_response_code"] or "—"),
            str(d["duration_ms"] if d["duration_ms"] is not None else "—"),
            (d["last_error"] or "")[:60],
        )
    console.print(table)


@app.command("resend")
def resend(delivery_ids: Annotated[list[int], typer.Argument(help="Delivery ids (see `deliveries`)")]) -> None:
    """Queue deliveries again, whatever their status; the worker sends them (same event id)."""
    db = _db()
    try:
        for delivery_id in delivery_ids:
            d = webhooks.resend(db, delivery_id, ACTOR)
            console.print(f"delivery {d['id']} ({d['event_type']} to {d['subscription_name']}) queued again")
    except DomainError as exc:
        _fail(exc)
    finally:
        db.dispose()


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="webhooks")
