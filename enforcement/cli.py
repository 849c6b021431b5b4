"""The `enforce` command line: thin over the time-limit core, procedures and the engine."""

from __future__ import annotations

import json
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from enforcement.calendars import Calendar, CalendarError, get_calendar
from enforcement.periods import PeriodError
from enforcement.procedures import ProcedureError, all_procedures, get_procedure
from enforcement.timelimits import TimeLimitError, compute_deadline, parse_moment

app = typer.Typer(help="Data-protection enforcement engine.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
procedures_app = typer.Typer(help="Procedure parameter sets.", no_args_is_help=True)
app.add_typer(procedures_app, name="procedures")
out = Console()


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr saying what was wrong and what is accepted; exit 2 for bad input."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


@app.command()
def deadline(
    start: Annotated[str, typer.Argument(help="trigger date (2022-07-14) or date-time")],
    period: Annotated[str, typer.Argument(help="'2 months', '15 days', '72 hours', ...")],
    procedure: Annotated[str | None, typer.Option(help="procedure parameter set")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code, e.g. FR")] = None,
    subdivision: Annotated[str | None, typer.Option(help="e.g. 57 (Moselle)")] = None,
    rules: Annotated[str | None, typer.Option(help="fr-cpc, eu-1182-71, uk-tribunal")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Compute a legal deadline and explain how it falls where it does."""
    try:
        if procedure and country:
            fail("give either --procedure or --country, not both")
        cal: Calendar
        if country:
            cal = get_calendar(country, subdivision)
            rule_name = rules or ("fr-cpc" if cal.country == "FR" else "eu-1182-71")
        else:
            if subdivision:
                fail("--subdivision goes with --country")
            proc = get_procedure(procedure or "fr-cnil")
            cal, rule_name = proc.cal, rules or proc.rules
        dl = compute_deadline(parse_moment(start), period, cal, rule_name)
    except (PeriodError, CalendarError, ProcedureError, TimeLimitError) as exc:
        fail(str(exc))
    if as_json:
        out.print_json(json.dumps(dl.to_dict()))
        return
    out.print(f"[bold]Due {dl.due.isoformat()}[/bold]  (expires {dl.expires_at.isoformat()})")
    for line in dl.explanation:
        out.print(f"  - {line}", highlight=False)


@procedures_app.command("list")
def procedures_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the procedure parameter sets."""
    try:
        procs = all_procedures()
    except ProcedureError as exc:
        fail(str(exc))
    if as_json:
        out.print_json(json.dumps([{"name": p.name, "title": p.title, "country": p.country}
                                   for p in procs.values()]))
        return
    table = Table("name", "title", "calendar", "rules")
    for p in procs.values():
        table.add_row(p.name, p.title, f"{p.cal.key} {p.cal.timezone}", p.rules)
    out.print(table)


@procedures_app.command("show")
def procedures_show(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show every parameter of one procedure."""
    try:
        proc = get_procedure(name)
    except ProcedureError as exc:
        fail(str(exc))
    if as_json:
        out.print_json(proc.model_dump_json())
        return
    out.print(f"[bold]{proc.name}[/bold]: {proc.title}")
    out.print(f"authority: {proc.authority}; calendar {proc.cal.key}, {proc.cal.timezone}; "
              f"rules {proc.rules}; currency {proc.currency}")
    table = Table("period", "length")
    for key, value in proc.periods.model_dump().items():
        if value is not None:
            table.add_row(key, value)
    out.print(table)
    caps = proc.caps
    out.print(f"reminders: {', '.join(str(d) for d in proc.reminders.offsets_days)} days before")
    out.print(f"fine cap: {caps.fine_max:,} or {caps.fine_turnover_pct}% of turnover; "
              f"daily penalty cap: {caps.penalty_per_day_max:,}")
    out.print(f"compliance expiry refers the case: {proc.refer_on_compliance_expiry}; "
              f"formal notice extensions allowed: {proc.formal_notice_max_extensions}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
