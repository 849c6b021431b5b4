"""Runs cases through the real workflows on Temporal's time-skipping server.

Every event, the opening ones included, travels in the case's script (`CaseStart.script`):
the case workflow applies it at its instant exactly as it would the signal it stands for, so
a refused event is recorded by the case (its status query lists it) instead of being lost,
and an event after the referral goes to the sanction child with the rest of the script.
Notifications are recorded in the register with the transition that produced them and sent
to no one (`CaseStart.deliver`).

Cases are aligned on their horizons: each case's clock is offset so that the
end of its horizon day falls at the same server instant for every case, and the server's
virtual time is driven there in steps of a week (the test service's sleep, with a deadline
long enough for hundreds of cases; the steps feed the progress bar). Each case's status is
then read as of its own horizon: the `status` query's `as_of` argument brings the daily
penalty of an open case up to that day, whatever the case's last workflow task was.

Nothing here computes a legal date: the workflows do, with the time-limit core.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from enforcement.case.models import CaseStatus, Event
from enforcement.case.status_query import CaseView, StatusRequest
from enforcement.families import get_procedure
from enforcement.ops.temporal import binary
from enforcement.privacy.codec import PLAIN_CONVERTER
from enforcement.simulation.model import Progress, SimCase, SimOutcome, plan_case
from workflows.case import CaseStart, EnforcementCase, SanctionProcedure

if TYPE_CHECKING:
    from activities.register import Register

# Virtual time is driven in steps of at most this much (each step feeds the progress bar);
# one step may take this long in real time.
STEP = timedelta(days=7)
SKIP_TIMEOUT = timedelta(hours=1)
QUERY_CONCURRENCY = 32
# Register writes and notifications: a few threads (SQLite takes one writer at a time; a
# started activity waiting for a thread would run into its start-to-close timeout).
ACTIVITY_THREADS = 4
# Workflow activations in flight (one thread each). They share the GIL: many at once only
# stretch each one's wall time towards the SDK's 2 s deadlock detector on a busy machine.
WORKFLOW_TASKS = 8
# The engine's workflow classes without the sandbox: every production worker and the test
# suite run them sandboxed (which is where non-determinism would show); the sandbox's
# per-activation cost is a third of a simulation's time (benchmarks/simulate.py).
RUNNER = UnsandboxedWorkflowRunner()

@dataclass
class _Started:
    sim: SimCase
    handle: WorkflowHandle[EnforcementCase, CaseStatus]
    after_horizon: list[Event]


@dataclass(frozen=True)
class Effects:
    """What simulated cases carry out: `record` writes the register (False: nothing at all,
    for a register nobody keeps), `deliver` sends notifications through the worker's
    `notify.deliver` (False: they are recorded in the register, sent to no one)."""

    record: bool = True
    deliver: bool = True


async def _start(client: Client, task_queue: str, sim: SimCase, end_server: datetime,
                 prefix: str, effects: Effects) -> _Started:
    proc = get_procedure(sim.case.procedure)
    inside, after, begin, end = plan_case(sim)
    offset = (end - end_server).total_seconds()
    case = sim.case.model_copy(update={"case_id": f"{prefix}{sim.case.case_id}", "events": []})
    script = inside
    handle = await client.start_workflow(
        EnforcementCase.run,
        CaseStart(case=case, procedure=proc, search_attributes=False,
                  clock_offset_seconds=offset, deliver=effects.deliver,
                  record=effects.record, script=script, starts_at=begin, ends_at=end),
        id=case.case_id, task_queue=task_queue)
    return _Started(sim, handle, after)


async def _read(client: Client, s: _Started) -> SimOutcome:
    req = StatusRequest(as_of=s.sim.horizon, rejections=True)
    view: CaseView = await s.handle.query("status", req, result_type=CaseView)
    rejected = list(view.rejected_events)
    referrals = sum(1 for t in view.timeline
                    if t.kind == "outcome" and t.name == "referred_to_sanction")
    if referrals > 1:
        # referred again after a referral taken back: each sanction-stage workflow (one id,
        # a run each) refused its own events; the last one may still hold the case
        runs = [e.child_workflow_execution_started_event_attributes.workflow_execution.run_id
                async for e in s.handle.fetch_history_events()
                if e.HasField("child_workflow_execution_started_event_attributes")]
        child_id = f"{s.handle.id}:sanction"
        for run_id in runs:
            child = client.get_workflow_handle(child_id, run_id=run_id)
            cv = await child.query("status", req, result_type=CaseView)
            rejected += cv.rejected_events
            if view.workflow_id == child_id and run_id == runs[-1]:
                view = cv
    elif view.workflow_id and view.workflow_id != s.handle.id:
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
                    prefix: str | None = None, progress: Progress | None = None,
                    effects: Effects = Effects()) -> list[SimOutcome]:
    """Run every case to the end of its horizon day in one stretch of virtual time; the
    outcomes in the order of `cases`. Workflow ids are the case ids behind `prefix`."""
    client = env.client
    prefix = f"sim-{uuid.uuid4().hex[:8]}-" if prefix is None else prefix
    spans = []
    for sim in cases:
        _, _, start, end = plan_case(sim)
        spans.append(end - start)
    longest = max(spans, default=timedelta(0))
    server_now = await env.get_current_time()
    end_server = server_now + longest
    started = []
    for i, sim in enumerate(cases):
        started.append(await _start(client, task_queue, sim, end_server, f"{prefix}{i}-"
                                    if len(cases) > 1 else prefix, effects))
    gate = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def taken_up(s: _Started) -> None:
        async with gate:
            await s.handle.query("status", StatusRequest(), result_type=CaseView)

    # Every case takes its first step, which sets its clock (`starts_at` against the
    # workflow's now), before virtual time moves: a first task run after the server had
    # skipped ahead would shift the case's whole timeline later (a guard: in a batch of 262
    # the last first tasks ran within 2 s of the start).
    await asyncio.gather(*(taken_up(s) for s in started))
    done = timedelta(0)
    while done < longest:
        step = min(STEP, longest - done)
        await skip(env, step)
        done += step
        if progress is not None:
            progress(done / longest)
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


@dataclass
class Simulator:
    env: WorkflowEnvironment
    task_queue: str
    register: Register | None

    @property
    def effects(self) -> Effects:
        """Notifications are never sent; the register is written only when it is kept."""
        return Effects(record=self.register is not None, deliver=False)

    async def run(self, cases: list[SimCase], progress: Progress | None = None
                  ) -> list[SimOutcome]:
        return await run_cases(self.env, self.task_queue, cases, progress=progress,
                               effects=self.effects)


@asynccontextmanager
async def simulator(register_url: str | None = None, cases_hint: int = 100
                    ) -> AsyncIterator[Simulator]:
    """A time-skipping server (the packaged binary, nothing downloaded) and a worker with the
    engine's workflows, in this process. With `register_url`, the simulated cases write
    their register there (notifications recorded, never sent); without, nothing is written:
    the report comes from the cases' status, and a register nobody keeps is not worth the
    activities (two in three of a simulation's workflow tasks, benchmarks/simulate.py)."""
    register: Register | None = None
    if register_url is not None:
        from activities.register import Register  # SQLAlchemy only when a register is kept
        from activities.register_db import make_engine, migrate
        migrate(register_url)
        register = Register(make_engine(register_url))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=PLAIN_CONVERTER, runtime=quiet_runtime(),
        test_server_existing_path=binary("temporal-test-server"))
    task_queue = f"sim-{uuid.uuid4().hex[:8]}"
    try:
        with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
            async with Worker(
                    env.client, task_queue=task_queue,
                    workflows=[EnforcementCase, SanctionProcedure],
                    # no notify.deliver: simulated cases never mail or call anyone
                    activities=[register.record] if register is not None else [],
                    activity_executor=executor, workflow_runner=RUNNER,
                    # two workflows per case, all kept in memory: no replays
                    max_cached_workflows=max(1000, 2 * cases_hint + 100),
                    max_concurrent_activities=ACTIVITY_THREADS,
                    max_concurrent_workflow_tasks=WORKFLOW_TASKS):
                yield Simulator(env, task_queue, register)
    finally:
        await env.shutdown()
        if register is not None:
            register.engine.dispose()
