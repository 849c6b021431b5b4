"""Working-day calendars as a user meets them: country and subdivision names, time zones, why a
day is not a working day, the next working day, the instant a day ends. Each calendar here is
built afresh, so the first answer for a year is checked as well as the remembered ones.
Holidays are checked against the `holidays` package and the weekday against `datetime`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from enforcement.law.calendars import Calendar, CalendarError, day_name, supported_countries

D = date.fromisoformat
COUNTRIES = ("AT, BE, BG, CY, CZ, DE, DK, EE, ES, FI, FR, GB, GR, HR, HU, IE, IS, IT, LI, LT, "
             "LU, LV, MT, NL, NO, PL, PT, RO, SE, SI, SK")


# --- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("country", "code", "zone"), [
    ("FR", "FR", "Europe/Paris"),
    ("fr", "FR", "Europe/Paris"),
    ("UK", "GB", "Europe/London"),
    ("uk", "GB", "Europe/London"),
    ("EL", "GR", "Europe/Athens"),
    ("ie", "IE", "Europe/Dublin"),
])
def test_country_codes_and_aliases(country: str, code: str, zone: str) -> None:
    cal = Calendar(country)
    assert (cal.country, cal.key, cal.label, cal.timezone) == (code, code, code, zone)
    assert cal.subdivision is None
    assert cal.tz == ZoneInfo(zone)
    assert repr(cal) == f"Calendar({code!r}, {zone!r})"


def test_unknown_country_lists_the_supported_ones() -> None:
    with pytest.raises(CalendarError) as err:
        Calendar("xx")
    assert str(err.value) == f"unknown country 'xx'; supported: {COUNTRIES}"


@pytest.mark.parametrize(("given", "sub", "zone"), [
    ("57", "57", "Europe/Paris"),
    ("moselle", "57", "Europe/Paris"),  # the package's alias, in any case
    ("Alsace", "6AE", "Europe/Paris"),
    ("971", "971", "America/Guadeloupe"),
    ("gp", "971", "America/Guadeloupe"),  # an alias still finds the overseas time zone
    ("974", "974", "Indian/Reunion"),
    ("zone a", "Zone A", "Europe/Paris"),
])
def test_french_subdivisions(given: str, sub: str, zone: str) -> None:
    cal = Calendar("FR", given)
    assert (cal.subdivision, cal.key, cal.label, cal.timezone) == (
        sub, f"FR-{sub}", f"FR ({sub})", zone)
    assert repr(cal) == f"Calendar('FR-{sub}', {zone!r})"


def test_unknown_subdivision_lists_the_known_ones() -> None:
    known = ", ".join(holidays.country_holidays("FR").__class__.subdivisions)
    with pytest.raises(CalendarError) as err:
        Calendar("fr", "99")
    assert str(err.value) == (f"unknown subdivision '99' of FR; supported: {known}; "
                              f"67 for 6AE; 68 for 6AE")
    with pytest.raises(CalendarError) as err:
        Calendar("IE", "D")
    assert str(err.value) == "unknown subdivision 'D' of IE; supported: none"


def test_time_zone_can_be_given_and_must_exist() -> None:
    cal = Calendar("FR", timezone="America/Cayenne")
    assert (cal.timezone, cal.key) == ("America/Cayenne", "FR")
    # 24:00 on 1 Jul 2024 in Cayenne (UTC-3).
    assert cal.day_end(D("2024-07-01"))[1] == "2024-07-02T00:00:00-03:00"
    with pytest.raises(CalendarError) as err:
        Calendar("FR", timezone="Mars/Olympus_Mons")
    assert str(err.value) == ("unknown time zone 'Mars/Olympus_Mons'; use an IANA name such as "
                              "'Europe/Paris'")


# --- working days --------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "why"), [
    ("2022-07-14", "a public holiday (National Day)"),  # a Thursday
    ("2022-01-01", "a Saturday and a public holiday (New Year's Day)"),
    ("2022-05-01", "a Sunday and a public holiday (Labor Day)"),
    ("2022-09-03", "a Saturday"),
    ("2022-09-04", "a Sunday"),
    ("2022-09-05", None),  # a Monday
])
def test_why_a_day_is_not_a_working_day(day: str, why: str | None) -> None:
    d = D(day)
    # Asked first, then asked again (remembered), on a fresh calendar.
    cal = Calendar("FR")
    assert cal.why_not_working(d) == why
    assert cal.why_not_working(d) == why
    assert cal.is_working_day(d) is (why is None)
    # Asked first whether it is a working day.
    cal = Calendar("FR")
    assert cal.is_working_day(d) is (why is None)
    assert cal.is_working_day(d) is (why is None)


def test_first_answer_for_a_year_on_a_saturday_and_a_holiday() -> None:
    # Sat 12 Jul 2031, Sun 13 Jul, Mon 14 Jul 2031 (national day), Tue 15 Jul.
    for day, working in (("2031-07-12", False), ("2031-07-13", False), ("2031-07-14", False),
                         ("2031-07-15", True)):
        assert Calendar("FR").is_working_day(D(day)) is working, day


def test_new_years_day_right_after_a_year_end() -> None:
    # Wed 31 Dec 2031 is a working day; Thu 1 Jan 2032 is New Year's Day, asked straight after.
    cal = Calendar("FR")
    assert cal.is_working_day(D("2031-12-31"))
    assert not cal.is_working_day(D("2032-01-01"))
    assert cal.why_not_working(D("2032-01-01")) == "a public holiday (New Year's Day)"


def test_holiday_names_are_the_package_names_in_english() -> None:
    cal = Calendar("DE")
    assert cal.holiday(D("2024-10-03")) == "German Unity Day"
    assert cal.holiday(D("2024-10-04")) is None
    assert Calendar("FR").holiday(D("2022-08-15")) == "Assumption Day"


def test_a_sunday_is_a_sunday_not_a_holiday() -> None:
    # Releases of the `holidays` package have listed every Swedish Sunday as a holiday named
    # "Sunday"; the calendar leaves those out: a Sunday is a Sunday (Sun 8 Sep 2024).
    cal = Calendar("SE")
    assert cal.why_not_working(D("2024-09-08")) == "a Sunday"
    assert cal.holiday(D("2024-09-08")) is None
    # Midsummer Day, Sat 22 Jun 2024, is one.
    assert cal.why_not_working(D("2024-06-22")) == "a Saturday and a public holiday (Midsummer Day)"


def test_next_working_day() -> None:
    cal = Calendar("FR")
    # Fri 12 Aug 2022 -> Sat 13, Sun 14, Mon 15 (Assumption) -> Tue 16 Aug.
    assert cal.next_working_day(D("2022-08-12")) == D("2022-08-16")
    # Always strictly after: Mon 8 Aug -> Tue 9 Aug.
    assert cal.next_working_day(D("2022-08-08")) == D("2022-08-09")


def test_working_days_after() -> None:
    cal = Calendar("FR")
    # From Thu 27 Apr 2023: 28 Apr, 2, 3, 4, 5, 9, 10, 11, 12, 15 May.
    assert cal.working_days_after(D("2023-04-27"), 10) == (
        D("2023-05-15"), [(D("2023-05-01"), "Labor Day"), (D("2023-05-08"), "Victory Day")])
    assert cal.working_days_after(D("2023-04-27"), 1) == (D("2023-04-28"), [])
    # Across a year end on a fresh calendar: from Fri 22 Dec 2023, Mon 25 Dec (Christmas),
    # Mon 1 Jan 2024 (New Year): 26, 27, 28, 29 Dec, 2 Jan -> the 5th is Tue 2 Jan 2024.
    assert Calendar("FR").working_days_after(D("2023-12-22"), 5) == (
        D("2024-01-02"), [(D("2023-12-25"), "Christmas Day"), (D("2024-01-01"),
                                                                  "New Year's Day")])


# --- the end of a day ----------------------------------------------------------------------

@pytest.mark.parametrize(("day", "end"), [
    ("2024-03-30", "2024-03-31T00:00:00+01:00"),  # Saturday before the clocks go forward
    ("2024-03-31", "2024-04-01T00:00:00+02:00"),
    ("2024-10-26", "2024-10-27T00:00:00+02:00"),
    ("2024-10-27", "2024-10-28T00:00:00+01:00"),
    ("2024-12-31", "2025-01-01T00:00:00+01:00"),
])
def test_a_day_ends_at_24_00_local_time(day: str, end: str) -> None:
    cal = Calendar("FR")
    for _ in range(2):  # computed, then remembered
        instant, text = cal.day_end(D(day))
        assert text == end
        assert instant == datetime.fromisoformat(end)
        assert instant.tzinfo == ZoneInfo("Europe/Paris")
        assert instant - datetime.fromisoformat(end) == timedelta(0)


# --- listings ------------------------------------------------------------------------------

def test_holidays_between_inclusive_and_across_years() -> None:
    cal = Calendar("FR")
    assert cal.holidays_between(D("2022-07-14"), D("2022-08-15")) == [
        (D("2022-07-14"), "National Day"), (D("2022-08-15"), "Assumption Day")]
    assert cal.holidays_between(D("2022-12-20"), D("2023-01-05")) == [
        (D("2022-12-25"), "Christmas Day"), (D("2023-01-01"), "New Year's Day")]
    assert cal.holidays_between(D("2022-07-15"), D("2022-08-14")) == []


def test_day_names() -> None:
    assert day_name(D("2022-08-15")) == "Monday"
    assert day_name(D("2022-08-21")) == "Sunday"


def test_supported_countries_and_their_subdivisions() -> None:
    found = supported_countries()
    assert ", ".join(found) == COUNTRIES
    assert found["FR"] == tuple(holidays.country_holidays("FR").__class__.subdivisions)
    assert "57" in found["FR"]
    assert found["IE"] == ()


@pytest.mark.parametrize(("country", "day", "name", "language"), [
    ("DE", "2024-10-03", "German Unity Day", "de"),
    ("FR", "2022-08-15", "Assumption Day", "fr"),
])
def test_holiday_names_are_english_whatever_the_machines_language(
        monkeypatch: pytest.MonkeyPatch, country: str, day: str, name: str,
        language: str) -> None:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.setenv(var, f"{language}_{country}.UTF-8")
    cal = Calendar(country)
    assert cal.holiday(D(day)) == name
    assert cal.why_not_working(D(day)) == f"a public holiday ({name})"
