"""Properties of the time-limit core (domain.md section 3), checked with hypothesis.

Each property is checked against an independent computation where one exists: month
arithmetic with `dateutil.relativedelta`, working days with the `holidays` package's own
objects (`d in h`), expiry instants with `zoneinfo`. Deterministic (derandomized, no example
database) and fast. ENFORCE_PROPERTY_EXAMPLES sets the examples per property (300 by default;
`make mutation` runs each mutant with fewer).
"""

from __future__ import annotations

import calendar as pycal
import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcement.law.calendars import Calendar, get_calendar
from enforcement.law.periods import Period, parse_period
from enforcement.law.timelimits import Deadline, compute_deadline, penalty_accrual

ONE_DAY = timedelta(days=1)
EXAMPLES = int(os.environ.get("ENFORCE_PROPERTY_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# key -> (country, subdivision); the calendars the properties run over.
CALENDARS: dict[str, tuple[str, str | None]] = {
    "FR": ("FR", None),
    "FR-57": ("FR", "57"),  # Moselle: Good Friday and 26 December on top of the national days
    "DE": ("DE", None),
    "GB-ENG": ("GB", "ENG"),
    "IE": ("IE", None),
    "ES": ("ES", None),
}
TZ = {"FR": "Europe/Paris", "FR-57": "Europe/Paris", "DE": "Europe/Berlin",
      "GB-ENG": "Europe/London", "IE": "Europe/Dublin", "ES": "Europe/Madrid"}
RULES = ("fr-cpc", "eu-1182-71", "uk-tribunal")
_REFERENCE: dict[str, holidays.HolidayBase] = {}


def cal_of(key: str) -> Calendar:
    country, sub = CALENDARS[key]
    return get_calendar(country, sub)


def reference_holidays(key: str) -> holidays.HolidayBase:
    """The `holidays` package's own object for the calendar, independent of calendars.py."""
    if key not in _REFERENCE:
        country, sub = CALENDARS[key]
        _REFERENCE[key] = holidays.country_holidays(country, subdiv=sub)
    return _REFERENCE[key]


def working(key: str, d: date) -> bool:
    return d.weekday() < 5 and d not in reference_holidays(key)


def next_working(key: str, d: date) -> date:
    while not working(key, d):
        d += ONE_DAY
    return d


def working_days_in(key: str, start: date, end: date) -> int:
    """Working days in (start, end]."""
    n, d = 0, start
    while d < end:
        d += ONE_DAY
        n += working(key, d)
    return n


# --- strategies --------------------------------------------------------------------------

years = st.integers(2016, 2040)
# Plain dates, and dates close to the year end and to spring, where the holidays cluster
# (Christmas, 26 December in Moselle, New Year, Good Friday, Easter, 1 and 8 May, Ascension).
triggers = st.one_of(
    st.dates(min_value=date(2016, 1, 1), max_value=date(2040, 12, 31)),
    st.builds(lambda y, o: date(y, 12, 10) + timedelta(days=o), years, st.integers(0, 30)),
    st.builds(lambda y, o: date(y, 3, 15) + timedelta(days=o), years, st.integers(0, 80)),
    st.builds(lambda y, m: date(y, m, pycal.monthrange(y, m)[1]), years, st.integers(1, 12)),
)
calendars = st.sampled_from(sorted(CALENDARS))
rules = st.sampled_from(RULES)


def _unit(n: int, unit: str) -> str:
    return f"{n} {unit}" if n > 1 else f"1 {unit.removesuffix('s')}"


day_periods = st.one_of(
    st.integers(1, 30).map(lambda n: _unit(n, "days")),
    st.integers(1, 8).map(lambda n: _unit(n, "weeks")),
    st.integers(1, 24).map(lambda n: _unit(n, "months")),
    st.integers(1, 3).map(lambda n: _unit(n, "years")),
    st.tuples(st.integers(1, 6), st.integers(1, 20)).map(
        lambda t: f"{_unit(t[0], 'months')} {_unit(t[1], 'days')}"),
    st.integers(1, 25).map(lambda n: _unit(n, "working days")),
)
month_periods = st.one_of(
    st.integers(1, 36).map(lambda n: ("months", n)),
    st.integers(1, 5).map(lambda n: ("years", n)),
)


def raw_end_reference(start: date, p: Period) -> date:
    """Months (and years) first with relativedelta's clamping, then weeks and days."""
    return start + relativedelta(years=p.years, months=p.months) + timedelta(
        days=7 * p.weeks + p.days)


# --- day periods -------------------------------------------------------------------------

@PROPERTY
@given(start=triggers, period=day_periods, key=calendars, rs=rules)
def test_due_is_never_before_raw_end_and_is_a_working_day(
        start: date, period: str, key: str, rs: str) -> None:
    dl = compute_deadline(start, period, cal_of(key), rs)
    p = parse_period(period)
    assert isinstance(dl.due, date) and not isinstance(dl.due, datetime)
    assert dl.due >= dl.raw_end > start
    assert working(key, dl.due), f"{dl.due} ({dl.due:%A}) is not a working day in {key}"
    if p.in_working_days:
        assert dl.raw_end == dl.due
        assert working_days_in(key, start, dl.due) == p.working_days
    else:
        assert dl.raw_end == raw_end_reference(start, p)
        rolled = next_working(key, dl.raw_end)
        if rs == "eu-1182-71" and (dl.raw_end - start).days >= 2:
            second = next_working(key, next_working(key, start + ONE_DAY) + ONE_DAY)
            assert dl.due == max(rolled, second)
        else:
            # Rolled to the next working day, no further.
            assert dl.due == rolled
    if dl.due != dl.raw_end:
        assert any(dl.due.isoformat() in s for s in dl.explanation[1:-1])


@PROPERTY
@given(start=triggers, period=day_periods, key=calendars)
def test_a_delai_franc_ends_a_day_later_then_rolls(start: date, period: str, key: str) -> None:
    # CJA R421-1, délai franc: the same-numbered (or counted) day does not count either.
    dl = compute_deadline(start, period, cal_of(key), "fr-cja")
    p = parse_period(period)
    if p.in_working_days:
        return
    assert dl.raw_end == raw_end_reference(start, p) + ONE_DAY
    assert dl.due == next_working(key, dl.raw_end)
    assert dl.expires_at == datetime.combine(dl.due + ONE_DAY, time(0),
                                             tzinfo=ZoneInfo(TZ[key]))


@PROPERTY
@given(start=triggers, period=day_periods, key=calendars)
def test_a_period_beginning_with_its_event_counts_it_and_never_rolls(
        start: date, period: str, key: str) -> None:
    # A statute's "beginning with": the event's day is day one, and the last day stays put,
    # working day or not.
    dl = compute_deadline(start, period, cal_of(key), "uk-statute-beginning")
    p = parse_period(period)
    if p.in_working_days:
        assert dl.due == dl.raw_end
        assert working_days_in(key, start - ONE_DAY, dl.due) == p.working_days
        return
    assert dl.due == dl.raw_end == raw_end_reference(start - ONE_DAY, p)


@PROPERTY
@given(start=triggers, later=st.integers(0, 40), period=day_periods, key=calendars,
       rs=st.sampled_from((*RULES, "fr-cja", "uk-statute-beginning")))
def test_a_later_trigger_never_gives_an_earlier_due_date(
        start: date, later: int, period: str, key: str, rs: str) -> None:
    cal = cal_of(key)
    first = compute_deadline(start, period, cal, rs)
    second = compute_deadline(start + timedelta(days=later), period, cal, rs)
    assert first.due <= second.due


@PROPERTY
@given(start=triggers, unit_n=month_periods, key=calendars)
def test_month_end_clamping(start: date, unit_n: tuple[str, int], key: str) -> None:
    unit, n = unit_n
    months = n * 12 if unit == "years" else n
    dl = compute_deadline(start, _unit(n, unit), cal_of(key))
    raw = dl.raw_end
    assert isinstance(raw, date)
    # Same year/month arithmetic, checked by hand and with relativedelta.
    assert (raw.year * 12 + raw.month) - (start.year * 12 + start.month) == months
    assert raw.day == min(start.day, pycal.monthrange(raw.year, raw.month)[1])
    assert raw == start + relativedelta(months=months)
    clamped = raw.day != start.day
    assert any("does not exist" in s for s in dl.explanation) == clamped


@PROPERTY
@given(start=triggers, period=day_periods, key=calendars, rs=rules)
def test_expires_at_midnight_after_the_due_date_in_the_calendar_zone(
        start: date, period: str, key: str, rs: str) -> None:
    dl = compute_deadline(start, period, cal_of(key), rs)
    tz = ZoneInfo(TZ[key])
    assert isinstance(dl.due, date)
    # UK tribunals: 5 pm on the last day (GRC Rules r. 12(1)); elsewhere 24:00.
    end = (datetime.combine(dl.due, time(17)) if rs == "uk-tribunal"
           else datetime.combine(dl.due + ONE_DAY, time(0)))
    assert dl.expires_at == end.replace(tzinfo=tz)
    local = dl.expires_at.astimezone(tz)
    assert (local.date(), local.time()) == (end.date(), end.time())
    assert dl.expires_at.utcoffset() == tz.utcoffset(end)
    assert dl.expires_at.isoformat() in dl.explanation[-1]


@PROPERTY
@given(start=triggers, n=st.integers(2, 12), key=calendars)
def test_reg_1182_71_two_working_days(start: date, n: int, key: str) -> None:
    # Short periods are where the rule bites (a long weekend, Christmas, Easter).
    dl = compute_deadline(start, _unit(n, "days"), cal_of(key), "eu-1182-71")
    assert isinstance(dl.due, date)
    assert working_days_in(key, start, dl.due) >= 2


@PROPERTY
@given(start=triggers, period=day_periods, key=calendars)
def test_reg_1182_71_any_period_of_two_days_or_more(start: date, period: str, key: str) -> None:
    p = parse_period(period)
    dl = compute_deadline(start, p, cal_of(key), "eu-1182-71")
    assert isinstance(dl.due, date) and isinstance(dl.raw_end, date)
    # The length is the period's own: '1 working day' from a Saturday is a one-day period
    # even though Monday is two calendar days away.
    length = p.working_days if p.in_working_days else (dl.raw_end - start).days
    if length >= 2:
        assert working_days_in(key, start, dl.due) >= 2


# --- hours ---------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2016, 1, 1), max_value=datetime(2040, 12, 31),
                        timezones=st.just(UTC))


@PROPERTY
@given(begin=instants, later=st.integers(0, 100_000), hours=st.integers(1, 400), key=calendars)
def test_hours_are_counted_by_the_clock_never_rolled_and_monotonic(
        begin: datetime, later: int, hours: int, key: str) -> None:
    cal = cal_of(key)
    period = _unit(hours, "hours")
    dl: Deadline = compute_deadline(begin, period, cal)
    assert isinstance(dl.due, datetime)
    assert dl.due == dl.raw_end == dl.expires_at
    assert dl.due - begin == timedelta(hours=hours)
    assert dl.due.tzinfo is not None and dl.due.utcoffset() == ZoneInfo(TZ[key]).utcoffset(
        dl.due.replace(tzinfo=None))
    later_dl = compute_deadline(begin + timedelta(minutes=later), period, cal)
    assert later_dl.expires_at >= dl.expires_at


# --- penalty -------------------------------------------------------------------------------

@PROPERTY
@given(due=st.dates(min_value=date(2016, 1, 1), max_value=date(2040, 12, 31)),
       offset=st.integers(-400, 400), rate=st.integers(0, 100_000))
def test_penalty_accrues_each_day_after_the_deadline(due: date, offset: int, rate: int) -> None:
    until = due + timedelta(days=offset)
    acc = penalty_accrual(due, rate, until)
    assert acc.days == max(0, (until - due).days)
    assert acc.amount_eur == acc.days * rate
    assert len(acc.explanation) == 1
