"""Automatic steps that wait for late records, the regulator's undo, and corrections
(issue: legal time, points 2 and 3). Pure: the machine driven as the workflow drives it.

Every date is worked out by hand in a comment. The CNIL's referral waits 5 working days
(`referral_grace`, office practice). The shared notice: received Tue 6 Jan 2026 for
2 months, due Fri 6 Mar 2026 (a working day), expiring at 24:00 (Sat 7 Mar, 00:00 Paris).
Its grace: Mon 9, Tue 10, Wed 11, Thu 12, Fri 13 Mar; the referral is final at 24:00 on
Fri 13 Mar, i.e. Sat 14 Mar 2026 00:00 Paris."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from enforcement.case.machine import EventRejected
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.case.procedure import Procedure
from enforcement.families import get_procedure, open_machine
from tests.case.test_legal_time import late
from tests.case.test_machine_behaviour import COMPLAINT, NOTICE, PARIS, Case, ev
from tests.case.test_machine_behaviour import case as open_case

EXPIRED = datetime(2026, 3, 7, 9, tzinfo=PARIS)
FINAL = datetime(2026, 3, 14, 0, tzinfo=PARIS)
IN_TIME = ev("compliance_accepted", "2026-03-06")


def referrals(c: Case) -> list[Any]:
    return [t for t in c.m.s.timeline
            if t.kind == "outcome" and t.name == "referred_to_sanction"]


def sent(c: Case, template: str) -> list[tuple[str, str]]:
    return [(n.party, n.subject) for n in c.sent if n.template == template]


def record_late(c: Case, event: dict[str, Any], recorded_on: str, by: str = "a.martin") -> Any:
    """`late`, keeping what it sent with the rest of the case's notifications."""
    fx = late(c, event, recorded_on, by)
    c.sent += fx.notifications
    return fx


def refused(c: Case, event: dict[str, Any], recorded_on: str, message: str) -> None:
    """Refused with `message` when recorded on `recorded_on`; nothing changed."""
    c.run_to(datetime.fromisoformat(recorded_on).replace(hour=18, tzinfo=PARIS))
    before = c.m.s.model_dump()
    with pytest.raises(EventRejected, match=message):
        c.m.apply(EVENT_ADAPTER.validate_python(event), c.now, "a.martin")
    assert c.m.s.model_dump() == before
    assert not c.m.take_effects()


# --- point 2: the referral waits -------------------------------------------------------------

def test_a_timely_compliance_recorded_within_the_grace_prevents_the_referral() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(EXPIRED)
    assert (c.deadline("formal_notice_compliance").status, c.m.s.stage) == (
        "missed", "formal_notice")
    assert c.m.next_wake() == FINAL
    [note] = [t for t in c.m.s.timeline if t.name == "referral_provisional"]
    assert note.detail.startswith("the case is referred on 2026-03-14 unless an act dated by "
                                  "2026-03-06 is recorded before then")
    assert "office practice, not a rule of law" in note.detail
    # Accepted on its due day, keyed in on Wed 11 Mar: met after all, the case closes.
    record_late(c, IN_TIME, "2026-03-11")
    rec = c.deadline("formal_notice_compliance")
    assert (rec.status, [(h.status, h.to) for h in rec.history]) == ("met", [("missed", "met")])
    assert (c.m.s.status, c.m.s.outcome) == ("closed", "complied")
    c.run_to(datetime(2026, 4, 1, 9, tzinfo=PARIS))
    assert referrals(c) == [] and sent(c, "referred_to_sanction") == []


def test_with_nothing_recorded_the_referral_is_final_when_the_grace_ends() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(FINAL - timedelta(seconds=1))
    assert c.m.s.stage == "formal_notice"
    c.run_to(FINAL)
    assert c.m.s.stage == "referred"
    [ref] = referrals(c)
    assert (ref.date, ref.recorded_by) == ("2026-03-14", "engine")
    assert ref.detail == ("formal notice not complied with by 2026-03-06 and 5 working days "
                          "of grace")
    assert sent(c, "referred_to_sanction") == [
        ("controller", "[B-1] Case referred to the sanctioning committee"),
        ("case_handler", "[B-1] Case referred to the sanctioning committee")]


def test_a_timely_compliance_recorded_after_the_referral_is_flagged_then_undone() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(FINAL)
    # Recorded Fri 20 Mar: the referral stands, the deadline is met, the case handler told.
    record_late(c, IN_TIME, "2026-03-20")
    assert c.m.s.stage == "referred"
    assert c.deadline("formal_notice_compliance").status == "met"
    assert sent(c, "referral_contested") == [
        ("case_handler", "[B-1] Referred case: a timely compliance was recorded late")]
    assert "compliance_accepted" in c.m.accepted() and "referral_undone" in c.m.accepted()
    # The regulator takes the referral back on Mon 23 Mar: the case closes as complied.
    fx = record_late(c, ev("referral_undone", "2026-03-23", reason="compliance accepted in time"),
              "2026-03-23", by="d.durand")
    assert (c.m.s.status, c.m.s.outcome) == ("closed", "complied")
    [row] = [r.data for r in fx.register if r.table == "events"]
    assert (row["type"], row["fields"], row["recorded_by"]) == (
        "referral_undone", {"reason": "compliance accepted in time"}, "d.durand")
    assert [n.party for n in fx.notifications if n.template == "compliance_accepted"] == [
        "controller", "complainant", "case_handler"]


def test_a_compliance_dated_after_the_notice_cannot_undo_a_final_referral() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(FINAL)
    refused(c, ev("compliance_accepted", "2026-03-09"), "2026-03-20",
            "compliance_accepted rejected: the case was referred when the formal notice due "
            "2026-03-06 ran out; compliance dated 2026-03-09 is not in time for it. To take "
            "the case back, record referral_undone with a reason")


def test_an_undone_referral_cancels_the_sanction_deadlines_and_a_rejection_refers_again() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(FINAL)
    c.record(ev("rapporteur_designated", "2026-03-16"))
    # Report notified Tue 17 Mar: observations within 1 month, Fri 17 Apr 2026.
    c.record(ev("report_notified", "2026-03-17"))
    assert c.deadline("report_observations").due == "2026-04-17"
    record_late(c, ev("referral_undone", "2026-03-20", reason="evidence sent in time"),
                "2026-03-20")
    assert c.m.s.stage == "formal_notice"
    assert c.deadline("report_observations").status == "cancelled"
    assert sent(c, "referral_undone") == [
        ("controller", "[B-1] Referral to the sanctioning committee withdrawn"),
        ("case_handler", "[B-1] Referral to the sanctioning committee withdrawn")]
    # No second automatic referral: the regulator decides. Rejecting the evidence refers.
    c.run_to(datetime(2026, 4, 30, 9, tzinfo=PARIS))
    assert c.m.s.stage == "formal_notice"
    c.record(ev("compliance_rejected", "2026-05-04"))
    assert c.m.s.stage == "referred"
    assert referrals(c)[-1].date == "2026-05-04"


def test_a_referral_the_regulator_made_cannot_be_undone_as_the_engines() -> None:
    c = open_case(COMPLAINT, ev("rapporteur_designated", "2026-01-07"))
    refused(c, ev("referral_undone", "2026-01-08", reason="mistake"), "2026-01-08",
            "referral_undone does not fit the case at stage 'rapporteur'")


def test_an_undo_and_a_correction_need_a_reason_and_a_target() -> None:
    with pytest.raises(ValidationError, match="reason"):
        EVENT_ADAPTER.validate_python(ev("referral_undone", "2026-01-08"))
    with pytest.raises(ValidationError, match="at least 3 characters"):
        EVENT_ADAPTER.validate_python(ev("event_withdrawn", "2026-01-08", seq=2, reason=""))
    with pytest.raises(ValidationError, match="by 'seq' or by 'event_id', one of the two"):
        EVENT_ADAPTER.validate_python(ev("event_withdrawn", "2026-01-08", reason="typo"))
    with pytest.raises(ValidationError, match="not another correction"):
        EVENT_ADAPTER.validate_python(ev(
            "event_corrected", "2026-01-08", seq=2, reason="typo",
            corrected=ev("event_withdrawn", "2026-01-08", seq=1, reason="typo")))


def _no_grace() -> Procedure:
    proc = get_procedure("fr-cnil")
    data = proc.model_dump()
    data["periods"]["referral_grace"] = "0 days"
    return Procedure.model_validate(data)


def test_a_grace_of_zero_days_refers_at_the_expiry() -> None:
    proc = _no_grace()
    assert proc.wait("referral_grace") is None
    now = datetime(2026, 1, 6, 9, tzinfo=PARIS)
    m = open_machine(CaseInput(case_id="Z-1", controller=Controller(name="A", country="FR")),
                     proc, now)
    m.apply(EVENT_ADAPTER.validate_python(NOTICE), now)
    m.advance(datetime(2026, 3, 7, 0, tzinfo=PARIS))
    assert m.s.stage == "referred"
    [ref] = [t for t in m.s.timeline
             if t.kind == "outcome" and t.name == "referred_to_sanction"]
    assert (ref.date, ref.detail) == ("2026-03-06", "formal notice not complied with by "
                                                    "2026-03-06")


def test_an_extension_granted_in_time_and_recorded_in_the_grace_revives_the_notice() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(EXPIRED)
    # Granted Thu 5 Mar for 1 month, keyed in Tue 10 Mar: 1 month from Fri 6 Mar is Mon
    # 6 Apr 2026, Easter Monday, so Tue 7 Apr.
    record_late(c, ev("extension_granted", "2026-03-05", deadline="formal_notice_compliance",
               period="1 month"), "2026-03-10")
    old, new = [d for d in c.m.s.deadlines if d.name == "formal_notice_compliance"]
    assert (old.status, [(h.status, h.to) for h in old.history]) == (
        "extended", [("missed", "extended")])
    assert (new.due, new.status) == ("2026-04-07", "pending")
    c.run_to(FINAL + timedelta(days=1))
    assert c.m.s.stage == "formal_notice" and referrals(c) == []


def test_a_suspension_dated_before_the_expiry_and_recorded_after_stops_the_clock() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(EXPIRED)
    # Suspended Mon 2 Mar, keyed in Tue 10 Mar: the notice runs again from its 4 last days.
    record_late(c, ev("case_suspended", "2026-03-02"), "2026-03-10")
    rec = c.deadline("formal_notice_compliance")
    assert (rec.status, [(h.status, h.to) for h in rec.history]) == (
        "pending", [("missed", "pending")])
    # Resumed Thu 12 Mar: 10 days added to Fri 6 Mar, Mon 16 Mar 2026.
    record_late(c, ev("case_resumed", "2026-03-12"), "2026-03-12")
    assert (rec.due, rec.status) == ("2026-03-16", "pending")
    c.run_to(datetime(2026, 3, 17, 9, tzinfo=PARIS))
    assert (rec.status, c.m.s.stage) == ("missed", "formal_notice")
    # missed twice, told twice, under two keys: a key is never used again
    assert [n.key for n in c.sent if n.template == "deadline_missed"] == [
        "B-1:deadline:1:missed:case_handler", "B-1:deadline:1:missed:1:case_handler"]


# --- point 3: corrections -------------------------------------------------------------------

ONE_MONTH = ev("formal_notice_issued", "2026-01-06", period="1 month")


def test_a_corrected_period_moves_the_deadline_under_its_number() -> None:
    c = open_case(COMPLAINT, ONE_MONTH)
    # 1 month from Tue 6 Jan: Fri 6 Feb 2026. The notice said 2 months: Fri 6 Mar.
    rec = c.deadline("formal_notice_compliance")
    assert (rec.seq, rec.due) == (1, "2026-02-06")
    fx = record_late(c, ev("event_corrected", "2026-01-08", seq=2,
                           reason="the notice says 2 months", corrected=NOTICE),
                     "2026-01-08", by="d.durand")
    rec = c.deadline("formal_notice_compliance")
    assert (rec.seq, rec.due, rec.period, rec.status) == (1, "2026-03-06", "2 months",
                                                          "pending")
    assert [(h.status, h.to, h.recorded_by) for h in rec.history] == [
        ("pending", "pending", "d.durand")]
    assert [r.key for r in fx.register] == ["B-1:event:3", "B-1:deadline:1:corrected:3"]
    assert fx.register[0].data["type"] == "event_corrected"
    assert [(n.key, n.subject) for n in fx.notifications] == [
        ("B-1:correction:3:controller",
         "[B-1] Case record corrected: event 2 (formal_notice_issued) corrected"),
        ("B-1:correction:3:case_handler",
         "[B-1] Case record corrected: event 2 (formal_notice_issued) corrected")]
    assert fx.notifications[0].data["changes"] == [
        "formal_notice_compliance: pending, due 2026-02-06 -> pending, due 2026-03-06"]
    [fix] = [t for t in c.m.s.timeline if t.kind == "event" and t.name == "event_corrected"]
    assert fix.detail == ("seq=2; reason=the notice says 2 months; corrected="
                          "formal_notice_issued of 2026-01-06 (period=2 months)")
    # the right notice joins the timeline beside the wrong one, entered by the corrector
    notices = [(t.detail, t.recorded_by, t.recorded_at) for t in c.m.s.timeline
               if t.kind == "event" and t.name == "formal_notice_issued"]
    assert notices == [("period=1 month", None, datetime(2026, 1, 6, 18, tzinfo=PARIS)),
                       ("period=2 months", "d.durand", datetime(2026, 1, 8, 18, tzinfo=PARIS))]
    # the first reminder is now 14 days before Fri 6 Mar: Fri 20 Feb at 09:00
    assert c.m.next_wake() == datetime(2026, 2, 20, 9, tzinfo=PARIS)
    # and the case is what it would have been with the right notice from the start
    right = open_case(COMPLAINT, NOTICE)
    assert ([(d.name, d.due, d.status) for d in c.m.s.deadlines]
            == [(d.name, d.due, d.status) for d in right.m.s.deadlines])


def test_withdrawing_the_notice_takes_back_the_referral_it_led_to() -> None:
    c = open_case(COMPLAINT, NOTICE)
    c.run_to(FINAL)
    assert c.m.s.stage == "referred"
    record_late(c, ev("event_withdrawn", "2026-03-16", seq=2, reason="sent to the wrong case"),
         "2026-03-16")
    assert c.m.s.stage == "complaint"
    notice = c.deadline("formal_notice_compliance")
    assert (notice.status, notice.history[-1].to) == ("cancelled", "cancelled")
    # The complaint of Mon 5 Jan: 3 months, Sun 5 Apr, then Easter Monday: Tue 7 Apr 2026;
    # it runs again, the notice that met it being withdrawn.
    progress = c.deadline("complainant_progress")
    assert (progress.due, progress.status) == ("2026-04-07", "pending")
    # What went out stays sent, the correction beside it; nothing was sent twice.
    assert len(sent(c, "referred_to_sanction")) == 2
    [fixed] = [n for n in c.sent if n.template == "event_corrected" and n.party == "controller"]
    assert fixed.data["changes"] == [
        "complainant_progress: met, due 2026-04-07 -> pending, due 2026-04-07",
        "formal_notice_compliance (due 2026-03-06) no longer arises",
        "stage: referred -> complaint"]
    keys = [n.key for n in c.sent]
    assert len(keys) == len(set(keys))
    # the referral carries its number (event 3, as in the register); the withdrawal too
    assert [t.seq for t in referrals(c)] == [3]
    [gone] = [t for t in c.m.s.timeline if t.name == "event_withdrawn" and t.kind == "event"]
    assert gone.seq == 4 and gone.detail == "seq=2; reason=sent to the wrong case"
    assert c.m.s.log[1].withdrawn and c.m.s.log[1].changed_by == [4]


def test_a_correction_that_leaves_a_later_event_unfit_is_refused() -> None:
    c = open_case(COMPLAINT, NOTICE, ev("compliance_evidence_submitted", "2026-02-02"))
    refused(c, ev("event_withdrawn", "2026-02-03", seq=2, reason="wrong case"), "2026-02-03",
            r"event_withdrawn rejected: with event 2 withdrawn, event 3 "
            r"\(compliance_evidence_submitted, recorded 2026-02-02\) no longer fits: "
            r"compliance_evidence_submitted does not fit the case at stage 'complaint'")


def test_a_correction_names_an_event_of_the_case() -> None:
    c = open_case(COMPLAINT, NOTICE)
    refused(c, ev("event_withdrawn", "2026-01-08", seq=9, reason="typo"), "2026-01-08",
            r"event 9 is not an event of this case that can be changed; its events: "
            r"1 \(complaint_received\), 2 \(formal_notice_issued\)$")
    record_late(c, ev("event_withdrawn", "2026-01-08", seq=2, reason="typo"), "2026-01-08")
    refused(c, ev("event_withdrawn", "2026-01-09", seq=2, reason="typo"), "2026-01-09",
            "event 2 is not an event of this case any more that can be changed")


def test_a_closed_case_takes_no_correction() -> None:
    c = open_case(COMPLAINT, ev("no_breach_found", "2026-01-07"))
    refused(c, ev("event_withdrawn", "2026-01-08", seq=2, reason="typo"), "2026-01-08",
            "the case is closed")


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(wrong=st.sampled_from(["10 days", "1 month", "2 months", "3 months", "6 weeks"]),
       right=st.sampled_from(["10 days", "1 month", "2 months", "3 months", "6 weeks"]),
       wrong_day=st.integers(0, 20), right_day=st.integers(0, 20),
       corrected_after=st.integers(1, 150))
def test_a_corrected_notice_gives_what_the_right_one_would_have(
        wrong: str, right: str, wrong_day: int, right_day: int, corrected_after: int) -> None:
    """A notice recorded with the wrong period or date and corrected up to 150 days later
    leaves the case where the right notice recorded in its place would have: the same stage
    and the same deadlines with the same dates and statuses."""
    start = date(2026, 1, 6)

    def notice(period: str, day: int) -> dict[str, Any]:
        return ev("formal_notice_issued", (start + timedelta(days=day)).isoformat(),
                  period=period)
    until = datetime.combine(start + timedelta(days=20 + corrected_after),
                             datetime.min.time(), tzinfo=PARIS).replace(hour=18)
    fixed = open_case(COMPLAINT, notice(wrong, wrong_day))
    fixed.run_to(until)
    correction = EVENT_ADAPTER.validate_python(ev(
        "event_corrected", until.date().isoformat(), seq=2, reason="wrong notice",
        corrected=notice(right, right_day)))
    if right_day > wrong_day + 1:  # dated after the wrong one was recorded: not a fix
        with pytest.raises(EventRejected, match="more than a day after the case's clock"):
            fixed.m.apply(correction, fixed.now, "d.durand")
        return
    fixed.m.apply(correction, fixed.now, "d.durand")
    fixed.run_to(until + timedelta(days=200))
    truth = open_case(COMPLAINT, notice(right, right_day))
    truth.run_to(until + timedelta(days=200))
    assert fixed.m.s.stage == truth.m.s.stage
    assert ([(d.name, d.due, d.status) for d in fixed.m.s.deadlines if d.status != "cancelled"]
            == [(d.name, d.due, d.status) for d in truth.m.s.deadlines])


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(comply=st.integers(-10, 6), extend=st.one_of(st.none(), st.integers(-6, 0)),
       delays=st.tuples(st.integers(0, 8), st.integers(0, 8)), extension_first=st.booleans())
def test_any_recording_order_before_the_referral_is_final_gives_the_same_outcome(
        comply: int, extend: int | None, delays: tuple[int, int],
        extension_first: bool) -> None:
    """A compliance accepted and perhaps a one-month extension, dated in the days around
    the notice's last day (Fri 6 Mar 2026), each recorded on its day or up to 8 days later
    but before the referral is final (at the latest Fri 13 Mar, 18:00), in either order:
    when every act fits the case recorded on its day, every record is accepted in any order
    (unless the case is closed by then: a closed case takes no more events), and the stage,
    the outcome and the notice's deadlines are those of the same acts recorded on their
    days."""
    due = date(2026, 3, 6)
    acts = [ev("compliance_accepted", (due + timedelta(days=comply)).isoformat())]
    if extend is not None:
        acts.append(ev("extension_granted", (due + timedelta(days=extend)).isoformat(),
                       deadline="formal_notice_compliance", period="1 month"))

    def outcome(order: list[tuple[dict[str, Any], int]]) -> tuple[Any, ...]:
        c = open_case(COMPLAINT, NOTICE)
        for act, delay in order:
            on = min(date.fromisoformat(act["date"]) + timedelta(days=delay), date(2026, 3, 13))
            c.run_to(datetime.combine(max(on, c.now.date()), datetime.min.time(),
                                      tzinfo=PARIS).replace(hour=18))
            try:
                c.m.apply(EVENT_ADAPTER.validate_python(act), c.now, "a.martin")
            except EventRejected as exc:
                return ("refused", c.m.s.status, str(exc))
        c.run_to(datetime(2026, 5, 1, 9, tzinfo=PARIS))
        return (c.m.s.stage, c.m.s.outcome,
                [(d.due, d.status) for d in c.m.s.deadlines
                 if d.name == "formal_notice_compliance"])

    on_time = outcome(sorted(((a, 0) for a in acts), key=lambda a: a[0]["date"]))
    recorded = list(zip(acts, delays, strict=False))
    if extension_first:
        recorded.reverse()
    late_order = outcome(recorded)
    if on_time[0] == "refused":
        return  # the acts do not fit together even on their days: nothing to compare
    if late_order[0] == "refused":
        assert late_order[1] == "closed", late_order
        return
    assert late_order == on_time
