"""The optional argument and the extended answer of a case workflow's `status` query.

Defined outside the workflow module so that the sandbox, which re-executes workflow modules
for every workflow instance, does not rebuild these pydantic models each time (this module
is passed through like the rest of `enforcement`).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from enforcement.case.models import CaseStatus


class RejectedEvent(BaseModel):
    """An event the case refused when it came as a signal (a scripted or fire-and-forget
    event): a signal cannot answer back, so the case keeps the refusal for its status query.
    Kept beside the case state, never in it nor in the register."""

    date: str = Field(description="the event's own date")
    type: str
    id: str | None = None
    stage: str = Field(description="the case's stage when the event arrived")
    at: datetime = Field(description="case time at which it arrived")
    reason: str


class StatusRequest(BaseModel):
    """Optional argument of the `status` query."""

    as_of: date | None = Field(
        default=None, description="an open case's penalty figures as of this day (case time; "
        "a simulation's horizon) instead of the workflow clock, which a query sees only as of "
        "the case's last workflow task")
    rejections: bool = Field(default=False, description="answer a CaseView: the status with "
                             "the events this workflow refused")


class CaseView(CaseStatus):
    """The status plus the events the workflow answering the query refused."""

    rejected_events: list[RejectedEvent] = Field(default_factory=list)
