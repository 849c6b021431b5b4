"""What a case officer would notice of the case machine, checked without a Temporal server:
reminders (when, and to whom), every minimum and maximum exactly at, just under and just
over its bound, all-or-nothing application, and paths no other test takes.

Every expected date is worked out by hand in a comment (weekdays and French public holidays
checked against a printed calendar), never computed by the code under test. Events are
recorded on the day they happen, after the clock has run to that day, as the workflow does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from enforcement.case.machine import EventRejected, Machine
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller, Notification
from enforcement.families import get_procedure, open_machine

PARIS = ZoneInfo("Europe/Paris")
LONDON = ZoneInfo("Europe/London")


class Case:
    """A machine driven as the workflow drives it: the clock runs to each event's day
    (reminders go out, deadlines expire), then the event is recorded that evening."""

    def __init__(self, procedure: str = "fr-cnil", *, country: str = "FR",
                 turnover: int | None = None, opened: str = "2026-01-05") -> None:
        proc = get_procedure(procedure)
        self.tz = proc.cal.tz
        self.now = datetime.combine(date.fromisoformat(opened), datetime.min.time(),
                                    tzinfo=self.tz).replace(hour=9)
        self.m = open_machine(CaseInput(
            case_id="B-1", procedure=procedure,
            controller=Controller(name="Acme", country=country, annual_turnover_eur=turnover,
                                  email="dpo@acme.example"),
            complainant_email="c@example.org"), proc, self.now)
        self.sent: list[Notification] = []
        self.take()

    def take(self) -> None:
        self.sent += self.m.take_effects().notifications

    def run_to(self, when: datetime) -> None:
        self.now = max(self.now, when)
        self.m.advance(self.now)
        self.take()

    def run_to_day_of(self, event: dict[str, Any]) -> None:
        day = date.fromisoformat(str(event["date"])[:10])
        self.run_to(datetime.combine(day, datetime.min.time(), tzinfo=self.tz).replace(hour=18))

    def record(self, event: dict[str, Any]) -> bool:
        ev = EVENT_ADAPTER.validate_python(event)
        self.run_to_day_of(event)
        done = self.m.apply(ev, self.now)
        self.take()
        return done

    def deadline(self, name: str) -> Any:
        return [d for d in self.m.s.deadlines if d.name == name][-1]

    def reminders(self) -> list[tuple[datetime, str, str]]:
        """(when sent by the machine's clock, to whom, subject) of each reminder."""
        return [(n.at, n.party, n.subject) for n in self.sent if n.template == "reminder"]


def ev(kind: str, day: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "date": day, **fields}


COMPLAINT = ev("complaint_received", "2026-01-05", subject="cookies", complainant_ref="C-1")
# Received Tue 6 Jan 2026; 2 months -> Fri 6 Mar 2026, a working day.
NOTICE = ev("formal_notice_issued", "2026-01-06", period="2 months")
TO_HEARING = [ev("rapporteur_designated", "2026-01-05"), ev("report_notified", "2026-01-06"),
              ev("hearing_scheduled", "2026-01-07", hearing_date="2026-02-10"),
              ev("hearing_held", "2026-02-10")]
# Notified Sat 21 Feb 2026; 1 month -> Sat 21 Mar, rolled to Mon 23 Mar 2026.
PENALTY_DECISION = [*TO_HEARING, ev("sanction_decided", "2026-02-20", fine_eur=1000,
                                    injunction_period="1 month", penalty_per_day_eur=500),
                    ev("decision_notified", "2026-02-21")]


def case(*events: dict[str, Any], **kw: Any) -> Case:
    c = Case(**kw)
    for e in events:
        c.record(e)
    return c


def refused(c: Case, event: dict[str, Any], message: str) -> None:
    """The event is refused with `message`, and nothing about the case changed."""
    c.run_to_day_of(event)
    before = c.m.s.model_dump()
    with pytest.raises(EventRejected, match=message):
        c.record(event)
    assert c.m.s.model_dump() == before
    assert not c.m.take_effects()


# --- reminders: when, and to whom --------------------------------------------------------

def test_cnil_reminders_go_14_and_3_days_before_at_nine_to_controller_and_handler() -> None:
    c = case(COMPLAINT, NOTICE)
    assert c.deadline("formal_notice_compliance").due == "2026-03-06"
    # 14 days before Fri 6 Mar: Fri 20 Feb, 09:00 Paris (winter time, +01:00).
    first = datetime(2026, 2, 20, 9, tzinfo=PARIS)
    assert c.m.next_wake() == first
    c.run_to(first - timedelta(minutes=1))
    assert c.reminders() == []
    c.run_to(first)
    assert sorted(p for _, p, _ in c.reminders()) == ["case_handler", "controller"]
    assert all("due 2026-03-06 (14 days)" in s for _, _, s in c.reminders())
    # 3 days before: Tue 3 Mar, 09:00 Paris; nothing in between.
    second = datetime(2026, 3, 3, 9, tzinfo=PARIS)
    assert c.m.next_wake() == second
    c.run_to(second)
    assert [(at, p) for at, p, s in c.reminders() if "(3 days)" in s] == [
        (second, "controller"), (second, "case_handler")]
    assert len(c.reminders()) == 4
    # The controller's reminder goes to the controller's address.
    to_controller = [n for n in c.sent if n.template == "reminder" and n.party == "controller"]
    assert {n.to for n in to_controller} == {"dpo@acme.example"}


def test_ico_reminders_follow_the_procedure_7_and_2_days() -> None:
    c = case(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
             ev("enforcement_notice_given", "2026-01-06", period="28 days"),
             procedure="uk-ico")
    # 28 days after Tue 6 Jan 2026, the day given not counted: Tue 3 Feb 2026, both for
    # the notice's time (DPA 2018 s. 205(2)) and for the appeal against it (GRC Rules
    # r. 22(1)(b)), which closes at 17:00 (r. 12(1)).
    assert c.deadline("enforcement_notice_compliance").due == "2026-02-03"
    assert c.deadline("enforcement_notice_appeal").due == "2026-02-03"
    # The workflow wakes 7 days before (Tue 27 Jan) and 2 days before (Sun 1 Feb), 09:00
    # London time (GMT), then at the appeal's 17:00 on 3 Feb, then at the end of that day.
    wakes = []
    while (wake := c.m.next_wake()) is not None and len(wakes) < 4:
        wakes.append(wake)
        c.run_to(wake)
    assert wakes == [datetime(2026, 1, 27, 9, tzinfo=LONDON),
                     datetime(2026, 2, 1, 9, tzinfo=LONDON),
                     datetime(2026, 2, 3, 17, tzinfo=LONDON),
                     datetime(2026, 2, 4, 0, tzinfo=LONDON)]
    assert [(at, s) for at, p, s in c.reminders() if p == "controller"] == [
        (wakes[0], "[B-1] Reminder: enforcement notice compliance due 2026-02-03 (7 days)"),
        (wakes[0], "[B-1] Reminder: enforcement notice appeal due 2026-02-03 (7 days)"),
        (wakes[1], "[B-1] Reminder: enforcement notice compliance due 2026-02-03 (2 days)"),
        (wakes[1], "[B-1] Reminder: enforcement notice appeal due 2026-02-03 (2 days)")]


def test_the_complainant_progress_reminder_goes_to_the_case_handler_only() -> None:
    c = case(COMPLAINT)
    # 3 months after Mon 5 Jan 2026: Sun 5 Apr, then Easter Monday 6 Apr: Tue 7 Apr 2026.
    assert c.deadline("complainant_progress").due == "2026-04-07"
    # 14 days before: Tue 24 Mar 2026, 09:00 Paris (still winter time).
    c.run_to(datetime(2026, 3, 24, 9, tzinfo=PARIS))
    assert [(at, p) for at, p, _ in c.reminders()] == [
        (datetime(2026, 3, 24, 9, tzinfo=PARIS), "case_handler")]


def test_no_reminder_for_a_deadline_already_met() -> None:
    c = case(COMPLAINT, NOTICE, ev("compliance_accepted", "2026-02-02"))
    c.run_to(datetime(2026, 3, 10, tzinfo=PARIS))
    assert c.reminders() == []
    assert c.m.next_wake() is None


def test_a_reminder_overtaken_by_the_expiry_is_not_sent() -> None:
    # The clock jumps from the notice straight past its expiry (a worker down for weeks):
    # the deadline is missed and the stale reminders are dropped, not sent late.
    c = case(COMPLAINT, NOTICE)
    c.run_to(datetime(2026, 3, 9, 12, tzinfo=PARIS))
    assert c.deadline("formal_notice_compliance").status == "missed"
    assert c.reminders() == []


# --- bounds: exactly at, just under, just over --------------------------------------------

@pytest.mark.parametrize(("period", "ok"), [("9 days", False), ("10 days", True),
                                            ("11 days", True)])
def test_formal_notice_minimum_of_10_days(period: str, ok: bool) -> None:
    c = case(COMPLAINT)
    notice = ev("formal_notice_issued", "2026-01-06", period=period)
    if ok:
        c.record(notice)
        # 6 Jan + 10 days = Fri 16 Jan; + 11 days = Sat 17 Jan, rolled to Mon 19 Jan.
        assert c.deadline("formal_notice_compliance").due == {
            "10 days": "2026-01-16", "11 days": "2026-01-19"}[period]
    else:
        refused(c, notice, "a compliance period of 9 days is under the minimum of 10 days")


@pytest.mark.parametrize(("period", "ok"), [("23 hours", False), ("24 hours", True),
                                            ("25 hours", True)])
def test_urgency_formal_notice_minimum_of_24_hours(period: str, ok: bool) -> None:
    c = case(procedure="fr-cnil-urgency", opened="2024-01-05")
    notice = ev("formal_notice_issued", "2024-01-05T14:00:00+01:00", period=period)
    if ok:
        c.record(notice)
        hours = int(period.split()[0])
        assert c.deadline("formal_notice_compliance").due == (
            f"2024-01-06T{14 + hours - 24:02d}:00:00+01:00")
    else:
        refused(c, notice, "23 hours is under the minimum of 24 hours")


@pytest.mark.parametrize(("fine", "lower", "turnover", "ok"), [
    (20_000_000, False, None, True), (20_000_001, False, None, False),
    (10_000_000, True, None, True), (10_000_001, True, None, False),
    # 4% of EUR 2bn = EUR 80M; 2% = EUR 40M
    (80_000_000, False, 2_000_000_000, True), (80_000_001, False, 2_000_000_000, False),
    (40_000_000, True, 2_000_000_000, True), (40_000_001, True, 2_000_000_000, False),
    # 4% of EUR 100M = EUR 4M: the fixed EUR 20M is the higher
    (20_000_000, False, 100_000_000, True), (20_000_001, False, 100_000_000, False),
])
def test_fine_caps(fine: int, lower: bool, turnover: int | None, ok: bool) -> None:
    c = case(*TO_HEARING, turnover=turnover)
    decided = ev("sanction_decided", "2026-02-20", fine_eur=fine, lower_tier=lower)
    if ok:
        c.record(decided)
        assert c.m.s.sanction.fine_eur == fine
    else:
        cap = fine - 1
        refused(c, decided, f"a fine of {fine:,} EUR is above the cap of {cap:,} ")


@pytest.mark.parametrize(("rate", "ok"), [(100_000, True), (100_001, False)])
def test_daily_penalty_cap(rate: int, ok: bool) -> None:
    c = case(*TO_HEARING)
    decided = ev("sanction_decided", "2026-02-20", fine_eur=0, injunction_period="1 month",
                 penalty_per_day_eur=rate)
    if ok:
        c.record(decided)
        assert c.m.s.sanction.penalty_per_day_eur == 100_000
    else:
        refused(c, decided, "a daily penalty of 100,001 EUR is above the cap of 100,000 per day")


@pytest.mark.parametrize(("hearing", "ok"), [("2026-02-15", False), ("2026-02-16", True),
                                             ("2026-02-17", True)])
def test_hearing_minimum_notice_of_15_days(hearing: str, ok: bool) -> None:
    # Scheduled Sun 1 Feb 2026: 15 days later is Mon 16 Feb, the earliest hearing day.
    c = case(*TO_HEARING[:2])
    scheduled = ev("hearing_scheduled", "2026-02-01", hearing_date=hearing)
    if ok:
        c.record(scheduled)
        assert c.m.s.stage == "hearing_scheduled"
    else:
        refused(c, scheduled, "under the minimum notice of 15 days from 2026-02-01; the "
                              "earliest date is 2026-02-16")


def test_simplified_procedure_caps_and_periods() -> None:
    c = case(*TO_HEARING, procedure="fr-cnil-simplified")
    # Report notified Tue 6 Jan 2026; 1 month -> Fri 6 Feb 2026 (LIL 22-1).
    assert c.deadline("report_observations").due == "2026-02-06"
    refused(c, ev("sanction_decided", "2026-02-20", fine_eur=20_001),
            "a fine of 20,001 EUR is above the cap of 20,000 ")
    refused(c, ev("sanction_decided", "2026-02-20", fine_eur=0, injunction_period="1 month",
                  penalty_per_day_eur=101), "a daily penalty of 101 EUR is above the cap of 100 ")
    c.record(ev("sanction_decided", "2026-02-20", fine_eur=20_000, injunction_period="1 month",
                penalty_per_day_eur=100))
    c.record(ev("decision_notified", "2026-02-21"))
    # 10 days late: 24 Mar .. 2 Apr at EUR 100.
    c.record(ev("compliance_established", "2026-04-02"))
    status = c.m.status(c.now)
    assert (status.sanction.fine_eur, status.sanction.penalty_eur) == (20_000, 1_000)


@pytest.mark.parametrize(("cutoff", "ok"), [("2026-03-23", False), ("2026-03-24", True)])
def test_a_liquidation_cut_off_must_be_after_the_injunction_deadline(cutoff: str,
                                                                      ok: bool) -> None:
    c = case(*PENALTY_DECISION)
    assert c.deadline("injunction_compliance").due == "2026-03-23"
    opened = ev("liquidation_opened", "2026-03-25", cutoff=cutoff)
    if ok:
        c.record(opened)
        # one day of delay, 24 Mar, at EUR 500
        assert c.m.s.sanction.intended_liquidation_eur == 500
    else:
        refused(c, opened, "the cut-off 2026-03-23 must be after the injunction deadline "
                           "2026-03-23")


def test_a_suspension_lifted_the_same_day_moves_nothing() -> None:
    c = case(COMPLAINT, NOTICE, ev("case_suspended", "2026-01-20"),
             ev("case_resumed", "2026-01-20"))
    assert c.deadline("formal_notice_compliance").due == "2026-03-06"
    assert c.m.s.suspended_since is None


def test_the_formal_notice_is_extended_once_but_other_deadlines_again() -> None:
    c = case(COMPLAINT, NOTICE,
             ev("extension_granted", "2026-01-20", deadline="formal_notice_compliance",
                period="1 month"))
    # 1 month from the previous due date Fri 6 Mar 2026: Mon 6 Apr is Easter Monday -> 7 Apr.
    assert c.deadline("formal_notice_compliance").due == "2026-04-07"
    refused(c, ev("extension_granted", "2026-01-21", deadline="formal_notice_compliance",
                  period="1 month"), "may be extended 1 time")
    c.record(ev("information_requested", "2026-01-21", period="15 days"))
    for day in ("2026-01-22", "2026-01-23"):  # an information request has no such limit
        c.record(ev("extension_granted", day, deadline="information_response", period="1 week"))
    # 21 Jan + 15 days = Thu 5 Feb; + 1 week = Thu 12 Feb; + 1 week = Thu 19 Feb 2026.
    assert c.deadline("information_response").due == "2026-02-19"


# --- all or nothing ----------------------------------------------------------------------

def test_a_refused_event_with_an_id_does_not_use_up_the_id() -> None:
    c = case(COMPLAINT)
    refused(c, ev("formal_notice_issued", "2026-01-06", period="5 days", id="MED-1"),
            "under the minimum of 10 days")
    # The corrected notice with the same reference is applied, not taken for a repeat.
    assert c.record(ev("formal_notice_issued", "2026-01-06", period="1 month", id="MED-1"))
    # 6 Jan + 1 month = Fri 6 Feb 2026.
    rec = c.deadline("formal_notice_compliance")
    assert (rec.period, rec.due, rec.status) == ("1 month", "2026-02-06", "pending")
    # and now it is a repeat: applied once
    assert not c.record(ev("formal_notice_issued", "2026-01-06", period="1 month", id="MED-1"))
    assert len([d for d in c.m.s.deadlines if d.name == "formal_notice_compliance"]) == 1


def test_a_refused_opening_event_undoes_the_expiries_it_caught_up_on() -> None:
    # A case entered today with its history: notice received Mon 3 Mar 2025 for 2 months,
    # due Sat 3 May -> Mon 5 May 2025. A compliance acceptance dated 2 June 2025 comes after
    # the referral (final after 5 working days of grace, on Wed 14 May) and is refused;
    # the case must be left as before: at the formal notice, the deadline pending, nothing
    # referred.
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    m = open_machine(CaseInput(case_id="O-1", controller=Controller(name="A", country="FR")),
                     get_procedure("fr-cnil"), now)
    for e in (ev("complaint_received", "2025-01-06", subject="s", complainant_ref="c"),
              ev("formal_notice_issued", "2025-03-03", period="2 months")):
        m.apply_opening(EVENT_ADAPTER.validate_python(e), now)
    m.take_effects()
    before = m.s.model_dump()
    with pytest.raises(EventRejected, match="compliance dated 2025-06-02 is not in time"):
        m.apply_opening(EVENT_ADAPTER.validate_python(ev("compliance_accepted", "2025-06-02")),
                        now)
    assert m.s.stage == "formal_notice"
    rec = next(d for d in m.s.deadlines if d.name == "formal_notice_compliance")
    assert (rec.due, rec.status) == ("2025-05-05", "pending")
    assert m.s.model_dump() == before
    assert not m.take_effects()


def test_an_error_in_the_middle_of_an_event_leaves_no_trace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The notification of a decision fails after the stage, the register row and the appeal
    # deadline were already made: none of it may stay.
    c = case(*PENALTY_DECISION[:-1])
    before = c.m.s.model_dump()

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("template store unavailable")

    monkeypatch.setattr(c.m, "_notify", broken)
    with pytest.raises(RuntimeError):
        c.m.apply(EVENT_ADAPTER.validate_python(ev("decision_notified", "2026-02-21")),
                  c.now)
    assert c.m.s.stage == "decided"
    assert c.m.s.model_dump() == before
    assert not c.m.take_effects()


# --- paths no other test takes --------------------------------------------------------------

def test_compliance_cannot_be_established_twice() -> None:
    c = case(*PENALTY_DECISION, ev("compliance_established", "2026-04-02"))
    refused(c, ev("compliance_established", "2026-04-05"),
            "compliance was already established on 2026-04-02")
    # 24 Mar .. 2 Apr: 10 days at EUR 500, not moved by the refused second date.
    assert c.m.status(c.now).sanction.penalty_eur == 5_000


def test_liquidation_observations_close_with_their_period() -> None:
    # Opened Fri 10 Apr 2026, cut-off 9 Apr: 24 Mar .. 9 Apr = 17 days at EUR 500.
    c = case(*PENALTY_DECISION, ev("liquidation_opened", "2026-04-10", cutoff="2026-04-09"))
    assert c.m.s.sanction.intended_liquidation_eur == 8_500
    # 15 days after 10 Apr: Sat 25 Apr -> Mon 27 Apr 2026, expiring at 24:00 Paris.
    rec = c.deadline("liquidation_observations")
    assert rec.due == "2026-04-27"
    assert rec.expires_at == datetime(2026, 4, 27, 22, tzinfo=UTC)
    refused(c, ev("observations_submitted", "2026-04-28"),
            "the liquidation observations period is over")
    # Observations are the controller's right: unused, the period lapses (not "missed").
    assert c.deadline("liquidation_observations").status == "lapsed"


def test_liquidation_observations_on_the_last_day_meet_the_period() -> None:
    c = case(*PENALTY_DECISION, ev("liquidation_opened", "2026-04-10", cutoff="2026-04-09"),
             ev("observations_submitted", "2026-04-27"))
    assert c.deadline("liquidation_observations").status == "exercised"


def test_a_liquidated_amount_given_by_the_committee_is_recorded_as_given() -> None:
    c = case(COMPLAINT, *PENALTY_DECISION,
             ev("liquidation_opened", "2026-04-10", cutoff="2026-04-09"))
    c.record(ev("penalty_liquidated", "2026-05-04", amount_eur=4_000))
    assert (c.m.s.sanction.intended_liquidation_eur, c.m.s.sanction.liquidated_eur) == (
        8_500, 4_000)
    mails = [n for n in c.sent if n.template == "penalty_liquidated"]
    assert {n.party for n in mails} == {"controller", "complainant"}
    assert all("4,000 EUR" in n.subject for n in mails)
    # A second liquidation adds to the first: cut-off 30 Apr, 24 Mar .. 30 Apr = 38 days.
    c.record(ev("liquidation_opened", "2026-05-05", cutoff="2026-04-30"))
    assert c.m.s.sanction.intended_liquidation_eur == 19_000
    c.record(ev("penalty_liquidated", "2026-06-01"))
    assert c.m.s.sanction.liquidated_eur == 23_000


def test_an_hour_deadline_extended_in_hours_and_in_days() -> None:
    c = case(ev("formal_notice_issued", "2024-01-05T14:00:00+01:00", period="72 hours"),
             procedure="fr-cnil-urgency", opened="2024-01-05")
    # 72 hours from Fri 5 Jan 14:00 Paris: Mon 8 Jan 14:00.
    assert c.deadline("formal_notice_compliance").due == "2024-01-08T14:00:00+01:00"
    c.record(ev("extension_granted", "2024-01-06T10:00:00+01:00",
                deadline="formal_notice_compliance", period="24 hours"))
    # 24 hours more from the previous expiry: Tue 9 Jan 14:00, never rolled.
    rec = c.deadline("formal_notice_compliance")
    assert (rec.due, rec.expires_at) == ("2024-01-09T14:00:00+01:00",
                                         datetime(2024, 1, 9, 13, tzinfo=UTC))
    c.run_to(datetime(2024, 1, 9, 13, 59, tzinfo=PARIS))
    assert c.m.s.stage == "formal_notice"
    c.run_to(datetime(2024, 1, 9, 14, 0, tzinfo=PARIS))
    assert (rec.status, c.m.s.stage) == ("missed", "formal_notice")
    # the referral waits 1 working day of grace: to 24:00 on Wed 10 Jan
    c.run_to(datetime(2024, 1, 10, 23, 59, tzinfo=PARIS))
    assert c.m.s.stage == "formal_notice"
    c.run_to(datetime(2024, 1, 11, 0, 0, tzinfo=PARIS))
    assert c.m.s.stage == "referred"


def test_an_hour_deadline_moved_by_a_suspension() -> None:
    c = case(ev("formal_notice_issued", "2024-01-05T14:00:00+01:00", period="72 hours"),
             ev("case_suspended", "2024-01-06T09:00:00+01:00"),
             ev("case_resumed", "2024-01-08T09:00:00+01:00"), procedure="fr-cnil-urgency",
             opened="2024-01-05")
    # Suspended Sat 6 to Mon 8 Jan: 2 days added to Mon 8 Jan 14:00 -> Wed 10 Jan 14:00.
    rec = c.deadline("formal_notice_compliance")
    assert rec.due == "2024-01-10T14:00:00+01:00"
    assert rec.expires_at == datetime(2024, 1, 10, 13, tzinfo=UTC)
    assert rec.status == "pending"
    assert any("suspended for 2 days" in s for s in rec.explanation)


def test_a_suspended_case_sends_no_reminder_and_misses_nothing() -> None:
    c = case(COMPLAINT, NOTICE, ev("case_suspended", "2026-02-10"))
    c.run_to(datetime(2026, 4, 1, tzinfo=PARIS))
    assert c.reminders() == []
    assert c.deadline("formal_notice_compliance").status == "pending"
    # Suspended Tue 10 Feb, resumed Wed 1 Apr 2026: 50 days (18 left in February, 31 in
    # March, 1 in April). Fri 6 Mar + 50 days = Sat 25 Apr, rolled to Mon 27 Apr 2026.
    c.record(ev("case_resumed", "2026-04-01"))
    assert c.deadline("formal_notice_compliance").due == "2026-04-27"


# --- opening events and messages -------------------------------------------------------------

def opening(*events: dict[str, Any], catch_up: bool = True) -> tuple[Machine, list[bool]]:
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    m = open_machine(CaseInput(case_id="O-2", controller=Controller(name="A", country="FR")),
                     get_procedure("fr-cnil"), now)
    done = [m.apply_opening(EVENT_ADAPTER.validate_python(e), now, catch_up=catch_up)
            for e in events]
    return m, done


def test_an_opening_event_at_the_very_instant_of_an_expiry_finds_it_expired() -> None:
    # Notice received Mon 3 Mar 2025 for 2 months: expires at 24:00 on Mon 5 May 2025, i.e.
    # 00:00 on Tue 6 May Paris time. Compliance given at that instant comes too late.
    notice = ev("formal_notice_issued", "2025-03-03", period="2 months")
    m, _ = opening(notice, ev("case_suspended", "2025-05-06T00:00:00+02:00"))
    [rec] = [d for d in m.s.deadlines if d.name == "formal_notice_compliance"]
    assert rec.status == "missed"
    m, _ = opening(notice, ev("case_suspended", "2025-05-05T23:59:00+02:00"))
    [rec] = [d for d in m.s.deadlines if d.name == "formal_notice_compliance"]
    assert rec.status == "pending"


def test_opening_events_without_catch_up_and_a_repeated_id() -> None:
    notice = ev("formal_notice_issued", "2025-03-03", period="2 months", id="MED-9")
    # Without catch-up, a later event is applied as if live: the expiry has not happened.
    m, done = opening(notice, ev("compliance_accepted", "2025-06-02"), catch_up=False)
    assert done == [True, True]
    assert (m.s.stage, m.s.outcome) == ("closed", "complied")
    m, done = opening(notice, notice)
    assert done == [True, False]
    assert len(m.s.deadlines) == 1


def test_a_refusal_names_every_event_the_stage_accepts() -> None:
    c = case(COMPLAINT)
    refused(c, ev("hearing_held", "2026-01-07"),
            "hearing_held does not fit the case at stage 'complaint'; accepted now: "
            "investigation_opened, information_requested, no_breach_found, "
            "formal_notice_issued, rapporteur_designated, case_suspended, case_resumed, "
            "extension_granted, case_closed, event_corrected, event_withdrawn$")
    refused(c, ev("extension_granted", "2026-01-07", deadline="appeal", period="1 month"),
            "no pending deadline named 'appeal'; pending: complainant_progress$")
    c.record(ev("no_breach_found", "2026-01-08"))
    refused(c, ev("case_closed", "2026-01-09"),
            r"case_closed rejected: the case is closed \(dismissed\); it accepts no more events")
    bare = case()
    refused(bare, ev("extension_granted", "2026-01-07", deadline="appeal", period="1 month"),
            "no pending deadline named 'appeal'; pending: none$")


def test_the_lower_tier_cap_message_names_its_basis() -> None:
    c = case(*TO_HEARING, turnover=2_000_000_000)
    refused(c, ev("sanction_decided", "2026-02-20", fine_eur=40_000_001, lower_tier=True),
            r"a fine of 40,000,001 EUR is above the cap of 40,000,000 \(the higher of "
            r"10,000,000 and 2% of the annual turnover 2,000,000,000\)$")
    c = case(*TO_HEARING)
    refused(c, ev("sanction_decided", "2026-02-20", fine_eur=20_000_001),
            r"above the cap of 20,000,000 \(20,000,000; no annual turnover is known for the "
            r"controller\)$")


def test_an_information_request_opens_the_investigation_after_a_complaint() -> None:
    c = case(COMPLAINT)
    c.record(ev("information_requested", "2026-01-06"))
    assert c.m.s.stage == "investigation"
    c.record(ev("formal_notice_issued", "2026-01-07"))
    c.record(ev("information_requested", "2026-01-08"))
    assert c.m.s.stage == "formal_notice"


def test_a_sanction_without_injunction_or_penalty_says_only_the_fine() -> None:
    c = case(*TO_HEARING, ev("sanction_decided", "2026-02-20", fine_eur=1_000))
    assert [t.detail for t in c.m.s.timeline if t.kind == "outcome"
            and t.name == "sanction_decided"] == ["fine 1,000 EUR"]
    c = case(*TO_HEARING, ev("sanction_decided", "2026-02-20", fine_eur=0,
                             injunction_period="1 month"), ev("decision_notified", "2026-02-21"),
             ev("compliance_established", "2026-03-02"))
    assert [t.detail for t in c.m.s.timeline if t.kind == "outcome"
            and t.name == "compliance_established"] == [""]
    assert c.m.status(c.now).sanction.penalty_eur == 0


def test_the_penalty_runs_to_today_until_compliance_or_a_cut_off() -> None:
    c = case(*PENALTY_DECISION)
    # Due Mon 23 Mar 2026; on Fri 27 Mar: 24 .. 27 Mar = 4 days at EUR 500, in the status
    # and in the state the workflow keeps.
    c.run_to(datetime(2026, 3, 27, 12, tzinfo=PARIS))
    assert (c.m.s.sanction.penalty_days, c.m.s.sanction.penalty_eur) == (4, 2_000)
    assert c.m.status(datetime(2026, 3, 30, 12, tzinfo=PARIS)).sanction.penalty_eur == 3_500


# --- consequences that belong to one deadline only -------------------------------------------

def test_only_the_formal_notice_refers_the_case_when_it_runs_out() -> None:
    # During the notice (due Fri 6 Mar 2026), an information request of 10 days from Mon
    # 12 Jan runs out on Thu 22 Jan: missed, and the case stays at the formal notice.
    c = case(COMPLAINT, NOTICE, ev("information_requested", "2026-01-12", period="10 days"))
    c.run_to(datetime(2026, 1, 23, 12, tzinfo=PARIS))
    assert c.deadline("information_response").status == "missed"
    assert c.m.s.stage == "formal_notice"
    assert not [t for t in c.m.s.timeline if t.name == "referred_to_sanction"]


def test_only_the_injunction_starts_the_penalty() -> None:
    # Notified Sat 21 Feb 2026: the injunction runs to Mon 23 Mar; the appeal, 2 months as a
    # délai franc, to Wed 22 Apr. The appeal running out starts no second accrual.
    c = case(*PENALTY_DECISION)
    c.run_to(datetime(2026, 4, 23, 12, tzinfo=PARIS))
    assert c.deadline("appeal").status == "lapsed"  # a right not exercised
    assert [t.date for t in c.m.s.timeline if t.name == "penalty_accrual_started"] == [
        "2026-03-24"]


def test_no_liquidation_without_a_daily_penalty_even_with_an_injunction() -> None:
    c = case(*TO_HEARING, ev("sanction_decided", "2026-02-20", fine_eur=0,
                             injunction_period="1 month"), ev("decision_notified", "2026-02-21"))
    refused(c, ev("liquidation_opened", "2026-04-01", cutoff="2026-03-31"),
            "liquidation_opened rejected: the decision carries no daily penalty payment$")


def test_the_upper_tier_cap_message_names_its_basis() -> None:
    c = case(*TO_HEARING, turnover=2_000_000_000)
    refused(c, ev("sanction_decided", "2026-02-20", fine_eur=80_000_001),
            r"above the cap of 80,000,000 \(the higher of 20,000,000 and 4% of the annual "
            r"turnover 2,000,000,000\)$")


def test_a_suspension_of_one_day_moves_the_deadline_by_one_day_and_says_when() -> None:
    # Suspended Tue 20 Jan, resumed Wed 21 Jan 2026: Fri 6 Mar + 1 day = Sat 7 Mar, rolled
    # to Mon 9 Mar 2026.
    c = case(COMPLAINT, NOTICE, ev("case_suspended", "2026-01-20"),
             ev("case_resumed", "2026-01-21"))
    rec = c.deadline("formal_notice_compliance")
    assert rec.due == "2026-03-09"
    assert ("The case was suspended for 1 day (from 2026-01-20 to 2026-01-21): those days are "
            "added to the period, whose last day becomes 2026-03-07.") in rec.explanation
    refused(c, ev("case_resumed", "2026-01-22"),
            "^case_resumed rejected: the case is not suspended$")


def test_recorded_fields_are_plain_text_and_numbers() -> None:
    # The register and timeline get dates as ISO text, and no empty or false field.
    c = case(*TO_HEARING[:2])
    scheduled = ev("hearing_scheduled", "2026-01-07", hearing_date="2026-02-10")
    c.run_to_day_of(scheduled)
    c.m.apply(EVENT_ADAPTER.validate_python(scheduled), c.now)
    [row] = [r for r in c.m.take_effects().register if r.table == "events"]
    assert row.data["fields"] == {"hearing_date": "2026-02-10"}
    c.record(ev("compliance_evidence_submitted", "2026-01-08"))
    events = [t for t in c.m.s.timeline if t.kind == "event"]
    assert [(t.name, t.detail) for t in events[-2:]] == [
        ("hearing_scheduled", "hearing_date=2026-02-10"), ("compliance_evidence_submitted", "")]
    c.record(ev("hearing_held", "2026-02-10"))
    c.record(ev("sanction_decided", "2026-02-20", fine_eur=1, publish=False))
    assert [t.detail for t in c.m.s.timeline if t.kind == "event"][-1] == "fine_eur=1"


def test_a_case_opened_with_its_complainant_and_subject_keeps_them() -> None:
    proc = get_procedure("fr-cnil")
    now = datetime(2026, 1, 5, 9, tzinfo=PARIS)
    m = open_machine(CaseInput(case_id="K-1", controller=Controller(name="A", country="FR"),
                               subject="cookies", complainant_ref="C-7"), proc, now)
    assert (m.s.subject, m.s.complainant_ref, m.s.opened_at) == ("cookies", "C-7", now)
    # A later complaint keeps the subject given at opening.
    m.apply(EVENT_ADAPTER.validate_python(ev("complaint_received", "2026-01-05",
                                             subject="other", complainant_ref="C-7")), now)
    assert m.s.subject == "cookies"


# --- short periods, repeats, and figures kept in the state -----------------------------------

def test_a_short_period_gets_only_the_reminders_after_it_opens() -> None:
    # 10 days from Tue 6 Jan 2026: Fri 16 Jan. The 14-day reminder would fall before the
    # notice (Fri 2 Jan): never sent; the 3-day one goes on Tue 13 Jan, 09:00.
    c = case(COMPLAINT, ev("formal_notice_issued", "2026-01-06", period="10 days"))
    assert c.m.next_wake() == datetime(2026, 1, 13, 9, tzinfo=PARIS)
    c.run_to(datetime(2026, 1, 13, 9, tzinfo=PARIS))
    assert {s for _, _, s in c.reminders()} == {
        "[B-1] Reminder: formal notice compliance due 2026-01-16 (3 days)"}


def test_a_repeat_of_an_applied_event_passes_the_check_even_after_the_stage_moved() -> None:
    # The workflow's validator checks a resent event: a repeat of one already applied is
    # harmless, even though the case has moved on and would refuse it as a new event.
    c = case(COMPLAINT)
    notice = EVENT_ADAPTER.validate_python({**NOTICE, "id": "MED-1"})
    c.m.apply(notice, c.now)
    c.m.check(notice)  # no refusal
    with pytest.raises(EventRejected):
        c.m.check(EVENT_ADAPTER.validate_python(NOTICE))


def test_a_refused_extension_lists_every_pending_deadline() -> None:
    c = case(COMPLAINT, ev("information_requested", "2026-01-06"))
    refused(c, ev("extension_granted", "2026-01-07", deadline="appeal", period="1 month"),
            "pending: complainant_progress, information_response$")


def test_a_rapporteur_without_notice_informs_the_complainant_of_progress() -> None:
    c = case(COMPLAINT, ev("rapporteur_designated", "2026-01-20"))
    assert c.deadline("complainant_progress").status == "met"
    assert c.m.s.stage == "rapporteur"


def test_an_hour_period_against_a_minimum_in_days() -> None:
    # 240 hours from 12:00 on Tue 6 Jan 2026 end at 12:00 on Fri 16 Jan, before the end of
    # the 10th day (24:00 on 16 Jan): under the minimum. 252 hours end at 24:00: enough.
    c = case(COMPLAINT)
    refused(c, ev("formal_notice_issued", "2026-01-06", period="240 hours"),
            "a compliance period of 240 hours is under the minimum of 10 days")
    c.record(ev("formal_notice_issued", "2026-01-06", period="252 hours"))
    assert c.deadline("formal_notice_compliance").due == "2026-01-17T00:00:00+01:00"


def test_figures_stop_at_the_cut_off_and_an_injunction_without_penalty_accrues_nothing() -> None:
    c = case(*PENALTY_DECISION, ev("liquidation_opened", "2026-04-10", cutoff="2026-04-09"))
    c.run_to(datetime(2026, 6, 1, tzinfo=PARIS))
    # 24 Mar .. 9 Apr = 17 days, kept in the state however late the clock runs.
    assert (c.m.s.sanction.penalty_days, c.m.s.sanction.penalty_eur) == (17, 8_500)
    c = case(*TO_HEARING, ev("sanction_decided", "2026-02-20", fine_eur=0,
                             injunction_period="1 month"), ev("decision_notified", "2026-02-21"))
    status = c.m.status(datetime(2026, 6, 1, tzinfo=PARIS))
    assert (status.sanction.penalty_days, status.sanction.penalty_eur) == (0, 0)


def test_a_liquidation_after_compliance_counts_to_compliance_and_says_so() -> None:
    # Compliance Thu 2 Apr 2026, cut-off 9 Apr: 24 Mar .. 2 Apr = 10 days at EUR 500; and on
    # the cut-off day itself the reason is still the compliance.
    for complied, days in (("2026-04-02", 10), ("2026-04-09", 17)):
        c = case(COMPLAINT, *PENALTY_DECISION, ev("compliance_established", complied),
                 ev("liquidation_opened", "2026-04-10", cutoff="2026-04-09"))
        mail = next(n for n in c.sent if n.template == "liquidation_opened")
        assert mail.data["explanation"] == [
            f"{days} days of delay from 2026-03-24 to {complied} inclusive (compliance "
            f"established) at EUR 500 per day: EUR {days * 500:,}."]
        notes = [n for n in c.sent if n.template == "compliance_established"]
        assert {n.party for n in notes} == {"controller", "complainant", "case_handler"}


def test_an_ico_deadline_cites_the_ico_counting_rules() -> None:
    c = case(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
             ev("enforcement_notice_given", "2026-01-06", period="28 days"),
             procedure="uk-ico")
    rec = c.deadline("enforcement_notice_compliance")
    assert rec.explanation[1] == (
        "Period of 28 days from 2026-01-06 under the Data Protection Act 2018 s. 205(2), "
        "which applies Regulation (EEC, Euratom) No 1182/71 art. 3, GB (ENG) calendar; the "
        "day of the event is not counted (DPA 2018 s. 205(2) and Reg. 1182/71 art. 3(1)).")
    appeal = c.deadline("enforcement_notice_appeal")
    assert appeal.explanation[1] == (
        "Period of 28 days from 2026-01-06 under the UK tribunal procedure rules, GB (ENG) "
        "calendar; the day of the event is not counted (common-law rule for a period after "
        "an event).")
