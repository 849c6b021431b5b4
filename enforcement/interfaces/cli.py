"""The `enforce` command line: thin over the time-limit core, procedures and the engine."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from enforcement.case.models import EVENT_TYPES
from enforcement.case.procedure import DEADLINE_PERIODS, ProcedureError
from enforcement.families import all_procedures, family_of, get_procedure, machine_class
from enforcement.law.calendars import Calendar, CalendarError, get_calendar
from enforcement.law.periods import PeriodError
from enforcement.law.timelimits import (
    RULE_SETS,
    TimeLimitError,
    compute_deadline,
    parse_moment,
    year_problem,
)
from enforcement.ops.process import leave

if TYPE_CHECKING:
    from temporalio.client import Client

    from enforcement.case.models import CaseStatus
    from enforcement.ops.settings import Settings

# typer's help shows a type beside every option, flags too (`--json <bool>`): a flag takes
# no value, so it shows none.
_typed = typer.core.TyperOption.display_type_rich


def _flag_untyped(self: typer.core.TyperOption, ctx: Any) -> str | None:
    return None if self.is_flag else _typed(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_untyped  # type: ignore[method-assign]

app = typer.Typer(help="Data-protection enforcement engine.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
procedures_app = typer.Typer(help="Procedure parameter sets.", no_args_is_help=True)
app.add_typer(procedures_app, name="procedures")


class _Console(Console):
    """Rich's console, ending quietly with exit 0 when the reader goes away (`| head`):
    the output was wanted only in part, nothing went wrong."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0)


out = _Console()


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr saying what was wrong and what is accepted; exit 2 for bad input."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


@app.command(context_settings={"ignore_unknown_options": True})
def deadline(
    start: Annotated[str, typer.Argument(help="trigger date (2022-07-14) or date-time")],
    period: Annotated[list[str], typer.Argument(
        help="'2 months', '15 days', '72 hours', ... (quotes optional)")],
    procedure: Annotated[str | None, typer.Option(help="procedure parameter set")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code, e.g. FR")] = None,
    subdivision: Annotated[str | None, typer.Option(help="e.g. 57 (Moselle)")] = None,
    rules: Annotated[str | None, typer.Option(help=", ".join(RULE_SETS))] = None,
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
        trigger = parse_moment(start)
        if problem := year_problem(trigger):
            fail(problem)
        dl = compute_deadline(trigger, " ".join(period), cal, rule_name)
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
    table = Table()
    table.add_column("name", no_wrap=True)
    for heading in ("family", "title", "calendar", "rules"):
        table.add_column(heading)
    for p in procs.values():
        table.add_row(p.name, family_of(p), p.title, f"{p.cal.key} {p.cal.timezone}", p.rules)
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
    family = machine_class(proc)
    out.print(f"[bold]{proc.name}[/bold]: {proc.title}")
    out.print(f"family: {family.FAMILY} (enforcement/families/{family.FAMILY.replace('-', '_')}"
              f".py); stages: {', '.join(family.STAGES)}, closed")
    out.print(f"authority: {proc.authority}; calendar {proc.cal.key}, {proc.cal.timezone}; "
              f"rules {proc.rules}; currency {proc.currency}")
    table = Table("period", "length", "rules", "kind", "source", "confirmed")
    for key, value in proc.periods.model_dump().items():
        if value is not None:
            info = proc.period_info.get(key)
            confirmed = "" if info is None or info.confirmed is None else (
                "yes" if info.confirmed else "no")
            source = (info.source if info else "") + (" (office practice)"
                                                      if info and info.practice else "")
            kind = (info.kind if info is not None and info.kind else
                    ("right" if proc.is_right(key) else "obligation")
                    if key in DEADLINE_PERIODS else "")
            table.add_row(key, value, proc.rules_for(key).name, kind, source, confirmed)
    out.print(table)
    caps = proc.caps
    out.print(f"reminders: {', '.join(str(d) for d in proc.reminders.offsets_days)} days before")
    lower = (f"; lower tier {caps.fine_lower_max:,} or {caps.fine_lower_turnover_pct}%"
             if caps.fine_lower_max else "")
    daily = (f"{caps.penalty_per_day_max:,}" if caps.penalty_per_day_max is not None
             else "none")
    out.print(f"fine cap: {caps.fine_max:,} or {caps.fine_turnover_pct}% of turnover{lower}; "
              f"daily penalty cap: {daily}")
    for cut, day in proc.cutovers.items():
        out.print(f"cut-over {cut}: {day.isoformat()}")
    if family.FAMILY == "cnil":
        out.print(f"compliance expiry refers the case: {proc.refer_on_compliance_expiry}; "
                  f"formal notice extensions allowed: {proc.formal_notice_max_extensions}")


# --- enforce case: cases on the engine (issue 5) --------------------------------------------
# Thin over enforcement.ops.temporal: the same models validate here as in the API and workflows.
# The engine's modules are imported inside the commands so `enforce deadline` stays quick.

case_app = typer.Typer(help="Cases on the engine: open, send events, show, list, calendar, erase.",
                       no_args_is_help=True)
app.add_typer(case_app, name="case")

_T = TypeVar("_T")


def operator() -> str:
    """Who records what the CLI sends: the operator's login on this machine."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid
        user = "unknown"
    return f"{user} (CLI)"


def _json_out(data: Any) -> None:
    """JSON on stdout as is: rich would wrap long strings at the terminal width."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _shortened(text: str, limit: int = 200) -> str:
    """One line of at most about `limit` characters, cut between words, never inside one."""
    line = _one_line(text)
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + " ..."


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _invalid(exc: ValidationError, prefix: str = "") -> str:
    """A pydantic error as one line naming each field."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{prefix}{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _load_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON mapping from a file ('-': standard input)."""
    import yaml
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path}: not valid YAML or JSON: {_one_line(str(exc))}")
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping of fields, not {type(data).__name__}")
    return data


def _engine(action: Callable[[Client, Settings], Awaitable[_T]]) -> _T:
    """Connect to Temporal (the embedded dev server's address, or TEMPORAL_ADDRESS) and run
    `action`; every failure becomes one `error:` line (exit 2 for the user's input, 1 when
    the engine cannot be reached)."""
    from enforcement.ops.settings import get_settings
    from enforcement.ops.temporal import CaseError, connect, embedded_address

    settings = get_settings()
    where = settings.temporal_address or embedded_address(settings)

    async def go() -> tuple[_T | None, str, int]:
        # Errors come back as text: no traceback may keep the client alive past the loop
        # (a Temporal client finalised at interpreter exit can crash the process).
        try:
            client = await connect(settings)
        except Exception as exc:
            return None, (f"cannot reach Temporal at {where} ({_shortened(str(exc))}); "
                          f"start the engine with `make run` or set TEMPORAL_ADDRESS"), 1
        try:
            return await action(client, settings), "", 0
        except CaseError as exc:
            return None, _one_line(str(exc)), 1 if exc.kind == "unavailable" else 2
        finally:
            del client

    result, error, code = asyncio.run(go())
    # The client's native threads may still release Python objects just after the loop ends;
    # exiting at that moment can abort the interpreter (temporalio/sdk-python#300). Let
    # them finish first.
    gc.collect()
    time.sleep(0.05)
    if error:
        fail(error, code)
    return result  # type: ignore[return-value]  # set whenever there is no error


async def _status_when_started(client: Client, case_id: str) -> CaseStatus | None:
    from enforcement.ops.temporal import CaseError, get_case

    for _ in range(40):
        try:
            return await get_case(client, case_id)
        except CaseError:
            await asyncio.sleep(0.25)
    return None


def _print_status(status: CaseStatus, explain: bool = True, timeline: bool = True) -> None:
    c = status.controller
    out.print(f"[bold]{status.case_id}[/bold]  {c.name} ({c.country}), procedure "
              f"{status.procedure}", highlight=False)
    line = f"stage: [bold]{status.stage}[/bold]  status: {status.status}"
    if status.outcome:
        line += f"  outcome: {status.outcome}"
    if status.next_deadline:
        line += f"  next deadline expires {status.next_deadline.isoformat()}"
    out.print(line, highlight=False)
    if status.failure:
        out.print(f"[bold red]failed:[/bold red] {status.failure}", highlight=False)
    if status.subject:
        out.print(f"subject: {status.subject}", highlight=False)
    if status.deadlines:
        out.print("[bold]Deadlines[/bold]")
        table = Table()
        table.add_column("deadline", no_wrap=True)
        for heading in ("period", "from", "due", "status"):
            table.add_column(heading)
        for d in status.deadlines:
            table.add_row(d.name, d.period, d.trigger_date, d.due, d.status)
        out.print(table)
        if explain:
            for d in status.deadlines:
                if d.status in ("extended", "cancelled"):
                    continue
                out.print(f"{d.name} due {d.due} ({d.status}):", highlight=False)
                for sentence in d.explanation:
                    out.print(f"  - {sentence}", highlight=False)
    sf = status.sanction
    if sf.fine_eur or sf.penalty_per_day_eur:
        text = f"sanction: fine {sf.fine_eur:,}"
        if sf.penalty_per_day_eur:
            text += (f"; daily penalty {sf.penalty_per_day_eur:,}: {sf.penalty_days} days, "
                     f"{sf.penalty_eur:,} accrued")
        if sf.liquidated_eur is not None:
            text += f"; liquidated {sf.liquidated_eur:,}"
        out.print(text, highlight=False)
    if timeline and status.timeline:
        out.print("[bold]Timeline[/bold]")
        table = Table()
        table.add_column("date", no_wrap=True)
        table.add_column("#", justify="right")
        table.add_column("kind", no_wrap=True)
        table.add_column("what", no_wrap=True)
        table.add_column("detail", overflow="fold")
        table.add_column("recorded", overflow="fold")
        for t in status.timeline:
            when = t.date if "T" not in t.date else t.date[:16].replace("T", " ")
            recorded = ""
            if t.recorded_at is not None:
                recorded = f"{t.recorded_at.date().isoformat()} by {t.recorded_by or '?'}"
            table.add_row(when, "" if t.seq is None else str(t.seq), t.kind, t.name, t.detail,
                          recorded)
        out.print(table)


@case_app.command("open")
def case_open(
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="the case as YAML or JSON (fields of CaseInput); '-' for stdin; "
        "the options below override it")] = None,
    case_id: Annotated[str | None, typer.Option(help="the case's id, e.g. MED-2021-134")] = None,
    procedure: Annotated[str | None, typer.Option(help="procedure parameter set")] = None,
    controller: Annotated[str | None, typer.Option(help="the controller's name")] = None,
    country: Annotated[str | None, typer.Option(help="the controller's country (ISO)")] = None,
    turnover: Annotated[int | None, typer.Option(help="annual turnover in EUR")] = None,
    controller_email: Annotated[str | None, typer.Option()] = None,
    complainant_ref: Annotated[str | None, typer.Option(help="pseudonymous")] = None,
    complainant_email: Annotated[str | None, typer.Option()] = None,
    subject: Annotated[str | None, typer.Option(help="what the complaint is about")] = None,
    complaint_date: Annotated[str | None, typer.Option(
        help="adds a complaint_received event on this date (with --subject and "
        "--complainant-ref)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Open a case (complaint intake) from options or a YAML/JSON file."""
    from enforcement.case.models import CaseInput
    from enforcement.ops.temporal import create_case

    data: dict[str, Any] = _load_file(file) if file is not None else {}
    for key, value in (("case_id", case_id), ("procedure", procedure),
                       ("complainant_ref", complainant_ref),
                       ("complainant_email", complainant_email), ("subject", subject)):
        if value is not None:
            data[key] = value
    ctrl = dict(data.get("controller") or {})
    for key, cvalue in (("name", controller), ("country", country),
                        ("annual_turnover_eur", turnover), ("email", controller_email)):
        if cvalue is not None:
            ctrl[key] = cvalue
    if ctrl:
        data["controller"] = ctrl
    if complaint_date is not None:
        data["events"] = [{"type": "complaint_received", "date": complaint_date,
                           "subject": data.get("subject") or "",
                           "complainant_ref": data.get("complainant_ref") or ""},
                          *(data.get("events") or [])]
    try:
        case = CaseInput.model_validate(data)
    except ValidationError as exc:
        fail(_invalid(exc))

    async def go(client: Client, settings: Settings) -> CaseStatus | None:
        await create_case(client, case, settings.task_queue,
                          webhooks=settings.webhooks_configured, by=operator(),
                          secret=settings.controller_secret())
        return await _status_when_started(client, case.case_id)

    status = _engine(go)
    if as_json:
        _json_out(status.model_dump(mode="json") if status else {"case_id": case.case_id})
        return
    out.print(f"opened case [bold]{case.case_id}[/bold]", highlight=False)
    if status is not None:
        _print_status(status, explain=False, timeline=False)


@case_app.command("event")
def case_event(
    case_id: Annotated[str, typer.Argument(metavar="CASE", help="the case's id")],
    event_type: Annotated[str, typer.Argument(
        metavar="TYPE", help="one of: " + ", ".join(EVENT_TYPES))],
    on: Annotated[str | None, typer.Option(
        "--date", help="when it happened: a date (noon in the procedure's zone) or an aware "
        "date-time; default: today")] = None,
    event_id: Annotated[str | None, typer.Option(
        "--id", help="events with the same id are applied once")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="the event's fields as YAML or JSON; options override")] = None,
    subject: Annotated[str | None, typer.Option()] = None,
    complainant_ref: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="on_site, documents, online")] = None,
    period: Annotated[str | None, typer.Option(help="'2 months', '15 days', ...")] = None,
    measure: Annotated[list[str] | None, typer.Option(
        help="a measure of the formal notice (repeat for more)")] = None,
    deadline: Annotated[str | None, typer.Option(help="the deadline an extension moves")
                        ] = None,
    until: Annotated[str | None, typer.Option(help="new last day of an extension")] = None,
    ref: Annotated[str | None, typer.Option(help="evidence reference")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    hearing_date: Annotated[str | None, typer.Option()] = None,
    fine_eur: Annotated[int | None, typer.Option()] = None,
    injunction_period: Annotated[str | None, typer.Option()] = None,
    penalty_per_day_eur: Annotated[int | None, typer.Option()] = None,
    publish: Annotated[bool | None, typer.Option("--publish/--no-publish")] = None,
    lower_tier: Annotated[bool | None, typer.Option("--lower-tier/--upper-tier")] = None,
    court: Annotated[str | None, typer.Option()] = None,
    cutoff: Annotated[str | None, typer.Option(help="liquidation cut-off date")] = None,
    amount_eur: Annotated[int | None, typer.Option()] = None,
    seq: Annotated[int | None, typer.Option(
        help="event_corrected, event_withdrawn: the number of the event they change (the "
        "# column of `enforce case show`)")] = None,
    target_id: Annotated[str | None, typer.Option(
        help="event_corrected, event_withdrawn: or the id the event was sent with")] = None,
    corrected: Annotated[Path | None, typer.Option(
        help="event_corrected: the right event as YAML or JSON (type, date, its fields)")
                         ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Send an event to a case; prints the new stage and deadlines, or why it was refused.
    A regulator corrects an event recorded by mistake with event_corrected (--seq or
    --target-id, --reason, --corrected FILE) or withdraws it with event_withdrawn."""
    from enforcement.case.models import EVENT_ADAPTER
    from enforcement.ops.temporal import deliver_event

    if event_type not in EVENT_TYPES:  # the scenario loader's words
        fail(f"unknown event type {event_type!r}; accepted: {', '.join(EVENT_TYPES)}")
    data: dict[str, Any] = _load_file(file) if file is not None else {}
    fields: dict[str, Any] = {
        "subject": subject, "complainant_ref": complainant_ref, "kind": kind,
        "period": period, "measures": measure or None, "deadline": deadline, "until": until,
        "ref": ref, "reason": reason, "hearing_date": hearing_date, "fine_eur": fine_eur,
        "injunction_period": injunction_period, "penalty_per_day_eur": penalty_per_day_eur,
        "publish": publish, "lower_tier": lower_tier, "court": court, "cutoff": cutoff,
        "amount_eur": amount_eur, "id": event_id, "seq": seq, "event_id": target_id,
        "corrected": _load_file(corrected) if corrected is not None else None}
    data.update({k: v for k, v in fields.items() if v is not None})
    data["type"] = event_type
    data.setdefault("date", on or date.today().isoformat())
    if on is not None:
        data["date"] = on
    try:
        event = EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        fail(_invalid(exc).replace(f"{event_type}.", ""))

    async def go(client: Client, _settings: Settings) -> CaseStatus:
        return await deliver_event(client, case_id, event, by=operator())

    status = _engine(go)
    if as_json:
        _json_out(status.model_dump(mode="json"))
        return
    out.print(f"{event.type} applied to {case_id}", highlight=False)
    _print_status(status, explain=False, timeline=False)


@case_app.command("show")
def case_show(case_id: Annotated[str, typer.Argument(metavar="CASE", help="the case's id")],
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Stage, deadlines with their explanations, sanction figures and timeline."""
    from enforcement.ops.temporal import get_case

    async def go(client: Client, _settings: Settings) -> CaseStatus:
        return await get_case(client, case_id)

    status = _engine(go)
    if as_json:
        _json_out(status.model_dump(mode="json"))
        return
    _print_status(status)


@case_app.command("list")
def case_list(
    stage: Annotated[str | None, typer.Option(help="only cases at this stage")] = None,
    procedure: Annotated[str | None, typer.Option(help="only this procedure")] = None,
    due_before: Annotated[str | None, typer.Option(
        help="only cases with a deadline due before this date (or aware date-time)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    after: Annotated[str | None, typer.Option(
        help="go on after this point of an earlier listing (the cursor it printed)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cases by stage, procedure and next deadline (search attributes), earliest first."""
    from enforcement.ops.temporal import CaseSummary, cursor_of, list_cases

    due = None
    if due_before is not None:
        try:
            due = parse_moment(due_before)
        except TimeLimitError as exc:
            fail(f"--due-before: {exc}")
        if problem := year_problem(due):
            fail(f"--due-before: {problem}")

    async def go(client: Client, _settings: Settings) -> list[CaseSummary]:
        return await list_cases(client, stage=stage, procedure=procedure, due_before=due,
                                limit=limit + 1, cursor=after)

    found = _engine(go)
    more = cursor_of(found[limit - 1]) if len(found) > limit else None
    found = found[:limit]
    if as_json:
        _json_out([s.model_dump(mode="json") for s in found])
        return
    if not found:
        out.print("no case matches")
        return
    table = Table("case", "stage", "procedure", "next deadline expires", "country", "status")
    for s in found:
        table.add_row(s.case_id, s.stage or "", s.procedure or "",
                      s.next_deadline.isoformat() if s.next_deadline else "",
                      s.controller_country or "", s.status)
    out.print(table)
    if more is not None:
        out.print(f"more cases match: add --after {more}", highlight=False)


@case_app.command("ics")
def case_ics(case_id: Annotated[str, typer.Argument(metavar="CASE", help="the case's id")],
             output: Annotated[Path | None, typer.Option(
                 "--output", "-o", help="write to this file (default: standard output)")
             ] = None) -> None:
    """The case's deadlines as an iCalendar file, one all-day event per deadline."""
    from enforcement.case.ics import case_calendar
    from enforcement.ops.temporal import get_case

    async def go(client: Client, _settings: Settings) -> CaseStatus:
        return await get_case(client, case_id)

    data = case_calendar(_engine(go))
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    out.print(f"wrote {output}", highlight=False)


@case_app.command("erase")
def case_erase(
    case_id: Annotated[str, typer.Argument(metavar="CASE_ID", help="the closed case's id")],
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="default: ENFORCE_DATABASE_URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Erase a closed case's personal data from the register (end of retention).

    Names, subjects, references, free text and addresses are replaced by an erased marker;
    dates, amounts, periods, stages and outcomes stay, and the event chain still verifies.
    Refused for an open or unknown case."""
    import structlog

    from activities.register import ErasureRefused, Register
    from activities.register_db import make_engine, migrate
    from enforcement.ops.settings import get_settings

    url = database_url or get_settings().database_url
    migrate(url)
    engine = make_engine(url)
    logging_config = structlog.get_config()
    # The register's log line goes to stderr: stdout is the report (JSON with --json).
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        report = Register(engine).erase(case_id)
    except ErasureRefused as exc:
        fail(str(exc), 1 if exc.reason == "tampered" else 2)
    finally:
        structlog.configure(**logging_config)
        engine.dispose()
    if as_json:
        _json_out(report.model_dump(mode="json"))
        return
    if not report.erased:
        when = report.previously_erased_at
        out.print(f"case {case_id}: nothing left to erase"
                  + (f" (erased on {when.isoformat(timespec='seconds')})" if when else ""),
                  highlight=False, markup=False)
        return
    out.print(f"erased the personal data of case {case_id} "
              f"({report.erased_at.isoformat(timespec='seconds')}); rows changed per table:",
              highlight=False, markup=False)
    for table, n in report.counts.items():
        out.print(f"  {table:<20} {n:>6}", highlight=False, markup=False)
    if report.rehashed:
        out.print(f"  {report.rehashed} event rows re-chained (written before migration 0004, "
                  f"or holding a key made personal since)", highlight=False, markup=False)
    out.print("dates, amounts, periods, stages and outcomes kept; the event chain verifies",
              highlight=False, markup=False)
    if report.residue:
        out.print(f"note: {report.residue}", highlight=False, markup=False)


# --- enforce simulate: timelines on the real workflows in virtual time (issue 6) ---------------

@app.command("simulate")
def simulate_command(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML), e.g. "
                                             "scenarios/clearview.yaml")],
    as_json: Annotated[bool, typer.Option(
        "--json", help="print the result as JSON: one run's object, or every run and a "
        "summary")] = False,
    csv_file: Annotated[Path | None, typer.Option(
        "--csv", help="write deadlines, timeline and figures of every run")] = None,
    ics_file: Annotated[Path | None, typer.Option(
        "--ics", help="write the deadlines as an iCalendar file (variants beside it)")] = None,
    plot_file: Annotated[Path | None, typer.Option(
        "--plot", help="write a Gantt chart: FILE.png or FILE.html")] = None,
    runs: Annotated[int | None, typer.Option(
        min=0, help="batch runs (default: the scenario's batch.runs; 0: no batch)")] = None,
    seed: Annotated[int | None, typer.Option(
        help="seed of the batch draws (default: the scenario's batch.seed)")] = None,
    register: Annotated[str | None, typer.Option(
        "--register", help="write the simulated cases' register at this URL (events, "
        "deadlines, decisions, and the notifications, recorded and never sent); default: "
        "no register, which is faster")] = None,
    engine: Annotated[str, typer.Option(
        help="local: the case machine driven in this process (fast, the default); temporal: "
        "the real workflows on Temporal's time-skipping server (slower, the same results)"
        )] = "local",
    jobs: Annotated[int | None, typer.Option(
        min=1, help="processes for a batch on the local engine (default: the machine's "
        "cores); the results are the same whatever the number")] = None,
    runs_file: Annotated[Path | None, typer.Option(
        "--runs-file", help="write every run's object to this JSON lines file, one per "
        "line, instead of holding them (--json then prints the runs as written and the "
        "summary)")] = None,
    allow_rejected: Annotated[bool, typer.Option(
        "--allow-rejected", help="exit 0 even when the scenario as written had events the "
        "case refused (default: exit 3 after the output)")] = False,
) -> None:
    """Simulate a scenario's timeline: every deadline and why, the outcome and the sanction
    figures, what-if variants side by side, batches of random dates with outcome shares and
    percentiles."""
    import logging

    import structlog
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from enforcement.simulation.batch import ENGINES
    from enforcement.simulation.report import (
        document,
        render,
        run_scenario,
        write_csv,
        write_ics,
        write_plot,
        written,
    )
    from enforcement.simulation.scenarios import ScenarioError, load_scenario

    if engine not in ENGINES:
        fail(f"--engine {engine!r}: accepted: {', '.join(ENGINES)}")
    if jobs is not None and engine == "temporal":
        fail("--jobs applies to the local engine; the temporal engine runs every case in "
             "one server")
    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        fail(str(exc))
    if sc.batch is None and (runs or seed is not None):
        fail(f"{scenario.name}: --runs and --seed need a `batch` section with draws in the "
             f"scenario")
    if plot_file is not None and plot_file.suffix.lower() not in (".png", ".html"):
        fail(f"--plot {plot_file}: write FILE.png or FILE.html")
    batch_runs = 0 if sc.batch is None else (sc.batch.runs if runs is None else runs)
    # Quiet engine: the activities' and workflows' logs would mix with the output.
    logging.getLogger().setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    err = Console(stderr=True)
    what = "of virtual time" if engine == "temporal" else "of the runs"
    progress = Progress(TextColumn("simulating {task.description}"), BarColumn(),
                        TextColumn("{task.percentage:>3.0f}% " + what),
                        TimeElapsedColumn(), console=err, transient=True,
                        disable=batch_runs == 0)
    variants = 1 + len(sc.variants)
    task = progress.add_task(f"{variants * (1 + batch_runs)} runs", total=1.0)
    keep = (as_json and runs_file is None) or csv_file is not None
    try:
        with progress:
            report = run_scenario(sc, runs if sc.batch is not None else None, seed, register,
                                  progress=lambda f: progress.update(task, completed=f),
                                  engine=engine, jobs=jobs, keep=keep, sink=runs_file)
    except ScenarioError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror}", 1)
    if as_json:  # plain: a batch's document is large, and it is meant for programs
        sys.stdout.write(json.dumps(document(report), indent=2) + "\n")
    else:
        render(out, report)
    notes = [f"runs: {runs_file}"] if runs_file is not None else []
    try:
        if csv_file is not None:
            write_csv(csv_file, report)
            notes.append(f"CSV: {csv_file}")
        if ics_file is not None:
            notes.append(f"calendar: {written(write_ics(ics_file, report))}")
        if plot_file is not None:
            write_plot(plot_file, report)
            notes.append(f"chart: {plot_file}")
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror}", 1)
    for note in notes:
        err.print(f"wrote {note}", highlight=False)
    refused = report.nominal[0].outcome.rejected
    if refused and not allow_rejected:
        first = refused[0]
        fail(f"the scenario as written had {len(refused)} event(s) the case refused, the "
             f"first {first.type} dated {first.date}: {first.reason} (--allow-rejected to "
             f"exit 0)", 3)


@app.command("forecast")
def forecast_command(
    assumptions: Annotated[Path, typer.Option(
        help="delay distributions of the steps not yet taken (scenario batch syntax), e.g. "
        "forecast/assumptions.example.yaml")],
    weeks: Annotated[int, typer.Option(min=1, max=104, help="weeks ahead")] = 12,
    runs: Annotated[int, typer.Option(min=1, max=10_000, help="runs per case")] = 100,
    seed: Annotated[int, typer.Option(help="seed of the draws")] = 0,
    procedure: Annotated[str | None, typer.Option(help="only this procedure's cases")] = None,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="processes (default: the machine's cores); the same figures whatever "
        "the number")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print every row as JSON")] = False,
    csv_file: Annotated[Path | None, typer.Option(
        "--csv", help="write every row: week, procedure, stage, kind, percentiles")] = None,
    plot_file: Annotated[Path | None, typer.Option(
        "--plot", help="write a chart of the weeks ahead (PNG)")] = None,
) -> None:
    """Workload forecast: every open case carried forward from its state now, its next steps
    drawn from the assumptions; per week, the deadlines running out, hearings, decisions and
    referrals to expect (median, 10th and 90th percentiles), by procedure and stage."""
    from datetime import UTC, datetime

    from enforcement.case.machine import CaseState
    from enforcement.simulation.batch import default_jobs
    from enforcement.simulation.forecast import forecast, load_assumptions
    from enforcement.simulation.report import write_forecast_csv, write_forecast_plot
    from enforcement.simulation.scenarios import ScenarioError

    try:
        a = load_assumptions(assumptions)
    except ScenarioError as exc:
        fail(str(exc))
    if plot_file is not None and plot_file.suffix.lower() != ".png":
        fail(f"--plot {plot_file}: write FILE.png")

    async def go(client: Client, _settings: Settings) -> tuple[list[CaseState], list[str]]:
        from enforcement.ops.temporal import open_case_states
        return await open_case_states(client, procedure)

    states, unread = _engine(go)
    err = Console(stderr=True)
    if unread:
        err.print(f"warning: {len(unread)} open case(s) did not answer (is a worker running?) "
                  f"and are left out: {', '.join(unread[:10])}"
                  + (" ..." if len(unread) > 10 else ""), highlight=False)
    now = datetime.now(UTC)
    f = forecast(states, a, now=now, weeks=weeks, runs=runs, seed=seed,
                 jobs=jobs or default_jobs())
    rows = f.rows()
    if as_json:
        _json_out({"today": f.today.isoformat(), "weeks": f.weeks, "runs": f.runs,
                   "cases": f.cases, "left_out": unread, "assumptions": f.assumptions,
                   "rows": rows})
    else:
        table = Table("week from", *[k for k in ("deadlines", "hearings", "decisions",
                                                 "referrals")],
                      title=f"Workload, {f.cases} open cases, {runs} runs each (median, "
                            f"10th-90th percentile); assumptions: {a.name}",
                      title_justify="left")
        for w in range(weeks):
            cells = []
            for kind in ("deadlines", "hearings", "decisions", "referrals"):
                r = next(x for x in rows if (x["week"], x["procedure"], x["kind"])
                         == (w, "*", kind))
                cells.append(f"{r['p50']} ({r['p10']}-{r['p90']})")
            start = next(x["from"] for x in rows if x["week"] == w)
            table.add_row(start, *cells)
        out.print(table)
        out.print("by procedure and stage: --csv or --json", highlight=False)
    try:
        if csv_file is not None:
            write_forecast_csv(csv_file, rows)
            err.print(f"wrote CSV: {csv_file}", highlight=False)
        if plot_file is not None:
            write_forecast_plot(plot_file, f)
            err.print(f"wrote chart: {plot_file}", highlight=False)
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror}", 1)


digest_app = typer.Typer(help="The weekly digest to the case handlers.",
                         no_args_is_help=True)
app.add_typer(digest_app, name="digest")


@digest_app.command("schedule")
def digest_schedule() -> None:
    """Create the weekly digest's Temporal Schedule if it is absent (the worker does it at
    start-up too): ENFORCE_DIGEST_WEEKDAY, _HOUR and _TIMEZONE set when."""
    from enforcement.ops.digest import ensure_digest_schedule

    async def go(client: Client, settings: Settings) -> bool:
        return await ensure_digest_schedule(client, settings)

    created = _engine(go)
    out.print("weekly digest scheduled" if created else "the weekly digest's schedule "
              "exists already (enforcement-weekly-digest)")


@digest_app.command("send")
def digest_send() -> None:
    """Send the weekly digest now: trigger its schedule (a worker must be running)."""
    from temporalio.service import RPCError

    from enforcement.ops.digest import SCHEDULE_ID, ensure_digest_schedule

    async def go(client: Client, settings: Settings) -> None:
        await ensure_digest_schedule(client, settings)
        try:
            await client.get_schedule_handle(SCHEDULE_ID).trigger()
        except RPCError as exc:
            from enforcement.ops.temporal import CaseError
            raise CaseError(f"cannot trigger the digest: {exc.message}", "unavailable") \
                from None

    _engine(go)
    out.print("weekly digest triggered: the case handlers' mails follow from the worker")


register_app = typer.Typer(help="The outcome register.", no_args_is_help=True)
app.add_typer(register_app, name="register")


@register_app.command("verify")
def register_verify(
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="default: ENFORCE_DATABASE_URL")] = None,
) -> None:
    """Recompute the SHA-256 chain of the register's event rows; exit 1 at the first row
    that was altered, removed or inserted."""
    from activities.register import Register
    from activities.register_db import make_engine, migrate
    from enforcement.ops.settings import get_settings

    url = database_url or get_settings().database_url
    migrate(url)
    checked, altered = Register(make_engine(url)).verify()
    if altered is None:
        out.print(f"register intact: {checked} event rows, every chain verified")
        return
    sys.stderr.write(f"error: event row {altered['key']} (case {altered['case_id']}, "
                     f"seq {altered['seq']}) was altered, or a row before it was removed or "
                     f"inserted; {checked} rows before it verified\n")
    raise typer.Exit(1)


def main() -> None:
    """Run the command, then leave without the interpreter's teardown: the Temporal SDK's
    native threads can outlive the event loop and abort that teardown, after the command
    has done its work (temporalio/sdk-python#300). The output is flushed first."""
    try:
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.TyperException as exc:  # a usage error: one line, as every other error
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            help_text = ctx.get_help()  # typer prints its help itself and returns ""
            sys.stdout.write(help_text + "\n" if help_text else "")
            code = 0
        else:
            text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            sys.stderr.write(f"error: {_one_line(text)}{where}\n")
            code = getattr(exc, "exit_code", 2)
    except typer.Abort:
        code = 130
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    leave(code)


if __name__ == "__main__":
    main()
