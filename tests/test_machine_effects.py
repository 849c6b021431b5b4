"""What each step of a case sends and records, written out in full: every notification (its
idempotency key, recipient, address, language, template and subject), every register row
(table and key, and the data a register reader relies on) and every timeline entry, for a
case taken from the complaint to the referral and for the sanction stage to the liquidation.

These are the effects the workflows carry out and the interfaces show; the expectations are
written by hand from the procedure (dates worked out in the comments), so a reshaped machine
must keep them or change them on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from enforcement.case import Machine
from enforcement.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.procedures import get_procedure

PARIS = ZoneInfo("Europe/Paris")
CONTROLLER, COMPLAINANT = "dpo@acme.example", "c@example.org"


@dataclass
class Out:
    # key, party, to, language, template, subject
    notes: list[tuple[str, str, str | None, str, str, str]]
    rows: list[tuple[str, str]]  # table, key
    data: dict[str, dict[str, Any]]  # key -> row data
    timeline: list[tuple[str, str, str, str]]  # date, kind, name, detail


class Run:
    """A case driven as the workflow drives it; each step returns what it sent and recorded."""

    def __init__(self, opened: datetime, **controller: Any) -> None:
        self.now = opened
        self.m = Machine.open(CaseInput(
            case_id="E-1", controller=Controller(name="Acme", country="FR", email=CONTROLLER,
                                                 **controller),
            complainant_email=COMPLAINANT, complainant_language="en"),
            get_procedure("fr-cnil"), opened)
        self.opening = self.out(0)

    def out(self, seen: int) -> Out:
        fx = self.m.take_effects()
        return Out(
            [(n.key.removeprefix("E-1:"), n.party, n.to, n.language, n.template, n.subject)
             for n in fx.notifications],
            [(r.table, r.key.removeprefix("E-1:")) for r in fx.register],
            {r.key.removeprefix("E-1:"): r.data for r in fx.register},
            [(t.date, t.kind, t.name, t.detail) for t in self.m.s.timeline[seen:]])

    def clock(self, when: datetime) -> Out:
        seen = len(self.m.s.timeline)
        self.now = when
        self.m.advance(when)
        return self.out(seen)

    def event(self, event_type: str, day: str, /, **fields: Any) -> Out:
        """The event, recorded at 18:00 on its day; the clock must have nothing due first."""
        at = datetime.combine(date.fromisoformat(day), time(18), tzinfo=PARIS)
        quiet = self.clock(at)
        assert (quiet.notes, quiet.rows) == ([], []), quiet
        seen = len(self.m.s.timeline)
        self.m.apply(EVENT_ADAPTER.validate_python({"type": event_type, "date": day, **fields}), at)
        return self.out(seen)


def at(day: str, hour: int = 18) -> str:
    """The timeline date of a notification: the moment it was made, Paris winter time."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=PARIS).isoformat()


def test_from_the_complaint_to_the_referral() -> None:
    r = Run(datetime(2026, 1, 5, 9, tzinfo=PARIS))
    assert r.opening.rows == [("cases", "opened")]
    assert r.opening.data["opened"] == {
        "procedure": "fr-cnil", "controller_name": "Acme", "controller_country": "FR",
        "subject": "", "stage": "new", "status": "open"}

    # Mon 5 Jan 2026: the complaint. The complainant's 3 months end on Sun 5 Apr; Mon 6 Apr
    # is Easter Monday: Tue 7 Apr 2026.
    o = r.event("complaint_received", "2026-01-05", subject="cookies", complainant_ref="C-1")
    assert o.rows == [("events", "event:1"), ("cases", "stage:1:complaint"),
                      ("deadlines", "deadline:0:pending")]
    assert o.data["event:1"] == {"seq": 1, "type": "complaint_received", "date": "2026-01-05",
                                 "event_id": None,
                                 "fields": {"subject": "cookies", "complainant_ref": "C-1"}}
    assert o.data["stage:1:complaint"] == {"stage": "complaint", "status": "open"}
    progress = o.data["deadline:0:pending"]
    assert (progress["name"], progress["trigger_date"], progress["period"], progress["due"],
            progress["expires_at"], progress["status"]) == (
        "complainant_progress", "2026-01-05", "3 months", "2026-04-07",
        "2026-04-08T00:00:00+02:00", "pending")
    assert progress["explanation"][0] == ("The complainant may go to court if not informed of "
                                          "progress within this period (GDPR art. 78(2)).")
    assert o.notes == [
        ("event:1:complainant", "complainant", COMPLAINANT, "en", "complaint_received",
         "[E-1] Complaint received"),
        ("event:1:case_handler", "case_handler", None, "en", "complaint_received",
         "[E-1] Complaint received")]
    assert o.timeline == [
        ("2026-01-05", "event", "complaint_received", "subject=cookies; complainant_ref=C-1"),
        ("2026-01-05", "deadline", "complainant_progress", "due 2026-04-07 (3 months)"),
        (at("2026-01-05"), "notification", "complaint_received", "to the complainant"),
        (at("2026-01-05"), "notification", "complaint_received", "to the case handler")]
    assert r.m.s.subject == "cookies" and r.m.s.complainant_ref == "C-1"

    # Mon 12 Jan: the investigation informs the complainant of progress.
    o = r.event("investigation_opened", "2026-01-12", kind="online")
    assert o.rows == [("events", "event:2"), ("deadlines", "deadline:0:met"),
                      ("cases", "stage:6:investigation")]
    assert o.data["deadline:0:met"]["status"] == "met"
    assert o.notes == [("event:2:complainant", "complainant", COMPLAINANT, "en",
                        "investigation_opened", "[E-1] Investigation opened")]
    assert o.timeline == [
        ("2026-01-12", "event", "investigation_opened", "kind=online"),
        ("2026-01-12", "deadline", "complainant_progress", "met (was due 2026-04-07)"),
        (at("2026-01-12"), "notification", "investigation_opened", "to the complainant")]

    # Tue 13 Jan: 15 days to answer, to Wed 28 Jan 2026.
    o = r.event("information_requested", "2026-01-13", period="15 days")
    assert o.rows == [("events", "event:3"), ("deadlines", "deadline:1:pending")]
    assert o.notes == [("event:3:controller", "controller", CONTROLLER, "fr",
                        "information_requested",
                        "[E-1] Information requested: answer by 2026-01-28")]
    assert o.timeline == [
        ("2026-01-13", "event", "information_requested", "period=15 days"),
        ("2026-01-13", "deadline", "information_response", "due 2026-01-28 (15 days)"),
        (at("2026-01-13"), "notification", "information_requested", "to the controller")]

    # Wed 14 Jan 09:00, 14 days before the answer is due: a reminder to both.
    o = r.clock(datetime(2026, 1, 14, 9, tzinfo=PARIS))
    assert o.notes == [
        ("reminder:1:14:2026-01-28:controller", "controller", CONTROLLER, "fr", "reminder",
         "[E-1] Reminder: information response due 2026-01-28 (14 days)"),
        ("reminder:1:14:2026-01-28:case_handler", "case_handler", None, "en", "reminder",
         "[E-1] Reminder: information response due 2026-01-28 (14 days)")]
    assert o.rows == []
    assert o.timeline == [
        (at("2026-01-14", 9), "reminder", "information_response", "14 days before 2026-01-28"),
        (at("2026-01-14", 9), "notification", "reminder", "to the controller"),
        (at("2026-01-14", 9), "notification", "reminder", "to the case handler")]

    # Tue 20 Jan: answered before the 3-day reminder (Sun 25 Jan).
    o = r.event("information_provided", "2026-01-20")
    assert o.rows == [("events", "event:4"), ("deadlines", "deadline:1:met")]
    assert o.notes == []
    assert o.timeline == [
        ("2026-01-20", "event", "information_provided", ""),
        ("2026-01-20", "deadline", "information_response", "met (was due 2026-01-28)")]

    # Mon 26 Jan: the formal notice, 1 month: Thu 26 Feb 2026.
    o = r.event("formal_notice_issued", "2026-01-26", period="1 month",
                measures=["stop collecting", "delete the data"])
    assert o.rows == [("events", "event:5"), ("cases", "stage:16:formal_notice"),
                      ("deadlines", "deadline:2:pending")]
    assert o.data["event:5"]["fields"] == {"period": "1 month",
                                           "measures": ["stop collecting", "delete the data"]}
    assert o.notes == [
        ("event:5:controller", "controller", CONTROLLER, "fr", "formal_notice_issued",
         "[E-1] Formal notice: comply by 2026-02-26"),
        ("event:5:complainant", "complainant", COMPLAINANT, "en", "progress",
         "[E-1] Progress of your complaint: formal notice issued")]
    assert o.timeline == [
        ("2026-01-26", "event", "formal_notice_issued",
         "period=1 month; measures=['stop collecting', 'delete the data']"),
        ("2026-01-26", "deadline", "formal_notice_compliance", "due 2026-02-26 (1 month)"),
        (at("2026-01-26"), "notification", "formal_notice_issued", "to the controller"),
        (at("2026-01-26"), "notification", "progress", "to the complainant")]

    o = r.event("compliance_evidence_submitted", "2026-02-02", ref="audit-1")
    assert o.rows == [("events", "event:6")]
    assert o.notes == [("event:6:case_handler", "case_handler", None, "en",
                        "compliance_evidence_submitted", "[E-1] Compliance evidence submitted")]

    o = r.event("compliance_rejected", "2026-02-05")
    assert o.rows == [("events", "event:7")]
    assert o.notes == [("event:7:controller", "controller", CONTROLLER, "fr",
                        "compliance_rejected", "[E-1] Compliance evidence not accepted")]

    # Suspended Mon 9 Feb, before the reminder of Thu 12 Feb: nothing is sent meanwhile.
    o = r.event("case_suspended", "2026-02-09", reason="expert report")
    assert o.rows == [("events", "event:8")]
    assert o.notes == [
        ("event:8:controller", "controller", CONTROLLER, "fr", "case_suspended",
         "[E-1] Case suspended: running deadlines are stopped"),
        ("event:8:case_handler", "case_handler", None, "en", "case_suspended",
         "[E-1] Case suspended: running deadlines are stopped")]
    assert r.m.next_wake() is None

    # Resumed Mon 16 Feb: 7 days added, Thu 26 Feb -> Thu 5 Mar 2026.
    o = r.event("case_resumed", "2026-02-16")
    assert o.rows == [("events", "event:9"), ("deadlines", "deadline:2:suspended:9")]
    assert o.data["deadline:2:suspended:9"]["due"] == "2026-03-05"
    assert o.notes == [
        ("event:9:controller", "controller", CONTROLLER, "fr", "case_resumed",
         "[E-1] Case resumed: deadlines moved"),
        ("event:9:case_handler", "case_handler", None, "en", "case_resumed",
         "[E-1] Case resumed: deadlines moved")]
    assert o.timeline[1] == ("2026-02-16", "deadline", "formal_notice_compliance",
                             "moved to 2026-03-05 by 7 days of suspension")

    # Reminders for the moved date: Thu 19 Feb and Mon 2 Mar, 09:00.
    assert r.m.next_wake() == datetime(2026, 2, 19, 9, tzinfo=PARIS)
    o = r.clock(datetime(2026, 2, 19, 9, tzinfo=PARIS))
    assert [n[0] for n in o.notes] == ["reminder:2:14:2026-03-05:controller",
                                       "reminder:2:14:2026-03-05:case_handler"]
    assert r.m.next_wake() == datetime(2026, 3, 2, 9, tzinfo=PARIS)
    o = r.clock(datetime(2026, 3, 2, 9, tzinfo=PARIS))
    assert [n[5] for n in o.notes] == [
        "[E-1] Reminder: formal notice compliance due 2026-03-05 (3 days)"] * 2

    # 24:00 on Thu 5 Mar: no compliance; the engine refers the case, dated that day.
    expiry = datetime(2026, 3, 6, 0, tzinfo=PARIS)
    assert r.m.next_wake() == expiry
    o = r.clock(expiry)
    assert o.rows == [("deadlines", "deadline:2:missed"), ("cases", "stage:38:referred"),
                      ("events", "event:10")]
    assert o.data["event:10"] == {
        "seq": 10, "type": "referred_to_sanction", "date": "2026-03-05", "event_id": None,
        "fields": {"reason": "formal notice not complied with by 2026-03-05"}}
    assert o.notes == [
        ("deadline:2:missed:case_handler", "case_handler", None, "en", "deadline_missed",
         "[E-1] Deadline passed: formal notice compliance (2026-03-05)"),
        ("referred:10:controller", "controller", CONTROLLER, "fr", "referred_to_sanction",
         "[E-1] Case referred to the sanctioning committee"),
        ("referred:10:case_handler", "case_handler", None, "en", "referred_to_sanction",
         "[E-1] Case referred to the sanctioning committee")]
    assert o.timeline == [
        ("2026-03-05", "deadline", "formal_notice_compliance",
         "expired at 2026-03-06T00:00:00+01:00"),
        (at("2026-03-06", 0), "notification", "deadline_missed", "to the case handler"),
        ("2026-03-05", "outcome", "referred_to_sanction",
         "formal notice not complied with by 2026-03-05"),
        (at("2026-03-06", 0), "notification", "referred_to_sanction", "to the controller"),
        (at("2026-03-06", 0), "notification", "referred_to_sanction", "to the case handler")]
    assert (r.m.s.stage, r.m.s.status, r.m.next_wake()) == ("referred", "open", None)


def test_the_sanction_stage_to_the_liquidation_and_closure() -> None:
    r = Run(datetime(2026, 3, 2, 9, tzinfo=PARIS))

    # Mon 2 Mar 2026: a rapporteur without a formal notice refers the case first.
    o = r.event("rapporteur_designated", "2026-03-02")
    assert o.rows == [("events", "event:1"), ("cases", "stage:1:referred"),
                      ("events", "event:2"), ("cases", "stage:4:rapporteur")]
    assert o.data["event:2"]["fields"] == {
        "reason": "rapporteur designated without a formal notice"}
    assert o.notes == [
        ("referred:2:controller", "controller", CONTROLLER, "fr", "referred_to_sanction",
         "[E-1] Case referred to the sanctioning committee"),
        ("referred:2:case_handler", "case_handler", None, "en", "referred_to_sanction",
         "[E-1] Case referred to the sanctioning committee")]

    # Mon 9 Mar: the report; 1 month for observations, to Thu 9 Apr 2026.
    o = r.event("report_notified", "2026-03-09")
    assert o.rows == [("events", "event:3"), ("cases", "stage:5:report"),
                      ("deadlines", "deadline:0:pending")]
    assert o.notes == [("event:3:controller", "controller", CONTROLLER, "fr",
                        "report_notified",
                        "[E-1] Sanction report notified: observations by 2026-04-09")]
    # 14 days before: Thu 26 Mar 09:00, still winter time.
    o = r.clock(datetime(2026, 3, 26, 9, tzinfo=PARIS))
    assert [n[0] for n in o.notes] == ["reminder:0:14:2026-04-09:controller",
                                       "reminder:0:14:2026-04-09:case_handler"]

    o = r.event("observations_submitted", "2026-04-02")
    assert o.rows == [("events", "event:4"), ("deadlines", "deadline:0:met")]
    assert o.data["deadline:0:met"]["name"] == "report_observations"
    assert o.notes == [("event:4:case_handler", "case_handler", None, "en",
                        "observations_submitted", "[E-1] Observations submitted")]

    # Thu 16 Apr: the reply; 1 month to Sat 16 May, rolled to Mon 18 May 2026.
    o = r.event("rapporteur_replied", "2026-04-16")
    assert o.rows == [("events", "event:5"), ("deadlines", "deadline:1:pending")]
    assert o.data["deadline:1:pending"]["due"] == "2026-05-18"
    assert o.notes == [("event:5:controller", "controller", CONTROLLER, "fr",
                        "rapporteur_replied",
                        "[E-1] Rapporteur's reply: further observations by 2026-05-18")]

    # Mon 20 Apr: the hearing on Thu 28 May (the earliest would be Tue 5 May).
    o = r.event("hearing_scheduled", "2026-04-20", hearing_date="2026-05-28")
    assert o.rows == [("events", "event:6"), ("cases", "stage:17:hearing_scheduled")]
    assert o.notes == [("event:6:controller", "controller", CONTROLLER, "fr",
                        "hearing_scheduled", "[E-1] Hearing on 2026-05-28")]
    # 14 days before Mon 18 May: Mon 4 May 09:00 (summer time).
    o = r.clock(datetime(2026, 5, 4, 9, tzinfo=PARIS))
    assert [n[5] for n in o.notes] == [
        "[E-1] Reminder: reply observations due 2026-05-18 (14 days)"] * 2

    o = r.event("observations_submitted", "2026-05-12")
    assert o.rows == [("events", "event:7"), ("deadlines", "deadline:1:met")]
    assert o.data["deadline:1:met"]["name"] == "reply_observations"

    o = r.event("hearing_held", "2026-05-28")
    assert (o.rows, o.notes) == ([("events", "event:8"), ("cases", "stage:25:deliberation")],
                                 [])

    o = r.event("sanction_decided", "2026-06-04", fine_eur=20_000_000,
                injunction_period="2 months", penalty_per_day_eur=100_000)
    assert o.rows == [("events", "event:9"), ("cases", "stage:26:decided"),
                      ("decisions", "decision:9")]
    assert o.data["decision:9"] == {"kind": "sanction", "fine_eur": 20_000_000,
                                    "penalty_per_day_eur": 100_000, "publish": False,
                                    "injunction_period": "2 months"}
    assert o.notes == [("event:9:case_handler", "case_handler", None, "en",
                        "sanction_decided", "[E-1] Sanction decided")]
    assert o.timeline[1] == ("2026-06-04", "outcome", "sanction_decided",
                             "fine 20,000,000 EUR, injunction within 2 months with 100,000 "
                             "per day of delay")

    # Mon 8 Jun: notified. Appeal and injunction, 2 months each: Sat 8 Aug -> Mon 10 Aug.
    o = r.event("decision_notified", "2026-06-08")
    assert o.rows == [("events", "event:10"), ("cases", "stage:29:decision_notified"),
                      ("deadlines", "deadline:2:pending"), ("deadlines", "deadline:3:pending"),
                      ("decisions", "decision_notified:10")]
    assert (o.data["deadline:2:pending"]["name"], o.data["deadline:2:pending"]["due"]) == (
        "appeal", "2026-08-10")
    assert (o.data["deadline:3:pending"]["name"], o.data["deadline:3:pending"]["due"]) == (
        "injunction_compliance", "2026-08-10")
    assert o.data["decision_notified:10"] == {
        "kind": "notified", "fine_eur": 20_000_000, "penalty_per_day_eur": 100_000,
        "injunction_due": "2026-08-10", "decided": "2026-06-04"}
    # No complainant on this case: only the controller is told.
    assert o.notes == [("event:10:controller", "controller", CONTROLLER, "fr",
                        "decision_notified", "[E-1] Decision notified: appeal by 2026-08-10")]

    o = r.event("appeal_lodged", "2026-07-01")
    assert o.rows == [("events", "event:11"), ("deadlines", "deadline:2:met")]
    assert o.notes == [("event:11:case_handler", "case_handler", None, "en", "appeal_lodged",
                        "[E-1] Appeal lodged before Conseil d'État (not suspensive)")]
    assert o.timeline[0] == ("2026-07-01", "event", "appeal_lodged", "court=Conseil d'État")

    # Reminders of the injunction only (the appeal is lodged): Mon 27 Jul and Fri 7 Aug.
    for day in (27, 7):
        o = r.clock(datetime(2026, 7 if day == 27 else 8, day, 9, tzinfo=PARIS))
        assert [n[0] for n in o.notes] == [
            f"reminder:3:{14 if day == 27 else 3}:2026-08-10:controller",
            f"reminder:3:{14 if day == 27 else 3}:2026-08-10:case_handler"]

    # 24:00 on Mon 10 Aug (summer time): the penalty runs from Tue 11 Aug.
    o = r.clock(datetime(2026, 8, 11, 0, tzinfo=PARIS))
    assert o.rows == [("deadlines", "deadline:3:missed")]
    assert o.notes == [("deadline:3:missed:case_handler", "case_handler", None, "en",
                        "deadline_missed",
                        "[E-1] Deadline passed: injunction compliance (2026-08-10)")]
    assert o.timeline == [
        ("2026-08-10", "deadline", "injunction_compliance",
         "expired at 2026-08-11T00:00:00+02:00"),
        ("2026-08-11T00:00:00+02:00", "notification", "deadline_missed", "to the case handler"),
        ("2026-08-11", "outcome", "penalty_accrual_started", "100,000 EUR per day")]

    # Mon 14 Sep, cut-off Thu 10 Sep: 11 Aug .. 10 Sep = 21 + 10 = 31 days at EUR 100,000.
    # 15 days to answer: Tue 29 Sep 2026.
    o = r.event("liquidation_opened", "2026-09-14", cutoff="2026-09-10")
    assert o.rows == [("events", "event:12"), ("cases", "stage:45:liquidation"),
                      ("deadlines", "deadline:4:pending"), ("decisions", "liquidation_opened:12")]
    opened = o.data["liquidation_opened:12"]
    assert {k: v for k, v in opened.items() if k != "explanation"} == {
        "kind": "liquidation_opened", "amount_eur": 3_100_000, "penalty_per_day_eur": 100_000,
        "injunction_due": "2026-08-10", "cutoff": "2026-09-10", "days": 31}
    assert opened["explanation"] == [
        "31 days of delay from 2026-08-11 to 2026-09-10 inclusive (liquidation cut-off) at "
        "EUR 100,000 per day: EUR 3,100,000."]
    assert o.notes == [("event:12:controller", "controller", CONTROLLER, "fr",
                        "liquidation_opened",
                        "[E-1] Liquidation of the daily penalty: 3,100,000 EUR intended; "
                        "observations by 2026-09-29")]
    assert o.timeline[2] == ("2026-09-14", "outcome", "liquidation_intended",
                             "31 days, 3,100,000 EUR")
    o = r.clock(datetime(2026, 9, 15, 9, tzinfo=PARIS))
    assert [n[0] for n in o.notes] == ["reminder:4:14:2026-09-29:controller",
                                       "reminder:4:14:2026-09-29:case_handler"]

    o = r.event("observations_submitted", "2026-09-22")
    assert o.rows == [("events", "event:13"), ("deadlines", "deadline:4:met")]
    assert o.data["deadline:4:met"]["name"] == "liquidation_observations"

    o = r.event("penalty_liquidated", "2026-10-05", amount_eur=3_000_000)
    assert o.rows == [("events", "event:14"), ("cases", "stage:55:liquidated"),
                      ("decisions", "liquidation:14")]
    assert o.data["liquidation:14"] == {"kind": "liquidation", "amount_eur": 3_000_000,
                                        "intended_eur": 3_100_000, "cutoff": "2026-09-10"}
    assert o.notes == [("event:14:controller", "controller", CONTROLLER, "fr",
                        "penalty_liquidated",
                        "[E-1] Daily penalty liquidated: 3,000,000 EUR")]

    o = r.event("compliance_established", "2026-10-12")
    assert o.rows == [("events", "event:15")]
    assert [n[0] for n in o.notes] == ["event:15:controller", "event:15:case_handler"]
    assert {n[5] for n in o.notes} == {"[E-1] Compliance with the injunction established"}
    assert o.timeline[1] == ("2026-10-12", "outcome", "compliance_established",
                             "penalty accrual stops")
    # Figures to the cut-off: compliance after it changes nothing.
    status = r.m.status(r.now)
    assert (status.sanction.penalty_days, status.sanction.penalty_eur,
            status.sanction.liquidated_eur) == (31, 3_100_000, 3_000_000)

    o = r.event("case_closed", "2026-10-19", reason="penalty paid")
    assert o.rows == [("events", "event:16"), ("cases", "closed")]
    assert o.data["closed"] == {"stage": "closed", "status": "closed", "outcome": "penalty paid"}
    assert [n[0] for n in o.notes] == ["event:16:controller", "event:16:case_handler"]
    assert {n[4:] for n in o.notes} == {("case_closed", "[E-1] Case closed")}
    assert o.timeline[-1] == ("2026-10-19", "outcome", "case_closed", "penalty paid")
    assert (r.m.s.status, r.m.s.stage, r.m.s.outcome) == ("closed", "closed", "penalty paid")


def test_closing_cancels_what_is_still_running_and_tells_everyone() -> None:
    r = Run(datetime(2026, 1, 5, 9, tzinfo=PARIS))
    r.event("complaint_received", "2026-01-05", subject="cookies", complainant_ref="C-1")
    # 1 month from Tue 13 Jan: Fri 13 Feb 2026.
    r.event("information_requested", "2026-01-13")
    o = r.event("no_breach_found", "2026-01-20")
    # Both deadlines still running are cancelled, then the case is closed, dismissed.
    assert o.rows == [("events", "event:3"), ("deadlines", "deadline:0:cancelled"),
                      ("deadlines", "deadline:1:cancelled"), ("cases", "closed")]
    assert o.data["deadline:1:cancelled"]["due"] == "2026-02-13"
    assert o.data["closed"] == {"stage": "closed", "status": "closed", "outcome": "dismissed"}
    assert o.notes == [
        ("event:3:controller", "controller", CONTROLLER, "fr", "case_dismissed",
         "[E-1] Case closed: no breach found"),
        ("event:3:complainant", "complainant", COMPLAINANT, "en", "case_dismissed",
         "[E-1] Case closed: no breach found"),
        ("event:3:case_handler", "case_handler", None, "en", "case_dismissed",
         "[E-1] Case closed: no breach found")]
    assert o.timeline[-1] == ("2026-01-20", "outcome", "case_closed", "dismissed")
    assert [d.status for d in r.m.s.deadlines] == ["cancelled", "cancelled"]
    assert r.m.next_wake() is None


def test_compliance_accepted_meets_the_notice_and_closes_the_case() -> None:
    r = Run(datetime(2026, 1, 5, 9, tzinfo=PARIS))
    r.event("complaint_received", "2026-01-05", subject="cookies", complainant_ref="C-1")
    r.event("formal_notice_issued", "2026-01-06")  # 2 months: Fri 6 Mar 2026
    o = r.event("compliance_accepted", "2026-02-16")  # before the reminder of 20 Feb
    assert o.rows == [("events", "event:3"), ("deadlines", "deadline:1:met"),
                      ("cases", "closed")]
    assert o.data["closed"]["outcome"] == "complied"
    assert [(n[0], n[4], n[5]) for n in o.notes] == [
        ("event:3:controller", "compliance_accepted", "[E-1] Compliance accepted: case closed"),
        ("event:3:complainant", "compliance_accepted",
         "[E-1] Compliance accepted: case closed"),
        ("event:3:case_handler", "compliance_accepted",
         "[E-1] Compliance accepted: case closed")]
    assert o.timeline[1] == ("2026-02-16", "deadline", "formal_notice_compliance",
                             "met (was due 2026-03-06)")
    assert o.timeline[-1] == ("2026-02-16", "outcome", "case_closed", "complied")


def test_a_case_closed_without_a_reason_says_closed() -> None:
    r = Run(datetime(2026, 1, 5, 9, tzinfo=PARIS))
    r.event("complaint_received", "2026-01-05", subject="cookies", complainant_ref="C-1")
    o = r.event("case_closed", "2026-01-06")
    assert o.data["closed"]["outcome"] == "closed"
    assert o.rows == [("events", "event:2"), ("deadlines", "deadline:0:cancelled"),
                      ("cases", "closed")]
    assert [n[1] for n in o.notes] == ["controller", "complainant", "case_handler"]


def test_the_appeal_extension_adds_every_unit_of_both_periods() -> None:
    # A procedure whose appeal and extension mix years, months, weeks and days: Mon 8 Jun
    # 2026 + 2 years 2 months = Wed 8 Aug 2028, + 2 weeks 2 days = Thu 24 Aug 2028.
    base = get_procedure("fr-cnil")
    proc = base.model_copy(update={"periods": base.periods.model_copy(update={
        "appeal": "1 year 1 month 1 week 1 day",
        "appeal_abroad_extension": "1 year 1 month 1 week 1 day"})})
    m = Machine.open(CaseInput(case_id="X-1", controller=Controller(name="A", country="US")),
                     proc, datetime(2026, 6, 1, tzinfo=PARIS))
    for e in ({"type": "rapporteur_designated", "date": "2026-06-01"},
              {"type": "report_notified", "date": "2026-06-01"},
              {"type": "hearing_scheduled", "date": "2026-06-01", "hearing_date": "2026-06-20"},
              {"type": "hearing_held", "date": "2026-06-20"},
              {"type": "sanction_decided", "date": "2026-06-05", "fine_eur": 1},
              {"type": "decision_notified", "date": "2026-06-08"}):
        m.apply(EVENT_ADAPTER.validate_python(e), datetime(2026, 6, 8, 12, tzinfo=PARIS))
    appeal = next(d for d in m.s.deadlines if d.name == "appeal")
    assert (appeal.period, appeal.due) == ("2 years 2 months 2 weeks 2 days", "2028-08-24")
    assert appeal.explanation[0] == (
        "The controller is established outside FR (US): the appeal period of 1 year 1 month "
        "1 week 1 day is extended by 1 year 1 month 1 week 1 day (CJA R421-7).")
