"""Recent dates whose calendar facts are known, for tests on a real clock.

A case on the dev server runs on the real clock: a formal notice dated years ago expires
the moment it is recorded, so such tests must use recent dates, and their expected deadlines
cannot be literal dates. Computing the expectation with the engine's own time-limit code
would make the test pass whatever that code computes. Instead:

- `recent_day` picks the latest day of the last few weeks for which the facts a test relies
  on hold (e.g. "the same-numbered day 2 months later is a working day in France, so
  nothing rolls"), checked here with the weekday and the `holidays` package directly, never
  with `enforcement`;
- the test then asserts the hand rule for that day (e.g. due = `months_later(day, 2)`, the
  same-numbered day; or that day + 10 days), with a comment giving the arithmetic.

Days 29-31 are never picked: they would need the month-end clamp. Picking among a few weeks
of candidates (rather than asserting the facts of one fixed offset from today) means the
suite never fails just because it runs on a day whose offset lands on a weekend or holiday.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays


@cache
def _public_holidays(country: str, year: int) -> holidays.HolidayBase:
    if country == "GB-ENG":
        return holidays.country_holidays("GB", subdiv="ENG", years=year)
    return holidays.country_holidays(country, years=year)


def working_day(d: date, *countries: str) -> bool:
    """Monday to Friday and a public holiday in none of `countries` ("FR", "GB-ENG")."""
    return d.weekday() < 5 and not any(d in _public_holidays(c, d.year)
                                       for c in countries or ("FR",))


def months_later(d: date, months: int) -> date:
    """The same-numbered day `months` later; only for days 1-28, which every month has."""
    assert d.day <= 28, f"{d} would need the month-end clamp"
    m = d.month - 1 + months
    return d.replace(year=d.year + m // 12, month=m % 12 + 1)


def recent_day(ok: Callable[[date], bool], within: int = 35,
               today: date | None = None) -> date:
    """The latest day from `today` back to `within` days before it, numbered 1-28, for
    which `ok(day)` holds."""
    today = today or date.today()
    for back in range(within + 1):
        d = today - timedelta(days=back)
        if d.day <= 28 and ok(d):
            return d
    raise AssertionError(f"no day in the {within} days before {today} fits")  # pragma: no cover


def end_of_day(d: date, zone: str = "Europe/Paris") -> str:
    """24:00 of `d` in `zone` (00:00 of the next day there), as the engine writes it."""
    return datetime.combine(d + timedelta(days=1), time(0), ZoneInfo(zone)).isoformat()


# A worked example used by several tests: Thu 14 Jul 2022 + 1 month = Sun 14 Aug; Mon 15 Aug
# is Assumption Day: the period ends on Tue 16 Aug 2022, at 24:00 Paris time (CEST).
JULY_14_PLUS_1_MONTH = (
    "Period of 1 month from 2022-07-14 under the French Code of civil procedure, FR "
    "calendar; the day of the event is not counted (CPC art. 641).",
    "1 month after 2022-07-14 is 2022-08-14, the day with the same number (CPC art. 641).",
    "2022-08-14 is a Sunday; 2022-08-15 is a public holiday (Assumption Day): the "
    "period ends on the next working day, Tuesday 2022-08-16 (CPC art. 642).",
    "It expires at 24:00 on 2022-08-16, Europe/Paris time (2022-08-17T00:00:00+02:00).")
