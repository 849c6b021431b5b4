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

import io
import pickle
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

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
    clock = _utc(begin)
    m = _opened(sim, proc, clock, register, case_id)
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


@dataclass
class _Driver:
    """The case workflow and its sanction-stage workflow, in turn: the shell `_drive` was,
    kept as data so that a run can stop at an instant and go on later (a batch's runs share
    their common start: `run_batch`)."""

    m: Machine
    proc: Procedure
    parent: _Shell
    child: _Shell | None = None
    handed: list[ScriptedEvent] = field(default_factory=list)  # the script at the hand-off
    finished: bool = False

    @classmethod
    def start(cls, m: Machine, proc: Procedure, clock: datetime, end: datetime,
              script: list[ScriptedEvent], register: Register | None,
              rejected: list[RejectedEvent]) -> _Driver:
        d = cls(m, proc, _Shell(m, clock, end, script, register, hands_off=True,
                                rejected=rejected))
        if m.s.stage in m.HANDED_OFF:  # carried on from a sanction-stage workflow
            d.handed = d.parent.script
            d.child = _Shell(m, clock, end, list(d.handed), register, hands_off=False,
                             rejected=rejected)
        return d

    def run(self) -> _Shell:
        """On until the end, or until nothing is due before it: the shell whose machine
        holds the case then."""
        m, parent = self.m, self.parent
        while not self.finished:
            if self.child is None:
                if not parent.run_until(done=True):
                    return parent
                if m.s.status == "closed":
                    self.finished = True
                    break
                # the sanction stage: its own workflow, given the state and what is left
                self.handed = parent.script
                child = _Shell(type(m)(_passed(m.s), self.proc), parent.clock, parent.end,
                               list(self.handed), parent.register, hands_off=False,
                               rejected=parent.rejected)
                child.m.carry_effects = m.carry_effects
                child.m.advance(child.clock)
                self.child = child
            if not self.child.run_until(done=False):
                return self.child
            # back from the sanction stage (closed, or the referral taken back)
            m.s = _passed(self.child.m.s)
            parent.clock = self.child.clock
            parent.script = [x for x in self.handed if x.at > parent.clock]
            self.child = None
            if m.s.status == "closed" or m.s.stage in m.HANDED_OFF:
                self.finished = True
        return parent

    def resume(self, end: datetime, more: list[ScriptedEvent]) -> _Shell:
        """Go on to a later `end` with more scripted events, all at or after the instant the
        driver stopped at."""
        for shell in (self.parent, self.child):
            if shell is not None:
                shell.end = end
        if self.child is not None:
            self.child.script.extend(more)
            self.handed = [*self.handed, *more]
        else:
            self.parent.script.extend(more)
        return self.run()


def _drive(m: Machine, proc: Procedure, clock: datetime, end: datetime,
           script: list[ScriptedEvent], register: Register | None,
           rejected: list[RejectedEvent]) -> _Shell:
    """The case workflow and its sanction-stage workflow, in turn, until `end`: the shell
    whose machine holds the case then."""
    return _Driver.start(m, proc, clock, end, script, register, rejected).run()


def _opened(sim: SimCase, proc: Procedure, clock: datetime, register: Register | None,
            case_id: str | None) -> Machine:
    case = sim.case.model_copy(update={"case_id": case_id or sim.case.case_id, "events": []})
    m = machine_class(proc).open(case, proc, clock)
    m.carry_effects = register is not None
    m.advance(clock)
    return m


def _shared_until(run: list[ScriptedEvent], base: list[ScriptedEvent], end: datetime
                  ) -> datetime:
    """The instant up to which (excluded) `run` plays the same script as `base`."""
    for x, y in zip(run, base, strict=False):
        if x.at != y.at or x.event != y.event:
            return min(x.at, y.at, end)
    if len(run) != len(base):
        longer = run if len(run) > len(base) else base
        return min(longer[min(len(run), len(base))].at, end)
    return end


class _Pickler(pickle.Pickler):
    """Pickles a driver without its procedure (shared, never changed by a run)."""

    def __init__(self, file: io.BytesIO, proc: Procedure) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = {id(proc): "proc", id(proc.cal): "cal"}

    def persistent_id(self, obj: Any) -> str | None:
        return self.shared.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, proc: Procedure) -> None:
        super().__init__(file)
        self.shared = {"proc": proc, "cal": proc.cal}

    def persistent_load(self, pid: Any) -> Any:
        return self.shared[pid]


def _freeze(d: _Driver, proc: Procedure) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, proc).dump(d)
    return buf.getvalue()


def _thaw(frozen: bytes, proc: Procedure) -> _Driver:
    """A copy of the frozen driver of its own (unpickling is much quicker than a deep
    copy of the pydantic state)."""
    d = _Unpickler(io.BytesIO(frozen), proc).load()
    assert isinstance(d, _Driver)
    return d


def run_batch(base: SimCase, sims: list[SimCase]) -> list[SimOutcome]:
    """Runs that differ from `base` only after some instant (a batch's draws): their common
    start is simulated once, then each run goes on from a copy of it. The same outcomes as
    `run_case` on each: the driver stops only between wake-ups, where a workflow waits."""
    proc = get_procedure(base.case.procedure)
    b_inside, _, b_begin, b_end = plan_case(base)
    plans = [plan_case(sim) for sim in sims]
    shared = min((_shared_until(inside, b_inside, min(end, b_end))
                  for inside, _, begin, end in plans if begin == b_begin), default=None)
    if shared is None or shared <= b_begin or any(p[2] != b_begin for p in plans):
        return [run_case(sim) for sim in sims]
    clock = _utc(b_begin)
    start = _Driver.start(_opened(base, proc, clock, None, None), proc, clock, shared,
                          [x for x in b_inside if x.at < shared], None, [])
    start.run()
    frozen = _freeze(start, proc)
    out = []
    for sim, (inside, after, _, end) in zip(sims, plans, strict=True):
        d = _thaw(frozen, proc)
        reader = d.resume(end, [x for x in inside if x.at >= shared])
        out.append(_outcome(reader, sim.case.case_id, sim.horizon, d.parent.rejected, after))
    return out


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
