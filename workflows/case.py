"""Temporal workflows for an enforcement case: `EnforcementCase` from the complaint to the
formal notice's expiry, and the `SanctionProcedure` child from referral to closure.

Both hold the case state and let the pure machine in `enforcement.case` decide; they only
wait (durable timers at each deadline's `expires_at`, moved by extensions and suspensions),
receive events, and hand the effects to activities.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from enforcement.case import SANCTION_STAGES, CaseState, EventRejected, Machine
    from enforcement.models import CaseInput, CaseStatus, EventInput, Notification, RegisterBatch
    from enforcement.procedures import Procedure

STAGE = SearchAttributeKey.for_keyword("EnforcementStage")
PROCEDURE = SearchAttributeKey.for_keyword("EnforcementProcedure")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
COUNTRY = SearchAttributeKey.for_keyword("ControllerCountry")
SEARCH_ATTRIBUTES = {"EnforcementStage": "Keyword", "EnforcementProcedure": "Keyword",
                     "NextDeadline": "Datetime", "ControllerCountry": "Keyword"}

ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=5))
REJECTED = "EventRejected"
# A write to the register takes milliseconds: a short timeout lets a worker that died
# mid-activity be replaced quickly. Delivery talks to outside servers and gets longer.
REGISTER_TIMEOUT = timedelta(seconds=10)
DELIVERY_TIMEOUT = timedelta(seconds=30)


def pure() -> contextlib.AbstractContextManager[None]:
    """Around calls into the pure case machine: it may load a year of public holidays from
    the `holidays` package (translation files read once per process), which the sandbox
    would otherwise refuse. The machine itself reads no clock and does no other I/O."""
    return workflow.unsafe.sandbox_unrestricted()


class CaseStart(BaseModel):
    """Workflow input: the case and a snapshot of its procedure's parameters, so that a case
    keeps the rules it was opened under for its whole life."""

    case: CaseInput
    procedure: Procedure
    search_attributes: bool = True
    clock_offset_seconds: float = Field(
        default=0.0, description="simulation only: case time = workflow time + offset, so a "
        "past timeline can be replayed on a server whose clock is today")


class SanctionStart(BaseModel):
    state: CaseState
    procedure: Procedure
    search_attributes: bool = True
    clock_offset_seconds: float = 0.0


class _CaseRunner:
    """What both workflows share: the machine, the event handlers and the wait loop."""

    def __init__(self) -> None:
        self.m: Machine | None = None
        self.dirty = False
        self.use_search_attributes = True
        self.forward_to: str | None = None
        self.hands_off = False  # the parent: sanction stages belong to the child
        self.held: list[EventInput] = []
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """The case's clock: the workflow's, shifted in simulations of past timelines."""
        return workflow.now() + self.offset

    @property
    def machine(self) -> Machine:
        if self.m is None:
            raise ApplicationError("the case is still starting; try again", type="NotReady")
        return self.m

    # --- events -----------------------------------------------------------------------------

    def _moving(self) -> bool:
        """Between reaching a sanction stage and the child taking the case over."""
        return (self.hands_off and self.forward_to is None and self.m is not None
                and self.m.s.stage in SANCTION_STAGES)

    def _validate(self, inp: EventInput) -> None:
        if self._moving():
            raise ApplicationError("the case is moving to the sanction stage; send it again",
                                   type="NotReady")
        if self.forward_to is not None:
            raise ApplicationError(
                f"case {inp.case_id} is at the sanction stage: send events to workflow "
                f"{self.forward_to}", type="Moved", non_retryable=True)
        try:
            with pure():
                self.machine.check(inp.event)
        except EventRejected as exc:
            raise ApplicationError(str(exc), type=REJECTED, non_retryable=True) from None

    def _apply(self, inp: EventInput) -> CaseStatus:
        m = self.machine
        try:
            with pure():
                m.apply(inp.event, self.now())
        except EventRejected as exc:
            raise ApplicationError(str(exc), type=REJECTED, non_retryable=True) from None
        self.dirty = True
        with pure():
            return m.status(self.now())

    async def _signal(self, inp: EventInput) -> None:
        if self._moving():
            self.held.append(inp)  # forwarded once the child has started
            return
        if self.forward_to is not None:
            await workflow.get_external_workflow_handle(self.forward_to).signal("event", inp)
            return
        try:
            self._validate(inp)
            self._apply(inp)
        except ApplicationError as exc:
            workflow.logger.warning("event rejected", extra={
                "case_id": inp.case_id, "event_type": inp.event.type, "reason": str(exc)})

    # --- effects and time --------------------------------------------------------------------

    async def flush(self) -> None:
        m = self.machine
        fx = m.take_effects()
        if fx.register:
            await workflow.execute_activity(
                "register.record", RegisterBatch(case_id=m.s.case_id, entries=fx.register),
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=ACTIVITY_RETRY,
                result_type=int)
        if fx.notifications:
            await asyncio.gather(*(self._deliver(n) for n in fx.notifications))
        if self.use_search_attributes:
            nxt = m.next_deadline()
            updates: list[SearchAttributeUpdate[Any]] = [
                STAGE.value_set(m.s.stage), PROCEDURE.value_set(m.s.procedure),
                COUNTRY.value_set(m.s.controller.country),
                NEXT_DEADLINE.value_set(nxt) if nxt else NEXT_DEADLINE.value_unset(),
            ]
            workflow.upsert_search_attributes(updates)

    async def _deliver(self, n: Notification) -> None:
        await workflow.execute_activity(
            "notify.deliver", n, start_to_close_timeout=DELIVERY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY, result_type=bool)

    async def wait_for_change(self) -> None:
        """Sleep until the next deadline or reminder, or until an event arrives."""
        m = self.machine
        wake = m.next_wake()
        if wake is None:
            await workflow.wait_condition(lambda: self.dirty)
        else:
            seconds = (wake - self.now()).total_seconds()
            if seconds > 0:
                with contextlib.suppress(TimeoutError):  # the deadline or reminder is due
                    await workflow.wait_condition(lambda: self.dirty,
                                                  timeout=timedelta(seconds=seconds))
        self.dirty = False
        with pure():
            m.advance(self.now())

    async def run_until(self, done: Callable[[], bool] | None) -> None:
        m = self.machine
        while True:
            await self.flush()
            if m.fx:
                continue  # events arrived while the effects were being carried out
            if m.s.status == "closed" or (done is not None and done()):
                return
            await self.wait_for_change()


@workflow.defn
class SanctionProcedure(_CaseRunner):
    """Referral to the sanctioning committee through decision, penalty and liquidation."""

    @workflow.run
    async def run(self, start: SanctionStart) -> CaseState:
        self.use_search_attributes = start.search_attributes
        self.offset = timedelta(seconds=start.clock_offset_seconds)
        self.m = Machine(start.state, start.procedure)
        self.m.s.workflow_id = workflow.info().workflow_id
        with pure():
            self.m.advance(self.now())
        await self.run_until(None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.flush()
        return self.m.s

    @workflow.update(name="event")
    async def event(self, inp: EventInput) -> CaseStatus:
        return self._apply(inp)

    @event.validator
    def _check_event(self, inp: EventInput) -> None:
        self._validate(inp)

    @workflow.signal(name="event")
    async def event_signal(self, inp: EventInput) -> None:
        await self._signal(inp)

    @workflow.query(name="status")
    def status(self) -> CaseStatus:
        with pure():
            return self.machine.status(self.now())


@workflow.defn
class EnforcementCase(_CaseRunner):
    """A case from the complaint to its closure; hands the sanction stage to a child."""

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        self.hands_off = True
        self.use_search_attributes = start.search_attributes
        self.offset = timedelta(seconds=start.clock_offset_seconds)
        now = self.now()
        with pure():
            m = self.m = Machine.open(start.case, start.procedure, now)
        m.s.workflow_id = workflow.info().workflow_id
        for ev in start.case.events:
            try:
                with pure():
                    m.apply(ev, now)
            except EventRejected as exc:
                workflow.logger.warning("opening event rejected", extra={
                    "case_id": m.s.case_id, "event_type": ev.type, "reason": str(exc)})
        with pure():
            m.advance(now)
        await self.run_until(lambda: m.s.stage in SANCTION_STAGES)
        if m.s.stage in SANCTION_STAGES:
            child_id = f"{m.s.case_id}:sanction"
            handle = await workflow.start_child_workflow(
                SanctionProcedure.run,
                SanctionStart(state=m.s, procedure=start.procedure,
                              search_attributes=start.search_attributes,
                              clock_offset_seconds=start.clock_offset_seconds),
                id=child_id)
            self.forward_to = child_id
            m.s.workflow_id = child_id
            for held in self.held:
                await handle.signal("event", held)
            self.held.clear()
            m.s = await handle
            m.s.workflow_id = workflow.info().workflow_id
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.flush()
        with pure():
            return m.status(self.now())

    @workflow.update(name="event")
    async def event(self, inp: EventInput) -> CaseStatus:
        return self._apply(inp)

    @event.validator
    def _check_event(self, inp: EventInput) -> None:
        self._validate(inp)

    @workflow.signal(name="event")
    async def event_signal(self, inp: EventInput) -> None:
        await self._signal(inp)

    @workflow.query(name="status")
    def status(self) -> CaseStatus:
        with pure():
            return self.machine.status(self.now())
