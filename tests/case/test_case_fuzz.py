"""Fuzzing the case machine with hypothesis: any sequence of well-formed events, at any
dates, is either applied or rejected with EventRejected; a rejection changes nothing (the
whole state and the pending effects, also when the event came with the case's opening and
deadlines had expired on the way to its date); no other exception ever escapes (an escaping
one would fail a workflow task forever); and an accepted event does what the procedure says,
checked against an independent model written here: the stage it leads to, the one event row
it records, and the due date of each deadline it opens or moves, counted with
`dateutil.relativedelta` and the `holidays` package rather than the engine's core."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from enforcement.case.machine import CaseState, EventRejected
from enforcement.case.models import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    CaseInput,
    Controller,
    DeadlineRecord,
)
from enforcement.case.procedure import Procedure
from enforcement.families import all_procedures, family_of, open_machine
from enforcement.families.cnil import SANCTION_STAGES

PERIODS = ["1 day", "10 days", "2 months", "1 month 15 days", "10 working days", "72 hours",
           "4 weeks", "1 year"]
DEADLINES = ["formal_notice_compliance", "information_response", "report_observations",
             "appeal", "injunction_compliance", "nope"]


def _fields(kind: str, day: date) -> st.SearchStrategy[dict[str, Any]]:
    later = st.integers(0, 120).map(lambda n: (day + timedelta(days=n)).isoformat())
    extra: dict[str, st.SearchStrategy[Any]] = {
        "complaint_received": st.fixed_dictionaries({"subject": st.just("s"),
                                                     "complainant_ref": st.just("c")}),
        "investigation_opened": st.fixed_dictionaries(
            {"kind": st.sampled_from(["on_site", "documents", "online"])}),
        # without a period, the procedure's default applies
        "information_requested": st.one_of(
            st.just({}), st.fixed_dictionaries({"period": st.sampled_from(PERIODS)})),
        "formal_notice_issued": st.one_of(
            st.just({}), st.fixed_dictionaries({"period": st.sampled_from(PERIODS)})),
        "extension_granted": st.one_of(
            st.fixed_dictionaries({"deadline": st.sampled_from(DEADLINES),
                                   "period": st.sampled_from(PERIODS)}),
            st.fixed_dictionaries({"deadline": st.sampled_from(DEADLINES), "until": later})),
        "hearing_scheduled": st.fixed_dictionaries({"hearing_date": later}),
        "sanction_decided": st.fixed_dictionaries({
            "fine_eur": st.sampled_from([0, 1000, 20_000_000, 30_000_000]),
            "injunction_period": st.sampled_from(["1 month", "2 months"]),
            "penalty_per_day_eur": st.sampled_from([0, 500, 100_000, 200_000])}),
        "liquidation_opened": st.fixed_dictionaries({"cutoff": later}),
        "penalty_liquidated": st.fixed_dictionaries(
            {"amount_eur": st.one_of(st.none(), st.integers(0, 10**7))}),
        "referral_undone": st.just({"reason": "timely compliance recorded late"}),
        # the ICO's notices (refused by a CNIL case, applied or refused by an ICO one)
        "information_notice_given": st.fixed_dictionaries({
            "period": st.sampled_from(PERIODS), "urgent": st.booleans()}),
        "enforcement_notice_given": st.fixed_dictionaries({
            "period": st.sampled_from(PERIODS), "urgent": st.booleans()}),
        "notice_of_intent_given": st.one_of(
            st.just({}), st.fixed_dictionaries({"period": st.sampled_from(PERIODS)})),
        "penalty_notice_given": st.fixed_dictionaries({
            "amount": st.sampled_from([1, 8_700_000, 17_500_000, 50_000_000]),
            "lower_tier": st.booleans()}),
        "event_withdrawn": st.fixed_dictionaries({"seq": st.integers(1, 8),
                                                  "reason": st.just("typed in error")}),
        # the right event is one of the procedure's, dated up to 60 days before
        "event_corrected": st.fixed_dictionaries({
            "seq": st.integers(1, 8), "reason": st.just("wrong date or period"),
            "corrected": st.sampled_from(["formal_notice_issued", "information_requested",
                                          "compliance_accepted", "report_notified"]).flatmap(
                lambda k: st.integers(0, 60).map(lambda n: {
                    "type": k, "date": (day - timedelta(days=n)).isoformat()}))}),
    }
    return extra.get(kind, st.just({}))


@st.composite
def scripts(draw: st.DrawFn) -> list[dict[str, Any]]:
    day = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
    out = []
    for _ in range(draw(st.integers(1, 14))):
        day += timedelta(days=draw(st.integers(0, 90)))
        kind = draw(st.sampled_from(EVENT_TYPES))
        out.append({"type": kind, "date": day.isoformat(), **draw(_fields(kind, day))})
    return out


ORDER = ["complaint_received", "investigation_opened", "information_requested",
         "information_provided", "formal_notice_issued", "extension_granted",
         "compliance_evidence_submitted", "case_suspended", "case_resumed",
         "rapporteur_designated", "report_notified", "observations_submitted",
         "rapporteur_replied", "hearing_scheduled", "hearing_held", "sanction_decided",
         "decision_notified", "appeal_lodged", "liquidation_opened", "penalty_liquidated",
         "compliance_established", "case_closed"]


@st.composite
def near_procedure(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The procedure's order with steps dropped, repeated or stray events slipped in, so
    that deep stages are reached as well as refused."""
    day = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
    out = []
    for kind in ORDER:
        kinds = [kind] if draw(st.integers(0, 9)) else []
        if not draw(st.integers(0, 5)):
            kinds.append(draw(st.sampled_from(EVENT_TYPES)))
        for k in kinds:
            day += timedelta(days=draw(st.integers(0, 75)))
            out.append({"type": k, "date": day.isoformat(), **draw(_fields(k, day))})
    return out


# --- the independent model --------------------------------------------------------------

# The stage each event leads to (domain.md section 4); None: the stage does not change.
STAGE_AFTER: dict[str, str | None] = {
    "complaint_received": "complaint", "investigation_opened": "investigation",
    "formal_notice_issued": "formal_notice", "no_breach_found": "closed",
    "compliance_accepted": "closed", "rapporteur_designated": "rapporteur",
    "report_notified": "report", "hearing_scheduled": "hearing_scheduled",
    "hearing_held": "deliberation", "sanction_decided": "decided",
    "decision_notified": "decision_notified", "liquidation_opened": "liquidation",
    "penalty_liquidated": "liquidated", "case_closed": "closed"}
# The deadline each event opens, and the procedure period used when the event gives none.
OPENS: dict[str, tuple[str, str]] = {
    "complaint_received": ("complainant_progress", "complainant_progress"),
    "information_requested": ("information_response", "information_response"),
    "formal_notice_issued": ("formal_notice_compliance", "formal_notice_compliance"),
    "report_notified": ("report_observations", "report_observations"),
    "rapporteur_replied": ("reply_observations", "reply_observations"),
    "liquidation_opened": ("liquidation_observations", "liquidation_observations")}
UNITS = {"hour": "hours", "day": "days", "working day": "working_days", "week": "weeks",
         "month": "months", "year": "years"}


def _amounts(text: str) -> dict[str, int]:
    """'1 month 15 days' -> {'months': 1, 'days': 15}, for the period texts used here."""
    out: dict[str, int] = {}
    for n, unit in re.findall(r"(\d+) (working day|hour|day|week|month|year)s?", text):
        out[UNITS[unit]] = out.get(UNITS[unit], 0) + int(n)
    return out


# How each forum counts, written here apart from the procedure files (domain.md section 3,
# item 11): the CNIL's appeal to the Conseil d'État is a délai franc (CJA R421-1); the ICO's
# representations run "beginning when" the notice of intent is given (DPA 2018 Sch. 16
# para 3(4)): the first day counts and nothing rolls.
FRANC = {("fr-cnil", "appeal"), ("fr-cnil-simplified", "appeal"), ("fr-cnil-urgency", "appeal")}
BEGINNING = {("uk-ico", "report_observations")}
# CJA R421-7 para 1: one month more, not two, for these French overseas territories.
OVERSEAS = {"GP", "GF", "MQ", "RE", "BL", "MF", "YT", "PM", "PF", "WF", "NC", "TF"}


class Reference:
    """Due dates counted the long way: relativedelta for months, the holidays package's own
    calendar for the roll off Saturdays, Sundays and public holidays."""

    def __init__(self, proc: Procedure, deadline: str = "") -> None:
        self.franc = (proc.name, deadline) in FRANC
        self.beginning = (proc.name, deadline) in BEGINNING
        c = proc.calendar
        self.days_off = holidays.country_holidays(c.country, subdiv=c.subdivision)
        self.tz = ZoneInfo(c.timezone or "UTC")

    def working(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.days_off

    def roll(self, d: date) -> date:
        while not self.working(d):
            d += timedelta(days=1)
        return d

    def due(self, start: date | datetime, period: str) -> str:
        a = _amounts(period)
        if "hours" in a:
            begin = (start if isinstance(start, datetime)
                     else datetime.combine(start, time(12), tzinfo=self.tz))
            return (begin.astimezone(UTC) + timedelta(hours=a["hours"])).astimezone(
                self.tz).isoformat()
        day = start.astimezone(self.tz).date() if isinstance(start, datetime) else start
        if self.beginning:
            day -= timedelta(days=1)
        if "working_days" in a:
            for _ in range(a["working_days"]):
                day += timedelta(days=1)
                while not self.working(day):
                    day += timedelta(days=1)
            return day.isoformat()
        end = day + relativedelta(months=a.get("months", 0) + 12 * a.get("years", 0))
        end += timedelta(days=a.get("days", 0) + 7 * a.get("weeks", 0))
        if self.franc:
            end += timedelta(days=1)
        return (end if self.beginning else self.roll(end)).isoformat()

    def extended(self, old: DeadlineRecord, fields: dict[str, Any]) -> str:
        # The added time runs after the previous due date: no franc day, no first day.
        after = self.beginning
        self.franc = self.beginning = False
        if fields.get("until"):
            until = date.fromisoformat(fields["until"])
            return (until if after else self.roll(until)).isoformat()
        if after and "hours" not in _amounts(fields["period"]):
            a = _amounts(fields["period"])
            if "working_days" in a:
                return self.due(date.fromisoformat(old.due[:10]), fields["period"])
            end = date.fromisoformat(old.due[:10]) + relativedelta(
                months=a.get("months", 0) + 12 * a.get("years", 0))
            return (end + timedelta(days=a.get("days", 0) + 7 * a.get("weeks", 0))).isoformat()
        if "hours" in _amounts(fields["period"]):
            return self.due(old.expires_at if "T" not in old.due
                            else datetime.fromisoformat(old.due), fields["period"])
        return self.due(date.fromisoformat(old.due[:10]), fields["period"])


def _appeal_period(proc: Procedure, country: str) -> str:
    """The appeal period, with the extension for a controller abroad (CJA R421-7)."""
    amounts = _amounts(proc.periods.appeal)
    extra = proc.periods.appeal_abroad_extension
    if proc.name.startswith("fr-cnil") and country in OVERSEAS:
        extra = "1 month"
    if country != proc.country and extra:
        for unit, n in _amounts(extra).items():
            amounts[unit] = amounts.get(unit, 0) + n
    return " ".join(f"{n} {unit}" for unit, n in amounts.items())


def expect_accepted(before: CaseState, after: CaseState, raw: dict[str, Any], proc: Procedure,
                    country: str, register: list[Any]) -> None:
    """What an accepted event must have done, by the independent model."""
    kind = raw["type"]
    day = date.fromisoformat(raw["date"])
    rows = [r for r in register if r.table == "events" and r.data["type"] == kind]
    assert [(r.data["date"], r.data["seq"]) for r in rows] == [(raw["date"],
                                                                before.event_count + 1)]
    if kind in ("event_corrected", "event_withdrawn"):
        return  # the case recomputed: tests/test_corrections.py checks what it becomes
    stage = STAGE_AFTER.get(kind)
    if kind == "information_requested" and before.stage in ("new", "complaint"):
        stage = "investigation"
    if kind == "compliance_accepted" and before.stage in SANCTION_STAGES:
        stage = before.stage  # timely but late: flagged, the referral stands
    if kind == "referral_undone":
        met = [r for r in before.deadlines if r.name == "formal_notice_compliance"][-1]
        stage = "closed" if met.status == "met" else "formal_notice"
    if kind == "rapporteur_designated" or stage is None:
        stage = stage or before.stage
    assert after.stage == stage, (kind, before.stage, after.stage)
    new = after.deadlines[len(before.deadlines):]
    opened = {r.name: r for r in new}
    if kind in OPENS:
        name, default = OPENS[kind]
        period = raw.get("period") or getattr(proc.periods, default)
        assert opened[name].due == Reference(proc, name).due(day, period), (
            name, period, raw["date"])
    elif kind == "decision_notified":
        assert opened["appeal"].due == Reference(proc, "appeal").due(
            day, _appeal_period(proc, country))
        if before.injunction_period:
            assert opened["injunction_compliance"].due == Reference(proc).due(
                day, before.injunction_period)
    elif kind == "extension_granted":
        # the pending one, else (granted before its expiry, recorded after) the latest
        old = next((r for r in reversed(before.deadlines)
                    if r.name == raw["deadline"] and r.status == "pending"),
                   None) or next(r for r in reversed(before.deadlines)
                                 if r.name == raw["deadline"])
        assert after.deadlines[old.seq].status == "extended"
        assert opened[raw["deadline"]].due == Reference(proc, old.name).extended(old, raw)
    elif kind == "case_resumed":
        for old in before.deadlines:
            if old.status == "pending":
                assert after.deadlines[old.seq].expires_at >= old.expires_at
    if kind in ("compliance_accepted", "no_breach_found", "case_closed") and stage == "closed":
        assert after.status == "closed"
        assert all(r.status != "pending" for r in after.deadlines)


# Shrinking a failure can take minutes; mutation testing only needs to know that one fails.
PHASES = ([Phase.explicit, Phase.reuse, Phase.generate] if os.environ.get("FUZZ_NO_SHRINK")
          else list(Phase))


@settings(max_examples=300, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow])
@given(script=st.one_of(scripts(), near_procedure()),
       procedure=st.sampled_from(sorted(all_procedures())),
       country=st.sampled_from(["FR", "US", "GB", "RE"]),
       opening=st.lists(st.booleans(), min_size=14, max_size=14))
def test_events_apply_or_are_rejected_without_a_trace(
        script: list[dict[str, Any]], procedure: str, country: str,
        opening: list[bool]) -> None:
    """Each event is either recorded as the workflow records a live event (the clock first
    runs to its date) or as an event that comes with the case's opening (the catch-up to
    its date happens inside the same all-or-nothing step)."""
    proc = all_procedures()[procedure]
    m = open_machine(CaseInput(case_id="F-1", procedure=procedure, controller=Controller(
        name="Acme", country=country, annual_turnover_eur=10**9)), proc,
        datetime(2024, 1, 1, tzinfo=UTC))
    for i, raw in enumerate(script):
        ev = EVENT_ADAPTER.validate_python(raw)
        now = datetime.fromisoformat(raw["date"]).replace(hour=12, tzinfo=UTC)
        as_opening = opening[i % len(opening)]
        if not as_opening:
            m.advance(now)
        m.take_effects()
        before = m.s.model_copy(deep=True)
        try:
            if as_opening:
                m.apply_opening(ev, now)
            else:
                m.apply(ev, now)
        except EventRejected:
            assert m.s.model_dump() == before.model_dump()
            assert not m.take_effects()
        else:
            fx = m.take_effects()
            if not as_opening and family_of(proc) == "cnil":  # the model is the CNIL's
                expect_accepted(before, m.s, raw, proc, country, fx.register)
            else:  # the event itself was recorded, once, after any catch-up
                assert [r.data["date"] for r in fx.register
                        if r.table == "events" and r.data["type"] == raw["type"]] == [
                    raw["date"]]
            assert all(d.due and d.explanation for d in m.s.deadlines)
        m.status(now)  # the status query never fails either
