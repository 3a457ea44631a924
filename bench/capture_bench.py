"""Order capture benchmark: the real server under Zipf-skewed load, against the same capture
path with no web stack, on a fresh PostgreSQL database. Hand-run (``make bench``), never a test.

Every run starts from an identical copy of one seeded database (10,000 SKUs at 5 shipping
locations by default) and ends with the oversell query and the full ``openoms check``.
Modes, each with the same clients and the same orders:

- ``http``: ``python -m openoms serve --workers 2`` and 32 keep-alive HTTP clients;
- ``service``: ``services.orders.capture_order`` called directly (the same SQL and Python,
  no FastAPI, no HTTP) from as many processes as the server has workers;
- ``psycopg``: the same statements from a psycopg-only client (``bare_capture.py``).

Exits 1 if anything is oversold, ``openoms check`` finds a problem or a request errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from typing import Any

from rich.table import Table

import benchlib as b
from openoms.adapters.db.engine import Database

MODES = ("http", "service", "psycopg")
DISTURBED = 0.15  # cores taken by other work during a run: worth a warning beside its figures
LABELS = {
    "http": "HTTP (server, 2 workers)",
    "service": "service direct (no web stack)",
    "psycopg": "psycopg only (no SQLAlchemy)",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skus", type=int, default=10_000, help="SKUs in the catalogue (default 10000)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients in every mode (default 32)")
    p.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    p.add_argument(
        "--bare-procs",
        type=int,
        default=0,
        help="processes the no-web-stack clients are spread over (default: as many as --workers)",
    )
    p.add_argument("--http-procs", type=int, default=1, help="processes of the HTTP load generator (default 1)")
    p.add_argument(
        "--client",
        choices=("stdlib", "httpx"),
        default="stdlib",
        help="HTTP client: keep-alive http.client (default, light) or httpx.Client",
    )
    p.add_argument("--duration", type=float, default=6.0, help="measured seconds per run (default 6)")
    p.add_argument("--orders", type=int, default=None, help="measure this many orders per run instead of a duration")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds at full load first (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each mode; medians are printed (default 3)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of SKU popularity (default 1.0)")
    p.add_argument("--seed", type=int, default=42, help="seed of the catalogue and the orders (default 42)")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(args.modes) - set(MODES)
    if unknown or not args.modes:
        p.error(f"--modes takes a subset of {', '.join(MODES)}")
    args.bare_procs = args.bare_procs or args.workers
    if args.orders is not None:
        args.duration = None
    return args


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    b.exit_on_sigterm()
    c = b.console
    admin = b.PgAdmin()
    c.rule("[bold]OpenOMS order capture benchmark")
    c.print(f"machine: {b.machine()}; PostgreSQL {admin.server_version}")
    b.warn_if_busy()
    c.print(
        f"{args.skus:,} SKUs at 5 locations, Zipf s={args.zipf}, orders of 1-5 lines, {args.clients} clients, "
        f"server --workers {args.workers}, no-web-stack clients in {args.bare_procs} processes, "
        + (f"{args.duration:g} s measured" if args.duration else f"{args.orders:,} orders measured")
        + f" after {args.warmup:g} s warm-up, {args.repeat} run(s) per mode"
    )
    c.print("[dim]load generator, server and PostgreSQL share the same CPUs[/]")
    runs: dict[str, list[b.RunResult]] = defaultdict(list)
    books_ok = True
    try:
        with b.progress_bar() as bar:
            tpl, tpl_url = b.new_database(admin, "template")
            db = Database(tpl_url, pool_size=2)
            info = b.seed_catalogue(db, args.skus, args.zipf, args.seed, b.reporter(bar))
            api_key = b.create_api_key(db)
            db.dispose()
            b.vacuum_analyze(tpl_url)
        c.print(
            f"seeded {info.skus:,} SKUs, {info.stock_rows:,} stock rows with their receipt ledger rows, "
            f"{info.units:,} units, in {info.seconds:.1f} s"
        )
        skus_by_rank = b.popularity_order(args.skus, args.seed)
        for rep in range(args.repeat):
            order = args.modes[rep % len(args.modes) :] + args.modes[: rep % len(args.modes)]
            for mode in order:
                res, books = one_run(admin, tpl, api_key, skus_by_rank, mode, rep, args)
                runs[mode].append(res)
                books_ok = books_ok and books.ok
                report_run(mode, rep, res, books)
    finally:
        admin.close()
    return summarise(runs, books_ok, args)


def one_run(
    admin: b.PgAdmin,
    template: str,
    api_key: str,
    skus_by_rank: list[str],
    mode: str,
    rep: int,
    args: argparse.Namespace,
) -> tuple[b.RunResult, b.Books]:
    name, url = admin.create(f"{mode}_{rep}", template=template)
    server = None
    try:
        common: dict[str, Any] = dict(
            api_key=api_key,
            skus_by_rank=skus_by_rank,
            clients=args.clients,
            zipf_s=args.zipf,
            seed=args.seed + rep,
            tag=f"R{rep}",
            warmup=args.warmup,
            duration=args.duration,
            count=args.orders,
        )
        label = f"run {rep + 1}/{args.repeat} {mode} (load average {b.load_average():.1f})"
        with b.progress_bar() as bar:
            if mode == "http":
                server = b.Server(url, args.workers)
                res = b.run_load(
                    mode,
                    server.base_url,
                    procs=args.http_procs,
                    bar=bar,
                    label=label,
                    server_pids=server.pids(),
                    client=args.client,
                    **common,
                )
            else:
                res = b.run_load(mode, url, procs=args.bare_procs, bar=bar, label=label, **common)
        if server is not None:
            server.stop()
            server = None
        books = b.audit_books(url)
    finally:
        if server is not None:
            server.stop()
        admin.drop(name)
    return res, books


def report_run(mode: str, rep: int, res: b.RunResult, books: b.Books) -> None:
    c = b.console
    codes = ", ".join(f"{k}: {v:,}" for k, v in sorted(res.outcomes.items()))
    c.print(
        f"  {mode:8} run {rep + 1}: [bold]{res.orders_per_s:,.0f} orders/s[/] "
        f"({res.accepted:,} accepted, {res.rejected:,} rejected, {res.errors:,} errors in {res.seconds:.1f} s); "
        f"p50 {fmt_ms(res.pct(50))} ms, p99 {fmt_ms(res.pct(99))} ms; "
        f"oversold rows {books.oversold_rows}, "
        f"check {'OK' if not books.check_problems else f'{len(books.check_problems)} problem(s)'} "
        f"({books.orders:,} orders, {books.reserved_units:,} units reserved)"
    )
    c.print(f"    [dim]{codes}; cores busy: {cpu_line(res.cpu)}[/]")
    if res.cpu.get("other", 0.0) > DISTURBED:
        c.print(f"    [yellow]disturbed:[/] other work took {res.cpu['other']:.2f} cores during this run")
    for sample in res.error_samples:
        c.print(f"    [red]error:[/] {sample}")
    for problem in books.check_problems[:10]:
        c.print(f"    [red]check:[/] {problem}")


def cpu_line(cpu: dict[str, float]) -> str:
    """Cores busy while measuring; the server's share is split per process, which shows how
    evenly the kernel spread the keep-alive connections over the workers."""
    split = [f"{v:.2f}" for k, v in cpu.items() if k.startswith("server process")]
    parts = []
    for k, v in cpu.items():
        if k.startswith("server process") or (k == "server" and v == 0):
            continue
        parts.append(f"{k} {v:.2f}" + (f" ({' + '.join(split)})" if k == "server" and split else ""))
    return ", ".join(parts)


def summarise(runs: dict[str, list[b.RunResult]], books_ok: bool, args: argparse.Namespace) -> int:
    c = b.console
    table = Table(title=f"Medians of {args.repeat} run(s), {args.clients} clients", title_justify="left")
    for col in ("mode", "accepted orders/s", "runs (orders/s)", "rejected (409)", "p50 ms", "p99 ms", "errors"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    med: dict[str, float] = {}
    errors = 0
    for mode in MODES:
        rs = runs.get(mode)
        if not rs:
            continue
        med[mode] = b.median([r.orders_per_s for r in rs])
        errors += sum(r.errors for r in rs)
        table.add_row(
            LABELS[mode],
            f"{med[mode]:,.0f}",
            " / ".join(f"{r.orders_per_s:,.0f}" for r in rs),
            f"{b.median([r.rejected for r in rs]):,.0f}",
            fmt_ms(b.median([r.pct(50) for r in rs])),
            fmt_ms(b.median([r.pct(99) for r in rs])),
            str(sum(r.errors for r in rs)),
        )
    c.print(table)
    if "http" in med:
        for bare in ("service", "psycopg"):
            if med.get(bare):
                ratio = med["http"] / med[bare]
                c.print(
                    f"ratio HTTP ÷ {LABELS[bare]}: [bold]{ratio:.2f}[/]"
                    + ("  (target >= 0.5)" if bare == "service" else "")
                )
    oversold = "0 oversold rows, openoms check OK after every run" if books_ok else "[red]OVERSOLD or check failed[/]"
    c.print(f"books: {oversold}")
    if not books_ok:
        return 1
    if errors:
        c.print(f"[red]{errors} request(s) failed with something other than 201 or 409[/]")
        return 1
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    code = main()
    b.console.print(f"[dim]total {time.monotonic() - t0:.0f} s[/]")
    sys.exit(code)
