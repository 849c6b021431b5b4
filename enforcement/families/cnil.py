"""The CNIL's procedure family (France): complaint, investigation, formal notice (mise en
demeure) and its compliance period, the engine's referral to the sanctioning committee
(formation restreinte) with its grace and the regulator's undo, the rapporteur's report and
the controller's observations, the hearing, the decision (fine, injunction with a daily
penalty payment), its notification and appeal, and the liquidation of the penalty.

Sources: LIL art. 20-22; décret 2019-536 art. 38-44 (as amended by décret 2022-517); CJA
R421-1 and R421-7; GDPR art. 77, 78 and 83. Each period, with its source and whether it is
confirmed, is in the procedure files that name this family (procedures/fr-cnil*.toml); the
ordinary procedure, the simplified one (LIL 22-1) and urgency (LIL 21) are parameter sets.
The stages from the referral on run in the SanctionProcedure workflow.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from enforcement.case.machine import (
    ENGINE,
    EventRejected,
    Machine,
    _day,
    _dl,
    _iso,
    _sum,
)
from enforcement.case.models import CaseStatus, DeadlineRecord
from enforcement.law.periods import parse_period
from enforcement.law.timelimits import (
    compute_deadline,
    earliest_date,
    local_date,
    penalty_accrual,
)

# Stages, in procedure order. The sanction stages run in the SanctionProcedure child workflow.
PRE_SANCTION_STAGES = ("new", "complaint", "investigation", "formal_notice")
SANCTION_STAGES = ("referred", "rapporteur", "report", "hearing_scheduled", "deliberation",
                   "decided", "decision_notified", "liquidation", "liquidated")

ACCEPTS: dict[str, tuple[str, ...]] = {
    "new": ("complaint_received", "investigation_opened", "formal_notice_issued",
            "rapporteur_designated"),
    "complaint": ("investigation_opened", "information_requested", "no_breach_found",
                  "formal_notice_issued", "rapporteur_designated"),
    "investigation": ("investigation_opened", "information_requested", "information_provided",
                      "no_breach_found", "formal_notice_issued", "rapporteur_designated"),
    "formal_notice": ("compliance_evidence_submitted", "compliance_accepted",
                      "compliance_rejected", "information_requested", "information_provided"),
    "referred": ("rapporteur_designated", "compliance_evidence_submitted"),
    "rapporteur": ("report_notified", "compliance_evidence_submitted"),
    "report": ("observations_submitted", "rapporteur_replied", "hearing_scheduled",
               "compliance_evidence_submitted"),
    "hearing_scheduled": ("hearing_held", "hearing_scheduled", "observations_submitted",
                          "rapporteur_replied", "compliance_evidence_submitted"),
    "deliberation": ("sanction_decided",),
    "decided": ("decision_notified",),
    "decision_notified": ("appeal_lodged", "compliance_established", "liquidation_opened"),
    "liquidation": ("observations_submitted", "penalty_liquidated", "compliance_established",
                    "appeal_lodged"),
    "liquidated": ("liquidation_opened", "compliance_established", "appeal_lodged"),
    "closed": (),
}


# The events that answer an act of the procedure, and the deadlines they meet, in the order
# tried: such an event cannot be dated before the act that opened the deadline.
ANSWERS: dict[str, tuple[str, ...]] = {
    "information_provided": ("information_response",),
    "compliance_accepted": ("formal_notice_compliance",),
    "observations_submitted": ("liquidation_observations", "reply_observations",
                               "report_observations"),
    "appeal_lodged": ("appeal",),
    "compliance_established": ("injunction_compliance",),
}
# Sanction stages at which the regulator may still take back a referral the engine made by
# itself, and accept a timely compliance recorded too late to prevent it (before the
# committee decides).
UNDOABLE = ("referred", "rapporteur", "report", "hearing_scheduled", "deliberation")


class CnilMachine(Machine):
    """A case under a CNIL procedure (fr-cnil, fr-cnil-simplified, fr-cnil-urgency)."""

    FAMILY: ClassVar[str] = "cnil"
    STAGES: ClassVar[tuple[str, ...]] = (*PRE_SANCTION_STAGES, *SANCTION_STAGES)
    HANDED_OFF: ClassVar[tuple[str, ...]] = SANCTION_STAGES
    CATEGORIES: ClassVar[tuple[str, ...]] = ("complied", "referred", "sanctioned", "closed",
                                             "open")
    WORKLOAD: ClassVar[dict[str, tuple[str, ...]]] = {
        "hearings": ("hearing_held",), "decisions": ("sanction_decided",),
        "referrals": ("referred_to_sanction",)}
    STAGE_AFTER: ClassVar[dict[str, str]] = {
        "complaint_received": "complaint", "investigation_opened": "investigation",
        "formal_notice_issued": "formal_notice", "referred_to_sanction": "referred",
        "rapporteur_designated": "rapporteur", "report_notified": "report",
        "hearing_scheduled": "hearing_scheduled", "hearing_held": "deliberation",
        "sanction_decided": "decided", "decision_notified": "decision_notified",
        "liquidation_opened": "liquidation", "penalty_liquidated": "liquidated",
        "case_closed": "closed"}
    ACCEPTS: ClassVar[dict[str, tuple[str, ...]]] = ACCEPTS
    ANSWERS: ClassVar[dict[str, tuple[str, ...]]] = ANSWERS
    REQUIRED_CAPS: ClassVar[tuple[str, ...]] = ("penalty_per_day_max",)
    REQUIRED_PERIODS: ClassVar[tuple[str, ...]] = (
        "complainant_progress", "information_response", "formal_notice_compliance",
        "formal_notice_minimum", "report_observations", "reply_observations",
        "hearing_minimum_notice", "appeal", "liquidation_observations")
    COMPLAINANT_REMEDY: ClassVar[str] = (
        "The complainant may go to court if not informed of progress within this period "
        "(GDPR art. 78(2)).")

    # --- the shared machine's hooks ---------------------------------------------------------

    @classmethod
    def category(cls, st: CaseStatus) -> str:
        """Sanctioned once the committee decided; referred while the sanction stage runs
        (or when it ended otherwise); complied when closed on compliance before that;
        closed for a dismissal; open before a formal notice's outcome."""
        outcomes = {t.name for t in st.timeline if t.kind == "outcome"}
        if "sanction_decided" in outcomes:
            return "sanctioned"
        if st.stage in SANCTION_STAGES or (st.status == "closed"
                                           and "referred_to_sanction" in outcomes
                                           and st.outcome != "complied"):
            return "referred"
        if st.status == "closed":
            return "complied" if st.outcome == "complied" else "closed"
        return "open"

    def _also_accepted(self) -> tuple[str, ...]:
        if self.s.auto_referral and self.s.stage in UNDOABLE:
            return ("referral_undone", "compliance_accepted")
        return ()

    def _sanction_now(self, pub: CaseStatus, now: datetime) -> None:
        if self.s.sanction.penalty_per_day_eur and self.s.injunction_due is not None:
            until = (date.fromisoformat(self.s.liquidation_cutoff) if self.s.liquidation_cutoff
                     else local_date(now, self.cal))
            acc = self._accrual(until)
            pub.sanction.penalty_days, pub.sanction.penalty_eur = acc.days, acc.amount_eur

    def _catch_up(self, until: datetime, now: datetime) -> None:
        self._final_referral(until, now)

    def _wakes(self) -> list[datetime]:
        return [self.s.referral_due] if self.s.referral_due is not None else []

    def _may_revive(self, rec: DeadlineRecord) -> bool:
        # a formal notice only before the referral it led to is final
        return rec.name != "formal_notice_compliance" or self.s.stage == "formal_notice"

    def _revived(self, rec: DeadlineRecord) -> None:
        if rec.name == "formal_notice_compliance":
            self.s.referral_due = None  # the provisional referral falls with the expiry

    def _check_extension(self, ev: Any) -> None:
        if (ev.deadline == "formal_notice_compliance"
                and self.s.notice_extensions >= self.p.formal_notice_max_extensions):
            raise EventRejected(
                f"extension_granted rejected: the formal notice may be extended "
                f"{self.p.formal_notice_max_extensions} time(s) under {self.p.name} and "
                f"already was")

    def _extended(self, name: str) -> None:
        if name == "formal_notice_compliance":
            self.s.notice_extensions += 1

    def _on_expired(self, rec: DeadlineRecord, now: datetime) -> None:
        if rec.name == "formal_notice_compliance" and self.s.stage == "formal_notice":
            if self.p.refer_on_compliance_expiry:
                final = self._grace_end(rec)
                if final is None:
                    self._refer_automatically(rec, _day(rec.due), now)
                else:
                    self.s.referral_due = final
                    self._timeline(rec.due, "outcome", "referral_provisional",
                                   f"the case is referred on {local_date(final, self.cal)} "
                                   f"unless an act dated by {rec.due} is recorded before then "
                                   f"(a grace of {self.p.periods.referral_grace}: "
                                   f"{self.p.name}'s office practice, not a rule of law)")
        elif rec.name == "injunction_compliance" and self.s.sanction.penalty_per_day_eur:
            start = _day(rec.due) + timedelta(days=1)
            self._timeline(start, "outcome", "penalty_accrual_started",
                           f"{self.s.sanction.penalty_per_day_eur:,} {self.p.currency} per day")

    # --- the family's events ---------------------------------------------------------------

    def _check_formal_notice_issued(self, ev: Any) -> None:
        period = parse_period(ev.period or self.p.period("formal_notice_compliance"))
        minimum = self.p.period("formal_notice_minimum")
        if self._shorter(ev.date, period, minimum,
                         self.p.rules_for("formal_notice_compliance")):
            raise EventRejected(
                f"formal_notice_issued rejected: a compliance period of {period.text} is under "
                f"the minimum of {minimum.text} for procedure {self.p.name}")

    def _on_formal_notice_issued(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("complainant_progress", ev.date, now)
        self._set_stage("formal_notice", now)
        period = ev.period or self.p.period("formal_notice_compliance").text
        rec = self._open_deadline("formal_notice_compliance", ev.date, period, now,
                                  own=ev.period is not None)
        self._notify(f"event:{n}", ("controller",), "formal_notice_issued",
                     f"Formal notice: comply by {rec.due}", now,
                     {"deadline": _dl(rec), "measures": ev.measures})
        self._notify(f"event:{n}", ("complainant",), "progress",
                     "Progress of your complaint: formal notice issued", now)

    def _on_compliance_evidence_submitted(self, ev: Any, n: int, now: datetime) -> None:
        self._notify(f"event:{n}", ("case_handler",), "compliance_evidence_submitted",
                     "Compliance evidence submitted", now, {"ref": ev.ref})

    def _check_compliance_accepted(self, ev: Any) -> None:
        if self.s.stage not in SANCTION_STAGES:
            return
        if self._ran_out("formal_notice_compliance", ev.date) is None:
            raise EventRejected(
                f"compliance_accepted rejected: the case was referred when the formal notice "
                f"due {self.s.auto_referral} ran out; compliance dated {_iso(ev.date)} is not "
                f"in time for it. To take the case back, record referral_undone with a reason")

    def _on_compliance_accepted(self, ev: Any, n: int, now: datetime) -> None:
        if self.s.stage in SANCTION_STAGES:  # timely, but recorded after the referral
            rec = self._meet("formal_notice_compliance", ev.date, now)
            assert rec is not None
            why = (f"compliance accepted dated {_iso(ev.date)} was in time for the formal "
                   f"notice due {rec.due}, but recorded after the engine had referred the "
                   f"case; record referral_undone with a reason to take the case back")
            self._timeline(ev.date, "outcome", "referral_contested", why, (now, self._by))
            self._notify(f"event:{n}", ("case_handler",), "referral_contested",
                         "Referred case: a timely compliance was recorded late", now,
                         {"reason": why, "deadline": _dl(rec)})
            return
        self._meet("formal_notice_compliance", ev.date, now)
        self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                     "compliance_accepted", "Compliance accepted: case closed", now)
        self._close("complied", ev.date, now)

    def _on_compliance_rejected(self, ev: Any, n: int, now: datetime) -> None:
        rec = self.pending("formal_notice_compliance")
        self._notify(f"event:{n}", ("controller",), "compliance_rejected",
                     "Compliance evidence not accepted", now,
                     {"deadline": _dl(rec) if rec else None})
        last = self._latest("formal_notice_compliance")
        if (self.s.referral_undone and rec is None and last is not None
                and last.status == "missed" and self.p.refer_on_compliance_expiry):
            # the regulator took a referral back to weigh the evidence, and rejects it
            self.refer(ev.date, now, f"compliance evidence rejected on {_iso(ev.date)} after "
                       f"the formal notice due {last.due} ran out")

    def _grace_end(self, rec: DeadlineRecord) -> datetime | None:
        """When the automatic referral for the formal notice `rec` becomes final: the end of
        the procedure's `referral_grace` after its due date (None: at once)."""
        grace = self.p.wait("referral_grace") if self.amendable else None
        if grace is None:
            return None
        return compute_deadline(_day(rec.due), grace, self.cal,
                                self.p.rules_for("referral_grace")).expires_at

    def _final_referral(self, until: datetime, now: datetime) -> None:
        """The provisional referral becomes final once its grace is over, if the formal
        notice is still missed and the case still at its stage."""
        due = self.s.referral_due
        if due is None or due > until:
            return
        self.s.referral_due = None
        rec = self._latest("formal_notice_compliance")
        if (self.s.status == "open" and self.s.stage == "formal_notice" and rec is not None
                and rec.status == "missed"):
            self._refer_automatically(rec, local_date(due, self.cal), now)

    def _refer_automatically(self, rec: DeadlineRecord, when: date, now: datetime) -> None:
        if self.amendable:
            self.s.auto_referral = rec.due
        grace = self.p.wait("referral_grace") if self.amendable else None
        waited = f" and {grace.text} of grace" if grace is not None else ""
        self.refer(when, now, f"formal notice not complied with by {rec.due}{waited}")

    def refer(self, when: date | datetime, now: datetime, reason: str) -> None:
        """The case goes to the sanctioning body (formation restreinte)."""
        self._set_stage("referred", now)
        self.s.event_count += 1
        self._register("events", f"event:{self.s.event_count}", now, {
            "seq": self.s.event_count, "type": "referred_to_sanction", "date": _iso(when),
            "event_id": None, "fields": {"reason": reason}, "recorded_at": now.isoformat(),
            "recorded_by": ENGINE})
        self._timeline(when, "outcome", "referred_to_sanction", reason, (now, ENGINE),
                       self.s.event_count if self.amendable else None)
        self._notify(f"referred:{self.s.event_count}", ("controller", "case_handler"),
                     "referred_to_sanction", "Case referred to the sanctioning committee", now,
                     {"reason": reason})

    def _on_referral_undone(self, ev: Any, n: int, now: datetime) -> None:
        """The case goes back to the formal notice stage: the sanction stage's running
        deadlines are cancelled; a compliance accepted in time meanwhile closes it."""
        for rec in self.s.deadlines:
            if rec.status == "pending":
                self._deadline_status(rec, "cancelled", now)
        self.s.auto_referral, self.s.referral_undone = None, True
        self._timeline(ev.date, "outcome", "referral_undone", ev.reason, (now, self._by))
        notice = self._latest("formal_notice_compliance")
        if notice is not None and notice.status == "met":
            self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                         "compliance_accepted", "Compliance accepted: case closed", now)
            self._close("complied", ev.date, now)
            return
        self._set_stage("formal_notice", now)
        self._notify(f"event:{n}", ("controller", "case_handler"), "referral_undone",
                     "Referral to the sanctioning committee withdrawn", now,
                     {"reason": ev.reason})

    def _on_rapporteur_designated(self, ev: Any, n: int, now: datetime) -> None:
        if self.s.stage in PRE_SANCTION_STAGES:
            self._meet("complainant_progress", ev.date, now)
            self.refer(ev.date, now, "rapporteur designated without a formal notice")
        self._set_stage("rapporteur", now)

    def _on_report_notified(self, ev: Any, n: int, now: datetime) -> None:
        self._set_stage("report", now)
        rec = self._open_deadline("report_observations", ev.date,
                                  self.p.period("report_observations"), now)
        self._notify(f"event:{n}", ("controller",), "report_notified",
                     f"Sanction report notified: observations by {rec.due}", now,
                     {"deadline": _dl(rec)})

    def _check_observations_submitted(self, ev: Any) -> None:
        if (self.s.stage == "liquidation" and self.pending("liquidation_observations") is None
                and self._ran_out("liquidation_observations", ev.date) is None):
            raise EventRejected("observations_submitted rejected: the liquidation "
                                "observations period is over")

    def _on_observations_submitted(self, ev: Any, n: int, now: datetime) -> None:
        names = self.ANSWERS["observations_submitted"]
        if not any(self._meet(name, ev.date, now) for name in names if self.pending(name)):
            any(self._meet(name, ev.date, now) for name in names)
        self._notify(f"event:{n}", ("case_handler",), "observations_submitted",
                     "Observations submitted", now)

    def _on_rapporteur_replied(self, ev: Any, n: int, now: datetime) -> None:
        rec = self._open_deadline("reply_observations", ev.date,
                                  self.p.period("reply_observations"), now)
        self._notify(f"event:{n}", ("controller",), "rapporteur_replied",
                     f"Rapporteur's reply: further observations by {rec.due}", now,
                     {"deadline": _dl(rec)})

    def _check_hearing_scheduled(self, ev: Any) -> None:
        first, _ = earliest_date(ev.date, self.p.period("hearing_minimum_notice"), self.cal,
                                 self.p.rules_for("hearing_minimum_notice"))
        if ev.hearing_date < first:
            raise EventRejected(
                f"hearing_scheduled rejected: a hearing on {ev.hearing_date.isoformat()} is "
                f"under the minimum notice of {self.p.periods.hearing_minimum_notice} from "
                f"{local_date(ev.date, self.cal).isoformat()}; the earliest date is "
                f"{first.isoformat()}")

    def _on_hearing_scheduled(self, ev: Any, n: int, now: datetime) -> None:
        self._set_stage("hearing_scheduled", now)
        _, why = earliest_date(ev.date, self.p.period("hearing_minimum_notice"), self.cal,
                               self.p.rules_for("hearing_minimum_notice"))
        self._notify(f"event:{n}", ("controller",), "hearing_scheduled",
                     f"Hearing on {ev.hearing_date.isoformat()}", now,
                     {"hearing_date": ev.hearing_date.isoformat(), "explanation": list(why)})

    def _on_hearing_held(self, ev: Any, n: int, now: datetime) -> None:
        self._set_stage("deliberation", now)

    def _check_sanction_decided(self, ev: Any) -> None:
        caps = self.p.caps
        turnover = self.s.controller.annual_turnover_eur
        cap = caps.fine_cap(turnover, ev.lower_tier)
        if ev.fine_eur > cap:
            fixed = caps.fine_lower_max if ev.lower_tier and caps.fine_lower_max else caps.fine_max
            pct = (caps.fine_lower_turnover_pct if ev.lower_tier and caps.fine_lower_max
                   else caps.fine_turnover_pct)
            basis = (f"the higher of {fixed:,} and {pct:g}% of the annual turnover "
                     f"{turnover:,}" if turnover else
                     f"{fixed:,}; no annual turnover is known for the controller")
            raise EventRejected(f"sanction_decided rejected: a fine of {ev.fine_eur:,} "
                                f"{self.p.currency} is above the cap of {cap:,} ({basis})")
        if ev.penalty_per_day_eur > (caps.penalty_per_day_max or 0):
            raise EventRejected(
                f"sanction_decided rejected: a daily penalty of {ev.penalty_per_day_eur:,} "
                f"{self.p.currency} is above the cap of {caps.penalty_per_day_max or 0:,} per "
                f"day")

    def _on_sanction_decided(self, ev: Any, n: int, now: datetime) -> None:
        self._set_stage("decided", now)
        sf = self.s.sanction
        sf.fine_eur, sf.penalty_per_day_eur, sf.publish = (ev.fine_eur, ev.penalty_per_day_eur,
                                                           ev.publish)
        sf.injunction = ev.injunction_period is not None
        self.s.injunction_period = ev.injunction_period
        self._register("decisions", f"decision:{n}", now, {
            "kind": "sanction", "fine_eur": ev.fine_eur,
            "penalty_per_day_eur": ev.penalty_per_day_eur, "publish": ev.publish,
            "injunction_period": ev.injunction_period})
        self._timeline(ev.date, "outcome", "sanction_decided",
                       f"fine {ev.fine_eur:,} {self.p.currency}"
                       + (f", injunction within {ev.injunction_period} with "
                          f"{ev.penalty_per_day_eur:,} per day of delay"
                          if ev.injunction_period else ""))
        self._notify(f"event:{n}", ("case_handler",), "sanction_decided", "Sanction decided",
                     now)

    def _on_decision_notified(self, ev: Any, n: int, now: datetime) -> None:
        self._set_stage("decision_notified", now)
        appeal = self.p.period("appeal")
        preface: tuple[str, ...] = ()
        country = self.s.controller.country
        overseas = country in self.p.overseas_countries
        which = "appeal_overseas_extension" if overseas else "appeal_abroad_extension"
        if self.abroad and getattr(self.p.periods, which):
            extra = self.p.period(which)
            appeal = _sum(appeal, extra)
            info = self.p.period_info.get(which)
            cite = info.source if info is not None and info.source else "CJA R421-7"
            where = (f"lives in a French overseas territory ({country})" if overseas else
                     f"is established outside {self.p.country} ({country})")
            preface = (f"The controller {where}: the appeal period of "
                       f"{self.p.periods.appeal} is extended by {extra.text} ({cite}).",)
        rec = self._open_deadline("appeal", ev.date, appeal, now, preface)
        data: dict[str, Any] = {"appeal": _dl(rec), "fine_eur": self.s.sanction.fine_eur}
        decided = next((e for e in reversed(self.s.timeline)
                        if e.kind == "outcome" and e.name == "sanction_decided"), None)
        period = self.s.injunction_period
        if period:
            inj = self._open_deadline("injunction_compliance", ev.date, period, now)
            self.s.injunction_due = inj.due
            data["injunction"] = _dl(inj)
            data["penalty_per_day_eur"] = self.s.sanction.penalty_per_day_eur
        self._register("decisions", f"decision_notified:{n}", now, {
            "kind": "notified", "fine_eur": self.s.sanction.fine_eur,
            "penalty_per_day_eur": self.s.sanction.penalty_per_day_eur,
            "injunction_due": self.s.injunction_due,
            "decided": decided.date if decided else None})
        self._notify(f"event:{n}", ("controller",), "decision_notified",
                     f"Decision notified: appeal by {rec.due}", now, data)
        self._notify(f"event:{n}", ("complainant",), "outcome",
                     "Outcome of your complaint: sanction decided", now,
                     {"fine_eur": self.s.sanction.fine_eur})

    def _on_appeal_lodged(self, ev: Any, n: int, now: datetime) -> None:
        self._meet("appeal", ev.date, now)
        self._notify(f"event:{n}", ("case_handler",), "appeal_lodged",
                     f"Appeal lodged before {ev.court} (not suspensive)", now)

    def _check_compliance_established(self, ev: Any) -> None:
        if not self.s.sanction.injunction:
            raise EventRejected("compliance_established rejected: the decision carries no "
                                "injunction")
        if self.s.compliance_date is not None:
            raise EventRejected(f"compliance_established rejected: compliance was already "
                                f"established on {self.s.compliance_date}")

    def _on_compliance_established(self, ev: Any, n: int, now: datetime) -> None:
        day = local_date(ev.date, self.cal)
        self.s.compliance_date = day.isoformat()
        self._meet("injunction_compliance", ev.date, now)
        self._timeline(ev.date, "outcome", "compliance_established",
                       "penalty accrual stops" if self.s.sanction.penalty_per_day_eur else "")
        self._notify(f"event:{n}", ("controller", "complainant", "case_handler"),
                     "compliance_established", "Compliance with the injunction established",
                     now)

    def _check_liquidation_opened(self, ev: Any) -> None:
        if not self.s.sanction.penalty_per_day_eur or self.s.injunction_due is None:
            raise EventRejected("liquidation_opened rejected: the decision carries no daily "
                                "penalty payment")
        if ev.cutoff <= _day(self.s.injunction_due):
            raise EventRejected(f"liquidation_opened rejected: the cut-off "
                                f"{ev.cutoff.isoformat()} must be after the injunction deadline "
                                f"{self.s.injunction_due}")

    def _on_liquidation_opened(self, ev: Any, n: int, now: datetime) -> None:
        self._set_stage("liquidation", now)
        self.s.liquidation_cutoff = ev.cutoff.isoformat()
        acc = self._accrual(ev.cutoff)
        self.s.sanction.intended_liquidation_eur = acc.amount_eur
        rec = self._open_deadline("liquidation_observations", ev.date,
                                  self.p.period("liquidation_observations"), now)
        self._register("decisions", f"liquidation_opened:{n}", now, {
            "kind": "liquidation_opened", "amount_eur": acc.amount_eur,
            "penalty_per_day_eur": self.s.sanction.penalty_per_day_eur,
            "injunction_due": self.s.injunction_due, "cutoff": ev.cutoff.isoformat(),
            "days": acc.days, "explanation": list(acc.explanation)})
        self._timeline(ev.date, "outcome", "liquidation_intended",
                       f"{acc.days} days, {acc.amount_eur:,} {self.p.currency}")
        self._notify(f"event:{n}", ("controller",), "liquidation_opened",
                     f"Liquidation of the daily penalty: {acc.amount_eur:,} {self.p.currency} "
                     f"intended; observations by {rec.due}", now,
                     {"deadline": _dl(rec), "amount_eur": acc.amount_eur, "days": acc.days,
                      "explanation": list(acc.explanation)})

    def _on_penalty_liquidated(self, ev: Any, n: int, now: datetime) -> None:
        intended = self.s.sanction.intended_liquidation_eur or 0
        amount = ev.amount_eur if ev.amount_eur is not None else intended
        self.s.sanction.liquidated_eur = (self.s.sanction.liquidated_eur or 0) + amount
        self._set_stage("liquidated", now)
        for rec in self.s.deadlines:
            if rec.name == "liquidation_observations" and rec.status == "pending":
                self._deadline_status(rec, "cancelled", now)
        self._register("decisions", f"liquidation:{n}", now, {
            "kind": "liquidation", "amount_eur": amount, "intended_eur": intended,
            "cutoff": self.s.liquidation_cutoff})
        self._timeline(ev.date, "outcome", "penalty_liquidated",
                       f"{amount:,} {self.p.currency}")
        self._notify(f"event:{n}", ("controller", "complainant"), "penalty_liquidated",
                     f"Daily penalty liquidated: {amount:,} {self.p.currency}", now,
                     {"amount_eur": amount})

    def _accrual(self, until: date) -> Any:
        assert self.s.injunction_due is not None
        reason = "liquidation cut-off"
        if self.s.compliance_date and date.fromisoformat(self.s.compliance_date) <= until:
            until, reason = date.fromisoformat(self.s.compliance_date), "compliance established"
        return penalty_accrual(_day(self.s.injunction_due),
                               self.s.sanction.penalty_per_day_eur, until, until_reason=reason)

    def refresh_sanction(self, today: date) -> None:
        """Days of delay and amount: to the latest cut-off, else compliance, else today."""
        sf = self.s.sanction
        if not sf.penalty_per_day_eur or self.s.injunction_due is None:
            return
        until = (date.fromisoformat(self.s.liquidation_cutoff) if self.s.liquidation_cutoff
                 else today)
        acc = self._accrual(until)
        sf.penalty_days, sf.penalty_eur = acc.days, acc.amount_eur
