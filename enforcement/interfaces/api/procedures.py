"""The procedure routes: the parameter sets, and the deadline calculator (`enforce
deadline` of the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from enforcement.case.models import DAY_PATTERN, INSTANT_PATTERN, PERIOD_PATTERN
from enforcement.case.procedure import Procedure, ProcedureError
from enforcement.families import all_procedures, get_procedure
from enforcement.interfaces.api.access import Anyone
from enforcement.interfaces.api.errors import read_moment, responses
from enforcement.law.calendars import CalendarError
from enforcement.law.periods import PeriodError
from enforcement.law.timelimits import TimeLimitError, compute_deadline, year_problem
from enforcement.ops.temporal import InvalidInput

router = APIRouter(tags=["procedures"])


class DeadlineAnswer(BaseModel):
    procedure: str
    rules: str
    calendar: str
    trigger: str
    period: str
    due: str
    expires_at: datetime
    explanation: list[str]


@router.get("/procedures", response_model=list[Procedure], responses=responses(401, 403))
async def procedures(grant: Anyone) -> list[Procedure]:
    """Every procedure parameter set: periods, calendar, reminders, caps."""
    return list(all_procedures().values())


@router.get("/deadline", response_model=DeadlineAnswer, responses=responses(401, 403, 422))
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
    return compute(start, period, procedure)


def compute(start: str, period: str, procedure: str) -> DeadlineAnswer:
    """The calculator (the API route and the console's page): InvalidInput naming the
    field that is wrong. The lengths are the route's own limits (the console has no
    query validation of its own)."""
    for field, value, limit in (("start", start, 64), ("period", period, 64),
                                ("procedure", procedure, 100)):
        if len(value) > limit:
            raise InvalidInput(f"query.{field}", f"at most {limit} characters")
    trigger = read_moment("query.start", start)
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
