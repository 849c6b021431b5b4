"""The case machine shared by every procedure family: an event or the passing of time in,
the new case state and the effects to carry out (register rows, notifications) out.

Written once here: deadlines (opened, met, missed, extended, suspended, revived by a late
record), the timeline, the effects, all-or-nothing application, legal-time judging of event
dates, reminders, suspension, corrections and withdrawals, and the steps every family shares
(complaint, investigation, information requests, closure). A family (enforcement.families)
subclasses `Machine` with its stages, the events each accepts, its own events' handlers and
what the expiry of its deadlines leads to.

The workflows own the state and call these functions; they never decide anything else. No
clock reads and no I/O here: `now` is always passed in (the workflow's clock), so the same
code replays identically and simulates exactly.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from enforcement.case.models import (
    CORRECTIONS,
    CaseInput,
    CaseStatus,
    DeadlineRecord,
    Event,
    LoggedEvent,
    Notification,
    Party,
    RegisterEntry,
    StatusChange,
    TimelineEntry,
)
from enforcement.case.procedure import Procedure
from enforcement.law.periods import Period
from enforcement.law.timelimits import (
    Deadline,
    as_instant,
    compute_deadline,
    deadline_from_record,
    end_of_day,
    extend_deadline,
    local_date,
    parse_moment,
    suspend_deadline,
)

REMINDER_TIME = time(9, 0)

# Events every family's case accepts at any stage while open.
ANYTIME = ("case_suspended", "case_resumed", "extension_granted", "case_closed")
ENGINE = "engine"  # who records the engine's own steps
# How far after the case's clock an event may be dated: time zones and a clock a little
# behind, not an act that has not happened yet.
AHEAD = timedelta(days=1)


Replay = tuple["Machine", list[LoggedEvent], LoggedEvent]  # a correction's recomputation


class EventRejected(ValueError):
    """An event that does not fit the case; nothing was changed."""


class IdUse(BaseModel):
    """The event an id was first used for: a repeat must be that same event."""

    n: int
    type: str
    date: str
    digest: str


class CaseState(CaseStatus):
    """The workflow's whole state: the public status plus what the machine needs to go on."""

    # derived when the status is asked for (Machine.status), never kept in the state
    accepted: list[str] = Field(default_factory=list, exclude=True)

    complainant_ref: str | None = None
    complainant_email: str | None = None
    complainant_language: str = "fr"
    applied_ids: list[str] = Field(default_factory=list)
    event_count: int = 0
    reminders_sent: list[str] = Field(default_factory=list)
    suspended_since: str | None = None
    notice_extensions: int = 0
    injunction_period: str | None = None
    injunction_due: str | None = None
    compliance_date: str | None = None
    liquidation_cutoff: str | None = None
    opened_at: datetime | None = None
    # An automatic referral waiting for its grace (the formal notice ran out unanswered): it
    # becomes final at this instant unless a timely act is recorded before then.
    referral_due: datetime | None = None
    auto_referral: str | None = Field(default=None, description="the due date of the "
                                      "formal notice whose expiry made the engine refer "
                                      "the case (None: not referred by the engine)")
    referral_undone: bool = False
    # Every applied event, so that a correction can recompute the case (complete only for
    # cases opened since events are logged).
    log: list[LoggedEvent] = Field(default_factory=list)
    log_complete: bool = False
    opened_with: CaseInput | None = None
    id_uses: dict[str, IdUse] = Field(default_factory=dict)
    # What a family keeps of a case beyond the shared state (a notice's urgency, which rule
    # of a transitional provision applies), by name.
    family_data: dict[str, Any] = Field(default_factory=dict)
    # Register entries the register refused for good (the workflow shell holds them here,
    # so that they follow the case into its sanction-stage workflow and back).
    unrecorded: list[RegisterEntry] = Field(default_factory=list)

    def public(self) -> CaseStatus:
        """The public part, without re-validating it (it was valid as state): what it shares
        with the state is read, never changed (the sanction figures are copied, `status`
        brings them up to date)."""
        fields = {name: getattr(self, name) for name in CaseStatus.model_fields}
        fields["sanction"] = self.sanction.model_copy()
        return CaseStatus.model_construct(**fields)


@dataclass
class Effects:
    """What the workflow must carry out after a transition."""

    register: list[RegisterEntry] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.register or self.notifications)


def _iso(d: date | datetime) -> str:
    return d.isoformat()


class Machine:
    """Applies events and time to a case state under one procedure's parameters. A family
    subclasses it; the class attributes below are what a family declares."""

    FAMILY: ClassVar[str] = ""
    # The stages a case goes through, in procedure order ("closed" aside): the first is
    # where a case opens.
    STAGES: ClassVar[tuple[str, ...]] = ("new",)
    # Stages run by the second workflow (SanctionProcedure) once the case reaches them.
    HANDED_OFF: ClassVar[tuple[str, ...]] = ()
    # The events each stage accepts, besides ANYTIME and corrections.
    ACCEPTS: ClassVar[dict[str, tuple[str, ...]]] = {"new": (), "closed": ()}
    # The events that answer an act of the procedure, and the deadlines they meet, in the
    # order tried: such an event cannot be dated before the act that opened the deadline.
    ANSWERS: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The sentence a complaint's progress deadline starts its explanation with.
    COMPLAINANT_REMEDY: ClassVar[str] = ""
    # The periods every procedure file of the family gives, and its cut-over dates.
    REQUIRED_PERIODS: ClassVar[tuple[str, ...]] = ()
    REQUIRED_CUTOVERS: ClassVar[tuple[str, ...]] = ()
    REQUIRED_CAPS: ClassVar[tuple[str, ...]] = ()  # caps the file's [caps] may leave out
    # Deadlines counted by a period of another name (the file's), e.g. each notice's appeal.
    PERIOD_OF: ClassVar[dict[str, str]] = {}
    # Same-instant events are applied in the family's stage order: the order of ACCEPTS.
    EVENT_ORDER: ClassVar[dict[str, int]] = {}
    # What a case came to, as an analyst counts it across simulated runs (`category`), in
    # the order a chart shows them.
    CATEGORIES: ClassVar[tuple[str, ...]] = ("open", "closed")
    # What a regulator plans staff for (the forecast), by the timeline entries (events and
    # outcomes) that are one: hearings, decisions, referrals. Deadlines are counted apart.
    WORKLOAD: ClassVar[dict[str, tuple[str, ...]]] = {"hearings": (), "decisions": (),
                                                      "referrals": ()}
    # The stage a case is in after each timeline entry of that name (the Gantt chart's
    # stage bars; the state keeps only the current stage).
    STAGE_AFTER: ClassVar[dict[str, str]] = {"complaint_received": "complaint",
                                             "investigation_opened": "investigation",
                                             "case_closed": "closed"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.EVENT_ORDER = {t: i for i, t in enumerate(dict.fromkeys(
            t for types in cls.ACCEPTS.values() for t in types))}

    def __init__(self, state: CaseState, proc: Procedure, legal_time: bool = True,
                 amendable: bool = True) -> None:
        self.s = state
        self.p = proc
        self.cal = proc.cal
        self.fx = Effects()
        # Judge deadlines by the legal dates of events whenever they are recorded, rights
        # end exercised or lapsed, implausible dates are refused. False only for cases
        # whose recorded history predates it (the workflows ask workflow.patched()).
        self.legal_time = legal_time
        # An automatic referral waits for the procedure's grace, the regulator may undo it,
        # and events are logged so that they can be corrected or withdrawn. False only for
        # cases whose recorded history predates it (workflow.patched()).
        self.amendable = amendable and legal_time
        self._opening = False  # applying an event that came with the case's opening
        # the last correction's recomputation, from its check to its application
        self._replayed: tuple[tuple[int, int, int], Replay] | None = None
        self._by: str | None = None  # who records the event being applied
        self._event: tuple[str, int] = ("", 0)  # its type and number
        # the earliest event in the timeline, found incrementally (the list only grows)
        self._first: tuple[list[TimelineEntry] | None, int, TimelineEntry | None] = (
            None, 0, None)

    # Tests set this: each rollback is checked against a deep copy of the state.
    verify_rollback: ClassVar[bool] = False
    # False: build no register entries or notifications (a simulation whose register nobody
    # keeps); the state, the timeline included, is the same.
    carry_effects: bool = True

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def open(cls, inp: CaseInput, proc: Procedure, now: datetime,
             legal_time: bool = True, amendable: bool = True) -> Machine:
        state = CaseState(case_id=inp.case_id, procedure=proc.name, stage="new",
                          controller=inp.controller, subject=inp.subject,
                          complainant_ref=inp.complainant_ref,
                          complainant_email=inp.complainant_email,
                          complainant_language=inp.complainant_language, opened_at=now)
        m = cls(state, proc, legal_time, amendable)
        if m.amendable:
            state.log_complete = True
            state.opened_with = inp.model_copy(update={"events": []})
        m._register("cases", "opened", now, {
            "procedure": proc.name, "controller_name": inp.controller.name,
            "controller_country": inp.controller.country, "subject": inp.subject,
            "stage": "new", "status": "open"})
        return m

    @classmethod
    def category(cls, st: CaseStatus) -> str:
        """What the case came to, one of CATEGORIES: here, open or closed."""
        return "closed" if st.status == "closed" else "open"

    def take_effects(self) -> Effects:
        fx, self.fx = self.fx, Effects()
        return fx

    # --- helpers ----------------------------------------------------------------------------

    @property
    def abroad(self) -> bool:
        return self.s.controller.country != self.p.country

    def _register(self, table: str, step: str, at: datetime, data: dict[str, Any]) -> None:
        if not self.carry_effects:
            return
        self.fx.register.append(RegisterEntry(
            key=f"{self.s.case_id}:{step}", table=table,
            case_id=self.s.case_id, at=at, data=data))

    def _timeline(self, when: date | datetime | str, kind: str, name: str,
                  detail: str = "", recorded: tuple[datetime, str | None] | None = None,
                  seq: int | None = None) -> None:
        at, by = recorded if recorded is not None else (None, None)
        self.s.timeline.append(TimelineEntry(
            date=when if isinstance(when, str) else _iso(when),
            kind=kind, name=name, detail=detail, recorded_at=at, recorded_by=by, seq=seq))

    def _notify(self, step: str, parties: tuple[Party, ...], template: str, subject: str,
                at: datetime, data: dict[str, Any] | None = None) -> None:
        for party in parties:
            if party == "complainant" and not self.s.complainant_ref:
                continue
            if not self.carry_effects:
                self._timeline(at, "notification", template,
                               f"to the {party.replace('_', ' ')}")
                continue
            payload = {"case_id": self.s.case_id, "controller": self.s.controller.name,
                       "stage": self.s.stage, "procedure": self.p.name, **(data or {})}
            to, lang = None, "en"
            if party == "controller":
                to, lang = self.s.controller.email, self.s.controller.language
            elif party == "complainant":
                to, lang = self.s.complainant_email, self.s.complainant_language
            self.fx.notifications.append(Notification(
                key=f"{self.s.case_id}:{step}:{party}", case_id=self.s.case_id, party=party,
                template=template, subject=f"[{self.s.case_id}] {subject}", data=payload,
                at=at, to=to, language=lang))
            self._timeline(at, "notification", template, f"to the {party.replace('_', ' ')}")

    def _set_stage(self, stage: str, at: datetime) -> None:
        self.s.stage = stage
        self._register("cases", f"stage:{len(self.s.timeline)}:{stage}", at,
                       {"stage": stage, "status": self.s.status})

    def _close(self, outcome: str, when: date | datetime, at: datetime) -> None:
        for rec in self.s.deadlines:
            if rec.status == "pending":
                self._deadline_status(rec, "cancelled", at)
        self.s.status = "closed"
        self.s.stage = "closed"
        self.s.outcome = outcome
        self._timeline(when, "outcome", "case_closed", outcome)
        self._register("cases", "closed", at,
                       {"stage": "closed", "status": "closed", "outcome": outcome})

    # --- deadlines --------------------------------------------------------------------------

    def pending(self, name: str) -> DeadlineRecord | None:
        for rec in reversed(self.s.deadlines):
            if rec.name == name and rec.status == "pending":
                return rec
        return None

    def _record_deadline(self, rec: DeadlineRecord, at: datetime, step: str) -> None:
        data: dict[str, Any] = {
            "seq": rec.seq, "name": rec.name, "trigger_date": rec.trigger_date,
            "period": rec.period, "due": rec.due, "expires_at": rec.expires_at.isoformat(),
            "status": rec.status, "explanation": rec.explanation}
        if rec.history:  # a late record changed it: the row says from what, and why
            last = rec.history[-1]
            data |= {"corrected_from": last.status, "reason": last.reason,
                     "recorded_by": last.recorded_by}
        self._register("deadlines", f"deadline:{rec.seq}:{step}", at, data)

    def _open_deadline(self, name: str, trigger: date | datetime, period: str | Period,
                       at: datetime, preface: tuple[str, ...] = (),
                       own: bool = False) -> DeadlineRecord:
        """A deadline counted from `trigger`. `own`: the act set its period itself, so the
        file's period (and whether it is office practice) does not come into it."""
        dl = compute_deadline(trigger, period, self.cal, self.p.rules_for(self._param(name)))
        note = None if own else self.p.practice_note(self._param(name))
        return self._add_deadline(name, dl, at, (*preface, note) if note else preface)

    def _shorter(self, start: date | datetime, given: str | Period, least: str | Period,
                 rules: Any) -> bool:
        """Whether the period an act gives is shorter than a minimum the law sets: their
        lengths compared, before either end is moved off a holiday."""
        end = compute_deadline(start, given, self.cal, rules).raw_end
        floor = compute_deadline(start, least, self.cal, rules).raw_end
        return _instant(end, self.cal) < _instant(floor, self.cal)

    def _add_deadline(self, name: str, dl: Deadline, at: datetime,
                      preface: tuple[str, ...] = ()) -> DeadlineRecord:
        rec = DeadlineRecord(
            name=name, trigger_date=_iso(dl.trigger), period=dl.period, due=_iso(dl.due),
            expires_at=dl.expires_at, explanation=[*preface, *dl.explanation],
            seq=len(self.s.deadlines), raw_end=_iso(dl.raw_end), opened_at=at,
            rules=dl.rules)
        self.s.deadlines.append(rec)
        self._timeline(dl.trigger, "deadline", name, f"due {rec.due} ({dl.period})")
        self._record_deadline(rec, at, "pending")
        return rec

    def _deadline_status(self, rec: DeadlineRecord, status: str, at: datetime) -> None:
        rec.status = status  # type: ignore[assignment]
        self._record_deadline(rec, at, _again(rec, status))

    def _core(self, rec: DeadlineRecord) -> Deadline:
        return deadline_from_record(rec.trigger_date, rec.period, rec.raw_end, rec.due,
                                    rec.expires_at, rec.explanation,
                                    rec.rules or self.p.rules_for(self._param(rec.name)).name,
                                    self.cal)

    def _done(self, rec: DeadlineRecord) -> str:
        """What a deadline becomes when its act is done in time: a right is exercised."""
        return ("exercised" if self.legal_time and self.p.is_right(self._param(rec.name))
                else "met")

    def _param(self, deadline: str) -> str:
        """The procedure file's period a deadline is counted by."""
        return self.PERIOD_OF.get(deadline, deadline)

    def _meet(self, name: str, when: date | datetime, at: datetime) -> DeadlineRecord | None:
        """The deadline `name` met by an act dated `when`, judged by that legal date: a
        pending one unless the act came after its expiry, else (a late record) one its timer
        already marked missed or lapsed, whose change is kept in its history."""
        rec = self.pending(name)
        if rec is not None:
            if self.legal_time and as_instant(when, self.cal) >= rec.expires_at:
                return None  # done too late: its own timer marks it
            status = self._done(rec)
            self._deadline_status(rec, status, at)
            self._timeline(when, "deadline", name, f"{status} (was due {rec.due})")
            return rec
        rec = self._ran_out(name, when)
        if rec is not None:
            self._late_record(rec, when, at)
        return rec

    def _ran_out(self, name: str, when: date | datetime) -> DeadlineRecord | None:
        """The latest deadline `name` if its timer marked it missed or lapsed although an
        act dated `when` was in time for it (None without legal time)."""
        if not self.legal_time:
            return None
        rec = self._latest(name)
        if (rec is None or rec.status not in ("missed", "lapsed")
                or as_instant(when, self.cal) >= rec.expires_at):
            return None
        return rec

    def _late_record(self, rec: DeadlineRecord, when: date | datetime, at: datetime) -> None:
        """A timely act recorded after the deadline's timer ran out: the deadline is met (or
        exercised) after all."""
        old, new = rec.status, self._done(rec)
        self._revive(rec, new, when, at, f"it was in time (due {rec.due})",
                     f"{new} (was due {rec.due}; marked {old} before a late record)")

    def _revivable(self, name: str, when: date | datetime) -> DeadlineRecord | None:
        """A deadline whose timer ran out although an act dated `when` before its expiry
        (an extension, a suspension) stopped or moved it, while what the expiry led to can
        still be taken back: a formal notice only before the referral is final."""
        if not self.amendable:
            return None
        rec = self._ran_out(name, when)
        if rec is None or not self._may_revive(rec):
            return None
        return rec

    def _revive(self, rec: DeadlineRecord, to: str, when: date | datetime, at: datetime,
                why: str = "", detail: str = "") -> None:
        """Undo a timer's expiry that a late record of an earlier act shows was wrong: the
        change is appended (history, register, timeline), never rewritten, and the case
        handler told; what went out before stays as sent."""
        kind, n = self._event
        old = rec.status
        why = why or f"it came before the expiry ({rec.expires_at.isoformat()})"
        detail = detail or (f"{to}, not {old}: {kind} came before the expiry but was "
                            f"recorded after it")
        reason = (f"{kind} dated {_iso(when)} was recorded on {at.date().isoformat()}, after "
                  f"the deadline had been marked {old}; {why}")
        rec.history.append(StatusChange(status=old, to=to, recorded_at=at,
                                        recorded_by=self._by, reason=reason))
        rec.status = to  # type: ignore[assignment]
        self._record_deadline(rec, at, f"corrected:{n}")
        self._timeline(when, "deadline", rec.name, detail, (at, self._by))
        self._notify(f"deadline:{rec.seq}:corrected:{n}", ("case_handler",),
                     "deadline_corrected",
                     f"Deadline corrected: {rec.name.replace('_', ' ')} {to}, not {old}", at,
                     {"deadline": _dl(rec), "previous_status": old, "status": to,
                      "reason": reason})
        self._revived(rec)

    def next_deadline(self) -> datetime | None:
        pending = [r.expires_at for r in self.s.deadlines if r.status == "pending"]
        return min(pending) if pending else None

    # --- events -----------------------------------------------------------------------------

    def accepted(self) -> tuple[str, ...]:
        if self.s.status == "closed":
            return ()
        extra: tuple[str, ...] = ()
        if self.amendable:
            extra += self._also_accepted()
            if self.s.log_complete:
                extra += CORRECTIONS
        return (*self.ACCEPTS[self.s.stage], *ANYTIME, *extra)

    def _also_accepted(self) -> tuple[str, ...]:
        """Events a family accepts beyond its stage's (for a case that can be amended)."""
        return ()

    def check(self, ev: Event, now: datetime | None = None) -> None:
        """Raise EventRejected if `ev` does not fit; changes nothing. With `now` (the case's
        clock), also refuse a date that cannot be true."""
        if ev.id is not None and ev.id in self.s.applied_ids:
            self._check_repeat(ev)
            return
        if self.legal_time and now is not None:
            self._check_plausible(ev, now)
        if ev.type not in self.accepted():
            if self.s.status == "closed":
                raise EventRejected(f"{ev.type} rejected: the case is closed "
                                    f"({self.s.outcome}); it accepts no more events")
            raise EventRejected(
                f"{ev.type} does not fit the case at stage '{self.s.stage}'; accepted now: "
                f"{', '.join(self.accepted())}")
        getattr(self, f"_check_{ev.type}", lambda _e: None)(ev)

    def _check_plausible(self, ev: Event, now: datetime) -> None:
        """Refuse, naming the bound, an event dated before the case's first event, more than
        a day after the case's clock, or before the act it answers."""
        at, day = as_instant(ev.date, self.cal), local_date(ev.date, self.cal)
        today = local_date(now, self.cal)
        ahead = (at > now + AHEAD if isinstance(ev.date, datetime)
                 else (day - today).days > AHEAD.days)
        if ahead:
            raise EventRejected(
                f"{ev.type} rejected: dated {_iso(ev.date)}, more than a day after the case's "
                f"clock ({today.isoformat()}); an event is recorded once it has happened")
        first = self._first_event()
        if first is not None and at < as_instant(parse_moment(first.date), self.cal):
            raise EventRejected(
                f"{ev.type} rejected: dated {_iso(ev.date)}, before the case's first event "
                f"({first.name} of {first.date}); accepted: a date on or after it")
        for name in self.ANSWERS.get(ev.type, ()):
            rec = self.pending(name) or self._latest(name)
            if rec is None:
                continue
            opened = local_date(parse_moment(rec.trigger_date), self.cal)
            if day < opened:
                raise EventRejected(
                    f"{ev.type} rejected: dated {_iso(ev.date)}, before the act it answers "
                    f"(the {name.replace('_', ' ')} period runs from {opened.isoformat()})")
            break

    def _first_event(self) -> TimelineEntry | None:
        """The timeline's earliest event (the first given on a tie), looking only at the
        entries added since the last call: the check of each event stays constant-time."""
        timeline, seen, first = self._first
        if timeline is not self.s.timeline or seen > len(self.s.timeline):
            timeline, seen, first = self.s.timeline, 0, None
        at = None if first is None else as_instant(parse_moment(first.date), self.cal)
        for e in timeline[seen:]:
            if e.kind == "event":
                when = as_instant(parse_moment(e.date), self.cal)
                if at is None or when < at:
                    first, at = e, when
        self._first = (timeline, len(timeline), first)
        return first

    def _check_repeat(self, ev: Event) -> None:
        """An id already used may come again only with the same event (a harmless repeat,
        such as a retry); another event under it is refused, never dropped."""
        first = self.s.id_uses.get(ev.id or "") if self.amendable else None
        if first is not None and first.digest != _digest(ev):
            raise EventRejected(
                f"{ev.type} rejected: the id {ev.id!r} was already used by event {first.n} "
                f"({first.type} of {first.date}); an event may be sent again only unchanged, "
                f"a different one needs an id of its own")

    def _latest(self, name: str) -> DeadlineRecord | None:
        return next((r for r in reversed(self.s.deadlines) if r.name == name), None)

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """Whatever the block changes (state and pending effects) is undone if it raises."""
        saved, fx = _snapshot(self.s), self.fx
        whole = self.s.model_copy(deep=True) if self.verify_rollback else None
        self.fx = Effects(list(fx.register), list(fx.notifications))
        try:
            yield
        except Exception:
            self.s, self.fx = saved, fx
            if whole is not None and whole.model_dump() != saved.model_dump():
                raise AssertionError("the snapshot missed a change made in place") from None
            raise

    def apply(self, ev: Event, now: datetime, by: str | None = None) -> bool:
        """Apply an accepted event whole or not at all; False for a duplicate id. `by` is
        who records it (kept with the event, its register row and its timeline entry)."""
        if ev.id is not None and ev.id in self.s.applied_ids:
            self._check_repeat(ev)
            return False
        self.check(ev, now)
        with self._all_or_nothing():
            self._apply(ev, now, by)
        return True

    def apply_opening(self, ev: Event, now: datetime, catch_up: bool = True,
                      by: str | None = None) -> bool:
        self._opening = True
        try:
            return self._apply_opening(ev, now, catch_up, by)
        finally:
            self._opening = False

    def _apply_opening(self, ev: Event, now: datetime, catch_up: bool = True,
                       by: str | None = None) -> bool:
        """Apply an event that comes with the case's opening, possibly dated long before
        `now`: the deadlines that had expired by its date expire first, with their
        consequences (a formal notice unanswered by then has referred the case, and the
        event is judged at that stage). Reminders due before its date are past: marked
        sent, not sent. All or nothing, like `apply`."""
        if not catch_up:
            return self.apply(ev, now, by)
        with self._all_or_nothing():
            until = as_instant(ev.date, self.cal)  # a bare date: noon that day
            for at, rec, offset in self._reminders():
                if at <= until:
                    self.s.reminders_sent.append(self._reminder_key(rec, offset))
            for rec in list(self.s.deadlines):
                if rec.status == "pending" and rec.expires_at <= until:
                    self._expire(rec, now)
            self._catch_up(until, now)
            if ev.id is not None and ev.id in self.s.applied_ids:
                self._check_repeat(ev)
                return False
            self.check(ev, now)
            self._apply(ev, now, by)
        return True

    def _apply(self, ev: Event, now: datetime, by: str | None = None) -> None:
        self.s.event_count += 1
        n = self.s.event_count
        self._by, self._event = by, (ev.type, n)
        if ev.id is not None:
            self.s.applied_ids.append(ev.id)
            if self.amendable:
                self.s.id_uses[ev.id] = IdUse(n=n, type=ev.type, date=_iso(ev.date),
                                              digest=_digest(ev))
        if self.s.log_complete and ev.type not in CORRECTIONS:
            self.s.log.append(LoggedEvent(n=n, event=ev, recorded_at=now, recorded_by=by,
                                          opening=self._opening))
        fields = ev.model_dump(mode="json", exclude={"type", "date", "id"})
        self._register("events", f"event:{n}", now, {
            "seq": n, "type": ev.type, "date": _iso(ev.date), "event_id": ev.id,
            "fields": fields, "recorded_at": now.isoformat(), "recorded_by": by})
        self._timeline(ev.date, "event", ev.type, _summary(fields), (now, by), n)
        getattr(self, f"_on_{ev.type}", lambda _e, _n, _now: None)(ev, n, now)
        self.refresh_sanction(local_date(now, self.cal))

    def status(self, now: datetime) -> CaseStatus:
        """The public status, with penalty figures brought up to `now`; changes nothing."""
        pub = self.s.public()
        pub.next_deadline = self.next_deadline()
        pub.accepted = list(self.accepted())
        self._sanction_now(pub, now)
        return pub

    # --- what a family adds (each a no-op here) ---------------------------------------------

    def _sanction_now(self, pub: CaseStatus, now: datetime) -> None:
        """Bring the public sanction figures up to `now` (a penalty accruing by the day)."""

    def refresh_sanction(self, today: date) -> None:
        """Bring the state's sanction figures up to `today`, after each event and wake-up."""

    def _catch_up(self, until: datetime, now: datetime) -> None:
        """What becomes due at `until` besides deadlines and reminders (a family's own
        waits), when time passes or an opening event is dated after it."""

    def _wakes(self) -> list[datetime]:
        """The instants of a family's own waits, for `next_wake`."""
        return []

    def _on_expired(self, rec: DeadlineRecord, now: datetime) -> None:
        """What the expiry of a deadline leads to in the family (a referral, a penalty
        accruing); the expiry itself is recorded and notified by `_expire`."""

    def _may_revive(self, rec: DeadlineRecord) -> bool:
        """Whether what the expiry of `rec` led to can still be taken back."""
        return True

    def _revived(self, rec: DeadlineRecord) -> None:
        """A late record showed the expiry of `rec` was wrong: undo what waits on it."""

    def _check_extension(self, ev: Any) -> None:
        """A family's own limit on extending a deadline (raise EventRejected)."""

    def _extended(self, name: str) -> None:
        """A deadline of that name was extended."""

    # complaint and investigation

    def _on_complaint_received(self, ev: Any, n: int, now: datetime) -> None:
        if ev.complainant_ref:
            self.s.complainant_ref = ev.complainant_ref
        if not self.s.subject:
            self.s.subject = ev.subject
        self._set_stage("complaint", now)
        rec = self._open_deadline("complainant_progress", ev.date,
                                  self.p.period("complainant_progress"), now,
                                  (self.COMPLAINANT_REMEDY,) if self.COMPLAINANT_REMEDY else ())
        self._notify(f"event:{n}", ("complainant", "case_handler"), "complaint_received",
                     "Complaint received", now, {"deadline": _dl(rec)})

    def _on_investigation_opened(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("complainant_progress", ev.date, now)
        self._set_stage("investigation", now)
        self._notify(f"event:{n}", ("complainant",), "investigation_opened",
                     "Investigation opened", now, {"kind": ev.kind})

    def _on_information_requested(self, ev: Any, n: int, now: datetime) -> None:
        period = ev.period or self.p.period("information_response").text
        rec = self._open_deadline("information_response", ev.date, period, now,
                                  own=ev.period is not None)
        if self.s.stage in ("new", "complaint"):
            self._set_stage("investigation", now)
        self._notify(f"event:{n}", ("controller",), "information_requested",
                     f"Information requested: answer by {rec.due}", now, {"deadline": _dl(rec)})

    def _check_information_provided(self, ev: Any) -> None:
        if (self.pending("information_response") is None
                and self._ran_out("information_response", ev.date) is None):
            raise EventRejected("information_provided rejected: no information request is "
                                "pending")

    def _on_information_provided(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("information_response", ev.date, now)

    def _on_no_breach_found(self, ev: Any, n: int, now: datetime) -> None:
        self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                     "case_dismissed", "Case closed: no breach found", now)
        self._close("dismissed", ev.date, now)

    # anytime: extension, suspension, closure

    def _check_extension_granted(self, ev: Any) -> None:
        rec = self.pending(ev.deadline) or self._revivable(ev.deadline, ev.date)
        if rec is None:
            names = sorted({r.name for r in self.s.deadlines if r.status == "pending"})
            raise EventRejected(
                f"extension_granted rejected: no pending deadline named {ev.deadline!r}; "
                f"pending: {', '.join(names) or 'none'}")
        self._check_extension(ev)
        try:
            extend_deadline(self._core(rec), self.cal, period=ev.period, until=ev.until)
        except ValueError as exc:
            raise EventRejected(f"extension_granted rejected: {exc}") from None

    def _on_extension_granted(self, ev: Any, n: int, now: datetime) -> None:
        old = self.pending(ev.deadline)
        if old is None:  # granted before the expiry, recorded after it
            old = self._revivable(ev.deadline, ev.date)
            assert old is not None
            new = extend_deadline(self._core(old), self.cal, period=ev.period, until=ev.until)
            self._revive(old, "extended", ev.date, now)
        else:
            new = extend_deadline(self._core(old), self.cal, period=ev.period, until=ev.until)
            self._deadline_status(old, "extended", now)
        self._extended(ev.deadline)
        rec = self._add_deadline(old.name, new, now,
                                 (f"Extension granted on {_iso(ev.date)}.",))
        self._notify(f"event:{n}", ("controller",), "extension_granted",
                     f"Extension granted: {old.name} now due {rec.due}", now,
                     {"deadline": _dl(rec), "previous_due": old.due})

    def _check_case_suspended(self, ev: Any) -> None:
        if self.s.suspended_since is not None:
            raise EventRejected(f"case_suspended rejected: the case is already suspended since "
                                f"{self.s.suspended_since}")

    def _on_case_suspended(self, ev: Any, n: int, now: datetime) -> None:
        self.s.suspended_since = local_date(ev.date, self.cal).isoformat()
        for name in dict.fromkeys(r.name for r in self.s.deadlines):
            rec = self._revivable(name, ev.date)  # stopped before it ran out
            if rec is not None and self._latest(name) is rec:
                self._revive(rec, "pending", ev.date, now)
        self._notify(f"event:{n}", ("controller", "case_handler"), "case_suspended",
                     "Case suspended: running deadlines are stopped", now,
                     {"reason": ev.reason})

    def _check_case_resumed(self, ev: Any) -> None:
        if self.s.suspended_since is None:
            raise EventRejected("case_resumed rejected: the case is not suspended")
        if local_date(ev.date, self.cal) < date.fromisoformat(self.s.suspended_since):
            raise EventRejected(f"case_resumed rejected: {_iso(ev.date)} is before the "
                                f"suspension of {self.s.suspended_since}")

    def _on_case_resumed(self, ev: Any, n: int, now: datetime) -> None:
        assert self.s.suspended_since is not None
        since = date.fromisoformat(self.s.suspended_since)
        resumed = local_date(ev.date, self.cal)
        days = (resumed - since).days
        self.s.suspended_since = None
        for rec in self.s.deadlines:
            if rec.status != "pending" or days == 0:
                continue
            moved = suspend_deadline(self._core(rec), days, self.cal, suspended_on=since,
                                     resumed_on=resumed)
            rec.due, rec.raw_end = _iso(moved.due), _iso(moved.raw_end)
            rec.expires_at, rec.explanation = moved.expires_at, list(moved.explanation)
            self._record_deadline(rec, now, f"suspended:{n}")
            self._timeline(ev.date, "deadline", rec.name, f"moved to {rec.due} by {days} days "
                           f"of suspension")
        self._notify(f"event:{n}", ("controller", "case_handler"), "case_resumed",
                     "Case resumed: deadlines moved", now,
                     {"days": days, "deadlines": [_dl(r) for r in self.s.deadlines
                                                  if r.status == "pending"]})

    def _on_case_closed(self, ev: Any, n: int, now: datetime) -> None:
        self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                     "case_closed", "Case closed", now, {"reason": ev.reason})
        self._close(ev.reason or "closed", ev.date, now)

    # corrections: the case recomputed from its events, what went out kept as sent

    def _check_event_corrected(self, ev: Any) -> None:
        self._replay(ev, self.s.event_count + 1)

    _check_event_withdrawn = _check_event_corrected

    def _replay(self, ev: Any, n: int) -> Replay:
        """The case as it would be had the corrected event been recorded instead of the
        wrong one (or nothing, for a withdrawal), when the wrong one was: a fresh machine
        runs the logged events again, in recording order at their recording times, with the
        engine's own steps at their instants. Raises EventRejected if an event no longer
        fits; changes nothing."""
        key = (id(ev), n, len(self.s.log))
        if self._replayed is not None and self._replayed[0] == key:
            return self._replayed[1]
        opened = self.s.opened_with
        if not self.s.log_complete or opened is None or self.s.opened_at is None:
            raise EventRejected(f"{ev.type} rejected: this case was opened before its events "
                                f"were kept for corrections; record the right event instead")
        log = [item.model_copy(deep=True) for item in self.s.log]
        target = next((item for item in log if (ev.seq is not None and item.n == ev.seq)
                       or (ev.event_id is not None and item.event.id == ev.event_id)), None)
        name = f"event {ev.seq}" if ev.seq is not None else f"the event with id {ev.event_id!r}"
        if target is None or target.withdrawn:
            known = ", ".join(f"{i.n} ({i.event.type})" for i in log if not i.withdrawn)
            raise EventRejected(f"{ev.type} rejected: {name} is not an event of this case "
                                f"{'any more ' if target is not None else ''}"
                                f"that can be changed; its events: {known or 'none'}")
        if ev.type == "event_withdrawn":
            target.withdrawn = True
        else:
            target.earlier.append(target.event)
            target.event = ev.corrected
        target.changed_by.append(n)
        m = type(self).open(opened, self.p, self.s.opened_at, legal_time=True, amendable=True)
        started = False
        for item in log:
            if item.withdrawn:
                continue
            try:
                if item.opening:
                    m.apply_opening(item.event, item.recorded_at, True, item.recorded_by)
                    continue
                if not started:
                    m.advance(self.s.opened_at)
                    started = True
                m.run_to(item.recorded_at)
                m.s.event_count = max(m.s.event_count, item.n - 1)  # its own number
                m.apply(item.event, item.recorded_at, item.recorded_by)
            except (ValueError, ArithmeticError) as exc:  # refused, or beyond the core
                verb = "withdrawn" if ev.type == "event_withdrawn" else "corrected"
                raise EventRejected(
                    f"{ev.type} rejected: with event {target.n} {verb}, event {item.n} "
                    f"({item.event.type}, recorded {item.recorded_at.date().isoformat()}) no "
                    f"longer fits: {exc}") from None
        self._replayed = (key, (m, log, target))
        return m, log, target

    def _on_event_corrected(self, ev: Any, n: int, now: datetime) -> None:
        m, log, target = self._replay(ev, n)
        self._replayed = None
        m.run_to(now)
        old, new = self.s, m.s
        changes: list[str] = []
        deadlines, seq_map = self._merge_deadlines(old.deadlines, new.deadlines, n, now,
                                                   ev, changes)
        seen = {(t.date, t.kind, t.name, t.detail, t.seq) for t in old.timeline}
        timeline = [*old.timeline, *(
            # what the recomputation adds is recorded now: by the engine for its own steps
            # (a referral it draws again has no register row, hence no number), by whoever
            # made the correction for the rest
            t.model_copy(update={"recorded_at": now, "recorded_by": (
                ENGINE if t.recorded_by == ENGINE else self._by),
                "seq": None if t.recorded_by == ENGINE else t.seq})
            if t.recorded_at is not None else t
            for t in new.timeline if t.kind not in ("notification", "reminder")
            and (t.date, t.kind, t.name, t.detail, t.seq) not in seen)]
        sent = [*old.reminders_sent]
        for key in new.reminders_sent:
            head, seq, rest = key.split(":", 2)
            moved = f"{head}:{seq_map.get(int(seq), seq)}:{rest}"
            if moved not in sent:
                sent.append(moved)
        self.s = new.model_copy(update={
            "deadlines": deadlines, "timeline": timeline, "reminders_sent": sent,
            "log": log, "event_count": max(old.event_count, new.event_count),
            "applied_ids": list(dict.fromkeys([*old.applied_ids, *new.applied_ids])),
            "id_uses": {**old.id_uses, **new.id_uses},
            "workflow_id": old.workflow_id,
            # the shell's, not the events': a correction leaves them as they were
            "alerts": old.alerts, "unrecorded": old.unrecorded})
        if (new.stage, new.status) != (old.stage, old.status):
            changes.append(f"stage: {old.stage} -> {new.stage}")
            data: dict[str, Any] = {"stage": new.stage, "status": new.status}
            if new.status == "closed":
                data["outcome"] = new.outcome
            self._register("cases", f"stage:{len(self.s.timeline)}:{new.stage}", now, data)
        verb = "withdrawn" if ev.type == "event_withdrawn" else "corrected"
        what = f"event {target.n} ({(target.earlier or [target.event])[-1].type}) {verb}"
        self._timeline(ev.date, "outcome", f"event_{verb}",
                       f"{what}: {ev.reason}" + (f"; {'; '.join(changes)}" if changes else
                                                 "; nothing else changes"), (now, self._by))
        self._notify(f"correction:{n}", ("controller", "case_handler"), "event_corrected",
                     f"Case record corrected: {what}", now,
                     {"what": what, "withdrawn": verb == "withdrawn", "reason": ev.reason,
                      "changes": changes,
                      "deadlines": [_dl(d) for d in deadlines if d.status == "pending"]})

    _on_event_withdrawn = _on_event_corrected

    def _merge_deadlines(self, old: list[DeadlineRecord], new: list[DeadlineRecord], n: int,
                         now: datetime, ev: Any, changes: list[str]
                         ) -> tuple[list[DeadlineRecord], dict[int, int]]:
        """The recomputed deadlines under the numbers they were announced with: one that
        kept its name and start keeps its number, and a change of status or date is
        appended to its history; one that no longer arises is cancelled; a new one is
        numbered after the rest. Each change gets its register row."""
        out = [d.model_copy(deep=True) for d in old]
        seq_map: dict[int, int] = {}
        used: set[int] = set()
        reason = f"{ev.type} {n}: {ev.reason}"

        def change(rec: DeadlineRecord, to: str) -> None:
            rec.history.append(StatusChange(status=rec.status, to=to,
                                            recorded_at=now, recorded_by=self._by,
                                            reason=reason))
        for nd in new:
            match = next((o for o in out if o.seq not in used and (o.name, o.trigger_date)
                          == (nd.name, nd.trigger_date)), None)
            if match is None:
                rec = nd.model_copy(update={"seq": len(out), "opened_at": now})
                out.append(rec)
                seq_map[nd.seq] = rec.seq
                used.add(rec.seq)
                changes.append(f"{rec.name} {rec.status}, due {rec.due}")
                self._record_deadline(rec, now, f"{rec.status}:{n}")
                continue
            used.add(match.seq)
            seq_map[nd.seq] = match.seq
            if (match.status, match.due, match.expires_at, match.period) == (
                    nd.status, nd.due, nd.expires_at, nd.period):
                continue
            changes.append(f"{match.name}: {match.status}, due {match.due} -> {nd.status}, "
                           f"due {nd.due}")
            change(match, nd.status)
            match.status, match.due, match.raw_end = nd.status, nd.due, nd.raw_end
            match.period, match.rules = nd.period, nd.rules
            match.expires_at, match.explanation = nd.expires_at, list(nd.explanation)
            self._record_deadline(match, now, f"corrected:{n}")
        for rec in out:
            if rec.seq not in used and rec.status != "cancelled":
                changes.append(f"{rec.name} (due {rec.due}) no longer arises")
                change(rec, "cancelled")
                rec.status = "cancelled"
                self._record_deadline(rec, now, f"corrected:{n}")
        return out, seq_map

    # --- penalty ----------------------------------------------------------------------------

    # --- time -------------------------------------------------------------------------------

    def _reminders(self) -> list[tuple[datetime, DeadlineRecord, int]]:
        out = []
        for rec in self.s.deadlines:
            if rec.status != "pending" or "T" in rec.due:
                continue
            due = date.fromisoformat(rec.due)
            for offset in self.p.reminders.offsets_days:
                at = datetime.combine(due - timedelta(days=offset), REMINDER_TIME,
                                      tzinfo=self.cal.tz)
                if rec.opened_at is not None and at <= rec.opened_at:
                    continue
                if self._reminder_key(rec, offset) not in self.s.reminders_sent:
                    out.append((at, rec, offset))
        return out

    def _reminder_key(self, rec: DeadlineRecord, offset: int) -> str:
        return f"reminder:{rec.seq}:{offset}:{rec.due}"

    def run_to(self, until: datetime) -> None:
        """Let time pass to `until` as the workflow does: at each wake-up in turn."""
        while (wake := self.next_wake()) is not None and wake <= until:
            self.advance(wake)

    def next_wake(self) -> datetime | None:
        """When the workflow must next look at the clock (None: only events can move it)."""
        if self.s.status == "closed" or self.s.suspended_since is not None:
            return None
        times = [r.expires_at for r in self.s.deadlines if r.status == "pending"]
        times += [at for at, _, _ in self._reminders()]
        times += self._wakes()
        return min(times) if times else None

    def advance(self, now: datetime) -> None:
        """Send due reminders and mark expired deadlines, with their consequences."""
        if self.s.status == "closed" or self.s.suspended_since is not None:
            return
        for at, rec, offset in sorted(self._reminders(), key=lambda x: x[0]):
            if at > now:
                continue
            key = self._reminder_key(rec, offset)
            self.s.reminders_sent.append(key)
            if rec.expires_at <= now:
                continue  # overtaken: the deadline itself is due now
            party: tuple[Party, ...] = (("case_handler",) if rec.name == "complainant_progress"
                                        else ("controller", "case_handler"))
            self._timeline(at, "reminder", rec.name, f"{offset} days before {rec.due}")
            self._notify(key, party, "reminder",
                         f"Reminder: {rec.name.replace('_', ' ')} due {rec.due} "
                         f"({offset} days)", now, {"deadline": _dl(rec), "days_left": offset})
        for rec in list(self.s.deadlines):
            if rec.status == "pending" and rec.expires_at <= now:
                self._expire(rec, now)
        self._catch_up(now, now)
        self.refresh_sanction(local_date(now, self.cal))

    def _expire(self, rec: DeadlineRecord, now: datetime) -> None:
        lapsed = self.legal_time and self.p.is_right(self._param(rec.name))
        self._deadline_status(rec, "lapsed" if lapsed else "missed", now)
        self._timeline(rec.due, "deadline", rec.name,
                       f"{'lapsed' if lapsed else 'expired'} at {rec.expires_at.isoformat()}"
                       + (" (the right was not exercised)" if lapsed else ""))
        self._notify(f"deadline:{rec.seq}:{_again(rec, 'missed')}", ("case_handler",),
                     "deadline_missed",
                     f"Deadline passed: {rec.name.replace('_', ' ')} ({rec.due})", now,
                     {"deadline": _dl(rec)})
        self._on_expired(rec, now)


def _snapshot(s: CaseState) -> CaseState:
    """A copy of the state that changes to `s` cannot reach, made without copying the whole
    history: lists and maps only grow or are replaced, so their items are shared; what is
    changed in place is copied (the sanction figures, and each deadline record that can
    still change: a pending one, or the latest of its name, which a late record revives)."""
    latest = {r.name: r for r in s.deadlines}
    deadlines = [r.model_copy(update={"history": list(r.history)})
                 if r.status == "pending" or latest[r.name] is r else r
                 for r in s.deadlines]
    shallow = {name: copy.copy(value) for name, value in s.__dict__.items()
               if isinstance(value, (list, dict))}
    return s.model_copy(update={**shallow, "deadlines": deadlines,
                                "sanction": s.sanction.model_copy()})


def legal_order(events: Iterable[Event], cal: Any, order: dict[str, int]
                ) -> list[tuple[int, Event]]:
    """Events with their positions, by legal date; those on the same instant in the
    family's stage order `order` (a decision before its notification), then as given."""
    return sorted(enumerate(events), key=lambda ie: (
        as_instant(ie[1].date, cal), order.get(ie[1].type, len(order)), ie[0]))


def _digest(ev: Event) -> str:
    """What identifies an event's content: its type, date and every field."""
    text = json.dumps(ev.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _again(rec: DeadlineRecord, step: str) -> str:
    """A deadline's step key: a deadline a late record or a correction changed may reach
    the same status again, under a key of its own (a key is never reused)."""
    return f"{step}:{len(rec.history)}" if rec.history else step


def _day(due: str) -> date:
    """The last day of a stored due date or date-time (hour periods are stored as local
    date-times, whose first ten characters are that day)."""
    return date.fromisoformat(due[:10])


def _instant(d: date | datetime, cal: Any) -> datetime:
    return d if isinstance(d, datetime) else end_of_day(d, cal)


def _sum(a: Period, b: Period) -> Period:
    return Period(years=a.years + b.years, months=a.months + b.months, weeks=a.weeks + b.weeks,
                  days=a.days + b.days)


def _dl(rec: DeadlineRecord) -> dict[str, Any]:
    return {"name": rec.name, "due": rec.due, "expires_at": rec.expires_at.isoformat(),
            "period": rec.period, "explanation": list(rec.explanation)}


def _summary(fields: dict[str, Any]) -> str:
    return "; ".join(f"{k}={_value(v)}" for k, v in fields.items()
                     if v not in (None, "", [], False))


def _value(v: Any) -> Any:
    """An event inside an event (a correction's right event): its type, date and fields."""
    if isinstance(v, dict) and "type" in v and "date" in v:
        rest = _summary({k: x for k, x in v.items() if k not in ("type", "date")})
        return f"{v['type']} of {v['date']}" + (f" ({rest})" if rest else "")
    return v

