"""The in-process engine: each simulated case driven through the same case machine as the
workflows, in legal time, with no server.

The machine decides everything (`enforcement.case.machine`, the family's subclass); this
module only does what the workflow shell in `workflows/case.py` does around it, step for
step: open the case at its start instant, wait for the next deadline, reminder, family wait
or scripted event, advance the machine there, play the scripted events that are due as the
signals they stand for (checked, then applied; a refusal kept with the stage and the
reason), hand the case to the sanction stage and take it back, and carry out the effects
(the register, when one is kept; notifications are recorded with their transition, never
sent). Where the shell passes the state to its sanction-stage workflow and back, it goes
through the same data converter here. `tests/simulation/test_engines.py` runs every shipped
scenario and hundreds of generated ones through both engines and compares their output field
by field.

The case clock is the one a simulated workflow reads (`CaseStart.starts_at`): UTC, at each
wake-up the very instant it was set for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from enforcement.case.machine import CaseState, EventRejected, Machine
from enforcement.case.models import Event, RegisterBatch, ScriptedEvent
from enforcement.case.procedure import Procedure
from enforcement.case.status_query import RejectedEvent
from enforcement.families import get_procedure, in_legal_order, machine_class
from enforcement.law.timelimits import as_instant, end_of_day
from enforcement.privacy.codec import PLAIN_CONVERTER
from enforcement.simulation.model import TAIL, SimCase, SimOutcome, plan_case

if TYPE_CHECKING:
    from activities.register import Register


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def _passed(state: CaseState) -> CaseState:
    """The state as the other workflow receives it: through the engine's data converter."""
    conv = PLAIN_CONVERTER.payload_converter
    out = conv.from_payloads(conv.to_payloads([state]), [CaseState])[0]
    assert isinstance(out, CaseState)
    return out


@dataclass
class _Shell:
    """One workflow's part of a case: the parent (`hands_off`) or its sanction stage."""

    m: Machine
    clock: datetime
    end: datetime
    script: list[ScriptedEvent]
    register: Register | None
    hands_off: bool
    rejected: list[RejectedEvent] = field(default_factory=list)

    def moving(self) -> bool:
        return self.hands_off and self.m.s.stage in self.m.HANDED_OFF

    def flush(self) -> None:
        fx = self.m.take_effects()
        if self.register is None:
            return
        entries = [*fx.register, *(n.entry() for n in fx.notifications)]
        if entries:
            self.register.record(RegisterBatch(case_id=self.m.s.case_id, entries=entries))

    def signal(self, ev: Event) -> None:
        m = self.m
        try:  # the workflow checks, then applies, which checks again: the same answer
            m.apply(ev, self.clock, None)
        except EventRejected as exc:
            self.rejected.append(RejectedEvent(
                date=ev.date.isoformat(), type=ev.type, id=ev.id, stage=m.s.stage,
                at=self.clock, reason=str(exc)))

    def play_script(self) -> None:
        while self.script and self.script[0].at <= self.clock and not self.moving():
            self.signal(self.script.pop(0).event)

    def wait_for_change(self) -> bool:
        """Move the clock to the next wake-up and act there; False when nothing is left to
        wait for before the end of the simulation (the workflow would sleep on)."""
        m = self.m
        wake = m.next_wake()
        if self.script and not self.moving():
            wake = self.script[0].at if wake is None else min(wake, self.script[0].at)
        if wake is None or wake >= self.end:
            return False
        if wake > self.clock:
            self.clock = _utc(wake)
        m.advance(self.clock)
        self.play_script()
        return True

    def run_until(self, done: bool) -> bool:
        """As the workflow's `run_until`: True when it returned (closed, or `done`), False
        when the simulation ended while it waited. `done`: stop at a stage change out of
        (sanction stage) or into (parent) the handed-off stages."""
        m = self.m
        while True:
            self.flush()
            if m.s.status == "closed":
                return True
            if (m.s.stage in m.HANDED_OFF) is done:
                return True
            if not self.wait_for_change():
                return False


def run_case(sim: SimCase, register: Register | None = None, case_id: str | None = None
             ) -> SimOutcome:
    """Simulate one case to the end of its horizon day. `case_id`: the id the case is kept
    under in the register (default: the scenario's)."""
    proc = get_procedure(sim.case.procedure)
    inside, after, begin, end = plan_case(sim)
    case = sim.case.model_copy(update={"case_id": case_id or sim.case.case_id, "events": []})
    clock = _utc(begin)
    m = machine_class(proc).open(case, proc, clock)
    m.carry_effects = register is not None
    m.advance(clock)
    rejected: list[RejectedEvent] = []
    reader = _drive(m, proc, clock, end, list(inside), register, rejected)
    return _outcome(reader, sim.case.case_id, sim.horizon, rejected, after)


def run_from(state: CaseState, proc: Procedure, now: datetime, events: list[Event],
             horizon: date) -> SimOutcome:
    """Carry a case on from its state at `now` (its workflow's, as the `state` query gives
    it; at the sanction stage, its sanction-stage workflow's) to the end of `horizon`, with
    `events` delivered at their dates. The state is not changed."""
    cls = machine_class(proc)
    m = cls(state.model_copy(deep=True), proc)
    m.carry_effects = False
    end = end_of_day(horizon, proc.cal) + TAIL
    script = sorted((ScriptedEvent(at=as_instant(e.date, proc.cal), event=e)
                     for _, e in in_legal_order(events, proc)), key=lambda x: x.at)
    rejected: list[RejectedEvent] = []
    clock = _utc(now)
    m.advance(clock)
    reader = _drive(m, proc, clock, end, [x for x in script if x.at < end], None, rejected)
    return _outcome(reader, state.case_id, horizon, rejected,
                    [x.event for x in script if x.at >= end])


def _drive(m: Machine, proc: Procedure, clock: datetime, end: datetime,
           script: list[ScriptedEvent], register: Register | None,
           rejected: list[RejectedEvent]) -> _Shell:
    """The case workflow and its sanction-stage workflow, in turn, until `end`: the shell
    whose machine holds the case then."""
    cls = type(m)
    parent = _Shell(m, clock, end, script, register, hands_off=True, rejected=rejected)
    at_sanction = m.s.stage in m.HANDED_OFF  # carried on from a sanction-stage workflow
    while True:
        if at_sanction:
            script = parent.script
            child = _Shell(m, clock, end, list(script), register, hands_off=False,
                           rejected=rejected)
            at_sanction = False
        else:
            if not parent.run_until(done=True) or m.s.status == "closed":
                return parent
            # the sanction stage: its own workflow, given the state and what is left to play
            script = parent.script
            child = _Shell(cls(_passed(m.s), proc), parent.clock, end, list(script),
                           register, hands_off=False, rejected=rejected)
            child.m.carry_effects = m.carry_effects
            child.m.advance(child.clock)
        if not child.run_until(done=False):
            return child
        # back from the sanction stage (closed, or the referral taken back)
        m.s = _passed(child.m.s)
        parent.clock = child.clock
        parent.script = [x for x in script if x.at > parent.clock]
        if m.s.status == "closed" or m.s.stage in m.HANDED_OFF:
            return parent


def _outcome(reader: _Shell, case_id: str, horizon: date, rejected: list[RejectedEvent],
             after: list[Event]) -> SimOutcome:
    """The case as its workflow's status query shows it at the end: as of the horizon day
    while open."""
    rm = reader.m
    now = reader.clock
    if rm.s.status == "open":
        now = as_instant(horizon, rm.cal)
    status = rm.status(now)
    status.case_id = case_id
    status.workflow_id = ""
    rejected.sort(key=lambda r: r.at)
    return SimOutcome(status, rejected, after, horizon)


def run_cases(cases: list[SimCase], register: Register | None = None,
              prefix: str = "") -> list[SimOutcome]:
    """Every case in turn; in the register, with `prefix`, each case's id is
    `<prefix><its position>-<case id>`, as the Temporal engine keeps them."""
    return [run_case(sim, register, f"{prefix}{i}-{sim.case.case_id}" if prefix else None)
            for i, sim in enumerate(cases)]
