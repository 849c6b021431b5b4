"""Runs cases through the real workflows on Temporal's time-skipping server.

Every event, the opening ones included, is delivered by an EventDriver workflow at its date,
as a signal, so a refused event is recorded by the case (its status query lists it) instead
of being lost. Cases are aligned on their horizons: each case's clock is offset so that the
end of its horizon day falls at the same server instant for every case, and the server's
virtual time is driven there in steps of a week (the test service's sleep, with a deadline
long enough for hundreds of cases; the steps feed the progress bar). Each case's status is
then read as of its own horizon: the `status` query's `as_of` argument brings the daily
penalty of an open case up to that day, whatever the case's last workflow task was.

Nothing here computes a legal date: the workflows do, with the time-limit core.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from temporalio import activity
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.register import Register
from activities.register_db import make_engine, migrate
from enforcement.models import CaseInput, CaseStatus, Event, Notification
from enforcement.procedures import get_procedure
from enforcement.status_query import CaseView, RejectedEvent, StatusRequest
from enforcement.temporal import binary
from enforcement.timelimits import as_instant, end_of_day
from workflows import workflow_runner
from workflows.case import CaseStart, EnforcementCase, SanctionProcedure
from workflows.driver import EventDriver, EventScript, ScriptedEvent

# Virtual time is driven in steps of at most this much (each step feeds the progress bar);
# one step may take this long in real time.
STEP = timedelta(days=7)
SKIP_TIMEOUT = timedelta(hours=1)
# Cases start this much (case time) before their first event, so the case's first workflow
# task has run before the driver's first signal reaches it.
LEAD = timedelta(minutes=5)
# After the end of the horizon day: deadlines expiring at 24:00 that day are processed.
TAIL = timedelta(minutes=1)
QUERY_CONCURRENCY = 32
# Register writes and notifications: a few threads (SQLite takes one writer at a time; a
# started activity waiting for a thread would run into its start-to-close timeout).
ACTIVITY_THREADS = 4
# Workflow activations in flight (one thread each). They share the GIL: many at once only
# stretch each one's wall time towards the SDK's 2 s deadlock detector on a busy machine.
WORKFLOW_TASKS = 8

Progress = Callable[[float], None]


@dataclass
class SimCase:
    """One case to simulate: its opening, its scripted events and when to stop looking."""

    case: CaseInput
    events: list[Event]
    horizon: date


@dataclass
class SimOutcome:
    """A simulated case at its horizon: its status (figures as of the horizon), the events it
    refused, and the scripted events dated after the horizon (never delivered)."""

    status: CaseStatus
    rejected: list[RejectedEvent] = field(default_factory=list)
    after_horizon: list[Event] = field(default_factory=list)
    horizon: date | None = None


@dataclass
class _Started:
    sim: SimCase
    handle: WorkflowHandle[EnforcementCase, CaseStatus]
    after_horizon: list[Event]


def _plan_case(sim: SimCase) -> tuple[list[Event], list[Event], datetime, datetime]:
    """The events to deliver (in order), those after the horizon, and the case-time instants
    at which the case starts and at which its simulation ends."""
    cal = get_procedure(sim.case.procedure).cal
    end = end_of_day(sim.horizon, cal) + TAIL
    events = sorted([*sim.case.events, *sim.events], key=lambda e: as_instant(e.date, cal))
    inside = [e for e in events if as_instant(e.date, cal) < end]
    after = [e for e in events if as_instant(e.date, cal) >= end]
    first = as_instant(inside[0].date, cal) if inside else end
    return inside, after, min(first, end) - LEAD, end


async def _start(client: Client, task_queue: str, sim: SimCase, end_server: datetime,
                 prefix: str) -> _Started:
    proc = get_procedure(sim.case.procedure)
    cal = proc.cal
    inside, after, _, end = _plan_case(sim)
    offset = (end - end_server).total_seconds()
    case = sim.case.model_copy(update={"case_id": f"{prefix}{sim.case.case_id}", "events": []})
    handle = await client.start_workflow(
        EnforcementCase.run,
        CaseStart(case=case, procedure=proc, search_attributes=False,
                  clock_offset_seconds=offset),
        id=case.case_id, task_queue=task_queue)
    script = EventScript(case_id=case.case_id, clock_offset_seconds=offset,
                         events=[ScriptedEvent(at=as_instant(e.date, cal), event=e)
                                 for e in inside])
    await client.start_workflow(EventDriver.run, script, id=f"{case.case_id}:driver",
                                task_queue=task_queue)
    return _Started(sim, handle, after)


async def _read(client: Client, s: _Started) -> SimOutcome:
    req = StatusRequest(as_of=s.sim.horizon, rejections=True)
    view: CaseView = await s.handle.query("status", req, result_type=CaseView)
    rejected = list(view.rejected_events)
    if view.workflow_id and view.workflow_id != s.handle.id:
        # still at the sanction stage: the child holds the case
        child = client.get_workflow_handle(view.workflow_id)
        view = await child.query("status", req, result_type=CaseView)
        rejected += view.rejected_events
    elif any(t.kind == "outcome" and t.name == "referred_to_sanction" for t in view.timeline):
        # closed after its sanction stage: the parent has the final state, the child the
        # events it refused meanwhile
        child = client.get_workflow_handle(f"{s.handle.id}:sanction")
        rejected += (await child.query("status", req, result_type=CaseView)).rejected_events
    status = CaseStatus.model_validate(view.model_dump(exclude={"rejected_events"}))
    status.case_id = s.sim.case.case_id
    status.workflow_id = ""
    rejected.sort(key=lambda r: r.at)
    return SimOutcome(status, rejected, s.after_horizon, s.sim.horizon)


async def run_cases(env: WorkflowEnvironment, task_queue: str, cases: list[SimCase],
                    prefix: str | None = None, progress: Progress | None = None
                    ) -> list[SimOutcome]:
    """Run every case to the end of its horizon day in one stretch of virtual time; the
    outcomes in the order of `cases`. Workflow ids are the case ids behind `prefix`."""
    client = env.client
    prefix = f"sim-{uuid.uuid4().hex[:8]}-" if prefix is None else prefix
    spans = []
    for sim in cases:
        _, _, start, end = _plan_case(sim)
        spans.append(end - start)
    longest = max(spans, default=timedelta(0))
    server_now = await env.get_current_time()
    end_server = server_now + longest
    started = []
    for i, sim in enumerate(cases):
        started.append(await _start(client, task_queue, sim, end_server, f"{prefix}{i}-"
                                    if len(cases) > 1 else prefix))
    done = timedelta(0)
    while done < longest:
        step = min(STEP, longest - done)
        await skip(env, step)
        done += step
        if progress is not None:
            progress(done / longest)
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def read(s: _Started) -> SimOutcome:
        async with gate:
            return await _read(client, s)

    return list(await asyncio.gather(*(read(s) for s in started)))


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """`env.sleep`, without its default RPC deadline of about 30 s: a week of virtual time
    with hundreds of cases in it takes longer than that to run."""
    req = SleepRequest()
    req.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(req, timeout=SKIP_TIMEOUT)


async def simulate(env: WorkflowEnvironment, task_queue: str, cases: list[SimCase],
                   prefix: str | None = None) -> list[CaseStatus]:
    """Run every case to its horizon; their statuses in order (see `run_cases`)."""
    return [o.status for o in await run_cases(env, task_queue, cases, prefix)]


# --- an engine of its own: the CLI and the benchmark ------------------------------------------

_RUNTIME: Runtime | None = None


def quiet_runtime() -> Runtime:
    """A Temporal runtime whose core logs only errors (the time-skipping server is older than
    what the core warns about)."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
            filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    return _RUNTIME


def _fast_sqlite(register: Register) -> None:
    """A throwaway register needs no durability: skip the fsyncs."""
    @sa_event.listens_for(register.engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        try:
            cur.execute("PRAGMA synchronous = OFF")
        finally:
            cur.close()


class _Recorder:
    """`notify.deliver` for simulations: notifications are recorded in the register and
    never sent: a simulated case must not mail or call anyone."""

    def __init__(self, register: Register) -> None:
        self.register = register

    @activity.defn(name="notify.deliver")
    def deliver(self, n: Notification) -> bool:
        return self.register.notify(n)


@dataclass
class Simulator:
    env: WorkflowEnvironment
    task_queue: str
    register: Register

    async def run(self, cases: list[SimCase], progress: Progress | None = None
                  ) -> list[SimOutcome]:
        return await run_cases(self.env, self.task_queue, cases, progress=progress)


@asynccontextmanager
async def simulator(register_url: str | None = None, cases_hint: int = 100
                    ) -> AsyncIterator[Simulator]:
    """A time-skipping server (the packaged binary, nothing downloaded) and a worker with the
    engine's workflows, in this process. The register is a throwaway SQLite file unless
    `register_url` names one to keep."""
    with tempfile.TemporaryDirectory(prefix="enforce-sim-") as tmp:
        url = register_url or f"sqlite:///{Path(tmp) / 'register.db'}"
        migrate(url)
        register = Register(make_engine(url))
        if register_url is None:
            _fast_sqlite(register)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter, runtime=quiet_runtime(),
            test_server_existing_path=binary("temporal-test-server"))
        task_queue = f"sim-{uuid.uuid4().hex[:8]}"
        try:
            with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
                async with Worker(
                        env.client, task_queue=task_queue,
                        workflows=[EnforcementCase, SanctionProcedure, EventDriver],
                        activities=[register.record, _Recorder(register).deliver],
                        activity_executor=executor, workflow_runner=workflow_runner(),
                        # three workflows per case, all kept in memory: no replays
                        max_cached_workflows=max(1000, 3 * cases_hint + 100),
                        max_concurrent_activities=ACTIVITY_THREADS,
                        max_concurrent_workflow_tasks=WORKFLOW_TASKS):
                    yield Simulator(env, task_queue, register)
        finally:
            await env.shutdown()
            register.engine.dispose()
