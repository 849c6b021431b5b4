"""The UK Information Commissioner's procedure family: DPA 2018 Part 6 (ss. 142-166) and
Schedule 16, as amended by the Data (Use and Access) Act 2025 (DUAA).

What a case goes through, with the rule each step applies (the periods and caps, each with
its source, are in procedures/uk-ico.toml):

- **Complaint** (s. 165-166): if the Commissioner has not told the complainant of progress
  or the outcome within 3 months beginning when the complaint was received, the complainant
  may ask the Tribunal for an order (s. 166(1)(b), (2)).
- **Information notice** (s. 142): the notice sets the period to answer. It may not require
  an answer before the end of the period for appealing it (s. 142(5)), unless it is stated
  urgent, and then not within 24 hours beginning when it is given (s. 142(7)).
- **Enforcement notice** (s. 149-150): the steps, and the time to take them, which may not
  fall before the end of the period for appealing the notice (s. 150(6)); an appeal means the
  notice need not be complied with until it is decided or withdrawn (s. 150(7)); an urgent
  notice may not require compliance within 24 hours beginning when it is given (s. 150(8)).
  A notice not complied with may lead to a penalty notice (s. 155(1)(b)), up to the higher
  maximum (s. 157(4)).
- **Notice of intent** (Sch. 16 para 2-3): before any penalty notice; written
  representations for at least 21 days beginning when it is given (para 3(4)); no penalty
  notice before that period ends (para 4(1)). For a notice of intent given before 5 February
  2026, no penalty notice may be given in reliance on it after 6 months beginning when it was
  given, unless extended by agreement (para 2(2)-(3), saved by SI 2026/82 reg. 6). For one
  given since, the Commissioner must within those 6 months, or as soon as reasonably
  practicable after, give a penalty notice or a notice that no penalty will be given (para
  4(A1)-(A2), inserted by DUAA s. 101); a later one stays valid and is reported (s. 161A).
  The cut-over date is `cutovers.duaa_penalty_limit` in the procedure file.
- **Penalty notice** (s. 155, Sch. 16 para 5-6): at most the higher or the standard
  maximum (s. 157(5)-(6)); paid within the period it sets, at least 28 days beginning when it
  is given (para 6(2)); not recoverable before that period and any appeal are over (para
  9(1)), and then only by order of a court (para 9(2)-(3)). No daily penalty exists.
- **Appeal** (s. 162) to the First-tier Tribunal (General Regulatory Chamber): received
  within 28 days of the date the notice was sent (GRC Rules r. 22(1)(b)), by 5 pm (r. 12).

Periods in the Act are counted under Art. 3 of Reg. (EEC, Euratom) 1182/71, which DPA 2018
s. 205(2) applies to them (Sch. 16 is not among its exceptions): the day a notice is given
is not counted, and a last day on a weekend or bank holiday moves to the next working day
(rule set `uk-dpa`). "Beginning when" in the text is read under that rule, not as counting
the first day: the reading chosen here, stated in the procedure file.

Not modelled: assessment and interview notices (s. 146, 148A), penalty variation and
cancellation (Sch. 16 para 7-8), appeals against information notices (the notice's period is
still checked against the appeal period), the Tribunal's decisions.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from enforcement.case.machine import EventRejected, Machine, _day, _dl
from enforcement.case.models import CaseStatus, DeadlineRecord
from enforcement.law.periods import parse_period
from enforcement.law.timelimits import as_instant, compute_deadline, local_date, parse_moment

STAGES = ("new", "complaint", "investigation", "enforcement_notice", "notice_of_intent",
          "penalty_notice")
_NOTICES = ("information_notice_given", "enforcement_notice_given", "notice_of_intent_given")
ACCEPTS: dict[str, tuple[str, ...]] = {
    "new": ("complaint_received", "investigation_opened", *_NOTICES),
    "complaint": ("investigation_opened", "no_breach_found", *_NOTICES),
    "investigation": ("investigation_opened", "information_provided", "no_breach_found",
                      *_NOTICES),
    "enforcement_notice": ("compliance_accepted", "appeal_lodged", "information_provided",
                           *_NOTICES),
    "notice_of_intent": ("representations_made", "penalty_notice_given",
                         "no_penalty_notice_given", "information_provided"),
    "penalty_notice": ("penalty_paid", "appeal_lodged"),
    "closed": (),
}
ANSWERS: dict[str, tuple[str, ...]] = {
    "information_provided": ("information_response",),
    "compliance_accepted": ("enforcement_notice_compliance",),
    "representations_made": ("representations",),
    "penalty_paid": ("payment",),
    "appeal_lodged": ("penalty_notice_appeal", "enforcement_notice_appeal"),
}
TRIBUNAL = "the First-tier Tribunal (General Regulatory Chamber)"
CNIL_DEFAULT_COURT = "Conseil d'État"  # AppealLodged's default: read as "not given"
DUAA = "duaa_penalty_limit"  # the cut-over of Sch. 16 para 4(A2), in the procedure file


class IcoMachine(Machine):
    """A case under the ICO's procedure (uk-ico)."""

    FAMILY: ClassVar[str] = "uk-ico"
    STAGES: ClassVar[tuple[str, ...]] = STAGES
    ACCEPTS: ClassVar[dict[str, tuple[str, ...]]] = ACCEPTS
    ANSWERS: ClassVar[dict[str, tuple[str, ...]]] = ANSWERS
    REQUIRED_PERIODS: ClassVar[tuple[str, ...]] = (
        "complainant_progress", "appeal", "representations_minimum", "payment_minimum",
        "penalty_notice_limit", "urgent_notice_minimum")
    PERIOD_OF: ClassVar[dict[str, str]] = {"penalty_notice_appeal": "appeal",
                                           "enforcement_notice_appeal": "appeal",
                                           "representations": "representations_minimum",
                                           "payment": "payment_minimum"}
    REQUIRED_CUTOVERS: ClassVar[tuple[str, ...]] = (DUAA,)
    COMPLAINANT_REMEDY: ClassVar[str] = (
        "If the Commissioner has not told the complainant of progress or the outcome within "
        "this period, the complainant may apply to the Tribunal for an order (DPA 2018 "
        "s. 166(1)(b), (2)).")

    CATEGORIES: ClassVar[tuple[str, ...]] = ("complied", "enforcement_notice", "penalty",
                                             "no_penalty", "closed", "open")
    # No hearing or referral in the Act: the notice of intent is the step towards a penalty.
    WORKLOAD: ClassVar[dict[str, tuple[str, ...]]] = {
        "hearings": (), "decisions": ("enforcement_notice_given", "penalty_notice_given",
                                      "no_penalty_notice_given"),
        "referrals": ("notice_of_intent_given",)}
    STAGE_AFTER: ClassVar[dict[str, str]] = {
        "complaint_received": "complaint", "investigation_opened": "investigation",
        "enforcement_notice_given": "enforcement_notice",
        "notice_of_intent_given": "notice_of_intent",
        "penalty_notice_given": "penalty_notice", "case_closed": "closed"}

    @classmethod
    def category(cls, st: CaseStatus) -> str:
        """A penalty once a penalty notice was given (paid or not); complied, no penalty or
        closed (dismissed) when closed otherwise; enforcement notice while one runs; open
        before any of these."""
        if any(t.kind == "event" and t.name == "penalty_notice_given" for t in st.timeline):
            return "penalty"
        if st.status == "closed":
            return st.outcome if st.outcome in ("complied", "no_penalty") else "closed"
        if st.stage == "enforcement_notice":
            return "enforcement_notice"
        return "open"

    # --- notices that set a time: not before the appeal period ends, unless urgent ----------

    def _check_notice_time(self, ev: Any, what: str, bar: str, urgent: str) -> None:
        given = compute_deadline(ev.date, ev.period, self.cal, self.p.rules_for(what))
        if ev.urgent:
            least = self._compute("urgent_notice_minimum", ev.date)
            if given.expires_at < least.expires_at:
                raise EventRejected(
                    f"{ev.type} rejected: an urgent notice may not require compliance before "
                    f"the end of {least.period} beginning when it is given ({urgent}), here "
                    f"{least.expires_at.isoformat()}; {ev.period} ends "
                    f"{given.expires_at.isoformat()}")
            return
        appeal = self._compute("appeal", ev.date)
        if given.expires_at < appeal.expires_at:
            raise EventRejected(
                f"{ev.type} rejected: the notice may not require compliance before the end "
                f"of the period for appealing it ({bar}), which ends {appeal.due} "
                f"({appeal.period}, {self.p.rules_for('appeal').title}); {ev.period} ends "
                f"{given.due}. Accepted: a period ending on or after {appeal.due}, or a "
                f"notice stated urgent")

    def _at_least(self, ev: Any, minimum: str, given: str | None, what: str,
                  cite: str) -> None:
        """Refuse a period the act gives that is shorter than the file's `minimum` (none
        given: the minimum applies)."""
        least = self.p.period(minimum)
        if given is not None and self._shorter(ev.date, given, least,
                                               self.p.rules_for(minimum)):
            raise EventRejected(
                f"{ev.type} rejected: {what} of {parse_period(given).text} is under "
                f"{least.text} beginning when the {cite}")

    def _compute(self, period: str, start: date | datetime) -> Any:
        return compute_deadline(start, self.p.period(period), self.cal, self.p.rules_for(period))

    def _check_information_notice_given(self, ev: Any) -> None:
        self._check_notice_time(ev, "information_response", "DPA 2018 s. 142(5)",
                                "s. 142(7)")

    def _on_information_notice_given(self, ev: Any, n: int, now: datetime) -> None:
        rec = self._open_deadline("information_response", ev.date, ev.period, now, own=True,
                                  preface=(
            "The period the information notice sets (DPA 2018 s. 142(3)(c))"
            + (", stated urgent (s. 142(7))." if ev.urgent else
               "; it cannot end before the period for appealing the notice (s. 142(5)), "
               "and an appeal suspends it (s. 142(6))."),))
        if self.s.stage in ("new", "complaint"):
            self._set_stage("investigation", now)
        self._notify(f"event:{n}", ("controller",), "ico_information_notice",
                     f"Information notice: answer by {rec.due}", now, {"deadline": _dl(rec)})

    def _check_enforcement_notice_given(self, ev: Any) -> None:
        self._check_notice_time(ev, "enforcement_notice_compliance", "DPA 2018 s. 150(6)",
                                "s. 150(8)")

    def _on_enforcement_notice_given(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("complainant_progress", ev.date, now)
        self._set_stage("enforcement_notice", now)
        self.s.family_data["urgent_notice"] = ev.urgent
        rec = self._open_deadline("enforcement_notice_compliance", ev.date, ev.period, now,
                                  own=True, preface=(
            "The time the enforcement notice sets (DPA 2018 s. 150(4))"
            + (", stated urgent (s. 150(8)): an appeal does not suspend it." if ev.urgent else
               "; not before the period for appealing the notice ends (s. 150(6)), and not "
               "while an appeal is pending (s. 150(7))."),))
        appeal = self._open_deadline("enforcement_notice_appeal", ev.date,
                                     self.p.period("appeal"), now, (
            f"An appeal against the notice lies to {TRIBUNAL} (DPA 2018 s. 162(1)(c)).",))
        self._notify(f"event:{n}", ("controller",), "ico_enforcement_notice",
                     f"Enforcement notice: comply by {rec.due}", now,
                     {"deadline": _dl(rec), "appeal": _dl(appeal), "measures": ev.measures})
        self._notify(f"event:{n}", ("complainant",), "ico_progress",
                     "Progress of your complaint: enforcement notice given", now)

    def _on_compliance_accepted(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("enforcement_notice_compliance", ev.date, now)
        self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                     "compliance_accepted", "Enforcement notice complied with: case closed", now)
        self._close("complied", ev.date, now)

    # --- appeals ------------------------------------------------------------------------------

    def _appeal_periods(self) -> list[str]:
        """The appeal deadlines, the notice given last first."""
        names = [n for n in ANSWERS["appeal_lodged"] if self._latest(n) is not None]
        return sorted(names, key=lambda n: -self._latest(n).seq)  # type: ignore[union-attr]

    def _check_appeal_lodged(self, ev: Any) -> None:
        for name in self._appeal_periods():
            if self.pending(name) is not None or self._ran_out(name, ev.date) is not None:
                return
        raise EventRejected("appeal_lodged rejected: no appeal period is running for a "
                            "notice of this case")

    def _on_appeal_lodged(self, ev: Any, n: int, now: datetime) -> None:
        court = TRIBUNAL if ev.court == CNIL_DEFAULT_COURT else ev.court
        met = next((name for name in self._appeal_periods()
                    if self._meet(name, ev.date, now) is not None), None)
        if (met == "enforcement_notice_appeal" and not self.s.family_data.get("urgent_notice")
                and (rec := self.pending("enforcement_notice_compliance")) is not None):
            self._deadline_status(rec, "cancelled", now)
            self._timeline(ev.date, "outcome", "compliance_suspended",
                           "the enforcement notice need not be complied with pending the "
                           "determination or withdrawal of the appeal (DPA 2018 s. 150(7)); "
                           "once it is decided, record the notice's time again as a new "
                           "enforcement_notice_given (the reading chosen here)")
        self._notify(f"event:{n}", ("case_handler",), "ico_appeal_lodged",
                     f"Appeal lodged before {court}", now, {"court": court})

    # --- the penalty: notice of intent, representations, penalty notice -----------------------

    def _hard_limit(self, given: date | datetime | None = None) -> bool:
        """Whether the 6 months after a notice of intent given then (by default: the latest
        notice of intent) bar a later penalty notice (Sch. 16 para 2(2), for notices given
        before the DUAA cut-over)."""
        if given is None:
            limit = self._latest("penalty_notice_limit")
            if limit is None:
                return False
            given = parse_moment(limit.trigger_date)
        return local_date(given, self.cal) < self.p.cutovers[DUAA]

    def _notice_breached(self) -> bool:
        """Whether the latest enforcement notice ran out not complied with (s. 155(1)(b))."""
        rec = self._latest("enforcement_notice_compliance")
        return rec is not None and rec.status == "missed"

    def _check_notice_of_intent_given(self, ev: Any) -> None:
        self._at_least(ev, "representations_minimum", ev.period,
                       "a period for representations",
                       "notice is given (DPA 2018 Sch. 16 para 3(4))")

    def _on_notice_of_intent_given(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("complainant_progress", ev.date, now)
        self._set_stage("notice_of_intent", now)
        hard = self._hard_limit(ev.date)
        cut = self.p.cutovers[DUAA].isoformat()
        rep = self._open_deadline(
            "representations", ev.date, ev.period or self.p.period("representations_minimum"),
            now, ("Written representations may be made within the period the notice of intent "
                  "specifies, at least 21 days beginning when it is given (DPA 2018 Sch. 16 "
                  "para 3(4)); no penalty notice may be given before it ends (para 4(1)).",))
        why = ((f"Given before {cut}: no penalty notice may be given in reliance on this "
                f"notice of intent after this date unless the period is extended by agreement "
                f"(DPA 2018 Sch. 16 para 2(2)-(3), saved for such notices by SI 2026/82 "
                f"reg. 6).") if hard else
               (f"Given on or after {cut}: by this date, or as soon as reasonably "
                f"practicable after it, the Commissioner must give a penalty notice or a "
                f"notice that no penalty will be given (DPA 2018 Sch. 16 para 4(A1)-(A2), "
                f"inserted by DUAA 2025 s. 101); a later notice stays valid and is reported "
                f"(s. 161A)."))
        limit = self._open_deadline("penalty_notice_limit", ev.date,
                                    self.p.period("penalty_notice_limit"), now, (why,))
        self._notify(f"event:{n}", ("controller",), "ico_notice_of_intent",
                     f"Notice of intent: representations by {rep.due}", now,
                     {"deadline": _dl(rep), "limit": _dl(limit)})

    def _check_extension(self, ev: Any) -> None:
        if ev.deadline == "penalty_notice_limit" and not self._hard_limit():
            raise EventRejected(
                f"extension_granted rejected: for a notice of intent given on or after "
                f"{self.p.cutovers[DUAA].isoformat()} the 6 months are not extended by "
                f"agreement (DPA 2018 Sch. 16 para 2(3), omitted by DUAA 2025 s. 101); the "
                f"Commissioner acts as soon as reasonably practicable after them")

    def _on_representations_made(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("representations", ev.date, now)
        self._notify(f"event:{n}", ("case_handler",), "ico_representations",
                     "Representations made" + (" (oral)" if ev.oral else ""), now)

    def _check_penalty_notice_given(self, ev: Any) -> None:
        at = as_instant(ev.date, self.cal)
        rep = self._latest("representations")
        if rep is not None and at < rep.expires_at:
            raise EventRejected(
                f"penalty_notice_given rejected: no penalty notice may be given before the "
                f"period for representations ends (DPA 2018 Sch. 16 para 4(1)), on {rep.due}")
        limit = self._latest("penalty_notice_limit")
        if (self._hard_limit() and limit is not None
                and limit.status in ("missed", "pending") and at >= limit.expires_at):
            raise EventRejected(
                f"penalty_notice_given rejected: no penalty notice may be given in reliance on "
                f"the notice of intent after {limit.due} (DPA 2018 Sch. 16 para 2(2)) unless "
                f"the period was extended by agreement before (para 2(3)): record "
                f"extension_granted for penalty_notice_limit, or give a new notice of intent")
        caps, turnover = self.p.caps, self.s.controller.annual_turnover_eur
        lower = ev.lower_tier and not self._notice_breached()
        cap = caps.fine_cap(turnover, lower)
        if ev.amount > cap:
            which = "standard maximum (s. 157(6))" if lower else "higher maximum (s. 157(5))"
            raise EventRejected(
                f"penalty_notice_given rejected: {ev.amount:,} {self.p.currency} is above the "
                f"{which} of {cap:,} {self.p.currency}"
                + ("" if turnover else "; no annual turnover is known for the controller"))
        self._at_least(ev, "payment_minimum", ev.payment_period, "a payment period",
                       "penalty notice is given (DPA 2018 Sch. 16 para 6(2))")

    def _on_penalty_notice_given(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("penalty_notice_limit", ev.date, now)
        self._set_stage("penalty_notice", now)
        self.s.sanction.fine_eur = ev.amount
        pay = self._open_deadline(
            "payment", ev.date, ev.payment_period or self.p.period("payment_minimum"), now,
            ("The penalty is paid within the period the penalty notice sets, at least 28 "
             "days beginning when it is given (DPA 2018 Sch. 16 para 6); it is not recovered "
             "before that period and any appeal are over (para 9(1)).",))
        appeal = self._open_deadline("penalty_notice_appeal", ev.date, self.p.period("appeal"),
                                     now, (f"An appeal against the penalty notice, or its "
                                           f"amount, lies to {TRIBUNAL} (DPA 2018 s. 162(1)(d), "
                                           f"(3)).",))
        self._register("decisions", f"decision:{n}", now, {
            "kind": "penalty_notice", "fine_eur": ev.amount, "penalty_per_day_eur": 0,
            "publish": False, "injunction_period": None})
        self._timeline(ev.date, "outcome", "penalty_notice_given",
                       f"penalty {ev.amount:,} {self.p.currency}, payable by {pay.due}")
        self._notify(f"event:{n}", ("controller",), "ico_penalty_notice",
                     f"Penalty notice: {ev.amount:,} {self.p.currency}, pay by {pay.due}, "
                     f"appeal by {appeal.due}", now,
                     {"deadline": _dl(pay), "appeal": _dl(appeal), "fine_eur": ev.amount})
        self._notify(f"event:{n}", ("complainant",), "ico_outcome",
                     "Outcome of your complaint: penalty notice given", now,
                     {"fine_eur": ev.amount})

    def _on_no_penalty_notice_given(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("penalty_notice_limit", ev.date, now)
        self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                     "ico_no_penalty", "No penalty notice will be given: case closed", now)
        self._close("no_penalty", ev.date, now)

    def _on_penalty_paid(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("payment", ev.date, now)
        self._timeline(ev.date, "outcome", "penalty_paid",
                       f"{self.s.sanction.fine_eur:,} {self.p.currency}")
        self._notify(f"event:{n}", ("case_handler",), "ico_penalty_paid",
                     "Penalty paid", now, {"amount_eur": self.s.sanction.fine_eur})
        if self.pending("penalty_notice_appeal") is None:
            self._close("paid", ev.date, now)

    # --- what expiry leads to ---------------------------------------------------------------

    def _on_expired(self, rec: DeadlineRecord, now: datetime) -> None:
        if rec.name == "penalty_notice_limit" and self.s.stage == "notice_of_intent":
            if self._hard_limit():
                self._timeline(rec.due, "outcome", "notice_of_intent_lapsed",
                               "no penalty notice may now be given in reliance on the notice "
                               "of intent (DPA 2018 Sch. 16 para 2(2)); a new notice of intent "
                               "is needed")
                self._set_stage("investigation", now)
            else:
                self._timeline(rec.due, "outcome", "penalty_notice_overdue",
                               "6 months passed: a penalty notice, or a notice that no penalty "
                               "will be given, is due as soon as reasonably practicable (DPA "
                               "2018 Sch. 16 para 4(A2)); one given later is reported (s. 161A)")
        elif rec.name == "enforcement_notice_compliance":
            self._timeline(rec.due, "outcome", "enforcement_notice_not_complied_with",
                           "the Commissioner may give a penalty notice for the failure (DPA "
                           "2018 s. 155(1)(b)), up to the higher maximum (s. 157(4)), after a "
                           "notice of intent (Sch. 16 para 2)")
        elif rec.name == "payment":
            self._timeline(rec.due, "outcome", "penalty_unpaid",
                           "the penalty may be recovered once the payment period and any "
                           "appeal are over (DPA 2018 Sch. 16 para 9(1)), by order of the "
                           "county court or the High Court, in Scotland as a sheriff court "
                           "decree (para 9(2)-(3))")
        elif rec.name == "penalty_notice_appeal":
            paid = self._latest("payment")
            if paid is not None and paid.status == "met":
                self._close("paid", _day(rec.due), now)
