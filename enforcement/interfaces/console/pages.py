"""The console's pages: server-rendered HTML over the same functions as the API routes.

Every page checks the session's grant exactly as the API checks a bearer token (a
controller reads only its own cases and sends only the controller's events; a viewer
reads), and shows only the forms the role may use. Errors become a page, never a JSON body.
"""

from __future__ import annotations

import inspect
import re
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from enforcement.case.ics import case_calendar
from enforcement.case.models import CaseInput, CaseStatus
from enforcement.families import ALL_STAGES, all_procedures, get_procedure, machine_class
from enforcement.interfaces.api.access import (
    CONTROLLER_EVENTS,
    EngineState,
    Grant,
    readable_case,
)
from enforcement.interfaces.api.cases import CASE_ID
from enforcement.interfaces.api.errors import (
    MAX_BODY_BYTES,
    ApiError,
    field_errors,
    read_moment,
)
from enforcement.interfaces.api.procedures import compute
from enforcement.interfaces.api.simulations import (
    MAX_API_RUNS,
    MAX_SCENARIO_BYTES,
    SimulationRequest,
    load_request,
    run_report,
    shipped,
)
from enforcement.interfaces.console import PREFIX
from enforcement.interfaces.console import session as sessions
from enforcement.interfaces.console.forms import MODELS, FormErrors, event_fields, read_event
from enforcement.interfaces.console.strings import EN, S
from enforcement.ops.temporal import (
    CaseError,
    CaseSummary,
    EventNotAccepted,
    InvalidInput,
    accepted_events,
    controller_hash,
    create_case,
    deliver_event,
    list_cases,
    unkeyed_cases,
)

log = structlog.get_logger("console")
HERE = Path(__file__).parent
PAGE_SIZE = 50
SOON_DAYS = 7
SORTS = {"deadline": "sort_deadline", "case": "sort_case", "stage": "sort_stage",
         "opened": "sort_opened"}

def procedure_options() -> list[tuple[str, str]]:
    """The procedures as a person picks them: the default first, each with its title."""
    procs = all_procedures()
    names = sorted(procs, key=lambda n: (n != DEFAULT_PROCEDURE, n))
    return [(n, f"{procs[n].title} ({n})") for n in names]


def human(name: str) -> str:
    """A code as words: investigation_opened -> investigation opened."""
    return name.replace("_", " ")


_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined)
templates = Jinja2Templates(env=_env)
_env.filters["human"] = human
DEFAULT_PROCEDURE = "fr-cnil"
FIELD_LABELS = {"token": EN["token"], "case_id": EN["case_id_label"],
                "controller_name": EN["controller_name"],
                "controller_country": EN["controller_country"],
                "controller_email": EN["controller_email"], "turnover": EN["turnover"],
                "complaint_date": EN["complaint_date"],
                "complainant_ref": EN["complainant_ref"], "due_before": EN["due_before"],
                "start": EN["start"], "type": EN["event_type"], "file": "Scenario file",
                "shipped": EN["shipped"]}


@dataclass
class Page:
    """What every page knows: the request, the engine and who is signed in."""

    request: Request
    state: EngineState
    session: sessions.Session | None

    @property
    def grant(self) -> Grant:
        assert self.session is not None
        return self.session.grant

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        g = self.session.grant if self.session else None
        context["labels"] = {**FIELD_LABELS, **context.get("labels", {})}
        return templates.TemplateResponse(self.request, template, {
            "S": S, "grant": g, "csrf": self.session.csrf if self.session else "",
            "who": (g.name or g.controller or g.role) if g else "",
            "can_open": g is not None and g.role == "regulator",
            "prefix": PREFIX,
            "active": self.request.url.path.removeprefix(PREFIX + "/").split("/")[0],
            **context}, status_code=status)

    def error(self, status: int, message: str) -> HTMLResponse:
        return self.render("error.html", status=status, message=message)


def _page(state: EngineState, request: Request) -> Page:
    return Page(request, state, sessions.current(state, request))


def guarded(handler: Callable[[Page], Awaitable[Response]]
            ) -> Callable[[Request], Awaitable[Response]]:
    """Sign-in required; the engine's errors become a page that says what went wrong."""
    async def run(request: Request) -> Response:
        page = _page(request.app.state.engine, request)
        if page.session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{PREFIX}/sign-in?{urlencode({'next': target})}", 303)
        try:
            return await handler(page)
        except ApiError as exc:
            return page.error(exc.status, exc.detail)
        except InvalidInput as exc:
            return page.error(422, EN["field_error"].format(field=exc.field,
                                                            message=exc.reason))
        except CaseError as exc:
            code = {"not_found": 404, "unavailable": 503, "invalid": 422}.get(exc.kind, 409)
            return page.error(code, str(exc))
        except RPCError as exc:
            return page.error(503, S("unavailable", why=exc.message))
        except FormUnreadable as exc:
            return page.error(422, S("form_unreadable", why=exc))
    return run


class FormUnreadable(Exception):
    """The body is not a form this console sends (malformed, too many parts)."""


async def _form(request: Request, files: tuple[str, ...] = ()) -> dict[str, Any]:
    """The form's fields as text (the last of a repeated one); a file only where `files`
    names it: a text field sent as a file part reads as empty, never as the file's repr."""
    try:
        form = await request.form(max_files=10, max_fields=200)
    except StarletteHTTPException as exc:
        raise FormUnreadable(str(exc.detail)) from None
    out: dict[str, Any] = {}
    for k, v in form.multi_items():
        if isinstance(v, str) or k in files:
            out[k] = v
        else:
            out.setdefault("_not_text", []).append(k)
            out[k] = ""
    return out


def short(value: object, limit: int = 60) -> str:
    """A value echoed in a message, cut to a readable length."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _csrf_refused(page: Page, form: dict[str, Any]) -> HTMLResponse | None:
    assert page.session is not None
    if sessions.csrf_ok(page.session, str(form.get("csrf", ""))):
        return None
    return page.error(403, S.csrf_failed)


# --- sign-in ---------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only a path of the console: never another site."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return f"{PREFIX}/cases"


async def sign_in_form(request: Request) -> Response:
    page = _page(request.app.state.engine, request)
    holder = Response()
    token = sessions.signin_csrf(page.state, request, holder)
    out = page.render("sign_in.html", next=_safe_next(request.query_params.get("next")),
                      errors=FormErrors(), signin_csrf=token,
                      notice=S.signed_out if request.query_params.get("out") else "")
    return _with_cookie(out, holder)


def _with_cookie(target: Response, source: Response) -> Response:
    for key, value in source.raw_headers:
        if key == b"set-cookie":
            target.raw_headers.append((key, value))
    return target


async def sign_in(request: Request) -> Response:
    state: EngineState = request.app.state.engine
    page = Page(request, state, None)
    try:
        form = await _form(request)
    except FormUnreadable as exc:
        return page.error(422, S("form_unreadable", why=exc))
    target = _safe_next(str(form.get("next", "")))
    errors = FormErrors()
    if not sessions.signin_csrf_ok(state, request, str(form.get("csrf", ""))):
        errors.add("", S.csrf_failed)
    token = str(form.get("token", "")).strip().removeprefix("Bearer ").strip()
    grant = None
    if not errors:
        if not token:
            errors.add("token", S.token_missing)
        elif len(token) < 16:
            errors.add("token", S("token_short", n=len(token)))
        elif (grant := sessions.grant_of(state, token)) is None:
            errors.add("token", S.token_unknown)
    if errors or grant is None:
        fresh = Response()
        csrf = sessions.signin_csrf(state, request, fresh)
        out = page.render("sign_in.html", status=401 if "token" in errors.by_field else 403,
                          next=target, errors=errors, signin_csrf=csrf, notice="")
        return _with_cookie(out, fresh)
    response = RedirectResponse(target, 303)
    sessions.start(state, request, response, token)
    log.info("console sign-in", role=grant.role, by=grant.name or grant.role)
    return response


async def sign_out(request: Request) -> Response:
    page = _page(request.app.state.engine, request)
    if page.session is not None:
        try:
            form = await _form(request)
        except FormUnreadable as exc:
            return page.error(422, S("form_unreadable", why=exc))
        refused = _csrf_refused(page, form)
        if refused is not None:
            return refused
        sessions.revoke(page.session)
    response = RedirectResponse(f"{PREFIX}/sign-in?out=1", 303)
    sessions.end(response)
    return response


# --- the register ----------------------------------------------------------------------------

def _register(state: EngineState) -> Any:
    """The outcome register the worker writes (settings.database_url), opened once."""
    reg = getattr(state, "_console_register", None)
    if reg is None:
        from activities.register import Register
        from activities.register_db import make_engine

        reg = Register(make_engine(state.settings.database_url))
        state._console_register = reg  # type: ignore[attr-defined]
    return reg


def _due_day(summary_deadline: datetime, procedure: str | None) -> date:
    """The last day of a deadline that expires at `summary_deadline` (its 24:00, or an
    instant within the day), in the procedure's time zone."""
    tz = get_procedure(procedure).cal.tz if procedure in all_procedures() else UTC
    return (summary_deadline - timedelta(microseconds=1)).astimezone(tz).date()


@dataclass
class Row:
    summary: CaseSummary
    controller: str
    due: date | None
    days: int | None
    flag: str  # "overdue", "soon" or ""

    @property
    def days_text(self) -> str:
        if self.days is None:
            return ""
        if self.flag == "overdue":
            late = -self.days
            return S.overdue if late <= 0 else S.days_over_1 if late == 1 else S(
                "days_over_n", n=late)
        return S.due_today if self.days == 0 else S.days_left_1 if self.days == 1 else S(
            "days_left_n", n=self.days)


def _row(s: CaseSummary, names: dict[str, str], now: datetime) -> Row:
    if s.next_deadline is None or s.status != "open":
        return Row(s, names.get(s.case_id, ""), None, None, "")
    due = _due_day(s.next_deadline, s.procedure)
    tz = get_procedure(s.procedure).cal.tz if s.procedure in all_procedures() else UTC
    days = (due - now.astimezone(tz).date()).days
    flag = "overdue" if s.next_deadline <= now else "soon" if days <= SOON_DAYS else ""
    return Row(s, names.get(s.case_id, ""), due, days, flag)


def _sorted(found: list[CaseSummary], sort: str) -> list[CaseSummary]:
    if sort == "case":
        return sorted(found, key=lambda s: s.case_id)
    if sort == "stage":
        order = {name: i for i, name in enumerate(ALL_STAGES)}
        return sorted(found, key=lambda s: (order.get(s.stage or "", 99), s.case_id))
    if sort == "opened":
        floor = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda s: (s.started_at or floor, s.case_id), reverse=True)
    return found  # the listing's own order: earliest next deadline first


async def cases_page(page: Page) -> Response:
    q = page.request.query_params
    stage = q.get("stage") or None
    procedure = q.get("procedure") or None
    controller = " ".join((q.get("controller") or "").split()) or None
    due_text = (q.get("due_before") or "").strip()
    sort = q.get("sort") or "deadline"
    try:
        page_no = max(1, int(q.get("page", "1")))
    except ValueError:
        page_no = 1
    errors = FormErrors()
    if stage is not None and stage not in ALL_STAGES:
        errors.add("stage", S("unknown_value", what="stage", value=short(stage),
                              accepted=", ".join(ALL_STAGES)))
    if procedure is not None and procedure not in all_procedures():
        errors.add("procedure", S("unknown_value", what="procedure", value=short(procedure),
                                  accepted=", ".join(all_procedures())))
    if sort not in SORTS:
        errors.add("sort", S("unknown_value", what="order", value=short(sort),
                             accepted=", ".join(SORTS)))
        sort = "deadline"
    due: date | datetime | None = None
    if due_text:
        try:
            due = read_moment("due_before", due_text)
        except InvalidInput as exc:
            errors.add("due_before", exc.reason)
    grant = page.grant
    if grant.role == "controller" and controller:
        errors.add("controller", S.controller_filter)
    found: list[CaseSummary] = []
    unkeyed = 0
    if not errors:
        key = None
        if grant.role == "controller":
            key = controller_hash(grant.controller or "", page.state.secret)
        elif controller:
            key = controller_hash(controller, page.state.secret)
        try:
            found = await list_cases(page.state.temporal, stage=stage, procedure=procedure,
                                     due_before=due, limit=10**9, controller_key=key)
        except InvalidInput as exc:
            errors.add(exc.field, exc.reason)
        if grant.role == "controller" and not errors:
            unkeyed = await unkeyed_cases(page.state.temporal)
    ordered = _sorted(found, sort)
    pages = max(1, -(-len(ordered) // PAGE_SIZE))
    page_no = min(page_no, pages)
    shown = ordered[(page_no - 1) * PAGE_SIZE:page_no * PAGE_SIZE]
    names, unread = await _names([s.case_id for s in shown], page.state)
    now = datetime.now(UTC)
    rows = [_row(s, names, now) for s in shown]
    filters = {"stage": stage or "", "procedure": procedure or "",
               "controller": controller or "", "due_before": due_text, "sort": sort}

    def link(n: int) -> str:
        return f"{PREFIX}/cases?" + urlencode({**{k: v for k, v in filters.items() if v},
                                               "page": n})

    return page.render(
        "cases.html", status=422 if errors else 200, rows=rows, filters=filters,
        errors=errors, stage_options=[(st, human(st)) for st in ALL_STAGES],
        procedures=procedure_options(),
        sort_options=[(k, EN[v]) for k, v in SORTS.items()], page_no=page_no,
        pages=pages, count=len(ordered), unkeyed=unkeyed,
        unread=unread, prev_link=link(page_no - 1) if page_no > 1 else "",
        next_link=link(page_no + 1) if page_no < pages else "")


async def _names(case_ids: list[str], state: EngineState) -> tuple[dict[str, str], str]:
    if not case_ids:
        return {}, ""
    try:
        return await run_in_threadpool(_register(state).controller_names, case_ids), ""
    except Exception as exc:  # the register is another service: the listing goes on
        log.warning("console: register not readable", error=str(exc))
        return {}, type(exc).__name__


# --- a case ----------------------------------------------------------------------------------

def allowed_events(grant: Grant, status: CaseStatus) -> list[str]:
    """The events this grant may record on the case now (what the API would accept from
    it): none for a viewer or a case that is not open; a controller's own events only."""
    if grant.role == "viewer" or status.status != "open":
        return []
    # the case's own list (its history can add a referral's undo); a worker older than the
    # list answers without it: then the stage's
    accepted = status.accepted or accepted_events(status.stage, status.procedure)
    if grant.role == "controller":
        return [e for e in accepted if e in CONTROLLER_EVENTS]
    return accepted


async def _case_context(page: Page, status: CaseStatus) -> dict[str, Any]:
    try:
        notes, hooks = await run_in_threadpool(_register(page.state).deliveries,
                                               status.case_id)
        unread = ""
    except Exception as exc:  # the register is another service: the case page goes on
        log.warning("console: register not readable", error=str(exc))
        notes, hooks, unread = [], [], type(exc).__name__
    if page.grant.role == "controller":
        # a controller reads what was sent to it, never the authority's own messages
        notes, hooks = [n for n in notes if n["party"] == "controller"], []
    proc = all_procedures().get(status.procedure)
    return {"case": status, "currency": proc.currency if proc else "",
            "timeline": sorted(status.timeline, key=lambda t: t.date[:10]),
            "notes": notes, "hooks": hooks, "unread": unread,
            "choices": (choices := allowed_events(page.grant, status)),
            "choice_options": [(e, human(e)) for e in choices]}


def _money(amount: int | None, currency: str) -> str:
    return "" if amount is None else f"{amount:,} {currency}"


_env.filters["money"] = _money


def _case_of(page: Page, case_id: str) -> Awaitable[CaseStatus]:
    """The case if this grant may read it; an id the API would refuse is "no such case"."""
    if re.fullmatch(CASE_ID, case_id) is None or len(case_id) > 100:
        raise ApiError(404, S("not_found_case", case_id=short(case_id)))
    return readable_case(page.state, page.grant, case_id)


async def case_page(page: Page, case_id: str, chosen: str = "", values: dict[str, Any] | None
                    = None, errors: FormErrors | None = None, refusal: dict[str, Any] | None
                    = None, status_code: int = 200) -> Response:
    status = await _case_of(page, case_id)
    ctx = await _case_context(page, status)
    chosen = chosen or page.request.query_params.get("type", "")
    if chosen not in ctx["choices"]:
        chosen = ""
    if values is None and page.request.query_params.get("seq", "").isdigit():
        values = {"seq": page.request.query_params["seq"]}
    fields = event_fields(chosen) if chosen else []
    holder = Response()
    done = sessions.take_flash(page.state, page.request, holder) if status_code == 200 else ""
    out = page.render(
        "case.html", status=status_code, **ctx, chosen=chosen,
        fields=fields, values=values or {}, errors=errors or FormErrors(), refusal=refusal,
        done=done, labels={f.name: f.label for f in fields})
    return _with_cookie(out, holder)


async def record_event(page: Page, case_id: str) -> Response:
    form = await _form(page.request)
    if (refused := _csrf_refused(page, form)) is not None:
        return refused
    event_type = str(form.get("type", ""))
    grant = page.grant
    if grant.role == "viewer":
        return page.error(403, S("forbidden", role="viewer", needs="regulator or controller"))
    status = await _case_of(page, case_id)
    if event_type not in MODELS:
        errors = FormErrors()
        errors.add("type", S("unknown_value", what="event type", value=short(event_type),
                             accepted=", ".join(allowed_events(grant, status))))
        return await case_page(page, case_id, errors=errors, status_code=422)
    if grant.role == "controller" and event_type not in CONTROLLER_EVENTS:
        return page.error(403, S("controller_only", events=", ".join(CONTROLLER_EVENTS),
                                 event=event_type))
    event, errors = read_event(event_type, form)
    for name in form.get("_not_text", []):
        errors.add(name, S.not_text)
        event = None
    if event is None:
        return await case_page(page, case_id, chosen=event_type, values=form, errors=errors,
                               status_code=422)
    try:
        after = await deliver_event(page.state.temporal, case_id, event, by=grant.holder,
                                    role=grant.role)
    except EventNotAccepted as exc:
        mine = [e for e in exc.accepted
                if grant.role != "controller" or e in CONTROLLER_EVENTS]
        return await case_page(page, case_id, chosen=event_type, values=form, refusal={
            "message": str(exc) if grant.role != "controller" else
            str(exc).split("; accepted now:")[0], "stage": exc.stage, "accepted": mine},
            status_code=409)
    except InvalidInput as exc:
        errors.add(exc.field.rsplit(".", 1)[-1], exc.reason)
        return await case_page(page, case_id, chosen=event_type, values=form, errors=errors,
                               status_code=422)
    except CaseError as exc:
        if exc.kind not in ("invalid", "rejected", "conflict"):
            raise
        return await case_page(page, case_id, chosen=event_type, values=form, refusal={
            "message": str(exc), "stage": "", "accepted": []}, status_code=409)
    log.info("console event", case_id=case_id, event_type=event_type, stage=after.stage,
             by=grant.name or grant.role)
    response = RedirectResponse(f"{PREFIX}/cases/{case_id}#done", 303)
    sessions.flash(page.state, page.request, response,
                   S("recorded_ok", event=event_type, stage=after.stage))
    return response


async def calendar_file(page: Page, case_id: str) -> Response:
    status = await _case_of(page, case_id)
    return Response(case_calendar(status), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{case_id}.ics"'})


# --- open a case -----------------------------------------------------------------------------

OPEN_FIELDS = {  # the form's field -> where it sits in CaseInput
    "case_id": "case_id", "procedure": "procedure", "controller_name": "controller.name",
    "controller_country": "controller.country", "controller_email": "controller.email",
    "turnover": "controller.annual_turnover_eur", "subject": "subject",
    "complaint_date": "events.0.date", "complainant_ref": "events.0.complainant_ref"}


def _human(name: str, message: str) -> str:
    """Pydantic's pattern messages in words a person can act on."""
    if "should match pattern" in message:
        return S.case_id_pattern if name == "case_id" else \
            S.email_pattern if name == "controller_email" else message
    if name == "controller_country":
        return S.country_code
    return message


def _open_input(form: dict[str, Any]) -> tuple[CaseInput | None, FormErrors]:
    """The case the form describes, or every error by field (all of them at once)."""
    errors = FormErrors()
    for name in form.get("_not_text", []):
        errors.add(name, S.not_text)
    v = {k: str(form.get(k, "")).strip() for k in OPEN_FIELDS}
    controller: dict[str, Any] = {"name": v["controller_name"],
                                  "country": v["controller_country"].upper()}
    if v["controller_email"]:
        controller["email"] = v["controller_email"]
    if v["turnover"]:
        try:
            controller["annual_turnover_eur"] = int(v["turnover"].replace(",", "")
                                                    .replace(" ", ""))
        except ValueError:
            errors.add("turnover", S("whole_number", value=short(v["turnover"])))
    data = {"case_id": v["case_id"], "procedure": v["procedure"], "controller": controller,
            "subject": v["subject"], "events": [{
                "type": "complaint_received", "date": v["complaint_date"],
                "subject": v["subject"] or "-", "complainant_ref": v["complainant_ref"]}]}
    try:
        case = CaseInput.model_validate(data)
    except ValidationError as exc:
        where = {path: name for name, path in OPEN_FIELDS.items()}
        for e in field_errors(exc.errors()):
            f = e["field"].replace("events.0.complaint_received.", "events.0.")
            name = where.get(f) or next(
                (n for p, n in where.items() if f.startswith(p + ".")), "")
            if f == "events.0.subject":
                name = "subject"
            errors.add(name, _human(name, e["message"]))
        return None, errors
    return (None, errors) if errors else (case, errors)


def _opening_field(message: str) -> str:
    """The form's field an opening refusal concerns: the complaint's, or the case id's."""
    if "already exists" in message:
        return "case_id"
    if "events[0]" in message or "complaint_received" in message:
        return "complaint_date"
    return ""


def _regulator_only(page: Page) -> HTMLResponse | None:
    if page.grant.role != "regulator":
        return page.error(403, S("forbidden", role=page.grant.role, needs="regulator"))
    return None


async def open_form(page: Page) -> Response:
    if (refused := _regulator_only(page)) is not None:
        return refused
    return page.render("open.html", values={"procedure": "fr-cnil"}, errors=FormErrors(),
                       procedures=procedure_options())


async def open_case(page: Page) -> Response:
    if (refused := _regulator_only(page)) is not None:
        return refused
    form = await _form(page.request)
    if (refused := _csrf_refused(page, form)) is not None:
        return refused
    case, errors = _open_input(form)
    if case is not None:
        try:
            await create_case(page.state.temporal, case, page.state.settings.task_queue,
                              webhooks=page.state.settings.webhooks_configured,
                              by=page.grant.holder, secret=page.state.secret)
        except InvalidInput as exc:
            path = exc.field.removeprefix("body.").replace("events.0.complaint_received.",
                                                           "events.0.")
            name = {p: n for n, p in OPEN_FIELDS.items()}.get(path, "") or _opening_field(
                exc.reason)
            errors.add(name, exc.reason)
        except CaseError as exc:
            if exc.kind not in ("conflict", "invalid", "rejected"):
                raise
            errors.add(_opening_field(str(exc)), str(exc))
    if errors or case is None:
        return page.render("open.html", status=422, values=form, errors=errors,
                           procedures=procedure_options())
    log.info("console case opened", case_id=case.case_id, by=page.grant.name or "regulator")
    response = RedirectResponse(f"{PREFIX}/cases/{case.case_id}#done", 303)
    sessions.flash(page.state, page.request, response, S("opened_ok", case_id=case.case_id))
    return response


# --- the calculator, the procedures ----------------------------------------------------------

async def deadline_page(page: Page) -> Response:
    q = page.request.query_params
    values = {"start": q.get("start", ""), "period": q.get("period", ""),
              "procedure": q.get("procedure", "fr-cnil")}
    answer, errors = None, FormErrors()
    if values["start"] or values["period"]:
        try:
            answer = compute(values["start"], values["period"], values["procedure"])
        except InvalidInput as exc:
            errors.add(exc.field.removeprefix("query."), exc.reason)
    return page.render("deadline.html", status=422 if errors else 200, values=values,
                       errors=errors, answer=answer, procedures=procedure_options())


def procedure_view(name: str) -> dict[str, Any]:
    proc = get_procedure(name)
    periods = []
    for key, length in proc.periods.model_dump().items():
        if length is None:
            continue
        info = proc.period_info.get(key)
        periods.append({"name": key.replace("_", " "), "length": length,
                        "rules": (info.rules if info and info.rules else proc.rules),
                        "source": info.source if info else "",
                        "unconfirmed": bool(info and info.confirmed is False)})
    return {"proc": proc, "stages": machine_class(proc).STAGES, "periods": periods,
            "family": machine_class(proc).FAMILY}


async def procedures_page(page: Page) -> Response:
    return page.render("procedures.html",
                       procedures=[procedure_view(n) for n in all_procedures()])


# --- simulation ------------------------------------------------------------------------------

@dataclass
class SimResult:
    owner: str
    name: str
    svg: str
    sections: str
    json: bytes
    csv: bytes
    ics: bytes
    rejected: int


_results: OrderedDict[str, SimResult] = OrderedDict()
_results_lock = threading.Lock()
KEEP_RESULTS = 256
# Everything from this app; inline style only for the chart's SVG (matplotlib writes it).
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
KEEP_PER_SESSION = 4


def _build(req: SimulationRequest, filename: str) -> SimResult:
    """Run and render in a worker thread: the simulation, the chart, the files."""
    import json

    from enforcement.simulation.report import (
        chart_svg,
        document,
        report_sections,
        write_csv,
        write_ics,
    )

    sc = load_request(req, filename)
    report = run_report(sc, req.runs if sc.batch else None, req.seed)
    doc = document(report)
    if report.single:
        doc = {"runs": [doc], "summary": report.summary}
    with tempfile.TemporaryDirectory() as tmp:
        write_csv(Path(tmp) / "result.csv", report)
        ics = write_ics(Path(tmp) / "result.ics", report)
        csv_bytes = (Path(tmp) / "result.csv").read_bytes()
        ics_bytes = ics[0].read_bytes() if ics else b""
    return SimResult(owner="", name=sc.name, svg=chart_svg(report),
                     sections=report_sections(report),
                     json=json.dumps(doc, indent=2, default=str).encode(), csv=csv_bytes,
                     ics=ics_bytes, rejected=sum(len(r.outcome.rejected)
                                                 for r in report.nominal))


def _owner(page: Page) -> str:
    assert page.session is not None
    return page.session.csrf


async def simulate_page(page: Page) -> Response:
    return page.render("simulate.html", **_sim_context(), values={"shipped": "clearview"},
                       errors=FormErrors(), result=None, result_id="")


def _sim_context() -> dict[str, Any]:
    return {"scenarios": list(shipped()), "max_kb": MAX_SCENARIO_BYTES // 1024,
            "max_runs": MAX_API_RUNS}


async def simulate(page: Page) -> Response:
    form = await _form(page.request, files=("file",))
    if (refused := _csrf_refused(page, form)) is not None:
        return refused
    errors = FormErrors()
    upload = form.get("file")
    text: str | None = None
    filename = "scenario.yaml"
    if isinstance(upload, UploadFile) and upload.filename:
        # the loader's messages name the file as the person knows it
        filename = Path(upload.filename.replace("\\", "/")).name[:100] or filename
        raw = await upload.read(MAX_SCENARIO_BYTES + 1)
        if len(raw) > MAX_SCENARIO_BYTES:
            errors.add("file", S("file_too_large", size=MAX_SCENARIO_BYTES // 1024))
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                errors.add("file", S.file_not_text)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    data: dict[str, Any] = {}
    if text is not None:
        data["scenario"] = text
    elif not errors:
        data["shipped"] = values.get("shipped") or None
    for name in ("runs", "seed"):
        if values.get(name, "").strip():
            data[name] = values[name].strip()
    result = None
    if not errors:
        try:
            req = SimulationRequest.model_validate(data)
            result = await run_in_threadpool(_build, req, filename)
        except ValidationError as exc:
            for e in field_errors(exc.errors()):
                errors.add(e["field"] if e["field"] in ("runs", "seed") else "shipped",
                           e["message"])
        except InvalidInput as exc:
            name = exc.field.removeprefix("body.")
            errors.add("file" if name == "scenario" else name, exc.reason)
        except ApiError as exc:
            errors.add("", exc.detail)
    if result is None:
        return page.render("simulate.html", status=503 if "" in errors.by_field else 422,
                           **_sim_context(), values=values, errors=errors, result=None,
                           result_id="")
    result.owner = _owner(page)
    rid = secrets.token_urlsafe(12)
    with _results_lock:
        _results[rid] = result
        mine = [k for k, v in _results.items() if v.owner == result.owner]
        for k in mine[:-KEEP_PER_SESSION]:  # each session keeps its last few
            del _results[k]
        while len(_results) > KEEP_RESULTS:
            _results.popitem(last=False)
    return page.render("simulate.html", **_sim_context(), values=values, errors=errors,
                       result=result, result_id=rid)


async def simulation_file(page: Page, rid: str, kind: str) -> Response:
    with _results_lock:
        result = _results.get(rid)
    if kind not in ("json", "csv", "ics"):
        return page.error(404, S.results_kinds)
    if result is None or result.owner != _owner(page):
        return page.error(404, S.results_gone)
    body, media = {"json": (result.json, "application/json"),
                   "csv": (result.csv, "text/csv; charset=utf-8"),
                   "ics": (result.ics, "text/calendar; charset=utf-8")}[kind]
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="simulation.{kind}"'})


# --- wiring ----------------------------------------------------------------------------------

def install(app: FastAPI) -> None:
    """The console's pages under /console, its assets under /console/static, `/` opening
    it."""
    router = APIRouter(include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"),
              name="console-static")

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/cases", 303)

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        return Response((HERE / "static" / "icon.svg").read_bytes(), media_type="image/svg+xml")

    @router.get(PREFIX)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/cases", 303)

    router.add_api_route(f"{PREFIX}/sign-in", sign_in_form, methods=["GET"])
    router.add_api_route(f"{PREFIX}/sign-in", sign_in, methods=["POST"])
    router.add_api_route(f"{PREFIX}/sign-out", sign_out, methods=["POST"])

    def page(path: str, handler: Callable[..., Awaitable[Response]],
             method: str = "GET") -> None:
        async def endpoint(request: Request) -> Response:
            params = dict(request.path_params)
            return await guarded(lambda p: handler(p, **params))(request)
        router.add_api_route(PREFIX + path, endpoint, methods=[method])

    page("/cases", cases_page)
    page("/cases/{case_id}", case_page)
    page("/cases/{case_id}/events", record_event, "POST")
    page("/cases/{case_id}/calendar.ics", calendar_file)
    page("/open", open_form)
    page("/open", open_case, "POST")
    page("/deadline", deadline_page)
    page("/procedures", procedures_page)
    page("/simulate", simulate_page)
    page("/simulate", simulate, "POST")
    page("/simulate/{rid}/result.{kind}", simulation_file)

    # a GET of a form's address (a sign-in that came back to it, a reload): its page
    @router.get(PREFIX + "/cases/{case_id}/events")
    async def events_page(case_id: str) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/cases/{quote(case_id, safe='')}", 303)

    @router.get(PREFIX + "/sign-out")
    async def sign_out_page() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/cases", 303)

    app.include_router(router)

    previous = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        """A console path answers with a page; the API's keep their JSON body."""
        if request.url.path.startswith(PREFIX + "/") or request.url.path == PREFIX:
            assert isinstance(exc, StarletteHTTPException)
            page_ = _page(request.app.state.engine, request)
            if exc.status_code == 404:
                return page_.error(404, S.not_found)
            if exc.status_code == 405:
                return page_.error(405, S("method", method=request.method))
            return page_.error(exc.status_code, str(exc.detail))
        if previous is None:
            raise exc
        answer = previous(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.middleware("http")
    async def console_frame(request: Request, call_next: Any) -> Response:
        """For the console's paths: a body over the limit refused with a page (before the
        API's JSON answer), and the headers that keep its pages private and unframed."""
        path = request.url.path
        if not (path.startswith(PREFIX + "/") or path == PREFIX or path == "/"):
            return await call_next(request)  # type: ignore[no-any-return]
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return _page(request.app.state.engine, request).error(
                413, S("too_large", size=int(length), limit=MAX_BODY_BYTES))
        response: Response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = CSP
        return response
