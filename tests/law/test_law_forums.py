"""Each forum counts its own way (domain.md section 3, item 11): worked cases by hand for the
French administrative courts' délai franc, the UK tribunals' 5 pm and bank holidays, and the
UK statutes that count a period "beginning with" its event. Pure: no server."""

from __future__ import annotations

from datetime import UTC, date, datetime

from enforcement.families import get_procedure
from enforcement.law.calendars import get_calendar
from enforcement.law.timelimits import compute_deadline, extend_deadline

D = date.fromisoformat
FR = get_calendar("FR")
ENG = get_calendar("GB", "ENG")
SCT = get_calendar("GB", "SCT")


def test_a_delai_franc_adds_the_last_day_then_rolls() -> None:
    # domain.md's example: notified Tue 13 Jan 2026, 2 months: the same-numbered day is
    # Fri 13 Mar; the period being franc, its last day is Sat 14 Mar, rolled to Mon 16 Mar.
    dl = compute_deadline(D("2026-01-13"), "2 months", FR, "fr-cja")
    assert (dl.raw_end, dl.due) == (D("2026-03-14"), D("2026-03-16"))
    assert list(dl.explanation) == [
        "Period of 2 months from 2026-01-13 under the French Code of administrative justice "
        "(délai franc), FR calendar; the day of the event is not counted (CJA R421-1).",
        "2 months after 2026-01-13 is 2026-03-13, the day with the same number "
        "(CJA R421-1).",
        "The period is a délai franc: neither the day of notification nor the day on which "
        "it would end is counted, so its last day is Saturday 2026-03-14 (CJA R421-1; CE, "
        "sect., 4 June 1954, Cne de Décines-Charpieu).",
        "2026-03-14 is a Saturday; 2026-03-15 is a Sunday: the period ends on the next "
        "working day, Monday 2026-03-16 (CPC art. 642, applied by the administrative "
        "courts).",
        "It expires at 24:00 on 2026-03-16, Europe/Paris time (2026-03-17T00:00:00+01:00).",
    ]


def test_clearview_appeal_to_the_conseil_d_etat_is_due_on_monday_20_february() -> None:
    # Notified Mon 17 Oct 2022, 2 + 2 months for a party abroad: Fri 17 Feb 2023 is the
    # same-numbered day; franc: Sat 18 Feb; rolled: Mon 20 Feb 2023 (not 17 Feb).
    dl = compute_deadline(D("2022-10-17"), "4 months", FR, "fr-cja")
    assert dl.due == D("2023-02-20")
    # The civil-procedure count would have said Fri 17 Feb.
    assert compute_deadline(D("2022-10-17"), "4 months", FR, "fr-cpc").due == D("2023-02-17")


def test_the_cnil_appeal_follows_the_cja_while_its_other_periods_follow_the_cpc() -> None:
    proc = get_procedure("fr-cnil")
    assert proc.rules == "fr-cpc"
    assert proc.rules_for("appeal").name == "fr-cja"
    assert proc.rules_for("report_observations").name == "fr-cpc"
    assert proc.period_info["report_observations"].confirmed is False
    assert proc.period_info["appeal"].source == "CJA R421-1"


def test_a_uk_tribunal_period_ends_at_5_pm_on_its_last_day() -> None:
    # 28 days from Mon 3 Mar 2025 is Mon 31 Mar; the clocks went forward on 30 Mar, so 5 pm
    # is BST (+01:00), 16:00 UTC.
    dl = compute_deadline(D("2025-03-03"), "28 days", ENG, "uk-tribunal")
    assert dl.due == D("2025-03-31")
    assert dl.expires_at == datetime(2025, 3, 31, 16, 0, tzinfo=UTC)
    assert dl.explanation[-1] == ("It expires at 17:00 on 2025-03-31, Europe/London time "
                                  "(2025-03-31T17:00:00+01:00) (GRC Rules r. 12(1)).")


def test_a_uk_tribunal_period_rolls_off_the_bank_holidays_of_its_own_nation() -> None:
    # 28 days from Fri 5 Dec 2025 is Fri 2 Jan 2026: a bank holiday in Scotland (rolled to
    # Mon 5 Jan, 5 pm GMT) but a working day in England.
    sct = compute_deadline(D("2025-12-05"), "28 days", SCT, "uk-tribunal")
    eng = compute_deadline(D("2025-12-05"), "28 days", ENG, "uk-tribunal")
    assert sct.due == D("2026-01-05")
    assert sct.expires_at == datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    assert eng.due == D("2026-01-02")
    assert any(s.endswith("Monday 2026-01-05 (GRC Rules r. 12(2)).") for s in sct.explanation)
    # Spring bank holiday, Mon 26 May 2025: 28 days from Mon 28 Apr 2025 ends Tue 27 May.
    may = compute_deadline(D("2025-04-28"), "28 days", ENG, "uk-tribunal")
    assert may.due == D("2025-05-27")


def test_a_statutory_period_beginning_with_its_event_counts_that_day() -> None:
    # DPA 2018 Sch. 16 para 2(2): 6 months beginning when the notice of intent is given on
    # Mon 3 Mar 2025 end on Tue 2 Sep 2025 (3 Mar is day one).
    dl = compute_deadline(D("2025-03-03"), "6 months", ENG, "uk-statute-beginning")
    assert dl.due == D("2025-09-02")
    assert dl.explanation[0] == (
        "Period of 6 months beginning with 2025-03-03 under the UK statute, period beginning "
        "with the event, GB (ENG) calendar; the day of the event is the first day of the "
        "period (the statute counts the period as beginning with that day; Zoan v Rouamba "
        "[2000] EWCA Civ 8), so it runs as a period after 2025-03-02.")
    assert dl.explanation[-1] == ("It expires at 24:00 on 2025-09-02, Europe/London time "
                                  "(2025-09-03T00:00:00+01:00).")


def test_a_statutory_period_beginning_with_its_event_does_not_roll() -> None:
    # Para 3(4): 21 days beginning with Mon 3 Mar 2025: day 21 is Sun 23 Mar 2025, and it
    # stays there.
    dl = compute_deadline(D("2025-03-03"), "21 days", ENG, "uk-statute-beginning")
    assert (dl.raw_end, dl.due) == (D("2025-03-23"), D("2025-03-23"))
    assert dl.explanation[2] == (
        "2025-03-23 is a Sunday; the period is not extended for it: nothing in the uk "
        "statute, period beginning with the event moves its last day.")


def test_the_ico_counts_the_acts_periods_by_s205_and_the_appeal_by_the_tribunal() -> None:
    proc = get_procedure("uk-ico")
    for period in ("representations_minimum", "payment_minimum", "penalty_notice_limit",
                   "complainant_progress", "urgent_notice_minimum"):
        assert proc.rules_for(period).name == "uk-dpa", period
    assert proc.rules_for("appeal").name == "uk-tribunal"


def test_an_extension_of_a_franc_period_runs_after_the_previous_due_date() -> None:
    # The appeal due Mon 16 Mar 2026 (see above), extended by 15 days: Tue 31 Mar 2026,
    # a working day; no second franc day.
    dl = compute_deadline(D("2026-01-13"), "2 months", FR, "fr-cja")
    ext = extend_deadline(dl, FR, period="15 days")
    assert ext.due == D("2026-03-31")
    assert ext.explanation[1] == (
        "Period of 15 days from 2026-03-16 under the French Code of administrative justice "
        "(délai franc), FR calendar; the day of the event is not counted (the previous due "
        "date is not counted again).")


def test_a_period_labelled_office_practice_says_so_in_its_explanation() -> None:
    # A procedure whose information-request default is labelled office practice: the
    # deadline opened from it says so before the counting.
    from enforcement.case.models import EVENT_ADAPTER, CaseInput, Controller
    from enforcement.case.procedure import PeriodInfo
    from enforcement.families import open_machine

    base = get_procedure("fr-cnil")
    proc = base.model_copy(update={"period_info": {
        **base.period_info,
        "information_response": PeriodInfo(practice=True, source="CNIL internal guide")}})
    at = datetime(2026, 1, 5, 18, tzinfo=UTC)
    m = open_machine(CaseInput(case_id="P-1", controller=Controller(name="A", country="FR")),
                     proc, at)
    for e in ({"type": "complaint_received", "date": "2026-01-05", "subject": "s",
               "complainant_ref": "c"},
              {"type": "information_requested", "date": "2026-01-05"}):
        m.apply(EVENT_ADAPTER.validate_python(e), at)
    rec = next(d for d in m.s.deadlines if d.name == "information_response")
    assert rec.explanation[0] == ("The information response of 1 month is fr-cnil's office "
                                  "practice, not a rule of law (CNIL internal guide).")
    # 1 month from Mon 5 Jan 2026: Thu 5 Feb 2026.
    assert rec.due == "2026-02-05"
