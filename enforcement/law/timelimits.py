"""The time-limit core: a legal deadline computed the way a court would, with its reasons.

Pure: dates in, deadline with explanation out. No clock reads, no I/O, no Temporal. The
workflows, the CLI, the simulator and the API all call these functions; nothing else in the
engine computes a date.

Rules (domain.md section 3; CPC art. 640-642; Reg. 1182/71 art. 3):
- the day of the triggering event is not counted;
- months and years end on the day with the same number, or the last day of a shorter month;
  months are applied before days;
- a period (not in hours) whose last day is a Saturday, Sunday or public holiday ends on the
  next working day;
- Reg. 1182/71 only: a period of two days or more includes at least two working days;
- a deadline expires at 24:00 of its last day in the calendar's time zone.

Other forums, each a rule set cited in every explanation it produces: French administrative
courts (`fr-cja`, a délai franc), UK tribunals (`uk-tribunal`, 5 pm on the last day) and UK
statutes that count a period "beginning with" its event (`uk-statute-beginning`).
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from enforcement.law.calendars import Calendar, day_name
from enforcement.law.periods import Period, parse_period

NOON = time(12, 0)


class TimeLimitError(ValueError):
    """Input the core cannot compute from; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The counting rules a procedure's periods follow, with the citations shown to users.

    Each forum counts its own way (domain.md section 3, item 11): `franc` adds the day the
    period would end (French administrative courts), `first_day_counts` counts the day of
    the event and never rolls (UK statutes that say "beginning with"), `closes_at` ends the
    last day at that local time instead of 24:00 (UK tribunals, 5 pm)."""

    name: str
    title: str
    cite_start: str
    cite_months: str
    cite_roll: str
    min_two_working_days: bool
    cite_two_days: str = ""
    hours_from_next_hour: bool = False
    franc: bool = False
    cite_franc: str = ""
    first_day_counts: bool = False
    rolls: bool = True
    closes_at: time | None = None
    cite_close: str = ""


RULE_SETS: dict[str, RuleSet] = {
    "fr-cpc": RuleSet(
        "fr-cpc", "French Code of civil procedure", "CPC art. 641", "CPC art. 641",
        "CPC art. 642", False),
    "fr-cja": RuleSet(
        "fr-cja", "French Code of administrative justice (délai franc)", "CJA R421-1",
        "CJA R421-1", "CPC art. 642, applied by the administrative courts", False,
        franc=True,
        cite_franc="CJA R421-1; CE, sect., 4 June 1954, Cne de Décines-Charpieu"),
    "eu-1182-71": RuleSet(
        "eu-1182-71", "Regulation (EEC, Euratom) No 1182/71", "Reg. 1182/71 art. 3(1)",
        "Reg. 1182/71 art. 3(2)(c)", "Reg. 1182/71 art. 3(4)", True, "Reg. 1182/71 art. 3(5)",
        hours_from_next_hour=True),
    # The tribunal rules say when the last day ends (r. 12(1), 5 pm) and what happens to a
    # last day that is not a working day (r. 12(2)); how the period itself is counted comes
    # from the common law: the day of the event is left out, and months end on the
    # corresponding date (Dodds v Walker).
    "uk-tribunal": RuleSet(
        "uk-tribunal", "UK tribunal procedure rules",
        "common-law rule for a period after an event",
        "corresponding-date rule, Dodds v Walker [1981] UKHL 1", "GRC Rules r. 12(2)", False,
        closes_at=time(17, 0), cite_close="GRC Rules r. 12(1)"),
    # DPA 2018 s. 205(2): the Act's periods in hours, days, weeks, months or years are read
    # under Art. 3 of Reg. 1182/71, save in the provisions it lists (Sch. 16 is not one): the
    # day of the event is left out, a last day on a Saturday, Sunday or bank holiday moves
    # to the next working day, a period of two days or more holds two working days.
    "uk-dpa": RuleSet(
        "uk-dpa", "Data Protection Act 2018 s. 205(2), which applies Regulation (EEC, "
        "Euratom) No 1182/71 art. 3",
        "DPA 2018 s. 205(2) and Reg. 1182/71 art. 3(1)",
        "DPA 2018 s. 205(2) and Reg. 1182/71 art. 3(2)(c)",
        "DPA 2018 s. 205(2) and Reg. 1182/71 art. 3(4)", True,
        "DPA 2018 s. 205(2) and Reg. 1182/71 art. 3(5)", hours_from_next_hour=True),
    # UK statutes whose periods run "beginning with" a day, where no rule like s. 205(2)
    # applies (in the DPA 2018: s. 161 and Sch. 15, which s. 205(2) excepts): the first day
    # counts (Zoan v Rouamba [2000] EWCA Civ 8), and no rule moves a last day off a weekend
    # or bank holiday.
    "uk-statute-beginning": RuleSet(
        "uk-statute-beginning", "UK statute, period beginning with the event",
        "the statute counts the period as beginning with that day; Zoan v Rouamba [2000] "
        "EWCA Civ 8", "corresponding-date rule, Dodds v Walker [1981] UKHL 1", "", False,
        first_day_counts=True, rolls=False),
}


def get_rules(name: str) -> RuleSet:
    try:
        return RULE_SETS[name]
    except KeyError:
        raise TimeLimitError(
            f"unknown rule set {name!r}; accepted: {', '.join(RULE_SETS)}") from None


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed deadline. `due` is a date, or an aware date-time for periods in hours."""

    trigger: date | datetime
    period: str
    raw_end: date | datetime
    due: date | datetime
    expires_at: datetime
    explanation: tuple[str, ...]
    rules: str
    calendar: str

    @property
    def due_date(self) -> date:
        return self.due.date() if isinstance(self.due, datetime) else self.due

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger.isoformat(),
            "period": self.period,
            "due": self.due.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "explanation": list(self.explanation),
        }


_ONE_DAY = timedelta(days=1)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _IsoDates(dict[date, str]):
    """date -> its ISO text, remembered: explanations name the same few thousand days."""

    def __missing__(self, d: date) -> str:
        if len(self) >= 20_000:
            self.clear()
        text = self[d] = d.isoformat()
        return text


_ISO = _IsoDates()


def add_months(d: date, months: int) -> tuple[date, bool]:
    """Same day number `months` later; clamped to the month's last day (True if clamped)."""
    m0 = d.month - 1 + months
    y, m = d.year + m0 // 12, m0 % 12 + 1
    last = 29 if m == 2 and _cal.isleap(y) else _DAYS_IN_MONTH[m]
    if d.day > last:
        return date(y, m, last), True
    return date(y, m, d.day), False


def end_of_day(d: date, cal: Calendar) -> datetime:
    """24:00 of `d` in the calendar's zone, i.e. 00:00 of the next day there."""
    return cal.day_end(d)[0]


def local_date(moment: date | datetime, cal: Calendar) -> date:
    """The calendar day of `moment` in the jurisdiction's zone (a bare date is itself)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            return moment.date()
        return moment.astimezone(cal.tz).date()
    return moment


def as_instant(moment: date | datetime, cal: Calendar) -> datetime:
    """An aware instant: a bare date is noon there, a naive date-time is local there (and
    refused when the clocks skip it or show it twice: it must then carry its offset)."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else _local(moment, cal)
    return datetime.combine(moment, NOON, tzinfo=cal.tz)


def _local(naive: datetime, cal: Calendar) -> datetime:
    first, second = naive.replace(tzinfo=cal.tz), naive.replace(tzinfo=cal.tz, fold=1)
    text = naive.isoformat(timespec="minutes")
    shown = first.astimezone(UTC).astimezone(cal.tz)
    if shown.replace(tzinfo=None) != naive:
        raise TimeLimitError(
            f"{text} does not exist in {cal.timezone}: the clocks go forward that night; "
            f"write the time with its offset, e.g. {shown.isoformat(timespec='minutes')}")
    if first.utcoffset() == second.utcoffset():
        return first
    raise TimeLimitError(
        f"{text} happens twice in {cal.timezone}: the clocks go back that night; write the "
        f"time with its offset: {first.isoformat(timespec='minutes')} (the first) or "
        f"{second.isoformat(timespec='minutes')} (the second)")


def _roll(d: date, cal: Calendar, rules: RuleSet, out: list[str]) -> date:
    """Move a last day off Saturdays, Sundays and public holidays, saying why (or, under
    rules that never roll, say that it stays)."""
    why = cal.why_not_working(d)
    if why is None:
        return d
    if not rules.rolls:
        out.append(f"{_ISO[d]} is {why}; the period is not extended for it: nothing in the "
                   f"{rules.title.lower()} moves its last day.")
        return d
    reasons = [f"{_ISO[d]} is {why}"]
    d2 = d + _ONE_DAY
    while (why := cal.why_not_working(d2)) is not None:
        reasons.append(f"{_ISO[d2]} is {why}")
        d2 += _ONE_DAY
    out.append(f"{'; '.join(reasons)}: the period ends on the next working day, "
               f"{day_name(d2)} {_ISO[d2]} ({rules.cite_roll}).")
    return d2


def _two_working_days(start: date, due: date, cal: Calendar, rules: RuleSet,
                      out: list[str]) -> date:
    """Reg. 1182/71 art. 3(5): a period of two days or more includes two working days."""
    working = cal.is_working_day
    count = 0
    d = start + _ONE_DAY
    while d <= due:
        if working(d):
            count += 1
            if count >= 2:
                return due
        d += _ONE_DAY
    while count < 2:
        due += _ONE_DAY
        if working(due):
            count += 1
    out.append(f"A period of two days or more must include at least two working days "
               f"({rules.cite_two_days}): it ends on {day_name(due)} {_ISO[due]}.")
    return due


def _expiry(due: date, cal: Calendar, rules: RuleSet, out: list[str]) -> datetime:
    if rules.closes_at is not None:
        exp = datetime.combine(due, rules.closes_at, tzinfo=cal.tz)
        out.append(f"It expires at {rules.closes_at.strftime('%H:%M')} on {_ISO[due]}, "
                   f"{cal.timezone} time ({exp.isoformat()}) ({rules.cite_close}).")
        return exp
    exp, exp_iso = cal.day_end(due)
    out.append(f"It expires at 24:00 on {_ISO[due]}, {cal.timezone} time ({exp_iso}).")
    return exp


def _franc(raw: date, rules: RuleSet, out: list[str]) -> date:
    """A délai franc: the day on which the period would end is not counted either."""
    last = raw + _ONE_DAY
    out.append(f"The period is a délai franc: neither the day of notification nor the day on "
               f"which it would end is counted, so its last day is {day_name(last)} "
               f"{_ISO[last]} ({rules.cite_franc}).")
    return last


# A period as compute_deadline uses it: the parsed period, its wording, the months to add and
# how the explanation names them, the days to add and how it names them, the hours to add.
_Plan = tuple[Period, str, int, str, timedelta, str, timedelta]
_PLANS: dict[str | Period, _Plan] = {}
_PLANS_LIMIT = 4096


def _plan(period: str | Period) -> _Plan:
    """Parse a period and prepare its wording once; the same texts recur all the time."""
    try:
        plan = _PLANS.get(period)
    except TypeError:  # not hashable: parse_period says what is accepted
        plan = None
    if plan is not None:
        return plan
    p = parse_period(period)
    months, days = p.total_months, p.total_days
    m_label = f"{p.years} year{'s' if p.years > 1 else ''}" if p.years and not p.months \
        else f"{months} month{'s' if months > 1 else ''}"
    d_label = f"{p.weeks} week{'s' if p.weeks > 1 else ''}" if p.weeks and not p.days \
        else f"{days} day{'s' if days > 1 else ''}"
    plan = (p, p.text, months, m_label, timedelta(days=days), d_label, timedelta(hours=p.hours))
    if len(_PLANS) >= _PLANS_LIMIT:
        _PLANS.clear()
    _PLANS[period] = plan
    return plan


def _span(start: date, plan: _Plan, rules: RuleSet, out: list[str]) -> date:
    """Months first (same day number, clamped), then weeks and days."""
    _, _, months, m_label, days, d_label, _ = plan
    d = start
    if months:
        d2, clamped = add_months(d, months)
        if clamped:
            out.append(f"{m_label} after {_ISO[d]} would be day {d.day} of "
                       f"{d2.strftime('%B %Y')}, which does not exist: it ends on the last day "
                       f"of that month, {_ISO[d2]} ({rules.cite_months}).")
        else:
            out.append(f"{m_label} after {_ISO[d]} is {_ISO[d2]}, the day with the "
                       f"same number ({rules.cite_months}).")
        d = d2
    if days:
        d2 = d + days
        out.append(f"{'Then ' if months else ''}{d_label} after {_ISO[d]} is {_ISO[d2]}.")
        d = d2
    return d


def _span_days(start: date, p: Period, cal: Calendar, rules: RuleSet,
               out: list[str]) -> date:
    """Months first (same day number, clamped), then weeks and days."""
    return _span(start, _plan(p), rules, out)


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def compute_deadline(trigger: date | datetime, period: str | Period, cal: Calendar,
                     rules: str | RuleSet = "fr-cpc") -> Deadline:
    """The deadline `period` after `trigger` in `cal`, with the explanation of each step."""
    plan = _plan(period)
    p, text = plan[0], plan[1]
    rs = rules if isinstance(rules, RuleSet) else get_rules(rules)
    out: list[str] = []
    if isinstance(trigger, datetime) and trigger.tzinfo is not None:
        here = trigger.astimezone(cal.tz)
        if here.utcoffset() != trigger.utcoffset():
            out.append(f"{trigger.isoformat()} is {here.isoformat()} in {cal.timezone} time.")
    if p.hours:
        begin = as_instant(trigger, cal)
        if not isinstance(trigger, datetime):
            out.append(f"A bare date is taken as 12:00 on {trigger.isoformat()}, "
                       f"{cal.timezone} time.")
        if rs.hours_from_next_hour:
            event = begin
            begin = (begin.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                     + timedelta(hours=1)).astimezone(cal.tz)
            out.append(f"The hour during which the event occurred ({event.isoformat()}) is not "
                       f"counted: the period starts at {begin.isoformat()} "
                       f"(Reg. 1182/71 art. 3(1) and 3(2)(a)).")
        end = (begin.astimezone(UTC) + plan[6]).astimezone(cal.tz)
        out.append(f"{text} from {begin.isoformat()} runs to {end.isoformat()} "
                   f"({cal.timezone} time); a period in hours is counted by the clock and is "
                   f"never extended for Saturdays, Sundays or public holidays.")
        before, after = begin.astimezone(cal.tz).utcoffset(), end.utcoffset()
        if before != after:
            out.append(f"The clocks changed during the period (UTC offset {_offset(before)} "
                       f"before, {_offset(after)} after): the hours are counted as they "
                       f"elapse.")
        return Deadline(begin, text, end, end, end, tuple(out), rs.name, cal.key)

    start: date = local_date(trigger, cal)
    counted = start
    if rs.first_day_counts:
        counted = start - _ONE_DAY
        out.append(f"Period of {text} beginning with {_ISO[start]} under the {rs.title}, "
                   f"{cal.label} calendar; the day of the event is the first day of the period "
                   f"({rs.cite_start}), so it runs as a period after {_ISO[counted]}.")
    else:
        out.append(f"Period of {text} from {_ISO[start]} under the {rs.title}, "
                   f"{cal.label} calendar; the day of the event is not counted "
                   f"({rs.cite_start}).")
    if p.working_days:
        d, holidays = cal.working_days_after(counted, p.working_days)
        skip = ("; public holidays skipped: "
                + ", ".join(f"{_ISO[h]} ({name})" for h, name in holidays)
                if holidays else "")
        out.append(f"Counting only working days (Saturdays, Sundays and public holidays are "
                   f"skipped), working day {p.working_days} is {day_name(d)} "
                   f"{_ISO[d]}{skip}.")
        raw = due = d
    else:
        raw = _span(counted, plan, rs, out)
        if rs.franc:
            raw = _franc(raw, rs, out)
        due = _roll(raw, cal, rs, out)
        if rs.min_two_working_days and (raw - start).days >= 2:
            due = _two_working_days(start, due, cal, rs, out)
    exp = _expiry(due, cal, rs, out)
    trig: date | datetime = trigger if isinstance(trigger, datetime) else start
    return Deadline(trig, text, raw, due, exp, tuple(out), rs.name, cal.key)


def extend_deadline(previous: Deadline, cal: Calendar, *, period: str | Period | None = None,
                    until: date | None = None, rules: str | RuleSet | None = None) -> Deadline:
    """A deadline moved by an extension: a period counted from the previous due date, or a
    new last day. The new date never comes before the previous one."""
    rs = rules if isinstance(rules, RuleSet) else get_rules(rules or previous.rules)
    # The added time runs after the previous due date: that day is not counted again, and
    # the délai franc already had its extra day.
    if rs.franc or rs.first_day_counts:
        rs = replace(rs, franc=False, first_day_counts=False,
                     cite_start="the previous due date is not counted again")
    if (period is None) == (until is None):
        raise TimeLimitError("an extension takes either a period or an 'until' date, "
                             "not both and not neither")
    if period is not None:
        p = parse_period(period)
        if p.in_hours:
            base: date | datetime = previous.due if isinstance(previous.due, datetime) \
                else end_of_day(previous.due, cal)
            nd = compute_deadline(base, p, cal, rs)
            head = (f"Extended by {p.text} from the previous expiry "
                    f"{previous.expires_at.isoformat()}.")
            return replace(nd, explanation=(head, *nd.explanation))
        nd = compute_deadline(previous.due_date, p, cal, rs)
        head = (f"Extended by {p.text} from the previous due date "
                f"{previous.due_date.isoformat()}.")
        return replace(nd, explanation=(head, *nd.explanation))
    assert until is not None
    if until <= previous.due_date:
        raise TimeLimitError(
            f"an extension must move the deadline later: {until.isoformat()} is not after the "
            f"current due date {previous.due_date.isoformat()}")
    out = [f"Extended until {until.isoformat()} (previously due "
           f"{previous.due_date.isoformat()})."]
    due = _roll(until, cal, rs, out)
    exp = _expiry(due, cal, rs, out)
    return Deadline(previous.due_date, f"until {until.isoformat()}", until, due, exp,
                    tuple(out), rs.name, cal.key)


def _without_expiry(explanation: tuple[str, ...]) -> list[str]:
    """The sentences of an explanation but its closing "It expires at ..." (periods in hours
    have none: their last sentence says where the period runs to, and stays)."""
    out = list(explanation)
    if out and out[-1].startswith("It expires at "):
        out.pop()
    return out


def suspend_deadline(previous: Deadline, days: int, cal: Calendar, *,
                     suspended_on: date | None = None, resumed_on: date | None = None,
                     rules: str | RuleSet | None = None) -> Deadline:
    """Clock stop: the days the case was suspended are added to the running period's end,
    which is then rolled again."""
    if days < 0:
        raise TimeLimitError(f"a suspension cannot last {days} days")
    if days == 0:
        return previous
    rs = rules if isinstance(rules, RuleSet) else get_rules(rules or previous.rules)
    span = (f" (from {suspended_on.isoformat()} to {resumed_on.isoformat()})"
            if suspended_on and resumed_on else "")
    out = _without_expiry(previous.explanation)
    if isinstance(previous.raw_end, datetime):
        end = previous.raw_end + timedelta(days=days)
        out.append(f"The case was suspended for {days} day{'s' if days > 1 else ''}{span}: "
                   f"the end moves to {end.isoformat()}.")
        return Deadline(previous.trigger, previous.period, end, end, end, tuple(out),
                        rs.name, cal.key)
    raw = previous.raw_end + timedelta(days=days)
    out.append(f"The case was suspended for {days} day{'s' if days > 1 else ''}{span}: those "
               f"days are added to the period, whose last day becomes {raw.isoformat()}.")
    due = _roll(raw, cal, rs, out)
    start = local_date(previous.trigger, cal)
    if rs.min_two_working_days and (raw - start).days >= 2:
        due = _two_working_days(start, due, cal, rs, out)
    exp = _expiry(due, cal, rs, out)
    return Deadline(previous.trigger, previous.period, raw, due, exp, tuple(out), rs.name,
                    cal.key)


@dataclass(frozen=True, slots=True)
class PenaltyAccrual:
    """Days of delay after an injunction deadline and the amount they accrue."""

    days: int
    amount_eur: int
    explanation: tuple[str, ...]


def penalty_accrual(injunction_due: date, rate_per_day_eur: int, until: date,
                    *, until_reason: str = "compliance established") -> PenaltyAccrual:
    """Each calendar day after the (rolled) injunction deadline, up to and including `until`
    (the day compliance is established, or the liquidation cut-off), accrues the rate."""
    if rate_per_day_eur < 0:
        raise TimeLimitError(f"a daily penalty cannot be negative ({rate_per_day_eur})")
    days = max(0, (until - injunction_due).days)
    if days == 0:
        text = (f"{until_reason.capitalize()} on {until.isoformat()}, not after the injunction "
                f"deadline {injunction_due.isoformat()}: no penalty accrues.")
    else:
        first = injunction_due + timedelta(days=1)
        text = (f"{days} day{'s' if days > 1 else ''} of delay from {first.isoformat()} to "
                f"{until.isoformat()} inclusive ({until_reason}) at EUR {rate_per_day_eur:,} "
                f"per day: EUR {days * rate_per_day_eur:,}.")
    return PenaltyAccrual(days, days * rate_per_day_eur, (text,))



# The years the engine accepts for any date it is given: a period counted from year 9999
# cannot be computed, and no case is that old or that far ahead.
EARLIEST_YEAR, LATEST_YEAR = 1950, 2150


def year_problem(moment: date | datetime) -> str | None:
    """Why `moment` is outside the accepted years, or None; the same words everywhere."""
    if EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        return None
    return (f"{moment.isoformat()} is outside the years {EARLIEST_YEAR}-{LATEST_YEAR} the "
            f"engine accepts")


def parse_moment(text: str) -> date | datetime:
    """An ISO date ("2022-07-14") or date-time ("2022-07-15T18:00+02:00")."""
    s = text.strip()
    try:
        if len(s) == 10:
            return date.fromisoformat(s)
        return datetime.fromisoformat(s)
    except ValueError:
        raise TimeLimitError(
            f"{text!r} is not a date; accepted: an ISO date such as 2022-07-14 or a date-time "
            f"such as 2022-07-15T18:00+02:00") from None


def earliest_date(notified: date | datetime, period: str | Period, cal: Calendar,
                  rules: str | RuleSet = "fr-cpc") -> tuple[date, tuple[str, ...]]:
    """The first day an act may take place when it must be announced at least `period`
    before (a hearing's minimum notice). Such a minimum is never rolled: rolling would only
    lengthen it."""
    p = parse_period(period)
    rs = rules if isinstance(rules, RuleSet) else get_rules(rules)
    if p.in_hours or p.in_working_days:
        dl = compute_deadline(notified, p, cal, rs)
        first = dl.due_date
        return first, tuple(_without_expiry(dl.explanation))
    start = local_date(notified, cal)
    out = [f"Minimum notice of {p.text} from {start.isoformat()} ({cal.label} calendar)."]
    first = _span_days(start, p, cal, rs, out)
    out.append(f"The earliest permitted date is {day_name(first)} {first.isoformat()}.")
    return first, tuple(out)


def deadline_from_record(trigger: str, period: str, raw_end: str, due: str, expires_at: datetime,
                         explanation: list[str], rules: str, cal: Calendar) -> Deadline:
    """Rebuild a core deadline from its stored record, to extend or suspend it."""
    def _m(s: str) -> date | datetime:
        return datetime.fromisoformat(s) if "T" in s else date.fromisoformat(s)
    return Deadline(_m(trigger), period, _m(raw_end), _m(due), expires_at, tuple(explanation),
                    rules, cal.key)
