"""The HTTP API: complaint intake, events, status, listings, calendars, procedures and the
deadline calculator, over the same pydantic models as the CLI and the workflows.

Thin: requests are validated by the models of `enforcement.models`, cases are reached only
through `enforcement.temporal`, dates only through the time-limit core. Errors always come
back as JSON with a `detail` sentence: 401 without a valid bearer token, 403 for a role or a
case the token does not grant, 404 for an unknown case, 409 for an event the case refuses
(with its stage and the events it accepts now), 422 naming each wrong field, 503 when
Temporal does not answer.

Run it with `make run` (embedded dev server, worker and API together), or alone against a
running Temporal with `uvicorn --factory enforcement.api:create_app`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.service import RPCError

from enforcement.calendars import CalendarError
from enforcement.ics import case_calendar
from enforcement.logs import configure
from enforcement.models import (
    DAY_PATTERN,
    INSTANT_PATTERN,
    PERIOD_PATTERN,
    CaseInput,
    CaseStatus,
    Event,
    Role,
)
from enforcement.periods import PeriodError
from enforcement.procedures import Procedure, ProcedureError, all_procedures, get_procedure
from enforcement.settings import Settings, get_settings
from enforcement.temporal import (
    ALL_STAGES,
    CURSOR,
    CaseError,
    CaseSummary,
    EventNotAccepted,
    InvalidInput,
    connect,
    controller_hash,
    create_case,
    cursor_of,
    deliver_event,
    get_case,
    list_cases,
    unkeyed_cases,
)
from enforcement.timelimits import TimeLimitError, compute_deadline, parse_moment, year_problem

log = structlog.get_logger("api")

ROLES: tuple[Role, ...] = ("regulator", "controller", "viewer")
# What a controller under procedure may send about its own case (domain.md section 4).
MAX_BODY_BYTES = 1_048_576  # 1 MiB
CONTROLLER_EVENTS = ("compliance_evidence_submitted", "observations_submitted", "appeal_lodged")
CASE_ID = r"^[A-Za-z0-9._:-]+$"


# --- access -------------------------------------------------------------------------------

class Grant(BaseModel):
    """What a bearer token may do: its role, and for a controller, whose cases it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    controller: str | None = Field(default=None, min_length=1,
                                   description="the controller's name, as in its cases")
    name: str | None = Field(default=None, description="who holds the token, for the logs")

    @model_validator(mode="after")
    def _controller_named(self) -> Grant:
        if self.role == "controller" and not self.controller:
            raise ValueError("a controller token needs 'controller': the controller's name")
        if self.role != "controller" and self.controller:
            raise ValueError("only a controller token names a 'controller'")
        return self

    @property
    def holder(self) -> str:
        """Who records what this token sends: its named holder, else its role."""
        return self.name or f"{self.role} token"

    def owns(self, status: CaseStatus) -> bool:
        return self.role != "controller" or _same_name(status.controller.name,
                                                       self.controller or "")


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class TokenError(ValueError):
    """ENFORCE_API_TOKENS or the token file is malformed; the message says where."""


def load_grants(settings: Settings) -> dict[str, Grant]:
    """Tokens from ENFORCE_API_TOKENS, else from the token file (`make run` writes one)."""
    raw: dict[str, Any] = dict(settings.api_tokens)
    where = "ENFORCE_API_TOKENS"
    if not raw and settings.api_tokens_file.is_file():
        where = str(settings.api_tokens_file)
        try:
            raw = json.loads(settings.api_tokens_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TokenError(f"{where}: cannot read the tokens: {exc}") from None
        if not isinstance(raw, dict):
            raise TokenError(f"{where}: expected a JSON object token -> grant")
    grants = {}
    for token, grant in raw.items():
        if len(token) < 16:
            raise TokenError(f"{where}: a token must have at least 16 characters "
                             f"({token[:4]}... is shorter)")
        try:
            grants[token] = Grant.model_validate(grant)
        except ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise TokenError(f"{where}: token {token[:4]}...: {msgs}") from None
    return grants


class ApiError(Exception):
    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


# --- bodies -------------------------------------------------------------------------------

class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str = Field(description="where: body.controller.name, query.due_before, ...")
    message: str


class ValidationErrorBody(BaseModel):
    detail: str
    errors: list[FieldError]


class ConflictBody(BaseModel):
    detail: str
    stage: str | None = Field(default=None, description="the stage the case is at")
    accepted: list[str] = Field(default_factory=list,
                                description="the events the case accepts at that stage")


class CaseOpened(BaseModel):
    case_id: str
    workflow_id: str
    run_id: str
    url: str


class CaseList(BaseModel):
    count: int = Field(description="cases on this page")
    cases: list[CaseSummary]
    next_cursor: str | None = Field(default=None, description="more cases match: ask again "
                                    "with cursor=<this> for the next page")
    unkeyed: int = Field(default=0, description="for a controller: cases opened without "
                         "a controller key (before this version, or on a namespace lacking "
                         "the ControllerKey search attribute), of any controller, which its "
                         "listing cannot find: the regulator's listing shows them")


class DeadlineAnswer(BaseModel):
    procedure: str
    rules: str
    calendar: str
    trigger: str
    period: str
    due: str
    expires_at: datetime
    explanation: list[str]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    models: dict[int, tuple[type[BaseModel], str]] = {
        401: (ErrorBody, "no bearer token, or an unknown one"),
        403: (ErrorBody, "the token's role or controller does not allow this"),
        404: (ErrorBody, "no such case"),
        409: (ConflictBody, "the case refuses this, with its stage and the accepted events"),
        422: (ValidationErrorBody, "a field is missing or wrong; each is named"),
        503: (ErrorBody, "Temporal did not answer"),
    }
    return {c: {"model": models[c][0], "description": models[c][1]} for c in codes}


# --- the app ------------------------------------------------------------------------------

@dataclass
class _State:
    settings: Settings
    client: Client | None
    grants: dict[str, Grant]

    @property
    def temporal(self) -> Client:
        if self.client is None:
            raise ApiError(503, "not connected to Temporal yet")
        return self.client


# --- access dependencies ------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a token from ENFORCE_API_TOKENS")


def _state(request: Request) -> _State:
    state: _State = request.app.state.engine
    return state


def _grant(request: Request, creds: HTTPAuthorizationCredentials | None) -> Grant:
    """The grant of the request's bearer token (401 without a known one)."""
    if creds is None or not creds.credentials:
        raise ApiError(401, "a bearer token is required: Authorization: Bearer <token>")
    given = creds.credentials.encode("utf-8", "surrogateescape")
    for token, grant in _state(request).grants.items():
        if hmac.compare_digest(token.encode(), given):
            return grant
    raise ApiError(401, "unknown bearer token")


def allow(*roles: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None],
                                    Awaitable[Grant]]:
    """A dependency: the caller's grant, 403 unless its role is one of `roles`."""
    async def check(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None,
                                                       Depends(_bearer)]) -> Grant:
        grant = _grant(request, creds)
        if grant.role not in roles:
            raise ApiError(403, f"the {grant.role} role may not do this; it needs: "
                                f"{' or '.join(roles)}")
        return grant
    return check


Anyone = Annotated[Grant, Depends(allow(*ROLES))]
Regulator = Annotated[Grant, Depends(allow("regulator"))]
CaseId = Annotated[str, Path(min_length=1, max_length=100, pattern=CASE_ID,
                             description="the case id given at intake")]
StageName = Literal[ALL_STAGES]  # type: ignore[valid-type]


def _known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take: a misspelt filter
    (`due-before=`) would otherwise be ignored and list every case."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = {p.alias for p in route.dependant.query_params}
    for name in request.query_params:
        if name not in known:
            raise InvalidInput(f"query.{name}", "unknown query parameter; accepted: "
                               f"{', '.join(sorted(known)) or 'none'}")


def _only_procedures(schema: dict[str, Any], names: list[str]) -> None:
    props = schema["components"]["schemas"]["CaseInput"]["properties"]
    props["procedure"]["enum"] = names
    for path in schema["paths"].values():
        for op in path.values():
            for param in op.get("parameters", []):
                if param["name"] == "procedure":
                    target = param["schema"]
                    target = next((a for a in target.get("anyOf", []) if a.get("type")
                                   == "string"), target)
                    target["enum"] = names


def _moment(field: str, text: str) -> date | datetime:
    """A date or an aware date-time, read by the core (a bare date stays a date)."""
    try:
        moment = parse_moment(text)
    except TimeLimitError as exc:
        raise InvalidInput(field, str(exc)) from None
    if isinstance(moment, datetime) and moment.tzinfo is None:
        raise InvalidInput(field, "a date-time must carry its offset "
                           "(2022-07-15T18:00+02:00); or give a bare date")
    return moment


def _field_of(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(x) for x in loc) or "body"


_MOMENT = ("date", "datetime")


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic's errors as `field` + `message`. A date-or-date-time value that fits neither
    comes back as one error on the field, not one per member of the union."""
    raw = [(tuple(e.get("loc", ())),
            str(e.get("msg", "invalid")).removeprefix("Value error, ")) for e in errors]
    ends = {m: {loc[:-1] for loc, _ in raw if loc and loc[-1] == m} for m in _MOMENT}
    both = ends["date"] & ends["datetime"]
    merged: dict[str, list[str]] = {}
    for loc, msg in raw:
        if loc and loc[-1] in _MOMENT and loc[:-1] in both:
            loc = loc[:-1]
            msg = ("expected a date (2022-07-14) or a date-time with its offset "
                   f"(2022-07-15T18:00+02:00): {msg}")
        merged.setdefault(_field_of(loc), []).append(msg)
    return [{"field": f, "message": "; ".join(dict.fromkeys(msgs))}
            for f, msgs in merged.items()]


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    """The API app. Without `client` it connects at start-up (TEMPORAL_ADDRESS, or the
    embedded dev server's address)."""
    settings = settings or get_settings()
    secret = settings.controller_secret()  # the controllers' keyed hashes
    if not structlog.is_configured():  # under `uvicorn --factory`: JSON logs, redacted
        configure(settings.log_level, settings.log_json)
    state = _State(settings, client, load_grants(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if state.client is None:
            state.client = await connect(settings)
        yield

    app = FastAPI(
        title="Enforcement engine",
        version="0.1.0",
        description=(
            "Data-protection enforcement procedures as durable workflows. Every request "
            "carries `Authorization: Bearer <token>`; tokens map to roles in "
            "ENFORCE_API_TOKENS: `regulator` does everything, `controller` reads its own cases "
            "and sends the controller's events (" + ", ".join(CONTROLLER_EVENTS) + "), "
            "`viewer` reads."),
        lifespan=lifespan, docs_url="/docs", redoc_url=None,
        dependencies=[Depends(_known_query)])
    app.state.engine = state

    # --- errors ---------------------------------------------------------------------------

    @app.middleware("http")
    async def _body_size(request: Request, call_next: Any) -> Any:
        """Refuse a body over the limit before reading it (the largest valid case is far
        smaller)."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"the request body is {int(length):,} bytes; at "
                                 f"most {MAX_BODY_BYTES:,} are accepted"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        names = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return JSONResponse({"detail": f"invalid request: {names}", "errors": errors},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that cannot be parsed at all (not UTF-8 JSON)
            return JSONResponse({"detail": "invalid request: body", "errors": [
                {"field": "body", "message": str(exc.detail)}]}, status_code=422)
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(CaseError)
    async def _case_error(_req: Request, exc: CaseError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return JSONResponse({"detail": str(exc), "errors": [
                {"field": exc.field, "message": exc.reason}]}, status_code=422)
        if isinstance(exc, EventNotAccepted):
            return JSONResponse({"detail": str(exc), "stage": exc.stage,
                                 "accepted": exc.accepted}, status_code=409)
        code = {"not_found": 404, "conflict": 409, "rejected": 409, "invalid": 422,
                "unavailable": 503}.get(exc.kind, 409)
        if code == 422:
            return JSONResponse({"detail": str(exc), "errors": [
                {"field": "body", "message": str(exc)}]}, status_code=422)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(RPCError)
    async def _rpc(_req: Request, exc: RPCError) -> JSONResponse:
        log.warning("temporal error", status=str(exc.status), message=exc.message)
        return JSONResponse({"detail": f"Temporal did not answer: {exc.message}"},
                            status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", path=req.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; it is logged"}, status_code=500)

    async def readable_case(grant: Grant, case_id: str) -> CaseStatus:
        status = await get_case(state.temporal, case_id)
        if not grant.owns(status):
            # answered as for a case that does not exist: a controller does not learn
            # which case ids are in use
            raise ApiError(404, f"no case {case_id!r}")
        return status

    # --- routes ---------------------------------------------------------------------------

    @app.post("/cases", status_code=201, response_model=CaseOpened, tags=["cases"],
              responses=_errors(401, 403, 409, 422, 503))
    async def open_case(case: Annotated[CaseInput, Body()], grant: Regulator,
                        response: Response) -> CaseOpened:
        """Complaint intake: open a case, usually with its `complaint_received` event."""
        run_id = await create_case(state.temporal, case, settings.task_queue,
                                   webhooks=settings.webhooks_configured, by=grant.holder,
                                   secret=secret)
        log.info("case opened", case_id=case.case_id, by=grant.name or grant.role)
        url = f"/cases/{case.case_id}"
        response.headers["Location"] = url
        return CaseOpened(case_id=case.case_id, workflow_id=case.case_id, run_id=run_id,
                          url=url)

    @app.post("/cases/{case_id}/events", response_model=CaseStatus, tags=["cases"],
              responses=_errors(401, 403, 404, 409, 422, 503))
    async def send(case_id: CaseId, event: Annotated[Event, Body()],
                   grant: Anyone) -> CaseStatus:
        """Send an event to a case; the answer is the case's new status, or why the case
        refused it (409: its stage and the events it accepts now)."""
        if grant.role == "viewer":
            raise ApiError(403, "the viewer role may not send events")
        if grant.role == "controller":
            if event.type not in CONTROLLER_EVENTS:
                raise ApiError(403, f"a controller may send only {', '.join(CONTROLLER_EVENTS)}"
                                    f"; {event.type} is the authority's")
            await readable_case(grant, case_id)
        status = await deliver_event(state.temporal, case_id, event, by=grant.holder,
                                     role=grant.role)
        log.info("event applied", case_id=case_id, event_type=event.type,
                 by=grant.name or grant.role, stage=status.stage)
        return status

    @app.get("/cases/{case_id}", response_model=CaseStatus, tags=["cases"],
             responses=_errors(401, 403, 404, 422, 503))
    async def show(case_id: CaseId, grant: Anyone) -> CaseStatus:
        """The case: stage, deadlines with their explanations, timeline, sanction figures."""
        return await readable_case(grant, case_id)

    @app.get("/cases", response_model=CaseList, tags=["cases"],
             responses=_errors(401, 403, 422, 503))
    async def cases(
        grant: Anyone,
        stage: Annotated[StageName | None, Query(description="only cases at this stage")] = None,
        procedure: Annotated[str | None, Query(max_length=100,
                                               description="procedure name, e.g. fr-cnil")
                             ] = None,
        due_before: Annotated[str | None, Query(
            max_length=64, examples=["2027-03-01", "2027-03-01T18:00:00+01:00"],
            json_schema_extra={"pattern": f"{DAY_PATTERN}|{INSTANT_PATTERN}"},
            description="only cases with a pending deadline due before this date (the day "
                        "itself excluded), or expiring before this aware date-time")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(
            max_length=120, json_schema_extra={"pattern": CURSOR},
            description="the next_cursor of the previous page; none for the first")] = None,
    ) -> CaseList:
        """Cases by stage, procedure and next deadline, earliest deadline first (from the
        search attributes), a page at a time. A controller sees only its own cases, found
        by the keyed hash of its name."""
        due = None if due_before is None else _moment("query.due_before", due_before)
        key = (controller_hash(grant.controller or "", secret)
               if grant.role == "controller" else None)
        found = await list_cases(state.temporal, stage=stage, procedure=procedure,
                                 due_before=due, limit=limit + 1, controller_key=key,
                                 cursor=cursor)
        page = found[:limit]
        more = cursor_of(page[-1]) if len(found) > limit else None
        unkeyed = await unkeyed_cases(state.temporal) if key is not None else 0
        return CaseList(count=len(page), cases=page, next_cursor=more, unkeyed=unkeyed)

    @app.get("/cases/{case_id}/calendar.ics", tags=["cases"], response_class=Response,
             responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}},
                              "description": "one all-day event per deadline"},
                        **_errors(401, 403, 404, 422, 503)})
    async def calendar(case_id: CaseId, grant: Anyone) -> Response:
        """The case's deadlines as an iCalendar file, reminders included."""
        status = await readable_case(grant, case_id)
        return Response(case_calendar(status), media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{case_id}.ics"'})

    @app.get("/procedures", response_model=list[Procedure], tags=["procedures"],
             responses=_errors(401, 403))
    async def procedures(grant: Anyone) -> list[Procedure]:
        """Every procedure parameter set: periods, calendar, reminders, caps."""
        return list(all_procedures().values())

    @app.get("/deadline", response_model=DeadlineAnswer, tags=["procedures"],
             responses=_errors(401, 403, 422))
    async def deadline(
        grant: Anyone,
        start: Annotated[str, Query(
            max_length=64, examples=["2022-07-14", "2022-07-15T18:00:00+02:00"],
            json_schema_extra={"pattern": f"{DAY_PATTERN}|{INSTANT_PATTERN}"},
            description="the triggering event: a date, or an aware date-time")],
        period: Annotated[str, Query(min_length=1, max_length=64,
                                     json_schema_extra={"pattern": PERIOD_PATTERN},
                                     description="'2 months', '15 days', '72 hours', ...")],
        procedure: Annotated[str, Query(max_length=100)] = "fr-cnil",
    ) -> DeadlineAnswer:
        """A legal deadline under a procedure's calendar and counting rules, explained."""
        trigger = _moment("query.start", start)
        if problem := year_problem(trigger):
            raise InvalidInput("query.start", problem)
        try:
            proc = get_procedure(procedure)
        except ProcedureError as exc:
            raise InvalidInput("query.procedure", str(exc)) from None
        try:
            dl = compute_deadline(trigger, period, proc.cal, proc.rule_set)
        except PeriodError as exc:
            raise InvalidInput("query.period", str(exc)) from None
        except (TimeLimitError, CalendarError, ArithmeticError, ValueError) as exc:
            raise InvalidInput("query.start", str(exc)) from None
        d = dl.to_dict()
        return DeadlineAnswer(procedure=proc.name, rules=proc.rules, calendar=dl.calendar,
                              trigger=d["trigger"], period=d["period"], due=d["due"],
                              expires_at=dl.expires_at, explanation=d["explanation"])

    generated = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated schema, with the procedures this engine has as the only values of
        every `procedure` (read from the procedure files, so not known to the models)."""
        if app.openapi_schema is None:
            _only_procedures(generated(), sorted(all_procedures()))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health", tags=["service"], include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok" if state.client is not None else "starting"}

    return app
