"""Explained deadlines per second on one core, next to a naive baseline measured in the same run.

    .venv/bin/python benchmarks/timelimits.py            # ~15 s
    .venv/bin/python benchmarks/timelimits.py --quick    # ~3 s

The core is `enforcement.law.timelimits.compute_deadline`: period text in, deadline with its
explanation sentences out. The baseline computes the same due dates the way a hand-rolled
implementation would, with `dateutil.relativedelta` and a roll loop over
`holidays.country_holidays(...)` objects (`d in h`), and no explanation. Both run over the same
realistic mix of periods, calendars, rule sets and triggers (2020-2030), in this one process;
every baseline due date is checked against the core's before anything is timed.

The exit status is that check's: 1 when any due date differs (nothing is timed then), 0
otherwise, whether or not the speed goal is met (tests/benchmarks/test_benchmarks.py runs --quick).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import partial
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

from enforcement.law.calendars import Calendar, get_calendar
from enforcement.law.periods import Period, parse_period
from enforcement.law.timelimits import compute_deadline

PERIODS = ("2 months", "1 month", "15 days", "10 working days", "72 hours",
           "1 month 15 days", "4 weeks", "1 year")
CALENDARS: tuple[tuple[str, str | None], ...] = (
    ("FR", None), ("FR", "57"), ("DE", None), ("GB", "ENG"), ("IT", None), ("ES", None))
RULES = ("fr-cpc", "eu-1182-71")
FIRST, LAST = date(2020, 1, 1), date(2030, 12, 31)


@dataclass(frozen=True, slots=True)
class Case:
    trigger: date | datetime
    period: str
    cal: Calendar
    rules: str


def make_cases(n: int, seed: int = 20221017) -> list[Case]:
    """`n` deadlines: every period, calendar and rule set, triggers spread over 2020-2030;
    periods in hours start from an aware date-time in the calendar's zone."""
    rng = random.Random(seed)
    cals = [get_calendar(cc, sub) for cc, sub in CALENDARS]
    span = (LAST - FIRST).days
    cases = []
    for _ in range(n):
        period = rng.choice(PERIODS)
        cal = rng.choice(cals)
        day = FIRST + timedelta(days=rng.randrange(span + 1))
        trigger: date | datetime = day
        if parse_period(period).in_hours:
            trigger = datetime.combine(day, dtime(rng.randrange(24), rng.randrange(0, 60, 5)),
                                       tzinfo=cal.tz)
        cases.append(Case(trigger, period, cal, rng.choice(RULES)))
    return cases


# --- baseline: relativedelta + holidays roll loop, no explanation ------------------------

class Baseline:
    """What a hand-rolled implementation looks like: one `holidays` object per calendar."""

    def __init__(self, cases: Sequence[Case]) -> None:
        self.hol: dict[str, holidays.HolidayBase] = {}
        self.tz: dict[str, ZoneInfo] = {}
        for c in cases:
            if c.cal.key not in self.hol:
                self.hol[c.cal.key] = holidays.country_holidays(
                    c.cal.country, subdiv=c.cal.subdivision)
                self.tz[c.cal.key] = ZoneInfo(c.cal.timezone)

    def due(self, c: Case) -> date | datetime:
        h = self.hol[c.cal.key]
        p: Period = parse_period(c.period)
        if p.hours:
            begin = c.trigger
            assert isinstance(begin, datetime)
            if c.rules == "eu-1182-71":  # art. 3(1): the hour of the event is not counted
                begin = begin.astimezone(UTC).replace(minute=0, second=0, microsecond=0) \
                    + timedelta(hours=1)
            return (begin.astimezone(UTC) + timedelta(hours=p.hours)).astimezone(
                self.tz[c.cal.key])
        start = c.trigger.date() if isinstance(c.trigger, datetime) else c.trigger
        if p.working_days:
            d, left = start, p.working_days
            while left:
                d += timedelta(days=1)
                if d.weekday() < 5 and d not in h:
                    left -= 1
            return d
        raw = start + relativedelta(years=p.years, months=p.months) \
            + timedelta(days=p.weeks * 7 + p.days)
        d = raw
        while d.weekday() >= 5 or d in h:
            d += timedelta(days=1)
        if c.rules == "eu-1182-71" and (raw - start).days >= 2:
            count, x = 0, start
            while x < d:
                x += timedelta(days=1)
                if x.weekday() < 5 and x not in h:
                    count += 1
            while count < 2:
                d += timedelta(days=1)
                if d.weekday() < 5 and d not in h:
                    count += 1
        return d


# --- timing ------------------------------------------------------------------------------

def run_core(cases: Sequence[Case]) -> int:
    """Every deadline of `cases`, explained; returns the sentence count so nothing is idle."""
    n = 0
    for c in cases:
        n += len(compute_deadline(c.trigger, c.period, c.cal, c.rules).explanation)
    return n


def run_baseline(base: Baseline, cases: Sequence[Case]) -> int:
    n = 0
    for c in cases:
        n += base.due(c).day
    return n


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass
class Rates:
    """Per-round rates (items per second); the best round is the least disturbed one."""

    n: int
    rounds: list[float]

    @property
    def best(self) -> float:
        return self.n / min(self.rounds)

    @property
    def median(self) -> float:
        return self.n / statistics.median(self.rounds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Explained deadlines per second on one core, next to a baseline.")
    ap.add_argument("--quick", action="store_true", help="a short run (~3 s)")
    ap.add_argument("--cases", type=int, default=None, help="deadlines per round")
    ap.add_argument("--pin", type=int, default=None, metavar="CPU",
                    help="pin the process to this CPU (Linux)")
    args = ap.parse_args(argv)
    n = args.cases or (4_000 if args.quick else 12_000)
    budget = 1.5 if args.quick else 10.0  # seconds of timed rounds, core and baseline

    where = "one process, one thread"
    if args.pin is not None and sys.platform == "linux":
        os.sched_setaffinity(0, {args.pin})
        where += f", pinned to CPU {args.pin}"

    t_start = time.perf_counter()
    cases = make_cases(n)
    base = Baseline(cases)

    # Warm-up: fills the core's per-year tables and the `holidays` objects' years, and checks
    # that both compute the same due date for every case (same work, different speed).
    t0 = time.perf_counter()
    wrong = [c for c in cases
             if compute_deadline(c.trigger, c.period, c.cal, c.rules).due != base.due(c)]
    warm = time.perf_counter() - t0
    if wrong:
        c = wrong[0]
        print(f"MISMATCH on {len(wrong)} of {n} cases, e.g. {c.trigger} {c.period!r} "
              f"{c.cal.key} {c.rules}: core "
              f"{compute_deadline(c.trigger, c.period, c.cal, c.rules).due} "
              f"baseline {base.due(c)}", file=sys.stderr)
        return 1

    # Interleaved rounds, so that any load on the machine weighs on both alike.
    core = Rates(n, [])
    baseline = Rates(n, [])
    spent = 0.0
    while spent < budget or len(baseline.rounds) < 3:
        for _ in range(3):
            core.rounds.append(timed(lambda: run_core(cases)))
        baseline.rounds.append(timed(lambda: run_baseline(base, cases)))
        spent += sum(core.rounds[-3:]) + baseline.rounds[-1]

    by_period = []
    for period in PERIODS:
        subset = [c for c in cases if c.period == period]
        best = min(timed(partial(run_core, subset)) for _ in range(5))
        by_period.append(f"{period} {best / len(subset) * 1e6:.1f}")

    print(f"time-limit core: Python {platform.python_version()}, holidays "
          f"{importlib.metadata.version('holidays')}, {where}")
    print(f"mix: {n:,} deadlines per round; periods {', '.join(PERIODS)}; calendars "
          f"{', '.join(f'{c}-{s}' if s else c for c, s in CALENDARS)}; rules "
          f"{', '.join(RULES)}; triggers {FIRST.year}-{LAST.year}")
    print(f"warm-up and cross-check: all {n:,} due dates identical to the baseline's "
          f"({warm:.2f} s)")
    print(f"core, explained:       {core.best:>9,.0f} deadlines/s  "
          f"(median {core.median:,.0f}; {len(core.rounds)} rounds)")
    print(f"baseline, no text:     {baseline.best:>9,.0f} deadlines/s  "
          f"(median {baseline.median:,.0f}; {len(baseline.rounds)} rounds)")
    print(f"ratio core/baseline:   {core.best / baseline.best:>9.2f}  "
          f"(medians {core.median / baseline.median:.2f})")
    print(f"core, us per deadline: {'; '.join(by_period)}")
    goal = 100_000
    met = core.best >= goal and core.best >= baseline.best
    print(f"goal >= {goal:,}/s and >= baseline: {'met' if met else 'NOT met'} "
          f"(total {time.perf_counter() - t_start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
