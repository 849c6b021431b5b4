"""Fuzzing the case machine with hypothesis: any sequence of well-formed events, at any
dates, is either applied or rejected with EventRejected; a rejection changes nothing; no
other exception ever escapes (an escaping one would fail a workflow task forever)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcement.case import EventRejected, Machine
from enforcement.models import EVENT_ADAPTER, EVENT_TYPES, CaseInput, Controller
from enforcement.procedures import all_procedures

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
        "information_requested": st.fixed_dictionaries({"period": st.sampled_from(PERIODS)}),
        "formal_notice_issued": st.fixed_dictionaries({"period": st.sampled_from(PERIODS)}),
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


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(script=st.one_of(scripts(), near_procedure()),
       procedure=st.sampled_from(sorted(all_procedures())),
       country=st.sampled_from(["FR", "US", "GB"]))
def test_events_apply_or_are_rejected_without_a_trace(
        script: list[dict[str, Any]], procedure: str, country: str) -> None:
    proc = all_procedures()[procedure]
    m = Machine.open(CaseInput(case_id="F-1", procedure=procedure, controller=Controller(
        name="Acme", country=country, annual_turnover_eur=10**9)), proc,
        datetime(2024, 1, 1, tzinfo=UTC))
    for raw in script:
        ev = EVENT_ADAPTER.validate_python(raw)
        now = datetime.fromisoformat(raw["date"]).replace(hour=12, tzinfo=UTC)
        m.advance(now)
        m.take_effects()
        before = m.s.model_dump()
        try:
            m.apply(ev, now)
        except EventRejected:
            assert m.s.model_dump() == before
            assert not m.take_effects()
        else:
            # Every deadline it holds was computed: a due date and an explanation.
            assert all(d.due and d.explanation for d in m.s.deadlines)
        m.status(now)  # the status query never fails either
