"""Routing from the command line: carrier rates, sourcing rules, re-routing missed ship dates."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from openoms.adapters.carriers.rate_csv import RateCsvError
from openoms.domain.errors import DomainError
from openoms.services import rerouting, routing_setup
from openoms.services.common import Actor

CLI = Actor("cli")

rates_app = typer.Typer(help="Carrier rate tables: load one from CSV, show the one in force.", no_args_is_help=True)
rules_app = typer.Typer(help="Sourcing rules: show the version in force, save a new one.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the routing commands to the ``openoms`` app."""
    from openoms import cli

    app.add_typer(rates_app, name="rates")
    app.add_typer(rules_app, name="rules")

    @rates_app.command("import")
    def rates_import(path: Annotated[Path, typer.Argument(help="Rate CSV (format: docs/carriers.md)")]) -> None:
        """Load a rate table; it takes over for the next order. A file with any bad row loads nothing."""
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            cli._fail(f"cannot read {path}: {exc}", 2)
            return
        try:
            summary = routing_setup.load_rates(cli._db(), text, path.name, CLI)
        except RateCsvError as exc:
            for p in exc.problems[:50]:
                cli.err.print(f"{path}: row {p.row}, column {p.field}: {p.reason}")
            more = f" (first 50 shown of {len(exc.problems)})" if len(exc.problems) > 50 else ""
            cli._fail(f"nothing loaded: {len(exc.problems)} problem(s){more}; fix the rows and run it again", 2)
            return
        cli.console.print(
            f"rate table {summary['id']} in force: {summary['rows']} rates, {len(summary['services'])} services "
            f"from {path.name}"
        )

    @rates_app.command("show")
    def rates_show() -> None:
        """The rate table in force, per service."""
        try:
            s = routing_setup.rate_table_summary(cli._db())
        except DomainError as exc:
            cli._fail(f"{exc.message}; load one with `openoms rates import FILE.csv`")
            return
        t = Table(title=f"Rate table {s['id']} from {s['source']} ({s['rows']} rates, {s['currency']})")
        for col in ("service", "carrier", "level", "price", "transit days", "locations"):
            t.add_column(col)
        for svc in s["services"]:
            t.add_row(
                svc["service_code"],
                svc["carrier"],
                svc["service_level"],
                f"{svc['cost_min']:.2f}-{svc['cost_max']:.2f}",
                f"{svc['transit_days'][0]}-{svc['transit_days'][1]}",
                ", ".join(svc["locations"]),
            )
        cli.console.print(t)

    @rules_app.command("show")
    def rules_show(
        history: Annotated[bool, typer.Option("--history", help="List every version")] = False,
    ) -> None:
        """The sourcing rules in force (as JSON), or every version."""
        db = cli._db()
        if history:
            t = Table(title="Sourcing rules, newest first")
            for col in ("version", "name", "created by", "created at", "note"):
                t.add_column(col)
            for r in routing_setup.list_rule_sets(db):
                created = r["created_at"].strftime("%Y-%m-%d %H:%M") if r["created_at"] else ""
                t.add_row(str(r["version"]), r["name"], r["created_by"], created, r["note"] or "")
            cli.console.print(t)
            return
        current = routing_setup.current_rule_set(db)
        cli.console.print(f"{current['label']} (in force)")
        cli.console.print_json(json.dumps(current["rules"]))

    @rules_app.command("set")
    def rules_set(
        changes: Annotated[
            list[str] | None,
            typer.Argument(help="FIELD=VALUE pairs, e.g. split_policy=never weights.transit_day=2.5"),
        ] = None,
        file: Annotated[Path | None, typer.Option("--file", help="A JSON object of fields to change")] = None,
        note: Annotated[str | None, typer.Option(help="Why, for the history")] = None,
    ) -> None:
        """Save a new rules version from the one in force with the changes applied."""
        data: dict[str, Any] = {}
        if file is not None:
            try:
                loaded = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                cli._fail(f"cannot read {file} as JSON: {exc}", 2)
                return
            if not isinstance(loaded, dict):
                cli._fail(f"{file} must hold a JSON object of fields to change", 2)
                return
            data.update(loaded)
        for pair in changes or []:
            key, sep, raw = pair.partition("=")
            if not sep or not key:
                cli._fail(f"{pair!r}: write FIELD=VALUE, e.g. split_policy=never", 2)
                return
            value = _value(raw)
            if key.startswith("weights."):
                data.setdefault("weights", dict(routing_setup.current_rule_set(cli._db())["rules"]["weights"]))
                data["weights"][key.split(".", 1)[1]] = raw  # decimals as written, never via float
            else:
                data[key] = value
        if not data:
            cli._fail("nothing to change: give FIELD=VALUE pairs or --file", 2)
            return
        try:
            saved = routing_setup.create_rule_set(cli._db(), data, note, CLI)
        except DomainError as exc:
            for e in exc.errors:
                cli.err.print(f"{e.field}: {e.reason}")
            cli._fail(f"nothing saved: {exc.message}", 2)
            return
        cli.console.print(f"{saved['label']} in force")

    @app.command("reroute")
    def reroute(
        missed: Annotated[
            bool, typer.Option("--missed", help="Re-route allocated orders whose promised ship date has passed")
        ] = False,
        order: Annotated[str | None, typer.Option(help="Re-route one order (id or SO-number)")] = None,
        reason: Annotated[str, typer.Option(help="Why, for the timeline")] = "re-routed from the command line",
        today: Annotated[
            str | None, typer.Option(help="The day to check against (YYYY-MM-DD); default today (UTC)")
        ] = None,
    ) -> None:
        """Route orders again: one order, or every order that missed its promised ship date."""
        db = cli._db()
        if order:
            from openoms.domain.orders import parse_order_number

            num = int(order) if order.isascii() and order.isdigit() else parse_order_number(order)
            if num is None:
                cli._fail(f"{order!r} is neither an order id nor an order number like SO-0000123", 2)
                return
            try:
                result = rerouting.reroute_order(db, num, reason, CLI)
            except DomainError as exc:
                cli._fail(exc.message)
                return
            cli.console.print(result.message)
            return
        if not missed:
            cli._fail("say what to re-route: --missed or --order SO-...", 2)
            return
        try:
            day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
        except ValueError:
            cli._fail(f"--today {today!r} is not a date like 2026-11-30", 2)
            return
        with cli._progress() as progress:
            task = progress.add_task("re-routing", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = rerouting.reroute_missed(db, day, CLI, step)
        for p in summary["problems"]:
            cli.err.print(p)
        cli.console.print(
            f"{summary['checked']} order(s) past their promised ship date: {summary['rerouted']} re-routed, "
            f"{summary['kept']} kept (no location can ship them sooner), {len(summary['problems'])} refused"
        )

    @app.command("reoptimize")
    def reoptimize_cmd(
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and report, move nothing")] = False,
        time_limit: Annotated[float, typer.Option(help="Seconds the solver may take")] = 50.0,
        limit: Annotated[int | None, typer.Option(help="Only the N oldest allocated orders")] = None,
        options: Annotated[int, typer.Option(help="Candidate plans per order (current + alternatives)")] = 8,
        move_cost: Annotated[str, typer.Option(help="Cost charged per moved order, in the rules' currency")] = "0.50",
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    ) -> None:
        """Re-plan every allocated (not yet released) order together with HiGHS and move the
        ones a better joint plan changes; reports the saving against the per-order decisions."""
        from decimal import Decimal, InvalidOperation

        from openoms.services import reoptimize as reopt

        try:
            cost = Decimal(move_cost)
        except InvalidOperation:
            cli._fail(f"--move-cost {move_cost!r} is not a number", 2)
            return
        if time_limit <= 0 or options < 1:
            cli._fail("--time-limit must be above 0 and --options at least 1", 2)
            return
        with cli._progress() as progress:
            tasks: dict[str, Any] = {}

            def step(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            solve = progress.add_task("solving (HiGHS)", total=None, visible=False)

            def solved(p: Any) -> None:
                progress.update(
                    solve, visible=True, description=f"solving (HiGHS): {p.seconds:.1f} s, best {p.objective:,.2f}"
                )

            try:
                with _highs_banner_to_stderr():
                    report = reopt.reoptimize(
                        cli._db(),
                        CLI,
                        apply=not dry_run,
                        limit=limit,
                        options_per_order=options,
                        time_limit_s=time_limit,
                        move_cost=cost,
                        progress=step,
                        solver_progress=solved,
                    )
            except DomainError as exc:
                cli._fail(exc.message)
                return
        if as_json:
            cli.console.print_json(json.dumps(report.to_dict(), default=str))
            return
        plan = report.plan
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items())) or "none"
        cli.console.print(f"{report.considered} allocated order(s) considered; left out: {skipped}")
        if plan is None:
            cli.console.print("nothing to re-plan")
            return
        t = Table(title="Batch re-plan")
        t.add_column("")
        t.add_column("value", justify="right")
        gap = "n/a" if plan.gap_to_bound is None else f"{plan.gap_to_bound:.2%}"
        for label, value in [
            ("orders in the batch", f"{len(plan.choices):,}"),
            ("candidate plans (variables)", f"{plan.variables:,}"),
            ("constraints", f"{plan.constraints:,}"),
            ("cost of the per-order decisions", f"{plan.greedy_objective:,.2f}"),
            ("cost of the joint plan", f"{plan.objective:,.2f}"),
            ("saving", f"{plan.saving:,.2f} ({plan.saving_pct}%)"),
            ("gap to the solver's bound", gap),
            ("orders moved", f"{len(plan.moves):,}" + ("" if report.applied or not plan.moves else " (dry run)")),
            ("solver", f"HiGHS {plan.status}, {plan.method}, {plan.solve_seconds:.1f} s"),
            ("pricing the plans", f"{report.build_seconds:.1f} s"),
        ]:
            t.add_row(label, value)
        cli.console.print(t)


@contextmanager
def _highs_banner_to_stderr() -> Iterator[None]:
    """HiGHS prints its banner on standard output once per process, before its own output
    switch applies; send it to standard error so that ``--json`` output stays parseable."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _value(raw: str) -> Any:
    """A CLI value as JSON when it reads as JSON (numbers, true/false, lists), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
