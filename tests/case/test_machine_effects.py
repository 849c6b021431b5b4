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

from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.families import get_procedure, open_machine

PARIS = ZoneInfo("Europe/Paris")
CONTROLLER, COMPLAINANT = "dpo@acme.example", "c@example.org"


@dataclass
class Out:
    # key, party, to, language, template, subject
    notes: list[tuple[str, str, str | None, str, str, str]]
    rows: list[tuple[str, str]]  # table, key
    data: dict[str, dict[str, Any]]  # key -> row data
    timeline: list[tuple[str, str, str, str]]  # date, kind, name, detail
    payloads: dict[str, dict[str, Any]]  # notification key -> what its template is given


class Run:
    """A case driven as the workflow drives it; each step returns what it sent and recorded."""

    def __init__(self, opened: datetime, **controller: Any) -> None:
        self.now = opened
        self.m = open_machine(CaseInput(
            case_id="E-1", controller=Controller(name="Acme", country="FR", email=CONTROLLER,
                                                 **controller),
            complainant_email=COMPLAINANT, complainant_language="en"),
            get_procedure("fr-cnil"), opened)
        self.opening = self.out(0)

    def out(self, seen: int) -> Out:
        fx = self.m.take_effects()
        # anything to carry out makes the effects true, nothing makes them false
        assert bool(fx) is bool(fx.register or fx.notifications)
        assert bool(fx) is (len(fx.register) + len(fx.notifications) > 0)
        return Out(
            [(n.key.removeprefix("E-1:"), n.party, n.to, n.language, n.template, n.subject)
             for n in fx.notifications],
            [(r.table, r.key.removeprefix("E-1:")) for r in fx.register],
            {r.key.removeprefix("E-1:"): r.data for r in fx.register},
            [(t.date, t.kind, t.name, t.detail) for t in self.m.s.timeline[seen:]],
            {n.key.removeprefix("E-1:"): n.data for n in fx.notifications})

    def clock(self, when: datetime) -> Out:
        seen = len(self.m.s.timeline)
        self.now = when
        self.m.advance(when)
        return self.out(seen)

    def event(self, event_type: str, day: str, /, quiet: bool = True, **fields: Any) -> Out:
        """The event, recorded at 18:00 on its day; unless told otherwise, the clock must
        have had nothing due first."""
        at = datetime.combine(date.fromisoformat(day), time(18), tzinfo=PARIS)
        before = self.clock(at)
        assert not quiet or (before.notes, before.rows) == ([], []), before
        seen = len(self.m.s.timeline)
        self.m.apply(EVENT_ADAPTER.validate_python({"type": event_type, "date": day, **fields}), at)
        return self.out(seen)


def told(payload: dict[str, Any], stage: str, **data: Any) -> None:
    """A notification's data: the case, the controller, the stage and procedure, then what
    the step adds; a deadline in it is named with its due date, expiry and period, and its
    explanation is the one the case holds."""
    assert {k: payload[k] for k in ("case_id", "controller", "stage", "procedure")} == {
        "case_id": "E-1", "controller": "Acme", "stage": stage, "procedure": "fr-cnil"}
    rest = {k: v for k, v in payload.items()
            if k not in ("case_id", "controller", "stage", "procedure")}
    for name in ("deadline", "appeal", "injunction"):
        if isinstance(rest.get(name), dict):
            assert rest[name]["explanation"] and all(isinstance(x, str)
                                                     for x in rest[name]["explanation"])
            rest[name] = {k: v for k, v in rest[name].items() if k != "explanation"}
    assert rest == data


def dl(name: str, due: str, expires_at: str, period: str) -> dict[str, str]:
    return {"name": name, "due": due, "expires_at": expires_at, "period": period}


# The deadlines the notifications below carry (due dates worked out in the tests).
PROGRESS = dl("complainant_progress", "2026-04-07", "2026-04-08T00:00:00+02:00", "3 months")
ANSWER = dl("information_response", "2026-01-28", "2026-01-29T00:00:00+01:00", "15 days")
NOTICE = dl("formal_notice_compliance", "2026-02-26", "2026-02-27T00:00:00+01:00", "1 month")
NOTICE_MOVED = dl("formal_notice_compliance", "2026-03-05", "2026-03-06T00:00:00+01:00", "1 month")
REPORT = dl("report_observations", "2026-04-09", "2026-04-10T00:00:00+02:00", "1 month")
APPEAL = dl("appeal", "2026-08-10", "2026-08-11T00:00:00+02:00", "2 months")
INJUNCTION = dl("injunction_compliance", "2026-08-10", "2026-08-11T00:00:00+02:00", "2 months")


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
    # The legal date, and when (18:00 that day) and by whom the engine recorded it: nobody
    # named here, as a signal without a recorder.
    assert o.data["event:1"] == {"seq": 1, "type": "complaint_received", "date": "2026-01-05",
                                 "event_id": None,
                                 "fields": {"subject": "cookies", "complainant_ref": "C-1"},
                                 "recorded_at": "2026-01-05T18:00:00+01:00",
                                 "recorded_by": None}
    assert o.data["stage:1:complaint"] == {"stage": "complaint", "status": "open"}
    progress = o.data["deadline:0:pending"]
    assert progress["seq"] == 0
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
    for key in ("event:1:complainant", "event:1:case_handler"):
        told(o.payloads[key], "complaint", deadline=PROGRESS)

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
    told(o.payloads["event:2:complainant"], "investigation", kind="online")

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
    told(o.payloads["event:3:controller"], "investigation", deadline=ANSWER)

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
    for key in ("reminder:1:14:2026-01-28:controller", "reminder:1:14:2026-01-28:case_handler"):
        told(o.payloads[key], "investigation", deadline=ANSWER, days_left=14)

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
    told(o.payloads["event:5:controller"], "formal_notice", deadline=NOTICE,
         measures=["stop collecting", "delete the data"])
    told(o.payloads["event:5:complainant"], "formal_notice")

    o = r.event("compliance_evidence_submitted", "2026-02-02", ref="audit-1")
    assert o.rows == [("events", "event:6")]
    assert o.notes == [("event:6:case_handler", "case_handler", None, "en",
                        "compliance_evidence_submitted", "[E-1] Compliance evidence submitted")]
    told(o.payloads["event:6:case_handler"], "formal_notice", ref="audit-1")

    o = r.event("compliance_rejected", "2026-02-05")
    assert o.rows == [("events", "event:7")]
    assert o.notes == [("event:7:controller", "controller", CONTROLLER, "fr",
                        "compliance_rejected", "[E-1] Compliance evidence not accepted")]
    told(o.payloads["event:7:controller"], "formal_notice", deadline=NOTICE)

    # Suspended Mon 9 Feb, before the reminder of Thu 12 Feb: nothing is sent meanwhile.
    o = r.event("case_suspended", "2026-02-09", reason="expert report")
    assert o.rows == [("events", "event:8")]
    assert o.notes == [
        ("event:8:controller", "controller", CONTROLLER, "fr", "case_suspended",
         "[E-1] Case suspended: running deadlines are stopped"),
        ("event:8:case_handler", "case_handler", None, "en", "case_suspended",
         "[E-1] Case suspended: running deadlines are stopped")]
    told(o.payloads["event:8:controller"], "formal_notice", reason="expert report")
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
    moved = o.payloads["event:9:case_handler"]
    assert (moved["days"], [(d["name"], d["due"]) for d in moved["deadlines"]]) == (
        7, [("formal_notice_compliance", "2026-03-05")])

    # Reminders for the moved date: Thu 19 Feb and Mon 2 Mar, 09:00.
    assert r.m.next_wake() == datetime(2026, 2, 19, 9, tzinfo=PARIS)
    o = r.clock(datetime(2026, 2, 19, 9, tzinfo=PARIS))
    assert [n[0] for n in o.notes] == ["reminder:2:14:2026-03-05:controller",
                                       "reminder:2:14:2026-03-05:case_handler"]
    told(o.payloads["reminder:2:14:2026-03-05:controller"], "formal_notice", deadline=NOTICE_MOVED,
         days_left=14)
    assert r.m.next_wake() == datetime(2026, 3, 2, 9, tzinfo=PARIS)
    o = r.clock(datetime(2026, 3, 2, 9, tzinfo=PARIS))
    assert [n[5] for n in o.notes] == [
        "[E-1] Reminder: formal notice compliance due 2026-03-05 (3 days)"] * 2

    # 24:00 on Thu 5 Mar: no compliance; the deadline is missed and the referral waits 5
    # working days of grace (Fri 6, Mon 9, Tue 10, Wed 11, Thu 12 Mar) for a late record.
    expiry = datetime(2026, 3, 6, 0, tzinfo=PARIS)
    assert r.m.next_wake() == expiry
    o = r.clock(expiry)
    assert o.rows == [("deadlines", "deadline:2:missed")]
    assert o.notes == [
        ("deadline:2:missed:case_handler", "case_handler", None, "en", "deadline_missed",
         "[E-1] Deadline passed: formal notice compliance (2026-03-05)")]
    assert o.timeline == [
        ("2026-03-05", "deadline", "formal_notice_compliance",
         "expired at 2026-03-06T00:00:00+01:00"),
        (at("2026-03-06", 0), "notification", "deadline_missed", "to the case handler"),
        ("2026-03-05", "outcome", "referral_provisional",
         "the case is referred on 2026-03-13 unless an act dated by 2026-03-05 is recorded "
         "before then (a grace of 5 working days: fr-cnil's office practice, not a rule of "
         "law)")]
    assert r.m.s.stage == "formal_notice"
    told(o.payloads["deadline:2:missed:case_handler"], "formal_notice", deadline=NOTICE_MOVED)

    # 24:00 on Thu 12 Mar: nothing came; the engine refers the case, dated Fri 13 Mar.
    final = datetime(2026, 3, 13, 0, tzinfo=PARIS)
    assert r.m.next_wake() == final
    o = r.clock(final)
    assert o.rows == [("cases", "stage:39:referred"), ("events", "event:10")]
    reason = "formal notice not complied with by 2026-03-05 and 5 working days of grace"
    assert o.data["event:10"] == {
        "seq": 10, "type": "referred_to_sanction", "date": "2026-03-13", "event_id": None,
        "fields": {"reason": reason},
        "recorded_at": "2026-03-13T00:00:00+01:00", "recorded_by": "engine"}
    assert o.notes == [
        ("referred:10:controller", "controller", CONTROLLER, "fr", "referred_to_sanction",
         "[E-1] Case referred to the sanctioning committee"),
        ("referred:10:case_handler", "case_handler", None, "en", "referred_to_sanction",
         "[E-1] Case referred to the sanctioning committee")]
    assert o.timeline == [
        ("2026-03-13", "outcome", "referred_to_sanction", reason),
        (at("2026-03-13", 0), "notification", "referred_to_sanction", "to the controller"),
        (at("2026-03-13", 0), "notification", "referred_to_sanction", "to the case handler")]
    assert (r.m.s.stage, r.m.s.status, r.m.next_wake()) == ("referred", "open", None)
    told(o.payloads["referred:10:controller"], "referred", reason=reason)


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
    told(o.payloads["referred:2:case_handler"], "referred",
         reason="rapporteur designated without a formal notice")

    # Mon 9 Mar: the report; 1 month for observations, to Thu 9 Apr 2026.
    o = r.event("report_notified", "2026-03-09")
    assert o.rows == [("events", "event:3"), ("cases", "stage:5:report"),
                      ("deadlines", "deadline:0:pending")]
    assert o.notes == [("event:3:controller", "controller", CONTROLLER, "fr",
                        "report_notified",
                        "[E-1] Sanction report notified: observations by 2026-04-09")]
    told(o.payloads["event:3:controller"], "report", deadline=REPORT)
    # 14 days before: Thu 26 Mar 09:00, still winter time.
    o = r.clock(datetime(2026, 3, 26, 9, tzinfo=PARIS))
    assert [n[0] for n in o.notes] == ["reminder:0:14:2026-04-09:controller",
                                       "reminder:0:14:2026-04-09:case_handler"]

    o = r.event("observations_submitted", "2026-04-02")
    # Observations are the controller's right: exercised, not "met".
    assert o.rows == [("events", "event:4"), ("deadlines", "deadline:0:exercised")]
    assert o.data["deadline:0:exercised"]["name"] == "report_observations"
    assert o.notes == [("event:4:case_handler", "case_handler", None, "en",
                        "observations_submitted", "[E-1] Observations submitted")]

    # Thu 16 Apr: the reply; 1 month to Sat 16 May, rolled to Mon 18 May 2026.
    o = r.event("rapporteur_replied", "2026-04-16")
    assert o.rows == [("events", "event:5"), ("deadlines", "deadline:1:pending")]
    assert o.data["deadline:1:pending"]["due"] == "2026-05-18"
    assert o.notes == [("event:5:controller", "controller", CONTROLLER, "fr",
                        "rapporteur_replied",
                        "[E-1] Rapporteur's reply: further observations by 2026-05-18")]
    told(o.payloads["event:5:controller"], "report",
         deadline=dl("reply_observations", "2026-05-18", "2026-05-19T00:00:00+02:00",
                     "1 month"))

    # Mon 20 Apr: the hearing on Thu 28 May (the earliest would be Tue 5 May).
    o = r.event("hearing_scheduled", "2026-04-20", hearing_date="2026-05-28")
    assert o.rows == [("events", "event:6"), ("cases", "stage:17:hearing_scheduled")]
    assert o.notes == [("event:6:controller", "controller", CONTROLLER, "fr",
                        "hearing_scheduled", "[E-1] Hearing on 2026-05-28")]
    told(o.payloads["event:6:controller"], "hearing_scheduled", hearing_date="2026-05-28",
         explanation=["Minimum notice of 15 days from 2026-04-20 (FR calendar).",
                      "15 days after 2026-04-20 is 2026-05-05.",
                      "The earliest permitted date is Tuesday 2026-05-05."])
    # 14 days before Mon 18 May: Mon 4 May 09:00 (summer time).
    o = r.clock(datetime(2026, 5, 4, 9, tzinfo=PARIS))
    assert [n[5] for n in o.notes] == [
        "[E-1] Reminder: reply observations due 2026-05-18 (14 days)"] * 2

    o = r.event("observations_submitted", "2026-05-12")
    assert o.rows == [("events", "event:7"), ("deadlines", "deadline:1:exercised")]
    assert o.data["deadline:1:exercised"]["name"] == "reply_observations"

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
    told(o.payloads["event:10:controller"], "decision_notified", appeal=APPEAL,
         fine_eur=20_000_000, injunction=INJUNCTION, penalty_per_day_eur=100_000)

    o = r.event("appeal_lodged", "2026-07-01")
    # The appeal is the controller's right: exercised.
    assert o.rows == [("events", "event:11"), ("deadlines", "deadline:2:exercised")]
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
    told(o.payloads["deadline:3:missed:case_handler"], "decision_notified", deadline=INJUNCTION)

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
    told(o.payloads["event:12:controller"], "liquidation",
         deadline=dl("liquidation_observations", "2026-09-29", "2026-09-30T00:00:00+02:00",
                     "15 days"),
         amount_eur=3_100_000, days=31, explanation=opened["explanation"])
    o = r.clock(datetime(2026, 9, 15, 9, tzinfo=PARIS))
    assert [n[0] for n in o.notes] == ["reminder:4:14:2026-09-29:controller",
                                       "reminder:4:14:2026-09-29:case_handler"]

    o = r.event("observations_submitted", "2026-09-22")
    assert o.rows == [("events", "event:13"), ("deadlines", "deadline:4:exercised")]
    assert o.data["deadline:4:exercised"]["name"] == "liquidation_observations"

    o = r.event("penalty_liquidated", "2026-10-05", amount_eur=3_000_000)
    assert o.rows == [("events", "event:14"), ("cases", "stage:55:liquidated"),
                      ("decisions", "liquidation:14")]
    assert o.data["liquidation:14"] == {"kind": "liquidation", "amount_eur": 3_000_000,
                                        "intended_eur": 3_100_000, "cutoff": "2026-09-10"}
    assert o.notes == [("event:14:controller", "controller", CONTROLLER, "fr",
                        "penalty_liquidated",
                        "[E-1] Daily penalty liquidated: 3,000,000 EUR")]
    told(o.payloads["event:14:controller"], "liquidated", amount_eur=3_000_000)

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
    told(o.payloads["event:16:case_handler"], "liquidated", reason="penalty paid")
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
    # 2026 + 2 years 2 months = Tue 8 Aug 2028, + 2 weeks 2 days = Thu 24 Aug 2028; a
    # délai franc (CJA R421-1) adds that day: Fri 25 Aug 2028.
    base = get_procedure("fr-cnil")
    proc = base.model_copy(update={"periods": base.periods.model_copy(update={
        "appeal": "1 year 1 month 1 week 1 day",
        "appeal_abroad_extension": "1 year 1 month 1 week 1 day"})})
    m = open_machine(CaseInput(case_id="X-1", controller=Controller(name="A", country="US")),
                     proc, datetime(2026, 6, 1, tzinfo=PARIS))
    for e in ({"type": "rapporteur_designated", "date": "2026-06-01"},
              {"type": "report_notified", "date": "2026-06-01"},
              {"type": "hearing_scheduled", "date": "2026-06-01", "hearing_date": "2026-06-20"},
              {"type": "hearing_held", "date": "2026-06-20"},
              {"type": "sanction_decided", "date": "2026-06-05", "fine_eur": 1},
              {"type": "decision_notified", "date": "2026-06-08"}):
        # Each recorded at noon on its date, or on 8 Jun if earlier.
        day = datetime.fromisoformat(str(e["date"])).replace(hour=12, tzinfo=PARIS)
        m.apply(EVENT_ADAPTER.validate_python(e), max(day, datetime(2026, 6, 8, 12, tzinfo=PARIS)))
    appeal = next(d for d in m.s.deadlines if d.name == "appeal")
    assert (appeal.period, appeal.due) == ("2 years 2 months 2 weeks 2 days", "2028-08-25")
    assert appeal.explanation[0] == (
        "The controller is established outside FR (US): the appeal period of 1 year 1 month "
        "1 week 1 day is extended by 1 year 1 month 1 week 1 day (CJA R421-7 para 3).")


def test_an_extension_is_recorded_and_told_to_the_controller() -> None:
    r = Run(datetime(2026, 1, 5, 9, tzinfo=PARIS))
    r.event("formal_notice_issued", "2026-01-06")  # 2 months: Fri 6 Mar 2026
    # Extended on Mon 12 Jan until Mon 30 Mar 2026.
    o = r.event("extension_granted", "2026-01-12", deadline="formal_notice_compliance",
                until="2026-03-30")
    assert o.rows == [("events", "event:2"), ("deadlines", "deadline:0:extended"),
                      ("deadlines", "deadline:1:pending")]
    assert o.data["deadline:0:extended"]["status"] == "extended"
    new = o.data["deadline:1:pending"]
    assert (new["name"], new["due"], new["period"]) == (
        "formal_notice_compliance", "2026-03-30", "until 2026-03-30")
    assert new["explanation"][:2] == [
        "Extension granted on 2026-01-12.",
        "Extended until 2026-03-30 (previously due 2026-03-06)."]
    assert o.notes == [("event:2:controller", "controller", CONTROLLER, "fr",
                        "extension_granted",
                        "[E-1] Extension granted: formal_notice_compliance now due 2026-03-30")]
    told(o.payloads["event:2:controller"], "formal_notice", previous_due="2026-03-06",
         deadline=dl("formal_notice_compliance", "2026-03-30", "2026-03-31T00:00:00+02:00",
                     "until 2026-03-30"))
    assert [d.status for d in r.m.s.deadlines] == ["extended", "pending"]
    assert r.m.s.notice_extensions == 1
    assert r.m.status(r.now).next_deadline == datetime(2026, 3, 31, tzinfo=PARIS)
    # An information request may be extended by a period counted from its due date:
    # 1 month from Tue 13 Jan = Fri 13 Feb; 10 days more: Mon 23 Feb 2026.
    r.event("information_requested", "2026-01-13")
    o = r.event("extension_granted", "2026-01-14", deadline="information_response",
                period="10 days")
    assert o.data["deadline:3:pending"]["due"] == "2026-02-23"
    assert r.m.s.notice_extensions == 1
    assert r.m.status(r.now).next_deadline == datetime(2026, 2, 24, tzinfo=PARIS)


def test_the_complainant_hears_the_outcome_and_a_liquidation_ends_its_observations() -> None:
    r = Run(datetime(2026, 3, 2, 9, tzinfo=PARIS))
    r.event("complaint_received", "2026-03-02", subject="s", complainant_ref="C-1")
    for kind, day, extra in (
            ("rapporteur_designated", "2026-03-02", {}), ("report_notified", "2026-03-02", {}),
            ("hearing_scheduled", "2026-03-03", {"hearing_date": "2026-03-20"}),
            ("hearing_held", "2026-03-20", {}),
            ("sanction_decided", "2026-03-20", {"fine_eur": 5_000, "injunction_period":
                                                "10 days", "penalty_per_day_eur": 100})):
        r.event(kind, day, quiet=False, **extra)
    # Notified Mon 23 Mar: injunction 10 days, to Thu 2 Apr 2026.
    o = r.event("decision_notified", "2026-03-23", quiet=False)
    outcome = [n for n in o.notes if n[1] == "complainant"]
    assert outcome == [("event:8:complainant", "complainant", COMPLAINANT, "en", "outcome",
                        "[E-1] Outcome of your complaint: sanction decided")]
    told(o.payloads["event:8:complainant"], "decision_notified", fine_eur=5_000)
    # Compliance on the day the injunction falls due is in time: met, nothing accrues.
    o = r.event("compliance_established", "2026-04-02", quiet=False)
    assert ("deadlines", "deadline:3:met") in o.rows
    assert r.m.status(r.now).sanction.penalty_eur == 0
    assert {n[1] for n in o.notes} == {"controller", "complainant", "case_handler"}


def test_a_liquidation_decided_before_the_observations_period_ends_closes_it() -> None:
    r = Run(datetime(2026, 3, 2, 9, tzinfo=PARIS))
    for kind, day, extra in (
            ("rapporteur_designated", "2026-03-02", {}), ("report_notified", "2026-03-02", {}),
            ("hearing_scheduled", "2026-03-03", {"hearing_date": "2026-03-20"}),
            ("hearing_held", "2026-03-20", {}),
            ("sanction_decided", "2026-03-20", {"fine_eur": 0, "injunction_period": "10 days",
                                                "penalty_per_day_eur": 100}),
            ("decision_notified", "2026-03-23", {})):
        r.event(kind, day, quiet=False, **extra)
    r.clock(datetime(2026, 4, 3, tzinfo=PARIS))  # the injunction ran out on Thu 2 Apr
    # Cut-off Fri 10 Apr: 3 .. 10 Apr = 8 days at EUR 100. Observations: 15 days from
    # Mon 13 Apr, to Tue 28 Apr 2026.
    r.event("liquidation_opened", "2026-04-13", quiet=False, cutoff="2026-04-10")
    assert r.m.s.sanction.intended_liquidation_eur == 800
    # Compliance shown on the cut-off day itself ends the accrual there: still 8 days.
    r.event("compliance_established", "2026-04-10")
    status = r.m.status(r.now)
    assert (status.sanction.penalty_days, status.sanction.penalty_eur) == (8, 800)
    o = r.event("penalty_liquidated", "2026-04-20", quiet=False)
    assert [(t, k.rsplit(":", 1)[-1] if t == "cases" else k) for t, k in o.rows] == [
        ("events", "event:10"), ("cases", "liquidated"), ("deadlines", "deadline:3:cancelled"),
        ("decisions", "liquidation:10")]
    assert o.data["deadline:3:cancelled"]["name"] == "liquidation_observations"
    assert o.data["liquidation:10"]["amount_eur"] == 800
    assert o.timeline[-2] == ("2026-04-20", "outcome", "penalty_liquidated", "800 EUR")
    # Only the appeal still runs: 23 Mar + 2 months = Sat 23 May; Sun 24, Whit Monday 25:
    # Tue 26 May 2026. Its next reminder, 14 days before: Tue 12 May, 09:00.
    assert [(d.name, d.due) for d in r.m.s.deadlines if d.status == "pending"] == [
        ("appeal", "2026-05-26")]
    assert r.m.next_wake() == datetime(2026, 5, 12, 9, tzinfo=PARIS)
