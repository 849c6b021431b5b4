"""The workload forecast's core: cases carried forward from their state by the in-process
engine, counted per week. States are made here by the case machine itself (the dev-server
test in tests/interfaces reads them from running workflows); every expected week is worked
out by hand in the comments. Today is Monday 2 March 2026: week 0 is 2-8 March."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from enforcement.case.machine import CaseState
from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
from enforcement.families import get_procedure, open_machine
from enforcement.simulation.forecast import Forecast, forecast, parse_assumptions
from enforcement.simulation.scenarios import ScenarioError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def state(case_id: str, procedure: str, *events: dict[str, Any]) -> CaseState:
    proc = get_procedure(procedure)
    m = open_machine(CaseInput(case_id=case_id, procedure=procedure,
                               controller=Controller(name="Acme", country="FR")),
                     proc, datetime(2026, 1, 5, tzinfo=UTC))
    for e in events:
        m.apply(EVENT_ADAPTER.validate_python(e), NOW)
    m.advance(NOW)
    return m.s


def notice() -> CaseState:
    # Formal notice Mon 16 Feb 2026, 1 month: due Mon 16 Mar (week 2: 14 days after 2 Mar).
    return state("CNIL-1", "fr-cnil", {"type": "formal_notice_issued", "date": "2026-02-16",
                                       "period": "1 month"})


def intent() -> CaseState:
    # Notice of intent Mon 23 Feb 2026: 21 days beginning when given, the day not counted
    # (DPA s. 205(2), Reg. 1182/71 art. 3): representations until Mon 16 Mar (week 2).
    return state("ICO-1", "uk-ico", {"type": "notice_of_intent_given", "date": "2026-02-23"})


ASSUMPTIONS = """
procedures:
  fr-cnil:
    - {event: compliance_accepted, after: formal_notice_issued, distribution: uniform,
       low: 10, high: 10, probability: %s}
  uk-ico:
    - {event: penalty_notice_given, after: notice_of_intent_given, distribution: uniform,
       low: 28, high: 28, fields: {amount: 1000000}}
"""


def at(f: Forecast, kind: str, week: int, procedure: str = "*") -> dict[str, Any]:
    [row] = [r for r in f.rows() if (r["kind"], r["week"], r["procedure"], r["stage"])
             == (kind, week, procedure, "*" if procedure == "*" else r["stage"])]
    return row


def test_an_unanswered_notice_runs_out_and_the_case_is_referred() -> None:
    f = forecast([notice()], parse_assumptions(ASSUMPTIONS % 0), now=NOW, weeks=8, runs=20)
    assert at(f, "deadlines", 2)["p50"] == 1 and at(f, "deadlines", 2)["p10"] == 1
    # Expired at the end of Mon 16 Mar; the referral waits 5 working days (Tue 17 to Mon 23)
    # and is final on Tue 24 Mar: week 3 (22 days after 2 Mar).
    assert at(f, "referrals", 3)["mean"] == 1.0
    assert sum(at(f, "referrals", w)["mean"] for w in range(8)) == 1.0
    assert sum(at(f, "deadlines", w)["mean"] for w in range(8)) == 1.0


def test_a_step_overdue_by_the_assumptions_happens_today() -> None:
    # 10 days after 16 Feb is 26 Feb, before today: placed on Mon 2 Mar, in time; the case
    # closes and nothing runs out or is referred.
    f = forecast([notice()], parse_assumptions(ASSUMPTIONS % 1), now=NOW, weeks=8, runs=20)
    assert all(r["mean"] == 0 for r in f.rows())


def test_percentiles_over_runs_and_the_same_figures_whatever_the_jobs() -> None:
    states = [notice().model_copy(update={"case_id": f"CNIL-{i}"}) for i in range(6)]
    a = parse_assumptions(ASSUMPTIONS % 0.5)
    one = forecast(states, a, now=NOW, weeks=6, runs=200, seed=3, jobs=1)
    two = forecast(states, a, now=NOW, weeks=6, runs=200, seed=3, jobs=2)
    assert one.rows() == two.rows()
    row = at(one, "referrals", 3)
    # six cases, each referred unless it complied (one chance in two): between 0 and 6
    assert 0 <= row["p10"] < row["p50"] < row["p90"] <= 6
    assert 2.4 <= row["mean"] <= 3.6


def test_ico_decisions_and_payment() -> None:
    f = forecast([intent()], parse_assumptions(ASSUMPTIONS % 0), now=NOW, weeks=8, runs=5)
    assert at(f, "deadlines", 2, "uk-ico")["mean"] == 1.0  # representations, lapsed
    # Penalty notice 28 days after 23 Feb: Mon 23 Mar, week 3.
    assert at(f, "decisions", 3)["mean"] == 1.0
    # 28 days to pay beginning when given (para 6(2)), the day not counted: Mon 20 Apr; the
    # appeal, 28 days from the notice (GRC r. 22(1)(b)): Mon 20 Apr too. Week 7 (49 days).
    assert at(f, "deadlines", 7)["mean"] == 2.0
    assert at(f, "hearings", 3, "uk-ico")["mean"] == 0.0


def test_bad_assumptions_name_the_line() -> None:
    with pytest.raises(ScenarioError, match=r"a.yaml:5: procedures.fr-cnil\[0\].probability: "
                                            r"a number from 0 to 1"):
        parse_assumptions(ASSUMPTIONS % 2, "a.yaml")
    with pytest.raises(ScenarioError, match=r"unknown event type 'compliance_acepted'"):
        parse_assumptions((ASSUMPTIONS % 1).replace("compliance_accepted",
                                                    "compliance_acepted"), "a.yaml")
    with pytest.raises(ScenarioError, match=r"penalty_notice_given: amount: Field required"):
        parse_assumptions((ASSUMPTIONS % 1).replace(", fields: {amount: 1000000}", ""),
                          "a.yaml")


def test_what_happened_before_now_is_not_workload() -> None:
    # A notice of intent given today, before the forecast: already done, not to come.
    given_today = state("ICO-2", "uk-ico", {"type": "notice_of_intent_given",
                                            "date": "2026-03-02"})
    f = forecast([given_today], parse_assumptions(ASSUMPTIONS % 0), now=NOW, weeks=8,
                 runs=3)
    assert at(f, "referrals", 0)["mean"] == 0.0
    # its representations (21 days, 2 Mar not counted: Mon 23 Mar) run out in week 3
    assert at(f, "deadlines", 3)["mean"] == 1.0
