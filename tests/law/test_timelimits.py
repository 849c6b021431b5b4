"""Worked cases, each computed by hand from the rules of domain.md section 3."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from enforcement.law.calendars import CalendarError, get_calendar
from enforcement.law.periods import Period, PeriodError, parse_period
from enforcement.law.timelimits import (
    TimeLimitError,
    compute_deadline,
    extend_deadline,
    penalty_accrual,
    suspend_deadline,
)

FR = get_calendar("FR")
MOSELLE = get_calendar("FR", "57")
D = date.fromisoformat


def due(trigger: str, period: str, cal=FR, rules: str = "fr-cpc") -> str:
    return compute_deadline(D(trigger), period, cal, rules).due.isoformat()


# --- periods ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2 months", Period(months=2)),
    ("1 month", Period(months=1)),
    ("15 days", Period(days=15)),
    ("10 working days", Period(working_days=10)),
    ("72 hours", Period(hours=72)),
    ("4 weeks", Period(weeks=4)),
    ("1 year", Period(years=1)),
    ("1 month 15 days", Period(months=1, days=15)),
    ("15 days and 1 month", Period(months=1, days=15)),
    ("P1M15D", Period(months=1, days=15)),
    ("PT72H", Period(hours=72)),
])
def test_period_forms(text: str, expected: Period) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize("bad", ["", "2 monts", "two months", "0 days", "72 hours 1 day",
                                 "5 working days 1 month", "1 month 1 month", "months"])
def test_bad_period_names_the_accepted_forms(bad: str) -> None:
    with pytest.raises(PeriodError, match="accepted"):
        parse_period(bad)


# --- months and days ---------------------------------------------------------------------

def test_clearview_formal_notice_two_months() -> None:
    # 26 Nov 2021 + 2 months = Wed 26 Jan 2022, a working day.
    dl = compute_deadline(D("2021-11-26"), "2 months", FR)
    assert dl.due == D("2022-01-26")
    assert dl.expires_at.isoformat() == "2022-01-27T00:00:00+01:00"
    assert "day of the event is not counted" in dl.explanation[0]


def test_day_of_event_not_counted() -> None:
    # 15 days from Mon 2 May 2022: day 1 is 3 May, day 15 is Tue 17 May.
    assert due("2022-05-02", "15 days") == "2022-05-17"


def test_month_end_clamping() -> None:
    # 31 Jan + 1 month: no 31 Feb, last day of February (Mon 28 Feb 2022).
    assert due("2022-01-31", "1 month") == "2022-02-28"
    # 31 Mar + 1 month = 30 Apr 2021, a Friday.
    assert due("2021-03-31", "1 month") == "2021-04-30"


def test_leap_years() -> None:
    # 31 Jan 2024 + 1 month = Thu 29 Feb 2024 (leap year).
    assert due("2024-01-31", "1 month") == "2024-02-29"
    # 29 Feb 2024 + 1 year = 28 Feb 2025 (no 29 Feb), a Friday.
    dl = compute_deadline(D("2024-02-29"), "1 year", FR)
    assert dl.due == D("2025-02-28")
    assert any("does not exist" in s for s in dl.explanation)


def test_months_before_days() -> None:
    # 31 Jan 2022 + 1 month -> 28 Feb, + 15 days -> Tue 15 Mar (not 31 Jan + 15 d + 1 m).
    assert due("2022-01-31", "1 month 15 days") == "2022-03-15"


def test_assumption_day_after_sunday() -> None:
    # 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug is Assumption: Tue 16 Aug.
    dl = compute_deadline(D("2022-07-14"), "1 month", FR)
    assert dl.due == D("2022-08-16")
    text = " ".join(dl.explanation)
    assert "2022-08-14 is a Sunday" in text
    assert "2022-08-15 is a public holiday (Assumption Day)" in text
    assert dl.expires_at.isoformat() == "2022-08-17T00:00:00+02:00"


def test_fourteenth_of_july() -> None:
    # 14 Jun 2023 + 1 month = Fri 14 Jul 2023 (national day): Mon 17 Jul.
    assert due("2023-06-14", "1 month") == "2023-07-17"


def test_easter_monday() -> None:
    # 10 Mar 2023 + 1 month = Mon 10 Apr 2023, Easter Monday: Tue 11 Apr.
    assert due("2023-03-10", "1 month") == "2023-04-11"


def test_ascension_and_whit_monday() -> None:
    # 18 Apr 2023 + 1 month = Thu 18 May 2023, Ascension: Fri 19 May.
    assert due("2023-04-18", "1 month") == "2023-05-19"
    # 29 Apr 2023 + 1 month = Mon 29 May 2023, Whit Monday: Tue 30 May.
    assert due("2023-04-29", "1 month") == "2023-05-30"


def test_christmas_national_and_alsace_moselle() -> None:
    # 25 Nov 2024 + 1 month = Wed 25 Dec 2024. Nationally: Thu 26 Dec is a working day.
    assert due("2024-11-25", "1 month") == "2024-12-26"
    # In Moselle 26 Dec (St Stephen) is a holiday too: Fri 27 Dec.
    dl = compute_deadline(D("2024-11-25"), "1 month", MOSELLE)
    assert dl.due == D("2024-12-27")
    assert "2024-12-26 is a public holiday" in " ".join(dl.explanation)


def test_good_friday_only_in_alsace_moselle() -> None:
    # 7 Mar 2024 + 1 month = ... use 29 Feb 2024 + 1 month = Fri 29 Mar 2024, Good Friday.
    assert due("2024-02-29", "1 month") == "2024-03-29"
    # Moselle: Good Friday, weekend, Easter Monday 1 Apr -> Tue 2 Apr.
    assert due("2024-02-29", "1 month", MOSELLE) == "2024-04-02"
    assert due("2024-02-29", "1 month", get_calendar("FR", "Alsace")) == "2024-04-02"


def test_saturday_rolls_to_monday() -> None:
    # Clearview decision 17 Oct 2022 + 2 months = Sat 17 Dec: Mon 19 Dec.
    assert due("2022-10-17", "2 months") == "2022-12-19"


def test_weeks_keep_the_weekday() -> None:
    # Mon 5 Sep 2022 + 4 weeks = Mon 3 Oct 2022.
    assert due("2022-09-05", "4 weeks") == "2022-10-03"


# --- hours -------------------------------------------------------------------------------

def test_hours_over_a_weekend_never_roll() -> None:
    start = datetime.fromisoformat("2022-07-15T18:00:00+02:00")  # a Friday evening
    dl = compute_deadline(start, "24 hours", FR)
    assert dl.due == datetime.fromisoformat("2022-07-16T18:00:00+02:00")  # Saturday
    assert dl.expires_at == dl.due
    assert "never extended" in " ".join(dl.explanation)


def test_hours_across_daylight_saving_change() -> None:
    # 72 hours from Fri 25 Oct 2024 12:00 CEST: clocks go back on Sunday, so 11:00 CET.
    start = datetime.fromisoformat("2024-10-25T12:00:00+02:00")
    dl = compute_deadline(start, "72 hours", FR)
    assert dl.due.isoformat() == "2024-10-28T11:00:00+01:00"


def test_hours_from_a_bare_date_start_at_noon() -> None:
    dl = compute_deadline(D("2022-07-15"), "24 hours", FR)
    assert dl.due.isoformat() == "2022-07-16T12:00:00+02:00"


# --- working days ------------------------------------------------------------------------

def test_working_days_across_first_and_eighth_of_may() -> None:
    # From Thu 27 Apr 2023; 1 May and 8 May 2023 are Mondays and holidays.
    # Working days: 28 Apr, 2, 3, 4, 5, 9, 10, 11, 12, 15 May -> the 10th is Mon 15 May.
    dl = compute_deadline(D("2023-04-27"), "10 working days", FR)
    assert dl.due == D("2023-05-15")
    text = " ".join(dl.explanation)
    assert "2023-05-01 (Labor Day)" in text and "2023-05-08 (Victory Day)" in text


# --- Reg. 1182/71 --------------------------------------------------------------------------

def test_two_working_days_rule_of_reg_1182_71() -> None:
    cal = get_calendar("FR")
    # 2 days from Fri 12 Jul 2024: raw end Sun 14 Jul (national day) -> Mon 15 Jul, which
    # is one working day only in the period (13, 14, 15): it must include two -> Tue 16 Jul.
    eu = compute_deadline(D("2024-07-12"), "2 days", cal, "eu-1182-71")
    assert eu.due == D("2024-07-16")
    assert "at least two working days" in " ".join(eu.explanation)
    # The CPC has no such rule: Mon 15 Jul.
    assert due("2024-07-12", "2 days") == "2024-07-15"


# --- extension, suspension, penalty ------------------------------------------------------

def test_extension_by_a_period_runs_from_the_previous_due_date() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)  # 26 Jan 2022
    ext = extend_deadline(first, FR, period="1 month")  # 26 Feb 2022 is a Saturday
    assert ext.due == D("2022-02-28")
    assert ext.explanation[0].startswith("Extended by 1 month from the previous due date")


def test_extension_until_a_date_and_earlier_rejected() -> None:
    first = compute_deadline(D("2021-11-26"), "2 months", FR)
    ext = extend_deadline(first, FR, until=D("2022-03-05"))  # Saturday -> Monday 7 Mar
    assert ext.due == D("2022-03-07")
    with pytest.raises(TimeLimitError, match="later"):
        extend_deadline(first, FR, until=D("2022-01-20"))


def test_suspension_adds_days_to_the_raw_end_then_rolls() -> None:
    # Raw end Sat 17 Dec 2022 (due Mon 19 Dec); 10 days of suspension -> Tue 27 Dec 2022.
    first = compute_deadline(D("2022-10-17"), "2 months", FR)
    moved = suspend_deadline(first, 10, FR, suspended_on=D("2022-11-01"),
                             resumed_on=D("2022-11-11"))
    assert moved.raw_end == D("2022-12-27")
    assert moved.due == D("2022-12-27")
    assert "suspended for 10 days" in " ".join(moved.explanation)
    # 8 days -> Sun 25 Dec (Christmas) -> Mon 26 Dec.
    assert suspend_deadline(first, 8, FR).due == D("2022-12-26")


def test_penalty_counts_each_day_after_the_deadline_inclusive() -> None:
    # Deadline Mon 19 Dec 2022; compliance established Thu 22 Dec: 20, 21, 22 -> 3 days.
    acc = penalty_accrual(D("2022-12-19"), 100_000, D("2022-12-22"))
    assert (acc.days, acc.amount_eur) == (3, 300_000)
    assert penalty_accrual(D("2022-12-19"), 100_000, D("2022-12-19")).days == 0
    assert penalty_accrual(D("2022-12-19"), 100_000, D("2022-12-01")).amount_eur == 0


# --- calendars ----------------------------------------------------------------------------

def test_unknown_country_and_subdivision_list_what_exists() -> None:
    with pytest.raises(CalendarError, match="supported: AT, BE"):
        get_calendar("XX")
    with pytest.raises(CalendarError, match="57"):
        get_calendar("FR", "99")


@pytest.mark.parametrize(("country", "d", "name"), [
    ("DE", "2024-10-03", "German Unity Day"),
    ("IE", "2023-03-17", "Saint Patrick's Day"),
    ("GB", "2024-08-26", "Late Summer Bank Holiday"),
    ("NL", "2024-04-27", "King's Day"),
])
def test_other_countries_have_their_holidays(country: str, d: str, name: str) -> None:
    cal = get_calendar(country, "ENG" if country == "GB" else None)
    assert not cal.is_working_day(D(d))
    assert name in (cal.holiday(D(d)) or "")


def test_overseas_department_has_its_own_zone_and_days() -> None:
    reunion = get_calendar("FR", "974")
    assert reunion.timezone == "Indian/Reunion"
    assert reunion.holiday(D("2024-12-20"))  # abolition of slavery in La Réunion
    dl = compute_deadline(D("2024-11-20"), "1 month", reunion)
    assert dl.due == D("2024-12-23")  # 20 Dec holiday, then the weekend
    assert dl.expires_at.utcoffset() == timedelta(hours=4)


def test_suspension_keeps_the_two_working_days_rule() -> None:
    # Reg. 1182/71: 2 days from Fri 12 Jul 2024 -> Tue 16 Jul (see above). One day of
    # suspension: raw end Mon 15 Jul, one working day only in the period -> still Tue 16 Jul.
    eu = compute_deadline(D("2024-07-12"), "2 days", FR, "eu-1182-71")
    moved = suspend_deadline(eu, 1, FR)
    assert moved.due == D("2024-07-16")
    assert moved.due >= eu.due


def test_hours_under_reg_1182_71_start_at_the_next_hour() -> None:
    # Art. 3(1): the hour during which the event occurs is not counted; 3(2)(a): the period
    # starts at the beginning of the next hour. Event 18:20 -> counting from 19:00.
    start = datetime.fromisoformat("2022-07-15T18:20:00+02:00")
    dl = compute_deadline(start, "24 hours", FR, "eu-1182-71")
    assert dl.due.isoformat() == "2022-07-16T19:00:00+02:00"
    assert "not counted" in dl.explanation[0]
    # The CPC has no such rule: counted from the event's clock time.
    assert compute_deadline(start, "24 hours", FR).due.isoformat() == "2022-07-16T18:20:00+02:00"
