"""What both simulation engines share: a case to simulate, its plan in case time, and what
it came to at its horizon. The Temporal engine (`engine.py`) and the in-process one
(`local.py`) take the same `SimCase` and give the same `SimOutcome`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from enforcement.case.models import CaseInput, CaseStatus, Event, ScriptedEvent
from enforcement.case.status_query import RejectedEvent
from enforcement.families import get_procedure, in_legal_order
from enforcement.law.timelimits import as_instant, end_of_day

# Cases start this much (case time) before their first event.
LEAD = timedelta(minutes=5)
# After the end of the horizon day: deadlines expiring at 24:00 that day are processed.
TAIL = timedelta(minutes=1)

Progress = Callable[[float], None]


@dataclass
class SimCase:
    """One case to simulate: its opening, its scripted events and when to stop looking."""

    case: CaseInput
    events: list[Event]
    horizon: date
    recorded: dict[int, date | datetime] = field(default_factory=dict)  # recording delays


@dataclass
class SimOutcome:
    """A simulated case at its horizon: its status (figures as of the horizon), the events it
    refused, and the scripted events dated after the horizon (never delivered)."""

    status: CaseStatus
    rejected: list[RejectedEvent] = field(default_factory=list)
    after_horizon: list[Event] = field(default_factory=list)
    horizon: date | None = None


def plan_case(sim: SimCase) -> tuple[list[ScriptedEvent], list[Event], datetime, datetime]:
    """The events to deliver, each at the instant it is recorded (its date, unless the
    scenario gives a later recording), those recorded after the horizon, and the case-time
    instants at which the case starts and at which its simulation ends."""
    proc = get_procedure(sim.case.procedure)
    cal = proc.cal
    end = end_of_day(sim.horizon, cal) + TAIL
    opening = len(sim.case.events)
    every = [*sim.case.events, *sim.events]
    script = []
    for i, e in in_legal_order(every, proc):
        at = sim.recorded.get(i - opening) if i >= opening else None
        script.append(ScriptedEvent(at=as_instant(at if at is not None else e.date, cal),
                                    event=e))
    script.sort(key=lambda x: x.at)  # stable: same-instant events stay in legal order
    inside = [x for x in script if x.at < end]
    after = [x.event for x in script if x.at >= end]
    first = min((as_instant(x.event.date, cal) for x in inside), default=end)
    return inside, after, min(first, end) - LEAD, end
