"""Runs cases through the real workflows on Temporal's time-skipping server.

Each case is started with a clock offset so that its first event falls at the server's
current time, and an EventDriver workflow delivers its events at their dates; then virtual
time is driven with one long `env.sleep` (design.md: this is what holds time exactly).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from enforcement.models import CaseInput, CaseStatus, Event
from enforcement.procedures import get_procedure
from enforcement.temporal import check_opening
from enforcement.timelimits import as_instant, end_of_day
from workflows.case import CaseStart, EnforcementCase
from workflows.driver import EventDriver, EventScript, ScriptedEvent


@dataclass
class SimCase:
    """One case to simulate: its opening, its scripted events and when to stop looking."""

    case: CaseInput
    events: list[Event]
    horizon: date


@dataclass
class _Started:
    sim: SimCase
    handle: WorkflowHandle[EnforcementCase, CaseStatus]
    offset: timedelta
    span: timedelta


async def _start(client: Client, task_queue: str, sim: SimCase, server_now: datetime,
                 prefix: str) -> _Started:
    proc = get_procedure(sim.case.procedure)
    cal = proc.cal
    check_opening(sim.case)
    dated = [as_instant(e.date, cal) for e in [*sim.case.events, *sim.events]]
    first = min(dated) if dated else as_instant(sim.horizon, cal)
    offset = first - server_now
    span = end_of_day(sim.horizon, cal) - first
    case = sim.case.model_copy(update={"case_id": f"{prefix}{sim.case.case_id}"})
    handle = await client.start_workflow(
        EnforcementCase.run,
        CaseStart(case=case, procedure=proc, search_attributes=False,
                  clock_offset_seconds=offset.total_seconds()),
        id=case.case_id, task_queue=task_queue)
    script = EventScript(case_id=case.case_id, clock_offset_seconds=offset.total_seconds(),
                         events=[ScriptedEvent(at=as_instant(e.date, cal), event=e)
                                 for e in sim.events])
    await client.start_workflow(EventDriver.run, script, id=f"{case.case_id}:driver",
                                task_queue=task_queue)
    return _Started(sim, handle, offset, span)


async def simulate(env: WorkflowEnvironment, task_queue: str, cases: list[SimCase],
                   prefix: str | None = None) -> list[CaseStatus]:
    """Run every case to its horizon in one stretch of virtual time; statuses in order.
    Workflow ids are the case ids behind `prefix` (unique per run unless given)."""
    client = env.client
    prefix = f"sim-{uuid.uuid4().hex[:8]}-" if prefix is None else prefix
    server_now = await env.get_current_time()
    started = [await _start(client, task_queue, sim, server_now, prefix) for sim in cases]
    longest = max((s.span for s in started), default=timedelta(0))
    await env.sleep(longest)
    out: list[CaseStatus] = []
    for s in started:
        status: CaseStatus = await s.handle.query("status", result_type=CaseStatus)
        if status.workflow_id and status.workflow_id != s.handle.id:
            child = client.get_workflow_handle(status.workflow_id)
            status = await child.query("status", result_type=CaseStatus)
        out.append(status.model_copy(update={"case_id": s.sim.case.case_id}))
    return out
