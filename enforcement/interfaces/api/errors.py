"""How the API answers what goes wrong: every error is JSON with a `detail` sentence (and,
for a field, which one), the bodies the published schema shows, and the readers of query
values that give those errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from enforcement.law.timelimits import TimeLimitError, parse_moment
from enforcement.ops.temporal import CaseError, EventNotAccepted, InvalidInput

log = structlog.get_logger("api")

MAX_BODY_BYTES = 1_048_576  # 1 MiB


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


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route can give, for the published schema."""
    models: dict[int, tuple[type[BaseModel], str]] = {
        401: (ErrorBody, "no bearer token, or an unknown one"),
        403: (ErrorBody, "the token's role or controller does not allow this"),
        404: (ErrorBody, "no such case"),
        409: (ConflictBody, "the case refuses this, with its stage and the accepted events"),
        422: (ValidationErrorBody, "a field is missing or wrong; each is named"),
        503: (ErrorBody, "Temporal did not answer"),
    }
    return {c: {"model": models[c][0], "description": models[c][1]} for c in codes}


# --- input --------------------------------------------------------------------------------

def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take: a misspelt filter
    (`due-before=`) would otherwise be ignored and list every case."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # the console's pages and the docs read their own query
    known = {p.alias for p in route.dependant.query_params}
    for name in request.query_params:
        if name not in known:
            raise InvalidInput(f"query.{name}", "unknown query parameter; accepted: "
                               f"{', '.join(sorted(known)) or 'none'}")


def read_moment(field: str, text: str) -> date | datetime:
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


# --- handlers -----------------------------------------------------------------------------

def install(app: FastAPI) -> None:
    """The body-size limit and every exception handler."""

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
