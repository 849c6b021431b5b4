"""The case routes: intake, events, a case's status and calendar, and the case listing."""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import Response as PlainResponse
from pydantic import BaseModel, Field

from enforcement.case.ics import case_calendar
from enforcement.case.models import DAY_PATTERN, INSTANT_PATTERN, CaseInput, CaseStatus, Event
from enforcement.families import ALL_STAGES
from enforcement.interfaces.api.access import (
    CONTROLLER_EVENTS,
    Anyone,
    Engine,
    Regulator,
    readable_case,
)
from enforcement.interfaces.api.errors import ApiError, read_moment, responses
from enforcement.ops.temporal import (
    CURSOR,
    CaseSummary,
    controller_hash,
    create_case,
    cursor_of,
    deliver_event,
    list_cases,
    unkeyed_cases,
)

log = structlog.get_logger("api")
router = APIRouter(tags=["cases"])

CASE_ID = r"^[A-Za-z0-9._:-]+$"
CaseId = Annotated[str, Path(min_length=1, max_length=100, pattern=CASE_ID,
                             description="the case id given at intake")]
StageName = Literal[ALL_STAGES]  # type: ignore[valid-type]


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


@router.post("/cases", status_code=201, response_model=CaseOpened,
             responses=responses(401, 403, 409, 422, 503))
async def open_case(case: Annotated[CaseInput, Body()], grant: Regulator, state: Engine,
                    response: Response) -> CaseOpened:
    """Complaint intake: open a case, usually with its `complaint_received` event."""
    run_id = await create_case(state.temporal, case, state.settings.task_queue,
                               webhooks=state.settings.webhooks_configured, by=grant.holder,
                               secret=state.secret)
    log.info("case opened", case_id=case.case_id, by=grant.name or grant.role)
    url = f"/cases/{case.case_id}"
    response.headers["Location"] = url
    return CaseOpened(case_id=case.case_id, workflow_id=case.case_id, run_id=run_id, url=url)


@router.post("/cases/{case_id}/events", response_model=CaseStatus,
             responses=responses(401, 403, 404, 409, 422, 503))
async def send(case_id: CaseId, event: Annotated[Event, Body()], grant: Anyone,
               state: Engine) -> CaseStatus:
    """Send an event to a case; the answer is the case's new status, or why the case
    refused it (409: its stage and the events it accepts now)."""
    if grant.role == "viewer":
        raise ApiError(403, "the viewer role may not send events")
    if grant.role == "controller":
        if event.type not in CONTROLLER_EVENTS:
            raise ApiError(403, f"a controller may send only {', '.join(CONTROLLER_EVENTS)}"
                                f"; {event.type} is the authority's")
        await readable_case(state, grant, case_id)
    status = await deliver_event(state.temporal, case_id, event, by=grant.holder,
                                 role=grant.role)
    log.info("event applied", case_id=case_id, event_type=event.type,
             by=grant.name or grant.role, stage=status.stage)
    return status


@router.get("/cases/{case_id}", response_model=CaseStatus,
            responses=responses(401, 403, 404, 422, 503))
async def show(case_id: CaseId, grant: Anyone, state: Engine) -> CaseStatus:
    """The case: stage, deadlines with their explanations, timeline, sanction figures."""
    return await readable_case(state, grant, case_id)


@router.get("/cases", response_model=CaseList, responses=responses(401, 403, 422, 503))
async def cases(
    grant: Anyone,
    state: Engine,
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
    search attributes), a page at a time. A controller sees only its own cases, found by
    the keyed hash of its name."""
    due = None if due_before is None else read_moment("query.due_before", due_before)
    key = (controller_hash(grant.controller or "", state.secret)
           if grant.role == "controller" else None)
    found = await list_cases(state.temporal, stage=stage, procedure=procedure,
                             due_before=due, limit=limit + 1, controller_key=key,
                             cursor=cursor)
    page = found[:limit]
    more = cursor_of(page[-1]) if len(found) > limit else None
    unkeyed = await unkeyed_cases(state.temporal) if key is not None else 0
    return CaseList(count=len(page), cases=page, next_cursor=more, unkeyed=unkeyed)


@router.get("/cases/{case_id}/calendar.ics", response_class=PlainResponse,
            responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}},
                             "description": "one all-day event per deadline"},
                       **responses(401, 403, 404, 422, 503)})
async def calendar(case_id: CaseId, grant: Anyone, state: Engine) -> PlainResponse:
    """The case's deadlines as an iCalendar file, reminders included."""
    status = await readable_case(state, grant, case_id)
    return PlainResponse(case_calendar(status), media_type="text/calendar; charset=utf-8",
                         headers={"Content-Disposition":
                                  f'attachment; filename="{case_id}.ics"'})
