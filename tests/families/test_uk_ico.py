"""The UK ICO family, worked by hand from DPA 2018 Part 6 and Schedule 16 (as amended by the
Data (Use and Access) Act 2025) and the GRC Rules: each date below is counted in the comment
next to it, under DPA 2018 s. 205(2) (Reg. 1182/71 art. 3: the day a notice is given is not
counted, a last day on a weekend or bank holiday moves to the next working day) and, for
appeals, GRC Rules r. 22(1)(b) and r. 12 (5 pm)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from enforcement.case.machine import EventRejected
from enforcement.case.procedure import Procedure, ProcedureError
from enforcement.families import family_of, get_procedure, machine_class
from enforcement.families.cnil import CnilMachine
from tests.case.test_machine_behaviour import LONDON, Case, ev

ROOT = Path(__file__).resolve().parents[2]


def ico(*events: dict[str, Any], opened: str = "2021-11-01", turnover: int | None = None
        ) -> Case:
    c = Case("uk-ico", country="US", opened=opened, turnover=turnover)
    for e in events:
        c.record(e)
    return c


def refused(c: Case, event: dict[str, Any]) -> str:
    with pytest.raises(EventRejected) as err:
        c.record(event)
    return str(err.value)


def outcomes(c: Case) -> list[tuple[str, str]]:
    return [(t.name, t.date) for t in c.m.s.timeline if t.kind == "outcome"]


COMPLAINT = ev("complaint_received", "2021-11-01", subject="images", complainant_ref="C-1")
# Given Mon 29 Nov 2021, before the DUAA cut-over (5 Feb 2026).
NOTICE = ev("notice_of_intent_given", "2021-11-29")


def test_a_notice_of_intent_opens_21_days_for_representations_and_the_6_month_limit() -> None:
    c = ico(COMPLAINT, NOTICE)
    # 29 Nov + 21 days, the 29th not counted: Mon 20 Dec 2021, a working day.
    assert c.deadline("representations").due == "2021-12-20"
    # 6 months: Sun 29 May 2022, moved to Mon 30 May 2022 (the late May bank holiday
    # was moved to Thu 2 Jun that year).
    limit = c.deadline("penalty_notice_limit")
    assert limit.due == "2022-05-30"
    assert limit.explanation[0].startswith(
        "Given before 2026-02-05: no penalty notice may be given in reliance on this notice "
        "of intent after this date unless the period is extended by agreement (DPA 2018 "
        "Sch. 16 para 2(2)-(3)")
    assert c.m.s.stage == "notice_of_intent"


def test_representations_shorter_than_21_days_are_refused() -> None:
    c = ico(COMPLAINT)
    # 20 days end Sun 19 Dec, before 21 days (Mon 20 Dec)
    assert "under 21 days beginning when the notice is given (DPA 2018 Sch. 16 para 3(4))" in \
        refused(c, ev("notice_of_intent_given", "2021-11-29", period="20 days"))
    assert c.m.s.stage == "complaint"


def test_no_penalty_notice_before_the_representations_period_ends() -> None:
    c = ico(COMPLAINT, NOTICE, ev("representations_made", "2021-12-10"))
    assert c.deadline("representations").status == "exercised"
    # the representations were made early; the period still runs to its end (para 4(1))
    assert refused(c, ev("penalty_notice_given", "2021-12-20", amount=1000)) == (
        "penalty_notice_given rejected: no penalty notice may be given before the period for "
        "representations ends (DPA 2018 Sch. 16 para 4(1)), on 2021-12-20")
    assert c.record(ev("penalty_notice_given", "2021-12-21", amount=1000))


def test_before_the_duaa_the_6_months_bar_a_penalty_unless_extended_by_agreement() -> None:
    c = ico(COMPLAINT, NOTICE)
    c.run_to(datetime(2022, 5, 31, 9, tzinfo=LONDON))
    assert c.deadline("penalty_notice_limit").status == "missed"
    assert ("notice_of_intent_lapsed", "2022-05-30") in outcomes(c)
    assert c.m.s.stage == "investigation"  # a new notice of intent is needed
    assert "a penalty notice" not in " ".join(c.m.accepted()).replace("_", " ")

    c = ico(COMPLAINT, NOTICE)
    c.record(ev("extension_granted", "2022-05-20", deadline="penalty_notice_limit",
                until="2022-07-29"))
    assert c.deadline("penalty_notice_limit").due == "2022-07-29"
    assert c.record(ev("penalty_notice_given", "2022-06-15", amount=7_552_800))
    assert c.m.s.stage == "penalty_notice"


def test_since_the_duaa_the_6_months_are_a_target_not_a_bar() -> None:
    c = ico(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
            ev("notice_of_intent_given", "2026-03-02"), opened="2026-01-05")
    # Mon 2 Mar 2026 + 6 months: Wed 2 Sep 2026
    limit = c.deadline("penalty_notice_limit")
    assert limit.due == "2026-09-02"
    assert limit.explanation[0].startswith("Given on or after 2026-02-05: by this date, or as "
                                           "soon as reasonably practicable after it")
    assert "the 6 months are not extended by agreement (DPA 2018 Sch. 16 para 2(3), omitted " \
        "by DUAA 2025 s. 101)" in refused(c, ev("extension_granted", "2026-08-01",
                                                deadline="penalty_notice_limit",
                                                period="1 month"))
    c.run_to(datetime(2026, 9, 3, 9, tzinfo=LONDON))
    assert ("penalty_notice_overdue", "2026-09-02") in outcomes(c)
    assert c.m.s.stage == "notice_of_intent"
    assert c.record(ev("penalty_notice_given", "2026-10-01", amount=500_000))
    assert c.deadline("penalty_notice_limit").status == "missed"  # given late: reported


def test_the_penalty_is_paid_in_28_days_and_appealed_in_28_days_of_sending() -> None:
    c = ico(COMPLAINT, NOTICE, ev("penalty_notice_given", "2022-05-18", amount=7_552_800))
    # Wed 18 May 2022 + 28 days: Wed 15 Jun 2022 (para 6(2)); the appeal the same day,
    # received by 5 pm (GRC Rules r. 22(1)(b), r. 12(1)).
    assert c.deadline("payment").due == "2022-06-15"
    appeal = c.deadline("penalty_notice_appeal")
    assert (appeal.due, appeal.expires_at) == ("2022-06-15",
                                               datetime(2022, 6, 15, 17, tzinfo=LONDON))
    assert c.m.s.sanction.fine_eur == 7_552_800
    c.record(ev("penalty_paid", "2022-06-10"))
    assert c.deadline("payment").status == "met"
    assert c.m.s.status == "open"  # the appeal period still runs
    c.run_to(datetime(2022, 6, 15, 18, tzinfo=LONDON))
    assert appeal.status == "lapsed"
    assert (c.m.s.status, c.m.s.outcome) == ("closed", "paid")


def test_a_payment_period_under_28_days_is_refused() -> None:
    c = ico(COMPLAINT, NOTICE)
    assert refused(c, ev("penalty_notice_given", "2022-05-18", amount=1000,
                         payment_period="27 days")) == (
        "penalty_notice_given rejected: a payment period of 27 days is under 28 days "
        "beginning when the penalty notice is given (DPA 2018 Sch. 16 para 6(2))")


def test_the_penalty_is_capped_by_the_higher_or_the_standard_maximum() -> None:
    c = ico(COMPLAINT, NOTICE)
    assert refused(c, ev("penalty_notice_given", "2022-05-18", amount=17_500_001)) == (
        "penalty_notice_given rejected: 17,500,001 GBP is above the higher maximum (s. 157(5)) "
        "of 17,500,000 GBP; no annual turnover is known for the controller")
    assert refused(c, ev("penalty_notice_given", "2022-05-18", amount=8_700_001,
                         lower_tier=True)).startswith(
        "penalty_notice_given rejected: 8,700,001 GBP is above the standard maximum "
        "(s. 157(6)) of 8,700,000 GBP")
    # 4% of a turnover of 1,000,000,000: 40,000,000
    c = ico(COMPLAINT, NOTICE, turnover=1_000_000_000)
    assert c.record(ev("penalty_notice_given", "2022-05-18", amount=40_000_000))


def test_an_enforcement_notice_may_not_require_compliance_before_the_appeal_period_ends(
        ) -> None:
    c = ico(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
            opened="2026-01-05")
    # given Tue 6 Jan 2026: the appeal period ends Tue 3 Feb; 27 days end Mon 2 Feb
    assert refused(c, ev("enforcement_notice_given", "2026-01-06", period="27 days")) == (
        "enforcement_notice_given rejected: the notice may not require compliance before the "
        "end of the period for appealing it (DPA 2018 s. 150(6)), which ends 2026-02-03 "
        "(28 days, UK tribunal procedure rules); 27 days ends 2026-02-02. Accepted: a "
        "period ending on or after 2026-02-03, or a notice stated urgent")
    # urgent: not within 24 hours beginning when given (s. 150(8))
    assert "an urgent notice may not require compliance before the end of 24 hours" in \
        refused(c, ev("enforcement_notice_given", "2026-01-06T10:00:00+00:00",
                      period="12 hours", urgent=True))
    assert c.record(ev("enforcement_notice_given", "2026-01-06", period="2 days",
                       urgent=True))


def test_an_appeal_suspends_a_non_urgent_enforcement_notice() -> None:
    c = ico(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
            ev("enforcement_notice_given", "2026-01-06", period="2 months",
               measures=["delete the images of UK residents"]), opened="2026-01-05")
    assert c.deadline("enforcement_notice_compliance").due == "2026-03-06"
    c.record(ev("appeal_lodged", "2026-01-20"))
    assert c.deadline("enforcement_notice_appeal").status == "exercised"
    assert c.deadline("enforcement_notice_compliance").status == "cancelled"
    assert ("compliance_suspended", "2026-01-20") in outcomes(c)
    assert ("ico_appeal_lodged", "[B-1] Appeal lodged before the First-tier Tribunal (General "
            "Regulatory Chamber)") in [(n.template, n.subject) for n in c.sent
                                       if n.party == "case_handler"]


def test_an_enforcement_notice_not_complied_with_opens_the_way_to_a_penalty() -> None:
    c = ico(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
            ev("enforcement_notice_given", "2026-01-06", period="28 days"),
            opened="2026-01-05")
    c.run_to(datetime(2026, 2, 4, 9, tzinfo=LONDON))
    assert c.deadline("enforcement_notice_compliance").status == "missed"
    assert ("enforcement_notice_not_complied_with", "2026-02-03") in outcomes(c)
    assert "notice_of_intent_given" in c.m.accepted()


def test_the_ico_accepts_only_its_own_steps() -> None:
    c = ico(COMPLAINT)
    assert refused(c, ev("formal_notice_issued", "2021-11-02", period="2 months")) == (
        "formal_notice_issued does not fit the case at stage 'complaint'; accepted now: "
        "investigation_opened, no_breach_found, information_notice_given, "
        "enforcement_notice_given, notice_of_intent_given, case_suspended, case_resumed, "
        "extension_granted, case_closed, event_corrected, event_withdrawn")


def test_a_case_started_under_an_older_uk_ico_file_keeps_the_cnil_stages() -> None:
    # A copy of the schema-2 file, as held in the input of a case started before the
    # families: it ran the CNIL's stages, and a replay of its history must too.
    old = Procedure.model_validate({
        "schema": 2, "family": "uk-ico", "name": "uk-ico", "title": "t", "authority": "ICO",
        "country": "GB", "currency": "GBP", "rules": "uk-tribunal",
        "calendar": {"country": "GB", "subdivision": "ENG", "timezone": "Europe/London"},
        "periods": {"complainant_progress": "3 months", "information_response": "28 days",
                    "formal_notice_compliance": "28 days", "formal_notice_minimum": "21 days",
                    "report_observations": "21 days", "reply_observations": "21 days",
                    "hearing_minimum_notice": "14 days", "appeal": "28 days",
                    "liquidation_observations": "28 days"},
        "caps": {"fine_max": 17_500_000, "fine_turnover_pct": 4,
                 "penalty_per_day_max": 100_000}})
    assert (family_of(old), machine_class(old)) == ("cnil", CnilMachine)
    assert family_of(get_procedure("uk-ico")) == "uk-ico"


def test_a_period_in_hours_is_weighed_against_one_in_days() -> None:
    c = ico(COMPLAINT)
    # 72 hours from noon on 29 Nov end at noon on 2 Dec: far under 21 days
    assert "under 21 days" in refused(c, ev("notice_of_intent_given", "2021-11-29",
                                            period="72 hours"))
    c = ico(COMPLAINT, NOTICE)
    assert "under 28 days" in refused(c, ev("penalty_notice_given", "2022-05-18",
                                            amount=1000, payment_period="72 hours"))


def test_a_penalty_for_an_ignored_enforcement_notice_has_the_higher_maximum() -> None:
    # s. 157(4): failing to comply with an enforcement notice carries the higher maximum,
    # whatever tier the underlying failure was
    c = ico(ev("complaint_received", "2026-01-05", subject="s", complainant_ref="C"),
            ev("enforcement_notice_given", "2026-01-06", period="28 days"),
            opened="2026-01-05")
    c.run_to(datetime(2026, 2, 4, 9, tzinfo=LONDON))  # missed on Tue 3 Feb
    c.record(ev("notice_of_intent_given", "2026-02-10"))
    # representations to Tue 3 Mar 2026; then 8,700,001 "standard tier" is accepted
    assert c.record(ev("penalty_notice_given", "2026-03-04", amount=8_700_001,
                       lower_tier=True))


def test_a_family_file_missing_what_its_family_needs_is_refused(tmp_path: Any) -> None:
    from enforcement.families import all_procedures
    from enforcement.families import get_procedure as family_procedure

    text = (ROOT / "procedures" / "fr-cnil.toml").read_text()
    (tmp_path / "fr-cnil.toml").write_text(text.replace("penalty_per_day_max = 100_000", ""))
    with pytest.raises(ProcedureError, match="caps: the cnil family needs penalty_per_day_max"):
        all_procedures(tmp_path)
    text = (ROOT / "procedures" / "uk-ico.toml").read_text()
    other = tmp_path / "ico"  # a folder of its own: the files of a folder are read once
    other.mkdir()
    (other / "uk-ico.toml").write_text(text.replace("duaa_penalty_limit = 2026-02-05", ""))
    with pytest.raises(ProcedureError, match="cutovers: the uk-ico family needs "
                                             "duaa_penalty_limit"):
        family_procedure("uk-ico", other)


def test_every_stage_a_family_charts_is_one_of_its_stages() -> None:
    from enforcement.families.cnil import CnilMachine
    from enforcement.families.uk_ico import IcoMachine

    for cls in (CnilMachine, IcoMachine):
        assert set(cls.STAGE_AFTER.values()) <= {*cls.STAGES, "closed"}, cls.FAMILY
        assert set(cls.CATEGORIES) >= {"open", "closed"}, cls.FAMILY
