"""`openoms worker` and `openoms outbox`: the background relay and what operators see of it.

Registered on the main app by ``register(app)``; the work is ``openoms.worker`` and
``services.outbox`` (docs/notifications.md).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from openoms.adapters.db.engine import Database
from openoms.config import get_settings
from openoms.services.common import Actor

console = Console()
err = Console(stderr=True)


def _db(pool_size: int = 4) -> Database:
    return Database(get_settings().database_url, pool_size=pool_size)


def worker(
    once: Annotated[bool, typer.Option("--once", help="Deliver everything due, run each job once, exit")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds to wait when the outbox is empty")] = 2.0,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Messages claimed per transaction")] = 20,
) -> None:
    """Deliver the outbox (customer e-mail, ...) and run scheduled jobs until stopped (Ctrl-C,
    SIGTERM: the message in hand is finished first). Run several on PostgreSQL if needed."""
    from openoms.worker import Worker

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    db = _db()
    w = Worker(db, settings, batch=batch)
    if not settings.smtp_host:
        err.print("[yellow]note:[/] OPENOMS_SMTP_HOST is not set: customer e-mails are recorded as skipped")
    try:
        if once:
            result = w.run_once()
            jobs = ", ".join(f"{k} {v}" for k, v in result.jobs.items())
            console.print(f"delivered {result.delivered}, failed {result.failed}" + (f"; jobs: {jobs}" if jobs else ""))
            if result.failed:
                raise typer.Exit(1)
            return
        stop = threading.Event()

        def _stop(signum: int, _frame: Any) -> None:
            logging.getLogger("openoms.worker").info("%s received, stopping", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        w.run(stop, interval)
    finally:
        db.dispose()


outbox_app = typer.Typer(help="Outbox messages not yet delivered, and re-queueing them.", no_args_is_help=False)


@outbox_app.callback(invoke_without_command=True)
def outbox_list(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only messages that failed at least once")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List undelivered outbox messages, oldest first, with their last error."""
    if ctx.invoked_subcommand is not None:
        return
    from openoms.services import outbox

    settings = get_settings()
    out = outbox.undelivered(_db(), max_attempts=settings.outbox_max_attempts, failed_only=failed, limit=limit)
    table = Table("id", "event", "aggregate", "attempts", "next try", "last error", title="Undelivered outbox messages")
    for m in out["messages"]:
        table.add_row(
            str(m["id"]),
            m["event_type"],
            m["aggregate"],
            f"{m['attempts']}" + (" (dead)" if m["dead"] else ""),
            "after retry" if m["dead"] else m["available_at"].strftime("%Y-%m-%d %H:%M:%S UTC"),
            (m["last_error"] or "")[:120],
        )
    if out["messages"]:
        console.print(table)
    console.print(
        f"pending {out['pending']}, retrying {out['retrying']}, dead {out['dead']} "
        f"(dead: failed {settings.outbox_max_attempts} times; `openoms outbox retry ID` re-queues)"
    )


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[list[int], typer.Argument(help="Outbox message ids (from `openoms outbox`)")],
) -> None:
    """Re-queue undelivered messages now, with a fresh count of attempts."""
    from openoms.services import outbox

    done = outbox.retry(_db(), ids, Actor("cli"))
    missing = sorted(set(ids) - set(done))
    if done:
        console.print(f"re-queued {', '.join(str(i) for i in done)}; the worker delivers them on its next pass")
    if missing:
        err.print(f"[bold red]error:[/] not undelivered outbox messages: {', '.join(str(i) for i in missing)}")
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``outbox`` to the ``openoms`` command line."""
    app.command("worker")(worker)
    app.add_typer(outbox_app, name="outbox")
