"""Temporal workflows for an enforcement case: `EnforcementCase` from the complaint to the
formal notice's expiry, and the `SanctionProcedure` child from referral to closure.

Both hold the case state and let the pure machine in `enforcement.case.machine` decide; they only
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
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from enforcement.case.machine import CaseState, EventRejected, Machine
    from enforcement.case.models import (
        CaseInput,
        CaseStatus,
        Event,
        EventInput,
        Notification,
        RegisterBatch,
        RegisterEntry,
        ScriptedEvent,
    )
    from enforcement.case.procedure import Procedure
    from enforcement.case.status_query import CaseView, RejectedEvent, StatusRequest
    from enforcement.families import in_legal_order, machine_class
    from enforcement.law.timelimits import as_instant
    from enforcement.ops.metrics import (
        DEADLINE_CORRECTIONS,
        DEADLINES_MISSED,
        DESCRIPTIONS,
        EVENT_REJECTIONS,
        NOTIFICATIONS_FAILED,
        REGISTER_REFUSALS,
    )

STAGE = SearchAttributeKey.for_keyword("EnforcementStage")
PROCEDURE = SearchAttributeKey.for_keyword("EnforcementProcedure")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
COUNTRY = SearchAttributeKey.for_keyword("ControllerCountry")
# A keyed hash of the controller's name (never the name: search attributes bypass the
# payload codec and erasure), so that a controller's cases are listed by one query.
CONTROLLER_KEY = SearchAttributeKey.for_keyword("ControllerKey")
SEARCH_ATTRIBUTES = {"EnforcementStage": "Keyword", "EnforcementProcedure": "Keyword",
                     "NextDeadline": "Datetime", "ControllerCountry": "Keyword",
                     "ControllerKey": "Keyword"}

ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=5))
REJECTED = "EventRejected"
UNRECORDED = "the register refused to record this case's entries:"
# A write to the register takes milliseconds: a short timeout lets a worker that died
# mid-activity be replaced quickly. Delivery talks to outside servers and gets longer.
REGISTER_TIMEOUT = timedelta(seconds=10)
DELIVERY_TIMEOUT = timedelta(seconds=30)
WEBHOOK_TIMEOUT = timedelta(minutes=2)  # a batch, to every endpoint, each post up to 60 s
# The batch heartbeats every 5 s while it posts: a worker that died mid-batch is replaced
# after this, not after the whole timeout.
WEBHOOK_HEARTBEAT = timedelta(seconds=20)
# Register tables whose entries are published as webhooks (activities/webhooks.py).
WEBHOOK_TABLES = ("events", "deadlines")
# Since this patch, deliveries (emails, webhooks) run beside the case instead of holding it:
# a mail server down for a day no longer delays the case's deadlines and events.
DELIVER_BESIDE = "deliveries-beside-the-case"
OPENING_IN_DATE_ORDER = "opening-events-in-date-order"
# Since this patch, deadlines are judged by the legal dates of events whenever they are
# recorded (a late record of a timely act meets a deadline already marked missed), rights
# end exercised or lapsed, and implausible dates are refused.
LEGAL_TIME = "legal-time"
# Since this patch, the engine's referral waits the procedure's grace for a late record, the
# regulator may undo it (the sanction-stage workflow then hands the case back), and events
# are kept so that the regulator can correct or withdraw one.
AMENDABLE = "grace-undo-corrections"
# Since this patch, a register write refused for good (a value the database cannot store)
# no longer fails the case: the entries are held, the status carries an alert, and each
# later write tries them again. Before it, both workflows failed and no deadline ran.
HOLD_REFUSED = "register-refusals-held"
# Since this patch, an event id sent by a controller is the controller's own (kept as
# "controller:<id>"): before it, a controller could take an id the authority would use, and
# the authority's event was refused as a conflicting repeat.
SCOPED_IDS = "role-scoped-event-ids"
# Since this patch, the event update answers with the event's number and the case's stage,
# not the whole status: each answer is kept in the history, where whole statuses made it
# grow with the square of the case's events (Temporal ends a workflow at 50 MB). Clients
# read the status with a query.
SMALL_ANSWER = "small-update-answer"
# Since this patch, search attributes are upserted only when one of them changes.
UPSERT_ON_CHANGE = "upsert-search-attributes-on-change"


class EventApplied(BaseModel):
    """What the event update answers: the status itself is read by a query."""

    seq: int
    stage: str
    status: str


class ActivityRetry(BaseModel):
    """The retry policy of the case's activities: exponential backoff, no attempt limit
    (a transient failure is retried until it succeeds; permanent ones are non-retryable)."""

    initial_interval_seconds: float = Field(default=1.0, gt=0)
    backoff_coefficient: float = Field(default=2.0, ge=1)
    maximum_interval_seconds: float = Field(default=300.0, gt=0)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=timedelta(seconds=max(self.maximum_interval_seconds,
                                                   self.initial_interval_seconds)))


def count(name: str, **attributes: str) -> None:
    """One more on an engine counter (enforcement/ops/metrics.py); nothing while replaying."""
    workflow.metric_meter().create_counter(name, DESCRIPTIONS[name]).add(1, attributes)


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
    webhooks: bool = Field(default=False, description="publish events and deadline changes "
                           "as webhooks (set when the starter's settings name endpoints)")
    retry: ActivityRetry = Field(default_factory=ActivityRetry)
    deliver: bool = Field(default=True, description="send notifications and webhooks; False "
                          "(simulations): record notifications in the register with the "
                          "transition that produced them, send nothing")
    record: bool = Field(default=True, description="False (a simulation whose register "
                         "nobody keeps): carry out no effect at all, the case's own state "
                         "and status are unchanged")
    script: list[ScriptedEvent] = Field(default_factory=list, description="simulation only: "
                                        "events applied at their instants of case time, as "
                                        "if signalled then")
    recorded_by: str | None = Field(default=None, max_length=200, description="who opened "
                                    "the case: the recorder of its opening events")
    controller_key: str | None = Field(default=None, max_length=64, description="the "
                                       "controller's keyed hash, set as the ControllerKey "
                                       "search attribute (None: the namespace lacks it)")
    starts_at: datetime | None = Field(default=None, description="simulation only: the "
                                       "case's clock at its first task, exactly; each "
                                       "wake-up then reads the instant it was set for, so "
                                       "a simulated timeline carries no trace of how long "
                                       "the server took to run each task")
    ends_at: datetime | None = Field(default=None, description="simulation only: the end of "
                                     "the simulated time (case clock); the case sets no "
                                     "wake-up past it, so a case simulated beside longer ones "
                                     "stays at its own horizon")


class SanctionStart(BaseModel):
    state: CaseState
    procedure: Procedure
    search_attributes: bool = True
    clock_offset_seconds: float = 0.0
    webhooks: bool = False
    retry: ActivityRetry = Field(default_factory=ActivityRetry)
    deliver: bool = True
    record: bool = True
    script: list[ScriptedEvent] = Field(default_factory=list)
    controller_key: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class _CaseRunner:
    """What both workflows share: the machine, the event handlers and the wait loop."""

    def __init__(self) -> None:
        self.m: Machine | None = None
        self.dirty = False
        self.use_search_attributes = True
        self.controller_key: str | None = None
        self.shown: tuple[Any, ...] | None = None  # the search attributes last upserted
        self.forward_to: str | None = None
        self.hands_off = False  # the parent: sanction stages belong to the child
        self.held: list[EventInput] = []
        self.offset = timedelta(0)
        # A simulation's clock (CaseStart.starts_at): how late the last wake-up's task ran
        # after the instant it was set for, taken off the case's clock.
        self.exact = False
        self.lag = timedelta(0)
        self.rejected: list[RejectedEvent] = []  # refused signals, for the status query
        self.webhooks = False
        self.retry = ACTIVITY_RETRY
        self.sending: list[asyncio.Task[None]] = []  # deliveries running beside the case
        self.published: asyncio.Task[None] | None = None  # the last webhook batch
        self.deliver = True
        self.record = True
        self.script: list[ScriptedEvent] = []  # still to apply, by instant
        self.ends_at: datetime | None = None  # a simulation's end: no wake-up past it
        self.amendable = False  # workflow.patched(AMENDABLE), asked once at the start
        self.scoped_ids = False  # workflow.patched(SCOPED_IDS), asked once at the start

    def configure(self, start: CaseStart | SanctionStart) -> None:
        self.use_search_attributes = start.search_attributes
        self.controller_key = start.controller_key
        self.offset = timedelta(seconds=start.clock_offset_seconds)
        if start.starts_at is not None:
            self.exact = True
            self.offset = start.starts_at - workflow.now()
        self.webhooks = start.webhooks
        self.retry = start.retry.policy()
        self.deliver = start.deliver
        self.record = start.record
        self.script = sorted(start.script, key=lambda x: x.at)
        self.ends_at = start.ends_at

    def now(self) -> datetime:
        """The case's clock: the workflow's, shifted in simulations of past timelines (and
        there, at each wake-up, the very instant it was set for)."""
        return workflow.now() + self.offset - self.lag

    @property
    def machine(self) -> Machine:
        if self.m is None:
            raise ApplicationError("the case is still starting; try again", type="NotReady")
        return self.m

    # --- events -----------------------------------------------------------------------------

    def _moving(self) -> bool:
        """Between reaching a sanction stage and the child taking the case over."""
        return (self.hands_off and self.forward_to is None and self.m is not None
                and self.m.s.stage in self.m.HANDED_OFF)

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
                self.machine.check(self._keyed(inp), self.now())
        except EventRejected as exc:
            self._count_rejection(inp.event)
            raise ApplicationError(str(exc), type=REJECTED, non_retryable=True) from None

    def _keyed(self, inp: EventInput) -> Event:
        """The event under the id the case keeps it by: a controller's id is its own."""
        ev = inp.event
        if self.scoped_ids and inp.role == "controller" and ev.id is not None:
            return ev.model_copy(update={"id": f"controller:{ev.id}"})
        return ev

    def _apply(self, inp: EventInput) -> None:
        m = self.machine
        try:
            with pure():
                m.apply(self._keyed(inp), self.now(), inp.recorded_by)
        except EventRejected as exc:
            self._count_rejection(inp.event)
            raise ApplicationError(str(exc), type=REJECTED, non_retryable=True) from None
        self.dirty = True

    def _count_rejection(self, ev: Event) -> None:
        count(EVENT_REJECTIONS, event_type=ev.type,
              stage=self.m.s.stage if self.m is not None else "new")

    async def _signal(self, inp: EventInput) -> None:
        if self._moving():
            self.held.append(inp)  # forwarded once the child has started
            return
        if self.forward_to is not None:
            try:
                await workflow.get_external_workflow_handle(self.forward_to).signal(
                    "event", inp)
            except Exception:  # the sanction-stage workflow has just ended: judged here
                if not self.amendable:
                    raise
                self.held.append(inp)
            return
        try:
            self._validate(inp)
            self._apply(inp)
        except ApplicationError as exc:
            workflow.logger.warning("event rejected", extra={
                "case_id": inp.case_id, "event_type": inp.event.type, "reason": str(exc)})
            self._rejected(inp.event, exc.message)

    def _rejected(self, ev: Event, reason: str) -> None:
        self.rejected.append(RejectedEvent(
            date=ev.date.isoformat(), type=ev.type, id=ev.id,
            stage=self.m.s.stage if self.m is not None else "new", at=self.now(),
            reason=reason))

    def _status(self, req: StatusRequest | None) -> CaseStatus:
        m = self.machine
        now = self.now()
        if req is not None and req.as_of is not None and m.s.status == "open":
            now = as_instant(req.as_of, m.cal)
        with pure():
            status = m.status(now)
        if req is None or not req.rejections:
            return status
        return CaseView(**dict(status), rejected_events=list(self.rejected))

    # --- effects and time --------------------------------------------------------------------

    async def flush(self) -> None:
        """Carry out the effects of the last transitions. A simulation's clock stands still
        meanwhile: the register's activities take server time, not case time."""
        at = self.now()
        await self._flush()
        if self.exact:
            self.lag = workflow.now() + self.offset - at

    async def _flush(self) -> None:
        m = self.machine
        fx = m.take_effects()
        for e in fx.register:
            if e.table == "deadlines" and e.data.get("status") == "missed":
                count(DEADLINES_MISSED, deadline=str(e.data["name"]), procedure=m.s.procedure)
            if e.table == "deadlines" and e.data.get("corrected_from"):
                count(DEADLINE_CORRECTIONS, deadline=str(e.data["name"]),
                      procedure=m.s.procedure)
        if not self.record:  # a simulation's throwaway register: nothing to carry out
            fx.register, fx.notifications = [], []
        entries = fx.register
        if not self.deliver:  # recorded with the transition, one activity for both
            entries = [*entries, *(n.entry() for n in fx.notifications)]
            fx.notifications = []
        if entries and workflow.patched(HOLD_REFUSED):
            await self._record(entries)
        elif entries:
            await workflow.execute_activity(
                "register.record", RegisterBatch(case_id=m.s.case_id, entries=entries),
                start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=self.retry,
                result_type=int)
        published = ([e for e in fx.register if e.table in WEBHOOK_TABLES]
                     if self.webhooks and self.deliver else [])
        if fx.notifications or published:
            if workflow.patched(DELIVER_BESIDE):
                self.sending = [t for t in self.sending if not t.done()]
                self.sending += [asyncio.create_task(self._deliver(n))
                                 for n in fx.notifications]
                if published:
                    self.published = asyncio.create_task(
                        self._publish(m.s.case_id, published, after=self.published))
                    self.sending.append(self.published)
            else:  # histories recorded before the patch: deliveries held the case
                await asyncio.gather(*(self._deliver(n) for n in fx.notifications))
        if self.use_search_attributes:
            nxt = m.next_deadline()
            shown = (m.s.stage, m.s.procedure, m.s.controller.country, nxt)
            if workflow.patched(UPSERT_ON_CHANGE) and shown == self.shown:
                return  # the same values: no visibility write
            self.shown = shown
            updates: list[SearchAttributeUpdate[Any]] = [
                STAGE.value_set(m.s.stage), PROCEDURE.value_set(m.s.procedure),
                COUNTRY.value_set(m.s.controller.country),
                NEXT_DEADLINE.value_set(nxt) if nxt else NEXT_DEADLINE.value_unset(),
            ]
            if self.controller_key:  # only cases started with one: older inputs have none
                updates.append(CONTROLLER_KEY.value_set(self.controller_key))
            workflow.upsert_search_attributes(updates)

    async def _record(self, entries: list[RegisterEntry]) -> None:
        """Write the entries, after any the register refused before (in their own batch,
        so that one entry it cannot take holds back nothing else). A refusal is for good
        (transient errors are retried by the activity): the entries are held in the state,
        the status says so, and an operator is alerted by the log and a metric."""
        s = self.machine.s
        held, s.unrecorded = s.unrecorded, []
        for batch in (held, entries):
            if not batch:
                continue
            try:
                await workflow.execute_activity(
                    "register.record", RegisterBatch(case_id=s.case_id, entries=batch),
                    start_to_close_timeout=REGISTER_TIMEOUT, retry_policy=self.retry,
                    result_type=int)
            except ActivityError as exc:
                s.unrecorded += batch
                reason = str(exc.cause.message if isinstance(exc.cause, ApplicationError)
                             else exc.cause or exc)
                count(REGISTER_REFUSALS, procedure=s.procedure)
                workflow.logger.error("register write refused; entries held", extra={
                    "case_id": s.case_id, "keys": [e.key for e in batch], "reason": reason})
                s.alerts = [a for a in s.alerts if not a.startswith(UNRECORDED)] + [
                    f"{UNRECORDED} {len(s.unrecorded)} entries held, first "
                    f"{s.unrecorded[0].key}: {reason}; the case goes on and each later "
                    "write tries them again"]
        if not s.unrecorded:
            s.alerts = [a for a in s.alerts if not a.startswith(UNRECORDED)]

    async def _deliver(self, n: Notification) -> None:
        try:
            await workflow.execute_activity(
                "notify.deliver", n, start_to_close_timeout=DELIVERY_TIMEOUT,
                retry_policy=self.retry, result_type=bool)
        except ActivityError as exc:  # permanent: recorded in the register with the reason
            count(NOTIFICATIONS_FAILED, template=n.template, party=n.party)
            workflow.logger.warning("notification not delivered", extra={
                "case_id": n.case_id, "key": n.key, "reason": str(exc.cause or exc)})

    async def _publish(self, case_id: str, entries: list[RegisterEntry],
                       after: asyncio.Task[None] | None) -> None:
        """One webhook batch, after the previous one: receivers get a case's changes in
        order."""
        if after is not None:
            await after
        try:
            await workflow.execute_activity(
                "webhook.publish", RegisterBatch(case_id=case_id, entries=entries),
                start_to_close_timeout=WEBHOOK_TIMEOUT, heartbeat_timeout=WEBHOOK_HEARTBEAT,
                retry_policy=self.retry,
                result_type=int)
        except ActivityError as exc:  # permanent: a receiver refused some events
            workflow.logger.warning("webhooks not delivered", extra={
                "case_id": case_id, "keys": [e.key for e in entries],
                "reason": str(exc.cause or exc)})

    async def drain(self) -> None:
        """Wait for the deliveries still running beside the case."""
        while pending := [t for t in self.sending if not t.done()]:
            await asyncio.gather(*pending)
        self.sending.clear()

    async def wait_for_change(self) -> None:
        """Sleep until the next deadline, reminder or scripted event, or until an event
        arrives."""
        m = self.machine
        wake = m.next_wake()
        if self.script and not self._moving():
            wake = self.script[0].at if wake is None else min(wake, self.script[0].at)
        if wake is not None and self.ends_at is not None and wake > self.ends_at:
            wake = None  # past the simulation's end: only an event can wake the case
        if wake is None:
            await workflow.wait_condition(lambda: self.dirty)
        else:
            # from the workflow's own clock: a lag taken off would add up from wake to wake
            seconds = (wake - (workflow.now() + self.offset)).total_seconds()
            if seconds > 0:
                try:
                    await workflow.wait_condition(lambda: self.dirty,
                                                  timeout=timedelta(seconds=seconds))
                except TimeoutError:  # the deadline, reminder or scripted event is due
                    if self.exact:  # a timer fires a task's duration late: not in case time
                        self.lag = workflow.now() + self.offset - wake
        self.dirty = False
        with pure():
            m.advance(self.now())
        await self.play_script()

    async def play_script(self) -> None:
        """Apply the scripted events that are due, as the signals they stand for; stop at
        the hand-off to the sanction child, which receives the rest."""
        while self.script and self.script[0].at <= self.now() and not self._moving():
            item = self.script.pop(0)
            await self._signal(EventInput(case_id=self.machine.s.case_id, event=item.event))

    async def run_until(self, done: Callable[[], bool] | None) -> None:
        m = self.machine
        while True:
            await self.flush()
            if m.fx:
                continue  # events arrived while the effects were being carried out
            if m.s.status == "closed" or (done is not None and done()):
                return
            await self.wait_for_change()

    # --- handlers: the same for both workflows ---------------------------------------------

    @workflow.update(name="event")
    async def event(self, inp: EventInput) -> CaseStatus | EventApplied:
        self._apply(inp)
        m = self.machine
        if workflow.patched(SMALL_ANSWER):
            return EventApplied(seq=m.s.event_count, stage=m.s.stage, status=m.s.status)
        with pure():
            return m.status(self.now())

    @event.validator
    def _check_event(self, inp: EventInput) -> None:
        self._validate(inp)

    @workflow.signal(name="event")
    async def event_signal(self, inp: EventInput) -> None:
        await self._signal(inp)

    @workflow.query(name="status")
    def status(self, req: StatusRequest | None = None) -> CaseStatus:
        return self._status(req)

    @workflow.query(name="state")
    def state(self) -> CaseState:
        """The whole state the machine holds (the forecast carries a case on from it);
        while the sanction-stage workflow holds the case, ask that one."""
        return self.machine.s


@workflow.defn
class SanctionProcedure(_CaseRunner):
    """Referral to the sanctioning committee through decision, penalty and liquidation."""

    @workflow.run
    async def run(self, start: SanctionStart) -> CaseState:
        self.configure(start)
        legal_time = workflow.patched(LEGAL_TIME)
        amendable = workflow.patched(AMENDABLE)
        self.scoped_ids = workflow.patched(SCOPED_IDS)
        with pure():  # the machine loads the procedure's calendar, maybe first in this process
            self.m = machine_class(start.procedure)(start.state, start.procedure, legal_time,
                                                    amendable)
            self.m.s.workflow_id = workflow.info().workflow_id
            self.m.advance(self.now())
        m = self.m
        # Until closed, or until the regulator takes the referral back (or a correction
        # does): the case then returns to the EnforcementCase, which goes on.
        await self.run_until(lambda: m.s.stage not in m.HANDED_OFF)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.flush()
        await self.drain()
        return self.m.s


@workflow.defn
class EnforcementCase(_CaseRunner):
    """A case from the complaint to its closure; hands the sanction stage to a child."""

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        self.hands_off = True
        self.configure(start)
        now = self.now()
        legal_time = workflow.patched(LEGAL_TIME)
        amendable = self.amendable = workflow.patched(AMENDABLE)
        self.scoped_ids = workflow.patched(SCOPED_IDS)
        with pure():
            m = self.m = machine_class(start.procedure).open(start.case, start.procedure, now,
                                                             legal_time, amendable)
        m.s.workflow_id = workflow.info().workflow_id
        # Before this patch, opening events were judged at the case's start, whatever
        # their dates: a deadline run out before a later-dated one showed as met.
        catch_up = workflow.patched(OPENING_IN_DATE_ORDER)
        opening = start.case.events
        if amendable:  # by legal date, same-instant events in stage order
            opening = [ev for _, ev in in_legal_order(opening, start.procedure)]
        for ev in opening:
            try:
                with pure():
                    m.apply_opening(ev, now, catch_up, start.recorded_by)
            except EventRejected as exc:
                self._count_rejection(ev)
                workflow.logger.warning("opening event rejected", extra={
                    "case_id": m.s.case_id, "event_type": ev.type, "reason": str(exc)})
                self._rejected(ev, str(exc))
        with pure():
            m.advance(now)
        while True:
            await self.run_until(lambda: m.s.stage in m.HANDED_OFF)
            if m.s.stage not in m.HANDED_OFF:
                break
            child_id = f"{m.s.case_id}:sanction"
            script = self.script
            handle = await workflow.start_child_workflow(
                SanctionProcedure.run,
                SanctionStart(state=m.s, procedure=start.procedure,
                              search_attributes=start.search_attributes,
                              clock_offset_seconds=start.clock_offset_seconds,
                              webhooks=start.webhooks, retry=start.retry,
                              controller_key=start.controller_key,
                              deliver=start.deliver, record=start.record,
                              script=script,
                              starts_at=self.now() if self.exact else None,
                              ends_at=self.ends_at),
                id=child_id)
            self.forward_to = child_id
            self.script = []  # the child plays the rest
            m.s.workflow_id = child_id
            for held in self.held:
                await handle.signal("event", held)
            self.held.clear()
            m.s = await handle
            m.s.workflow_id = workflow.info().workflow_id
            if amendable:
                # the referral was taken back, or the case closed: it goes on here, with
                # what is left to play and the events that reached the sanction-stage
                # workflow too late
                self.forward_to = None
                self.script = [x for x in script if x.at > self.now()]
                late, self.held = self.held, []
                for inp in late:
                    await self._signal(inp)
            if m.s.status == "closed" or m.s.stage in m.HANDED_OFF:
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.flush()
        await self.drain()
        with pure():
            return m.status(self.now())
