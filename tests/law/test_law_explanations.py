"""What a user reads: every sentence of a deadline's explanation, the citation of each rule set,
extensions, suspensions, penalties and minimum notice, with each date worked out by hand
(domain.md section 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from enforcement.law.calendars import get_calendar
from enforcement.law.periods import PeriodError
from enforcement.law.timelimits import (
    TimeLimitError,
    compute_deadline,
    deadline_from_record,
    earliest_date,
    extend_deadline,
    get_rules,
    parse_moment,
    penalty_accrual,
    suspend_deadline,
    year_problem,
)

FR = get_calendar("FR")
D = date.fromisoformat
T = datetime.fromisoformat

CPC_START = ("Period of {} from {} under the French Code of civil procedure, FR calendar; "
             "the day of the event is not counted (CPC art. 641).")


# --- days, weeks, months, years ------------------------------------------------------------

def test_clearview_formal_notice_is_explained_in_three_sentences() -> None:
    # Fri 26 Nov 2021 + 2 months = Wed 26 Jan 2022, a working day: nothing rolls.
    dl = compute_deadline(D("2021-11-26"), "2 months", FR)
    assert dl.explanation == (
        CPC_START.format("2 months", "2021-11-26"),
        "2 months after 2021-11-26 is 2022-01-26, the day with the same number (CPC art. 641).",
        "It expires at 24:00 on 2022-01-26, Europe/Paris time (2022-01-27T00:00:00+01:00).",
    )
    assert (dl.trigger, dl.period, dl.raw_end, dl.due) == (
        D("2021-11-26"), "2 months", D("2022-01-26"), D("2022-01-26"))
    assert (dl.rules, dl.calendar) == ("fr-cpc", "FR")
    assert dl.to_dict() == {
        "trigger": "2021-11-26",
        "period": "2 months",
        "due": "2022-01-26",
        "expires_at": "2022-01-27T00:00:00+01:00",
        "explanation": list(dl.explanation),
    }


def test_a_roll_names_each_day_passed_over_and_the_rule() -> None:
    # 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption Day: Tue 16 Aug.
    dl = compute_deadline(D("2022-07-14"), "1 month", FR)
    assert dl.explanation[1:] == (
        "1 month after 2022-07-14 is 2022-08-14, the day with the same number (CPC art. 641).",
        "2022-08-14 is a Sunday; 2022-08-15 is a public holiday (Assumption Day): the period "
        "ends on the next working day, Tuesday 2022-08-16 (CPC art. 642).",
        "It expires at 24:00 on 2022-08-16, Europe/Paris time (2022-08-17T00:00:00+02:00).",
    )
    assert (dl.raw_end, dl.due) == (D("2022-08-14"), D("2022-08-16"))


def test_a_missing_day_of_the_month_is_explained() -> None:
    # 31 Jan 2022 + 1 month: no 31 Feb, so the last day of February, Mon 28 Feb.
    dl = compute_deadline(D("2022-01-31"), "1 month", FR)
    assert dl.explanation[1] == (
        "1 month after 2022-01-31 would be day 31 of February 2022, which does not exist: it "
        "ends on the last day of that month, 2022-02-28 (CPC art. 641).")
    assert dl.due == D("2022-02-28")


def test_years_are_named_in_years_and_mixed_years_in_months() -> None:
    # 29 Feb 2024 + 1 year: no 29 Feb 2025, so Fri 28 Feb 2025.
    one = compute_deadline(D("2024-02-29"), "1 year", FR)
    assert one.explanation[1] == (
        "1 year after 2024-02-29 would be day 29 of February 2025, which does not exist: it "
        "ends on the last day of that month, 2025-02-28 (CPC art. 641).")
    # + 2 years: 28 Feb 2026 is a Saturday, rolled to Mon 2 Mar 2026.
    two = compute_deadline(D("2024-02-29"), "2 years", FR)
    assert two.explanation[1].startswith("2 years after 2024-02-29 would be day 29 of "
                                         "February 2026")
    assert two.due == D("2026-03-02")
    # 1 year 2 months = 14 months: 31 Jan 2022 -> Fri 31 Mar 2023.
    mixed = compute_deadline(D("2022-01-31"), "1 year 2 months", FR)
    assert mixed.explanation[0] == CPC_START.format("1 year 2 months", "2022-01-31")
    assert mixed.explanation[1] == ("14 months after 2022-01-31 is 2023-03-31, the day with "
                                    "the same number (CPC art. 641).")


@pytest.mark.parametrize(("start", "period", "sentence", "due"), [
    # Mon 2 May 2022 + 1 day = Tue 3 May.
    ("2022-05-02", "1 day", "1 day after 2022-05-02 is 2022-05-03.", "2022-05-03"),
    # + 15 days = Tue 17 May.
    ("2022-05-02", "15 days", "15 days after 2022-05-02 is 2022-05-17.", "2022-05-17"),
    # Mon 5 Sep 2022 + 1 week = Mon 12 Sep.
    ("2022-09-05", "1 week", "1 week after 2022-09-05 is 2022-09-12.", "2022-09-12"),
    ("2022-09-05", "4 weeks", "4 weeks after 2022-09-05 is 2022-10-03.", "2022-10-03"),
    # 2 weeks 3 days = 17 days: Thu 22 Sep.
    ("2022-09-05", "2 weeks 3 days", "17 days after 2022-09-05 is 2022-09-22.", "2022-09-22"),
])
def test_days_and_weeks_are_counted_and_named(start: str, period: str, sentence: str,
                                              due: str) -> None:
    dl = compute_deadline(D(start), period, FR)
    assert dl.explanation[1] == sentence
    assert dl.due == D(due)
    assert len(dl.explanation) == 3


def test_months_then_days() -> None:
    # 31 Jan 2022 + 1 month -> 28 Feb (clamped), then 15 days -> Tue 15 Mar 2022.
    dl = compute_deadline(D("2022-01-31"), "1 month 15 days", FR)
    assert dl.explanation[2] == "Then 15 days after 2022-02-28 is 2022-03-15."
    assert dl.due == D("2022-03-15")


def test_a_trigger_with_a_time_counts_from_its_day_in_the_calendar_zone() -> None:
    # 23:30 UTC on 25 Nov 2021 is 00:30 on 26 Nov in Paris: the period runs from 26 Nov.
    aware = compute_deadline(T("2021-11-25T23:30:00+00:00"), "2 months", FR)
    assert aware.due == D("2022-01-26")
    assert aware.trigger == T("2021-11-25T23:30:00+00:00")
    assert aware.explanation[0] == ("2021-11-25T23:30:00+00:00 is 2021-11-26T00:30:00+01:00 "
                                    "in Europe/Paris time.")
    assert aware.explanation[1] == CPC_START.format("2 months", "2021-11-26")
    # A naive date-time is a local time already: it runs from 25 Nov, to Tue 25 Jan 2022.
    naive = compute_deadline(T("2021-11-25T23:30"), "2 months", FR)
    assert naive.due == D("2022-01-25")


# --- rule sets -----------------------------------------------------------------------------

def test_reg_1182_71_is_cited_for_each_step() -> None:
    # 2 days from Fri 12 Jul 2024: Sun 14 Jul (national day) -> Mon 15 Jul, one working day
    # only in the period -> Tue 16 Jul.
    dl = compute_deadline(D("2024-07-12"), "2 days", FR, "eu-1182-71")
    assert dl.explanation == (
        "Period of 2 days from 2024-07-12 under the Regulation (EEC, Euratom) No 1182/71, FR "
        "calendar; the day of the event is not counted (Reg. 1182/71 art. 3(1)).",
        "2 days after 2024-07-12 is 2024-07-14.",
        "2024-07-14 is a Sunday and a public holiday (National Day): the period ends on the "
        "next working day, Monday 2024-07-15 (Reg. 1182/71 art. 3(4)).",
        "A period of two days or more must include at least two working days "
        "(Reg. 1182/71 art. 3(5)): it ends on Tuesday 2024-07-16.",
        "It expires at 24:00 on 2024-07-16, Europe/Paris time (2024-07-17T00:00:00+02:00).",
    )
    assert dl.rules == "eu-1182-71"
    months = compute_deadline(D("2021-11-26"), "2 months", FR, "eu-1182-71")
    assert months.explanation[1].endswith("the same number (Reg. 1182/71 art. 3(2)(c)).")


def test_two_working_days_already_in_the_period_add_nothing() -> None:
    # 2 days from Mon 8 Jul 2024: Tue 9 and Wed 10 are both working days -> Wed 10 Jul.
    dl = compute_deadline(D("2024-07-08"), "2 days", FR, "eu-1182-71")
    assert dl.due == D("2024-07-10")
    assert len(dl.explanation) == 3
    # A one-day period is not bound by the rule: Fri 12 Jul 2024 + 1 day = Sat 13 ->
    # Mon 15 Jul (14 Jul is a Sunday and the national day).
    one = compute_deadline(D("2024-07-12"), "1 day", FR, "eu-1182-71")
    assert one.due == D("2024-07-15")
    assert not any("two working days" in s for s in one.explanation)


def test_uk_tribunal_rules_are_cited() -> None:
    # Sat 5 Mar 2022 + 2 months = Thu 5 May 2022 in England.
    eng = get_calendar("GB", "ENG")
    dl = compute_deadline(D("2022-03-05"), "2 months", eng, "uk-tribunal")
    # r. 12 says when the last day ends and what a non-working last day does; the rest is
    # the common law, cited as such.
    assert dl.explanation[0] == (
        "Period of 2 months from 2022-03-05 under the UK tribunal procedure rules, GB (ENG) "
        "calendar; the day of the event is not counted (common-law rule for a period after "
        "an event).")
    assert dl.explanation[1] == (
        "2 months after 2022-03-05 is 2022-05-05, the day with the same number "
        "(corresponding-date rule, Dodds v Walker [1981] UKHL 1).")
    # r. 12(1): by 5 pm on the last day, London summer time (BST, +01:00).
    assert dl.explanation[2] == ("It expires at 17:00 on 2022-05-05, Europe/London time "
                                 "(2022-05-05T17:00:00+01:00) (GRC Rules r. 12(1)).")
    assert dl.expires_at == datetime(2022, 5, 5, 16, 0, tzinfo=UTC)
    # 5 Mar + 3 months = Sun 5 Jun 2022, rolled past the Platinum Jubilee bank holiday
    # (Thu 2, Fri 3 Jun are before it) to Mon 6 Jun.
    rolled = compute_deadline(D("2022-03-05"), "3 months", eng, "uk-tribunal")
    assert rolled.due == D("2022-06-06")
    assert rolled.explanation[2].endswith("Monday 2022-06-06 (GRC Rules r. 12(2)).")


def test_an_unknown_rule_set_lists_the_known_ones() -> None:
    with pytest.raises(TimeLimitError) as err:
        get_rules("fr-ta")
    assert str(err.value) == ("unknown rule set 'fr-ta'; accepted: fr-cpc, fr-cja, "
                              "eu-1182-71, uk-tribunal, uk-dpa, uk-statute-beginning")
    with pytest.raises(TimeLimitError, match="unknown rule set 'nope'"):
        compute_deadline(D("2022-01-03"), "1 month", FR, "nope")


# --- working days --------------------------------------------------------------------------

def test_working_days_name_the_holidays_passed_over() -> None:
    # From Thu 27 Apr 2023: 28 Apr, 2, 3, 4, 5, 9, 10, 11, 12, 15 May (1 and 8 May are
    # holidays) -> the 10th working day is Mon 15 May; it is never rolled.
    dl = compute_deadline(D("2023-04-27"), "10 working days", FR)
    assert dl.explanation[1] == (
        "Counting only working days (Saturdays, Sundays and public holidays are skipped), "
        "working day 10 is Monday 2023-05-15; public holidays skipped: 2023-05-01 (Labor Day), "
        "2023-05-08 (Victory Day).")
    assert dl.raw_end == dl.due == D("2023-05-15")
    assert len(dl.explanation) == 3
    # From Fri 2 Sep 2022: Mon 5, Tue 6, Wed 7 Sep, no holiday on the way.
    plain = compute_deadline(D("2022-09-02"), "3 working days", FR)
    assert plain.explanation[1] == (
        "Counting only working days (Saturdays, Sundays and public holidays are skipped), "
        "working day 3 is Wednesday 2022-09-07.")
    # From Fri 29 Apr 2022: Sun 1 May (Labour Day) is passed over too; Mon 2 ... Fri 6 May.
    sunday = compute_deadline(D("2022-04-29"), "5 working days", FR)
    assert sunday.due == D("2022-05-06")
    assert sunday.explanation[1].endswith("; public holidays skipped: 2022-05-01 (Labor Day).")


# --- hours ---------------------------------------------------------------------------------

def test_hours_from_a_bare_date_say_so() -> None:
    dl = compute_deadline(D("2022-07-15"), "24 hours", FR)
    assert dl.explanation == (
        "A bare date is taken as 12:00 on 2022-07-15, Europe/Paris time.",
        "24 hours from 2022-07-15T12:00:00+02:00 runs to 2022-07-16T12:00:00+02:00 "
        "(Europe/Paris time); a period in hours is counted by the clock and is never extended "
        "for Saturdays, Sundays or public holidays.",
    )
    assert dl.trigger == T("2022-07-15T12:00:00+02:00")
    assert dl.raw_end == dl.due == dl.expires_at == T("2022-07-16T12:00:00+02:00")
    assert (dl.period, dl.rules, dl.calendar) == ("24 hours", "fr-cpc", "FR")
    assert dl.due_date == D("2022-07-16")
    assert dl.to_dict()["due"] == "2022-07-16T12:00:00+02:00"


def test_hours_from_a_naive_time_are_local() -> None:
    dl = compute_deadline(T("2022-07-15T18:00"), "24 hours", FR)
    assert dl.due == T("2022-07-16T18:00:00+02:00")
    assert dl.explanation[0].startswith("24 hours from 2022-07-15T18:00:00+02:00 runs to")


@pytest.mark.parametrize(("event", "start"), [
    ("2022-07-15T18:20:00+02:00", "2022-07-15T19:00:00+02:00"),
    ("2022-07-15T18:00:00+02:00", "2022-07-15T19:00:00+02:00"),
    ("2022-07-15T18:00:30+02:00", "2022-07-15T19:00:00+02:00"),
    ("2022-07-15T18:00:00.500000+02:00", "2022-07-15T19:00:00+02:00"),
])
def test_reg_1182_71_hours_start_at_the_next_hour(event: str, start: str) -> None:
    dl = compute_deadline(T(event), "2 hours", FR, "eu-1182-71")
    assert dl.explanation[0] == (
        f"The hour during which the event occurred ({event}) is not counted: the period "
        f"starts at {start} (Reg. 1182/71 art. 3(1) and 3(2)(a)).")
    assert dl.trigger == T(start)
    assert dl.due == T("2022-07-15T21:00:00+02:00")


# --- extension -----------------------------------------------------------------------------

def test_extension_by_a_period_is_explained_and_keeps_the_rules() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)  # due Wed 26 Jan 2022
    ext = extend_deadline(first, FR, period="1 month")  # Sat 26 Feb -> Mon 28 Feb 2022
    assert ext.explanation[:3] == (
        "Extended by 1 month from the previous due date 2022-01-26.",
        CPC_START.format("1 month", "2022-01-26"),
        "1 month after 2022-01-26 is 2022-02-26, the day with the same number (CPC art. 641).",
    )
    assert ext.due == D("2022-02-28")
    # Under Reg. 1182/71 the extension keeps the deadline's rules unless told otherwise:
    # 2 days from Mon 8 Jul 2024 -> Wed 10 Jul; + 2 days -> Fri 12 Jul.
    eu = compute_deadline(D("2024-07-08"), "2 days", FR, "eu-1182-71")
    more = extend_deadline(eu, FR, period="2 days")
    assert more.due == D("2024-07-12")
    assert more.rules == "eu-1182-71"
    assert more.explanation[1].endswith("(Reg. 1182/71 art. 3(1)).")
    cpc = extend_deadline(eu, FR, period="2 days", rules="fr-cpc")
    assert cpc.explanation[1].endswith("(CPC art. 641).")


def test_extension_in_hours_runs_from_the_previous_expiry() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)  # expires 27 Jan 2022 00:00
    ext = extend_deadline(first, FR, period="48 hours")
    assert ext.due == T("2022-01-29T00:00:00+01:00")
    assert ext.explanation == (
        "Extended by 48 hours from the previous expiry 2022-01-27T00:00:00+01:00.",
        "48 hours from 2022-01-27T00:00:00+01:00 runs to 2022-01-29T00:00:00+01:00 "
        "(Europe/Paris time); a period in hours is counted by the clock and is never extended "
        "for Saturdays, Sundays or public holidays.",
    )
    # A deadline in hours is extended from its own instant: 16 Jul 18:00 + 24 h.
    hours = compute_deadline(T("2022-07-15T18:00:00+02:00"), "24 hours", FR)
    assert extend_deadline(hours, FR, period="24 hours").due == T("2022-07-17T18:00:00+02:00")


def test_extension_until_a_date_is_explained() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)
    ext = extend_deadline(first, FR, until=D("2022-03-05"))  # a Saturday -> Mon 7 Mar
    assert ext.explanation == (
        "Extended until 2022-03-05 (previously due 2022-01-26).",
        "2022-03-05 is a Saturday; 2022-03-06 is a Sunday: the period ends on the next working "
        "day, Monday 2022-03-07 (CPC art. 642).",
        "It expires at 24:00 on 2022-03-07, Europe/Paris time (2022-03-08T00:00:00+01:00).",
    )
    assert (ext.trigger, ext.period, ext.raw_end, ext.due) == (
        D("2022-01-26"), "until 2022-03-05", D("2022-03-05"), D("2022-03-07"))
    assert (ext.rules, ext.calendar) == ("fr-cpc", "FR")
    eu = extend_deadline(first, FR, until=D("2022-03-05"), rules="eu-1182-71")
    assert eu.explanation[1].endswith("(Reg. 1182/71 art. 3(4)).")
    assert eu.rules == "eu-1182-71"


def test_extension_errors_say_what_is_wrong() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)  # due 26 Jan 2022
    both = ("an extension takes either a period or an 'until' date, not both and not neither")
    with pytest.raises(TimeLimitError) as err:
        extend_deadline(first, FR, period="1 month", until=D("2022-03-01"))
    assert str(err.value) == both
    with pytest.raises(TimeLimitError) as err:
        extend_deadline(first, FR)
    assert str(err.value) == both
    with pytest.raises(TimeLimitError) as err:
        extend_deadline(first, FR, until=D("2022-01-26"))
    assert str(err.value) == ("an extension must move the deadline later: 2022-01-26 is not "
                              "after the current due date 2022-01-26")
    # The day after the due date is an extension.
    assert extend_deadline(first, FR, until=D("2022-01-27")).due == D("2022-01-27")


# --- suspension ----------------------------------------------------------------------------

def test_suspension_is_explained_and_replaces_the_expiry() -> None:
    # Due Wed 26 Jan 2022; 10 days of suspension -> Sat 5 Feb -> Mon 7 Feb 2022.
    first = compute_deadline(D("2021-11-26"), "2 months", FR)
    moved = suspend_deadline(first, 10, FR, suspended_on=D("2021-12-01"),
                             resumed_on=D("2021-12-11"))
    assert moved.explanation == (
        *first.explanation[:2],
        "The case was suspended for 10 days (from 2021-12-01 to 2021-12-11): those days are "
        "added to the period, whose last day becomes 2022-02-05.",
        "2022-02-05 is a Saturday; 2022-02-06 is a Sunday: the period ends on the next working "
        "day, Monday 2022-02-07 (CPC art. 642).",
        "It expires at 24:00 on 2022-02-07, Europe/Paris time (2022-02-08T00:00:00+01:00).",
    )
    assert (moved.trigger, moved.period, moved.raw_end, moved.due) == (
        D("2021-11-26"), "2 months", D("2022-02-05"), D("2022-02-07"))
    assert (moved.rules, moved.calendar) == ("fr-cpc", "FR")
    # One day, with only the start known: no span is given. Thu 27 Jan 2022.
    one = suspend_deadline(first, 1, FR, suspended_on=D("2021-12-01"))
    assert one.explanation[2] == ("The case was suspended for 1 day: those days are added to "
                                  "the period, whose last day becomes 2022-01-27.")
    assert one.due == D("2022-01-27")
    eu = suspend_deadline(first, 10, FR, rules="eu-1182-71")
    assert eu.explanation[3].endswith("(Reg. 1182/71 art. 3(4)).")
    assert eu.rules == "eu-1182-71"


def test_suspension_of_zero_days_changes_nothing_and_negative_is_refused() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)
    assert suspend_deadline(first, 0, FR) is first
    with pytest.raises(TimeLimitError) as err:
        suspend_deadline(first, -1, FR)
    assert str(err.value) == "a suspension cannot last -1 days"


def test_suspension_of_a_period_in_hours_moves_its_end() -> None:
    dl = compute_deadline(T("2022-07-15T18:00:00+02:00"), "24 hours", FR)
    moved = suspend_deadline(dl, 2, FR, suspended_on=D("2022-07-15"), resumed_on=D("2022-07-17"))
    assert moved.raw_end == moved.due == moved.expires_at == T("2022-07-18T18:00:00+02:00")
    assert moved.explanation[-1] == (
        "The case was suspended for 2 days (from 2022-07-15 to 2022-07-17): the end moves to "
        "2022-07-18T18:00:00+02:00.")
    assert (moved.trigger, moved.period, moved.rules) == (dl.trigger, "24 hours", "fr-cpc")
    single = suspend_deadline(dl, 1, FR)
    assert single.explanation[-1] == ("The case was suspended for 1 day: the end moves to "
                                      "2022-07-17T18:00:00+02:00.")


# --- penalty -------------------------------------------------------------------------------

def test_penalty_explanations() -> None:
    # Deadline Mon 19 Dec 2022; compliance Thu 22 Dec: 20, 21, 22 Dec.
    acc = penalty_accrual(D("2022-12-19"), 100_000, D("2022-12-22"))
    assert acc.explanation == (
        "3 days of delay from 2022-12-20 to 2022-12-22 inclusive (compliance established) at "
        "EUR 100,000 per day: EUR 300,000.",)
    one = penalty_accrual(D("2022-12-19"), 1_500, D("2022-12-20"), until_reason="liquidation "
                          "cut-off")
    assert (one.days, one.amount_eur) == (1, 1_500)
    assert one.explanation == ("1 day of delay from 2022-12-20 to 2022-12-20 inclusive "
                               "(liquidation cut-off) at EUR 1,500 per day: EUR 1,500.",)
    none = penalty_accrual(D("2022-12-19"), 100_000, D("2022-12-19"))
    assert none.explanation == ("Compliance established on 2022-12-19, not after the "
                                "injunction deadline 2022-12-19: no penalty accrues.",)
    cut = penalty_accrual(D("2022-12-19"), 100_000, D("2022-12-01"),
                          until_reason="liquidation cut-off")
    assert cut.explanation[0].startswith("Liquidation cut-off on 2022-12-01, not after")
    # A zero rate is allowed; a negative one is refused.
    assert penalty_accrual(D("2022-12-19"), 0, D("2022-12-22")).amount_eur == 0
    with pytest.raises(TimeLimitError) as err:
        penalty_accrual(D("2022-12-19"), -1, D("2022-12-22"))
    assert str(err.value) == "a daily penalty cannot be negative (-1)"


# --- dates given as text -------------------------------------------------------------------

def test_parse_moment() -> None:
    assert parse_moment("2022-07-14") == D("2022-07-14")
    assert type(parse_moment(" 2022-07-14 ")) is date
    assert parse_moment("2022-07-15T18:00+02:00") == T("2022-07-15T18:00:00+02:00")
    assert parse_moment("2022-07-15 18:00") == T("2022-07-15T18:00")
    with pytest.raises(TimeLimitError) as err:
        parse_moment("14/07/2022")
    assert str(err.value) == (
        "'14/07/2022' is not a date; accepted: an ISO date such as 2022-07-14 or a date-time "
        "such as 2022-07-15T18:00+02:00")


# --- minimum notice ------------------------------------------------------------------------

def test_minimum_notice_is_never_rolled() -> None:
    # Mon 2 May 2022 + 15 days = Tue 17 May.
    first, why = earliest_date(D("2022-05-02"), "15 days", FR)
    assert first == D("2022-05-17")
    assert why == (
        "Minimum notice of 15 days from 2022-05-02 (FR calendar).",
        "15 days after 2022-05-02 is 2022-05-17.",
        "The earliest permitted date is Tuesday 2022-05-17.",
    )
    # 17 Oct 2022 + 2 months = Sat 17 Dec: a minimum is not lengthened by a roll.
    sat, why = earliest_date(D("2022-10-17"), "2 months", FR, "eu-1182-71")
    assert sat == D("2022-12-17")
    assert why[1] == ("2 months after 2022-10-17 is 2022-12-17, the day with the same number "
                      "(Reg. 1182/71 art. 3(2)(c)).")
    assert why[2] == "The earliest permitted date is Saturday 2022-12-17."
    # Notified at 23:30 UTC on 25 Nov 2021, i.e. 26 Nov in Paris: 2 months -> 26 Jan 2022.
    late, _ = earliest_date(T("2021-11-25T23:30:00+00:00"), "2 months", FR)
    assert late == D("2022-01-26")


def test_minimum_notice_in_working_days_or_hours() -> None:
    # 10 working days from Thu 27 Apr 2023 -> Mon 15 May (see above); no expiry sentence.
    first, why = earliest_date(D("2023-04-27"), "10 working days", FR)
    assert first == D("2023-05-15")
    assert why[0] == CPC_START.format("10 working days", "2023-04-27")
    assert not any(s.startswith("It expires") for s in why)
    # 24 hours from Fri 15 Jul 2022 18:00 -> Sat 16 Jul.
    hours, _ = earliest_date(T("2022-07-15T18:00:00+02:00"), "24 hours", FR)
    assert hours == D("2022-07-16")


def test_a_period_that_is_not_text_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(PeriodError, match=r"a period must be text, not list; accepted: "):
        compute_deadline(D("2022-01-03"), ["2 months"], FR)  # type: ignore[arg-type]


# --- stored records ------------------------------------------------------------------------

def test_a_deadline_rebuilt_from_its_record_is_the_same() -> None:
    dl = compute_deadline(D("2022-07-14"), "1 month", FR)
    rec = dl.to_dict()
    again = deadline_from_record(rec["trigger"], rec["period"], dl.raw_end.isoformat(),
                                 rec["due"], dl.expires_at, rec["explanation"], dl.rules, FR)
    assert again == dl
    hours = compute_deadline(T("2022-07-15T18:00:00+02:00"), "24 hours", FR)
    rec = hours.to_dict()
    again = deadline_from_record(rec["trigger"], rec["period"], hours.raw_end.isoformat(),
                                 rec["due"], hours.expires_at, rec["explanation"], hours.rules,
                                 FR)
    assert again == hours


# --- clock changes and local times ---------------------------------------------------------

def test_hours_across_a_clock_change_say_the_offset_changed() -> None:
    # 72 hours from Fri 25 Oct 2024 12:00 CEST: the clocks go back on Sunday 27 Oct.
    dl = compute_deadline(T("2024-10-25T12:00:00+02:00"), "72 hours", FR)
    assert dl.due == T("2024-10-28T11:00:00+01:00")
    assert dl.explanation[-1] == ("The clocks changed during the period (UTC offset +02:00 "
                                  "before, +01:00 after): the hours are counted as they elapse.")
    # The Azores go from UTC+0 to UTC-1 that night: 24 hours from Sat 26 Oct 12:00.
    azores = get_calendar("PT", "20")
    dl = compute_deadline(T("2024-10-26T12:00:00+00:00"), "24 hours", azores)
    assert dl.due == T("2024-10-27T11:00:00-01:00")
    assert dl.explanation[-1] == ("The clocks changed during the period (UTC offset +00:00 "
                                  "before, -01:00 after): the hours are counted as they elapse.")
    # No change, no sentence.
    assert not any("clocks changed" in s
                   for s in compute_deadline(T("2024-10-20T12:00:00+02:00"), "24 hours",
                                             FR).explanation)


def test_a_local_time_the_clocks_skip_or_repeat_is_refused() -> None:
    with pytest.raises(TimeLimitError) as err:
        compute_deadline(T("2024-03-31T02:30"), "24 hours", FR)
    assert str(err.value) == (
        "2024-03-31T02:30 does not exist in Europe/Paris: the clocks go forward that night; "
        "write the time with its offset, e.g. 2024-03-31T03:30+02:00")
    with pytest.raises(TimeLimitError) as err:
        compute_deadline(T("2024-10-27T02:30"), "24 hours", FR)
    assert str(err.value) == (
        "2024-10-27T02:30 happens twice in Europe/Paris: the clocks go back that night; write "
        "the time with its offset: 2024-10-27T02:30+02:00 (the first) or "
        "2024-10-27T02:30+01:00 (the second)")
    # Either one, given with its offset, is accepted.
    assert compute_deadline(T("2024-10-27T02:30+01:00"), "1 hour", FR).due == T(
        "2024-10-27T03:30:00+01:00")


@pytest.fixture
def server_in_india(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's own time zone set to UTC+05:30, a zone with half hours."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("server_in_india")
def test_the_next_hour_does_not_depend_on_the_machines_time_zone() -> None:
    # Event 18:20 in Paris (21:50 in India): the next full hour is 19:00 in Paris.
    dl = compute_deadline(T("2022-07-15T18:20:00+02:00"), "24 hours", FR, "eu-1182-71")
    assert dl.due == T("2022-07-16T19:00:00+02:00")


# --- what the first tests left out ---------------------------------------------------------

def test_plural_words() -> None:
    # Mon 5 Sep 2022 + 2 weeks = Mon 19 Sep.
    assert compute_deadline(D("2022-09-05"), "2 weeks", FR).explanation[1] == (
        "2 weeks after 2022-09-05 is 2022-09-19.")
    # Due Wed 26 Jan 2022; suspended 2 days -> Fri 28 Jan.
    first = compute_deadline(D("2021-11-26"), "2 months", FR)
    assert suspend_deadline(first, 2, FR).explanation[2] == (
        "The case was suspended for 2 days: those days are added to the period, whose last day "
        "becomes 2022-01-28.")
    two = penalty_accrual(D("2022-12-19"), 10, D("2022-12-21"))
    assert two.explanation[0].startswith("2 days of delay from 2022-12-20 to 2022-12-21 ")


def test_an_extension_keeps_the_expiry_calendar_and_rules() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)
    until = extend_deadline(first, FR, until=D("2022-03-05"))  # rolled to Mon 7 Mar
    assert until.expires_at == T("2022-03-08T00:00:00+01:00")
    eu = compute_deadline(D("2024-07-08"), "2 days", FR, "eu-1182-71")  # due Wed 10 Jul
    assert extend_deadline(eu, FR, period="48 hours").rules == "eu-1182-71"
    hours = compute_deadline(T("2022-07-15T18:00:00+02:00"), "24 hours", FR)
    assert suspend_deadline(hours, 1, FR).calendar == "FR"


def test_suspension_and_the_two_working_days_rule() -> None:
    # The CPC has no such rule: 1 day from Fri 12 Jul 2024 -> Sat 13 -> Mon 15 Jul (14 Jul is
    # a Sunday and the national day); suspended 1 day -> Sun 14 -> still Mon 15 Jul.
    cpc = compute_deadline(D("2024-07-12"), "1 day", FR)
    assert suspend_deadline(cpc, 1, FR).due == D("2024-07-15")
    # Reg. 1182/71: the same 1-day period is not bound by art. 3(5) (Mon 15 Jul), but once
    # suspended for a day its last day is two days after the event (Sun 14 Jul), and a period
    # of two days must include two working days: Mon 15 and Tue 16 Jul.
    eu = compute_deadline(D("2024-07-12"), "1 day", FR, "eu-1182-71")
    assert eu.due == D("2024-07-15")
    moved = suspend_deadline(eu, 1, FR)
    assert moved.due == D("2024-07-16")
    assert "at least two working days" in moved.explanation[-2]
    # The same from an event given with its time (10:00 in Paris).
    timed = compute_deadline(T("2024-07-12T10:00:00+02:00"), "1 day", FR, "eu-1182-71")
    assert suspend_deadline(timed, 1, FR).due == D("2024-07-16")


def test_minimum_notice_in_working_days_keeps_its_rules_and_steps() -> None:
    # 10 working days from Thu 27 Apr 2023 under Reg. 1182/71 -> Mon 15 May.
    first, why = earliest_date(D("2023-04-27"), "10 working days", FR, "eu-1182-71")
    assert first == D("2023-05-15")
    assert why == (
        "Period of 10 working days from 2023-04-27 under the Regulation (EEC, Euratom) No "
        "1182/71, FR calendar; the day of the event is not counted (Reg. 1182/71 art. 3(1)).",
        "Counting only working days (Saturdays, Sundays and public holidays are skipped), "
        "working day 10 is Monday 2023-05-15; public holidays skipped: 2023-05-01 (Labor Day), "
        "2023-05-08 (Victory Day).",
    )


@pytest.mark.parametrize(("day", "problem"), [
    ("1950-01-01", None),
    ("2150-12-31", None),
    ("1949-12-31", "1949-12-31 is outside the years 1950-2150 the engine accepts"),
    ("2151-01-01", "2151-01-01 is outside the years 1950-2150 the engine accepts"),
])
def test_the_years_the_engine_accepts(day: str, problem: str | None) -> None:
    assert year_problem(D(day)) == problem
